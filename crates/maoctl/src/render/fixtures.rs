//! Documents as the daemon would send them, shared by the renderers' snapshot tests.

use mao_api::{InitReport, Pipeline, PipelineRun, RunRecord, ScheduleView};

/// A run that failed after 3 min 4.5 s, as the daemon would send it.
pub fn failed_run() -> RunRecord {
    serde_json::from_value(serde_json::json!({
        "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
        "tool": "demo-tool",
        "node": "node-a",
        "trigger": "manual",
        "image": "mao/demo-tool:latest",
        "image_digest": "sha256:5a16",
        "data_dir": "/var/lib/mao/tools/demo-tool/data",
        "cmd": ["run", "--in", "a file"],
        "env_keys": ["A", "B"],
        "limits": {"timeout": "10m", "memory": "512m", "cpus": 1.5, "pids": 100},
        "status": "failed",
        "exit_code": 3,
        "error": "the tool exited with code 3",
        "queued_at": "2024-05-01T12:00:00Z",
        "dispatched_at": "2024-05-01T12:00:00.700Z",
        "started_at": "2024-05-01T12:00:01Z",
        "finished_at": "2024-05-01T12:03:05.500Z",
        "log_path": "/var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log",
        "log_bytes": 1300,
        "log_truncated": true,
        "container_id": "629cbc7c8ade",
    }))
    .unwrap()
}

/// A run queued at 12:00:00 and not started.
pub fn queued_run() -> RunRecord {
    serde_json::from_value(serde_json::json!({
        "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKJ",
        "tool": "other",
        "node": "node-a",
        "trigger": "schedule:nightly@2024-05-01T12:00:00Z",
        "image": "mao/other:1",
        "data_dir": "/d",
        "status": "queued",
        "queued_at": "2024-05-01T12:00:00Z",
        "log_path": "/l",
    }))
    .unwrap()
}

/// 2024-05-01T12:10:01Z in Unix milliseconds.
pub const TEN_PAST: i64 = 1_714_565_401_000;

/// A schedule as the daemon would send it: Zurich time, last run failed.
pub fn schedule_view() -> ScheduleView {
    serde_json::from_value(serde_json::json!({
        "id": "demo-tool-1a2b3c4d",
        "target": {"kind": "tool", "name": "demo-tool"},
        "cron": "0 3 * * *",
        "tz": "Europe/Zurich",
        "mode": "every-node",
        "concurrency": "forbid",
        "catch_up": "latest",
        "starting_deadline": "18h",
        "overrides": {"env": {"CITY": "Zurich"}, "cmd": ["run", "--fast"], "limits": {"timeout": "10m"}},
        "suspended": false,
        "created_by": "node-a",
        "created_at": "2024-05-01T10:00:00Z",
        "next_fire": "2024-05-02T01:00:00Z",
        "next_fire_local": "2024-05-02T03:00:00+02:00",
        "last_slot": "2024-05-01T01:00:00Z",
        "last_run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
        "last_run_status": "failed",
    }))
    .unwrap()
}

/// A paused `once` schedule that never ran.
pub fn paused_view() -> ScheduleView {
    serde_json::from_value(serde_json::json!({
        "id": "nightly",
        "target": {"kind": "tool", "name": "scraper"},
        "cron": "*/5 * * * *",
        "tz": "UTC",
        "mode": "once",
        "concurrency": "replace",
        "catch_up": "none",
        "starting_deadline": "2h",
        "suspended": true,
        "created_by": "node-b",
        "created_at": "2024-05-01T10:00:00Z",
    }))
    .unwrap()
}

/// A pipeline run on node-a that failed at its second step: the first step's commit
/// is waiting to be pushed, the second step's output is kept off the branch.
pub fn failed_pipeline_run() -> (PipelineRun, Vec<Option<Result<RunRecord, String>>>) {
    let run: PipelineRun = serde_json::from_value(serde_json::json!({
        "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKP",
        "pipeline": "weather",
        "node": "node-a",
        "trigger": "manual",
        "status": "failed",
        "steps": [
            {"name": "collect", "tool": "scraper", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKA", "status": "succeeded"},
            {"name": "clean", "tool": "cleaner", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKB", "status": "failed"},
            {"name": "publish", "tool": "publisher"},
        ],
        "error": "step clean failed",
        "queued_at": "2024-05-01T12:00:00Z",
        "started_at": "2024-05-01T12:00:01Z",
        "finished_at": "2024-05-01T12:03:05Z",
    }))
    .unwrap();
    let mut collect = failed_run();
    collect.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKA".into();
    collect.status = mao_api::RunStatus::Succeeded;
    collect.exit_code = Some(0);
    collect.error = None;
    collect.git = Some(
        serde_json::from_value(serde_json::json!({
            "dataset": "weather-raw",
            "branch": "node-a",
            "base": "0000000000000000000000000000000000000000",
            "commit": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
            "push": "pending",
            "push_error": "remote https://git.example.com/weather-raw.git is unreachable: connection refused",
            "input": {"dataset": "stations", "branch": "ground-truth", "commit": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f"},
            "ground_truth": {"outcome": "merged", "commit": "9abcdef0123456789abcdef0123456789abcdef0"},
        }))
        .unwrap(),
    );
    let mut clean = failed_run();
    clean.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKB".into();
    clean.git = Some(
        serde_json::from_value(serde_json::json!({
            "dataset": "weather-clean",
            "branch": "node-a",
            "push": "none",
            "failed_ref": "refs/mao/failed/01J9Z8X7W6V5T4S3R2Q1P0NMKB",
        }))
        .unwrap(),
    );
    (run, vec![Some(Ok(collect)), Some(Ok(clean)), None])
}

/// The report of `maoctl pipeline init weather`, on a node where it changed things or not.
pub fn init_report_of(changed: bool) -> InitReport {
    serde_json::from_value(serde_json::json!({
        "pipeline": "weather",
        "node": "node-a",
        "datasets": [
            {"dataset": "weather-raw", "role": "output", "cloned": changed, "branch": "node-a",
             "head": "1a2b3c4d5e6f", "created_branch": changed, "pushed": changed,
             "added_to_nodes": changed, "changed": changed},
            {"dataset": "stations", "role": "input", "cloned": false, "changed": false},
        ],
        "changed": changed,
        "message": "",
    }))
    .unwrap()
}

/// The pipeline `weather`: collect, then clean.
pub fn pipeline() -> Pipeline {
    serde_json::from_value(serde_json::json!({
        "name": "weather",
        "description": "hourly readings",
        "ground_truth": "merge",
        "steps": [
            {"name": "collect", "tool": "scraper", "output_dataset": "weather-raw",
             "env": {"CITY": "Zurich"}},
            {"name": "clean", "tool": "cleaner", "input_dataset": "weather-raw",
             "output_dataset": "weather-clean", "cmd": ["python", "clean.py"]},
        ],
    }))
    .unwrap()
}

/// No line ends in a space: a snapshot would not show it.
pub fn assert_no_trailing_spaces(text: &str) {
    assert!(!text.lines().any(|l| l.ends_with(' ')), "{text}");
}
