use crate::{LeaseId, Revision};

/// Errors of the shared-state store; each variant is one thing a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} not found")]
    NotFound { key: String },
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} changed concurrently (expected revision {expected}, found {actual:?})")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Option<Revision>,
    },
    #[error("lease {0:x} not found or expired")]
    LeaseNotFound(LeaseId),
    #[error("revision {0} has been compacted")]
    Compacted(Revision),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// etcd refused a change of its cluster membership (a learner not in sync yet, an
    /// unknown member, a peer URL in use, ...); the message says what to do.
    #[error("etcd refused: {0}")]
    Refused(String),
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("store internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// True when retrying later may succeed (the backend is down or unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
