//! The dataset operations against real bare repositories on disk, reached over file://.

use std::sync::{Arc, Mutex};

use crate::support::{creds, git, Clone, Remote};
use mao_datasets::{
    clone_dataset, init_bare_with_initial_commit, Error, FastForward, MergeOutcome, PublishOutcome,
    RebaseOutcome, Repo,
};

const NODE: &str = "node-a";

fn node_clone(remote: &Remote, node: &str) -> Clone {
    let clone = Clone::of(remote, node);
    clone.repo.ensure_node_branch(node, &creds(node)).unwrap();
    clone
}

#[test]
fn init_bare_makes_a_cloneable_main_with_a_readme() {
    let remote = Remote::new();
    assert_eq!(remote.subjects("main"), ["initial commit"]);
    assert_eq!(
        git(&remote.path, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert!(git(&remote.path, &["rev-parse", "--is-bare-repository"]).trim() == "true");

    let clone = Clone::of(&remote, NODE);
    assert!(clone.read("README.md").unwrap().starts_with("# dataset"));
    assert_eq!(clone.repo.default_branch().unwrap(), "main");
    assert_eq!(clone.repo.head_branch().unwrap().as_deref(), Some("main"));
    assert!(clone.repo.is_clean().unwrap());

    // The command line can clone it too (someone who only wants the data).
    let cli = tempfile::tempdir().unwrap();
    git(cli.path(), &["clone", "-q", &remote.url(), "data"]);
    assert!(cli.path().join("data/README.md").exists());

    // Not over an existing repository.
    let again = init_bare_with_initial_commit(&remote.path, &creds("admin")).unwrap_err();
    assert!(matches!(again, Error::AlreadyExists { .. }), "{again:?}");
}

#[test]
fn clone_of_an_unreachable_url_is_a_network_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("clone");
    let err = clone_dataset("file:///nonexistent/dataset.git", &dest, &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(!dest.exists(), "a failed clone leaves no directory behind");

    // An empty directory given by the caller stays, empty.
    std::fs::create_dir(&dest).unwrap();
    clone_dataset("file:///nonexistent/dataset.git", &dest, &creds(NODE)).unwrap_err();
    assert!(dest.exists());
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn clone_into_a_non_empty_directory_is_refused() {
    let remote = Remote::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk"), "x").unwrap();
    let err = clone_dataset(&remote.url(), dir.path(), &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert!(dir.path().join("junk").exists());
}

#[test]
fn open_finds_a_clone_and_refuses_other_directories() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);
    let reopened = Repo::open(clone.path()).unwrap();
    assert_eq!(reopened.workdir(), clone.path());

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Repo::open(empty.path()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Repo::open(&remote.path),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn node_branch_is_created_pushed_and_a_second_call_changes_nothing() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);

    let first = clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    assert!(first.changed());
    assert!(first.created_from_default && first.checked_out && first.pushed);
    assert!(!first.tracked_remote);
    assert_eq!(clone.repo.head_branch().unwrap().as_deref(), Some(NODE));
    assert_eq!(remote.rev(NODE).unwrap(), first.head.to_string());
    assert_eq!(remote.rev(NODE), remote.rev("main"));
    assert_eq!(
        git(clone.path(), &["config", "branch.node-a.merge"]).trim(),
        "refs/heads/node-a"
    );

    let second = clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.head, first.head);

    // Reopening the clone later (a daemon restart) is just as idempotent.
    let reopened = Repo::open(clone.path()).unwrap();
    assert!(!reopened
        .ensure_node_branch(NODE, &creds(NODE))
        .unwrap()
        .changed());
}

#[test]
fn an_empty_remote_gets_the_node_branch_as_its_first_commit() {
    let remote = Remote::empty();
    let clone = Clone::separate(&remote, NODE);

    let first = clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    assert!(first.created_root && first.pushed, "{first:?}");
    assert!(!first.created_from_default && !first.tracked_remote);
    assert_eq!(remote.rev(NODE).unwrap(), first.head.to_string());
    assert_eq!(remote.subjects(NODE), ["initial commit"]);
    assert!(remote.show(NODE, "README.md").starts_with("# dataset\n"));
    assert_eq!(clone.repo.head_branch().unwrap().as_deref(), Some(NODE));

    let second = clone.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    assert!(!second.changed(), "{second:?}");

    // A second node of the remote, which still has no default branch, starts from the
    // root the first one made: both branches share a base to merge on.
    let other = Clone::separate(&remote, "node-b");
    let setup = other
        .repo
        .ensure_node_branch("node-b", &creds("node-b"))
        .unwrap();
    assert!(!setup.created_root && setup.pushed, "{setup:?}");
    assert_eq!(setup.head, first.head);
    assert_eq!(remote.rev("node-b"), remote.rev(NODE));
}

#[test]
fn node_branch_already_on_the_remote_is_tracked() {
    let remote = Remote::new();
    let first = node_clone(&remote, NODE);
    let commit = first.commit_file(NODE, "data/a.csv", "1\n", "run 1");
    first.repo.push(NODE, &creds(NODE)).unwrap();

    let second = Clone::of(&remote, NODE);
    let setup = second.repo.ensure_node_branch(NODE, &creds(NODE)).unwrap();
    assert!(setup.tracked_remote && setup.checked_out, "{setup:?}");
    assert!(!setup.created_from_default && !setup.pushed, "{setup:?}");
    assert_eq!(setup.head.to_string(), commit);
    assert_eq!(second.read("data/a.csv").as_deref(), Some("1\n"));
    assert!(!second
        .repo
        .ensure_node_branch(NODE, &creds(NODE))
        .unwrap()
        .changed());
}

#[test]
fn node_names_that_cannot_be_branches_are_refused() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);
    for bad in ["ground-truth", "Node", "a..b", "main"] {
        let err = clone
            .repo
            .ensure_node_branch(bad, &creds(NODE))
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err:?}");
    }
    assert_eq!(remote.rev("main"), remote.rev("HEAD"));
    assert!(remote.rev("ground-truth").is_none());
}

