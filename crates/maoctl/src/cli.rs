//! The command line: flags, subcommands and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mao_api::{CatchUp, Concurrency, RunLimits, RunStatus, ScheduleMode};

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
  maoctl spike check control.csv --method robust-z --param threshold=4

Exit status: 0 on success, 1 when the daemon or the network failed or a run did not
succeed, 2 on a usage error.";

/// Command-line client of the MAO orchestrator: register tools, datasets and pipelines, run
/// them now or on a schedule and follow their runs, clone datasets, list nodes.
#[derive(Debug, Parser)]
#[command(name = "maoctl", version, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// URL of a mao-orchestrator daemon (http:// or https://)
    #[arg(
        long,
        env = "MAO_ENDPOINT",
        default_value = mao_client::DEFAULT_ENDPOINT,
        value_name = "URL",
        global = true,
        help_heading = "Global options"
    )]
    pub endpoint: String,

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

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// aligned columns with a header
    Table,
    /// the API's document, pretty-printed
    Json,
}

/// The resources maoctl manages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, inspect and remove tools (Docker images that produce a dataset)
    #[command(subcommand, after_help = TOOL_EXAMPLES)]
    Tool(ToolCommand),
    /// Register, inspect, clone and remove datasets (git repositories shared by nodes)
    #[command(subcommand, after_help = DATASET_EXAMPLES)]
    Dataset(DatasetCommand),
    /// Register pipelines (steps of tools writing datasets), prepare the node, run them
    #[command(subcommand, after_help = PIPELINE_EXAMPLES)]
    Pipeline(PipelineCommand),
    /// Inspect, follow and cancel the runs of tools on the node
    #[command(subcommand, after_help = RUN_EXAMPLES)]
    Run(RunCommand),
    /// Inspect, pause, resume and remove schedules (cron expressions that run tools)
    #[command(subcommand, after_help = SCHEDULE_EXAMPLES)]
    Schedule(ScheduleCommand),
    /// Inspect the live members of the federation
    #[command(subcommand, after_help = NODE_EXAMPLES)]
    Node(NodeCommand),
    /// Try the spike detector on a series of past values, offline (no daemon needed)
    #[command(subcommand)]
    Spike(crate::spike::SpikeCommand),
    /// List and acknowledge notifications (spikes, failed runs, pushes that keep failing)
    #[command(subcommand, after_help = NOTIFICATION_EXAMPLES)]
    Notification(NotificationCommand),
}

const NOTIFICATION_EXAMPLES: &str = "\
Examples:
  maoctl notification list --unacked
  maoctl notification list --kind spike -o json
  maoctl notification get 01J9Z8K3YQ7M2E4V6T8W0X1Y2Z
  maoctl notification ack 01J9Z8K3YQ7M2E4V6T8W0X1Y2Z --by alice";

/// `maoctl notification ...`
#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// List notifications, newest first
    #[command(after_help = NOTIFICATION_EXAMPLES)]
    List {
        /// Only this kind: spike, run_failed, push_failing, push_conflict, ground_truth_conflict
        #[arg(long, value_parser = parse_kind)]
        kind: Option<mao_api::NotificationKind>,
        /// Only those nobody has acknowledged
        #[arg(long)]
        unacked: bool,
        /// At most this many (1..1000)
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one notification
    Get { id: String },
    /// Acknowledge a notification
    Ack {
        id: String,
        /// Who acknowledges [default: the daemon's node name]
        #[arg(long)]
        by: Option<String>,
    },
}

fn parse_kind(s: &str) -> Result<mao_api::NotificationKind, String> {
    s.parse()
}

const TOOL_EXAMPLES: &str = "\
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
    #[command(after_help = TOOL_RUN_HELP)]
    Run(Box<ToolRun>),
    /// Run a tool on a schedule: daily, weekly or a cron expression, in a time zone
    #[command(after_help = TOOL_SCHEDULE_HELP)]
    Schedule(Box<ToolSchedule>),
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
    /// Environment variable for every run (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Argument of the command every run executes instead of the image's CMD (repeatable)
    #[arg(
        long = "cmd",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "args"
    )]
    pub cmd: Vec<String>,
    /// The command every run executes instead of the image's CMD, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
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

