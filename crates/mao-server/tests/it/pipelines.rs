//! Pipelines end to end: the real daemon, maoctl, Docker, git remotes as bare repositories
//! on disk, and (for the ground-truth race) two daemons on a real etcd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{
    container_sweep, ensure_demo_image, eventually, maoctl_as, maoctl_items, start_daemon,
    unique_node, Daemon,
};
use mao_api::pipeline::{GitOutcome, InitReport, PipelineRun, PushState};
use mao_api::{Dataset, LocalDataset, Notification, RunRecord, RunStatus, Severity};
use mao_testkit::etcd::EtcdServer;
use serde_json::{json, Value};

/// Runs git and returns its stdout; panics with its stderr when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "someone")
        .env("GIT_AUTHOR_EMAIL", "someone@example.org")
        .env("GIT_COMMITTER_NAME", "someone")
        .env("GIT_COMMITTER_EMAIL", "someone@example.org")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs git on a node's clone of `dataset`: its worktree under `<data>/datasets/`, its git
/// directory under `<data>/git/` (the worktree has no `.git`).
pub(crate) fn clone_git(data: &Path, dataset: &str, args: &[&str]) -> String {
    let git_dir = format!(
        "--git-dir={}",
        data.join(format!("git/{dataset}.git")).display()
    );
    let work_tree = format!(
        "--work-tree={}",
        data.join("datasets").join(dataset).display()
    );
    let mut all = vec![git_dir.as_str(), work_tree.as_str()];
    all.extend_from_slice(args);
    git(data, &all)
}

/// A bare repository `<dir>/<name>.git` whose `main` holds `files`; returns its file:// URL.
pub(crate) fn bare_repo(dir: &Path, name: &str, files: &[(&str, &str)]) -> String {
    let bare = dir.join(format!("{name}.git"));
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let work = dir.join(format!("{name}-seed"));
    git(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    std::fs::write(work.join("README"), format!("dataset {name}\n")).unwrap();
    for (path, content) in files {
        std::fs::write(work.join(path), content).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    format!("file://{}", bare.display())
}

pub(crate) fn bare_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap())
}

/// Commit subjects of `branch` in a bare repository, newest first.
pub(crate) fn log(bare: &Path, branch: &str) -> Vec<String> {
    git(bare, &["log", "--format=%s", branch])
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn request(d: &Daemon, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    // A client, not a browser's form: bodyless POSTs say so (the daemon refuses the rest).
    let req = agent
        .request(method, &format!("{}{}", d.url, path))
        .set("X-Mao-Client", "test");
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let (status, text) = match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A node whose data dir is `<dir>/<node>`; the tests' bare repositories in `dir` are
/// allowed local remotes.
pub(crate) fn start_node(dir: &Path, node: &str, extra: &[&str]) -> Daemon {
    let data = dir.join(node);
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--node",
        node,
        "--allowed-local-remotes",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    start_daemon(&args, &dir.join(format!("{node}.log")))
}

/// Writes a pipeline file and adds it with maoctl.
pub(crate) fn add_pipeline(d: &Daemon, dir: &Path, pipeline: &Value) {
    let file = dir.join(format!("{}.json", pipeline["name"].as_str().unwrap()));
    std::fs::write(&file, serde_json::to_vec_pretty(pipeline).unwrap()).unwrap();
    d.maoctl_ok(&["pipeline", "add", "-f", file.to_str().unwrap()]);
}

/// Adds a pipeline with maoctl and initialises it on the node.
pub(crate) fn add_and_init(d: &Daemon, dir: &Path, pipeline: &Value) {
    add_pipeline(d, dir, pipeline);
    d.maoctl_ok(&["pipeline", "init", pipeline["name"].as_str().unwrap()]);
}

/// Starts a pipeline run with maoctl; returns its id.
fn start_pipeline(d: &Daemon, name: &str) -> String {
    maoctl_as::<PipelineRun>(d, &["pipeline", "run", name]).id
}

/// A pipeline run as `maoctl pipeline status` shows it.
fn pipeline_status(d: &Daemon, id: &str) -> PipelineRun {
    maoctl_as(d, &["pipeline", "status", id])
}

/// The status of step `step` of a pipeline run, `None` while it has none (or no such step).
fn step_status(run: &PipelineRun, step: usize) -> Option<RunStatus> {
    run.steps.get(step).and_then(|s| s.status)
}

/// Whether step `step` of a pipeline run never started a run.
fn step_never_ran(run: &PipelineRun, step: usize) -> bool {
    run.steps.get(step).is_none_or(|s| s.run_id.is_none())
}

/// Runs a pipeline with maoctl and waits for it; returns the pipeline run.
pub(crate) fn run_pipeline(d: &Daemon, name: &str) -> PipelineRun {
    let id = start_pipeline(d, name);
    let mut last = None;
    assert!(
        eventually(Duration::from_secs(120), || {
            let run = pipeline_status(d, &id);
            let ended = matches!(
                run.status,
                RunStatus::Succeeded
                    | RunStatus::Failed
                    | RunStatus::TimedOut
                    | RunStatus::Cancelled
                    | RunStatus::Lost
            );
            last = Some(run);
            ended
        }),
        "pipeline run {id} did not end: {last:?}\n{}",
        d.log_text()
    );
    last.expect("at least one look at the run")
}

pub(crate) fn step_record(d: &Daemon, run: &PipelineRun, step: usize) -> RunRecord {
    let id = run.steps[step]
        .run_id
        .as_deref()
        .unwrap_or_else(|| panic!("step {step} has no run: {run:?}"));
    maoctl_as(d, &["run", "get", id])
}

/// The git outcome of a step's run; panics (with the record) when it has none.
pub(crate) fn git_of(step: &RunRecord) -> &GitOutcome {
    step.git
        .as_ref()
        .unwrap_or_else(|| panic!("no git outcome: {step:?}"))
}

/// The outcome of a step's merge into ground-truth, if it has one.
fn ground_truth_outcome(step: &RunRecord) -> Option<&str> {
    step.git
        .as_ref()
        .and_then(|g| g.ground_truth.as_ref())
        .map(|g| g.outcome.as_str())
}

/// One node with the demo tool and a dataset `obs` on a fresh bare repository.
pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) node: String,
    _sweep: mao_testkit::docker::ContainerSweep,
    pub(crate) url: String,
    pub(crate) bare: PathBuf,
    pub(crate) d: Daemon,
}

