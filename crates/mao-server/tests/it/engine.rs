//! A Docker Engine that stops answering (issue 12, D5 and D8), with the real engine behind
//! `mao_testkit::engine_proxy::EngineProxy`: the daemon talks to the engine through the
//! proxy (`DOCKER_HOST`), and the test freezes it.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_as, maoctl_items, start_daemon_with_env,
    unique_node, Daemon,
};
use chrono::{DateTime, Utc};
use mao_api::{
    FailureReason, Notification, NotificationKind, Readiness, RunRecord, RunStatus, SlotOutcome,
    SlotRecord,
};
use mao_testkit::engine_proxy::EngineProxy;

/// Far above what any step takes on a loaded machine; no assertion on speed.
const PATIENCE: Duration = Duration::from_secs(90);

struct Site {
    args: Vec<String>,
    dir: tempfile::TempDir,
    node: String,
    docker_host: String,
    starts: usize,
}

impl Site {
    fn new(prefix: &str, proxy: &EngineProxy, extra: &[&str]) -> Site {
        ensure_demo_image();
        let dir = tempfile::tempdir().unwrap();
        let node = unique_node(prefix);
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            dir.path().join("data").to_str().unwrap().into(),
            "--node".into(),
            node.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Site {
            args,
            dir,
            node,
            docker_host: proxy.docker_host(),
            starts: 0,
        }
    }

    fn start(&mut self) -> Daemon {
        self.starts += 1;
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let log = self.dir.path().join(format!("daemon-{}.log", self.starts));
        start_daemon_with_env(&args, &log, &[("DOCKER_HOST", &self.docker_host)])
    }
}

fn runs_of(d: &Daemon, schedule: &str) -> Vec<RunRecord> {
    maoctl_items::<RunRecord>(d, &["run", "list", "--limit", "1000"])
        .into_iter()
        .filter(|r| r.schedule.as_deref() == Some(schedule))
        .collect()
}

fn run(d: &Daemon, id: &str) -> RunRecord {
    maoctl_as(d, &["run", "get", id])
}

/// Run `id` once it has ended; panics with `what`, the last record and the log if it
/// does not within the test's patience.
fn finished_run(d: &Daemon, id: &str, what: &str) -> RunRecord {
    let mut last = None;
    let done = eventually(PATIENCE, || {
        let r = run(d, id);
        let done = r.status.is_finished();
        last = Some(r);
        done
    });
    assert!(done, "{what}: {last:?}\n{}", d.log_text());
    last.expect("polled at least once")
}

fn readiness(d: &Daemon) -> (u16, Readiness) {
    let (status, body) = d.get("/readyz");
    let readiness = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, readiness)
}

fn history(d: &Daemon, schedule: &str) -> Vec<SlotRecord> {
    maoctl_items(d, &["schedule", "history", schedule, "--limit", "1000"])
}

/// What the real engine (not the proxy) says of the containers of run `id`.
fn engine_containers_of(run_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=mao.run-id={run_id}"),
        ])
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `docker inspect -f FORMAT` of a container on the real engine.
fn engine_inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, container])
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// When the daemon's scheduler started: slots before it were missed while it was down.
fn scheduler_started(d: &Daemon) -> DateTime<Utc> {
    let mut line = None;
    assert!(
        eventually(PATIENCE, || {
            line = d
                .log_text()
                .lines()
                .find(|l| l.contains("scheduler started"))
                .map(str::to_owned);
            line.is_some()
        }),
        "the scheduler did not start\n{}",
        d.log_text()
    );
    let line = line.unwrap();
    let since = line
        .split("since=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no since= in {line}"));
    since.trim_matches('"').parse().unwrap()
}

fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b)
        .num_microseconds()
        .is_some_and(|us| us.abs() <= 1000)
}

