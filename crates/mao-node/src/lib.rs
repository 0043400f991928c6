//! The domain of one MAO node, with no HTTP in it: registries over the shared store,
//! membership, the executor of runs, the scheduler, pipelines and datasets in git,
//! notifications, and the node's local store.
//!
//! A [`Node`] owns every service and is built in one step; [`Node::spawn_background`]
//! starts the tasks that keep it going, each given only the services it uses. Every area
//! returns its own error enum (`RegistryError`, `RunError`, `PipelineError`,
//! `ScheduleError`, `DatasetError`); the HTTP crate maps them to statuses.

use std::path::PathBuf;
use std::sync::Arc;

use mao_api::{Dataset, Notification, Pipeline, Schedule, Tool};
use mao_runtime::Runtime;
use mao_store::Store;

pub mod access;
pub mod datasets;
pub mod executor;
pub mod failpoint;
pub mod federation;
pub mod gateway;
pub mod insights;
mod keys;
pub mod local;
pub mod local_remotes;
pub mod membership;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod scheduler;
mod settings;

pub use keys::Keys;
pub use settings::{GitSettings, Secret, SecretScope};

use datasets::Clones;
use executor::{Executor, RunSettings};
use local::LocalStore;
use notify::Notifier;
use pipeline::{PipelineRuns, PipelineService};
use registry::Registry;
use scheduler::Scheduler;

/// What a node is made of besides its stores and its container runtime.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// The node's name in the federation.
    pub name: String,
    /// The federation's key prefix (e.g. `/mao`).
    pub prefix: String,
    /// The node's data dir: runs' logs, tools' data, clones.
    pub data_dir: PathBuf,
    /// Run limits, retention, concurrency, the default detector.
    pub runs: RunSettings,
    /// Git identity, remote credentials, step secrets.
    pub git: GitSettings,
    /// Where this node delivers its notifications.
    pub sinks: Vec<mao_notify::SinkConfig>,
}

/// One node: every service, wired once.
pub struct Node {
    pub name: String,
    pub keys: Keys,
    pub store: Arc<dyn Store>,
    pub local: LocalStore,
    pub tools: Registry<Tool>,
    pub datasets: Registry<Dataset>,
    pub pipelines: Registry<Pipeline>,
    pub schedules: Registry<Schedule>,
    pub notifications: Registry<Notification>,
    /// Insights the federation's tools published.
    pub insights: insights::Insights,
    /// The original's gateway routes, confined to `raw/` and `insights/`.
    pub gateway: gateway::Gateway,
    /// The node's clones of datasets.
    pub clones: Arc<Clones>,
    pub executor: Arc<Executor>,
    /// Raises and delivers this node's notifications.
    pub notifier: Arc<Notifier>,
    /// Pipeline runs: init, steps, pushes.
    pub runner: Arc<PipelineService>,
    /// Schedules: management and the loop that fires their slots.
    pub scheduler: Arc<Scheduler>,
    /// Whether the node holds its membership lease, once it has joined.
    fence: membership::Fence,
    /// The federation's membership, on a node whose store is etcd.
    federation: std::sync::OnceLock<Arc<federation::Federation>>,
}

impl Node {
    /// Whether a run or pipeline run is still going on this node.
    pub fn runs_going(&self) -> bool {
        self.executor.any_active() || self.runner.pipeline_runs.any_active()
    }

