//! Submitting a run: checks, the queued record, the container spec, and the start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mao_api::{FailureReason, RunRecord, RunRequest, RunStatus, Tool};
use mao_runtime::{ContainerSpec, Mount, RuntimeError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::policy::{daemon_ids, parse_user};
use super::{
    ownership, runtime_limits, Active, Executor, Placement, Progress, Result, RunError, Trigger,
    DATA_MOUNT, INPUT_MOUNT, LABEL_NODE, LABEL_PIPELINE, LABEL_RUN, LABEL_TOOL, QUEUE_RETRY_AFTER,
};

/// A new run's id: a ULID, so later runs sort after earlier ones.
pub fn new_run_id() -> String {
    ulid::Ulid::new().to_string()
}

/// How long the engine may take to say whether it has an image, at request time.
const IMAGE_CHECK: Duration = Duration::from_secs(5);

impl Executor {
    /// Whether this node accepts `tool` in its registry: capabilities, network and limits
    /// within its policy, and an image that matches `allowed_images` or is present on the
    /// engine (which is asked, never made to pull).
    pub async fn admit(&self, tool: &Tool) -> Result<()> {
        self.settings.policy.check_tool(tool)?;
        self.check_image(&tool.image).await
    }

    /// Whether this node could start a run of `tool` now: its policy allows it, the
    /// container engine answers (within 5 s) and the queue has room.
    pub async fn check_can_run(&self, tool: &Tool) -> Result<()> {
        self.check_runnable(tool).await?;
        let waiting = self.waiting();
        if waiting >= self.settings.max_queued {
            return Err(self.queue_full(waiting));
        }
        Ok(())
    }

    /// [`Executor::check_can_run`] but for the queue, which a submission checks as it
    /// takes its place (and a pipeline's step does not).
    async fn check_runnable(&self, tool: &Tool) -> Result<()> {
        if tool.docker_socket && !self.settings.allow_docker_socket {
            return Err(RunError::DockerSocketNotAllowed {
                tool: tool.name.clone(),
            });
        }
        self.settings.policy.check_tool(tool)?;
        match tokio::time::timeout(Duration::from_secs(5), self.runtime.ping()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(RuntimeError::Unavailable(
                    "the Docker Engine did not answer within 5 s".into(),
                )
                .into())
            }
        }
        self.check_image(&tool.image).await
    }

    /// An image matching `allowed_images` may be used (and pulled); another only when the
    /// engine has it already.
    async fn check_image(&self, image: &str) -> Result<()> {
        let policy = &self.settings.policy;
        if policy.image_matches(image) {
            return Ok(());
        }
        match tokio::time::timeout(IMAGE_CHECK, self.runtime.find_image(image)).await {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(policy.image_refused(image)),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "the Docker Engine did not say within {} s whether it has image {image}",
                IMAGE_CHECK.as_secs()
            ))
            .into()),
        }
    }

    /// Runs waiting for a slot now: active ones beyond the slots.
    fn waiting(&self) -> usize {
        let active = self.active.lock().unwrap().len();
        active.saturating_sub(self.settings.max_concurrent)
    }

    fn queue_full(&self, waiting: usize) -> RunError {
        RunError::QueueFull {
            waiting,
            max: self.settings.max_queued,
            retry_after: QUEUE_RETRY_AFTER,
        }
    }

    /// Queues a run of `tool` in its own data folder and returns its record at once.
    pub async fn submit(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
    ) -> Result<RunRecord> {
        self.submit_as(tool, request, trigger, new_run_id()).await
    }

    /// [`Executor::submit`] with the run id chosen by the caller (the scheduler names the
    /// run in its slot claim before the run starts).
    pub async fn submit_as(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
        id: String,
    ) -> Result<RunRecord> {
        let placement = Placement {
            data_dir: self.tool_data_dir(&tool.name),
            input_dir: None,
            step: None,
        };
        self.submit_placed_as(tool, request, trigger, placement, id)
            .await
    }

    /// Queues a run of `tool` with its folders chosen by the caller (a pipeline step's
    /// worktree and input) and returns its record at once.
    pub async fn submit_placed(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
        placement: Placement,
    ) -> Result<RunRecord> {
        self.submit_placed_as(tool, request, trigger, placement, new_run_id())
            .await
    }

    async fn submit_placed_as(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
        placement: Placement,
        id: String,
    ) -> Result<RunRecord> {
        request.validate()?;
        self.settings.policy.check_limits(&request.limits)?;
        let limits = request.limits.or(&tool.limits).or(&self.settings.limits);
        self.check_runnable(tool).await?;

        let mut env = tool.env.clone();
        env.extend(request.env);
        let cmd = request.cmd.or_else(|| tool.cmd.clone());
        let Placement {
            data_dir,
            input_dir,
            step,
        } = placement;
        // A pipeline's steps were admitted with their pipeline run: only a new run is bounded.
        let bounded = step.is_none();
        let (cancel, progress_tx) = self.register(&id, trigger.schedule(), bounded)?;
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
            insights_error: None,
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
            reason: None,
            queued_at: Utc::now(),
            dispatched_at: None,
            started_at: None,
            finished_at: None,
            log_path: self.log_path(&id).display().to_string(),
            log_bytes: 0,
            log_truncated: false,
            container_id: None,
            schedule: trigger.schedule(),
            scheduled_at: trigger.slot(),
        };
        if let Err(e) = self.runs.save(&record).await {
            self.active.lock().unwrap().remove(&id);
            return Err(e.into());
        }
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
        // The run's own context last: a tool's env cannot make it claim another run.
        env.extend(super::run_context(&id, &self.node, &tool.name, &trigger));
        let spec = ContainerSpec {
            name: format!("mao-{}", id.to_lowercase()),
            image: tool.image.clone(),
            cmd,
            env,
            labels,
            mounts,
            user: Some(self.settings.policy.run_user.clone()),
            limits: runtime_limits(&limits),
            docker_socket: tool.docker_socket,
            cap_add: tool.capabilities.clone(),
            network: Some(self.settings.policy.network_of(tool).as_str().to_owned()),
            read_only_rootfs: true,
            tmp_size: Some(self.settings.policy.tmp_size),
        };
        let this = self.clone();
        let queued = record.clone();
        tokio::spawn(async move { this.execute(queued, spec, cancel, progress_tx).await });
        info!(run_id = %id, tool = %tool.name, "run queued");
        Ok(record)
    }

    /// Makes the run active; with `bounded`, refuses it when the queue is full (checked
    /// and inserted under one lock, so two requests cannot both take the last place).
    pub(super) fn register(
        &self,
        id: &str,
        schedule: Option<String>,
        bounded: bool,
    ) -> Result<(CancellationToken, watch::Sender<Progress>)> {
        let cancel = CancellationToken::new();
        let (tx, rx) = watch::channel(Progress::default());
        let mut active = self.active.lock().unwrap();
        let waiting = active.len().saturating_sub(self.settings.max_concurrent);
        if bounded && waiting >= self.settings.max_queued {
            drop(active);
            return Err(self.queue_full(waiting));
        }
        active.insert(
            id.to_owned(),
            Active {
                cancel: cancel.clone(),
                progress: rx,
                schedule,
            },
        );
        Ok((cancel, tx))
    }

    pub(super) async fn execute(
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
        // Only an image that matches allowed_images may be pulled; another must be here.
        let image = if self.settings.policy.image_matches(&spec.image) {
            // A pull has its own, longer bound; the inspection before it has the engine's.
            self.runtime.ensure_image(&spec.image).await
        } else {
            match self
                .engine("an image lookup", self.runtime.find_image(&spec.image))
                .await
            {
                Ok(Some(image)) => Ok(image),
                Ok(None) => {
                    record.error =
                        Some(self.settings.policy.image_refused(&spec.image).to_string());
                    return self.finish(record, RunStatus::Failed, &progress).await;
                }
                Err(e) => Err(e),
            }
        };
        match image {
            Ok(image) => {
                record.image_digest = Some(image.repo_digest.unwrap_or(image.id));
            }
            Err(e) => {
                self.engine_failed(&mut record, "find its image", e);
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        for mount in &spec.mounts {
            if let Err(e) = tokio::fs::create_dir_all(&mount.host).await {
                record.error = Some(format!("cannot create {}: {e}", mount.host.display()));
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        for mount in spec.mounts.iter().filter(|m| !m.read_only) {
            if let Err(e) = self.hand_over(&mount.host, &record.id).await {
                record.error = Some(format!(
                    "cannot hand {} to the tool's user {}: {e}",
                    mount.host.display(),
                    self.settings.policy.run_user
                ));
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        if let Err(e) = tokio::fs::create_dir_all(self.data_dir.join("runs")).await {
            record.error = Some(format!("cannot create the log folder: {e}"));
            return self.finish(record, RunStatus::Failed, &progress).await;
        }
        let container = match self
            .engine("a container creation", self.runtime.create(&spec))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.engine_failed(&mut record, "create the container", e);
                let unanswered = record.reason.is_some();
                self.finish(record, RunStatus::Failed, &progress).await;
                if unanswered {
                    // A creation the engine made but did not confirm leaves a container
                    // named after the run, removed by that name once the engine answers.
                    self.reap_later(spec.name.clone());
                }
                return;
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
        let logs = match self
            .engine("an attachment", self.runtime.logs(&container, true))
            .await
        {
            Ok(stream) => stream,
            Err(e) => {
                self.engine_failed(&mut record, "attach to the container's output", e);
                self.finish(record, RunStatus::Failed, &progress).await;
                return self.reap_later(container);
            }
        };
        let dispatched_at = Utc::now();
        record.dispatched_at = Some(dispatched_at);
        if let Err(e) = self
            .engine("a container start", self.runtime.start(&container))
            .await
        {
            self.engine_failed(&mut record, "start the container", e);
            self.finish(record, RunStatus::Failed, &progress).await;
            // The engine may have started it without saying so: it is killed and removed
            // once the engine answers again.
            return self.reap_later(container);
        }
        // Until the run ends and the container's own StartedAt replaces it.
        record.started_at = Some(dispatched_at);
        record.status = RunStatus::Running;
        if let Err(e) = self.runs.save(&record).await {
            error!(run_id = %record.id, error = %e, "cannot save the run record");
        }
        info!(run_id = %record.id, container = %container, "run started");
        self.supervise(record, container, Some(logs), cancel, progress)
            .await;
    }
}

impl Executor {
    /// `call` to the engine, bounded by `engine_timeout` (whatever bound the runtime has
    /// of its own): an engine that does not answer is unavailable.
    pub(super) async fn engine<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, RuntimeError>>,
    ) -> Result<T, RuntimeError> {
        let limit = self.settings.engine_timeout;
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(RuntimeError::Unavailable(format!(
                "the Docker Engine did not answer {what} within {}",
                mao_api::units::format_duration(limit)
            )))
        })
    }

    /// Records why the run could not `stage` (create the container, ...): an engine that
    /// cannot be reached is `engine_unresponsive`, with what to do about it.
    pub(super) fn engine_failed(&self, record: &mut RunRecord, stage: &str, e: RuntimeError) {
        record.error = Some(match e {
            RuntimeError::Unavailable(why) => {
                record.reason = Some(FailureReason::EngineUnresponsive);
                engine_unresponsive(&self.node, stage, &why)
            }
            e => format!("cannot {stage}: {e}"),
        });
    }

    /// The uid:gid files change hands to and from, when they do: only a root daemon running
    /// tools as another user.
    fn handover_ids(&self) -> Option<((u32, u32), (u32, u32))> {
        let daemon = daemon_ids();
        let tool = parse_user(&self.settings.policy.run_user).ok()?;
        (daemon.0 == 0 && tool != daemon).then_some((tool, daemon))
    }

    /// Makes `dir` the tool user's for run `id`, so the tool can write it.
    async fn hand_over(&self, dir: &std::path::Path, id: &str) -> std::io::Result<()> {
        let Some(((uid, gid), _)) = self.handover_ids() else {
            return Ok(());
        };
        let dir = dir.to_owned();
        let first = {
            let mut lent = self.lent.lock().unwrap();
            let runs = lent.entry(dir.clone()).or_default();
            runs.insert(id.to_owned());
            runs.len() == 1
        };
        if !first {
            // Another run of the tool holds it already: the tree is the tool user's, and
            // walking it now, while that run's tool can swap folders for symlinks under
            // the walk, could hand a host file over.
            return Ok(());
        }
        tokio::task::spawn_blocking(move || ownership::chown_tree(&dir, uid, gid))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Makes `dir` the daemon's again, with every file the tool wrote in it, once no
    /// other active run uses it; `id` is the run that ended.
    pub(super) async fn take_back(&self, dir: &std::path::Path, id: &str) -> std::io::Result<()> {
        let Some((_, (uid, gid))) = self.handover_ids() else {
            return Ok(());
        };
        {
            let mut lent = self.lent.lock().unwrap();
            if let Some(runs) = lent.get_mut(dir) {
                runs.remove(id);
                if !runs.is_empty() {
                    return Ok(());
                }
                lent.remove(dir);
            }
        }
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || match ownership::chown_tree(&dir, uid, gid) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// The error of a run the engine did not serve: what happened, and what to do.
pub(super) fn engine_unresponsive(node: &str, stage: &str, why: &str) -> String {
    format!(
        "the Docker Engine stopped answering, so the run could not {stage} ({why}); \
         check the engine on node {node} (`docker info`; restart it if it hangs), then run \
         the tool again"
    )
}
