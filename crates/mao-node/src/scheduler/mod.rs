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

use chrono::{DateTime, Utc};
use mao_api::{Pipeline, Schedule, Tool};
use mao_scheduler::cron::Cron;
use mao_scheduler::plan::{CatchUp, Policy};
use mao_store::Store;
use tracing::{debug, info, warn};

use crate::executor::Executor;
use crate::local::{LocalStore, ScheduleState};
use crate::pipeline::PipelineService;
use crate::registry::{Registry, RegistryError};
use crate::Keys;
use claims::CLAIM_GC_EVERY;
use tick::tick;

mod claims;
mod fire;
mod markers;
mod service;
mod tick;

pub use claims::collect_claims;
pub use markers::Markers;
pub use service::ScheduleError;

/// Slot records kept per schedule.
const SLOT_HISTORY: usize = 100;
/// The longest the loop sleeps, so a wall-clock jump is noticed within this time.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// What the scheduler works with: the schedules, what they run, and where.
pub struct Scheduler {
    pub node: String,
    /// Checked before a slot is claimed and before its run starts.
    pub fence: crate::membership::Fence,
    pub keys: Keys,
    pub store: Arc<dyn Store>,
    pub schedules: Registry<Schedule>,
    pub tools: Registry<Tool>,
    pub pipelines: Registry<Pipeline>,
    pub executor: Arc<Executor>,
    pub local: LocalStore,
    /// Runs the pipelines schedules name.
    pub runner: Arc<PipelineService>,
    /// The running markers this node is writing (`once` + `forbid`).
    pub markers: Markers,
}

/// A schedule ready to plan: its expression and zone parsed once per revision.
pub struct Compiled {
    pub schedule: Schedule,
    pub cron: Cron,
    pub tz: chrono_tz::Tz,
    pub policy: Policy,
    revision: i64,
}

impl Compiled {
    /// The last instant `slot` may still start: the slot plus the starting deadline.
    pub fn deadline_of(&self, slot: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.policy.starting_deadline)
            .ok()
            .and_then(|d| slot.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
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

/// Runs the scheduler until the process ends.
pub async fn run(state: Arc<Scheduler>) {
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
    // Slots a crash interrupted between their claim's binding and the queued run.
    tokio::spawn(fire::resume_bindings(state.clone()));
    let keeper = state.clone();
    tokio::spawn(async move {
        // Only once every run of a previous process is re-attached: before, a marker of
        // this node cannot be told from one whose run is over.
        markers::wait_recovered(&keeper).await;
        let mut unreadable = HashMap::new();
        loop {
            if let Err(e) = markers::keep(&keeper, &mut unreadable).await {
                debug!(error = %e, "cannot look at the running markers");
            }
            tokio::time::sleep(markers::KEEP_EVERY).await;
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
    state: &Scheduler,
    compiled: &mut HashMap<String, Arc<Compiled>>,
    states: &mut HashMap<String, ScheduleState>,
) -> Result<Vec<String>, RegistryError> {
    // While the store is unreachable the schedules as last seen go on (degraded-local).
    let entries = state.schedules.entries_or_stale().await?;
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
