//! A step that changes 10,000 small files: commit and push through this crate, side by
//! side with `git add -A && git commit && git push` on the same data. Timings are printed
//! (run with `--nocapture` to see them), not asserted: the figure belongs in BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{creds, git, git_command, Clone, Remote};

const FILES: usize = 10_000;

fn write_files(root: &Path, round: usize) {
    for i in 0..FILES {
        let dir = root.join(format!("data/{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("{i:05}.csv")),
            format!("{round},{i},{}\n", i * 7),
        )
        .unwrap();
    }
}

/// Flushes dirty pages, so that the writeback of the files a round just wrote does not
/// land in whichever side happens to be timed next.
fn settle() {
    let status = std::process::Command::new("sync").status().unwrap();
    assert!(status.success());
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn cli_commit_and_push(dir: &Path, branch: &str, message: &str) -> Duration {
    let start = Instant::now();
    for args in [
        vec!["add", "-A"],
        vec!["commit", "-q", "-m", message],
        vec!["push", "-q", "origin", branch],
    ] {
        let out = git_command(dir).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    start.elapsed()
}

#[test]
fn ten_thousand_small_files_commit_and_push() {
    let remote = Remote::new();

    // This crate, on node-a.
    let clone = Clone::of(&remote, "node-a");
    let id = creds("node-a");
    clone.repo.ensure_node_branch("node-a", &id).unwrap();

    // The git command line, on node-b, on the same remote.
    let cli = tempfile::tempdir().unwrap();
    git(cli.path(), &["clone", "-q", &remote.url(), "c"]);
    let cli_dir = cli.path().join("c");
    git(&cli_dir, &["checkout", "-q", "-b", "node-b"]);
    git(&cli_dir, &["push", "-q", "origin", "node-b"]);

    let mut report = Vec::new();
    let (mut ours_total, mut cli_total) = (Duration::ZERO, Duration::ZERO);
    let rounds = [
        (1, "add 10,000 files"),
        (2, "modify 10,000 files"),
        (3, "modify 10,000 files again"),
    ];
    for (round, what) in rounds {
        write_files(clone.path(), round);
        settle();
        let (commit, t_commit) = timed(|| clone.repo.commit_all(what, &id).unwrap());
        assert!(commit.is_some());
        let ((), t_push) = timed(|| clone.repo.push("node-a", &id).unwrap());

        write_files(&cli_dir, round);
        settle();
        let t_cli = cli_commit_and_push(&cli_dir, "node-b", what);

        let ours = t_commit + t_push;
        ours_total += ours;
        cli_total += t_cli;
        report.push(format!(
            "{what}: mao-datasets commit {t_commit:.2?} + push {t_push:.2?} = {ours:.2?}; \
             git add -A && commit && push = {t_cli:.2?}; ratio {:.2}",
            ours.as_secs_f64() / t_cli.as_secs_f64()
        ));
    }
    // One round is at the mercy of the disk; the sum over the rounds is the figure.
    report.push(format!(
        "all rounds: mao-datasets {ours_total:.2?}, git {cli_total:.2?}, ratio {:.2}",
        ours_total.as_secs_f64() / cli_total.as_secs_f64()
    ));
    let (none, t_nothing) = timed(|| clone.repo.commit_all("nothing", &id).unwrap());
    assert!(none.is_none());
    report.push(format!("nothing changed: commit_all scan {t_nothing:.2?}"));

    // Same data, same result on the remote.
    let ours = git(&remote.path, &["rev-parse", "node-a^{tree}"]);
    let theirs = git(&remote.path, &["rev-parse", "node-b^{tree}"]);
    assert_eq!(ours, theirs, "both ways commit the same tree");
    let count = git(&remote.path, &["ls-tree", "-r", "--name-only", "node-a"])
        .lines()
        .count();
    assert_eq!(count, FILES + 1);

    for line in report {
        println!("bench: {line}");
    }
}
