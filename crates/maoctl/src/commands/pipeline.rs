//! Pipelines and their runs: `maoctl pipeline ...`.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use mao_api::{Pipeline, PipelineRun, RunRecord, RunRequest, ScheduleRequest, Target};
use mao_client::Client;

use crate::app::{not_found, note, now_ms, read_text, register, Printer, UsageError};
use crate::args::{validate_name, validate_ulid, SchedulePolicy};
use crate::progress::Spinner;
use crate::render;
use crate::render::run::unsuccessful;
use crate::render::table::{one_line, truncate};

/// Examples of `maoctl pipeline`, shown by its help.
pub const PIPELINE_EXAMPLES: &str = "\
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
    Run(Box<PipelineRunArgs>),
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

impl PipelineCommand {
    /// Checks names and pipeline run ids before connecting.
    pub fn validate(&self) -> Result<(), UsageError> {
        match self {
            PipelineCommand::Get { name }
            | PipelineCommand::Remove { name }
            | PipelineCommand::Init { name }
            | PipelineCommand::Runs {
                name: Some(name), ..
            } => validate_name("name", name),
            PipelineCommand::Run(run) => validate_name("name", &run.name),
            PipelineCommand::Status { id } => validate_pipeline_run_id(id).map_err(UsageError),
            // The daemon's 404 says it well enough; kept as the original CLI had it.
            PipelineCommand::List
            | PipelineCommand::Add { .. }
            | PipelineCommand::Runs { name: None, .. }
            | PipelineCommand::Cancel { .. } => Ok(()),
        }
    }
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
pub struct PipelineRunArgs {
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

/// How long each long poll of a followed pipeline run asks to wait. The daemon answers
/// early only when the whole run has ended, and steps should show as they change.
const STEP_POLL: Duration = Duration::from_secs(2);

/// Checks that `id` looks like a pipeline run id (a ULID, as a run id).
pub fn validate_pipeline_run_id(id: &str) -> Result<(), String> {
    validate_ulid(id, "a pipeline run id", "maoctl pipeline runs")
}

/// Runs `maoctl pipeline ...`.
pub fn run(client: &Client, out: &Printer, command: PipelineCommand) -> anyhow::Result<()> {
    let not_found_hint = not_found("maoctl pipeline list shows the pipelines");
    match command {
        PipelineCommand::List => {
            let pipelines = client.list_pipelines()?;
            out.list(
                pipelines,
                "no pipelines registered",
                render::pipeline::pipelines_table,
            )
        }
        PipelineCommand::Get { name } => {
            let pipeline = client.get_pipeline(&name).map_err(not_found_hint)?;
            out.item(&pipeline, render::pipeline::pipeline_details)
        }
        PipelineCommand::Add { file, replace } => {
            let pipeline = pipeline_from_file(&file)?;
            let (saved, verb) = register(
                replace,
                || client.create_pipeline(&pipeline),
                || client.replace_pipeline(&pipeline),
            )?;
            out.done(
                &saved,
                &format!(
                    "{verb} pipeline {name}; maoctl pipeline init {name} prepares a node for it",
                    name = saved.name
                ),
            )
        }
        PipelineCommand::Remove { name } => {
            client.delete_pipeline(&name).map_err(not_found_hint)?;
            out.removed(&format!(
                "removed pipeline {name}; runs already started go on"
            ))
        }
        PipelineCommand::Init { name } => {
            let report = client.init_pipeline(&name).map_err(not_found_hint)?;
            out.item(&report, render::pipeline::init_report)
        }
        PipelineCommand::Run(args) => pipeline_run(client, out, *args),
        PipelineCommand::Runs { name, limit } => {
            let runs = client.list_pipeline_runs(name.as_deref(), limit.map(|l| l as usize))?;
            let empty = match &name {
                Some(name) => format!("no runs of pipeline {name} on this node"),
                None => "no pipeline runs on this node".to_owned(),
            };
            let now = now_ms();
            out.list(runs, &empty, |runs| {
                render::pipeline::pipeline_runs_table(runs, now)
            })
        }
        PipelineCommand::Status { id } => {
            let run = client.get_pipeline_run(&id).map_err(unknown_run)?;
            print_report(client, out, &run)
        }
        PipelineCommand::Cancel { id } => {
            let run = client.cancel_pipeline_run(&id).map_err(unknown_run)?;
            out.done(
                &run,
                &format!("pipeline run {} is {}", run.id, run.status.as_str()),
            )
        }
    }
}

/// An unknown pipeline run id, with where to find the right one.
fn unknown_run(e: mao_client::Error) -> anyhow::Error {
    not_found("maoctl pipeline runs shows this node's pipeline runs")(e)
}

/// The pipeline in the JSON or YAML document at `path` (`-`: standard input), checked as
/// the daemon would but for the tools and datasets it names.
pub fn pipeline_from_file(path: &Path) -> anyhow::Result<Pipeline> {
    let (text, shown) = read_text(path, "pipeline")?;
    let yaml = path
        .extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml");
    let pipeline = parse_pipeline(&text, yaml)
        .map_err(|e| UsageError(format!("{shown} is not a pipeline document: {e}")))?;
    pipeline.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(pipeline)
}

/// Reads a pipeline document: YAML when `yaml`, else JSON, or YAML when the text is not
/// JSON at all.
fn parse_pipeline(text: &str, yaml: bool) -> Result<Pipeline, String> {
    if yaml {
        return serde_norway::from_str(text).map_err(|e| e.to_string());
    }
    match serde_json::from_str(text) {
        Ok(pipeline) => Ok(pipeline),
        // Well-formed JSON of the wrong shape: YAML would only say the same less clearly.
        Err(json) if json.is_data() => Err(json.to_string()),
        Err(json) => match serde_norway::from_str(text) {
            Ok(pipeline) => Ok(pipeline),
            // Text that starts like JSON was meant as JSON: its error is the one that helps.
            Err(_) if text.trim_start().starts_with(['{', '[']) => Err(json.to_string()),
            Err(yaml) => Err(yaml.to_string()),
        },
    }
}

/// The body of `POST /api/v1/schedules` from `maoctl pipeline run --cron`'s arguments;
/// `None` without `--cron`.
pub fn pipeline_schedule_request(
    args: &PipelineRunArgs,
) -> anyhow::Result<Option<ScheduleRequest>> {
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
    super::schedule::schedule_request(
        Target::Pipeline(args.name.clone()),
        ("--cron WHEN", cron, &args.stray),
        &args.policy,
        RunRequest::default(),
    )
    .map(Some)
}

/// `maoctl pipeline run`.
fn pipeline_run(client: &Client, out: &Printer, args: PipelineRunArgs) -> anyhow::Result<()> {
    if let Some(request) = pipeline_schedule_request(&args)? {
        return super::schedule::create_schedule(client, out, &request);
    }
    let queued = client
        .start_pipeline_run(&args.name)
        .map_err(not_found("maoctl pipeline list shows the pipelines"))?;
    if !args.follow {
        // The bare id, so that `id=$(maoctl pipeline run x)` works.
        return out.done(&queued, &queued.id);
    }
    if io::stderr().is_terminal() {
        note(&format!(
            "pipeline run {} of {} queued; Ctrl-C stops waiting, not the run",
            queued.id, queued.pipeline
        ));
    }
    let spinner = Spinner::start(spinner_label(&queued));
    let finished = follow(client, queued, spinner.as_ref())?;
    drop(spinner);
    print_report(client, out, &finished)?;
    if let Some(message) = failure(&finished) {
        anyhow::bail!(message);
    }
    Ok(())
}

/// Long-polls until the pipeline run has ended, showing each step as it changes.
fn follow(
    client: &Client,
    mut run: PipelineRun,
    spinner: Option<&Spinner>,
) -> anyhow::Result<PipelineRun> {
    show(spinner, render::pipeline::step_progress(None, &run));
    while !run.status.is_finished() {
        if let Some(spinner) = spinner {
            spinner.set_label(spinner_label(&run));
        }
        let next = client.wait_pipeline_run(&run.id, STEP_POLL).with_context(|| {
            format!(
                "waiting for pipeline run {} (it goes on; maoctl pipeline status {} shows it later)",
                run.id, run.id
            )
        })?;
        show(spinner, render::pipeline::step_progress(Some(&run), &next));
        run = next;
    }
    Ok(run)
}

fn show(spinner: Option<&Spinner>, lines: Vec<String>) {
    for line in lines {
        match spinner {
            Some(spinner) => spinner.println(&line),
            None => note(&line),
        }
    }
}

fn spinner_label(run: &PipelineRun) -> String {
    format!(
        "pipeline run {} of {}: {}",
        run.id,
        truncate(&one_line(&run.pipeline), 24),
        run.status.as_str()
    )
}

/// The run's report for people, with each step's run record read from the daemon; the
/// run itself, as the daemon sent it, with `-o json`.
fn print_report(client: &Client, out: &Printer, run: &PipelineRun) -> anyhow::Result<()> {
    out.item(run, |run| {
        render::pipeline::pipeline_report(run, &step_records(client, run))
    })
}

/// Each step's run record, or why it could not be read; `None` for a step not started.
fn step_records(client: &Client, run: &PipelineRun) -> Vec<Option<Result<RunRecord, String>>> {
    run.steps
        .iter()
        .map(|step| {
            step.run_id
                .as_deref()
                .map(|id| client.get_run(id).map_err(|e| e.to_string()))
        })
        .collect()
}

/// Why the pipeline run counts as a failure, for stderr; `None` when it succeeded.
pub fn failure(run: &PipelineRun) -> Option<String> {
    let what = unsuccessful(run.status)?;
    let head = format!("pipeline run {} of {} {what}", run.id, run.pipeline);
    if let Some(error) = &run.error {
        return Some(format!("{head}: {error}"));
    }
    let failed_step = run.steps.iter().find_map(|step| {
        let status = step.status.filter(|s| s.is_finished())?;
        Some((step, unsuccessful(status)?))
    });
    Some(match failed_step {
        Some((step, how)) => format!("{head}: step {} {how}", step.name),
        None => head,
    })
}

#[cfg(test)]
mod tests {
    use mao_api::{GroundTruth, RunStatus, StepRun};