#[test]
fn a_hung_engine_fails_the_run_within_engine_timeout_and_blocks_no_later_slot() {
    let proxy = EngineProxy::start();
    let mut site = Site::new("hung", &proxy, &["--engine-timeout", "3s"]);
    let _sweep = container_sweep(&site.node);
    let d = site.start();
    crate::support::add_demo_tool(&d);
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/3 * * * * *",
        "--id",
        "long3",
        "--concurrency",
        "forbid",
        "--env",
        "DEMO_SLEEP=600",
    ]);
    let mut first = None;
    assert!(
        eventually(PATIENCE, || {
            first = runs_of(&d, "long3")
                .into_iter()
                .find(|r| r.status == RunStatus::Running);
            first.is_some()
        }),
        "no run of the schedule started: {:?}\n{}",
        runs_of(&d, "long3"),
        d.log_text()
    );
    let first = first.unwrap();
    assert_eq!(readiness(&d).0, 200, "{:?}", readiness(&d).1);

    proxy.freeze();
    let frozen = Instant::now();
    let failed = finished_run(&d, &first.id, "the run did not end with the engine hung");
    let seconds = frozen.elapsed().as_secs_f64();
    eprintln!("engine frozen -> run failed: {seconds:.2} s (engine_timeout 3 s)");
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    assert_eq!(
        failed.reason,
        Some(FailureReason::EngineUnresponsive),
        "{failed:?}"
    );
    let error = failed.error.clone().unwrap_or_default();
    assert!(
        error.contains("stopped answering") && error.contains("docker info"),
        "the error says what happened and what to do: {error}"
    );
    assert!(
        seconds < 60.0,
        "the run ended {seconds} s after the engine hung, not within its bound"
    );
    let json: serde_json::Value =
        serde_json::from_str(&d.get(&format!("/api/v1/runs/{}", first.id)).1).unwrap();
    assert_eq!(json["reason"], "engine_unresponsive", "{json}");

    assert!(
        eventually(PATIENCE, || {
            maoctl_items::<Notification>(&d, &["notification", "list"])
                .iter()
                .any(|n| {
                    n.kind == NotificationKind::RunFailed && n.run_id.as_deref() == Some(&first.id)
                })
        }),
        "no run_failed notification: {}",
        d.maoctl_ok(&["notification", "list"])
    );
    let (status, ready) = readiness(&d);
    assert_eq!(status, 503, "{ready:?}");
    let runtime = ready
        .checks
        .iter()
        .find(|c| c.name == "runtime")
        .expect("a runtime check");
    assert!(
        !runtime.ok
            && runtime
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("did not answer"),
        "{ready:?}"
    );

    proxy.thaw();
    let thawed = Utc::now();
    assert!(
        eventually(PATIENCE, || readiness(&d).0 == 200),
        "{:?}",
        readiness(&d)
    );
    // The next slot fires: the failed run holds no place under concurrency forbid.
    let mut next = None;
    assert!(
        eventually(PATIENCE, || {
            next = runs_of(&d, "long3")
                .into_iter()
                .find(|r| r.queued_at > thawed && r.status == RunStatus::Running);
            next.is_some()
        }),
        "no later slot ran: {:?}\n{}",
        history(&d, "long3"),
        d.log_text()
    );
    let blocked: Vec<SlotRecord> = history(&d, "long3")
        .into_iter()
        .filter(|h| {
            h.outcome == SlotOutcome::Skipped
                && h.reason.as_deref().unwrap_or("").contains(&first.id)
                && h.at > failed.finished_at.unwrap()
        })
        .collect();
    assert!(
        blocked.is_empty(),
        "slots skipped for the failed run: {blocked:?}"
    );
    // The container the hung engine kept is removed once it answers again.
    assert!(
        eventually(PATIENCE, || engine_containers_of(&first.id).is_empty()),
        "the failed run's container is still there: {:?}",
        engine_containers_of(&first.id)
    );
    d.maoctl_ok(&["schedule", "pause", "long3"]);
    d.maoctl_ok(&["run", "cancel", &next.unwrap().id]);
    let after: RunRecord = maoctl_as(&d, &["tool", "run", "demo"]);
    assert_eq!(after.status, RunStatus::Succeeded, "{after:?}");
}

