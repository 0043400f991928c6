//! What every scenario measures: a writer per site, the runs of a schedule on every site and
//! its claims in etcd, the `run_failed` notifications, and the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mao_api::{Notification, RunRecord, RunStatus};
use mao_testkit::netns::Federation;
use serde_json::Value;

/// How long one API call of the test may take (a frozen or partitioned site never answers).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause between two writes of one writer.
const WRITE_EVERY: Duration = Duration::from_millis(250);

/// A site's API as the test reaches it: its URL and its admin token.
#[derive(Clone, Debug)]
pub struct Api {
    pub url: String,
    pub token: String,
}

impl Api {
    /// The API of site `index` of `federation`.
    pub fn of(federation: &Federation, index: usize) -> Api {
        let site = federation.site(index);
        Api {
            url: site.url(),
            token: site.token.clone(),
        }
    }

    /// One request; `Err` when no answer came (refused, timed out), else the status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), String> {
        let agent = ureq::AgentBuilder::new()
            .timeout(CALL_TIMEOUT)
            .redirects(0)
            .build();
        let request = agent
            .request(method, &format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("X-Mao-Client", "federation-test");
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        match result {
            Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
            Err(ureq::Error::Status(code, r)) => Ok((code, r.into_string().unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// GET `path` answered 200, parsed; `None` otherwise.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Option<T> {
        match self.call("GET", path, None) {
            Ok((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// A request that must answer `status`, retried until it does (the federation may still
    /// be electing); panics with the last answer after 60 s.
    pub fn must(&self, method: &str, path: &str, body: Option<&Value>, status: u16) -> String {
        let mut last = String::new();
        let mut answer = None;
        let ok = mao_testkit::wait_until(Duration::from_secs(60), || {
            match self.call(method, path, body) {
                Ok((code, text)) if code == status => {
                    answer = Some(text);
                    return true;
                }
                Ok((code, text)) => last = format!("{code} {text}"),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
            false
        });
        assert!(
            ok,
            "{method} {}{path}: never {status}; last: {last}",
            self.url
        );
        answer.unwrap_or_default()
    }

    /// Every run this site keeps of schedule `schedule`; `None` if the site does not answer.
    pub fn runs_of(&self, schedule: &str) -> Option<Vec<RunRecord>> {
        let list: mao_api::List<RunRecord> = self.get_json("/api/v1/runs?limit=1000")?;
        Some(
            list.items
                .into_iter()
                .filter(|r| r.schedule.as_deref() == Some(schedule))
                .collect(),
        )
    }

    /// This site's history of schedule `schedule` (its newest 1,000 slots).
    pub fn history(&self, schedule: &str) -> Option<Vec<mao_api::SlotRecord>> {
        let list: mao_api::List<mao_api::SlotRecord> =
            self.get_json(&format!("/api/v1/schedules/{schedule}/history?limit=1000"))?;
        Some(list.items)
    }

    /// Every dataset name this site serves; `None` if it does not answer.
    pub fn dataset_names(&self) -> Option<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/datasets?limit=1000&after={a}"),
                None => "/api/v1/datasets?limit=1000".to_owned(),
            };
            let page: Value = self.get_json(&path)?;
            for item in page["items"].as_array()? {
                names.insert(item["name"].as_str()?.to_owned());
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return Some(names),
            }
        }
    }
}

/// An acknowledged (2xx) registry write.
#[derive(Clone, Debug)]
pub struct Acked {
    pub name: String,
    pub at: Instant,
    pub site: usize,
}

/// One writer thread per site: creates datasets of distinct names against its site while
/// the site is marked up, and keeps the acknowledged ones.
pub struct Writers {
    stop: Arc<AtomicBool>,
    /// Per site: whether its writer writes now (a site the scenario knows is down is skipped).
    pub up: Vec<Arc<AtomicBool>>,
    /// Per site: when it was last marked up (a site's recovery is counted from then).
    up_since: Mutex<Vec<Instant>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    failed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Writers {
    /// Starts a writer for every site of `apis`; names are `<tag>-s<site>-<n>`.
    pub fn start(apis: &[Api], tag: &str) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicU64::new(0));
        let mut up = Vec::new();
        let mut threads = Vec::new();
        for (site, api) in apis.iter().enumerate() {
            let flag = Arc::new(AtomicBool::new(true));
            up.push(flag.clone());
            let (stop, acked, failed, api) =
                (stop.clone(), acked.clone(), failed.clone(), api.clone());
            let tag = tag.to_owned();
            threads.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if flag.load(Ordering::Relaxed) {
                        n += 1;
                        let name = format!("{tag}-s{site}-{n}");
                        let body = serde_json::json!({
                            "name": name,
                            "master": format!("https://example.org/{name}.git"),
                        });
                        match api.call("POST", "/api/v1/datasets", Some(&body)) {
                            Ok((code, _)) if (200..300).contains(&code) => {
                                acked.lock().unwrap().push(Acked {
                                    name,
                                    at: Instant::now(),
                                    site,
                                });
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::sleep(WRITE_EVERY);
                }
            }));
        }
        let up_since = Mutex::new(vec![Instant::now(); apis.len()]);
        Writers {
            stop,
            up,
            up_since,
            acked,
            failed,
            threads,
        }
    }

    /// Marks site `index` up or down for its writer.
    pub fn set_up(&self, index: usize, up: bool) {
        if up && !self.up[index].load(Ordering::Relaxed) {
            self.up_since.lock().unwrap()[index] = Instant::now();
        }
        self.up[index].store(up, Ordering::Relaxed);
    }

    /// Whether every site marked up had a write acknowledged after `since`.
    pub fn all_up_wrote_since(&self, since: Instant) -> bool {
        let acked = self.acked.lock().unwrap();
        (0..self.up.len())
            .filter(|i| self.up[*i].load(Ordering::Relaxed))
            .all(|i| acked.iter().any(|a| a.site == i && a.at >= since))
    }

    /// Seconds from `since` until every site marked up had a write acknowledged; a site
    /// marked up again later (its daemon restarted) counts from then.
    pub fn recovery_since(&self, since: Instant) -> Option<f64> {
        let acked = self.acked.lock().unwrap();
        let up_since = self.up_since.lock().unwrap();
        (0..self.up.len())
            .filter(|i| self.up[*i].load(Ordering::Relaxed))
            .map(|i| {
                let from = since.max(up_since[i]);
                acked
                    .iter()
                    .filter(|a| a.site == i && a.at >= from)
                    .map(|a| a.at)
                    .min()
                    .map(|at| (at - from).as_secs_f64())
            })
            .try_fold(0.0f64, |worst, s| s.map(|s| worst.max(s)))
    }

    /// Stops every writer; returns the acknowledged writes and the count of the others.
    pub fn finish(mut self) -> (Vec<Acked>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let acked = self.acked.lock().unwrap().clone();
        (acked, self.failed.load(Ordering::Relaxed))
    }
}

/// Acknowledged writes that some site does not serve, once every site had 30 s to catch up.
pub fn lost_writes(apis: &[Api], acked: &[Acked]) -> (usize, Vec<String>) {
    let wanted: BTreeSet<&str> = acked.iter().map(|a| a.name.as_str()).collect();
    let mut missing: BTreeSet<String> = BTreeSet::new();
    mao_testkit::wait_until(Duration::from_secs(30), || {
        missing.clear();
        for (i, api) in apis.iter().enumerate() {
            match api.dataset_names() {
                Some(names) => missing.extend(
                    wanted
                        .iter()
                        .filter(|w| !names.contains(**w))
                        .map(|w| format!("{w}@s{i}")),
                ),
                None => {
                    missing.insert(format!("(site {i} does not answer)"));
                }
            }
        }
        missing.is_empty()
    });
    let lost: BTreeSet<&str> = missing
        .iter()
        .filter_map(|m| m.split('@').next())
        .filter(|m| wanted.contains(m))
        .collect();
    (lost.len(), missing.into_iter().take(10).collect())
}

/// A claim of a slot in etcd.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Claim {
    pub node: String,
    #[serde(default)]
    pub run_id: Option<String>,
}

/// The claims of schedule `schedule` in etcd: slot -> claim (empty if etcd does not answer).
pub fn claims(federation: &Federation, schedule: &str) -> BTreeMap<DateTime<Utc>, Claim> {
    let out = federation.etcdctl(&["get", "--prefix", &format!("/mao/claims/{schedule}/")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut claims = BTreeMap::new();
    for pair in lines.chunks(2) {
        if let [key, value] = pair {
            let slot = key.rsplit('/').next().and_then(|s| s.parse().ok());
            if let (Some(slot), Ok(claim)) = (slot, serde_json::from_str(value)) {
                claims.insert(slot, claim);
            }
        }
    }
    claims
}

/// Whether a run has ended.
pub fn finished(run: &RunRecord) -> bool {
    !matches!(run.status, RunStatus::Queued | RunStatus::Running)
}

/// Slot counts of a schedule over every site's runs.
#[derive(Debug, Default)]
pub struct SlotCounts {
    pub expected: usize,
    pub zero: Vec<DateTime<Utc>>,
    pub twice: Vec<DateTime<Utc>>,
}

/// Runs per slot, from every site's runs (each site's list once).
pub fn per_slot(runs: &[RunRecord]) -> BTreeMap<DateTime<Utc>, Vec<&RunRecord>> {
    let mut map: BTreeMap<DateTime<Utc>, Vec<&RunRecord>> = BTreeMap::new();
    for run in runs {
        if let Some(slot) = run.scheduled_at {
            map.entry(slot).or_default().push(run);
        }
    }
    map
}

/// Every `period_s`-second slot in `[from, to]`.
pub fn slots_between(from: DateTime<Utc>, to: DateTime<Utc>, period_s: i64) -> Vec<DateTime<Utc>> {
    let first = from.timestamp().div_euclid(period_s) * period_s;
    let mut slots = Vec::new();
    let mut t = first;
    while t <= to.timestamp() {
        let slot = DateTime::from_timestamp(t, 0).expect("a valid time");
        if slot >= from {
            slots.push(slot);
        }
        t += period_s;
    }
    slots
}

/// `once` counts: each expected slot must have exactly one run in the federation.
pub fn once_counts(runs: &[RunRecord], expected: &[DateTime<Utc>]) -> SlotCounts {
    let by_slot = per_slot(runs);
    SlotCounts {
        expected: expected.len(),
        zero: expected
            .iter()
            .filter(|s| !by_slot.contains_key(s))
            .copied()
            .collect(),
        twice: by_slot
            .iter()
            .filter(|(_, r)| r.len() > 1)
            .map(|(s, _)| *s)
            .collect(),
    }
}

/// `run_failed` notifications of `runs` that failed: (failed runs, lost, doubled), once the
/// shared store had 30 s to publish them.
pub fn notification_counts(api: &Api, runs: &[RunRecord]) -> (usize, usize, usize) {
    let failed: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost
            )
        })
        .collect();
    let mut result = (failed.len(), usize::MAX, usize::MAX);
    mao_testkit::wait_until(Duration::from_secs(30), || {
        let Some(list) = api.get_json::<mao_api::List<Notification>>(
            "/api/v1/notifications?kind=run_failed&limit=1000",
        ) else {
            return false;
        };
        let mut per_run: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &list.items {
            if let Some(run) = n.run_id.as_deref() {
                *per_run.entry(run).or_default() += 1;
            }
        }
        let lost = failed
            .iter()
            .filter(|r| !per_run.contains_key(r.id.as_str()))
            .count();
        let doubled = failed
            .iter()
            .map(|r| {
                per_run
                    .get(r.id.as_str())
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(1)
            })
            .sum();
        result = (failed.len(), lost, doubled);
        lost == 0
    });
    result
}

/// Seconds from `since` to the start of the first run that started at or after it.
pub fn slot_recovery(runs: &[RunRecord], since: DateTime<Utc>) -> Option<f64> {
    runs.iter()
        .filter_map(|r| r.started_at.or(Some(r.queued_at)))
        .filter(|t| *t >= since)
        .min()
        .map(|t| (t - since).num_milliseconds() as f64 / 1000.0)
}

/// The p50 and p99, in ms, of `lag` over the runs where it is under 5 s (the
/// scheduler's on-time tolerance: late catch-up runs are not lag).
pub fn lag_percentiles(
    runs: &[RunRecord],
    lag: impl Fn(&RunRecord) -> Option<chrono::Duration>,
) -> (Option<i64>, Option<i64>) {
    let mut lags: Vec<i64> = runs
        .iter()
        .filter_map(|r| Some(lag(r)?.num_milliseconds()))
        .filter(|ms| (0..5_000).contains(ms))
        .collect();
    lags.sort_unstable();
    let at = |q: f64| -> Option<i64> {
        let last = lags.len().checked_sub(1)?;
        Some(lags[((last as f64) * q).round() as usize])
    };
    (at(0.5), at(0.99))
}

/// One row of the report.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub scenario: String,
    pub slots_expected: usize,
    pub slots_zero: usize,
    pub slots_twice: usize,
    pub writes_acked: usize,
    pub writes_failed: u64,
    pub writes_lost: usize,
    pub failed_runs: usize,
    pub notifications_lost: usize,
    pub notifications_doubled: usize,
    pub write_recovery_s: Option<f64>,
    pub slot_recovery_s: Option<f64>,
    /// Start lag (`started_at - scheduled_at`) of the runs fired on time (lag under the
    /// scheduler's 5 s on-time tolerance; late catch-up runs are not lag), p50 and p99, ms.
    #[serde(default)]
    pub lag_p50_ms: Option<i64>,
    #[serde(default)]
    pub lag_p99_ms: Option<i64>,
    /// The same for the scheduler's part alone: the slot to the run being queued (claim
    /// protocol included, the container's creation and start not).
    #[serde(default)]
    pub fire_p50_ms: Option<i64>,
    #[serde(default)]
    pub fire_p99_ms: Option<i64>,
    /// The daemon's whole part: the slot to the start request sent to the Engine
    /// (`dispatched_at`); the start lag adds the Engine's own start of the container.
    #[serde(default)]
    pub dispatch_p50_ms: Option<i64>,
    #[serde(default)]
    pub dispatch_p99_ms: Option<i64>,
    /// Scenario-specific checks that failed (empty: all held).
    pub problems: Vec<String>,
    pub seconds: f64,
}

