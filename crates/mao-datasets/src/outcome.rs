//! What the operations that may or may not change something report.

use std::path::PathBuf;

use git2::Oid;

/// What [`Repo::ensure_node_branch`](crate::Repo::ensure_node_branch) did. All flags false
/// means the branch was already set up: a second call changes nothing and says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSetup {
    /// The node branch.
    pub branch: String,
    /// Its tip after the call.
    pub head: Oid,
    /// The branch did not exist anywhere and was created from the remote's default branch
    /// (on a remote that began empty and has no default branch, from its first commit).
    pub created_from_default: bool,
    /// The remote had no commits at all; the branch starts at a new root commit (a README).
    pub created_root: bool,
    /// The branch existed on the remote only; a local branch now tracks it.
    pub tracked_remote: bool,
    /// The worktree was switched to the branch.
    pub checked_out: bool,
    /// The local branch was behind the remote and was fast-forwarded.
    pub fast_forwarded: bool,
    /// The branch (or local commits on it) was pushed.
    pub pushed: bool,
}

impl BranchSetup {
    /// Whether the call changed anything, locally or on the remote.
    pub fn changed(&self) -> bool {
        self.created_from_default
            || self.created_root
            || self.tracked_remote
            || self.checked_out
            || self.fast_forwarded
            || self.pushed
    }
}

/// What [`Repo::fast_forward`](crate::Repo::fast_forward) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastForward {
    /// Local and remote branch point at the same commit.
    UpToDate,
    /// The local branch moved forward to the remote's tip.
    Advanced { from: Oid, to: Oid },
    /// The local branch has commits the remote lacks (a push is pending) and nothing new
    /// came from the remote.
    LocalAhead { ahead: usize },
    /// The branch is not on the remote yet.
    NoRemoteBranch,
}

/// What [`Repo::rebase_onto_remote`](crate::Repo::rebase_onto_remote) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// The local branch already contains the remote branch: nothing to rebase.
    UpToDate,
    /// The local branch had no commits of its own and now equals the remote branch.
    FastForwarded { to: Oid },
    /// The local commits were replayed on the remote branch; push to publish them.
    Rebased {
        /// The remote tip the commits were replayed on.
        onto: Oid,
        /// The new local tip.
        head: Oid,
        /// Commits replayed.
        replayed: usize,
        /// Commits dropped because the remote already had their changes.
        dropped: usize,
    },
    /// A local commit does not apply on the remote branch. Nothing was changed: the local
    /// branch, the worktree and the remote keep their histories.
    Conflict {
        paths: Vec<PathBuf>,
        local: Oid,
        remote: Oid,
    },
}

/// What [`Repo::publish`](crate::Repo::publish) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The branch was pushed as it was (or the remote had it already).
    Pushed { head: Oid },
    /// Someone else had pushed to the branch; the local commits were rebased onto it and
    /// pushed.
    RebasedAndPushed { head: Oid, replayed: usize },
    /// Someone else had pushed to the branch and the local commits conflict with theirs.
    /// Nothing was pushed; both histories are intact.
    Conflict {
        paths: Vec<PathBuf>,
        local: Oid,
        remote: Oid,
    },
}

/// What [`Repo::merge_into_ground_truth`](crate::Repo::merge_into_ground_truth) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// `ground-truth` did not exist and was created at the node branch's tip.
    Created { head: Oid },
    /// `ground-truth` already contained the node branch.
    UpToDate { head: Oid },
    /// `ground-truth` was behind the node branch and moved forward to it.
    FastForwarded { from: Oid, to: Oid },
    /// A merge commit joins `ground-truth` and the node branch.
    Merged { commit: Oid },
    /// The node branch conflicts with `ground-truth`; `ground-truth` was left untouched.
    Conflict {
        paths: Vec<PathBuf>,
        ground_truth: Oid,
        node: Oid,
    },
}

/// Which commit [`Repo::export_input`](crate::Repo::export_input) wrote out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputExport {
    /// `ground-truth`, or the default branch when there is no ground truth yet.
    pub branch: String,
    /// The exported commit.
    pub commit: Oid,
    /// Number of files written.
    pub files: usize,
}
