//! A mutual-exclusion lock built on create-if-absent, leases and watch.
//!
//! The lock is a key created under a lease. Whoever creates it holds the lock; the others
//! watch the key and try again when it is deleted. If the holder dies, its lease expires
//! and the key vanishes, so a lock is never held forever by a dead process.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::lease::LeaseKeeper;
use crate::{Result, Revision, Store, StoreError, WatchEvent};

/// A held lock; release it with [`Lock::release`] (dropping it releases it too, in the background).
pub struct Lock {
    store: Arc<dyn Store>,
    key: String,
    revision: Revision,
    keeper: Option<LeaseKeeper>,
}

impl Lock {
    /// Waits until the lock `key` is free and takes it. `owner` is written as the value,
    /// so an operator can see who holds it; `ttl` bounds how long a dead holder blocks others.
    pub async fn acquire(
        store: Arc<dyn Store>,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lock> {
        let keeper = LeaseKeeper::grant(store.clone(), ttl).await?;
        loop {
            match store
                .create(key, Bytes::from(owner.to_owned()), Some(keeper.id()))
                .await
            {
                Ok(revision) => return Ok(Self::held(store, key, revision, keeper)),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => {
                    let _ = keeper.revoke().await;
                    return Err(e);
                }
            }
            let Some(holder) = store.get(key).await? else {
                continue;
            };
            // Watch from just after the holder's write so a release in between is not missed.
            let mut events = store.watch(key, Some(holder.mod_revision + 1)).await?;
            while let Some(event) = events.next().await {
                if let WatchEvent::Delete { key: k, .. } = event? {
                    if k == key {
                        break;
                    }
                }
            }
        }
    }

    /// Takes the lock if it is free, without waiting.
    pub async fn try_acquire(
        store: Arc<dyn Store>,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lock>> {
        let keeper = LeaseKeeper::grant(store.clone(), ttl).await?;
        match store
            .create(key, Bytes::from(owner.to_owned()), Some(keeper.id()))
            .await
        {
            Ok(revision) => Ok(Some(Self::held(store, key, revision, keeper))),
            Err(e) => {
                let _ = keeper.revoke().await;
                match e {
                    StoreError::AlreadyExists { .. } => Ok(None),
                    e => Err(e),
                }
            }
        }
    }

    fn held(store: Arc<dyn Store>, key: &str, revision: Revision, keeper: LeaseKeeper) -> Lock {
        Lock {
            store,
            key: key.to_owned(),
            revision,
            keeper: Some(keeper),
        }
    }

    /// The key that represents the lock.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Releases the lock now.
    pub async fn release(mut self) -> Result<()> {
        let keeper = self.keeper.take().expect("a held lock has a lease");
        // Revoking the lease deletes the key; the compare-and-delete is for a lock whose
        // lease was lost and re-bound, and is harmless otherwise.
        let deleted = self
            .store
            .compare_and_delete(&self.key, self.revision)
            .await;
        keeper.revoke().await?;
        match deleted {
            Ok(_) | Err(StoreError::NotFound { .. }) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = keeper.revoke().await;
                });
            }
        }
    }
}
