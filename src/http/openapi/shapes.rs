//! The response shapes of the API as schema types. The views themselves
//! are built in [`crate::client::views`] (shared with the CLI's `--json`);
//! these types only describe them, and the integration tests check every
//! property here against a real response, so the description cannot
//! promise a field the API does not send.

// Never constructed: they exist for their schemas.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error: a message, what to do about it, and for a body that
/// fails validation one issue per bad field.
#[derive(Serialize, ToSchema)]
pub struct Error {
    /// What went wrong.
    error: String,
    /// What to do about it.
    hint: String,
    /// One per bad field of a body (validation errors only).
    issues: Option<Vec<Issue>>,
}

/// One bad field of a body.
#[derive(Serialize, ToSchema)]
pub struct Issue {
    /// The field's JSON path, e.g. `schedule.every` (empty: the body).
    path: String,
    message: String,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    status: String,
    node: String,
    database: bool,
    standby: Option<bool>,
    error: Option<String>,
}

/// A job with its settings, data, triggers and next fire.
#[derive(Serialize, ToSchema)]
pub struct Job {
    name: String,
    /// The job kind: `command`, `http`, `noop` or one an embedder registers.
    kind: String,
    pool: String,
    group: Option<String>,
    paused: bool,
    /// `config` (the file) or `api`.
    source: String,
    /// `allow`, `skip` or `queue`.
    overlap: String,
    timeout_ms: Option<i64>,
    priority: i64,
    /// The kind's settings.
    settings: Value,
    data: Value,
    /// RFC 3339, UTC.
    next_fire_at: Option<String>,
    triggers: Vec<Trigger>,
}

/// A trigger as it appears in a job.
#[derive(Serialize, ToSchema)]
pub struct Trigger {
    id: i64,
    /// `cron`, `interval`, `calendar_interval`, `daily` or `once`.
    kind: String,
    source: String,
    /// The schedule in a few words.
    schedule: String,
    /// `waiting`, `paused`, `complete` or `error`.
    state: String,
    next_fire_at: Option<String>,
    previous_fire_at: Option<String>,
    times_fired: i64,
    misfire_policy: String,
    error: Option<String>,
}

/// `GET /jobs/{name}`: a job and its ten most recent fires.
#[derive(Serialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    job: Job,
    recent_fires: Vec<Fire>,
}

/// `GET /jobs/{name}/next`: the job's next fires.
#[derive(Serialize, ToSchema)]
pub struct JobNext {
    job: String,
    /// The job is paused: it fires none of these until resumed.
    paused: bool,
    /// The job's jitter, if any: `{"kind": "uniform" | "hash", "window_ms": N}`.
    jitter: Option<JitterView>,
    fires: Vec<NextFire>,
    /// Triggers that cannot be previewed, with why.
    errors: Vec<TriggerProblem>,
}

/// One previewed fire.
#[derive(Serialize, ToSchema)]
pub struct NextFire {
    /// The nominal instant, recorded as `scheduled_at`; RFC 3339, UTC.
    at: String,
    /// When it is due: `at` plus the job's jitter offset; RFC 3339, UTC.
    due_at: String,
    /// `due_at` − `at`, in ms (0 without jitter).
    jitter_offset_ms: i64,
    trigger_id: i64,
    /// The trigger is paused on its own.
    trigger_paused: bool,
    /// The calendar that excludes it (then it is recorded skipped).
    excluded_by: Option<String>,
    /// How DST moved or selected it.
    dst: Option<String>,
}

/// A job's jitter.
#[derive(Serialize, ToSchema)]
pub struct JitterView {
    /// `uniform` (each fire somewhere in the window) or `hash` (one offset
    /// from the job name).
    kind: String,
    window_ms: i64,
}

/// A trigger a preview leaves out.
#[derive(Serialize, ToSchema)]
pub struct TriggerProblem {
    trigger_id: i64,
    error: String,
}

/// One attempt of one scheduled fire.
#[derive(Serialize, ToSchema)]
pub struct Fire {
    id: i64,
    job: String,
    trigger_id: Option<i64>,
    /// RFC 3339, UTC.
    scheduled_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// Start minus scheduled instant.
    lateness_ms: Option<i64>,
    duration_ms: Option<i64>,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out`, `skipped`,
    /// `abandoned` or `cancelled`.
    status: String,
    attempt: i64,
    node: Option<String>,
    recovery: bool,
    reason: Option<String>,
    error: Option<String>,
    output: Option<String>,
}

/// A node of the cluster.
#[derive(Serialize, ToSchema)]
pub struct Node {
    id: String,
    host: String,
    pid: i64,
    version: String,
    pools: Vec<String>,
    /// `active`, `stopped` or `dead`.
    state: String,
    started_at: String,
    last_checkin_at: String,
    checkin_interval_ms: i64,
    clock_offset_ms: i64,
    declared_dead_by: Option<String>,
    declared_dead_at: Option<String>,
    running_fires: i64,
}

/// An exclusion calendar.
#[derive(Serialize, ToSchema)]
pub struct Calendar {
    name: String,
    source: String,
    /// The definition as given (see the README's calendars section).
    definition: Value,
}

/// The answer to a trigger or a schedule: the one-off trigger created.
#[derive(Serialize, ToSchema)]
pub struct Scheduled {
    trigger_id: i64,
    job: String,
    /// RFC 3339.
    fire_at: Option<String>,
}

/// `GET /standby`, `POST /standby`: whether no fire starts on any node.
#[derive(Serialize, ToSchema)]
pub struct Standby {
    on: bool,
}

/// The answer to a pause, resume, delete or cancel: what it applied to
/// (`job`, `trigger_id`, `group`, `calendar` or `fire_id`), the state
/// now (`paused`, `deleted`, `cancelled`) and whether anything changed.
#[derive(Serialize, ToSchema)]
pub struct Changed {
    /// False when it was already in that state (pause and resume).
    changed: Option<Value>,
}

/// A notification of a `[[notify]]` rule, and its delivery.
#[derive(Serialize, ToSchema)]
pub struct Notification {
    id: i64,
    /// The rule's name.
    notify: String,
    /// `failed`, `timed_out`, `abandoned`, `misfire_skipped`,
    /// `expectation_violated` or `node_dead`.
    event: String,
    job: Option<String>,
    fire_id: Option<i64>,
    node: Option<String>,
    fire_status: Option<String>,
    scheduled_at: Option<String>,
    detail: Option<String>,
    /// `pending`, `leased`, `sent` or `failed`.
    status: String,
    attempts: i64,
    due_at: String,
    lease_owner: Option<String>,
    lease_until: Option<String>,
    error: Option<String>,
    created_at: String,
    sent_at: Option<String>,
    dedup_key: String,
}
