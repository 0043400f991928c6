//! Running tools on a schedule: `maoctl tool schedule`, `maoctl schedule ...` and the
//! original CLI's `maoctl tool list-scheduled` and `maoctl tool stop --id`.
//!
//! Cron expressions and time zones are not checked here: the daemon is the one place that
//! reads them, and its 422 names the field it could not read.

use clap::{Args, Subcommand};
use mao_api::{RunRequest, ScheduleRequest, ScheduleView, Target};
use mao_client::Client;

use crate::app::{hint, not_found, now_ms, Printer, UsageError};
use crate::args::{validate_name, RunOverrides, SchedulePolicy};
use crate::render;
use crate::render::table::shell_words;

/// Examples of `maoctl schedule`, shown by its help.
pub const SCHEDULE_EXAMPLES: &str = "\
Examples:
  maoctl tool schedule demo-tool daily --tz Europe/Zurich
  maoctl schedule list
  maoctl schedule get demo-tool-1a2b3c4d
  maoctl schedule next demo-tool-1a2b3c4d -n 10
  maoctl schedule history demo-tool-1a2b3c4d --limit 20
  maoctl schedule pause demo-tool-1a2b3c4d
  maoctl schedule resume demo-tool-1a2b3c4d
  maoctl schedule remove demo-tool-1a2b3c4d

Schedules are created with `maoctl tool schedule` and `maoctl pipeline run --cron`.";

/// `maoctl schedule ...`
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List the schedules with their next fire time and last run
    #[command(
        after_help = "Examples:\n  maoctl schedule list\n  maoctl schedule list -o json | jq -r '.items[] | [.id, .next_fire] | @tsv'"
    )]
    List,
    /// Show every field of one schedule
    #[command(
        after_help = "Examples:\n  maoctl schedule get demo-tool-1a2b3c4d\n  maoctl schedule get demo-tool-1a2b3c4d -o json | jq .next_fire"
    )]
    Get {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
    },
    /// Stop a schedule from firing until it is resumed (runs already started go on)
    #[command(after_help = "Example:\n  maoctl schedule pause demo-tool-1a2b3c4d")]
    Pause {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
    },
    /// Let a paused schedule fire again
    #[command(after_help = "Example:\n  maoctl schedule resume demo-tool-1a2b3c4d")]
    Resume {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
    },
    /// Remove a schedule (runs already started go on)
    #[command(
        visible_alias = "delete",
        after_help = "Example:\n  maoctl schedule remove demo-tool-1a2b3c4d"
    )]
    Remove {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
    },
    /// Show the next fire times, in the schedule's zone and in UTC (to check a cron expression)
    #[command(
        after_help = "Examples:\n  maoctl schedule next demo-tool-1a2b3c4d\n  maoctl schedule next demo-tool-1a2b3c4d -n 20\n\nPaused schedules are shown too: create one with --paused to try an expression out:\n  maoctl tool schedule demo-tool '0 9 * * Mon-Fri' --tz Europe/Zurich --paused --id try\n  maoctl schedule next try && maoctl schedule remove try"
    )]
    Next {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
        /// How many fire times (1 to 1000)
        #[arg(
            short = 'n',
            long = "count",
            value_name = "N",
            default_value_t = 5,
            value_parser = clap::value_parser!(u64).range(1..=1000)
        )]
        count: u64,
    },
    /// Show what became of the schedule's slots on this node, newest first
    #[command(
        after_help = "Examples:\n  maoctl schedule history demo-tool-1a2b3c4d\n  maoctl schedule history demo-tool-1a2b3c4d --limit 10 -o json | jq -r '.items[].outcome'\n\nA slot was fired (a run started; RUN is its id), skipped (on purpose: another node\nclaimed it, the previous run was still going, ...) or missed (the node could not run it\nin time); REASON says why."
    )]
    History {
        /// Id of the schedule, as `maoctl schedule list` shows it
        id: String,
        /// At most this many slots (1 to 1000; the daemon's default is 50)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: Option<u64>,
    },
}

impl ScheduleCommand {
    /// Checks the schedule's id before connecting.
    pub fn validate(&self) -> Result<(), UsageError> {
        match self {
            ScheduleCommand::Get { id }
            | ScheduleCommand::Pause { id }
            | ScheduleCommand::Resume { id }
            | ScheduleCommand::Remove { id }
            | ScheduleCommand::Next { id, .. }
            | ScheduleCommand::History { id, .. } => validate_name("id", id),
            ScheduleCommand::List => Ok(()),
        }
    }
}