impl Row {
    /// Whether every count that must be 0 is, and every check held.
    pub fn passed(&self) -> bool {
        self.slots_zero == 0
            && self.slots_twice == 0
            && self.writes_lost == 0
            && self.notifications_lost == 0
            && self.notifications_doubled == 0
            && self.write_recovery_s.is_some()
            && self.slot_recovery_s.is_some()
            && self.problems.is_empty()
    }

    /// Writes this row next to the others and renders the report from all of them; then
    /// prints the report and asserts the zeros.
    pub fn record_and_assert(self) {
        let dir = report_dir();
        std::fs::create_dir_all(&dir).expect("cannot create the report dir");
        std::fs::write(
            dir.join(format!("{}.json", self.scenario)),
            serde_json::to_vec_pretty(&self).unwrap(),
        )
        .expect("cannot write a report row");
        let report = render(&dir);
        let path = dir.parent().unwrap().join("federation-report.md");
        std::fs::write(&path, &report).expect("cannot write the report");
        eprintln!("{report}");
        assert!(
            self.passed(),
            "scenario {} broke a promise: {self:#?}",
            self.scenario
        );
    }
}

/// `target/federation-report.d`: one JSON row per scenario (`scripts/test-federation.sh`
/// empties it before a run).
pub fn report_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash>
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .expect("a cargo target dir");
    target.join("federation-report.d")
}

