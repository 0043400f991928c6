//! Helpers shared by the integration tests: bare remotes in temp dirs, clones, and the
//! `git` command line to check what the library did from the outside.

use std::path::{Path, PathBuf};
use std::process::Command;

use mao_datasets::{clone_dataset, init_bare_with_initial_commit, Credentials, Repo};
use tempfile::TempDir;

/// A bare repository on disk standing in for the dataset's remote.
pub struct Remote {
    /// Kept for its lifetime: the directory goes with the value.
    pub _dir: TempDir,
    pub path: PathBuf,
}

impl Remote {
    /// A bare remote whose `main` has the initial README commit.
    pub fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.git");
        init_bare_with_initial_commit(&path, &creds("admin")).unwrap();
        Remote { _dir: dir, path }
    }

    /// A freshly created bare remote with no commits at all (`git init --bare`).
    pub fn empty() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.git");
        git(
            dir.path(),
            &["init", "-q", "--bare", path.to_str().unwrap()],
        );
        Remote { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// `git rev-parse` of a reference on the remote, `None` when it does not exist.
    pub fn rev(&self, reference: &str) -> Option<String> {
        try_git(&self.path, &["rev-parse", "--verify", "--quiet", reference])
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Subjects of the commits on `branch`, newest first, as `git log` prints them.
    pub fn subjects(&self, branch: &str) -> Vec<String> {
        git(&self.path, &["log", "--format=%s", branch])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Content of `path` on `branch`, from `git show`.
    pub fn show(&self, branch: &str, path: &str) -> String {
        git(&self.path, &["show", &format!("{branch}:{path}")])
    }

    pub fn is_ancestor(&self, commit: &str, of: &str) -> bool {
        try_git(&self.path, &["merge-base", "--is-ancestor", commit, of]).is_ok()
    }
}

/// A node's identity, no secrets (file:// remotes need none).
pub fn creds(node: &str) -> Credentials {
    Credentials::identity(node, format!("{node}@example.org"))
}

/// A clone in a temp dir of its own.
pub struct Clone {
    /// Kept for its lifetime: the directory goes with the value.
    pub _dir: TempDir,
    pub repo: Repo,
}

impl Clone {
    pub fn of(remote: &Remote, node: &str) -> Clone {
        let dir = tempfile::tempdir().unwrap();
        let repo = clone_dataset(&remote.url(), &dir.path().join("clone"), &creds(node)).unwrap();
        Clone { _dir: dir, repo }
    }

    /// A clone as the daemon keeps it: the git directory outside the worktree (which has
    /// no `.git` at all), every transfer to the registered `remote`.
    pub fn separate(remote: &Remote, node: &str) -> Clone {
        let dir = tempfile::tempdir().unwrap();
        let workdir = dir.path().join("clone");
        clone_dataset(&remote.url(), &workdir, &creds(node)).unwrap();
        let repo = Repo::separate(&workdir, &dir.path().join("clone.git"))
            .unwrap()
            .with_remote(&remote.url());
        Clone { _dir: dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.repo.workdir()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(rel)).ok()
    }

    /// Writes a file, commits it with `message` as this node; panics when nothing changed.
    pub fn commit_file(&self, node: &str, rel: &str, content: &str, message: &str) -> String {
        self.write(rel, content);
        self.repo
            .commit_all(message, &creds(node))
            .unwrap()
            .expect("a commit")
            .to_string()
    }
}

/// Runs the git command line in `dir`, isolated from the machine's configuration; panics
/// with its stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    try_git(dir, args).unwrap_or_else(|e| panic!("git {args:?} in {}: {e}", dir.display()))
}

pub fn try_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = git_command(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "cli")
        .env("GIT_AUTHOR_EMAIL", "cli@example.org")
        .env("GIT_COMMITTER_NAME", "cli")
        .env("GIT_COMMITTER_EMAIL", "cli@example.org")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}
