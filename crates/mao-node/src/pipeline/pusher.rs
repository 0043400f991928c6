//! The pusher: retries the pushes a remote could not take, until each is pushed.

use std::collections::HashMap;
use std::sync::Arc;

use mao_api::{NotificationKind, PushState, Severity};
use mao_datasets::PublishOutcome;
use tracing::{error, info, warn};

use super::ground_truth::merge_ground_truth;
use super::publish::{raise_dataset, settle_pending};
use super::PipelineService;
use crate::datasets::DatasetError;
use crate::retry::PUSH;

/// Failed retries of a pending push before an operator is told.
const PUSH_FAILURES_BEFORE_NOTICE: u32 = 3;

/// Retries pending pushes with exponential backoff until each is pushed; starts with
/// what a previous process left pending.
pub async fn pusher(state: Arc<PipelineService>) {
    state.pipeline_runs.wait_recovered().await;
    let mut backoff = PUSH.backoff();
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
            backoff.reset();
            if datasets.is_empty() {
                PUSH.max
            } else {
                PUSH.initial
            }
        } else {
            backoff.next_delay()
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.pipeline_runs.push_wake.notified() => {
                // A new push failed just now: give the remote a moment before retrying.
                tokio::time::sleep(PUSH.initial).await;
            }
        }
    }
}

/// One retry of the pending push of `dataset`; true when nothing is pending any more.
async fn retry_push(state: &Arc<PipelineService>, dataset: &str) -> bool {
    let clone = match state.clones.clone_of(dataset).await {
        Ok(clone) => clone,
        Err(DatasetError::NotCloned { .. }) => {
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
        Err(e) => {
            warn!(dataset, error = %e, "cannot look the dataset up; the push waits");
            return false;
        }
    };
    let _guard = state.clones.lock(dataset).await;
    let node = state.node.clone();
    let result = state
        .clones
        .blocking(move |creds| {
            let repo = clone.open()?;
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
            warn!(dataset, error = %e.detail(), "pending push failed again; retrying later");
            false
        }
    }
}
