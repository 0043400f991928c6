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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use mao_api::{
    DatasetInit, DatasetRole, GitOutcome, GroundTruth, GroundTruthResult, InitReport, InputRef,
    NotificationKind, Pipeline, PipelineRun, PushState, RunRecord, RunRequest, RunStatus, Severity,
    Step, StepRun, Tool,
};
use mao_datasets::{MergeOutcome, PublishOutcome, Repo};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::error::{ApiError, ApiResult};
use crate::runs::{Placement, StepOf, Trigger};
use crate::AppState;

/// How long a holder of the ground-truth lock keeps it when it dies.
const GROUND_TRUTH_LOCK_TTL: Duration = Duration::from_secs(15);
/// First and longest wait between retries of a pending push.
const PUSH_RETRY_MIN: Duration = Duration::from_secs(2);
const PUSH_RETRY_MAX: Duration = Duration::from_secs(300);
/// Failed retries of a pending push before an operator is told.
const PUSH_FAILURES_BEFORE_NOTICE: u32 = 3;

/// Raises a notification about a dataset on this node.
async fn raise_dataset(
    state: &AppState,
    kind: NotificationKind,
    severity: Severity,
    dataset: &str,
    run_id: Option<&str>,
    message: &str,
) {
    let mut draft = crate::notify::Draft::new(kind, severity, message);
    draft.dataset = Some(dataset.to_owned());
    draft.run_id = run_id.map(str::to_owned);
    state.notifier.raise(draft).await;
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
    async fn wait_recovered(&self) {
        let mut rx = self.recovered.subscribe();
        let _ = rx.wait_for(|r| *r).await;
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

/// 404 naming the step when a pipeline refers to a tool or dataset that is not registered.
pub async fn check_refs(state: &AppState, p: &Pipeline) -> ApiResult<()> {
    for step in &p.steps {
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

fn refine(e: ApiError, what: &str) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} is not registered"),
        )
    } else {
        e
    }
}

/// Clones every dataset the pipeline uses, sets up and pushes this node's branch of each
/// output dataset and adds it to the dataset's `nodes`. Idempotent.
pub async fn init(state: &Arc<AppState>, p: &Pipeline) -> ApiResult<InitReport> {
    check_refs(state, p).await?;
    let mut reports = Vec::new();
    for (name, role) in p.datasets() {
        let (dataset, _) = state.datasets.get(name).await?;
        let cloned = state.clones.ensure(&dataset).await?;
        let path = state.clones.path(name);
        let node = state.node.clone();
        let _guard = state.clones.lock(name).await;
        let mut report = DatasetInit {
            dataset: name.to_owned(),
            role,
            cloned,
            branch: None,
            head: None,
            created_branch: false,
            tracked_remote: false,
            pushed: false,
            added_to_nodes: false,
            changed: cloned,
        };
        match role {
            DatasetRole::Output => {
                let setup = state
                    .clones
                    .blocking(move |creds| Repo::open(&path)?.ensure_node_branch(&node, creds))
                    .await?;
                report.branch = Some(setup.branch.clone());
                report.head = Some(setup.head.to_string());
                report.created_branch = setup.created_from_default;
                report.tracked_remote = setup.tracked_remote;
                report.pushed = setup.pushed;
                report.changed |= setup.changed();
                if !dataset.nodes.contains(&state.node) {
                    let me = state.node.clone();
                    state
                        .datasets
                        .update(name, |d| {
                            if !d.nodes.contains(&me) {
                                d.nodes.push(me.clone());
                            }
                            Ok(())
                        })
                        .await?;
                    report.added_to_nodes = true;
                    report.changed = true;
                }
            }
            DatasetRole::Input => {
                if !cloned {
                    state
                        .clones
                        .blocking(move |creds| Repo::open(&path)?.fetch(creds))
                        .await?;
                }
            }
        }
        reports.push(report);
    }
    let changed = reports.iter().any(|r| r.changed);
    let message = if changed {
        format!("pipeline {} initialised on node {}", p.name, state.node)
    } else {
        format!(
            "pipeline {} was already initialised on node {}; nothing changed",
            p.name, state.node
        )
    };
    info!(pipeline = %p.name, changed, "pipeline init");
    Ok(InitReport {
        pipeline: p.name.clone(),
        node: state.node.clone(),
        datasets: reports,
        changed,
        message,
    })
}

