//! Runs of tools: `maoctl run list`, `maoctl run get` and the report of `maoctl tool run`.

use mao_api::{GitOutcome, RunRecord, RunStatus};

use super::spike::verdict_text;
use super::table::{
    details, duration_ms, human_duration, human_size, limits_text, optional, shell_words,
    short_commit, span, started_ago, Table, TIMESTAMP,
};

/// The table of `maoctl run list`; `now_ms` (Unix milliseconds) gives ages and the
/// duration of runs still going.
pub fn runs_table(runs: &[RunRecord], now_ms: i64) -> String {
    let mut table = Table::new(&[
        ("ID", None),
        ("TOOL", Some(30)),
        ("STATUS", None),
        ("EXIT", None),
        ("STARTED", None),
        ("DURATION", None),
        ("TRIGGER", Some(40)),
    ]);
    for run in runs {
        table.push(vec![
            run.id.clone(),
            run.tool.clone(),
            run.status.as_str().to_owned(),
            run.exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            started_ago(run.started_at, now_ms),
            duration_ms(run.started_at, run.finished_at, now_ms)
                .map_or_else(|| "-".to_owned(), human_duration),
            run.trigger.clone(),
        ]);
    }
    table.render()
}

/// Milliseconds from the start of the run to its end, or to `now_ms` while it runs.
fn run_duration_ms(run: &RunRecord, now_ms: i64) -> Option<i64> {
    duration_ms(run.started_at, run.finished_at, now_ms)
}

/// The detail view of `maoctl run get`: every field of the record.
pub fn run_details(run: &RunRecord, now_ms: i64) -> String {
    let cmd = match &run.cmd {
        Some(cmd) => shell_words(cmd),
        None => "(the image's default)".to_owned(),
    };
    let duration = match run_duration_ms(run, now_ms) {
        Some(ms) if run.finished_at.is_none() => format!("{} so far", human_duration(ms)),
        Some(ms) => human_duration(ms),
        None => String::new(),
    };
    let mut fields = vec![
        ("ID", run.id.clone()),
        ("Tool", run.tool.clone()),
        ("Pipeline", run.pipeline.clone().unwrap_or_default()),
        ("Pipeline run", run.pipeline_run.clone().unwrap_or_default()),
        ("Step", run.step.clone().unwrap_or_default()),
        ("Node", run.node.clone()),
        ("Trigger", run.trigger.clone()),
        ("Schedule", run.schedule.clone().unwrap_or_default()),
        ("Slot", slot_text(run)),
        ("Status", run.status.as_str().to_owned()),
        ("Exit code", optional(run.exit_code)),
        ("Error", run.error.clone().unwrap_or_default()),
        ("Image", run.image.clone()),
        ("Image digest", run.image_digest.clone().unwrap_or_default()),
        ("Command", cmd),
        ("Environment", run.env_keys.join("\n")),
        ("Limits", limits_text(&run.limits, "")),
        ("Data folder", run.data_dir.clone()),
        ("Input folder", run.input_dir.clone().unwrap_or_default()),
        ("Queued", run.queued_at.format(TIMESTAMP).to_string()),
        (
            "Dispatched",
            optional(run.dispatched_at.map(|at| at.format(TIMESTAMP))),
        ),
        (
            "Started",
            optional(run.started_at.map(|at| at.format(TIMESTAMP))),
        ),
        (
            "Finished",
            optional(run.finished_at.map(|at| at.format(TIMESTAMP))),
        ),
        ("Duration", duration),
        ("Log file", run.log_path.clone()),
        (
            "Log size",
            if run.status.is_finished() || run.log_bytes > 0 {
                log_size(run)
            } else {
                "(known when the run has ended)".to_owned()
            },
        ),
        ("Container", run.container_id.clone().unwrap_or_default()),
    ];
    if let Some(git) = &run.git {
        fields.extend(git_fields(git, false));
    }
    fields.extend(detection_fields(run));
    details(&fields)
}

