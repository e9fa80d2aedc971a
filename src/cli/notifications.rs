//! `cosched notifications`: the notifications recorded for `[[notify]]`
//! rules, newest first, with where their delivery stands.

use clap::Args;
use serde_json::Value;

use super::output::{ms, table};
use super::{CliError, DatabaseArgs, client};
use crate::client::notifications::{MAX_NOTIFICATIONS, notification_json};
use crate::jobs::JobRegistry;
use crate::model::{Notification, NotificationStatus};

#[derive(Debug, Clone, Args)]
pub struct NotificationsArgs {
    /// Only notifications with this status (pending, leased, sent, failed).
    #[arg(long)]
    pub status: Option<NotificationStatus>,
    /// At most this many (1 to 10000).
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=MAX_NOTIFICATIONS))]
    pub limit: u64,
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Lists notifications.
pub async fn run(args: NotificationsArgs, registry: &JobRegistry) -> Result<(), CliError> {
    let client = client(&args.db, registry).await?;
    let list = client.notifications(args.status, args.limit).await?;
    print(&list, args.json);
    Ok(())
}

fn print(list: &[Notification], as_json: bool) {
    if as_json {
        println!(
            "{}",
            Value::Array(list.iter().map(notification_json).collect())
        );
        return;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.notify.clone(),
                n.event.to_string(),
                n.job.clone().or_else(|| n.node.clone()).unwrap_or_default(),
                n.fire_id.map(|f| f.to_string()).unwrap_or_default(),
                n.status.to_string(),
                n.attempts.to_string(),
                ms(Some(n.created_at)),
                ms(n.sent_at),
                n.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "NOTIFY", "EVENT", "JOB/NODE", "FIRE", "STATUS", "ATTEMPTS", "CREATED", "SENT",
            "ERROR",
        ],
        &rows,
    );
}
