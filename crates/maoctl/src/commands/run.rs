//! Running tools and following their runs: `maoctl tool run` and `maoctl run ...`.

use std::io::{self, IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use mao_api::{RunRecord, RunRequest, RunStatus};
use mao_client::Client;

use crate::app::{not_found, note, now_ms, write_stdout, OutputFormat, Printer, UsageError};
use crate::args::{parse_status, validate_name, validate_ulid, RunOverrides};
use crate::progress::Spinner;
use crate::render;
use crate::render::run::unsuccessful;
use crate::render::table::{one_line, truncate};

/// Examples of `maoctl run`, shown by its help.
pub const RUN_EXAMPLES: &str = "\
Examples:
  maoctl run list
  maoctl run list --tool demo-tool --status failed --limit 5
  maoctl run get 01J9Z8X7W6V5T4S3R2Q1P0NMKH
  maoctl run logs -f 01J9Z8X7W6V5T4S3R2Q1P0NMKH
  maoctl run cancel 01J9Z8X7W6V5T4S3R2Q1P0NMKH";

/// `maoctl run ...`
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// List the node's runs, newest first
    #[command(
        after_help = "Examples:\n  maoctl run list\n  maoctl run list --tool demo-tool --status failed --limit 5\n  maoctl run list -o json | jq -r '.items[].id'"
    )]
    List {
        /// Only the runs of this tool
        #[arg(long, value_name = "NAME")]
        tool: Option<String>,
        /// Only the runs in this status (queued, running, succeeded, failed, timed_out, cancelled, lost)
        #[arg(long, value_name = "STATUS", value_parser = parse_status)]
        status: Option<RunStatus>,
        /// At most this many runs (1 to 1000; the daemon's default is 50)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: Option<u64>,
    },
    /// Show every field of one run
    #[command(
        after_help = "Examples:\n  maoctl run get 01J9Z8X7W6V5T4S3R2Q1P0NMKH\n  maoctl run get 01J9Z8X7W6V5T4S3R2Q1P0NMKH -o json | jq .status"
    )]
    Get {
        /// Id of the run, as `maoctl run list` shows it
        id: String,
    },
    /// Print a run's output (stdout and stderr of its container)
    #[command(
        after_help = "Examples:\n  maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKH\n  maoctl run logs -f 01J9Z8X7W6V5T4S3R2Q1P0NMKH | grep -i error"
    )]
    Logs {
        /// Id of the run, as `maoctl run list` shows it
        id: String,
        /// Keep printing while the run is active; return when it has ended
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Stop a queued or running run (its container is killed)
    #[command(after_help = "Example:\n  maoctl run cancel 01J9Z8X7W6V5T4S3R2Q1P0NMKH")]
    Cancel {
        /// Id of the run, as `maoctl run list` shows it
        id: String,
    },
}

impl RunCommand {
    /// Checks names and run ids before connecting.
    pub fn validate(&self) -> Result<(), UsageError> {
        match self {
            RunCommand::List {
                tool: Some(tool), ..
            } => validate_name("--tool", tool),
            RunCommand::List { tool: None, .. } => Ok(()),
            RunCommand::Get { id } | RunCommand::Logs { id, .. } | RunCommand::Cancel { id } => {
                validate_run_id(id).map_err(UsageError)
            }
        }
    }
}

/// The help of `maoctl tool run` after its options.
pub const TOOL_RUN_HELP: &str = "\
Examples:
  maoctl tool run demo-tool
  maoctl tool run demo-tool --follow --env DEMO_VALUE=42 --timeout 5m --memory 256m
  maoctl tool run weather-scraper -- python scrape.py --city Zurich
  id=$(maoctl tool run demo-tool --detach) && maoctl run logs -f \"$id\"
  maoctl tool run demo-tool -o json | jq .exit_code

Without --detach, maoctl waits for the run to end and prints a report; the exit status is
0 if the run succeeded and 1 otherwise. Ctrl-C stops waiting, not the run: it keeps
going on the node; `maoctl run get ID` shows it, `maoctl run cancel ID` stops it.
With -o json and --follow, the log goes to standard error and the final record to
standard output.";

/// Arguments of `maoctl tool run`.
#[derive(Debug, Args)]
pub struct ToolRun {
    /// Name of the tool
    pub name: String,

    #[command(flatten)]
    pub overrides: RunOverrides,

