//! A daemon on a 3-member etcd cluster keeps answering while one member is down: the
//! leader killed (an election follows), then a follower (issue 12, D1).

use std::time::{Duration, Instant};

use mao_api::Tool;
use mao_testkit::etcd_cluster::EtcdCluster;

use crate::support::{client, start_daemon};

/// API writes per outage: this many tools added, then as many removed.
const TOOLS: usize = 50;

/// Adds and removes [`TOOLS`] tools through the API; returns the failed requests.
fn add_and_remove(api: &mao_client::Client, template: &Tool, round: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for i in 0..TOOLS {
        let tool = Tool {
            name: format!("{round}-{i}"),
            ..template.clone()
        };
        if let Err(e) = api.create_tool(&tool) {
            errors.push(format!("add {}: {e}", tool.name));
        }
    }
    for i in 0..TOOLS {
        let name = format!("{round}-{i}");
        if let Err(e) = api.delete_tool(&name) {
            errors.push(format!("remove {name}: {e}"));
        }
    }
    errors
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
    let errors = add_and_remove(&api, &template, "leader-down");
    eprintln!(
        "leader killed: {} of {} API writes failed, {} ms for all",
        errors.len(),
        TOOLS * 2,
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
    let errors = add_and_remove(&api, &template, "follower-down");
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
