//! Keeping a lease alive in the background, the same way on every backend.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::{LeaseId, Result, Store, StoreError};

/// A lease refreshed every third of its TTL until it is revoked or dropped.
///
/// When the store is unreachable the keeper keeps trying; once the store says the lease
/// is gone (it expired meanwhile), or no keep-alive got through for a whole TTL (the store
/// may have let it expire), [`LeaseKeeper::lost`] turns true and the keeper stops, so the
/// owner can start over with a new lease.
pub struct LeaseKeeper {
    store: Arc<dyn Store>,
    lease: LeaseId,
    lost: watch::Receiver<bool>,
    valid_until: Arc<Mutex<Instant>>,
    task: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Grants a lease of `ttl` and starts keeping it alive.
    pub async fn grant(store: Arc<dyn Store>, ttl: Duration) -> Result<LeaseKeeper> {
        let asked = Instant::now();
        let lease = store.grant_lease(ttl).await?;
        Ok(Self::keep(store, lease, ttl, asked))
    }

    /// Starts keeping an existing lease alive (one refreshed or granted just now).
    pub fn start(store: Arc<dyn Store>, lease: LeaseId, ttl: Duration) -> LeaseKeeper {
        Self::keep(store, lease, ttl, Instant::now())
    }

    /// `refreshed`: when the request that last granted or refreshed the lease was sent.
    fn keep(
        store: Arc<dyn Store>,
        lease: LeaseId,
        ttl: Duration,
        refreshed: Instant,
    ) -> LeaseKeeper {
        let (lost_tx, lost) = watch::channel(false);
        let period = (ttl / 3).max(Duration::from_millis(100));
        let task_store = store.clone();
        let valid_until = Arc::new(Mutex::new(refreshed + ttl));
        let task_valid = valid_until.clone();
        let task = tokio::spawn(async move {
            let mut last_kept = refreshed;
            loop {
                tokio::time::sleep(period).await;
                // The store restarts the TTL when it gets the request, which is after it
                // was sent: the lease lives at least until `sent + ttl`.
                let sent = Instant::now();
                match task_store.keep_alive(lease).await {
                    Ok(()) => {
                        last_kept = sent;
                        *task_valid.lock().expect("lease instant lock") = sent + ttl;
                    }
                    Err(StoreError::LeaseNotFound(_)) => {
                        warn!(
                            lease = format!("{lease:x}"),
                            "lease expired; its keys are gone"
                        );
                        let _ = lost_tx.send(true);
                        return;
                    }
                    // No keep-alive got through for a whole TTL: the store may have let
                    // the lease expire already, so the owner must not count on it (it
                    // could be another's turn to hold what the lease held).
                    Err(e) if last_kept.elapsed() >= ttl => {
                        warn!(
                            lease = format!("{lease:x}"),
                            error = %e,
                            "no keep-alive got through for the lease's TTL; presuming it expired"
                        );
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) => debug!(error = %e, "lease keep-alive failed; retrying"),
                }
            }
        });
        LeaseKeeper {
            store,
            lease,
            lost,
            valid_until,
            task,
        }
    }

    /// The instant until which the lease is certainly alive: the last grant or refresh
    /// the store acknowledged, plus the TTL (a monotonic clock, which goes on while the
    /// process is stopped, so a daemon resumed after SIGSTOP sees its lease as stale).
    pub fn valid_until(&self) -> Arc<Mutex<Instant>> {
        self.valid_until.clone()
    }

    /// The lease id, to bind keys to it.
    pub fn id(&self) -> LeaseId {
        self.lease
    }

    /// Becomes true once the lease has expired, or may have (no keep-alive for a TTL).
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Stops the keep-alive and revokes the lease, deleting its keys now.
    pub async fn revoke(self) -> Result<()> {
        self.task.abort();
        self.store.revoke_lease(self.lease).await
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}
