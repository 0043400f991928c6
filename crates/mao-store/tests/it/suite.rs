//! The store conformance suite: one set of tests, run against every backend.
//!
//! `store_test_suite!(factory)` expands to one `#[tokio::test]` per case. `factory` is an
//! async function returning a [`Fixture`]: a store and a key prefix of the test's own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use mao_store::lease::LeaseKeeper;
use mao_store::lock::Lock;
use mao_store::{ListOptions, Store, StoreError, WatchEvent};

/// A store to test and a prefix no other test uses.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub prefix: String,
    /// Whatever must live as long as the store (a temp dir).
    pub _guard: Box<dyn std::any::Any + Send>,
}

impl Fixture {
    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }
}

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

/// Waits up to `limit` for `check` to become true.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub async fn get_put_roundtrip(f: Fixture) {
    let key = f.key("tools/a");
    assert_eq!(f.store.get(&key).await.unwrap(), None);
    let r1 = f.store.put(&key, b("one"), None).await.unwrap();
    let kv = f.store.get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, b("one"));
    assert_eq!(kv.mod_revision, r1);
    assert_eq!(kv.create_revision, r1);
    assert_eq!(kv.lease, None);
    let r2 = f.store.put(&key, b("two"), None).await.unwrap();
    assert!(r2 > r1, "revisions increase: {r1} then {r2}");
    let kv = f.store.get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, b("two"));
    assert_eq!(kv.create_revision, r1, "create revision survives updates");
    assert_eq!(kv.mod_revision, r2);
    assert!(f.store.ping().await.unwrap() >= r2);
}

pub async fn create_if_absent(f: Fixture) {
    let key = f.key("claims/s/1");
    let r = f.store.create(&key, b("node-a"), None).await.unwrap();
    match f.store.create(&key, b("node-b"), None).await {
        Err(StoreError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second create must fail with AlreadyExists, got {other:?}"),
    }
    let kv = f.store.get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, b("node-a"), "the first writer wins");
    assert_eq!(kv.mod_revision, r);
}

pub async fn compare_and_swap(f: Fixture) {
    let key = f.key("tools/cas");
    match f.store.compare_and_swap(&key, 1, b("x"), None).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("CAS on a missing key is NotFound, got {other:?}"),
    }
    let r1 = f.store.put(&key, b("v1"), None).await.unwrap();
    let r2 = f
        .store
        .compare_and_swap(&key, r1, b("v2"), None)
        .await
        .unwrap();
    assert!(r2 > r1);
    match f.store.compare_and_swap(&key, r1, b("stale"), None).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(expected, r1);
            assert_eq!(actual, Some(r2));
        }
        other => panic!("CAS with a stale revision is Conflict, got {other:?}"),
    }
    assert_eq!(f.store.get(&key).await.unwrap().unwrap().value, b("v2"));
}

