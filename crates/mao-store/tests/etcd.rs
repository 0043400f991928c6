//! The conformance suite against a real etcd (Debian's etcd-server), one server per test.

#[macro_use]
mod suite;
mod common;

use std::sync::Arc;

use common::etcd_server::EtcdServer;
use mao_store::etcd::EtcdStore;
use suite::Fixture;

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