/// The detector's work on a run's metrics, the way the original reported it: per metric
/// the value, the baseline and the snapshots it came from, the difference, the change in
/// percent, the score and the verdict.
pub fn detection_fields(run: &RunRecord) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(spec) = &run.detector {
        if !run.detection.is_empty() || !run.metrics.is_empty() {
            let method = match spec.detector() {
                Ok(d) => {
                    let params: Vec<String> =
                        d.params().iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{} ({})", d.method(), params.join(", "))
                }
                Err(e) => format!("unusable: {e}"),
            };
            fields.push(("Detector", method));
        }
    }
    let lines: Vec<String> = run
        .detection
        .iter()
        .map(|m| {
            let j = &m.judgement;
            let verdict = verdict_text(j.verdict);
            if j.verdict == mao_api::Verdict::NotEnoughHistory {
                return format!(
                    "{}: {} (not enough history yet: {} snapshots)",
                    m.metric, j.value, j.history_len
                );
            }
            let baseline = j.baseline.map_or("-".to_owned(), |b| format!("{b}"));
            let difference = j.difference.map_or("-".to_owned(), |d| format!("{d:+}"));
            let change = j.change_pct.map_or("-".to_owned(), |c| format!("{c:+.1} %"));
            format!(
                "{}: {} against baseline {baseline} ({} snapshots), difference {difference}, change {change}, score {:.2}: {verdict}",
                m.metric, j.value, j.history_len, j.score
            )
        })
        .collect();
    if !lines.is_empty() {
        fields.push(("Metrics", lines.join("\n")));
    } else if !run.metrics.is_empty() {
        let values: Vec<String> = run
            .metrics
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        fields.push(("Metrics", values.join("\n")));
    }
    if let Some(e) = &run.metrics_error {
        fields.push(("Metrics error", e.clone()));
    }
    if let Some(e) = &run.insights_error {
        fields.push(("Insights error", e.clone()));
    }
    fields
}

/// What a pipeline step did in git, as detail fields; `short` abbreviates commit ids.
/// Fields without a value are left out.
pub fn git_fields(git: &GitOutcome, short: bool) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("Dataset", git.dataset.clone()),
        ("Branch", git.branch.clone()),
    ];
    if !short {
        if let Some(base) = &git.base {
            fields.push(("Base", base.clone()));
        }
    }
    if let Some(commit) = &git.commit {
        fields.push(("Commit", short_commit(commit, short)));
    }
    let push = match git.push {
        mao_api::PushState::Pending => "pending (the daemon retries)".to_owned(),
        mao_api::PushState::Conflict => {
            "conflict (the remote branch has other commits; nothing is pushed until an \
             operator resolves it)"
                .to_owned()
        }
        state => state.as_str().to_owned(),
    };
    fields.push(("Push", push));
    if let Some(error) = &git.push_error {
        fields.push(("Push error", error.clone()));
    }
    if let Some(at) = git.pushed_at {
        fields.push(("Pushed at", at.format(TIMESTAMP).to_string()));
    }
    if let Some(failed) = &git.failed_ref {
        fields.push(("Failed ref", failed.clone()));
    }
    if let Some(input) = &git.input {
        fields.push((
            "Input",
            format!(
                "{}@{} ({})",
                input.dataset,
                short_commit(&input.commit, short),
                input.branch
            ),
        ));
    }
    if let Some(merge) = &git.ground_truth {
        let mut text = merge.outcome.clone();
        if let Some(commit) = &merge.commit {
            text.push(' ');
            text.push_str(&short_commit(commit, short));
        }
        if let Some(message) = &merge.message {
            text.push_str(": ");
            text.push_str(message);
        }
        fields.push(("Ground truth", text));
    }
    fields
}

/// The slot a scheduled run is for, and how late it started.
fn slot_text(run: &RunRecord) -> String {
    let Some(slot) = run.scheduled_at else {
        return String::new();
    };
    let slot_text = slot.format(TIMESTAMP).to_string();
    match run.started_at {
        Some(start) => format!(
            "{slot_text} (started {} later)",
            human_duration((start - slot).num_milliseconds())
        ),
        None => slot_text,
    }
}

