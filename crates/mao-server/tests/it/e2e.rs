//! End-to-end: the real `mao-orchestrator` binary driven by the real `maoctl`, on the
//! embedded store and on a real etcd; crashes are SIGKILL.

use std::time::Duration;

use crate::support::{client, eventually, maoctl, maoctl_as, maoctl_items, start_daemon, Daemon};
use mao_api::{Dataset, NodeInfo, Tool};
use mao_testkit::etcd::EtcdServer;

/// The names `maoctl tool list` lists.
fn tool_names(d: &Daemon) -> Vec<String> {
    let tools: Vec<Tool> = maoctl_items(d, &["tool", "list"]);
    tools.into_iter().map(|t| t.name).collect()
}

/// The names `maoctl dataset list` lists.
fn dataset_names(d: &Daemon) -> Vec<String> {
    let datasets: Vec<Dataset> = maoctl_items(d, &["dataset", "list"]);
    datasets.into_iter().map(|d| d.name).collect()
}

/// The names `maoctl node list` lists.
fn node_names(d: &Daemon) -> Vec<String> {
    let nodes: Vec<NodeInfo> = maoctl_items(d, &["node", "list"]);
    nodes.into_iter().map(|n| n.name).collect()
}

/// Registers tools and datasets with maoctl, kills the daemon, restarts it, finds them all.
fn registry_survives_sigkill(args: &[&str], dir: &std::path::Path) {
    let log = dir.join("daemon.log");
    let mut daemon = start_daemon(args, &log);
    for i in 0..3 {
        let name = format!("tool-{i}");
        daemon.maoctl_ok(&[
            "tool",
            "add",
            &name,
            "Jane Doe",
            "mao/demo-tool:latest",
            "https://github.com/mao/data.git",
            "git@github.com:mao/code.git",
            "paper",
        ]);
    }
    daemon.maoctl_ok(&[
        "dataset",
        "add",
        "weather",
        "https://github.com/mao/weather.git",
    ]);
    daemon.maoctl_ok(&[
        "dataset",
        "add",
        "prices",
        "ssh://git@example.org/srv/git/prices.git",
        "--local-only",
    ]);

    let listed = daemon.maoctl_ok(&["tool", "list"]);
    assert!(listed.contains("tool-1"), "table lists the tool: {listed}");
    assert_eq!(tool_names(&daemon), ["tool-0", "tool-1", "tool-2"]);

    daemon.kill();
    let daemon = start_daemon(args, &log);
    assert_eq!(
        tool_names(&daemon),
        ["tool-0", "tool-1", "tool-2"],
        "every tool is back after SIGKILL"
    );
    assert_eq!(dataset_names(&daemon), ["prices", "weather"]);
    let ds: Dataset = maoctl_as(&daemon, &["dataset", "get", "prices"]);
    assert!(ds.local_only);
    let tool: Tool = maoctl_as(&daemon, &["tool", "get", "tool-2"]);
    assert_eq!(tool.image, "mao/demo-tool:latest");
    // The restarted daemon took over its own membership entry at once.
    let nodes: Vec<NodeInfo> = maoctl_items(&daemon, &["node", "list"]);
    assert_eq!(nodes.len(), 1, "{nodes:?}");

    daemon.maoctl_ok(&["tool", "remove", "tool-0"]);
    let out = daemon.maoctl(&["tool", "get", "tool-0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not registered"));
}

#[test]
fn embedded_registry_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    registry_survives_sigkill(
        &["--data-dir", data.to_str().unwrap(), "--node", "solo"],
        dir.path(),
    );
}

#[test]
fn etcd_registry_survives_sigkill() {
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let endpoint = etcd.endpoint();
    registry_survives_sigkill(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "site-a",
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoint,
            "--etcd-prefix",
            "/e2e",
        ],
        dir.path(),
    );
    // The documents are plain JSON under the prefix, readable with etcdctl.
    let out = std::process::Command::new("etcdctl")
        .args(["--endpoints", &endpoint, "get", "--prefix", "/e2e/tools/"])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl runs (apt-get install etcd-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/e2e/tools/tool-1"), "{text}");
    assert!(
        text.contains("\"image\":\"mao/demo-tool:latest\""),
        "{text}"
    );
}