    /// Print the run's id (its queued record with -o json) and return at once
    #[arg(short = 'd', long, conflicts_with = "follow")]
    pub detach: bool,
    /// Copy the run's log to standard output while it runs
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// How long each long poll of `GET /api/v1/runs/{id}/wait` asks to wait.
const WAIT_POLL: Duration = Duration::from_secs(30);

/// The wait only ends early when the run ends, so a spinner that shows the run's status
/// asks more often while the run is queued, to see it start.
const QUEUED_POLL: Duration = Duration::from_secs(1);

/// Checks that `id` looks like a run id (a ULID: 26 characters of Crockford's base 32).
pub fn validate_run_id(id: &str) -> Result<(), String> {
    validate_ulid(id, "a run id", "maoctl run list")
}

/// The body of `POST /api/v1/tools/{name}/runs` from `maoctl tool run`'s arguments,
/// validated as the server would.
pub fn run_request(run: &ToolRun) -> anyhow::Result<RunRequest> {
    let request = run.overrides.request()?;
    request.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(request)
}

/// `maoctl tool run`.
pub fn tool_run(client: &Client, out: &Printer, run: ToolRun) -> anyhow::Result<()> {
    let request = run_request(&run)?;
    let queued = client
        .start_run(&run.name, &request)
        .map_err(not_found("maoctl tool list shows the registered tools"))?;
    if run.detach {
        // The bare id, so that `id=$(maoctl tool run x -d)` works.
        return out.done(&queued, &queued.id);
    }
    let id = queued.id.clone();
    if io::stderr().is_terminal() {
        note(&format!(
            "run {id} of {} queued; Ctrl-C stops waiting, not the run",
            queued.tool
        ));
    }
    let record = if run.follow {
        follow_log(client, &id, out.format)?;
        wait_until_finished(client, queued, None)?
    } else {
        let spinner = Spinner::start(spinner_label(&queued));
        wait_until_finished(client, queued, spinner.as_ref())?
    };
    out.item(&record, render::run::run_report)?;
    match failure(&record) {
        None => Ok(()),
        Some(message) => Err(anyhow::anyhow!(message)),
    }
}

/// Long-polls until the run has ended, keeping the spinner's label up to date.
fn wait_until_finished(
    client: &Client,
    mut record: RunRecord,
    spinner: Option<&Spinner>,
) -> anyhow::Result<RunRecord> {
    while !record.status.is_finished() {
        let mut poll = WAIT_POLL;
        if let Some(spinner) = spinner {
            spinner.set_label(spinner_label(&record));
            if record.status == RunStatus::Queued {
                poll = QUEUED_POLL;
            }
        }
        record = client.wait_run(&record.id, poll).with_context(|| {
            format!(
                "waiting for run {} (it goes on; maoctl run get {} shows it later)",
                record.id, record.id
            )
        })?;
    }
    Ok(record)
}

fn spinner_label(record: &RunRecord) -> String {
    format!(
        "run {} of {}: {}",
        record.id,
        truncate(&one_line(&record.tool), 24),
        record.status.as_str()
    )
}

/// Copies the run's log as it is written, to stdout, or to stderr when stdout carries JSON.
fn follow_log(client: &Client, id: &str, format: OutputFormat) -> anyhow::Result<()> {
    let reader = client.run_logs(id, true)?;
    let last = match format {
        OutputFormat::Table => copy_stream(reader, &mut io::stdout().lock(), id)?,
        OutputFormat::Json => copy_stream(reader, &mut io::stderr().lock(), id)?,
    };
    // The report starts on a line of its own, a blank line below the log.
    if format == OutputFormat::Table && last.is_some() {
        let end = if last == Some(b'\n') { "\n" } else { "\n\n" };
        write_stdout(end)?;
    } else if format == OutputFormat::Json && last.is_some_and(|b| b != b'\n') {
        note("");
    }
    Ok(())
}

/// Copies `reader` to `writer` chunk by chunk, flushing each, and returns the last byte
/// copied. A write error (a closed pipe) comes back as such; a read error says whose log.
fn copy_stream(
    mut reader: impl Read,
    writer: &mut impl Write,
    id: &str,
) -> anyhow::Result<Option<u8>> {
    let mut buf = vec![0; 64 * 1024];
    let mut last = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(last),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // As text, so that a reset connection is never taken for a closed stdout.
            Err(e) => anyhow::bail!("the log of run {id} was cut off: {e}"),
        };
        writer.write_all(&buf[..n])?;
        writer.flush()?;
        last = Some(buf[n - 1]);
    }
}

