//! `maoctl tool ...`: register, inspect and remove tools; `run` and `schedule` are in
//! their own modules, which own runs and schedules.

use mao_api::{RunRequest, Tool};
use mao_client::Client;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::schedule::ScheduleCommand;
use crate::app::{read_document, register, Printer, UsageError};
use crate::args::{validate_name, RunOverrides};
use crate::render;

/// Examples of `maoctl tool`, shown by its help.
pub const TOOL_EXAMPLES: &str = "\
Examples:
  maoctl tool list
  maoctl tool get demo-tool
  maoctl tool add demo-tool ada mao/demo:1 https://git.example.com/data.git https://git.example.com/code.git results.csv
  maoctl tool run demo-tool --env CITY=Zurich --timeout 10m
  maoctl tool schedule demo-tool '0 3 * * *' --tz Europe/Zurich
  maoctl tool remove demo-tool";

/// `maoctl tool ...`
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// List the registered tools
    #[command(
        after_help = "Example:\n  maoctl tool list\n  maoctl tool list -o json | jq -r '.items[].name'"
    )]
    List,
    /// Show one tool
    #[command(after_help = "Example:\n  maoctl tool get demo-tool")]
    Get {
        /// Name of the tool
        name: String,
    },
    /// Register a tool, from arguments or from a JSON document
    #[command(after_help = TOOL_ADD_EXAMPLES)]
    Add(Box<ToolAdd>),
    /// Run a tool now on the node, wait for its end and report how it went
    #[command(after_help = super::run::TOOL_RUN_HELP)]
    Run(Box<super::run::ToolRun>),
    /// Run a tool on a schedule: daily, weekly or a cron expression, in a time zone
    #[command(after_help = super::schedule::TOOL_SCHEDULE_HELP)]
    Schedule(Box<super::schedule::ToolSchedule>),
    /// List the schedules (the original CLI's name of `maoctl schedule list`)
    #[command(
        after_help = "Example:\n  maoctl tool list-scheduled\n\nThe same as `maoctl schedule list`."
    )]
    ListScheduled,
    /// Remove a schedule (the original CLI's name of `maoctl schedule remove`)
    #[command(
        after_help = "Example:\n  maoctl tool stop --id demo-tool-1a2b3c4d\n\nThe same as `maoctl schedule remove ID`; runs already started go on."
    )]
    Stop {
        /// Id of the schedule, as `maoctl tool list-scheduled` shows it
        #[arg(long, value_name = "ID")]
        id: String,
    },
    /// Unregister a tool
    #[command(
        visible_alias = "delete",
        after_help = "Example:\n  maoctl tool remove demo-tool"
    )]
    Remove {
        /// Name of the tool
        name: String,
    },
}

impl ToolCommand {
    /// Checks what can be checked before connecting: a bad name should not wait for an
    /// unreachable daemon.
    pub fn validate(&self) -> Result<(), UsageError> {
        match self {
            ToolCommand::Get { name } | ToolCommand::Remove { name } => validate_name("name", name),
            ToolCommand::Run(run) => validate_name("name", &run.name),
            ToolCommand::Schedule(schedule) => {
                validate_name("name", &schedule.name)?;
                match &schedule.policy.id {
                    Some(id) => validate_name("--id", id),
                    None => Ok(()),
                }
            }
            ToolCommand::Stop { id } => validate_name("--id", id),
            ToolCommand::List | ToolCommand::Add(_) | ToolCommand::ListScheduled => Ok(()),
        }
    }
}

const TOOL_ADD_EXAMPLES: &str = "\
Examples:
  maoctl tool add demo-tool ada mao/demo:1 \\
      https://git.example.com/data.git https://git.example.com/code.git results.csv \\
      --description 'daily weather scrape' --env CITY=Zurich --env UNITS=metric \\
      -- python scrape.py --verbose
  maoctl tool add demo-tool ada mao/demo:1 /srv/git/data.git /srv/git/code.git out.csv \
      --timeout 30m --memory 1g --cpus 2
  maoctl tool add -f demo-tool.json
  maoctl tool get demo-tool -o json > t.json && $EDITOR t.json && maoctl tool add --replace -f t.json

The JSON document has the fields name, author, image, data_repo, code_repo, artefact,
and optionally description, cmd (a list of arguments), env (an object), limits (an
object with timeout, memory, cpus and pids) and docker_socket (true or false).";

/// Arguments of `maoctl tool add`.
#[derive(Debug, Args)]
#[command(
    mut_arg("env", |arg| arg.help("Environment variable for every run (repeatable)")),
    mut_arg("cmd", |arg| arg.help(
        "Argument of the command every run executes instead of the image's CMD (repeatable)"
    )),
    mut_arg("args", |arg| arg.help(
        "The command every run executes instead of the image's CMD, after `--`"
    ))
)]
pub struct ToolAdd {
    /// Name of the tool (lower-case letters, digits, '.', '_', '-')
    #[arg(required_unless_present = "file")]
    pub name: Option<String>,
    /// Who maintains the tool
    #[arg(required_unless_present = "file")]
    pub author: Option<String>,
    /// Docker image that runs the tool, e.g. mao/demo:1
    #[arg(required_unless_present = "file")]
    pub image: Option<String>,
    /// Git URL of the repository the tool's results are pushed to
    #[arg(required_unless_present = "file")]
    pub data_repo: Option<String>,
    /// Git URL of the tool's source code
    #[arg(required_unless_present = "file")]
    pub code_repo: Option<String>,
    /// The file (or folder) the tool produces in its data folder
    #[arg(required_unless_present = "file")]
    pub artefact: Option<String>,

