//! Who may do what on this node: the tokens it accepts ([`tokens`]) and the log of every
//! state-changing request ([`activity`]). Both live in the node's data dir, never in the
//! shared store: each site decides who may operate its own node, and a site whose etcd
//! credentials leak cannot mint tokens for every other node.

pub mod activity;
pub mod tokens;

pub use activity::{ActivityFilter, ActivityLog};
pub use tokens::{Limits, Principal, TokenFile, Tokens};

/// What went wrong with a token or the activity log.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{0}")]
    Invalid(#[from] mao_api::ValidationError),
    #[error("a token named {0:?} exists already (revoke it first to replace it)")]
    AlreadyExists(String),
    #[error("no token is named {0:?}")]
    NotFound(String),
    #[error("the token {0:?} has expired or is used up: ask for a new one")]
    UsedUp(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

impl AccessError {
    fn io(path: &std::path::Path, e: impl std::fmt::Display) -> AccessError {
        AccessError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// Writes `bytes` to `path` in one step (a temporary file, fsync, rename), readable by the
/// owner only: a crash leaves either the old file or the new one.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), AccessError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AccessError::io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| AccessError::io(&tmp, e))?;
    // `sudo mao-orchestrator token ...` must not leave a file the daemon's user cannot
    // read: the new file keeps the owner of the one it replaces.
    if let Ok(old) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
    }
    std::fs::rename(&tmp, path).map_err(|e| AccessError::io(path, e))?;
    if let Some(dir) = path.parent() {
        // The rename is durable once the directory is.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