    use super::*;
    use crate::commands::testing;

    const YAML: &str = "\
name: weather
description: hourly readings, cleaned
ground_truth: merge
steps:
  - name: collect
    tool: weather-scraper
    output_dataset: weather-raw
    env:
      CITY: Zurich
      API_KEY: '{{ secret:weather-api }}'
  - name: clean
    tool: cleaner
    input_dataset: weather-raw
    output_dataset: weather-clean
    cmd: [python, clean.py, --strict]
";

    const JSON: &str = r#"{
  "name": "weather",
  "description": "hourly readings, cleaned",
  "ground_truth": "merge",
  "steps": [
    {"name": "collect", "tool": "weather-scraper", "output_dataset": "weather-raw",
     "env": {"CITY": "Zurich", "API_KEY": "{{ secret:weather-api }}"}},
    {"name": "clean", "tool": "cleaner", "input_dataset": "weather-raw",
     "output_dataset": "weather-clean", "cmd": ["python", "clean.py", "--strict"]}
  ]
}"#;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn yaml_and_json_files_give_the_same_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let from_json = pipeline_from_file(&write(dir.path(), "p.json", JSON)).unwrap();
        let from_yaml = pipeline_from_file(&write(dir.path(), "p.yaml", YAML)).unwrap();
        // YAML without the extension is recognised by not being JSON.
        let sniffed = pipeline_from_file(&write(dir.path(), "p.txt", YAML)).unwrap();
        let from_yml = pipeline_from_file(&write(dir.path(), "p.yml", YAML)).unwrap();
        assert_eq!(from_json, from_yaml);
        assert_eq!(from_json, sniffed);
        assert_eq!(from_json, from_yml);
        assert_eq!(from_json.ground_truth, GroundTruth::Merge);
        assert_eq!(from_json.steps.len(), 2);
        assert_eq!(
            from_json.steps[0].env["API_KEY"],
            "{{ secret:weather-api }}"
        );
        assert_eq!(
            from_json.steps[1].input_dataset.as_deref(),
            Some("weather-raw")
        );
        assert_eq!(
            from_json.steps[1].cmd,
            Some(vec![
                "python".to_owned(),
                "clean.py".to_owned(),
                "--strict".to_owned()
            ])
        );
    }