#[test]
fn two_daemons_share_membership_on_etcd() {
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint();
    let args = |node: &'static str| -> Vec<String> {
        vec![
            "--data-dir".into(),
            dir.path().join(node).to_str().unwrap().into(),
            "--node".into(),
            node.into(),
            "--store".into(),
            "etcd".into(),
            "--etcd-endpoints".into(),
            endpoint.clone(),
            "--membership-ttl".into(),
            "3".into(),
        ]
    };
    let start = |node: &'static str| {
        let a = args(node);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        start_daemon(&refs, &dir.path().join(format!("{node}.log")))
    };
    let a = start("node-a");
    let mut b = start("node-b");
    for d in [&a, &b] {
        assert_eq!(node_names(d), ["node-a", "node-b"], "each sees both");
        let table = d.maoctl_ok(&["node", "list"]);
        assert!(table.contains(&a.url) && table.contains(&b.url), "{table}");
    }
    // What one node registers, the other sees.
    a.maoctl_ok(&[
        "dataset",
        "add",
        "shared",
        "https://github.com/mao/shared.git",
    ]);
    assert!(eventually(Duration::from_secs(5), || {
        dataset_names(&b) == ["shared"]
    }));

    // A second daemon with a live node's name (on a data dir of its own) is refused.
    let mut a2 = args("node-a");
    a2[1] = dir.path().join("twin").to_str().unwrap().into();
    let refs: Vec<&str> = a2.iter().map(String::as_str).collect();
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args(["--listen", "127.0.0.1:0"])
        .args(&refs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use by a live daemon"), "{err}");
    assert_eq!(node_names(&a), ["node-a", "node-b"]);

    // A killed daemon disappears within its TTL (3 s here).
    b.kill();
    assert!(
        eventually(Duration::from_secs(6), || node_names(&a) == ["node-a"]),
        "node-b is gone from the list after its lease expired"
    );
}

#[test]
fn etcd_outage_is_503_and_the_daemon_recovers() {
    let mut etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint();
    let daemon = start_daemon(
        &[
            "--data-dir",
            dir.path().join("d").to_str().unwrap(),
            "--node",
            "site-x",
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoint,
            "--membership-ttl",
            "5",
            // The tools below are never run: their image need not be on the engine.
            "--allowed-images",
            "alpine",
        ],
        &dir.path().join("d.log"),
    );
    daemon.maoctl_ok(&[
        "tool",
        "add",
        "before",
        "A",
        "alpine",
        "https://h/d.git",
        "https://h/c.git",
        "x",
    ]);
    etcd.stop();
    assert!(
        eventually(Duration::from_secs(10), || daemon.get("/readyz").0 == 503),
        "readyz turns 503 while etcd is down"
    );
    let api = client(&daemon);
    assert!(
        eventually(Duration::from_secs(10), || api
            .list_tools()
            .is_err_and(|e| e.status() == Some(503))),
        "reads fail with 503, not stale data or 500"
    );
    let err = api.list_tools().expect_err("no tools while etcd is down");
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.code(), Some("store_unavailable"), "{err}");
    let out = daemon.maoctl(&["tool", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    assert_eq!(daemon.get("/healthz").0, 200, "the process itself stays up");
    // Past its 5 s lease, the node no longer holds its name, and readiness says so.
    assert!(
        eventually(Duration::from_secs(20), || {
            let ready = api.ready().unwrap();
            let membership = ready.checks.iter().find(|c| c.name == "membership");
            !ready.ready && membership.is_some_and(|c| !c.ok && c.reason.is_some())
        }),
        "readyz reports the lost membership lease: {:?}",
        api.ready()
    );

    etcd.start();
    assert!(
        eventually(Duration::from_secs(20), || daemon.get("/readyz").0 == 200),
        "readyz recovers by itself"
    );
    let ready = api.ready().unwrap();
    let names: Vec<_> = ready
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.ok))
        .collect();
    assert_eq!(
        names,
        [("store", true), ("runtime", true), ("membership", true)]
    );
    assert!(eventually(Duration::from_secs(10), || {
        daemon.maoctl(&["tool", "get", "before"]).status.success()
    }));
    daemon.maoctl_ok(&[
        "tool",
        "add",
        "after",
        "A",
        "alpine",
        "https://h/d.git",
        "https://h/c.git",
        "x",
    ]);
    assert_eq!(tool_names(&daemon), ["after", "before"]);
    assert!(
        eventually(Duration::from_secs(15), || node_names(&daemon)
            == ["site-x"]),
        "membership is published again"
    );
}