/// Why the run counts as a failure, for stderr; `None` when it succeeded.
pub fn failure(record: &RunRecord) -> Option<String> {
    let what = unsuccessful(record.status)?;
    let id = &record.id;
    Some(match (&record.error, record.exit_code) {
        (Some(error), _) => format!("run {id} {what}: {error}"),
        (None, Some(code)) => format!("run {id} {what}: the tool exited with code {code}"),
        (None, None) => format!("run {id} {what}"),
    })
}

/// Runs `maoctl run ...`.
pub fn run(client: &Client, out: &Printer, command: RunCommand) -> anyhow::Result<()> {
    let not_found_hint = not_found("maoctl run list shows this node's runs");
    match command {
        RunCommand::List {
            tool,
            status,
            limit,
        } => {
            let runs = client.list_runs(tool.as_deref(), status, limit.map(|l| l as usize))?;
            let empty = if tool.is_some() || status.is_some() {
                "no runs match"
            } else {
                "no runs on this node"
            };
            let now = now_ms();
            out.list(runs, empty, |runs| render::run::runs_table(runs, now))
        }
        RunCommand::Get { id } => {
            let record = client.get_run(&id).map_err(not_found_hint)?;
            out.item(&record, |r| render::run::run_details(r, now_ms()))
        }
        RunCommand::Logs { id, follow } => {
            let reader = client.run_logs(&id, follow).map_err(not_found_hint)?;
            copy_stream(reader, &mut io::stdout().lock(), &id)?;
            Ok(())
        }
        RunCommand::Cancel { id } => {
            let record = client.cancel_run(&id).map_err(not_found_hint)?;
            out.done(&record, &cancel_message(&record))
        }
    }
}

