//! The activity log: one JSON line per state-changing request, appended to
//! `<data-dir>/activity.jsonl` and made durable before the next one. Never rewritten; when
//! it outgrows [`ROTATE_AT`] it becomes `activity.jsonl.1` ([`KEPT`] previous files are
//! kept, the oldest dropped).

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

/// The append-only log of one node.
pub struct ActivityLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
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
        })
    }

    /// Appends one entry and waits until it is on disk. Blocking: call it off the async
    /// workers.
    pub fn append(&self, entry: &Activity) -> Result<(), AccessError> {
        let mut line = serde_json::to_vec(entry).expect("an activity serialises");
        line.push(b'\n');
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
        file.write_all(&line)
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