fn percentiles(p50: Option<i64>, p99: Option<i64>) -> String {
    match (p50, p99) {
        (Some(p50), Some(p99)) => format!("{p50}/{p99}"),
        _ => "-".to_owned(),
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "never".to_owned(), |s| format!("{s:.1}"))
}

/// The markdown table of every row in `dir`.
pub fn render(dir: &std::path::Path) -> String {
    let mut rows: Vec<Row> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    let mut out = String::from(
        "# Federation under faults\n\n\
         3 sites (network namespaces), each with an etcd member and a daemon; a `once` schedule \
         every 2 s of a tool that fails on purpose (one `run_failed` per run), a writer per \
         site creating datasets. Must be 0: slots run 0 times, slots run twice, acknowledged \
         writes lost, notifications lost or doubled.\n\n\
         | scenario | result | slots | 0 runs | twice | writes acked | writes failed | acked lost | failed runs | notif. lost | notif. doubled | write recovery s | slot recovery s | start lag p50/p99 ms | dispatch lag p50/p99 ms | fire lag p50/p99 ms | checks failed | scenario s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
            r.scenario,
            if r.passed() { "pass" } else { "**FAIL**" },
            r.slots_expected,
            r.slots_zero,
            r.slots_twice,
            r.writes_acked,
            r.writes_failed,
            r.writes_lost,
            r.failed_runs,
            r.notifications_lost,
            r.notifications_doubled,
            secs(r.write_recovery_s),
            secs(r.slot_recovery_s),
            percentiles(r.lag_p50_ms, r.lag_p99_ms),
            percentiles(r.dispatch_p50_ms, r.dispatch_p99_ms),
            percentiles(r.fire_p50_ms, r.fire_p99_ms),
            if r.problems.is_empty() {
                "-".to_owned()
            } else {
                r.problems.join("; ").replace('|', "/")
            },
            r.seconds,
        ));
    }
    out
}
