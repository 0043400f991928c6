//! Every item of the daemon's library the tests use, in one place: the in-process API of
//! `api.rs` is built here. (These move with the daemon's domain code; retarget them here.)

use std::sync::Arc;

use mao_store::embedded::EmbeddedStore;
use mao_store::Store;

pub use mao_server::local::LocalStore;
pub use mao_server::runs::{Executor, RunSettings};
pub use mao_server::scheduler::collect_claims;
pub use mao_server::{router, AppState, Keys};

/// A node's state over a fresh embedded store in `dir`, its background tasks started:
/// the shared store, and the state the router serves.
pub fn node_state(dir: &std::path::Path) -> (Arc<dyn Store>, Arc<AppState>) {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("s.redb")).unwrap());
    let runtime = Arc::new(mao_runtime::docker::DockerRuntime::connect());
    let runs = LocalStore::open(&dir.join("local.redb")).unwrap();
    let executor = Executor::new(
        runtime,
        runs.clone(),
        RunSettings::default(),
        "test-node".into(),
        dir.to_owned(),
    );
    let state = AppState::new(
        store.clone(),
        Keys::new("/mao"),
        "test-node".into(),
        executor,
        runs,
        Default::default(),
        Vec::new(),
    );
    state.spawn_background();
    (store, state)
}
