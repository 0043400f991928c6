//! Schedules end to end: the real daemon, maoctl, Docker and (for federations) etcd.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_items, start_daemon, unique_node, Daemon,
};
use chrono::{DateTime, Utc};
use mao_api::{FireTime, RunRecord, RunStatus, ScheduleView, SlotOutcome, SlotRecord};
use mao_testkit::etcd::EtcdServer;

fn start(args: &[String], log: &Path) -> Daemon {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    start_daemon(&refs, log)
}

fn add_demo(d: &Daemon) {
    crate::support::add_demo_tool(d);
}

/// The slot a run of a schedule was started for.
fn slot_of(r: &RunRecord) -> DateTime<Utc> {
    r.scheduled_at
        .unwrap_or_else(|| panic!("a run of a schedule without its slot: {r:?}"))
}

/// A claim of a slot in etcd: the node that runs it.
#[derive(serde::Deserialize)]
struct Claim {
    node: String,
}

/// Runs of a schedule on a node: scheduled slot -> run record.
fn runs_of(d: &Daemon, schedule: &str) -> Vec<RunRecord> {
    maoctl_items::<RunRecord>(d, &["run", "list", "--limit", "1000"])
        .into_iter()
        .filter(|r| r.schedule.as_deref() == Some(schedule))
        .collect()
}

fn slots(runs: &[RunRecord]) -> Vec<DateTime<Utc>> {
    let mut s: Vec<_> = runs.iter().map(slot_of).collect();
    s.sort();
    s
}

fn assert_unique(slots: &[DateTime<Utc>], what: &str) {
    let set: BTreeSet<_> = slots.iter().collect();
    assert_eq!(
        set.len(),
        slots.len(),
        "{what}: a slot ran twice: {slots:?}"
    );
}