impl Site {
    pub(crate) fn new(prefix: &str) -> Site {
        ensure_demo_image();
        let dir = tempfile::tempdir().unwrap();
        let node = unique_node(prefix);
        let url = bare_repo(dir.path(), "obs", &[]);
        let d = start_node(dir.path(), &node, &[]);
        crate::support::add_demo_tool(&d);
        d.maoctl_ok(&["dataset", "add", "obs", &url]);
        Site {
            _sweep: container_sweep(&node),
            bare: bare_path(&url),
            dir,
            node,
            url,
            d,
        }
    }
}

#[test]
fn init_runs_commit_push_read_input_and_survive_an_unreachable_remote() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("pipe");
    let _sweep = container_sweep(&node);
    let out_url = bare_repo(dir.path(), "weather", &[]);
    let in_url = bare_repo(dir.path(), "stations", &[("stations.csv", "id\n1\n")]);
    let mut d = start_node(dir.path(), &node, &[]);
    crate::support::add_demo_tool(&d);
    d.maoctl_ok(&["dataset", "add", "weather", &out_url]);
    d.maoctl_ok(&["dataset", "add", "stations", &in_url]);
    add_pipeline(
        &d,
        dir.path(),
        &json!({
            "name": "collect-weather",
            "steps": [{"name": "collect", "tool": "demo", "input_dataset": "stations",
                       "output_dataset": "weather", "env": {"DEMO_VALUE": "17"}}]
        }),
    );

    // Init creates the node branch from main and pushes it; the node joins `nodes`.
    let report: InitReport = maoctl_as(&d, &["pipeline", "init", "collect-weather"]);
    assert!(report.changed, "{report:?}");
    let out_bare = bare_path(&out_url);
    let branches = git(&out_bare, &["branch", "--list"]);
    assert!(branches.contains(&node), "node branch pushed: {branches}");
    let ds: Dataset = maoctl_as(&d, &["dataset", "get", "weather"]);
    assert_eq!(ds.nodes, std::slice::from_ref(&node), "{ds:?}");
    // A second init changes nothing and says so.
    let again: InitReport = maoctl_as(&d, &["pipeline", "init", "collect-weather"]);
    assert!(!again.changed, "{again:?}");
    let text = d.maoctl_ok(&["pipeline", "init", "collect-weather"]);
    assert!(text.contains("nothing changed"), "{text}");

    // Three runs make three commits on the remote's node branch.
    for i in 0..3 {
        let run = run_pipeline(&d, "collect-weather");
        assert_eq!(run.status, RunStatus::Succeeded, "run {i}: {run:?}");
        let step = step_record(&d, &run, 0);
        assert_eq!(git_of(&step).push, PushState::Pushed, "{step:?}");
        assert!(git_of(&step).commit.is_some(), "{step:?}");
        assert_eq!(step.pipeline_run.as_deref(), Some(run.id.as_str()));
        if i == 0 {
            // The step read its input, read-only.
            let logs = d.maoctl_ok(&["run", "logs", &step.id]);
            assert!(logs.contains("input file: stations.csv"), "{logs}");
            assert!(logs.contains("input probe write: failed"), "{logs}");
            let input = git_of(&step).input.as_ref().unwrap();
            assert_eq!(input.dataset, "stations");
            assert_eq!(input.branch, "main");
        }
    }
    // Two runs at once never share the worktree: both commit, one after the other.
    let ids: Vec<String> = (0..2)
        .map(|_| start_pipeline(&d, "collect-weather"))
        .collect();
    for id in &ids {
        assert!(eventually(Duration::from_secs(60), || {
            pipeline_status(&d, id).status == RunStatus::Succeeded
        }));
    }
    // A pipeline is a schedule target like a tool.
    d.maoctl_ok(&[
        "pipeline",
        "run",
        "collect-weather",
        "--cron",
        "*/2 * * * * *",
        "--id",
        "every2s",
    ]);
    assert!(
        eventually(Duration::from_secs(20), || {
            let runs: Vec<PipelineRun> = maoctl_items(&d, &["pipeline", "runs", "collect-weather"]);
            runs.iter()
                .filter(|r| {
                    r.status == RunStatus::Succeeded && r.trigger.starts_with("schedule:every2s@")
                })
                .count()
                >= 2
        }),
        "{}",
        d.log_text()
    );
    d.maoctl_ok(&["schedule", "remove", "every2s"]);
    // Let a slot that fired just before the removal finish.
    assert!(eventually(Duration::from_secs(20), || {
        let runs: Vec<PipelineRun> = maoctl_items(&d, &["pipeline", "runs", "collect-weather"]);
        runs.iter().all(|r| r.status == RunStatus::Succeeded)
    }));
    let commits = log(&out_bare, &node);
    let runs: Vec<PipelineRun> = maoctl_items(
        &d,
        &["pipeline", "runs", "collect-weather", "--limit", "1000"],
    );
    let total = runs.len();
    assert_eq!(commits.len(), 1 + total, "seed + one per run: {commits:?}");
    assert!(commits[0].starts_with("mao: collect-weather / collect (run "));
    let files = git(&out_bare, &["ls-tree", "--name-only", &node]);
    assert_eq!(
        files.lines().filter(|f| f.starts_with("control-")).count(),
        total,
        "{files}"
    );

    // The remote goes away: runs still succeed, commits pile up locally, push pending.
    let moved = dir.path().join("weather.moved");
    std::fs::rename(&out_bare, &moved).unwrap();
    let mut pending_ids = Vec::new();
    for _ in 0..2 {
        let run = run_pipeline(&d, "collect-weather");
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        let step = step_record(&d, &run, 0);
        assert_eq!(git_of(&step).push, PushState::Pending, "{step:?}");
        assert!(
            git_of(&step)
                .push_error
                .as_deref()
                .unwrap()
                .contains("unreachable"),
            "{step:?}"
        );
        pending_ids.push(step.id);
    }
    let local: Vec<LocalDataset> = maoctl_items(&d, &["dataset", "list-local"]);
    let weather = local.iter().find(|x| x.name == "weather").unwrap();
    assert_eq!(weather.unpushed, 2, "{weather:?}");
    // A push that keeps failing is told to the operator (once, after three retries).
    assert!(
        eventually(Duration::from_secs(40), || {
            let n: Vec<Notification> =
                maoctl_items(&d, &["notification", "list", "--kind", "push_failing"]);
            n.len() == 1
        }),
        "{}",
        d.log_text()
    );
    // The clone holds work the remote lacks: removing it is refused.
    let refused = d.maoctl(&["dataset", "remove-local", "weather"]);
    assert_eq!(refused.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(msg.contains("unpushed"), "{msg}");

    // The daemon dies while the pushes are pending; the remote comes back; after the
    // restart everything is pushed, in order, none lost.
    d.kill();
    std::fs::rename(&moved, &out_bare).unwrap();
    let d = start_node(dir.path(), &node, &[]);
    assert!(
        eventually(Duration::from_secs(30), || log(&out_bare, &node).len()
            == total + 3),
        "pending commits pushed after restart: {:?}\n{}",
        log(&out_bare, &node),
        d.log_text()
    );
    let commits = log(&out_bare, &node);
    assert_eq!(commits.len(), total + 3, "{commits:?}");
    for (i, id) in pending_ids.iter().rev().enumerate() {
        assert!(commits[i].contains(id.as_str()), "order: {commits:?}");
    }
    assert!(eventually(Duration::from_secs(10), || {
        pending_ids.iter().all(|id| {
            maoctl_as::<RunRecord>(&d, &["run", "get", id])
                .git
                .is_some_and(|g| g.push == PushState::Pushed)
        })
    }));

    // Someone who only wants the data clones it where they like; the node's clone can go.
    let copy = dir.path().join("copy");
    d.maoctl_ok(&[
        "dataset",
        "clone",
        "weather",
        "--dir",
        copy.to_str().unwrap(),
    ]);
    assert!(copy.join("README").is_file());
    d.maoctl_ok(&["dataset", "remove-local", "weather"]);
    assert!(!dir.path().join(&node).join("datasets/weather").exists());
    let again: LocalDataset = maoctl_as(&d, &["dataset", "clone", "weather"]);
    assert_eq!(again.name, "weather", "{again:?}");
}

