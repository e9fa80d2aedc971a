//! Delivering notifications: leased like queued fires, fenced, retried,
//! listed and pruned.
//!
//! A node leases pending notifications that are due (and leased ones whose
//! lease expired: their node stopped or died) in one statement (`FOR
//! UPDATE SKIP LOCKED` on PostgreSQL), bumping the fence and the attempt
//! count. Only the holder of the lease, with its fence, marks one `sent`,
//! puts it back `pending` for a later attempt, or marks it `failed`.

use entity::notifications;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, QuerySelect};

use super::{Store, StoreError, codec};
use crate::model::{Notification, NotificationStatus};

/// A delivery attempt that did not go through.
#[derive(Debug, Clone)]
pub struct NotificationFailure<'a> {
    pub id: i64,
    pub owner: &'a str,
    pub fence: i64,
    pub now_ms: i64,
    pub error: &'a str,
    /// When to try again; None: give up (`failed`).
    pub retry_at: Option<i64>,
}

impl Store {
    /// Leases up to `limit` notifications due at `now_ms` for `owner` until
    /// `until_ms`; a node declared dead leases nothing.
    pub async fn notifications_lease(
        &self,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError> {
        let lock = if self.backend == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE notifications SET status = 'leased', lease_owner = $1, lease_until = $3, \
               fence = fence + 1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications \
               WHERE ((status = 'pending' AND due_at <= $2) OR (status = 'leased' AND lease_until < $2)) \
               ORDER BY due_at, id LIMIT $4{lock}) \
               AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
             RETURNING *"
        );
        let rows = notifications::Entity::find()
            .from_raw_sql(self.stmt(
                &sql,
                [
                    owner.into(),
                    now_ms.into(),
                    until_ms.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .all(&self.db)
            .await?;
        let mut leased = self.decode_all(&rows, codec::notification);
        leased.sort_by_key(|n| (n.due_at, n.id));
        Ok(leased)
    }

    /// Marks a leased notification sent; false when the lease was lost.
    pub async fn notification_sent(
        &self,
        id: i64,
        owner: &str,
        fence: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE notifications SET status = 'sent', sent_at = $1, error = NULL, \
                   lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3 AND fence = $4 AND status = 'leased'",
                [now_ms.into(), id.into(), owner.into(), fence.into()],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records a failed attempt: back to `pending` at `retry_at`, or
    /// `failed` for good; false when the lease was lost.
    pub async fn notification_failed(
        &self,
        f: &NotificationFailure<'_>,
    ) -> Result<bool, StoreError> {
        let (status, due_at) = match f.retry_at {
            Some(at) => (NotificationStatus::Pending, at),
            None => (NotificationStatus::Failed, f.now_ms),
        };
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE notifications SET status = $1, due_at = $2, error = $3, \
                   lease_owner = NULL, lease_until = NULL \
                 WHERE id = $4 AND lease_owner = $5 AND fence = $6 AND status = 'leased'",
                [
                    status.as_str().into(),
                    due_at.into(),
                    super::storable_text(f.error).into_owned().into(),
                    f.id.into(),
                    f.owner.into(),
                    f.fence.into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Frees at once the notifications a dead node held leased.
    pub(super) async fn release_notifications_of<C: ConnectionTrait>(
        &self,
        txn: &C,
        dead: &str,
    ) -> Result<(), StoreError> {
        txn.execute_raw(self.stmt(
            "UPDATE notifications SET status = 'pending', lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1 AND status = 'leased'",
            [dead.into()],
        ))
        .await?;
        Ok(())
    }

    /// The newest notifications first, of one status or all, at most `limit`.
    pub async fn notifications_list(
        &self,
        status: Option<NotificationStatus>,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let mut query = notifications::Entity::find()
            .order_by_desc(notifications::Column::CreatedAt)
            .order_by_desc(notifications::Column::Id)
            .limit(limit);
        if let Some(status) = status {
            query = query.filter(notifications::Column::Status.eq(status.as_str()));
        }
        let rows = query.all(&self.db).await?;
        Ok(self.decode_all(&rows, codec::notification))
    }

    /// Removes up to `limit` sent or failed notifications created before
    /// `before_ms`, oldest first; returns how many went.
    pub async fn notifications_prune(&self, before_ms: i64, limit: u64) -> Result<u64, StoreError> {
        let removed = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications \
                   WHERE status IN ('sent', 'failed') AND created_at < $1 ORDER BY created_at, id LIMIT $2)",
                [
                    before_ms.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(removed)
    }
}
