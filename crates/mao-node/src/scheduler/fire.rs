//! Firing one slot: what it runs, the fence, the claim (`once` mode), the concurrency
//! policy, the run.
//!
//! A `once` slot goes through these steps, each a single store operation:
//! 1. with concurrency `forbid`, a run of the schedule still going anywhere in the
//!    federation (its marker `<prefix>/running/<id>`, see [`super::markers`]) skips the
//!    slot on every node alike;
//! 2. the claim `<prefix>/claims/<id>/<slot>` is created if absent, bound to the claimer's
//!    membership lease: a claimer that dies before starting the run loses it with its
//!    lease, and the nodes that found it taken stand by to take the slot over;
//! 3. (`forbid`) the claimer creates the running marker;
//! 4. the claim is bound to the run id by a compare-and-swap on the claim's revision,
//!    without lease; only then does the run start. A claimer whose lease expired meanwhile
//!    (stopped, cut off) finds its claim gone or replaced and starts nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mao_api::{Concurrency, Schedule, ScheduleMode, SlotOutcome, SlotRecord, Target};
use mao_store::{Revision, StoreError};
use tracing::{debug, info, warn};

use super::claims::Claim;
use super::markers::{self, Busy};
use super::tick::slot_record;
use super::tick::RETRY_UNRUN;
use super::{Compiled, Scheduler};
use crate::executor::{new_run_id, RunError, Trigger};
use crate::local::Binding;
use crate::membership::Standing;
use crate::pipeline::PipelineError;
use crate::registry::RegistryError;
use crate::{failpoint, pipeline};

/// How often a node standing by for a slot claimed by another looks at the claim.
const STANDBY_POLL: Duration = Duration::from_millis(250);
/// The longest a node stands by for a claim that is neither started nor given back.
const STANDBY_LIMIT: Duration = Duration::from_secs(600);

/// What a slot runs.
enum What {
    Tool(Box<mao_api::Tool>),
    Pipeline(mao_api::Pipeline),
}

/// A slot being fired (boxed: a standby fires its slot again, from a task `fire` spawned).
pub(super) type Firing<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = SlotRecord> + Send + 'a>>;

/// Fires one slot: fence, claim (once mode), concurrency policy, run.
pub(super) fn fire<'a>(
    state: &'a Arc<Scheduler>,
    c: &'a Arc<Compiled>,
    slot: DateTime<Utc>,
) -> Firing<'a> {
    Box::pin(fire_slot(state, c, slot))
}

