//! The Docker backend against the real Engine, running the demo tool's image.
//!
//! The image is built from this workspace (`scripts/build-demo-image.sh`) because no registry
//! is reachable. Every test labels its containers `mao.test=<unique>` and removes them on
//! drop, failed or not.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mao_runtime::docker::DockerRuntime;
use mao_runtime::{ContainerSpec, Limits, LogChunk, LogStream, Mount, Runtime, RuntimeError};
use mao_testkit::docker::ContainerSweep;

const IMAGE: &str = mao_testkit::docker::DEMO_IMAGE;
/// A guard against a hang, far above what any step here takes.
const PATIENCE: Duration = Duration::from_secs(120);

/// The demo image, built once per test process.
fn demo_image() -> &'static str {
    mao_testkit::docker::ensure_demo_image()
}

/// One test's containers: a unique label, and removal of all it carries on drop.
struct TestContainers {
    id: String,
    _sweep: ContainerSweep,
}

impl TestContainers {
    fn new() -> TestContainers {
        let id = mao_testkit::unique_name("rt");
        TestContainers {
            _sweep: ContainerSweep::new("mao.test", &id),
            id,
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("mao.test".to_string(), self.id.clone())])
    }

    /// A spec of the demo tool named and labelled for this test.
    fn spec(&self, suffix: &str, env: &[(&str, &str)]) -> ContainerSpec {
        ContainerSpec {
            name: format!("mao-test-{}-{suffix}", self.id),
            image: demo_image().to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: self.labels(),
            ..Default::default()
        }
    }
}

/// A directory the container's users (root or not) can write in.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn data_mount(dir: &Path) -> Mount {
    Mount {
        host: dir.to_path_buf(),
        container: "/usr/src/app/data".to_string(),
        read_only: false,
    }
}

async fn with_patience<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, work)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PATIENCE:?}"))
}

/// Creates, starts and waits; returns the id and the exit code.
async fn run_to_exit(runtime: &DockerRuntime, spec: &ContainerSpec) -> (String, i64) {
    runtime.ensure_image(&spec.image).await.unwrap();
    let id = runtime.create(spec).await.unwrap();
    runtime.start(&id).await.unwrap();
    let code = with_patience("wait", runtime.wait(&id)).await.unwrap();
    (id, code)
}

/// All of a small log, as text.
async fn read_all(mut logs: LogStream) -> (String, String) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = with_patience("log stream", logs.next()).await {
        match chunk.unwrap() {
            LogChunk::Stdout(bytes) => stdout.extend_from_slice(&bytes),
            LogChunk::Stderr(bytes) => stderr.extend_from_slice(&bytes),
        }
    }
    (
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_run_writes_its_data_and_is_found_by_label() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let data = shared_dir();
    let mut spec = containers.spec("ok", &[("DEMO_VALUE", "42.5")]);
    spec.mounts.push(data_mount(data.path()));
    spec.labels.insert("mao.run".to_string(), "r1".to_string());
    spec.user = Some("1000:1000".to_string());

    let image = runtime.ensure_image(IMAGE).await.unwrap();
    assert!(image.id.starts_with("sha256:"), "{image:?}");
    assert_eq!(
        image.repo_digest, None,
        "a locally built image has no registry digest"
    );

    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 0);

    let files = files_in(data.path());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("control-") && names[0].ends_with(".csv"),
        "{names:?}"
    );
    assert_eq!(names[1], "metrics.json");
    let csv = std::fs::read_to_string(&files[0]).unwrap();
    let first_cell: f64 = csv.split([',', '\n']).next().unwrap().parse().unwrap();
    assert_eq!(first_cell, 42.5);
    let metrics = std::fs::read_to_string(&files[1]).unwrap();
    assert_eq!(metrics.trim(), r#"{"control": 42.5, "rows": 3}"#);
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().uid(),
        1000,
        "the tool runs as the spec's user"
    );

    let (stdout, _) = read_all(runtime.logs(&id, false).await.unwrap()).await;
    assert!(stdout.contains("mao-demo-tool: wrote control-"), "{stdout}");

    let listed = runtime.list(&spec.labels).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let info = &listed[0];
    assert_eq!(info.id, id);
    assert_eq!(info.name, spec.name);
    assert_eq!(info.labels.get("mao.run").map(String::as_str), Some("r1"));
    assert!(!info.running);
    assert_eq!(info.exit_code, Some(0));
    assert!(!info.oom_killed);
    assert_eq!(
        runtime.inspect(&spec.name).await.unwrap().as_ref(),
        Some(info)
    );

    // A label the container lacks excludes it: every label must match.
    let mut other = spec.labels.clone();
    other.insert("mao.run".to_string(), "r2".to_string());
    assert_eq!(runtime.list(&other).await.unwrap(), []);

    runtime.remove(&id).await.unwrap();
    assert_eq!(runtime.inspect(&id).await.unwrap(), None);
    assert_eq!(runtime.list(&spec.labels).await.unwrap(), []);
}