#[test]
fn a_failed_step_is_kept_off_the_branch_and_junk_is_set_aside() {
    let Site {
        dir,
        node,
        _sweep,
        bare,
        d,
        ..
    } = Site::new("pfail");
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "two", "steps": [
            {"name": "first", "tool": "demo", "output_dataset": "obs", "env": {"DEMO_EXIT": "3"}},
            {"name": "second", "tool": "demo", "output_dataset": "obs"}
        ]}),
    );
    let before = log(&bare, &node);

    let run = run_pipeline(&d, "two");
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert!(
        run.error.as_deref().unwrap().contains("first"),
        "names the step: {run:?}"
    );
    assert!(
        step_never_ran(&run, 1),
        "the second step never ran: {run:?}"
    );
    let step = step_record(&d, &run, 0);
    let failed_ref = git_of(&step).failed_ref.clone().unwrap();
    assert_eq!(failed_ref, format!("refs/mao/failed/{}", step.id));
    let clone = dir.path().join(&node).join("datasets/obs");
    let data = dir.path().join(&node);
    assert!(
        !clone.join(".git").exists(),
        "no git directory in the worktree"
    );
    let kept = clone_git(&data, "obs", &["ls-tree", "--name-only", &failed_ref]);
    assert!(kept.contains("control-"), "what it wrote is kept: {kept}");
    assert_eq!(
        clone_git(&data, "obs", &["status", "--porcelain"]),
        "",
        "worktree reset"
    );
    assert_eq!(log(&bare, &node), before, "nothing on the branch");
    // maoctl's report shows where the failed step's files are.
    let shown = d.maoctl_ok(&["run", "get", &step.id]);
    assert!(shown.contains(&failed_ref), "{shown}");

    // Junk left in the worktree is set aside before the next step, not committed.
    std::fs::write(clone.join("junk.txt"), "left behind").unwrap();
    add_pipeline(
        &d,
        dir.path(),
        &json!({"name": "ok", "steps": [{"name": "only", "tool": "demo", "output_dataset": "obs"}]}),
    );
    let run = run_pipeline(&d, "ok");
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let files = git(&bare, &["ls-tree", "--name-only", &node]);
    assert!(!files.contains("junk.txt"), "{files}");
    let refs = clone_git(
        &data,
        "obs",
        &["for-each-ref", "--format=%(refname)", "refs/mao/failed/"],
    );
    assert!(refs.contains("-only-leftover"), "junk kept: {refs}");
    // Those kept outputs exist nowhere else: removing the clone needs --force.
    let refused = d.maoctl(&["dataset", "remove-local", "obs"]);
    assert_eq!(refused.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(msg.contains("2 kept output(s) of failed steps"), "{msg}");
    assert!(clone.is_dir());
    d.maoctl_ok(&["dataset", "remove-local", "obs", "--force"]);
    assert!(!clone.exists());
    assert!(
        !data.join("git/obs.git").exists(),
        "its git directory went too"
    );
}

