//! Pages of the job and fire listings, with opaque cursors.
//!
//! A cursor is the sort key of a page's last row (a job's name; a fire's
//! scheduled instant, attempt and id), base64url-encoded with a tag of
//! its listing, so that a caller treats it as a token: it is only ever
//! handed back as it was given. The next page starts strictly after it,
//! so rows inserted between two requests never repeat or shift a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::FireKey;

/// How many rows a page has when no limit is given.
pub const DEFAULT_PAGE_LIMIT: u64 = 50;
/// The largest page.
pub const MAX_PAGE_LIMIT: u64 = 1000;

/// One page of a listing; `next_cursor` fetches the next one (`None`:
/// this is the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

const JOBS_TAG: &str = "jobs";
const FIRES_TAG: &str = "fires";

/// Checks a page size: 1 to [`MAX_PAGE_LIMIT`].
pub fn check_limit(limit: u64) -> Result<u64, String> {
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!(
            "`limit` = {limit} is out of range: give a limit from 1 to {MAX_PAGE_LIMIT}"
        ))
    }
}

pub(super) fn job_cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{JOBS_TAG}\n{after}"))
}

pub(super) fn fire_cursor(key: FireKey) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{FIRES_TAG}\n{}\n{}\n{}",
        key.scheduled_at, key.attempt, key.id
    ))
}

fn not_a_cursor(listing: &str) -> String {
    format!(
        "`cursor` is not a cursor of the {listing} listing: pass back the `next_cursor` a \
         previous page gave, unchanged"
    )
}

/// The text after the cursor's tag, if it is a cursor of `tag`.
fn payload(cursor: &str, tag: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| not_a_cursor(tag))?;
    let text = String::from_utf8(bytes).map_err(|_| not_a_cursor(tag))?;
    match text.split_once('\n') {
        Some((t, rest)) if t == tag => Ok(rest.to_string()),
        _ => Err(not_a_cursor(tag)),
    }
}

pub(super) fn parse_job_cursor(cursor: &str) -> Result<String, String> {
    // A job name may itself hold line breaks: everything after the tag.
    payload(cursor, JOBS_TAG)
}

pub(super) fn parse_fire_cursor(cursor: &str) -> Result<FireKey, String> {
    let text = payload(cursor, FIRES_TAG)?;
    let f: Vec<&str> = text.split('\n').collect();
    let [scheduled_at, attempt, id] = f.as_slice() else {
        return Err(not_a_cursor(FIRES_TAG));
    };
    let bad = |_| not_a_cursor(FIRES_TAG);
    Ok(FireKey {
        scheduled_at: scheduled_at.parse().map_err(bad)?,
        attempt: attempt.parse().map_err(bad)?,
        id: id.parse().map_err(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_listing() {
        for name in ["backup", "a\nb", "ünïcode"] {
            assert_eq!(parse_job_cursor(&job_cursor(name)).unwrap(), name);
        }
        let key = FireKey {
            scheduled_at: -5,
            attempt: 3,
            id: 42,
        };
        assert_eq!(parse_fire_cursor(&fire_cursor(key)).unwrap(), key);
        assert!(parse_fire_cursor(&job_cursor("x")).is_err());
        assert!(parse_job_cursor(&fire_cursor(key)).is_err());
        assert!(parse_job_cursor("!!not base64").is_err());
        assert!(check_limit(0).is_err());
        assert!(check_limit(MAX_PAGE_LIMIT + 1).is_err());
        assert_eq!(check_limit(MAX_PAGE_LIMIT), Ok(MAX_PAGE_LIMIT));
    }
}
