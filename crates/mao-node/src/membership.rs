//! Node membership: `<prefix>/nodes/<node>` bound to a lease this daemon keeps alive.
//!
//! A killed daemon's entry vanishes when its lease expires. A second daemon with a name
//! that is alive is refused; an entry left by this host's previous, dead process (same host,
//! that pid no longer running) is taken over at once, so a restart after kill -9 does not
//! wait for the TTL.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mao_api::NodeInfo;
use mao_store::lease::LeaseKeeper;
use mao_store::{LeaseId, Store, StoreError};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// Why this node could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("node name {node:?} is already in use by a live daemon at {api_url} (host {host}, pid {pid}); stop it or start this one with another --node")]
    NameTaken {
        node: String,
        api_url: String,
        host: String,
        pid: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This node's membership, kept alive in the background.
pub struct Membership {
    key: String,
    task: JoinHandle<()>,
    keeper: Arc<tokio::sync::Mutex<Option<LeaseKeeper>>>,
    held: tokio::sync::watch::Receiver<Option<Tenure>>,
    taken: tokio::sync::watch::Receiver<Option<String>>,
}

/// The lease this node holds its name with, and until when it is certainly alive.
#[derive(Clone)]
pub struct Tenure {
    pub lease: LeaseId,
    ttl: Duration,
    valid_until: Arc<Mutex<Instant>>,
}

impl Tenure {
    fn of(keeper: &LeaseKeeper, ttl: Duration) -> Tenure {
        Tenure {
            lease: keeper.id(),
            ttl,
            valid_until: keeper.valid_until(),
        }
    }
}

/// Whether a node may start scheduled runs that need only itself (`every-node` slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It surely holds its name (or has no membership at all).
    Held,
    /// The store cannot be reached, so no other daemon can take the name either: the
    /// node works on alone from its cached registry (degraded-local mode).
    Degraded(String),
}

/// Why a node may not claim or start scheduled runs now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fenced {
    #[error("this node lost its membership lease and is publishing itself again")]
    NotHeld,
    #[error("this node's membership lease may have expired: no refresh acknowledged for {}s, more than its TTL", .0.as_secs())]
    Stale(Duration),
}

/// How long [`Fence::confirm`] waits for the store.
const CONFIRM_LIMIT: Duration = Duration::from_secs(1);

/// The fence in front of scheduled work: a node that does not surely hold its membership
/// lease (lost it, or has not had a refresh acknowledged within the TTL, as after a
/// SIGSTOP) neither claims slots nor starts scheduled runs, since another daemon may hold
/// its name and its slots by now. A node without membership (built in-process) is never
/// fenced.
#[derive(Clone, Default)]
pub struct Fence(Arc<OnceLock<tokio::sync::watch::Receiver<Option<Tenure>>>>);

impl Fence {
    /// Follows `membership` from now on.
    pub fn track(&self, membership: &Membership) {
        let _ = self.0.set(membership.held.clone());
    }

    /// The lease to bind claims to (`None` without membership), or why the node is fenced.
    pub fn check(&self) -> Result<Option<LeaseId>, Fenced> {
        let Some(held) = self.0.get() else {
            return Ok(None);
        };
        let tenure = held.borrow().clone().ok_or(Fenced::NotHeld)?;
        let until = *tenure.valid_until.lock().expect("lease instant lock");
        let now = Instant::now();
        if now >= until {
            return Err(Fenced::Stale(now - until));
        }
        Ok(Some(tenure.lease))
    }

    /// [`Fence::check`], and when that fails, whether the store is unreachable (then the
    /// node is in degraded-local mode: its lease cannot be taken from it while no one can
    /// reach the store) or answers (then it is fenced until its lease is confirmed).
    pub async fn confirm(&self, store: &dyn Store) -> Result<Standing, Fenced> {
        let fenced = match self.check() {
            Ok(_) => return Ok(Standing::Held),
            Err(f) => f,
        };
        let tenure = self.0.get().and_then(|held| held.borrow().clone());
        let sent = Instant::now();
        let ask = async {
            match &tenure {
                // Refreshing the lease ourselves settles it at once, instead of waiting for
                // the keeper's next round (a daemon resumed after SIGSTOP must not act first).
                Some(t) => store.keep_alive(t.lease).await.map(|_| ()),
                None => store.ping().await.map(|_| ()),
            }
        };
        // A store without quorum may hold the question for seconds: slots do not wait.
        let answer = match tokio::time::timeout(CONFIRM_LIMIT, ask).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the store did not answer within {} s",
                CONFIRM_LIMIT.as_secs()
            ))),
        };
        match answer {
            Ok(()) => match tenure {
                Some(t) => {
                    *t.valid_until.lock().expect("lease instant lock") = sent + t.ttl;
                    Ok(Standing::Held)
                }
                None => Err(fenced),
            },
            Err(StoreError::Unavailable(reason)) => Ok(Standing::Degraded(reason)),
            Err(StoreError::LeaseNotFound(_)) => Err(Fenced::NotHeld),
            Err(_) => Err(fenced),
        }
    }

    /// Whether the node tracks a membership at all.
    pub fn tracking(&self) -> bool {
        self.0.get().is_some()
    }
}

