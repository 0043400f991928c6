//! Opening a node safely: tokens and roles, the refusal of a public listen address without
//! auth, foreign hosts and cross-site requests, HTTPS, and connections that never finish
//! their request. Against the real daemon binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mao_api::auth::{Activity, Role};
use mao_api::List;
use serde_json::{json, Value};

use crate::support::{daemon_bin, eventually, start_daemon, Credentials};

/// Creates a token with `mao-orchestrator token create` and returns its secret.
pub(crate) fn create_token(data_dir: &Path, name: &str, role: Role) -> String {
    let out = Command::new(daemon_bin())
        .args([
            "token",
            "create",
            name,
            "--role",
            role.as_str(),
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("mao_"), "{secret}");
    secret
}

/// One HTTP request: its status, JSON body (or `Null`) and headers.
struct Answer {
    status: u16,
    body: Value,
    www_authenticate: Option<String>,
    cors: Option<String>,
}

fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(token) = token {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(body) => req.send_string(body),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let www_authenticate = response.header("www-authenticate").map(str::to_owned);
    let cors = response
        .header("access-control-allow-origin")
        .map(str::to_owned);
    let text = response.into_string().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        www_authenticate,
        cors,
    }
}

impl Answer {
    /// The message of a JSON error, or "".
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn each_role_may_do_what_it_is_for_and_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let reader = create_token(&data, "reader", Role::Read);
    let operator = create_token(&data, "operator", Role::Operate);
    let admin = create_token(&data, "admin", Role::Admin);
    let log = dir.path().join("daemon.log");
    let d = start_daemon(
        &[
            "--node",
            "sec-roles",
            "--auth",
            "required",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &log,
    );
    let url = |path: &str| format!("{}{path}", d.url);

    // The probes are public.
    for probe in ["/healthz", "/readyz"] {
        eventually(Duration::from_secs(30), || {
            request("GET", &url(probe), None, &[], None).status == 200
        });
    }
    // No token, a wrong one, a malformed header: 401 with a JSON error and a challenge.
    for (token, header) in [
        (None, None),
        (Some("mao_not-a-token"), None),
        (None, Some("Basic YWRtaW46YWRtaW4=")),
    ] {
        let headers: Vec<(&str, &str)> = header.map(|h| ("Authorization", h)).into_iter().collect();
        let a = request("GET", &url("/api/v1/tools"), token, &headers, None);
        assert_eq!(a.status, 401, "{:?}", a.body);
        assert_eq!(a.body["error"]["code"], "unauthorized");
        assert_eq!(a.www_authenticate.as_deref(), Some("Bearer realm=\"mao\""));
    }

    let tool = tool_doc("t1");
    let tool_replaced = json!({"name": "t1", "author": "b", "image": "mao/demo-tool:latest",
        "data_repo": "/r", "code_repo": "/c", "artefact": "y"})
    .to_string();
    let schedule = json!({"tool": "t1", "cron": "0 3 * * *"}).to_string();
    let pipeline = json!({"name": "p1", "steps": [{"name": "s1", "tool": "t1"}]}).to_string();
    let dataset = json!({"name": "d1", "master": "/nowhere/d1.git"}).to_string();
    let no_run = "00000000000000000000000000";
    // (method, path, body, the role it needs). A status other than 401/403 means the guard
    // let the request through (404 for a missing thing is fine here).
    let cases: Vec<(&str, String, Option<String>, Role)> = vec![
        ("GET", "/api/v1/tools".into(), None, Role::Read),
        ("GET", "/api/v1/datasets".into(), None, Role::Read),
        ("GET", "/api/v1/pipelines".into(), None, Role::Read),
        ("GET", "/api/v1/schedules".into(), None, Role::Read),
        ("GET", "/api/v1/runs".into(), None, Role::Read),
        ("GET", "/api/v1/nodes".into(), None, Role::Read),
        ("GET", "/api/v1/notifications".into(), None, Role::Read),
        ("GET", "/registry/tools".into(), None, Role::Read),
        ("GET", "/jobs".into(), None, Role::Read),
        ("GET", "/api/v1/activity".into(), None, Role::Admin),
        (
            "GET",
            format!("/api/v1/runs/{no_run}/logs"),
            None,
            Role::Read,
        ),
        (
            "POST",
            "/api/v1/tools".into(),
            Some(tool.clone()),
            Role::Admin,
        ),
        ("POST", "/registry/tools".into(), Some(tool), Role::Admin),
        (
            "PUT",
            "/api/v1/tools/t1".into(),
            Some(tool_replaced),
            Role::Admin,
        ),
        (
            "POST",
            "/api/v1/datasets".into(),
            Some(dataset),
            Role::Admin,
        ),
        (
            "POST",
            "/api/v1/pipelines".into(),
            Some(pipeline),
            Role::Admin,
        ),
        (
            "POST",
            "/api/v1/schedules".into(),
            Some(schedule),
            Role::Admin,
        ),
        ("DELETE", "/jobs/nothing".into(), None, Role::Admin),
        (
            "DELETE",
            "/api/v1/datasets/nothing".into(),
            None,
            Role::Admin,
        ),
        (
            "POST",
            "/api/v1/tools/nothing/runs".into(),
            Some("{}".into()),
            Role::Operate,
        ),
        (
            "POST",
            format!("/api/v1/runs/{no_run}/cancel"),
            None,
            Role::Operate,
        ),
        (
            "POST",
            format!("/api/v1/pipeline-runs/{no_run}/cancel"),
            None,
            Role::Operate,
        ),
        (
            "POST",
            "/api/v1/notifications/nothing/ack".into(),
            None,
            Role::Operate,
        ),
        (
            "POST",
            "/api/v1/schedules/nothing/pause".into(),
            None,
            Role::Operate,
        ),
        (
            "POST",
            "/api/v1/schedules/nothing/resume".into(),
            None,
            Role::Operate,
        ),
        (
            "POST",
            "/pipeline/run".into(),
            Some(json!({"name": "nothing"}).to_string()),
            Role::Operate,
        ),
    ];
    // What each role got, for the checks after the loop.
    let mut answered = std::collections::BTreeMap::new();
    for (method, path, body, needed) in &cases {
        for (token, role) in [
            (&reader, Role::Read),
            (&operator, Role::Operate),
            (&admin, Role::Admin),
        ] {
            let a = request(method, &url(path), Some(token), &[JSON], body.as_deref());
            answered.insert((*method, path.clone(), role), a.status);
            if role.allows(*needed) {
                assert!(
                    a.status != 401 && a.status != 403,
                    "{method} {path} as {role}: {} {}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(a.status, 403, "{method} {path} as {role}: {}", a.body);
                assert_eq!(a.body["error"]["code"], "forbidden");
                let message = a.body["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("needs the role {needed}")),
                    "{message}"
                );
            }
        }
        let anonymous = request(method, &url(path), None, &[JSON], body.as_deref());
        assert_eq!(anonymous.status, 401, "{method} {path} without a token");
    }
    // The admin's registrations took effect; the refused ones wrote nothing.
    let tools = request("GET", &url("/api/v1/tools"), Some(&reader), &[], None);
    assert_eq!(
        tools.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        tools.body
    );
    // The admin's replacement of the tool is what is stored; a run's logs are a reader's
    // to see (this run does not exist: 404, not 403).
    assert_eq!(
        answered[&("PUT", "/api/v1/tools/t1".to_owned(), Role::Admin)],
        200
    );
    assert_eq!(tools.body["items"][0]["artefact"], "y", "{}", tools.body);
    let logs = format!("/api/v1/runs/{no_run}/logs");
    assert_eq!(answered[&("GET", logs, Role::Read)], 404);

    // The compatibility route that registers a schedule needs admin, not operate.
    let compat = json!({"name": "p1", "cron": "0 4 * * *"}).to_string();
    let a = request(
        "POST",
        &url("/pipeline/run"),
        Some(&operator),
        &[JSON],
        Some(&compat),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    // Nor may the original's init register a pipeline for an operator: it would choose
    // what runs with which secrets.
    let define = json!({"tool": "t1", "dataset": "d9"}).to_string();
    let a = request(
        "POST",
        &url("/pipeline/init"),
        Some(&operator),
        &[JSON],
        Some(&define),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("needs the role admin"));
    let a = request(
        "GET",
        &url("/api/v1/pipelines/t1"),
        Some(&reader),
        &[],
        None,
    );
    assert_eq!(a.status, 404, "nothing was registered: {}", a.body);

    // The activity log names who did what, refusals included.
    let a = request(
        "GET",
        &url("/api/v1/activity?who=reader"),
        Some(&admin),
        &[],
        None,
    );
    let entries: List<Activity> = serde_json::from_value(a.body).unwrap();
    assert!(!entries.items.is_empty());
    assert!(entries
        .items
        .iter()
        .all(|e| e.who == "reader" && e.role == Some(Role::Read)));
    assert!(entries
        .items
        .iter()
        .any(|e| e.method == "POST" && e.target == "/api/v1/tools" && e.status == 403));
    let a = request("GET", &url("/api/v1/activity"), Some(&admin), &[], None);
    let all: List<Activity> = serde_json::from_value(a.body).unwrap();
    assert!(all
        .items
        .iter()
        .any(|e| e.who == "admin" && e.target == "/api/v1/tools" && e.status == 201));
    // Refusals before anyone was identified are logged too, as `anonymous`, with no role.
    assert!(
        all.items.iter().any(|e| e.who == "anonymous"
            && e.method == "POST"
            && e.target == "/api/v1/tools"
            && e.status == 401),
        "{all:?}"
    );
    assert!(
        all.items
            .iter()
            .filter(|e| e.status == 401)
            .all(|e| e.who == "anonymous" && e.role.is_none()),
        "{all:?}"
    );

    // A time before the calendar begins is a bad query, not a crash.
    for since in ["100000000000d", "yesterday"] {
        let a = request(
            "GET",
            &url(&format!("/api/v1/activity?since={since}")),
            Some(&admin),
            &[],
            None,
        );
        assert_eq!(a.status, 400, "{since}: {}", a.body);
    }

    // A revoked token is refused at its next request, without a restart.
    let out = Command::new(daemon_bin())
        .args(["token", "revoke", "operator", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let a = request("GET", &url("/api/v1/tools"), Some(&operator), &[], None);
    assert_eq!(a.status, 401);
    // `token list` names the tokens and never shows a secret.
    let out = Command::new(daemon_bin())
        .args(["token", "list", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains("reader") && listing.contains("admin") && !listing.contains("operator")
    );

    // No secret is ever written anywhere: log, activity, token file.
    let mut written = std::fs::read_to_string(&log).unwrap();
    written += &std::fs::read_to_string(data.join("activity.jsonl")).unwrap();
    written += &std::fs::read_to_string(data.join("tokens.json")).unwrap();
    written += &listing;
    for secret in [&reader, &operator, &admin] {
        assert!(
            !written.contains(secret.as_str()),
            "a token secret was written out"
        );
    }
}

#[test]
fn a_public_listen_address_needs_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `--auth off` on a non-loopback address: refused before anything starts.
    let out = Command::new(daemon_bin())
        .args([
            "--listen",
            "0.0.0.0:0",
            "--auth",
            "off",
            "--node",
            "sec-pub",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("auth") && stderr.contains("--auth"),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing was created");

    // By default (auto) the same address requires a token.
    let d = start_daemon(
        &[
            "--listen",
            "0.0.0.0:0",
            "--node",
            "sec-pub",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &dir.path().join("daemon.log"),
    );
    let url = d.url.replace("0.0.0.0", "127.0.0.1");
    eventually(Duration::from_secs(30), || {
        request("GET", &format!("{url}/healthz"), None, &[], None).status == 200
    });
    let a = request("GET", &format!("{url}/api/v1/tools"), None, &[], None);
    assert_eq!(a.status, 401, "{}", a.body);

    // Where to get a token is in the daemon's own help.
    let help = Command::new(daemon_bin()).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("token create NAME --role"));
    let help = Command::new(daemon_bin())
        .args(["token", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("revoke"));
}

#[test]
fn foreign_hosts_and_cross_site_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon(
        &[
            "--node",
            "sec-csrf",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--allowed-hosts",
            "mao.example.org",
        ],
        &dir.path().join("daemon.log"),
    );
    let url = |path: &str| format!("{}{path}", d.url);
    let tool = tool_doc("t1");

    // DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
    let a = request(
        "GET",
        &url("/api/v1/tools"),
        None,
        &[("Host", "evil.example")],
        None,
    );
    assert_eq!(a.status, 421, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "host_not_allowed");
    let a = request(
        "POST",
        &url("/api/v1/tools"),
        None,
        &[("Host", "evil.example:80"), JSON],
        Some(&tool),
    );
    assert_eq!(a.status, 421);
    // localhost, IP literals and the configured names are this node; a name next to a
    // configured one is not.
    for host in [
        "localhost",
        "127.0.0.1",
        "localhost:1234",
        "mao.example.org",
        "MAO.example.org:8080",
    ] {
        let a = request("GET", &url("/api/v1/tools"), None, &[("Host", host)], None);
        assert_eq!(a.status, 200, "{host}");
    }
    for host in ["other.example.org", "mao.example.org.evil.example"] {
        let a = request("GET", &url("/api/v1/tools"), None, &[("Host", host)], None);
        assert_eq!(a.status, 421, "{host}: {}", a.body);
        assert!(a.message().contains("allowed_hosts"), "{}", a.body);
    }

    // A form a foreign page submits: text/plain (a "simple" request, no preflight).
    let a = request(
        "POST",
        &url("/api/v1/tools"),
        None,
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "http://evil.example"),
        ],
        Some(&tool),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "cross_site_refused");
    let a = request(
        "POST",
        &url("/api/v1/tools"),
        None,
        &[("Content-Type", "text/plain")],
        Some(&tool),
    );
    assert_eq!(a.status, 415, "{}", a.body);
    let a = request(
        "POST",
        &url("/api/v1/tools"),
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("name=t1"),
    );
    assert_eq!(a.status, 415);
    // A bodyless POST without a JSON type or the client header (a form without fields).
    let a = request("POST", &url("/api/v1/schedules/x/pause"), None, &[], None);
    assert_eq!(a.status, 415);
    // JSON from a foreign origin, or marked cross-site by the browser.
    for marker in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let a = request(
            "POST",
            &url("/api/v1/tools"),
            None,
            &[JSON, marker],
            Some(&tool),
        );
        assert_eq!(a.status, 403, "{marker:?}: {}", a.body);
        assert_eq!(a.body["error"]["code"], "cross_site_refused");
    }
    // Nothing of that was written.
    let a = request("GET", &url("/api/v1/tools"), None, &[], None);
    assert_eq!(a.body["items"].as_array().unwrap().len(), 0);
    // But the attempts are in the activity log, from nobody the node knows.
    let a = request("GET", &url("/api/v1/activity"), None, &[], None);
    let logged: List<Activity> = serde_json::from_value(a.body).unwrap();
    for status in [421, 403, 415] {
        assert!(
            logged.items.iter().any(|e| e.status == status
                && e.who == "anonymous"
                && e.role.is_none()
                && e.target == "/api/v1/tools"),
            "{status}: {logged:?}"
        );
    }

    // No CORS: a preflight gets no permission.
    let a = request(
        "OPTIONS",
        &url("/api/v1/tools"),
        None,
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "DELETE"),
        ],
        None,
    );
    assert_eq!(a.cors, None);

    // What the original's Python client sends keeps working: JSON POSTs, bare DELETEs.
    let a = request(
        "POST",
        &url("/registry/tools"),
        None,
        &[JSON],
        Some(&tool_doc("t2")),
    );
    assert!(a.status < 300, "{} {}", a.status, a.body);
    let a = request("DELETE", &url("/registry/tools/t2"), None, &[], None);
    assert!(a.status < 300, "{} {}", a.status, a.body);
    // And a non-browser client's bodyless POST with its header.
    let a = request(
        "POST",
        &url("/api/v1/schedules/x/pause"),
        None,
        &[("X-Mao-Client", "test")],
        None,
    );
    assert_eq!(a.status, 404, "{}", a.body);
}

fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs (scripts/test.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The daemon serving HTTPS with `pki`'s server certificate (for 127.0.0.1 and localhost),
/// on the data dir `data`, with `args`.
fn start_https_daemon(
    dir: &Path,
    pki: &mao_testkit::tls::TestPki,
    data: &Path,
    args: &[&str],
) -> crate::support::Daemon {
    let (cert, key) = (pki.server_cert(), pki.server_key());
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend([
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    all.extend_from_slice(args);
    start_daemon(&all, &dir.join("daemon.log"))
}

#[test]
fn the_api_serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // A CA of the test's own and a certificate it signed for 127.0.0.1 and localhost.
    let pki = mao_testkit::tls::TestPki::new();
    let data = dir.path().join("data");
    let admin = create_token(&data, "admin", Role::Admin);
    let d = start_https_daemon(
        dir.path(),
        &pki,
        &data,
        &["--node", "sec-tls", "--auth", "required"],
    );
    assert!(d.url.starts_with("https://127.0.0.1:"), "{}", d.url);
    let ca = pki.ca();
    let cacert = ca.to_str().unwrap();
    let (code, out) = curl(&["--cacert", cacert, &format!("{}/healthz", d.url)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = curl(&[
        "--cacert",
        cacert,
        "-H",
        &format!("Authorization: Bearer {admin}"),
        &format!("{}/api/v1/tools", d.url),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"items\""), "{out}");
    // Without the CA the certificate is not trusted (curl's exit 60).
    let (code, _) = curl(&[&format!("{}/healthz", d.url)]);
    assert_eq!(code, 60);
    // Plain HTTP on the TLS port is not served.
    let (code, _) = curl(&[&format!("{}/healthz", d.url.replace("https://", "http://"))]);
    assert_ne!(code, 0);
    // The daemon still answers after those failed handshakes.
    let (code, out) = curl(&["--cacert", cacert, &format!("{}/healthz", d.url)]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn connections_that_never_finish_their_request_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon(
        &[
            "--node",
            "sec-slow",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--http-header-timeout",
            "1s",
            "--http-idle-timeout",
            "2s",
        ],
        &dir.path().join("daemon.log"),
    );
    let addr = d.url.trim_start_matches("http://").to_owned();
    let healthz = format!("{}/healthz", d.url);
    // 200 requests half-sent (a slowloris), 20 connections that send nothing, and 20
    // requests whose body never comes (the idle timeout, as headers are complete).
    let mut open: Vec<TcpStream> = (0..240)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            if i < 200 {
                s.write_all(b"GET /api/v1/tools HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                    .unwrap();
            } else if i >= 220 {
                s.write_all(
                    b"POST /api/v1/tools HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                )
                .unwrap();
            }
            s
        })
        .collect();
    // The node keeps answering while they hang.
    assert_eq!(request("GET", &healthz, None, &[], None).status, 200);
    let started = Instant::now();
    for s in &mut open {
        assert_closed_by_the_daemon(s, started);
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request("GET", &healthz, None, &[], None).status, 200);
}

/// Reads `s` until the daemon closes it: EOF (after a 408 or nothing) or a reset, within
/// 20 s of being asked; panics saying how long it has been open since `started`.
fn assert_closed_by_the_daemon(s: &mut TcpStream, started: Instant) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!(
                    "a connection that never finished its request is still open after {:?}",
                    started.elapsed()
                )
            }
            Err(_) => return,
        }
    }
}

#[test]
fn maoctl_carries_its_token_over_https_and_reads_the_activity_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = mao_testkit::tls::TestPki::new();
    let data = dir.path().join("data");
    let admin = create_token(&data, "alice", Role::Admin);
    let reader = create_token(&data, "grafana", Role::Read);
    let d = start_https_daemon(
        dir.path(),
        &pki,
        &data,
        &["--node", "sec-ctl", "--listen", "0.0.0.0:0"],
    );
    // The node listens on every address (auth auto: required); maoctl dials loopback.
    let mut d = d;
    d.url = d.url.replace("0.0.0.0", "127.0.0.1");
    let as_admin = Credentials {
        token: Some(admin.clone()),
        ca_cert: Some(pki.ca()),
    };
    let as_reader = Credentials {
        token: Some(reader),
        ca_cert: Some(pki.ca()),
    };
    d.maoctl_with_ok(
        &as_admin,
        &[
            "tool",
            "add",
            "weather",
            "MAO",
            "mao/demo-tool:latest",
            "https://h/d.git",
            "https://h/c.git",
            "x",
        ],
    );
    let listing = d.maoctl_with_ok(&as_reader, &["tool", "list"]);
    assert!(listing.contains("weather"), "{listing}");

    // A role too weak, and no token at all: one line each, exit 1.
    let out = d.maoctl_with(&as_reader, &["tool", "remove", "weather"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("needs the role admin"), "{stderr}");
    let anonymous = Credentials {
        token: None,
        ca_cert: Some(pki.ca()),
    };
    let out = d.maoctl_with(&anonymous, &["tool", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
    // Without the CA, the node's certificate is not trusted.
    let untrusting = Credentials::token(&admin);
    let out = d.maoctl_with(&untrusting, &["tool", "list"]);
    assert_eq!(out.status.code(), Some(1));
    // The activity log, through maoctl: the admin's registration and the reader's refusal.
    let table = d.maoctl_with_ok(&as_admin, &["activity"]);
    assert!(
        table.contains("alice") && table.contains("/api/v1/tools"),
        "{table}"
    );
    let refused: List<Activity> = serde_json::from_str(
        &d.maoctl_with_ok(&as_admin, &["activity", "--who", "grafana", "-o", "json"]),
    )
    .unwrap();
    assert_eq!(refused.items.len(), 1, "{refused:?}");
    assert_eq!(
        (refused.items[0].method.as_str(), refused.items[0].status),
        ("DELETE", 403)
    );
    // Reading the log is an admin's.
    let out = d.maoctl_with(&as_reader, &["activity"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A tool document whose image the node allows by the pattern `mao/*` (no engine asked).
fn tool_doc(name: &str) -> String {
    json!({"name": name, "author": "a", "image": "mao/demo-tool:latest",
        "data_repo": "/r", "code_repo": "/c", "artefact": "x"})
    .to_string()
}

/// A daemon on a data dir of its own under `dir`, with `args`, answering `/healthz`.
fn start_node(dir: &Path, node: &str, args: &[&str]) -> crate::support::Daemon {
    let data = dir.join("data");
    let mut all = vec!["--node", node, "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let d = start_daemon(&all, &dir.join("daemon.log"));
    let healthz = format!("{}/healthz", d.url);
    eventually(Duration::from_secs(30), || {
        request("GET", &healthz, None, &[], None).status == 200
    });
    d
}

#[test]
fn requests_refused_before_identification_are_logged_within_a_budget() {
    use mao_node::access::activity::{UNIDENTIFIED, UNIDENTIFIED_PER_WINDOW, UNIDENTIFIED_WINDOW};
    let dir = tempfile::tempdir().unwrap();
    let admin = create_token(&dir.path().join("data"), "admin", Role::Admin);
    let d = start_node(
        dir.path(),
        "sec-anon",
        &["--auth", "required", "--allowed-images", "mao/*"],
    );
    let tools = format!("{}/api/v1/tools", d.url);
    let tool = tool_doc("t1");
    let started = Instant::now();
    // A token that is not valid, and none at all.
    let a = request(
        "POST",
        &tools,
        Some("mao_not-a-token"),
        &[JSON],
        Some(&tool),
    );
    assert_eq!(a.status, 401, "{}", a.body);
    let a = request("DELETE", &format!("{tools}/t1"), None, &[], None);
    assert_eq!(a.status, 401, "{}", a.body);
    let as_admin = Credentials::token(&admin);
    let entries = |d: &crate::support::Daemon| -> Vec<Activity> {
        let out = d.maoctl_with_ok(&as_admin, &["-o", "json", "activity"]);
        serde_json::from_str::<List<Activity>>(&out).unwrap().items
    };
    let logged = entries(&d);
    let shown: Vec<_> = logged
        .iter()
        .map(|e| {
            (
                e.who.as_str(),
                e.role,
                e.method.as_str(),
                e.target.as_str(),
                e.status,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("invalid-token", None, "POST", "/api/v1/tools", 401),
            ("anonymous", None, "DELETE", "/api/v1/tools/t1", 401)
        ]
    );
    let table = d.maoctl_with_ok(&as_admin, &["activity", "--who", "invalid-token"]);
    assert!(
        table.contains("invalid-token") && table.contains("401"),
        "{table}"
    );

    // A flood: the first 60 of a minute are logged one by one, the rest only counted; what
    // a token holder does after it is logged.
    for _ in 0..70 {
        let a = request("POST", &tools, Some("mao_flood"), &[JSON], Some(&tool));
        assert_eq!(a.status, 401);
    }
    let a = request("POST", &tools, Some(&admin), &[JSON], Some(&tool));
    assert_eq!(a.status, 201, "{}", a.body);
    let logged = entries(&d);
    let took = started.elapsed();
    assert!(
        took < UNIDENTIFIED_WINDOW.to_std().unwrap(),
        "72 requests took {took:?}, more than the window the budget counts in: this machine is too slow for this test"
    );
    let one_by_one = logged
        .iter()
        .filter(|e| e.who == "invalid-token" || e.who == "anonymous")
        .count();
    assert_eq!(
        one_by_one as u64,
        UNIDENTIFIED_PER_WINDOW,
        "the last entries: {:?}",
        &logged[logged.len().saturating_sub(3)..]
    );
    assert!(
        logged.iter().all(|e| e.who != UNIDENTIFIED),
        "no summary yet"
    );
    let last = logged.last().unwrap();
    assert_eq!((last.who.as_str(), last.status), ("admin", 201));
}

#[test]
fn maoctl_activity_since_leaves_out_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_node(dir.path(), "sec-since", &["--allowed-images", "mao/*"]);
    let tools = format!("{}/api/v1/tools", d.url);
    let a = request("POST", &tools, None, &[JSON], Some(&tool_doc("before")));
    assert_eq!(a.status, 201, "{}", a.body);
    // The entry of a request is written before its answer: this instant is after it.
    let instant = chrono::Utc::now();
    d.maoctl_ok(&["tool", "remove", "before"]);
    let since = instant.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let shown: List<Activity> = d.maoctl_json(&["activity", "--since", &since]);
    let methods: Vec<_> = shown
        .items
        .iter()
        .map(|e| (e.method.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(methods, [("DELETE", "/api/v1/tools/before")], "{since}");
    let table = d.maoctl_ok(&["activity", "--since", &since]);
    assert!(
        table.contains("DELETE") && !table.contains("POST"),
        "{table}"
    );
    // A duration back from now takes both in.
    let both: List<Activity> = d.maoctl_json(&["activity", "--since", "1h"]);
    assert_eq!(both.items.len(), 2, "{both:?}");
    assert!(both.items[0].at < instant && instant <= both.items[1].at);
}

#[test]
fn at_the_connection_bound_a_request_waits_until_the_header_timeout_frees_one() {
    let header_timeout = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let d = start_node(
        dir.path(),
        "sec-maxconn",
        &["--http-max-connections", "2", "--http-header-timeout", "2s"],
    );
    let addr = d.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    // Two connections that say nothing take both places.
    let silent: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let a = request("GET", &format!("{}/healthz", d.url), None, &[], None);
    let waited = started.elapsed();
    assert_eq!(a.status, 200, "answered once a place was free");
    assert!(
        waited >= header_timeout / 2,
        "answered after {waited:?}, before the header timeout could free a place"
    );
    // The daemon closed the silent ones.
    for mut s in silent {
        assert_closed_by_the_daemon(&mut s, started);
    }
}

#[test]
fn bad_input_through_the_binary_is_422_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_node(dir.path(), "sec-input", &["--allowed-images", "mao/*"]);
    let url = |path: &str| format!("{}{path}", d.url);
    // POSTs `body` to `path` and checks the status answered.
    let post = |path: &str, body: &str, status: u16| {
        let a = request("POST", &url(path), None, &[JSON], Some(body));
        assert_eq!(a.status, status, "{path} {body:.80}: {}", a.body);
        a
    };
    let refused = |path: &str, body: &str| post(path, body, 422);
    // A tool by position, as an array: refused, nothing registered.
    let a = refused(
        "/api/v1/tools",
        r#"["t1","a","mao/demo-tool:latest","/r","/c","x"]"#,
    );
    assert_eq!(a.body["error"]["code"], "invalid_body", "{}", a.body);
    refused(
        "/registry/tools",
        r#"["t1","a","mao/demo-tool:latest","/r","/c","x"]"#,
    );
    let a = request("GET", &url("/api/v1/tools"), None, &[], None);
    assert_eq!(a.body["items"], json!([]), "{}", a.body);

    // `[]` as a run request: refused, no run.
    post("/api/v1/tools", &tool_doc("t1"), 201);
    refused("/api/v1/tools/t1/runs", "[]");
    let a = request("GET", &url("/api/v1/runs"), None, &[], None);
    assert_eq!(a.body["items"], json!([]), "{}", a.body);

    // A cron of 10,000 characters, and one just over the bound; just at it passes.
    let schedule = |id: &str, cron: &str| json!({"tool": "t1", "id": id, "cron": cron}).to_string();
    let huge = format!("0 0 * * {}", "1,".repeat(4_996));
    assert_eq!(huge.len(), 10_000);
    let a = refused("/api/v1/schedules", &schedule("huge", &huge));
    assert!(a.message().contains("at most 256"), "{}", a.body);
    let padded = |len: usize| {
        let cron = format!("0 3 * *{}*", " ".repeat(len - 8));
        assert_eq!(cron.len(), len);
        cron
    };
    refused("/api/v1/schedules", &schedule("over", &padded(257)));
    post("/api/v1/schedules", &schedule("at", &padded(256)), 201);
    let a = request("GET", &url("/api/v1/schedules"), None, &[], None);
    let ids: Vec<&str> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["at"], "{}", a.body);
}
