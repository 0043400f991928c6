//! The embedded backend: one redb file in the node's data dir.
//!
//! The whole key space lives in memory (registries are small) and every write is committed
//! to the file (fsync) before it becomes visible, so a kill -9 loses nothing that was
//! acknowledged. Leases are held in memory only: the file is locked by one process, so when
//! the store is opened again every lease of the previous process is dead and its keys are
//! deleted at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::broadcast;
use tracing::info;

use crate::{
    KeyValue, LeaseId, ListOptions, Page, Result, Revision, Store, StoreError, WatchEvent,
    WatchStream,
};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const REVISION: &str = "revision";
/// Events kept in memory for watches that start from a past revision.
const HISTORY: usize = 10_000;
/// Events buffered for a slow watcher before its watch breaks with `Compacted`.
const WATCH_BUFFER: usize = 4096;
const HEADER: usize = 24;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    create_revision: Revision,
    mod_revision: Revision,
    lease: Option<LeaseId>,
}

impl Entry {
    fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER + self.value.len());
        buf.extend_from_slice(&self.create_revision.to_le_bytes());
        buf.extend_from_slice(&self.mod_revision.to_le_bytes());
        buf.extend_from_slice(&self.lease.unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(&self.value);
        buf
    }

    fn decode(buf: &[u8]) -> Result<Entry> {
        if buf.len() < HEADER {
            return Err(StoreError::Internal("corrupt entry in store file".into()));
        }
        let word = |i: usize| i64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap());
        Ok(Entry {
            create_revision: word(0),
            mod_revision: word(1),
            lease: Some(word(2)).filter(|l| *l != 0),
            value: Bytes::copy_from_slice(&buf[HEADER..]),
        })
    }

    fn to_kv(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: self.lease,
        }
    }
}

struct LeaseState {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

struct State {
    map: BTreeMap<String, Entry>,
    revision: Revision,
    leases: HashMap<LeaseId, LeaseState>,
    next_lease: LeaseId,
    history: VecDeque<WatchEvent>,
    /// Every event with a revision above this one is in `history`.
    history_floor: Revision,
}

enum Op {
    Put {
        key: String,
        value: Bytes,
        lease: Option<LeaseId>,
    },
    Delete {
        key: String,
    },
}

struct Inner {
    path: PathBuf,
    db: Database,
    writer: Mutex<()>,
    state: RwLock<State>,
    events: broadcast::Sender<WatchEvent>,
}

/// The single-node store: a redb file, fully cached in memory.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`. Fails if another process has it open.
    pub fn open(path: &Path) -> Result<EmbeddedStore> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                "{} is in use by another process (is another mao-orchestrator using this data dir?)",
                path.display()
            )),
            e => StoreError::Internal(format!("cannot open {}: {e}", path.display())),
        })?;
        let mut map = BTreeMap::new();
        let revision;
        {
            let txn = db.begin_write().map_err(internal)?;
            {
                let kv = txn.open_table(KV).map_err(internal)?;
                for item in kv.iter().map_err(internal)? {
                    let (k, v) = item.map_err(internal)?;
                    map.insert(k.value().to_owned(), Entry::decode(v.value())?);
                }
                let meta = txn.open_table(META).map_err(internal)?;
                let stored = meta.get(REVISION).map_err(internal)?.map(|r| r.value());
                revision = stored.unwrap_or(0);
            }
            txn.commit().map_err(internal)?;
        }
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as i64;
        let state = State {
            map,
            revision,
            leases: HashMap::new(),
            next_lease: seed & 0x7fff_ffff_ffff,
            history: VecDeque::new(),
            history_floor: revision,
        };
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let inner = Arc::new(Inner {
            path: path.to_owned(),
            db,
            writer: Mutex::new(()),
            state: RwLock::new(state),
            events,
        });
        // Keys of leases that belonged to the previous process: that process is gone.
        let orphans: Vec<Op> = {
            let st = inner.state.read().unwrap();
            st.map
                .iter()
                .filter(|(_, e)| e.lease.is_some())
                .map(|(k, _)| Op::Delete { key: k.clone() })
                .collect()
        };
        if !orphans.is_empty() {
            info!(
                keys = orphans.len(),
                "deleting keys of leases from a previous run"
            );
            let _w = inner.writer.lock().unwrap();
            inner.commit(orphans)?;
        }
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("mao-store-leases".into())
            .spawn(move || reap_leases(weak))
            .map_err(internal)?;
        Ok(EmbeddedStore { inner })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes several keys as one revision and one file commit: one fsync for all of
    /// them, for callers that save many small records at the same instant.
    pub async fn put_many(&self, items: Vec<(String, Bytes)>) -> Result<Revision> {
        if items.is_empty() {
            return self.ping().await;
        }
        self.write(move |inner| {
            inner.commit(
                items
                    .into_iter()
                    .map(|(key, value)| Op::Put {
                        key,
                        value,
                        lease: None,
                    })
                    .collect(),
            )
        })
        .await
    }

    /// Runs a write under the writer lock on a blocking thread.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _w = inner.writer.lock().unwrap();
            f(&inner)
        })
        .await
        .map_err(internal)?
    }
}

