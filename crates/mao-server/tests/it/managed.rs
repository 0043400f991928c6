//! A daemon that runs its own etcd member (`--etcd-managed`): the member serves the node,
//! is started again when it dies, stops with the daemon and keeps the state across a
//! restart.

use std::time::Duration;

use mao_api::federation::FederationStatus;

use crate::support::{eventually, maoctl_as, start_daemon, unique_node};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A managed node's flags: its data dir, name and member URLs on free loopback ports.
fn managed_args(data_dir: &std::path::Path, node: &str) -> Vec<String> {
    vec![
        "--etcd-managed".to_owned(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--node".to_owned(),
        node.to_owned(),
        "--etcd-client-url".to_owned(),
        format!("http://127.0.0.1:{}", free_port()),
        "--etcd-peer-url".to_owned(),
        format!("http://127.0.0.1:{}", free_port()),
    ]
}

/// The pid of the daemon's `etcd` child, if it has one running.
fn etcd_child(daemon: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{daemon}/task")).ok()?;
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "etcd")
        })
}

fn healthy(status: &FederationStatus) -> bool {
    status.managed
        && status.members.len() == 1
        && status.members[0].health == "healthy"
        && status.members[0].is_leader
}

#[test]
fn a_managed_member_is_restarted_when_it_dies_and_stops_with_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let args = managed_args(dir.path(), &unique_node("managed"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = args[4];
    let mut d = start_daemon(&args, &dir.path().join("daemon.log"));
    assert!(
        eventually(Duration::from_secs(20), || healthy(&maoctl_as(
            &d,
            &["federation", "status", "-o", "json"]
        ))),
        "{}",
        d.maoctl_ok(&["federation", "status"])
    );
    let ready = d.maoctl_ok(&["node", "list"]);
    assert!(ready.contains(node), "{ready}");
    assert!(
        dir.path().join("etcd/member").is_dir(),
        "data in <data-dir>/etcd"
    );
    assert!(dir.path().join("etcd.log").is_file());

    // The member dies: it is started again, and the node works on.
    let first = etcd_child(d.pid()).expect("the daemon runs etcd");
    // SAFETY: kill(2) on the pid of the daemon's etcd child.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    assert!(
        eventually(Duration::from_secs(30), || etcd_child(d.pid())
            .is_some_and(|pid| pid != first)),
        "etcd was not started again: {}",
        d.log_text()
    );
    assert!(
        eventually(Duration::from_secs(30), || d
            .maoctl(&crate::support::DEMO_TOOL_ADD)
            .status
            .success()),
        "the node did not work on after etcd came back: {}",
        d.log_text()
    );
    let second = etcd_child(d.pid()).expect("etcd runs again");

    // SIGTERM stops the daemon and its member with it.
    assert!(d.terminate().success(), "{}", d.log_text());
    assert!(
        !std::path::Path::new(&format!("/proc/{second}")).exists(),
        "etcd {second} outlived the daemon"
    );

    // The state is the member's: a restart on the same data dir still has the tool.
    let d = start_daemon(&args, &dir.path().join("daemon2.log"));
    let tools = d.maoctl_ok(&["tool", "list"]);
    assert!(tools.contains("demo"), "{tools}");
}

