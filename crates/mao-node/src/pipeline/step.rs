//! One step of a pipeline run: the worktree prepared, the input exported, the container
//! run, and the git work after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mao_api::{
    GitOutcome, GroundTruth, InputRef, Pipeline, PipelineRun, PushState, RunRecord, RunRequest,
    RunStatus, Step,
};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::ground_truth::merge_ground_truth;
use super::publish::publish;
use super::{save, step_tool, PipelineService};
use crate::datasets::{ClonePaths, DatasetError};
use crate::executor::{Placement, StepOf, Trigger};

/// Why a step ended before its container could finish normally; its status and message
/// become the step's.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Cancelled(String),
    #[error("{0}")]
    Lost(String),
}

impl StepError {
    /// The step's status for this error.
    pub(super) fn status(&self) -> RunStatus {
        match self {
            StepError::Failed(_) => RunStatus::Failed,
            StepError::Cancelled(_) => RunStatus::Cancelled,
            StepError::Lost(_) => RunStatus::Lost,
        }
    }

    fn failed(context: &str, e: impl std::fmt::Display) -> StepError {
        StepError::Failed(format!("{context}: {e}"))
    }
}

impl From<crate::registry::RegistryError> for StepError {
    fn from(e: crate::registry::RegistryError) -> StepError {
        StepError::Failed(e.to_string())
    }
}

impl From<super::PipelineError> for StepError {
    fn from(e: super::PipelineError) -> StepError {
        StepError::Failed(e.to_string())
    }
}

impl From<DatasetError> for StepError {
    fn from(e: DatasetError) -> StepError {
        StepError::Failed(e.detail())
    }
}

/// How a step whose container ran ended: its status, and, when the pipeline must stop
/// although the container succeeded (a push conflict), why.
pub(super) struct StepOutcome {
    pub status: RunStatus,
    pub stop: Option<String>,
}

