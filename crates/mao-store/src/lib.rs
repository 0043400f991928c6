//! The shared-state store of a federation: one [`Store`] trait, two backends.
//!
//! * [`embedded::EmbeddedStore`] — a single file in the node's data dir (redb), for one node;
//! * [`etcd::EtcdStore`] — etcd's v3 API, for a federation.
//!
//! Both keep etcd's model: every write gets a store-wide increasing revision, each key
//! remembers the revision that created it and the one that last modified it, keys can be
//! bound to a lease that expires unless kept alive, and a prefix can be watched from a
//! revision on. Locks ([`lock::Lock`]) and lease keep-alive ([`lease::LeaseKeeper`]) are
//! built once on top of the trait, so both backends share their logic.
//!
//! [`cluster::Cluster`] administers the members of an etcd cluster (add a learner,
//! promote, remove), which only the etcd backend has.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub mod cluster;
pub mod embedded;
mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod lease;
pub mod lock;

pub use error::{Result, StoreError};

/// A store-wide, strictly increasing version number assigned to each write.
pub type Revision = i64;
/// Identifier of a lease granted by the store.
pub type LeaseId = i64;

/// One stored key with its value and version information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key; the token for compare-and-swap.
    pub mod_revision: Revision,
    /// Lease the key is bound to, if any.
    pub lease: Option<LeaseId>,
}

/// Options of [`Store::list`].
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only keys strictly greater than this one (the last key of the previous page).
    pub start_after: Option<String>,
    /// At most this many keys; `None` for all.
    pub limit: Option<usize>,
    /// Read at this revision, so that pages of one listing are consistent.
    pub revision: Option<Revision>,
}

impl ListOptions {
    /// The next page after `page`, keeping the revision of the first page.
    pub fn next_page(&self, page: &Page) -> Option<ListOptions> {
        if !page.more {
            return None;
        }
        Some(ListOptions {
            start_after: page.kvs.last().map(|kv| kv.key.clone()),
            limit: self.limit,
            revision: Some(page.revision),
        })
    }
}

/// One page of a prefix listing, sorted by key.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub kvs: Vec<KeyValue>,
    /// More keys follow; ask again with [`ListOptions::next_page`].
    pub more: bool,
    /// The store revision the page was read at.
    pub revision: Revision,
}

/// A change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    Delete { key: String, revision: Revision },
}

impl WatchEvent {
    /// The key the event is about.
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put(kv) => &kv.key,
            WatchEvent::Delete { key, .. } => key,
        }
    }

    /// The revision of the write that caused the event.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// Events of a prefix, in revision order. It ends with an error when the watch breaks
/// (store unavailable, history compacted); the caller re-lists and watches again.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

/// The operations every backend provides; see the conformance suite in `tests/`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name of the backend, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// The current value of `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Writes `value` whatever is there; returns the new revision.
    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision>;

    /// Writes `value` only if `key` does not exist ([`StoreError::AlreadyExists`] otherwise).
    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision>;

    /// Writes `value` only if the key's `mod_revision` is `expected`
    /// ([`StoreError::Conflict`] if it changed, [`StoreError::NotFound`] if it is gone).
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision>;

    /// Deletes `key`; returns the revision of the delete, or `None` if it did not exist.
    async fn delete(&self, key: &str) -> Result<Option<Revision>>;

    /// Deletes `key` only if its `mod_revision` is `expected`.
    async fn compare_and_delete(&self, key: &str, expected: Revision) -> Result<Revision>;

    /// Keys starting with `prefix`, sorted, one page at a time.
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<Page>;

    /// Changes under `prefix` from revision `from` on (from now on when `None`).
    async fn watch(&self, prefix: &str, from: Option<Revision>) -> Result<WatchStream>;

    /// A new lease; keys bound to it vanish `ttl` after the last keep-alive.
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId>;

    /// Refreshes a lease ([`StoreError::LeaseNotFound`] once it has expired).
    async fn keep_alive(&self, lease: LeaseId) -> Result<()>;

    /// Ends a lease now and deletes its keys; revoking an unknown lease is not an error.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()>;

    /// Checks that the store answers; returns its current revision.
    async fn ping(&self) -> Result<Revision>;
}

/// Lists every key under `prefix`, page by page, at one consistent revision. A listing
/// overtaken by a write between pages (the embedded store keeps only the present; etcd
/// compacts) starts over, a few times.
pub async fn list_all(store: &dyn Store, prefix: &str, page_size: usize) -> Result<Page> {
    let mut attempts = 0;
    loop {
        match list_pages(store, prefix, page_size).await {
            Err(StoreError::Compacted(_)) if attempts < 5 => attempts += 1,
            other => return other,
        }
    }
}

async fn list_pages(store: &dyn Store, prefix: &str, page_size: usize) -> Result<Page> {
    let mut options = ListOptions {
        limit: Some(page_size),
        ..ListOptions::default()
    };
    let mut all = Page::default();
    loop {
        let page = store.list(prefix, options.clone()).await?;
        let next = options.next_page(&page);
        all.revision = page.revision;
        all.kvs.extend(page.kvs);
        match next {
            Some(n) => options = n,
            None => return Ok(all),
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (etcd's range end).
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix is empty): the range is open-ended.
    vec![0]
}
