//! Running tools end to end: the real daemon, the real maoctl, the real Docker Engine and
//! the demo tool image built from this repository.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_as, maoctl_items, unique_node, Daemon,
};
use mao_api::{RunRecord, RunStatus, Tool};

/// A daemon of a node of its own, the demo tool registered; shared with `hardening.rs`.
pub(crate) struct Node {
    pub(crate) daemon: Daemon,
    pub(crate) data: PathBuf,
    sweep: mao_testkit::docker::ContainerSweep,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Node {
    pub(crate) fn start(prefix: &str, extra: &[&str]) -> Node {
        ensure_demo_image();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let node = unique_node(prefix);
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--node".into(),
            node.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let daemon = start_daemon(&args, dir.path());
        crate::support::add_demo_tool(&daemon);
        Node {
            daemon,
            data,
            sweep: container_sweep(&node),
            args,
            _dir: dir,
        }
    }

    fn restart(&mut self) {
        let dir = self.data.parent().unwrap().to_owned();
        self.daemon = start_daemon(&self.args, &dir);
    }

    /// The node's name (`--node`).
    pub(crate) fn node_name(&self) -> String {
        self.args[3].clone()
    }

    fn tool_data(&self) -> PathBuf {
        self.data.join("tools/demo/data")
    }

    pub(crate) fn run_json(&self, args: &[&str]) -> (i32, RunRecord) {
        let mut full = vec!["-o", "json", "tool", "run", "demo"];
        full.extend_from_slice(args);
        let out = self.daemon.maoctl(&full);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "maoctl tool run printed no run record ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), v)
    }

    pub(crate) fn get_run(&self, id: &str) -> RunRecord {
        maoctl_as(&self.daemon, &["run", "get", id])
    }

    pub(crate) fn wait_status(&self, id: &str, limit: Duration, wanted: RunStatus) -> RunRecord {
        let mut last = None;
        let ok = eventually(limit, || {
            let r = self.get_run(id);
            let done = r.status == wanted;
            last = Some(r);
            done
        });
        assert!(
            ok,
            "run {id} did not become {wanted:?}: {last:?}\n{}",
            self.daemon.log_text()
        );
        last.expect("at least one look at the run")
    }
}

fn start_daemon(args: &[String], dir: &Path) -> Daemon {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    crate::support::start_daemon(&refs, &dir.join(format!("daemon-{n}.log")))
}

fn control_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("control-") && n.ends_with(".csv"))
    });
    files.sort();
    files
}

#[test]
fn a_run_writes_into_the_tool_data_folder() {
    let node = Node::start("ok", &[]);
    let out = node
        .daemon
        .maoctl(&["tool", "run", "demo", "--env", "DEMO_VALUE=42"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("succeeded"), "{report}");
    assert!(report.contains("mao/demo-tool:latest"), "{report}");
    assert!(
        report.contains(node.tool_data().to_str().unwrap()),
        "{report}"
    );

    let files = control_files(&node.tool_data());
    assert_eq!(files.len(), 1, "{files:?}");
    let csv = std::fs::read_to_string(&files[0]).unwrap();
    let first: f64 = csv
        .split([',', '\n'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(first, 42.0);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.tool_data().join("metrics.json")).unwrap())
            .unwrap();
    assert!(metrics.is_object());
    // Written as the node's user, so the node can commit them later.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(meta.uid(), unsafe { libc::getuid() });

    // The same folder is reused by the next run.
    let (code, record) = node.run_json(&["--env", "DEMO_VALUE=43"]);
    assert_eq!(code, 0, "{record:?}");
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(record.trigger, "manual");
    assert!(
        record
            .image_digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{record:?}"
    );
    assert!(record.started_at.is_some() && record.finished_at.is_some());
    // Queued, then the start asked of the Engine, then the container's own start.
    let dispatched = record.dispatched_at.expect("the start request is recorded");
    assert!(record.queued_at <= dispatched, "{record:?}");
    assert!(dispatched <= record.started_at.unwrap(), "{record:?}");
    assert_eq!(control_files(&node.tool_data()).len(), 2);

    let items: Vec<RunRecord> = maoctl_items(&node.daemon, &["run", "list", "--tool", "demo"]);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id, record.id, "newest first");
    let logs = node.daemon.maoctl_ok(&["run", "logs", &record.id]);
    assert!(!logs.is_empty(), "the run's output is kept");
    // The record is final before the container is removed (waiters are not held up by
    // the engine), so the removal is waited for, not assumed.
    assert!(
        eventually(Duration::from_secs(30), || node
            .sweep
            .containers()
            .is_empty()),
        "no container is left behind: {:?}",
        node.sweep.containers()
    );
}

