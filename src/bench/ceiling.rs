//! `bare`: the ceiling a node's work is compared with. `N` one-off
//! triggers are inserted due at one instant, as for a burst, and then no
//! scheduler runs: `--nodes` loops in this process repeat the bare SQL of
//! a fire ([`Store::bench_bare_batch`]: lease with `SKIP LOCKED`, insert
//! the records, advance the triggers, complete the fires, in one
//! transaction of up to `--max-concurrent` fires) until nothing is left.
//! The ratio of a burst's fires/s to this run's, on the same database,
//! says how close the scheduler comes to what the database allows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::load::Run;
use super::meter::Meter;
use super::report::{millis, per_second};
use super::{BenchError, BenchPlan};
use crate::clock::Clock;
use crate::model::Job;
use crate::store::Store;

/// The bare loops' due instant is this far after the insert finished.
const LEAD: Duration = Duration::from_millis(500);

pub async fn bare(
    plan: &BenchPlan,
    store: &Store,
    job: &Job,
    clock: &Arc<dyn Clock>,
    meter: &Meter,
    fleet: &Fleet,
) -> Result<Run, BenchError> {
    let due = vec![i64::MAX; usize::try_from(plan.triggers).unwrap_or(usize::MAX)];
    let started = Instant::now();
    store.bench_insert_once(job, &due, clock.now_ms()).await?;
    let inserting = started.elapsed();
    // Due once everything is in, so that no loop starts on a part.
    let due_at = clock.now_ms() + millis(LEAD) as i64;
    store.bench_set_once_due(&job.pool, due_at).await?;
    let from = meter.sample(fleet);
    tokio::time::sleep(LEAD).await;
    let mut loops = tokio::task::JoinSet::new();
    for i in 1..=plan.nodes {
        let (store, clock, pool) = (store.clone(), clock.clone(), job.pool.clone());
        let limit = plan.max_concurrent as u64;
        loops.spawn(async move {
            let node = format!("{pool}-bare-{i}");
            let mut fired = 0u64;
            loop {
                let n = store
                    .bench_bare_batch(&pool, &node, clock.now_ms(), limit)
                    .await?;
                if n == 0 {
                    return Ok::<_, BenchError>(fired);
                }
                fired += n;
            }
        });
    }
    while let Some(done) = loops.join_next().await {
        done.map_err(|e| BenchError::Failed(format!("a bare loop failed: {e}")))??;
    }
    Ok(Run {
        triggers: plan.triggers,
        lead: LEAD,
        insert_per_second: per_second(plan.triggers, inserting),
        producer_rate: None,
        from,
        to: meter.sample(fleet),
    })
}
