//! Wake-ups: a change that may make a trigger due sooner (a one-off, a
//! trigger-now, a resume, a retry, a recovery) wakes the schedulers at
//! once instead of at their next poll: in this process through a
//! [`tokio::sync::Notify`], and on PostgreSQL across nodes through
//! `LISTEN`/`NOTIFY` on the channel `cosched_changes`. Polling stays the
//! backstop: a lost notification only delays a fire to the poll ceiling.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend};
use tokio_util::sync::CancellationToken;

use super::Store;

/// The PostgreSQL channel nodes listen on.
pub const CHANGES_CHANNEL: &str = "cosched_changes";

impl Store {
    /// Wakes local schedulers and, on PostgreSQL, every listening node.
    /// Best effort: a failed NOTIFY is logged, never an error.
    pub async fn announce_change(&self) {
        self.notify_change();
        if self.backend == DbBackend::Postgres
            && let Err(e) = self
                .db
                .execute_unprepared(&format!("NOTIFY {CHANGES_CHANNEL}"))
                .await
        {
            tracing::debug!(error = %e, "NOTIFY failed; peers will poll");
        }
    }

    /// Until `stop`: relays PostgreSQL notifications on the changes channel
    /// to this process's schedulers, reconnecting every
    /// [`super::MAX_RETRY_WAIT`] while the server is away (logged once per
    /// outage). Returns at once on SQLite.
    pub async fn listen_for_changes(&self, stop: CancellationToken) {
        if self.backend != DbBackend::Postgres {
            return;
        }
        let mut failing = false;
        while !stop.is_cancelled() {
            let pool = self.db.get_postgres_connection_pool();
            let listening = match PgListener::connect_with(pool).await {
                Ok(mut l) => l.listen(CHANGES_CHANNEL).await.map(|()| l),
                Err(e) => Err(e),
            };
            let mut listener = match listening {
                Ok(l) => l,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot LISTEN for changes; retrying");
                        failing = true;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(super::MAX_RETRY_WAIT) => {}
                    }
                    continue;
                }
            };
            if failing {
                tracing::info!("listening for changes again");
            }
            // Something may have changed while we were deaf.
            self.notify_change();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    received = listener.recv() => match received {
                        Ok(_) => self.notify_change(),
                        Err(e) => {
                            tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
                            failing = true;
                            self.notify_change();
                            break;
                        }
                    },
                }
            }
        }
    }
}
