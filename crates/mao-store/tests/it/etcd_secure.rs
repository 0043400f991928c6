//! The etcd backend over TLS with client certificates and etcd's authentication: the
//! conformance suite, the failures an operator must be able to act on, and tokens that
//! expire or vanish with an etcd restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use mao_store::etcd::{EtcdConfig, EtcdStore, EtcdTls, EtcdUser};
use mao_store::{Store, StoreError, WatchEvent};
use mao_testkit::etcd::{EtcdOptions, EtcdServer};
use mao_testkit::tls::TestPki;

use crate::suite::Fixture;

const PASSWORD: &str = "s3cret-Pw";

/// An etcd serving TLS only, requiring client certificates, with auth on (user `root`).
fn secure_server(auth_token_ttl: Option<u64>) -> EtcdServer {
    let mut server = EtcdServer::start_with(EtcdOptions {
        tls: true,
        auth_token_ttl,
    });
    server.enable_auth(PASSWORD);
    server
}

fn read(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The configuration of a client with the server's CA, its client certificate and `root`.
fn config(server: &EtcdServer, password: &str) -> EtcdConfig {
    let pki = server.pki().expect("a TLS server");
    EtcdConfig {
        endpoints: vec![server.endpoint()],
        tls: Some(EtcdTls {
            ca_pem: read(pki.ca()),
            client: Some((read(pki.client_cert()), read(pki.client_key()))),
        }),
        user: Some(EtcdUser::new("root", password)),
    }
}

async fn fixture(case: &str) -> Fixture {
    let server = tokio::task::block_in_place(|| secure_server(None));
    let store = EtcdStore::connect_with(config(&server, PASSWORD))
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        prefix: format!("/test/{case}/"),
        _guard: Box::new(server),
    }
}

store_test_suite!(fixture);

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

