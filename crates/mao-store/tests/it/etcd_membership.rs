//! Cluster membership administration against a real etcd: a learner is added, joins,
//! is promoted once in sync and removed again; etcd's refusals come back as
//! [`StoreError::Refused`] with what to do.

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
    match store.promote(id).await {
        Err(StoreError::Refused(message)) => {
            assert!(message.contains("not in sync"), "{message}");
            assert!(message.contains(&format!("{id:x}")), "{message}");
        }
        other => panic!("promoting a learner that never ran: {other:?}"),
    }

    joiner.start(&added.initial_cluster(joiner.name()));
    let joined = store_of(joiner.endpoint()).await;
    let status = wait_status(&joined, |s| s.leader != 0).await;
    assert_eq!(status.member_id, id);
    assert!(status.is_learner, "before the promote: {status:?}");
    assert_eq!(status.leader, first.id);

    let deadline = Instant::now() + JOIN_LIMIT;
    loop {
        match store.promote(id).await {
            Ok(()) => break,
            Err(StoreError::Refused(message)) if Instant::now() < deadline => {
                assert!(message.contains("not in sync"), "{message}");
            }
            Err(e) => panic!("promote: {e}"),
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
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
    let deadline = Instant::now() + JOIN_LIMIT;
    loop {
        match store.remove(id).await {
            Ok(()) => break,
            Err(StoreError::Refused(message)) if Instant::now() < deadline => {
                assert!(message.contains("could break the quorum"), "{message}");
            }
            Err(e) => panic!("remove: {e}"),
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    let members = store.members().await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].id, first.id);
}

#[tokio::test]
async fn removing_an_unknown_member_is_refused() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;
    match store.remove(0xdead_beef).await {
        Err(StoreError::Refused(message)) => {
            assert!(message.contains("deadbeef"), "{message}");
            assert!(message.contains("not a member"), "{message}");
        }
        other => panic!("removing an unknown member: {other:?}"),
    }
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
        match store.add_learner(std::slice::from_ref(&url)).await {
            Err(StoreError::Refused(message)) => {
                assert!(message.contains(&url), "{message}");
                assert!(
                    message.contains("peer URLs of a member already"),
                    "{message}"
                );
            }
            other => panic!("adding {url} again: {other:?}"),
        }
    }
    assert_eq!(store.members().await.unwrap().len(), 2);
}

#[tokio::test]
async fn promoting_a_voter_is_refused() {
    let server = EtcdServer::start_new();
    let store = store_of(server.endpoint()).await;
    let voter = store.status().await.unwrap().member_id;
    match store.promote(voter).await {
        Err(StoreError::Refused(message)) => {
            assert!(message.contains("voting member already"), "{message}")
        }
        other => panic!("promoting a voter: {other:?}"),
    }
}
