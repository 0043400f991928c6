//! The real maoctl binary, in the cases that need no daemon: an unreachable endpoint,
//! usage errors, help; and a pipeline run followed against a scripted stand-in that
//! answers with the API's documents. Runs against the daemon are in mao-server's
//! end-to-end tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Output, Stdio};

use crate::{maoctl_command, run, stderr, ClosedEndpoint};

fn maoctl(args: &[&str]) -> Output {
    run(maoctl_command().args(args), None)
}

#[test]
fn unreachable_daemon_is_exit_1_with_advice() {
    let closed = ClosedEndpoint::open();
    let endpoint = closed.url.clone();
    for args in [
        vec!["tool", "list"],
        vec!["tool", "get", "demo"],
        vec!["dataset", "remove", "weather"],
        vec!["node", "list", "-o", "json"],
        vec!["run", "list"],
        vec!["run", "logs", "-f", "01J9Z8X7W6V5T4S3R2Q1P0NMKH"],
        vec!["tool", "run", "demo", "--timeout", "5m"],
        vec![
            "tool",
            "schedule",
            "demo",
            "*/5 * * * *",
            "--tz",
            "Europe/Zurich",
        ],
        vec!["schedule", "list"],
        vec!["schedule", "next", "nightly", "-n", "3"],
        vec!["schedule", "history", "nightly"],
        vec!["tool", "list-scheduled"],
        vec!["tool", "stop", "--id", "nightly"],
        vec!["pipeline", "list"],
        vec!["pipeline", "get", "weather"],
        vec!["pipeline", "remove", "weather"],
        vec!["pipeline", "init", "weather"],
        vec!["pipeline", "run", "weather"],
        vec!["pipeline", "run", "weather", "--follow"],
        vec![
            "pipeline", "run", "weather", "--cron", "daily", "--mode", "once",
        ],
        vec!["pipeline", "runs", "weather", "--limit", "3"],
        vec!["pipeline", "status", "01J9Z8X7W6V5T4S3R2Q1P0NMKH"],
        vec!["dataset", "clone", "weather"],
        vec![
            "dataset",
            "clone",
            "weather",
            "--dir",
            "/nonexistent/maoctl-clone",
        ],
        vec!["dataset", "list-local"],
        vec!["dataset", "remove-local", "weather", "--force"],
        vec!["dataset", "init-local", "scratch", "--description", "notes"],
    ] {
        let mut full = vec!["--endpoint", endpoint.as_str()];
        full.extend(&args);
        let out = maoctl(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: cannot reach "), "{err}");
        assert!(err.contains(&endpoint), "{err}");
        assert!(err.contains("is mao-orchestrator running?"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn endpoint_comes_from_the_environment() {
    let closed = ClosedEndpoint::open();
    let endpoint = closed.url.clone();
    let out = run(
        maoctl_command()
            .args(["tool", "list"])
            .env("MAO_ENDPOINT", &endpoint),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&endpoint), "{}", stderr(&out));
}

#[test]
fn invalid_endpoint_is_a_usage_error() {
    let out = maoctl(&["--endpoint", "localhost:8080", "tool", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: invalid endpoint \"localhost:8080\""),
        "{err}"
    );
    assert!(err.contains("http://"), "{err}");
}

#[test]
fn invalid_names_are_refused_before_connecting() {
    // The endpoint would fail with status 1: status 2 shows the name was checked first.
    let closed = ClosedEndpoint::open();
    let endpoint = closed.url.clone();
    for args in [
        vec!["tool", "get", "Bad_Name"],
        vec!["tool", "remove", "a..b"],
        vec!["dataset", "delete", "x/y"],
        vec![
            "tool",
            "add",
            "UPPER",
            "ada",
            "mao/demo:1",
            "https://h/d.git",
            "https://h/c.git",
            "out.csv",
        ],
        vec!["dataset", "add", "weather", "not a url"],
    ] {
        let mut full = vec!["--endpoint", endpoint.as_str()];
        full.extend(&args);
        let out = maoctl(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("is mao-orchestrator running?"), "{err}");
    }
    let out = maoctl(&["--endpoint", &endpoint, "tool", "get", "Bad_Name"]);
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: {}",
            mao_api::validate::name("name", "Bad_Name").unwrap_err()
        ),
        "the message is the server's"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["tool"],
        vec!["tool", "frobnicate"],
        vec!["tool", "get"],
        vec!["tool", "add", "demo", "ada"],
        vec!["tool", "add", "-f", "t.json", "demo"],
        vec![
            "tool",
            "add",
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "--env",
            "NO_EQUALS",
        ],
        vec!["dataset", "add", "weather"],
        vec!["node", "list", "-o", "yaml"],
        vec!["--no-such-flag", "node", "list"],
    ] {
        let out = maoctl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
}

/// Runs maoctl with `args` against an endpoint where nothing listens: exit status 2 with
/// `expected` in the message shows the arguments were refused before connecting.
fn assert_refused_before_connecting(args: &[&str], expected: &str) {
    let closed = ClosedEndpoint::open();
    let endpoint = closed.url.clone();
    let mut full = vec!["--endpoint", endpoint.as_str()];
    full.extend(args);
    let out = maoctl(&full);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!err.contains("is mao-orchestrator running?"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_run_arguments_are_refused_before_connecting() {
    for (args, expected) in [
        (
            vec!["tool", "run", "demo", "--timeout", "10x"],
            "unknown unit",
        ),
        (vec!["tool", "run", "demo", "--timeout", "0"], "above zero"),
        (vec!["tool", "run", "demo", "--memory", "5m"], "at least 6m"),
        (vec!["tool", "run", "demo", "--cpus", "-1"], "--cpus"),
        (vec!["tool", "run", "demo", "--pids", "0"], "--pids"),
        (vec!["tool", "run", "demo", "--env", "NOPE"], "KEY=VALUE"),
        (
            vec!["tool", "run", "demo", "--env", "A=1", "--env", "A=2"],
            "--env A is given twice",
        ),
        (
            vec!["tool", "run", "demo", "--env", "9A=1"],
            "not a valid variable name",
        ),
        (
            vec!["tool", "run", "demo", "-d", "-f"],
            "cannot be used with",
        ),
        (vec!["tool", "run", "Bad_Name"], "name: "),
        (
            vec!["run", "get", "01J9Z8X7W6V5T4S3R2Q1P0NMK"],
            "is not a run id",
        ),
        (vec!["run", "logs", "../../etc/passwd"], "is not a run id"),
        (vec!["run", "cancel", "demo"], "is not a run id"),
        (
            vec!["run", "list", "--status", "done"],
            "is not a run status",
        ),
        (vec!["run", "list", "--limit", "0"], "--limit"),
        (vec!["run", "list", "--tool", "Bad_Name"], "--tool: "),
    ] {
        assert_refused_before_connecting(&args, expected);
    }
}

#[test]
fn bad_schedule_arguments_are_refused_before_connecting() {
    for (args, expected) in [
        (
            vec!["tool", "schedule", "demo", "0", "3", "*", "*", "*"],
            "WHEN is one argument, got 5",
        ),
        (
            vec!["tool", "schedule", "demo", "daily", "--deadline", "soon"],
            "--deadline",
        ),
        (
            vec!["tool", "schedule", "demo", "daily", "--deadline", "0s"],
            "above zero",
        ),
        (
            vec!["tool", "schedule", "demo", "daily", "--mode", "twice"],
            "possible values: every-node, once",
        ),
        (
            vec![
                "tool",
                "schedule",
                "demo",
                "daily",
                "--concurrency",
                "queue",
            ],
            "possible values: forbid, allow, replace",
        ),
        (
            vec!["tool", "schedule", "demo", "daily", "--catch-up", "some"],
            "possible values: none, latest, all",
        ),
        (
            vec!["tool", "schedule", "demo", "daily", "--id", "Nightly"],
            "--id: \"Nightly\" is not a valid name",
        ),
        (vec!["tool", "schedule", "Demo", "daily"], "name: "),
        (
            vec!["tool", "schedule", "demo", "daily", "--timeout", "10x"],
            "unknown unit",
        ),
        (
            vec![
                "tool", "schedule", "demo", "daily", "--env", "A=1", "--env", "A=2",
            ],
            "--env A is given twice",
        ),
        (vec!["tool", "schedule", "demo"], "WHEN"),
        (vec!["tool", "stop"], "--id"),
        (vec!["tool", "stop", "--id", "a..b"], "--id: "),
        (vec!["schedule", "get", "Bad_Id"], "id: "),
        (vec!["schedule", "pause", "../x"], "id: "),
        (vec!["schedule", "resume", ""], "id: "),
        (vec!["schedule", "remove", "x/y"], "id: "),
        (vec!["schedule", "next", "nightly", "-n", "0"], "--count"),
        (
            vec!["schedule", "next", "nightly", "-n", "1001"],
            "not in 1..=1000",
        ),
        (
            vec!["schedule", "history", "nightly", "--limit", "0"],
            "--limit",
        ),
        (vec!["schedule", "history", "UPPER"], "id: "),
        (vec!["schedule"], "Usage"),
    ] {
        assert_refused_before_connecting(&args, expected);
    }
}

#[test]
fn help_mentions_schedules() {
    let out = maoctl(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("maoctl tool schedule demo-tool daily"),
        "{text}"
    );
    assert!(text.contains("maoctl schedule list"), "{text}");
    let out = maoctl(&["tool", "schedule", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quote it"), "{text}");
    assert!(text.contains("maoctl schedule next check"), "{text}");
}

#[test]
fn tool_run_help_says_what_ctrl_c_does() {
    let out = maoctl(&["tool", "run", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Ctrl-C stops waiting, not the run"), "{text}");
    assert!(text.contains("maoctl run cancel ID"), "{text}");
    let out = maoctl(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("maoctl run list"), "{text}");
    assert!(text.contains("maoctl tool run"), "{text}");
}

#[test]
fn a_tool_file_that_is_not_a_tool_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.json");
    std::fs::write(&file, r#"{"name": "demo", "colour": "blue"}"#).unwrap();
    let out = maoctl(&["tool", "add", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("is not a tool document"), "{err}");
    assert!(err.contains("colour"), "{err}");

    let out = maoctl(&["dataset", "add", "-f", "/nonexistent/dataset.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/dataset.json"));
}

#[test]
fn help_works_everywhere_and_shows_examples() {
    for args in [
        vec!["--help"],
        vec!["tool", "--help"],
        vec!["tool", "list", "--help"],
        vec!["tool", "get", "--help"],
        vec!["tool", "add", "--help"],
        vec!["tool", "remove", "--help"],
        vec!["tool", "delete", "--help"],
        vec!["dataset", "--help"],
        vec!["dataset", "list", "--help"],
        vec!["dataset", "get", "--help"],
        vec!["dataset", "add", "--help"],
        vec!["dataset", "remove", "--help"],
        vec!["node", "--help"],
        vec!["node", "list", "--help"],
        vec!["tool", "run", "--help"],
        vec!["run", "--help"],
        vec!["tool", "schedule", "--help"],
        vec!["tool", "list-scheduled", "--help"],
        vec!["tool", "stop", "--help"],
        vec!["schedule", "--help"],
        vec!["schedule", "list", "--help"],
        vec!["schedule", "get", "--help"],
        vec!["schedule", "pause", "--help"],
        vec!["schedule", "resume", "--help"],
        vec!["schedule", "remove", "--help"],
        vec!["schedule", "delete", "--help"],
        vec!["schedule", "next", "--help"],
        vec!["schedule", "history", "--help"],
        vec!["run", "list", "--help"],
        vec!["run", "get", "--help"],
        vec!["run", "logs", "--help"],
        vec!["run", "cancel", "--help"],
        vec!["help", "tool", "add"],
        vec!["pipeline", "--help"],
        vec!["pipeline", "list", "--help"],
        vec!["pipeline", "get", "--help"],
        vec!["pipeline", "add", "--help"],
        vec!["pipeline", "remove", "--help"],
        vec!["pipeline", "delete", "--help"],
        vec!["pipeline", "init", "--help"],
        vec!["pipeline", "run", "--help"],
        vec!["pipeline", "runs", "--help"],
        vec!["pipeline", "status", "--help"],
        vec!["dataset", "clone", "--help"],
        vec!["dataset", "list-local", "--help"],
        vec!["dataset", "remove-local", "--help"],
        vec!["dataset", "init-local", "--help"],
    ] {
        let out = maoctl(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(text.contains("Usage: maoctl"), "{args:?}: {text}");
        assert!(text.contains("Example"), "{args:?} has an example: {text}");
    }
    let out = maoctl(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("maoctl "));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // --help is the longest output that needs no daemon; the reader is gone before it.
    let mut child = maoctl_command()
        .args(["tool", "add", "--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_invalid_pipeline_file_is_refused_before_connecting() {
    let closed = ClosedEndpoint::open();
    let endpoint = closed.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("weather.yaml");
    std::fs::write(
        &yaml,
        "name: weather\nsteps:\n  - name: collect\n    tool: scraper\n    output_dataset: Weather Raw\n",
    )
    .unwrap();
    let json = dir.path().join("weather.json");
    std::fs::write(
        &json,
        r#"{"name": "weather", "steps": [{"name": "a", "tool": "t", "output_dataset": "d"},
            {"name": "a", "tool": "t", "output_dataset": "e"}]}"#,
    )
    .unwrap();
    let unknown = dir.path().join("unknown.yml");
    std::fs::write(
        &unknown,
        "name: weather\nsteps:\n  - name: a\n    tool: t\n    output: d\n",
    )
    .unwrap();
    for (file, expected) in [
        (
            &yaml,
            "error: steps[0].output_dataset: \"Weather Raw\" is not a valid name",
        ),
        (&json, "error: steps[1].name: step \"a\" is listed twice"),
        (
            &unknown,
            "is not a pipeline document: steps[0]: unknown field `output`",
        ),
    ] {
        for replace in [false, true] {
            let mut args = vec!["--endpoint", &endpoint, "pipeline", "add", "-f"];
            args.push(file.to_str().unwrap());
            if replace {
                args.push("--replace");
            }
            let out = maoctl(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(expected), "{args:?}: {err}");
            assert!(!err.contains("is mao-orchestrator running?"), "{err}");
            assert!(out.stdout.is_empty());
        }
    }

    // From standard input too.
    let out = run(
        maoctl_command().args(["--endpoint", &endpoint, "pipeline", "add", "-f", "-"]),
        Some("name: weather\nsteps: []\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "error: steps: a pipeline needs a step"
    );
}

#[test]
fn bad_pipeline_and_clone_arguments_are_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "x").unwrap();
    let full_dir = dir.path().to_str().unwrap().to_owned();
    for (args, expected) in [
        (
            vec![
                "pipeline", "run", "weather", "--cron", "0", "3", "*", "*", "*",
            ],
            "--cron WHEN is one argument, got 5",
        ),
        (
            vec!["pipeline", "run", "weather", "now"],
            "unexpected argument \"now\"",
        ),
        (
            vec!["pipeline", "run", "weather", "--tz", "UTC"],
            "--cron <WHEN>",
        ),
        (
            vec!["pipeline", "run", "weather", "--cron", "daily", "--follow"],
            "cannot be used with",
        ),
        (
            vec!["pipeline", "run", "weather", "--cron", "daily", "--id", "X"],
            "--id: \"X\"",
        ),
        (
            vec![
                "pipeline",
                "run",
                "weather",
                "--cron",
                "daily",
                "--deadline",
                "0s",
            ],
            "above zero",
        ),
        (vec!["pipeline", "run", "Weather"], "name: \"Weather\""),
        (vec!["pipeline", "get", "a/b"], "name: "),
        (vec!["pipeline", "init", ".."], "name: "),
        (vec!["pipeline", "runs", "UPPER"], "name: "),
        (vec!["pipeline", "runs", "--limit", "0"], "--limit"),
        (
            vec!["pipeline", "status", "01J9Z8X7W6V5T4S3R2Q1P0NMK"],
            "is not a pipeline run id (26 characters, as printed by maoctl pipeline runs)",
        ),
        (vec!["pipeline", "add"], "--file <FILE>"),
        (
            vec!["dataset", "clone", "weather", "--dir", &full_dir],
            "the folder is not empty; give a folder that does not exist or is empty",
        ),
        (vec!["dataset", "clone", "Weather"], "name: "),
        (vec!["dataset", "remove-local", "x/y"], "name: "),
        (vec!["dataset", "init-local", "Bad_Name"], "name: "),
    ] {
        assert_refused_before_connecting(&args, expected);
    }
}

/// A stand-in for the daemon on loopback that answers the `i`-th request with
/// `answers[i]` (status and JSON body), one connection each, and hands back the requests
/// as `METHOD /path?query`. Scripted, not a daemon: what maoctl asks, in order, is
/// checked by the caller.
fn scripted_daemon(
    answers: Vec<(u16, serde_json::Value)>,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for (status, body) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            reader.read_line(&mut head).unwrap();
            // The requests maoctl makes here have no body: the head ends at a blank line.
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            requests.push(head.split(' ').take(2).collect::<Vec<_>>().join(" "));
            let body = body.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            reader.into_inner().write_all(response.as_bytes()).unwrap();
        }
        requests
    });
    (endpoint, thread)
}

const PIPELINE_RUN_ID: &str = "01J9Z8X7W6V5T4S3R2Q1P0NMKP";
const COLLECT_RUN: &str = "01J9Z8X7W6V5T4S3R2Q1P0NMKA";
const CLEAN_RUN: &str = "01J9Z8X7W6V5T4S3R2Q1P0NMKB";

/// The pipeline run `weather` as the daemon reports it, its two steps in these states.
fn pipeline_run(status: &str, collect: Option<&str>, clean: Option<&str>) -> serde_json::Value {
    let step = |name: &str, tool: &str, run: &str, status: Option<&str>| match status {
        Some(status) => {
            serde_json::json!({"name": name, "tool": tool, "run_id": run, "status": status})
        }
        None => serde_json::json!({"name": name, "tool": tool}),
    };
    serde_json::json!({
        "id": PIPELINE_RUN_ID,
        "pipeline": "weather",
        "node": "node-a",
        "trigger": "manual",
        "status": status,
        "steps": [
            step("collect", "scraper", COLLECT_RUN, collect),
            step("clean", "cleaner", CLEAN_RUN, clean),
        ],
        "queued_at": "2024-05-01T12:00:00Z",
    })
}

/// The run record of a step, with its git outcome.
fn step_record(
    id: &str,
    step: &str,
    status: &str,
    exit_code: i64,
    git: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "tool": "t",
        "pipeline": "weather",
        "pipeline_run": PIPELINE_RUN_ID,
        "step": step,
        "node": "node-a",
        "trigger": "manual",
        "image": "mao/t:1",
        "data_dir": "/d",
        "status": status,
        "exit_code": exit_code,
        "queued_at": "2024-05-01T12:00:00Z",
        "log_path": "/l",
        "git": git,
    })
}

#[test]
fn a_followed_pipeline_run_shows_its_steps_and_fails_when_a_step_fails() {
    let (endpoint, daemon) = scripted_daemon(vec![
        (202, pipeline_run("queued", None, None)),
        (200, pipeline_run("running", Some("running"), None)),
        (
            200,
            pipeline_run("failed", Some("succeeded"), Some("failed")),
        ),
        (
            200,
            step_record(
                COLLECT_RUN,
                "collect",
                "succeeded",
                0,
                serde_json::json!({
                    "dataset": "weather-raw", "branch": "node-a",
                    "commit": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
                    "push": "pending", "push_error": "remote is unreachable",
                }),
            ),
        ),
        (
            200,
            step_record(
                CLEAN_RUN,
                "clean",
                "failed",
                3,
                serde_json::json!({
                    "dataset": "weather-clean", "branch": "node-a", "push": "none",
                    "failed_ref": format!("refs/mao/failed/{CLEAN_RUN}"),
                }),
            ),
        ),
    ]);
    let out = maoctl(&[
        "--endpoint",
        &endpoint,
        "pipeline",
        "run",
        "weather",
        "--follow",
    ]);
    let err = stderr(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}\n{text}");
    assert_eq!(
        err,
        format!(
            "step 1/2 collect (tool scraper): run {COLLECT_RUN} running\n\
             step 1/2 collect (tool scraper): run {COLLECT_RUN} succeeded\n\
             step 2/2 clean (tool cleaner): run {CLEAN_RUN} failed\n\
             error: pipeline run {PIPELINE_RUN_ID} of weather failed: step clean failed\n"
        )
    );
    for line in [
        "Pipeline:  weather\n",
        "Status:    failed\n",
        "Step 1/2: collect\n",
        "  Commit:      1a2b3c4d\n",
        "  Push:        pending (the daemon retries)\n",
        "  Push error:  remote is unreachable\n",
        "Step 2/2: clean\n",
        "  Exit code:   3\n",
        &format!("  Failed ref:  refs/mao/failed/{CLEAN_RUN}\n"),
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert_eq!(
        daemon.join().unwrap(),
        vec![
            "POST /api/v1/pipelines/weather/runs".to_owned(),
            format!("GET /api/v1/pipeline-runs/{PIPELINE_RUN_ID}/wait?timeout=2000ms"),
            format!("GET /api/v1/pipeline-runs/{PIPELINE_RUN_ID}/wait?timeout=2000ms"),
            format!("GET /api/v1/runs/{COLLECT_RUN}"),
            format!("GET /api/v1/runs/{CLEAN_RUN}"),
        ]
    );
}

#[test]
fn a_pipeline_run_without_follow_prints_its_id_and_a_succeeded_one_exits_0() {
    let (endpoint, daemon) = scripted_daemon(vec![(202, pipeline_run("queued", None, None))]);
    let out = maoctl(&["--endpoint", &endpoint, "pipeline", "run", "weather"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{PIPELINE_RUN_ID}\n")
    );
    assert_eq!(
        daemon.join().unwrap(),
        vec!["POST /api/v1/pipelines/weather/runs"]
    );

    // Followed with -o json: steps on stderr, the run as the daemon sent it on stdout.
    let done = pipeline_run("succeeded", Some("succeeded"), Some("succeeded"));
    let (endpoint, daemon) = scripted_daemon(vec![
        (202, pipeline_run("queued", None, None)),
        (200, done.clone()),
    ]);
    let out = maoctl(&[
        "--endpoint",
        &endpoint,
        "-o",
        "json",
        "pipeline",
        "run",
        "weather",
        "-f",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, done);
    assert_eq!(stderr(&out).lines().count(), 2, "{}", stderr(&out));
    assert_eq!(daemon.join().unwrap().len(), 2);
}
