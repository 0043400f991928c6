//! Running containers: the [`Runtime`] trait and its Docker Engine backend ([`docker`]).
//!
//! The trait is the narrow set of operations the executor needs for one run: make sure an
//! image is present, create a container from a [`ContainerSpec`], start it, stream its
//! logs, wait for its exit, kill and remove it, and find containers by label after a
//! restart of the daemon.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

#[cfg(feature = "docker")]
pub mod docker;

/// Errors of a container runtime, by what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine cannot be reached (socket missing, daemon down).
    #[error("container engine unavailable: {0}")]
    Unavailable(String),
    /// The image is not present and cannot be pulled.
    #[error("image {image} is not available: {reason}")]
    ImageUnavailable { image: String, reason: String },
    /// No such container.
    #[error("container {0} not found")]
    NotFound(String),
    /// The engine refused the request as invalid (bad mount, bad option).
    #[error("the container engine refused the request: {0}")]
    Invalid(String),
    #[error("container engine error: {0}")]
    Internal(String),
}

/// Result of runtime operations.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A host directory bound into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// Resource limits of one container; `None` leaves the engine's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

/// Everything needed to create the container of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerSpec {
    /// Container name (unique on the engine), e.g. `mao-<run id>`.
    pub name: String,
    pub image: String,
    /// Overrides the image's CMD when set.
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    /// `uid:gid` to run as; `None` runs as the image's user.
    pub user: Option<String>,
    pub limits: Limits,
    /// Bind the engine's socket (`/var/run/docker.sock`) into the container.
    pub docker_socket: bool,
    /// Capabilities given back; every other one is dropped (`CapDrop: ALL`, always).
    pub cap_add: Vec<String>,
    /// The engine's network mode (`bridge`, `none`); `None` leaves the engine's default.
    pub network: Option<String>,
    /// Mount the image's filesystem read-only; the mounts and `/tmp` stay writable.
    pub read_only_rootfs: bool,
    /// Size of a tmpfs mounted at `/tmp`, in bytes; `None`: no tmpfs.
    pub tmp_size: Option<u64>,
}

/// The image a container is created from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image id (`sha256:...`).
    pub id: String,
    /// The registry digest (`name@sha256:...`) when the image came from a registry.
    pub repo_digest: Option<String>,
}

/// One piece of a container's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogChunk {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// A container's output in order; ends when the container has exited (with `follow`).
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogChunk>> + Send>>;

/// What the engine knows of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    /// Set once the container has exited.
    pub exit_code: Option<i64>,
    /// Killed by the kernel for exceeding its memory limit.
    pub oom_killed: bool,
    /// When the engine started the container; `None` before its first start.
    pub started_at: Option<DateTime<Utc>>,
    /// When the container exited; `None` while it has not.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The container operations of one run.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Checks that the engine answers.
    async fn ping(&self) -> Result<()>;

    /// Makes sure `image` is present locally, pulling it when absent.
    async fn ensure_image(&self, image: &str) -> Result<ImageInfo>;

    /// The image if it is present locally; never pulls.
    async fn find_image(&self, image: &str) -> Result<Option<ImageInfo>>;

    /// Creates (does not start) a container; returns its id.
    async fn create(&self, spec: &ContainerSpec) -> Result<String>;

    /// Starts a created container.
    async fn start(&self, id: &str) -> Result<()>;

    /// The container's stdout and stderr from its beginning; with `follow`, until it exits.
    async fn logs(&self, id: &str, follow: bool) -> Result<LogStream>;

    /// Waits for the container to exit; returns its exit code.
    async fn wait(&self, id: &str) -> Result<i64>;

    /// Kills the container (SIGKILL); killing one that is not running is not an error.
    async fn kill(&self, id: &str) -> Result<()>;

    /// Removes the container and its anonymous volumes; a missing one is not an error.
    async fn remove(&self, id: &str) -> Result<()>;

    /// The container's state, or `None` if it does not exist.
    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>>;

    /// Every container (running or not) that carries all of `labels`.
    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<ContainerInfo>>;
}