#[test]
fn commit_all_stages_everything_and_makes_no_empty_commit() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    let id = creds(NODE);
    assert_eq!(clone.repo.commit_all("nothing", &id).unwrap(), None);

    clone.write("keep.txt", "v1\n");
    clone.write("nested/deep/.hidden", "h\n");
    let first = clone.repo.commit_all("add", &id).unwrap().unwrap();
    assert_eq!(clone.repo.commit_all("again", &id).unwrap(), None);

    clone.write("keep.txt", "v2\n");
    std::fs::remove_file(clone.path().join("README.md")).unwrap();
    let second = clone
        .repo
        .commit_all("modify and delete", &id)
        .unwrap()
        .unwrap();
    assert_ne!(first, second);
    assert!(clone.repo.is_clean().unwrap());

    let changes = git(
        clone.path(),
        &["show", "--name-status", "--format=", "HEAD"],
    );
    assert!(changes.contains("D\tREADME.md"), "{changes}");
    assert!(changes.contains("M\tkeep.txt"), "{changes}");
    let files = git(
        clone.path(),
        &["ls-tree", "-r", "--name-only", &first.to_string()],
    );
    assert!(files.contains("nested/deep/.hidden"), "{files}");

    let who = git(clone.path(), &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
    assert_eq!(
        who.trim(),
        "node-a <node-a@example.org>|node-a <node-a@example.org>"
    );
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 2);
}

#[test]
fn three_commits_pushed_appear_on_the_remote_in_order() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    let mut commits = Vec::new();
    for run in 1..=3 {
        commits.push(clone.commit_file(
            NODE,
            "data/control-1.csv",
            &format!("{run}\n"),
            &format!("run {run}"),
        ));
        clone.repo.push(NODE, &creds(NODE)).unwrap();
        assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);
    }
    assert_eq!(
        remote.subjects(NODE),
        ["run 3", "run 2", "run 1", "initial commit"]
    );
    assert_eq!(remote.rev(NODE).unwrap(), commits[2]);
    assert_eq!(remote.show(NODE, "data/control-1.csv"), "3\n");
    // Pushing again with nothing new is fine.
    clone.repo.push(NODE, &creds(NODE)).unwrap();
}