    /// What the tool does
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[command(flatten)]
    pub overrides: RunOverrides,
    /// Mount the Docker socket into the tool's containers (the node must allow it)
    #[arg(long)]
    pub docker_socket: bool,

    /// Read the tool from a JSON document instead ('-' for standard input)
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "name", "author", "image", "data_repo", "code_repo", "artefact", "description",
            "env", "cmd", "args", "timeout", "memory", "cpus", "pids", "docker_socket",
        ]
    )]
    pub file: Option<PathBuf>,

    /// Replace the tool of that name instead of failing when it exists
    #[arg(long)]
    pub replace: bool,
}

/// Runs `maoctl tool ...`.
pub fn run(client: &Client, out: &Printer, command: ToolCommand) -> anyhow::Result<()> {
    match command {
        ToolCommand::List => {
            let tools = client.list_tools()?;
            out.list(tools, "no tools registered", render::tool::tools_table)
        }
        ToolCommand::Get { name } => {
            let tool = client.get_tool(&name)?;
            out.item(&tool, render::tool::tool_details)
        }
        ToolCommand::Add(add) => {
            let replace = add.replace;
            let tool = tool_from_args(*add)?;
            let (saved, verb) = register(
                replace,
                || client.create_tool(&tool),
                || client.replace_tool(&tool),
            )?;
            out.done(&saved, &format!("{verb} tool {}", saved.name))
        }
        ToolCommand::Remove { name } => {
            client.delete_tool(&name)?;
            out.removed(&format!("removed tool {name}"))
        }
        ToolCommand::Run(run) => super::run::tool_run(client, out, *run),
        ToolCommand::Schedule(schedule) => super::schedule::tool_schedule(client, out, *schedule),
        ToolCommand::ListScheduled => super::schedule::run(client, out, ScheduleCommand::List),
        ToolCommand::Stop { id } => {
            super::schedule::run(client, out, ScheduleCommand::Remove { id })
        }
    }
}

/// The tool described by `maoctl tool add`'s arguments or file, validated as the server would.
pub fn tool_from_args(add: ToolAdd) -> anyhow::Result<Tool> {
    let tool = match &add.file {
        Some(path) => read_document::<Tool>(path, "tool")?,
        None => {
            let RunRequest { env, cmd, limits } = add.overrides.request()?;
            // clap requires the positionals when there is no file.
            Tool {
                name: add.name.unwrap_or_default(),
                author: add.author.unwrap_or_default(),
                image: add.image.unwrap_or_default(),
                data_repo: add.data_repo.unwrap_or_default(),
                code_repo: add.code_repo.unwrap_or_default(),
                artefact: add.artefact.unwrap_or_default(),
                description: add.description.unwrap_or_default(),
                cmd,
                env,
                limits,
                docker_socket: add.docker_socket,
                detector: None,
                capabilities: Vec::new(),
                network: None,
            }
        }
    };
    tool.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(tool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing;

    fn tool_add(args: &[&str]) -> ToolAdd {
        testing::args(args).unwrap()
    }

    const POSITIONALS: [&str; 6] = [
        "demo",
        "Jane Doe",
        "mao/demo:1",
        "https://h/d.git",
        "git@h:c.git",
        "out.csv",
    ];

    #[test]
    fn tool_from_positionals_and_flags() {
        let mut args = POSITIONALS.to_vec();
        args.extend(["--env", "B=2", "--env", "A=x=y", "--", "run", "--fast"]);
        let tool = tool_from_args(tool_add(&args)).unwrap();
        assert_eq!(tool.name, "demo");
        assert_eq!(tool.author, "Jane Doe");
        assert_eq!(tool.code_repo, "git@h:c.git");
        assert_eq!(tool.cmd, Some(vec!["run".to_owned(), "--fast".to_owned()]));
        assert_eq!(tool.env.get("A").map(String::as_str), Some("x=y"));
        assert_eq!(tool.env.len(), 2);
        assert_eq!(tool.description, "");
    }

    #[test]
    fn tool_without_command_keeps_the_image_default() {
        let tool = tool_from_args(tool_add(&POSITIONALS)).unwrap();
        assert_eq!(tool.cmd, None);
        assert!(tool.env.is_empty());
    }

    #[test]
    fn repeated_env_and_invalid_fields_are_usage_errors() {
        let mut args = POSITIONALS.to_vec();
        args.extend(["--env", "A=1", "--env", "A=2"]);
        let e = tool_from_args(tool_add(&args)).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert_eq!(e.to_string(), "--env A is given twice");

        let mut args = POSITIONALS.to_vec();
        args[2] = "Not An Image";
        let e = tool_from_args(tool_add(&args)).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().starts_with("image: "), "{e}");
    }
}
