//! The `ground-truth` branch: this node's branch merged in under the federation-wide lock.

use std::time::Duration;

use mao_api::{GroundTruthResult, NotificationKind, Severity};
use mao_datasets::MergeOutcome;
use tracing::{error, warn};

use super::publish::raise_dataset;
use super::PipelineService;

/// How long a holder of the ground-truth lock keeps it when it dies.
const GROUND_TRUTH_LOCK_TTL: Duration = Duration::from_secs(15);

/// Merges this node's branch of `dataset` into `ground-truth` under the federation-wide
/// lock on the dataset (released when this node dies, by its lease).
pub(super) async fn merge_ground_truth(
    state: &PipelineService,
    dataset: &str,
) -> GroundTruthResult {
    let failed = |message: String| GroundTruthResult {
        outcome: "failed".into(),
        commit: None,
        message: Some(message),
    };
    let clone = match state.clones.clone_of(dataset).await {
        Ok(c) => c,
        Err(e) => return failed(e.detail()),
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
    let node = state.node.clone();
    let merged = state
        .clones
        .blocking(move |creds| clone.open()?.merge_into_ground_truth(&node, creds))
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
        Err(e) => failed(e.detail()),
    }
}

fn ok_gt(outcome: &str, commit: mao_datasets::Oid) -> GroundTruthResult {
    GroundTruthResult {
        outcome: outcome.into(),
        commit: Some(commit.to_string()),
        message: None,
    }
}
