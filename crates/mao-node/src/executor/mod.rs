//! The executor: runs a tool as a container and keeps an exact record of it.
//!
//! A run goes `queued` (record saved) -> `running` (container started, record saved) ->
//! `succeeded | failed | timed_out | cancelled`. Every step that can fail leaves the record
//! saying where it stopped. After a crash of the daemon, [`Executor::recover`] finds the
//! containers by their labels: a running one is re-attached, an exited one is collected,
//! a record whose container is gone is marked `lost`, and no container of ours is left.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use mao_api::units::parse_size;
use mao_api::{RunLimits, RunRecord, RunStatus};
use mao_runtime::{Limits, Runtime, RuntimeError};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::local::LocalStore;
use crate::notify::Notifier;

mod judge;
mod ownership;
pub mod policy;
mod prune;
mod recover;
mod submit;
mod supervise;

pub use policy::{ContainerPolicy, Forbidden, Maximums};
pub use submit::new_run_id;

/// What can go wrong with a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Invalid(#[from] mao_api::ValidationError),
    #[error("tool {tool:?} asks for the Docker socket but this node does not allow it (set allow_docker_socket = true in the node config)")]
    DockerSocketNotAllowed { tool: String },
    /// The container engine cannot be reached: nothing can run now.
    #[error("the Docker Engine is unavailable, so tools cannot run now ({0})")]
    RuntimeUnavailable(String),
    /// The engine answered with an error the daemon did not expect.
    #[error("container runtime error: {0}")]
    Runtime(RuntimeError),
    #[error("run {id} does not exist on this node")]
    NotFound { id: String },
    #[error("run {id} has already finished ({})", status.as_str())]
    Finished { id: String, status: RunStatus },
    #[error("run {id} belongs to the previous process and is being recovered (is the Docker Engine reachable?); retry shortly")]
    Recovering { id: String },
    /// The node's policy refuses the tool (image, capability, network).
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// A limit above what this node allows.
    #[error(
        "{limit} {value} is above this node's maximum of {max} ({key}); ask for at most {max}"
    )]
    AboveMaximum {
        limit: &'static str,
        value: String,
        max: String,
        key: &'static str,
    },
    /// Too many runs wait for a slot already; nothing was recorded.
    #[error("this node already has {waiting} runs waiting for a slot (max_queued_runs = {max}); retry in {} s", retry_after.as_secs())]
    QueueFull {
        waiting: usize,
        max: usize,
        retry_after: Duration,
    },
    #[error(transparent)]
    Store(#[from] mao_store::StoreError),
}

impl From<RuntimeError> for RunError {
    fn from(e: RuntimeError) -> RunError {
        match e {
            RuntimeError::Unavailable(m) => RunError::RuntimeUnavailable(m),
            e => RunError::Runtime(e),
        }
    }
}

impl RunError {
    /// True when the run does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RunError::NotFound { .. })
    }
}

/// Result of an executor operation.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// Where the data folder is mounted in the container.
pub const DATA_MOUNT: &str = "/usr/src/app/data";
/// Where the input folder is mounted (read-only).
pub const INPUT_MOUNT: &str = "/usr/src/app/input";

/// Labels on every container of ours.
pub const LABEL_RUN: &str = "mao.run-id";
pub const LABEL_NODE: &str = "mao.node";
pub const LABEL_TOOL: &str = "mao.tool";
pub const LABEL_PIPELINE: &str = "mao.pipeline";

/// How long the Docker Engine may leave a request unanswered, by default.
pub const DEFAULT_ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Node-wide run settings (from the node's config).
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Default limits; `timeout` is always set.
    pub limits: RunLimits,
    /// Bytes of log kept per run; the rest is dropped after a marker.
    pub log_cap: u64,
    /// Finished runs kept per tool; older ones are pruned with their logs.
    pub retention: usize,
    /// Runs executing at once; more wait `queued`.
    pub max_concurrent: usize,
    /// Runs that may wait `queued` for a slot; one more is refused ([`RunError::QueueFull`]).
    pub max_queued: usize,
    /// Whether a tool that asks for the Docker socket may have it.
    pub allow_docker_socket: bool,
    /// What a tool container may be: user, network, capabilities, images, maximums.
    pub policy: ContainerPolicy,
    /// How metrics are judged when the tool or step does not say.
    pub detector: mao_api::DetectorSpec,
    /// How long the Docker Engine may leave a request unanswered before a run that needs
    /// it fails `engine_unresponsive` (a container running long is not that: the engine is
    /// asked about it now and then, and must answer within this bound).
    pub engine_timeout: Duration,
}

