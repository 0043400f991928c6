//! `pipeline init`: clone every dataset a pipeline uses, set up this node's branch.

use std::sync::Arc;

use mao_api::{DatasetInit, DatasetRole, InitReport, Pipeline};
use tracing::info;

use super::{check_refs, PipelineError, PipelineService};

/// Clones every dataset the pipeline uses, sets up and pushes this node's branch of each
/// output dataset and adds it to the dataset's `nodes`. Idempotent.
pub async fn init(state: &Arc<PipelineService>, p: &Pipeline) -> Result<InitReport, PipelineError> {
    check_refs(state, p).await?;
    let mut reports = Vec::new();
    for (name, role) in p.datasets() {
        let (dataset, _) = state.datasets.get(name).await?;
        let cloned = state.clones.ensure(&dataset).await?;
        let clone = state.clones.clone_of(name).await?;
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
                    .blocking(move |creds| clone.open()?.ensure_node_branch(&node, creds))
                    .await?;
                report.branch = Some(setup.branch.clone());
                report.head = Some(setup.head.to_string());
                report.created_branch = setup.created_from_default || setup.created_root;
                report.tracked_remote = setup.tracked_remote;
                report.pushed = setup.pushed;
                report.changed |= setup.changed();
                if !dataset.nodes.contains(&state.node) {
                    let me = state.node.clone();
                    state
                        .datasets
                        .update(name, |d: &mut mao_api::Dataset| {
                            if !d.nodes.contains(&me) {
                                d.nodes.push(me.clone());
                            }
                            Ok::<(), crate::registry::RegistryError>(())
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
                        .blocking(move |creds| clone.open()?.fetch(creds))
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