impl Inner {
    /// Commits `ops` as one revision: first to the file, then to memory and watchers.
    /// The caller holds `writer`, so nothing changes between its checks and this commit.
    fn commit(&self, ops: Vec<Op>) -> Result<Revision> {
        let (revision, entries) = {
            let st = self.state.read().unwrap();
            let revision = st.revision + 1;
            let entries: Vec<(String, Option<Entry>)> = ops
                .into_iter()
                .map(|op| match op {
                    Op::Put { key, value, lease } => {
                        let create_revision = st
                            .map
                            .get(&key)
                            .map(|e| e.create_revision)
                            .unwrap_or(revision);
                        let entry = Entry {
                            value,
                            create_revision,
                            mod_revision: revision,
                            lease,
                        };
                        (key, Some(entry))
                    }
                    Op::Delete { key } => (key, None),
                })
                .collect();
            (revision, entries)
        };
        let txn = self.db.begin_write().map_err(internal)?;
        {
            let mut kv = txn.open_table(KV).map_err(internal)?;
            for (key, entry) in &entries {
                match entry {
                    Some(e) => {
                        kv.insert(key.as_str(), e.encode().as_slice())
                            .map_err(internal)?;
                    }
                    None => {
                        kv.remove(key.as_str()).map_err(internal)?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(internal)?;
            meta.insert(REVISION, revision).map_err(internal)?;
        }
        txn.commit().map_err(internal)?;

        let mut st = self.state.write().unwrap();
        st.revision = revision;
        for (key, entry) in entries {
            let old = match &entry {
                Some(e) => st.map.insert(key.clone(), e.clone()),
                None => st.map.remove(&key),
            };
            if let Some(lease) = old.and_then(|o| o.lease) {
                if let Some(l) = st.leases.get_mut(&lease) {
                    l.keys.remove(&key);
                }
            }
            let event = match entry {
                Some(e) => {
                    if let Some(l) = e.lease.and_then(|id| st.leases.get_mut(&id)) {
                        l.keys.insert(key.clone());
                    }
                    WatchEvent::Put(e.to_kv(&key))
                }
                None => WatchEvent::Delete { key, revision },
            };
            if st.history.len() == HISTORY {
                if let Some(dropped) = st.history.pop_front() {
                    st.history_floor = dropped.revision();
                }
            }
            st.history.push_back(event.clone());
            // Sent under the state lock, so a watch that subscribes under the read lock sees
            // each event exactly once: either in its replay or on its channel.
            let _ = self.events.send(event);
        }
        Ok(revision)
    }

    fn check_lease(&self, lease: Option<LeaseId>) -> Result<()> {
        if let Some(id) = lease {
            let st = self.state.read().unwrap();
            match st.leases.get(&id) {
                Some(l) if l.deadline > Instant::now() => {}
                _ => return Err(StoreError::LeaseNotFound(id)),
            }
        }
        Ok(())
    }

    fn mod_revision(&self, key: &str) -> Option<Revision> {
        self.state
            .read()
            .unwrap()
            .map
            .get(key)
            .map(|e| e.mod_revision)
    }

    fn revoke(&self, lease: LeaseId) -> Result<()> {
        let keys = match self.state.write().unwrap().leases.remove(&lease) {
            Some(l) => l.keys,
            None => return Ok(()),
        };
        if keys.is_empty() {
            return Ok(());
        }
        self.commit(keys.into_iter().map(|key| Op::Delete { key }).collect())?;
        Ok(())
    }
}

fn reap_leases(inner: Weak<Inner>) {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = Instant::now();
        let expired: Vec<LeaseId> = {
            let st = inner.state.read().unwrap();
            st.leases
                .iter()
                .filter(|(_, l)| l.deadline <= now)
                .map(|(id, _)| *id)
                .collect()
        };
        for lease in expired {
            let _w = inner.writer.lock().unwrap();
            if let Err(e) = inner.revoke(lease) {
                tracing::error!(error = %e, "cannot delete the keys of an expired lease");
            }
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let st = self.inner.state.read().unwrap();
        Ok(st.map.get(key).map(|e| e.to_kv(key)))
    }

    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let key = key.to_owned();
        self.write(move |inner| {
            inner.check_lease(lease)?;
            inner.commit(vec![Op::Put { key, value, lease }])
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let key = key.to_owned();
        self.write(move |inner| {
            if inner.mod_revision(&key).is_some() {
                return Err(StoreError::AlreadyExists { key });
            }
            inner.check_lease(lease)?;
            inner.commit(vec![Op::Put { key, value, lease }])
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let key = key.to_owned();
        self.write(move |inner| {
            match inner.mod_revision(&key) {
                None => return Err(StoreError::NotFound { key }),
                Some(actual) if actual != expected => {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        actual: Some(actual),
                    })
                }
                Some(_) => {}
            }
            inner.check_lease(lease)?;
            inner.commit(vec![Op::Put { key, value, lease }])
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<Option<Revision>> {
        let key = key.to_owned();
        self.write(move |inner| {
            if inner.mod_revision(&key).is_none() {
                return Ok(None);
            }
            inner.commit(vec![Op::Delete { key }]).map(Some)
        })
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: Revision) -> Result<Revision> {
        let key = key.to_owned();
        self.write(move |inner| {
            match inner.mod_revision(&key) {
                None => return Err(StoreError::NotFound { key }),
                Some(actual) if actual != expected => {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        actual: Some(actual),
                    })
                }
                Some(_) => {}
            }
            inner.commit(vec![Op::Delete { key }])
        })
        .await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<Page> {
        let st = self.inner.state.read().unwrap();
        if let Some(r) = options.revision {
            // Only the present is kept; a listing that spans a write starts over.
            if r != st.revision {
                return Err(StoreError::Compacted(r));
            }
        }
        let limit = options.limit.unwrap_or(usize::MAX);
        let start = match &options.start_after {
            Some(after) if after.as_str() >= prefix => std::ops::Bound::Excluded(after.clone()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        let mut kvs = Vec::new();
        let mut more = false;
        for (k, e) in st.map.range((start, std::ops::Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(e.to_kv(k));
        }
        Ok(Page {
            kvs,
            more,
            revision: st.revision,
        })
    }

    async fn watch(&self, prefix: &str, from: Option<Revision>) -> Result<WatchStream> {
        let st = self.inner.state.read().unwrap();
        let from = from.unwrap_or(st.revision + 1);
        if from <= st.history_floor {
            return Err(StoreError::Compacted(from));
        }
        let replay: Vec<Result<WatchEvent>> = st
            .history
            .iter()
            .filter(|e| e.revision() >= from && e.key().starts_with(prefix))
            .cloned()
            .map(Ok)
            .collect();
        let rx = self.inner.events.subscribe();
        drop(st);
        let prefix = prefix.to_owned();
        let live = futures::stream::unfold(Some(rx), move |rx| {
            let prefix = prefix.clone();
            async move {
                let mut rx = rx?;
                loop {
                    match rx.recv().await {
                        Ok(e) if e.revision() >= from && e.key().starts_with(&prefix) => {
                            return Some((Ok(e), Some(rx)))
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            return Some((Err(StoreError::Compacted(from)), None))
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(futures::stream::iter(replay).chain(live).boxed())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        if ttl.is_zero() {
            return Err(StoreError::Invalid("a lease needs a TTL above zero".into()));
        }
        let mut st = self.inner.state.write().unwrap();
        st.next_lease += 1;
        let id = st.next_lease;
        st.leases.insert(
            id,
            LeaseState {
                ttl,
                deadline: Instant::now() + ttl,
                keys: BTreeSet::new(),
            },
        );
        Ok(id)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let mut st = self.inner.state.write().unwrap();
        let now = Instant::now();
        match st.leases.get_mut(&lease) {
            Some(l) if l.deadline > now => {
                l.deadline = now + l.ttl;
                Ok(())
            }
            _ => Err(StoreError::LeaseNotFound(lease)),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.write(move |inner| inner.revoke(lease)).await
    }

    async fn ping(&self) -> Result<Revision> {
        Ok(self.inner.state.read().unwrap().revision)
    }
}
