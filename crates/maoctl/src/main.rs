//! `maoctl`: the command-line client of the MAO orchestrator.
//!
//! Kept light on purpose (no async runtime; one small TOML file of contexts): one call
//! against a local daemon should take a few milliseconds. Layers, each using only those
//! below it: `main` (parse, dispatch, exit status) → `commands` (one module per resource)
//! → `args` (shared argument groups) and `config` (where to connect, as whom) → `app`
//! (client, printer, usage error) and `render` (pure views of `mao_api` documents).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{OutputFormat, Printer, UsageError};
use crate::commands::{
    activity, context, dataset, federation, insight, node, notification, pipeline, run, schedule,
    spike, tool,
};
use crate::config::{ClientConfig, ConnectionFlags};

mod app;
mod args;
mod commands;
mod config;
mod progress;
mod render;

const MAIN_EXAMPLES: &str = "\
Examples:
  maoctl tool list
  maoctl tool run demo-tool --follow
  maoctl tool schedule demo-tool daily --tz Europe/Zurich
  maoctl tool schedule demo-tool '*/15 * * * *' --mode once
  maoctl schedule list
  maoctl schedule history demo-tool-1a2b3c4d
  maoctl run list --status failed
  maoctl pipeline add -f weather.yaml && maoctl pipeline init weather
  maoctl pipeline run weather --follow
  maoctl pipeline run weather --cron daily --tz Europe/Zurich
  maoctl dataset clone weather --dir ./weather
  maoctl --endpoint http://mao-1.example.com:8080 node list
  MAO_ENDPOINT=http://10.0.0.5:8080 maoctl dataset get weather -o json
  MAO_TOKEN=... maoctl --endpoint https://mao-1.example.com:8443 --ca-cert ca.pem tool list
  maoctl context set site-a --endpoint https://mao-a.example.org:8443 --token-file a.token
  maoctl --context site-a run list
  maoctl spike check control.csv --method robust-z --param threshold=4

Exit status: 0 on success, 1 when the daemon or the network failed or a run did not
succeed, 2 on a usage error.";

/// Command-line client of the MAO orchestrator: register tools, datasets and pipelines, run
/// them now or on a schedule and follow their runs, clone datasets, list nodes.
#[derive(Debug, Parser)]
#[command(name = "maoctl", version, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionFlags,

    /// Output format: aligned tables for people, the API's JSON documents for scripts
    #[arg(
        short,
        long,
        env = "MAO_OUTPUT",
        value_enum,
        default_value_t = OutputFormat::Table,
        global = true,
        help_heading = "Global options"
    )]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The resources maoctl manages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, inspect and remove tools (Docker images that produce a dataset)
    #[command(subcommand, after_help = tool::TOOL_EXAMPLES)]
    Tool(tool::ToolCommand),
    /// Register, inspect, clone and remove datasets (git repositories shared by nodes)
    #[command(subcommand, after_help = dataset::DATASET_EXAMPLES)]
    Dataset(dataset::DatasetCommand),
    /// Register pipelines (steps of tools writing datasets), prepare the node, run them
    #[command(subcommand, after_help = pipeline::PIPELINE_EXAMPLES)]
    Pipeline(pipeline::PipelineCommand),
    /// Inspect, follow and cancel the runs of tools on the node
    #[command(subcommand, after_help = run::RUN_EXAMPLES)]
    Run(run::RunCommand),
    /// Inspect, pause, resume and remove schedules (cron expressions that run tools)
    #[command(subcommand, after_help = schedule::SCHEDULE_EXAMPLES)]
    Schedule(schedule::ScheduleCommand),
    /// Inspect the live members of the federation
    #[command(subcommand, after_help = node::NODE_EXAMPLES)]
    Node(node::NodeCommand),
    /// The federation's etcd members and which nodes they belong to
    #[command(subcommand, after_help = federation::FEDERATION_EXAMPLES)]
    Federation(federation::FederationCommand),
    /// Try the spike detector on a series of past values, offline (no daemon needed)
    #[command(subcommand)]
    Spike(spike::SpikeCommand),
    /// List and acknowledge notifications (spikes, failed runs, pushes that keep failing)
    #[command(subcommand, after_help = notification::NOTIFICATION_EXAMPLES)]
    Notification(notification::NotificationCommand),
    /// What the federation's tools published in their insights.json, per tool and node
    #[command(subcommand, after_help = insight::INSIGHT_EXAMPLES)]
    Insight(insight::InsightCommand),
    /// Who changed what on the node: its log of state-changing requests (needs role admin)
    #[command(after_help = activity::ACTIVITY_EXAMPLES)]
    Activity(activity::ActivityArgs),
    /// Name daemons with their endpoint, token and CA, and choose the one used by default
    #[command(subcommand, after_help = context::CONTEXT_EXAMPLES)]
    Context(context::ContextCommand),
}

