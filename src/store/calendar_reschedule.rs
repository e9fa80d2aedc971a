//! Calendar changes take effect at once: when a calendar is created,
//! replaced or reconciled, every waiting (or paused) trigger that names it
//! gets its next fire recomputed in the same transaction, from its
//! previous fire (or its start), strictly later, with the step the
//! scheduler advances triggers with
//! ([`next_fire_after`](crate::schedule::preview::next_fire_after)). A day
//! the new definition allows again fires; a day it now excludes does not.
//!
//! A trigger leased by a node at that moment is left to it: the node loads
//! the calendars after it leases, so it plans with the new definition.

use entity::triggers;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};

use super::calendars::load_calendars;
use super::{Store, StoreError, codec};
use crate::clock::from_ms;
use crate::model::TriggerState;
use crate::schedule::preview::next_fire_after;

/// Recomputes the next fire of the unleased waiting and paused triggers
/// naming one of `changed`; returns how many changed.
pub(super) async fn reschedule_naming<C: ConnectionTrait>(
    store: &Store,
    db: &C,
    changed: &[String],
    now_ms: i64,
) -> Result<u64, StoreError> {
    if changed.is_empty() {
        return Ok(0);
    }
    let rows = triggers::Entity::find()
        .filter(triggers::Column::State.is_in([
            TriggerState::Waiting.as_str(),
            TriggerState::Paused.as_str(),
        ]))
        .filter(triggers::Column::Calendars.is_not_null())
        .all(db)
        .await?;
    let mut naming = Vec::new();
    for row in &rows {
        if row.lease_until.is_some_and(|until| until >= now_ms) {
            continue;
        }
        match codec::trigger(row) {
            Ok(t) if t.calendars.iter().any(|c| changed.contains(c)) => naming.push(t),
            Ok(_) => {}
            Err(e) => store.put_aside(&e),
        }
    }
    let mut names: Vec<String> = naming.iter().flat_map(|t| t.calendars.clone()).collect();
    names.sort();
    names.dedup();
    let loaded = load_calendars(store, db, &names).await?;
    let mut moved = 0;
    for t in naming {
        // A calendar that is gone or broken puts the trigger in error when
        // it comes due, as before.
        let Ok(set) = loaded.set_for(&t.calendars) else {
            continue;
        };
        let start = from_ms(t.start_at);
        let from = match t.previous_fire_at {
            Some(prev) => from_ms(prev),
            None => start - chrono::Duration::milliseconds(1),
        };
        let next = next_fire_after(&t.spec, start, t.repeat_count, &set, from)
            .map(|n| n.timestamp_millis());
        if next == t.next_fire_at {
            continue;
        }
        let state = match (next, t.state) {
            (None, _) => TriggerState::Complete,
            (Some(_), s) => s,
        };
        // Unchanged since it was read (no node recorded a fire meanwhile).
        let sql = "UPDATE triggers SET next_fire_at = $1, state = $2, updated_at = $3 \
                   WHERE id = $4 AND fence = $5 AND COALESCE(next_fire_at, -1) = $6";
        let values: [Value; 6] = [
            next.into(),
            state.as_str().into(),
            now_ms.into(),
            t.id.into(),
            t.fence.into(),
            t.next_fire_at.unwrap_or(-1).into(),
        ];
        moved += db
            .execute_raw(store.stmt(sql, values))
            .await?
            .rows_affected();
    }
    Ok(moved)
}
