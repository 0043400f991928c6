//! The Docker Engine backend of [`Runtime`], over its HTTP API (`bollard`).
//!
//! The client is made on first use, not at start-up, so a daemon starts while the engine is
//! down and its calls answer [`RuntimeError::Unavailable`] until the engine is back. The API
//! version is negotiated then: bollard speaks a newer API than many installed engines accept.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, HostConfig,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, CreateImageOptions, KillContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions,
};
use bollard::Docker;
use chrono::{DateTime, Datelike, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use crate::{
    ContainerInfo, ContainerSpec, ImageInfo, LogChunk, LogStream, Result, Runtime, RuntimeError,
};

/// The engine's socket, where `DOCKER_HOST` does not name another.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// How long a pull may take by default.
pub const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long any other request may wait for the engine's answer by default (the engine has
/// been seen to hang); a wait for a container's exit and a followed log are not bounded.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's output frames, from either the log endpoint or an attachment.
type RawLogStream = Pin<Box<dyn Stream<Item = Result<LogOutput, DockerError>> + Send>>;

/// A [`Runtime`] on a Docker Engine.
pub struct DockerRuntime {
    /// The engine's address, as errors name it (`unix:///var/run/docker.sock`).
    host: Arc<str>,
    client: OnceCell<Docker>,
    pull_timeout: Duration,
    call_timeout: Duration,
}

impl DockerRuntime {
    /// The local engine: `DOCKER_HOST` when set, else `/var/run/docker.sock`; never fails.
    pub fn connect() -> DockerRuntime {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        DockerRuntime::with_host(host)
    }

    /// The engine listening on the unix socket at `path`; never fails.
    pub fn connect_with_socket(path: impl AsRef<Path>) -> DockerRuntime {
        DockerRuntime::with_host(format!("unix://{}", path.as_ref().display()))
    }

    fn with_host(host: String) -> DockerRuntime {
        DockerRuntime {
            host: host.into(),
            client: OnceCell::new(),
            pull_timeout: DEFAULT_PULL_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Bounds the time every request but a pull, a wait and a followed log may take.
    pub fn with_call_timeout(mut self, timeout: Duration) -> DockerRuntime {
        self.call_timeout = timeout;
        self
    }

    /// `call` bounded by the call timeout; an engine that does not answer is unavailable.
    async fn timed<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, DockerError>>,
    ) -> Result<Result<T, DockerError>> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .map_err(|_| {
                RuntimeError::Unavailable(format!(
                    "the Docker Engine at {} did not answer {what} within {} s",
                    self.host,
                    self.call_timeout.as_secs_f64()
                ))
            })
    }

    /// Bounds the time a pull may take before [`Runtime::ensure_image`] gives up.
    pub fn with_pull_timeout(mut self, timeout: Duration) -> DockerRuntime {
        self.pull_timeout = timeout;
        self
    }

    /// The engine's address (`unix:///var/run/docker.sock`, `tcp://host:2375`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The client, made and version-negotiated on the first call that reaches the engine.
    async fn docker(&self) -> Result<&Docker> {
        self.client
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_host(&self.host)
                    .map_err(|e| unavailable(&self.host, &e))?;
                let docker = self
                    .timed("the version negotiation", docker.negotiate_version())
                    .await?
                    .map_err(|e| unavailable(&self.host, &e))?;
                let version = docker.client_version();
                debug!(host = %self.host, api = %version, "connected to the docker engine");
                Ok(docker)
            })
            .await
    }

    /// The errors every call shares: the engine unreachable, a refused request, the rest.
    fn error(&self, e: DockerError) -> RuntimeError {
        map_error(&self.host, e)
    }

    async fn inspect_image(&self, image: &str) -> Result<Option<ImageInfo>> {
        let docker = self.docker().await?;
        match self
            .timed("an image inspection", docker.inspect_image(image))
            .await?
        {
            Ok(inspect) => Ok(Some(ImageInfo {
                id: inspect.id.unwrap_or_default(),
                repo_digest: inspect.repo_digests.and_then(|d| d.into_iter().next()),
            })),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn pull(&self, image: &str) -> Result<()> {
        let docker = self.docker().await?;
        // Without a tag the engine pulls every tag of the repository; `docker pull` adds
        // `latest`, and so do we.
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            tag: (!has_tag_or_digest(image)).then(|| "latest".to_string()),
            ..Default::default()
        };
        let unavailable = |reason: String| RuntimeError::ImageUnavailable {
            image: image.to_string(),
            reason,
        };
        info!(image, "pulling image");
        let pull = async {
            let mut progress = docker.create_image(Some(options), None, None);
            while let Some(item) = progress.next().await {
                match item {
                    Ok(info) => debug!(image, status = ?info.status, "pull progress"),
                    Err(DockerError::DockerStreamError { error }) => {
                        return Err(unavailable(error))
                    }
                    Err(DockerError::DockerResponseServerError { message, .. }) => {
                        return Err(unavailable(message))
                    }
                    Err(e) => return Err(self.error(e)),
                }
            }
            Ok(())
        };
        // Dropping the request on timeout closes the connection, which cancels the pull.
        tokio::time::timeout(self.pull_timeout, pull)
            .await
            .map_err(|_| {
                unavailable(format!(
                    "the pull did not finish within {} s",
                    self.pull_timeout.as_secs_f64()
                ))
            })?
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        let docker = self.docker().await?;
        match self
            .timed("a container inspection", docker.inspect_container(id, None))
            .await?
        {
            Ok(inspect) => Ok(Some(inspect)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn ping(&self) -> Result<()> {
        let docker = self.docker().await?;
        self.timed("a ping", docker.ping())
            .await?
            .map(drop)
            .map_err(|e| self.error(e))
    }

    async fn ensure_image(&self, image: &str) -> Result<ImageInfo> {
        if let Some(info) = self.inspect_image(image).await? {
            return Ok(info);
        }
        self.pull(image).await?;
        self.inspect_image(image)
            .await?
            .ok_or_else(|| RuntimeError::ImageUnavailable {
                image: image.to_string(),
                reason: "the pull finished but the engine does not have the image".to_string(),
            })
    }

    async fn find_image(&self, image: &str) -> Result<Option<ImageInfo>> {
        self.inspect_image(image).await
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        let body = create_body(spec)?;
        let options = CreateContainerOptions {
            name: (!spec.name.is_empty()).then(|| spec.name.clone()),
            ..Default::default()
        };
        let docker = self.docker().await?;
        match self
            .timed(
                "a container creation",
                docker.create_container(Some(options), body),
            )
            .await?
        {
            Ok(created) => {
                for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
                    warn!(container = %spec.name, %warning, "engine warning on create");
                }
                Ok(created.id)
            }
            Err(e) => Err(match e {
                DockerError::DockerResponseServerError {
                    status_code: 404,
                    message,
                } => RuntimeError::ImageUnavailable {
                    image: spec.image.clone(),
                    reason: message,
                },
                DockerError::DockerResponseServerError {
                    status_code: 409,
                    message,
                } => RuntimeError::Invalid(message),
                e => self.error(e),
            }),
        }
    }

    async fn start(&self, id: &str) -> Result<()> {
        let docker = self.docker().await?;
        self.timed("a container start", docker.start_container(id, None))
            .await?
            .map_err(|e| not_found_or(&self.host, id, e))
    }

    /// With `follow` on a created container this attaches rather than reads the log: the
    /// log driver may rotate its files (`max-size`, `max-file`) faster than a follower reads
    /// them and drop output, while an attached stream loses nothing and, read slowly, only
    /// slows the tool's writes. So the complete output needs this call between `create` and
    /// `start`, and its stream read to the end.
    async fn logs(&self, id: &str, follow: bool) -> Result<LogStream> {
        // The engine reports a missing container only inside the stream; a caller should
        // not have to read a stream to learn that.
        let Some(inspect) = self.inspect_container(id).await? else {
            return Err(RuntimeError::NotFound(id.to_string()));
        };
        let created = matches!(
            inspect.state.and_then(|state| state.status),
            Some(ContainerStateStatusEnum::CREATED)
        );
        let docker = self.docker().await?;
        let output: RawLogStream = if follow && created {
            let options = AttachContainerOptions {
                // No replay of the log file: the engine connects the live streams before it
                // answers the attach, so a created container's output is all in the stream,
                // and a replay would repeat what the container writes while it is read.
                logs: false,
                stream: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            };
            let attached = self
                .timed("an attachment", docker.attach_container(id, Some(options)))
                .await?
                .map_err(|e| not_found_or(&self.host, id, e))?;
            attached.output
        } else {
            let options = LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                timestamps: false,
                ..Default::default()
            };
            Box::pin(docker.logs(id, Some(options)))
        };
        let host = self.host.clone();
        let id = id.to_string();
        let stream = output
            .map_err(move |e| not_found_or(&host, &id, e))
            .try_filter_map(|output| async move {
                Ok(match output {
                    LogOutput::StdOut { message } => Some(LogChunk::Stdout(message)),
                    LogOutput::StdErr { message } => Some(LogChunk::Stderr(message)),
                    // Only a tty container's output comes unframed; it is stdout.
                    LogOutput::Console { message } => Some(LogChunk::Stdout(message)),
                    LogOutput::StdIn { .. } => None,
                })
            });
        Ok(Box::pin(stream))
    }

    async fn wait(&self, id: &str) -> Result<i64> {
        let docker = self.docker().await?;
        let mut waiting = docker.wait_container(id, None);
        match waiting.next().await {
            Some(Ok(exit)) => Ok(exit.status_code),
            // bollard reports any non-zero exit as an error; for us it is a result.
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(not_found_or(&self.host, id, e)),
            None => Err(RuntimeError::Internal(format!(
                "the engine ended the wait for {id} without an exit code"
            ))),
        }
    }

    async fn kill(&self, id: &str) -> Result<()> {
        let docker = self.docker().await?;
        let options = KillContainerOptions {
            signal: "SIGKILL".to_string(),
        };
        match self
            .timed("a kill", docker.kill_container(id, Some(options)))
            .await?
        {
            Ok(()) => Ok(()),
            // 404: gone already; 409: not running. Either way nothing is left to kill.
            Err(e) if matches!(status(&e), Some(404 | 409)) => {
                debug!(container = id, error = %e, "nothing to kill");
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let docker = self.docker().await?;
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self
            .timed("a removal", docker.remove_container(id, Some(options)))
            .await?
        {
            Ok(()) => Ok(()),
            // 409 is a removal already in progress: the container is on its way out.
            Err(e) if matches!(status(&e), Some(404 | 409)) => {
                debug!(container = id, error = %e, "nothing to remove");
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>> {
        Ok(self.inspect_container(id).await?.map(container_info))
    }

    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<ContainerInfo>> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let docker = self.docker().await?;
        let summaries = self
            .timed("a container listing", docker.list_containers(Some(options)))
            .await?
            .map_err(|e| self.error(e))?;
        // The listing has no exit code nor OOM flag; one inspect per container has both.
        let mut found = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|summary| summary.id) {
            // One removed since the listing is simply no longer there.
            if let Some(info) = self.inspect(&id).await? {
                found.push(info);
            }
        }
        Ok(found)
    }
}

/// The engine's create request for `spec`.
fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody> {
    let mut binds = Vec::with_capacity(spec.mounts.len() + 1);
    for mount in &spec.mounts {
        binds.push(bind(&mount.host, &mount.container, mount.read_only)?);
    }
    if spec.docker_socket {
        binds.push("/var/run/docker.sock:/var/run/docker.sock".to_string());
    }
    let memory = spec
        .limits
        .memory_bytes
        .map(|bytes| {
            i64::try_from(bytes)
                .map_err(|_| RuntimeError::Invalid(format!("memory limit {bytes} is too large")))
        })
        .transpose()?;
    let nano_cpus = spec
        .limits
        .cpus
        .map(|cpus| {
            if cpus.is_finite() && cpus > 0.0 {
                Ok((cpus * 1e9).round() as i64)
            } else {
                Err(RuntimeError::Invalid(format!(
                    "cpu limit {cpus} is not a positive number"
                )))
            }
        })
        .transpose()?;
    let cap_add = spec
        .cap_add
        .iter()
        .map(|cap| {
            let ok = !cap.is_empty()
                && cap
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if ok {
                Ok(cap.clone())
            } else {
                Err(RuntimeError::Invalid(format!(
                    "{cap:?} is not a capability name"
                )))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    // Docker's tmpfs is mode 1777 by default, so any user may write it; noexec and nosuid
    // keep it a scratch area, not a place to run what was downloaded.
    let tmpfs = spec.tmp_size.map(|bytes| {
        HashMap::from([(
            "/tmp".to_string(),
            format!("rw,noexec,nosuid,nodev,size={bytes}"),
        )])
    });
    let host_config = HostConfig {
        binds: Some(binds),
        // Every capability goes; a tool gets back only what it asked for and the node allows.
        cap_drop: Some(vec!["ALL".to_string()]),
        cap_add: (!cap_add.is_empty()).then_some(cap_add),
        readonly_rootfs: Some(spec.read_only_rootfs),
        tmpfs,
        network_mode: spec.network.clone(),
        memory,
        // Equal to the memory limit, so the limit is not stretched by swap: a tool over it
        // is OOM-killed instead of crawling.
        memory_swap: memory,
        nano_cpus,
        pids_limit: spec.limits.pids,
        security_opt: Some(vec!["no-new-privileges".to_string()]),
        auto_remove: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        user: spec.user.clone(),
        tty: Some(false),
        open_stdin: Some(false),
        attach_stdin: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// `host:container[:ro]`, refusing what the engine would read differently: a relative host
/// path names a volume, and a colon splits the spec.
fn bind(host: &Path, container: &str, read_only: bool) -> Result<String> {
    let Some(host_str) = host.to_str() else {
        return Err(RuntimeError::Invalid(format!(
            "mount source {} is not valid unicode",
            host.display()
        )));
    };
    if !host.is_absolute() {
        return Err(RuntimeError::Invalid(format!(
            "mount source {host_str} is not an absolute path"
        )));
    }
    if !container.starts_with('/') {
        return Err(RuntimeError::Invalid(format!(
            "mount target {container} is not an absolute path"
        )));
    }
    if host_str.contains(':') || container.contains(':') {
        return Err(RuntimeError::Invalid(format!(
            "mount {host_str}:{container} has a colon in a path"
        )));
    }
    Ok(if read_only {
        format!("{host_str}:{container}:ro")
    } else {
        format!("{host_str}:{container}")
    })
}

/// Whether an image reference names a tag or a digest (`a/b:1`, `a@sha256:..`), as opposed
/// to a bare repository (`a/b`, `localhost:5000/a`).
fn has_tag_or_digest(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    image.contains('@') || last.contains(':')
}

fn container_info(inspect: ContainerInspectResponse) -> ContainerInfo {
    let state = inspect.state.unwrap_or_default();
    let exited = matches!(
        state.status,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
    );
    ContainerInfo {
        id: inspect.id.unwrap_or_default(),
        name: inspect
            .name
            .map(|name| name.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        labels: inspect
            .config
            .and_then(|config| config.labels)
            .unwrap_or_default()
            .into_iter()
            .collect(),
        running: state.running.unwrap_or(false),
        exit_code: if exited { state.exit_code } else { None },
        oom_killed: state.oom_killed.unwrap_or(false),
        started_at: engine_time(state.started_at.as_deref()),
        finished_at: if exited {
            engine_time(state.finished_at.as_deref())
        } else {
            None
        },
    }
}

/// A time of the engine's state (RFC 3339, nanoseconds); the engine writes the zero time
/// `0001-01-01T00:00:00Z` for one that has not happened.
fn engine_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text?)
        .ok()?
        .with_timezone(&Utc);
    (time.year() > 1).then_some(time)
}

/// The HTTP status the engine answered, if it answered.
fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A 404 about container `id` is [`RuntimeError::NotFound`]; anything else as usual.
fn not_found_or(host: &str, id: &str, e: DockerError) -> RuntimeError {
    if status(&e) == Some(404) {
        RuntimeError::NotFound(id.to_string())
    } else {
        map_error(host, e)
    }
}

fn map_error(host: &str, e: DockerError) -> RuntimeError {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 400,
            message,
        } => RuntimeError::Invalid(message),
        DockerError::DockerResponseServerError {
            status_code: 503,
            message,
        } => RuntimeError::Unavailable(format!("the Docker Engine at {host} answered: {message}")),
        DockerError::DockerResponseServerError { message, .. } => RuntimeError::Internal(message),
        DockerError::SocketNotFoundError(_)
        | DockerError::HyperLegacyError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::IOError { .. }
        | DockerError::RequestTimeoutError => unavailable(host, &e),
        e => RuntimeError::Internal(error_chain(&e)),
    }
}

fn unavailable(host: &str, e: &DockerError) -> RuntimeError {
    RuntimeError::Unavailable(format!(
        "cannot reach the Docker Engine at {host}: {}",
        error_chain(e)
    ))
}

/// An error and its causes on one line: hyper's own message ("client error (Connect)")
/// hides the cause a person needs ("No such file or directory").
fn error_chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::{Limits, Mount};

    #[test]
    fn engine_times_are_read_and_the_zero_time_is_none() {
        let started = engine_time(Some("2024-05-01T12:00:01.123456789Z")).unwrap();
        assert_eq!(started.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(started.timestamp(), 1_714_564_801);
        assert_eq!(engine_time(Some("0001-01-01T00:00:00Z")), None);
        assert_eq!(engine_time(Some("soon")), None);
        assert_eq!(engine_time(None), None);
    }

    #[test]
    fn references_without_tag_are_told_apart() {
        assert!(!has_tag_or_digest("alpine"));
        assert!(!has_tag_or_digest("mao/demo-tool"));
        assert!(!has_tag_or_digest("localhost:5000/mao/demo-tool"));
        assert!(has_tag_or_digest("mao/demo-tool:latest"));
        assert!(has_tag_or_digest("localhost:5000/mao/demo-tool:1.2"));
        assert!(has_tag_or_digest("alpine@sha256:0123"));
    }

    #[test]
    fn create_body_carries_the_spec() {
        let spec = ContainerSpec {
            name: "mao-run".to_string(),
            image: "mao/demo-tool:latest".to_string(),
            cmd: Some(vec!["run".to_string()]),
            env: BTreeMap::from([("A".to_string(), "1=2".to_string())]),
            labels: BTreeMap::from([("mao.run".to_string(), "r1".to_string())]),
            mounts: vec![
                Mount {
                    host: PathBuf::from("/srv/data"),
                    container: "/usr/src/app/data".to_string(),
                    read_only: false,
                },
                Mount {
                    host: PathBuf::from("/srv/in"),
                    container: "/usr/src/app/input".to_string(),
                    read_only: true,
                },
            ],
            user: Some("1000:1000".to_string()),
            limits: Limits {
                memory_bytes: Some(64 << 20),
                cpus: Some(1.5),
                pids: Some(64),
            },
            docker_socket: true,
            cap_add: vec!["NET_BIND_SERVICE".to_string()],
            network: Some("none".to_string()),
            read_only_rootfs: true,
            tmp_size: Some(64 << 20),
        };
        let body = create_body(&spec).unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds.unwrap(),
            [
                "/srv/data:/usr/src/app/data",
                "/srv/in:/usr/src/app/input:ro",
                "/var/run/docker.sock:/var/run/docker.sock"
            ]
        );
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.pids_limit, Some(64));
        assert_eq!(host.security_opt.unwrap(), ["no-new-privileges"]);
        assert_eq!(host.auto_remove, Some(false));
        assert_eq!(host.cap_drop.unwrap(), ["ALL"]);
        assert_eq!(host.cap_add.unwrap(), ["NET_BIND_SERVICE"]);
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(
            host.tmpfs.unwrap()["/tmp"],
            format!("rw,noexec,nosuid,nodev,size={}", 64 << 20)
        );
        assert_eq!(body.env.unwrap(), ["A=1=2"]);
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.tty, Some(false));
        assert_eq!(body.labels.unwrap()["mao.run"], "r1");
    }

    #[test]
    fn binds_that_the_engine_would_misread_are_refused() {
        assert!(bind(Path::new("data"), "/data", false).is_err());
        assert!(bind(Path::new("/a:b"), "/data", false).is_err());
        assert!(bind(Path::new("/a"), "data", false).is_err());
        let no_socket = create_body(&ContainerSpec::default()).unwrap();
        let host = no_socket.host_config.unwrap();
        assert_eq!(host.binds.unwrap(), Vec::<String>::new());
        assert_eq!(
            host.cap_drop.unwrap(),
            ["ALL"],
            "capabilities go even by default"
        );
        assert_eq!(host.cap_add, None);
    }

    #[test]
    fn a_capability_the_engine_would_misread_is_refused() {
        let spec = ContainerSpec {
            cap_add: vec!["net_admin; rm".to_string()],
            ..ContainerSpec::default()
        };
        assert!(matches!(create_body(&spec), Err(RuntimeError::Invalid(_))));
    }
}
