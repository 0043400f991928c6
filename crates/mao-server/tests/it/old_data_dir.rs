//! A data dir written by the daemon before the redesign (tests/fixtures/old-data-dir.tar.gz,
//! made by make-old-data-dir.sh with the binary of the commit in old-data-dir.commit) opens
//! unchanged: its registry (store.redb), run records, notifications and schedule
//! state (local.redb) are all read, and the node goes on working on it. A clone of that
//! layout (its git directory inside the worktree) gets its git directory moved out to
//! `<data-dir>/git/<name>.git` at start-up, history and branch kept.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mao_api::{NotificationKind, RunRequest, RunStatus};
use mao_client::Client;

use crate::support::{container_sweep, ensure_demo_image, start_daemon};

#[test]
fn a_data_dir_of_the_previous_layout_opens_unchanged() {
    ensure_demo_image();
    let _sweep = container_sweep("fixture-node");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/old-data-dir.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&data)
        .arg("-xzf")
        .arg(&fixture)
        .status()
        .expect("tar runs");
    assert!(status.success(), "cannot unpack {}", fixture.display());
    let runs = std::fs::read_to_string(data.join("FIXTURE-RUNS")).unwrap();
    let (ok, failed) = runs.trim().split_once('\n').expect("two run ids");
    // A clone as the previous layout kept it: `.git` inside the worktree.
    let worktree = data.join("datasets/notes");
    let cloned = Command::new("git")
        .args(["clone", "-q"])
        .arg(data.join("bare/notes.git"))
        .arg(&worktree)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .expect("git runs");
    assert!(cloned.success());
    assert!(worktree.join(".git").is_dir());

    let daemon = start_daemon(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "fixture-node",
        ],
        &dir.path().join("daemon.log"),
    );
    let client = Client::new(&daemon.url).unwrap();

    let tools = client.list_tools().unwrap();
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(
        (
            tools[0].name.as_str(),
            tools[0].author.as_str(),
            tools[0].image.as_str()
        ),
        ("demo", "Fixture", "mao/demo-tool:latest")
    );
    let datasets = client.list_datasets().unwrap();
    let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["notes", "prices"]);
    assert_eq!(datasets[1].description, "old layout");
    assert!(datasets[0].local_only && datasets[0].master.starts_with("file://"));
    let pipeline = client.get_pipeline("collect").unwrap();
    assert_eq!(pipeline.steps.len(), 1);
    assert_eq!(
        (
            pipeline.steps[0].name.as_str(),
            pipeline.steps[0].tool.as_str(),
            pipeline.steps[0].output_dataset.as_str()
        ),
        ("scrape", "demo", "notes")
    );
    // The clone was moved to the new layout and reads as before.
    let local = client.list_local_datasets().unwrap();
    assert!(!worktree.join(".git").exists());
    assert!(data.join("git/notes.git/HEAD").is_file());
    assert!(worktree.join("README.md").is_file());
    assert_eq!(local.len(), 1, "{local:?}");
    assert_eq!(
        (
            local[0].name.as_str(),
            local[0].branch.as_deref(),
            local[0].clean
        ),
        ("notes", Some("main"), true)
    );
    let schedule = client.get_schedule("nightly").unwrap();
    assert_eq!(schedule.schedule.cron, "0 3 * * *");
    assert_eq!(schedule.schedule.tz, "Europe/Zurich");
    assert!(schedule.schedule.suspended && schedule.next_fire.is_none());

    let good = client.get_run(ok).unwrap();
    assert_eq!(good.status, RunStatus::Succeeded, "{good:?}");
    assert_eq!(good.exit_code, Some(0));
    assert_eq!(good.node, "fixture-node");
    assert!(
        good.metrics.values().any(|v| *v == 42.0),
        "the control metric of the old run: {:?}",
        good.metrics
    );
    let bad = client.get_run(failed).unwrap();
    assert_eq!(bad.status, RunStatus::Failed);
    assert_eq!(bad.exit_code, Some(3));
    let listed: Vec<String> = client
        .list_runs(Some("demo"), None, Some(50))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [failed, ok], "newest first");

    let notes = client
        .list_notifications(Some(NotificationKind::RunFailed), false, Some(50))
        .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].run_id.as_deref(), Some(failed));

    // The node goes on: a new run next to the old ones, judged against their history.
    let run = client.start_run("demo", &RunRequest::default()).unwrap();
    let run = client.wait_run(&run.id, Duration::from_secs(60)).unwrap();
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "{run:?}\n{}",
        daemon.log_text()
    );
    assert_eq!(
        client
            .list_runs(Some("demo"), None, Some(50))
            .unwrap()
            .len(),
        3
    );
}