async fn fire_slot(state: &Arc<Scheduler>, c: &Arc<Compiled>, slot: DateTime<Utc>) -> SlotRecord {
    let s = &c.schedule;
    let skipped = |reason: String| skip(state, s, slot, reason);
    if s.suspended {
        return skipped("the schedule is paused".into());
    }
    // Checked before claiming: a node that cannot run the slot must leave it to another.
    let what = match resolve(state, s).await {
        Ok(w) => w,
        Err(Unrunnable::Now(reason)) => return missed(state, s, slot, reason),
        Err(Unrunnable::Refused(reason)) => return skipped(reason),
    };
    if s.mode == ScheduleMode::EveryNode {
        return match state.fence.confirm(state.store.as_ref()).await {
            Ok(Standing::Held) => start(state, s, slot, what, None).await,
            Ok(Standing::Degraded(reason)) => {
                debug!(schedule = %s.id, %slot, %reason, "firing in degraded-local mode");
                start(state, s, slot, what, None).await
            }
            Err(fenced) => missed(state, s, slot, format!("fenced: {fenced}")),
        };
    }
    // A once slot this node cannot claim now is missed, not skipped: planned again, it
    // finds the claim of whichever node ran it meanwhile, or claims it then.
    let lease = match state.fence.confirm(state.store.as_ref()).await {
        Ok(Standing::Held) => match state.fence.check() {
            Ok(lease) => lease,
            Err(fenced) => return missed(state, s, slot, format!("fenced: {fenced}")),
        },
        Ok(Standing::Degraded(reason)) => {
            return missed(state, s, slot, format!("cannot claim the slot: {reason}"))
        }
        Err(fenced) => return missed(state, s, slot, format!("fenced: {fenced}")),
    };
    if s.concurrency == Concurrency::Forbid {
        if let Some(reason) = still_going(state, s, slot).await {
            return skipped(reason);
        }
    }
    let claim_key = state.keys.claim(&s.id, &slot);
    let value = claim_value(&state.node, slot, None, None);
    match state.store.create(&claim_key, value, lease).await {
        Ok(revision) => start(state, s, slot, what, Some(revision)).await,
        Err(StoreError::AlreadyExists { .. }) => {
            let (holder, started) = match state.store.get(&claim_key).await {
                Ok(Some(kv)) => match serde_json::from_slice::<Claim>(&kv.value) {
                    // This node's own claim from an attempt whose answer was lost (a
                    // create that timed out, yet was applied): it is this node's to run.
                    Ok(claim) if claim.node == state.node && !claim.settled() => {
                        info!(schedule = %s.id, %slot, "resuming this node's own claim of the slot");
                        return start(state, s, slot, what, Some(kv.mod_revision)).await;
                    }
                    Ok(claim) => (claim.node.clone(), claim.settled()),
                    Err(_) => ("another node".into(), true),
                },
                // Gone already: given back, or its claimer's lease ended; plan it again.
                Ok(None) => {
                    return missed(state, s, slot, "the claim vanished; planned again".into())
                }
                Err(e) => return missed(state, s, slot, format!("cannot read the claim: {e}")),
            };
            if !started {
                tokio::spawn(standby(state.clone(), c.clone(), slot, holder.clone()));
            }
            skipped(format!("claimed by node {holder}"))
        }
        Err(e) => missed(state, s, slot, format!("cannot claim the slot: {e}")),
    }
}

/// A slot this node could not run for a passing reason (the store or the Engine does not
/// answer): it is not handled, and follows the catch-up policy once the node can run it.
fn missed(state: &Scheduler, s: &Schedule, slot: DateTime<Utc>, reason: String) -> SlotRecord {
    debug!(schedule = %s.id, %slot, %reason, "slot could not run; it follows the catch-up policy");
    slot_record(state, s, slot, SlotOutcome::Missed, None, Some(reason))
}

/// Why a slot cannot run on this node.
enum Unrunnable {
    /// For now: what it needs does not answer.
    Now(String),
    /// Because of what it is (unknown tool, refused by the node's policy, full queue).
    Refused(String),
}

fn skip(state: &Scheduler, s: &Schedule, slot: DateTime<Utc>, reason: String) -> SlotRecord {
    debug!(schedule = %s.id, %slot, %reason, "slot skipped");
    slot_record(state, s, slot, SlotOutcome::Skipped, None, Some(reason))
}

fn claim_value(
    node: &str,
    slot: DateTime<Utc>,
    run_id: Option<String>,
    skipped: Option<String>,
) -> Bytes {
    let claim = Claim {
        node: node.to_owned(),
        slot,
        run_id,
        skipped,
    };
    Bytes::from(serde_json::to_vec(&claim).expect("claims serialize"))
}