impl Default for RunSettings {
    /// The defaults of a node that configures nothing.
    fn default() -> RunSettings {
        let policy = ContainerPolicy::default();
        RunSettings {
            limits: RunLimits {
                timeout: Some("1h".to_owned()),
                memory: Some("1g".to_owned()),
                cpus: Some(policy.max.cpus.min(1.0)),
                pids: Some(1024),
            },
            log_cap: 16 << 20,
            retention: 50,
            max_concurrent: 8,
            max_queued: 64,
            allow_docker_socket: false,
            policy,
            detector: mao_api::DetectorSpec::default(),
            engine_timeout: DEFAULT_ENGINE_TIMEOUT,
        }
    }
}

/// What started a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A user (maoctl, the API).
    Manual,
    /// A schedule's slot.
    Schedule { id: String, slot: DateTime<Utc> },
}

impl Trigger {
    /// The schedule that fired, if one did.
    pub fn schedule(&self) -> Option<String> {
        match self {
            Trigger::Schedule { id, .. } => Some(id.clone()),
            Trigger::Manual => None,
        }
    }

    /// The slot a scheduled run is for.
    pub fn slot(&self) -> Option<DateTime<Utc>> {
        match self {
            Trigger::Schedule { slot, .. } => Some(*slot),
            Trigger::Manual => None,
        }
    }

    /// The kind of trigger, given to the tool as `MAO_TRIGGER`: `manual` or `schedule`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule { .. } => "schedule",
        }
    }

    /// How the trigger is written on the run record: `manual` or `schedule:<id>@<slot>`.
    pub fn label(&self) -> String {
        match self {
            Trigger::Manual => "manual".to_owned(),
            Trigger::Schedule { id, slot } => {
                format!(
                    "schedule:{id}@{}",
                    slot.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
        }
    }
}

/// The environment that tells a tool which run it is: `MAO_RUN_ID`, `MAO_NODE`,
/// `MAO_TOOL`, `MAO_TRIGGER` and, for a scheduled run, `MAO_SLOT`. Set after the tool's and
/// the request's env, so neither can make a run claim to be another.
pub fn run_context(
    run_id: &str,
    node: &str,
    tool: &str,
    trigger: &Trigger,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("MAO_RUN_ID".to_owned(), run_id.to_owned()),
        ("MAO_NODE".to_owned(), node.to_owned()),
        ("MAO_TOOL".to_owned(), tool.to_owned()),
        ("MAO_TRIGGER".to_owned(), trigger.kind().to_owned()),
    ]);
    if let Some(slot) = trigger.slot() {
        env.insert(
            "MAO_SLOT".to_owned(),
            slot.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    env
}

/// Where a run's folders are, and the pipeline step it is part of.
#[derive(Clone, Debug)]
pub struct Placement {
    /// Mounted read-write at `/usr/src/app/data`.
    pub data_dir: PathBuf,
    /// Mounted read-only at `/usr/src/app/input`.
    pub input_dir: Option<PathBuf>,
    pub step: Option<StepOf>,
}

/// The pipeline step a run is.
#[derive(Clone, Debug)]
pub struct StepOf {
    pub pipeline: String,
    pub step: String,
    pub pipeline_run: String,
}

/// What a follower of a run waits on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub log_bytes: u64,
    pub finished: bool,
}

struct Active {
    cancel: CancellationToken,
    progress: watch::Receiver<Progress>,
    schedule: Option<String>,
}

/// Runs tools on this node's container engine.
pub struct Executor {
    runtime: Arc<dyn Runtime>,
    runs: LocalStore,
    settings: RunSettings,
    node: String,
    data_dir: PathBuf,
    active: Mutex<HashMap<String, Active>>,
    slots: Arc<Semaphore>,
    /// Finished runs per tool, oldest first (ids and log paths), so pruning after each run
    /// does not re-read every record; loaded from the local store on first use.
    finished: tokio::sync::Mutex<Option<FinishedIndex>>,
    /// Turns true once the runs of a previous process have been recovered.
    recovery_done: watch::Sender<bool>,
    /// Where failed runs and spikes are reported.
    notifier: Arc<Notifier>,
    /// Where a successful run's `insights.json` is published.
    insights: crate::insights::Insights,
    /// Data folders handed to the tools' user, with the active runs using each: a folder is
    /// taken back when its last run ends (runs of one tool share its folder).
    lent: Mutex<HashMap<PathBuf, std::collections::HashSet<String>>>,
}

/// Values kept per metric of a tool or step.
const METRIC_HISTORY: usize = 1000;

/// Finished runs per tool: run id (oldest first) to log path.
type FinishedIndex = HashMap<String, std::collections::BTreeMap<String, String>>;

/// How a container's wait ended.
enum Ending {
    Exited(i64),
    TimedOut,
    Cancelled,
    Error(String),
    /// The engine did not answer a question about the container within `engine_timeout`.
    EngineUnresponsive(String),
}

impl Executor {
    /// Whether the container engine answers now.
    pub async fn ping_runtime(&self) -> Result<(), RuntimeError> {
        self.runtime.ping().await
    }