/// What `maoctl tool run` prints once the run has ended.
pub fn run_report(run: &RunRecord) -> String {
    let mut fields = vec![
        ("Run", run.id.clone()),
        ("Tool", run.tool.clone()),
        ("Image", run.image.clone()),
    ];
    if let Some(digest) = &run.image_digest {
        fields.push(("Image digest", digest.clone()));
    }
    fields.extend([
        ("Data folder", run.data_dir.clone()),
        ("Trigger", run.trigger.clone()),
        ("Status", run.status.as_str().to_owned()),
    ]);
    if let Some(code) = run.exit_code {
        fields.push(("Exit code", code.to_string()));
    }
    fields.push(("Duration", span(run.started_at, run.finished_at)));
    if let Some(error) = &run.error {
        fields.push(("Error", error.clone()));
    }
    fields.push((
        "Log",
        format!("{} (maoctl run logs {})", log_size(run), run.id),
    ));
    fields.extend(detection_fields(run));
    details(&fields)
}

fn log_size(run: &RunRecord) -> String {
    let size = human_size(run.log_bytes);
    if run.log_truncated {
        format!("{size}, truncated")
    } else {
        size
    }
}

/// How a run (or a pipeline run) that did not succeed ended, as words that follow its
/// name: `failed`, `timed out`; `None` when it succeeded.
pub fn unsuccessful(status: RunStatus) -> Option<&'static str> {
    Some(match status {
        RunStatus::Succeeded => return None,
        RunStatus::Failed => "failed",
        RunStatus::TimedOut => "timed out",
        RunStatus::Cancelled => "was cancelled",
        RunStatus::Lost => "was lost",
        // Not reached after waiting; said plainly should it ever be.
        RunStatus::Queued => "is still queued",
        RunStatus::Running => "is still running",
    })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::render::fixtures::*;

    #[test]
    fn runs_table_shows_age_duration_and_dashes() {
        let mut running = failed_run();
        running.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKM".into();
        running.status = mao_api::RunStatus::Running;
        running.exit_code = None;
        running.finished_at = None;
        expect![[r#"
            ID                          TOOL       STATUS   EXIT  STARTED  DURATION  TRIGGER
            01J9Z8X7W6V5T4S3R2Q1P0NMKM  demo-tool  running  -     10m ago  10m00s    manual
            01J9Z8X7W6V5T4S3R2Q1P0NMKH  demo-tool  failed   3     10m ago  3m04s     manual
            01J9Z8X7W6V5T4S3R2Q1P0NMKJ  other      queued   -     -        -         schedule:nightly@2024-05-01T12:00:00Z
        "#]].assert_eq(&runs_table(
            &[running, failed_run(), queued_run()],
            TEN_PAST,
        ));
    }

    #[test]
    fn run_report_says_how_it_went() {
        expect![[r#"
            Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Trigger:       manual
            Status:        failed
            Exit code:     3
            Duration:      3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:         the tool exited with code 3
            Log:           1.3 KiB, truncated (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKH)
        "#]]
        .assert_eq(&run_report(&failed_run()));
    }

    #[test]
    fn run_report_shows_the_detectors_work() {
        let mut run = failed_run();
        run.detector = Some(mao_api::DetectorSpec {
            method: Some(mao_api::notification::Method::Percent),
            ..Default::default()
        });
        let judged = |metric: &str, verdict, value: f64, baseline: Option<f64>, n| {
            mao_api::MetricJudgement {
                metric: metric.into(),
                method: mao_api::notification::Method::Percent,
                judgement: mao_api::notification::Judgement {
                    verdict,
                    score: 0.84,
                    baseline,
                    value,
                    history_len: n,
                    difference: baseline.map(|b| value - b),
                    change_pct: baseline.map(|b| 100.0 * (value - b) / b),
                },
            }
        };
        run.detection = vec![
            judged("control", mao_api::Verdict::SpikeUp, 131.0, Some(100.0), 2),
            judged("rows", mao_api::Verdict::NotEnoughHistory, 3.0, None, 1),
        ];
        run.metrics_error = Some("metrics.json: \"x\" is not a finite number".into());
        expect![[r#"
            Run:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:           demo-tool
            Image:          mao/demo-tool:latest
            Image digest:   sha256:5a16
            Data folder:    /var/lib/mao/tools/demo-tool/data
            Trigger:        manual
            Status:         failed
            Exit code:      3
            Duration:       3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:          the tool exited with code 3
            Log:            1.3 KiB, truncated (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKH)
            Detector:       percent (threshold=6, window=2)
            Metrics:        control: 131 against baseline 100 (2 snapshots), difference +31, change +31.0 %, score 0.84: SPIKE UP
                            rows: 3 (not enough history yet: 1 snapshots)
            Metrics error:  metrics.json: "x" is not a finite number
        "#]].assert_eq(&run_report(&run));
    }

    #[test]
    fn run_report_of_a_run_that_never_started() {
        let mut run = queued_run();
        run.status = mao_api::RunStatus::Failed;
        run.error = Some("no such image".into());
        run.finished_at = run.queued_at.into();
        expect![[r#"
            Run:          01J9Z8X7W6V5T4S3R2Q1P0NMKJ
            Tool:         other
            Image:        mao/other:1
            Data folder:  /d
            Trigger:      schedule:nightly@2024-05-01T12:00:00Z
            Status:       failed
            Duration:     (it never started)
            Error:        no such image
            Log:          0 B (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKJ)
        "#]]
        .assert_eq(&run_report(&run));
    }

    #[test]
    fn run_details_show_every_field() {
        let text = run_details(&failed_run(), TEN_PAST);
        assert_no_trailing_spaces(&text);
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        failed
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Dispatched:    2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&text);

        let mut running = failed_run();
        running.status = mao_api::RunStatus::Running;
        running.finished_at = None;
        running.log_bytes = 0;
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        running
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Dispatched:    2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:
            Duration:      10m00s so far
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      (known when the run has ended)
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&run_details(&running, TEN_PAST));
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKJ
            Tool:          other
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       schedule:nightly@2024-05-01T12:00:00Z
            Schedule:
            Slot:
            Status:        queued
            Exit code:
            Error:
            Image:         mao/other:1
            Image digest:
            Command:       (the image's default)
            Environment:
            Limits:
            Data folder:   /d
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Dispatched:
            Started:
            Finished:
            Duration:
            Log file:      /l
            Log size:      (known when the run has ended)
            Container:
        "#]]
        .assert_eq(&run_details(&queued_run(), TEN_PAST));
    }

    #[test]
    fn scheduled_runs_show_their_slot_and_lag() {
        let mut run = failed_run();
        run.trigger = "schedule:nightly@2024-05-01T12:00:00Z".into();
        run.schedule = Some("nightly".into());
        run.scheduled_at = Some("2024-05-01T11:59:59.500Z".parse().unwrap());
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       schedule:nightly@2024-05-01T12:00:00Z
            Schedule:      nightly
            Slot:          2024-05-01T11:59:59Z (started 1.5s later)
            Status:        failed
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Dispatched:    2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&run_details(&run, TEN_PAST));
        // Queued and never started: the schedule fields are there, empty.
        let text = run_details(&queued_run(), TEN_PAST);
        assert!(text.contains("Schedule:\nSlot:\n"), "{text}");
    }

    #[test]
    fn run_details_show_the_git_outcome_in_full() {
        let (_, records) = failed_pipeline_run();
        let Some(Ok(mut collect)) = records.into_iter().next().unwrap() else {
            panic!()
        };
        collect.pipeline = Some("weather".into());
        collect.pipeline_run = Some("01J9Z8X7W6V5T4S3R2Q1P0NMKP".into());
        collect.step = Some("collect".into());
        if let Some(git) = &mut collect.git {
            git.push = mao_api::PushState::Pushed;
            git.push_error = None;
            git.pushed_at = Some("2024-05-01T12:03:06Z".parse().unwrap());
            git.failed_ref = Some("refs/mao/failed/X".into());
        }
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKA
            Tool:          demo-tool
            Pipeline:      weather
            Pipeline run:  01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Step:          collect
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        succeeded
            Exit code:     0
            Error:
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Dispatched:    2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
            Dataset:       weather-raw
            Branch:        node-a
            Base:          0000000000000000000000000000000000000000
            Commit:        1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d
            Push:          pushed
            Pushed at:     2024-05-01T12:03:06Z
            Failed ref:    refs/mao/failed/X
            Input:         stations@5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f (ground-truth)
            Ground truth:  merged 9abcdef0123456789abcdef0123456789abcdef0
        "#]]
        .assert_eq(&run_details(&collect, TEN_PAST));
    }
}
