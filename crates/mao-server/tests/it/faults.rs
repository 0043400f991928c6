//! A federation's promises under faults, on one host: a claimer killed before it starts
//! its run, a daemon stopped past its lease, a run longer than the period under `forbid`,
//! catch-up after downtime, and the store away while every-node slots are due.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::{
    add_demo_tool, container_sweep, ensure_demo_image, eventually, maoctl_items, start_daemon,
    start_daemon_with_env, unique_node, Daemon,
};
use chrono::{DateTime, Utc};
use mao_api::{RunRecord, RunStatus};
use mao_testkit::docker::ContainerSweep;
use mao_testkit::etcd::EtcdServer;

/// The arguments of a daemon named `node` on the etcd at `endpoint`, with a short lease.
fn fed_args(dir: &Path, node: &str, endpoint: &str) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir.join(node).to_str().unwrap().into(),
        "--node".into(),
        node.into(),
        "--store".into(),
        "etcd".into(),
        "--etcd-endpoints".into(),
        endpoint.into(),
        "--etcd-prefix".into(),
        "/faults".into(),
        "--membership-ttl".into(),
        "2".into(),
    ]
}

fn start_node(args: &[String], log: &Path, env: &[(&str, &str)]) -> Daemon {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    start_daemon_with_env(&refs, log, env)
}

fn runs_of(d: &Daemon, schedule: &str) -> Vec<RunRecord> {
    maoctl_items::<RunRecord>(d, &["run", "list", "--limit", "1000"])
        .into_iter()
        .filter(|r| r.schedule.as_deref() == Some(schedule))
        .collect()
}

/// The claims of a once-schedule in etcd: slot -> the claim's JSON.
fn claims(etcd: &EtcdServer, schedule: &str) -> BTreeMap<DateTime<Utc>, serde_json::Value> {
    let out = etcd.etcdctl_ok(&["get", "--prefix", &format!("/faults/claims/{schedule}/")]);
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| {
            let slot = pair[0].rsplit('/').next().unwrap().parse().unwrap();
            (slot, serde_json::from_str(pair[1]).unwrap())
        })
        .collect()
}

/// Schedules the demo tool on `d` as `id`, with extra `maoctl tool schedule` flags.
fn schedule_demo(d: &Daemon, cron: &str, id: &str, flags: &[&str]) {
    let mut args = vec!["tool", "schedule", "demo", cron, "--id", id];
    args.extend_from_slice(flags);
    d.maoctl_ok(&args);
}

/// One daemon on `etcd` with the demo tool scheduled every 2 s as `id` (with `flags`),
/// once its first run has succeeded.
fn one_node_running(
    etcd: &EtcdServer,
    dir: &Path,
    id: &str,
    flags: &[&str],
) -> (Daemon, ContainerSweep) {
    ensure_demo_image();
    let node = unique_node("f1");
    let sweep = container_sweep(&node);
    let d = start_node(
        &fed_args(dir, &node, &etcd.endpoint()),
        &dir.join("d.log"),
        &[],
    );
    add_demo_tool(&d);
    schedule_demo(&d, "*/2 * * * * *", id, flags);
    assert!(
        eventually(Duration::from_secs(30), || runs_of(&d, id)
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)),
        "the first run of {id} succeeds\n{}",
        d.log_text()
    );
    (d, sweep)
}

fn two_nodes(
    etcd: &EtcdServer,
    dir: &Path,
    a_env: &[(&str, &str)],
) -> (Daemon, Daemon, Vec<String>, [ContainerSweep; 2]) {
    let (na, nb) = (unique_node("fa"), unique_node("fb"));
    let sweeps = [container_sweep(&na), container_sweep(&nb)];
    let a_args = fed_args(dir, &na, &etcd.endpoint());
    let a = start_node(&a_args, &dir.join("a.log"), a_env);
    let b = start_node(
        &fed_args(dir, &nb, &etcd.endpoint()),
        &dir.join("b.log"),
        &[],
    );
    (a, b, a_args, sweeps)
}

