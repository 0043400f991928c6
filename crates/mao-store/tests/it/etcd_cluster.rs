//! The etcd backend against a real 3-member cluster with one member down: every request
//! of a store that knows all three endpoints succeeds, whether the leader or a follower
//! went away (issue 12, D1).

use std::time::{Duration, Instant};

use bytes::Bytes;
use mao_store::etcd::EtcdStore;
use mao_store::{Store, StoreError};
use mao_testkit::etcd_cluster::EtcdCluster;

/// Writes and reads this many keys while one member is down.
const OPERATIONS: usize = 300;

/// What one outage run saw.
struct Outage {
    errors: Vec<String>,
    /// From the kill to the first request that succeeded.
    first_success: Duration,
}

/// Kills the leader (or a follower) of a fresh 3-member cluster, then runs
/// [`OPERATIONS`] writes and as many reads through one store with all three endpoints,
/// counting every error.
async fn one_member_down(kill_leader: bool) -> Outage {
    let mut cluster = EtcdCluster::start(3);
    let store = EtcdStore::connect(&cluster.endpoint_list()).await.unwrap();
    // Requests before the fault, so that the store has connections to the members.
    for i in 0..30 {
        store
            .put(&format!("/warm/{i}"), Bytes::from("w"), None)
            .await
            .unwrap();
    }
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let victim = if kill_leader {
        leader
    } else {
        (leader + 1) % 3
    };
    cluster.kill(victim);
    let killed = Instant::now();
    let mut first_success = None;
    let mut errors = Vec::new();
    let mut record = |what: String, result: Result<(), StoreError>| match result {
        Ok(()) => {
            first_success.get_or_insert_with(|| killed.elapsed());
        }
        Err(e) => errors.push(format!("{what}: {e}")),
    };
    for i in 0..OPERATIONS {
        let key = format!("/outage/{i}");
        let value = Bytes::from(format!("v{i}"));
        // Writes of each kind: plain, create-if-absent, compare-and-swap.
        let written = match i % 3 {
            0 => store.put(&key, value.clone(), None).await.map(drop),
            1 => store.create(&key, value.clone(), None).await.map(drop),
            _ => match store.put(&key, Bytes::from("old"), None).await {
                Ok(revision) => store
                    .compare_and_swap(&key, revision, value.clone(), None)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            },
        };
        record(format!("write {key}"), written);
        let read = match store.get(&key).await {
            Ok(Some(kv)) if kv.value == value => Ok(()),
            Ok(other) => Err(StoreError::Internal(format!("read back {other:?}"))),
            Err(e) => Err(e),
        };
        record(format!("read {key}"), read);
    }
    let first_success = first_success.unwrap_or(Duration::MAX);
    Outage {
        errors,
        first_success,
    }
}

fn check(outage: &Outage, what: &str) {
    eprintln!(
        "{what}: {} errors in {} requests; first success {} ms after the kill",
        outage.errors.len(),
        OPERATIONS * 2,
        outage.first_success.as_millis()
    );
    assert!(
        outage.errors.is_empty(),
        "{what}: {} of {} requests failed, the first: {:#?}",
        outage.errors.len(),
        OPERATIONS * 2,
        &outage.errors[..outage.errors.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_succeeds_with_the_leader_killed() {
    let outage = one_member_down(true).await;
    check(&outage, "leader killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_succeeds_with_a_follower_killed() {
    let outage = one_member_down(false).await;
    check(&outage, "follower killed");
}