impl Command {
    /// Checks what the command can check before connecting: a bad name should not wait
    /// for an unreachable daemon.
    fn validate(&self) -> Result<(), UsageError> {
        match self {
            Command::Tool(command) => command.validate(),
            Command::Dataset(command) => command.validate(),
            Command::Pipeline(command) => command.validate(),
            Command::Run(command) => command.validate(),
            Command::Schedule(command) => command.validate(),
            Command::Insight(command) => command.validate(),
            Command::Node(_)
            | Command::Federation(_)
            | Command::Activity(_)
            | Command::Notification(_)
            | Command::Spike(_)
            | Command::Context(_) => Ok(()),
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2 and --help with 0, both printed by clap.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `maoctl tool list | head -1`: the reader had enough, which is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {}", error_chain(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs the parsed command line.
fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Printer { format: cli.output };
    if let Command::Spike(command) = cli.command {
        return spike::run(&out, command);
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let path = config::config_path(&cli.connection, &env, home.as_deref());
    if let Command::Context(command) = cli.command {
        return context::run(&out, &cli.connection, path.as_deref(), command);
    }
    cli.command.validate()?;
    let file = match &path {
        Some(path) => ClientConfig::load(path)?,
        None => ClientConfig::default(),
    };
    let connection = config::resolve(&cli.connection, &env, &file, path.as_deref())?;
    let with_token = connection.options.token.is_some();
    let context = connection.context.clone();
    let client = app::connect(&connection.endpoint, connection.options).map_err(|e| {
        match &connection.ca_cert {
            Some(ca) if e.0.contains("CA certificate") => {
                UsageError(format!("{}: {}", ca.display(), e.0))
            }
            _ => e,
        }
    })?;
    let result = match cli.command {
        Command::Tool(command) => tool::run(&client, &out, command),
        Command::Dataset(command) => dataset::run(&client, &out, command),
        Command::Pipeline(command) => pipeline::run(&client, &out, command),
        Command::Run(command) => run::run(&client, &out, command),
        Command::Schedule(command) => schedule::run(&client, &out, command),
        Command::Node(command) => node::run(&client, &out, command),
        Command::Federation(command) => federation::run(&client, &out, command),
        Command::Notification(command) => notification::run(&client, &out, command),
        Command::Insight(command) => insight::run(&client, &out, command),
        Command::Activity(args) => activity::run(&client, &out, args),
        Command::Spike(_) | Command::Context(_) => unreachable!("handled above"),
    };
    result.map_err(|e| unauthorized_hint(e, with_token, context.as_deref()))
}

/// A 401 stays the server's message; when no token was sent, it also says how to send one.
fn unauthorized_hint(
    error: anyhow::Error,
    with_token: bool,
    context: Option<&str>,
) -> anyhow::Error {
    let unauthorized = error
        .downcast_ref::<mao_client::Error>()
        .is_some_and(mao_client::Error::is_unauthorized);
    if !unauthorized || with_token {
        return error;
    }
    match context {
        Some(name) => anyhow::anyhow!(
            "{error} (no token was sent: context {name:?} has none; maoctl context set {name} --token-file FILE, or pass --token or MAO_TOKEN)"
        ),
        None => anyhow::anyhow!(
            "{error} (no token was sent: pass --token, set MAO_TOKEN or use a context with a token)"
        ),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by `: `, skipping a cause whose text its parent
/// already shows (mao-client puts the cause in its messages, e.g. "cannot reach ...").
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::CommandFactory;
    use mao_api::{RunLimits, RunStatus};

    use super::*;
    use crate::commands::dataset::DatasetCommand;
    use crate::commands::pipeline::PipelineCommand;
    use crate::commands::run::RunCommand;
    use crate::commands::schedule::ScheduleCommand;
    use crate::commands::tool::ToolCommand;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("maoctl").chain(args.iter().copied()))
    }

    #[test]
    fn tool_add_positional_form() {
        let cli = parse(&[
            "tool",
            "add",
            "demo",
            "ada",
            "mao/demo:1",
            "https://h/d.git",
            "https://h/c.git",
            "out.csv",
            "--env",
            "A=1",
            "--description",
            "d",
            "--",
            "run",
            "--fast",
        ])
        .unwrap();
        let Command::Tool(ToolCommand::Add(add)) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(add.name.as_deref(), Some("demo"));
        assert_eq!(add.artefact.as_deref(), Some("out.csv"));
        assert_eq!(add.overrides.env, vec![("A".to_owned(), "1".to_owned())]);
        assert_eq!(add.overrides.args, vec!["run", "--fast"]);
        assert!(add.overrides.cmd.is_empty());
    }

    #[test]
    fn tool_add_cmd_flag_takes_hyphen_values() {
        let cli = parse(&[
            "tool", "add", "demo", "ada", "img", "/d", "/c", "out", "--cmd", "run", "--cmd",
            "--fast",
        ])
        .unwrap();
        let Command::Tool(ToolCommand::Add(add)) = cli.command else {
            panic!()
        };
        assert_eq!(add.overrides.cmd, vec!["run", "--fast"]);
    }

    #[test]
    fn tool_add_needs_positionals_or_a_file() {
        assert!(parse(&["tool", "add", "-f", "t.json"]).is_ok());
        assert!(parse(&["tool", "add", "-f", "t.json", "--replace"]).is_ok());
        let e = parse(&["tool", "add", "demo"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let e = parse(&["tool", "add", "-f", "t.json", "demo"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        let e = parse(&["tool", "add", "a", "b", "c", "d", "e", "f", "--env", "NOPE"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn dataset_add_forms() {
        let cli = parse(&[
            "dataset",
            "add",
            "weather",
            "/srv/w.git",
            "--node",
            "a",
            "--node",
            "b",
            "--local-only",
        ])
        .unwrap();
        let Command::Dataset(DatasetCommand::Add(add)) = cli.command else {
            panic!()
        };
        assert_eq!(add.nodes, vec!["a", "b"]);
        assert!(add.local_only);
        assert!(parse(&["dataset", "add", "-f", "-"]).is_ok());
        assert!(parse(&["dataset", "add", "-f", "-", "--local-only"]).is_err());
    }

    fn tool_run(args: &[&str]) -> Result<run::ToolRun, clap::Error> {
        let argv: Vec<&str> = ["tool", "run"].iter().chain(args).copied().collect();
        parse(&argv).map(|cli| match cli.command {
            Command::Tool(ToolCommand::Run(run)) => *run,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn tool_run_flags() {
        let run = tool_run(&[
            "demo",
            "--detach",
            "--timeout",
            " 1h30m ",
            "--memory",
            "1GiB",
            "--cpus",
            "0.5",
            "--pids",
            "1",
        ])
        .unwrap();
        assert_eq!(run.name, "demo");
        assert!(run.detach && !run.follow);
        assert_eq!(
            run.overrides.limits.to_limits(),
            RunLimits {
                timeout: Some("1h30m".into()),
                memory: Some("1GiB".into()),
                cpus: Some(0.5),
                pids: Some(1),
            }
        );
        let run = tool_run(&["demo", "-f", "--", "sh", "-c", "exit 3"]).unwrap();
        assert!(run.follow);
        assert_eq!(run.overrides.args, vec!["sh", "-c", "exit 3"]);
        assert!(run.overrides.limits.to_limits().is_empty());
    }

    #[test]
    fn tool_run_refuses_bad_values_and_combinations() {
        use clap::error::ErrorKind;
        for (args, kind) in [
            (vec!["demo", "--timeout", "10x"], ErrorKind::ValueValidation),
            (vec!["demo", "--timeout", "0s"], ErrorKind::ValueValidation),
            (vec!["demo", "--timeout", "-1s"], ErrorKind::UnknownArgument),
            (vec!["demo", "--memory", "lots"], ErrorKind::ValueValidation),
            (vec!["demo", "--memory", "1m"], ErrorKind::ValueValidation),
            (vec!["demo", "--cpus", "0"], ErrorKind::ValueValidation),
            (vec!["demo", "--cpus", "NaN"], ErrorKind::ValueValidation),
            (vec!["demo", "--cpus", "two"], ErrorKind::ValueValidation),
            (vec!["demo", "--pids", "0"], ErrorKind::ValueValidation),
            (vec!["demo", "--env", "NOPE"], ErrorKind::ValueValidation),
            (
                vec!["demo", "--detach", "--follow"],
                ErrorKind::ArgumentConflict,
            ),
            (
                vec!["demo", "--cmd", "a", "--", "b"],
                ErrorKind::ArgumentConflict,
            ),
            (vec![], ErrorKind::MissingRequiredArgument),
        ] {
            let e = tool_run(&args).unwrap_err();
            assert_eq!(e.kind(), kind, "{args:?}: {e}");
        }
        let e = tool_run(&["demo", "--memory", "1m"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 6m"), "{e}");
        let e = tool_run(&["demo", "--timeout", "10x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown unit"), "{e}");
    }

    #[test]
    fn run_subcommands() {
        let cli = parse(&[
            "run",
            "list",
            "--tool",
            "demo",
            "--status",
            "timed_out",
            "--limit",
            "5",
        ])
        .unwrap();
        let Command::Run(RunCommand::List {
            tool,
            status,
            limit,
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(tool.as_deref(), Some("demo"));
        assert_eq!(status, Some(RunStatus::TimedOut));
        assert_eq!(limit, Some(5));
        for bad in [
            vec!["run", "list", "--status", "done"],
            vec!["run", "list", "--limit", "0"],
            vec!["run", "list", "--limit", "1001"],
            vec!["run", "get"],
            vec!["run", "logs"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
        let cli = parse(&["run", "logs", "-f", "01J9Z8X7W6V5T4S3R2Q1P0NMKH"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Run(RunCommand::Logs { follow: true, .. })
        ));
        assert!(parse(&["run", "cancel", "01J9Z8X7W6V5T4S3R2Q1P0NMKH"]).is_ok());
    }

    #[test]
    fn tool_add_takes_limits_unless_from_a_file() {
        let cli = parse(&[
            "tool",
            "add",
            "demo",
            "ada",
            "img",
            "/d",
            "/c",
            "out",
            "--timeout",
            "30m",
            "--docker-socket",
        ])
        .unwrap();
        let Command::Tool(ToolCommand::Add(add)) = cli.command else {
            panic!()
        };
        assert_eq!(add.overrides.limits.timeout.as_deref(), Some("30m"));
        assert!(add.docker_socket);
        let e = parse(&["tool", "add", "-f", "t.json", "--memory", "1g"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn tool_schedule_flags() {
        use clap::error::ErrorKind;
        let cli = parse(&["tool", "schedule", "demo", "*/5 * * * *", "--paused"]).unwrap();
        let Command::Tool(ToolCommand::Schedule(schedule)) = cli.command else {
            panic!()
        };
        assert_eq!(schedule.cron, "*/5 * * * *");
        assert!(schedule.stray.is_empty() && schedule.policy.paused);
        // Words of an unquoted expression are kept, to be refused with advice.
        let cli = parse(&["tool", "schedule", "demo", "0", "3", "*", "*", "*"]).unwrap();
        let Command::Tool(ToolCommand::Schedule(schedule)) = cli.command else {
            panic!()
        };
        assert_eq!(schedule.stray, vec!["3", "*", "*", "*"]);
        for (args, kind) in [
            (vec!["demo"], ErrorKind::MissingRequiredArgument),
            (
                vec!["demo", "daily", "--mode", "twice"],
                ErrorKind::InvalidValue,
            ),
            (
                vec!["demo", "daily", "--concurrency", "queue"],
                ErrorKind::InvalidValue,
            ),
            (
                vec!["demo", "daily", "--catch-up", "some"],
                ErrorKind::InvalidValue,
            ),
            (
                vec!["demo", "daily", "--deadline", "soon"],
                ErrorKind::ValueValidation,
            ),
            (
                vec!["demo", "daily", "--deadline", "0"],
                ErrorKind::ValueValidation,
            ),
            (
                vec!["demo", "daily", "--timeout", "10x"],
                ErrorKind::ValueValidation,
            ),
            (
                vec!["demo", "daily", "--env", "NOPE"],
                ErrorKind::ValueValidation,
            ),
            (
                vec!["demo", "daily", "--cmd", "a", "--", "b"],
                ErrorKind::ArgumentConflict,
            ),
        ] {
            let argv: Vec<&str> = ["tool", "schedule"].iter().chain(&args).copied().collect();
            let e = parse(&argv).unwrap_err();
            assert_eq!(e.kind(), kind, "{args:?}: {e}");
        }
    }

    #[test]
    fn schedule_subcommands_and_original_names() {
        let cli = parse(&["schedule", "next", "nightly"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Schedule(ScheduleCommand::Next { count: 5, .. })
        ));
        let cli = parse(&["schedule", "next", "nightly", "-n", "20"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Schedule(ScheduleCommand::Next { count: 20, .. })
        ));
        let cli = parse(&["schedule", "history", "nightly", "--limit", "7"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Schedule(ScheduleCommand::History { limit: Some(7), .. })
        ));
        for ok in [
            vec!["schedule", "list"],
            vec!["schedule", "get", "nightly"],
            vec!["schedule", "pause", "nightly"],
            vec!["schedule", "resume", "nightly"],
            vec!["schedule", "remove", "nightly"],
            vec!["schedule", "delete", "nightly"],
            vec!["tool", "list-scheduled"],
        ] {
            assert!(parse(&ok).is_ok(), "{ok:?}");
        }
        let cli = parse(&["tool", "stop", "--id", "nightly"]).unwrap();
        let Command::Tool(ToolCommand::Stop { id }) = cli.command else {
            panic!()
        };
        assert_eq!(id, "nightly");
        for bad in [
            vec!["schedule", "get"],
            vec!["schedule", "next", "nightly", "-n", "0"],
            vec!["schedule", "next", "nightly", "-n", "1001"],
            vec!["schedule", "history", "nightly", "--limit", "0"],
            vec!["tool", "stop"],
            vec!["tool", "stop", "nightly"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pipeline_subcommands() {
        use clap::error::ErrorKind;
        let cli = parse(&["pipeline", "add", "-f", "p.yaml", "--replace"]).unwrap();
        let Command::Pipeline(PipelineCommand::Add { file, replace }) = cli.command else {
            panic!()
        };
        assert_eq!(file, PathBuf::from("p.yaml"));
        assert!(replace);
        let cli = parse(&["pipeline", "runs", "--limit", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Pipeline(PipelineCommand::Runs {
                name: None,
                limit: Some(5)
            })
        ));
        let cli = parse(&["pipeline", "run", "weather", "-f"]).unwrap();
        let Command::Pipeline(PipelineCommand::Run(run)) = cli.command else {
            panic!()
        };
        assert!(run.follow && run.cron.is_none() && run.stray.is_empty());
        let cli = parse(&["pipeline", "run", "weather", "--cron", "daily", "--paused"]).unwrap();
        let Command::Pipeline(PipelineCommand::Run(run)) = cli.command else {
            panic!()
        };
        assert_eq!(run.cron.as_deref(), Some("daily"));
        assert!(run.policy.paused);
        for (args, kind) in [
            (vec!["pipeline", "add"], ErrorKind::MissingRequiredArgument),
            (vec!["pipeline", "run"], ErrorKind::MissingRequiredArgument),
            // Schedule flags make sense only with --cron.
            (
                vec!["pipeline", "run", "w", "--paused"],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                vec!["pipeline", "run", "w", "--mode", "once"],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                vec!["pipeline", "run", "w", "--cron", "daily", "-f"],
                ErrorKind::ArgumentConflict,
            ),
            (
                vec!["pipeline", "runs", "--limit", "0"],
                ErrorKind::ValueValidation,
            ),
            (
                vec!["pipeline", "status"],
                ErrorKind::MissingRequiredArgument,
            ),
        ] {
            let e = parse(&args).unwrap_err();
            assert_eq!(e.kind(), kind, "{args:?}: {e}");
        }
        assert!(parse(&["pipeline", "delete", "weather"]).is_ok());
    }

    #[test]
    fn dataset_clone_and_local_subcommands() {
        let cli = parse(&[
            "dataset",
            "clone",
            "weather",
            "--dir",
            "/tmp/w",
            "--ssh-key",
            "/k",
            "--known-hosts",
            "/kh",
        ])
        .unwrap();
        let Command::Dataset(DatasetCommand::Clone(clone)) = cli.command else {
            panic!()
        };
        assert_eq!(clone.dir, Some(PathBuf::from("/tmp/w")));
        assert_eq!(clone.ssh_key, Some(PathBuf::from("/k")));
        assert_eq!(clone.known_hosts, Some(PathBuf::from("/kh")));
        let cli = parse(&["dataset", "remove-local", "weather", "--force"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Dataset(DatasetCommand::RemoveLocal { force: true, .. })
        ));
        let cli = parse(&["dataset", "init-local", "scratch", "--description", "d"]).unwrap();
        let Command::Dataset(DatasetCommand::InitLocal { name, description }) = cli.command else {
            panic!()
        };
        assert_eq!(
            (name.as_str(), description.as_deref()),
            ("scratch", Some("d"))
        );
        assert!(parse(&["dataset", "list-local"]).is_ok());
        assert!(parse(&["dataset", "clone"]).is_err());
    }

    #[test]
    fn remove_has_a_delete_alias_and_global_flags_go_anywhere() {
        let cli = parse(&[
            "tool",
            "delete",
            "demo",
            "-o",
            "json",
            "--endpoint",
            "http://h:1",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Tool(ToolCommand::Remove { .. })
        ));
        assert_eq!(cli.output, OutputFormat::Json);
        assert_eq!(cli.connection.endpoint.as_deref(), Some("http://h:1"));
        assert!(parse(&["dataset", "delete", "weather"]).is_ok());
    }

    #[test]
    fn chain_skips_causes_already_shown() {
        let client_error = mao_client::Error::Unreachable {
            endpoint: "http://127.0.0.1:1".to_owned(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"),
        };
        let e = anyhow::Error::new(client_error);
        assert_eq!(
            error_chain(&e),
            "cannot reach http://127.0.0.1:1: is mao-orchestrator running? (connection refused)"
        );
    }

    #[test]
    fn chain_keeps_new_causes() {
        let e = anyhow::Error::new(io::Error::other("disk on fire")).context("cannot save");
        assert_eq!(error_chain(&e), "cannot save: disk on fire");
    }

    #[test]
    fn broken_pipe_is_found_anywhere_in_the_chain() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