#[test]
fn someone_elses_push_is_rebased_on_and_a_conflict_stops_without_force() {
    let Site {
        dir,
        node,
        _sweep,
        url,
        bare,
        d,
    } = Site::new("pnff");
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "slow", "steps": [{"name": "s", "tool": "demo", "output_dataset": "obs",
            "env": {"DEMO_SLEEP": "3"}}]}),
    );
    let other = dir.path().join("other");
    git(
        dir.path(),
        &["clone", "-q", "-b", &node, &url, other.to_str().unwrap()],
    );
    // While a step runs (after its fetch), someone pushes to this node's branch.
    let push_meanwhile = |pipeline: &str, file: &str, content: &str, subject: &str| {
        let id = start_pipeline(&d, pipeline);
        // The step's container runs only after its fetch: push once it does.
        let client = crate::support::client(&d);
        let run_id = id.as_str();
        assert!(
            eventually(Duration::from_secs(60), || {
                let run = client.get_pipeline_run(run_id).unwrap();
                run.steps[0].run_id.as_deref().is_some_and(|id| {
                    client.get_run(id).unwrap().status == mao_api::RunStatus::Running
                })
            }),
            "the step never ran: {}",
            d.log_text()
        );
        git(&other, &["pull", "-q", "--ff-only", "origin", &node]);
        std::fs::write(other.join(file), content).unwrap();
        git(&other, &["add", "-A"]);
        git(&other, &["commit", "-q", "-m", subject]);
        git(&other, &["push", "-q", "origin", &node]);
        let mut run = None;
        assert!(eventually(Duration::from_secs(60), || {
            let r = pipeline_status(&d, &id);
            let ended = !matches!(r.status, RunStatus::Queued | RunStatus::Running);
            run = Some(r);
            ended
        }));
        run.expect("at least one look at the run")
    };

    // An unrelated file: our commit is rebased onto theirs and pushed, never forced.
    let run = push_meanwhile("slow", "note.txt", "by hand\n", "by hand");
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let commits = log(&bare, &node);
    assert_eq!(commits[1], "by hand", "{commits:?}");
    assert!(commits[0].starts_with("mao: slow / s"), "{commits:?}");
    let step = step_record(&d, &run, 0);
    assert_eq!(git_of(&step).push, PushState::Pushed, "{step:?}");

    // The file the tool rewrites with another value, changed on the remote too: a conflict
    // stops the pipeline and leaves both histories intact.
    add_pipeline(
        &d,
        dir.path(),
        &json!({"name": "slow9", "steps": [{"name": "s", "tool": "demo", "output_dataset": "obs",
            "env": {"DEMO_SLEEP": "3", "DEMO_VALUE": "9"}}]}),
    );
    let run = push_meanwhile("slow9", "metrics.json", "{\"theirs\": 1}\n", "theirs");
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let step = step_record(&d, &run, 0);
    assert_eq!(git_of(&step).push, PushState::Conflict, "{step:?}");
    assert_eq!(log(&bare, &node)[0], "theirs", "their history is intact");
    let n: Vec<Notification> =
        maoctl_items(&d, &["notification", "list", "--kind", "push_conflict"]);
    assert_eq!(n[0].dataset.as_deref(), Some("obs"), "{n:?}");
    assert_eq!(n[0].severity, Severity::Critical, "{n:?}");
    let data = dir.path().join(&node);
    let ours = clone_git(&data, "obs", &["log", "--format=%s", "-1", &node]);
    assert!(ours.starts_with("mao: slow9 / s"), "ours is intact: {ours}");
}

