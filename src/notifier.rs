//! The notifier: sends the notifications the store recorded with their
//! events, on every node, leased and fenced like fires.
//!
//! [`Notifier::run_once`] is one pass: check the jobs' success
//! expectations (at most every `expectation_check`), lease up to `batch`
//! due notifications, send each with its rule's job kind (`command` or
//! `http`, the very runners of those kinds: the event goes to a command as
//! its JSON context on stdin and in `COSCHED_*` variables, to HTTP as the
//! JSON body), then mark it `sent`, or `pending` again after a backoff, or
//! `failed` after `max_attempts`. [`Notifier::run`] is the thin loop.
//!
//! The context a sender sees: `fire_id` (so `COSCHED_FIRE_ID` and the
//! HTTP `Idempotency-Key`) is the notification's id, the same on every
//! attempt; `data` holds the event: `notification_id`, `notify`, `event`,
//! `job`, `fire_id`, `status`, `scheduled_at`, `error`, `node`,
//! `created_at`.
//!
//! Delivery is at least once per notification, and once in the usual
//! case: a node that dies after sending but before marking it sent lets
//! its lease expire (or be freed when it is declared dead), and a survivor
//! sends it again. The expectation check needs no lease of its own: the
//! UNIQUE dedup key records a violation once, whichever nodes see it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, from_ms};
use crate::declare::ranges;
use crate::jobs::{FireContext, JobOutcome, JobRegistry};
use crate::model::{Notification, NotifyEvent};
use crate::store::{NotificationFailure, Store, StoreError};

/// How the notifier runs.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub node_id: String,
    /// Notifications leased per pass.
    pub batch: u64,
    /// How long a lease holds (longer than `send_timeout`).
    pub lease: Duration,
    /// The longest one delivery attempt may take.
    pub send_timeout: Duration,
    /// Time between passes when nothing is left due.
    pub interval: Duration,
    /// Attempts before a notification is `failed` for good.
    pub max_attempts: u32,
    /// The wait after the first failed attempt, doubled after each.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Time between two checks of the jobs' success expectations.
    pub expectation_check: Duration,
}