/// The tool a step runs: the registered tool with the step's command, environment
/// (secrets filled in) and socket wish.
fn step_tool(state: &AppState, tool: &Tool, step: &Step) -> ApiResult<Tool> {
    let mut t = tool.clone();
    if step.cmd.is_some() {
        t.cmd = step.cmd.clone();
    }
    for (k, v) in &step.env {
        let value = match mao_api::pipeline::secret_ref(v) {
            Some(secret) => match state.git.secrets.get(secret) {
                Some(s) => s.0.clone(),
                None => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "missing_secret",
                        format!(
                            "step {:?} needs the secret {secret:?}, which this node does not have (add it under [secrets] in the node config)",
                            step.name
                        ),
                    ))
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
pub async fn check_can_run(state: &AppState, p: &Pipeline) -> ApiResult<()> {
    check_refs(state, p).await?;
    for step in &p.steps {
        let (tool, _) = state.tools.get(&step.tool).await?;
        let tool = step_tool(state, &tool, step)?;
        state.executor.check_can_run(&tool).await?;
    }
    for (name, _) in p.datasets() {
        state.clones.require(name)?;
    }
    Ok(())
}

/// Queues a run of pipeline `p` and returns its record at once.
pub async fn submit(
    state: &Arc<AppState>,
    p: Pipeline,
    trigger: Trigger,
) -> ApiResult<PipelineRun> {
    check_can_run(state, &p).await?;
    let run = PipelineRun {
        id: ulid::Ulid::new().to_string(),
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
    state: &Arc<AppState>,
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
        let (status, error) = run_step(state, &mut run, i, &p, step, &trigger, &cancel).await;
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
async fn prune(state: &AppState, pipeline: &str) -> Result<(), mao_store::StoreError> {
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

async fn save(state: &AppState, run: &PipelineRun) {
    if let Err(e) = state.local.save_pipeline_run(run).await {
        error!(pipeline_run = %run.id, error = %e, "cannot save the pipeline run");
    }
}

/// Runs one step; returns the step's status and, when the pipeline must stop although
/// the container succeeded (a push conflict), why.
async fn run_step(
    state: &Arc<AppState>,
    run: &mut PipelineRun,
    index: usize,
    p: &Pipeline,
    step: &Step,
    trigger: &Trigger,
    cancel: &CancellationToken,
) -> (RunStatus, Option<String>) {
    let tool = match state.tools.get(&step.tool).await {
        Ok((t, _)) => t,
        Err(e) => return (RunStatus::Failed, Some(e.message)),
    };
    let tool = match step_tool(state, &tool, step) {
        Ok(t) => t,
        Err(e) => return (RunStatus::Failed, Some(e.message)),
    };
    let worktree = match state.clones.require(&step.output_dataset) {
        Ok(p) => p,
        Err(e) => return (RunStatus::Failed, Some(e.message)),
    };
    state.pipeline_runs.wait_recovered().await;
    // Held from before the fetch until the commit is made: two runs never share a worktree.
    // With an input, both are taken in name order, so two pipelines reading each other's
    // output cannot deadlock; the input's is dropped once it is exported.
    let (_guard, mut input_guard) = match step.input_dataset.as_deref() {
        Some(input) if input < step.output_dataset.as_str() => {
            let i = state.clones.lock(input).await;
            (state.clones.lock(&step.output_dataset).await, Some(i))
        }
        Some(input) => {
            let o = state.clones.lock(&step.output_dataset).await;
            (o, Some(state.clones.lock(input).await))
        }
        None => (state.clones.lock(&step.output_dataset).await, None),
    };
    let node = state.node.clone();
    let leftover_id = format!("{}-{}-leftover", run.id, step.name);
    let prepared = {
        let worktree = worktree.clone();
        let node = node.clone();
        state
            .clones
            .blocking(move |creds| prepare(&worktree, &node, &leftover_id, creds))
            .await
    };
    let base = match prepared {
        Ok(b) => b,
        Err(e) => {
            return (
                RunStatus::Failed,
                Some(format!("cannot prepare the dataset: {}", e.message)),
            )
        }
    };
    let mut input_ref = None;
    let mut input_dir = None;
    if let Some(input) = &step.input_dataset {
        let src = match state.clones.require(input) {
            Ok(p) => p,
            Err(e) => return (RunStatus::Failed, Some(e.message)),
        };
        let dest = state
            .executor
            .data_dir()
            .join("inputs")
            .join(format!("{}-{}", run.id, step.name));
        let d = dest.clone();
        let exported = state
            .clones
            .blocking(move |creds| {
                let repo = Repo::open(&src)?;
                if let Err(e) = repo.fetch(creds) {
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    warn!(error = %e, "input dataset not fetched; using what the node has");
                }
                let _ = std::fs::remove_dir_all(&d);
                repo.export_input(&d)
            })
            .await;
        input_guard.take();
        match exported {
            Ok(x) => {
                input_ref = Some(InputRef {
                    dataset: input.clone(),
                    branch: x.branch,
                    commit: x.commit.to_string(),
                });
                input_dir = Some(dest);
            }
            Err(e) => {
                return (
                    RunStatus::Failed,
                    Some(format!("cannot export input {input:?}: {}", e.message)),
                )
            }
        }
    }
    let placement = Placement {
        data_dir: worktree.clone(),
        input_dir: input_dir.clone(),
        step: Some(StepOf {
            pipeline: p.name.clone(),
            step: step.name.clone(),
            pipeline_run: run.id.clone(),
        }),
    };
    if cancel.is_cancelled() {
        remove_input(input_dir.as_ref()).await;
        return (
            RunStatus::Cancelled,
            Some("cancelled before the step started".into()),
        );
    }
    let submitted = state
        .executor
        .submit_placed(&tool, RunRequest::default(), trigger.clone(), placement)
        .await;
    let record = match submitted {
        Ok(r) => r,
        Err(e) => {
            remove_input(input_dir.as_ref()).await;
            return (
                RunStatus::Failed,
                Some(format!("the step could not start: {}", e.message)),
            );
        }
    };
    run.steps[index].run_id = Some(record.id.clone());
    run.steps[index].status = Some(RunStatus::Queued);
    save(state, run).await;
    state
        .pipeline_runs
        .set_current(&run.id, Some(record.id.clone()));
    if cancel.is_cancelled() {
        // Cancelled between the submission and now: the step goes too.
        let _ = state.executor.cancel(&record.id).await;
    }
    let record = wait_finished(state, &record.id).await;
    state.pipeline_runs.set_current(&run.id, None);
    remove_input(input_dir.as_ref()).await;
    let Some(mut record) = record else {
        return (
            RunStatus::Lost,
            Some("the step's run record vanished".into()),
        );
    };
    let (git, stop) = after_step(state, p, step, &record, base, input_ref).await;
    let status = record.status;
    record.git = Some(git);
    if let Err(e) = state.local.save(&record).await {
        error!(run_id = %record.id, error = %e, "cannot save the step's git outcome");
    }
    (
        status,
        stop.or(record
            .error
            .clone()
            .filter(|_| status != RunStatus::Succeeded)),
    )
}

/// Deletes an exported input (on a blocking thread: it may hold many files).
async fn remove_input(dir: Option<&PathBuf>) {
    if let Some(d) = dir.cloned() {
        let result = tokio::task::spawn_blocking(move || (std::fs::remove_dir_all(&d), d)).await;
        if let Ok((Err(e), d)) = result {
            warn!(path = %d.display(), error = %e, "cannot remove an exported input");
        }
    }
}

/// The worktree on the node branch, clean (leftovers kept under a failed ref), fast-forwarded
/// to the remote when it can be reached. Returns the tip the step starts from.
fn prepare(
    worktree: &std::path::Path,
    node: &str,
    leftover_id: &str,
    creds: &mao_datasets::Credentials,
) -> Result<Option<String>, mao_datasets::Error> {
    let repo = Repo::open(worktree)?;
    if repo.head_branch()?.as_deref() != Some(node) {
        return Err(mao_datasets::Error::NotFound {
            what: format!(
                "branch {node} checked out in {} (run `maoctl pipeline init`)",
                worktree.display()
            ),
        });
    }
    if !repo.is_clean()? {
        let kept = repo.keep_failed(leftover_id, creds)?;
        warn!(worktree = %worktree.display(), kept = ?kept, "the worktree had uncommitted changes; kept them off the branch and reset it");
    }
    match repo.fast_forward(node, creds) {
        Ok(_) => {}
        Err(e) if e.is_retryable() => {
            warn!(error = %e, "the remote is unreachable; the step runs on the node's copy")
        }
        Err(e) => return Err(e),
    }
    Ok(repo.head_commit()?.map(|o| o.to_string()))
}

/// Waits until a run has finished; `None` if its record is gone.
async fn wait_finished(state: &AppState, id: &str) -> Option<RunRecord> {
    loop {
        match state.executor.wait(id, Duration::from_secs(3600)).await {
            Ok(r) if r.status.is_finished() => return Some(r),
            // Not finished and no longer followed (its final save failed): do not spin.
            Ok(_) if state.executor.progress(id).is_none() => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            Ok(_) => continue,
            Err(e) if e.status == StatusCode::NOT_FOUND => return None,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The git work after a step: commit and publish on success, keep what it wrote on
/// failure, merge into `ground-truth` when the pipeline asks for it. Returns what was done
/// and, when the pipeline must stop although the step succeeded, why (the commit failed,
/// or the push met a conflict).
async fn after_step(
    state: &Arc<AppState>,
    p: &Pipeline,
    step: &Step,
    record: &RunRecord,
    base: Option<String>,
    input: Option<InputRef>,
) -> (GitOutcome, Option<String>) {
    let mut git = GitOutcome {
        dataset: step.output_dataset.clone(),
        branch: state.node.clone(),
        base,
        commit: None,
        push: PushState::None,
        push_error: None,
        pushed_at: None,
        failed_ref: None,
        input,
        ground_truth: None,
    };
    let worktree = state.clones.path(&step.output_dataset);
    let node = state.node.clone();
    let run_id = record.id.clone();
    if record.status != RunStatus::Succeeded {
        let kept = state
            .clones
            .blocking(move |creds| Repo::open(&worktree)?.keep_failed(&run_id, creds))
            .await;
        match kept {
            Ok(Some(_)) => {
                git.failed_ref = Some(format!("{}{}", mao_datasets::FAILED_REF_PREFIX, record.id))
            }
            Ok(None) => {}
            Err(e) => {
                error!(run_id = %record.id, error = %e.message, "cannot keep what the failed step wrote")
            }
        }
        return (git, None);
    }
    let message = format!(
        "mao: {} / {} (run {})\n\npipeline: {}\nstep: {}\ntool: {}\nrun: {}\nnode: {}\ntrigger: {}\n",
        p.name, step.name, record.id, p.name, step.name, step.tool, record.id, node, record.trigger
    );
    let committed = {
        let worktree = worktree.clone();
        state
            .clones
            .blocking(move |creds| {
                let repo = Repo::open(&worktree)?;
                let commit = repo.commit_all(&message, creds)?;
                let unpushed = repo.unpushed(&node).unwrap_or(0);
                Ok((commit, unpushed))
            })
            .await
    };
    let unpushed = match committed {
        Ok((commit, unpushed)) => {
            git.commit = commit.map(|c| c.to_string());
            unpushed
        }
        Err(e) => {
            let why = format!("cannot commit what the step wrote: {}", e.message);
            git.push = PushState::Failed;
            git.push_error = Some(why.clone());
            return (git, Some(why));
        }
    };
    if unpushed > 0 {
        let merge = p.ground_truth == GroundTruth::Merge;
        publish(state, &step.output_dataset, &mut git, &record.id, merge).await;
    }
    if p.ground_truth == GroundTruth::Merge
        && matches!(git.push, PushState::Pushed | PushState::None)
    {
        git.ground_truth = Some(merge_ground_truth(state, &step.output_dataset).await);
    }
    let stop = (git.push == PushState::Conflict).then(|| {
        format!(
            "cannot push to {} of {}: {}",
            git.branch,
            git.dataset,
            git.push_error.as_deref().unwrap_or_default()
        )
    });
    (git, stop)
}

/// Pushes the node branch of `dataset` (the worktree lock is held by the caller); records
/// the outcome on `git` and remembers a push to retry.
async fn publish(
    state: &Arc<AppState>,
    dataset: &str,
    git: &mut GitOutcome,
    run_id: &str,
    merge: bool,
) {
    let worktree = state.clones.path(dataset);
    let node = state.node.clone();
    let result = state
        .clones
        .git(move |creds| Repo::open(&worktree)?.publish(&node, creds))
        .await;
    match result {
        Ok(PublishOutcome::Pushed { .. }) | Ok(PublishOutcome::RebasedAndPushed { .. }) => {
            git.push = PushState::Pushed;
            git.pushed_at = Some(Utc::now());
            if let Ok(PublishOutcome::RebasedAndPushed { head, .. }) = &result {
                if git.commit.is_some() {
                    // The step's commit was replayed; the branch tip is its new id.
                    git.commit = Some(head.to_string());
                }
            }
            settle_pending(state, dataset, PushState::Pushed, None, None).await;
        }
        Ok(PublishOutcome::Conflict {
            paths,
            local,
            remote,
        }) => {
            git.push = PushState::Conflict;
            let msg = format!(
                "someone else pushed to this node's branch and their commits conflict with ours in {}; nothing was force-pushed (local {local}, remote {remote}); resolve it in the clone and push",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            error!(dataset, error = %msg, "push conflict");
            git.push_error = Some(msg.clone());
            raise_dataset(
                state,
                NotificationKind::PushConflict,
                Severity::Critical,
                dataset,
                Some(run_id),
                &msg,
            )
            .await;
            settle_pending(state, dataset, PushState::Conflict, Some(msg), None).await;
        }
        Err(e) => {
            git.push = if e.is_retryable() {
                PushState::Pending
            } else {
                PushState::Failed
            };
            git.push_error = Some(e.to_string());
            warn!(dataset, error = %e, "push failed; it is retried in the background");
            if let Err(e) = state.local.add_pending_push(dataset, run_id, merge).await {
                error!(dataset, error = %e, "cannot remember the pending push");
            }
            state.pipeline_runs.push_wake.notify_one();
        }
    }
}

/// Marks the runs whose commits waited on `dataset` as pushed (or in conflict).
/// `merged`: the ground-truth merge made after the push, recorded on the runs that asked
/// for one.
async fn settle_pending(
    state: &AppState,
    dataset: &str,
    push: PushState,
    error: Option<String>,
    merged: Option<&GroundTruthResult>,
) {
    let pending = match state.local.pending_pushes().await {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "cannot read the pending pushes");
            return;
        }
    };
    for (d, run_id, merge) in pending.into_iter().filter(|(d, _, _)| d == dataset) {
        if let Ok(Some(mut r)) = state.local.get(&run_id).await {
            if let Some(g) = r.git.as_mut() {
                g.push = push;
                g.push_error = error.clone();
                if push == PushState::Pushed {
                    g.pushed_at = Some(Utc::now());
                }
                if merge {
                    if let Some(m) = merged {
                        g.ground_truth = Some(m.clone());
                    }
                }
            }
            let _ = state.local.save(&r).await;
        }
        let _ = state.local.clear_pending_push(&d, &run_id).await;
        info!(
            dataset,
            run_id,
            push = push.as_str(),
            "pending push settled"
        );
    }
}

/// Merges this node's branch of `dataset` into `ground-truth` under the federation-wide
/// lock on the dataset (released when this node dies, by its lease).
async fn merge_ground_truth(state: &AppState, dataset: &str) -> GroundTruthResult {
    let failed = |message: String| GroundTruthResult {
        outcome: "failed".into(),
        commit: None,
        message: Some(message),
    };
    let key = state.keys.lock(&format!("ground-truth/{dataset}"));
    let lock = match tokio::time::timeout(
        Duration::from_secs(300),
        mao_store::lock::Lock::acquire(
            state.store.clone(),
            &key,
            &state.node,
            GROUND_TRUTH_LOCK_TTL,
        ),
    )
    .await
    {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return failed(format!("cannot take the ground-truth lock: {e}")),
        Err(_) => return failed("the ground-truth lock was not free within 5 minutes".into()),
    };
    let worktree = state.clones.path(dataset);
    let node = state.node.clone();
    let merged = state
        .clones
        .blocking(move |creds| Repo::open(&worktree)?.merge_into_ground_truth(&node, creds))
        .await;
    if let Err(e) = lock.release().await {
        warn!(error = %e, "cannot release the ground-truth lock; it expires with its lease");
    }
    match merged {
        Ok(MergeOutcome::Created { head }) => ok_gt("created", head),
        Ok(MergeOutcome::UpToDate { head }) => ok_gt("up_to_date", head),
        Ok(MergeOutcome::FastForwarded { to, .. }) => ok_gt("fast_forwarded", to),
        Ok(MergeOutcome::Merged { commit }) => ok_gt("merged", commit),
        Ok(MergeOutcome::Conflict {
            paths,
            ground_truth,
            node,
        }) => {
            let message = format!(
                "merging {node} into ground-truth ({ground_truth}) conflicts in {}; ground-truth was left untouched",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            error!(dataset, %message, "ground-truth conflict");
            raise_dataset(
                state,
                NotificationKind::GroundTruthConflict,
                Severity::Critical,
                dataset,
                None,
                &message,
            )
            .await;
            GroundTruthResult {
                outcome: "conflict".into(),
                commit: None,
                message: Some(message),
            }
        }
        Err(e) => failed(e.message),
    }
}

fn ok_gt(outcome: &str, commit: mao_datasets::Oid) -> GroundTruthResult {
    GroundTruthResult {
        outcome: outcome.into(),
        commit: Some(commit.to_string()),
        message: None,
    }
}

/// Retries pending pushes with exponential backoff until each is pushed; starts with
/// what a previous process left pending.
pub async fn pusher(state: Arc<AppState>) {
    state.pipeline_runs.wait_recovered().await;
    let mut backoff = PUSH_RETRY_MIN;
    let mut failures: HashMap<String, u32> = HashMap::new();
    loop {
        let pending = match state.local.pending_pushes().await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "cannot read the pending pushes");
                Vec::new()
            }
        };
        let mut datasets: Vec<String> = pending.iter().map(|(d, _, _)| d.clone()).collect();
        datasets.dedup();
        let mut all_ok = true;
        for dataset in &datasets {
            if retry_push(&state, dataset).await {
                failures.remove(dataset);
            } else {
                all_ok = false;
                let n = failures.entry(dataset.clone()).or_insert(0);
                *n += 1;
                if *n == PUSH_FAILURES_BEFORE_NOTICE {
                    let message = format!(
                        "commits of dataset {dataset} on node {} could not be pushed in {n} retries; they are kept and retried (is the remote reachable, are the node's credentials accepted?)",
                        state.node
                    );
                    raise_dataset(
                        &state,
                        NotificationKind::PushFailing,
                        Severity::Warning,
                        dataset,
                        None,
                        &message,
                    )
                    .await;
                }
            }
        }
        failures.retain(|d, _| datasets.contains(d));
        let wait = if datasets.is_empty() || all_ok {
            backoff = PUSH_RETRY_MIN;
            if datasets.is_empty() {
                PUSH_RETRY_MAX
            } else {
                PUSH_RETRY_MIN
            }
        } else {
            let w = backoff;
            backoff = (backoff * 2).min(PUSH_RETRY_MAX);
            w
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.pipeline_runs.push_wake.notified() => {
                // A new push failed just now: give the remote a moment before retrying.
                tokio::time::sleep(PUSH_RETRY_MIN).await;
            }
        }
    }
}

/// One retry of the pending push of `dataset`; true when nothing is pending any more.
async fn retry_push(state: &Arc<AppState>, dataset: &str) -> bool {
    let worktree = state.clones.path(dataset);
    if !worktree.join(".git").is_dir() {
        warn!(
            dataset,
            "the clone with pending pushes is gone; forgetting them"
        );
        settle_pending(
            state,
            dataset,
            PushState::Failed,
            Some("the node's clone was removed before the push".into()),
            None,
        )
        .await;
        return true;
    }
    let _guard = state.clones.lock(dataset).await;
    let node = state.node.clone();
    let result = state
        .clones
        .blocking(move |creds| {
            let repo = Repo::open(&worktree)?;
            if repo.unpushed(&node)? == 0 {
                return Ok(None);
            }
            repo.publish(&node, creds).map(Some)
        })
        .await;
    match result {
        Ok(None)
        | Ok(Some(PublishOutcome::Pushed { .. }))
        | Ok(Some(PublishOutcome::RebasedAndPushed { .. })) => {
            info!(dataset, "pending commits pushed");
            // Runs of pipelines that merge into ground-truth get their merge now.
            let wants_merge = state
                .local
                .pending_pushes()
                .await
                .unwrap_or_default()
                .iter()
                .any(|(d, _, merge)| d == dataset && *merge);
            let merged = if wants_merge {
                Some(merge_ground_truth(state, dataset).await)
            } else {
                None
            };
            settle_pending(state, dataset, PushState::Pushed, None, merged.as_ref()).await;
            true
        }
        Ok(Some(PublishOutcome::Conflict { paths, .. })) => {
            let msg = format!(
                "someone else pushed to this node's branch and their commits conflict with ours in {}; nothing was force-pushed",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            error!(dataset, error = %msg, "pending push conflicts");
            raise_dataset(
                state,
                NotificationKind::PushConflict,
                Severity::Critical,
                dataset,
                None,
                &msg,
            )
            .await;
            settle_pending(state, dataset, PushState::Conflict, Some(msg), None).await;
            true
        }
        Err(e) => {
            warn!(dataset, error = %e.message, "pending push failed again; retrying later");
            false
        }
    }
}

/// Cancels a queued or running pipeline run (and its current step).
pub async fn cancel(state: &AppState, id: &str) -> ApiResult<PipelineRun> {
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
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_finished",
            format!(
                "pipeline run {id} has already finished ({})",
                run.status.as_str()
            ),
        )),
    }
}

/// One pipeline run; 404 if unknown. A step in progress shows its run's live status.
pub async fn get(state: &AppState, id: &str) -> ApiResult<PipelineRun> {
    let mut run = state.local.pipeline_run(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("pipeline run {id} does not exist on this node"),
        )
    })?;
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
pub async fn wait(state: &AppState, id: &str, limit: Duration) -> ApiResult<PipelineRun> {
    if let Some(mut done) = state.pipeline_runs.done(id) {
        let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
    }
    get(state, id).await
}

/// Pipeline runs, newest first.
pub async fn list(
    state: &AppState,
    pipeline: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<PipelineRun>> {
    let mut all = state.local.pipeline_runs().await?;
    all.reverse();
    Ok(all
        .into_iter()
        .filter(|r| pipeline.is_none_or(|p| r.pipeline == p))
        .take(limit)
        .collect())
}

/// After a restart: a pipeline run the previous process left unfinished ends `lost`; the
/// step it was in is followed to its end (its container is re-attached by the executor)
/// and what it wrote is committed and pushed (or kept, if it failed), so nothing a step
/// collected is lost.
pub async fn recover(state: Arc<AppState>) {
    let mut recovered = state.executor.recovered();
    let _ = recovered.wait_for(|r| *r).await;
    state.clones.clear_stale_locks().await;
    let runs = match state.local.pipeline_runs().await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cannot read pipeline runs to recover");
            state.pipeline_runs.recovered.send_replace(true);
            return;
        }
    };
    // Steps started by the previous process whose run id never reached the pipeline run.
    let records = state.local.list().await.unwrap_or_default();
    let mut followers = Vec::new();
    for mut run in runs {
        if run.status.is_finished()
            || state
                .pipeline_runs
                .active
                .lock()
                .unwrap()
                .contains_key(&run.id)
        {
            continue;
        }
        let orphan = records.iter().rev().find(|r| {
            r.pipeline_run.as_deref() == Some(run.id.as_str()) && !r.status.is_finished()
        });
        let current = run
            .steps
            .iter()
            .rposition(|s| s.run_id.is_some() && s.status.is_none_or(|st| !st.is_finished()))
            .or_else(|| {
                let o = orphan?;
                let i = run
                    .steps
                    .iter()
                    .position(|s| Some(&s.name) == o.step.as_ref())?;
                run.steps[i].run_id = Some(o.id.clone());
                Some(i)
            });
        let Some(i) = current else {
            run.status = RunStatus::Lost;
            run.error = Some("the daemon stopped during the pipeline; it did not go on".into());
            run.finished_at = Some(Utc::now());
            save(&state, &run).await;
            continue;
        };
        let pipeline = state
            .pipelines
            .get(&run.pipeline)
            .await
            .ok()
            .map(|(p, _)| p);
        let step = pipeline.as_ref().and_then(|p| {
            p.steps
                .iter()
                .find(|s| s.name == run.steps[i].name)
                .cloned()
        });
        // The worktree is taken before anything new may start: nothing resets it under
        // the re-attached container.
        let guard = match &step {
            Some(step) => Some(state.clones.lock(&step.output_dataset).await),
            None => None,
        };
        let st = state.clone();
        followers.push(tokio::spawn(async move {
            let _guard = guard;
            follow_interrupted(&st, run, i, pipeline, step).await;
        }));
    }
    state.pipeline_runs.recovered.send_replace(true);
    for f in followers {
        let _ = f.await;
    }
}

/// Follows the step a crash interrupted to its end, commits (or keeps) what it wrote, and
/// ends the pipeline run `lost`. The caller holds the step's worktree.
async fn follow_interrupted(
    state: &Arc<AppState>,
    mut run: PipelineRun,
    i: usize,
    pipeline: Option<Pipeline>,
    step: Option<Step>,
) {
    let step_name = run.steps[i].name.clone();
    let mut note =
        format!("the daemon stopped during step {step_name:?}; the pipeline did not go on");
    let run_id = run.steps[i].run_id.clone().unwrap_or_default();
    if let Some(record) = wait_finished(state, &run_id).await {
        run.steps[i].status = Some(record.status);
        if let (None, Some(p), Some(step)) = (&record.git, &pipeline, &step) {
            let (git, _) = after_step(state, p, step, &record, None, None).await;
            note.push_str(if git.commit.is_some() {
                "; what the step wrote was committed"
            } else if git.failed_ref.is_some() {
                "; what the step wrote was kept under its failed ref"
            } else {
                ""
            });
            let mut record = record;
            record.git = Some(git);
            let _ = state.local.save(&record).await;
        }
    }
    run.status = RunStatus::Lost;
    run.error = Some(note);
    run.finished_at = Some(Utc::now());
    save(state, &run).await;
    info!(pipeline_run = %run.id, "unfinished pipeline run recovered");
}
