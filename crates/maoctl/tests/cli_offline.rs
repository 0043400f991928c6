//! The real maoctl binary, in the cases that need no daemon: an unreachable endpoint,
//! usage errors, help. Runs against the daemon are in mao-server's end-to-end tests.

use std::io::Read;
use std::process::{Command, Output, Stdio};

fn maoctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maoctl"))
        .args(args)
        // The caller's environment must not pick the endpoint or the format.
        .env_remove("MAO_ENDPOINT")
        .env_remove("MAO_OUTPUT")
        .output()
        .expect("maoctl runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An endpoint where nothing listens: a port the kernel handed out and that was closed again.
fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn unreachable_daemon_is_exit_1_with_advice() {
    let endpoint = closed_endpoint();
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
    let endpoint = closed_endpoint();
    let out = Command::new(env!("CARGO_BIN_EXE_maoctl"))
        .args(["tool", "list"])
        .env("MAO_ENDPOINT", &endpoint)
        .output()
        .unwrap();
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
    let endpoint = closed_endpoint();
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

#[test]
fn bad_run_arguments_are_refused_before_connecting() {
    let endpoint = closed_endpoint();
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
        let mut full = vec!["--endpoint", endpoint.as_str()];
        full.extend(&args);
        let out = maoctl(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("is mao-orchestrator running?"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_schedule_arguments_are_refused_before_connecting() {
    let endpoint = closed_endpoint();
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
        let mut full = vec!["--endpoint", endpoint.as_str()];
        full.extend(&args);
        let out = maoctl(&full);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("is mao-orchestrator running?"), "{err}");
        assert!(out.stdout.is_empty());
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
    let dir = std::env::temp_dir().join(format!("maoctl-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tool.json");
    std::fs::write(&file, r#"{"name": "demo", "colour": "blue"}"#).unwrap();
    let out = maoctl(&["tool", "add", "-f", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_maoctl"))
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
