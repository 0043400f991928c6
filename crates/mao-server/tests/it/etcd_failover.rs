//! A daemon on a 3-member etcd cluster keeps answering while one member is down: the
//! leader killed (an election follows), then a follower (issue 12, D1).

use std::time::{Duration, Instant};

use mao_api::Tool;
use mao_testkit::etcd_cluster::EtcdCluster;

use crate::support::{client, start_daemon};

/// API writes per outage: this many tools added, then as many removed.
const TOOLS: usize = 50;

/// Adds and removes [`TOOLS`] tools through the API; returns the failed requests and
/// when the first one succeeded, from `since`.
fn add_and_remove(
    api: &mao_client::Client,
    template: &Tool,
    round: &str,
    since: Instant,
) -> (Vec<String>, Duration) {
    let mut errors = Vec::new();
    let mut first_success = None;
    for i in 0..TOOLS {
        let tool = Tool {
            name: format!("{round}-{i}"),
            ..template.clone()
        };
        match api.create_tool(&tool) {
            Ok(_) => {
                first_success.get_or_insert_with(|| since.elapsed());
            }
            Err(e) => errors.push(format!("add {}: {e}", tool.name)),
        }
    }
    for i in 0..TOOLS {
        let name = format!("{round}-{i}");
        if let Err(e) = api.delete_tool(&name) {
            errors.push(format!("remove {name}: {e}"));
        }
    }
    (errors, first_success.unwrap_or(Duration::MAX))
}

#[test]
fn api_writes_succeed_with_one_etcd_member_down() {
    let mut cluster = EtcdCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let endpoints = cluster.endpoints();
    let daemon = start_daemon(
        &[
            "--data-dir",
            dir.path().join("d").to_str().unwrap(),
            "--node",
            "site-f",
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoints,
            // The tools below are never run: their image need not be on the engine.
            "--allowed-images",
            "alpine",
        ],
        &dir.path().join("d.log"),
    );
    daemon.maoctl_ok(&[
        "tool",
        "add",
        "template",
        "A",
        "alpine",
        "https://h/d.git",
        "https://h/c.git",
        "x",
    ]);
    let api = client(&daemon);
    let template = api.get_tool("template").unwrap();

    let leader = cluster.wait_leader(Duration::from_secs(30));
    cluster.kill(leader);
    let killed = Instant::now();
    let (errors, first_success) = add_and_remove(&api, &template, "leader-down", killed);
    eprintln!(
        "leader killed: {} of {} API writes failed; first success {} ms after the kill, {} ms for all",
        errors.len(),
        TOOLS * 2,
        first_success.as_millis(),
        killed.elapsed().as_millis()
    );
    assert!(
        errors.is_empty(),
        "{} of {} API writes failed with the etcd leader killed: {:#?}",
        errors.len(),
        TOOLS * 2,
        &errors[..errors.len().min(5)]
    );

    // The old leader back, a follower down.
    cluster.start_member(leader);
    let leader = cluster.wait_leader(Duration::from_secs(30));
    cluster.kill((leader + 1) % 3);
    let (errors, _) = add_and_remove(&api, &template, "follower-down", Instant::now());
    assert!(
        errors.is_empty(),
        "{} of {} API writes failed with an etcd follower killed: {:#?}",
        errors.len(),
        TOOLS * 2,
        &errors[..errors.len().min(5)]
    );
    let names: Vec<String> = api
        .list_tools()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["template"], "every tool added was removed again");
}