#[tokio::test]
async fn a_failing_tool_returns_its_exit_code() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let spec = containers.spec("fail", &[("DEMO_EXIT", "3"), ("DATA_DIR", "/tmp/data")]);
    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 3);
    let info = runtime.inspect(&id).await.unwrap().unwrap();
    assert_eq!((info.running, info.exit_code), (false, Some(3)));
    // A second wait on an exited container answers at once, with the same code.
    assert_eq!(runtime.wait(&id).await.unwrap(), 3);
    runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn logs_stream_while_the_tool_runs() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let spec = containers.spec(
        "ticks",
        &[
            ("DEMO_TICKS", "30"),
            ("DEMO_STDERR", "a warning"),
            ("DATA_DIR", "/tmp/data"),
        ],
    );
    runtime.ensure_image(&spec.image).await.unwrap();
    let id = runtime.create(&spec).await.unwrap();
    runtime.start(&id).await.unwrap();

    let mut logs = runtime.logs(&id, true).await.unwrap();
    let first = with_patience("first log chunk", logs.next())
        .await
        .expect("the stream ended before any output")
        .unwrap();
    assert!(
        runtime.inspect(&id).await.unwrap().unwrap().running,
        "the first chunk ({first:?}) arrived only after the exit"
    );

    let (mut stdout, mut stderr) = read_all(logs).await;
    match first {
        LogChunk::Stdout(bytes) => stdout.insert_str(0, std::str::from_utf8(&bytes).unwrap()),
        LogChunk::Stderr(bytes) => stderr.insert_str(0, std::str::from_utf8(&bytes).unwrap()),
    }
    // The stream ended by itself: the container has exited.
    assert!(!runtime.inspect(&id).await.unwrap().unwrap().running);
    assert_eq!(stderr, "a warning\n");
    let ticks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("tick ")).collect();
    assert_eq!(ticks.len(), 30, "{stdout}");
    assert_eq!(ticks[29], "tick 30/30");
    assert!(stdout.ends_with("exit code 0\n"), "{stdout}");
    assert_eq!(runtime.wait(&id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_read_only_input_cannot_be_written() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let data = shared_dir();
    let input = shared_dir();
    std::fs::write(input.path().join("given.txt"), "input\n").unwrap();
    let mut spec = containers.spec("ro", &[]);
    spec.mounts = vec![
        data_mount(data.path()),
        Mount {
            host: input.path().to_path_buf(),
            container: "/usr/src/app/input".to_string(),
            read_only: true,
        },
    ];
    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 0);
    let (stdout, _) = read_all(runtime.logs(&id, false).await.unwrap()).await;
    assert!(
        stdout.contains("input probe write: failed: Read-only file system"),
        "{stdout}"
    );
    assert!(stdout.contains("input file: given.txt"), "{stdout}");
    assert_eq!(files_in(input.path()), [input.path().join("given.txt")]);

    // The same folder mounted writable proves the probe can tell the difference.
    let mut writable = containers.spec("rw", &[]);
    writable.mounts = vec![
        data_mount(data.path()),
        Mount {
            read_only: false,
            ..spec.mounts[1].clone()
        },
    ];
    let (id, code) = run_to_exit(&runtime, &writable).await;
    assert_eq!(code, 0);
    let (stdout, _) = read_all(runtime.logs(&id, false).await.unwrap()).await;
    assert!(stdout.contains("input probe write: succeeded"), "{stdout}");
}

