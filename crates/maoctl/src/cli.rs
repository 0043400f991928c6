//! The command line: flags, subcommands and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const MAIN_EXAMPLES: &str = "\
Examples:
  maoctl tool list
  maoctl --endpoint http://mao-1.example.com:8080 node list
  MAO_ENDPOINT=http://10.0.0.5:8080 maoctl dataset get weather -o json

Exit status: 0 on success, 1 when the daemon or the network failed, 2 on a usage error.";

/// Command-line client of the MAO orchestrator: register tools and datasets, list nodes.
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
    /// Register, inspect and remove datasets (git repositories shared by nodes)
    #[command(subcommand, after_help = DATASET_EXAMPLES)]
    Dataset(DatasetCommand),
    /// Inspect the live members of the federation
    #[command(subcommand, after_help = NODE_EXAMPLES)]
    Node(NodeCommand),
}

const TOOL_EXAMPLES: &str = "\
Examples:
  maoctl tool list
  maoctl tool get demo-tool
  maoctl tool add demo-tool ada mao/demo:1 https://git.example.com/data.git https://git.example.com/code.git results.csv
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
  maoctl tool add -f demo-tool.json
  maoctl tool get demo-tool -o json > t.json && $EDITOR t.json && maoctl tool add --replace -f t.json

The JSON document has the fields name, author, image, data_repo, code_repo, artefact,
and optionally description, cmd (a list of arguments) and env (an object).";

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

    /// Read the tool from a JSON document instead ('-' for standard input)
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        conflicts_with_all = ["name", "author", "image", "data_repo", "code_repo", "artefact", "description", "env", "cmd", "args"]
    )]
    pub file: Option<PathBuf>,

    /// Replace the tool of that name instead of failing when it exists
    #[arg(long)]
    pub replace: bool,
}

const DATASET_EXAMPLES: &str = "\
Examples:
  maoctl dataset list
  maoctl dataset add weather https://git.example.com/weather.git --node node-a --node node-b
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
