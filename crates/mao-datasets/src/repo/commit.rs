//! The worktree's state: checking and resetting it, committing it to the branch or,
//! for a failed step, to a reference of its own.

use git2::build::CheckoutBuilder;
use git2::{Commit, IndexAddOption, ObjectType, Oid, ResetType, StatusOptions};
use tracing::{debug, info, warn};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::names::validate_run_id;

use super::Repo;

impl Repo {
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
        self.remove_planted_git()?;
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
        self.remove_planted_git()?;
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

    /// Deletes every entry named `.git` (any case) that something wrote into the worktree:
    /// the clone's git directory lives elsewhere, so such an entry is a tool's attempt to
    /// plant a repository, a gitlink or a config. It is never followed (symlinks are not
    /// traversed), staged or committed.
    fn remove_planted_git(&self) -> Result<()> {
        // A clone opened with its git directory inside (`Repo::open`) keeps that one.
        let own = std::fs::canonicalize(self.git.path()).ok();
        let mut dirs = vec![self.workdir.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
                let named_git = entry
                    .file_name()
                    .as_encoded_bytes()
                    .eq_ignore_ascii_case(b".git");
                if named_git && own.is_some() && std::fs::canonicalize(&path).ok() == own {
                    continue;
                }
                if named_git {
                    warn!(path = %path.display(), "removed a .git entry a tool wrote into the worktree");
                    let removed = if kind.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.map_err(|e| Error::io(&path, e))?;
                } else if kind.is_dir() {
                    dirs.push(path);
                }
            }
        }
        Ok(())
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
}