#[test]
fn schedules_fire_on_time_and_survive_sigkill() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("sched");
    let _sweep = container_sweep(&node);
    let args: Vec<String> = vec![
        "--data-dir".into(),
        dir.path().join("data").to_str().unwrap().into(),
        "--node".into(),
        node,
    ];
    let mut d = start(&args, &dir.path().join("1.log"));
    add_demo(&d);
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/2 * * * * *",
        "--id",
        "latest2",
        "--concurrency",
        "allow",
    ]);
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/2 * * * * *",
        "--id",
        "none2",
        "--catch-up",
        "none",
        "--concurrency",
        "allow",
    ]);
    let listed: Vec<ScheduleView> = maoctl_items(&d, &["schedule", "list"]);
    assert_eq!(listed.len(), 2);

    std::thread::sleep(Duration::from_secs(7));
    let before = runs_of(&d, "latest2");
    assert!(
        before.len() >= 3,
        "a 2-second schedule ran {} times in 7 s",
        before.len()
    );
    for r in &before {
        let slot = slot_of(r);
        assert_eq!(slot.timestamp() % 2, 0, "slots are the cron's instants");
        assert!(r.trigger.starts_with("schedule:latest2@"), "{r:?}");
    }
    // The scheduler's own lag (slot to run queued) is what this test holds to a bound; the
    // container start on an idle node is measured in BENCHMARKS.md (a loaded CI machine
    // would make a bound on it flaky).
    let lag = |from: fn(&RunRecord) -> Option<DateTime<Utc>>| {
        let mut l: Vec<f64> = before
            .iter()
            .filter_map(|r| Some((from(r)? - slot_of(r)).num_milliseconds() as f64 / 1e3))
            .collect();
        l.sort_by(f64::total_cmp);
        l
    };
    let queued = lag(|r| Some(r.queued_at));
    assert!(
        queued[queued.len() / 2] < 1.0,
        "median lag from slot to run queued: {queued:?}"
    );
    assert!(
        queued.iter().all(|l| *l >= 0.0),
        "no run starts before its slot: {queued:?}"
    );
    let started = lag(|r| r.started_at);
    assert!(
        started.is_empty() || started[started.len() / 2] < 5.0,
        "median lag from slot to container start: {started:?}"
    );

    d.kill();
    let down = Utc::now();
    std::thread::sleep(Duration::from_secs(5));
    let mut d = start(&args, &dir.path().join("2.log"));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        maoctl_items::<ScheduleView>(&d, &["schedule", "list"]).len(),
        2,
        "the schedules are still there"
    );
    // Slots missed while down: from the kill to the moment the new scheduler started.
    assert!(eventually(Duration::from_secs(30), || d
        .log_text()
        .contains("scheduler started")));
    let up: DateTime<Utc> = {
        let log = d.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("scheduler started"))
            .unwrap();
        let since = line
            .split("since=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        since.trim_matches('"').parse().unwrap()
    };
    for id in ["latest2", "none2"] {
        // A 2-second schedule always has a run in flight on a loaded machine: wait for the
        // scheduler to have moved past the restart (the catch-up comes first) and for every
        // run of a slot up to the restart to have finished, not for a quiet moment.
        assert!(
            eventually(Duration::from_secs(60), || {
                let runs = runs_of(&d, id);
                runs.iter().any(|r| slot_of(r) > up)
                    && runs
                        .iter()
                        .filter(|r| slot_of(r) <= up)
                        .all(|r| r.status != RunStatus::Running && r.status != RunStatus::Queued)
            }),
            "{id}: {:?}\n{}",
            runs_of(&d, id),
            d.log_text()
        );
        let all = slots(&runs_of(&d, id));
        assert_unique(&all, id);
        let in_gap: Vec<_> = all.iter().filter(|s| **s > down && **s < up).collect();
        match id {
            "latest2" => assert_eq!(
                in_gap.len(),
                1,
                "latest runs one missed slot: {in_gap:?}; down {down}, up {up}; history {}\n{}",
                d.maoctl_ok(&["schedule", "history", id, "--limit", "30"]),
                d.log_text()
            ),
            _ => assert!(in_gap.is_empty(), "none runs no missed slot: {in_gap:?}"),
        }
    }
    let history: Vec<SlotRecord> =
        maoctl_items(&d, &["schedule", "history", "none2", "--limit", "100"]);
    assert!(
        history.iter().any(|h| h.outcome == SlotOutcome::Missed),
        "missed slots are recorded: {history:?}"
    );
    d.maoctl_ok(&["schedule", "pause", "latest2"]);
    d.maoctl_ok(&["schedule", "remove", "none2"]);
    let next: Vec<FireTime> = maoctl_items(&d, &["schedule", "next", "latest2", "-n", "5"]);
    assert_eq!(next.len(), 5);
    let _ = d.terminate();
}

