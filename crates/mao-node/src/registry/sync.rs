//! The in-memory copy of a registry: loaded by a listing, kept in step by a watch, and
//! rendered once per change.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;
use mao_store::{list_all, KeyValue, Store, StoreError, WatchEvent};
use tracing::{info, warn};

use super::{Cache, Entity, Stored};

/// Lists the prefix, then follows its watch; returns when the watch breaks.
pub(super) async fn sync_once<T: Entity>(
    store: &dyn Store,
    prefix: &str,
    cache: &Cache,
    backoff: &mut crate::retry::Backoff,
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
        st.loaded = true;
        info!(
            registry = T::KIND,
            entries = st.items.len(),
            "registry copy loaded"
        );
    }
    cache.applied.send_modify(|r| *r = (*r).max(page.revision));
    backoff.reset();
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
pub(super) fn decode<T: Entity>(prefix: &str, kv: KeyValue) -> Option<(String, Stored)> {
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

pub(super) fn page(
    items: &BTreeMap<String, Stored>,
    after: Option<&str>,
    limit: Option<usize>,
) -> Bytes {
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
pub(super) fn render<'a>(
    items: impl Iterator<Item = (&'a String, &'a Stored)>,
    next: Option<&str>,
) -> Bytes {
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
