//! The running markers of `once` + `forbid` schedules: `<prefix>/running/<id>` says which
//! node runs the schedule now, so no other node starts it meanwhile.
//!
//! A marker is not bound to a lease: it must outlive a restart of its node, whose new
//! process re-attaches the run while the old process's lease is revoked. It counts while
//! its node is a member (its membership entry is alive): a marker of a node that is gone
//! (stopped or cut off past its lease) is ignored and replaced. Its node deletes it when
//! the run ends; the keeper deletes what a release could not, also for runs that a
//! restart re-attached.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mao_api::{Schedule, ScheduleMode};
use mao_store::{KeyValue, Revision, StoreError};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use super::fire::active_of;
use super::Scheduler;

/// How often the keeper looks for markers of this node whose run has ended.
pub(super) const KEEP_EVERY: Duration = Duration::from_secs(5);

/// What a marker records.
#[derive(Serialize, Deserialize)]
struct Running {
    node: String,
    slot: DateTime<Utc>,
    run_id: String,
}

/// The runs whose marker this node has written but that are not active yet (between the
/// marker and the run's submission): the keeper leaves their markers alone.
#[derive(Default)]
pub struct Markers {
    pending: Mutex<HashSet<String>>,
}

/// Why the running marker could not be created.
pub(super) enum Busy {
    /// Another run holds it: the slot is skipped, for the whole federation.
    Running(String),
    /// The store did not say.
    Unknown(String),
}

/// The marker at `kv`, if it still holds the schedule against slot `slot`: this node's
/// own only while its run is active or about to be; another node's while that node is a
/// member, unless it names `slot` itself (whose claim this node holds now: that run never
/// started, its node lost the claim with its lease).
async fn counting(
    state: &Scheduler,
    s: &Schedule,
    slot: DateTime<Utc>,
    kv: &KeyValue,
) -> Option<Running> {
    let Ok(running) = serde_json::from_slice::<Running>(&kv.value) else {
        // Unreadable: it counts (a marker is never ignored lightly), named by nobody.
        return Some(Running {
            node: String::new(),
            slot: DateTime::<Utc>::MIN_UTC,
            run_id: String::new(),
        });
    };
    if running.node == state.node {
        return mine_going(state, &s.id, &running.run_id).then_some(running);
    }
    if running.slot == slot {
        return None;
    }
    match state.store.get(&state.keys.node(&running.node)).await {
        Ok(None) => None,
        // A member, or the store cannot tell: it counts.
        _ => Some(running),
    }
}

/// Whether this node's run `run_id` of `schedule` is going or about to start. Before the
/// runs of a previous process are re-attached, every run of this node may be going.
fn mine_going(state: &Scheduler, schedule: &str, run_id: &str) -> bool {
    // Pending first: a run leaves `pending` only once it is active.
    state.markers.pending.lock().unwrap().contains(run_id)
        || active_of(state, schedule).iter().any(|id| id == run_id)
        || !recovered(state)
}

/// Whether the runs and pipeline runs a previous process left are re-attached.
fn recovered(state: &Scheduler) -> bool {
    *state.executor.recovered().borrow() && state.runner.pipeline_runs.is_recovered()
}

/// Waits until [`recovered`].
pub(super) async fn wait_recovered(state: &Scheduler) {
    let _ = state.executor.recovered().wait_for(|r| *r).await;
    state.runner.pipeline_runs.wait_recovered().await;
}

fn describe(running: &Running) -> String {
    if running.node.is_empty() {
        return "the previous run is still going (concurrency forbid, federation-wide)".into();
    }
    format!(
        "the previous run {} is still going on node {} (concurrency forbid, federation-wide)",
        running.run_id, running.node
    )
}

/// Why a `once` + `forbid` slot must be skipped because of another node's run (its
/// marker names another slot).
pub(super) async fn going_elsewhere(
    state: &Scheduler,
    s: &Schedule,
    slot: DateTime<Utc>,
) -> Option<String> {
    if s.mode != ScheduleMode::Once {
        return None;
    }
    let kv = state.store.get(&state.keys.running(&s.id)).await.ok()??;
    // This node's own runs are the caller's to check (they are active here).
    let running = counting(state, s, slot, &kv).await?;
    (running.node != state.node).then(|| describe(&running))
}

