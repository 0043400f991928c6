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

use axum::http::StatusCode;
use bytes::Bytes;
use futures::StreamExt;
use mao_api::{Dataset, Tool, ValidationError};
use mao_store::{list_all, KeyValue, Revision, Store, StoreError, WatchEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::{ApiError, ApiResult};

/// A document kept in a registry.
pub trait Entity: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Singular noun for messages ("tool").
    const KIND: &'static str;
    /// The document's name (its key below the registry prefix).
    fn name(&self) -> &str;
    /// Checks every field before anything is stored.
    fn validate(&self) -> Result<(), ValidationError>;
}

impl Entity for Tool {
    const KIND: &'static str = "tool";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        Tool::validate(self)
    }
}

impl Entity for mao_api::Schedule {
    const KIND: &'static str = "schedule";
    fn name(&self) -> &str {
        &self.id
    }
    fn validate(&self) -> Result<(), ValidationError> {
        // The cron expression, zone and deadline are checked where mao-scheduler is at hand
        // (handlers/schedules.rs); here only what every document needs.
        mao_api::validate::name("id", &self.id)?;
        mao_api::validate::name("target", self.target.name())?;
        self.overrides.validate()
    }
}

impl Entity for mao_api::Pipeline {
    const KIND: &'static str = "pipeline";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        mao_api::Pipeline::validate(self)
    }
}

impl Entity for mao_api::Notification {
    const KIND: &'static str = "notification";
    fn name(&self) -> &str {
        &self.id
    }
    fn validate(&self) -> Result<(), ValidationError> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(ValidationError::new("id", "must be letters and digits"));
        }
        Ok(())
    }
}

impl Entity for Dataset {
    const KIND: &'static str = "dataset";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        Dataset::validate(self)
    }
}

/// A stored document: its JSON as stored and the revision to compare-and-swap against.
#[derive(Clone, Debug)]
pub struct Stored {
    pub json: Bytes,
    pub revision: Revision,
}

#[derive(Default)]
struct CacheState {
    live: bool,
    items: BTreeMap<String, Stored>,
    /// The full listing, rendered once per change.
    rendered: Mutex<Option<Bytes>>,
}

struct Cache {
    state: RwLock<CacheState>,
    applied: watch::Sender<Revision>,
}

/// One registry (tools or datasets) over the shared store.
pub struct Registry<T> {
    store: Arc<dyn Store>,
    prefix: String,
    cache: Arc<Cache>,
    _entity: PhantomData<fn() -> T>,
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
            let mut backoff = Duration::from_millis(100);
            loop {
                match sync_once::<T>(store.as_ref(), &prefix, &cache, &mut backoff).await {
                    Ok(()) => {}
                    Err(e) => {
                        warn!(registry = T::KIND, error = %e, "registry copy is stale; reads go to the store until it is rebuilt")
                    }
                }
                cache.state.write().unwrap().live = false;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// Whether reads are served from memory right now.
    pub fn is_live(&self) -> bool {
        self.cache.state.read().unwrap().live
    }

    /// The documents after `after` (by name), at most `limit`, as `{"items":[...],"next":...}`.
    pub async fn list_json(&self, after: Option<&str>, limit: Option<usize>) -> ApiResult<Bytes> {
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
    pub async fn entries(&self) -> ApiResult<Vec<(String, Stored)>> {
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
    pub async fn names(&self) -> ApiResult<Vec<String>> {
        {
            let st = self.cache.state.read().unwrap();
            if st.live {
                return Ok(st.items.keys().cloned().collect());
            }
        }
        Ok(self.load_all().await?.into_keys().collect())
    }

    async fn load_all(&self) -> ApiResult<BTreeMap<String, Stored>> {
        let page = list_all(self.store.as_ref(), &self.prefix, 500).await?;
        Ok(page
            .kvs
            .into_iter()
            .filter_map(|kv| decode::<T>(&self.prefix, kv))
            .collect())
    }

    /// One document as stored. A name the in-memory copy lacks is looked up in the store:
    /// another node may have written it a moment ago, before the watch brought it here.
    pub async fn get_raw(&self, name: &str) -> ApiResult<Stored> {
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

    async fn get_from_store(&self, name: &str) -> ApiResult<Stored> {
        self.store
            .get(&self.key(name))
            .await?
            .and_then(|kv| decode::<T>(&self.prefix, kv))
            .map(|(_, s)| s)
            .ok_or_else(|| ApiError::not_found(T::KIND, name))
    }

    /// One document, parsed.
    pub async fn get(&self, name: &str) -> ApiResult<(T, Revision)> {
        let stored = self.get_raw(name).await?;
        let item = serde_json::from_slice(&stored.json).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("stored {} {name:?} is unreadable: {e}", T::KIND),
            )
        })?;
        Ok((item, stored.revision))
    }

    /// Registers a new document; 409 if the name is taken.
    pub async fn create(&self, item: T) -> ApiResult<Stored> {
        item.validate()?;
        let json = Bytes::from(serde_json::to_vec(&item).expect("entities serialize"));
        let revision = match self
            .store
            .create(&self.key(item.name()), json.clone(), None)
            .await
        {
            Ok(r) => r,
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_exists",
                    format!(
                        "{} {:?} already exists; remove it first or choose another name",
                        T::KIND,
                        item.name()
                    ),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        self.wait_applied(revision).await;
        Ok(Stored { json, revision })
    }

    /// Replaces an existing document. With `expected`, only if it is still at that
    /// revision (409 otherwise), so an edit based on a stale read is refused.
    pub async fn replace(
        &self,
        name: &str,
        item: T,
        expected: Option<Revision>,
    ) -> ApiResult<Stored> {
        item.validate()?;
        if item.name() != name {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!(
                    "name: the body names {:?} but the URL names {name:?}",
                    item.name()
                ),
            ));
        }
        let expected = match expected {
            Some(r) => r,
            None => self.get_from_store(name).await?.revision,
        };
        let json = Bytes::from(serde_json::to_vec(&item).expect("entities serialize"));
        let revision = self
            .store
            .compare_and_swap(&self.key(name), expected, json.clone(), None)
            .await
            .map_err(|e| self.map_write_error(name, e))?;
        self.wait_applied(revision).await;
        Ok(Stored { json, revision })
    }

