//! What a step's tool can reach: the real daemon, Docker and bare repositories on disk.
//! The worktree a step gets has no `.git`; whatever the tool writes there under that name
//! moves no push and is not committed. A dataset's local remote lies under the node's
//! bare/ or an allowed folder, and a refusal does not tell which host paths exist.

use std::path::Path;

use mao_api::pipeline::PushState;
use mao_api::RunStatus;
use serde_json::json;

use crate::pipelines::{
    add_and_init, bare_repo, git, git_of, request, run_pipeline, step_record, Site,
};
use crate::support::start_daemon;

/// The references a bare repository holds, one `<oid> <name>` per line.
fn refs(bare: &Path) -> String {
    git(bare, &["for-each-ref", "--format=%(objectname) %(refname)"])
}

#[test]
fn a_tool_that_rewrites_git_config_cannot_move_the_push() {
    let site = Site::new("confine");
    let attacker = bare_repo(site.dir.path(), "attacker", &[]);
    let attacker_bare = Path::new(attacker.strip_prefix("file://").unwrap()).to_path_buf();
    let before = refs(&attacker_bare);
    let config = format!(
        "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = {attacker}\n\tpushurl = {attacker}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    );
    add_and_init(
        &site.d,
        site.dir.path(),
        &json!({
            "name": "tamper",
            "steps": [{"name": "collect", "tool": "demo", "output_dataset": "obs",
                       "env": {"DEMO_WRITE_FILE": ".git/config", "DEMO_WRITE_TEXT": config}}]
        }),
    );

    for i in 0..2 {
        let run = run_pipeline(&site.d, "tamper");
        assert_eq!(run.status, RunStatus::Succeeded, "run {i}: {run:?}");
        let step = step_record(&site.d, &run, 0);
        let outcome = git_of(&step);
        assert_eq!(outcome.push, PushState::Pushed, "{step:?}");
        let commit = outcome.commit.clone().expect("a commit");
        // The tool saw no git directory.
        let logs = site.d.maoctl_ok(&["run", "logs", &step.id]);
        assert!(logs.contains("data .git is absent"), "{logs}");
        assert!(logs.contains("wrote .git/config"), "{logs}");
        // The push landed on the registered remote, and nothing on the attacker's.
        let branch = format!("refs/heads/{}", site.node);
        assert_eq!(
            git(&site.bare, &["rev-parse", &branch]).trim(),
            commit,
            "{}",
            site.d.log_text()
        );
        assert_eq!(refs(&attacker_bare), before);
        // What the tool wrote as .git was not committed.
        let files = git(&site.bare, &["ls-tree", "-r", "--name-only", &commit]);
        assert!(!files.lines().any(|f| f.contains(".git")), "{files}");
        assert!(files.lines().any(|f| f.starts_with("control-")), "{files}");
    }
}

#[test]
fn local_remotes_only_under_bare_or_an_allowed_folder_and_refusals_look_alike() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shared = dir.path().join("shared");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(data.join("bare")).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let in_bare = bare_repo(&data.join("bare"), "mine", &[]);
    let in_shared = bare_repo(&shared, "theirs", &[]);
    let escaped = bare_repo(&outside, "escaped", &[]);
    std::os::unix::fs::symlink(&outside, data.join("bare/link")).unwrap();
    let d = start_daemon(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "local-remotes",
            "--allowed-local-remotes",
            shared.to_str().unwrap(),
        ],
        &dir.path().join("daemon.log"),
    );

    let dotdot = format!("file://{}/bare/../../outside/escaped.git", data.display());
    let symlinked = format!("file://{}/bare/link/escaped.git", data.display());
    let plain_path = escaped.strip_prefix("file://").unwrap().to_owned();
    let mut messages = Vec::new();
    for (i, url) in [
        "file:///etc",
        "file:///nonexistent",
        dotdot.as_str(),
        symlinked.as_str(),
        escaped.as_str(),
        plain_path.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"name": format!("refused{i}"), "master": url});
        let (status, v) = request(&d, "POST", "/api/v1/datasets", Some(body));
        assert_eq!(status, 422, "{url}: {v}");
        assert_eq!(v["error"]["code"], "local_remote_not_allowed", "{url}: {v}");
        messages.push(v["error"]["message"].as_str().unwrap().to_owned());
        let compat = json!({"name": format!("refused{i}"), "body": {"master": url}});
        let (status, v) = request(&d, "POST", "/registry/datasets", Some(compat));
        assert_eq!(status, 422, "{url}: {v}");
        assert_eq!(v["error"]["message"], messages[0].as_str(), "{url}: {v}");
    }
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
    assert!(!messages[0].contains("/etc"), "{}", messages[0]);
    let (status, v) = request(&d, "GET", "/api/v1/datasets", None);
    assert_eq!(
        (status, v["items"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );

    // Under bare/ and under the allowed folder: registered, and cloned by an init.
    d.maoctl_ok(&["dataset", "add", "mine", &in_bare]);
    d.maoctl_ok(&["dataset", "add", "theirs", &in_shared]);
    let cloned = d.maoctl_ok(&["dataset", "clone", "theirs"]);
    assert!(data.join("datasets/theirs/README").is_file(), "{cloned}");
    d.maoctl_ok(&["dataset", "clone", "mine"]);
    assert!(data.join("git/mine.git").is_dir());

    // The folder is no longer allowed after a restart: a clone of it is refused too.
    let late = bare_repo(&shared, "late", &[]);
    d.maoctl_ok(&["dataset", "add", "late", &late]);
    let mut d = d;
    d.kill();
    let d = start_daemon(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--node",
            "local-remotes",
        ],
        &dir.path().join("daemon2.log"),
    );
    let (status, v) = request(&d, "POST", "/api/v1/datasets/late/clone", None);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["message"], messages[0].as_str(), "{v}");
    assert!(!data.join("datasets/late").exists());
}