pub async fn delete_and_compare_and_delete(f: Fixture) {
    let key = f.key("datasets/d");
    assert_eq!(f.store.delete(&key).await.unwrap(), None);
    let r1 = f.store.put(&key, b("v"), None).await.unwrap();
    let rd = f.store.delete(&key).await.unwrap().expect("deleted");
    assert!(rd > r1);
    assert_eq!(f.store.get(&key).await.unwrap(), None);

    let r2 = f.store.put(&key, b("v"), None).await.unwrap();
    let r3 = f.store.put(&key, b("w"), None).await.unwrap();
    assert!(matches!(
        f.store.compare_and_delete(&key, r2).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(f.store.get(&key).await.unwrap().is_some());
    f.store.compare_and_delete(&key, r3).await.unwrap();
    assert!(matches!(
        f.store.compare_and_delete(&key, r3).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn list_by_prefix_sorted(f: Fixture) {
    for k in ["tools/c", "tools/a", "tools/b", "tools-other/x", "tool"] {
        f.store.put(&f.key(k), b(k), None).await.unwrap();
    }
    let page = f
        .store
        .list(&f.key("tools/"), ListOptions::default())
        .await
        .unwrap();
    let keys: Vec<_> = page.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(
        keys,
        vec![f.key("tools/a"), f.key("tools/b"), f.key("tools/c")]
    );
    assert!(!page.more);
    assert_eq!(page.kvs[0].value, b("tools/a"));
    let empty = f
        .store
        .list(&f.key("nothing/"), ListOptions::default())
        .await
        .unwrap();
    assert!(empty.kvs.is_empty() && !empty.more);
}

pub async fn list_paginated(f: Fixture) {
    let n = 250;
    for i in 0..n {
        f.store
            .put(&f.key(&format!("tools/t{i:04}")), b("{}"), None)
            .await
            .unwrap();
    }
    let mut options = ListOptions {
        limit: Some(100),
        ..ListOptions::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = f
            .store
            .list(&f.key("tools/"), options.clone())
            .await
            .unwrap();
        pages += 1;
        assert!(page.kvs.len() <= 100);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        match options.next_page(&page) {
            Some(next) => options = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = (0..n).map(|i| f.key(&format!("tools/t{i:04}"))).collect();
    assert_eq!(seen, expected);
    let all = mao_store::list_all(f.store.as_ref(), &f.key("tools/"), 64)
        .await
        .unwrap();
    assert_eq!(all.kvs.len(), n);
}

pub async fn watch_prefix(f: Fixture) {
    let start = f.store.ping().await.unwrap() + 1;
    let mut events = f.store.watch(&f.key("w/"), Some(start)).await.unwrap();
    let r1 = f.store.put(&f.key("w/a"), b("1"), None).await.unwrap();
    f.store.put(&f.key("other/a"), b("x"), None).await.unwrap();
    let r2 = f.store.put(&f.key("w/b"), b("2"), None).await.unwrap();
    let r3 = f.store.delete(&f.key("w/a")).await.unwrap().unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("watch event within 5 s")
            .expect("stream open")
            .expect("no watch error");
        got.push(e);
    }
    match &got[0] {
        WatchEvent::Put(kv) => {
            assert_eq!(kv.key, f.key("w/a"));
            assert_eq!(kv.value, b("1"));
            assert_eq!(kv.mod_revision, r1);
        }
        e => panic!("expected put, got {e:?}"),
    }
    assert_eq!(got[1].key(), f.key("w/b"));
    assert_eq!(got[1].revision(), r2);
    assert_eq!(
        got[2],
        WatchEvent::Delete {
            key: f.key("w/a"),
            revision: r3
        }
    );

    // A watch from a past revision replays what happened since.
    let mut replay = f.store.watch(&f.key("w/"), Some(r2)).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), replay.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.revision(), r2);
    let second = tokio::time::timeout(Duration::from_secs(5), replay.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.revision(), r3);
}

pub async fn lease_expiry_and_keep_alive(f: Fixture) {
    let ttl = Duration::from_secs(2);
    // A lease that is kept alive outlives its TTL.
    let kept = LeaseKeeper::grant(f.store.clone(), ttl).await.unwrap();
    let kept_key = f.key("nodes/kept");
    f.store
        .put(&kept_key, b("up"), Some(kept.id()))
        .await
        .unwrap();
    assert_eq!(
        f.store.get(&kept_key).await.unwrap().unwrap().lease,
        Some(kept.id())
    );
    // A lease nobody refreshes expires with its keys.
    let lease = f.store.grant_lease(ttl).await.unwrap();
    let key = f.key("nodes/gone");
    let start = f.store.ping().await.unwrap() + 1;
    let mut events = f.store.watch(&key, Some(start)).await.unwrap();
    f.store.put(&key, b("up"), Some(lease)).await.unwrap();
    let store = f.store.clone();
    let k = key.clone();
    assert!(
        eventually(Duration::from_secs(8), || {
            let store = store.clone();
            let k = k.clone();
            async move { store.get(&k).await.unwrap().is_none() }
        })
        .await,
        "a key bound to an expired lease vanishes"
    );
    let mut saw_delete = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(2), events.next()).await {
        if let WatchEvent::Delete { key: k, .. } = e.unwrap() {
            saw_delete |= k == key;
        }
        if saw_delete {
            break;
        }
    }
    assert!(saw_delete, "lease expiry is seen by watchers as a delete");
    assert!(matches!(
        f.store.keep_alive(lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(matches!(
        f.store.put(&key, b("late"), Some(lease)).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(
        f.store.get(&kept_key).await.unwrap().is_some(),
        "the kept-alive lease is still there after its TTL"
    );
    assert!(!*kept.lost().borrow());
    // Revoking deletes the keys at once.
    kept.revoke().await.unwrap();
    assert_eq!(f.store.get(&kept_key).await.unwrap(), None);
    f.store.revoke_lease(lease).await.unwrap();
}

pub async fn lock_excludes(f: Fixture) {
    let key = f.key("locks/ground-truth");
    let ttl = Duration::from_secs(5);
    let first = Lock::acquire(f.store.clone(), &key, "a", ttl)
        .await
        .unwrap();
    assert!(Lock::try_acquire(f.store.clone(), &key, "b", ttl)
        .await
        .unwrap()
        .is_none());
    let store = f.store.clone();
    let k = key.clone();
    let waiter = tokio::spawn(async move {
        let lock = Lock::acquire(store.clone(), &k, "b", ttl).await.unwrap();
        let holder = store.get(&k).await.unwrap().unwrap();
        lock.release().await.unwrap();
        holder.value
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiter.is_finished(),
        "the second taker waits while the lock is held"
    );
    first.release().await.unwrap();
    let holder = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter gets the lock once it is released")
        .unwrap();
    assert_eq!(holder, b("b"));
}

pub async fn lock_of_dead_holder_expires(f: Fixture) {
    let key = f.key("locks/dead");
    // A holder that died: its key is bound to a lease nobody keeps alive.
    let lease = f.store.grant_lease(Duration::from_secs(2)).await.unwrap();
    f.store.create(&key, b("dead"), Some(lease)).await.unwrap();
    let lock = tokio::time::timeout(
        Duration::from_secs(10),
        Lock::acquire(f.store.clone(), &key, "alive", Duration::from_secs(5)),
    )
    .await
    .expect("the lock is free once the dead holder's lease expires")
    .unwrap();
    assert_eq!(f.store.get(&key).await.unwrap().unwrap().value, b("alive"));
    lock.release().await.unwrap();
    assert_eq!(f.store.get(&key).await.unwrap(), None);
}

pub async fn concurrent_cas_increments(f: Fixture) {
    let key = f.key("counter");
    f.store.put(&key, b("0"), None).await.unwrap();
    let tasks = 16;
    let per_task = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = f.store.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..per_task {
                loop {
                    let kv = store.get(&key).await.unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    match store
                        .compare_and_swap(
                            &key,
                            kv.mod_revision,
                            Bytes::from((n + 1).to_string()),
                            None,
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let kv = f.store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&kv.value).unwrap(),
        (tasks * per_task).to_string(),
        "no increment is lost"
    );
}

/// Expands to one test per conformance case, each with a fresh fixture from `$factory`.
#[macro_export]
macro_rules! store_test_suite {
    ($factory:path) => {
        $crate::store_test_suite!(@cases $factory;
            get_put_roundtrip, create_if_absent, compare_and_swap,
            delete_and_compare_and_delete, list_by_prefix_sorted, list_paginated,
            watch_prefix, lease_expiry_and_keep_alive, lock_excludes,
            lock_of_dead_holder_expires, concurrent_cas_increments);
    };
    (@cases $factory:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::suite::$case($factory(stringify!($case)).await).await;
            }
        )*
    };
}