#[test]
fn push_to_an_unreachable_remote_keeps_the_commits_and_pushes_them_in_order_when_it_is_back() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    let away = remote.path.with_extension("away");
    std::fs::rename(&remote.path, &away).unwrap();

    let mut commits = Vec::new();
    for run in 1..=3 {
        commits.push(clone.commit_file(
            NODE,
            &format!("data/{run}.csv"),
            "x\n",
            &format!("run {run}"),
        ));
        let err = clone.repo.push(NODE, &creds(NODE)).unwrap_err();
        assert!(matches!(err, Error::Network { .. }), "{err:?}");
        assert!(err.is_retryable());
    }
    let err = clone.repo.fetch(&creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 3);
    assert_eq!(
        clone.repo.head_commit().unwrap().unwrap().to_string(),
        commits[2]
    );

    std::fs::rename(&away, &remote.path).unwrap();
    clone.repo.push(NODE, &creds(NODE)).unwrap();
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 0);
    assert_eq!(
        remote.subjects(NODE),
        ["run 3", "run 2", "run 1", "initial commit"]
    );
    assert_eq!(remote.rev(NODE).unwrap(), commits[2]);
}

#[test]
fn push_to_a_url_that_does_not_exist_is_a_network_error() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    clone.commit_file(NODE, "a", "a", "run");
    clone
        .repo
        .git()
        .remote_set_url("origin", "file:///nonexistent/dataset.git")
        .unwrap();
    // The URL is read when the clone is opened (the daemon passes the registered one).
    let repo = Repo::open(clone.path()).unwrap();
    let err = repo.push(NODE, &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert_eq!(clone.repo.unpushed(NODE).unwrap(), 1);
}

#[test]
fn non_fast_forward_is_detected_and_rebased_cleanly() {
    let remote = Remote::new();
    let a = node_clone(&remote, NODE);
    let b = node_clone(&remote, NODE);

    let theirs = a.commit_file(NODE, "data/a.csv", "a\n", "run from a");
    a.repo.push(NODE, &creds(NODE)).unwrap();
    let ours = b.commit_file(NODE, "data/b.csv", "b\n", "run from b");

    let err = b.repo.push(NODE, &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::NonFastForward { .. }), "{err:?}");
    assert_eq!(remote.rev(NODE).unwrap(), theirs, "nothing was forced");

    let outcome = b.repo.rebase_onto_remote(NODE, &creds(NODE)).unwrap();
    let RebaseOutcome::Rebased {
        onto,
        head,
        replayed,
        dropped,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((replayed, dropped), (1, 0));
    assert_eq!(onto.to_string(), theirs);
    assert_ne!(head.to_string(), ours);
    assert_eq!(b.read("data/a.csv").as_deref(), Some("a\n"));
    assert_eq!(b.read("data/b.csv").as_deref(), Some("b\n"));
    assert!(b.repo.is_clean().unwrap());

    b.repo.push(NODE, &creds(NODE)).unwrap();
    assert_eq!(
        remote.subjects(NODE),
        ["run from b", "run from a", "initial commit"]
    );
    assert!(remote.is_ancestor(&theirs, NODE));
    assert_eq!(remote.show(NODE, "data/b.csv"), "b\n");
}