/// Runs one step: worktree, input, container, git.
pub(super) async fn run_step(
    state: &Arc<PipelineService>,
    run: &mut PipelineRun,
    index: usize,
    p: &Pipeline,
    step: &Step,
    trigger: &Trigger,
    cancel: &CancellationToken,
) -> Result<StepOutcome, StepError> {
    let (tool, _) = state.tools.get(&step.tool).await?;
    let tool = step_tool(state, p, &tool, step)?;
    let clone = state.clones.clone_of(&step.output_dataset).await?;
    let worktree = clone.worktree.clone();
    state.pipeline_runs.wait_recovered().await;
    // Held from before the fetch until the commit is made: two runs never share a worktree.
    // With an input, both are taken in name order, so two pipelines reading each other's
    // output cannot deadlock; the input's is dropped once it is exported.
    let (_guard, input_guard) = match step.input_dataset.as_deref() {
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
    let base = {
        let node = node.clone();
        state
            .clones
            .blocking(move |creds| prepare(&clone, &node, &leftover_id, creds))
            .await
            .map_err(|e| StepError::failed("cannot prepare the dataset", e.detail()))?
    };
    let input = match &step.input_dataset {
        Some(input) => {
            let exported = export_input(state, run, step, input).await;
            drop(input_guard);
            Some(exported?)
        }
        None => None,
    };
    let (input_ref, input_dir) = match input {
        Some((r, d)) => (Some(r), Some(d)),
        None => (None, None),
    };
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
        return Err(StepError::Cancelled(
            "cancelled before the step started".into(),
        ));
    }
    let submitted = state
        .executor
        .submit_placed(&tool, RunRequest::default(), trigger.clone(), placement)
        .await;
    let record = match submitted {
        Ok(r) => r,
        Err(e) => {
            remove_input(input_dir.as_ref()).await;
            return Err(StepError::failed("the step could not start", e));
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
    let mut record =
        record.ok_or_else(|| StepError::Lost("the step's run record vanished".into()))?;
    let (git, stop) = after_step(state, p, step, &record, base, input_ref).await;
    let status = record.status;
    record.git = Some(git);
    if let Err(e) = state.local.save(&record).await {
        error!(run_id = %record.id, error = %e, "cannot save the step's git outcome");
    }
    Ok(StepOutcome {
        status,
        stop: stop.or(record
            .error
            .clone()
            .filter(|_| status != RunStatus::Succeeded)),
    })
}

/// Exports the step's input dataset (fetched first when the remote answers) into a folder
/// of its own; returns what was exported and where.
async fn export_input(
    state: &PipelineService,
    run: &PipelineRun,
    step: &Step,
    input: &str,
) -> Result<(InputRef, PathBuf), StepError> {
    let src = state.clones.clone_of(input).await?;
    let dest = state
        .executor
        .data_dir()
        .join("inputs")
        .join(format!("{}-{}", run.id, step.name));
    let d = dest.clone();
    let exported = state
        .clones
        .blocking(move |creds| {
            let repo = src.open()?;
            if let Err(e) = repo.fetch(creds) {
                if !e.is_retryable() {
                    return Err(e);
                }
                warn!(error = %e, "input dataset not fetched; using what the node has");
            }
            let _ = std::fs::remove_dir_all(&d);
            repo.export_input(&d)
        })
        .await
        .map_err(|e| StepError::failed(&format!("cannot export input {input:?}"), e.detail()))?;
    Ok((
        InputRef {
            dataset: input.to_owned(),
            branch: exported.branch,
            commit: exported.commit.to_string(),
        },
        dest,
    ))
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
    clone: &ClonePaths,
    node: &str,
    leftover_id: &str,
    creds: &mao_datasets::Credentials,
) -> Result<Option<String>, mao_datasets::Error> {
    let worktree = &clone.worktree;
    let repo = clone.open()?;
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
pub(super) async fn wait_finished(state: &PipelineService, id: &str) -> Option<RunRecord> {
    loop {
        match state.executor.wait(id, Duration::from_secs(3600)).await {
            Ok(r) if r.status.is_finished() => return Some(r),
            // Not finished and no longer followed (its final save failed): do not spin.
            Ok(_) if state.executor.progress(id).is_none() => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            Ok(_) => continue,
            Err(e) if e.is_not_found() => return None,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The git work after a step: commit and publish on success, keep what it wrote on
/// failure, merge into `ground-truth` when the pipeline asks for it. Returns what was done
/// and, when the pipeline must stop although the step succeeded, why (the commit failed,
/// or the push met a conflict).
pub(super) async fn after_step(
    state: &Arc<PipelineService>,
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
    let clone = match state.clones.clone_of(&step.output_dataset).await {
        Ok(clone) => clone,
        Err(e) => {
            let why = format!("cannot open the dataset's clone: {}", e.detail());
            git.push = PushState::Failed;
            git.push_error = Some(why.clone());
            return (git, Some(why));
        }
    };
    let node = state.node.clone();
    let run_id = record.id.clone();
    if record.status != RunStatus::Succeeded {
        let kept = state
            .clones
            .blocking(move |creds| clone.open()?.keep_failed(&run_id, creds))
            .await;
        match kept {
            Ok(Some(_)) => {
                git.failed_ref = Some(format!("{}{}", mao_datasets::FAILED_REF_PREFIX, record.id))
            }
            Ok(None) => {}
            Err(e) => {
                error!(run_id = %record.id, error = %e.detail(), "cannot keep what the failed step wrote")
            }
        }
        return (git, None);
    }
    let message = format!(
        "mao: {} / {} (run {})\n\npipeline: {}\nstep: {}\ntool: {}\nrun: {}\nnode: {}\ntrigger: {}\n",
        p.name, step.name, record.id, p.name, step.name, step.tool, record.id, node, record.trigger
    );
    let committed = {
        state
            .clones
            .blocking(move |creds| {
                let repo = clone.open()?;
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
            let why = format!("cannot commit what the step wrote: {}", e.detail());
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