/// Limits of a run; unset ones fall back to the tool's, then to the node's.
#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Wall-clock limit, e.g. 90s, 10m or 1h30m; then the run is killed and ends timed_out
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, help_heading = "Limits")]
    pub timeout: Option<String>,
    /// Memory limit, e.g. 512m or 2g (at least 6m)
    #[arg(long, value_name = "SIZE", value_parser = parse_memory, help_heading = "Limits")]
    pub memory: Option<String>,
    /// CPUs the run may use, e.g. 0.5 or 1.5
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_cpus,
        allow_negative_numbers = true,
        help_heading = "Limits"
    )]
    pub cpus: Option<f64>,
    /// Maximum number of processes in the container
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(i64).range(1..),
        allow_negative_numbers = true,
        help_heading = "Limits"
    )]
    pub pids: Option<i64>,
}

impl LimitArgs {
    /// The limits as the API carries them.
    pub fn to_limits(&self) -> RunLimits {
        RunLimits {
            timeout: self.timeout.clone(),
            memory: self.memory.clone(),
            cpus: self.cpus,
            pids: self.pids,
        }
    }
}

const TOOL_RUN_HELP: &str = "\
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

    /// Environment variable of this run, added to the tool's (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Argument of the command this run executes instead of the tool's (repeatable)
    #[arg(
        long = "cmd",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "args"
    )]
    pub cmd: Vec<String>,
    /// The command this run executes instead of the tool's, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Print the run's id (its queued record with -o json) and return at once
    #[arg(short = 'd', long, conflicts_with = "follow")]
    pub detach: bool,
    /// Copy the run's log to standard output while it runs
    #[arg(short = 'f', long)]
    pub follow: bool,
}

const TOOL_SCHEDULE_HELP: &str = "\
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

    /// Environment variable of each run, added to the tool's (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Argument of the command each run executes instead of the tool's (repeatable)
    #[arg(
        long = "cmd",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "args"
    )]
    pub cmd: Vec<String>,
    /// The command each run executes instead of the tool's, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// When and how a schedule fires: the flags `maoctl tool schedule` and
/// `maoctl pipeline run --cron` share. Each needs a cron expression (the argument `cron`).
#[derive(Debug, Default, Args)]
pub struct SchedulePolicy {
    /// IANA time zone the expression is read in, e.g. Europe/Zurich (default: UTC)
    #[arg(long, value_name = "ZONE", requires = "cron")]
    pub tz: Option<String>,
    /// Which nodes run each slot (default: every-node)
    #[arg(long, value_enum, value_name = "MODE", requires = "cron")]
    pub mode: Option<ModeArg>,
    /// What a slot does while the previous run is still going (default: forbid)
    #[arg(long, value_enum, value_name = "POLICY", requires = "cron")]
    pub concurrency: Option<ConcurrencyArg>,
    /// Which slots missed while the node was down run late (default: latest)
    #[arg(long, value_enum, value_name = "POLICY", requires = "cron")]
    pub catch_up: Option<CatchUpArg>,
    /// How late a missed slot may still start, e.g. 30m or 2h (default: 18h)
    #[arg(long, value_name = "DURATION", value_parser = parse_deadline, requires = "cron")]
    pub deadline: Option<String>,
    /// Id of the schedule (default: the name and a random suffix)
    #[arg(long, value_name = "ID", requires = "cron")]
    pub id: Option<String>,
    /// Create the schedule paused: it fires once `maoctl schedule resume ID` is run
    #[arg(long, requires = "cron")]
    pub paused: bool,
}

/// `--mode`: which nodes run a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// every node that holds the schedule runs each slot
    EveryNode,
    /// exactly one node of the federation runs each slot
    Once,
}

impl From<ModeArg> for ScheduleMode {
    fn from(mode: ModeArg) -> ScheduleMode {
        match mode {
            ModeArg::EveryNode => ScheduleMode::EveryNode,
            ModeArg::Once => ScheduleMode::Once,
        }
    }
}

/// `--concurrency`: what a slot does while the previous run is still going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConcurrencyArg {
    /// the slot is skipped
    Forbid,
    /// both run
    Allow,
    /// the previous run is cancelled and the new one starts
    Replace,
}