fn token(data_dir: &str, name: &str, role: &str) -> String {
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args([
            "token",
            "create",
            name,
            "--role",
            role,
            "--data-dir",
            data_dir,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `POST /api/v1/federation/join`: its status and error code.
fn join(url: &str, token: &str, body: &str) -> (u16, String) {
    let result = ureq::post(&format!("{url}/api/v1/federation/join"))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_string(body);
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    let body: serde_json::Value = response.into_json().unwrap_or_default();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
fn a_join_request_with_bad_input_is_refused_and_adds_no_member() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let admin = token(&data_dir, "admin", "admin");
    let joiner = token(&data_dir, "site-b", "join");
    let reader = token(&data_dir, "grafana", "read");
    let mut args = managed_args(dir.path(), &unique_node("admits"));
    args.extend(["--auth".to_owned(), "required".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = start_daemon(&args, &dir.path().join("daemon.log"));
    let key = base64_point();
    let body = |node: &str, peer_url: &str, public_key: &str| {
        serde_json::json!({"node": node, "peer_url": peer_url,
            "api_url": "https://10.9.9.9:8443", "public_key": public_key})
        .to_string()
    };
    let good = body("site-b", "https://10.9.9.9:2380", &key);

    // A join token opens the join route only; a read token does not open it.
    let status = match ureq::get(&format!("{}/api/v1/tools", d.url))
        .set("Authorization", &format!("Bearer {joiner}"))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 403);
    assert_eq!(join(&d.url, &reader, &good).0, 403);

    for (bad, status, code) in [
        ("{", 400, "malformed_json"),
        ("[]", 422, ""),
        (r#"{"node":"site-b"}"#, 422, ""),
        (&good.replace("}", r#","extra":1}"#), 422, ""),
        (&body("../x", "https://10.9.9.9:2380", &key), 422, "invalid"),
        (
            &body("site-b", "http://10.9.9.9:2380", &key),
            422,
            "invalid",
        ),
        (&body("site-b", "https://10.9.9.9", &key), 422, "invalid"),
        (
            &body("site-b", "https://10.9.9.9:2380", "!!"),
            422,
            "invalid",
        ),
    ] {
        let (got, got_code) = join(&d.url, &joiner, bad);
        assert_eq!(got, status, "{bad}: {got_code}");
        if !code.is_empty() {
            assert_eq!(got_code, code, "{bad}");
        }
    }
    // A well-formed join to a node without the federation's CA: 409, nothing added.
    assert_eq!(join(&d.url, &joiner, &good), (409, "not_here".to_owned()));

    let status: FederationStatus = {
        let out = crate::support::maoctl_with(
            &d.url,
            &crate::support::Credentials::token(&admin),
            &["federation", "status", "-o", "json"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(status.members.len(), 1, "{status:#?}");
    // Every refusal gave the single use back.
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args(["token", "list", "-o", "json", "--data-dir", &data_dir])
        .output()
        .unwrap();
    let tokens: Vec<mao_api::auth::TokenInfo> = serde_json::from_slice(&out.stdout).unwrap();
    let site_b = tokens.iter().find(|t| t.name == "site-b").unwrap();
    assert_eq!(site_b.uses_left, Some(1));
    assert!(
        site_b.expires_at.is_some(),
        "a join token expires by default"
    );
}

/// A valid P-256 public point (base64), as a joining site sends.
fn base64_point() -> String {
    use base64::Engine;
    let key = mao_federation::ca::NodeKey::generate().unwrap();
    base64::engine::general_purpose::STANDARD.encode(key.public_key_raw())
}

fn daemon(args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::support::daemon_bin())
        .args(args)
        .env_remove("MAO_DATA_DIR")
        .output()
        .unwrap()
}

fn one_line_error(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn federation_commands_refuse_bad_input_before_they_write_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("site");
    let d = data_dir.display().to_string();
    let site = [
        "--node",
        "site-a",
        "--data-dir",
        &d,
        "--advertise-url",
        "https://127.0.0.1:18443",
        "--etcd-peer-url",
        "https://127.0.0.1:12380",
        "--no-start",
    ];
    let init = |extra: &[&str]| {
        let mut args = vec!["federation", "init"];
        args.extend(site);
        args.extend(extra);
        daemon(&args)
    };
    // A duration beyond the calendar: a usage error, and no file written.
    one_line_error(
        &init(&["--join-expires-in", "99999999999d"]),
        2,
        "beyond the calendar",
    );
    assert!(!data_dir.join("federation").exists());
    let out = daemon(&[
        "token",
        "create",
        "x",
        "--role",
        "join",
        "--expires-in",
        "99999999999d",
        "--data-dir",
        &d,
    ]);
    one_line_error(&out, 2, "beyond the calendar");
    // An http:// peer URL for etcd, a client URL off loopback.
    let mut args = vec!["federation", "init"];
    args.extend(site);
    args[9] = "http://127.0.0.1:12380";
    one_line_error(&daemon(&args), 2, "must be https://");
    one_line_error(
        &init(&["--etcd-client-url", "http://10.1.1.1:2379"]),
        2,
        "loopback",
    );
    // The operator's own mao.toml is never overwritten.
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("mao.toml"), "log = \"debug\"\n").unwrap();
    one_line_error(&init(&[]), 1, "was not written by `federation`");
    assert!(!data_dir.join("federation").exists());
    assert_eq!(
        std::fs::read_to_string(data_dir.join("mao.toml")).unwrap(),
        "log = \"debug\"\n"
    );
    std::fs::remove_file(data_dir.join("mao.toml")).unwrap();

    // Set up (without starting): the token on stdout, the prefix in mao.toml.
    let out = init(&["--etcd-prefix", "/custom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (secret, hash) = token.rsplit_once('.').expect("SECRET.CA_HASH");
    assert!(secret.starts_with("mao_") && hash.len() == 64, "{token}");
    let config = std::fs::read_to_string(data_dir.join("mao.toml")).unwrap();
    assert!(config.contains("etcd_prefix = \"/custom\""), "{config}");
    assert!(config.contains("etcd_managed = true"), "{config}");
    for file in ["ca.pem", "ca.key", "node.pem", "node.key", "member.json"] {
        assert!(data_dir.join("federation").join(file).is_file(), "{file}");
    }
    use std::os::unix::fs::PermissionsExt;
    for key in ["ca.key", "node.key"] {
        let mode = std::fs::metadata(data_dir.join("federation").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{key} is readable by others: {mode:o}");
    }
    one_line_error(&init(&[]), 1, "already holds an etcd member");

    // A malformed token is a usage error, not a crash.
    let other = dir.path().join("other").display().to_string();
    let join = |token: &str| {
        daemon(&[
            "federation",
            "join",
            "https://127.0.0.1:18443",
            "--token",
            token,
            "--node",
            "site-b",
            "--data-dir",
            &other,
            "--advertise-url",
            "https://127.0.0.2:18443",
            "--etcd-peer-url",
            "https://127.0.0.2:12380",
            "--no-start",
        ])
    };
    let accented = format!("abc.a{}b", "é".repeat(31));
    one_line_error(&join(&accented), 2, "malformed");
    one_line_error(&join("abc.1234"), 2, "malformed");
    // Nobody listens there: one line, exit 1, nothing written.
    one_line_error(&join(&token), 1, "cannot join through");
    assert!(!std::path::Path::new(&other)
        .join("federation/member.json")
        .exists());
}
