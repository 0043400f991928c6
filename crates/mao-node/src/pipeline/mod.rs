//! Pipelines on this node: init (clone, node branch, `nodes` list), runs (steps in order,
//! each a run record over the output dataset's worktree), the git work after each step
//! (commit, push, keep what failed, merge into `ground-truth` under the federation lock),
//! and the pusher that retries pushes the remote could not take.
//!
//! A step's flow: take the dataset's worktree lock (two runs never share a worktree) ->
//! fetch and fast-forward the node branch (offline is fine: the step runs on what the
//! node has) -> export the input dataset -> run the container -> commit what it wrote and
//! publish (rebase when someone else pushed, never force) or keep it under
//! `refs/mao/failed/<run-id>` when the step failed -> ground-truth merge -> record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mao_api::{Dataset, Pipeline, PipelineRun, RunStatus, Step, StepRun, Tool};
use mao_store::{Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::datasets::{Clones, DatasetError};
use crate::executor::{Executor, RunError, Trigger};
use crate::local::LocalStore;
use crate::notify::Notifier;
use crate::registry::{Registry, RegistryError};
use crate::{Keys, Secret, SecretScope};

mod ground_truth;
mod init;
mod publish;
mod pusher;
mod recover;
mod step;

pub use init::init;
pub use pusher::pusher;
pub use recover::recover;

/// What can go wrong with a pipeline or one of its runs.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A step names a tool or dataset that is not registered.
    #[error("{what} is not registered")]
    NotRegistered { what: String },
    #[error("step {step:?} needs the secret {secret:?}, which this node does not have (add it under [secrets] in the node config)")]
    MissingSecret { step: String, secret: String },
    #[error("step {step:?} (pipeline {pipeline:?}, tool {tool:?}) may not use the secret {secret:?}; add the pipeline or the tool to its scope (pipelines = [...], tools = [...] under [secrets.{secret}] in the node config)")]
    SecretNotAllowed {
        step: String,
        secret: String,
        pipeline: String,
        tool: String,
    },
    #[error("step {step:?} may not use the secret {secret:?}: it has no scope (it is written [secrets] {secret} = \"...\"); write it as [secrets.{secret}] with value (or file, or env) and pipelines = [...] and/or tools = [...] in the node config")]
    SecretUnscoped { step: String, secret: String },
    #[error("pipeline run {id} does not exist on this node")]
    NotFound { id: String },
    #[error("pipeline run {id} has already finished ({})", status.as_str())]
    Finished { id: String, status: RunStatus },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of a pipeline operation.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Everything pipelines need: the registries they read, the node's clones, the executor
/// that runs their steps, and the runs of this process.
pub struct PipelineService {
    pub node: String,
    pub keys: Keys,
    pub store: Arc<dyn Store>,
    pub tools: Registry<Tool>,
    pub datasets: Registry<Dataset>,
    pub pipelines: Registry<Pipeline>,
    pub clones: Arc<Clones>,
    pub executor: Arc<Executor>,
    pub local: LocalStore,
    pub notifier: Arc<Notifier>,
    /// `{{ secret:NAME }}` values of steps' environments (node-local).
    pub secrets: BTreeMap<String, Secret>,
    /// Pipeline runs of this process.
    pub pipeline_runs: PipelineRuns,
}

struct Active {
    cancel: CancellationToken,
    schedule: Option<String>,
    current_step_run: Option<String>,
    done: watch::Receiver<bool>,
}

/// The pipeline runs of this process, and the pusher's wake-up.
pub struct PipelineRuns {
    active: Mutex<HashMap<String, Active>>,
    push_wake: Notify,
    /// True once the runs a crash interrupted hold their worktrees again; no step and no
    /// push touches a worktree before.
    recovered: watch::Sender<bool>,
}

impl Default for PipelineRuns {
    fn default() -> PipelineRuns {
        PipelineRuns {
            active: Mutex::default(),
            push_wake: Notify::new(),
            recovered: watch::channel(false).0,
        }
    }
}

impl PipelineRuns {
    /// Waits until the runs of the previous process have their worktrees again.
    pub(crate) async fn wait_recovered(&self) {
        let mut rx = self.recovered.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Whether the pipeline runs a crash interrupted are followed again (or there were none).
    pub(crate) fn is_recovered(&self) -> bool {
        *self.recovered.borrow()
    }

    /// Whether any pipeline run is going.
    pub fn any_active(&self) -> bool {
        !self.active.lock().unwrap().is_empty()
    }

    /// Ids of the runs of `schedule` still going.
    pub fn active_of(&self, schedule: &str) -> Vec<String> {
        self.active
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| a.schedule.as_deref() == Some(schedule))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn done(&self, id: &str) -> Option<watch::Receiver<bool>> {
        self.active.lock().unwrap().get(id).map(|a| a.done.clone())
    }

    fn set_current(&self, id: &str, step_run: Option<String>) {
        if let Some(a) = self.active.lock().unwrap().get_mut(id) {
            a.current_step_run = step_run;
        }
    }
}

/// 404 naming the step when a pipeline refers to a tool or dataset that is not registered;
/// 422 when a step asks for a secret of this node whose scope leaves it out.
pub async fn check_refs(state: &PipelineService, p: &Pipeline) -> Result<()> {
    for step in &p.steps {
        for value in step.env.values() {
            if let Some(secret) = mao_api::pipeline::secret_ref(value) {
                // A secret this node lacks may be another node's: judged at run time.
                if let Some(s) = state.secrets.get(secret) {
                    check_scope(p, step, secret, s)?;
                }
            }
        }
        if let Err(e) = state.tools.get(&step.tool).await {
            return Err(refine(
                e,
                &format!("step {:?}: tool {:?}", step.name, step.tool),
            ));
        }
        for d in std::iter::once(&step.output_dataset).chain(step.input_dataset.iter()) {
            if let Err(e) = state.datasets.get(d).await {
                return Err(refine(e, &format!("step {:?}: dataset {d:?}", step.name)));
            }
        }
    }
    Ok(())
}

/// The pipeline as it may be stored in the shared registry: a node secret's value written
/// into it (instead of a `{{ secret:NAME }}` reference) is masked.
pub fn redact(state: &PipelineService, p: Pipeline) -> Pipeline {
    state.local.redactor().redact_value(p)
}

fn refine(e: RegistryError, what: &str) -> PipelineError {
    if e.is_not_found() {
        PipelineError::NotRegistered {
            what: what.to_owned(),
        }
    } else {
        e.into()
    }
}

fn check_scope(p: &Pipeline, step: &Step, name: &str, secret: &Secret) -> Result<()> {
    if secret.allows(&p.name, &step.tool) {
        Ok(())
    } else if secret.scope == SecretScope::Unscoped {
        Err(PipelineError::SecretUnscoped {
            step: step.name.clone(),
            secret: name.to_owned(),
        })
    } else {
        Err(PipelineError::SecretNotAllowed {
            step: step.name.clone(),
            secret: name.to_owned(),
            pipeline: p.name.clone(),
            tool: step.tool.clone(),
        })
    }
}

/// The tool a step of `p` runs: the registered tool with the step's command, environment
/// (secrets filled in, each checked against its scope) and socket wish.
pub(crate) fn step_tool(
    state: &PipelineService,
    p: &Pipeline,
    tool: &Tool,
    step: &Step,
) -> Result<Tool> {
    let mut t = tool.clone();
    if step.cmd.is_some() {
        t.cmd = step.cmd.clone();
    }
    for (k, v) in &step.env {
        let value = match mao_api::pipeline::secret_ref(v) {
            Some(secret) => match state.secrets.get(secret) {
                Some(s) => {
                    check_scope(p, step, secret, s)?;
                    s.value.clone()
                }
                None => {
                    return Err(PipelineError::MissingSecret {
                        step: step.name.clone(),
                        secret: secret.to_owned(),
                    })
                }
            },
            None => v.clone(),
        };
        t.env.insert(k.clone(), value);
    }
    t.docker_socket |= step.docker_socket;
    if step.detector.is_some() {
        t.detector = step.detector.clone();
    }
    Ok(t)
}

/// Whether this node can run the pipeline now: tools runnable, secrets present, every
/// dataset cloned.
pub async fn check_can_run(state: &PipelineService, p: &Pipeline) -> Result<()> {
    check_refs(state, p).await?;
    for step in &p.steps {
        let (tool, _) = state.tools.get(&step.tool).await?;
        let tool = step_tool(state, p, &tool, step)?;
        state.executor.check_can_run(&tool).await?;
    }
    for (name, _) in p.datasets() {
        state.clones.require(name)?;
    }
    Ok(())
}

/// Queues a run of pipeline `p` and returns its record at once.
pub async fn submit(
    state: &Arc<PipelineService>,
    p: Pipeline,
    trigger: Trigger,
) -> Result<PipelineRun> {
    submit_as(state, p, trigger, crate::executor::new_run_id()).await
}

/// [`submit`] with the pipeline run's id chosen by the caller (the scheduler names it in
/// its slot claim before it starts).
pub async fn submit_as(
    state: &Arc<PipelineService>,
    p: Pipeline,
    trigger: Trigger,
    id: String,
) -> Result<PipelineRun> {
    check_can_run(state, &p).await?;
    let run = PipelineRun {
        id,
        pipeline: p.name.clone(),
        node: state.node.clone(),
        trigger: trigger.label(),
        status: RunStatus::Queued,
        steps: p
            .steps
            .iter()
            .map(|s| StepRun {
                name: s.name.clone(),
                tool: s.tool.clone(),
                run_id: None,
                status: None,
            })
            .collect(),
        error: None,
        queued_at: Utc::now(),
        started_at: None,
        finished_at: None,
        schedule: trigger.schedule(),
        scheduled_at: trigger.slot(),
    };
    state.local.save_pipeline_run(&run).await?;
    let cancel = CancellationToken::new();
    let (done_tx, done_rx) = watch::channel(false);
    state.pipeline_runs.active.lock().unwrap().insert(
        run.id.clone(),
        Active {
            cancel: cancel.clone(),
            schedule: run.schedule.clone(),
            current_step_run: None,
            done: done_rx,
        },
    );
    let st = state.clone();
    let queued = run.clone();
    tokio::spawn(async move {
        let id = queued.id.clone();
        execute(&st, queued, p, trigger, cancel).await;
        st.pipeline_runs.active.lock().unwrap().remove(&id);
        let _ = done_tx.send(true);
    });
    info!(pipeline_run = %run.id, pipeline = %run.pipeline, "pipeline run queued");
    Ok(run)
}

async fn execute(
    state: &Arc<PipelineService>,
    mut run: PipelineRun,
    p: Pipeline,
    trigger: Trigger,
    cancel: CancellationToken,
) {
    run.status = RunStatus::Running;
    run.started_at = Some(Utc::now());
    save(state, &run).await;
    let mut outcome = RunStatus::Succeeded;
    for (i, step) in p.steps.iter().enumerate() {
        if cancel.is_cancelled() {
            outcome = RunStatus::Cancelled;
            run.error = Some(format!("cancelled before step {:?}", step.name));
            break;
        }
        let (status, error) =
            match step::run_step(state, &mut run, i, &p, step, &trigger, &cancel).await {
                Ok(outcome) => (outcome.status, outcome.stop),
                Err(e) => (e.status(), Some(e.to_string())),
            };
        run.steps[i].status = Some(status);
        save(state, &run).await;
        if status != RunStatus::Succeeded || error.is_some() {
            outcome = if status == RunStatus::Succeeded {
                RunStatus::Failed
            } else {
                status
            };
            run.error = Some(format!(
                "step {:?}: {}",
                step.name,
                error.unwrap_or_else(|| format!("ended {}", status.as_str()))
            ));
            break;
        }
    }
    run.status = outcome;
    run.finished_at = Some(Utc::now());
    save(state, &run).await;
    info!(pipeline_run = %run.id, pipeline = %run.pipeline, status = outcome.as_str(), "pipeline run finished");
    if let Err(e) = prune(state, &run.pipeline).await {
        warn!(pipeline = %run.pipeline, error = %e, "cannot prune old pipeline runs");
    }
}

/// Keeps the newest finished runs of a pipeline, as many as the node keeps per tool.
async fn prune(state: &PipelineService, pipeline: &str) -> Result<(), StoreError> {
    let runs: Vec<PipelineRun> = state
        .local
        .pipeline_runs()
        .await?
        .into_iter()
        .filter(|r| r.pipeline == pipeline && r.status.is_finished())
        .collect();
    let excess = runs.len().saturating_sub(state.executor.retention());
    for r in &runs[..excess] {
        state.local.delete_pipeline_run(&r.id).await?;
    }
    Ok(())
}

pub(crate) async fn save(state: &PipelineService, run: &PipelineRun) {
    if let Err(e) = state.local.save_pipeline_run(run).await {
        error!(pipeline_run = %run.id, error = %e, "cannot save the pipeline run");
    }
}

/// Cancels a queued or running pipeline run (and its current step).
pub async fn cancel(state: &PipelineService, id: &str) -> Result<PipelineRun> {
    let run = get(state, id).await?;
    let found = state
        .pipeline_runs
        .active
        .lock()
        .unwrap()
        .get(id)
        .map(|a| (a.cancel.clone(), a.current_step_run.clone()));
    match found {
        Some((token, step)) => {
            token.cancel();
            if let Some(step) = step {
                let _ = state.executor.cancel(&step).await;
            }
            info!(pipeline_run = id, "pipeline run cancelled");
            Ok(run)
        }
        None => Err(PipelineError::Finished {
            id: id.to_owned(),
            status: run.status,
        }),
    }
}

/// One pipeline run; 404 if unknown. A step in progress shows its run's live status.
pub async fn get(state: &PipelineService, id: &str) -> Result<PipelineRun> {
    let mut run = state
        .local
        .pipeline_run(id)
        .await?
        .ok_or_else(|| PipelineError::NotFound { id: id.to_owned() })?;
    for step in &mut run.steps {
        if let (Some(run_id), Some(status)) = (&step.run_id, step.status) {
            if !status.is_finished() {
                if let Ok(r) = state.executor.get(run_id).await {
                    step.status = Some(r.status);
                }
            }
        }
    }
    Ok(run)
}

/// Waits until the pipeline run has finished or `limit` passed.
pub async fn wait(state: &PipelineService, id: &str, limit: Duration) -> Result<PipelineRun> {
    if let Some(mut done) = state.pipeline_runs.done(id) {
        let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
    }
    get(state, id).await
}

/// Pipeline runs, newest first.
pub async fn list(
    state: &PipelineService,
    pipeline: Option<&str>,
    limit: usize,
) -> Result<Vec<PipelineRun>> {
    let mut all = state.local.pipeline_runs().await?;
    all.reverse();
    Ok(all
        .into_iter()
        .filter(|r| pipeline.is_none_or(|p| r.pipeline == p))
        .take(limit)
        .collect())
}
