//! A dataset clone with a worktree, and the operations a node performs on it.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Index, Oid, Repository};

use crate::credentials::redact_url;
use crate::error::{Error, GitContext, Result};
use crate::REMOTE;

// The operations by concern, each adding its methods to `Repo`; the helpers they share
// stay here.
mod branch;
mod clone;
mod commit;
mod ground_truth;
mod publish;

pub use clone::{clone_dataset, init_bare_with_initial_commit};

/// A clone of a dataset with a worktree: what a step's output is mounted from.
///
/// Every method blocks on disk and network IO; call them from a blocking thread
/// (`tokio::task::spawn_blocking`), never on an async runtime's worker.
pub struct Repo {
    git: Repository,
    workdir: PathBuf,
    /// The URL every fetch and push goes to. Set by the caller from the registry
    /// ([`Repo::with_remote`]); never re-read from the repository's config once opened, so
    /// nothing that edits the config can move a transfer.
    remote: Option<String>,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.workdir)
            .field("remote", &self.remote.as_deref().map(redact_url))
            .finish()
    }
}

impl Repo {
    /// Opens an existing clone (a repository with a worktree, not a bare one).
    pub fn open(path: &Path) -> Result<Repo> {
        let git = Repository::open(path).map_err(|e| match e.code() {
            ErrorCode::NotFound => {
                Error::not_found(format!("git repository at {}", path.display()))
            }
            _ => Error::git("open", e),
        })?;
        Repo::from_git(git)
    }

    /// Opens a clone whose git directory lives outside its worktree (`git_dir` is the
    /// repository, `workdir` holds no `.git` at all). Nothing inside the worktree is read
    /// to find the repository, so a tool that writes there cannot redirect it.
    pub fn open_separate(git_dir: &Path, workdir: &Path) -> Result<Repo> {
        let git = Repository::open_bare(git_dir).map_err(|e| match e.code() {
            ErrorCode::NotFound => {
                Error::not_found(format!("git repository at {}", git_dir.display()))
            }
            _ => Error::git("open", e),
        })?;
        git.set_workdir(workdir, false).op("open")?;
        Repo::from_git(git)
    }

    /// Moves the git directory of a clone made with it inside (`<workdir>/.git`) to
    /// `git_dir` (absent), then opens it with [`Repo::open_separate`]: how a fresh clone
    /// and an older data dir get their git directory out of the mounted worktree.
    pub fn separate(workdir: &Path, git_dir: &Path) -> Result<Repo> {
        let inside = workdir.join(".git");
        if let Some(parent) = git_dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::rename(&inside, git_dir).map_err(|e| Error::io(&inside, e))?;
        Repo::open_separate(git_dir, workdir)
    }

    /// Makes every fetch and push of this handle go to `url` (the dataset's registered
    /// remote), whatever the repository's config says.
    pub fn with_remote(mut self, url: &str) -> Repo {
        self.remote = Some(url.to_owned());
        self
    }

    /// Makes every fetch and push of this handle fail: the dataset has no registered
    /// remote any more, and the repository's config is not a substitute for one.
    pub fn without_remote(mut self) -> Repo {
        self.remote = None;
        self
    }

    fn from_git(git: Repository) -> Result<Repo> {
        // The URL the clone was made from, read once at open; callers that know the
        // registered remote replace it with `with_remote`.
        let remote = git
            .find_remote(REMOTE)
            .ok()
            .and_then(|r| r.url().ok().map(str::to_owned));
        let workdir = git
            .workdir()
            .ok_or_else(|| {
                Error::invalid(
                    "dataset clone",
                    format!(
                        "{} is a bare repository; a worktree is needed",
                        git.path().display()
                    ),
                )
            })?
            .to_path_buf();
        Ok(Repo {
            git,
            workdir,
            remote,
        })
    }

    /// The worktree: what a step's output is mounted from.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The libgit2 repository, for what this API does not cover.
    pub fn git(&self) -> &Repository {
        &self.git
    }

    /// The branch HEAD points at, or `None` when HEAD is detached.
    pub fn head_branch(&self) -> Result<Option<String>> {
        let head = self.git.find_reference("HEAD").op("read HEAD")?;
        Ok(head
            .symbolic_target()
            .ok()
            .flatten()
            .and_then(|t| t.strip_prefix("refs/heads/"))
            .map(str::to_owned))
    }

    /// The commit HEAD points at, or `None` on a branch without commits.
    pub fn head_commit(&self) -> Result<Option<Oid>> {
        match self.git.head() {
            Ok(head) => Ok(head.target()),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(Error::git("read HEAD", e)),
        }
    }

    /// The remote's default branch, as last seen by a clone or a fetch.
    pub fn default_branch(&self) -> Result<String> {
        let head = format!("refs/remotes/{REMOTE}/HEAD");
        if let Ok(reference) = self.git.find_reference(&head) {
            let prefix = format!("refs/remotes/{REMOTE}/");
            if let Some(name) = reference
                .symbolic_target()
                .ok()
                .flatten()
                .and_then(|t| t.strip_prefix(prefix.as_str()))
            {
                return Ok(name.to_owned());
            }
        }
        Err(Error::not_found(
            "default branch of the remote (it has no commits, or the clone was never fetched)",
        ))
    }

    /// An anonymous remote on the registered URL: no URL, refspec or `pushurl` of the
    /// repository's config takes part in a transfer.
    fn registered_remote(&self) -> Result<(git2::Remote<'_>, &str)> {
        let url = self
            .remote
            .as_deref()
            .ok_or_else(|| Error::not_found("a registered remote for this clone"))?;
        let remote = self
            .git
            .remote_anonymous(url)
            .map_err(|e| Error::invalid("remote url", redact_url(e.message())))?;
        // libgit2 still applies `url.*.insteadOf` / `pushInsteadOf` of the config to an
        // anonymous remote: a rewritten URL is refused rather than followed.
        let rewritten = remote.url_bytes() != url.as_bytes()
            || remote.pushurl_bytes().is_some_and(|p| p != url.as_bytes());
        if rewritten {
            return Err(Error::invalid(
                "remote url",
                format!(
                    "the config of {} rewrites the registered URL (url.*.insteadOf); remove that section",
                    self.git.path().display()
                ),
            ));
        }
        Ok((remote, url))
    }

    fn ref_oid(&self, name: &str) -> Result<Option<Oid>> {
        match self.git.refname_to_id(name) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Error::git("read reference", e)),
        }
    }

    /// The tip of a local branch, which must exist.
    fn tip(&self, branch: &str) -> Result<Oid> {
        self.ref_oid(&heads(branch))?
            .ok_or_else(|| Error::not_found(format!("local branch {branch}")))
    }

    fn ahead_behind(&self, local: Oid, upstream: Oid) -> Result<(usize, usize)> {
        self.git
            .graph_ahead_behind(local, upstream)
            .op("compare branches")
    }
}

fn heads(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

fn remotes(branch: &str) -> String {
    format!("refs/remotes/{REMOTE}/{branch}")
}

fn conflict_paths(index: &Index) -> Result<Vec<PathBuf>> {
    let mut paths = BTreeSet::new();
    for conflict in index.conflicts().op("read conflicts")? {
        let conflict = conflict.op("read conflicts")?;
        for entry in [conflict.ancestor, conflict.our, conflict.their]
            .into_iter()
            .flatten()
        {
            paths.insert(PathBuf::from(OsStr::from_bytes(&entry.path)));
        }
    }
    Ok(paths.into_iter().collect())
}
