//! Pipelines and their runs: `maoctl pipeline list`, `get`, `init`, `runs`, `status` and
//! the steps `maoctl pipeline run --follow` shows.

use mao_api::{GroundTruth, InitReport, Pipeline, PipelineRun, RunRecord, RunStatus};

use super::run::git_fields;
use super::table::{
    details, duration_ms, human_duration, one_line, printable, shell_words, short_commit, span,
    started_ago, Table,
};

/// The table of `maoctl pipeline list`.
pub fn pipelines_table(pipelines: &[Pipeline]) -> String {
    let mut table = Table::new(&[
        ("NAME", None),
        ("STEPS", Some(50)),
        ("GROUND TRUTH", None),
        ("DESCRIPTION", Some(40)),
    ]);
    for pipeline in pipelines {
        let steps: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
        table.push(vec![
            pipeline.name.clone(),
            steps.join(" → "),
            pipeline.ground_truth.as_str().to_owned(),
            pipeline.description.clone(),
        ]);
    }
    table.render()
}

/// The detail view of `maoctl pipeline get`: its fields, then a table of its steps.
pub fn pipeline_details(pipeline: &Pipeline) -> String {
    let ground_truth = match pipeline.ground_truth {
        GroundTruth::None => "none (left alone)".to_owned(),
        GroundTruth::Merge => "merge (each step's branch, after its push)".to_owned(),
    };
    let mut text = details(&[
        ("Name", pipeline.name.clone()),
        ("Description", pipeline.description.clone()),
        ("Ground truth", ground_truth),
        ("Steps", pipeline.steps.len().to_string()),
    ]);
    let mut steps = Table::new(&[
        ("STEP", None),
        ("TOOL", Some(30)),
        ("INPUT", Some(30)),
        ("OUTPUT", Some(30)),
        ("COMMAND", Some(40)),
        ("ENV", Some(50)),
    ]);
    for step in &pipeline.steps {
        let env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        steps.push(vec![
            step.name.clone(),
            step.tool.clone(),
            step.input_dataset.clone().unwrap_or_else(|| "-".to_owned()),
            step.output_dataset.clone(),
            step.cmd
                .as_deref()
                .map_or_else(|| "(the tool's)".to_owned(), shell_words),
            env.join(" "),
        ]);
    }
    text.push('\n');
    text.push_str(&steps.render());
    text
}

/// What `maoctl pipeline init` prints: what was done for each dataset, then whether
/// anything changed at all.
pub fn init_report(report: &InitReport) -> String {
    let mut table = Table::new(&[
        ("DATASET", None),
        ("ROLE", None),
        ("BRANCH", None),
        ("HEAD", None),
        ("DONE", None),
    ]);
    for dataset in &report.datasets {
        let mut done = Vec::new();
        if dataset.cloned {
            done.push("cloned");
        }
        if dataset.created_branch {
            done.push("branch created from the remote's default branch");
        }
        if dataset.tracked_remote {
            done.push("branch tracked from the remote");
        }
        if dataset.pushed {
            done.push("pushed");
        }
        if dataset.added_to_nodes {
            done.push("added to the dataset's nodes");
        }
        if done.is_empty() {
            done.push(if dataset.changed {
                "updated"
            } else {
                "nothing: already in place"
            });
        }
        table.push(vec![
            dataset.dataset.clone(),
            dataset.role.as_str().to_owned(),
            dataset.branch.clone().unwrap_or_else(|| "-".to_owned()),
            dataset
                .head
                .as_deref()
                .map_or_else(|| "-".to_owned(), |h| short_commit(h, true)),
            done.join(", "),
        ]);
    }
    let mut text = table.render();
    text.push_str(&if report.changed {
        format!(
            "initialised pipeline {} on node {}\n",
            report.pipeline, report.node
        )
    } else {
        format!(
            "nothing changed: pipeline {} was already initialised on node {}\n",
            report.pipeline, report.node
        )
    });
    text
}

/// The table of `maoctl pipeline runs`; `now_ms` (Unix milliseconds) gives ages and the
/// duration of runs still going.
pub fn pipeline_runs_table(runs: &[PipelineRun], now_ms: i64) -> String {
    let mut table = Table::new(&[
        ("ID", None),
        ("PIPELINE", Some(30)),
        ("STATUS", None),
        ("STEPS OK", None),
        ("STARTED", None),
        ("DURATION", None),
        ("TRIGGER", Some(40)),
    ]);
    for run in runs {
        let succeeded = run
            .steps
            .iter()
            .filter(|s| s.status == Some(RunStatus::Succeeded))
            .count();
        table.push(vec![
            run.id.clone(),
            run.pipeline.clone(),
            run.status.as_str().to_owned(),
            format!("{succeeded}/{}", run.steps.len()),
            started_ago(run.started_at, now_ms),
            duration_ms(run.started_at, run.finished_at, now_ms)
                .map_or_else(|| "-".to_owned(), human_duration),
            run.trigger.clone(),
        ]);
    }
    table.render()
}