#[test]
fn a_run_started_but_recorded_queued_keeps_its_own_times_and_metrics_after_a_kill() {
    let proxy = EngineProxy::start();
    let mut site = Site::new("startkill", &proxy, &["--engine-timeout", "10m"]);
    let _sweep = container_sweep(&site.node);
    let mut d = site.start();
    crate::support::add_demo_tool(&d);
    // The engine starts the container and its answer never comes: the daemon's record
    // still says `queued` when it is killed.
    proxy.freeze_after("/start");
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/3 * * * * *",
        "--id",
        "quick3",
        "--concurrency",
        "forbid",
        "--catch-up",
        "latest",
        "--env",
        "DEMO_VALUE=42",
    ]);
    assert!(
        eventually(PATIENCE, || proxy.tripped() == 1),
        "no container start went through the proxy\n{}",
        d.log_text()
    );
    let queued = runs_of(&d, "quick3");
    assert_eq!(queued.len(), 1, "{queued:?}");
    let queued = queued.into_iter().next().unwrap();
    assert_eq!(queued.status, RunStatus::Queued, "{queued:?}");
    // The tool ran to its end on the real engine.
    let container = format!("mao-{}", queued.id.to_lowercase());
    assert!(
        eventually(PATIENCE, || engine_inspect(&container, "{{.State.Status}}")
            == "exited"),
        "the container did not run to its end: {}",
        engine_inspect(&container, "{{json .State}}")
    );
    let started: DateTime<Utc> = engine_inspect(&container, "{{.State.StartedAt}}")
        .parse()
        .unwrap();
    let finished: DateTime<Utc> = engine_inspect(&container, "{{.State.FinishedAt}}")
        .parse()
        .unwrap();
    assert_eq!(run(&d, &queued.id).status, RunStatus::Queued);

    d.kill();
    let down = Utc::now();
    // Long enough for a slot or two to pass while the daemon is down.
    std::thread::sleep(Duration::from_secs(4));
    proxy.thaw();
    let d = site.start();
    let collected = finished_run(&d, &queued.id, "the recovered run did not end");
    assert_eq!(collected.status, RunStatus::Succeeded, "{collected:?}");
    let (run_started, run_finished) = (
        collected.started_at.expect("a start"),
        collected.finished_at.expect("an end"),
    );
    eprintln!(
        "recovered run: started_at off by {} µs, finished_at off by {} µs from the container's",
        (run_started - started)
            .num_microseconds()
            .unwrap_or(i64::MAX),
        (run_finished - finished)
            .num_microseconds()
            .unwrap_or(i64::MAX)
    );
    assert!(
        close(run_started, started) && close(run_finished, finished),
        "the run's times are the container's ({started} .. {finished}): {collected:?}"
    );
    assert!(
        run_finished < down,
        "it ended before the kill: {collected:?}"
    );
    assert_eq!(collected.metrics_error, None, "{collected:?}");
    assert_eq!(
        collected.metrics.get("control"),
        Some(&42.0),
        "{collected:?}"
    );

    // The slot missed while down is caught up, not skipped for the recovered run.
    let up = scheduler_started(&d);
    assert!(
        eventually(PATIENCE, || history(&d, "quick3")
            .iter()
            .any(|h| h.slot > down
                && h.slot < up
                && h.outcome == SlotOutcome::Fired)),
        "no missed slot was caught up: {:?}\n{}",
        history(&d, "quick3"),
        d.log_text()
    );
    let blocked: Vec<SlotRecord> = history(&d, "quick3")
        .into_iter()
        .filter(|h| h.reason.as_deref().unwrap_or("").contains(&queued.id) && h.at > down)
        .collect();
    assert!(
        blocked.is_empty(),
        "slots skipped for the recovered run: {blocked:?}"
    );
    d.maoctl_ok(&["schedule", "pause", "quick3"]);
}