#[test]
fn two_daemons_merge_into_ground_truth_concurrently_without_losing_commits() {
    ensure_demo_image();
    let etcd = EtcdServer::start_new();
    let dir = tempfile::tempdir().unwrap();
    let url = bare_repo(dir.path(), "shared", &[]);
    let bare = bare_path(&url);
    let endpoint = etcd.endpoint();
    let fed = [
        "--store",
        "etcd",
        "--etcd-endpoints",
        endpoint.as_str(),
        "--etcd-prefix",
        "/gt",
    ];
    let na = unique_node("gta");
    let nb = unique_node("gtb");
    let _sa = container_sweep(&na);
    let _sb = container_sweep(&nb);
    let a = start_node(dir.path(), &na, &fed);
    let b = start_node(dir.path(), &nb, &fed);
    crate::support::add_demo_tool(&a);
    a.maoctl_ok(&["dataset", "add", "shared", &url]);
    add_pipeline(
        &a,
        dir.path(),
        &json!({"name": "gt", "ground_truth": "merge",
                "steps": [{"name": "s", "tool": "demo", "output_dataset": "shared",
                           "env": {"DEMO_METRICS": "0"}}]}),
    );
    // Both nodes initialise at once: both end up in the dataset's nodes list.
    std::thread::scope(|s| {
        s.spawn(|| a.maoctl_ok(&["pipeline", "init", "gt"]));
        s.spawn(|| b.maoctl_ok(&["pipeline", "init", "gt"]));
    });
    let ds: Dataset = maoctl_as(&a, &["dataset", "get", "shared"]);
    let mut nodes: Vec<String> = ds.nodes;
    nodes.sort();
    let mut want = vec![na.clone(), nb.clone()];
    want.sort();
    assert_eq!(nodes, want);

    // Both run three times, concurrently; every run merges into ground-truth.
    let mut step_commits = Vec::new();
    std::thread::scope(|s| {
        let ha = s.spawn(|| (0..3).map(|_| run_pipeline(&a, "gt")).collect::<Vec<_>>());
        let hb = s.spawn(|| (0..3).map(|_| run_pipeline(&b, "gt")).collect::<Vec<_>>());
        for (d, runs) in [(&a, ha.join().unwrap()), (&b, hb.join().unwrap())] {
            for run in runs {
                assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
                let step = step_record(d, &run, 0);
                let gt = ground_truth_outcome(&step);
                assert!(
                    ["created", "merged", "fast_forwarded", "up_to_date"]
                        .contains(&gt.unwrap_or("")),
                    "{step:?}"
                );
                step_commits.push(git_of(&step).commit.clone().unwrap());
            }
        }
    });
    // ground-truth contains every commit of both nodes.
    for c in &step_commits {
        let out = Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args(["merge-base", "--is-ancestor", c, "ground-truth"])
            .status()
            .unwrap();
        assert!(out.success(), "commit {c} is in ground-truth");
    }
    // Every merge released the federation lock: no key is left under /gt/locks/.
    let out = Command::new("etcdctl")
        .args([
            "--endpoints",
            &endpoint,
            "get",
            "--prefix",
            "/gt/locks/",
            "--keys-only",
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "locks left"
    );
    // Each node's branch holds only its own runs; ground-truth holds all of them.
    let gt_files = git(&bare, &["ls-tree", "--name-only", "ground-truth"]);
    assert_eq!(
        gt_files
            .lines()
            .filter(|f| f.starts_with("control-"))
            .count(),
        6,
        "{gt_files}"
    );
    drop(etcd);
}

#[test]
fn bad_pipelines_and_unreachable_remotes_are_refused_with_nothing_half_made() {
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("pbad");
    let d = start_node(dir.path(), &node, &[]);
    crate::support::add_demo_tool(&d);
    let url = bare_repo(dir.path(), "real", &[]);
    d.maoctl_ok(&["dataset", "add", "real", &url]);
    d.maoctl_ok(&[
        "dataset",
        "add",
        "gone",
        &format!("file://{}/nowhere.git", dir.path().display()),
    ]);

    let step = |tool: &str, out: &str, input: Option<&str>| json!({"name": "s", "tool": tool, "output_dataset": out, "input_dataset": input});
    let cases = [
        (
            json!({"name": "p", "steps": [step("nope", "real", None)]}),
            404,
            "tool \"nope\"",
        ),
        (
            json!({"name": "p", "steps": [step("demo", "nope", None)]}),
            404,
            "dataset \"nope\"",
        ),
        (
            json!({"name": "p", "steps": [step("demo", "real", Some("real"))]}),
            422,
            "input_dataset",
        ),
        (
            json!({"name": "../p", "steps": [step("demo", "real", None)]}),
            422,
            "name",
        ),
        (json!({"name": "p", "steps": []}), 422, "steps"),
    ];
    for (body, status, needle) in cases {
        let (s, v) = request(&d, "POST", "/api/v1/pipelines", Some(body.clone()));
        assert_eq!(s, status, "{body} -> {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
    let client = crate::support::client(&d);
    let e = client.get_pipeline("p").unwrap_err();
    assert!(e.is_not_found(), "nothing stored: {e:?}");
    let e = client.init_pipeline("nope").unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = client.start_pipeline_run("nope").unwrap_err();
    assert!(e.is_not_found(), "{e:?}");

    // An unreachable remote: a clear 4xx at init; no clone left, not in `nodes`.
    let (s, _) = request(
        &d,
        "POST",
        "/api/v1/pipelines",
        Some(json!({"name": "p", "steps": [step("demo", "gone", None)]})),
    );
    assert_eq!(s, 201);
    let e = client.init_pipeline("p").unwrap_err();
    assert_eq!(e.status(), Some(422), "{e:?}");
    assert_eq!(e.code(), Some("remote_unreachable"), "{e:?}");
    assert!(!dir.path().join(&node).join("datasets/gone").exists());
    let ds: Dataset = maoctl_as(&d, &["dataset", "get", "gone"]);
    assert!(ds.nodes.is_empty(), "{ds:?}");
    // Running a pipeline that was never initialised says what to do.
    let e = client.start_pipeline_run("p").unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    assert!(e.to_string().contains("pipeline init"), "{e:?}");

    // The original's routes.
    let calls = [
        (
            "/pipeline/init",
            json!({"tool": "demo", "dataset": "real"}),
            200,
        ),
        ("/pipeline/init", json!({"tool": "demo"}), 422),
        (
            "/pipeline/run",
            json!({"name": "demo", "cron": "0 3 * * *"}),
            201,
        ),
        (
            "/pipeline/run",
            json!({"name": "demo", "cron": "61 * * * *"}),
            422,
        ),
        ("/bare-repo/init", json!({"name": "mine"}), 201),
        ("/bare-repo/init", json!({"name": "mine"}), 409),
        ("/bare-repo/init", json!({"name": "../x"}), 422),
    ];
    let answers: Vec<Value> = calls
        .into_iter()
        .map(|(path, body, want)| {
            let (s, v) = request(&d, "POST", path, Some(body.clone()));
            assert_eq!(s, want, "POST {path} {body} -> {v}");
            v
        })
        .collect();
    assert_eq!(answers[0]["pipeline"], "demo", "named after the tool");
    assert_eq!(
        answers[2]["target"],
        json!({"kind": "pipeline", "name": "demo"})
    );
    let v = &answers[4];
    assert_eq!(v["local_only"], true);
    let master = v["master"].as_str().unwrap();
    assert!(Path::new(master.strip_prefix("file://").unwrap()).is_dir());
}

#[test]
fn a_node_pushes_over_ssh_with_its_key_and_a_refused_key_is_a_clear_error() {
    ensure_demo_image();
    let server = mao_testkit::sshd::SshServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("pssh");
    let _sweep = container_sweep(&node);
    bare_repo(dir.path(), "obs", &[]);
    bare_repo(dir.path(), "other", &[]);
    let bare = dir.path().join("obs.git");
    let key_args = |key: &Path| {
        vec![
            "--git-ssh-key".to_owned(),
            key.display().to_string(),
            "--git-known-hosts".to_owned(),
            server.known_hosts.display().to_string(),
        ]
    };
    let args = key_args(&server.client_key);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = start_node(dir.path(), &node, &refs);
    crate::support::add_demo_tool(&d);
    d.maoctl_ok(&["dataset", "add", "obs", &server.url(&bare)]);
    d.maoctl_ok(&[
        "dataset",
        "add",
        "other",
        &server.url(&dir.path().join("other.git")),
    ]);
    for (name, dataset) in [("p", "obs"), ("q", "other")] {
        add_pipeline(
            &d,
            dir.path(),
            &json!({"name": name, "steps": [{"name": "s", "tool": "demo", "output_dataset": dataset}]}),
        );
    }
    d.maoctl_ok(&["pipeline", "init", "p"]);
    let out = d.maoctl_ok(&["pipeline", "run", "p", "--follow"]);
    assert!(out.contains("pushed"), "{out}");
    assert!(
        log(&bare, &node)[0].starts_with("mao: p / s"),
        "{:?}",
        log(&bare, &node)
    );
    assert!(
        server.log().contains("Accepted publickey"),
        "{}",
        server.log()
    );

    // The same node with a key the server does not know: init says why, makes nothing.
    d.kill();
    let args = key_args(&server.wrong_key);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = start_node(dir.path(), &node, &refs);
    let (status, v) = request(&d, "POST", "/api/v1/pipelines/q/init", None);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "remote_auth_refused", "{v}");
    assert!(!dir.path().join(&node).join("datasets/other").exists());
    let text = format!("{v}{}", d.log_text());
    let secret = std::fs::read_to_string(&server.wrong_key).unwrap();
    let secret_line = secret.lines().nth(1).unwrap();
    assert!(
        !text.contains(secret_line),
        "no key material in errors or logs"
    );
}

#[test]
fn a_ground_truth_conflict_leaves_ground_truth_untouched_and_says_why() {
    let Site {
        dir,
        node,
        _sweep,
        url,
        bare,
        d,
    } = Site::new("pgtc");
    for (name, value) in [("gt1", "1"), ("gt2", "2")] {
        add_pipeline(
            &d,
            dir.path(),
            &json!({"name": name, "ground_truth": "merge", "steps": [{"name": "s",
                "tool": "demo", "output_dataset": "obs", "env": {"DEMO_VALUE": value}}]}),
        );
    }
    d.maoctl_ok(&["pipeline", "init", "gt1"]);
    let run = run_pipeline(&d, "gt1");
    let step = step_record(&d, &run, 0);
    assert_eq!(ground_truth_outcome(&step), Some("created"), "{step:?}");

    // Someone changes metrics.json on ground-truth; the node's next value conflicts.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "ground-truth",
            &url,
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("metrics.json"), "{\"edited\": true}\n").unwrap();
    git(&other, &["commit", "-q", "-am", "edited on ground-truth"]);
    git(&other, &["push", "-q", "origin", "ground-truth"]);
    let gt_before = git(&bare, &["rev-parse", "ground-truth"]);

    let run = run_pipeline(&d, "gt2");
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "the step's own push worked: {run:?}"
    );
    let step = step_record(&d, &run, 0);
    let gt = git_of(&step).ground_truth.as_ref().unwrap();
    assert_eq!(gt.outcome, "conflict", "{step:?}");
    assert!(
        gt.message.as_deref().unwrap().contains("metrics.json"),
        "{gt:?}"
    );
    assert_eq!(git(&bare, &["rev-parse", "ground-truth"]), gt_before);
    let n: Vec<Notification> = maoctl_items(
        &d,
        &["notification", "list", "--kind", "ground_truth_conflict"],
    );
    assert!(n[0].message.contains("metrics.json"), "{n:?}");
    assert_eq!(git_of(&step).push, PushState::Pushed);
    assert!(log(&bare, &node)[0].starts_with("mao: gt2 / s"));
}

