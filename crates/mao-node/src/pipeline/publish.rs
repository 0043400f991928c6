//! Publishing a step's commit: push (rebase when someone else pushed, never force), and
//! the pending pushes that wait for the remote.

use chrono::Utc;
use mao_api::{GitOutcome, GroundTruthResult, NotificationKind, PushState, Severity};
use mao_datasets::PublishOutcome;
use std::sync::Arc;

use tracing::{error, info, warn};

use super::PipelineService;

/// Raises a notification about a dataset on this node.
pub(super) async fn raise_dataset(
    state: &PipelineService,
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

/// Pushes the node branch of `dataset` (the worktree lock is held by the caller); records
/// the outcome on `git` and remembers a push to retry.
pub(super) async fn publish(
    state: &Arc<PipelineService>,
    dataset: &str,
    git: &mut GitOutcome,
    run_id: &str,
    merge: bool,
) {
    let node = state.node.clone();
    // Errors as (retryable, message): a registry that cannot be read now is retried too.
    let result = match state.clones.clone_of(dataset).await {
        Ok(clone) => state
            .clones
            .git(move |creds| clone.open()?.publish(&node, creds))
            .await
            .map_err(|e| (e.is_retryable(), e.to_string())),
        Err(e) => Err((true, e.detail())),
    };
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
        Err((retryable, e)) => {
            git.push = if retryable {
                PushState::Pending
            } else {
                PushState::Failed
            };
            warn!(dataset, error = %e, "push failed; it is retried in the background");
            git.push_error = Some(e);
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
pub(super) async fn settle_pending(
    state: &PipelineService,
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
