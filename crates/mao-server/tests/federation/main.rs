//! The federation under faults, with sites as separate hosts: three network namespaces on a
//! bridge, each with its own etcd member and daemon (`mao_testkit::netns`), one fault per
//! scenario. Each scenario counts what the federation promised and writes its row of
//! `target/federation-report.md`; all counts but the recovery seconds must be 0.
//!
//! Not part of `cargo test --workspace` (`test = false`): it needs root and takes minutes.
//! `scripts/test-federation.sh` builds what it needs and runs it; by hand:
//! `cargo build -p maoctl -p demo-tool -p mao-server && cargo test -p mao-server --test federation -- --test-threads=1`.

mod join;
mod measure;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mao_api::{RunRecord, SlotOutcome};
use mao_testkit::docker::ensure_demo_image;
use mao_testkit::netns::{admin_token, Federation, FederationOptions};
use mao_testkit::wait_until as eventually;
use measure::{
    claims, finished, once_counts, per_slot, slot_recovery, slots_between, Api, Row, SlotCounts,
    Writers,
};
use serde_json::json;

/// Seconds between two slots of the scenarios' schedules (`*/2 * * * * *`).
const PERIOD_S: i64 = 2;
const CRON: &str = "*/2 * * * * *";
/// Seconds a node's membership lease lives.
const MEMBERSHIP_TTL: u64 = 3;
/// How long the federation may take to recover from a fault before the scenario records
/// "never".
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);
/// The schedule of every scenario.
const SCHEDULE: &str = "faults";

fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mao-orchestrator"))
}

/// A scenario in progress: the federation, the writers, the schedule.
struct Bench {
    name: &'static str,
    fed: Federation,
    apis: Vec<Api>,
    writers: Option<Writers>,
    started: Instant,
    /// When the schedule was created.
    created: DateTime<Utc>,
    problems: Vec<String>,
}

impl Bench {
    /// Starts 3 sites, registers the failing tool and starts the writers.
    fn start(name: &'static str, daemon_env: Vec<(usize, String, String)>) -> Bench {
        ensure_demo_image();
        let started = Instant::now();
        let fed = Federation::start(
            &daemon_bin(),
            FederationOptions {
                sites: 3,
                membership_ttl: MEMBERSHIP_TTL,
                daemon_args: [
                    "--run-network",
                    "none",
                    "--run-retention",
                    "1000",
                    "--max-concurrent-runs",
                    "4",
                ]
                .map(String::from)
                .to_vec(),
                daemon_env,
            },
        );
        let apis: Vec<Api> = (0..fed.sites.len()).map(|i| Api::of(&fed, i)).collect();
        // Every run fails on purpose: each one must raise exactly one run_failed.
        let tool = json!({
            "name": "fail", "author": "mao", "image": "mao/demo-tool:latest",
            "data_repo": "https://example.org/data.git", "code_repo": "https://example.org/code.git",
            "artefact": "demo", "env": {"DEMO_EXIT": "3", "DEMO_METRICS": "0"},
        });
        apis[0].must("POST", "/api/v1/tools", Some(&tool), 201);
        for api in &apis {
            api.must("GET", "/api/v1/tools/fail", None, 200);
        }
        let writers = Writers::start(&apis, name);
        Bench {
            name,
            fed,
            apis,
            writers: Some(writers),
            started,
            created: Utc::now(),
            problems: Vec::new(),
        }
    }

    fn writers(&self) -> &Writers {
        self.writers.as_ref().expect("the writers run")
    }

    /// Creates the scenario's schedule of the failing tool on site 0 and waits until every
    /// site holds it.
    fn schedule(&mut self, mode: &str, concurrency: &str) {
        let body = json!({
            "tool": "fail", "cron": CRON, "id": SCHEDULE, "mode": mode,
            "concurrency": concurrency, "catch_up": "all", "starting_deadline": "2m",
        });
        self.created = Utc::now();
        self.apis[0].must("POST", "/api/v1/schedules", Some(&body), 201);
        for api in &self.apis {
            api.must("GET", &format!("/api/v1/schedules/{SCHEDULE}"), None, 200);
        }
    }