impl From<ConcurrencyArg> for Concurrency {
    fn from(policy: ConcurrencyArg) -> Concurrency {
        match policy {
            ConcurrencyArg::Forbid => Concurrency::Forbid,
            ConcurrencyArg::Allow => Concurrency::Allow,
            ConcurrencyArg::Replace => Concurrency::Replace,
        }
    }
}

/// `--catch-up`: which missed slots run late.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CatchUpArg {
    /// a slot runs on time or not at all
    None,
    /// the newest missed slot within the deadline
    Latest,
    /// every missed slot within the deadline, oldest first
    All,
}

impl From<CatchUpArg> for CatchUp {
    fn from(policy: CatchUpArg) -> CatchUp {
        match policy {
            CatchUpArg::None => CatchUp::None,
            CatchUpArg::Latest => CatchUp::Latest,
            CatchUpArg::All => CatchUp::All,
        }
    }
}

const SCHEDULE_EXAMPLES: &str = "\
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

const RUN_EXAMPLES: &str = "\
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

const DATASET_EXAMPLES: &str = "\
Examples:
  maoctl dataset list
  maoctl dataset add weather https://git.example.com/weather.git --node node-a --node node-b
  maoctl dataset clone weather
  maoctl dataset clone weather --dir ./weather
  maoctl dataset list-local
  maoctl dataset init-local scratch --description 'notes of node-a'
  maoctl dataset remove-local weather
  maoctl dataset remove weather";

/// `maoctl dataset ...`
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// List the registered datasets
    #[command(
        after_help = "Example:\n  maoctl dataset list\n  maoctl dataset list -o json | jq -r '.items[].master'"
    )]
    List,
    /// Show one dataset
    #[command(after_help = "Example:\n  maoctl dataset get weather")]
    Get {
        /// Name of the dataset
        name: String,
    },
    /// Register a dataset, from arguments or from a JSON document
    #[command(after_help = DATASET_ADD_EXAMPLES)]
    Add(DatasetAdd),
    /// Unregister a dataset
    #[command(
        visible_alias = "delete",
        after_help = "Example:\n  maoctl dataset remove weather"
    )]
    Remove {
        /// Name of the dataset
        name: String,
    },
    /// Clone a dataset: on the node, into its data dir, or here, into --dir
    #[command(after_help = DATASET_CLONE_HELP)]
    Clone(DatasetClone),
    /// List the datasets cloned on the node, with the state of each clone
    #[command(
        after_help = "Examples:\n  maoctl dataset list-local\n  maoctl dataset list-local -o json | jq -r '.items[] | select(.unpushed > 0) | .name'\n\nUNPUSHED counts the commits the remote does not have yet; CLEAN is no when the\nworktree has uncommitted changes; REGISTERED is no when the dataset was unregistered\nsince it was cloned."
    )]
    ListLocal,
    /// Delete the node's clone of a dataset (its registration stays)
    #[command(
        after_help = "Examples:\n  maoctl dataset remove-local weather\n  maoctl dataset remove-local weather --force\n\nA clone with commits the remote does not have, or with uncommitted changes, is kept\nunless --force is given: then that work is lost."
    )]
    RemoveLocal {
        /// Name of the dataset
        name: String,
        /// Delete the clone even if it has unpushed commits or uncommitted changes
        #[arg(long)]
        force: bool,
    },
    /// Create a dataset kept on the node only: a new git repository in its data dir
    #[command(
        after_help = "Examples:\n  maoctl dataset init-local scratch\n  maoctl dataset init-local scratch --description 'notes of node-a'\n\nThe repository starts with a README on its branch main and is registered as a\nlocal-only dataset, so pipelines of this node can write to it."
    )]
    InitLocal {
        /// Name of the dataset (lower-case letters, digits, '.', '_', '-')
        name: String,
        /// What the dataset holds
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
}

const DATASET_CLONE_HELP: &str = "\
Examples:
  maoctl dataset clone weather
  maoctl dataset clone weather --dir ./weather
  maoctl dataset clone weather --dir /tmp/w --ssh-key ~/.ssh/id_ed25519 --known-hosts ~/.ssh/known_hosts
  MAO_GIT_HTTPS_TOKEN=... maoctl dataset clone weather --dir ./weather