impl Membership {
    /// Publishes `info` under `key` with a lease of `ttl`, then keeps it alive; if the lease
    /// is lost (the store was unreachable longer than the TTL) the entry is published again.
    pub async fn join(
        store: Arc<dyn Store>,
        key: String,
        info: NodeInfo,
        ttl: Duration,
    ) -> Result<Membership, JoinError> {
        let keeper = publish(&store, &key, &info, ttl).await?;
        let (held_tx, held) = tokio::sync::watch::channel(Some(Tenure::of(&keeper, ttl)));
        let (taken_tx, taken) = tokio::sync::watch::channel(None);
        let keeper = Arc::new(tokio::sync::Mutex::new(Some(keeper)));
        let task = tokio::spawn(rejoin_when_lost(
            store.clone(),
            key.clone(),
            info,
            ttl,
            keeper.clone(),
            held_tx,
            taken_tx,
        ));
        Ok(Membership {
            key,
            task,
            keeper,
            held,
            taken,
        })
    }

    /// Resolves, with the reason, once another live daemon holds this node's name: after
    /// this node lost its lease (it was stopped, or cut off, for longer than the TTL), a
    /// daemon took the name. This one must stop; it would act as the other.
    pub async fn name_taken(&self) -> String {
        let mut taken = self.taken.clone();
        let why = match taken.wait_for(|t| t.is_some()).await {
            Ok(t) => t.clone().unwrap_or_default(),
            Err(_) => String::new(),
        };
        if why.is_empty() {
            // The keeper task ended without the name being taken: never resolve.
            std::future::pending::<()>().await;
        }
        why
    }

    /// Stops keeping the lease without revoking it: the entry goes with the TTL, so a
    /// restart within it keeps the node a member throughout (its runs go on meanwhile,
    /// and their running markers count).
    pub fn step_away(self) {
        self.task.abort();
    }

    /// Leaves the federation now (revokes the lease) instead of waiting for the TTL.
    pub async fn leave(self) {
        self.task.abort();
        if let Some(keeper) = self.keeper.lock().await.take() {
            if let Err(e) = keeper.revoke().await {
                warn!(error = %e, key = %self.key, "could not remove the membership entry; it expires with its lease");
            }
        }
    }
}

async fn rejoin_when_lost(
    store: Arc<dyn Store>,
    key: String,
    info: NodeInfo,
    ttl: Duration,
    keeper: Arc<tokio::sync::Mutex<Option<LeaseKeeper>>>,
    held: tokio::sync::watch::Sender<Option<Tenure>>,
    taken: tokio::sync::watch::Sender<Option<String>>,
) {
    loop {
        let mut lost = match keeper.lock().await.as_ref() {
            Some(k) => k.lost(),
            None => return,
        };
        if lost.wait_for(|l| *l).await.is_err() {
            return;
        }
        held.send_replace(None);
        warn!(key = %key, "membership lease lost; publishing this node again");
        let mut backoff = crate::retry::STORE.backoff();
        loop {
            match publish(&store, &key, &info, ttl).await {
                Ok(k) => {
                    info!(key = %key, "membership restored");
                    held.send_replace(Some(Tenure::of(&k, ttl)));
                    *keeper.lock().await = Some(k);
                    break;
                }
                Err(e @ JoinError::NameTaken { .. }) => {
                    error!(error = %e, "another daemon took this node's name while its lease was lost");
                    taken.send_replace(Some(e.to_string()));
                    return;
                }
                Err(e) => {
                    error!(error = %e, "cannot publish membership; retrying");
                    backoff.wait().await;
                }
            }
        }
    }
}

