//! The producer commands: one-offs, pausing triggers and groups, standby,
//! calendars and cancelling fires, each over a [`Client`].
//!
//! Every argument is checked before the database is opened, so a bad one
//! changes nothing and needs no database to be refused.

use chrono::Utc;
use serde_json::{Value, json};

use super::{
    CalendarsAction, CliError, DatabaseArgs, PauseAction, client, output, parse_data,
    parse_duration, parse_instant,
};
use crate::client::Client;
use crate::client::views::calendar_json;
use crate::clock::from_ms;
use crate::declare::ranges;
use crate::jobs::JobRegistry;

/// `cosched schedule JOB --at T | --in D [--data JSON]`.
pub(super) async fn schedule(
    db: &DatabaseArgs,
    registry: &JobRegistry,
    job: &str,
    at: Option<String>,
    in_: Option<String>,
    data: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let data = parse_data(data.as_deref())?;
    let at = match (at, in_) {
        (Some(at), _) => {
            ranges::check_instant(parse_instant(&at, "--at")?, "at").map_err(CliError::Usage)?
        }
        (None, Some(delay)) => ranges::after(Utc::now(), parse_duration(&delay, "--in")?, "in")
            .map_err(CliError::Usage)?,
        (None, None) => {
            return Err(CliError::Usage("give --at INSTANT or --in DURATION".into()));
        }
    };
    let client = client(db, registry).await?;
    let trigger = client.schedule_at(job, at, data).await?;
    let at = trigger.next_fire_at.map(from_ms);
    if json {
        println!(
            "{}",
            json!({"trigger_id": trigger.id, "job": job, "fire_at": at.map(|t| t.to_rfc3339())})
        );
    } else {
        println!(
            "scheduled {job} at {} (trigger {})",
            output::instant(at),
            trigger.id
        );
    }
    Ok(())
}

/// `cosched triggers pause|resume ID`.
pub(super) async fn pause_trigger(client: &Client, action: PauseAction) -> Result<(), CliError> {
    let (pause, target) = match action {
        PauseAction::Pause { target } => (true, target),
        PauseAction::Resume { target } => (false, target),
    };
    let id: i64 = target
        .parse()
        .map_err(|_| CliError::Usage(format!("`{target}` is not a trigger id (a number)")))?;
    let changed = if pause {
        client.pause_trigger(id).await?
    } else {
        client.resume_trigger(id).await?
    };
    let what = if pause { "paused" } else { "resumed" };
    println!("trigger {id}: {}", if changed { what } else { "unchanged" });
    Ok(())
}

/// `cosched group pause|resume GROUP`.
pub(super) async fn pause_group(client: &Client, action: PauseAction) -> Result<(), CliError> {
    let (changed, what, group) = match action {
        PauseAction::Pause { target } => (client.pause_group(&target).await?, "paused", target),
        PauseAction::Resume { target } => (client.resume_group(&target).await?, "resumed", target),
    };
    println!(
        "group {group}: {what} {} job(s) {}",
        changed.len(),
        changed.join(", ")
    );
    Ok(())
}

/// `cosched standby on|off|status`.
pub(super) async fn standby(client: &Client, state: &str) -> Result<(), CliError> {
    match state {
        "on" => client.set_standby(true).await?,
        "off" => client.set_standby(false).await?,
        _ => {}
    }
    let on = client.is_standby().await?;
    println!(
        "standby: {}",
        if on { "on (no fire starts)" } else { "off" }
    );
    Ok(())
}

/// `cosched calendars [list|set|delete]`.
pub(super) async fn calendars(
    client: &Client,
    action: CalendarsAction,
    json: bool,
) -> Result<(), CliError> {
    match action {
        CalendarsAction::List => {
            let rows = client.calendars().await?;
            if json {
                println!("{}", Value::Array(rows.iter().map(calendar_json).collect()));
            } else {
                for c in rows {
                    let definition = serde_json::to_string(&c.definition)
                        .map_err(|e| CliError::Runtime(e.to_string()))?;
                    println!(
                        "{}  ({})  {definition}",
                        output::printable(&c.name),
                        c.source
                    );
                }
            }
        }
        CalendarsAction::Set { definition } => {
            let def: crate::schedule::calendar::CalendarDef = serde_json::from_str(&definition)
                .map_err(|e| CliError::Usage(format!("invalid calendar definition: {e}")))?;
            let row = client.set_calendar(&def).await?;
            println!("calendar {}: saved", output::printable(&row.name));
        }
        CalendarsAction::Delete { name } => {
            client.delete_calendar(&name).await?;
            println!("calendar {}: deleted", output::printable(&name));
        }
    }
    Ok(())
}

/// `cosched cancel FIRE`.
pub(super) async fn cancel(client: &Client, fire_id: i64) -> Result<(), CliError> {
    if client.cancel_fire(fire_id).await? {
        println!("fire {fire_id}: cancelled");
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "fire {fire_id} is not running or queued"
        )))
    }
}