/// The lines `maoctl pipeline run --follow` shows on stderr: one per step that started
/// or changed status since `before` (`None` at the first look).
pub fn step_progress(before: Option<&PipelineRun>, after: &PipelineRun) -> Vec<String> {
    let total = after.steps.len();
    let mut lines = Vec::new();
    for (i, step) in after.steps.iter().enumerate() {
        let Some(status) = step.status else {
            continue;
        };
        let previous = before.and_then(|b| b.steps.iter().find(|s| s.name == step.name));
        if previous.is_some_and(|p| p.status == step.status && p.run_id == step.run_id) {
            continue;
        }
        lines.push(format!(
            "step {}/{total} {} (tool {}): run {} {}",
            i + 1,
            one_line(&step.name),
            one_line(&step.tool),
            step.run_id.as_deref().unwrap_or("-"),
            status.as_str()
        ));
    }
    lines
}

/// What `maoctl pipeline status` and `maoctl pipeline run --follow` print: the pipeline
/// run, then each step with its run and what it did in git. `records` holds, for each
/// step in order, its run record or why it could not be read; `None` for a step that
/// has no run.
pub fn pipeline_report(run: &PipelineRun, records: &[Option<Result<RunRecord, String>>]) -> String {
    let mut fields = vec![
        ("Pipeline", run.pipeline.clone()),
        ("Run", run.id.clone()),
        ("Node", run.node.clone()),
        ("Trigger", run.trigger.clone()),
        ("Status", run.status.as_str().to_owned()),
        ("Duration", span(run.started_at, run.finished_at)),
    ];
    if let Some(error) = &run.error {
        fields.push(("Error", error.clone()));
    }
    let mut text = details(&fields);
    let total = run.steps.len();
    for (i, step) in run.steps.iter().enumerate() {
        let mut fields = vec![
            ("Tool", step.tool.clone()),
            ("Run", step.run_id.clone().unwrap_or_else(|| "-".to_owned())),
            (
                "Status",
                step.status
                    .map_or_else(|| "not started".to_owned(), |s| s.as_str().to_owned()),
            ),
        ];
        match records.get(i).and_then(Option::as_ref) {
            Some(Ok(record)) => {
                if let Some(code) = record.exit_code {
                    fields.push(("Exit code", code.to_string()));
                }
                if let Some(error) = &record.error {
                    fields.push(("Error", error.clone()));
                }
                if let Some(git) = &record.git {
                    fields.extend(git_fields(git, true));
                }
            }
            Some(Err(error)) => fields.push(("Record", format!("cannot be read: {error}"))),
            None => {}
        }
        text.push_str(&format!(
            "\nStep {}/{total}: {}\n",
            i + 1,
            printable(&step.name)
        ));
        for line in details(&fields).lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::render::fixtures::*;

    #[test]
    fn pipeline_report_shows_each_step_in_git() {
        let (run, records) = failed_pipeline_run();
        expect![[r#"
            Pipeline:  weather
            Run:       01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Node:      node-a
            Trigger:   manual
            Status:    failed
            Duration:  3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:     step clean failed

            Step 1/3: collect
              Tool:          scraper
              Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKA
              Status:        succeeded
              Exit code:     0
              Dataset:       weather-raw
              Branch:        node-a
              Commit:        1a2b3c4d
              Push:          pending (the daemon retries)
              Push error:    remote https://git.example.com/weather-raw.git is unreachable: connection refused
              Input:         stations@5e6f7a8b (ground-truth)
              Ground truth:  merged 9abcdef0

            Step 2/3: clean
              Tool:        cleaner
              Run:         01J9Z8X7W6V5T4S3R2Q1P0NMKB
              Status:      failed
              Exit code:   3
              Error:       the tool exited with code 3
              Dataset:     weather-clean
              Branch:      node-a
              Push:        none
              Failed ref:  refs/mao/failed/01J9Z8X7W6V5T4S3R2Q1P0NMKB

            Step 3/3: publish
              Tool:    publisher
              Run:     -
              Status:  not started
        "#]].assert_eq(&pipeline_report(&run, &records));
    }

    #[test]
    fn pipeline_report_says_when_a_record_cannot_be_read() {
        let (run, mut records) = failed_pipeline_run();
        records[1] = Some(Err("run 01J9Z8X7W6V5T4S3R2Q1P0NMKB does not exist".into()));
        expect![[r#"
            Pipeline:  weather
            Run:       01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Node:      node-a
            Trigger:   manual
            Status:    failed
            Duration:  3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:     step clean failed

            Step 1/3: collect
              Tool:          scraper
              Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKA
              Status:        succeeded
              Exit code:     0
              Dataset:       weather-raw
              Branch:        node-a
              Commit:        1a2b3c4d
              Push:          pending (the daemon retries)
              Push error:    remote https://git.example.com/weather-raw.git is unreachable: connection refused
              Input:         stations@5e6f7a8b (ground-truth)
              Ground truth:  merged 9abcdef0

            Step 2/3: clean
              Tool:    cleaner
              Run:     01J9Z8X7W6V5T4S3R2Q1P0NMKB
              Status:  failed
              Record:  cannot be read: run 01J9Z8X7W6V5T4S3R2Q1P0NMKB does not exist

            Step 3/3: publish
              Tool:    publisher
              Run:     -
              Status:  not started
        "#]].assert_eq(&pipeline_report(&run, &records));
    }

    #[test]
    fn step_progress_shows_only_what_changed() {
        let (finished, _) = failed_pipeline_run();
        let mut started = finished.clone();
        started.steps[0].status = Some(mao_api::RunStatus::Running);
        started.steps[1].status = None;
        started.steps[1].run_id = None;
        assert_eq!(
            step_progress(None, &started),
            vec!["step 1/3 collect (tool scraper): run 01J9Z8X7W6V5T4S3R2Q1P0NMKA running"]
        );
        assert!(step_progress(Some(&started), &started).is_empty());
        assert_eq!(
            step_progress(Some(&started), &finished),
            vec![
                "step 1/3 collect (tool scraper): run 01J9Z8X7W6V5T4S3R2Q1P0NMKA succeeded",
                "step 2/3 clean (tool cleaner): run 01J9Z8X7W6V5T4S3R2Q1P0NMKB failed",
            ]
        );
    }

    #[test]
    fn pipeline_runs_table_counts_the_steps_that_succeeded() {
        let (finished, _) = failed_pipeline_run();
        let mut running = finished.clone();
        running.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKQ".into();
        running.status = mao_api::RunStatus::Running;
        running.finished_at = None;
        running.trigger = "schedule:nightly@2024-05-01T12:00:00Z".into();
        expect![[r#"
            ID                          PIPELINE  STATUS   STEPS OK  STARTED  DURATION  TRIGGER
            01J9Z8X7W6V5T4S3R2Q1P0NMKQ  weather   running  1/3       10m ago  10m00s    schedule:nightly@2024-05-01T12:00:00Z
            01J9Z8X7W6V5T4S3R2Q1P0NMKP  weather   failed   1/3       10m ago  3m04s     manual
        "#]].assert_eq(&pipeline_runs_table(&[running, finished], TEN_PAST));
    }

    #[test]
    fn init_report_says_what_was_done_and_when_nothing_was() {
        expect![[r#"
            DATASET      ROLE    BRANCH  HEAD      DONE
            weather-raw  output  node-a  1a2b3c4d  cloned, branch created from the remote's default branch, pushed, added to the dataset's nodes
            stations     input   -       -         nothing: already in place
            initialised pipeline weather on node node-a
        "#]].assert_eq(&init_report(&init_report_of(true)));
        expect![[r#"
            DATASET      ROLE    BRANCH  HEAD      DONE
            weather-raw  output  node-a  1a2b3c4d  nothing: already in place
            stations     input   -       -         nothing: already in place
            nothing changed: pipeline weather was already initialised on node node-a
        "#]]
        .assert_eq(&init_report(&init_report_of(false)));
    }

    #[test]
    fn pipelines_table_and_details() {
        expect![[r#"
            NAME     STEPS            GROUND TRUTH  DESCRIPTION
            weather  collect → clean  merge         hourly readings
        "#]]
        .assert_eq(&pipelines_table(&[pipeline()]));
        expect![[r#"
            Name:          weather
            Description:   hourly readings
            Ground truth:  merge (each step's branch, after its push)
            Steps:         2

            STEP     TOOL     INPUT        OUTPUT         COMMAND          ENV
            collect  scraper  -            weather-raw    (the tool's)     CITY=Zurich
            clean    cleaner  weather-raw  weather-clean  python clean.py
        "#]]
        .assert_eq(&pipeline_details(&pipeline()));
    }
}
