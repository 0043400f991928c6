//! The one error type of this crate.

use std::path::PathBuf;

/// What went wrong with a dataset operation, by what the caller can do about it.
///
/// Messages never contain tokens or key material: remote URLs are shown without their
/// user-info part and libgit2's messages are scrubbed of the configured token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The remote could not be reached (host down, network cut, repository moved away).
    /// Retry later; a local commit stays where it is.
    #[error("remote {remote} is unreachable: {detail}")]
    Network { remote: String, detail: String },
    /// The remote refused the credentials (SSH key not authorised, token rejected).
    #[error("remote {remote} refused the credentials: {detail}")]
    Auth { remote: String, detail: String },
    /// The SSH host key of the remote is unknown or does not match the known_hosts file.
    #[error("host key of {host} is not trusted: {detail}")]
    HostKey { host: String, detail: String },
    /// The branch on the remote has commits this clone does not have (someone else
    /// pushed to it). Rebase onto it; never force-push.
    #[error("branch {branch} on the remote has commits this clone does not have; rebase onto it instead of force-pushing")]
    NonFastForward { branch: String },
    /// The remote refused to update a reference for a reason other than a non-fast-forward
    /// (a hook, a protected branch).
    #[error("remote rejected {reference}: {reason}")]
    Rejected { reference: String, reason: String },
    /// The local branch and its remote counterpart both have commits the other lacks.
    #[error("branch {branch} has diverged from its remote; rebase it onto the remote branch")]
    Diverged { branch: String },
    /// The worktree has changes that the operation would overwrite.
    #[error("worktree {path} has uncommitted changes; reset it clean first")]
    DirtyWorktree { path: PathBuf },
    /// A repository, branch or reference that the operation needs does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The thing to create exists already.
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// An argument or the local configuration is not usable (bad name, missing key file).
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// A file system operation failed.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// libgit2 failed in a way none of the variants above describes.
    #[error("git {op} failed: {detail}")]
    Git { op: &'static str, detail: String },
}

impl Error {
    /// True when the same operation may succeed later without anyone changing anything
    /// (the remote was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Network { .. })
    }

    pub(crate) fn git(op: &'static str, e: git2::Error) -> Error {
        Error::Git {
            op,
            detail: e.message().to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound { what: what.into() }
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shortcut to turn a libgit2 error into [`Error::Git`] naming the operation.
pub(crate) trait GitContext<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> GitContext<T> for std::result::Result<T, git2::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|e| Error::git(op, e))
    }
}