/// The tool or pipeline the slot runs, if this node can run it now.
async fn resolve(state: &Scheduler, s: &Schedule) -> Result<What, Unrunnable> {
    let registry = |what: &str, name: &str, e: RegistryError| {
        let reason = format!("cannot run {what} {name}: {e}");
        match e {
            RegistryError::Store(StoreError::Unavailable(_)) => Unrunnable::Now(reason),
            _ => Unrunnable::Refused(reason),
        }
    };
    let what = match &s.target {
        Target::Tool(name) => match state.tools.get_or_stale(name).await {
            Ok((tool, _)) => What::Tool(Box::new(tool)),
            Err(e) => return Err(registry("tool", name, e)),
        },
        Target::Pipeline(name) => match state.pipelines.get_or_stale(name).await {
            Ok((p, _)) => What::Pipeline(p),
            Err(e) => return Err(registry("pipeline", name, e)),
        },
    };
    let can_run = match &what {
        What::Tool(tool) => state.executor.check_can_run(tool).await.map_err(|e| {
            let passing = matches!(e, RunError::RuntimeUnavailable(_));
            (e.to_string(), passing)
        }),
        What::Pipeline(p) => pipeline::check_can_run(&state.runner, p)
            .await
            .map_err(|e| {
                let passing = matches!(
                    e,
                    PipelineError::Run(RunError::RuntimeUnavailable(_))
                        | PipelineError::Store(StoreError::Unavailable(_))
                );
                (e.to_string(), passing)
            }),
    };
    match can_run {
        Ok(()) => Ok(what),
        Err((e, true)) => Err(Unrunnable::Now(format!("this node cannot run it now: {e}"))),
        Err((e, false)) => Err(Unrunnable::Refused(format!(
            "this node cannot run it now: {e}"
        ))),
    }
}

/// This node's runs and pipeline runs of schedule `id` that have not ended.
pub(super) fn active_of(state: &Scheduler, id: &str) -> Vec<String> {
    let mut active = state.runner.pipeline_runs.active_of(id);
    active.extend(state.executor.active_runs_of(id));
    active
}

/// Why a `forbid` slot must be skipped: a run of the schedule is still going on this node,
/// or on another (its running marker, which names another slot).
async fn still_going(state: &Scheduler, s: &Schedule, slot: DateTime<Utc>) -> Option<String> {
    let active = active_of(state, &s.id);
    if !active.is_empty() {
        return Some(format!(
            "the previous run {} is still going (concurrency forbid)",
            active.join(", ")
        ));
    }
    markers::going_elsewhere(state, s, slot).await
}