#[test]
fn bad_config_stops_startup_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, key) in [
        (vec!["--listen", "nowhere"], "listen"),
        (vec!["--node", "Bad_Name!"], "node"),
        (vec!["--store", "mysql"], "store"),
        (vec!["--etcd-endpoints", "localhost"], "etcd_endpoints"),
    ] {
        let out = std::process::Command::new(crate::support::daemon_bin())
            .args(["--data-dir", data])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "{args:?}: {err}");
    }
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args(["--data-dir", data, "--listen", "127.0.0.1:0"])
        .env("MAO_STORE", "etcd3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "env values are checked too");
}

#[test]
fn one_data_dir_serves_one_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().unwrap(), "--node", "one"];
    let _first = start_daemon(&args, &dir.path().join("1.log"));
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args(["--listen", "127.0.0.1:0", "--node", "two"])
        .args(&args[..2])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn maoctl_reports_an_unreachable_daemon() {
    // Held closed: nobody else can start listening there while maoctl tries.
    let closed = mao_testkit::ports::ClosedPort::new();
    let url = format!("http://127.0.0.1:{}", closed.port());
    let out = maoctl(&url, &["tool", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is mao-orchestrator running?"), "{err}");
}

/// The daemon on an etcd that serves TLS only, requires client certificates and has auth on:
/// it starts, a tool registered through maoctl is in etcd, and etcdctl (with the same
/// certificates and user) reads it there. The password is in no log line.
#[test]
fn daemon_on_etcd_with_tls_client_certs_and_auth() {
    let password = "e2e-etcd-Pw-42";
    let mut etcd = EtcdServer::start_tls();
    etcd.enable_auth(password);
    let pki = etcd.pki().expect("a TLS etcd");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password_file = dir.path().join("etcd-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let endpoint = etcd.endpoint();
    let (ca, cert, key) = (pki.ca(), pki.client_cert(), pki.client_key());
    let d = start_daemon(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "site-tls",
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoint,
            "--etcd-ca",
            ca.to_str().unwrap(),
            "--etcd-cert",
            cert.to_str().unwrap(),
            "--etcd-key",
            key.to_str().unwrap(),
            "--etcd-user",
            "root",
            "--etcd-password-file",
            password_file.to_str().unwrap(),
        ],
        &dir.path().join("daemon.log"),
    );
    crate::support::add_demo_tool(&d);
    assert_eq!(
        tool_names(&d),
        ["demo"],
        "a registered tool is listed at once\n{}",
        d.log_text()
    );
    let listed = etcd.etcdctl_ok(&["get", "--prefix", "/mao/tools/"]);
    assert!(listed.contains("/mao/tools/demo"), "{listed}");
    assert!(
        listed.contains("\"image\":\"mao/demo-tool:latest\""),
        "{listed}"
    );
    let nodes: Vec<NodeInfo> = maoctl_items(&d, &["node", "list"]);
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    // The helpers with credentials (none needed here) reach the same daemon.
    let none = crate::support::Credentials::default();
    let tools = crate::support::client_with(&d, &none).list_tools().unwrap();
    assert_eq!(tools.len(), 1);
    let out = crate::support::maoctl_with(&d.url, &none, &["tool", "get", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!d.log_text().contains(password), "{}", d.log_text());
}

/// With a wrong etcd password the daemon waits for the store and its log says what to fix,
/// without the password.
#[test]
fn a_wrong_etcd_password_is_logged_as_what_to_fix() {
    let mut etcd = EtcdServer::start_tls();
    etcd.enable_auth("the-right-Pw");
    let pki = etcd.pki().expect("a TLS etcd");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let wrong = "a-wrong-Pw-77";
    let mut child = std::process::Command::new(crate::support::daemon_bin())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node",
            "site-wrong",
            "--store",
            "etcd",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--etcd-endpoints", &etcd.endpoint(), "--etcd-user", "root"])
        .arg("--etcd-ca")
        .arg(pki.ca())
        .arg("--etcd-cert")
        .arg(pki.client_cert())
        .arg("--etcd-key")
        .arg(pki.client_key())
        .env("MAO_ETCD_PASSWORD", wrong)
        .env("MAO_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the daemon starts");
    let said = eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("wrong user name or password")
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(said, "{text}");
    assert!(
        text.contains("etcd_password_file or MAO_ETCD_PASSWORD"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
}