#[test]
fn secrets_reach_only_their_scope_and_are_masked_everywhere() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("psec");
    let _sweep = container_sweep(&node);
    let url = bare_repo(dir.path(), "obs", &[]);
    let config = dir.path().join("node.toml");
    // `legacy`: secrets in the old `[secrets] NAME = "value"` form, which reach no step;
    // `tables`: more `[secrets.NAME]` tables.
    let scoped = |pipelines: &str, legacy: &str, tables: &str| {
        format!(
            "[secrets]\n{legacy}\n\
             [secrets.TOKEN]\nvalue = \"tok-4f1c9e\"\npipelines = [{pipelines}]\n\
             [secrets.OTHER]\nvalue = \"other-77aa\"\ntools = [\"not-demo\"]\n{tables}"
        )
    };
    std::fs::write(
        &config,
        scoped(
            "\"uses\", \"control\", \"later\"",
            "LEGACY = \"legacy-5e2d\"",
            "[secrets.ROTATED]\nvalue = \"rot-91b3\"\npipelines = [\"rotated\"]\n",
        ),
    )
    .unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    let mut d = start_node(dir.path(), &node, &config_arg);
    crate::support::add_demo_tool(&d);
    d.maoctl_ok(&["dataset", "add", "obs", &url]);
    let secret_env = |var: &str, secret: &str| json!({var: format!("{{{{ secret:{secret} }}}}")});
    for (name, env) in [
        (
            "uses",
            json!({"DEMO_STDERR": "{{ secret:TOKEN }}", "DEMO_ECHO_SPLIT": "{{ secret:TOKEN }}"}),
        ),
        ("control", secret_env("DEMO_CONTROL_TEXT", "TOKEN")),
        ("later", secret_env("DEMO_STDERR", "TOKEN")),
        ("rotated", secret_env("DEMO_STDERR", "ROTATED")),
        ("lacks", secret_env("DEMO_STDERR", "ABSENT")),
    ] {
        add_pipeline(
            &d,
            dir.path(),
            &json!({"name": name, "steps": [{"name": "s", "tool": "demo", "output_dataset": "obs", "env": env}]}),
        );
    }
    // Registers a one-step pipeline whose step asks for `secret`.
    let register = |name: &str, secret: &str| {
        request(
            &d,
            "POST",
            "/api/v1/pipelines",
            Some(json!({"name": name, "steps": [{"name": "s", "tool": "demo",
                "output_dataset": "obs", "env": secret_env("DEMO_STDERR", secret)}]})),
        )
    };
    // A secret whose scope leaves the step out: refused at registration.
    let (status, v) = register("outside", "OTHER");
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "secret_not_allowed", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("OTHER"),
        "{v}"
    );
    // A secret of the old form has an empty scope: refused, saying how to scope it; the
    // start-up warning says the same.
    let (status, v) = register("legacy", "LEGACY");
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "secret_not_allowed", "{v}");
    assert_says_how_to_scope(v["error"]["message"].as_str().unwrap(), "LEGACY");
    assert_says_how_to_scope(&d.log_text(), "LEGACY");

    d.maoctl_ok(&["pipeline", "init", "uses"]);
    let run = run_pipeline(&d, "uses");
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let step = step_record(&d, &run, 0);
    // The tool printed the variable it got; the log served masks it.
    let logs = d.maoctl_ok(&["run", "logs", &step.id]);
    assert!(logs.contains("***"), "{logs}");
    assert!(!logs.contains("tok-4f1c9e"), "{logs}");
    let on_disk = std::fs::read_to_string(&step.log_path).unwrap();
    assert!(!on_disk.contains("tok-4f1c9e"), "{on_disk}");
    // Printed in two writes too: masked although it came in two chunks.
    assert!(logs.contains("echo: ***"), "{logs}");
    assert_eq!(step.env_keys, ["DEMO_ECHO_SPLIT", "DEMO_STDERR"]);

    // A control file holding the secret: the record says which file and what is wrong.
    let run = run_pipeline(&d, "control");
    let control = step_record(&d, &run, 0);
    let why = control.metrics_error.clone().expect("a metrics error");
    assert!(
        why.contains("control-") && why.contains("not a number"),
        "{why}"
    );
    assert!(!why.contains("tok-4f1c9e") && !why.contains("***"), "{why}");

    // Not in the records, the pipeline, the shared store or the daemon's log.
    for text in [
        d.maoctl_ok(&["-o", "json", "run", "get", &step.id]),
        d.maoctl_ok(&["-o", "json", "run", "get", &control.id]),
        d.maoctl_ok(&["-o", "json", "pipeline", "get", "uses"]),
        d.log_text(),
    ] {
        assert!(!text.contains("tok-4f1c9e"), "{text}");
    }
    // A secret the node lacks: the run is refused before anything starts.
    let e = crate::support::client(&d)
        .start_pipeline_run("lacks")
        .unwrap_err();
    assert_eq!(e.status(), Some(422), "{e:?}");
    assert_eq!(e.code(), Some("missing_secret"), "{e:?}");
    assert!(e.to_string().contains("ABSENT"), "{e:?}");

    // The scope narrowed after a restart: a pipeline registered before is refused at run
    // time.
    // And a secret rewritten in the old form: every step that names it is refused.
    d.kill();
    std::fs::write(
        &config,
        scoped(
            "\"uses\"",
            "LEGACY = \"legacy-5e2d\"\nROTATED = \"rot-91b3\"",
            "",
        ),
    )
    .unwrap();
    let d = start_node(dir.path(), &node, &config_arg);
    let e = crate::support::client(&d)
        .start_pipeline_run("later")
        .unwrap_err();
    assert_eq!(e.status(), Some(422), "{e:?}");
    assert_eq!(e.code(), Some("secret_not_allowed"), "{e:?}");
    assert!(!d.log_text().contains("tok-4f1c9e"));
    let e = crate::support::client(&d)
        .start_pipeline_run("rotated")
        .unwrap_err();
    assert_eq!(e.status(), Some(422), "{e:?}");
    assert_eq!(e.code(), Some("secret_not_allowed"), "{e:?}");
    assert_says_how_to_scope(&e.to_string(), "ROTATED");
}

