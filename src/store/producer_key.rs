//! Producer keys: a one-off scheduled twice with the same key for the same
//! job is one trigger. The unique index `triggers_producer_key` (job_id,
//! producer_key) holds the invariant on every path, the contract's SQL
//! included; this module inserts with a key and, on a repeat, returns the
//! trigger the first call made, unchanged.

use sea_orm::{ConnectionTrait, SqlErr};

use super::triggers::insert_trigger;
use super::{Store, StoreError, codec};
use crate::model::{JobSource, Trigger, TriggerDef};

impl Store {
    /// Creates a trigger for `job_name` that carries `key`, or returns the
    /// trigger an earlier call with the same key created for that job (its
    /// instant and data stand; nothing is written).
    pub async fn trigger_create_keyed(
        &self,
        job_name: &str,
        def: &TriggerDef,
        key: &str,
        now_ms: i64,
    ) -> Result<Trigger, StoreError> {
        super::refuse_nul("key", key)?;
        let job = self.job_row(job_name).await?;
        if let Some(existing) = self.trigger_by_key(job.id, key).await? {
            return Ok(existing);
        }
        let txn = self.begin_write().await?;
        let inserted = async {
            let trigger =
                insert_trigger(self, &txn, &job, def, JobSource::Api, None, now_ms).await?;
            txn.execute_raw(self.stmt(
                "UPDATE triggers SET producer_key = $1 WHERE id = $2",
                [key.into(), trigger.id.into()],
            ))
            .await?;
            Ok::<_, StoreError>(trigger)
        }
        .await;
        match inserted {
            Ok(trigger) => {
                txn.commit().await?;
                self.announce_change().await;
                Ok(codec::trigger(&trigger)?)
            }
            // A concurrent producer committed the same key first (on
            // PostgreSQL the UPDATE waited for it): theirs is the trigger.
            Err(StoreError::Db(e))
                if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                txn.rollback().await?;
                self.trigger_by_key(job.id, key)
                    .await?
                    .ok_or_else(|| StoreError::Db(e))
            }
            Err(e) => Err(e),
        }
    }

    /// The trigger of job `job_id` that carries producer key `key`.
    pub async fn trigger_by_key(
        &self,
        job_id: i64,
        key: &str,
    ) -> Result<Option<Trigger>, StoreError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT id FROM triggers WHERE job_id = $1 AND producer_key = $2",
                [job_id.into(), key.into()],
            ))
            .await?;
        match row {
            Some(row) => self.trigger_by_id(row.try_get::<i64>("", "id")?).await,
            None => Ok(None),
        }
    }
}
