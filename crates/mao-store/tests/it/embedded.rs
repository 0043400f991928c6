//! The conformance suite against the embedded backend, plus what only it has to prove:
//! durability across a reopen.

use std::sync::Arc;

use crate::suite::Fixture;
use bytes::Bytes;
use mao_store::embedded::EmbeddedStore;
use mao_store::Store;

async fn fixture(case: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).unwrap();
    Fixture {
        store: Arc::new(store),
        prefix: format!("/test/{case}/"),
        _guard: Box::new(dir),
    }
}

store_test_suite!(fixture);

#[tokio::test]
async fn survives_reopen_and_drops_dead_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let (kept_rev, last_rev) = {
        let store = EmbeddedStore::open(&path).unwrap();
        let kept = store
            .put("/mao/tools/a", Bytes::from_static(b"{}"), None)
            .await
            .unwrap();
        let lease = store
            .grant_lease(std::time::Duration::from_secs(60))
            .await
            .unwrap();
        let last = store
            .put("/mao/nodes/me", Bytes::from_static(b"up"), Some(lease))
            .await
            .unwrap();
        assert!(
            EmbeddedStore::open(&path).is_err(),
            "a second process cannot open the same file"
        );
        (kept, last)
    };
    let store = EmbeddedStore::open(&path).unwrap();
    let kv = store.get("/mao/tools/a").await.unwrap().unwrap();
    assert_eq!(kv.mod_revision, kept_rev);
    assert_eq!(
        store.get("/mao/nodes/me").await.unwrap(),
        None,
        "keys of the previous process's leases are gone"
    );
    assert!(
        store.ping().await.unwrap() > last_rev,
        "revisions keep increasing across a reopen"
    );
}

#[tokio::test]
async fn put_many_is_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
    let before = store.ping().await.unwrap();
    let items = (0..100)
        .map(|i| (format!("/batch/{i:03}"), Bytes::from(i.to_string())))
        .collect();
    let rev = store.put_many(items).await.unwrap();
    assert_eq!(rev, before + 1);
    let page = store
        .list("/batch/", mao_store::ListOptions::default())
        .await
        .unwrap();
    assert_eq!(page.kvs.len(), 100);
    assert!(page.kvs.iter().all(|kv| kv.mod_revision == rev));
}
