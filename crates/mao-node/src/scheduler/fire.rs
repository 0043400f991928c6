//! Firing one slot: what it runs, the claim (`once` mode), the concurrency policy, the run.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mao_api::{Concurrency, ScheduleMode, SlotOutcome, SlotRecord, Target};
use mao_store::StoreError;
use tracing::{debug, info, warn};

use super::claims::Claim;
use super::tick::slot_record;
use super::{Compiled, Scheduler};
use crate::executor::Trigger;
use crate::pipeline;

/// What a slot runs.
enum What {
    Tool(Box<mao_api::Tool>),
    Pipeline(mao_api::Pipeline),
}

/// Fires one slot: claim (once mode), concurrency policy, run.
pub(super) async fn fire(state: &Arc<Scheduler>, c: &Compiled, slot: DateTime<Utc>) -> SlotRecord {
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
            Err(e) => return skipped(format!("cannot run tool {name}: {}", e)),
        },
        Target::Pipeline(name) => match state.pipelines.get(name).await {
            Ok((p, _)) => What::Pipeline(p),
            Err(e) => return skipped(format!("cannot run pipeline {name}: {}", e)),
        },
    };
    let can_run = match &what {
        What::Tool(tool) => state
            .executor
            .check_can_run(tool)
            .await
            .map_err(|e| e.to_string()),
        What::Pipeline(p) => pipeline::check_can_run(&state.runner, p)
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = can_run {
        return skipped(format!("this node cannot run it now: {}", e));
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
    let active_pipelines = state.runner.pipeline_runs.active_of(&s.id);
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
                    let _ = pipeline::cancel(&state.runner, id).await;
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
            .map(|r| r.id)
            .map_err(|e| e.to_string()),
        What::Pipeline(p) => pipeline::submit(&state.runner, p, trigger)
            .await
            .map(|r| r.id)
            .map_err(|e| e.to_string()),
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
            skipped(format!("the run could not start: {}", e))
        }
    }
}
