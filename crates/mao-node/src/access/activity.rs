//! The activity log: one JSON line per state-changing request, appended to
//! `<data-dir>/activity.jsonl` and made durable before the next one. Never rewritten; when
//! it outgrows [`ROTATE_AT`] it becomes `activity.jsonl.1` ([`KEPT`] previous files are
//! kept, the oldest dropped).
//!
//! Requests refused before their caller was identified (no token, a token that is not
//! valid, a foreign host, a cross-site request) can come from anyone, as fast as anyone
//! likes: at most [`UNIDENTIFIED_PER_WINDOW`] of them are logged per [`UNIDENTIFIED_WINDOW`],
//! and the rest of a window are counted in one summary entry when it has passed
//! ([`RefusalBudget`]). So a flood shows, and cannot rotate out what token holders did.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use mao_api::auth::Activity;

use super::AccessError;

/// The file name of the log in the data dir.
pub const FILE: &str = "activity.jsonl";

/// Size at which the log is rotated.
pub const ROTATE_AT: u64 = 64 * 1024 * 1024;

/// Rotated files kept besides the current one.
pub const KEPT: usize = 3;

/// `activity.jsonl.N`.
fn rotated(path: &Path, n: usize) -> PathBuf {
    path.with_extension(format!("jsonl.{n}"))
}

/// Most entries one read returns.
pub const MAX_READ: usize = 10_000;

/// What to read back from the log.
#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries of this token name.
    pub who: Option<String>,
    /// At most this many entries, the newest ones (capped at [`MAX_READ`]).
    pub limit: Option<usize>,
}

/// Refusals of unidentified callers logged one by one per window.
pub const UNIDENTIFIED_PER_WINDOW: u64 = 60;

/// The window of [`UNIDENTIFIED_PER_WINDOW`].
pub const UNIDENTIFIED_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Who the summary of refusals that were not logged one by one is from.
pub const UNIDENTIFIED: &str = "unidentified";

/// How many refusals of unidentified callers a window has logged, and what it left out.
/// Pure: every decision takes the time as an argument.
#[derive(Debug, Default)]
pub struct RefusalBudget {
    window: Option<Window>,
}

#[derive(Debug)]
struct Window {
    start: DateTime<Utc>,
    logged: u64,
    /// Refusals left out, by status.
    left_out: std::collections::BTreeMap<u16, u64>,
}

/// What to write for one refusal of an unidentified caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The summary of the window that passed before this refusal, written first.
    pub summary: Option<Activity>,
    /// Whether the refusal itself is logged.
    pub log: bool,
}

impl RefusalBudget {
    /// Counts a refusal with `status` at `now`.
    pub fn admit(&mut self, now: DateTime<Utc>, status: u16) -> Admitted {
        let summary = self.roll(now);
        let window = self.window.get_or_insert_with(|| Window {
            start: now,
            logged: 0,
            left_out: Default::default(),
        });
        let log = window.logged < UNIDENTIFIED_PER_WINDOW;
        if log {
            window.logged += 1;
        } else {
            *window.left_out.entry(status).or_default() += 1;
        }
        Admitted { summary, log }
    }

    /// Ends the window once it has passed at `now`: the summary of what it left out, if
    /// it left anything out.
    pub fn roll(&mut self, now: DateTime<Utc>) -> Option<Activity> {
        let passed = self
            .window
            .as_ref()
            .is_some_and(|w| now >= w.start + UNIDENTIFIED_WINDOW);
        if !passed {
            return None;
        }
        let window = self.window.take()?;
        let total: u64 = window.left_out.values().sum();
        if total == 0 {
            return None;
        }
        // The status most of them got; the message has all of them.
        let (&status, _) = window
            .left_out
            .iter()
            .max_by_key(|(status, n)| (**n, std::cmp::Reverse(**status)))?;
        let by_status: Vec<String> = window
            .left_out
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        Some(Activity {
            at: now,
            who: UNIDENTIFIED.to_owned(),
            role: None,
            method: "-".to_owned(),
            target: format!(
                "{total} more refused requests from unidentified callers in the minute from {} ({})",
                window.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                by_status.join(", ")
            ),
            status,
        })
    }
}

/// The append-only log of one node.
pub struct ActivityLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    budget: Mutex<RefusalBudget>,
}