/// The help of `maoctl tool schedule` after its options.
pub const TOOL_SCHEDULE_HELP: &str = "\
Examples:
  maoctl tool schedule demo-tool daily
  maoctl tool schedule demo-tool weekly --tz Europe/Zurich --id demo-weekly
  maoctl tool schedule demo-tool '*/5 * * * *' --concurrency replace --catch-up none
  maoctl tool schedule demo-tool '0 30 6 * * Mon-Fri' --tz America/New_York --mode once
  maoctl tool schedule weather-scraper '@hourly' --env CITY=Zurich --timeout 10m -- python scrape.py
  maoctl tool schedule demo-tool '0 3 1 * *' --paused --id check && maoctl schedule next check -n 10

WHEN is hourly, daily, weekly, an @-nickname (@hourly, @daily, @weekly, @monthly,
@yearly) or a cron expression of 5 fields (minute hour day-of-month month day-of-week),
6 (seconds first) or 7 (and a year last). It is one argument: quote it, or the shell
splits it and expands its stars. The daemon checks it and names the field it cannot read.

Times are read in --tz (an IANA zone name; UTC by default). On a daylight-saving change a
time that does not exist is skipped and a time that exists twice runs once.
With --mode every-node (the default) every node runs each slot; with --mode once exactly
one node of the federation does. A slot that comes while the previous run is going is
skipped (--concurrency forbid, the default), run alongside (allow) or run after
cancelling the previous one (replace). Slots missed while the node was down run when it
is back if they are at most --deadline late: the newest only (--catch-up latest, the
default), all of them (all) or none.";

/// Arguments of `maoctl tool schedule`.
#[derive(Debug, Args)]
#[command(
    mut_arg("env", |arg| arg.help("Environment variable of each run, added to the tool's (repeatable)")),
    mut_arg("cmd", |arg| arg.help(
        "Argument of the command each run executes instead of the tool's (repeatable)"
    )),
    mut_arg("args", |arg| arg.help("The command each run executes instead of the tool's, after `--`"))
)]
pub struct ToolSchedule {
    /// Name of the tool
    pub name: String,
    /// hourly, daily, weekly, an @-nickname or a cron expression (one argument: quote it)
    #[arg(value_name = "WHEN")]
    pub cron: String,
    /// Words after WHEN: an unquoted cron expression, refused with advice
    #[arg(hide = true)]
    pub stray: Vec<String>,

    #[command(flatten)]
    pub policy: SchedulePolicy,

    #[command(flatten)]
    pub overrides: RunOverrides,
}

/// The body of `POST /api/v1/schedules` from `maoctl tool schedule`'s arguments, with
/// everything but the cron expression and the time zone checked as the daemon would.
pub fn tool_schedule_request(args: &ToolSchedule) -> anyhow::Result<ScheduleRequest> {
    let overrides = args.overrides.request()?;
    schedule_request(
        Target::Tool(args.name.clone()),
        ("WHEN", &args.cron, &args.stray),
        &args.policy,
        overrides,
    )
}

/// The request of a schedule of `target` firing at `cron`, checked as the daemon would but
/// for the expression and the zone. `cron` is `(label, expression, stray)`: the argument
/// as the help names it, and the words that followed it if the shell split it.
pub(super) fn schedule_request(
    target: Target,
    (label, cron, stray): (&str, &str, &[String]),
    policy: &SchedulePolicy,
    overrides: RunRequest,
) -> anyhow::Result<ScheduleRequest> {
    if !stray.is_empty() {
        let words: Vec<String> = std::iter::once(cron.to_owned())
            .chain(stray.iter().cloned())
            .collect();
        return Err(UsageError(format!(
            "{label} is one argument, got {} ({}): quote the cron expression, e.g. '*/5 * * * *' \
             (unquoted, the shell splits it and expands its stars)",
            words.len(),
            shell_words(&words)
        ))
        .into());
    }
    validate_name("name", target.name())?;
    if let Some(id) = &policy.id {
        validate_name("--id", id)?;
    }
    overrides
        .validate()
        .map_err(|e| UsageError(e.to_string()))?;
    let (tool, pipeline) = match target {
        Target::Tool(name) => (name, None),
        Target::Pipeline(name) => (String::new(), Some(name)),
    };
    Ok(ScheduleRequest {
        id: policy.id.clone(),
        tool,
        pipeline,
        cron: cron.to_owned(),
        tz: policy.tz.as_ref().map(|tz| tz.trim().to_owned()),
        mode: policy.mode.map(Into::into),
        concurrency: policy.concurrency.map(Into::into),
        catch_up: policy.catch_up.map(Into::into),
        starting_deadline: policy.deadline.clone(),
        overrides,
        suspended: policy.paused,
    })
}