/// Creates the running marker of a `once` + `forbid` schedule for `run_id` (about to be
/// submitted: call [`leave_pending`] once it is, or could not be); why not when another run
/// holds it. A marker that no longer counts is replaced.
pub(super) async fn hold(
    state: &Scheduler,
    s: &Schedule,
    slot: DateTime<Utc>,
    run_id: &str,
) -> Result<Revision, Busy> {
    let key = state.keys.running(&s.id);
    let value = Running {
        node: state.node.clone(),
        slot,
        run_id: run_id.to_owned(),
    };
    let value = Bytes::from(serde_json::to_vec(&value).expect("markers serialize"));
    state
        .markers
        .pending
        .lock()
        .unwrap()
        .insert(run_id.to_owned());
    let mut replaced = false;
    let held = loop {
        match state.store.create(&key, value.clone(), None).await {
            Ok(revision) => break Ok(revision),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => break Err(Busy::Unknown(format!("cannot mark the run as going: {e}"))),
        }
        let Ok(current) = state.store.get(&key).await else {
            break Err(Busy::Unknown("cannot read the running marker".into()));
        };
        let Some(kv) = current else { continue };
        match counting(state, s, slot, &kv).await {
            None if !replaced => {
                // Its run ended, or its node is gone: replace it, once.
                replaced = true;
                let _ = state.store.compare_and_delete(&key, kv.mod_revision).await;
            }
            None => break Err(Busy::Unknown("the running marker keeps changing".into())),
            Some(running) => break Err(Busy::Running(describe(&running))),
        }
    };
    if held.is_err() {
        leave_pending(state, run_id);
    }
    held
}

/// The run of a marker [`hold`] wrote is active now (or will never be).
pub(super) fn leave_pending(state: &Scheduler, run_id: &str) {
    state.markers.pending.lock().unwrap().remove(run_id);
}

/// Deletes the marker of `run_id`, which ended or will never start, in the background;
/// while the store does not answer, tries again for a minute (then the keeper does: a
/// marker left behind would make every other node skip the schedule while this node is a
/// member).
pub(super) fn release(state: &Scheduler, s: &Schedule, run_id: &str, marker: Option<Revision>) {
    leave_pending(state, run_id);
    let Some(revision) = marker else { return };
    let store = state.store.clone();
    let key = state.keys.running(&s.id);
    let id = s.id.clone();
    tokio::spawn(async move {
        for attempt in 0..30 {
            match store.compare_and_delete(&key, revision).await {
                Err(StoreError::Unavailable(e)) => {
                    debug!(schedule = %id, error = %e, attempt, "cannot delete the running marker yet")
                }
                Err(e) => {
                    debug!(schedule = %id, error = %e, "running marker already gone");
                    return;
                }
                Ok(_) => return,
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        warn!(schedule = %id, "could not delete the running marker; the marker keeper will");
    });
}

/// One pass of the keeper: deletes the markers of this node whose run is not going here
/// (ended while a release could not reach the store, or re-attached by a restart and
/// ended since), those of removed schedules, and unreadable ones seen unchanged on two
/// passes (`unreadable`: key to revision, carried from pass to pass). Returns how many it
/// deleted.
pub(super) async fn keep(
    state: &Scheduler,
    unreadable: &mut HashMap<String, Revision>,
) -> Result<usize, StoreError> {
    let prefix = state.keys.collection("running");
    let page = mao_store::list_all(state.store.as_ref(), &prefix, 1000).await?;
    let mut deleted = 0;
    let mut seen = HashMap::new();
    for kv in page.kvs {
        let id = &kv.key[prefix.len()..];
        let stale = match state.schedules.get(id).await {
            Err(e) if e.is_not_found() => true,
            Err(_) => false,
            Ok(_) => match serde_json::from_slice::<Running>(&kv.value) {
                Ok(r) => r.node == state.node && !mine_going(state, id, &r.run_id),
                Err(_) if unreadable.get(&kv.key) == Some(&kv.mod_revision) => {
                    warn!(schedule = %id, "deleting an unreadable running marker");
                    true
                }
                Err(_) => {
                    seen.insert(kv.key.clone(), kv.mod_revision);
                    false
                }
            },
        };
        if stale
            && state
                .store
                .compare_and_delete(&kv.key, kv.mod_revision)
                .await
                .is_ok()
        {
            info!(schedule = %id, "deleted a running marker whose run is over");
            deleted += 1;
        }
    }
    *unreadable = seen;
    Ok(deleted)
}
