//! What a step's tool can reach: the real daemon, Docker and bare repositories on disk.
//! The worktree a step gets has no `.git`; whatever the tool writes there under that name
//! moves no push and is not committed.

use std::path::Path;

use mao_api::pipeline::PushState;
use mao_api::RunStatus;
use serde_json::json;

use crate::pipelines::{add_and_init, bare_repo, git, git_of, run_pipeline, step_record, Site};

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
