//! Spike detection and notifications end to end: the real daemon, maoctl, Docker and the
//! demo tool, with a real HTTP receiver on loopback standing in for a webhook endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mao_testkit::ports::ClosedPort;

use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_as, maoctl_items, start_daemon,
    unique_node, Daemon,
};
use mao_api::notification::Method;
use mao_api::{List, Notification, RunRecord, RunStatus, Verdict};
use mao_node::local::{Delivery, DeliveryState};
use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP server on a loopback port that records every request and answers with
/// the next status of `answers` (then 200).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answers: Vec<u16>) -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), answers)
    }

    fn on(listener: TcpListener, answers: Vec<u16>) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let status = answers.lock().unwrap().next().unwrap_or(200);
                if let Some(r) = serve(stream, status) {
                    g.lock().unwrap().push(r);
                }
            }
        });
        Receiver { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, status: u16) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    Some(Received {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn start_with_config(dir: &Path, node: &str, config: &str) -> Daemon {
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(&path, config).unwrap();
    let data = dir.join(node);
    start_daemon(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            node,
            "--config",
            path.to_str().unwrap(),
        ],
        &dir.join(format!("{node}.log")),
    )
}

fn run_demo(d: &Daemon, value: &str) -> RunRecord {
    let out = d.maoctl(&[
        "-o",
        "json",
        "tool",
        "run",
        "demo",
        "--env",
        &format!("DEMO_VALUE={value}"),
    ]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The deliveries of notification `id` (the typed client has no call for them).
fn deliveries(d: &Daemon, id: &str) -> Vec<Delivery> {
    let (status, body) = d.get(&format!("/api/v1/notifications/{id}/deliveries"));
    assert_eq!(status, 200, "{body}");
    let list: List<Delivery> =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not deliveries: {e}: {body}"));
    list.items
}

/// The state of notification `id`'s delivery to `sink`, once it has one.
fn delivery_state(d: &Daemon, id: &str, sink: &str) -> Option<DeliveryState> {
    deliveries(d, id)
        .iter()
        .find(|x| x.sink == sink)
        .map(|x| x.state)
}

fn notifications(d: &Daemon, args: &[&str]) -> Vec<Notification> {
    let mut full = vec!["notification", "list"];
    full.extend_from_slice(args);
    maoctl_items(d, &full)
}

#[test]
fn a_jump_raises_one_notification_delivered_once_to_the_webhook() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("spike");
    let _sweep = container_sweep(&node);
    let hook = Receiver::start(vec![]);
    let d = start_with_config(
        dir.path(),
        &node,
        &format!(
            "[detector]\nmethod = \"percent\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\nkinds = [\"spike\"]\nrepeat_interval = \"1h\"\n",
            hook.url()
        ),
    );
    crate::support::add_demo_tool(&d);
    // Snapshots from before the node ran the tool seed the history on first use.
    let data = dir.path().join(&node).join("tools/demo/data");
    std::fs::create_dir_all(&data).unwrap();
    for day in ["01", "02"] {
        std::fs::write(
            data.join(format!("control-200001{day}T000000.000Z.csv")),
            "100,control\n",
        )
        .unwrap();
    }
    for i in 0..3 {
        let r = run_demo(&d, "100");
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        assert_eq!(r.metrics.get("control"), Some(&100.0), "{r:?}");
        if i == 0 {
            let control = r.detection.iter().find(|m| m.metric == "control").unwrap();
            assert_eq!(control.judgement.verdict, Verdict::Normal, "seeded: {r:?}");
            assert_eq!(control.judgement.history_len, 2, "{r:?}");
        }
    }
    // The report shows the detector's work the way the original did.
    let out = d.maoctl_ok(&["tool", "run", "demo", "--env", "DEMO_VALUE=131"]);
    for needle in ["snapshots", "baseline", "100", "131", "+31", "spike"] {
        assert!(out.contains(needle), "{needle:?} in the report:\n{out}");
    }
    let spikes = notifications(&d, &["--kind", "spike"]);
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    let n = &spikes[0];
    assert_eq!(n.metric.as_deref(), Some("control"));
    assert_eq!(n.value, Some(131.0));
    assert_eq!(n.baseline, Some(100.0));
    assert_eq!(n.node, node);
    assert!(
        eventually(Duration::from_secs(10), || hook.received().len() == 1),
        "{:?}\n{}",
        hook.received(),
        d.log_text()
    );
    let got = &hook.received()[0];
    assert_eq!(got.body["schema"], "mao.notification/v1");
    assert_eq!(got.body["notification"]["id"], n.id.as_str());
    assert_eq!(got.header("idempotency-key"), Some(n.id.as_str()));

    // The same news again within the repeat interval: notifications, not more messages.
    // (Back to 100 is a spike down against the mean of 100 and 131; 150 a spike up.)
    run_demo(&d, "100");
    run_demo(&d, "150");
    let spikes = notifications(&d, &["--kind", "spike"]);
    assert_eq!(spikes.len(), 3);
    // Every delivery to the hook is settled (sent or suppressed), so no message is still
    // on its way.
    for spike in &spikes {
        let id = spike.id.as_str();
        assert!(
            eventually(Duration::from_secs(30), || delivery_state(&d, id, "hook")
                .is_some_and(|state| state != DeliveryState::Pending)),
            "{:?}\n{}",
            deliveries(&d, id),
            d.log_text()
        );
    }
    assert_eq!(hook.received().len(), 1, "deduplicated");

    // A tool's own detector beats the node's default.
    let tool = serde_json::json!({"name": "demo-z", "author": "MAO", "image": "mao/demo-tool:latest",
        "data_repo": "https://g/d.git", "code_repo": "https://g/c.git", "artefact": "demo",
        "detector": {"method": "robust-z", "params": {"threshold": 5}}});
    let file = dir.path().join("demo-z.json");
    std::fs::write(&file, tool.to_string()).unwrap();
    d.maoctl_ok(&["tool", "add", "-f", file.to_str().unwrap()]);
    let r: RunRecord = maoctl_as(&d, &["tool", "run", "demo-z"]);
    assert_eq!(
        r.detector.as_ref().and_then(|s| s.method),
        Some(Method::RobustZ),
        "{r:?}"
    );
    // (An empty `detection` is left out of the document, which the untyped test refused.)
    assert!(!r.detection.is_empty(), "{r:?}");
    assert!(r.detection.iter().all(|m| m.method == Method::RobustZ));

    // Acknowledging.
    let id = n.id.as_str();
    d.maoctl_ok(&["notification", "ack", id]);
    let unacked = notifications(&d, &["--kind", "spike", "--unacked"]);
    assert_eq!(unacked.len(), 2);
    assert!(unacked.iter().all(|u| u.id != n.id));
}

#[test]
fn failures_and_broken_metrics_are_told_apart_and_survive_a_restart() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("notif");
    let _sweep = container_sweep(&node);
    // Nothing listens on the webhook's port yet: the delivery stays pending. The port is
    // held closed, so no other process can take it before the webhook is up.
    let hook_port = ClosedPort::new();
    let port = hook_port.port();
    let nowhere = ClosedPort::new();
    let config = format!(
        "[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nkinds = [\"run_failed\"]\nretries = 20\n\n[[sinks]]\nname = \"flaky\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{}/nowhere\"\nretries = 1\ntimeout = \"1s\"\n",
        nowhere.port()
    );
    let mut d = start_with_config(dir.path(), &node, &config);
    crate::support::add_demo_tool(&d);

    // A broken control file: the run succeeds, says why the metric is missing.
    let r: RunRecord = maoctl_as(
        &d,
        &[
            "tool",
            "run",
            "demo",
            "--env",
            "DEMO_CONTROL_TEXT=n/a",
            "--env",
            "DEMO_METRICS_TEXT=[1,2]",
        ],
    );
    assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
    let why = r.metrics_error.as_deref().unwrap();
    assert!(
        why.contains("not a number") && why.contains("not a JSON object"),
        "{r:?}"
    );
    assert!(r.detection.is_empty(), "{r:?}");

    // A failed run raises a notification.
    let out = d.maoctl(&["tool", "run", "demo", "--env", "DEMO_EXIT=3"]);
    assert_eq!(out.status.code(), Some(1));
    let failed = notifications(&d, &["--kind", "run_failed"]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let id = failed[0].id.clone();
    // The sink that cannot be reached gives up after its retries, with the reason.
    assert!(
        eventually(Duration::from_secs(20), || {
            deliveries(&d, &id).iter().any(|x| {
                x.sink == "flaky" && x.state == DeliveryState::Failed && x.last_error.is_some()
            })
        }),
        "{}",
        d.log_text()
    );

    // The daemon dies before the webhook is up; after the restart it is delivered once.
    d.kill();
    let hook = Receiver::on(hook_port.listen(), vec![500]);
    let d = start_with_config(dir.path(), &node, &config);
    assert!(
        eventually(Duration::from_secs(30), || hook.received().len() >= 2),
        "a 500 is retried: {:?}\n{}",
        hook.received(),
        d.log_text()
    );
    // Delivered: the daemon sends nothing more for this notification.
    assert!(
        eventually(Duration::from_secs(30), || delivery_state(&d, &id, "hook")
            == Some(DeliveryState::Delivered)),
        "{:?}\n{}",
        deliveries(&d, &id),
        d.log_text()
    );
    let got = hook.received();
    assert_eq!(got.len(), 2, "one 500, one delivery: {got:?}");
    assert!(got
        .iter()
        .all(|r| r.body["notification"]["id"] == id.as_str()));
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );
}

use mao_testkit::smtp;

#[test]
fn failures_are_mailed_and_a_refused_login_is_recorded() {
    ensure_demo_image();
    let plain = smtp::SmtpServer::start("none", false);
    let guarded = smtp::SmtpServer::start("starttls", true);
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("mail");
    let _sweep = container_sweep(&node);
    let config = format!(
        "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"mao@example.org\"\nto = [\"ops@example.org\"]\n\n\
         [[sinks]]\nname = \"guarded\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\naccept_invalid_certs = true\nusername = \"{}\"\npassword = \"wrong-password\"\nfrom = \"mao@example.org\"\nto = [\"ops@example.org\"]\n",
        plain.port,
        guarded.port,
        smtp::USER
    );
    let d = start_with_config(dir.path(), &node, &config);
    crate::support::add_demo_tool(&d);
    let out = d.maoctl(&["tool", "run", "demo", "--env", "DEMO_EXIT=4"]);
    assert_eq!(out.status.code(), Some(1));
    let failed = notifications(&d, &["--kind", "run_failed"]);
    let id = failed[0].id.clone();
    assert!(
        eventually(Duration::from_secs(15), || plain.messages().len() == 1),
        "{}",
        d.log_text()
    );
    let mail = &plain.messages()[0];
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ops@example.org"]));
    let data = mail["data"].as_str().unwrap();
    assert!(data.contains(&id) && data.contains("run_failed"), "{data}");
    // The server that refuses the login: failed for good, with the reason, no password.
    let mut state: Option<Delivery> = None;
    assert!(
        eventually(Duration::from_secs(15), || {
            let (_, body) = d.get(&format!("/api/v1/notifications/{id}/deliveries"));
            let list: List<Delivery> = serde_json::from_str(&body).unwrap();
            state = list.items.into_iter().find(|x| x.sink == "guarded");
            state
                .as_ref()
                .is_some_and(|x| x.state == DeliveryState::Failed)
        }),
        "{state:?}\n{}",
        d.log_text()
    );
    let why = state
        .as_ref()
        .and_then(|x| x.last_error.as_deref())
        .unwrap();
    assert!(why.contains("refused the login"), "{why}");
    assert!(!why.contains("wrong-password") && !d.log_text().contains("wrong-password"));
    assert!(guarded.messages().is_empty());
}
