//! The `mao-orchestrator` daemon as a library: configuration, the HTTP router and the
//! background tasks of one node. `main.rs` only wires them to a socket.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use mao_api::{Dataset, Notification, Pipeline, Schedule, Tool};
use mao_store::Store;

pub mod config;
pub mod datasets;
pub mod error;
mod extract;
mod handlers;
pub mod local;
pub mod membership;
pub mod metrics;
pub mod notify;
pub mod pipelines;
pub mod registry;
pub mod runs;
pub mod scheduler;

use registry::Registry;

/// Largest request body accepted (1 MiB); larger ones get 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// Builds store keys from the federation prefix; the only place keys are spelled.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `/mao`, no trailing slash).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The prefix of a collection, e.g. `/mao/tools/`.
    pub fn collection(&self, name: &str) -> String {
        format!("{}/{}/", self.prefix, name)
    }

    /// The claim of one slot of a `once` schedule.
    pub fn claim(&self, schedule: &str, slot: &chrono::DateTime<chrono::Utc>) -> String {
        format!(
            "{}{}/{}",
            self.collection("claims"),
            schedule,
            slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// The key of a federation-wide lock.
    pub fn lock(&self, name: &str) -> String {
        format!("{}{}", self.collection("locks"), name)
    }

    /// The membership key of a node.
    pub fn node(&self, node: &str) -> String {
        format!("{}{}", self.collection("nodes"), node)
    }
}

/// Everything a request handler needs.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub executor: Arc<runs::Executor>,
    pub keys: Keys,
    pub node: String,
    pub tools: Registry<Tool>,
    pub datasets: Registry<Dataset>,
    pub schedules: Registry<Schedule>,
    pub pipelines: Registry<Pipeline>,
    pub local: local::LocalStore,
    /// The node's clones of datasets.
    pub clones: datasets::Clones,
    /// Pipeline runs of this process.
    pub pipeline_runs: pipelines::PipelineRuns,
    /// Git identity, remote credentials and step secrets (node-local).
    pub git: config::GitSettings,
    /// Notifications of the federation (`/mao/notifications/`).
    pub notifications: Registry<Notification>,
    /// Raises and delivers this node's notifications.
    pub notifier: Arc<notify::Notifier>,
}

impl AppState {
    /// State over `store`; call [`AppState::spawn_background`] to serve reads from memory.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Keys,
        node: String,
        executor: Arc<runs::Executor>,
        local: local::LocalStore,
        git: config::GitSettings,
        sinks: Vec<mao_notify::SinkConfig>,
    ) -> Arc<AppState> {
        let notifier = Arc::new(notify::Notifier::new(
            store.clone(),
            keys.clone(),
            node.clone(),
            local.clone(),
            sinks,
        ));
        executor.set_notifier(notifier.clone());
        Arc::new(AppState {
            notifier,
            notifications: Registry::new(store.clone(), keys.collection("notifications")),
            clones: datasets::Clones::new(executor.data_dir(), git.credentials.clone()),
            pipeline_runs: pipelines::PipelineRuns::default(),
            git,
            executor,
            local,
            pipelines: Registry::new(store.clone(), keys.collection("pipelines")),
            schedules: Registry::new(store.clone(), keys.collection("schedules")),
            tools: Registry::new(store.clone(), keys.collection("tools")),
            datasets: Registry::new(store.clone(), keys.collection("datasets")),
            store,
            keys,
            node,
        })
    }

    /// Starts the background tasks: registry copies kept in step with the store, and the
    /// recovery of runs left by a previous process.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            self.tools.spawn_sync(),
            self.datasets.spawn_sync(),
            self.schedules.spawn_sync(),
            self.pipelines.spawn_sync(),
            self.notifications.spawn_sync(),
            tokio::spawn(self.notifier.clone().deliverer()),
            tokio::spawn(notify::collect_old(self.clone())),
            tokio::spawn(self.executor.clone().recover()),
            tokio::spawn(pipelines::recover(self.clone())),
            tokio::spawn(pipelines::pusher(self.clone())),
            tokio::spawn(scheduler::run(self.clone())),
        ]
    }
}