impl ActivityLog {
    /// Opens (or creates) the log of the data dir `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ActivityLog, AccessError> {
        let path = data_dir.join(FILE);
        let mut file = open_append(&path)?;
        // A line torn by a crash is ended, so the next entry starts a line of its own.
        if ends_torn(&path)? {
            file.write_all(b"\n")
                .map_err(|e| AccessError::io(&path, e))?;
        }
        Ok(ActivityLog {
            path,
            file: Mutex::new(file),
            budget: Mutex::default(),
        })
    }

    /// Appends one entry of an identified caller (or of any caller when auth is off) and
    /// waits until it is on disk. Blocking: call it off the async workers.
    pub fn append(&self, entry: &Activity) -> Result<(), AccessError> {
        let summary = self.budget.lock().expect("budget lock").roll(entry.at);
        self.write(summary.iter().chain([entry]))
    }

    /// Appends the entry of a request refused before its caller was identified, within
    /// the budget of its window (see the module's comment). Blocking.
    pub fn append_unidentified(&self, entry: &Activity) -> Result<(), AccessError> {
        let Admitted { summary, log } = self
            .budget
            .lock()
            .expect("budget lock")
            .admit(entry.at, entry.status);
        self.write(summary.iter().chain(log.then_some(entry)))
    }

    /// Writes the summary of a window of refusals that has passed at `now`, if it left
    /// anything out: called before the log is read, and now and then. Blocking.
    pub fn settle(&self, now: DateTime<Utc>) -> Result<(), AccessError> {
        let summary = self.budget.lock().expect("budget lock").roll(now);
        self.write(summary.iter())
    }

    fn write<'a>(&self, entries: impl Iterator<Item = &'a Activity>) -> Result<(), AccessError> {
        let mut lines = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut lines, entry).expect("an activity serialises");
            lines.push(b'\n');
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut file = self.file.lock().expect("activity lock");
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len >= ROTATE_AT {
            // activity.jsonl.3 goes, .2 becomes .3, .1 becomes .2, the log becomes .1.
            for n in (1..KEPT).rev() {
                let from = rotated(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, n + 1))
                        .map_err(|e| AccessError::io(&from, e))?;
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))
                .map_err(|e| AccessError::io(&self.path, e))?;
            *file = open_append(&self.path)?;
        }
        file.write_all(&lines)
            .and_then(|()| file.sync_data())
            .map_err(|e| AccessError::io(&self.path, e))
    }

    /// The entries that pass `filter`, oldest first (the newest `limit` of them).
    pub fn read(&self, filter: &ActivityFilter) -> Result<Vec<Activity>, AccessError> {
        let limit = filter.limit.unwrap_or(MAX_READ).min(MAX_READ);
        let mut out = std::collections::VecDeque::new();
        let mut paths: Vec<PathBuf> = (1..=KEPT).rev().map(|n| rotated(&self.path, n)).collect();
        paths.push(self.path.clone());
        for path in paths {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AccessError::io(&path, e)),
            };
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(|e| AccessError::io(&path, e))?;
                // A line cut short by a crash is skipped, not fatal.
                let Ok(entry) = serde_json::from_str::<Activity>(&line) else {
                    continue;
                };
                if filter.since.is_some_and(|since| entry.at < since)
                    || filter.who.as_ref().is_some_and(|who| &entry.who != who)
                {
                    continue;
                }
                out.push_back(entry);
                if out.len() > limit {
                    out.pop_front();
                }
            }
        }
        Ok(out.into())
    }
}

fn ends_torn(path: &Path) -> Result<bool, AccessError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| AccessError::io(path, e))?;
    if file.metadata().map_err(|e| AccessError::io(path, e))?.len() == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(|e| AccessError::io(path, e))?;
    Ok(last[0] != b'\n')
}