/// Two daemons on one etcd: `once` runs every slot exactly once in the federation, even
/// when one daemon dies half-way; `every-node` runs every slot once on each node.
#[test]
fn federation_runs_once_slots_exactly_once() {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint();
    let prefix = "/fed";
    let mk = |name: &str| -> (Vec<String>, mao_testkit::docker::ContainerSweep) {
        let node = unique_node(name);
        (
            vec![
                "--data-dir".into(),
                dir.path().join(&node).to_str().unwrap().into(),
                "--node".into(),
                node.clone(),
                "--store".into(),
                "etcd".into(),
                "--etcd-endpoints".into(),
                endpoint.clone(),
                "--etcd-prefix".into(),
                prefix.into(),
                "--membership-ttl".into(),
                "3".into(),
            ],
            container_sweep(&node),
        )
    };
    let (a_args, _a_sweep) = mk("fa");
    let (b_args, _b_sweep) = mk("fb");
    let a = start(&a_args, &dir.path().join("a.log"));
    let mut b = start(&b_args, &dir.path().join("b.log"));
    add_demo(&a);
    a.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "* * * * * *",
        "--id",
        "once1",
        "--mode",
        "once",
        "--concurrency",
        "allow",
    ]);
    a.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "* * * * * *",
        "--id",
        "each1",
        "--concurrency",
        "allow",
    ]);
    // 30 s in all: 15 s with both daemons, 15 s after one of them is killed.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    let b_runs_once = runs_of(&b, "once1");
    let b_runs_each = runs_of(&b, "each1");
    b.kill();
    let killed = Utc::now();
    std::thread::sleep(Duration::from_secs(15));
    a.maoctl_ok(&["schedule", "pause", "once1"]);
    a.maoctl_ok(&["schedule", "pause", "each1"]);
    let paused = Utc::now();
    // Up to 3 containers a second end here on 2 cores: a loaded engine may take a while.
    let settled = eventually(Duration::from_secs(90), || {
        runs_of(&a, "once1")
            .iter()
            .all(|r| r.status == RunStatus::Succeeded)
    });
    if !settled {
        let unsettled: Vec<String> = runs_of(&a, "once1")
            .iter()
            .filter(|r| r.status != RunStatus::Succeeded)
            .map(|r| format!("{} {:?} {:?}", r.id, r.status, r.error))
            .collect();
        panic!(
            "once1 runs of a not all succeeded 90 s after pause: {unsettled:?}\n--- a's log ---\n{}",
            a.log_text()
        );
    }
    eprintln!("federation test ran for {:?}", t0.elapsed());

    // Claims: one per slot, each naming the node and its run.
    let out = std::process::Command::new("etcdctl")
        .args([
            "--endpoints",
            &endpoint,
            "get",
            "--prefix",
            &format!("{prefix}/claims/once1/"),
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut claims: BTreeMap<DateTime<Utc>, Claim> = BTreeMap::new();
    for pair in lines.chunks(2) {
        let slot: DateTime<Utc> = pair[0].rsplit('/').next().unwrap().parse().unwrap();
        assert!(claims
            .insert(slot, serde_json::from_str(pair[1]).unwrap())
            .is_none());
    }
    assert!(claims.len() >= 25, "{} claims", claims.len());
    let first = *claims.keys().next().unwrap();
    let last = *claims.keys().last().unwrap();
    let expected = (last - first).num_seconds() + 1;
    assert_eq!(
        claims.len() as i64,
        expected,
        "every slot between the first and the last was claimed"
    );

    let a_runs = runs_of(&a, "once1");
    let mut ran = slots(&a_runs);
    ran.extend(slots(&b_runs_once));
    ran.sort();
    assert_unique(&ran, "once1 across the federation");
    // Every slot claimed before b was killed ran on its claimer; after, a ran them all.
    for (slot, claim) in &claims {
        if *slot > killed + chrono::Duration::seconds(2) {
            assert_eq!(
                claim.node,
                a_args[3].as_str(),
                "after b died, a runs slot {slot}"
            );
            assert!(ran.contains(slot), "slot {slot} ran");
        }
    }
    let a_slots: BTreeSet<_> = slots(&a_runs).into_iter().collect();
    let after_kill: Vec<_> = claims
        .keys()
        .filter(|s| **s > killed + chrono::Duration::seconds(2) && **s < paused)
        .collect();
    assert!(after_kill.len() >= 5);
    assert!(after_kill.iter().all(|s| a_slots.contains(*s)));

    // every-node: each node ran each slot once while it was up.
    for (name, runs) in [("a", runs_of(&a, "each1")), ("b", b_runs_each)] {
        let s = slots(&runs);
        assert_unique(&s, name);
        assert!(s.len() >= 5, "{name} ran {} slots", s.len());
        let span = (*s.last().unwrap() - s[0]).num_seconds() + 1;
        assert_eq!(
            span,
            s.len() as i64,
            "{name} ran every consecutive slot: {s:?}"
        );
    }
}

#[test]
fn bad_schedules_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        &[
            "--data-dir".into(),
            dir.path().join("d").to_str().unwrap().into(),
            "--node".into(),
            "badsched".into(),
        ],
        &dir.path().join("d.log"),
    );
    add_demo(&d);
    for (args, needle) in [
        (vec!["tool", "schedule", "demo", "0 25 * * *"], "hour"),
        (vec!["tool", "schedule", "demo", "* * *"], "fields"),
        (
            vec!["tool", "schedule", "demo", "daily", "--tz", "Mars/Olympus"],
            "tz",
        ),
        (vec!["tool", "schedule", "ghost", "daily"], "not registered"),
    ] {
        let out = d.maoctl(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = d.maoctl(&["tool", "schedule", "demo", "daily", "--deadline", "soon"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        maoctl_items::<ScheduleView>(&d, &["schedule", "list"]).len(),
        0
    );
    let (status, body) = d.get("/jobs");
    assert_eq!((status, body.as_str()), (200, "{}"));
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "weekly",
        "--id",
        "w",
        "--tz",
        "Europe/Zurich",
    ]);
    let (_, body) = d.get("/jobs");
    let jobs: BTreeMap<String, String> = serde_json::from_str(&body).unwrap();
    assert!(jobs["w"].contains('T'), "{jobs:?}");
}