/// One daemon on a fresh etcd, its arguments kept to start it again.
struct OneNode {
    etcd: EtcdServer,
    dir: tempfile::TempDir,
    node: String,
    args: Vec<String>,
    _sweep: ContainerSweep,
    d: Daemon,
}

/// [`OneNode`] named after `prefix`, started with `env`.
fn one_node(prefix: &str, env: &[(&str, &str)]) -> OneNode {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node(prefix);
    let _sweep = container_sweep(&node);
    let args = fed_args(dir.path(), &node, &etcd.endpoint());
    let d = start_node(&args, &dir.path().join("a.log"), env);
    OneNode {
        etcd,
        dir,
        node,
        args,
        _sweep,
        d,
    }
}

/// D3: a node SIGKILLed between its claim and the run's start loses the claim with its
/// lease, and the node that found the slot taken runs it.
#[test]
fn a_claimer_killed_before_it_starts_loses_the_slot_to_a_standby_node() {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    // a pauses 6 s between its claim and the run's start: the window the kill lands in.
    let (mut a, b, a_args, _sweeps) =
        two_nodes(&etcd, dir.path(), &[("MAO_FAILPOINTS", "after_claim=6000")]);
    add_demo_tool(&a);
    schedule_demo(
        &a,
        "*/2 * * * * *",
        "once3",
        &["--mode", "once", "--concurrency", "allow"],
    );
    let node_a = a_args[3].clone();
    let mut taken = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            taken = claims(&etcd, "once3")
                .into_iter()
                .find(|(_, c)| c["node"] == node_a.as_str() && c["run_id"].is_null());
            taken.is_some()
        }),
        "a claims a slot within a minute\n{}",
        a.log_text()
    );
    let (slot, _) = taken.unwrap();
    a.kill();
    let mut ran = Vec::new();
    let took_over = eventually(Duration::from_secs(45), || {
        ran = runs_of(&b, "once3")
            .into_iter()
            .filter(|r| r.scheduled_at == Some(slot))
            .collect();
        ran.iter().any(|r| r.status == RunStatus::Succeeded)
    });
    b.maoctl_ok(&["schedule", "pause", "once3"]);
    assert!(
        took_over,
        "b runs slot {slot} that a claimed and died on: {ran:?}\n--- b's log ---\n{}",
        b.log_text()
    );
    assert_eq!(ran.len(), 1, "once: {ran:?}");
    let claim = &claims(&etcd, "once3")[&slot];
    assert_eq!(claim["run_id"], ran[0].id.as_str(), "{claim}");
    assert_ne!(claim["node"], node_a.as_str(), "{claim}");
}

/// D3, later in the window: a node killed after its claim names the run but before the
/// run is queued fires the slot again when it restarts (the standbys have left: the claim
/// was settled).
#[test]
fn a_node_killed_between_binding_its_claim_and_queueing_the_run_fires_the_slot_after_a_restart() {
    let OneNode {
        etcd,
        dir,
        args,
        _sweep,
        d: mut a,
        ..
    } = one_node("fk", &[("MAO_FAILPOINTS", "after_bind=8000")]);
    add_demo_tool(&a);
    schedule_demo(
        &a,
        "*/2 * * * * *",
        "bind5",
        &["--mode", "once", "--concurrency", "allow"],
    );
    let mut bound = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            bound = claims(&etcd, "bind5")
                .into_iter()
                .find(|(_, c)| c["run_id"].is_string());
            bound.is_some()
        }),
        "a binds a claim to a run within a minute\n{}",
        a.log_text()
    );
    let (slot, claim) = bound.unwrap();
    a.kill();
    let a = start_node(&args, &dir.path().join("a-again.log"), &[]);
    let mut ran = Vec::new();
    let fired = eventually(Duration::from_secs(60), || {
        ran = runs_of(&a, "bind5")
            .into_iter()
            .filter(|r| r.scheduled_at == Some(slot))
            .collect();
        ran.iter().any(|r| r.status.is_finished())
    });
    a.maoctl_ok(&["schedule", "pause", "bind5"]);
    assert!(
        fired,
        "slot {slot} (claim {claim}) runs after the restart: {ran:?}\n{}",
        a.log_text()
    );
    assert_eq!(ran.len(), 1, "once: {ran:?}");
    assert_eq!(ran[0].status, RunStatus::Succeeded, "{ran:?}");
    assert_eq!(claims(&etcd, "bind5")[&slot]["run_id"], ran[0].id.as_str());
}