fn open_append(path: &Path) -> Result<std::fs::File, AccessError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AccessError::io(dir, e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AccessError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mao_api::auth::Role;

    fn entry(who: &str, secs: i64, status: u16) -> Activity {
        Activity {
            at: DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap(),
            who: who.to_owned(),
            role: Some(Role::Admin),
            method: "POST".into(),
            target: "/api/v1/tools".into(),
            status,
        }
    }

    fn refused(secs: i64, status: u16) -> Activity {
        Activity {
            role: None,
            ..entry("anonymous", secs, status)
        }
    }

    #[test]
    fn a_window_logs_sixty_refusals_and_sums_up_the_rest_once_it_has_passed() {
        let at = |secs| entry("x", secs, 0).at;
        let mut budget = RefusalBudget::default();
        // 100 refusals in the first minute (t = 0..50 s): 60 logged, 40 left out.
        for i in 0..100 {
            let status = if i % 4 == 0 { 421 } else { 401 };
            let admitted = budget.admit(at(i / 2), status);
            assert_eq!(admitted.summary, None, "#{i}");
            assert_eq!(admitted.log, i < 60, "#{i}");
        }
        // Not before the minute has passed.
        assert_eq!(budget.roll(at(59)), None);
        // Once it has, one summary, then the next window starts afresh.
        let summary = budget.roll(at(60)).expect("a summary");
        assert_eq!(summary.who, UNIDENTIFIED);
        assert_eq!(
            (summary.at, summary.status, summary.role),
            (at(60), 401, None)
        );
        assert_eq!(
            summary.target,
            "40 more refused requests from unidentified callers in the minute from 2027-01-15T08:00:00Z (401: 30, 421: 10)"
        );
        assert_eq!(budget.roll(at(200)), None, "summed up once");
        let next = budget.admit(at(61), 401);
        assert_eq!(
            next,
            Admitted {
                summary: None,
                log: true
            }
        );
    }

    #[test]
    fn a_window_that_left_nothing_out_has_no_summary() {
        let at = |secs| entry("x", secs, 0).at;
        let mut budget = RefusalBudget::default();
        for i in 0..60 {
            assert!(budget.admit(at(i), 401).log);
        }
        assert_eq!(budget.roll(at(120)), None);
        // The refusal that rolls a full window over carries its summary.
        let mut budget = RefusalBudget::default();
        for i in 0..61 {
            budget.admit(at(0), 401 + (i % 2));
        }
        let admitted = budget.admit(at(75), 401);
        assert!(admitted.log);
        let summary = admitted.summary.expect("a summary");
        assert!(summary.target.starts_with("1 more refused"), "{summary:?}");
        assert_eq!(summary.at, at(75));
    }

    #[test]
    fn a_flood_of_refusals_cannot_push_token_holders_out_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivityLog::open(dir.path()).unwrap();
        log.append(&entry("alice", 0, 201)).unwrap();
        for i in 0..5_000 {
            log.append_unidentified(&refused(i / 100, 401)).unwrap();
        }
        // Read within the minute: nothing is summed up yet.
        log.settle(entry("x", 59, 0).at).unwrap();
        let all = log.read(&ActivityFilter::default()).unwrap();
        assert_eq!(all.len(), 61);
        // The next identified entry after the minute writes the summary before itself.
        log.append(&entry("bob", 70, 204)).unwrap();
        log.settle(entry("x", 80, 0).at).unwrap();
        let all = log.read(&ActivityFilter::default()).unwrap();
        assert_eq!(all.len(), 63, "{:?}", &all[59..]);
        assert_eq!(all[0].who, "alice");
        assert!(all[1..61]
            .iter()
            .all(|e| e.who == "anonymous" && e.status == 401));
        assert_eq!(all[61].who, UNIDENTIFIED);
        assert!(
            all[61]
                .target
                .starts_with("4940 more refused requests from unidentified callers"),
            "{:?}",
            all[61]
        );
        assert_eq!(all[62].who, "bob");
        // A quiet node writes the summary when it settles (the daemon does so every few
        // seconds and before each read).
        for i in 0..61 {
            log.append_unidentified(&refused(100 + i / 10, 401))
                .unwrap();
        }
        log.settle(entry("x", 159, 0).at).unwrap();
        assert_eq!(log.read(&ActivityFilter::default()).unwrap().len(), 63 + 60);
        log.settle(entry("x", 160, 0).at).unwrap();
        let all = log.read(&ActivityFilter::default()).unwrap();
        assert_eq!(all.len(), 63 + 61);
        assert!(all.last().unwrap().target.starts_with("1 more refused"));
    }

    #[test]
    fn entries_are_appended_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivityLog::open(dir.path()).unwrap();
        for (i, who) in ["ci", "alice", "ci", "ci"].into_iter().enumerate() {
            log.append(&entry(who, i as i64, 201)).unwrap();
        }
        // A torn last line (a crash mid-write) does not hide the others.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap()
            .write_all(b"{\"at\":")
            .unwrap();
        let all = log.read(&ActivityFilter::default()).unwrap();
        assert_eq!(all.len(), 4);
        let ci = ActivityFilter {
            who: Some("ci".into()),
            ..Default::default()
        };
        assert_eq!(log.read(&ci).unwrap().len(), 3);
        let recent = ActivityFilter {
            since: Some(entry("x", 2, 0).at),
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(log.read(&recent).unwrap(), vec![entry("ci", 3, 201)]);
        // Reopening appends after what is there.
        drop(log);
        let log = ActivityLog::open(dir.path()).unwrap();
        log.append(&entry("bob", 9, 403)).unwrap();
        assert_eq!(log.read(&ActivityFilter::default()).unwrap().len(), 5);
    }
}
