//! Submitting a run: checks, the queued record, the container spec, and the start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mao_api::{RunRecord, RunRequest, RunStatus, Tool};
use mao_runtime::{ContainerSpec, Mount, RuntimeError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::{
    node_user, runtime_limits, Active, Executor, Placement, Progress, Result, RunError, Trigger,
    DATA_MOUNT, INPUT_MOUNT, LABEL_NODE, LABEL_PIPELINE, LABEL_RUN, LABEL_TOOL,
};

impl Executor {
    /// Whether this node could start a run of `tool` now: its socket policy allows it and
    /// the container engine answers (within 5 s).
    pub async fn check_can_run(&self, tool: &Tool) -> Result<()> {
        if tool.docker_socket && !self.settings.allow_docker_socket {
            return Err(RunError::DockerSocketNotAllowed {
                tool: tool.name.clone(),
            });
        }
        match tokio::time::timeout(Duration::from_secs(5), self.runtime.ping()).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(RuntimeError::Unavailable(
                "the Docker Engine did not answer within 5 s".into(),
            )
            .into()),
        }
    }

    /// Queues a run of `tool` in its own data folder and returns its record at once.
    pub async fn submit(
        self: &Arc<Self>,
        tool: &Tool,
        request: RunRequest,
        trigger: Trigger,
    ) -> Result<RunRecord> {
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
    ) -> Result<RunRecord> {
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

    pub(super) fn register(
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
            if let Err(e) = tokio::fs::create_dir_all(&mount.host).await {
                record.error = Some(format!("cannot create {}: {e}", mount.host.display()));
                return self.finish(record, RunStatus::Failed, &progress).await;
            }
        }
        if let Err(e) = tokio::fs::create_dir_all(self.data_dir.join("runs")).await {
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
}