/// D7: a daemon stopped (SIGSTOP) past its lease, whose name a second daemon took
/// meanwhile, fires nothing when it resumes and exits non-zero saying why.
#[test]
fn a_daemon_stopped_past_its_lease_fires_nothing_and_exits_when_its_name_was_taken() {
    let OneNode {
        etcd,
        dir,
        node,
        args,
        _sweep,
        d: mut a,
    } = one_node("fs", &[]);
    add_demo_tool(&a);
    schedule_demo(
        &a,
        "* * * * * *",
        "once7",
        &["--mode", "once", "--concurrency", "allow"],
    );
    assert!(eventually(Duration::from_secs(30), || !claims(
        &etcd, "once7"
    )
    .is_empty()));
    a.signal(libc::SIGSTOP);
    let member = format!("/faults/nodes/{node}");
    assert!(
        eventually(Duration::from_secs(20), || etcd
            .etcdctl_ok(&["get", &member])
            .trim()
            .is_empty()),
        "the stopped daemon's lease expires"
    );
    // A second daemon of the same name (another data dir: another host, say).
    let mut twin_args = args.clone();
    twin_args[1] = dir.path().join("twin").to_str().unwrap().into();
    let twin = start_node(&twin_args, &dir.path().join("twin.log"), &[]);
    let resumed = Utc::now();
    a.signal(libc::SIGCONT);
    let status = a.wait_exit(Duration::from_secs(30));
    let log = a.log_text();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the resumed daemon exits non-zero: {status:?}\n{log}"
    );
    assert!(log.contains("already in use by a live daemon"), "{log}");
    let claimed_after = |etcd: &EtcdServer| -> Vec<(DateTime<Utc>, serde_json::Value)> {
        claims(etcd, "once7")
            .into_iter()
            .filter(|(slot, _)| *slot >= resumed - chrono::Duration::seconds(1))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(30), || claimed_after(&etcd)
            .iter()
            .filter(|(_, c)| c["run_id"].is_string())
            .count()
            >= 3),
        "the twin runs the slots after the resume\n{}",
        twin.log_text()
    );
    twin.maoctl_ok(&["schedule", "pause", "once7"]);
    // Every slot claimed after the resume names a run of the twin: the old daemon started
    // none (its runs would be missing from the twin's list).
    std::thread::sleep(Duration::from_secs(1));
    let twin_runs: Vec<String> = runs_of(&twin, "once7").into_iter().map(|r| r.id).collect();
    let after = claimed_after(&etcd);
    for (slot, claim) in &after {
        let run = claim["run_id"].as_str().unwrap_or_default();
        assert!(
            run.is_empty() || twin_runs.iter().any(|r| r == run),
            "slot {slot} was started by the stopped daemon: {claim}\n{log}"
        );
    }
}

/// D2: in once mode with forbid, no two nodes run the schedule at the same time, and runs
/// still happen.
#[test]
fn once_forbid_never_runs_two_at_once_across_nodes() {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _, _sweeps) = two_nodes(&etcd, dir.path(), &[]);
    add_demo_tool(&a);
    schedule_demo(
        &a,
        "*/2 * * * * *",
        "once2",
        &["--mode", "once", "--env", "DEMO_SLEEP=5"],
    );
    let enough = eventually(Duration::from_secs(90), || {
        runs_of(&a, "once2").len() + runs_of(&b, "once2").len() >= 4
    });
    a.maoctl_ok(&["schedule", "pause", "once2"]);
    assert!(enough, "runs happen\n{}", a.log_text());
    let mut runs = Vec::new();
    assert!(eventually(Duration::from_secs(60), || {
        runs = runs_of(&a, "once2");
        runs.extend(runs_of(&b, "once2"));
        runs.iter().all(|r| r.status.is_finished())
    }));
    assert_one_at_a_time(&mut runs);
}

