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
