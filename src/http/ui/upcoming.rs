//! The future fires of a stored trigger, for the timeline and the job
//! page: the schedule code's preview from the trigger's next fire, with
//! its calendars applied (see [`crate::schedule::preview`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::from_ms;
use crate::model::Trigger;
use crate::schedule::calendar::{Calendar, CalendarSet};
use crate::schedule::preview::{PreviewFire, PreviewRange, preview};

/// The calendars a trigger names, of those that compile.
pub fn calendars_of(trigger: &Trigger, all: &HashMap<String, Arc<Calendar>>) -> CalendarSet {
    trigger
        .calendars
        .iter()
        .filter_map(|name| all.get(name).cloned())
        .collect()
}

/// The fires of `trigger` in `[from, until]`, at most `limit`.
pub fn fires_of(
    trigger: &Trigger,
    calendars: &HashMap<String, Arc<Calendar>>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<PreviewFire> {
    let Some(next) = trigger.next_fire_at else {
        return Vec::new();
    };
    preview(
        &trigger.spec,
        from_ms(trigger.start_at),
        trigger.repeat_count,
        from_ms(next),
        &calendars_of(trigger, calendars),
        PreviewRange { from, until, limit },
    )
}

/// The instants of `trigger` in `[from, until]` (at most `limit`
/// scheduled instants looked at) that its calendars exclude, each with
/// the first calendar it names that excludes it: the schedule's own
/// instants from `from` on (even those before the trigger's next fire,
/// which already skipped them), before any calendar, checked one by one.
pub fn suppressed_of(
    trigger: &Trigger,
    calendars: &HashMap<String, Arc<Calendar>>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<(DateTime<Utc>, String)> {
    let Some(next) = trigger.next_fire_at else {
        return Vec::new();
    };
    // The trigger's next fire already skips what its calendars exclude:
    // start from the schedule's own first instant in the range.
    let start_at = from_ms(trigger.start_at);
    let first = trigger
        .spec
        .schedule(start_at, trigger.repeat_count)
        .next_after(from - chrono::Duration::milliseconds(1));
    let next = first.map_or(from_ms(next), |f| f.min(from_ms(next)));
    let named = calendars_of(trigger, calendars);
    preview(
        &trigger.spec,
        start_at,
        trigger.repeat_count,
        next,
        &CalendarSet::default(),
        PreviewRange { from, until, limit },
    )
    .into_iter()
    .filter_map(|f| {
        let by = named.iter().find(|c| c.is_excluded(f.at))?;
        Some((f.at, by.name.clone()))
    })
    .collect()
}