#[test]
fn failures_timeouts_and_cancels_are_recorded() {
    let node = Node::start("fail", &[]);
    let (code, record) = node.run_json(&["--env", "DEMO_EXIT=3"]);
    assert_eq!(code, 1);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.exit_code, Some(3));
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("code 3")),
        "{record:?}"
    );

    let (code, record) = node.run_json(&["--env", "DEMO_SLEEP=60", "--timeout", "2s"]);
    assert_eq!(code, 1);
    assert_eq!(record.status, RunStatus::TimedOut, "{record:?}");
    let (started, finished) = record
        .started_at
        .zip(record.finished_at)
        .unwrap_or_else(|| panic!("a timed-out run has started and finished: {record:?}"));
    let secs = ((finished - started).num_milliseconds() as f64 / 1e3).abs();
    assert!(secs < 15.0, "killed near its timeout, took {secs}s");

    let out: RunRecord = maoctl_as(
        &node.daemon,
        &["tool", "run", "demo", "--detach", "--env", "DEMO_SLEEP=60"],
    );
    let id = out.id;
    node.wait_status(&id, Duration::from_secs(30), RunStatus::Running);
    let cancelled: RunRecord = maoctl_as(&node.daemon, &["run", "cancel", &id]);
    assert_eq!(cancelled.status, RunStatus::Cancelled, "{cancelled:?}");
    let again = node.daemon.maoctl(&["run", "cancel", &id]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "cancel of a finished run is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already finished"));

    let out = node.daemon.maoctl(&["tool", "run", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not registered"));
    assert!(eventually(Duration::from_secs(10), || node
        .sweep
        .containers()
        .is_empty()));
}

#[test]
fn an_image_that_cannot_be_had_fails_the_run_quickly() {
    // Only an image matching allowed_images is ever pulled.
    let node = Node::start("noimg", &["--allowed-images", "mao/*"]);
    node.daemon.maoctl_ok(&[
        "tool",
        "add",
        "ghost",
        "MAO",
        "mao/does-not-exist:never",
        "https://github.com/mao/data.git",
        "https://github.com/mao/code.git",
        "x",
    ]);
    let started = std::time::Instant::now();
    let out = node.daemon.maoctl(&["-o", "json", "tool", "run", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    let record: RunRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.as_deref().unwrap();
    assert!(
        error.contains("mao/does-not-exist:never"),
        "names the image: {error}"
    );
    assert!(started.elapsed() < Duration::from_secs(150), "no hang");
}

#[test]
fn logs_stream_while_the_run_goes_on_and_are_capped() {
    let node = Node::start("logs", &["--run-log-cap", "64k"]);
    let out: RunRecord = maoctl_as(
        &node.daemon,
        &["tool", "run", "demo", "--detach", "--env", "DEMO_TICKS=40"],
    );
    let id = out.id;
    let mut follower = std::process::Command::new(crate::support::maoctl_bin())
        .args(["--endpoint", &node.daemon.url, "run", "logs", "-f", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(follower.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(!first.is_empty());
    assert_eq!(
        node.get_run(&id).status,
        RunStatus::Running,
        "the first line arrived while the run was still going"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        follower.wait().unwrap().success(),
        "the follow ends with the run"
    );
    assert!(rest.lines().count() >= 30, "every tick arrives: {rest}");
    node.wait_status(&id, Duration::from_secs(10), RunStatus::Succeeded);

    // 100 MB on stdout: the run goes on, the log stops at its cap with a marker.
    let (code, record) = node.run_json(&["--env", "DEMO_OUTPUT_BYTES=100000000"]);
    assert_eq!(code, 0, "{record:?}");
    assert!(record.log_truncated);
    let log = std::fs::read(&record.log_path).unwrap();
    assert!(log.len() < 70_000, "the log is capped: {} bytes", log.len());
    assert!(String::from_utf8_lossy(&log).contains("log truncated"));
}

#[test]
fn retention_keeps_the_newest_runs() {
    let node = Node::start("keep", &["--run-retention", "2"]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (code, record) = node.run_json(&[]);
        assert_eq!(code, 0);
        ids.push(record.id);
    }
    let list: Vec<RunRecord> = maoctl_items(&node.daemon, &["run", "list"]);
    let kept: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(kept, [ids[3].as_str(), ids[2].as_str()]);
    let logs = std::fs::read_dir(node.data.join("runs")).unwrap().count();
    assert_eq!(logs, 2, "old logs are pruned with their records");

    // A lower retention applies to the runs already there at the next start.
    let mut node = node;
    node.daemon.kill();
    let at = node
        .args
        .iter()
        .position(|a| a == "--run-retention")
        .unwrap();
    node.args[at + 1] = "1".into();
    node.restart();
    assert!(eventually(Duration::from_secs(10), || {
        maoctl_items::<RunRecord>(&node.daemon, &["run", "list"]).len() == 1
    }));
    assert_eq!(
        maoctl_items::<RunRecord>(&node.daemon, &["run", "list"])[0].id,
        ids[3]
    );
}

#[test]
fn runs_survive_a_daemon_crash() {
    let mut node = Node::start("crash", &[]);
    // A run still going when the daemon dies is re-attached and finishes normally.
    let running: RunRecord = maoctl_as(
        &node.daemon,
        &[
            "tool",
            "run",
            "demo",
            "--detach",
            "--env",
            "DEMO_SLEEP=4",
            "--env",
            "DEMO_VALUE=7",
        ],
    );
    let running = running.id;
    node.wait_status(&running, Duration::from_secs(30), RunStatus::Running);
    // A run that finishes while the daemon is down is collected with its exit code, even
    // though its timeout has passed by the time the daemon is back.
    let exited: RunRecord = maoctl_as(
        &node.daemon,
        &[
            "tool",
            "run",
            "demo",
            "--detach",
            // Room for a slow container start on a loaded machine (its 1 s sleep must end
            // before the limit), yet passed by the time the daemon is back.
            "--timeout",
            "5s",
            "--env",
            "DEMO_SLEEP=1",
            "--env",
            "DEMO_EXIT=5",
        ],
    );
    let exited = exited.id;
    node.wait_status(&exited, Duration::from_secs(30), RunStatus::Running);
    // A run whose container vanishes while the daemon is down is lost.
    let vanished: RunRecord = maoctl_as(
        &node.daemon,
        &["tool", "run", "demo", "--detach", "--env", "DEMO_SLEEP=30"],
    );
    let vanished = vanished.id;
    node.wait_status(&vanished, Duration::from_secs(30), RunStatus::Running);

    node.daemon.kill();
    let of_vanished = mao_testkit::docker::ContainerSweep::new("mao.run-id", &vanished);
    let ids = of_vanished.containers();
    assert!(!ids.is_empty(), "the container outlived the daemon");
    std::process::Command::new("docker")
        .args(["rm", "-f"])
        .args(&ids)
        .output()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), || of_vanished
            .containers()
            .is_empty()),
        "the container of {vanished} is still there"
    );
    node.restart();

    let r = node.wait_status(&running, Duration::from_secs(30), RunStatus::Succeeded);
    assert_eq!(r.exit_code, Some(0));
    assert!(!node.daemon.maoctl_ok(&["run", "logs", &running]).is_empty());
    let r = node.wait_status(&exited, Duration::from_secs(30), RunStatus::Failed);
    assert_eq!(r.exit_code, Some(5));
    let r = node.wait_status(&vanished, Duration::from_secs(30), RunStatus::Lost);
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("vanished")),
        "{r:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || node
            .sweep
            .containers()
            .is_empty()),
        "no container of ours is left behind"
    );
    let csv = control_files(&node.tool_data());
    assert!(csv
        .iter()
        .any(|f| std::fs::read_to_string(f).unwrap().starts_with('7')));
}

