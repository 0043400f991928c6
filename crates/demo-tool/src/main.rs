//! `mao-demo-tool`: a data collector small enough to build into a `FROM scratch` image.
//!
//! It writes `control-<UTC timestamp>.csv` and `metrics.json` into its data directory, and
//! its environment makes it misbehave on purpose (fail, sleep, flood its output) so that
//! the runtime and the executor can be tested against a real container. Everything is std
//! only, so the static binary needs no libraries and the image needs no registry.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the tool writes unless `DATA_DIR` says otherwise.
const DEFAULT_DATA_DIR: &str = "/usr/src/app/data";
/// The optional input folder; the runtime mounts it read-only.
const DEFAULT_INPUT_DIR: &str = "/usr/src/app/input";
/// Rows of the control file after its first one.
const EXTRA_ROWS: u32 = 2;

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("mao-demo-tool: {message}");
            ExitCode::from(2)
        }
    }
}

/// The tool's behaviour as its environment sets it.
#[derive(Debug)]
struct Settings {
    data_dir: PathBuf,
    input_dir: PathBuf,
    value: f64,
    sleep: Duration,
    exit_code: u8,
    output_bytes: u64,
    stderr_line: Option<String>,
    ticks: u32,
    /// Whether `metrics.json` is written (`DEMO_METRICS=0` turns it off, so that runs on
    /// two nodes touch no common file).
    metrics: bool,
    /// Written as the control file instead of the value (`DEMO_CONTROL_TEXT`), to test
    /// what the orchestrator does with a broken control file.
    control_text: Option<String>,
    /// Written as `metrics.json` instead of the numbers (`DEMO_METRICS_TEXT`).
    metrics_text: Option<String>,
    /// Octal mode of the files written (`DEMO_FILE_MODE=600`), to test that the orchestrator
    /// still reads and commits files a tool kept to itself.
    file_mode: Option<u32>,
    /// A file to write under the data folder (`DEMO_WRITE_FILE`, a relative path such as
    /// `.git/config`), with `DEMO_WRITE_TEXT` as its content: what a tool that tries to
    /// tamper with the dataset's repository does. The tool reports whether the data folder
    /// has a `.git` before it writes.
    write_file: Option<(PathBuf, String)>,
    /// A file under the data folder (`DEMO_ENV_FILE`) to write the tool's `MAO_*`
    /// environment into, one `NAME=value` line each, sorted: what a tool sees of its run.
    env_file: Option<PathBuf>,
    /// Printed on stdout in two writes 300 ms apart, split in its middle
    /// (`DEMO_ECHO_SPLIT`), so that it reaches the orchestrator in two chunks.
    echo_split: Option<String>,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let value: f64 = parsed("DEMO_VALUE")?.unwrap_or(100.0);
        if !value.is_finite() {
            return Err(format!("DEMO_VALUE must be a finite number, not {value}"));
        }
        let sleep: f64 = parsed("DEMO_SLEEP")?.unwrap_or(0.0);
        let sleep = Duration::try_from_secs_f64(sleep)
            .map_err(|_| format!("DEMO_SLEEP must be a number of seconds, not {sleep}"))?;
        Ok(Settings {
            data_dir: env::var_os("DATA_DIR")
                .map_or_else(|| DEFAULT_DATA_DIR.into(), PathBuf::from),
            input_dir: env::var_os("INPUT_DIR")
                .map_or_else(|| DEFAULT_INPUT_DIR.into(), PathBuf::from),
            value,
            sleep,
            exit_code: parsed("DEMO_EXIT")?.unwrap_or(0),
            output_bytes: parsed("DEMO_OUTPUT_BYTES")?.unwrap_or(0),
            stderr_line: env::var("DEMO_STDERR").ok(),
            ticks: parsed("DEMO_TICKS")?.unwrap_or(0),
            metrics: !matches!(
                env::var("DEMO_METRICS").as_deref().map(str::trim),
                Ok("0" | "false" | "off" | "no")
            ),
            control_text: env::var("DEMO_CONTROL_TEXT").ok(),
            metrics_text: env::var("DEMO_METRICS_TEXT").ok(),
            file_mode: match env::var("DEMO_FILE_MODE") {
                Ok(mode) if !mode.trim().is_empty() => Some(
                    u32::from_str_radix(mode.trim(), 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or_else(|| {
                            format!("DEMO_FILE_MODE must be an octal mode, not {mode:?}")
                        })?,
                ),
                _ => None,
            },
            echo_split: env::var("DEMO_ECHO_SPLIT").ok(),
            env_file: env::var_os("DEMO_ENV_FILE").map(PathBuf::from),
            write_file: env::var_os("DEMO_WRITE_FILE").map(|path| {
                (
                    PathBuf::from(path),
                    env::var("DEMO_WRITE_TEXT").unwrap_or_default(),
                )
            }),
        })
    }
}