#[tokio::test]
async fn kill_ends_a_long_sleeper() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let spec = containers.spec(
        "sleeper",
        &[("DEMO_SLEEP", "600"), ("DATA_DIR", "/tmp/data")],
    );
    runtime.ensure_image(&spec.image).await.unwrap();
    let id = runtime.create(&spec).await.unwrap();
    runtime.start(&id).await.unwrap();
    assert!(runtime.inspect(&id).await.unwrap().unwrap().running);

    let waiting = {
        let runtime = DockerRuntime::connect();
        let id = id.clone();
        tokio::spawn(async move { runtime.wait(&id).await })
    };
    runtime.kill(&id).await.unwrap();
    let code = with_patience("wait after kill", waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 137, "128 + SIGKILL");
    let info = runtime.inspect(&id).await.unwrap().unwrap();
    assert_eq!((info.running, info.exit_code), (false, Some(137)));
    // Killing what is no longer running is not an error.
    runtime.kill(&id).await.unwrap();
}

#[tokio::test]
async fn limits_reach_the_engine() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let mut spec = containers.spec("limits", &[("DATA_DIR", "/tmp/data")]);
    spec.limits = Limits {
        memory_bytes: Some(64 << 20),
        cpus: Some(0.5),
        pids: Some(32),
    };
    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 0);
    let output = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.SecurityOpt}}",
            &id,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "67108864 500000000 32 [no-new-privileges]"
    );
}