    /// The schedule's runs on each site that answers (an empty list for one that does not).
    fn runs_by_site(&self) -> Vec<Vec<RunRecord>> {
        self.apis
            .iter()
            .map(|api| api.runs_of(SCHEDULE).unwrap_or_default())
            .collect()
    }

    fn all_runs(&self) -> Vec<RunRecord> {
        self.runs_by_site().into_iter().flatten().collect()
    }

    /// Waits until `n` slots at or after `since` have a run somewhere; whether they did.
    fn wait_fired_since(&self, since: DateTime<Utc>, n: usize) -> bool {
        eventually(RECOVERY_LIMIT, || {
            let fired = per_slot(&self.all_runs()).range(since..).count() >= n;
            if !fired {
                std::thread::sleep(Duration::from_millis(300));
            }
            fired
        })
    }

    /// Marks the end of the fault now; returns it as an instant and as a time.
    fn fault_end(&self) -> (Instant, DateTime<Utc>) {
        (Instant::now(), Utc::now())
    }

    /// Waits (up to [`RECOVERY_LIMIT`]) until every site marked up accepted a write after
    /// `end` and 4 slots after it fired; records a problem if not.
    fn wait_recovered(&mut self, end: (Instant, DateTime<Utc>)) {
        let writes = eventually(RECOVERY_LIMIT, || self.writers().all_up_wrote_since(end.0));
        let slots = self.wait_fired_since(end.1, 4);
        if !writes {
            self.problems.push(format!(
                "a site took no write within {RECOVERY_LIMIT:?} of the fault's end"
            ));
        }
        if !slots {
            self.problems.push(format!(
                "4 slots did not fire within {RECOVERY_LIMIT:?} of the fault's end"
            ));
        }
    }

    /// Pauses the schedule (through the first site that answers) and waits until no run of
    /// it is queued or running on any site; returns when it was paused.
    fn pause_and_settle(&mut self) -> DateTime<Utc> {
        let path = format!("/api/v1/schedules/{SCHEDULE}/pause");
        let paused = eventually(RECOVERY_LIMIT, || {
            self.apis
                .iter()
                .any(|api| matches!(api.call("POST", &path, None), Ok((200, _))))
        });
        assert!(paused, "no site paused the schedule");
        let at = Utc::now();
        let settled = eventually(Duration::from_secs(90), || {
            let done = self.all_runs().iter().all(finished);
            if !done {
                std::thread::sleep(Duration::from_millis(300));
            }
            done
        });
        if !settled {
            self.problems
                .push("runs still queued or running 90 s after the pause".into());
        }
        at
    }

    /// The slots every scenario expects to have run: from just after the schedule was
    /// created to a few seconds before it was paused.
    fn window(&self, paused: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        slots_between(
            self.created + chrono::Duration::seconds(2),
            paused - chrono::Duration::seconds(3),
            PERIOD_S,
        )
    }

