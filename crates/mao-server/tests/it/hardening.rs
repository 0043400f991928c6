//! Tool containers secure by default, against the real daemon and the real Docker Engine:
//! what `docker inspect` shows of a running tool container, the node's allow-lists and
//! maximums refused at request time, and the bounded run queue.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::runs::Node;
use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_as, maoctl_items, unique_node,
};
use mao_api::{RunRecord, RunStatus, SlotOutcome, SlotRecord};
use serde_json::{json, Value};

/// How long a run of the demo tool may take to reach a status here.
const PATIENCE: Duration = Duration::from_secs(60);

impl Node {
    fn wait_for(&self, id: &str, wanted: RunStatus) -> RunRecord {
        self.wait_status(id, PATIENCE, wanted)
    }

    /// Starts a detached run of `tool` with `env`; returns its record.
    fn run_detached(&self, tool: &str, env: &[&str]) -> RunRecord {
        let mut args = vec!["tool", "run", tool, "--detach"];
        for e in env {
            args.extend(["--env", e]);
        }
        maoctl_as(&self.daemon, &args)
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        post(&format!("{}{path}", self.daemon.url), body)
    }
}

/// What the API answered: status, `Retry-After`, the JSON body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

fn post(url: &str, body: &Value) -> Answer {
    send("POST", url, body)
}