/// Starts the run of a slot this node may run: for `once`, the claim at `claimed` is
/// this node's; it is bound to the run before the run starts.
async fn start(
    state: &Arc<Scheduler>,
    s: &Schedule,
    slot: DateTime<Utc>,
    what: What,
    claimed: Option<Revision>,
) -> SlotRecord {
    let skipped = |reason: String| skip(state, s, slot, reason);
    let claim_key = state.keys.claim(&s.id, &slot);
    let run_id = new_run_id();
    let mut marker = None;
    if let Some(revision) = claimed {
        failpoint::pause("after_claim").await;
        if let Err(fenced) = state.fence.check() {
            let _ = state.store.compare_and_delete(&claim_key, revision).await;
            return missed(
                state,
                s,
                slot,
                format!("fenced after claiming, slot given back: {fenced}"),
            );
        }
        if s.concurrency == Concurrency::Forbid {
            match markers::hold(state, s, slot, &run_id).await {
                Ok(revision) => marker = Some(revision),
                Err(Busy::Unknown(reason)) => {
                    // Not decided: give the slot back and plan it again. (A marker the
                    // store may have written meanwhile names a run that never starts: the
                    // keeper deletes it, or this node replaces it at its next slot.)
                    let _ = state.store.compare_and_delete(&claim_key, revision).await;
                    return missed(state, s, slot, reason);
                }
                Err(Busy::Running(reason)) => {
                    // Decided for the federation: the claim says the slot was skipped.
                    let _ = state
                        .store
                        .compare_and_swap(
                            &claim_key,
                            revision,
                            claim_value(&state.node, slot, None, Some(reason.clone())),
                            None,
                        )
                        .await;
                    return skipped(reason);
                }
            }
        }
        // Written before the claim names the run: if this process dies before the run
        // is queued, its successor finds the binding and fires the slot again.
        let binding = Binding {
            schedule: s.id.clone(),
            slot,
            run_id: run_id.clone(),
        };
        if let Err(e) = state.local.save_binding(&binding).await {
            markers::release(state, s, &run_id, marker);
            let _ = state.store.compare_and_delete(&claim_key, revision).await;
            return missed(
                state,
                s,
                slot,
                format!("cannot save the slot's binding: {e}"),
            );
        }
        if let Err(record) = bind(state, s, slot, revision, &run_id, marker).await {
            clear_binding(state, &run_id).await;
            return *record;
        }
        failpoint::pause("after_bind").await;
    }
    // This node's own runs of the schedule; a once + forbid slot checked them (and the
    // federation's marker) before claiming. Replace cancels only this node's runs: across
    // nodes, a once schedule with replace behaves as allow.
    let active = active_of(state, &s.id);
    if !active.is_empty() {
        match s.concurrency {
            Concurrency::Forbid if claimed.is_none() => {
                return skipped(format!(
                    "the previous run {} is still going (concurrency forbid)",
                    active.join(", ")
                ))
            }
            Concurrency::Replace => {
                for id in &active {
                    // A pipeline run's id or a run's: whichever it is, it is cancelled.
                    if pipeline::cancel(&state.runner, id).await.is_err() {
                        let _ = state.executor.cancel(id).await;
                    }
                }
            }
            _ => {}
        }
    }
    let trigger = Trigger::Schedule {
        id: s.id.clone(),
        slot,
    };
    let is_pipeline = matches!(what, What::Pipeline(_));
    let submitted = match what {
        What::Tool(tool) => state
            .executor
            .submit_as(&tool, s.overrides.clone(), trigger, run_id.clone())
            .await
            .map(|r| r.id)
            .map_err(|e| e.to_string()),
        What::Pipeline(p) => pipeline::submit_as(&state.runner, p, trigger, run_id.clone())
            .await
            .map(|r| r.id)
            .map_err(|e| e.to_string()),
    };
    // Active now, or never: either way the keeper may judge its marker from here on,
    // and a restart need not fire the slot again.
    markers::leave_pending(state, &run_id);
    if claimed.is_some() {
        clear_binding(state, &run_id).await;
    }
    match submitted {
        Ok(run_id) => {
            if marker.is_some() {
                let state = state.clone();
                let s = s.clone();
                let run = run_id.clone();
                tokio::spawn(async move {
                    wait_run(&state, &run, is_pipeline).await;
                    markers::release(&state, &s, &run, marker);
                });
            }
            info!(schedule = %s.id, %slot, %run_id, "slot fired");
            slot_record(state, s, slot, SlotOutcome::Fired, Some(run_id), None)
        }
        Err(e) => {
            markers::release(state, s, &run_id, marker);
            if claimed.is_some() {
                // Give the slot back and plan it again: the standbys have seen it bound
                // and left, so this node must not drop it.
                let _ = state.store.delete(&claim_key).await;
                return missed(state, s, slot, format!("the run could not start: {e}"));
            }
            skipped(format!("the run could not start: {e}"))
        }
    }
}

/// Binds this node's claim at `revision` to `run_id` (compare-and-swap, without lease);
/// the slot's record when it could not be.
async fn bind(
    state: &Scheduler,
    s: &Schedule,
    slot: DateTime<Utc>,
    revision: Revision,
    run_id: &str,
    marker: Option<Revision>,
) -> Result<(), Box<SlotRecord>> {
    let claim_key = state.keys.claim(&s.id, &slot);
    let bound = claim_value(&state.node, slot, Some(run_id.to_owned()), None);
    let Err(e) = state
        .store
        .compare_and_swap(&claim_key, revision, bound, None)
        .await
    else {
        return Ok(());
    };
    // The answer may be lost while the swap was applied: what the claim says now
    // decides. Ours with this run: go on. Gone, or still unbound: not run, planned
    // again (it then finds whoever took it). Another's: theirs.
    let now = state.store.get(&claim_key).await;
    let current = match &now {
        Ok(Some(kv)) => serde_json::from_slice::<Claim>(&kv.value).ok(),
        _ => None,
    };
    match current {
        Some(c) if c.run_id.as_deref() == Some(run_id) => Ok(()),
        Some(c) if c.node != state.node => {
            markers::release(state, s, run_id, marker);
            Err(Box::new(skip(
                state,
                s,
                slot,
                format!("claimed by node {}", c.node),
            )))
        }
        _ => {
            markers::release(state, s, run_id, marker);
            // Still ours if the store only failed to answer: give it back.
            let _ = state.store.compare_and_delete(&claim_key, revision).await;
            Err(Box::new(missed(
                state,
                s,
                slot,
                format!("the claim could not be bound to the run ({e}); planned again"),
            )))
        }
    }
}

