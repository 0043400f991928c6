//! What each subcommand does: build the request, call the daemon, print the answer.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

use mao_api::{Dataset, List, Tool};
use mao_client::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cli::{
    Cli, Command, DatasetAdd, DatasetCommand, NodeCommand, OutputFormat, PipelineCommand,
    RunCommand, ScheduleCommand, ToolAdd, ToolCommand,
};
use crate::{local, output, pipelines, runs, schedules, spike};

/// A mistake in what the user asked for; `main` exits with status 2 for it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Printer { format: cli.output };
    if let Command::Spike(command) = cli.command {
        // Offline: no daemon, so the endpoint does not matter.
        return spike::spike_command(&out, command);
    }
    // Checked before connecting: a bad name should not wait for an unreachable daemon.
    validate_request(&cli.command)?;
    let client = Client::new(&cli.endpoint).map_err(|e| UsageError(e.to_string()))?;
    match cli.command {
        Command::Tool(command) => tool(&client, &out, command),
        Command::Dataset(command) => dataset(&client, &out, command),
        Command::Pipeline(command) => pipelines::pipeline_command(&client, &out, command),
        Command::Run(command) => runs::run_command(&client, &out, command),
        Command::Schedule(command) => schedules::schedule_command(&client, &out, command),
        Command::Node(NodeCommand::List) => {
            let nodes = client.list_nodes()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            out.list(nodes, "no live nodes", |n| output::nodes_table(n, now))
        }
        Command::Notification(command) => notification(&client, &out, command),
        Command::Spike(_) => unreachable!("spike commands return above"),
    }
}

fn notification(
    client: &Client,
    out: &Printer,
    command: crate::cli::NotificationCommand,
) -> anyhow::Result<()> {
    use crate::cli::NotificationCommand as N;
    match command {
        N::List {
            kind,
            unacked,
            limit,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err(UsageError("--limit must be between 1 and 1000".into()).into());
            }
            let items = client.list_notifications(kind, unacked, Some(limit))?;
            out.list(items, "no notifications", output::notifications_table)
        }
        N::Get { id } => {
            let n = client.get_notification(&id)?;
            out.item(&n, output::notification_details)
        }
        N::Ack { id, by } => {
            let n = client.ack_notification(&id, by.as_deref())?;
            out.item(&n, |n| {
                format!(
                    "acknowledged {} by {}",
                    n.id,
                    n.acknowledged_by.as_deref().unwrap_or("?")
                )
            })
        }
    }
}

fn validate_request(command: &Command) -> anyhow::Result<()> {
    let name = match command {
        Command::Tool(ToolCommand::Get { name } | ToolCommand::Remove { name })
        | Command::Dataset(
            DatasetCommand::Get { name }
            | DatasetCommand::Remove { name }
            | DatasetCommand::RemoveLocal { name, .. }
            | DatasetCommand::InitLocal { name, .. },
        )
        | Command::Pipeline(
            PipelineCommand::Get { name }
            | PipelineCommand::Remove { name }
            | PipelineCommand::Init { name }
            | PipelineCommand::Runs {
                name: Some(name), ..
            },
        ) => name,
        Command::Tool(ToolCommand::Run(run)) => &run.name,
        Command::Pipeline(PipelineCommand::Run(run)) => &run.name,
        Command::Dataset(DatasetCommand::Clone(clone)) => {
            if let Some(dir) = &clone.dir {
                local::check_destination(dir)?;
            }
            &clone.name
        }
        Command::Pipeline(PipelineCommand::Status { id }) => {
            return runs::validate_pipeline_run_id(id).map_err(|e| UsageError(e).into())
        }
        Command::Run(RunCommand::List {
            tool: Some(tool), ..
        }) => {
            mao_api::validate::name("--tool", tool).map_err(|e| UsageError(e.to_string()))?;
            return Ok(());
        }
        Command::Run(
            RunCommand::Get { id } | RunCommand::Logs { id, .. } | RunCommand::Cancel { id },
        ) => return runs::validate_run_id(id).map_err(|e| UsageError(e).into()),
        Command::Tool(ToolCommand::Schedule(schedule)) => {
            schedules::validate_id("name", &schedule.name)?;
            if let Some(id) = &schedule.policy.id {
                schedules::validate_id("--id", id)?;
            }
            return Ok(());
        }
        Command::Tool(ToolCommand::Stop { id }) => return Ok(schedules::validate_id("--id", id)?),
        Command::Schedule(
            ScheduleCommand::Get { id }
            | ScheduleCommand::Pause { id }
            | ScheduleCommand::Resume { id }
            | ScheduleCommand::Remove { id }
            | ScheduleCommand::Next { id, .. }
            | ScheduleCommand::History { id, .. },
        ) => return Ok(schedules::validate_id("id", id)?),
        _ => return Ok(()),
    };
    mao_api::validate::name("name", name).map_err(|e| UsageError(e.to_string()))?;
    Ok(())
}