/// `maoctl tool schedule`.
pub fn tool_schedule(client: &Client, out: &Printer, args: ToolSchedule) -> anyhow::Result<()> {
    create_schedule(client, out, &tool_schedule_request(&args)?)
}

/// Creates the schedule and prints its id and first fire time.
pub fn create_schedule(
    client: &Client,
    out: &Printer,
    request: &ScheduleRequest,
) -> anyhow::Result<()> {
    let taken = format!(
        "choose another --id, or remove it first with maoctl schedule remove {}",
        request.id.as_deref().unwrap_or("ID")
    );
    let view = client
        .create_schedule(request)
        .map_err(|e| match e.status() {
            // The daemon refused the cron expression, the zone, the deadline or the target:
            // an error from the server, so exit status 1 like every other.
            Some(422) => {
                let mut message = e.to_string();
                if message.starts_with("tool:") {
                    message.push_str(" (maoctl tool list shows the registered tools)");
                } else if message.starts_with("pipeline:") {
                    message.push_str(" (maoctl pipeline list shows the pipelines)");
                }
                anyhow::anyhow!(message)
            }
            _ => hint(e, mao_client::Error::is_conflict, &taken),
        })?;
    out.done(&view, &render::schedule::schedule_created(&view))
}

/// Runs `maoctl schedule ...`.
pub fn run(client: &Client, out: &Printer, command: ScheduleCommand) -> anyhow::Result<()> {
    let not_found_hint = not_found("maoctl schedule list shows the schedules");
    match command {
        ScheduleCommand::List => {
            let views = client.list_schedules()?;
            out.list(views, "no schedules", render::schedule::schedules_table)
        }
        ScheduleCommand::Get { id } => {
            let view = client.get_schedule(&id).map_err(not_found_hint)?;
            out.item(&view, render::schedule::schedule_details)
        }
        ScheduleCommand::Pause { id } => {
            let view = client.pause_schedule(&id).map_err(not_found_hint)?;
            out.done(
                &view,
                &format!("paused schedule {id}; runs already started go on"),
            )
        }
        ScheduleCommand::Resume { id } => {
            let view = client.resume_schedule(&id).map_err(not_found_hint)?;
            out.done(&view, &resumed_message(&view))
        }
        ScheduleCommand::Remove { id } => {
            client.delete_schedule(&id).map_err(not_found_hint)?;
            out.removed(&format!(
                "removed schedule {id}; runs already started go on"
            ))
        }
        ScheduleCommand::Next { id, count } => {
            let times = client
                .next_fire_times(&id, count as usize)
                .map_err(not_found_hint)?;
            let now = now_ms();
            out.list(times, "it never fires again", |times| {
                render::schedule::fire_times_table(times, now)
            })
        }
        ScheduleCommand::History { id, limit } => {
            let slots = client
                .schedule_history(&id, limit.map(|l| l as usize))
                .map_err(not_found_hint)?;
            out.list(
                slots,
                &format!("no slot of schedule {id} has come on this node yet"),
                render::schedule::slots_table,
            )
        }
    }
}

fn resumed_message(view: &ScheduleView) -> String {
    format!(
        "resumed schedule {}; next fire: {}",
        view.schedule.id,
        render::schedule::next_fire(view)
    )
}

#[cfg(test)]
mod tests {
    use mao_api::{CatchUp, Concurrency, ScheduleMode};

    use super::*;
    use crate::commands::testing;

    fn args(argv: &[&str]) -> ToolSchedule {
        testing::args(argv).unwrap()
    }

