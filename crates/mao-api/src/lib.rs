//! Wire types of the MAO orchestrator API, shared by the server and its clients,
//! and the validation every name, image reference and git URL goes through at the edge.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod auth;
pub mod federation;
pub mod notification;
pub mod pipeline;
pub mod units;
pub mod validate;

pub use pipeline::{
    DatasetInit, DatasetRole, GitOutcome, GroundTruth, GroundTruthResult, InitLocalRequest,
    InitReport, InputRef, LocalDataset, Pipeline, PipelineInitRequest, PipelineRun,
    PipelineRunRequest, PushState, Step, StepRun,
};

pub use notification::{
    DetectorSpec, MetricJudgement, Notification, NotificationKind, Severity, Verdict,
};
pub use validate::ValidationError;

/// A registered tool: a Docker image that runs non-interactively and writes to its data folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub author: String,
    pub image: String,
    pub data_repo: String,
    pub code_repo: String,
    pub artefact: String,
    #[serde(default)]
    pub description: String,
    /// Default command (overrides the image's CMD) for every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Default environment for every run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Limits of this tool's runs; unset ones fall back to the node's defaults.
    #[serde(default, skip_serializing_if = "RunLimits::is_empty")]
    pub limits: RunLimits,
    /// Mount the Docker socket into the container (only if the node allows it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub docker_socket: bool,
    /// How this tool's metrics are judged; unset: the node's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<DetectorSpec>,
    /// Linux capabilities the container gets back (all are dropped), e.g. `NET_BIND_SERVICE`;
    /// each must be in the node's `allowed_capabilities`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The container's network; unset: the node's `run_network`. Never less strict than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// The network a tool container is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// No network at all: only a loopback interface. The strictest.
    None,
    /// The engine's default bridge: outbound traffic allowed.
    Bridge,
}

impl Network {
    /// The name used on the wire, in the config and by the Docker Engine.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Bridge => "bridge",
        }
    }

    /// Whether `self` allows no more than `other` does.
    pub fn is_at_least_as_strict_as(self, other: Network) -> bool {
        self <= other
    }
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Network, String> {
        match s.trim() {
            "none" => Ok(Network::None),
            "bridge" => Ok(Network::Bridge),
            other => Err(format!("{other:?} is not a network; use bridge or none")),
        }
    }
}

/// Limits of a run; each overrides the one below it (run request > tool > node).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Wall-clock limit, e.g. `10m`; the container is killed and the run ends `timed_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Memory limit, e.g. `512m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPUs, e.g. `1.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Maximum number of processes in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

impl Eq for RunLimits {}

impl RunLimits {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        self == &RunLimits::default()
    }

    /// Checks that every limit parses and is in range.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(t) = &self.timeout {
            let d = units::parse_duration(t).map_err(|m| ValidationError::new("timeout", m))?;
            if d.is_zero() {
                return Err(ValidationError::new("timeout", "must be above zero"));
            }
        }
        if let Some(m) = &self.memory {
            let bytes = units::parse_size(m).map_err(|e| ValidationError::new("memory", e))?;
            if bytes < 6 << 20 {
                return Err(ValidationError::new(
                    "memory",
                    "must be at least 6m (Docker's minimum)",
                ));
            }
        }
        if let Some(c) = self.cpus {
            if !(c.is_finite() && c > 0.0 && c <= 1024.0) {
                return Err(ValidationError::new(
                    "cpus",
                    "must be above 0 and at most 1024",
                ));
            }
        }
        if let Some(p) = self.pids {
            if p < 1 {
                return Err(ValidationError::new("pids", "must be at least 1"));
            }
        }
        Ok(())
    }

    /// `self`, with unset limits taken from `fallback`.
    pub fn or(&self, fallback: &RunLimits) -> RunLimits {
        RunLimits {
            timeout: self.timeout.clone().or_else(|| fallback.timeout.clone()),
            memory: self.memory.clone().or_else(|| fallback.memory.clone()),
            cpus: self.cpus.or(fallback.cpus),
            pids: self.pids.or(fallback.pids),
        }
    }
}

impl Tool {
    /// Checks every field; the first problem is returned with the field it concerns.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::text("author", &self.author, 200, true)?;
        validate::image("image", &self.image)?;
        validate::git_url("data_repo", &self.data_repo)?;
        validate::git_url("code_repo", &self.code_repo)?;
        validate::text("artefact", &self.artefact, 500, false)?;
        validate::text("description", &self.description, 4096, false)?;
        if let Some(cmd) = &self.cmd {
            validate::command("cmd", cmd)?;
        }
        validate::env("env", &self.env)?;
        for capability in &self.capabilities {
            validate::capability("capabilities", capability)?;
        }
        if let Some(d) = &self.detector {
            d.validate()
                .map_err(|m| ValidationError::new("detector", m))?;
        }
        self.limits.validate()
    }
}