/// Slots a crash interrupted between binding their claim to a run and queueing the run
/// (their binding is still in the local store): the claim names a run nobody has, and
/// the nodes that stood by for it have left. Each is claimed again by this node and
/// fired, within its starting deadline; a binding the store cannot settle yet is tried
/// again every few seconds.
pub(super) async fn resume_bindings(state: Arc<Scheduler>) {
    let Ok(bindings) = state.local.bindings().await else {
        return;
    };
    for b in bindings {
        // Only a run known to be absent was never queued (a record that cannot be read
        // may exist: firing again could run the slot twice).
        let unknown = matches!(
            state.executor.get(&b.run_id).await,
            Err(RunError::NotFound { .. })
        ) && matches!(
            pipeline::get(&state.runner, &b.run_id).await,
            Err(PipelineError::NotFound { .. })
        );
        if unknown {
            settle(&state, &b).await;
        }
        clear_binding(&state, &b.run_id).await;
    }
}

/// Deletes a binding, trying a few times: one left behind would be looked at again at the
/// next start.
async fn clear_binding(state: &Scheduler, run_id: &str) {
    for attempt in 0..3 {
        match state.local.clear_binding(run_id).await {
            Ok(()) => return,
            Err(e) => warn!(%run_id, error = %e, attempt, "cannot delete a slot's binding"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fires binding `b`'s slot again if its claim still names `b`'s run; while the store
/// cannot tell, tries again every few seconds.
async fn settle(state: &Arc<Scheduler>, b: &Binding) {
    loop {
        match reopen(state, b).await {
            Ok(Some(record)) => {
                if let Err(e) = state.local.save_slots(&[], &[record]).await {
                    warn!(schedule = %b.schedule, error = %e, "cannot save a slot record");
                }
                return;
            }
            Ok(None) => return,
            Err(e) => {
                debug!(schedule = %b.schedule, slot = %b.slot, error = %e, "cannot settle an interrupted slot yet");
                tokio::time::sleep(RETRY_UNRUN).await;
            }
        }
    }
}

/// Fires again the slot of binding `b` if its claim still names `b`'s run: the claim is
/// made this node's (unbound, on its lease) and the slot fired. `None`: nothing to do.
async fn reopen(state: &Arc<Scheduler>, b: &Binding) -> Result<Option<SlotRecord>, StoreError> {
    let key = state.keys.claim(&b.schedule, &b.slot);
    let Some(kv) = state.store.get(&key).await? else {
        return Ok(None);
    };
    let ours = serde_json::from_slice::<Claim>(&kv.value)
        .is_ok_and(|c| c.node == state.node && c.run_id.as_deref() == Some(b.run_id.as_str()));
    if !ours {
        return Ok(None);
    }
    let Ok((schedule, _)) = state.schedules.get_or_stale(&b.schedule).await else {
        return Ok(None);
    };
    let Ok(c) = super::compile(schedule) else {
        return Ok(None);
    };
    let s = &c.schedule;
    let reason = if s.suspended {
        Some("the schedule is paused".to_owned())
    } else if Utc::now() > c.deadline_of(b.slot) {
        Some(format!(
            "a restart interrupted the slot's start and its starting deadline ({}) has passed",
            s.starting_deadline
        ))
    } else {
        None
    };
    if let Some(reason) = reason {
        let skipped = claim_value(&state.node, b.slot, None, Some(reason.clone()));
        state
            .store
            .compare_and_swap(&key, kv.mod_revision, skipped, None)
            .await?;
        return Ok(Some(skip(state, s, b.slot, reason)));
    }
    let lease = match state.fence.check() {
        Ok(lease) => lease,
        Err(fenced) => return Err(StoreError::Unavailable(fenced.to_string())),
    };
    let open = claim_value(&state.node, b.slot, None, None);
    state
        .store
        .compare_and_swap(&key, kv.mod_revision, open, lease)
        .await?;
    info!(schedule = %s.id, slot = %b.slot, run_id = %b.run_id, "a restart interrupted this slot's start; firing it again");
    // Fired as any slot is (policy, fence, concurrency), resuming the claim just made
    // this node's, and tried again while the store or the Engine does not answer yet.
    Ok(fire_until_run(state, &b.schedule, b.slot).await)
}

/// Waits until a run (or pipeline run) has ended.
pub(super) async fn wait_run(state: &Scheduler, id: &str, is_pipeline: bool) {
    const FOREVER: Duration = Duration::from_secs(366 * 86_400);
    if is_pipeline {
        let _ = pipeline::wait(&state.runner, id, FOREVER).await;
    } else {
        let _ = state.executor.wait(id, FOREVER).await;
    }
}

/// Stands by for a slot another node claimed but has not started: when that node gives
/// the slot back or dies (its lease takes the claim with it), this node claims it and
/// runs it, within the schedule's starting deadline.
async fn standby(state: Arc<Scheduler>, c: Arc<Compiled>, slot: DateTime<Utc>, holder: String) {
    let s = &c.schedule;
    let key = state.keys.claim(&s.id, &slot);
    let deadline = c.deadline_of(slot);
    let limit = tokio::time::Instant::now() + STANDBY_LIMIT;
    loop {
        tokio::time::sleep(STANDBY_POLL).await;
        if Utc::now() > deadline || tokio::time::Instant::now() > limit {
            warn!(schedule = %s.id, %slot, %holder, "the claimer neither started the slot nor gave it back in time");
            return;
        }
        match state.store.get(&key).await {
            Ok(Some(kv)) => match serde_json::from_slice::<Claim>(&kv.value) {
                Ok(claim) if !claim.settled() => continue,
                _ => return,
            },
            Ok(None) => break,
            Err(e) => {
                debug!(schedule = %s.id, error = %e, "cannot read a claim; standing by");
                continue;
            }
        }
    }
    info!(schedule = %s.id, %slot, %holder, "the claimer of a slot died or gave it back before starting it; taking it over");
    let record = fire_until_run(&state, &s.id, slot).await;
    if let Some(record) = record {
        if let Err(e) = state.local.save_slots(&[], &[record]).await {
            warn!(schedule = %s.id, error = %e, "cannot save a slot record");
        }
    }
}

/// Fires a slot outside the planning rounds (a takeover, a serial catch-up) with the
/// schedule as it is now, again every few seconds while it could not run for a passing
/// reason, until the slot's starting deadline; `None` when the schedule is gone or paused.
pub(super) async fn fire_until_run(
    state: &Arc<Scheduler>,
    id: &str,
    slot: DateTime<Utc>,
) -> Option<SlotRecord> {
    let again = chrono::Duration::from_std(RETRY_UNRUN).expect("a small duration");
    loop {
        let Ok((schedule, _)) = state.schedules.get_or_stale(id).await else {
            return None;
        };
        let c = match super::compile(schedule) {
            Ok(c) if !c.schedule.suspended => Arc::new(c),
            _ => return None,
        };
        let record = fire(state, &c, slot).await;
        if record.outcome != SlotOutcome::Missed || Utc::now() + again > c.deadline_of(slot) {
            return Some(record);
        }
        tokio::time::sleep(RETRY_UNRUN).await;
    }
}