fn tool(client: &Client, out: &Printer, command: ToolCommand) -> anyhow::Result<()> {
    match command {
        ToolCommand::List => {
            let tools = client.list_tools()?;
            out.list(tools, "no tools registered", output::tools_table)
        }
        ToolCommand::Get { name } => {
            let tool = client.get_tool(&name)?;
            out.item(&tool, output::tool_details)
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
        ToolCommand::Run(run) => runs::tool_run(client, out, *run),
        ToolCommand::Schedule(schedule) => schedules::tool_schedule(client, out, *schedule),
        ToolCommand::ListScheduled => {
            schedules::schedule_command(client, out, ScheduleCommand::List)
        }
        ToolCommand::Stop { id } => {
            schedules::schedule_command(client, out, ScheduleCommand::Remove { id })
        }
    }
}

fn dataset(client: &Client, out: &Printer, command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::List => {
            let datasets = client.list_datasets()?;
            out.list(datasets, "no datasets registered", output::datasets_table)
        }
        DatasetCommand::Get { name } => {
            let dataset = client.get_dataset(&name)?;
            out.item(&dataset, output::dataset_details)
        }
        DatasetCommand::Add(add) => {
            let replace = add.replace;
            let dataset = dataset_from_args(add)?;
            let (saved, verb) = register(
                replace,
                || client.create_dataset(&dataset),
                || client.replace_dataset(&dataset),
            )?;
            out.done(&saved, &format!("{verb} dataset {}", saved.name))
        }
        DatasetCommand::Remove { name } => {
            client.delete_dataset(&name)?;
            out.removed(&format!("removed dataset {name}"))
        }
        DatasetCommand::Clone(clone) => local::clone(client, out, clone),
        DatasetCommand::ListLocal => {
            let clones = client.list_local_datasets()?;
            out.list(
                clones,
                "no dataset is cloned on the node",
                output::local_datasets_table,
            )
        }
        DatasetCommand::RemoveLocal { name, force } => local::remove(client, out, &name, force),
        DatasetCommand::InitLocal { name, description } => {
            local::init(client, out, name, description)
        }
    }
}

/// Creates a resource, or with `replace` replaces the one of that name; returns what the
/// daemon saved and the verb that says which it was. The daemon's refusal comes with
/// what to do instead.
pub(crate) fn register<T>(
    replace: bool,
    create: impl FnOnce() -> Result<T, mao_client::Error>,
    replace_existing: impl FnOnce() -> Result<T, mao_client::Error>,
) -> anyhow::Result<(T, &'static str)> {
    let (result, verb, refused, advice): (_, _, fn(&mao_client::Error) -> bool, _) = if replace {
        (
            replace_existing(),
            "replaced",
            mao_client::Error::is_not_found,
            "add it without --replace",
        )
    } else {
        (
            create(),
            "registered",
            mao_client::Error::is_conflict,
            "pass --replace to replace it",
        )
    };
    let saved = result.map_err(|e| hint(e, refused, advice))?;
    Ok((saved, verb))
}

/// Adds what to do next to an error the user can fix, keeping the server's message first.
pub(crate) fn hint(
    error: mao_client::Error,
    applies: fn(&mao_client::Error) -> bool,
    advice: &str,
) -> anyhow::Error {
    if applies(&error) {
        anyhow::anyhow!("{error} ({advice})")
    } else {
        error.into()
    }
}