fn send(method: &str, url: &str, body: &Value) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let response = match agent.request(method, url).send_json(body.clone()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let retry_after = response.header("retry-after").map(str::to_owned);
    let text = response.into_string().unwrap_or_default();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// A tool document like the demo's, with `extra` fields merged in.
fn tool_json(name: &str, image: &str, extra: Value) -> Value {
    let mut tool = json!({
        "name": name, "author": "MAO", "image": image,
        "data_repo": "https://github.com/mao/data.git",
        "code_repo": "https://github.com/mao/code.git", "artefact": "demo",
    });
    for (k, v) in extra.as_object().unwrap() {
        tool[k] = v.clone();
    }
    tool
}

/// `docker inspect` of a container, as JSON.
fn docker_inspect(id: &str) -> Value {
    let out = Command::new("docker")
        .args(["inspect", id])
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker inspect {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    all[0].clone()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn daemon_is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_tool_container_is_unprivileged_and_still_writes_its_data() {
    let node = Node::start("harden", &[]);
    let running = node.run_detached("demo", &["DEMO_SLEEP=4", "DEMO_FILE_MODE=600"]);
    let running = node.wait_for(&running.id, RunStatus::Running);
    let container = running
        .container_id
        .clone()
        .expect("a started run's container");
    let inspect = docker_inspect(&container);
    let host = &inspect["HostConfig"];
    let expected_user = if daemon_is_root() {
        "65534:65534".to_owned()
    } else {
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        format!("{uid}:{gid}")
    };
    assert_eq!(inspect["Config"]["User"], expected_user.as_str());
    assert_eq!(host["CapDrop"], json!(["ALL"]), "{host}");
    assert!(host["CapAdd"].is_null(), "no capability back: {host}");
    assert_eq!(host["ReadonlyRootfs"], true);
    let tmp = host["Tmpfs"]["/tmp"].as_str().unwrap_or_default();
    assert!(tmp.contains("size=67108864"), "a capped tmpfs /tmp: {host}");
    assert_eq!(host["Memory"], 1u64 << 30, "the default memory limit");
    assert_eq!(host["MemorySwap"], 1u64 << 30, "no swap beyond it");
    assert_eq!(host["PidsLimit"], 1024);
    assert_eq!(host["NanoCpus"], 1_000_000_000u64, "the default of 1 cpu");
    assert_eq!(host["NetworkMode"], "bridge");
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    if daemon_is_root() {
        let data = node.data.join("tools/demo/data");
        assert_eq!(
            std::fs::metadata(&data).unwrap().uid(),
            65534,
            "the data folder is the tool's while it runs"
        );
    }

    let done = node.wait_for(&running.id, RunStatus::Succeeded);
    assert_eq!(done.metrics.get("control"), Some(&100.0), "{done:?}");
    assert!(done.metrics_error.is_none(), "{done:?}");
    // The files the tool kept to itself (mode 0600) are the daemon's again: it can read,
    // replace and remove them.
    let data = node.data.join("tools/demo/data");
    let files = files_in(&data);
    assert!(
        files.len() >= 2,
        "a control file and metrics.json: {files:?}"
    );
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    for f in files.iter().chain([&data]) {
        let meta = std::fs::metadata(f).unwrap();
        assert_eq!(meta.uid(), me, "{} is the daemon's again", f.display());
    }
    let metrics = files.iter().find(|f| f.ends_with("metrics.json")).unwrap();
    assert_eq!(std::fs::metadata(metrics).unwrap().mode() & 0o777, 0o600);
    // A second run replaces metrics.json the first one left.
    let second: RunRecord = maoctl_as(
        &node.daemon,
        &["tool", "run", "demo", "--env", "DEMO_VALUE=7"],
    );
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(second.metrics.get("control"), Some(&7.0), "{second:?}");
}

#[test]
fn capabilities_and_networks_come_only_from_the_node_allow_lists() {
    let node = Node::start(
        "caps",
        &[
            "--allowed-capabilities",
            "NET_BIND_SERVICE",
            "--run-network",
            "bridge",
        ],
    );
    let refused = node.post(
        "/api/v1/tools",
        &tool_json(
            "admin",
            "mao/demo-tool:latest",
            json!({"capabilities": ["SYS_ADMIN"]}),
        ),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.code(), "capability_not_allowed");
    assert!(refused.message().contains("SYS_ADMIN"), "{}", refused.body);
    let compat = node.post(
        "/registry/tools",
        &tool_json(
            "admin",
            "mao/demo-tool:latest",
            json!({"capabilities": ["SYS_ADMIN"]}),
        ),
    );
    assert_eq!(
        compat.status, 403,
        "the compatible route too: {}",
        compat.body
    );

    let created = node.post(
        "/api/v1/tools",
        &tool_json(
            "bind",
            "mao/demo-tool:latest",
            json!({"capabilities": ["NET_BIND_SERVICE"], "network": "none"}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let replaced = send(
        "PUT",
        &format!("{}/api/v1/tools/bind", node.daemon.url),
        &tool_json(
            "bind",
            "mao/demo-tool:latest",
            json!({"capabilities": ["SYS_ADMIN"]}),
        ),
    );
    assert_eq!(
        replaced.status, 403,
        "a replace is checked too: {}",
        replaced.body
    );
    let running = node.run_detached("bind", &["DEMO_SLEEP=3"]);
    let running = node.wait_for(&running.id, RunStatus::Running);
    let inspect = docker_inspect(running.container_id.as_deref().unwrap());
    assert_eq!(inspect["HostConfig"]["CapAdd"], json!(["NET_BIND_SERVICE"]));
    assert_eq!(inspect["HostConfig"]["CapDrop"], json!(["ALL"]));
    assert_eq!(inspect["HostConfig"]["NetworkMode"], "none");
    node.wait_for(&running.id, RunStatus::Succeeded);

    // A node without a network forbids a tool that asks for one.
    let closed = Node::start("closed", &["--run-network", "none"]);
    let refused = closed.post(
        "/api/v1/tools",
        &tool_json("net", "mao/demo-tool:latest", json!({"network": "bridge"})),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.code(), "network_not_allowed");
}

#[test]
fn an_image_outside_the_allow_list_and_absent_is_refused_and_never_pulled() {
    let node = Node::start("images", &[]);
    let absent = format!("mao-absent/{}:1", unique_node("img"));
    for path in ["/api/v1/tools", "/registry/tools"] {
        let answer = node.post(path, &tool_json("ghost", &absent, json!({})));
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert_eq!(answer.code(), "image_not_allowed", "{path}");
        assert!(answer.message().contains(&absent), "{}", answer.body);
        assert!(
            answer.message().contains("allowed_images"),
            "{}",
            answer.body
        );
    }
    let out = node.daemon.maoctl(&[
        "tool",
        "add",
        "ghost",
        "MAO",
        &absent,
        "https://github.com/mao/data.git",
        "https://github.com/mao/code.git",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed"));
    // An image that is present locally is allowed without a pattern (the demo tool was
    // registered by Node::start); nothing was ever pulled.
    let log = node.daemon.log_text();
    assert!(!log.contains("pulling image"), "no pull: {log}");
    let tools: Vec<mao_api::Tool> = maoctl_items(&node.daemon, &["tool", "list"]);
    assert_eq!(tools.len(), 1, "only the demo tool: {tools:?}");
}

#[test]
fn an_allowed_pattern_lets_the_node_pull_and_the_failure_names_the_image() {
    let node = Node::start("pull", &["--allowed-images", "mao-absent/*,mao/*"]);
    let absent = format!("mao-absent/{}:1", unique_node("img"));
    let created = node.post("/api/v1/tools", &tool_json("ghost", &absent, json!({})));
    assert_eq!(created.status, 201, "{}", created.body);
    let out = node.daemon.maoctl(&["-o", "json", "tool", "run", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    let record: RunRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record.error.as_deref().unwrap_or("").contains(&absent),
        "{record:?}"
    );
    assert!(node.daemon.log_text().contains("pulling image"));
}

#[test]
fn limits_above_the_node_maximums_are_422_at_request_time() {
    let node = Node::start(
        "limits",
        &["--run-memory-max", "512m", "--run-pids-max", "2048"],
    );
    let big = node.post(
        "/api/v1/tools",
        &tool_json(
            "big",
            "mao/demo-tool:latest",
            json!({"limits": {"memory": "1g"}}),
        ),
    );
    assert_eq!(big.status, 422, "{}", big.body);
    assert_eq!(big.code(), "limit_above_maximum");
    assert!(
        big.message().contains("memory 1g") && big.message().contains("512m"),
        "names the limit and the maximum: {}",
        big.body
    );
    let cpus = node.post(
        "/api/v1/tools",
        &tool_json(
            "cpus",
            "mao/demo-tool:latest",
            json!({"limits": {"cpus": 1000}}),
        ),
    );
    assert_eq!(cpus.status, 422, "{}", cpus.body);
    assert!(cpus.message().contains("host"), "{}", cpus.body);

    for (limits, words) in [
        (json!({"memory": "1g"}), "512m"),
        (json!({"cpus": 1000}), "host"),
        (json!({"pids": 4096}), "2048"),
    ] {
        let run = node.post(
            "/api/v1/tools/demo/runs",
            &json!({ "limits": limits.clone() }),
        );
        assert_eq!(run.status, 422, "{limits}: {}", run.body);
        assert_eq!(run.code(), "limit_above_maximum");
        assert!(run.message().contains(words), "{}", run.body);
    }
    let runs: Vec<RunRecord> = maoctl_items(&node.daemon, &["run", "list"]);
    assert!(runs.is_empty(), "nothing was recorded: {runs:?}");
    // At the maximum is fine, and a tool may lower the node's default.
    let small = node.post(
        "/api/v1/tools/demo/runs",
        &json!({"limits": {"memory": "512m", "pids": 64}}),
    );
    assert_eq!(small.status, 202, "{}", small.body);
    let id = small.body["id"].as_str().unwrap().to_owned();
    let done = node.wait_for(&id, RunStatus::Succeeded);
    assert_eq!(done.limits.memory.as_deref(), Some("512m"));
    assert_eq!(done.limits.pids, Some(64));
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_a_slot_is_skipped() {
    let node = Node::start(
        "queue",
        &["--max-concurrent-runs", "1", "--max-queued-runs", "1"],
    );
    let first = node.run_detached("demo", &["DEMO_SLEEP=30"]);
    node.wait_for(&first.id, RunStatus::Running);
    let second = node.run_detached("demo", &["DEMO_SLEEP=30"]);
    assert_eq!(node.get_run(&second.id).status, RunStatus::Queued);
    let third = node.post("/api/v1/tools/demo/runs", &json!({}));
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(third.code(), "queue_full");
    assert_eq!(third.retry_after.as_deref(), Some("10"));
    assert!(
        third.message().contains("max_queued_runs"),
        "{}",
        third.body
    );
    let runs: Vec<RunRecord> = maoctl_items(&node.daemon, &["run", "list"]);
    assert_eq!(runs.len(), 2, "the refused run left no record: {runs:?}");

    // A slot that finds the queue full is recorded as skipped, with the reason.
    node.daemon.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "* * * * * *",
        "--id",
        "every-second",
        "--concurrency",
        "allow",
    ]);
    let mut skipped = Vec::new();
    let found = eventually(Duration::from_secs(20), || {
        let history: Vec<SlotRecord> = maoctl_items(
            &node.daemon,
            &["schedule", "history", "every-second", "--limit", "30"],
        );
        skipped = history
            .into_iter()
            .filter(|s| s.outcome == SlotOutcome::Skipped)
            .collect();
        !skipped.is_empty()
    });
    assert!(found, "no slot was skipped:\n{}", node.daemon.log_text());
    let reason = skipped[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("max_queued_runs"), "{reason}");
    node.daemon
        .maoctl_ok(&["schedule", "pause", "every-second"]);
    for id in [&first.id, &second.id] {
        let _ = node.daemon.maoctl(&["run", "cancel", id]);
    }
}

#[test]
fn a_tool_the_node_no_longer_allows_is_refused_at_run_time() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let name = unique_node("policy");
    let _sweep = container_sweep(&name);
    let base = ["--data-dir", data.to_str().unwrap(), "--node", &name];
    let mut args = base.to_vec();
    // An image allowed by a pattern is registered without being pulled (nor looked for).
    let absent = format!("mao-absent/{}:1", unique_node("img"));
    args.extend([
        "--allowed-capabilities",
        "NET_BIND_SERVICE",
        "--allowed-images",
        "mao-absent/*",
    ]);
    let mut daemon = crate::support::start_daemon(&args, &dir.path().join("1.log"));
    let created = post(
        &format!("{}/api/v1/tools", daemon.url),
        &tool_json(
            "bind",
            "mao/demo-tool:latest",
            json!({"capabilities": ["NET_BIND_SERVICE"]}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created = post(
        &format!("{}/api/v1/tools", daemon.url),
        &tool_json("ghost", &absent, json!({})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    daemon.kill();
    // The same node, its allow-lists emptied: the stored tools are refused when they
    // would run, and the image is never pulled.
    let daemon = crate::support::start_daemon(&base, &dir.path().join("2.log"));
    let run = post(
        &format!("{}/api/v1/tools/bind/runs", daemon.url),
        &json!({}),
    );
    assert_eq!(run.status, 403, "{}", run.body);
    assert_eq!(run.code(), "capability_not_allowed");
    let run = post(
        &format!("{}/api/v1/tools/ghost/runs", daemon.url),
        &json!({}),
    );
    assert_eq!(run.status, 403, "{}", run.body);
    assert_eq!(run.code(), "image_not_allowed");
    assert!(
        run.message().contains(&absent) && run.message().contains("allowed_images"),
        "{}",
        run.body
    );
    let runs: Vec<RunRecord> = maoctl_items(&daemon, &["run", "list"]);
    assert!(runs.is_empty(), "nothing was recorded: {runs:?}");
    let log = daemon.log_text();
    assert!(!log.contains("pulling image"), "no pull: {log}");
}

#[test]
fn a_tool_that_asks_for_the_docker_socket_does_not_run_on_a_node_that_refuses_it() {
    let node = Node::start("socket", &[]);
    // The registry is the federation's: another node may allow the socket.
    let created = node.post(
        "/api/v1/tools",
        &tool_json(
            "docker-user",
            "mao/demo-tool:latest",
            json!({"docker_socket": true}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["docker_socket"], true, "{}", created.body);
    let run = node.post("/api/v1/tools/docker-user/runs", &json!({}));
    assert_eq!(run.status, 403, "{}", run.body);
    assert_eq!(run.code(), "docker_socket_not_allowed");
    assert!(
        run.message().contains("allow_docker_socket"),
        "{}",
        run.body
    );
    let out = node.daemon.maoctl(&["tool", "run", "docker-user"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Docker socket"));
    let runs: Vec<RunRecord> = maoctl_items(&node.daemon, &["run", "list"]);
    assert!(runs.is_empty(), "nothing was recorded: {runs:?}");
}