Without --dir, the node clones the dataset into its data dir (if it has not yet) and
maoctl prints where. With --dir, maoctl reads the dataset's git URL from the registry and
clones it here, on the remote's default branch, for someone who only wants the data;
DIR must not exist or be empty. An https:// remote gets the token in MAO_GIT_HTTPS_TOKEN
as its password; an SSH remote uses --ssh-key (else the SSH agent) and --known-hosts
(else ~/.ssh/known_hosts).";

/// Arguments of `maoctl dataset clone`.
#[derive(Debug, Args)]
pub struct DatasetClone {
    /// Name of the dataset
    pub name: String,
    /// Clone here, into this folder (absent or empty), instead of on the node
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Private key for an SSH remote (with --dir; default: the SSH agent)
    #[arg(long, value_name = "PATH", env = "MAO_GIT_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH remote's host key must be in (with --dir; default:
    /// ~/.ssh/known_hosts)
    #[arg(long, value_name = "PATH", env = "MAO_GIT_KNOWN_HOSTS")]
    pub known_hosts: Option<PathBuf>,
}

const DATASET_ADD_EXAMPLES: &str = "\
Examples:
  maoctl dataset add weather https://git.example.com/weather.git --node node-a --node node-b \\
      --description 'hourly readings'
  maoctl dataset add scratch /srv/git/scratch.git --local-only
  maoctl dataset add -f weather.json

The JSON document has the fields name and master, and optionally nodes (a list of
branch names), description and local_only.";

/// Arguments of `maoctl dataset add`.
#[derive(Debug, Args)]
pub struct DatasetAdd {
    /// Name of the dataset (lower-case letters, digits, '.', '_', '-')
    #[arg(required_unless_present = "file")]
    pub name: Option<String>,
    /// Git URL of the shared repository
    #[arg(required_unless_present = "file")]
    pub master: Option<String>,

    /// Branch of a node that works on the dataset (repeatable)
    #[arg(long = "node", value_name = "BRANCH")]
    pub nodes: Vec<String>,
    /// What the dataset holds
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Keep the dataset on one node only
    #[arg(long)]
    pub local_only: bool,

    /// Read the dataset from a JSON document instead ('-' for standard input)
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        conflicts_with_all = ["name", "master", "nodes", "description", "local_only"]
    )]
    pub file: Option<PathBuf>,

    /// Replace the dataset of that name instead of failing when it exists
    #[arg(long)]
    pub replace: bool,
}

const PIPELINE_EXAMPLES: &str = "\
Examples:
  maoctl pipeline add -f weather.yaml
  maoctl pipeline list
  maoctl pipeline get weather
  maoctl pipeline init weather
  maoctl pipeline run weather --follow
  maoctl pipeline run weather --cron '0 3 * * *' --tz Europe/Zurich
  maoctl pipeline runs weather --limit 5
  maoctl pipeline status 01J9Z8X7W6V5T4S3R2Q1P0NMKH
  maoctl pipeline remove weather

A pipeline runs its steps in order on a node; each step is a run of a tool that writes
into the node's branch of its output dataset, and its commit is pushed. Run
`maoctl pipeline init NAME` once on each node before its first run.";