/// A registered dataset: a git repository; each node works on its own branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub name: String,
    /// The git URL of the shared repository.
    pub master: String,
    /// Branches (one per node) that work on the dataset.
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Kept on one node only (a bare repository in its data dir).
    #[serde(default)]
    pub local_only: bool,
}

impl Dataset {
    /// Checks every field; the first problem is returned with the field it concerns.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::git_url("master", &self.master)?;
        for node in &self.nodes {
            validate::name("nodes", node)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.nodes.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(ValidationError::new(
                "nodes",
                format!("branch {dup:?} is listed twice"),
            ));
        }
        validate::text("description", &self.description, 4096, false)
    }
}

/// A live member of the federation, as published under its lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Where this node's HTTP API listens.
    pub api_url: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// Host and process, so a restarted daemon can tell its own stale entry from a live twin.
    pub host: String,
    pub pid: u32,
    /// `/etc/machine-id` of the host, so two machines with one host name are told apart.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine_id: String,
}

/// What a tool's run on a node left in `insights.json`, shared with the federation at
/// `/mao/insights/<tool>/<node>`; the newest run's replaces the one before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub tool: String,
    pub node: String,
    /// The run that wrote it.
    pub run_id: String,
    /// When that run finished.
    pub published_at: DateTime<Utc>,
    /// The JSON object the tool wrote, as it wrote it.
    pub insights: serde_json::Map<String, serde_json::Value>,
}

impl Insight {
    /// The object as JSON on one line (for a table cell).
    pub fn insights_compact(&self) -> String {
        serde_json::Value::Object(self.insights.clone()).to_string()
    }

    /// The object as indented JSON (for a detail view).
    pub fn insights_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.insights).expect("a JSON object prints")
    }
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `after=` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Body of every error response: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `GET /readyz`: whether the store answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub store: String,
    pub node: String,
    /// Why it is not ready: the first failing check's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each part the node needs to do its job: `store`, `runtime`, `membership`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ReadinessCheck>,
}

/// One part of readiness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    /// `store`, `runtime` or `membership`.
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// The daemon lost track of the container (it vanished while the daemon was down).
    Lost,
}

impl RunStatus {
    /// True once the run has ended, whatever the outcome.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// The wire name (`timed_out`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Lost => "lost",
        }
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!("{s:?} is not a run status (queued, running, succeeded, failed, timed_out, cancelled, lost)")
        })
    }
}

/// Why a run did not succeed, for scripts; its `error` says the same in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The Docker Engine stopped answering (within the node's `engine_timeout`) while the
    /// run's container was made, started or waited for.
    EngineUnresponsive,
}

impl FailureReason {
    /// The wire name (`engine_unresponsive`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::EngineUnresponsive => "engine_unresponsive",
        }
    }
}

/// The record of one run of a tool on one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Sortable id (ULID): later runs have greater ids.
    pub id: String,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub node: String,
    /// `manual`, or `schedule:<id>@<slot>`.
    pub trigger: String,
    pub image: String,
    /// The image id (and registry digest when known) the container was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Host folder mounted at `/usr/src/app/data`.
    pub data_dir: String,
    /// Host folder mounted read-only at `/usr/src/app/input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Names of the environment variables set (values are not recorded: they may be secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_keys: Vec<String>,
    /// The limits the run got, after defaults.
    #[serde(default)]
    pub limits: RunLimits,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Why the run did not succeed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the run did not succeed, as a stable name, when the daemon knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    pub queued_at: DateTime<Utc>,
    /// When the daemon asked the Docker Engine to start the container: `started_at` minus
    /// this is the Engine's own start time, this minus `scheduled_at` the daemon's lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the container started, by the Engine's clock (the container's `StartedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Path of the log file on the node.
    pub log_path: String,
    #[serde(default)]
    pub log_bytes: u64,
    #[serde(default)]
    pub log_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The schedule that started the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The slot instant a scheduled run is for; `started_at - scheduled_at` is its lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The pipeline run this step belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<String>,
    /// What the step did in git (pipeline steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitOutcome>,
    /// The detector the run's metrics were judged with (after defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<DetectorSpec>,
    /// Control metrics the run wrote: `control` (first cell of the newest
    /// `control-*.csv`) and the numbers of `metrics.json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Why metrics could not be read (the run does not fail for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_error: Option<String>,
    /// Why the run's `insights.json` was not published (the run does not fail for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_error: Option<String>,
    /// The detector's verdict per metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detection: Vec<MetricJudgement>,
}