/// That no two of `runs` (all finished) overlapped, and on which nodes they ran.
fn assert_one_at_a_time(runs: &mut [RunRecord]) {
    runs.sort_by_key(|r| r.started_at);
    for w in runs.windows(2) {
        let (first, next) = (&w[0], &w[1]);
        assert!(
            first.finished_at.unwrap() <= next.started_at.unwrap(),
            "two runs at once: {} on {} ({:?}..{:?}) and {} on {} from {:?}",
            first.id,
            first.node,
            first.started_at,
            first.finished_at,
            next.id,
            next.node,
            next.started_at
        );
    }
    let nodes: std::collections::BTreeSet<_> = runs.iter().map(|r| r.node.clone()).collect();
    eprintln!("{} runs on {nodes:?}, none overlapping", runs.len());
}

/// D2 across a restart: a node killed and started again while its once + forbid run goes
/// on re-attaches the run, and the run's marker still keeps the other node from starting
/// another meanwhile (the restart revokes the old process's lease).
#[test]
fn a_forbid_run_reattached_by_a_restart_still_keeps_other_nodes_from_starting_another() {
    forbid_run_across_a_restart("oncek", Daemon::kill);
}

/// The same across a clean stop (SIGTERM): the daemon leaves its runs going, so it does not
/// leave the federation either (its entry expires with its lease, unless it is back first).
#[test]
fn a_forbid_run_goes_on_holding_the_schedule_across_a_clean_stop_and_start() {
    forbid_run_across_a_restart("oncet", |d| {
        d.terminate();
    });
}

/// Kills or stops (`stop`) the node running a once + forbid run of schedule `id`, starts it
/// again, and checks that no two runs overlapped and that the re-attached run succeeded.
fn forbid_run_across_a_restart(id: &str, stop: impl Fn(&mut Daemon)) {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let names = [unique_node("fr"), unique_node("fs")];
    let _sweeps = names.each_ref().map(|n| container_sweep(n));
    // A lease longer than a restart takes: the node stays a member throughout.
    let args = names.each_ref().map(|n| {
        let mut args = fed_args(dir.path(), n, &etcd.endpoint());
        *args.last_mut().unwrap() = "20".into();
        args
    });
    let mut nodes: Vec<Daemon> = (0..2)
        .map(|i| start_node(&args[i], &dir.path().join(format!("{i}.log")), &[]))
        .collect();
    add_demo_tool(&nodes[0]);
    schedule_demo(
        &nodes[0],
        "*/2 * * * * *",
        id,
        &["--mode", "once", "--env", "DEMO_SLEEP=8"],
    );
    let mut running = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            running = (0..2).find_map(|i| {
                let r = runs_of(&nodes[i], id)
                    .into_iter()
                    .find(|r| r.status == RunStatus::Running)?;
                Some((i, r))
            });
            running.is_some()
        }),
        "a run starts\n{}",
        nodes[0].log_text()
    );
    let (i, run) = running.unwrap();
    stop(&mut nodes[i]);
    // Down across two slots, well within the lease: the other node must skip them.
    std::thread::sleep(Duration::from_secs(4));
    nodes[i] = start_node(&args[i], &dir.path().join(format!("{i}-again.log")), &[]);
    // The re-attached run ends, then the federation runs the schedule again.
    let after = eventually(Duration::from_secs(90), || {
        let mut all = runs_of(&nodes[0], id);
        all.extend(runs_of(&nodes[1], id));
        let ended = all
            .iter()
            .find(|r| r.id == run.id)
            .and_then(|r| r.finished_at);
        ended.is_some_and(|end| {
            all.iter()
                .filter(|r| r.status.is_finished() && r.started_at.is_some_and(|s| s >= end))
                .count()
                >= 1
        })
    });
    nodes[0].maoctl_ok(&["schedule", "pause", id]);
    assert!(
        after,
        "run {} re-attached and ended, and a later one ran\n--- restarted node ---\n{}",
        run.id,
        nodes[i].log_text()
    );
    let mut runs = Vec::new();
    assert!(eventually(Duration::from_secs(60), || {
        runs = runs_of(&nodes[0], id);
        runs.extend(runs_of(&nodes[1], id));
        runs.iter().all(|r| r.status.is_finished())
    }));
    let recovered = runs.iter().find(|r| r.id == run.id).unwrap();
    assert_eq!(recovered.status, RunStatus::Succeeded, "{recovered:?}");
    assert_one_at_a_time(&mut runs);
}