/// `maoctl pipeline ...`
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List the pipelines
    #[command(
        after_help = "Examples:\n  maoctl pipeline list\n  maoctl pipeline list -o json | jq -r '.items[].name'"
    )]
    List,
    /// Show one pipeline and its steps
    #[command(
        after_help = "Examples:\n  maoctl pipeline get weather\n  maoctl pipeline get weather -o json > weather.json"
    )]
    Get {
        /// Name of the pipeline
        name: String,
    },
    /// Register a pipeline from a JSON or YAML document
    #[command(after_help = PIPELINE_ADD_HELP)]
    Add {
        /// The pipeline document, JSON or YAML ('-' for standard input)
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
        /// Replace the pipeline of that name instead of failing when it exists
        #[arg(long)]
        replace: bool,
    },
    /// Remove a pipeline (runs already started go on)
    #[command(
        visible_alias = "delete",
        after_help = "Example:\n  maoctl pipeline remove weather"
    )]
    Remove {
        /// Name of the pipeline
        name: String,
    },
    /// Prepare the node for a pipeline: clone its datasets, set up the node's branches
    #[command(
        after_help = "Examples:\n  maoctl pipeline init weather\n  maoctl pipeline init weather -o json | jq .changed\n\nEach dataset the pipeline uses is cloned on the node; for each output dataset the\nbranch named after the node is created (from the remote's default branch) or tracked,\npushed, and added to the dataset's nodes. Running it again changes nothing."
    )]
    Init {
        /// Name of the pipeline
        name: String,
    },
    /// Run a pipeline now on the node, or on a schedule with --cron
    #[command(after_help = PIPELINE_RUN_HELP)]
    Run(Box<PipelineRun>),
    /// List the node's pipeline runs, newest first
    #[command(
        after_help = "Examples:\n  maoctl pipeline runs\n  maoctl pipeline runs weather --limit 5\n  maoctl pipeline runs -o json | jq -r '.items[] | [.id, .status] | @tsv'"
    )]
    Runs {
        /// Only the runs of this pipeline
        name: Option<String>,
        /// At most this many runs (1 to 1000; the daemon's default is 50)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: Option<u64>,
    },
    /// Report how a pipeline run went, step by step, with what each step did in git
    #[command(
        after_help = "Examples:\n  maoctl pipeline status 01J9Z8X7W6V5T4S3R2Q1P0NMKH\n  maoctl pipeline status 01J9Z8X7W6V5T4S3R2Q1P0NMKH -o json | jq -r '.steps[].run_id'\n\nWith -o json it prints the pipeline run as the daemon sends it; `maoctl run get ID -o json`\nshows the git outcome of each step's run."
    )]
    Status {
        /// Id of the pipeline run, as `maoctl pipeline runs` shows it
        id: String,
    },
    /// Cancel a queued or running pipeline run: its current step is stopped, later steps
    /// do not run
    #[command(after_help = "Examples:\n  maoctl pipeline cancel 01J9Z8X7W6V5T4S3R2Q1P0NMKH")]
    Cancel {
        /// Id of the pipeline run, as `maoctl pipeline runs` shows it
        id: String,
    },
}

const PIPELINE_ADD_HELP: &str = "\
Examples:
  maoctl pipeline add -f weather.yaml
  maoctl pipeline get weather -o json > p.json && $EDITOR p.json && maoctl pipeline add --replace -f p.json
  cat weather.yaml | maoctl pipeline add -f -

A file ending in .yaml or .yml is read as YAML, any other as JSON, or as YAML when it is
not JSON. The document:

  name: weather
  description: hourly readings, cleaned     # optional
  ground_truth: merge                       # optional: none (default) or merge
  steps:
    - name: collect
      tool: weather-scraper
      output_dataset: weather-raw
      env: {CITY: Zurich, API_KEY: '{{ secret:weather-api }}'}   # optional
    - name: clean
      tool: cleaner
      input_dataset: weather-raw            # optional: mounted read-only
      output_dataset: weather-clean
      cmd: [python, clean.py]               # optional

It is checked here first; a mistake is named by its field, e.g. steps[1].tool.";

const PIPELINE_RUN_HELP: &str = "\
Examples:
  maoctl pipeline run weather
  maoctl pipeline run weather --follow
  id=$(maoctl pipeline run weather) && maoctl pipeline status \"$id\"
  maoctl pipeline run weather --cron daily --tz Europe/Zurich
  maoctl pipeline run weather --cron '*/30 * * * *' --mode once --concurrency forbid
  maoctl pipeline run weather --cron '@hourly' --catch-up all --deadline 6h --id weather-hourly

Without --cron the pipeline is queued on the node and its run id printed. With --follow,
maoctl waits for it to end, shows each step as it starts and ends on standard error,
then prints a report (each step's run, exit code, commit and push); the exit status is 0
if the pipeline run succeeded and 1 otherwise. Ctrl-C stops waiting, not the run.

With --cron, a schedule runs the pipeline instead, and its id is printed: the flags are
those of `maoctl tool schedule` (see `maoctl tool schedule --help`).";

/// Arguments of `maoctl pipeline run`.
#[derive(Debug, Args)]
pub struct PipelineRun {
    /// Name of the pipeline
    pub name: String,
    /// Words after NAME: an unquoted --cron expression, refused with advice
    #[arg(hide = true)]
    pub stray: Vec<String>,

    /// Wait for the run to end, showing its steps, and report how it went
    #[arg(short = 'f', long, conflicts_with = "cron")]
    pub follow: bool,

    /// Run on a schedule instead of now: hourly, daily, weekly, an @-nickname or a cron
    /// expression (one argument: quote it)
    #[arg(long, value_name = "WHEN", help_heading = "Schedule")]
    pub cron: Option<String>,
    #[command(flatten, next_help_heading = "Schedule")]
    pub policy: SchedulePolicy,
}

const NODE_EXAMPLES: &str = "\
Examples:
  maoctl node list
  maoctl node list -o json | jq -r '.items[].api_url'";

/// `maoctl node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the live nodes of the federation
    #[command(after_help = NODE_EXAMPLES)]
    List,
}