/// The error of a ping, which must be `Unavailable`.
async fn ping_error(store: &EtcdStore) -> String {
    let e = store.ping().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    println!("{e}");
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_to_fix_and_never_show_the_password() {
    let server = tokio::task::block_in_place(|| secure_server(None));

    let wrong = "wrong-Pw-1234";
    let store = EtcdStore::connect_with(config(&server, wrong))
        .await
        .unwrap();
    let e = ping_error(&store).await;
    assert!(e.contains("wrong user name or password"), "{e}");
    assert!(e.contains("\"root\""), "{e}");
    assert!(!e.contains(wrong) && !e.contains(PASSWORD), "{e}");
    assert!(
        !format!("{:?}", config(&server, wrong)).contains(wrong),
        "Debug shows the password"
    );

    let mut no_user = config(&server, PASSWORD);
    no_user.user = None;
    let store = EtcdStore::connect_with(no_user).await.unwrap();
    let e = ping_error(&store).await;
    assert!(e.contains("etcd_user"), "{e}");

    let mut no_cert = config(&server, PASSWORD);
    no_cert.tls.as_mut().unwrap().client = None;
    let store = EtcdStore::connect_with(no_cert).await.unwrap();
    let e = ping_error(&store).await;
    assert!(e.contains("client certificate"), "{e}");

    let other = TestPki::new();
    let mut untrusted = config(&server, PASSWORD);
    untrusted.tls.as_mut().unwrap().ca_pem = read(other.ca());
    let store = EtcdStore::connect_with(untrusted).await.unwrap();
    let e = ping_error(&store).await;
    assert!(e.contains("not signed by the CA of etcd_ca"), "{e}");

    // A client certificate of another CA: etcd refuses the handshake.
    let mut foreign_cert = config(&server, PASSWORD);
    foreign_cert.tls.as_mut().unwrap().client =
        Some((read(other.client_cert()), read(other.client_key())));
    let store = EtcdStore::connect_with(foreign_cert).await.unwrap();
    let e = ping_error(&store).await;
    assert!(e.contains("client certificate"), "{e}");

    // The right settings work, on the same server.
    let store = EtcdStore::connect_with(config(&server, PASSWORD))
        .await
        .unwrap();
    store.put("/ok", b("1"), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_needs_tls_settings_and_tls_needs_https() {
    let server = tokio::task::block_in_place(|| secure_server(None));
    let mut plain = config(&server, PASSWORD);
    plain.tls = None;
    let e = EtcdStore::connect_with(plain).await.err().unwrap();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    let mut http = config(&server, PASSWORD);
    http.endpoints = vec![server.endpoint().replace("https://", "http://")];
    let e = EtcdStore::connect_with(http).await.err().unwrap();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
}

/// etcd's simple tokens expire: a store used past the token's TTL gets a new one by itself,
/// and a watch opened before keeps delivering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed() {
    let server = tokio::task::block_in_place(|| secure_server(Some(2)));
    let store = EtcdStore::connect_with(config(&server, PASSWORD))
        .await
        .unwrap();
    let r = store.put("/t/a", b("1"), None).await.unwrap();
    let mut events = store.watch("/t/", Some(r + 1)).await.unwrap();
    // etcd checks expiry every second or so; 4 s is well past a 2 s TTL.
    tokio::time::sleep(Duration::from_secs(4)).await;
    store.put("/t/b", b("2"), None).await.unwrap();
    assert_eq!(
        store.get("/t/b").await.unwrap().unwrap().value,
        b("2"),
        "a read after the token expired"
    );
    let lease = store.grant_lease(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    store.keep_alive(lease).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the watch delivers after the token expired")
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, WatchEvent::Put(ref kv) if kv.key == "/t/b"),
        "{event:?}"
    );
}

/// Connecting needs no etcd; after etcd restarts (its tokens are gone) the same store
/// authenticates again and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_connect_and_reconnect_with_tls_and_auth() {
    let mut server = tokio::task::block_in_place(|| secure_server(None));
    tokio::task::block_in_place(|| server.stop());
    let store = EtcdStore::connect_with(config(&server, PASSWORD))
        .await
        .unwrap();
    assert!(ping_error(&store).await.contains("unreachable"));
    tokio::task::block_in_place(|| server.start());
    wait_ok(&store).await;
    store.put("/r/a", b("1"), None).await.unwrap();

    tokio::task::block_in_place(|| {
        server.stop();
        server.start();
    });
    wait_ok(&store).await;
    assert_eq!(store.get("/r/a").await.unwrap().unwrap().value, b("1"));
    store.put("/r/b", b("2"), None).await.unwrap();
}

async fn wait_ok(store: &EtcdStore) {
    let started = Instant::now();
    while let Err(e) = store.ping().await {
        assert!(e.is_unavailable(), "{e}");
        assert!(started.elapsed() < Duration::from_secs(20), "{e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A site's user with a role on the federation's prefix only (as docs/federation.md sets it
/// up): leases, keep-alives, watches and writes under the prefix work; outside it etcd's
/// refusal says what to grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_role_on_the_prefix() {
    let server = tokio::task::block_in_place(|| {
        let server = secure_server(None);
        for args in [
            vec!["role", "add", "mao"],
            vec![
                "role",
                "grant-permission",
                "mao",
                "--prefix=true",
                "readwrite",
                "/fed/",
            ],
            vec!["user", "add", "site-a:site-a-Pw"],
            vec!["user", "grant-role", "site-a", "mao"],
        ] {
            server.etcdctl_ok(&args);
        }
        server
    });
    let mut config = config(&server, PASSWORD);
    config.user = Some(EtcdUser::new("site-a", "site-a-Pw"));
    let store = EtcdStore::connect_with(config).await.unwrap();
    let lease = store.grant_lease(Duration::from_secs(10)).await.unwrap();
    let r = store
        .put("/fed/nodes/a", b("1"), Some(lease))
        .await
        .unwrap();
    let mut events = store.watch("/fed/", Some(r + 1)).await.unwrap();
    store.keep_alive(lease).await.unwrap();
    store.create("/fed/tools/t", b("{}"), None).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, WatchEvent::Put(ref kv) if kv.key == "/fed/tools/t"),
        "{event:?}"
    );
    let e = store.put("/elsewhere", b("1"), None).await.unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert!(e.to_string().contains("may read and write"), "{e}");
}