/// A refusal of (or a warning about) the old-form secret `secret` that says how to scope it.
fn assert_says_how_to_scope(text: &str, secret: &str) {
    for words in [
        format!("[secrets.{secret}]"),
        "pipelines = [...]".to_owned(),
        "tools = [...]".to_owned(),
    ] {
        assert!(text.contains(&words), "{words}: {text}");
    }
}

#[test]
fn a_step_interrupted_by_a_crash_is_committed_after_the_restart() {
    let Site {
        dir,
        node,
        _sweep,
        bare,
        d,
        ..
    } = Site::new("pcrash");
    let mut d = d;
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "slow", "steps": [
            {"name": "collect", "tool": "demo", "output_dataset": "obs", "env": {"DEMO_SLEEP": "4"}},
            {"name": "after", "tool": "demo", "output_dataset": "obs"}
        ]}),
    );
    let before = log(&bare, &node).len();
    let id = start_pipeline(&d, "slow");
    assert!(eventually(Duration::from_secs(20), || {
        step_status(&pipeline_status(&d, &id), 0) == Some(RunStatus::Running)
    }));
    d.kill();
    // A lock file as a crash in the middle of a commit leaves it: cleared at the start.
    let index_lock = dir.path().join(&node).join("git/obs.git/index.lock");
    std::fs::write(&index_lock, "").unwrap();
    let d = start_node(dir.path(), &node, &[]);
    let mut last = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            let r = pipeline_status(&d, &id);
            let lost = r.status == RunStatus::Lost;
            last = Some(r);
            lost
        }),
        "{last:?}\n{}",
        d.log_text()
    );
    let run = last.expect("at least one look at the run");
    let error = run.error.as_deref().unwrap();
    assert!(
        error.contains("\"collect\"") && error.contains("committed"),
        "{run:?}"
    );
    assert_eq!(step_status(&run, 0), Some(RunStatus::Succeeded), "{run:?}");
    assert!(step_never_ran(&run, 1), "{run:?}");
    let commits = log(&bare, &node);
    assert_eq!(commits.len(), before + 1, "{commits:?}");
    assert!(commits[0].starts_with("mao: slow / collect"), "{commits:?}");
}

