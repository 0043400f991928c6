//! The node's scheduler: turns schedules into runs at their slots.
//!
//! The planning (which slots are due, missed, next) is `mao_scheduler::plan`, pure and
//! tested with an injected clock; this module is the IO around it. It sleeps until the
//! earliest next slot of all schedules (or until a schedule changes), never polls. For each
//! due slot it first saves the slot as handled (so a restart never fires it again), then in
//! `once` mode claims `/mao/claims/<id>/<slot>` with create-if-absent (the federation's
//! single winner runs it), applies the concurrency policy, and submits the run with the
//! trigger `schedule:<id>@<slot>`. Every slot leaves a [`SlotRecord`]: fired, skipped or
//! missed, with the reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mao_api::{Concurrency, Schedule, ScheduleMode, SlotOutcome, SlotRecord, Target};
use mao_scheduler::cron::Cron;
use mao_scheduler::plan::{plan, CatchUp, MissedReason, Policy};
use mao_store::StoreError;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::local::ScheduleState;
use crate::runs::Trigger;
use crate::AppState;

/// Slot records kept per schedule.
const SLOT_HISTORY: usize = 100;
/// The longest the loop sleeps, so a wall-clock jump is noticed within this time.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A schedule ready to plan: its expression and zone parsed once per revision.
pub struct Compiled {
    pub schedule: Schedule,
    pub cron: Cron,
    pub tz: chrono_tz::Tz,
    pub policy: Policy,
    revision: i64,
}

/// Why a schedule document cannot be used.
pub fn compile(schedule: Schedule) -> Result<Compiled, String> {
    let cron = mao_scheduler::cron::parse(&schedule.cron).map_err(|e| format!("cron: {e}"))?;
    let tz = mao_scheduler::cron::parse_tz(&schedule.tz).map_err(|e| format!("tz: {e}"))?;
    let deadline = mao_api::units::parse_duration(&schedule.starting_deadline)
        .map_err(|e| format!("starting_deadline: {e}"))?;
    let policy = Policy {
        catch_up: match schedule.catch_up {
            mao_api::CatchUp::None => CatchUp::None,
            mao_api::CatchUp::Latest => CatchUp::Latest,
            mao_api::CatchUp::All => CatchUp::All,
        },
        starting_deadline: deadline,
        ..Policy::default()
    };
    Ok(Compiled {
        schedule,
        cron,
        tz,
        policy,
        revision: 0,
    })
}

/// What a `once` claim records.
#[derive(Serialize, Deserialize)]
struct Claim {
    node: String,
    slot: DateTime<Utc>,
    #[serde(default)]
    run_id: Option<String>,
}