#[test]
fn publish_rebases_and_pushes_in_one_call() {
    let remote = Remote::new();
    let a = node_clone(&remote, NODE);
    let b = node_clone(&remote, NODE);
    a.commit_file(NODE, "x/a", "a", "from a");
    assert!(matches!(
        a.repo.publish(NODE, &creds(NODE)).unwrap(),
        PublishOutcome::Pushed { .. }
    ));
    b.commit_file(NODE, "x/b", "b", "from b");
    let outcome = b.repo.publish(NODE, &creds(NODE)).unwrap();
    assert!(
        matches!(
            outcome,
            PublishOutcome::RebasedAndPushed { replayed: 1, .. }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        remote.subjects(NODE),
        ["from b", "from a", "initial commit"]
    );
}

#[test]
fn a_conflicting_rebase_leaves_both_histories_intact() {
    let remote = Remote::new();
    let a = node_clone(&remote, NODE);
    let b = node_clone(&remote, NODE);
    let theirs = a.commit_file(NODE, "data/same.csv", "from a\n", "run from a");
    a.repo.push(NODE, &creds(NODE)).unwrap();
    let ours = b.commit_file(NODE, "data/same.csv", "from b\n", "run from b");

    assert!(matches!(
        b.repo.push(NODE, &creds(NODE)),
        Err(Error::NonFastForward { .. })
    ));
    let outcome = b.repo.rebase_onto_remote(NODE, &creds(NODE)).unwrap();
    let RebaseOutcome::Conflict {
        paths,
        local,
        remote: remote_tip,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(paths, [std::path::PathBuf::from("data/same.csv")]);
    assert_eq!(local.to_string(), ours);
    assert_eq!(remote_tip.to_string(), theirs);

    // Nothing moved: the local branch, its worktree and the remote branch.
    assert_eq!(b.repo.head_commit().unwrap().unwrap().to_string(), ours);
    assert_eq!(b.read("data/same.csv").as_deref(), Some("from b\n"));
    assert!(b.repo.is_clean().unwrap());
    assert_eq!(remote.rev(NODE).unwrap(), theirs);
    assert_eq!(b.repo.unpushed(NODE).unwrap(), 1);

    let published = b.repo.publish(NODE, &creds(NODE)).unwrap();
    assert!(
        matches!(published, PublishOutcome::Conflict { .. }),
        "{published:?}"
    );
    assert_eq!(remote.rev(NODE).unwrap(), theirs);
}

#[test]
fn fast_forward_follows_the_remote_and_refuses_a_diverged_branch() {
    let remote = Remote::new();
    let a = node_clone(&remote, NODE);
    let b = node_clone(&remote, NODE);
    assert_eq!(
        b.repo.fast_forward(NODE, &creds(NODE)).unwrap(),
        FastForward::UpToDate
    );

    let tip = a.commit_file(NODE, "f", "1", "one");
    a.repo.push(NODE, &creds(NODE)).unwrap();
    let FastForward::Advanced { to, .. } = b.repo.fast_forward(NODE, &creds(NODE)).unwrap() else {
        panic!("expected a fast-forward");
    };
    assert_eq!(to.to_string(), tip);
    assert_eq!(b.read("f").as_deref(), Some("1"));
    assert!(b.repo.is_clean().unwrap());

    b.commit_file(NODE, "g", "2", "two");
    assert_eq!(
        b.repo.fast_forward(NODE, &creds(NODE)).unwrap(),
        FastForward::LocalAhead { ahead: 1 }
    );

    a.commit_file(NODE, "h", "3", "three");
    a.repo.push(NODE, &creds(NODE)).unwrap();
    let err = b.repo.fast_forward(NODE, &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err:?}");
}

#[test]
fn reset_clean_restores_head_and_removes_untracked_and_ignored_files() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    clone.write(".gitignore", "*.tmp\n");
    clone.write("data/kept.csv", "1\n");
    clone
        .repo
        .commit_all("setup", &creds(NODE))
        .unwrap()
        .unwrap();
    assert!(clone.repo.is_clean().unwrap());

    clone.write("data/kept.csv", "changed\n");
    std::fs::remove_file(clone.path().join("README.md")).unwrap();
    clone.write("junk.tmp", "ignored\n");
    clone.write("new/dir/file", "untracked\n");
    assert!(!clone.repo.is_clean().unwrap());

    clone.repo.reset_clean().unwrap();
    let status = git(clone.path(), &["status", "--porcelain", "--ignored"]);
    assert_eq!(status, "");
    assert!(clone.repo.is_clean().unwrap());
    assert_eq!(clone.read("data/kept.csv").as_deref(), Some("1\n"));
    assert!(clone.path().join("README.md").exists());
    assert!(!clone.path().join("junk.tmp").exists());
    assert!(!clone.path().join("new/dir/file").exists());
    let status = git(clone.path(), &["status", "--porcelain", "--ignored"]);
    assert_eq!(status, "");
}

#[test]
fn keep_failed_stores_what_the_step_wrote_off_the_branch_and_resets_the_worktree() {
    let remote = Remote::new();
    let clone = node_clone(&remote, NODE);
    let before = clone.repo.head_commit().unwrap().unwrap();

    clone.write("out/partial.csv", "half a row\n");
    clone.write("README.md", "scribbled\n");
    let kept = clone
        .repo
        .keep_failed("01JRUN", &creds(NODE))
        .unwrap()
        .expect("something was kept");

    assert!(clone.repo.is_clean().unwrap());
    assert!(!clone.path().join("out").exists());
    assert_ne!(clone.read("README.md").as_deref(), Some("scribbled\n"));
    assert_eq!(
        clone.repo.head_commit().unwrap().unwrap(),
        before,
        "branch unchanged"
    );
    assert_eq!(
        git(clone.path(), &["rev-parse", "refs/mao/failed/01JRUN"]).trim(),
        kept.to_string()
    );
    assert_eq!(
        git(
            clone.path(),
            &["show", "refs/mao/failed/01JRUN:out/partial.csv"]
        ),
        "half a row\n"
    );
    assert_eq!(
        git(clone.path(), &["rev-parse", "refs/mao/failed/01JRUN^"]).trim(),
        before.to_string()
    );
    // Not on the remote, not on the branch.
    assert!(remote.rev("refs/mao/failed/01JRUN").is_none());
    assert_eq!(remote.rev(NODE).unwrap(), before.to_string());

    // A failed step that wrote nothing keeps nothing; a run id is used once.
    assert_eq!(
        clone.repo.keep_failed("01JRUN2", &creds(NODE)).unwrap(),
        None
    );
    clone.write("x", "y");
    let err = clone.repo.keep_failed("01JRUN", &creds(NODE)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    let err = clone
        .repo
        .keep_failed("../escape", &creds(NODE))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[test]
fn ground_truth_merges_two_nodes_without_losing_commits() {
    let remote = Remote::new();
    let alpha = node_clone(&remote, "alpha");
    let beta = node_clone(&remote, "beta");

    let a1 = alpha.commit_file("alpha", "alpha/1.csv", "1\n", "alpha run 1");
    alpha.repo.push("alpha", &creds("alpha")).unwrap();
    let b1 = beta.commit_file("beta", "beta/1.csv", "1\n", "beta run 1");
    beta.repo.push("beta", &creds("beta")).unwrap();

    let created = alpha
        .repo
        .merge_into_ground_truth("alpha", &creds("alpha"))
        .unwrap();
    assert_eq!(
        created,
        MergeOutcome::Created {
            head: a1.parse().unwrap()
        }
    );
    assert_eq!(remote.rev("ground-truth").unwrap(), a1);

    let merged = beta
        .repo
        .merge_into_ground_truth("beta", &creds("beta"))
        .unwrap();
    let MergeOutcome::Merged { commit } = merged else {
        panic!("{merged:?}");
    };
    assert_eq!(remote.rev("ground-truth").unwrap(), commit.to_string());
    let who = git(
        &remote.path,
        &["log", "-1", "--format=%an|%P", "ground-truth"],
    );
    assert_eq!(who.trim(), format!("beta|{a1} {b1}"));

    // Merging again changes nothing.
    assert!(matches!(
        beta.repo
            .merge_into_ground_truth("beta", &creds("beta"))
            .unwrap(),
        MergeOutcome::UpToDate { .. }
    ));

    let a2 = alpha.commit_file("alpha", "alpha/2.csv", "2\n", "alpha run 2");
    alpha.repo.push("alpha", &creds("alpha")).unwrap();
    assert!(matches!(
        alpha
            .repo
            .merge_into_ground_truth("alpha", &creds("alpha"))
            .unwrap(),
        MergeOutcome::Merged { .. }
    ));
    for commit in [&a1, &b1, &a2] {
        assert!(remote.is_ancestor(commit, "ground-truth"), "{commit} lost");
    }
    for file in ["alpha/1.csv", "alpha/2.csv", "beta/1.csv", "README.md"] {
        remote.show("ground-truth", file);
    }
    // The node branches themselves are untouched by the merges.
    assert_eq!(remote.rev("alpha").unwrap(), a2);
    assert_eq!(remote.rev("beta").unwrap(), b1);
}

#[test]
fn ground_truth_fast_forwards_when_it_is_behind_the_node_branch() {
    let remote = Remote::new();
    let alpha = node_clone(&remote, "alpha");
    alpha.commit_file("alpha", "1", "1", "one");
    alpha.repo.push("alpha", &creds("alpha")).unwrap();
    alpha
        .repo
        .merge_into_ground_truth("alpha", &creds("alpha"))
        .unwrap();
    let two = alpha.commit_file("alpha", "2", "2", "two");
    alpha.repo.push("alpha", &creds("alpha")).unwrap();
    let outcome = alpha
        .repo
        .merge_into_ground_truth("alpha", &creds("alpha"))
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::FastForwarded { .. }),
        "{outcome:?}"
    );
    assert_eq!(remote.rev("ground-truth").unwrap(), two);
}

#[test]
fn two_nodes_merging_concurrently_under_a_lock_lose_nothing() {
    let remote = Arc::new(Remote::new());
    // Stands in for the store's federation-wide lock, which the caller takes.
    let lock = Arc::new(Mutex::new(()));
    let workers: Vec<_> = ["alpha", "beta"]
        .into_iter()
        .map(|node| {
            let (remote, lock) = (remote.clone(), lock.clone());
            std::thread::spawn(move || {
                let clone = node_clone(&remote, node);
                let mut commits = Vec::new();
                for run in 0..5 {
                    commits.push(clone.commit_file(
                        node,
                        &format!("{node}/{run}.csv"),
                        "x\n",
                        &format!("{node} {run}"),
                    ));
                    clone.repo.push(node, &creds(node)).unwrap();
                    let _held = lock.lock().unwrap();
                    let outcome = clone
                        .repo
                        .merge_into_ground_truth(node, &creds(node))
                        .unwrap();
                    assert!(
                        !matches!(outcome, MergeOutcome::Conflict { .. }),
                        "{outcome:?}"
                    );
                }
                commits
            })
        })
        .collect();
    let commits: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(commits.len(), 10);
    for commit in &commits {
        assert!(remote.is_ancestor(commit, "ground-truth"), "{commit} lost");
    }
}

#[test]
fn a_ground_truth_conflict_leaves_ground_truth_untouched() {
    let remote = Remote::new();
    let alpha = node_clone(&remote, "alpha");
    let beta = node_clone(&remote, "beta");
    alpha.commit_file("alpha", "data.csv", "alpha\n", "alpha run");
    alpha.repo.push("alpha", &creds("alpha")).unwrap();
    let b = beta.commit_file("beta", "data.csv", "beta\n", "beta run");
    beta.repo.push("beta", &creds("beta")).unwrap();

    alpha
        .repo
        .merge_into_ground_truth("alpha", &creds("alpha"))
        .unwrap();
    let before = remote.rev("ground-truth").unwrap();
    let outcome = beta
        .repo
        .merge_into_ground_truth("beta", &creds("beta"))
        .unwrap();
    let MergeOutcome::Conflict {
        paths,
        ground_truth,
        node,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(paths, [std::path::PathBuf::from("data.csv")]);
    assert_eq!(ground_truth.to_string(), before);
    assert_eq!(node.to_string(), b);
    assert_eq!(remote.rev("ground-truth").unwrap(), before);
    assert_eq!(remote.show("ground-truth", "data.csv"), "alpha\n");
    assert_eq!(remote.rev("beta").unwrap(), b);
    assert!(beta.repo.is_clean().unwrap());
}

#[test]
fn merging_a_branch_that_is_not_on_the_remote_is_not_found() {
    let remote = Remote::new();
    let clone = Clone::of(&remote, NODE);
    let err = clone
        .repo
        .merge_into_ground_truth("ghost", &creds(NODE))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(remote.rev("ground-truth").is_none());
}

#[test]
fn input_export_is_ground_truth_when_present_else_the_default_branch() {
    let remote = Remote::new();
    let producer = node_clone(&remote, "alpha");
    let reader = Clone::of(&remote, "beta");
    let out = tempfile::tempdir().unwrap();

    let first = reader.repo.export_input(&out.path().join("one")).unwrap();
    assert_eq!(first.branch, "main");
    assert_eq!(first.files, 1);
    assert!(out.path().join("one/README.md").exists());

    producer.write("tables/t.csv", "a,b\n");
    producer.write("bin/run.sh", "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        producer.path().join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("tables/t.csv", producer.path().join("latest.csv")).unwrap();
    producer
        .repo
        .commit_all("data", &creds("alpha"))
        .unwrap()
        .unwrap();
    producer.repo.push("alpha", &creds("alpha")).unwrap();
    let merged = producer
        .repo
        .merge_into_ground_truth("alpha", &creds("alpha"))
        .unwrap();
    let MergeOutcome::Created { head } = merged else {
        panic!("{merged:?}")
    };

    reader.repo.fetch(&creds("beta")).unwrap();
    let dest = out.path().join("two");
    let second = reader.repo.export_input(&dest).unwrap();
    assert_eq!(second.branch, "ground-truth");
    assert_eq!(second.commit, head);
    assert_eq!(second.files, 4);
    assert_eq!(
        std::fs::read_to_string(dest.join("tables/t.csv")).unwrap(),
        "a,b\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("latest.csv")).unwrap(),
        "a,b\n"
    );
    let mode = std::fs::metadata(dest.join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit kept");
    assert!(!dest.join(".git").exists());

    let err = reader.repo.export_input(&dest).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
}