/// A pipeline run a restart follows again is going like any other: a cancel reaches its
/// step (and a `forbid` schedule, on this node or across the federation, sees it going).
#[test]
fn a_pipeline_run_followed_after_a_restart_can_be_cancelled() {
    let Site {
        dir,
        node,
        _sweep,
        d,
        ..
    } = Site::new("pfollow");
    let mut d = d;
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "long", "steps": [
            {"name": "collect", "tool": "demo", "output_dataset": "obs", "env": {"DEMO_SLEEP": "60"}}
        ]}),
    );
    let id = start_pipeline(&d, "long");
    assert!(eventually(Duration::from_secs(20), || {
        step_status(&pipeline_status(&d, &id), 0) == Some(RunStatus::Running)
    }));
    d.kill();
    let d = start_node(dir.path(), &node, &[]);
    // Once the restarted daemon follows the run again, the cancel is taken.
    assert!(
        eventually(Duration::from_secs(30), || d
            .maoctl(&["pipeline", "cancel", &id])
            .status
            .success()),
        "{}",
        d.log_text()
    );
    let mut last = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            let r = pipeline_status(&d, &id);
            let ended = r.status.is_finished();
            last = Some(r);
            ended
        }),
        "the step stops long before its 60 s: {last:?}\n{}",
        d.log_text()
    );
    let run = last.unwrap();
    assert_eq!(step_status(&run, 0), Some(RunStatus::Cancelled), "{run:?}");
}

#[test]
fn a_commit_pushed_late_still_reaches_ground_truth() {
    let Site { dir, bare, d, .. } = Site::new("plate");
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "gt", "ground_truth": "merge",
                "steps": [{"name": "s", "tool": "demo", "output_dataset": "obs"}]}),
    );
    let moved = dir.path().join("obs.moved");
    std::fs::rename(&bare, &moved).unwrap();
    let run = run_pipeline(&d, "gt");
    let step = step_record(&d, &run, 0);
    assert_eq!(git_of(&step).push, PushState::Pending, "{step:?}");
    assert!(git_of(&step).ground_truth.is_none(), "{step:?}");
    std::fs::rename(&moved, &bare).unwrap();
    let id = step.id.clone();
    let mut last = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            let r: RunRecord = maoctl_as(&d, &["run", "get", &id]);
            let created = ground_truth_outcome(&r) == Some("created");
            last = Some(r);
            created
        }),
        "{last:?}\n{}",
        d.log_text()
    );
    let late = last.expect("at least one look at the run");
    assert_eq!(git_of(&late).push, PushState::Pushed);
    let commit = git_of(&late).commit.as_deref().unwrap();
    assert_eq!(git(&bare, &["rev-parse", "ground-truth"]).trim(), commit);
}

#[test]
fn a_cancelled_pipeline_run_stops_its_step_and_runs_no_more() {
    let Site { dir, d, .. } = Site::new("pcancel");
    add_and_init(
        &d,
        dir.path(),
        &json!({"name": "long", "steps": [
            {"name": "wait", "tool": "demo", "output_dataset": "obs", "env": {"DEMO_SLEEP": "60"}},
            {"name": "after", "tool": "demo", "output_dataset": "obs"}
        ]}),
    );
    let id = start_pipeline(&d, "long");
    assert!(eventually(Duration::from_secs(20), || {
        step_status(&pipeline_status(&d, &id), 0) == Some(RunStatus::Running)
    }));
    let out = d.maoctl_ok(&["pipeline", "cancel", &id]);
    assert!(out.contains("cancelled"), "{out}");
    let run = pipeline_status(&d, &id);
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
    assert_eq!(step_status(&run, 0), Some(RunStatus::Cancelled), "{run:?}");
    assert!(step_never_ran(&run, 1), "{run:?}");
    // Cancelling again: it has ended.
    let again = d.maoctl(&["pipeline", "cancel", &id]);
    assert_eq!(again.status.code(), Some(1));
}
