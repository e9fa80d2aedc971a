//! Reading notifications: what `cosched notifications` and
//! `GET /notifications` show, and their JSON view.

use serde_json::{Value, json};

use super::{Client, ClientError};
use crate::clock::from_ms;
use crate::model::{Notification, NotificationStatus};

/// The most notifications one listing returns.
pub const MAX_NOTIFICATIONS: u64 = 10_000;

impl Client {
    /// Notifications, newest first, of one status or all.
    pub async fn notifications(
        &self,
        status: Option<NotificationStatus>,
        limit: u64,
    ) -> Result<Vec<Notification>, ClientError> {
        Ok(self
            .store
            .notifications_list(status, limit.clamp(1, MAX_NOTIFICATIONS))
            .await?)
    }
}

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(|t| from_ms(t).to_rfc3339())
}

/// A notification as JSON: its event and its delivery.
pub fn notification_json(n: &Notification) -> Value {
    json!({
        "id": n.id, "notify": n.notify, "event": n.event.as_str(),
        "job": n.job, "fire_id": n.fire_id, "node": n.node,
        "fire_status": n.fire_status, "scheduled_at": rfc3339(n.scheduled_at),
        "detail": n.detail, "status": n.status.as_str(), "attempts": n.attempts,
        "due_at": from_ms(n.due_at).to_rfc3339(), "lease_owner": n.lease_owner,
        "lease_until": rfc3339(n.lease_until), "error": n.error,
        "created_at": from_ms(n.created_at).to_rfc3339(), "sent_at": rfc3339(n.sent_at),
        "dedup_key": n.dedup_key,
    })
}