#[test]
fn an_unreachable_docker_engine_is_503_and_the_registry_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = crate::support::start_daemon_with_env(
        // The pattern admits the demo tool, which the unreachable engine cannot vouch for.
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "nodocker",
            "--allowed-images",
            "mao/*",
        ],
        &dir.path().join("d.log"),
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    crate::support::add_demo_tool(&daemon);
    let out = daemon.maoctl(&["tool", "run", "demo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Docker Engine is unavailable"), "{err}");
    // A node that cannot run tools is not ready, and says which part is missing.
    let ready = crate::support::client(&daemon).ready().unwrap();
    assert!(!ready.ready, "{ready:?}");
    let runtime = ready.checks.iter().find(|c| c.name == "runtime").unwrap();
    assert!(
        !runtime.ok && runtime.reason.as_deref().is_some_and(|r| !r.is_empty()),
        "{ready:?}"
    );
    assert!(
        ready.checks.iter().any(|c| c.name == "store" && c.ok),
        "{ready:?}"
    );
    assert_eq!(ready.reason, runtime.reason);
    assert_eq!(
        maoctl_items::<Tool>(&daemon, &["tool", "list"])[0].name,
        "demo"
    );
    assert_eq!(
        maoctl_items::<RunRecord>(&daemon, &["run", "list"]).len(),
        0,
        "nothing was recorded"
    );
}

