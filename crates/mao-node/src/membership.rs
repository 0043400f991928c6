//! Node membership: `<prefix>/nodes/<node>` bound to a lease this daemon keeps alive.
//!
//! A killed daemon's entry vanishes when its lease expires. A second daemon with a name
//! that is alive is refused; an entry left by this host's previous, dead process (same host,
//! that pid no longer running) is taken over at once, so a restart after kill -9 does not
//! wait for the TTL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mao_api::NodeInfo;
use mao_store::lease::LeaseKeeper;
use mao_store::{Store, StoreError};
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
    held: tokio::sync::watch::Receiver<bool>,
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
        let keeper = Arc::new(tokio::sync::Mutex::new(Some(keeper)));
        let (held_tx, held) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(rejoin_when_lost(
            store.clone(),
            key.clone(),
            info,
            ttl,
            keeper.clone(),
            held_tx,
        ));
        Ok(Membership {
            key,
            task,
            keeper,
            held,
        })
    }

    /// Whether this node holds its membership lease now (false from the moment it is lost
    /// until the entry is published again).
    pub fn held(&self) -> tokio::sync::watch::Receiver<bool> {
        self.held.clone()
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
    held: tokio::sync::watch::Sender<bool>,
) {
    loop {
        let mut lost = match keeper.lock().await.as_ref() {
            Some(k) => k.lost(),
            None => return,
        };
        if lost.wait_for(|l| *l).await.is_err() {
            return;
        }
        held.send_replace(false);
        warn!(key = %key, "membership lease lost; publishing this node again");
        let mut backoff = crate::retry::STORE.backoff();
        loop {
            match publish(&store, &key, &info, ttl).await {
                Ok(k) => {
                    info!(key = %key, "membership restored");
                    *keeper.lock().await = Some(k);
                    held.send_replace(true);
                    break;
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
                match existing.lease {
                    Some(lease) => store.revoke_lease(lease).await?,
                    None => {
                        let _ = store.compare_and_delete(key, existing.mod_revision).await;
                    }
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
