//! Cluster membership administration against a real etcd: a learner is added, joins,
//! is promoted once in sync and removed again; etcd's refusals come back as
//! [`StoreError::Refused`] with what to do.

use std::future::Future;
use std::time::{Duration, Instant};

use mao_store::cluster::{Cluster, MemberStatus};
use mao_store::etcd::EtcdStore;
use mao_store::StoreError;
use mao_testkit::etcd::EtcdServer;

/// How long a joined learner may take to answer, and to catch up until a promote passes.
const JOIN_LIMIT: Duration = Duration::from_secs(30);
const RETRY_PAUSE: Duration = Duration::from_millis(200);

async fn store_of(endpoint: String) -> EtcdStore {
    EtcdStore::connect(&[endpoint]).await.unwrap()
}

/// The status of the store's only member once it answers and `accept` holds of it.
async fn wait_status(store: &EtcdStore, accept: impl Fn(&MemberStatus) -> bool) -> MemberStatus {
    let deadline = Instant::now() + JOIN_LIMIT;
    loop {
        let last = match store.status().await {
            Ok(status) if accept(&status) => return status,
            Ok(status) => format!("{status:?}"),
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "{} gave no such status within {JOIN_LIMIT:?} (last: {last})",
            store.endpoints()
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Checks that etcd refused the request with a message holding each of `words`.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, StoreError>, words: &[&str]) {
    match result {
        Err(StoreError::Refused(message)) => {
            for word in words {
                assert!(message.contains(word), "{word:?} missing from: {message}");
            }
        }
        other => panic!("expected etcd to refuse ({words:?}), got {other:?}"),
    }
}

/// Runs `change` until etcd takes it, every [`RETRY_PAUSE`] for at most [`JOIN_LIMIT`];
/// meanwhile etcd may only refuse it (or say it is not ready for it: "unhealthy cluster",
/// the first seconds after a member joined) with a message containing `because`.
async fn until_accepted<F: Future<Output = Result<(), StoreError>>>(
    because: &str,
    change: impl Fn() -> F,
) {
    let deadline = Instant::now() + JOIN_LIMIT;
    loop {
        match change().await {
            Ok(()) => return,
            Err(StoreError::Refused(message) | StoreError::Unavailable(message))
                if Instant::now() < deadline =>
            {
                assert!(message.contains(because), "{message}");
            }
            Err(e) => panic!("the change failed: {e}"),
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

#[tokio::test]
async fn a_learner_joins_is_promoted_and_removed() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;

    let members = store.members().await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    let first = &members[0];
    assert_eq!(first.name, server.name());
    assert_eq!(first.peer_urls, vec![server.peer_url()]);
    assert_eq!(first.client_urls, vec![server.endpoint()]);
    assert!(!first.is_learner);

    let mut joiner = server.joining_member("mao-joiner");
    let added = store.add_learner(&[joiner.peer_url()]).await.unwrap();
    let id = added.member.id;
    assert!(added.member.is_learner, "{added:?}");
    assert_eq!(added.member.name, "", "not started yet: {added:?}");
    assert_eq!(added.member.peer_urls, vec![joiner.peer_url()]);
    assert_eq!(added.members.len(), 2, "{added:?}");
    assert_eq!(store.members().await.unwrap().len(), 2);

    // Not started, so not in sync: refused, with what to do.
    assert_refused(
        store.promote(id).await,
        &["not in sync", &format!("{id:x}")],
    );

    joiner.start(&added.initial_cluster(joiner.name()));
    let joined = store_of(joiner.endpoint()).await;
    let status = wait_status(&joined, |s| s.leader != 0).await;
    assert_eq!(status.member_id, id);
    assert!(status.is_learner, "before the promote: {status:?}");
    assert_eq!(status.leader, first.id);
    // A learner serves Status only: a store that knows no voter says so.
    match joined.members().await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("voting member"), "{message}")
        }
        other => panic!("the member list from a learner: {other:?}"),
    }

    until_accepted("not in sync", || store.promote(id)).await;
    let members = store.members().await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().all(|m| !m.is_learner), "{members:?}");
    let promoted = members.iter().find(|m| m.id == id).unwrap();
    assert_eq!(promoted.name, joiner.name());
    assert_eq!(promoted.client_urls, vec![joiner.endpoint()]);
    // The new voter applies its promotion when the entry reaches it.
    let status = wait_status(&joined, |s| !s.is_learner).await;
    assert_eq!(status.member_id, id);
    assert!(status.raft_index > 0, "{status:?}");
    assert!(status.errors.is_empty(), "{status:?}");

    // etcd refuses to remove a member until the leader has been connected to every voter
    // for a few seconds (--strict-reconfig-check), which the new one was not yet.
    until_accepted("could break the quorum", || store.remove(id)).await;
    let members = store.members().await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].id, first.id);
}

#[tokio::test]
async fn removing_an_unknown_member_is_refused() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;
    assert_refused(
        store.remove(0xdead_beef).await,
        &["deadbeef", "not a member"],
    );
    assert_eq!(store.members().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_peer_url_in_use_is_refused() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;
    // The voter's own peer URL, and a learner's added before.
    let joiner = server.joining_member("mao-joiner");
    store.add_learner(&[joiner.peer_url()]).await.unwrap();
    for url in [server.peer_url(), joiner.peer_url()] {
        let added = store.add_learner(std::slice::from_ref(&url)).await;
        assert_refused(added, &[&url, "peer URLs of a member already"]);
    }
    assert_eq!(store.members().await.unwrap().len(), 2);
}

#[tokio::test]
async fn promoting_a_voter_is_refused() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;
    let voter = store.status().await.unwrap().member_id;
    assert_refused(store.promote(voter).await, &["voting member already"]);
}