#[test]
fn sigterm_stops_promptly_and_the_next_start_finishes_the_run() {
    let mut node = Node::start("term", &[]);
    let out: RunRecord = maoctl_as(
        &node.daemon,
        &["tool", "run", "demo", "--detach", "--env", "DEMO_SLEEP=6"],
    );
    let id = out.id;
    node.wait_status(&id, Duration::from_secs(30), RunStatus::Running);
    // A log follower holds a connection open until the run ends.
    let mut follower = std::process::Command::new(crate::support::maoctl_bin())
        .args(["--endpoint", &node.daemon.url, "run", "logs", "-f", &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let status = node.daemon.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the daemon did not wait for the run: {:?}",
        started.elapsed()
    );
    let _ = follower.kill();
    let _ = follower.wait();
    node.restart();
    let r = node.wait_status(&id, Duration::from_secs(30), RunStatus::Succeeded);
    assert_eq!(r.exit_code, Some(0));
}

#[test]
fn a_tool_is_told_its_run_and_cannot_be_made_to_claim_another() {
    let node = Node::start("ctx", &[]);
    let (code, record) = node.run_json(&[
        "--env",
        "DEMO_ENV_FILE=context.env",
        "--env",
        "MAO_RUN_ID=forged",
        "--env",
        "MAO_TRIGGER=schedule",
    ]);
    assert_eq!(code, 0, "{record:?}");
    let seen = std::fs::read_to_string(node.tool_data().join("context.env")).unwrap();
    let expected = format!(
        "MAO_NODE={}\nMAO_RUN_ID={}\nMAO_TOOL=demo\nMAO_TRIGGER=manual\n",
        record.node, record.id
    );
    assert_eq!(
        seen, expected,
        "ours win over the request's env; no slot when manual"
    );
}