    /// Creates or replaces a document (the original's registration semantics).
    pub async fn upsert(&self, item: T) -> ApiResult<Stored> {
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
                Err(e) if matches!(e.code, "conflict" | "already_exists" | "not_found") => continue,
                other => return other,
            }
        }
    }

    /// Applies `change` to the current document with compare-and-swap, retrying when
    /// another writer got in between, so concurrent updates are never lost.
    pub async fn update<F>(&self, name: &str, mut change: F) -> ApiResult<Stored>
    where
        F: FnMut(&mut T) -> ApiResult<()> + Send,
    {
        loop {
            let current = self.get_from_store(name).await?;
            let mut item: T = serde_json::from_slice(&current.json).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("stored {} {name:?} is unreadable: {e}", T::KIND),
                )
            })?;
            change(&mut item)?;
            match self.replace(name, item, Some(current.revision)).await {
                Err(e) if e.code == "conflict" => continue,
                other => return other,
            }
        }
    }

    /// Removes a document; 404 if it is not registered.
    pub async fn delete(&self, name: &str) -> ApiResult<()> {
        match self.store.delete(&self.key(name)).await? {
            Some(revision) => {
                self.wait_applied(revision).await;
                Ok(())
            }
            None => Err(ApiError::not_found(T::KIND, name)),
        }
    }

    fn map_write_error(&self, name: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(T::KIND, name),
            StoreError::Conflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "{} {name:?} was changed by someone else meanwhile; read it again and retry",
                    T::KIND
                ),
            ),
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

/// Lists the prefix, then follows its watch; returns when the watch breaks.
async fn sync_once<T: Entity>(
    store: &dyn Store,
    prefix: &str,
    cache: &Cache,
    backoff: &mut Duration,
) -> Result<(), StoreError> {
    let page = list_all(store, prefix, 500).await?;
    let mut events = store.watch(prefix, Some(page.revision + 1)).await?;
    {
        let mut st = cache.state.write().unwrap();
        st.items = page
            .kvs
            .into_iter()
            .filter_map(|kv| decode::<T>(prefix, kv))
            .collect();
        *st.rendered.get_mut().unwrap() = None;
        st.live = true;
        info!(
            registry = T::KIND,
            entries = st.items.len(),
            "registry copy loaded"
        );
    }
    cache.applied.send_modify(|r| *r = (*r).max(page.revision));
    *backoff = Duration::from_millis(100);
    while let Some(event) = events.next().await {
        let event = event?;
        let revision = event.revision();
        {
            let mut st = cache.state.write().unwrap();
            match event {
                WatchEvent::Put(kv) => {
                    if let Some((name, stored)) = decode::<T>(prefix, kv) {
                        st.items.insert(name, stored);
                    }
                }
                WatchEvent::Delete { key, .. } => {
                    if let Some(name) = key.strip_prefix(prefix) {
                        st.items.remove(name);
                    }
                }
            }
            *st.rendered.get_mut().unwrap() = None;
        }
        cache.applied.send_modify(|r| *r = (*r).max(revision));
    }
    Err(StoreError::Unavailable("the watch ended".into()))
}

/// A stored key as a registry entry; a document that does not parse (written by hand
/// with etcdctl, say) is skipped with a warning rather than served.
fn decode<T: Entity>(prefix: &str, kv: KeyValue) -> Option<(String, Stored)> {
    let name = kv.key.strip_prefix(prefix)?.to_owned();
    match serde_json::from_slice::<T>(&kv.value) {
        Ok(item) if item.name() == name => Some((
            name,
            Stored {
                json: kv.value,
                revision: kv.mod_revision,
            },
        )),
        Ok(_) => {
            warn!(key = %kv.key, "skipping a document whose name differs from its key");
            None
        }
        Err(e) => {
            warn!(key = %kv.key, error = %e, "skipping a document that is not a valid {}", T::KIND);
            None
        }
    }
}

fn page(items: &BTreeMap<String, Stored>, after: Option<&str>, limit: Option<usize>) -> Bytes {
    use std::ops::Bound;
    let start = match after {
        Some(a) => Bound::Excluded(a.to_owned()),
        None => Bound::Unbounded,
    };
    let mut range = items.range::<String, _>((start, Bound::Unbounded));
    match limit {
        Some(n) => {
            let taken: Vec<_> = range.by_ref().take(n).collect();
            let next = if range.next().is_some() {
                taken.last().map(|(k, _)| k.as_str())
            } else {
                None
            };
            render(taken.into_iter(), next)
        }
        None => render(range, None),
    }
}

/// `{"items":[...],"next":...}` from stored JSON documents, without re-serializing them.
fn render<'a>(items: impl Iterator<Item = (&'a String, &'a Stored)>, next: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"items\":[");
    for (i, (_, stored)) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&stored.json);
    }
    out.push(b']');
    if let Some(n) = next {
        out.extend_from_slice(b",\"next\":");
        out.extend_from_slice(serde_json::to_string(n).unwrap().as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
}