/// `replace`: a slot that comes while the previous run goes on cancels that run and starts
/// its own; no slot is skipped.
#[test]
fn replace_cancels_the_running_run_and_starts_the_new_slot() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("repl");
    let _sweep = container_sweep(&node);
    let args: Vec<String> = vec![
        "--data-dir".into(),
        dir.path().join("data").to_str().unwrap().into(),
        "--node".into(),
        node,
    ];
    let d = start(&args, &dir.path().join("d.log"));
    add_demo(&d);
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/2 * * * * *",
        "--id",
        "repl1",
        "--concurrency",
        "replace",
        "--env",
        "DEMO_SLEEP=60",
    ]);
    let mut runs = Vec::new();
    let replaced = eventually(Duration::from_secs(60), || {
        runs = runs_of(&d, "repl1");
        runs.iter()
            .filter(|r| r.status == RunStatus::Cancelled)
            .count()
            >= 2
    });
    d.maoctl_ok(&["schedule", "pause", "repl1"]);
    assert!(replaced, "runs are replaced: {runs:?}\n{}", d.log_text());
    let history: Vec<SlotRecord> =
        maoctl_items(&d, &["schedule", "history", "repl1", "--limit", "100"]);
    assert!(
        history.iter().all(|h| h.outcome == SlotOutcome::Fired),
        "replace skips no slot: {history:?}"
    );
    // The last run is stopped here; a slot fired just before the pause may have replaced
    // (cancelled) it between the listing and the cancel, which then finds it finished.
    for r in runs_of(&d, "repl1") {
        if !r.status.is_finished() && !d.maoctl(&["run", "cancel", &r.id]).status.success() {
            let now: RunRecord = d.maoctl_json(&["run", "get", &r.id]);
            assert!(now.status.is_finished(), "{now:?}");
        }
    }
}

#[test]
fn a_scheduled_run_is_told_its_slot() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("slotenv");
    let _sweep = container_sweep(&node);
    let data = dir.path().join("data");
    let args: Vec<String> = vec![
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--node".into(),
        node.clone(),
    ];
    let d = start(&args, &dir.path().join("1.log"));
    let mut add: Vec<&str> = crate::support::DEMO_TOOL_ADD.to_vec();
    // The tool's own env cannot forge the slot.
    add.extend([
        "--env",
        "DEMO_ENV_FILE=context.env",
        "--env",
        "MAO_SLOT=forged",
    ]);
    d.maoctl_ok(&add);
    d.maoctl_ok(&["tool", "schedule", "demo", "*/2 * * * * *", "--id", "ctx2"]);
    let ok = eventually(Duration::from_secs(20), || {
        runs_of(&d, "ctx2")
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)
    });
    assert!(ok, "no scheduled run succeeded\n{}", d.log_text());
    d.maoctl_ok(&["schedule", "remove", "ctx2"]);
    // Later runs of the schedule rewrite the file: the run it names is the one checked.
    let seen = std::fs::read_to_string(data.join("tools/demo/data/context.env")).unwrap();
    let var = |name: &str| {
        seen.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}: {seen}"))
            .to_owned()
    };
    assert_eq!(var("MAO_TRIGGER"), "schedule", "{seen}");
    assert_eq!(var("MAO_NODE"), node, "{seen}");
    assert!(!seen.contains("forged"), "{seen}");
    let run: RunRecord = crate::support::maoctl_as(&d, &["run", "get", &var("MAO_RUN_ID")]);
    assert_eq!(run.schedule.as_deref(), Some("ctx2"));
    assert_eq!(
        var("MAO_SLOT"),
        slot_of(&run).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "the slot of the very run, RFC 3339"
    );
}
