//! The `[scheduler]` table: a node's own settings, their defaults and
//! ranges, and their resolution against the command line and environment.
//!
//! Ranges (see [`crate::declare::ranges`]): `poll_interval` 10 ms to 1
//! day; `checkin_interval` and `lease` 1 ms to 1 day; `shutdown_grace` 0
//! to 1 day; `misfire_threshold` 1 ms to 100 years (it is every trigger's
//! default threshold, so it takes the same range); `max_concurrent` 1 to
//! 10 000; `dead_after_checkins` 2 to 1000 (with a check-in of at most a
//! day, the time to declare a node dead stays far inside an `i64` of
//! milliseconds).
//!
//! `idle_in_transaction_timeout` (PostgreSQL) is derived from the dead-node
//! threshold (`checkin_interval` × `dead_after_checkins`): half of it
//! unless set, and a value set must not exceed that half, so that the
//! server ends the session of a node frozen inside a transaction (and
//! releases its row locks) before its peers declare it dead and recover
//! it. Why half: a node freezes at most one check-in interval after its
//! last check-in, and with at least two check-ins to the threshold, one
//! interval plus half the threshold is within it.
//!
//! `http_allow`, `http_secret_env` and `http_secret_files` are the rules
//! for `http` jobs created through the API ([`ApiHttpPolicy`]); each
//! defaults to none, and a bad entry is reported at its own line and
//! column.

use std::time::Duration;

use chrono_tz::Tz;
use toml::Spanned;

use super::raw::RawScheduler;
use super::spans::Checker;
use crate::declare::{parse_timezone, ranges};
use crate::jobs::http::{ApiHttpPolicy, HttpAllow};
use crate::model::{DEFAULT_POOL, KeepFires};
use crate::store::DEFAULT_DATABASE_URL;

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;
    pub const MAX_CONCURRENT: usize = 16;
    pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    pub const MISFIRE_THRESHOLD: Duration = Duration::from_secs(60);
    pub const LEASE: Duration = Duration::from_secs(30);
    pub const CHECKIN_INTERVAL: Duration = Duration::from_secs(5);
    pub const DEAD_AFTER_CHECKINS: u32 = 4;
    pub const MAX_BATCH: usize = 256;
}

/// The `[scheduler]` table, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    pub database: Option<String>,
    pub node_id: Option<String>,
    pub max_concurrent: usize,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub timezone: Tz,
    pub misfire_threshold: Duration,
    pub pools: Vec<String>,
    pub lease: Duration,
    pub checkin_interval: Duration,
    pub dead_after_checkins: u32,
    /// `idle_in_transaction_timeout` as set (None: derived, see
    /// [`SchedulerSettings::idle_in_transaction_timeout`]).
    pub idle_in_transaction_timeout: Option<Duration>,
    /// The rules for `http` jobs created through the API.
    pub api_http: ApiHttpPolicy,
    /// Fire-history retention for every job (each job may override it).
    pub keep_fires: KeepFires,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            database: None,
            node_id: None,
            max_concurrent: defaults::MAX_CONCURRENT,
            poll_interval: defaults::POLL_INTERVAL,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            timezone: Tz::UTC,
            misfire_threshold: defaults::MISFIRE_THRESHOLD,
            pools: vec![DEFAULT_POOL.to_string()],
            lease: defaults::LEASE,
            checkin_interval: defaults::CHECKIN_INTERVAL,
            dead_after_checkins: defaults::DEAD_AFTER_CHECKINS,
            idle_in_transaction_timeout: None,
            api_http: ApiHttpPolicy::default(),
            keep_fires: KeepFires::default(),
        }
    }
}

impl SchedulerSettings {
    /// How long a peer waits before declaring a silent node dead.
    pub fn dead_threshold(&self) -> Duration {
        self.checkin_interval
            .saturating_mul(self.dead_after_checkins)
    }

    /// The longest a node's PostgreSQL session may sit idle inside a
    /// transaction before the server ends it: as set, else half the dead
    /// threshold (see the module docs for why).
    pub fn idle_in_transaction_timeout(&self) -> Duration {
        self.idle_in_transaction_timeout
            .unwrap_or_else(|| self.dead_threshold() / 2)
    }
}

/// What a node runs with, after every source of settings is resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub node_id: String,
    pub scheduler: SchedulerSettings,
}