/// The tool described by `maoctl tool add`'s arguments or file, validated as the server would.
pub fn tool_from_args(add: ToolAdd) -> anyhow::Result<Tool> {
    let tool = match &add.file {
        Some(path) => read_document::<Tool>(path, "tool")?,
        None => {
            let env = env_map(add.env)?;
            let cmd = if !add.cmd.is_empty() {
                Some(add.cmd)
            } else if !add.args.is_empty() {
                Some(add.args)
            } else {
                None
            };
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
                limits: add.limits.to_limits(),
                docker_socket: add.docker_socket,
                detector: None,
            }
        }
    };
    tool.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(tool)
}

/// The `--env` pairs as a map; a name given twice is a usage error.
pub(crate) fn env_map(pairs: Vec<(String, String)>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (key, value) in pairs {
        if env.insert(key.clone(), value).is_some() {
            return Err(UsageError(format!("--env {key} is given twice")).into());
        }
    }
    Ok(env)
}

/// The dataset described by `maoctl dataset add`'s arguments or file, validated as the server would.
pub fn dataset_from_args(add: DatasetAdd) -> anyhow::Result<Dataset> {
    let dataset = match &add.file {
        Some(path) => read_document::<Dataset>(path, "dataset")?,
        None => Dataset {
            name: add.name.unwrap_or_default(),
            master: add.master.unwrap_or_default(),
            nodes: add.nodes,
            description: add.description.unwrap_or_default(),
            local_only: add.local_only,
        },
    };
    dataset.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(dataset)
}

fn read_document<T: DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let (text, shown) = read_text(path, what)?;
    serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("{shown} is not a {what} document: {e}")).into())
}

/// The text of the file at `path` (`-`: standard input, which holds the `what`) and how
/// to name it in messages.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<(String, String), UsageError> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UsageError(format!("cannot read the {what} from standard input: {e}")))?;
        Ok((text, "standard input".to_owned()))
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        Ok((text, path.display().to_string()))
    }
}

/// Prints results in the format asked for.
pub(crate) struct Printer {
    pub(crate) format: OutputFormat,
}

impl Printer {
    pub(crate) fn list<T, F>(&self, items: Vec<T>, empty_note: &str, table: F) -> anyhow::Result<()>
    where
        T: Serialize,
        F: FnOnce(&[T]) -> output::Table,
    {
        match self.format {
            // All pages were fetched, so the document is one page without `next`.
            OutputFormat::Json => {
                let page = List { items, next: None };
                write_stdout(&output::json(&serde_json::to_value(&page)?))
            }
            OutputFormat::Table => {
                let table = table(&items);
                if table.is_empty() {
                    note(empty_note);
                }
                write_stdout(&table.render())
            }
        }
    }

    pub(crate) fn item<T: Serialize>(
        &self,
        item: &T,
        details: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => write_stdout(&output::json(&serde_json::to_value(item)?)),
            OutputFormat::Table => write_stdout(&details(item)),
        }
    }

    pub(crate) fn done<T: Serialize>(&self, item: &T, message: &str) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => write_stdout(&output::json(&serde_json::to_value(item)?)),
            OutputFormat::Table => write_stdout(&format!("{message}\n")),
        }
    }

    pub(crate) fn removed(&self, message: &str) -> anyhow::Result<()> {
        match self.format {
            // DELETE answers 204 without a document; the exit status says it all.
            OutputFormat::Json => Ok(()),
            OutputFormat::Table => write_stdout(&format!("{message}\n")),
        }
    }
}

pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub(crate) fn note(message: &str) {
    // Nothing useful can be done when stderr is gone.
    let _ = writeln!(io::stderr(), "{message}");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn tool_add(args: &[&str]) -> ToolAdd {
        let argv = ["maoctl", "tool", "add"].iter().chain(args).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Tool(ToolCommand::Add(add)) => *add,
            other => panic!("{other:?}"),
        }
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

    #[test]
    fn dataset_from_flags() {
        let argv = [
            "maoctl",
            "dataset",
            "add",
            "weather",
            "/srv/w.git",
            "--node",
            "a",
            "--node",
            "a",
        ];
        let Command::Dataset(DatasetCommand::Add(add)) = Cli::try_parse_from(argv).unwrap().command
        else {
            panic!()
        };
        let e = dataset_from_args(add).unwrap_err();
        assert_eq!(e.to_string(), "nodes: branch \"a\" is listed twice");
    }
}
