//! Insights end to end: a tool writes `insights.json`, the real daemon publishes it after
//! the run, maoctl reads it back; bad files leave the run succeeded and say why.

use mao_api::{Insight, RunStatus};

use crate::runs::Node;
use crate::support::{maoctl_as, maoctl_items};

#[test]
fn a_runs_insights_are_published_and_bad_ones_are_refused_without_failing_it() {
    let node = Node::start("insight", &[]);
    let name = node.node_name();

    let (code, first) = node.run_json(&[
        "--env",
        "DEMO_WRITE_FILE=insights.json",
        "--env",
        r#"DEMO_WRITE_TEXT={"rain_mm": 3.5, "station": "ZRH"}"#,
    ]);
    assert_eq!(code, 0, "{first:?}");
    assert_eq!(first.insights_error, None, "{first:?}");
    let got: Insight = maoctl_as(&node.daemon, &["insight", "get", "demo", "--node", &name]);
    assert_eq!(got.run_id, first.id);
    assert_eq!(
        (got.tool.as_str(), got.node.as_str()),
        ("demo", name.as_str())
    );
    assert_eq!(got.insights["station"], "ZRH");
    assert_eq!(got.insights["rain_mm"], 3.5);
    let all: Vec<Insight> = maoctl_items(&node.daemon, &["insight", "get", "demo"]);
    assert_eq!(all, vec![got.clone()]);
    let listed: Vec<Insight> = maoctl_items(&node.daemon, &["insight", "list", "--tool", "demo"]);
    assert_eq!(listed, vec![got.clone()]);
    let table = node.daemon.maoctl_ok(&["insight", "list"]);
    assert!(
        table.contains("ZRH") && table.contains(&first.id),
        "{table}"
    );

    // Not an object, then too large: the run succeeds, says why, and the first stays.
    let big = format!(r#"DEMO_WRITE_TEXT={{"pad": "{}"}}"#, "x".repeat(70 * 1024));
    for (text, why) in [
        (r#"DEMO_WRITE_TEXT=[1, 2, 3]"#, "not an array"),
        (big.as_str(), "larger than 65536 bytes"),
    ] {
        let (code, run) = node.run_json(&["--env", "DEMO_WRITE_FILE=insights.json", "--env", text]);
        assert_eq!(code, 0, "{run:?}");
        assert_eq!(run.status, RunStatus::Succeeded);
        let error = run.insights_error.clone().unwrap_or_default();
        assert!(error.contains(why), "{why}: {run:?}");
        let shown = node.daemon.maoctl_ok(&["run", "get", &run.id]);
        assert!(shown.contains("Insights error"), "{shown}");
        let still: Insight = maoctl_as(&node.daemon, &["insight", "get", "demo", "--node", &name]);
        assert_eq!(still, got, "nothing was published");
    }

    // A run that writes no new file publishes nothing again (the file is older than the
    // run's start, past the 2 s allowed for clock skew).
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, plain) = node.run_json(&[]);
    assert_eq!(code, 0, "{plain:?}");
    assert_eq!(
        plain.insights_error, None,
        "an earlier run's file is not this run's"
    );

    let out = node
        .daemon
        .maoctl(&["insight", "get", "demo", "--node", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no insights"));
}