    /// An executor keeping records in `runs` and data under `data_dir`, reporting failed
    /// runs and spikes to `notifier` and publishing insights to `insights`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        runs: LocalStore,
        settings: RunSettings,
        node: String,
        data_dir: PathBuf,
        notifier: Arc<Notifier>,
        insights: crate::insights::Insights,
    ) -> Arc<Executor> {
        Arc::new(Executor {
            slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            runtime,
            runs,
            settings,
            node,
            data_dir,
            active: Mutex::new(HashMap::new()),
            finished: tokio::sync::Mutex::new(None),
            recovery_done: watch::channel(false).0,
            notifier,
            insights,
            lent: Mutex::new(HashMap::new()),
        })
    }

    /// Finished runs kept per tool (and per pipeline).
    pub fn retention(&self) -> usize {
        self.settings.retention
    }

    /// The node's data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The data folder of a tool: reused by every run of it.
    pub fn tool_data_dir(&self, tool: &str) -> PathBuf {
        self.data_dir.join("tools").join(tool).join("data")
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.data_dir.join("runs").join(format!("{id}.log"))
    }
    /// Cancels a queued or running run; 409 if it has already finished.
    pub async fn cancel(&self, id: &str) -> Result<RunRecord> {
        let record = self.get(id).await?;
        let token = self
            .active
            .lock()
            .unwrap()
            .get(id)
            .map(|a| a.cancel.clone());
        match token {
            Some(t) if !record.status.is_finished() => {
                t.cancel();
                info!(run_id = %id, "run cancelled");
                Ok(record)
            }
            None if !record.status.is_finished() && !*self.recovery_done.borrow() => {
                Err(RunError::Recovering { id: id.to_owned() })
            }
            _ => Err(RunError::Finished {
                id: id.to_owned(),
                status: record.status,
            }),
        }
    }

    /// One run's record; 404 if unknown.
    pub async fn get(&self, id: &str) -> Result<RunRecord> {
        self.runs
            .get(id)
            .await?
            .ok_or_else(|| RunError::NotFound { id: id.to_owned() })
    }

    /// Runs, newest first, filtered.
    pub async fn list(
        &self,
        tool: Option<&str>,
        status: Option<RunStatus>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let mut all = self.runs.list().await?;
        all.reverse();
        Ok(all
            .into_iter()
            .filter(|r| tool.is_none_or(|t| r.tool == t))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .take(limit)
            .collect())
    }

    /// Whether any run is queued or running.
    pub fn any_active(&self) -> bool {
        !self.active.lock().unwrap().is_empty()
    }

    /// Ids of the runs of `schedule` that are queued or running.
    pub fn active_runs_of(&self, schedule: &str) -> Vec<String> {
        self.active
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| a.schedule.as_deref() == Some(schedule))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A receiver of a run's progress while it is active (`None` once it has finished).
    pub fn progress(&self, id: &str) -> Option<watch::Receiver<Progress>> {
        self.active
            .lock()
            .unwrap()
            .get(id)
            .map(|a| a.progress.clone())
    }

    /// Becomes true once the runs left by a previous process have been recovered.
    pub fn recovered(&self) -> watch::Receiver<bool> {
        self.recovery_done.subscribe()
    }

    /// Waits until the run has finished or `limit` passed; returns its record then.
    pub async fn wait(&self, id: &str, limit: Duration) -> Result<RunRecord> {
        let deadline = tokio::time::Instant::now() + limit;
        if self.progress(id).is_none() && !*self.recovery_done.borrow() {
            // An unfinished run of the previous process is not followed until recovery.
            let mut rx = self.recovery_done.subscribe();
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|r| *r)).await;
        }
        if let Some(mut rx) = self.progress(id) {
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|p| p.finished)).await;
        }
        self.get(id).await
    }
}

/// How long a refused run is told to wait before it asks again.
const QUEUE_RETRY_AFTER: Duration = Duration::from_secs(10);

fn runtime_limits(limits: &RunLimits) -> Limits {
    Limits {
        memory_bytes: limits.memory.as_deref().and_then(|m| parse_size(m).ok()),
        cpus: limits.cpus,
        pids: limits.pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_run_is_told_its_slot_and_a_manual_one_is_not() {
        let manual = run_context("01RUN", "n1", "demo", &Trigger::Manual);
        assert_eq!(manual["MAO_RUN_ID"], "01RUN");
        assert_eq!(manual["MAO_NODE"], "n1");
        assert_eq!(manual["MAO_TOOL"], "demo");
        assert_eq!(manual["MAO_TRIGGER"], "manual");
        assert!(!manual.contains_key("MAO_SLOT"));

        let slot = "2026-12-04T06:00:00Z".parse().unwrap();
        let scheduled = Trigger::Schedule {
            id: "daily".into(),
            slot,
        };
        let env = run_context("01RUN", "n1", "demo", &scheduled);
        assert_eq!(env["MAO_TRIGGER"], "schedule");
        assert_eq!(env["MAO_SLOT"], "2026-12-04T06:00:00Z");
    }
}
