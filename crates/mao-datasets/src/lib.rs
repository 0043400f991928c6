//! Datasets in git: the git layer of the orchestrator.
//!
//! A dataset is a git repository. Each node clones it, works on the branch named after
//! the node, commits what a step's tool wrote and pushes; the federation agrees on the
//! `ground-truth` branch, into which node branches are merged. This crate does the git
//! part of that with libgit2 (vendored, with SSH and HTTPS), and nothing else: no
//! registry, no scheduling, no locking across nodes.
//!
//! **Every function blocks** on disk and network IO. The daemon calls them from blocking
//! threads (`tokio::task::spawn_blocking`), never on an async runtime's worker. A [`Repo`]
//! may move between threads but is not shared by two at once; two runs never share a
//! worktree.
//!
//! Remote errors are sorted by what the caller does next ([`Error`]): `Network` (retry
//! later; the commit stays local), `NonFastForward` (rebase with
//! [`Repo::rebase_onto_remote`], never force-push), `Auth` and `HostKey` (fix the node's
//! credentials), `Rejected` (a hook or protection on the remote). Secrets from
//! [`Credentials`] never appear in `Debug` output or error messages.

mod credentials;
mod error;
mod export;
mod known_hosts;
mod names;
mod outcome;
mod remote;
mod repo;

pub use credentials::Credentials;
pub use error::{Error, Result};
pub use git2::Oid;
pub use names::validate_node_name;
pub use outcome::{
    BranchSetup, FastForward, InputExport, MergeOutcome, PublishOutcome, RebaseOutcome,
};
pub use repo::{clone_dataset, init_bare_with_initial_commit, Repo};

/// The branch the federation agrees on.
pub const GROUND_TRUTH: &str = "ground-truth";

/// The name of the remote every clone is made from.
pub const REMOTE: &str = "origin";

/// Prefix of the references that keep what failed steps wrote: `refs/mao/failed/<run-id>`.
pub const FAILED_REF_PREFIX: &str = "refs/mao/failed/";

#[cfg(test)]
mod tests {
    /// The daemon moves a `Repo` into `spawn_blocking` and its errors into `anyhow`.
    #[test]
    fn repo_is_send_and_errors_are_send_sync() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync + 'static>() {}
        send::<crate::Repo>();
        send_sync::<crate::Error>();
        send_sync::<crate::Credentials>();
    }
}
