//! Making a dataset: cloning one from its remote, or creating a bare one to clone from.

use std::path::Path;

use git2::build::RepoBuilder;
use git2::{Direction, FetchOptions, Oid, Repository};
use tracing::{info, warn};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::export;
use crate::remote::Session;

use super::Repo;

/// Clones the dataset at `url` into `dest` (absent or empty), with a worktree on the
/// remote's default branch. On failure `dest` is left as it was found.
pub fn clone_dataset(url: &str, dest: &Path, creds: &Credentials) -> Result<Repo> {
    let existed = export::ensure_absent_or_empty(dest)?;
    let result = clone_into(url, dest, creds);
    if result.is_err() {
        let cleanup = if existed {
            export::remove_contents(dest)
        } else {
            match std::fs::remove_dir_all(dest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(dest, e)),
                _ => Ok(()),
            }
        };
        if let Err(e) = cleanup {
            warn!(dest = %dest.display(), error = %e, "could not clean up after a failed clone");
        }
    }
    result
}

fn clone_into(url: &str, dest: &Path, creds: &Credentials) -> Result<Repo> {
    let session = Session::new(url, creds)?;
    // Connect once on our own so that an unreachable remote is told apart from a local
    // failure, which the clone call alone mixes up.
    {
        let mut probe = git2::Remote::create_detached(url)
            .map_err(|e| Error::invalid("remote url", creds.scrub(e.message())))?;
        let connection = probe
            .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
            .map_err(|e| session.connect_error(e))?;
        drop(connection);
    }
    let mut fetch = FetchOptions::new();
    fetch.remote_callbacks(session.callbacks());
    let git = RepoBuilder::new()
        .fetch_options(fetch)
        .clone(url, dest)
        .map_err(|e| session.transfer_error("clone", e))?;
    info!(remote = %session.remote, dest = %dest.display(), "dataset cloned");
    Repo::from_git(git)
}

/// Creates a bare repository at `path` (absent or empty) whose default branch `main` has
/// one commit adding a README, so that clones of it have a branch to start node branches
/// from. Returns that commit.
pub fn init_bare_with_initial_commit(path: &Path, creds: &Credentials) -> Result<Oid> {
    let sig = creds.signature()?;
    export::ensure_absent_or_empty(path)?;
    let mut opts = git2::RepositoryInitOptions::new();
    opts.bare(true)
        .initial_head("main")
        .mkpath(true)
        .no_reinit(true);
    let git = Repository::init_opts(path, &opts).op("init")?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".git").to_string())
        .unwrap_or_else(|| "dataset".into());
    let tree = git.find_tree(readme_tree(&git, &name)?).op("build tree")?;
    let commit = git
        .commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            "initial commit",
            &tree,
            &[],
        )
        .op("commit")?;
    info!(path = %path.display(), commit = %commit, "bare dataset initialised");
    Ok(commit)
}

/// The tree of a dataset's first commit: a README that says what the repository is.
pub(super) fn readme_tree(git: &Repository, name: &str) -> Result<Oid> {
    let readme = format!(
        "# {name}\n\nA dataset of the MAO orchestrator. Each node commits what its tools \
         collect to the branch named after the node; `ground-truth` is the branch the \
         federation agrees on.\n"
    );
    let blob = git.blob(readme.as_bytes()).op("write readme")?;
    let mut builder = git.treebuilder(None).op("build tree")?;
    builder
        .insert("README.md", blob, 0o100644)
        .op("build tree")?;
    builder.write().op("build tree")
}