    #[test]
    fn bare_request_leaves_the_defaults_to_the_daemon() {
        let request = tool_schedule_request(&args(&["demo", "daily"])).unwrap();
        assert_eq!(
            request,
            ScheduleRequest {
                tool: "demo".into(),
                cron: "daily".into(),
                ..ScheduleRequest::default()
            }
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"tool": "demo", "cron": "daily", "suspended": false})
        );
    }

    #[test]
    fn every_flag_reaches_the_request() {
        let request = tool_schedule_request(&args(&[
            "demo",
            "*/5 * * * *",
            "--tz",
            " Europe/Zurich ",
            "--mode",
            "once",
            "--concurrency",
            "replace",
            "--catch-up",
            "none",
            "--deadline",
            " 2h ",
            "--id",
            "demo-5m",
            "--env",
            "CITY=Zurich",
            "--timeout",
            "10m",
            "--memory",
            "512m",
            "--paused",
            "--",
            "python",
            "scrape.py",
        ]))
        .unwrap();
        assert_eq!(request.id.as_deref(), Some("demo-5m"));
        assert_eq!(request.tool, "demo");
        assert_eq!(request.cron, "*/5 * * * *");
        assert_eq!(request.tz.as_deref(), Some("Europe/Zurich"));
        assert_eq!(request.mode, Some(ScheduleMode::Once));
        assert_eq!(request.concurrency, Some(Concurrency::Replace));
        assert_eq!(request.catch_up, Some(CatchUp::None));
        assert_eq!(request.starting_deadline.as_deref(), Some("2h"));
        assert_eq!(request.overrides.env["CITY"], "Zurich");
        assert_eq!(
            request.overrides.cmd,
            Some(vec!["python".to_owned(), "scrape.py".to_owned()])
        );
        assert_eq!(request.overrides.limits.timeout.as_deref(), Some("10m"));
        assert_eq!(request.overrides.limits.memory.as_deref(), Some("512m"));
        assert!(request.suspended);
        // The wire names the daemon reads.
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["mode"], "once");
        assert_eq!(json["concurrency"], "replace");
        assert_eq!(json["catch_up"], "none");
        assert_eq!(json["starting_deadline"], "2h");
        assert_eq!(json["overrides"]["limits"]["timeout"], "10m");

        let request = tool_schedule_request(&args(&[
            "demo",
            "weekly",
            "--mode",
            "every-node",
            "--concurrency",
            "allow",
            "--catch-up",
            "all",
            "--cmd",
            "run",
            "--cmd",
            "--fast",
        ]))
        .unwrap();
        assert_eq!(request.mode, Some(ScheduleMode::EveryNode));
        assert_eq!(request.concurrency, Some(Concurrency::Allow));
        assert_eq!(request.catch_up, Some(CatchUp::All));
        assert_eq!(
            request.overrides.cmd,
            Some(vec!["run".to_owned(), "--fast".to_owned()])
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap()["mode"],
            "every-node"
        );
    }

    #[test]
    fn the_cron_expression_is_passed_as_written() {
        // Not read here: a mistake comes back from the daemon naming the field.
        for cron in [
            "0 3 * * Mon-Fri",
            "@hourly",
            "0 0 30 2 *",
            "not cron at all",
        ] {
            assert_eq!(
                tool_schedule_request(&args(&["demo", cron])).unwrap().cron,
                cron
            );
        }
    }

    #[test]
    fn an_unquoted_cron_expression_is_a_usage_error_with_advice() {
        let e = tool_schedule_request(&args(&["demo", "0", "3", "*", "*", "*"])).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert_eq!(
            e.to_string(),
            "WHEN is one argument, got 5 (0 3 '*' '*' '*'): quote the cron expression, \
             e.g. '*/5 * * * *' (unquoted, the shell splits it and expands its stars)"
        );
    }

    #[test]
    fn bad_ids_and_overrides_are_usage_errors() {
        for (argv, message) in [
            (
                vec!["demo", "daily", "--id", "Nightly"],
                "--id: \"Nightly\" is not a valid name",
            ),
            (vec!["Demo", "daily"], "name: \"Demo\" is not a valid name"),
            (
                vec!["demo", "daily", "--env", "A=1", "--env", "A=2"],
                "--env A is given twice",
            ),
            (vec!["demo", "daily", "--env", "1A=x"], "env: \"1A\""),
        ] {
            let e = tool_schedule_request(&args(&argv)).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{argv:?}");
            assert!(e.to_string().starts_with(message), "{argv:?}: {e}");
        }
    }
}