impl NotifierConfig {
    /// The defaults: 32 a pass, a pass a second, 5 attempts 10 s, 20 s, …
    /// apart (at most 5 min), 30 s a send under a 2 min lease, the
    /// expectations checked every minute.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            batch: 32,
            lease: Duration::from_secs(120),
            send_timeout: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            max_attempts: 5,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
            expectation_check: Duration::from_secs(60),
        }
    }

    /// The wait before attempt `attempts + 1`.
    fn backoff_after(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyPass {
    /// Expectation violations recorded by this pass.
    pub violations: u64,
    pub sent: usize,
    /// Attempts that failed (retried later or given up).
    pub failed: usize,
    /// Notifications leased (a full batch: more may be due).
    pub leased: usize,
}

/// The notifier of one node.
#[derive(Clone)]
pub struct Notifier {
    config: NotifierConfig,
    store: Store,
    clock: Arc<dyn Clock>,
    registry: JobRegistry,
    /// When the expectations were last checked.
    checked_at: Arc<Mutex<Option<i64>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    pub fn new(
        config: NotifierConfig,
        store: Store,
        clock: Arc<dyn Clock>,
        registry: JobRegistry,
    ) -> Self {
        Self {
            config,
            store,
            clock,
            registry,
            checked_at: Arc::new(Mutex::new(None)),
        }
    }

    /// One pass: the expectation check when due, then one batch sent.
    pub async fn run_once(&self) -> Result<NotifyPass, StoreError> {
        let mut pass = NotifyPass::default();
        if self.expectation_check_due() {
            pass.violations = self.check_expectations().await?;
        }
        let now_ms = self.clock.now_ms();
        let leased = self
            .store
            .notifications_lease(
                &self.config.node_id,
                now_ms,
                now_ms.saturating_add(ranges::millis(self.config.lease)),
                self.config.batch,
            )
            .await?;
        pass.leased = leased.len();
        for n in &leased {
            if self.deliver(n).await? {
                pass.sent += 1;
            } else {
                pass.failed += 1;
            }
        }
        Ok(pass)
    }

    fn expectation_check_due(&self) -> bool {
        let now_ms = self.clock.now_ms();
        let mut last = self.checked_at.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| {
            now_ms.saturating_sub(at) >= ranges::millis(self.config.expectation_check)
        });
        if due {
            *last = Some(now_ms);
        }
        due
    }

    /// Records a notification for every job whose success expectation is
    /// violated now (once per rule and violation window); returns how many
    /// were new.
    pub async fn check_expectations(&self) -> Result<u64, StoreError> {
        let rules = self.store.notify_rules();
        if !rules
            .iter()
            .any(|r| r.wants(NotifyEvent::ExpectationViolated))
        {
            return Ok(0);
        }
        let now_ms = self.clock.now_ms();
        let mut added = 0;
        for h in self.store.jobs_health(None, now_ms).await? {
            if !h.expectation_violated(now_ms) {
                continue;
            }
            let since = h.last_success_at.unwrap_or(h.created_at);
            let detail = match h.last_success_at {
                Some(_) => format!("no success since {}", from_ms(since).to_rfc3339()),
                None => format!(
                    "no success since the job was created ({})",
                    from_ms(since).to_rfc3339()
                ),
            };
            added += self
                .store
                .notify_expectation_violated(&h.job, since, &detail, now_ms)
                .await?;
        }
        Ok(added)
    }

    /// Sends one leased notification and records the outcome; true when
    /// it was sent.
    async fn deliver(&self, n: &Notification) -> Result<bool, StoreError> {
        let outcome = self.send(n).await;
        let now_ms = self.clock.now_ms();
        let owner = self.config.node_id.as_str();
        match outcome {
            Ok(()) => {
                self.store
                    .notification_sent(n.id, owner, n.fence, now_ms)
                    .await?;
                Ok(true)
            }
            Err(error) => {
                let retry_at = (n.attempts < self.config.max_attempts).then(|| {
                    now_ms.saturating_add(ranges::millis(self.config.backoff_after(n.attempts)))
                });
                tracing::warn!(notification = n.id, notify = %n.notify, attempt = n.attempts,
                    error = %error, "notification not sent");
                self.store
                    .notification_failed(&NotificationFailure {
                        id: n.id,
                        owner,
                        fence: n.fence,
                        now_ms,
                        error: &error,
                        retry_at,
                    })
                    .await?;
                Ok(false)
            }
        }
    }

    /// One delivery attempt through the rule's job kind.
    async fn send(&self, n: &Notification) -> Result<(), String> {
        let rules = self.store.notify_rules();
        let Some(rule) = rules.iter().find(|r| r.name == n.notify) else {
            return Err(format!(
                "this node has no [[notify]] rule named `{}`",
                n.notify
            ));
        };
        let Some(kind) = self.registry.get(&rule.kind) else {
            return Err(format!("this node has no `{}` job kind", rule.kind));
        };
        let context = FireContext {
            fire_id: n.id,
            job: n.job.clone().unwrap_or_default(),
            trigger_id: None,
            scheduled_at: from_ms(n.scheduled_at.unwrap_or(n.created_at)),
            attempt: n.attempts,
            node: self.config.node_id.clone(),
            data: event_json(n),
        };
        match tokio::time::timeout(self.config.send_timeout, kind.run(&context, &rule.settings))
            .await
        {
            Err(_) => Err(format!(
                "not sent within {}",
                humantime::format_duration(self.config.send_timeout)
            )),
            Ok(JobOutcome::Succeeded { .. }) => Ok(()),
            Ok(JobOutcome::Failed { error, .. }) => Err(error),
        }
    }

    /// Passes until `stop`: at once again after a full batch, else after
    /// `interval`; an error is logged and the next pass tries again.
    pub async fn run(&self, stop: CancellationToken) {
        loop {
            let pass = tokio::select! {
                _ = stop.cancelled() => return,
                pass = self.run_once() => pass,
            };
            let full = match pass {
                Ok(p) => p.leased as u64 >= self.config.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "sending notifications failed; retrying later");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }
}

/// The event as its senders see it (`data` of the context).
pub fn event_json(n: &Notification) -> Value {
    json!({
        "notification_id": n.id,
        "notify": n.notify,
        "event": n.event,
        "job": n.job,
        "fire_id": n.fire_id,
        "status": n.fire_status,
        "scheduled_at": n.scheduled_at.map(|ms| from_ms(ms).to_rfc3339()),
        "error": n.detail,
        "node": n.node,
        "created_at": from_ms(n.created_at).to_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let c = NotifierConfig::new("n");
        assert_eq!(c.backoff_after(1), Duration::from_secs(10));
        assert_eq!(c.backoff_after(2), Duration::from_secs(20));
        assert_eq!(c.backoff_after(3), Duration::from_secs(40));
        assert_eq!(c.backoff_after(30), Duration::from_secs(300));
    }
}
