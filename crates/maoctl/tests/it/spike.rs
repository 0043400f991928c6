//! `maoctl spike check`, the real binary on the fixtures of `tests/data/`: no daemon
//! involved, so none is started.

use std::path::PathBuf;
use std::process::Output;

use crate::{maoctl_command, run, stderr};

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

/// maoctl with `args`, and `stdin` only for a command that reads the series from it.
fn maoctl(args: &[&str], stdin: Option<&str>) -> Output {
    // Offline: a bad endpoint must not matter.
    run(
        maoctl_command().args(args).env("MAO_ENDPOINT", "not a url"),
        stdin,
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `control.csv`: 30 daily values near 1000 and one of 1512 on row 21.
const SPIKE_ROW: usize = 21;
const ROWS: usize = 30;

#[test]
fn the_table_shows_the_spike_row_and_a_summary() {
    let out = maoctl(&["spike", "check", &data("control.csv")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + ROWS + 1, "header, rows, summary:\n{text}");
    assert!(lines[0].starts_with("ROW  TIMESTAMP"), "{text}");
    let spikes: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("SPIKE"))
        .collect();
    assert_eq!(spikes.len(), 1, "{text}");
    assert!(
        spikes[0].starts_with(&format!("{SPIKE_ROW}   2024-05-21T06:00:00Z  1512 ")),
        "{text}"
    );
    assert!(spikes[0].ends_with("SPIKE UP"), "{text}");
    assert!(
        lines[ROWS + 1].starts_with("30 points, 1 spike (1 up, 0 down); method smoothed-z ("),
        "{text}"
    );
}

#[test]
fn scores_are_one_number_per_row() {
    let out = maoctl(&["spike", "check", &data("control.csv"), "--scores"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let scores: Vec<f64> = text
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        .collect();
    assert_eq!(scores.len(), ROWS, "{text}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{text}");
    let above: Vec<usize> = (0..ROWS).filter(|&i| scores[i] > 0.5).collect();
    assert_eq!(above, vec![SPIKE_ROW - 1], "{text}");
    // --scores wins over -o json: a script asked for scores.
    let json = maoctl(
        &[
            "spike",
            "check",
            &data("control.csv"),
            "--scores",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(stdout(&json), text);
}

#[test]
fn json_is_an_array_of_rows_and_stdin_works() {
    let input = "value\n5\n5\n5\n5\n5\n5\n50\n5\n";
    let out = maoctl(
        &["spike", "check", "-", "--method", "robust-z", "-o", "json"],
        Some(input),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[6]["verdict"], "spike_up");
    assert_eq!(rows[6]["row"], 7);
    assert_eq!(rows[6]["baseline"], 5.0);
    assert_eq!(rows[7]["verdict"], "normal");
    assert!(rows[0].get("timestamp").is_none());
}

#[test]
fn the_original_rule_is_available() {
    let out = maoctl(
        &[
            "spike",
            "check",
            "-",
            "--method",
            "percent",
            "--direction",
            "down",
        ],
        Some("100\n100\n107\n93\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4    93     103.5     -10.1%"), "{text}");
    assert!(text.contains("SPIKE DOWN"), "{text}");
    assert!(!text.contains("SPIKE UP"), "{text}");
    assert!(
        text.ends_with("method percent (threshold=6 window=2), direction down, min history 2\n"),
        "{text}"
    );
}

#[test]
fn a_bad_value_is_exit_2_naming_its_line() {
    let out = maoctl(&["spike", "check", &data("bad.csv")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("bad.csv: line 5: \"99O\" is not a number"),
        "{err}"
    );
    let out = maoctl(&["spike", "check", "/nonexistent/series.csv"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/series.csv"));
}

#[test]
fn an_unknown_param_is_exit_2_naming_the_valid_ones() {
    let out = maoctl(
        &[
            "spike",
            "check",
            &data("control.csv"),
            "--method",
            "robust-z",
            "--param",
            "lag=5",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            r#"unknown parameter "lag" for method robust-z; valid parameters: threshold, window"#
        ),
        "{err}"
    );
    for (args, needle) in [
        (vec!["--param", "threshold=-1"], "must be a number above 0"),
        (vec!["--param", "threshold=high"], "must be a number"),
        (vec!["--method", "zscore"], "zscore"),
        (vec!["--direction", "sideways"], "sideways"),
        (vec!["--min-history", "0"], "min_history must be"),
    ] {
        let mut full = vec!["spike", "check", "-"];
        full.extend(&args);
        let out = maoctl(&full, Some("1\n"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}