async fn publish(
    store: &Arc<dyn Store>,
    key: &str,
    info: &NodeInfo,
    ttl: Duration,
) -> Result<LeaseKeeper, JoinError> {
    let value = Bytes::from(serde_json::to_vec(info).expect("node info serializes"));
    let keeper = LeaseKeeper::grant(store.clone(), ttl).await?;
    loop {
        match store.create(key, value.clone(), Some(keeper.id())).await {
            Ok(_) => return Ok(keeper),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => {
                let _ = keeper.revoke().await;
                return Err(e.into());
            }
        }
        let Some(existing) = store.get(key).await? else {
            continue;
        };
        let other: Option<NodeInfo> = serde_json::from_slice(&existing.value).ok();
        match other {
            Some(o) if !is_stale(&o, info) => {
                let _ = keeper.revoke().await;
                return Err(JoinError::NameTaken {
                    node: o.name,
                    api_url: o.api_url,
                    host: o.host,
                    pid: o.pid,
                });
            }
            _ => {
                info!(
                    key,
                    "taking over the entry of this node's previous, dead process"
                );
                // Swapped, not deleted and written again: the node stays a member
                // throughout (its running markers count on that). Then what the old
                // process bound to its lease (unstarted claims) goes with it.
                let swapped = match store
                    .compare_and_swap(key, existing.mod_revision, value.clone(), Some(keeper.id()))
                    .await
                {
                    Ok(_) => true,
                    Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => false,
                    // Applied without an answer? Then the entry is ours: revoking the new
                    // lease would take it away.
                    Err(e) => match store.get(key).await {
                        Ok(Some(now)) if now.lease == Some(keeper.id()) => true,
                        _ => {
                            let _ = keeper.revoke().await;
                            return Err(e.into());
                        }
                    },
                };
                if swapped {
                    if let Some(old) = existing.lease.filter(|l| *l != keeper.id()) {
                        if let Err(e) = store.revoke_lease(old).await {
                            warn!(error = %e, "cannot revoke the dead process's lease; it expires with its TTL");
                        }
                    }
                    return Ok(keeper);
                }
            }
        }
    }
}

/// An entry is stale when it was written on this host by a process that no longer runs.
fn is_stale(existing: &NodeInfo, me: &NodeInfo) -> bool {
    existing.host == me.host
        && existing.machine_id == me.machine_id
        && (existing.pid == me.pid || !process_alive(existing.pid))
}

/// This machine's id (`/etc/machine-id`), empty where there is none.
pub fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence without sending anything; EPERM means it exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Every node whose membership lease is alive, sorted by name; an unreadable entry is
/// skipped with a warning.
pub async fn list(store: &dyn Store, keys: &crate::Keys) -> Result<Vec<NodeInfo>, StoreError> {
    let prefix = keys.collection("nodes");
    let page = mao_store::list_all(store, &prefix, 500).await?;
    Ok(page
        .kvs
        .iter()
        .filter_map(|kv| match serde_json::from_slice::<NodeInfo>(&kv.value) {
            Ok(n) => Some(n),
            Err(e) => {
                warn!(key = %kv.key, error = %e, "skipping an unreadable membership entry");
                None
            }
        })
        .collect())
}

/// Joins the federation, waiting (with backoff) while the store is unreachable, until
/// `stop` resolves; a live twin of this node's name is an error at once.
pub async fn join_waiting(
    store: Arc<dyn Store>,
    key: String,
    info: NodeInfo,
    ttl: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Membership>, JoinError> {
    let mut backoff = crate::retry::STORE.backoff();
    tokio::pin!(stop);
    loop {
        match Membership::join(store.clone(), key.clone(), info.clone(), ttl).await {
            Ok(m) => return Ok(Some(m)),
            Err(JoinError::Store(StoreError::Unavailable(reason))) => {
                warn!(%reason, "the store is unreachable; retrying");
                tokio::select! {
                    _ = backoff.wait() => {}
                    _ = &mut stop => return Ok(None),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mao_store::embedded::EmbeddedStore;

    fn info(pid: u32) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            api_url: "http://127.0.0.1:1".into(),
            version: "test".into(),
            started_at: chrono::Utc::now(),
            host: "h".into(),
            pid,
            machine_id: "m".into(),
        }
    }

    /// The entry of a dead process is swapped to the new lease, not deleted and written
    /// again (the node is a member throughout: its running markers count on it), and what
    /// the old lease held goes with it.
    #[tokio::test]
    async fn a_restart_takes_over_its_entry_without_a_gap_and_revokes_the_old_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("s")).unwrap());
        let old = store.grant_lease(Duration::from_secs(60)).await.unwrap();
        // No process has this pid (above the kernel's pid_max).
        let dead = serde_json::to_vec(&info(999_999_999)).unwrap();
        store
            .create("/m/nodes/n", dead.into(), Some(old))
            .await
            .unwrap();
        store
            .create("/m/claims/c", "unstarted".into(), Some(old))
            .await
            .unwrap();
        let before = store.get("/m/nodes/n").await.unwrap().unwrap();

        let me = info(std::process::id());
        let m = Membership::join(
            store.clone(),
            "/m/nodes/n".into(),
            me,
            Duration::from_secs(60),
        )
        .await
        .unwrap();

        let after = store.get("/m/nodes/n").await.unwrap().unwrap();
        assert_eq!(
            after.create_revision, before.create_revision,
            "swapped, never deleted"
        );
        assert_ne!(after.lease, Some(old));
        let now: NodeInfo = serde_json::from_slice(&after.value).unwrap();
        assert_eq!(now.pid, std::process::id());
        assert!(
            store.get("/m/claims/c").await.unwrap().is_none(),
            "the old lease is revoked"
        );
        m.leave().await;
    }
}