/// How often old slot claims are deleted.
const CLAIM_GC_EVERY: Duration = Duration::from_secs(600);
/// A claim is kept this long past its schedule's starting deadline, so no node can still
/// consider its slot when it goes.
const CLAIM_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Deletes claims no node can need any more: those of removed schedules, and those older
/// than their schedule's starting deadline plus a grace period. Every node may do it; a
/// delete is idempotent.
pub async fn collect_claims(state: &AppState, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let prefix = state.keys.collection("claims");
    let deadlines: HashMap<String, chrono::Duration> = match state.schedules.entries().await {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|(id, stored)| {
                let s: Schedule = serde_json::from_slice(&stored.json).ok()?;
                let d = mao_api::units::parse_duration(&s.starting_deadline).ok()?;
                Some((id, chrono::Duration::from_std(d).ok()?))
            })
            .collect(),
        Err(_) => return Ok(0),
    };
    let page = mao_store::list_all(state.store.as_ref(), &prefix, 1000).await?;
    let mut deleted = 0;
    for kv in page.kvs {
        let Some((schedule, slot)) = kv.key[prefix.len()..].split_once('/') else {
            continue;
        };
        let expired = match (deadlines.get(schedule), slot.parse::<DateTime<Utc>>()) {
            (None, _) => true,
            (Some(deadline), Ok(slot)) => slot
                .checked_add_signed(*deadline)
                .and_then(|t| t.checked_add_signed(CLAIM_GRACE))
                .is_some_and(|t| t < now),
            (Some(_), Err(_)) => false,
        };
        if expired
            && state
                .store
                .compare_and_delete(&kv.key, kv.mod_revision)
                .await
                .is_ok()
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Runs the scheduler until the process ends.
pub async fn run(state: Arc<AppState>) {
    // Runs left by a previous process are re-attached first, so the concurrency policy
    // sees them; if the Docker Engine keeps recovery from finishing, go on after 30 s.
    let mut recovered = state.executor.recovered();
    let _ = tokio::time::timeout(Duration::from_secs(30), recovered.wait_for(|r| *r)).await;
    // Slots before this instant came while this process was not running: never "on time".
    let started = Utc::now();
    info!(since = %started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), "scheduler started");
    let gc_state = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CLAIM_GC_EVERY).await;
            match collect_claims(&gc_state, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => info!(deleted = n, "old slot claims deleted"),
                Err(e) => debug!(error = %e, "cannot collect old slot claims"),
            }
        }
    });
    let mut changes = state.schedules.changes();
    let mut compiled: HashMap<String, Arc<Compiled>> = HashMap::new();
    let mut states: HashMap<String, ScheduleState> = HashMap::new();
    let mut next: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut dirty = true;
    loop {
        if dirty {
            dirty = false;
            match refresh(&state, &mut compiled, &mut states).await {
                Ok(changed) => {
                    for id in changed {
                        // New or changed: plan it now.
                        next.insert(id, DateTime::<Utc>::MIN_UTC);
                    }
                    next.retain(|id, _| compiled.contains_key(id));
                }
                Err(e) => {
                    warn!(error = %e, "cannot read the schedules; retrying");
                    dirty = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }

        let now = Utc::now();
        let due: Vec<Arc<Compiled>> = compiled
            .values()
            .filter(|c| next.get(&c.schedule.id).is_none_or(|t| *t <= now))
            .cloned()
            .collect();
        if !due.is_empty() {
            let handled = tick(&state, &due, &mut states, started, now).await;
            for (id, n) in handled {
                match n {
                    Some(t) => next.insert(id, t),
                    None => next.insert(id, DateTime::<Utc>::MAX_UTC),
                };
            }
        }

        let wake = next
            .values()
            .min()
            .copied()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let sleep = (wake - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
                dirty = true;
            }
        }
    }
}

/// Re-reads the schedule documents that changed; returns the ids to plan again.
async fn refresh(
    state: &AppState,
    compiled: &mut HashMap<String, Arc<Compiled>>,
    states: &mut HashMap<String, ScheduleState>,
) -> Result<Vec<String>, crate::error::ApiError> {
    let entries = state.schedules.entries().await?;
    let mut changed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (id, stored) in entries {
        seen.insert(id.clone());
        if compiled
            .get(&id)
            .is_some_and(|c| c.revision == stored.revision)
        {
            continue;
        }
        let schedule: Schedule = match serde_json::from_slice(&stored.json) {
            Ok(s) => s,
            Err(e) => {
                warn!(schedule = %id, error = %e, "skipping an unreadable schedule");
                continue;
            }
        };
        match compile(schedule) {
            Ok(mut c) => {
                c.revision = stored.revision;
                if !states.contains_key(&id) {
                    states.insert(id.clone(), state.local.schedule_state(&id).await?);
                }
                compiled.insert(id.clone(), Arc::new(c));
                changed.push(id);
            }
            Err(e) => {
                warn!(schedule = %id, error = %e, "skipping a schedule that cannot be planned")
            }
        }
    }
    let removed: Vec<String> = compiled
        .keys()
        .filter(|id| !seen.contains(*id))
        .cloned()
        .collect();
    for id in removed {
        compiled.remove(&id);
        states.remove(&id);
        info!(schedule = %id, "schedule removed");
        if let Err(e) = state.local.forget_schedule(&id).await {
            warn!(schedule = %id, error = %e, "cannot forget the state of a removed schedule");
        }
    }
    Ok(changed)
}

