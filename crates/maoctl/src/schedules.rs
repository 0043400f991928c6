//! Running tools on a schedule: `maoctl tool schedule`, `maoctl schedule ...` and the
//! original CLI's `maoctl tool list-scheduled` and `maoctl tool stop --id`.
//!
//! Cron expressions and time zones are not checked here: the daemon is the one place that
//! reads them, and its 422 names the field it could not read.

use mao_api::{RunRequest, ScheduleRequest, ScheduleView, Target};
use mao_client::Client;

use crate::cli::{PipelineRun, ScheduleCommand, SchedulePolicy, ToolSchedule};
use crate::commands::{env_map, hint, Printer, UsageError};
use crate::output;

/// Checks a schedule id as the daemon would; `field` names it in the message.
pub fn validate_id(field: &str, id: &str) -> Result<(), UsageError> {
    mao_api::validate::name(field, id).map_err(|e| UsageError(e.to_string()))
}

/// The body of `POST /api/v1/schedules` from `maoctl tool schedule`'s arguments, with
/// everything but the cron expression and the time zone checked as the daemon would.
pub fn tool_schedule_request(args: &ToolSchedule) -> anyhow::Result<ScheduleRequest> {
    let cmd = if !args.cmd.is_empty() {
        Some(args.cmd.clone())
    } else if !args.args.is_empty() {
        Some(args.args.clone())
    } else {
        None
    };
    let overrides = RunRequest {
        env: env_map(args.env.clone())?,
        cmd,
        limits: args.limits.to_limits(),
    };
    schedule_request(
        Target::Tool(args.name.clone()),
        ("WHEN", &args.cron, &args.stray),
        &args.policy,
        overrides,
    )
}

/// The body of `POST /api/v1/schedules` from `maoctl pipeline run --cron`'s arguments;
/// `None` without `--cron`.
pub fn pipeline_schedule_request(args: &PipelineRun) -> anyhow::Result<Option<ScheduleRequest>> {
    let Some(cron) = &args.cron else {
        if let Some(word) = args.stray.first() {
            return Err(UsageError(format!(
                "unexpected argument {word:?}: maoctl pipeline run takes one NAME"
            ))
            .into());
        }
        return Ok(None);
    };
    // A pipeline's steps carry their own commands and environments.
    schedule_request(
        Target::Pipeline(args.name.clone()),
        ("--cron WHEN", cron, &args.stray),
        &args.policy,
        RunRequest::default(),
    )
    .map(Some)
}

/// The request of a schedule of `target` firing at `cron`, checked as the daemon would but
/// for the expression and the zone. `cron` is `(label, expression, stray)`: the argument
/// as the help names it, and the words that followed it if the shell split it.
fn schedule_request(
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
            output::shell_words(&words)
        ))
        .into());
    }
    validate_id("name", target.name())?;
    if let Some(id) = &policy.id {
        validate_id("--id", id)?;
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
    out.done(&view, &output::schedule_created(&view))
}

/// `maoctl schedule ...`.
pub fn schedule_command(
    client: &Client,
    out: &Printer,
    command: ScheduleCommand,
) -> anyhow::Result<()> {
    let not_found_hint = |e| {
        hint(
            e,
            mao_client::Error::is_not_found,
            "maoctl schedule list shows the schedules",
        )
    };
    match command {
        ScheduleCommand::List => {
            let views = client.list_schedules()?;
            out.list(views, "no schedules", output::schedules_table)
        }
        ScheduleCommand::Get { id } => {
            let view = client.get_schedule(&id).map_err(not_found_hint)?;
            out.item(&view, output::schedule_details)
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
            let now = crate::runs::now_ms();
            out.list(times, "it never fires again", |times| {
                output::fire_times_table(times, now)
            })
        }
        ScheduleCommand::History { id, limit } => {
            let slots = client
                .schedule_history(&id, limit.map(|l| l as usize))
                .map_err(not_found_hint)?;
            out.list(
                slots,
                &format!("no slot of schedule {id} has come on this node yet"),
                output::slots_table,
            )
        }
    }
}

fn resumed_message(view: &ScheduleView) -> String {
    format!(
        "resumed schedule {}; next fire: {}",
        view.schedule.id,
        output::next_fire(view)
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use mao_api::{CatchUp, Concurrency, ScheduleMode};

    use super::*;
    use crate::cli::{Cli, Command, PipelineCommand, ToolCommand};

    fn args(argv: &[&str]) -> ToolSchedule {
        let argv = ["maoctl", "tool", "schedule"].iter().chain(argv).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Tool(ToolCommand::Schedule(schedule)) => *schedule,
            other => panic!("{other:?}"),
        }
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

    fn pipeline_args(argv: &[&str]) -> PipelineRun {
        let argv = ["maoctl", "pipeline", "run"].iter().chain(argv).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Pipeline(PipelineCommand::Run(run)) => *run,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pipeline_schedule_names_the_pipeline_and_no_tool() {
        assert_eq!(
            pipeline_schedule_request(&pipeline_args(&["weather"])).unwrap(),
            None
        );
        let request = pipeline_schedule_request(&pipeline_args(&[
            "weather",
            "--cron",
            "0 3 * * *",
            "--tz",
            "Europe/Zurich",
            "--mode",
            "once",
            "--concurrency",
            "replace",
            "--catch-up",
            "all",
            "--deadline",
            "2h",
            "--id",
            "weather-nightly",
            "--paused",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({
                "id": "weather-nightly",
                "pipeline": "weather",
                "cron": "0 3 * * *",
                "tz": "Europe/Zurich",
                "mode": "once",
                "concurrency": "replace",
                "catch_up": "all",
                "starting_deadline": "2h",
                "suspended": true,
            })
        );
        let e = pipeline_schedule_request(&pipeline_args(&["weather", "--cron", "0", "3"]))
            .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(
            e.to_string()
                .starts_with("--cron WHEN is one argument, got 2 (0 3): quote"),
            "{e}"
        );
        let e = pipeline_schedule_request(&pipeline_args(&["weather", "now"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected argument \"now\": maoctl pipeline run takes one NAME"
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