    #[test]
    fn a_mistake_is_a_usage_error_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let same_dataset =
            YAML.replace("input_dataset: weather-raw", "input_dataset: weather-clean");
        let e = pipeline_from_file(&write(dir.path(), "p.yaml", &same_dataset)).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().starts_with("steps[1].input_dataset: "), "{e}");

        let bad_tool = JSON.replace("\"cleaner\"", "\"Cleaner!\"");
        let e = pipeline_from_file(&write(dir.path(), "p.json", &bad_tool)).unwrap_err();
        assert!(e.to_string().starts_with("steps[1].tool: "), "{e}");

        // Unknown fields are refused with their name, in both formats.
        let path = write(dir.path(), "q.yaml", &YAML.replace("cmd:", "command:"));
        let e = pipeline_from_file(&path).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        let text = e.to_string();
        assert!(text.contains("is not a pipeline document"), "{text}");
        assert!(text.contains("unknown field `command`"), "{text}");
        let path = write(
            dir.path(),
            "q.json",
            &JSON.replace("\"cmd\"", "\"command\""),
        );
        let text = pipeline_from_file(&path).unwrap_err().to_string();
        assert!(text.contains("unknown field `command`"), "{text}");
    }

    #[test]
    fn broken_json_reports_the_json_error() {
        let text = parse_pipeline(r#"{"name": "weather", "steps": [}"#, false).unwrap_err();
        assert!(text.contains("line 1 column"), "{text}");
        // Flow-style YAML is not JSON but is read all the same.
        let pipeline = parse_pipeline(
            "{name: w, steps: [{name: s, tool: t, output_dataset: d}]}",
            false,
        )
        .unwrap();
        assert_eq!(pipeline.steps[0].output_dataset, "d");
    }

    fn run(status: RunStatus, steps: &[(&str, Option<RunStatus>)]) -> PipelineRun {
        PipelineRun {
            id: "01J9Z8X7W6V5T4S3R2Q1P0NMKH".into(),
            pipeline: "weather".into(),
            node: "node-a".into(),
            trigger: "manual".into(),
            status,
            steps: steps
                .iter()
                .map(|(name, status)| StepRun {
                    name: (*name).into(),
                    tool: "demo".into(),
                    run_id: status.map(|_| "01J9Z8X7W6V5T4S3R2Q1P0NMKJ".into()),
                    status: *status,
                })
                .collect(),
            error: None,
            queued_at: "2024-05-01T12:00:00Z".parse().unwrap(),
            started_at: None,
            finished_at: None,
            schedule: None,
            scheduled_at: None,
        }
    }

    #[test]
    fn failures_name_the_step_or_the_error() {
        let ok = run(RunStatus::Succeeded, &[("a", Some(RunStatus::Succeeded))]);
        assert_eq!(failure(&ok), None);
        let failed = run(
            RunStatus::Failed,
            &[
                ("a", Some(RunStatus::Succeeded)),
                ("b", Some(RunStatus::TimedOut)),
                ("c", None),
            ],
        );
        assert_eq!(
            failure(&failed).as_deref(),
            Some("pipeline run 01J9Z8X7W6V5T4S3R2Q1P0NMKH of weather failed: step b timed out")
        );
        let mut with_error = failed.clone();
        with_error.error = Some("dataset weather-raw is not initialised on this node".into());
        assert_eq!(
            failure(&with_error).as_deref(),
            Some(
                "pipeline run 01J9Z8X7W6V5T4S3R2Q1P0NMKH of weather failed: \
                 dataset weather-raw is not initialised on this node"
            )
        );
        let cancelled = run(RunStatus::Cancelled, &[("a", None)]);
        assert_eq!(
            failure(&cancelled).as_deref(),
            Some("pipeline run 01J9Z8X7W6V5T4S3R2Q1P0NMKH of weather was cancelled")
        );
    }

    fn pipeline_args(argv: &[&str]) -> PipelineRunArgs {
        testing::args(argv).unwrap()
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
}
