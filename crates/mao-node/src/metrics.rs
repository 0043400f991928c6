//! Control metrics a run wrote into its data folder: the newest `control-*.csv` (first
//! cell of its first row; files ordered by name, as the original does) and `metrics.json`
//! (an object of named numbers). Parsing is pure and unit-tested; reading is blocking IO,
//! called on a blocking thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The metric name of the control file's value.
pub const CONTROL: &str = "control";
/// Most metrics kept from one `metrics.json`.
pub const MAX_METRICS: usize = 64;
/// Largest metrics file read.
const MAX_FILE: u64 = 1 << 20;

/// What a run wrote, and why some of it could not be used.
#[derive(Debug, Default, PartialEq)]
pub struct Collected {
    pub values: BTreeMap<String, f64>,
    pub problems: Vec<String>,
}

/// The number in the first cell of the first row of a control file.
pub fn parse_control(text: &str) -> Result<f64, String> {
    let first_line = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty())
        .ok_or("it is empty")?;
    let cell = first_line
        .split([',', ';', '\t'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    // The cell is never quoted: a control file may hold anything, a secret included.
    let value: f64 = cell
        .parse()
        .map_err(|_| "its first cell is not a number".to_owned())?;
    if !value.is_finite() {
        return Err("its first cell is not a finite number".into());
    }
    Ok(value)
}

/// The named numbers of a `metrics.json` object; entries that are not finite numbers are
/// skipped and named in the problems.
pub fn parse_metrics_json(text: &str) -> Result<(BTreeMap<String, f64>, Vec<String>), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        // Where, not what: serde's message may quote the text.
        format!(
            "it is not JSON (error at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err("it is not a JSON object of named numbers".into());
    };
    let mut out = BTreeMap::new();
    let mut skipped = Vec::new();
    for (position, (name, v)) in map.into_iter().enumerate() {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        match v.as_f64() {
            Some(x) if ok_name && x.is_finite() && out.len() < MAX_METRICS => {
                out.insert(name, x);
            }
            // An unusable name is not quoted (it may be anything); a usable one is a
            // metric's name, as the record shows it.
            _ if !ok_name => skipped.push(format!(
                "entry {} has a name that is not a usable metric name (1 to 64 letters, digits, '.', '_', '-')",
                position + 1
            )),
            Some(_) if out.len() >= MAX_METRICS => skipped.push(format!(
                "{name:?} is beyond the first {MAX_METRICS} metrics"
            )),
            _ => skipped.push(format!("{name:?} is not a finite number")),
        }
    }
    Ok((out, skipped))
}

/// The `control-*.csv` files of a folder, ordered by name.
pub fn control_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("control-") && name.ends_with(".csv")
            })
            .map(|e| e.path())
            .filter(|p| is_regular(p))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// A regular file, not a symbolic link: a tool must not make the daemon read files
/// outside its data folder (a link to `/proc/self/environ` would leak the daemon's
/// secrets into the run's record).
fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

fn read_small(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !is_regular(path) {
        return Err("it is not a regular file (links are not followed)".into());
    }
    // O_NOFOLLOW: the file cannot be swapped for a link between the check and the read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read it ({e})"))?;
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it ({e})"))?;
    if text.len() as u64 > MAX_FILE {
        return Err(format!("it is larger than {MAX_FILE} bytes"));
    }
    Ok(text)
}

fn written_since(path: &Path, since: Option<SystemTime>) -> bool {
    let Some(since) = since else { return true };
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|m| m >= since)
}

/// Reads what a run wrote into `dir`. Files older than `since` (the run's start, less a
/// little slack) are not the run's and are not read as its metrics.
pub fn collect(dir: &Path, since: Option<SystemTime>) -> Collected {
    let mut c = Collected::default();
    let files = control_files(dir);
    match files.last() {
        Some(newest) if written_since(newest, since) => {
            let name = newest.file_name().unwrap_or_default().to_string_lossy();
            match read_small(newest).and_then(|t| parse_control(&t)) {
                Ok(v) => {
                    c.values.insert(CONTROL.to_owned(), v);
                }
                Err(e) => c.problems.push(format!("{name}: {e}")),
            }
        }
        Some(newest) => c.problems.push(format!(
            "the run wrote no new control-*.csv (the newest, {}, is older than the run)",
            newest.file_name().unwrap_or_default().to_string_lossy()
        )),
        None => {}
    }
    let json = dir.join("metrics.json");
    if std::fs::symlink_metadata(&json).is_ok() && written_since(&json, since) {
        match read_small(&json).and_then(|t| parse_metrics_json(&t)) {
            Ok((values, skipped)) => {
                for (k, v) in values {
                    match c.values.get(&k) {
                        None => {
                            c.values.insert(k, v);
                        }
                        Some(same) if *same == v => {}
                        Some(csv) => c.problems.push(format!(
                            "metrics.json: {k:?} = {v} is ignored: the control file says {csv}"
                        )),
                    }
                }
                c.problems
                    .extend(skipped.into_iter().map(|s| format!("metrics.json: {s}")));
            }
            Err(e) => c.problems.push(format!("metrics.json: {e}")),
        }
    }
    c
}

