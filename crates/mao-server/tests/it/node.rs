//! Every item of the daemon's libraries the tests use, in one place: the in-process API of
//! `api.rs` is built here on `mao-node`'s `Node`, served by `mao-server`'s router.

use std::sync::Arc;

use mao_store::embedded::EmbeddedStore;
use mao_store::Store;

pub use mao_node::access::ActivityLog;
pub use mao_node::local::LocalStore;
pub use mao_node::{Keys, Node};
pub use mao_server::auth::Guard;
pub use mao_server::router;

/// A node over a fresh embedded store in `dir`, its background tasks started: the shared
/// store, and the node the router serves.
pub fn node_state(dir: &std::path::Path) -> (Arc<dyn Store>, Arc<Node>) {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("s.redb")).unwrap());
    let runtime = Arc::new(mao_runtime::docker::DockerRuntime::connect());
    let runs = LocalStore::open(&dir.join("local.redb")).unwrap();
    let node = Node::new(
        store.clone(),
        runs,
        runtime,
        mao_node::NodeSettings {
            name: "test-node".into(),
            prefix: "/mao".into(),
            data_dir: dir.to_owned(),
            // The in-process API registers the demo tool without building its image.
            runs: mao_node::executor::RunSettings {
                policy: mao_node::executor::ContainerPolicy {
                    allowed_images: vec!["mao/*".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            git: Default::default(),
            sinks: Vec::new(),
        },
    );
    node.spawn_background();
    (store, node)
}

/// Deletes the slot claims no node can need any more (see `mao_node::scheduler`).
pub async fn collect_claims(
    node: &Node,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, mao_store::StoreError> {
    mao_node::scheduler::collect_claims(&node.scheduler, now).await
}
