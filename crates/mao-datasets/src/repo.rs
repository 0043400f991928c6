//! A dataset clone with a worktree, and the operations a node performs on it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    AutotagOption, Commit, Direction, ErrorCode, FetchOptions, FetchPrune, Index, IndexAddOption,
    ObjectType, Oid, PushOptions, Repository, ResetType, Sort, StatusOptions,
};
use tracing::{debug, info, warn};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::names::{validate_branch, validate_node_name, validate_run_id};
use crate::outcome::{
    BranchSetup, FastForward, InputExport, MergeOutcome, PublishOutcome, RebaseOutcome,
};
use crate::remote::Session;
use crate::{export, GROUND_TRUTH, REMOTE};

/// A clone of a dataset with a worktree: what a step's output is mounted from.
///
/// Every method blocks on disk and network IO; call them from a blocking thread
/// (`tokio::task::spawn_blocking`), never on an async runtime's worker.
pub struct Repo {
    git: Repository,
    workdir: PathBuf,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.workdir)
            .finish()
    }
}

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
    let tree = git
        .find_tree(builder.write().op("build tree")?)
        .op("build tree")?;
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

    fn from_git(git: Repository) -> Result<Repo> {
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
        Ok(Repo { git, workdir })
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

    /// Fetches every branch of `origin`, pruning the ones deleted there, and records the
    /// remote's default branch.
    pub fn fetch(&self, creds: &Credentials) -> Result<()> {
        let mut remote = self.origin()?;
        let session = Session::new(&remote_url(&remote)?, creds)?;
        let default_branch;
        {
            let mut connection = remote
                .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
                .map_err(|e| session.connect_error(e))?;
            default_branch = connection
                .default_branch()
                .ok()
                .and_then(|b| b.as_str().ok().map(str::to_owned));
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(session.callbacks())
                .prune(FetchPrune::On)
                .download_tags(AutotagOption::None);
            connection
                .remote()
                .fetch(&[] as &[&str], Some(&mut opts), Some("fetch"))
                .map_err(|e| session.transfer_error("fetch", e))?;
        }
        if let Some(branch) = default_branch
            .as_deref()
            .and_then(|b| b.strip_prefix("refs/heads/"))
        {
            let target = format!("refs/remotes/{REMOTE}/{branch}");
            if self.ref_oid(&target)?.is_some() {
                self.git
                    .reference_symbolic(
                        &format!("refs/remotes/{REMOTE}/HEAD"),
                        &target,
                        true,
                        "fetch: default branch of the remote",
                    )
                    .op("record default branch")?;
            }
        }
        debug!(remote = %session.remote, "fetched");
        Ok(())
    }

    /// Makes the branch named after `node` exist locally and on the remote, tracked and
    /// checked out: created from the remote's default branch when it exists nowhere,
    /// tracking the remote one when it exists there. Fetches first. Calling it again
    /// changes nothing and reports so ([`BranchSetup::changed`]).
    pub fn ensure_node_branch(&self, node: &str, creds: &Credentials) -> Result<BranchSetup> {
        validate_node_name(node)?;
        self.fetch(creds)?;
        if self.default_branch().ok().as_deref() == Some(node) {
            return Err(Error::invalid(
                "node name",
                format!("{node} is the dataset's default branch"),
            ));
        }
        let local_ref = heads(node);
        let remote_tip = self.ref_oid(&remotes(node))?;
        let mut setup = BranchSetup {
            branch: node.to_owned(),
            head: Oid::ZERO_SHA1,
            created_from_default: false,
            tracked_remote: false,
            checked_out: false,
            fast_forwarded: false,
            pushed: false,
        };
        if self.ref_oid(&local_ref)?.is_none() {
            let start = match remote_tip {
                Some(tip) => {
                    setup.tracked_remote = true;
                    tip
                }
                None => {
                    let default = self.default_branch()?;
                    setup.created_from_default = true;
                    self.ref_oid(&remotes(&default))?.ok_or_else(|| {
                        Error::not_found(format!("default branch {default} on the remote"))
                    })?
                }
            };
            let commit = self.git.find_commit(start).op("create branch")?;
            self.git.branch(node, &commit, false).op("create branch")?;
        }
        self.set_upstream(node)?;
        if self.head_branch()?.as_deref() != Some(node) {
            self.switch_to(node)?;
            setup.checked_out = true;
        }
        let local_tip = self.tip(node)?;
        match remote_tip {
            None => {
                self.push(node, creds)?;
                setup.pushed = true;
            }
            Some(remote) if remote == local_tip => {}
            Some(remote) => match self.ahead_behind(local_tip, remote)? {
                (_, 0) => {
                    self.push(node, creds)?;
                    setup.pushed = true;
                }
                (0, _) => {
                    self.move_branch(node, remote)?;
                    setup.fast_forwarded = true;
                }
                _ => {
                    return Err(Error::Diverged {
                        branch: node.to_owned(),
                    })
                }
            },
        }
        setup.head = self.tip(node)?;
        info!(
            branch = node,
            head = %setup.head,
            changed = setup.changed(),
            "node branch ready"
        );
        Ok(setup)
    }

    /// Fetches, then fast-forwards the local `branch` (and the worktree, when it is checked
    /// out) to the remote's. A local branch with unpushed commits is left as it is; one
    /// that diverged is an error.
    pub fn fast_forward(&self, branch: &str, creds: &Credentials) -> Result<FastForward> {
        validate_branch(branch)?;
        self.fetch(creds)?;
        let local = self.tip(branch)?;
        let Some(remote) = self.ref_oid(&remotes(branch))? else {
            return Ok(FastForward::NoRemoteBranch);
        };
        if local == remote {
            return Ok(FastForward::UpToDate);
        }
        match self.ahead_behind(local, remote)? {
            (ahead, 0) => Ok(FastForward::LocalAhead { ahead }),
            (0, _) => {
                self.move_branch(branch, remote)?;
                info!(branch, from = %local, to = %remote, "fast-forwarded");
                Ok(FastForward::Advanced {
                    from: local,
                    to: remote,
                })
            }
            _ => Err(Error::Diverged {
                branch: branch.to_owned(),
            }),
        }
    }

    /// Whether the worktree and the index equal HEAD: no modified, staged, untracked or
    /// ignored file.
    pub fn is_clean(&self) -> Result<bool> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(false)
            .include_ignored(true)
            .recurse_ignored_dirs(false)
            .exclude_submodules(true);
        let statuses = self.git.statuses(Some(&mut opts)).op("status")?;
        Ok(statuses.is_empty())
    }

    /// Puts the worktree and the index back to HEAD: discards changes, removes untracked
    /// and ignored files (`git reset --hard && git clean -fdx`).
    pub fn reset_clean(&self) -> Result<()> {
        let head = self
            .git
            .head()
            .and_then(|h| h.peel(ObjectType::Commit))
            .map_err(|_| Error::not_found("a commit checked out in the worktree"))?;
        self.git.reset(&head, ResetType::Hard, None).op("reset")?;
        // libgit2's hard reset forces its own checkout strategy, which keeps untracked
        // files; a second checkout removes them.
        let mut checkout = CheckoutBuilder::new();
        checkout.force().remove_untracked(true).remove_ignored(true);
        self.git.checkout_head(Some(&mut checkout)).op("reset")?;
        debug!(workdir = %self.workdir.display(), "worktree reset clean");
        Ok(())
    }

    /// Stages everything in the worktree (additions, modifications, deletions) and
    /// commits it on the checked-out branch as the node identity. `None` when nothing
    /// changed: no empty commit is made.
    pub fn commit_all(&self, message: &str, creds: &Credentials) -> Result<Option<Oid>> {
        let sig = creds.signature()?;
        let branch = self.head_branch()?.ok_or_else(|| {
            Error::invalid(
                "worktree",
                "HEAD is detached; check out the node branch first",
            )
        })?;
        let (tree, parent) = match self.stage_all()? {
            Some(staged) => staged,
            None => return Ok(None),
        };
        let parents: Vec<&Commit<'_>> = parent.iter().collect();
        let oid = self
            .git
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .op("commit")?;
        info!(branch, commit = %oid, "committed");
        Ok(Some(oid))
    }

    /// Stages the whole worktree; `None` when the result equals HEAD.
    fn stage_all(&self) -> Result<Option<(git2::Tree<'_>, Option<Commit<'_>>)>> {
        let mut index = self.git.index().op("read index")?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .op("stage files")?;
        index.update_all(["*"], None).op("stage deletions")?;
        index.write().op("write index")?;
        let tree_id = index.write_tree().op("write tree")?;
        let parent = match self.head_commit()? {
            Some(oid) => Some(self.git.find_commit(oid).op("read HEAD")?),
            None => None,
        };
        let unchanged = match &parent {
            Some(p) => p.tree_id() == tree_id,
            None => index.is_empty(),
        };
        if unchanged {
            return Ok(None);
        }
        let tree = self.git.find_tree(tree_id).op("write tree")?;
        Ok(Some((tree, parent)))
    }

    /// Pushes the local `branch` to the branch of the same name on `origin`, never forcing.
    /// Each reference's status is checked, not only the call's result: a reference the
    /// remote refused is an error ([`Error::NonFastForward`] or [`Error::Rejected`]).
    /// An unreachable remote is [`Error::Network`]; the local commits stay.
    pub fn push(&self, branch: &str, creds: &Credentials) -> Result<()> {
        validate_branch(branch)?;
        let local = heads(branch);
        self.tip(branch)?;
        self.push_refspec(&format!("{local}:{local}"), branch, creds)?;
        info!(branch, "pushed");
        Ok(())
    }

    fn push_refspec(&self, refspec: &str, branch: &str, creds: &Credentials) -> Result<()> {
        let mut remote = self.origin()?;
        let session = Session::new(&remote_url(&remote)?, creds)?;
        let refused: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
        {
            let mut connection = remote
                .connect_auth(Direction::Push, Some(session.callbacks()), None)
                .map_err(|e| session.connect_error(e))?;
            let mut callbacks = session.callbacks();
            let refused = refused.clone();
            callbacks.push_update_reference(move |reference, status| {
                if let Some(reason) = status {
                    refused
                        .borrow_mut()
                        .push((reference.to_owned(), reason.to_owned()));
                }
                Ok(())
            });
            let mut opts = PushOptions::new();
            opts.remote_callbacks(callbacks);
            connection
                .remote()
                .push(&[refspec], Some(&mut opts))
                .map_err(|e| match e.code() {
                    ErrorCode::NotFastForward => Error::NonFastForward {
                        branch: branch.to_owned(),
                    },
                    _ => session.transfer_error("push", e),
                })?;
        }
        let refused = refused.borrow();
        if let Some((reference, reason)) = refused.first() {
            if reason.contains("non-fast-forward") || reason.contains("fetch first") {
                return Err(Error::NonFastForward {
                    branch: branch.to_owned(),
                });
            }
            return Err(Error::Rejected {
                reference: reference.clone(),
                reason: creds.scrub(reason),
            });
        }
        Ok(())
    }

    /// Number of commits on the local `branch` that the remote does not have yet (a push
    /// is pending when this is not zero).
    pub fn unpushed(&self, branch: &str) -> Result<usize> {
        validate_branch(branch)?;
        let local = self.tip(branch)?;
        if let Some(remote) = self.ref_oid(&remotes(branch))? {
            return Ok(self.ahead_behind(local, remote)?.0);
        }
        let mut walk = self.git.revwalk().op("count commits")?;
        walk.push(local).op("count commits")?;
        walk.hide_glob(&format!("refs/remotes/{REMOTE}/*"))
            .op("count commits")?;
        Ok(walk.count())
    }

    /// After a push was refused as a non-fast-forward: fetches and replays the local
    /// commits of `branch` on the remote's, when every one applies cleanly. On a conflict
    /// nothing is changed (local branch, worktree and remote keep their histories) and the
    /// conflicting paths are returned. Never pushes; see [`Repo::publish`].
    pub fn rebase_onto_remote(&self, branch: &str, creds: &Credentials) -> Result<RebaseOutcome> {
        validate_branch(branch)?;
        self.fetch(creds)?;
        let local = self.tip(branch)?;
        let Some(remote) = self.ref_oid(&remotes(branch))? else {
            return Ok(RebaseOutcome::UpToDate);
        };
        match self.ahead_behind(local, remote)? {
            (_, 0) => return Ok(RebaseOutcome::UpToDate),
            (0, _) => {
                self.move_branch(branch, remote)?;
                return Ok(RebaseOutcome::FastForwarded { to: remote });
            }
            _ => {}
        }
        let mut walk = self.git.revwalk().op("rebase")?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .op("rebase")?;
        walk.push(local).op("rebase")?;
        walk.hide(remote).op("rebase")?;
        let to_replay = walk
            .collect::<std::result::Result<Vec<Oid>, _>>()
            .op("rebase")?;

        let committer = creds.signature()?;
        let mut onto = self.git.find_commit(remote).op("rebase")?;
        let (mut replayed, mut dropped) = (0, 0);
        for oid in to_replay {
            let commit = self.git.find_commit(oid).op("rebase")?;
            // Like `git rebase`, merges are not replayed; their other parents' commits are.
            if commit.parent_count() > 1 {
                continue;
            }
            let mut index = self
                .git
                .cherrypick_commit(&commit, &onto, 0, None)
                .op("rebase")?;
            if index.has_conflicts() {
                let paths = conflict_paths(&index)?;
                warn!(branch, local = %local, remote = %remote, ?paths, "rebase conflicts; nothing changed");
                return Ok(RebaseOutcome::Conflict {
                    paths,
                    local,
                    remote,
                });
            }
            let tree_id = index.write_tree_to(&self.git).op("rebase")?;
            if tree_id == onto.tree_id() {
                dropped += 1;
                continue;
            }
            let tree = self.git.find_tree(tree_id).op("rebase")?;
            let message = commit
                .message_raw()
                .map_err(|_| Error::invalid("commit message", "not valid UTF-8"))?;
            let new = self
                .git
                .commit(None, &commit.author(), &committer, message, &tree, &[&onto])
                .op("rebase")?;
            onto = self.git.find_commit(new).op("rebase")?;
            replayed += 1;
        }
        let head = onto.id();
        self.move_branch(branch, head)?;
        info!(branch, onto = %remote, head = %head, replayed, dropped, "rebased onto the remote branch");
        Ok(RebaseOutcome::Rebased {
            onto: remote,
            head,
            replayed,
            dropped,
        })
    }

    /// Pushes `branch`; when someone else pushed to it first, rebases the local commits
    /// onto theirs and pushes again. Never force-pushes.
    pub fn publish(&self, branch: &str, creds: &Credentials) -> Result<PublishOutcome> {
        match self.push(branch, creds) {
            Ok(()) => {
                return Ok(PublishOutcome::Pushed {
                    head: self.tip(branch)?,
                })
            }
            Err(Error::NonFastForward { .. }) => {}
            Err(e) => return Err(e),
        }
        match self.rebase_onto_remote(branch, creds)? {
            RebaseOutcome::Conflict {
                paths,
                local,
                remote,
            } => Ok(PublishOutcome::Conflict {
                paths,
                local,
                remote,
            }),
            RebaseOutcome::UpToDate | RebaseOutcome::FastForwarded { .. } => {
                self.push(branch, creds)?;
                Ok(PublishOutcome::Pushed {
                    head: self.tip(branch)?,
                })
            }
            RebaseOutcome::Rebased { head, replayed, .. } => {
                self.push(branch, creds)?;
                Ok(PublishOutcome::RebasedAndPushed { head, replayed })
            }
        }
    }

    /// Keeps what a failed step wrote: commits the worktree's state onto
    /// `refs/mao/failed/<run-id>` (not on any branch), then resets the worktree clean.
    /// `None` when the step left the worktree as it found it. The reference is local.
    pub fn keep_failed(&self, run_id: &str, creds: &Credentials) -> Result<Option<Oid>> {
        validate_run_id(run_id)?;
        let sig = creds.signature()?;
        let reference = format!("refs/mao/failed/{run_id}");
        if self.ref_oid(&reference)?.is_some() {
            return Err(Error::AlreadyExists { what: reference });
        }
        let kept = match self.stage_all()? {
            None => None,
            Some((tree, parent)) => {
                let parents: Vec<&Commit<'_>> = parent.iter().collect();
                let message =
                    format!("failed run {run_id}: what the step wrote, kept for inspection\n");
                let oid = self
                    .git
                    .commit(Some(&reference), &sig, &sig, &message, &tree, &parents)
                    .op("keep failed run")?;
                Some(oid)
            }
        };
        self.reset_clean()?;
        match kept {
            Some(oid) => info!(run_id, reference, commit = %oid, "kept what the failed step wrote"),
            None => info!(run_id, "failed step wrote nothing"),
        }
        Ok(kept)
    }

    /// Merges the node branch as published on the remote into `ground-truth` and pushes:
    /// creates `ground-truth` from it when absent, fast-forwards when possible, otherwise
    /// makes a merge commit as the node identity. On a conflict `ground-truth` is left
    /// untouched and the paths are returned. Fetches first. Taking the federation-wide
    /// lock around this is the caller's job.
    pub fn merge_into_ground_truth(
        &self,
        node_branch: &str,
        creds: &Credentials,
    ) -> Result<MergeOutcome> {
        validate_branch(node_branch)?;
        if node_branch == GROUND_TRUTH {
            return Err(Error::invalid(
                "branch",
                "cannot merge ground-truth into itself",
            ));
        }
        if self.head_branch()?.as_deref() == Some(GROUND_TRUTH) {
            return Err(Error::invalid(
                "worktree",
                "ground-truth is checked out; check out the node branch",
            ));
        }
        self.fetch(creds)?;
        let node = self.ref_oid(&remotes(node_branch))?.ok_or_else(|| {
            Error::not_found(format!(
                "branch {node_branch} on the remote (push it first)"
            ))
        })?;
        let local_gt = heads(GROUND_TRUTH);
        let refspec = format!("{local_gt}:{local_gt}");
        let Some(gt) = self.ref_oid(&remotes(GROUND_TRUTH))? else {
            self.set_local_ground_truth(node)?;
            self.push_refspec(&refspec, GROUND_TRUTH, creds)?;
            info!(node_branch, head = %node, "ground-truth created");
            return Ok(MergeOutcome::Created { head: node });
        };
        let (outcome, new) = match self.ahead_behind(node, gt)? {
            (0, _) => return Ok(MergeOutcome::UpToDate { head: gt }),
            (_, 0) => (MergeOutcome::FastForwarded { from: gt, to: node }, node),
            _ => {
                let ours = self.git.find_commit(gt).op("merge")?;
                let theirs = self.git.find_commit(node).op("merge")?;
                let mut index = self.git.merge_commits(&ours, &theirs, None).op("merge")?;
                if index.has_conflicts() {
                    let paths = conflict_paths(&index)?;
                    warn!(
                        node_branch,
                        ?paths,
                        "merge into ground-truth conflicts; ground-truth left untouched"
                    );
                    return Ok(MergeOutcome::Conflict {
                        paths,
                        ground_truth: gt,
                        node,
                    });
                }
                let tree_id = index.write_tree_to(&self.git).op("merge")?;
                let tree = self.git.find_tree(tree_id).op("merge")?;
                let sig = creds.signature()?;
                let message = format!("merge {node_branch} into {GROUND_TRUTH}\n");
                let commit = self
                    .git
                    .commit(None, &sig, &sig, &message, &tree, &[&ours, &theirs])
                    .op("merge")?;
                (MergeOutcome::Merged { commit }, commit)
            }
        };
        self.set_local_ground_truth(new)?;
        self.push_refspec(&refspec, GROUND_TRUTH, creds)?;
        info!(node_branch, head = %new, ?outcome, "merged into ground-truth");
        Ok(outcome)
    }

    /// The local `ground-truth` only mirrors what is about to be pushed; it is never
    /// checked out, so moving it cannot disturb the worktree.
    fn set_local_ground_truth(&self, to: Oid) -> Result<()> {
        self.git
            .reference(&heads(GROUND_TRUTH), to, true, "mao: ground-truth")
            .op("update ground-truth")?;
        Ok(())
    }

    /// Writes the files of the remote's `ground-truth` (or of its default branch when
    /// there is no ground truth yet) into `dest` (absent or empty), for mounting read-only
    /// as a step's input. Uses what the last fetch saw; fetch first for the latest.
    pub fn export_input(&self, dest: &Path) -> Result<InputExport> {
        let (branch, commit) = match self.ref_oid(&remotes(GROUND_TRUTH))? {
            Some(oid) => (GROUND_TRUTH.to_owned(), oid),
            None => {
                let default = self.default_branch()?;
                let oid = self.ref_oid(&remotes(&default))?.ok_or_else(|| {
                    Error::not_found(format!("default branch {default} on the remote"))
                })?;
                (default, oid)
            }
        };
        let tree = self
            .git
            .find_commit(commit)
            .and_then(|c| c.tree())
            .op("export")?;
        let files = export::write_tree(&self.git, &tree, dest)?;
        info!(branch, commit = %commit, files, dest = %dest.display(), "input exported");
        Ok(InputExport {
            branch,
            commit,
            files,
        })
    }

    fn origin(&self) -> Result<git2::Remote<'_>> {
        self.git.find_remote(REMOTE).map_err(|e| match e.code() {
            ErrorCode::NotFound => Error::not_found(format!("remote {REMOTE}")),
            _ => Error::git("read remote", e),
        })
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

    fn set_upstream(&self, branch: &str) -> Result<()> {
        let mut config = self.git.config().op("read config")?;
        let wanted = [
            (format!("branch.{branch}.remote"), REMOTE.to_owned()),
            (format!("branch.{branch}.merge"), heads(branch)),
        ];
        for (key, value) in wanted {
            if config.get_string(&key).ok().as_deref() != Some(value.as_str()) {
                config.set_str(&key, &value).op("write config")?;
            }
        }
        Ok(())
    }

    /// Checks out `branch`, refusing to overwrite local changes.
    fn switch_to(&self, branch: &str) -> Result<()> {
        let commit = self.git.find_commit(self.tip(branch)?).op("checkout")?;
        let mut checkout = CheckoutBuilder::new();
        checkout.safe();
        self.git
            .checkout_tree(commit.as_object(), Some(&mut checkout))
            .map_err(|e| self.checkout_error(e))?;
        self.git.set_head(&heads(branch)).op("checkout")?;
        Ok(())
    }

    /// Moves a local branch to `to`, updating the worktree when it is checked out (and
    /// refusing to overwrite local changes).
    fn move_branch(&self, branch: &str, to: Oid) -> Result<()> {
        if self.head_branch()?.as_deref() == Some(branch) {
            let commit = self.git.find_commit(to).op("checkout")?;
            let mut checkout = CheckoutBuilder::new();
            checkout.safe();
            self.git
                .checkout_tree(commit.as_object(), Some(&mut checkout))
                .map_err(|e| self.checkout_error(e))?;
        }
        self.git
            .reference(&heads(branch), to, true, "mao: move branch")
            .op("move branch")?;
        Ok(())
    }

    fn checkout_error(&self, e: git2::Error) -> Error {
        match e.code() {
            ErrorCode::Conflict | ErrorCode::Uncommitted => Error::DirtyWorktree {
                path: self.workdir.clone(),
            },
            _ => Error::git("checkout", e),
        }
    }
}

fn heads(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

fn remotes(branch: &str) -> String {
    format!("refs/remotes/{REMOTE}/{branch}")
}

fn remote_url(remote: &git2::Remote<'_>) -> Result<String> {
    remote
        .url()
        .map(str::to_owned)
        .map_err(|_| Error::invalid("remote url", "not valid UTF-8"))
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