/// A running marker nobody can read (written by hand or by another program) does not hold
/// its schedule for ever: the keeper deletes it once it has seen it unchanged twice, and
/// the schedule runs again.
#[test]
fn an_unreadable_running_marker_is_deleted_and_the_schedule_runs_again() {
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let (d, _sweep) = one_node_running(&etcd, dir.path(), "garbled", &["--mode", "once"]);
    etcd.etcdctl_ok(&["put", "/faults/running/garbled", "not a marker"]);
    let put = Utc::now();
    assert!(
        eventually(Duration::from_secs(40), || etcd
            .etcdctl_ok(&["get", "/faults/running/garbled"])
            .trim()
            .is_empty()),
        "the unreadable marker is deleted\n{}",
        d.log_text()
    );
    let deleted = Utc::now();
    let ran = eventually(Duration::from_secs(30), || {
        runs_of(&d, "garbled")
            .iter()
            .any(|r| r.scheduled_at.is_some_and(|s| s > deleted) && r.status.is_finished())
    });
    d.maoctl_ok(&["schedule", "pause", "garbled"]);
    assert!(
        ran,
        "the schedule runs again after {deleted}\n{}",
        d.log_text()
    );
    assert!(d
        .log_text()
        .contains("deleting an unreadable running marker"));
    eprintln!(
        "deleted {} ms after it was written",
        (deleted - put).num_milliseconds()
    );
}

/// D4: after downtime with catch-up all and forbid, every missed slot runs, one after
/// another.
#[test]
fn catch_up_all_runs_every_missed_slot_one_after_another() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("fc");
    let _sweep = container_sweep(&node);
    let data = dir.path().join("d");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--node",
        node.as_str(),
    ];
    let mut d = start_daemon(&args, &dir.path().join("d1.log"));
    add_demo_tool(&d);
    d.maoctl_ok(&[
        "tool",
        "schedule",
        "demo",
        "*/2 * * * * *",
        "--id",
        "catch4",
        "--catch-up",
        "all",
        "--env",
        "DEMO_SLEEP=1",
    ]);
    assert!(eventually(Duration::from_secs(30), || runs_of(
        &d, "catch4"
    )
    .iter()
    .any(|r| r.status == RunStatus::Succeeded)));
    d.kill();
    let down = Utc::now();
    // The daemon is down across 6 slots.
    std::thread::sleep(Duration::from_secs(12));
    let up = Utc::now();
    let d = start_daemon(&args, &dir.path().join("d2.log"));
    let missed: Vec<DateTime<Utc>> = (down.timestamp() + 1..up.timestamp())
        .filter(|s| s % 2 == 0)
        .map(|s| DateTime::from_timestamp(s, 0).unwrap())
        .collect();
    assert!(missed.len() >= 5, "{missed:?}");
    let mut caught = Vec::new();
    let all = eventually(Duration::from_secs(90), || {
        caught = runs_of(&d, "catch4")
            .into_iter()
            .filter(|r| r.scheduled_at.is_some_and(|s| missed.contains(&s)))
            .collect();
        caught.len() == missed.len() && caught.iter().all(|r| r.status.is_finished())
    });
    d.maoctl_ok(&["schedule", "pause", "catch4"]);
    let slots: Vec<_> = caught.iter().map(|r| r.scheduled_at.unwrap()).collect();
    assert!(
        all,
        "every missed slot {missed:?} ran, got {slots:?}\n{}",
        d.log_text()
    );
    caught.sort_by_key(|r| r.started_at);
    for w in caught.windows(2) {
        assert!(w[0].scheduled_at < w[1].scheduled_at, "oldest first");
        assert!(
            w[0].finished_at.unwrap() <= w[1].started_at.unwrap(),
            "one after another: {w:?}"
        );
        assert_eq!(w[1].status, RunStatus::Succeeded);
    }
}