#[tokio::test]
async fn a_missing_image_is_unavailable_without_a_hang() {
    let runtime = DockerRuntime::connect().with_pull_timeout(Duration::from_secs(20));
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        runtime.ensure_image("mao/does-not-exist:never"),
    )
    .await
    .expect("ensure_image hung")
    .unwrap_err();
    eprintln!(
        "pull of a missing image failed after {:?}: {err}",
        started.elapsed()
    );
    match err {
        RuntimeError::ImageUnavailable { image, reason } => {
            assert_eq!(image, "mao/does-not-exist:never");
            assert!(!reason.is_empty());
        }
        other => panic!("expected ImageUnavailable, got {other:?}"),
    }

    // Creating from it without a pull names the image too.
    let containers = TestContainers::new();
    let mut spec = containers.spec("noimage", &[]);
    spec.image = "mao/does-not-exist:never".to_string();
    match runtime.create(&spec).await {
        Err(RuntimeError::ImageUnavailable { image, .. }) => assert_eq!(image, spec.image),
        other => panic!("expected ImageUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_in_use_is_refused() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let spec = containers.spec("twice", &[]);
    runtime.ensure_image(&spec.image).await.unwrap();
    runtime.create(&spec).await.unwrap();
    match runtime.create(&spec).await {
        Err(RuntimeError::Invalid(message)) => {
            assert!(message.contains("already in use"), "{message}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The process's peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_hundred_megabytes_of_output_stream_through() {
    const FLOOD: u64 = 100_000_000;
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let spec = containers.spec(
        "flood",
        &[
            ("DEMO_OUTPUT_BYTES", &FLOOD.to_string()),
            ("DATA_DIR", "/tmp/data"),
        ],
    );
    runtime.ensure_image(&spec.image).await.unwrap();
    let id = runtime.create(&spec).await.unwrap();
    // Before the start: the engine's log files rotate (10 MB x 3 on this machine) faster
    // than anyone reads them, so only an attachment made before the start sees it all.
    let mut logs = runtime.logs(&id, true).await.unwrap();
    runtime.start(&id).await.unwrap();

    let peak_before = peak_rss();
    let started = Instant::now();
    let (mut stdout_bytes, mut chunks) = (0u64, 0u64);
    // Only the end is kept, to find the summary line after the filler.
    let mut tail: Vec<u8> = Vec::new();
    let deadline = Duration::from_secs(600);
    while let Some(chunk) = tokio::time::timeout(deadline, logs.next())
        .await
        .expect("the log stream stalled")
    {
        if let LogChunk::Stdout(bytes) = chunk.unwrap() {
            stdout_bytes += bytes.len() as u64;
            chunks += 1;
            tail.extend_from_slice(&bytes);
            if tail.len() > 4096 {
                tail.drain(..tail.len() - 1024);
            }
        }
    }
    let elapsed = started.elapsed();
    let peak_after = peak_rss();
    eprintln!(
        "streamed {stdout_bytes} bytes in {chunks} chunks in {elapsed:?} ({:.1} MB/s); peak rss {} MB -> {} MB",
        stdout_bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        peak_before >> 20,
        peak_after >> 20
    );

    let tail = String::from_utf8_lossy(&tail);
    let summary = tail
        .lines()
        .last()
        .filter(|line| line.starts_with("mao-demo-tool: wrote"))
        .unwrap_or_else(|| panic!("no summary at the end: {tail}"));
    assert_eq!(stdout_bytes, FLOOD + summary.len() as u64 + 1);
    assert!(
        peak_after < peak_before + FLOOD / 2,
        "the stream was held in memory: peak rss grew from {peak_before} to {peak_after}"
    );
    assert_eq!(runtime.wait(&id).await.unwrap(), 0);
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable() {
    let socket = tempfile::tempdir().unwrap().path().join("docker.sock");
    let runtime = DockerRuntime::connect_with_socket(&socket);
    let expect_unavailable = |what: &str, result: Result<(), RuntimeError>| match result {
        Err(RuntimeError::Unavailable(message)) => {
            assert!(
                message.contains(&format!("unix://{}", socket.display())),
                "{what}: {message}"
            );
        }
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    };
    expect_unavailable("ping", runtime.ping().await);
    expect_unavailable("ensure_image", runtime.ensure_image(IMAGE).await.map(drop));
    expect_unavailable(
        "create",
        runtime
            .create(&ContainerSpec {
                image: IMAGE.to_string(),
                ..Default::default()
            })
            .await
            .map(drop),
    );
    expect_unavailable("logs", runtime.logs("x", true).await.map(drop));
    expect_unavailable("wait", runtime.wait("x").await.map(drop));
    expect_unavailable("kill", runtime.kill("x").await);
    expect_unavailable("remove", runtime.remove("x").await);
    expect_unavailable("inspect", runtime.inspect("x").await.map(drop));
    expect_unavailable("list", runtime.list(&BTreeMap::new()).await.map(drop));
    eprintln!("{}", runtime.ping().await.unwrap_err());

    // A socket left behind by an engine that died: the file is there, nobody listens.
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let runtime = DockerRuntime::connect_with_socket(&stale);
    match runtime.ping().await {
        Err(RuntimeError::Unavailable(message)) => {
            eprintln!("{message}");
            assert!(
                message.contains(&format!("unix://{}", stale.display())),
                "{message}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_container_is_reported_as_such() {
    let runtime = DockerRuntime::connect();
    runtime.ping().await.unwrap();
    let missing = format!("mao-test-missing-{}", TestContainers::new().id);
    runtime.remove(&missing).await.unwrap();
    runtime.kill(&missing).await.unwrap();
    assert_eq!(runtime.inspect(&missing).await.unwrap(), None);
    assert!(
        matches!(runtime.start(&missing).await, Err(RuntimeError::NotFound(id)) if id == missing)
    );
    assert!(matches!(
        runtime.wait(&missing).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        runtime.logs(&missing, true).await,
        Err(RuntimeError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_hardened_container_writes_only_its_mounts_and_tmp() {
    let runtime = DockerRuntime::connect();
    let containers = TestContainers::new();
    let data = shared_dir();
    let hardened = |suffix: &str, env: &[(&str, &str)]| {
        let mut spec = containers.spec(suffix, env);
        spec.mounts.push(data_mount(data.path()));
        spec.user = Some("65534:65534".to_string());
        spec.read_only_rootfs = true;
        spec.tmp_size = Some(16 << 20);
        spec.network = Some("none".to_string());
        spec
    };
    let (id, code) = run_to_exit(&runtime, &hardened("data", &[])).await;
    assert_eq!(code, 0, "the data mount stays writable");
    for file in files_in(data.path()) {
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 65534);
    }
    let format = r#"{{json .HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.NetworkMode}} {{index .HostConfig.Tmpfs "/tmp"}}"#;
    let out = Command::new("docker")
        .args(["inspect", "--format", format, &id])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "[\"ALL\"] true none rw,noexec,nosuid,nodev,size={}",
            16 << 20
        )
    );

    let (_, code) = run_to_exit(&runtime, &hardened("tmp", &[("DATA_DIR", "/tmp/out")])).await;
    assert_eq!(code, 0, "/tmp is a writable tmpfs");
    let spec = hardened("root", &[("DATA_DIR", "/srv/out")]);
    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 2, "the root filesystem is read-only");
    let (_, stderr) = read_all(runtime.logs(&id, false).await.unwrap()).await;
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

#[tokio::test]
async fn an_engine_that_hangs_is_unavailable_after_the_call_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // Accepts every connection and never answers, as a wedged engine does.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let runtime =
        DockerRuntime::connect_with_socket(&socket).with_call_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match runtime.ping().await {
        Err(RuntimeError::Unavailable(message)) => {
            assert!(message.contains("did not answer"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    for (what, result) in [
        ("find_image", runtime.find_image(IMAGE).await.map(drop)),
        ("inspect", runtime.inspect("x").await.map(drop)),
        ("kill", runtime.kill("x").await),
        ("remove", runtime.remove("x").await),
    ] {
        assert!(
            matches!(result, Err(RuntimeError::Unavailable(_))),
            "{what}: {result:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "every call gave up: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_inspection_gives_the_containers_own_start_and_exit_times() {
    let containers = TestContainers::new();
    let runtime = DockerRuntime::connect();
    let spec = containers.spec("times", &[("DEMO_SLEEP", "1")]);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (id, code) = run_to_exit(&runtime, &spec).await;
    assert_eq!(code, 0);
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let info = runtime.inspect(&id).await.unwrap().expect("the container");
    let started = info.started_at.expect("a start time");
    let finished = info.finished_at.expect("an exit time");
    assert!(
        before <= started && started < finished && finished <= after,
        "{info:?}"
    );
    assert!(
        finished - started >= chrono::Duration::milliseconds(900),
        "the tool slept 1 s: {info:?}"
    );
    let created = runtime
        .create(&containers.spec("created", &[]))
        .await
        .unwrap();
    let info = runtime
        .inspect(&created)
        .await
        .unwrap()
        .expect("the container");
    assert_eq!(
        (info.started_at, info.finished_at),
        (None, None),
        "never started"
    );
}

#[tokio::test]
async fn an_engine_that_stops_answering_is_unavailable_and_answers_again_when_thawed() {
    let proxy = mao_testkit::engine_proxy::EngineProxy::start();
    let runtime = DockerRuntime::connect_with_socket(proxy.path())
        .with_call_timeout(Duration::from_millis(500));
    runtime
        .ping()
        .await
        .expect("the engine answers through the proxy");
    proxy.freeze();
    match runtime.ping().await {
        Err(RuntimeError::Unavailable(message)) => {
            assert!(message.contains("did not answer"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    proxy.thaw();
    runtime
        .ping()
        .await
        .expect("the engine answers once thawed");
}
