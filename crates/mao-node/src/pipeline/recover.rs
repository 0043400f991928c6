//! After a restart: the pipeline runs a crash interrupted.

use std::sync::Arc;

use chrono::Utc;
use mao_api::{Pipeline, PipelineRun, RunStatus, Step};
use tracing::{info, warn};

use super::step::{after_step, wait_finished};
use super::{save, PipelineService};

/// After a restart: a pipeline run the previous process left unfinished ends `lost`; the
/// step it was in is followed to its end (its container is re-attached by the executor)
/// and what it wrote is committed and pushed (or kept, if it failed), so nothing a step
/// collected is lost.
pub async fn recover(state: Arc<PipelineService>) {
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
        // Active while followed: the concurrency policy (and a federation's running
        // marker) sees it going, and a cancel reaches its step.
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let id = run.id.clone();
        state.pipeline_runs.active.lock().unwrap().insert(
            id.clone(),
            super::Active {
                cancel: tokio_util::sync::CancellationToken::new(),
                schedule: run.schedule.clone(),
                current_step_run: run.steps[i].run_id.clone(),
                done: done_rx,
            },
        );
        let st = state.clone();
        followers.push(tokio::spawn(async move {
            let _guard = guard;
            follow_interrupted(&st, run, i, pipeline, step).await;
            st.pipeline_runs.active.lock().unwrap().remove(&id);
            let _ = done_tx.send(true);
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
    state: &Arc<PipelineService>,
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