/// Plans the given schedules at `now`: saves every handled slot first, then fires the due
/// ones (each schedule's slots in order, schedules in parallel). Returns each schedule's
/// next fire time.
async fn tick(
    state: &Arc<AppState>,
    due: &[Arc<Compiled>],
    states: &mut HashMap<String, ScheduleState>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(String, Option<DateTime<Utc>>)> {
    // The on-time tolerance absorbs a late wake-up, not downtime: a slot that passed while
    // the daemon was down is a missed slot and obeys the catch-up policy.
    let up_for = (now - started).to_std().unwrap_or_default();
    let mut saves = Vec::new();
    let mut records = Vec::new();
    let mut to_fire = Vec::new();
    let mut nexts = Vec::new();
    for c in due {
        let s = &c.schedule;
        let st = states.entry(s.id.clone()).or_default();
        if st.schedule_created_at != Some(s.created_at) {
            // First sight of this schedule, or it was removed and created again.
            *st = ScheduleState {
                schedule_created_at: Some(s.created_at),
                ..ScheduleState::default()
            };
            saves.push((s.id.clone(), st.clone()));
        }
        let policy = Policy {
            on_time: c.policy.on_time.min(up_for),
            ..c.policy
        };
        let p = plan(&c.cron, c.tz, &policy, st.last_slot, s.created_at, now);
        nexts.push((s.id.clone(), p.next));
        for m in &p.missed {
            let reason = match m.reason {
                MissedReason::PastDeadline => format!(
                    "the node was not running it within its starting deadline ({})",
                    s.starting_deadline
                ),
                MissedReason::CatchUpNone => "missed while the node was down; catch_up is none".to_owned(),
                MissedReason::Superseded => {
                    "missed while the node was down; catch_up latest runs only the newest missed slot".to_owned()
                }
            };
            records.push(slot_record(
                state,
                s,
                m.slot,
                SlotOutcome::Missed,
                None,
                Some(reason),
            ));
        }
        if p.missed_more > 0 {
            warn!(schedule = %s.id, more = p.missed_more, "more missed slots than recorded");
        }
        let mut handled = p
            .due
            .iter()
            .chain(p.missed.iter().map(|m| &m.slot))
            .max()
            .copied();
        if p.missed_more > 0 {
            // Slots past the listed ones were missed too: every slot up to now is handled.
            handled = Some(now);
        }
        if let Some(last) = handled {
            if st.last_slot.is_none_or(|l| last > l) {
                st.last_slot = Some(last);
                saves.push((s.id.clone(), st.clone()));
            }
        }
        if !p.due.is_empty() {
            to_fire.push((c.clone(), p.due));
        }
    }
    // Saved before any run starts: a restart never fires these slots again.
    if let Err(e) = state.local.save_slots(&saves, &records).await {
        warn!(error = %e, "cannot save the scheduler's state; not firing this round");
        return nexts
            .into_iter()
            .map(|(id, _)| (id, Some(now + chrono::Duration::seconds(1))))
            .collect();
    }
    let mut tasks = Vec::new();
    for (c, slots) in to_fire {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for slot in slots {
                out.push(fire(&state, &c, slot).await);
            }
            (c.schedule.id.clone(), out)
        }));
    }
    let mut saves = Vec::new();
    let mut records = Vec::new();
    for t in tasks {
        let Ok((id, out)) = t.await else { continue };
        let st = states.entry(id.clone()).or_default();
        for r in out {
            if r.run_id.is_some() {
                st.last_run_id = r.run_id.clone();
            }
            records.push(r);
        }
        saves.push((id, st.clone()));
    }
    if let Err(e) = state.local.save_slots(&saves, &records).await {
        warn!(error = %e, "cannot save slot records");
    }
    for (id, _) in &saves {
        let _ = state.local.prune_slots(id, SLOT_HISTORY).await;
    }
    nexts
}

fn slot_record(
    state: &AppState,
    s: &Schedule,
    slot: DateTime<Utc>,
    outcome: SlotOutcome,
    run_id: Option<String>,
    reason: Option<String>,
) -> SlotRecord {
    SlotRecord {
        schedule: s.id.clone(),
        slot,
        outcome,
        run_id,
        reason,
        node: state.node.clone(),
        at: Utc::now(),
    }
}

/// What a slot runs.
enum What {
    Tool(Box<mao_api::Tool>),
    Pipeline(mao_api::Pipeline),
}