/// The HTTP API: `/api/v1`, the original's compatibility routes, health probes.
pub fn router(state: Arc<AppState>) -> Router {
    use axum::routing::post;
    use handlers::{
        compat, datasets, health, nodes, notifications, pipelines, registry as reg, runs, schedules,
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/api/v1/tools",
            get(reg::list::<Tool>).post(reg::create::<Tool>),
        )
        .route(
            "/api/v1/tools/{name}",
            get(reg::get_one::<Tool>)
                .put(reg::replace::<Tool>)
                .delete(reg::remove::<Tool>),
        )
        .route(
            "/api/v1/datasets",
            get(reg::list::<Dataset>).post(reg::create::<Dataset>),
        )
        .route(
            "/api/v1/datasets/{name}",
            get(reg::get_one::<Dataset>)
                .put(reg::replace::<Dataset>)
                .delete(reg::remove::<Dataset>),
        )
        .route("/api/v1/datasets/{name}/clone", post(datasets::clone_one))
        .route(
            "/api/v1/local/datasets",
            get(datasets::list_local).post(datasets::init_local),
        )
        .route(
            "/api/v1/local/datasets/{name}",
            get(datasets::get_local).delete(datasets::remove_local),
        )
        .route("/bare-repo/init", post(datasets::bare_repo_init))
        .route(
            "/api/v1/pipelines",
            get(reg::list::<Pipeline>).post(pipelines::create),
        )
        .route(
            "/api/v1/pipelines/{name}",
            get(reg::get_one::<Pipeline>)
                .put(pipelines::replace)
                .delete(reg::remove::<Pipeline>),
        )
        .route("/api/v1/pipelines/{name}/init", post(pipelines::init))
        .route("/api/v1/pipelines/{name}/runs", post(pipelines::start))
        .route("/api/v1/pipeline-runs", get(pipelines::list_runs))
        .route("/api/v1/pipeline-runs/{id}", get(pipelines::get_run))
        .route("/api/v1/pipeline-runs/{id}/wait", get(pipelines::wait_run))
        .route(
            "/api/v1/pipeline-runs/{id}/cancel",
            post(pipelines::cancel_run),
        )
        .route("/pipeline/init", post(pipelines::compat_init))
        .route("/pipeline/run", post(pipelines::compat_run))
        .route("/api/v1/tools/{name}/runs", post(runs::start))
        .route("/api/v1/runs", get(runs::list))
        .route("/api/v1/runs/{id}", get(runs::get_one))
        .route("/api/v1/runs/{id}/wait", get(runs::wait))
        .route("/api/v1/runs/{id}/logs", get(runs::logs))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel))
        .route(
            "/api/v1/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/v1/schedules/{name}",
            get(schedules::get_one).delete(schedules::remove),
        )
        .route("/api/v1/schedules/{name}/pause", post(schedules::pause))
        .route("/api/v1/schedules/{name}/resume", post(schedules::resume))
        .route("/api/v1/schedules/{name}/next", get(schedules::next))
        .route("/api/v1/schedules/{name}/history", get(schedules::history))
        .route("/jobs", get(schedules::jobs))
        .route("/jobs/{name}", axum::routing::delete(schedules::delete_job))
        .route("/api/v1/nodes", get(nodes::list))
        .route("/api/v1/notifications", get(notifications::list))
        .route("/api/v1/notifications/{id}", get(notifications::get_one))
        .route("/api/v1/notifications/{id}/ack", post(notifications::ack))
        .route(
            "/api/v1/notifications/{id}/deliveries",
            get(notifications::deliveries),
        )
        .route(
            "/registry/tools",
            get(compat::list_tools).post(compat::register_tool),
        )
        .route(
            "/registry/tools/{name}",
            get(compat::get_tool).delete(compat::delete_tool),
        )
        .route(
            "/registry/datasets",
            get(compat::list_datasets).post(compat::register_dataset),
        )
        .route(
            "/registry/datasets/{name}",
            get(compat::get_dataset).delete(compat::delete_dataset),
        )
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