fn cancel_message(record: &RunRecord) -> String {
    let id = &record.id;
    match record.status {
        RunStatus::Cancelled => format!("cancelled run {id}"),
        status if status.is_finished() => {
            format!(
                "run {id} ended {} before it could be cancelled",
                status.as_str()
            )
        }
        _ => format!("asked run {id} to stop; it has not ended yet (maoctl run get {id} shows it)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing;

    fn tool_run_args(args: &[&str]) -> ToolRun {
        testing::args(args).unwrap()
    }

    fn record(status: RunStatus, exit_code: Option<i64>, error: Option<&str>) -> RunRecord {
        let mut record: RunRecord = serde_json::from_value(serde_json::json!({
            "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "tool": "demo",
            "node": "n",
            "trigger": "manual",
            "image": "mao/demo:1",
            "data_dir": "/d",
            "status": "queued",
            "queued_at": "2024-05-01T12:00:00Z",
            "log_path": "/l",
        }))
        .unwrap();
        record.status = status;
        record.exit_code = exit_code;
        record.error = error.map(str::to_owned);
        record
    }

    #[test]
    fn run_ids_are_ulids() {
        for good in [
            "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "01j9z8x7w6v5t4s3r2q1p0nmkh",
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            assert_eq!(validate_run_id(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "01J9Z8X7W6V5T4S3R2Q1P0NMK",
            "01J9Z8X7W6V5T4S3R2Q1P0NMKHX",
            "01J9Z8X7W6V5T4S3R2Q1P0NMKI",
            "01J9Z8X7W6V5T4S3R2Q1P0NMKU",
            "81J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "01J9Z8X7W6V5T4S3R2Q1P0/../",
            "demo-tool",
        ] {
            let e = validate_run_id(bad).unwrap_err();
            assert!(e.contains("is not a run id (26 characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn request_from_flags() {
        let run = tool_run_args(&[
            "demo",
            "--env",
            "B=2",
            "--env",
            "A=x=y",
            "--timeout",
            "10m",
            "--memory",
            "512m",
            "--cpus",
            "1.5",
            "--pids",
            "64",
            "--",
            "run",
            "--fast",
        ]);
        let request = run_request(&run).unwrap();
        assert_eq!(request.env.len(), 2);
        assert_eq!(request.env["A"], "x=y");
        assert_eq!(
            request.cmd,
            Some(vec!["run".to_owned(), "--fast".to_owned()])
        );
        assert_eq!(request.limits.timeout.as_deref(), Some("10m"));
        assert_eq!(request.limits.memory.as_deref(), Some("512m"));
        assert_eq!(request.limits.cpus, Some(1.5));
        assert_eq!(request.limits.pids, Some(64));

        let run = tool_run_args(&["demo", "--cmd", "run", "--cmd", "--fast"]);
        assert_eq!(
            run_request(&run).unwrap().cmd,
            Some(vec!["run".to_owned(), "--fast".to_owned()])
        );
        // Nothing given: the body is `{}` and the tool's settings apply.
        let request = run_request(&tool_run_args(&["demo"])).unwrap();
        assert_eq!(request, RunRequest::default());
        assert_eq!(serde_json::to_string(&request).unwrap(), "{}");
    }

    #[test]
    fn bad_overrides_are_usage_errors() {
        let run = tool_run_args(&["demo", "--env", "A=1", "--env", "A=2"]);
        let e = run_request(&run).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert_eq!(e.to_string(), "--env A is given twice");

        let run = tool_run_args(&["demo", "--env", "1A=x"]);
        let e = run_request(&run).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().starts_with("env: \"1A\""), "{e}");
    }

    #[test]
    fn failures_say_what_happened() {
        assert_eq!(failure(&record(RunStatus::Succeeded, Some(0), None)), None);
        let cases = [
            (
                record(
                    RunStatus::Failed,
                    Some(3),
                    Some("the tool exited with code 3"),
                ),
                "run 01J9Z8X7W6V5T4S3R2Q1P0NMKH failed: the tool exited with code 3",
            ),
            (
                record(RunStatus::Failed, Some(3), None),
                "run 01J9Z8X7W6V5T4S3R2Q1P0NMKH failed: the tool exited with code 3",
            ),
            (
                record(
                    RunStatus::TimedOut,
                    None,
                    Some("killed after its timeout of 1s"),
                ),
                "run 01J9Z8X7W6V5T4S3R2Q1P0NMKH timed out: killed after its timeout of 1s",
            ),
            (
                record(RunStatus::Cancelled, None, Some("cancelled by a user")),
                "run 01J9Z8X7W6V5T4S3R2Q1P0NMKH was cancelled: cancelled by a user",
            ),
            (
                record(RunStatus::Lost, None, None),
                "run 01J9Z8X7W6V5T4S3R2Q1P0NMKH was lost",
            ),
        ];
        for (record, message) in cases {
            assert_eq!(failure(&record).as_deref(), Some(message));
        }
    }

    #[test]
    fn cancel_messages() {
        let id = "01J9Z8X7W6V5T4S3R2Q1P0NMKH";
        assert_eq!(
            cancel_message(&record(RunStatus::Cancelled, None, None)),
            format!("cancelled run {id}")
        );
        assert_eq!(
            cancel_message(&record(RunStatus::Succeeded, Some(0), None)),
            format!("run {id} ended succeeded before it could be cancelled")
        );
        assert!(cancel_message(&record(RunStatus::Running, None, None))
            .contains("has not ended yet (maoctl run get "));
    }

    /// Hands out its chunks one per read, then fails if `fail` is set.
    struct Chunks {
        chunks: Vec<&'static [u8]>,
        fail: bool,
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.chunks.is_empty() {
                return if self.fail {
                    Err(io::Error::from(io::ErrorKind::ConnectionReset))
                } else {
                    Ok(0)
                };
            }
            let chunk = self.chunks.remove(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn copy_stream_copies_and_remembers_the_last_byte() {
        let mut out = Vec::new();
        let reader = Chunks {
            chunks: vec![b"tick 1\n", b"tick 2"],
            fail: false,
        };
        assert_eq!(copy_stream(reader, &mut out, "X").unwrap(), Some(b'2'));
        assert_eq!(out, b"tick 1\ntick 2");
        let empty = Chunks {
            chunks: vec![],
            fail: false,
        };
        assert_eq!(copy_stream(empty, &mut Vec::new(), "X").unwrap(), None);
    }

    #[test]
    fn a_cut_log_is_an_error_but_not_a_closed_pipe() {
        let reader = Chunks {
            chunks: vec![b"tick 1\n"],
            fail: true,
        };
        let e = copy_stream(reader, &mut Vec::new(), "01J9Z8X7W6V5T4S3R2Q1P0NMKH").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the log of run 01J9Z8X7W6V5T4S3R2Q1P0NMKH was cut off: "),
            "{e}"
        );
        assert!(e.chain().all(|c| c.downcast_ref::<io::Error>().is_none()));

        struct ClosedPipe;
        impl Write for ClosedPipe {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let reader = Chunks {
            chunks: vec![b"tick 1\n"],
            fail: false,
        };
        let e = copy_stream(reader, &mut ClosedPipe, "X").unwrap_err();
        let io = e.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
    }
}
