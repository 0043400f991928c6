//! One round of planning: every due schedule's slots saved as handled, then fired.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mao_api::{Concurrency, Schedule, SlotOutcome, SlotRecord, Target};
use mao_scheduler::plan::{plan, MissedReason, Policy};
use tracing::warn;

use super::fire::{fire, fire_until_run, wait_run};
use super::{Compiled, Scheduler, SLOT_HISTORY};
use crate::local::ScheduleState;

/// How soon a slot that could not run (the store or the Engine did not answer) is planned
/// again.
pub(super) const RETRY_UNRUN: std::time::Duration = std::time::Duration::from_secs(5);

/// Plans the given schedules at `now`: saves every handled slot first, then fires the due
/// ones (each schedule's slots in order, schedules in parallel). Returns each schedule's
/// next fire time.
pub(super) async fn tick(
    state: &Arc<Scheduler>,
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
            // Under forbid, slots caught up after downtime run one after another, each
            // queued behind the run of the one before (off this round, which must not wait).
            let serial = c.schedule.concurrency == Concurrency::Forbid && slots.len() > 1;
            let mut slots = slots.into_iter();
            while let Some(slot) = slots.next() {
                let record = fire(&state, &c, slot).await;
                let fired = record.run_id.clone();
                let unrun = record.outcome == SlotOutcome::Missed;
                out.push(record);
                if unrun {
                    // The later slots wait with it: planned again, in order, together.
                    break;
                }
                if let (true, Some(run)) = (serial && slots.len() > 0, fired) {
                    let rest: Vec<_> = slots.collect();
                    tokio::spawn(catch_up_behind(
                        state.clone(),
                        c.schedule.id.clone(),
                        run,
                        rest,
                    ));
                    break;
                }
            }
            (c.schedule.id.clone(), out)
        }));
    }
    let mut saves = Vec::new();
    let mut records = Vec::new();
    let mut retry = Vec::new();
    for t in tasks {
        let Ok((id, out)) = t.await else { continue };
        let st = states.entry(id.clone()).or_default();
        let mut unrun: Option<DateTime<Utc>> = None;
        for r in out {
            if r.run_id.is_some() {
                st.last_run_id = r.run_id.clone();
            }
            // Only the trailing slots that could not run go back: a later slot that ran
            // (or was decided) must never be planned again.
            unrun = match r.outcome {
                SlotOutcome::Missed => unrun.or(Some(r.slot)),
                _ => None,
            };
            records.push(r);
        }
        if let Some(slot) = unrun {
            // Not handled after all: planned again shortly, as a missed slot that obeys
            // the catch-up policy (and the starting deadline).
            st.last_slot = Some(slot - chrono::Duration::nanoseconds(1));
            retry.push(id.clone());
        }
        saves.push((id, st.clone()));
    }
    let again = now + chrono::Duration::from_std(RETRY_UNRUN).expect("a small duration");
    for (id, next) in nexts.iter_mut() {
        if retry.contains(id) {
            *next = Some(next.map_or(again, |n| n.min(again)));
        }
    }
    if let Err(e) = state.local.save_slots(&saves, &records).await {
        warn!(error = %e, "cannot save slot records");
    }
    for (id, _) in &saves {
        let _ = state.local.prune_slots(id, SLOT_HISTORY).await;
    }
    nexts
}

/// Fires `slots` of schedule `id` one after another, each once the run before it (first
/// `run`) has ended; a slot that could not run is tried again (within its starting
/// deadline) before the next; stops when the schedule is paused or removed meanwhile.
async fn catch_up_behind(
    state: Arc<Scheduler>,
    id: String,
    run: String,
    slots: Vec<DateTime<Utc>>,
) {
    let mut previous = Some(run);
    for slot in slots {
        let Ok((schedule, _)) = state.schedules.get_or_stale(&id).await else {
            return;
        };
        let is_pipeline = matches!(schedule.target, Target::Pipeline(_));
        if let Some(run) = previous.take() {
            wait_run(&state, &run, is_pipeline).await;
        }
        let Some(record) = fire_until_run(&state, &id, slot).await else {
            return;
        };
        previous = record.run_id.clone();
        if let Err(e) = state.local.save_slots(&[], &[record]).await {
            warn!(schedule = %id, error = %e, "cannot save a slot record");
        }
    }
}

pub(super) fn slot_record(
    state: &Scheduler,
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
