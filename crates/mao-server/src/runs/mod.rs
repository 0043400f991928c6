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

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use mao_api::units::{parse_duration, parse_size};
use mao_api::{RunLimits, RunRecord, RunRequest, RunStatus, Tool};
use mao_runtime::{ContainerSpec, Limits, LogChunk, LogStream, Mount, Runtime, RuntimeError};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::error::{ApiError, ApiResult};

use crate::local::LocalStore;

/// Where the data folder is mounted in the container.
pub const DATA_MOUNT: &str = "/usr/src/app/data";
/// Where the input folder is mounted (read-only).
pub const INPUT_MOUNT: &str = "/usr/src/app/input";

/// Labels on every container of ours.
pub const LABEL_RUN: &str = "mao.run-id";
pub const LABEL_NODE: &str = "mao.node";
pub const LABEL_TOOL: &str = "mao.tool";
pub const LABEL_PIPELINE: &str = "mao.pipeline";

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
    /// Whether a tool that asks for the Docker socket may have it.
    pub allow_docker_socket: bool,
    /// Run containers as the daemon's uid:gid, so the node owns the files they write.
    pub run_as_node_user: bool,
    /// How metrics are judged when the tool or step does not say.
    pub detector: mao_api::DetectorSpec,
}

impl Default for RunSettings {
    /// The defaults of a node that configures nothing.
    fn default() -> RunSettings {
        RunSettings {
            limits: RunLimits {
                timeout: Some("1h".to_owned()),
                memory: None,
                cpus: None,
                pids: Some(1024),
            },
            log_cap: 16 << 20,
            retention: 50,
            max_concurrent: 8,
            allow_docker_socket: false,
            run_as_node_user: true,
            detector: mao_api::DetectorSpec::default(),
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
    /// Where failed runs and spikes are reported (set once the state is built).
    notifier: std::sync::OnceLock<Arc<crate::notify::Notifier>>,
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
}

impl Executor {
    /// An executor keeping records in `runs` and data under `data_dir`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        runs: LocalStore,
        settings: RunSettings,
        node: String,
        data_dir: PathBuf,
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
            notifier: std::sync::OnceLock::new(),
        })
    }

    /// Reports failed runs and spikes to `notifier` from now on.
    pub fn set_notifier(&self, notifier: Arc<crate::notify::Notifier>) {
        let _ = self.notifier.set(notifier);
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

    /// Whether this node could start a run of `tool` now: its socket policy allows it and
    /// the container engine answers (within 5 s).
    pub async fn check_can_run(&self, tool: &Tool) -> ApiResult<()> {
        if tool.docker_socket && !self.settings.allow_docker_socket {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "docker_socket_not_allowed",
                format!(
                    "tool {:?} asks for the Docker socket but this node does not allow it (set allow_docker_socket = true in the node config)",
                    tool.name
                ),
            ));
        }
        match tokio::time::timeout(Duration::from_secs(5), self.runtime.ping()).await {
            Ok(r) => r.map_err(runtime_error),
            Err(_) => Err(runtime_error(RuntimeError::Unavailable(
                "the Docker Engine did not answer within 5 s".into(),
            ))),
        }
    }

    /// Queues a run of `tool` in its own data folder and returns its record at once.
    pub async fn submit(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
    ) -> ApiResult<RunRecord> {
        let placement = Placement {
            data_dir: self.tool_data_dir(&tool.name),
            input_dir: None,
            step: None,
        };
        self.submit_placed(tool, request, trigger, placement).await
    }

    /// Queues a run of `tool` with its folders chosen by the caller (a pipeline step's
    /// worktree and input) and returns its record at once.
    pub async fn submit_placed(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
        placement: Placement,
    ) -> ApiResult<RunRecord> {
        request.validate()?;
        let limits = request.limits.or(&tool.limits).or(&self.settings.limits);
        self.check_can_run(tool).await?;

        let mut env = tool.env.clone();
        env.extend(request.env);
        let cmd = request.cmd.or_else(|| tool.cmd.clone());
        let id = ulid::Ulid::new().to_string();
        let Placement {
            data_dir,
            input_dir,
            step,
        } = placement;
        let record = RunRecord {
            id: id.clone(),
            tool: tool.name.clone(),
            pipeline: step.as_ref().map(|s| s.pipeline.clone()),
            step: step.as_ref().map(|s| s.step.clone()),
            pipeline_run: step.as_ref().map(|s| s.pipeline_run.clone()),
            git: None,
            detector: Some(
                tool.detector
                    .clone()
                    .unwrap_or_else(|| self.settings.detector.clone()),
            ),
            metrics: BTreeMap::new(),
            metrics_error: None,
            detection: Vec::new(),
            node: self.node.clone(),
            trigger: trigger.label(),
            image: tool.image.clone(),
            image_digest: None,
            data_dir: data_dir.display().to_string(),
            input_dir: input_dir.as_ref().map(|d| d.display().to_string()),
            cmd: cmd.clone(),
            env_keys: env.keys().cloned().collect(),
            limits: limits.clone(),
            status: RunStatus::Queued,
            exit_code: None,
            error: None,
            queued_at: Utc::now(),
            started_at: None,
            finished_at: None,
            log_path: self.log_path(&id).display().to_string(),
            log_bytes: 0,
            log_truncated: false,
            container_id: None,
            schedule: trigger.schedule(),
            scheduled_at: trigger.slot(),
        };
        self.runs.save(&record).await?;
        let mut labels = BTreeMap::from([
            (LABEL_RUN.to_owned(), id.clone()),
            (LABEL_NODE.to_owned(), self.node.clone()),
            (LABEL_TOOL.to_owned(), tool.name.clone()),
        ]);
        if let Some(s) = &step {
            labels.insert(LABEL_PIPELINE.to_owned(), s.pipeline.clone());
        }
        let mut mounts = vec![Mount {
            host: data_dir,
            container: DATA_MOUNT.to_owned(),
            read_only: false,
        }];
        if let Some(input) = input_dir {
            mounts.push(Mount {
                host: input,
                container: INPUT_MOUNT.to_owned(),
                read_only: true,
            });
        }
        let spec = ContainerSpec {
            name: format!("mao-{}", id.to_lowercase()),
            image: tool.image.clone(),
            cmd,
            env,
            labels,
            mounts,
            user: self.settings.run_as_node_user.then(node_user),
            limits: runtime_limits(&limits),
            docker_socket: tool.docker_socket,
        };
        let (cancel, progress_tx) = self.register(&id, record.schedule.clone());
        let this = self.clone();
        let queued = record.clone();
        tokio::spawn(async move { this.execute(queued, spec, cancel, progress_tx).await });
        info!(run_id = %id, tool = %tool.name, "run queued");
        Ok(record)
    }

    fn register(
        &self,
        id: &str,
        schedule: Option<String>,
    ) -> (CancellationToken, watch::Sender<Progress>) {
        let cancel = CancellationToken::new();
        let (tx, rx) = watch::channel(Progress::default());
        self.active.lock().unwrap().insert(
            id.to_owned(),
            Active {
                cancel: cancel.clone(),
                progress: rx,
                schedule,
            },
        );
        (cancel, tx)
    }

    async fn execute(
        self: Arc<Self>,
        mut record: RunRecord,
        spec: ContainerSpec,
        cancel: CancellationToken,
        progress: watch::Sender<Progress>,
    ) {
        let _permit = tokio::select! {
            permit = self.slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = cancel.cancelled() => {
                record.error = Some("cancelled while queued".into());
                return self.finish(record, RunStatus::Cancelled, &progress).await;
            }
        };
        match self.runtime.ensure_image(&spec.image).await {
            Ok(image) => {
                record.image_digest = Some(image.repo_digest.unwrap_or(image.id));
            }
            Err(e) => {
                record.error = Some(e.to_string());
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        for mount in &spec.mounts {
            if let Err(e) = std::fs::create_dir_all(&mount.host) {
                record.error = Some(format!("cannot create {}: {e}", mount.host.display()));
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        if let Err(e) = std::fs::create_dir_all(self.data_dir.join("runs")) {
            record.error = Some(format!("cannot create the log folder: {e}"));
            return self.finish(record, RunStatus::Failed, &progress).await;
        }
        let container = match self.runtime.create(&spec).await {
            Ok(id) => id,
            Err(e) => {
                record.error = Some(format!("cannot create the container: {e}"));
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        };
        record.container_id = Some(container.clone());
        if cancel.is_cancelled() {
            record.error = Some("cancelled before it started".into());
            self.finish(record, RunStatus::Cancelled, &progress).await;
            return self.remove_container(&container).await;
        }
        // Attached before the start, so not a byte of a chatty tool's output is lost to
        // the engine's log rotation.
        let logs = match self.runtime.logs(&container, true).await {
            Ok(stream) => stream,
            Err(e) => {
                record.error = Some(format!("cannot attach to the container's output: {e}"));
                self.finish(record, RunStatus::Failed, &progress).await;
                return self.remove_container(&container).await;
            }
        };
        let started_at = Utc::now();
        if let Err(e) = self.runtime.start(&container).await {
            record.error = Some(format!("cannot start the container: {e}"));
            self.finish(record, RunStatus::Failed, &progress).await;
            return self.remove_container(&container).await;
        }
        record.started_at = Some(started_at);
        record.status = RunStatus::Running;
        if let Err(e) = self.runs.save(&record).await {
            error!(run_id = %record.id, error = %e, "cannot save the run record");
        }
        info!(run_id = %record.id, container = %container, "run started");
        self.supervise(record, container, Some(logs), cancel, progress)
            .await;
    }

    /// Follows a started container to its end: logs, wait (timeout, cancel), record, removal.
    /// `logs` is the stream attached before the start; without it (re-attaching after a
    /// restart) the container's log is read again from its beginning.
    async fn supervise(
        self: Arc<Self>,
        record: RunRecord,
        container: String,
        logs: Option<LogStream>,
        cancel: CancellationToken,
        progress: watch::Sender<Progress>,
    ) {
        self.supervise_from(record, container, logs, None, cancel, progress)
            .await
    }

    /// [`Executor::supervise`] for a container that may have exited already (`exited`:
    /// its exit code, found by recovery), which is collected, never timed out.
    async fn supervise_from(
        self: Arc<Self>,
        mut record: RunRecord,
        container: String,
        logs: Option<LogStream>,
        exited: Option<i64>,
        cancel: CancellationToken,
        progress: watch::Sender<Progress>,
    ) {
        let timeout = record
            .limits
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(3600));
        let elapsed = record
            .started_at
            .map(|s| (Utc::now() - s).to_std().unwrap_or_default())
            .unwrap_or_default();
        let remaining = timeout.saturating_sub(elapsed);

        let pump = tokio::spawn(pump_logs(
            self.runtime.clone(),
            container.clone(),
            logs,
            PathBuf::from(&record.log_path),
            self.settings.log_cap,
            progress.clone(),
        ));
        let ending = match exited {
            Some(code) => Ending::Exited(code),
            None => tokio::select! {
            r = self.runtime.wait(&container) => match r {
                Ok(code) => Ending::Exited(code),
                Err(e) => Ending::Error(e.to_string()),
            },
            _ = tokio::time::sleep(remaining) => Ending::TimedOut,
            _ = cancel.cancelled() => Ending::Cancelled,
            },
        };
        if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
            if let Err(e) = self.runtime.kill(&container).await {
                warn!(run_id = %record.id, error = %e, "cannot kill the container");
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(10), self.runtime.wait(&container)).await;
        }
        match tokio::time::timeout(Duration::from_secs(30), pump).await {
            Ok(Ok(Ok((bytes, truncated)))) => {
                record.log_bytes = bytes;
                record.log_truncated = truncated;
            }
            Ok(Ok(Err(e))) => warn!(run_id = %record.id, error = %e, "the run's log is incomplete"),
            Ok(Err(e)) => warn!(run_id = %record.id, error = %e, "the log task failed"),
            Err(_) => {
                warn!(run_id = %record.id, "the log stream did not end; the log may be incomplete")
            }
        }
        let status = match ending {
            Ending::Exited(0) => {
                record.exit_code = Some(0);
                RunStatus::Succeeded
            }
            Ending::Exited(code) => {
                record.exit_code = Some(code);
                let oom = matches!(self.runtime.inspect(&container).await, Ok(Some(info)) if info.oom_killed);
                record.error = Some(if oom {
                    format!(
                        "killed for exceeding its memory limit ({})",
                        record.limits.memory.as_deref().unwrap_or("engine default")
                    )
                } else {
                    format!("the tool exited with code {code}")
                });
                RunStatus::Failed
            }
            Ending::TimedOut => {
                record.error = Some(format!(
                    "killed after its timeout of {}",
                    mao_api::units::format_duration(timeout)
                ));
                RunStatus::TimedOut
            }
            Ending::Cancelled => {
                record.error = Some("cancelled by a user".into());
                RunStatus::Cancelled
            }
            Ending::Error(e) => {
                record.error = Some(format!("lost track of the container: {e}"));
                RunStatus::Failed
            }
        };
        self.finish(record, status, &progress).await;
        self.remove_container(&container).await;
    }

    async fn remove_container(&self, container: &str) {
        if let Err(e) = self.runtime.remove(container).await {
            warn!(container, error = %e, "cannot remove the container; it is reaped at the next start");
        }
    }

    /// Saves the final record, tells followers, prunes old runs of the tool.
    async fn finish(
        &self,
        mut record: RunRecord,
        status: RunStatus,
        progress: &watch::Sender<Progress>,
    ) {
        record.status = status;
        record.finished_at = Some(Utc::now());
        if status == RunStatus::Succeeded {
            self.judge(&mut record).await;
        }
        if let Err(e) = self.runs.save(&record).await {
            error!(run_id = %record.id, error = %e, "cannot save the final run record");
        }
        info!(run_id = %record.id, tool = %record.tool, status = status.as_str(), exit_code = ?record.exit_code, "run finished");
        self.report(&record).await;
        self.active.lock().unwrap().remove(&record.id);
        progress.send_modify(|p| p.finished = true);
        if let Err(e) = self.prune_with(&record.tool, Some(&record)).await {
            warn!(tool = %record.tool, error = %e, "cannot prune old runs");
        }
    }

    /// Reads the metrics the run wrote and judges each against its history on this node
    /// (seeded from the folder's older control files on first use). A problem with the
    /// metrics is recorded on the run; it never fails the run.
    async fn judge(&self, record: &mut RunRecord) {
        let dir = PathBuf::from(&record.data_dir);
        // The container's files carry the host's clock; allow a little skew.
        let since = record
            .started_at
            .map(|t| std::time::SystemTime::from(t) - Duration::from_secs(2));
        let d = dir.clone();
        let collected = tokio::task::spawn_blocking(move || crate::metrics::collect(&d, since))
            .await
            .unwrap_or_default();
        record.metrics = collected.values;
        let mut problems = collected.problems;
        let spec = record.detector.clone().unwrap_or_default();
        let detector = match spec.detector() {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("detector: {e}"));
                None
            }
        };
        let subject = match (&record.pipeline, &record.step) {
            (Some(p), Some(s)) => format!("pipeline/{p}/{s}"),
            _ => format!("tool/{}", record.tool),
        };
        for (metric, value) in record.metrics.clone() {
            let mut history = match self.runs.metric_history(&subject, &metric).await {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("history of {metric}: {e}"));
                    continue;
                }
            };
            if history.is_empty() && metric == crate::metrics::CONTROL {
                let d = dir.clone();
                let seeds = tokio::task::spawn_blocking(move || crate::metrics::seed_history(&d))
                    .await
                    .unwrap_or_default();
                if !seeds.is_empty() {
                    let keyed: Vec<(String, f64)> = seeds
                        .iter()
                        .map(|(file, v)| (format!("a-{file}"), *v))
                        .collect();
                    let _ = self
                        .runs
                        .add_metric_values(&subject, &metric, &keyed, METRIC_HISTORY)
                        .await;
                    history = seeds.into_iter().map(|(_, v)| v).collect();
                }
            }
            if let Some(detector) = &detector {
                record.detection.push(mao_api::MetricJudgement {
                    metric: metric.clone(),
                    method: detector.method(),
                    judgement: detector.judge(&history, value),
                });
            }
            let entry = [(format!("r-{}", record.id), value)];
            if let Err(e) = self
                .runs
                .add_metric_values(&subject, &metric, &entry, METRIC_HISTORY)
                .await
            {
                problems.push(format!("history of {metric}: {e}"));
            }
        }
        if !problems.is_empty() {
            warn!(run_id = %record.id, problems = %problems.join("; "), "metrics not fully usable");
            record.metrics_error = Some(problems.join("; "));
        }
    }

    /// Raises the notifications a finished run calls for: its failure, its spikes.
    async fn report(&self, record: &RunRecord) {
        use crate::notify::Draft;
        use mao_api::{NotificationKind, Severity, Verdict};
        let Some(notifier) = self.notifier.get() else {
            return;
        };
        let what = match (&record.pipeline, &record.step) {
            (Some(p), Some(s)) => format!("step {s} of pipeline {p} (tool {})", record.tool),
            _ => format!("tool {}", record.tool),
        };
        if matches!(
            record.status,
            RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost
        ) {
            let message = format!(
                "run {} of {what} on node {} ended {}: {}",
                record.id,
                self.node,
                record.status.as_str(),
                record.error.as_deref().unwrap_or("no reason recorded")
            );
            notifier
                .raise(
                    Draft::new(NotificationKind::RunFailed, Severity::Warning, message)
                        .about_run(record),
                )
                .await;
        }
        for m in &record.detection {
            let j = &m.judgement;
            let direction = match j.verdict {
                Verdict::SpikeUp => "up",
                Verdict::SpikeDown => "down",
                _ => continue,
            };
            let change = j
                .change_pct
                .map(|c| format!(" ({c:+.1} %)"))
                .unwrap_or_default();
            let message = format!(
                "{} of {what} on node {} jumped {direction}: {} against a baseline of {}{change}; score {:.2} ({} over {} earlier values)",
                m.metric,
                self.node,
                j.value,
                j.baseline.map(|b| format!("{b}")).unwrap_or_else(|| "?".into()),
                j.score,
                m.method,
                j.history_len
            );
            let mut draft =
                Draft::new(NotificationKind::Spike, Severity::Warning, message).about_run(record);
            draft.metric = Some(m.metric.clone());
            draft.value = Some(j.value);
            draft.baseline = j.baseline;
            draft.score = Some(j.score);
            notifier.raise(draft).await;
        }
    }

    /// Cancels a queued or running run; 409 if it has already finished.
    pub async fn cancel(&self, id: &str) -> ApiResult<RunRecord> {
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
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "recovering",
                    format!("run {id} belongs to the previous process and is being recovered (is the Docker Engine reachable?); retry shortly"),
                ))
            }
            _ => Err(ApiError::new(
                StatusCode::CONFLICT,
                "run_finished",
                format!("run {id} has already finished ({})", record.status.as_str()),
            )),
        }
    }

    /// One run's record; 404 if unknown.
    pub async fn get(&self, id: &str) -> ApiResult<RunRecord> {
        self.runs.get(id).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("run {id} does not exist on this node"),
            )
        })
    }

    /// Runs, newest first, filtered.
    pub async fn list(
        &self,
        tool: Option<&str>,
        status: Option<RunStatus>,
        limit: usize,
    ) -> ApiResult<Vec<RunRecord>> {
        let mut all = self.runs.list().await?;
        all.reverse();
        Ok(all
            .into_iter()
            .filter(|r| tool.is_none_or(|t| r.tool == t))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .take(limit)
            .collect())
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
    pub async fn wait(&self, id: &str, limit: Duration) -> ApiResult<RunRecord> {
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

    /// Keeps the newest `retention` finished runs of `tool`; deletes older ones and their logs.
    pub async fn prune(&self, tool: &str) -> Result<(), mao_store::StoreError> {
        self.prune_with(tool, None).await
    }

    /// [`Executor::prune`], counting `just_finished` (already saved) among the finished runs.
    async fn prune_with(
        &self,
        tool: &str,
        just_finished: Option<&RunRecord>,
    ) -> Result<(), mao_store::StoreError> {
        let mut index = self.finished.lock().await;
        if index.is_none() {
            let mut loaded = FinishedIndex::new();
            for r in self.runs.list().await? {
                if r.status.is_finished() {
                    loaded.entry(r.tool).or_default().insert(r.id, r.log_path);
                }
            }
            *index = Some(loaded);
        }
        let index = index.as_mut().expect("loaded above");
        if let Some(r) = just_finished {
            index
                .entry(tool.to_owned())
                .or_default()
                .insert(r.id.clone(), r.log_path.clone());
        }
        let Some(runs) = index.get_mut(tool) else {
            return Ok(());
        };
        while runs.len() > self.settings.retention {
            let Some((id, log_path)) = runs.pop_first() else {
                break;
            };
            self.runs.delete(&id).await?;
            match std::fs::remove_file(&log_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn!(path = %log_path, error = %e, "cannot delete an old log"),
            }
        }
        Ok(())
    }

    /// After a restart: re-attaches running containers, collects exited ones, marks
    /// records whose container vanished `lost`, removes containers nobody owns, prunes.
    /// Retries until the container engine answers.
    pub async fn recover(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.clone().recover_once().await {
                Ok(()) => {
                    self.recovery_done.send_replace(true);
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "cannot recover runs yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn recover_once(self: Arc<Self>) -> anyhow::Result<()> {
        // Containers first, records second: every container listed was created after its
        // record was saved, so a container without a record is truly nobody's.
        let labels = BTreeMap::from([(LABEL_NODE.to_owned(), self.node.clone())]);
        let containers = self.runtime.list(&labels).await?;
        let records = self.runs.list().await?;
        let is_active = |id: &str| self.active.lock().unwrap().contains_key(id);
        let mut by_run: HashMap<String, mao_runtime::ContainerInfo> = HashMap::new();
        for c in containers {
            match c.labels.get(LABEL_RUN) {
                Some(run) => {
                    by_run.insert(run.clone(), c);
                }
                None => self.remove_container(&c.id).await,
            }
        }
        let mut tools = std::collections::BTreeSet::new();
        for record in records {
            tools.insert(record.tool.clone());
            let container = by_run.remove(&record.id);
            // A run of this process (submitted or re-attached already) is supervised.
            if is_active(&record.id) {
                continue;
            }
            if record.status.is_finished() {
                if let Some(c) = container {
                    self.remove_container(&c.id).await;
                }
                continue;
            }
            let (cancel, progress) = self.register(&record.id, record.schedule.clone());
            match container {
                // Started (running or exited): follow it to its end. A container that was
                // created but never started has no exit code and is not running.
                Some(c) if c.running || c.exit_code.is_some() => {
                    info!(run_id = %record.id, running = c.running, "re-attaching to the run's container");
                    let mut record = record;
                    record.container_id = Some(c.id.clone());
                    if record.status == RunStatus::Queued {
                        record.status = RunStatus::Running;
                        record.started_at.get_or_insert_with(Utc::now);
                    }
                    let exited = if c.running { None } else { c.exit_code };
                    tokio::spawn(
                        self.clone()
                            .supervise_from(record, c.id, None, exited, cancel, progress),
                    );
                }
                Some(c) => {
                    let mut record = record;
                    record.error = Some("the daemon stopped before the container started".into());
                    self.finish(record, RunStatus::Lost, &progress).await;
                    self.remove_container(&c.id).await;
                }
                None => {
                    let mut record = record;
                    record.error = Some(if record.status == RunStatus::Queued {
                        "the daemon stopped before the run started".into()
                    } else {
                        "the container vanished while the daemon was down".into()
                    });
                    self.finish(record, RunStatus::Lost, &progress).await;
                }
            }
        }
        for (run, c) in by_run {
            if is_active(&run) {
                continue;
            }
            info!(container = %c.id, "removing a container with no run record");
            self.remove_container(&c.id).await;
        }
        for tool in tools {
            if let Err(e) = self.prune(&tool).await {
                warn!(tool = %tool, error = %e, "cannot prune old runs");
            }
        }
        Ok(())
    }
}

/// Writes a container's output to the run's log file, up to `cap` bytes, then a marker;
/// the rest is drained and dropped so the container never blocks on a full pipe.
async fn pump_logs(
    runtime: Arc<dyn Runtime>,
    container: String,
    attached: Option<LogStream>,
    path: PathBuf,
    cap: u64,
    progress: watch::Sender<Progress>,
) -> anyhow::Result<(u64, bool)> {
    let mut file = tokio::fs::File::create(&path).await?;
    let mut stream = match attached {
        Some(s) => s,
        None => runtime.logs(&container, true).await?,
    };
    let mut written = 0u64;
    let mut truncated = false;
    while let Some(chunk) = stream.next().await {
        let bytes = match chunk? {
            LogChunk::Stdout(b) | LogChunk::Stderr(b) => b,
        };
        if truncated {
            continue;
        }
        let room = cap.saturating_sub(written) as usize;
        if bytes.len() <= room {
            file.write_all(&bytes).await?;
            written += bytes.len() as u64;
        } else {
            file.write_all(&bytes[..room]).await?;
            written += room as u64;
            let marker = format!("\n[mao: log truncated at {cap} bytes; the run goes on]\n");
            file.write_all(marker.as_bytes()).await?;
            truncated = true;
        }
        file.flush().await?;
        progress.send_modify(|p| p.log_bytes = written);
    }
    file.sync_all().await?;
    Ok((written, truncated))
}

/// The daemon's own uid:gid.
fn node_user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

fn runtime_limits(limits: &RunLimits) -> Limits {
    Limits {
        memory_bytes: limits.memory.as_deref().and_then(|m| parse_size(m).ok()),
        cpus: limits.cpus,
        pids: limits.pids,
    }
}

/// The one mapping of runtime errors at the API edge.
pub fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::Unavailable(m) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "runtime_unavailable",
            format!("the Docker Engine is unavailable, so tools cannot run now ({m})"),
        ),
        e => {
            error!(error = %e, "container runtime error");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the daemon's log",
            )
        }
    }
}
