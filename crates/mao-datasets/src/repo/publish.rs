//! Pushing a branch, and rebasing it onto the remote's when someone pushed first.

use std::cell::RefCell;
use std::rc::Rc;

use git2::{Direction, ErrorCode, Oid, PushOptions, Sort};
use tracing::{info, warn};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::names::validate_branch;
use crate::outcome::{PublishOutcome, RebaseOutcome};
use crate::remote::Session;
use crate::REMOTE;

use super::{conflict_paths, heads, remotes, Repo};

impl Repo {
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

    pub(super) fn push_refspec(
        &self,
        refspec: &str,
        branch: &str,
        creds: &Credentials,
    ) -> Result<()> {
        let (mut remote, url) = self.registered_remote()?;
        let session = Session::new(url, creds)?;
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
        // An anonymous remote has no fetch refspec to update the remote-tracking branch
        // by: record what the remote now holds ourselves.
        if let Some((src, dst)) = refspec.trim_start_matches('+').split_once(':') {
            if let Some(pushed) = dst.strip_prefix("refs/heads/") {
                let tip = self.git.refname_to_id(src).op("read pushed reference")?;
                self.git
                    .reference(&remotes(pushed), tip, true, "push: remote branch")
                    .op("record pushed branch")?;
            }
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
}