/// Fires one slot: claim (once mode), concurrency policy, run.
async fn fire(state: &Arc<AppState>, c: &Compiled, slot: DateTime<Utc>) -> SlotRecord {
    let s = &c.schedule;
    let skipped = |reason: String| {
        debug!(schedule = %s.id, %slot, %reason, "slot skipped");
        slot_record(state, s, slot, SlotOutcome::Skipped, None, Some(reason))
    };
    if s.suspended {
        return skipped("the schedule is paused".into());
    }
    // Checked before claiming: a node that cannot run the slot must leave it to another.
    let what = match &s.target {
        Target::Tool(name) => match state.tools.get(name).await {
            Ok((tool, _)) => What::Tool(Box::new(tool)),
            Err(e) => return skipped(format!("cannot run tool {name}: {}", e.message)),
        },
        Target::Pipeline(name) => match state.pipelines.get(name).await {
            Ok((p, _)) => What::Pipeline(p),
            Err(e) => return skipped(format!("cannot run pipeline {name}: {}", e.message)),
        },
    };
    let can_run = match &what {
        What::Tool(tool) => state.executor.check_can_run(tool).await,
        What::Pipeline(p) => crate::pipelines::check_can_run(state, p).await,
    };
    if let Err(e) = can_run {
        return skipped(format!("this node cannot run it now: {}", e.message));
    }
    let claim_key = state.keys.claim(&s.id, &slot);
    let mut claimed = None;
    if s.mode == ScheduleMode::Once {
        let claim = Claim {
            node: state.node.clone(),
            slot,
            run_id: None,
        };
        let value = Bytes::from(serde_json::to_vec(&claim).expect("claims serialize"));
        match state.store.create(&claim_key, value, None).await {
            Ok(revision) => claimed = Some(revision),
            Err(StoreError::AlreadyExists { .. }) => {
                let holder = match state.store.get(&claim_key).await {
                    Ok(Some(kv)) => serde_json::from_slice::<Claim>(&kv.value)
                        .map(|c| c.node)
                        .unwrap_or_else(|_| "another node".into()),
                    _ => "another node".into(),
                };
                return skipped(format!("claimed by node {holder}"));
            }
            Err(e) => {
                return slot_record(
                    state,
                    s,
                    slot,
                    SlotOutcome::Missed,
                    None,
                    Some(format!("cannot claim the slot: {e}")),
                )
            }
        }
    }
    let mut active = state.executor.active_runs_of(&s.id);
    let active_pipelines = state.pipeline_runs.active_of(&s.id);
    active.extend(active_pipelines.iter().cloned());
    if !active.is_empty() {
        match s.concurrency {
            Concurrency::Forbid => {
                return skipped(format!(
                    "the previous run {} is still going (concurrency forbid)",
                    active.join(", ")
                ))
            }
            Concurrency::Replace => {
                for id in &active_pipelines {
                    let _ = crate::pipelines::cancel(state, id).await;
                }
                for id in &active {
                    let _ = state.executor.cancel(id).await;
                }
            }
            Concurrency::Allow => {}
        }
    }
    let trigger = Trigger::Schedule {
        id: s.id.clone(),
        slot,
    };
    let submitted = match what {
        What::Tool(tool) => state
            .executor
            .submit(&tool, s.overrides.clone(), trigger)
            .await
            .map(|r| r.id),
        What::Pipeline(p) => crate::pipelines::submit(state, p, trigger)
            .await
            .map(|r| r.id),
    };
    match submitted {
        Ok(run_id) => {
            if s.mode == ScheduleMode::Once {
                let claim = Claim {
                    node: state.node.clone(),
                    slot,
                    run_id: Some(run_id.clone()),
                };
                let value = Bytes::from(serde_json::to_vec(&claim).expect("claims serialize"));
                if let Err(e) = state.store.put(&claim_key, value, None).await {
                    warn!(schedule = %s.id, error = %e, "cannot record the run id on the claim");
                }
            }
            info!(schedule = %s.id, %slot, %run_id, "slot fired");
            slot_record(state, s, slot, SlotOutcome::Fired, Some(run_id), None)
        }
        Err(e) => {
            // Give the slot back so another node may still run it.
            if let Some(revision) = claimed {
                let _ = state.store.compare_and_delete(&claim_key, revision).await;
            }
            skipped(format!("the run could not start: {}", e.message))
        }
    }
}
