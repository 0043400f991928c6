//! The conformance suite against a real etcd (Debian's etcd-server), one server per test.

use std::sync::Arc;

use mao_store::etcd::EtcdStore;
use mao_testkit::etcd::EtcdServer;

use crate::suite::Fixture;

async fn fixture(case: &str) -> Fixture {
    let server = EtcdServer::start_new();
    let store = EtcdStore::connect(&[server.endpoint()]).await.unwrap();
    Fixture {
        store: Arc::new(store),
        prefix: format!("/test/{case}/"),
        _guard: Box::new(server),
    }
}

store_test_suite!(fixture);

/// A keeper that cannot reach etcd for a whole TTL presumes its lease expired (etcd may
/// have let it go): its owner must not go on as if it held what the lease held.
#[tokio::test]
async fn a_lease_unkept_for_its_ttl_is_presumed_lost() {
    use std::time::Duration;
    let mut server = EtcdServer::start_new();
    let store: Arc<dyn mao_store::Store> =
        Arc::new(EtcdStore::connect(&[server.endpoint()]).await.unwrap());
    let keeper = mao_store::lease::LeaseKeeper::grant(store, Duration::from_secs(2))
        .await
        .unwrap();
    let mut lost = keeper.lost();
    // Kept while etcd answers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!*lost.borrow());
    server.stop();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(20), lost.wait_for(|l| *l))
        .await
        .expect("the keeper gave the lease up")
        .unwrap();
    // About one TTL after the last keep-alive that got through, not much later.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
