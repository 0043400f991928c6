//! A clone kept as the daemon keeps it: the git directory outside the worktree, every
//! transfer to the registered remote, nothing named `.git` in the worktree followed.

use mao_datasets::Repo;

use crate::support::{creds, git, Clone, Remote};

const NODE: &str = "node-a";

#[test]
fn the_worktree_has_no_git_directory_and_reopens_from_outside() {
    let remote = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    assert!(!clone.path().join(".git").exists());
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    let git_dir = clone.repo.git().path().to_path_buf();
    assert!(!git_dir.starts_with(clone.path()), "{}", git_dir.display());

    let reopened = Repo::open_separate(&git_dir, clone.path())
        .unwrap()
        .with_remote(&remote.url());
    assert_eq!(reopened.workdir(), clone.path());
    assert_eq!(reopened.head_branch().unwrap().as_deref(), Some(NODE));
    assert!(reopened.is_clean().unwrap());
}

#[test]
fn a_rewritten_config_cannot_move_a_fetch_or_a_push() {
    let remote = Remote::new();
    let attacker = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    // Everything the config could say about where to push points at the attacker.
    let mut config = clone.repo.git().config().unwrap();
    config
        .set_str("remote.origin.url", &attacker.url())
        .unwrap();
    config
        .set_str("remote.origin.pushurl", &attacker.url())
        .unwrap();

    let commit = clone.commit_file(NODE, "control-1.csv", "1\n", "run 1");
    clone.repo.publish(NODE, &creds(NODE)).unwrap();
    assert_eq!(remote.rev(NODE).as_deref(), Some(commit.as_str()));
    assert_eq!(attacker.rev(NODE), None);
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);
    clone.repo.fetch(&creds(NODE)).unwrap();
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);

    // A rewrite rule is refused, not followed.
    for key in ["insteadOf", "pushInsteadOf"] {
        let mut config = clone.repo.git().config().unwrap();
        let rule = format!("url.{}.{key}", attacker.url());
        config.set_str(&rule, &remote.url()).unwrap();
        clone.commit_file(NODE, "control-2.csv", key, key);
        let err = clone.repo.push(NODE, &creds(NODE)).unwrap_err();
        assert!(err.to_string().contains("insteadOf"), "{err}");
        assert_eq!(attacker.rev(NODE), None);
        assert_eq!(remote.rev(NODE).as_deref(), Some(commit.as_str()));
        config.remove(&rule).unwrap();
    }
}

#[test]
fn a_planted_git_directory_is_neither_followed_nor_committed() {
    let remote = Remote::new();
    let other = Remote::new();
    let clone = Clone::separate(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    // What a tool could write: a .git with a config at the top, a nested repository, and
    // a `.GIT` file.
    clone.write(
        ".git/config",
        "[remote \"origin\"]\n\turl = /tmp/elsewhere\n",
    );
    let nested = clone.path().join("sub");
    std::fs::create_dir_all(&nested).unwrap();
    git(&nested, &["init", "-q"]);
    clone.write("sub/data.csv", "1\n");
    clone.write(
        "deeper/.GIT",
        &format!("gitdir: {}\n", other.path.display()),
    );
    clone.write("control-1.csv", "1\n");

    clone
        .repo
        .commit_all("run 1", &creds(NODE))
        .unwrap()
        .expect("a commit");
    clone.repo.push(NODE, &creds(NODE)).unwrap();
    let pushed = git(&remote.path, &["ls-tree", "-r", "--name-only", NODE]);
    let pushed: Vec<&str> = pushed.lines().collect();
    assert_eq!(pushed, ["README.md", "control-1.csv", "sub/data.csv"]);
    assert!(!clone.path().join(".git").exists());
    assert!(!clone.path().join("sub/.git").exists());
    assert!(!clone.path().join("deeper/.GIT").exists());
}

#[test]
fn an_older_clone_is_separated_in_place() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);
    clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    let head = clone.repo.head_commit().unwrap();
    let workdir = clone.path().to_path_buf();
    let git_dir = workdir.with_extension("git");
    let moved = Repo::separate(&workdir, &git_dir).unwrap();
    assert!(!workdir.join(".git").exists());
    assert_eq!(moved.head_commit().unwrap(), head);
    assert_eq!(moved.head_branch().unwrap().as_deref(), Some(NODE));
    assert!(moved.is_clean().unwrap());
    std::fs::remove_dir_all(&git_dir).unwrap();
}
