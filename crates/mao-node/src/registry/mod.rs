//! Registries of tools and datasets: validated JSON documents under a store prefix, with a
//! watch-fed in-memory copy that serves reads.
//!
//! Reads (`list`, `get`) are served from the copy while its watch is live, so listing a
//! large registry costs no store round trip; a write returns only once the copy has seen
//! it, so a client reads its own writes. When the watch breaks (etcd down), reads go to the
//! store and fail with 503 like every other request until the copy is rebuilt.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use mao_api::ValidationError;
use mao_store::{list_all, Revision, Store, StoreError};
use tokio::sync::watch;
use tracing::warn;

mod entity;
mod sync;

pub use entity::Entity;
use sync::{decode, page, render, sync_once};

/// What can go wrong with a registry's documents.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{kind} {name:?} is not registered")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists; remove it first or choose another name")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("{kind} {name:?} was changed by someone else meanwhile; read it again and retry")]
    Conflict { kind: &'static str, name: String },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A stored document that no longer parses (written by hand, or by another version).
    #[error("stored {kind} {name:?} is unreadable: {reason}")]
    Unreadable {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// True when the document does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
}

/// Result of a registry operation.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// A stored document: its JSON as stored and the revision to compare-and-swap against.
#[derive(Clone, Debug)]
pub struct Stored {
    pub json: Bytes,
    pub revision: Revision,
}

#[derive(Default)]
pub(crate) struct CacheState {
    pub(crate) live: bool,
    /// Whether the copy was ever loaded (it is kept, stale, while the store is away).
    pub(crate) loaded: bool,
    pub(crate) items: BTreeMap<String, Stored>,
    /// The full listing, rendered once per change.
    pub(crate) rendered: Mutex<Option<Bytes>>,
}

pub(crate) struct Cache {
    pub(crate) state: RwLock<CacheState>,
    pub(crate) applied: watch::Sender<Revision>,
}

/// One registry (tools or datasets) over the shared store.
pub struct Registry<T> {
    store: Arc<dyn Store>,
    prefix: String,
    cache: Arc<Cache>,
    _entity: PhantomData<fn() -> T>,
}

impl<T> Clone for Registry<T> {
    /// Another handle on the same registry (same copy, same store).
    fn clone(&self) -> Registry<T> {
        Registry {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            cache: self.cache.clone(),
            _entity: PhantomData,
        }
    }
}

/// How long a write waits for the cached copy to catch up before answering anyway.
const READ_YOUR_WRITES: Duration = Duration::from_secs(3);

impl<T: Entity> Registry<T> {
    /// A registry of documents under `prefix` (ending in `/`). Call [`Registry::spawn_sync`]
    /// to serve reads from memory; without it every read goes to the store.
    pub fn new(store: Arc<dyn Store>, prefix: String) -> Registry<T> {
        let (applied, _) = watch::channel(0);
        Registry {
            store,
            prefix,
            cache: Arc::new(Cache {
                state: RwLock::new(CacheState::default()),
                applied,
            }),
            _entity: PhantomData,
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Keeps the in-memory copy in step with the store, rebuilding it after any outage.
    pub fn spawn_sync(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let prefix = self.prefix.clone();
        let cache = self.cache.clone();
        tokio::spawn(async move {
            let mut backoff = crate::retry::WATCH.backoff();
            loop {
                match sync_once::<T>(store.as_ref(), &prefix, &cache, &mut backoff).await {
                    Ok(()) => {}
                    Err(e) => {
                        warn!(registry = T::KIND, error = %e, "registry copy is stale; reads go to the store until it is rebuilt")
                    }
                }
                cache.state.write().unwrap().live = false;
                backoff.wait().await;
            }
        })
    }

    /// Whether reads are served from memory right now.
    pub fn is_live(&self) -> bool {
        self.cache.state.read().unwrap().live
    }

    /// The documents after `after` (by name), at most `limit`, as `{"items":[...],"next":...}`.
    pub async fn list_json(&self, after: Option<&str>, limit: Option<usize>) -> Result<Bytes> {
        {
            let st = self.cache.state.read().unwrap();
            if st.live {
                if after.is_none() && limit.is_none() {
                    let mut rendered = st.rendered.lock().unwrap();
                    let body = rendered
                        .get_or_insert_with(|| render(st.items.iter(), None))
                        .clone();
                    return Ok(body);
                }
                return Ok(page(&st.items, after, limit));
            }
        }
        let items = self.load_all().await?;
        Ok(page(&items, after, limit))
    }

    /// Every document as stored, sorted by name.
    pub async fn entries(&self) -> Result<Vec<(String, Stored)>> {
        {
            let st = self.cache.state.read().unwrap();
            if st.live {
                return Ok(st
                    .items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect());
            }
        }
        Ok(self.load_all().await?.into_iter().collect())
    }

    /// Changes whenever the in-memory copy applies a change (its store revision).
    pub fn changes(&self) -> watch::Receiver<Revision> {
        self.cache.applied.subscribe()
    }

    /// Every registered name, sorted.
    pub async fn names(&self) -> Result<Vec<String>> {
        {
            let st = self.cache.state.read().unwrap();
            if st.live {
                return Ok(st.items.keys().cloned().collect());
            }
        }
        Ok(self.load_all().await?.into_keys().collect())
    }

    async fn load_all(&self) -> Result<BTreeMap<String, Stored>> {
        let page = list_all(self.store.as_ref(), &self.prefix, 500).await?;
        Ok(page
            .kvs
            .into_iter()
            .filter_map(|kv| decode::<T>(&self.prefix, kv))
            .collect())
    }

    /// One document as stored. A name the in-memory copy lacks is looked up in the store:
    /// another node may have written it a moment ago, before the watch brought it here.
    pub async fn get_raw(&self, name: &str) -> Result<Stored> {
        {
            let st = self.cache.state.read().unwrap();
            if st.live {
                if let Some(stored) = st.items.get(name) {
                    return Ok(stored.clone());
                }
            }
        }
        self.get_from_store(name).await
    }

    async fn get_from_store(&self, name: &str) -> Result<Stored> {
        self.store
            .get(&self.key(name))
            .await?
            .and_then(|kv| decode::<T>(&self.prefix, kv))
            .map(|(_, s)| s)
            .ok_or_else(|| not_found::<T>(name))
    }

    /// For the node's own work while the store is unreachable (degraded-local mode): the
    /// copy as last seen, if the store cannot answer and the copy was ever loaded. The API
    /// never serves stale documents; the scheduler may run from them.
    fn stale_copy(&self, e: &RegistryError) -> Option<std::sync::RwLockReadGuard<'_, CacheState>> {
        let unavailable = matches!(e, RegistryError::Store(StoreError::Unavailable(_)));
        let st = self.cache.state.read().unwrap();
        (unavailable && st.loaded).then_some(st)
    }

    /// [`Registry::get`], or the last copy while the store is unreachable.
    pub async fn get_or_stale(&self, name: &str) -> Result<(T, Revision)> {
        match self.get(name).await {
            Err(e) => {
                let stored = match self.stale_copy(&e) {
                    Some(st) => st.items.get(name).cloned(),
                    None => return Err(e),
                };
                let stored = stored.ok_or_else(|| not_found::<T>(name))?;
                Ok((parse::<T>(name, &stored.json)?, stored.revision))
            }
            ok => ok,
        }
    }

    /// [`Registry::entries`], or the last copy while the store is unreachable.
    pub async fn entries_or_stale(&self) -> Result<Vec<(String, Stored)>> {
        match self.entries().await {
            Err(e) => match self.stale_copy(&e) {
                Some(st) => Ok(st
                    .items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()),
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// One document, parsed.
    pub async fn get(&self, name: &str) -> Result<(T, Revision)> {
        let stored = self.get_raw(name).await?;
        let item = parse::<T>(name, &stored.json)?;
        Ok((item, stored.revision))
    }

    /// Registers a new document; 409 if the name is taken.
    pub async fn create(&self, item: T) -> Result<Stored> {
        item.validate()?;
        let json = Bytes::from(serde_json::to_vec(&item).expect("entities serialize"));
        let revision = match self
            .store
            .create(&self.key(item.name()), json.clone(), None)
            .await
        {
            Ok(r) => r,
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(RegistryError::AlreadyExists {
                    kind: T::KIND,
                    name: item.name().to_owned(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        self.wait_applied(revision).await;
        Ok(Stored { json, revision })
    }

    /// Replaces an existing document. With `expected`, only if it is still at that
    /// revision (409 otherwise), so an edit based on a stale read is refused.
    pub async fn replace(&self, name: &str, item: T, expected: Option<Revision>) -> Result<Stored> {
        item.validate()?;
        if item.name() != name {
            return Err(ValidationError::new(
                "name",
                format!(
                    "the body names {:?} but the URL names {name:?}",
                    item.name()
                ),
            )
            .into());
        }
        let json = Bytes::from(serde_json::to_vec(&item).expect("entities serialize"));
        let revision = match expected {
            Some(expected) => self
                .store
                .compare_and_swap(&self.key(name), expected, json.clone(), None)
                .await
                .map_err(|e| self.map_write_error(name, e))?,
            None => self.replace_blind(name, &json).await?,
        };
        self.wait_applied(revision).await;
        Ok(Stored { json, revision })
    }

    /// A replace that expects no revision: whoever wrote in between, this write is the
    /// last one, so a conflict is retried with the new revision rather than reported (an
    /// unconditional PUT never answers 409). Bounded: a document rewritten faster than it
    /// can be read gives up with `Conflict`.
    async fn replace_blind(&self, name: &str, json: &Bytes) -> Result<Revision> {
        const ATTEMPTS: usize = 64;
        for _ in 0..ATTEMPTS {
            let current = self.get_from_store(name).await?.revision;
            match self
                .store
                .compare_and_swap(&self.key(name), current, json.clone(), None)
                .await
            {
                Ok(revision) => return Ok(revision),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(self.map_write_error(name, e)),
            }
        }
        Err(RegistryError::Conflict {
            kind: T::KIND,
            name: name.to_owned(),
        })
    }

    /// Creates or replaces a document (the original's registration semantics).
    pub async fn upsert(&self, item: T) -> Result<Stored> {
        item.validate()?;
        let name = item.name().to_owned();
        loop {
            let result = match self.store.get(&self.key(&name)).await? {
                Some(kv) => {
                    self.replace(&name, item.clone(), Some(kv.mod_revision))
                        .await
                }
                None => self.create(item.clone()).await,
            };
            match result {
                // Someone else wrote or removed it in between: decide again.
                Err(
                    RegistryError::Conflict { .. }
                    | RegistryError::AlreadyExists { .. }
                    | RegistryError::NotFound { .. },
                ) => continue,
                other => return other,
            }
        }
    }

    /// Applies `change` to the current document with compare-and-swap, retrying when
    /// another writer got in between, so concurrent updates are never lost.
    /// `change` may refuse with its own error; the registry's errors convert into it.
    pub async fn update<F, E>(&self, name: &str, mut change: F) -> Result<(T, Stored), E>
    where
        F: FnMut(&mut T) -> Result<(), E> + Send,
        E: From<RegistryError>,
    {
        loop {
            let current = self.get_from_store(name).await?;
            let mut item = parse::<T>(name, &current.json)?;
            change(&mut item)?;
            match self
                .replace(name, item.clone(), Some(current.revision))
                .await
            {
                Err(RegistryError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
                Ok(stored) => return Ok((item, stored)),
            }
        }
    }

    /// Removes a document; 404 if it is not registered.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self.store.delete(&self.key(name)).await? {
            Some(revision) => {
                self.wait_applied(revision).await;
                Ok(())
            }
            None => Err(not_found::<T>(name)),
        }
    }

    fn map_write_error(&self, name: &str, e: StoreError) -> RegistryError {
        match e {
            StoreError::NotFound { .. } => not_found::<T>(name),
            StoreError::Conflict { .. } => RegistryError::Conflict {
                kind: T::KIND,
                name: name.to_owned(),
            },
            e => e.into(),
        }
    }

    /// Waits until the in-memory copy holds `revision`, so the writer reads its own write.
    async fn wait_applied(&self, revision: Revision) {
        if !self.is_live() {
            return;
        }
        let mut rx = self.cache.applied.subscribe();
        let _ = tokio::time::timeout(READ_YOUR_WRITES, rx.wait_for(|r| *r >= revision)).await;
    }
}

fn not_found<T: Entity>(name: &str) -> RegistryError {
    RegistryError::NotFound {
        kind: T::KIND,
        name: name.to_owned(),
    }
}

/// A stored document, parsed.
pub fn parse<T: Entity>(name: &str, json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| RegistryError::Unreadable {
        kind: T::KIND,
        name: name.to_owned(),
        reason: e.to_string(),
    })
}