/// The value of `name` parsed, `None` when unset or empty.
fn parsed<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match env::var(name) {
        Ok(raw) if raw.trim().is_empty() => Ok(None),
        Ok(raw) => raw
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} has an invalid value {raw:?}")),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid unicode")),
    }
}

fn run() -> Result<u8, String> {
    let settings = Settings::from_env()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();

    if let Some(line) = &settings.stderr_line {
        // One write: `eprintln!` writes the line and its newline apart (stderr is not
        // buffered), and another stream's output could land between them in the log.
        let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    }
    if settings.input_dir.is_dir() {
        report_input(&mut out, &settings.input_dir).map_err(|e| format!("stdout: {e}"))?;
    }
    for tick in 1..=settings.ticks {
        // Flushed one by one, so a follower of the logs sees each tick as it happens.
        writeln!(out, "tick {tick}/{}", settings.ticks)
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        thread::sleep(Duration::from_millis(100));
    }
    if let Some(text) = &settings.echo_split {
        let middle = (1..text.len())
            .find(|i| *i >= text.len() / 2 && text.is_char_boundary(*i))
            .unwrap_or(text.len());
        let (first, second) = text.split_at(middle);
        write!(out, "echo: {first}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        thread::sleep(Duration::from_millis(300));
        writeln!(out, "{second}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
    }
    if let Some((rel, text)) = &settings.write_file {
        write_extra(&mut out, &settings.data_dir, rel, text)?;
    }
    if let Some(rel) = &settings.env_file {
        let mut lines: Vec<String> = env::vars()
            .filter(|(k, _)| k.starts_with("MAO_"))
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        lines.sort();
        write_extra(&mut out, &settings.data_dir, rel, &lines.concat())?;
    }
    write_filler(&mut out, settings.output_bytes).map_err(|e| format!("stdout: {e}"))?;
    thread::sleep(settings.sleep);

    let control = write_data(&settings)?;
    writeln!(
        out,
        "mao-demo-tool: wrote {} and metrics.json in {} (control={}, rows={}), exit code {}",
        control.display(),
        settings.data_dir.display(),
        settings.value,
        EXTRA_ROWS + 1,
        settings.exit_code
    )
    .and_then(|()| out.flush())
    .map_err(|e| format!("stdout: {e}"))?;
    Ok(settings.exit_code)
}

/// Says whether the data folder holds a `.git`, then writes `text` to `rel` under it.
fn write_extra(
    out: &mut impl Write,
    data_dir: &Path,
    rel: &Path,
    text: &str,
) -> Result<(), String> {
    let git = if data_dir.join(".git").exists() {
        "present"
    } else {
        "absent"
    };
    writeln!(out, "mao-demo-tool: data .git is {git}").map_err(|e| format!("stdout: {e}"))?;
    let path = data_dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(out, "mao-demo-tool: wrote {}", rel.display()).map_err(|e| format!("stdout: {e}"))
}

/// Proves whether the input folder is writable, then names what it holds.
fn report_input(out: &mut impl Write, input_dir: &Path) -> io::Result<()> {
    let probe = input_dir.join("probe");
    match File::create(&probe) {
        Ok(_) => {
            // Left behind, the probe would become part of somebody's input.
            let _ = fs::remove_file(&probe);
            writeln!(out, "input probe write: succeeded")?;
        }
        Err(e) => writeln!(out, "input probe write: failed: {e}")?,
    }
    let mut names: Vec<String> = match fs::read_dir(input_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return writeln!(out, "input listing failed: {e}"),
    };
    names.sort();
    for name in names {
        writeln!(out, "input file: {name}")?;
    }
    Ok(())
}

/// Writes exactly `total` bytes of newline-terminated text without holding more than one
/// block, so a flood of 100 MB costs the tool 64 KB.
fn write_filler(out: &mut impl Write, total: u64) -> io::Result<()> {
    if total == 0 {
        return Ok(());
    }
    let block = filler_block(655);
    let mut left = total;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()
}

/// `lines` lines of 100 bytes each, newline included.
fn filler_block(lines: usize) -> Vec<u8> {
    let mut line = b"mao-demo-tool filler ".to_vec();
    line.resize(99, b'.');
    line.push(b'\n');
    line.repeat(lines)
}

/// Writes the control file and the metrics; returns the control file's name.
fn write_data(settings: &Settings) -> Result<PathBuf, String> {
    let (data_dir, value) = (settings.data_dir.as_path(), settings.value);
    fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the clock is before 1970".to_string())?;
    let stamp = utc_stamp(now.as_secs(), now.subsec_millis());
    let (name, mut file) = create_unique(data_dir, &stamp)
        .map_err(|e| format!("create a control file in {}: {e}", data_dir.display()))?;
    let mut csv = format!("{value},control\n");
    for row in 1..=EXTRA_ROWS {
        csv.push_str(&format!("{row},row\n"));
    }
    if let Some(text) = &settings.control_text {
        csv = text.clone();
    }
    file.write_all(csv.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write {name}: {e}"))?;

    if settings.metrics {
        let json = match &settings.metrics_text {
            Some(text) => text.clone(),
            None => format!("{{\"control\": {value}, \"rows\": {}}}\n", EXTRA_ROWS + 1),
        };
        let metrics_path = data_dir.join("metrics.json");
        fs::write(&metrics_path, json)
            .map_err(|e| format!("write {}: {e}", metrics_path.display()))?;
        set_mode(&metrics_path, settings.file_mode)?;
    }
    set_mode(&data_dir.join(&name), settings.file_mode)?;
    Ok(PathBuf::from(name))
}

/// Gives `path` the mode `DEMO_FILE_MODE` asks for, if it does.
fn set_mode(path: &Path, mode: Option<u32>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match mode {
        Some(mode) => fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", path.display())),
        None => Ok(()),
    }
}

/// Creates `control-<stamp>.csv`, or `control-<stamp>-<n>.csv` when two runs share the
/// same millisecond, never overwriting an earlier run's file.
fn create_unique(dir: &Path, stamp: &str) -> io::Result<(String, File)> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("control-{stamp}.csv")
        } else {
            format!("control-{stamp}-{n}.csv")
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(&name))
        {
            Ok(file) => return Ok((name, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        ErrorKind::AlreadyExists,
        "every candidate name is taken",
    ))
}

/// `20261123T184501.123Z` for the given seconds and milliseconds since the epoch.
fn utc_stamp(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), because std has no calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_and_sortable() {
        assert_eq!(utc_stamp(0, 0), "19700101T000000.000Z");
        assert_eq!(utc_stamp(951_782_400, 7), "20000229T000000.007Z");
        assert_eq!(utc_stamp(1_735_689_599, 999), "20241231T235959.999Z");
        assert_eq!(utc_stamp(1_795_459_501, 42), "20261123T184501.042Z");
        assert_eq!(utc_stamp(4_102_444_800, 0), "21000101T000000.000Z");
        assert_eq!(utc_stamp(253_402_300_799, 0), "99991231T235959.000Z");
    }

    #[test]
    fn civil_dates_round_the_leap_years() {
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        // 2100 is not a leap year: February 28 is followed by March 1.
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    #[test]
    fn filler_has_the_exact_length_in_lines() {
        let mut out = Vec::new();
        write_filler(&mut out, 200_123).unwrap();
        assert_eq!(out.len(), 200_123);
        assert!(out[..200_100]
            .split(|b| *b == b'\n')
            .all(|line| line.len() <= 99));
        assert_eq!(out[99], b'\n');
    }
}