/// D6: while etcd is down, every-node slots run from the node's cached registry.
#[test]
fn every_node_slots_run_while_the_store_is_down() {
    let mut etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let (d, _sweep) = one_node_running(&etcd, dir.path(), "each6", &[]);
    etcd.stop();
    // Slots well past the membership lease's expiry (2 s).
    let from = Utc::now() + chrono::Duration::seconds(4);
    let mut during = Vec::new();
    let ran = eventually(Duration::from_secs(40), || {
        // The API refuses stale reads: list the runs through the node's local records.
        during = local_runs(&d, "each6")
            .into_iter()
            .filter(|r| r.scheduled_at.is_some_and(|s| s > from))
            .filter(|r| r.status == RunStatus::Succeeded)
            .collect();
        during.len() >= 3
    });
    etcd.start();
    assert!(
        ran,
        "slots run while etcd is down: {during:?}\n{}",
        d.log_text()
    );
    assert!(
        eventually(Duration::from_secs(30), || d.get("/readyz").0 == 200),
        "ready again once etcd is back"
    );
    d.maoctl_ok(&["schedule", "pause", "each6"]);
}

/// Run records are this node's own: the API serves them while the store is away.
fn local_runs(d: &Daemon, schedule: &str) -> Vec<RunRecord> {
    let out = d.maoctl(&["-o", "json", "run", "list", "--limit", "1000"]);
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice::<mao_api::List<RunRecord>>(&out.stdout)
        .map(|i| i.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.schedule.as_deref() == Some(schedule))
        .collect()
}

/// D6: once slots this node could not claim while etcd was down are not lost: they
/// follow the catch-up policy once etcd is back (here `all`: every one of them runs).
#[test]
fn once_slots_the_store_kept_from_running_are_caught_up_once_it_is_back() {
    let mut etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let (d, _sweep) = one_node_running(
        &etcd,
        dir.path(),
        "once6",
        &["--mode", "once", "--catch-up", "all"],
    );
    etcd.stop();
    let down = Utc::now();
    // Slots pass while no node can claim them.
    std::thread::sleep(Duration::from_secs(7));
    let up = Utc::now();
    etcd.start();
    let outage: Vec<DateTime<Utc>> = (down.timestamp() + 1..up.timestamp())
        .filter(|s| s % 2 == 0)
        .map(|s| DateTime::from_timestamp(s, 0).unwrap())
        .collect();
    assert!(outage.len() >= 3, "{outage:?}");
    let mut late = Vec::new();
    let caught = eventually(Duration::from_secs(60), || {
        late = local_runs(&d, "once6")
            .into_iter()
            .filter(|r| r.scheduled_at.is_some_and(|s| outage.contains(&s)))
            .collect();
        late.len() >= outage.len() && late.iter().all(|r| r.status.is_finished())
    });
    d.maoctl_ok(&["schedule", "pause", "once6"]);
    let mut slots: Vec<_> = late.iter().map(|r| r.scheduled_at.unwrap()).collect();
    slots.sort();
    assert!(
        caught,
        "every slot of the outage {outage:?} ran once etcd was back: {slots:?}\n{}\n{}",
        d.maoctl_ok(&["schedule", "history", "once6", "--limit", "100"]),
        d.log_text()
    );
    assert_eq!(slots, outage, "each exactly once");
}