impl Settings {
    /// Resolves the database (`--database`/`DATABASE_URL` > file >
    /// default) and the node id (file > `host-pid`).
    pub fn resolve(cli_database: Option<String>, config: &super::Config) -> Settings {
        let database_url = cli_database
            .or_else(|| config.scheduler.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let node_id = config
            .scheduler
            .node_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", crate::os::hostname(), std::process::id()));
        Settings {
            database_url,
            node_id,
            scheduler: config.scheduler.clone(),
        }
    }
}

fn duration_in(
    c: &mut Checker<'_>,
    v: &Option<Spanned<String>>,
    key: &str,
    range: ranges::DurationRange,
    slot: &mut Duration,
) {
    if let Some(v) = v
        && let Some(d) = c.check(v.span(), ranges::duration(v.get_ref(), key, range))
    {
        *slot = d;
    }
}

fn whole_in<T: TryFrom<i64>>(
    c: &mut Checker<'_>,
    v: &Option<Spanned<i64>>,
    key: &str,
    range: (i64, i64),
    slot: &mut T,
) {
    if let Some(v) = v
        && let Some(n) = c.check(v.span(), ranges::whole_as(*v.get_ref(), key, range))
    {
        *slot = n;
    }
}

pub(super) fn scheduler_settings(
    c: &mut Checker<'_>,
    raw: Option<&RawScheduler>,
) -> SchedulerSettings {
    let mut s = SchedulerSettings::default();
    let Some(raw) = raw else { return s };
    s.database = raw.database.clone();
    s.node_id = raw.node_id.as_ref().map(|n| n.get_ref().clone());
    if let Some(n) = &raw.node_id
        && n.get_ref().trim().is_empty()
    {
        c.at(n.span(), "`node_id` must not be empty");
    }
    whole_in(
        c,
        &raw.max_concurrent,
        "max_concurrent",
        ranges::MAX_CONCURRENT,
        &mut s.max_concurrent,
    );
    duration_in(
        c,
        &raw.poll_interval,
        "poll_interval",
        ranges::POLL_INTERVAL,
        &mut s.poll_interval,
    );
    duration_in(
        c,
        &raw.shutdown_grace,
        "shutdown_grace",
        ranges::SHUTDOWN_GRACE,
        &mut s.shutdown_grace,
    );
    if let Some(t) = &raw.timezone
        && let Some(tz) = c.check(t.span(), parse_timezone(t.get_ref()))
    {
        s.timezone = tz;
    }
    duration_in(
        c,
        &raw.misfire_threshold,
        "misfire_threshold",
        ranges::SCHEDULER_MISFIRE_THRESHOLD,
        &mut s.misfire_threshold,
    );
    if let Some(p) = &raw.pools {
        if p.get_ref().is_empty() || p.get_ref().iter().any(|n| n.trim().is_empty()) {
            c.at(
                p.span(),
                "`pools` must list at least one non-empty pool name",
            );
        } else {
            s.pools = p.get_ref().clone();
        }
    }
    duration_in(c, &raw.lease, "lease", ranges::NODE_TIMING, &mut s.lease);
    duration_in(
        c,
        &raw.checkin_interval,
        "checkin_interval",
        ranges::NODE_TIMING,
        &mut s.checkin_interval,
    );
    whole_in(
        c,
        &raw.dead_after_checkins,
        "dead_after_checkins",
        ranges::DEAD_AFTER_CHECKINS,
        &mut s.dead_after_checkins,
    );
    idle_in_transaction_timeout(c, raw, &mut s);
    s.api_http = api_http_policy(c, raw);
    if let Some(k) = &raw.keep_fires {
        let (decl, places) = k.get_ref().declaration();
        match crate::declare::keep_fires_override(&decl, "keep_fires") {
            Ok(o) => s.keep_fires = s.keep_fires.overridden_by(&o),
            Err(e) => {
                for issue in e.issues {
                    let field = issue.path.rsplit('.').next().unwrap_or_default();
                    let span = places
                        .iter()
                        .find(|(name, _)| *name == field)
                        .map_or_else(|| k.span(), |(_, span)| span.clone());
                    c.at(span, issue.message);
                }
            }
        }
    }
    s
}

/// `idle_in_transaction_timeout`: 1 ms up to half the dead threshold (it
/// must end a frozen node's transaction before its peers declare it dead).
fn idle_in_transaction_timeout(c: &mut Checker<'_>, raw: &RawScheduler, s: &mut SchedulerSettings) {
    let Some(v) = &raw.idle_in_transaction_timeout else {
        return;
    };
    let Some(d) = c.check(
        v.span(),
        ranges::duration(
            v.get_ref(),
            "idle_in_transaction_timeout",
            ranges::NODE_TIMING,
        ),
    ) else {
        return;
    };
    let most = s.dead_threshold() / 2;
    if d > most {
        c.at(
            v.span(),
            format!(
                "`idle_in_transaction_timeout` = \"{}\" conflicts with the dead-node threshold \
                 (`checkin_interval` × `dead_after_checkins` = {}): expected at most half of it, {}, \
                 so that a node frozen inside a transaction releases its locks before its peers \
                 declare it dead",
                v.get_ref(),
                humantime::format_duration(s.dead_threshold()),
                humantime::format_duration(most),
            ),
        );
        return;
    }
    s.idle_in_transaction_timeout = Some(d);
}

/// `http_allow`, `http_secret_env`, `http_secret_files`: each entry
/// checked at its own place in the file.
fn api_http_policy(c: &mut Checker<'_>, raw: &RawScheduler) -> ApiHttpPolicy {
    let mut policy = ApiHttpPolicy::default();
    if let Some(list) = &raw.http_allow {
        let mut texts = Vec::new();
        for (i, entry) in list.get_ref().iter().enumerate() {
            // Each entry parsed alone, so an error points at its own span.
            let one = HttpAllow::parse(&[entry.get_ref()])
                .map_err(|e| e.replacen("http_allow[0]", &format!("http_allow[{i}]"), 1));
            if c.check(entry.span(), one).is_some() {
                texts.push(entry.get_ref().clone());
            }
        }
        if let Ok(allow) = HttpAllow::parse(&texts) {
            policy.allow = allow;
        }
    }
    if let Some(list) = &raw.http_secret_env {
        for name in list.get_ref() {
            let text = name.get_ref();
            if text.is_empty() || text.contains(['=', '\0']) {
                c.at(
                    name.span(),
                    format!(
                        "`http_secret_env` entry \"{}\" is not an environment variable name \
                         (non-empty, without `=` or NUL)",
                        text.escape_debug()
                    ),
                );
            } else {
                policy.secret_env.push(text.clone());
            }
        }
    }
    if let Some(list) = &raw.http_secret_files {
        for path in list.get_ref() {
            let text = path.get_ref();
            if !std::path::Path::new(text).is_absolute() || text.contains('\0') {
                c.at(
                    path.span(),
                    format!(
                        "`http_secret_files` entry \"{}\" must be an absolute path",
                        text.escape_debug()
                    ),
                );
            } else {
                policy.secret_files.push(text.into());
            }
        }
    }
    policy
}
