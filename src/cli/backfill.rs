//! `cosched backfill JOB --from T1 --to T2`: fires for the instants a job's
//! triggers had in `[T1, T2)` and that have no fire yet (see
//! [`crate::client::backfill`]); prints what it created and what it left
//! alone as already present.

use clap::Args;

use super::output::{ms, table};
use super::{CliError, DatabaseArgs, client, parse_instant};
use crate::client::backfill::{
    Backfill, BackfillReport, DEFAULT_BACKFILL_MAX, MAX_BACKFILL, backfill_json,
};
use crate::jobs::JobRegistry;

#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    /// The job to backfill.
    pub job: String,
    /// The window's start (included): an RFC 3339 instant.
    #[arg(long)]
    pub from: String,
    /// The window's end (excluded): an RFC 3339 instant.
    #[arg(long)]
    pub to: String,
    /// At most this many instants (1 to 10000): a window with more is refused.
    #[arg(long, default_value_t = DEFAULT_BACKFILL_MAX,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BACKFILL))]
    pub max: u64,
    /// Say what would be created; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub json: bool,
}

/// Backfills a job and prints the report.
pub async fn run(args: BackfillArgs, registry: &JobRegistry) -> Result<(), CliError> {
    let what = Backfill {
        from: parse_instant(&args.from, "--from")?,
        to: parse_instant(&args.to, "--to")?,
        max: args.max,
        dry_run: args.dry_run,
    };
    let client = client(&args.db, registry).await?;
    let report = client.backfill(&args.job, &what).await?;
    print(&report, args.json);
    Ok(())
}

fn print(r: &BackfillReport, as_json: bool) {
    if as_json {
        println!("{}", backfill_json(r));
        return;
    }
    let mut rows: Vec<Vec<String>> = r
        .created
        .iter()
        .map(|c| {
            vec![
                ms(Some(c.scheduled_at)),
                c.trigger_id.to_string(),
                if r.dry_run {
                    format!("would be {}", c.status)
                } else {
                    format!("created {}", c.status)
                },
                if c.fire_id > 0 {
                    c.fire_id.to_string()
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    rows.extend(r.present.iter().map(|(t, at)| {
        vec![
            ms(Some(*at)),
            t.to_string(),
            "already present".into(),
            "-".into(),
        ]
    }));
    rows.sort();
    table(&["SCHEDULED", "TRIGGER", "BACKFILL", "FIRE"], &rows);
    println!(
        "{}: {} {}, {} already present",
        r.job,
        r.created.len(),
        if r.dry_run {
            "would be created"
        } else {
            "created"
        },
        r.present.len()
    );
}