    /// Ends the scenario: counts slots with `count` (given every site's runs plus `extra`
    /// and the expected window), acknowledged writes, notifications; records the row and
    /// asserts its zeros.
    fn finish(
        mut self,
        end: (Instant, DateTime<Utc>),
        paused: DateTime<Utc>,
        extra: Vec<RunRecord>,
        count: impl Fn(&[Vec<RunRecord>], &[DateTime<Utc>]) -> Counted,
    ) {
        let write_recovery = self.writers().recovery_since(end.0);
        let (acked, failed) = self.writers.take().expect("the writers run").finish();
        let mut by_site = self.runs_by_site();
        by_site.push(extra);
        let window = self.window(paused);
        let (counts, slot_recovery_s) = count(&by_site, &window);
        let all: Vec<RunRecord> = by_site.iter().flatten().cloned().collect();
        let (failed_runs, notifications_lost, notifications_doubled) =
            measure::notification_counts(&self.apis[0], &all);
        let (writes_lost, missing) = measure::lost_writes(&self.apis, &acked);
        if let Some(silent) = missing.iter().find(|m| m.starts_with("(site")) {
            self.problems
                .push(format!("acknowledged writes not verified: {silent}"));
        }
        if writes_lost > 0 {
            self.problems
                .push(format!("acknowledged writes missing: {missing:?}"));
        }
        if !counts.zero.is_empty() || !counts.twice.is_empty() {
            let claims = claims(&self.fed, SCHEDULE);
            let about = |slots: &[DateTime<Utc>]| -> Vec<String> {
                slots
                    .iter()
                    .map(|s| match claims.get(s) {
                        Some(c) => format!("{s} (claim {} run {:?})", c.node, c.run_id),
                        None => format!("{s} (no claim)"),
                    })
                    .collect()
            };
            eprintln!(
                "{}: slots with 0 runs: {:?}; slots run twice: {:?}",
                self.name,
                about(&counts.zero),
                about(&counts.twice)
            );
            // What each site recorded for those slots (fired, skipped or missed, and why).
            let wanted: BTreeSet<_> = counts.zero.iter().chain(&counts.twice).collect();
            for (i, api) in self.apis.iter().enumerate() {
                for record in api.history(SCHEDULE).unwrap_or_default() {
                    if wanted.contains(&record.slot) {
                        eprintln!(
                            "  site {i}: {} {:?} run {:?}: {}",
                            record.slot,
                            record.outcome,
                            record.run_id,
                            record.reason.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
        }
        let (lag_p50_ms, lag_p99_ms) =
            measure::lag_percentiles(&all, |r| Some(r.started_at? - r.scheduled_at?));
        let (fire_p50_ms, fire_p99_ms) =
            measure::lag_percentiles(&all, |r| Some(r.queued_at - r.scheduled_at?));
        let (dispatch_p50_ms, dispatch_p99_ms) =
            measure::lag_percentiles(&all, |r| Some(r.dispatched_at? - r.scheduled_at?));
        let row = Row {
            lag_p50_ms,
            lag_p99_ms,
            fire_p50_ms,
            fire_p99_ms,
            dispatch_p50_ms,
            dispatch_p99_ms,
            scenario: self.name.to_owned(),
            slots_expected: counts.expected,
            slots_zero: counts.zero.len(),
            slots_twice: counts.twice.len(),
            writes_acked: acked.len(),
            writes_failed: failed,
            writes_lost,
            failed_runs,
            notifications_lost,
            notifications_doubled,
            write_recovery_s: write_recovery,
            slot_recovery_s,
            problems: std::mem::take(&mut self.problems),
            seconds: self.started.elapsed().as_secs_f64(),
        };
        if !row.passed() {
            for (i, site) in self.fed.sites.iter().enumerate() {
                eprintln!(
                    "site {i} ({}) data dir {}",
                    site.node,
                    site.data_dir.display()
                );
            }
            eprintln!("logs under {}", self.fed.dir().display());
            // Keep the logs of a failed scenario for whoever reads the report.
            let keep = measure::report_dir().join(format!("{}-logs", self.name));
            let _ = std::fs::create_dir_all(&keep);
            if let Ok(entries) = std::fs::read_dir(self.fed.dir()) {
                for entry in entries.filter_map(Result::ok) {
                    if entry.path().extension().is_some_and(|e| e == "log") {
                        let _ = std::fs::copy(entry.path(), keep.join(entry.file_name()));
                    }
                }
            }
        }
        row.record_and_assert();
    }
}

/// What a scenario's counting gives: the slot counts and the seconds to the first run.
type Counted = (SlotCounts, Option<f64>);

/// `once` counting: every expected slot exactly once in the federation; recovery is the
/// first run started after the fault's end.
fn once_mode(end: DateTime<Utc>) -> impl Fn(&[Vec<RunRecord>], &[DateTime<Utc>]) -> Counted {
    move |by_site, window| {
        let all: Vec<RunRecord> = by_site.iter().flatten().cloned().collect();
        (once_counts(&all, window), slot_recovery(&all, end))
    }
}

/// The common shape of the etcd scenarios: `fault` takes members down and returns the
/// members to start again once the federation recovered (or, with `restart_first`, at
/// the fault's end).
fn etcd_scenario(name: &'static str, fault: impl FnOnce(&mut Bench) -> (Vec<usize>, bool)) {
    let mut bench = Bench::start(name, Vec::new());
    bench.schedule("once", "allow");
    assert!(
        bench.wait_fired_since(bench.created, 2),
        "{name}: the schedule never fired before the fault"
    );
    let (down, restart_first) = fault(&mut bench);
    if restart_first {
        for member in &down {
            bench.fed.start_etcd(*member);
        }
    }
    let end = bench.fault_end();
    bench.wait_recovered(end);
    if !restart_first {
        for member in &down {
            bench.fed.start_etcd(*member);
        }
    }
    bench.fed.wait_etcd_healthy(RECOVERY_LIMIT);
    // Every site's member is back: the read-back after recovery may use any of them.
    let paused = bench.pause_and_settle();
    bench.finish(end, paused, Vec::new(), once_mode(end.1));
}

/// The etcd leader is killed; the other two elect a new one (recovery is measured from the
/// kill, the member comes back after).
#[test]
fn etcd_leader_killed() {
    etcd_scenario("etcd-leader-killed", |bench| {
        let leader = bench
            .fed
            .etcd_leader()
            .expect("the etcd cluster has a leader");
        bench.fed.kill_etcd(leader);
        (vec![leader], false)
    });
}

/// A follower member is killed; quorum is kept throughout.
#[test]
fn etcd_follower_killed() {
    etcd_scenario("etcd-follower-killed", |bench| {
        let leader = bench
            .fed
            .etcd_leader()
            .expect("the etcd cluster has a leader");
        let follower = (leader + 1) % 3;
        bench.fed.kill_etcd(follower);
        (vec![follower], false)
    });
}

/// Two of three members are killed (quorum lost) for 3 slots, then started again; recovery
/// is measured from the restart.
#[test]
fn etcd_quorum_lost_and_regained() {
    etcd_scenario("etcd-quorum-lost", |bench| {
        let leader = bench
            .fed
            .etcd_leader()
            .expect("the etcd cluster has a leader");
        let down = vec![(leader + 1) % 3, (leader + 2) % 3];
        for member in &down {
            bench.fed.kill_etcd(*member);
        }
        let lost = Utc::now();
        // The outage: 3 slots pass with no quorum (the fault's length, not a synchronisation).
        std::thread::sleep(Duration::from_secs(3 * PERIOD_S as u64));
        let unready = bench
            .apis
            .iter()
            .all(|api| !matches!(api.call("GET", "/readyz", None), Ok((200, _))));
        if !unready {
            bench.problems.push(format!(
                "a site answered /readyz 200 {:.1} s into the quorum loss",
                (Utc::now() - lost).num_milliseconds() as f64 / 1000.0
            ));
        }
        (down, true)
    });
}

/// Site 2 is cut off from the others (and from the test) for 10 s, then healed.
#[test]
fn site_partitioned_and_healed() {
    let mut bench = Bench::start("site-partitioned", Vec::new());
    bench.schedule("once", "allow");
    assert!(
        bench.wait_fired_since(bench.created, 2),
        "the schedule never fired"
    );
    bench.writers().set_up(2, false);
    bench.fed.partition(2);
    std::thread::sleep(Duration::from_secs(10));
    bench.fed.heal(2);
    let end = bench.fault_end();
    bench.writers().set_up(2, true);
    bench.wait_recovered(end);
    let paused = bench.pause_and_settle();
    bench.finish(end, paused, Vec::new(), once_mode(end.1));
}

/// Site 1's daemon is frozen (SIGSTOP) until its lease expired and a second daemon took its
/// name, then let go on (SIGCONT): it must not run slots as that node any more, must not
/// answer `/readyz` 200, and must exit non-zero (the name is held by a live daemon).
#[test]
fn daemon_frozen_past_its_lease() {
    let mut bench = Bench::start("daemon-frozen", Vec::new());
    bench.schedule("once", "allow");
    assert!(
        bench.wait_fired_since(bench.created, 2),
        "the schedule never fired"
    );
    let node = bench.fed.site(1).node.clone();
    bench.writers().set_up(1, false);
    bench.fed.stop_daemon(1);
    let expired = eventually(RECOVERY_LIMIT, || {
        let nodes: Option<mao_api::List<serde_json::Value>> =
            bench.apis[0].get_json("/api/v1/nodes");
        let gone = nodes.is_some_and(|l| l.items.iter().all(|n| n["name"].as_str() != Some(&node)));
        if !gone {
            std::thread::sleep(Duration::from_millis(200));
        }
        gone
    });
    assert!(expired, "the frozen daemon's membership never expired");
    let second_dir = bench.fed.dir().join("second");
    std::fs::create_dir_all(&second_dir).unwrap();
    let second_token = admin_token(&daemon_bin(), &second_dir);
    let mut second = bench.fed.launch_daemon(1, &node, &second_dir, 8081, &[]);
    let second_api = Api {
        url: second.url.clone(),
        token: second_token,
    };
    let mut old = bench.fed.take_daemon(1).expect("site 1's daemon");
    // SAFETY: kill(2) on the pid of the frozen daemon, a child of ours.
    unsafe {
        libc::kill(old.pid() as i32, libc::SIGCONT);
    }
    let end = bench.fault_end();
    let mut ready_200 = 0;
    let exited = eventually(Duration::from_secs(20), || {
        if old.try_exit_status().is_some() {
            return true;
        }
        if let Ok((200, _)) = bench.apis[1].call("GET", "/readyz", None) {
            ready_200 += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        false
    });
    match old.try_exit_status() {
        Some(status) if !status.success() => {}
        Some(status) => bench
            .problems
            .push(format!("the fenced daemon exited with {status}, not non-zero")),
        None => bench.problems.push(format!(
            "the old daemon still runs 20 s after SIGCONT although {node} is held by another live daemon"
        )),
    }
    let _ = exited;
    if ready_200 > 0 {
        bench.problems.push(format!(
            "the old daemon answered /readyz 200 {ready_200} times after SIGCONT without holding its name"
        ));
    }
    bench.wait_recovered(end);
    let paused = bench.pause_and_settle();
    let settled = eventually(Duration::from_secs(90), || {
        second_api
            .runs_of(SCHEDULE)
            .is_some_and(|r| r.iter().all(finished))
    });
    assert!(settled, "the second daemon's runs did not settle");
    let second_runs = second_api
        .runs_of(SCHEDULE)
        .expect("the second daemon answers");
    second.kill();
    // The old daemon's runs are in its data dir, which `finish` lists at site 1's address:
    // through the old daemon while it still runs, else through one started again on that
    // data dir (the name is free again). `old` lives until the end of the test.
    if old.try_exit_status().is_some() {
        bench.fed.start_daemon(1);
        bench.apis[1].must("GET", "/api/v1/runs?limit=1", None, 200);
    }
    bench.finish(end, paused, second_runs, once_mode(end.1));
    drop(old);
}

/// Site 1's daemon dies (SIGKILL) after it created a once-claim and before it started the
/// run (the `after_claim` failpoint holds it there for 3 s): another node must run the slot.
#[test]
fn daemon_killed_between_claim_and_start() {
    let env = vec![(
        1,
        "MAO_FAILPOINTS".to_owned(),
        "after_claim=3000".to_owned(),
    )];
    let mut bench = Bench::start("killed-between-claim-and-start", env);
    bench.schedule("once", "allow");
    assert!(
        bench.wait_fired_since(bench.created, 1),
        "the schedule never fired"
    );
    let node = bench.fed.site(1).node.clone();
    let mut slot = None;
    let seen = eventually(Duration::from_secs(40), || {
        slot = claims(&bench.fed, SCHEDULE)
            .into_iter()
            .find(|(_, c)| c.node == node && c.run_id.is_none())
            .map(|(s, _)| s);
        slot.is_some()
    });
    let end;
    if seen {
        bench.fed.kill_daemon(1);
        end = bench.fault_end();
        bench.writers().set_up(1, false);
        let slot = slot.expect("the claimed slot");
        let taken = eventually(RECOVERY_LIMIT, || {
            let ran = bench
                .all_runs()
                .iter()
                .any(|r| r.scheduled_at == Some(slot));
            if !ran {
                std::thread::sleep(Duration::from_millis(300));
            }
            ran
        });
        if !taken {
            bench.problems.push(format!(
                "slot {slot}, claimed by {node} which died before starting it, was run by no other node within {RECOVERY_LIMIT:?}"
            ));
        }
        bench.fed.set_daemon_env(1, &[]);
        bench.fed.start_daemon(1);
        bench.writers().set_up(1, true);
    } else {
        end = bench.fault_end();
        bench.problems.push(format!(
            "no claim by {node} without a run was seen in 40 s: the after_claim failpoint (MAO_FAILPOINTS) does not hold the claimer"
        ));
    }
    bench.wait_recovered(end);
    let paused = bench.pause_and_settle();
    bench.finish(end, paused, Vec::new(), once_mode(end.1));
}

/// Site 1's daemon is down across 6 slots of an every-node schedule with `--catch-up all`
/// and the default `forbid`: back up, it runs every missed slot, each once.
#[test]
fn node_down_across_six_slots_catches_up_all() {
    let mut bench = Bench::start("catch-up-all", Vec::new());
    bench.schedule("every-node", "forbid");
    let fired_everywhere = eventually(RECOVERY_LIMIT, || {
        let ok = bench.runs_by_site().iter().all(|r| per_slot(r).len() >= 2);
        if !ok {
            std::thread::sleep(Duration::from_millis(300));
        }
        ok
    });
    assert!(fired_everywhere, "the schedule never fired on every site");
    bench.fed.kill_daemon(1);
    let killed = Utc::now();
    bench.writers().set_up(1, false);
    // Down until 6 slots passed, as site 0 saw them fire.
    let passed = eventually(RECOVERY_LIMIT, || {
        let runs = bench.apis[0].runs_of(SCHEDULE).unwrap_or_default();
        let n = per_slot(&runs).range(killed..).count();
        if n < 6 {
            std::thread::sleep(Duration::from_millis(200));
        }
        n >= 6
    });
    assert!(passed, "site 0 did not fire 6 slots while site 1 was down");
    let restarted = Utc::now();
    bench.fed.start_daemon(1);
    let end = bench.fault_end();
    bench.writers().set_up(1, true);
    let missed = slots_between(
        killed + chrono::Duration::milliseconds(1),
        restarted,
        PERIOD_S,
    );
    let caught_up = eventually(RECOVERY_LIMIT, || {
        let runs = bench.apis[1].runs_of(SCHEDULE).unwrap_or_default();
        let by_slot = per_slot(&runs);
        let all = missed.iter().all(|s| by_slot.contains_key(s));
        if !all {
            std::thread::sleep(Duration::from_millis(300));
        }
        all
    });
    if !caught_up {
        bench.problems.push(format!(
            "site 1 did not run all {} missed slots within {RECOVERY_LIMIT:?}",
            missed.len()
        ));
    }
    bench.wait_recovered(end);
    let paused = bench.pause_and_settle();
    // Which slots each site skipped on purpose: forbid skips a slot while the previous run
    // is going (a loaded engine may start a run late), which the policy allows for a slot on
    // time, never for a missed slot that catch-up all must run.
    let forbid_skips: Vec<BTreeSet<DateTime<Utc>>> = bench
        .apis
        .iter()
        .map(|api| {
            api.history(SCHEDULE)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| {
                    r.outcome == SlotOutcome::Skipped
                        && r.reason
                            .as_deref()
                            .is_some_and(|w| w.contains("concurrency forbid"))
                })
                .map(|r| r.slot)
                .collect()
        })
        .collect();
    let end_utc = end.1;
    bench.finish(end, paused, Vec::new(), move |by_site, window| {
        let mut counts = SlotCounts::default();
        for (site, runs) in by_site.iter().enumerate().take(3) {
            let by_slot = per_slot(runs);
            counts
                .twice
                .extend(by_slot.iter().filter(|(_, r)| r.len() > 1).map(|(s, _)| *s));
            counts.expected += window.len();
            counts.zero.extend(window.iter().filter(|s| {
                let missed_here = site == 1 && missed.contains(s);
                !by_slot.contains_key(s) && (missed_here || !forbid_skips[site].contains(s))
            }));
        }
        (counts, slot_recovery(&by_site[1], end_utc))
    });
}