    /// A node over `store` (shared state), `local` (this node's records) and `runtime`
    /// (its container engine). Call [`Node::spawn_background`] to start it.
    pub fn new(
        store: Arc<dyn Store>,
        local: LocalStore,
        runtime: Arc<dyn Runtime>,
        settings: NodeSettings,
    ) -> Arc<Node> {
        let NodeSettings {
            name,
            prefix,
            data_dir,
            runs,
            git,
            sinks,
        } = settings;
        // Every record saved and every run log written masks the node's secrets.
        let local = local.with_redactor(git.redactor());
        let keys = Keys::new(&prefix);
        let registry = |collection: &str| keys.collection(collection);
        let tools = Registry::new(store.clone(), registry("tools"));
        let datasets = Registry::new(store.clone(), registry("datasets"));
        let pipelines = Registry::new(store.clone(), registry("pipelines"));
        let schedules = Registry::new(store.clone(), registry("schedules"));
        let notifications = Registry::new(store.clone(), registry("notifications"));
        let notifier = Arc::new(Notifier::new(
            store.clone(),
            keys.clone(),
            name.clone(),
            local.clone(),
            sinks,
            notifications.clone(),
        ));
        let insights = insights::Insights::new(store.clone(), keys.clone());
        let executor = Executor::new(
            runtime,
            local.clone(),
            runs,
            name.clone(),
            data_dir.clone(),
            notifier.clone(),
            insights.clone(),
        );
        let clones = Arc::new(Clones::new(
            &data_dir,
            git.credentials,
            datasets.clone(),
            &git.allowed_local_remotes,
        ));
        let runner = Arc::new(PipelineService {
            node: name.clone(),
            keys: keys.clone(),
            store: store.clone(),
            tools: tools.clone(),
            datasets: datasets.clone(),
            pipelines: pipelines.clone(),
            clones: clones.clone(),
            executor: executor.clone(),
            local: local.clone(),
            notifier: notifier.clone(),
            secrets: git.secrets,
            pipeline_runs: PipelineRuns::default(),
        });
        let fence = membership::Fence::default();
        let scheduler = Arc::new(Scheduler {
            fence: fence.clone(),
            node: name.clone(),
            keys: keys.clone(),
            store: store.clone(),
            schedules: schedules.clone(),
            tools: tools.clone(),
            pipelines: pipelines.clone(),
            executor: executor.clone(),
            local: local.clone(),
            runner: runner.clone(),
            markers: Default::default(),
        });
        let gateway = gateway::Gateway::new(store.clone(), keys.clone());
        Arc::new(Node {
            name,
            gateway,
            keys,
            store,
            local,
            tools,
            datasets,
            pipelines,
            schedules,
            notifications,
            insights,
            clones,
            executor,
            notifier,
            runner,
            scheduler,
            fence,
            federation: std::sync::OnceLock::new(),
        })
    }

    /// Gives the node its view of the federation's membership (etcd nodes only).
    pub fn attach_federation(&self, federation: Arc<federation::Federation>) {
        let _ = self.federation.set(federation);
    }

    /// The federation's membership; `None` on the embedded store.
    pub fn federation(&self) -> Option<&Arc<federation::Federation>> {
        self.federation.get()
    }

    /// Follows the node's membership lease, so that readiness can say whether the node
    /// holds its name and the scheduler is fenced while it may not.
    pub fn track_membership(&self, membership: &membership::Membership) {
        self.fence.track(membership);
    }

    /// Whether the node surely holds its membership lease (or why not); `None` before it
    /// joined (a node built in-process, without membership).
    pub fn holds_membership(&self) -> Option<Result<(), membership::Fenced>> {
        self.fence
            .tracking()
            .then(|| self.fence.check().map(|_| ()))
    }

    /// Starts the background tasks: registry copies kept in step with the store, the
    /// recovery of runs and pipeline runs left by a previous process, the pusher, the
    /// notification deliverer and collector, and the scheduler.
    pub fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            self.tools.spawn_sync(),
            self.datasets.spawn_sync(),
            self.schedules.spawn_sync(),
            self.pipelines.spawn_sync(),
            self.notifications.spawn_sync(),
            tokio::spawn(self.notifier.clone().deliverer()),
            tokio::spawn(notify::collect_old(self.notifier.clone())),
            tokio::spawn(self.executor.clone().recover()),
            tokio::spawn(pipeline::recover(self.runner.clone())),
            tokio::spawn(pipeline::pusher(self.runner.clone())),
            tokio::spawn(scheduler::run(self.scheduler.clone())),
        ]
    }
}
