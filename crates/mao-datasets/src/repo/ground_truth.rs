//! The `ground-truth` branch: merging node branches into it and exporting it as input.

use std::path::Path;

use git2::Oid;
use tracing::{info, warn};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::names::validate_branch;
use crate::outcome::{InputExport, MergeOutcome};
use crate::{export, GROUND_TRUTH};

use super::{conflict_paths, heads, remotes, Repo};

impl Repo {
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
}