/// Values of the control files in `dir` other than the newest, oldest first: the history
/// a metric starts with when the node has none (the original's snapshots). Unreadable
/// files are skipped.
pub fn seed_history(dir: &Path) -> Vec<(String, f64)> {
    let mut files = control_files(dir);
    files.pop();
    files
        .iter()
        .filter_map(|f| {
            let v = read_small(f).and_then(|t| parse_control(&t)).ok()?;
            Some((f.file_name()?.to_string_lossy().into_owned(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_values() {
        assert_eq!(parse_control("42,control\n1,row\n"), Ok(42.0));
        assert_eq!(parse_control("\u{feff} 3.5 ;x"), Ok(3.5));
        assert_eq!(parse_control("\n\n-7\n"), Ok(-7.0));
        assert_eq!(parse_control("\"12\",a"), Ok(12.0));
        assert!(parse_control("").unwrap_err().contains("empty"));
        assert!(parse_control("value,x\n1\n")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_control("NaN").unwrap_err().contains("finite"));
        assert!(parse_control("inf,1").unwrap_err().contains("finite"));
    }

    #[test]
    fn metrics_json() {
        let (m, skipped) =
            parse_metrics_json(r#"{"rows": 3, "temp": -1.5, "name": "x", "bad key": 1}"#).unwrap();
        assert_eq!(
            m,
            BTreeMap::from([("rows".into(), 3.0), ("temp".into(), -1.5)])
        );
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(parse_metrics_json("[1,2]").unwrap_err().contains("object"));
        assert!(parse_metrics_json("{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn collect_reads_the_newest_control_file_and_metrics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("control-20260101.csv"), "1\n").unwrap();
        std::fs::write(dir.path().join("control-20260102.csv"), "2\n").unwrap();
        std::fs::write(dir.path().join("control-20260103.csv"), "nope\n").unwrap();
        std::fs::write(
            dir.path().join("metrics.json"),
            r#"{"control": 9, "rows": 3}"#,
        )
        .unwrap();
        let c = collect(dir.path(), None);
        assert_eq!(c.values.get("rows"), Some(&3.0));
        // The control file is unusable, so metrics.json's "control" stands.
        assert_eq!(c.values.get(CONTROL), Some(&9.0), "{c:?}");
        assert_eq!(c.problems.len(), 1, "{c:?}");
        assert!(c.problems[0].starts_with("control-20260103.csv"), "{c:?}");
        assert_eq!(
            seed_history(dir.path()),
            vec![
                ("control-20260101.csv".to_owned(), 1.0),
                ("control-20260102.csv".to_owned(), 2.0)
            ]
        );
        // A link is never followed, whatever it points at.
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("control-20260104.csv"))
            .unwrap();
        std::fs::remove_file(dir.path().join("metrics.json")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("metrics.json")).unwrap();
        let c = collect(dir.path(), None);
        assert!(!c.values.contains_key(CONTROL), "{c:?}");
        assert!(
            c.problems.iter().any(|p| p.contains("not a regular file")),
            "{c:?}"
        );
        std::fs::remove_file(dir.path().join("control-20260104.csv")).unwrap();
        // Files from before the run are not its metrics.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        let c = collect(dir.path(), Some(later));
        assert!(c.values.is_empty());
        assert!(c.problems[0].contains("no new control"), "{c:?}");
    }

    #[test]
    fn problems_name_the_file_never_its_content() {
        let secret = "hunter2-s3cr3t";
        for (control, json) in [
            (
                format!("{secret},x\n"),
                format!("{{\"{secret} x\": 1, \"ok\": \"{secret}\"}}"),
            ),
            (format!("\"{secret}\"\n"), format!("{{\"a\": {secret}}}")),
            ("inf\n".to_owned(), format!("[\"{secret}\"]")),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("control-1.csv"), &control).unwrap();
            std::fs::write(dir.path().join("metrics.json"), &json).unwrap();
            let c = collect(dir.path(), None);
            assert!(c.problems.len() >= 2, "{c:?}");
            assert!(c.problems[0].starts_with("control-1.csv: "), "{c:?}");
            assert!(
                c.problems[1..]
                    .iter()
                    .all(|p| p.starts_with("metrics.json: ")),
                "{c:?}"
            );
            for problem in &c.problems {
                assert!(!problem.contains("hunter2"), "{problem}");
            }
        }
    }
}