/// Checks a `--timeout` as the daemon would (`10m`, `1h30m`, above zero).
pub fn parse_timeout(s: &str) -> Result<String, String> {
    let limits = RunLimits {
        timeout: Some(s.trim().to_owned()),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(s.trim().to_owned())
}

/// Checks a `--memory` as the daemon would (`512m`, `2g`, at least 6m).
pub fn parse_memory(s: &str) -> Result<String, String> {
    let limits = RunLimits {
        memory: Some(s.trim().to_owned()),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(s.trim().to_owned())
}

/// Checks a `--cpus` as the daemon would (above 0, at most 1024).
pub fn parse_cpus(s: &str) -> Result<f64, String> {
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of CPUs (e.g. 0.5, 2)"))?;
    let limits = RunLimits {
        cpus: Some(cpus),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(cpus)
}

/// Checks a `--deadline` as the daemon would (`30m`, `2h`, above zero).
pub fn parse_deadline(s: &str) -> Result<String, String> {
    let deadline = mao_api::units::parse_duration(s.trim())?;
    if deadline.is_zero() {
        return Err("must be above zero".to_owned());
    }
    Ok(s.trim().to_owned())
}

/// Parses a run status by its wire name (`timed_out`).
pub fn parse_status(s: &str) -> Result<RunStatus, String> {
    s.trim().parse()
}

/// Parses `KEY=VALUE`; the value may be empty and may contain `=`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("{s:?} has no name before '='")),
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
        None => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("A=1").unwrap(),
            ("A".to_owned(), "1".to_owned())
        );
        assert_eq!(
            parse_key_value("URL=http://x/?a=b").unwrap(),
            ("URL".to_owned(), "http://x/?a=b".to_owned())
        );
        assert_eq!(
            parse_key_value("EMPTY=").unwrap(),
            ("EMPTY".to_owned(), String::new())
        );
        assert!(parse_key_value("NOVALUE")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_key_value("=x").unwrap_err().contains("no name"));
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
        assert_eq!(add.env, vec![("A".to_owned(), "1".to_owned())]);
        assert_eq!(add.args, vec!["run", "--fast"]);
        assert!(add.cmd.is_empty());
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
        assert_eq!(add.cmd, vec!["run", "--fast"]);
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

    fn tool_run(args: &[&str]) -> Result<ToolRun, clap::Error> {
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
            run.limits.to_limits(),
            RunLimits {
                timeout: Some("1h30m".into()),
                memory: Some("1GiB".into()),
                cpus: Some(0.5),
                pids: Some(1),
            }
        );
        let run = tool_run(&["demo", "-f", "--", "sh", "-c", "exit 3"]).unwrap();
        assert!(run.follow);
        assert_eq!(run.args, vec!["sh", "-c", "exit 3"]);
        assert!(run.limits.to_limits().is_empty());
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
        assert_eq!(add.limits.timeout.as_deref(), Some("30m"));
        assert!(add.docker_socket);
        let e = parse(&["tool", "add", "-f", "t.json", "--memory", "1g"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn deadlines() {
        assert_eq!(parse_deadline(" 2h ").unwrap(), "2h");
        assert_eq!(parse_deadline("1h30m").unwrap(), "1h30m");
        assert_eq!(parse_deadline("90").unwrap(), "90");
        assert_eq!(parse_deadline("0s").unwrap_err(), "must be above zero");
        assert!(parse_deadline("2 days")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_deadline("").is_err());
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
        assert_eq!(cli.endpoint, "http://h:1");
        assert!(parse(&["dataset", "delete", "weather"]).is_ok());
    }
}