impl RunRecord {
    /// Seconds from start to finish (or to now while running).
    pub fn duration(&self) -> Option<chrono::Duration> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or_else(Utc::now) - start)
    }
}

/// Body of `POST /api/v1/tools/{name}/runs`; everything is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Added to (and overriding) the tool's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Replaces the tool's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "RunLimits::is_empty")]
    pub limits: RunLimits,
}

impl RunRequest {
    /// Checks the overrides.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::env("env", &self.env)?;
        if let Some(cmd) = &self.cmd {
            validate::command("cmd", cmd)?;
        }
        self.limits.validate()
    }
}

/// What a schedule runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Target {
    Tool(String),
    Pipeline(String),
}

impl Target {
    /// The target's name, whatever its kind.
    pub fn name(&self) -> &str {
        match self {
            Target::Tool(n) | Target::Pipeline(n) => n,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tool(n) => write!(f, "tool/{n}"),
            Target::Pipeline(n) => write!(f, "pipeline/{n}"),
        }
    }
}

/// Which nodes run a slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleMode {
    /// Every node that holds the schedule runs each slot once.
    #[default]
    EveryNode,
    /// Exactly one node of the federation runs each slot (the first to claim it).
    Once,
}

impl ScheduleMode {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleMode::EveryNode => "every-node",
            ScheduleMode::Once => "once",
        }
    }
}

/// What happens when a slot comes while the previous run is still going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// The new slot is skipped and recorded with the reason.
    #[default]
    Forbid,
    /// Both run.
    Allow,
    /// The running one is cancelled and the new one starts.
    Replace,
}

impl Concurrency {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Forbid => "forbid",
            Concurrency::Allow => "allow",
            Concurrency::Replace => "replace",
        }
    }
}

/// Which missed slots run when the node catches up (after downtime).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// None: a slot runs only on time.
    None,
    /// The newest missed slot within the starting deadline runs once.
    #[default]
    Latest,
    /// Every missed slot within the starting deadline runs, oldest first.
    All,
}

impl CatchUp {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

/// A schedule as stored in the shared store (`/mao/schedules/<id>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: String,
    pub target: Target,
    /// 5, 6 or 7 cron fields, `@daily`-style nicknames, or `daily`/`weekly`.
    pub cron: String,
    /// IANA time zone the cron expression is read in.
    pub tz: String,
    pub mode: ScheduleMode,
    pub concurrency: Concurrency,
    pub catch_up: CatchUp,
    /// How late a missed slot may still start, e.g. `18h`.
    pub starting_deadline: String,
    /// Per-run overrides (cmd, env, limits).
    #[serde(default)]
    pub overrides: RunRequest,
    #[serde(default)]
    pub suspended: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/schedules`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Chosen by the server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool to run (or set `pipeline`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tool: String,
    /// The pipeline to run (or set `tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ScheduleMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline: Option<String>,
    #[serde(default, skip_serializing_if = "RunRequest::is_empty")]
    pub overrides: RunRequest,
    #[serde(default)]
    pub suspended: bool,
}

impl RunRequest {
    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self == &RunRequest::default()
    }
}

/// A schedule with what the node knows of its timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The next fire time (UTC); absent when suspended or when the expression never fires again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire: Option<DateTime<Utc>>,
    /// The same instant in the schedule's time zone, as text with its offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire_local: Option<String>,
    /// The last slot this node handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_slot: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_status: Option<RunStatus>,
}

/// What became of one slot of a schedule on this node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub schedule: String,
    pub slot: DateTime<Utc>,
    pub outcome: SlotOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Why it was skipped or missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub node: String,
    pub at: DateTime<Utc>,
}

/// The outcome of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotOutcome {
    /// A run was started for it.
    Fired,
    /// Not run, on purpose: another node claimed it, the previous run was still going, ...
    Skipped,
    /// Not run because it came while the node could not run it and the catch-up policy or
    /// the starting deadline says not to run it late.
    Missed,
}

impl SlotOutcome {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotOutcome::Fired => "fired",
            SlotOutcome::Skipped => "skipped",
            SlotOutcome::Missed => "missed",
        }
    }
}

/// One fire time, in UTC and in the schedule's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FireTime {
    pub utc: DateTime<Utc>,
    pub local: String,
}
