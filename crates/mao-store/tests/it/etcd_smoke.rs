//! Quick checks of the etcd backend against a real etcd, including an outage.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use mao_store::etcd::EtcdStore;
use mao_store::{ListOptions, Store, StoreError, WatchEvent};
use mao_testkit::etcd::EtcdServer;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

async fn store_for(server: &EtcdServer) -> EtcdStore {
    EtcdStore::connect(&[server.endpoint()]).await.unwrap()
}

/// Compacts etcd's history up to `revision` with a plain client.
async fn compact(server: &EtcdServer, revision: i64) {
    let mut client = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    client
        .compact(
            revision,
            Some(etcd_client::CompactionOptions::new().with_physical()),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_operations() {
    let server = EtcdServer::start_new();
    let store = store_for(&server).await;
    assert_eq!(store.backend(), "etcd");
    let r0 = store.ping().await.unwrap();

    assert_eq!(store.get("/k/a").await.unwrap(), None);
    let r1 = store.put("/k/a", b("one"), None).await.unwrap();
    assert!(r1 > r0);
    let kv = store.get("/k/a").await.unwrap().unwrap();
    assert_eq!(
        (
            kv.value.clone(),
            kv.create_revision,
            kv.mod_revision,
            kv.lease
        ),
        (b("one"), r1, r1, None)
    );
    assert_eq!(store.ping().await.unwrap(), r1);

    // create
    assert!(matches!(
        store.create("/k/a", b("x"), None).await,
        Err(StoreError::AlreadyExists { key }) if key == "/k/a"
    ));
    let rc = store.create("/k/b", b("b"), None).await.unwrap();
    assert_eq!(store.get("/k/b").await.unwrap().unwrap().mod_revision, rc);

    // compare_and_swap
    assert!(matches!(
        store.compare_and_swap("/k/missing", 1, b("x"), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.compare_and_swap("/k/missing", 0, b("x"), None).await,
        Err(StoreError::NotFound { .. })
    ));
    let r2 = store
        .compare_and_swap("/k/a", r1, b("two"), None)
        .await
        .unwrap();
    match store.compare_and_swap("/k/a", r1, b("stale"), None).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (r1, Some(r2))),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let kv = store.get("/k/a").await.unwrap().unwrap();
    assert_eq!((kv.value, kv.create_revision), (b("two"), r1));

    // delete and compare_and_delete
    assert_eq!(store.delete("/k/missing").await.unwrap(), None);
    let rd = store.delete("/k/b").await.unwrap().unwrap();
    assert!(rd > r2);
    assert_eq!(store.get("/k/b").await.unwrap(), None);
    assert!(matches!(
        store.compare_and_delete("/k/a", r1).await,
        Err(StoreError::Conflict { actual: Some(a), .. }) if a == r2
    ));
    let rcd = store.compare_and_delete("/k/a", r2).await.unwrap();
    assert!(rcd > rd);
    assert!(matches!(
        store.compare_and_delete("/k/a", r2).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_and_pins() {
    let server = EtcdServer::start_new();
    let store = store_for(&server).await;
    for k in ["l/c", "l/a", "l/b", "l/d", "l/e", "l-other", "k"] {
        store.put(&format!("/{k}"), b(k), None).await.unwrap();
    }
    let all = store.list("/l/", ListOptions::default()).await.unwrap();
    let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/l/a", "/l/b", "/l/c", "/l/d", "/l/e"]);
    assert!(!all.more);
    assert_eq!(all.revision, store.ping().await.unwrap());
    assert_eq!(all.kvs[0].value, b("l/a"));

    // Pages of two, pinned at the first page's revision, across a concurrent write.
    let first_options = ListOptions {
        limit: Some(2),
        ..ListOptions::default()
    };
    let first = store.list("/l/", first_options.clone()).await.unwrap();
    assert_eq!(first.kvs.len(), 2);
    assert!(first.more);
    store.put("/l/bb", b("late"), None).await.unwrap();
    let mut options = first_options.next_page(&first).unwrap();
    let mut keys: Vec<_> = first.kvs.iter().map(|kv| kv.key.clone()).collect();
    loop {
        let page = store.list("/l/", options.clone()).await.unwrap();
        assert_eq!(
            page.revision, first.revision,
            "pages keep the pinned revision"
        );
        keys.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        match options.next_page(&page) {
            Some(next) => options = next,
            None => break,
        }
    }
    assert_eq!(keys, ["/l/a", "/l/b", "/l/c", "/l/d", "/l/e"]);

    // start_after alone, before the prefix, and past its end.
    let page = store
        .list(
            "/l/",
            ListOptions {
                start_after: Some("/l/c".into()),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap();
    let keys: Vec<_> = page.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/l/d", "/l/e"]);
    let before = ListOptions {
        start_after: Some("/a".into()),
        ..ListOptions::default()
    };
    assert_eq!(store.list("/l/", before).await.unwrap().kvs.len(), 6);
    let past = ListOptions {
        start_after: Some("/m".into()),
        ..ListOptions::default()
    };
    let page = store.list("/l/", past).await.unwrap();
    assert!(page.kvs.is_empty() && !page.more);
    let empty = store
        .list("/nothing/", ListOptions::default())
        .await
        .unwrap();
    assert!(empty.kvs.is_empty() && !empty.more);
    let zero = ListOptions {
        limit: Some(0),
        ..ListOptions::default()
    };
    let page = store.list("/l/", zero).await.unwrap();
    assert!(page.kvs.is_empty() && page.more);
    let everything = store.list("", ListOptions::default()).await.unwrap();
    assert_eq!(everything.kvs.len(), 8);

    // A pin below the compaction point is Compacted.
    let now = store.ping().await.unwrap();
    compact(&server, now).await;
    let stale = ListOptions {
        revision: Some(first.revision),
        ..ListOptions::default()
    };
    assert!(matches!(
        store.list("/l/", stale).await,
        Err(StoreError::Compacted(r)) if r == first.revision
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_and_compaction() {
    let server = EtcdServer::start_new();
    let store = store_for(&server).await;
    let start = store.ping().await.unwrap() + 1;
    let mut events = store.watch("/w/", Some(start)).await.unwrap();
    let mut live = store.watch("/w/", None).await.unwrap();
    let r1 = store.put("/w/a", b("1"), None).await.unwrap();
    store.put("/x/a", b("x"), None).await.unwrap();
    let r3 = store.delete("/w/a").await.unwrap().unwrap();
    for stream in [&mut events, &mut live] {
        let mut got = Vec::new();
        while got.len() < 2 {
            let e = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream is open")
                .expect("no watch error");
            got.push(e);
        }
        match &got[0] {
            WatchEvent::Put(kv) => {
                assert_eq!((kv.key.as_str(), kv.value.clone()), ("/w/a", b("1")));
                assert_eq!((kv.create_revision, kv.mod_revision), (r1, r1));
            }
            e => panic!("expected a put, got {e:?}"),
        }
        assert_eq!(
            got[1],
            WatchEvent::Delete {
                key: "/w/a".into(),
                revision: r3
            }
        );
    }

    // A watch from before the compaction point ends with Compacted.
    let now = store.ping().await.unwrap();
    compact(&server, now).await;
    let outcome = match store.watch("/w/", Some(r1)).await {
        Err(e) => Err(e),
        Ok(mut stream) => tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the compacted watch ends within 5 s")
            .expect("an error, not the end of the stream"),
    };
    assert!(
        matches!(outcome, Err(StoreError::Compacted(r)) if r == now),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_and_refresh() {
    let server = EtcdServer::start_new();
    let store = store_for(&server).await;
    assert!(matches!(
        store.grant_lease(Duration::ZERO).await,
        Err(StoreError::Invalid(_))
    ));
    // 1.2 s rounds up to 2 s.
    let kept = store
        .grant_lease(Duration::from_millis(1200))
        .await
        .unwrap();
    let lease = store.grant_lease(Duration::from_secs(2)).await.unwrap();
    store.put("/n/kept", b("up"), Some(kept)).await.unwrap();
    let r = store.create("/n/gone", b("up"), Some(lease)).await.unwrap();
    assert_eq!(
        store.get("/n/gone").await.unwrap().unwrap().lease,
        Some(lease)
    );
    let mut events = store.watch("/n/gone", Some(r + 1)).await.unwrap();

    let started = Instant::now();
    while store.get("/n/gone").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "the key of an expired lease vanishes within 6 s"
        );
        store.keep_alive(kept).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(event, WatchEvent::Delete { ref key, .. } if key == "/n/gone"));
    assert!(
        store.get("/n/kept").await.unwrap().is_some(),
        "the refreshed lease outlives its TTL"
    );
    assert!(matches!(
        store.keep_alive(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
    assert!(matches!(
        store.put("/n/late", b("x"), Some(lease)).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
    assert!(matches!(
        store.create("/n/late", b("x"), Some(lease)).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    store.revoke_lease(lease).await.unwrap();
    store.revoke_lease(kept).await.unwrap();
    assert_eq!(store.get("/n/kept").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_an_outage() {
    let mut server = EtcdServer::start_new();
    let store = store_for(&server).await;
    let r = store.put("/o/a", b("1"), None).await.unwrap();
    let mut events = store.watch("/o/", Some(r + 1)).await.unwrap();

    server.stop();
    let started = Instant::now();
    match store.get("/o/a").await {
        Err(e @ StoreError::Unavailable(_)) => {
            assert!(e.to_string().contains(&server.endpoint()), "{e}")
        }
        other => panic!("expected Unavailable while etcd is down, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(store.ping().await.unwrap_err().is_unavailable());
    let ended = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the watch notices the outage within 5 s");
    assert!(
        matches!(ended, Some(Err(StoreError::Unavailable(_)))),
        "{ended:?}"
    );

    tokio::task::block_in_place(|| server.start());
    let started = Instant::now();
    loop {
        match store.get("/o/a").await {
            Ok(kv) => {
                assert_eq!(kv.unwrap().value, b("1"));
                break;
            }
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no recovery within 10 s: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    store.put("/o/b", b("2"), None).await.unwrap();
    let mut events = store.watch("/o/", Some(r + 1)).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e.key(), "/o/b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_while_etcd_is_down() {
    let mut server = EtcdServer::start_new();
    server.stop();
    let store = EtcdStore::connect(&[server.endpoint()]).await.unwrap();
    assert!(store.ping().await.unwrap_err().is_unavailable());
    tokio::task::block_in_place(|| server.start());
    let started = Instant::now();
    while let Err(e) = store.ping().await {
        assert!(e.is_unavailable(), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10), "{e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.put("/c/a", b("1"), None).await.unwrap();
}
