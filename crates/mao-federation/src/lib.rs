//! What a site of a federation needs below the store: the federation's certificate
//! authority, the certificates it issues, and the etcd member the daemon runs itself
//! ("managed etcd").
//!
//! - [`ca`]: the federation CA (ECDSA P-256), saved as `ca.pem` + `ca.key` + `ca.json`, and
//!   a site's certificate issued for the public key of a [`ca::NodeKey`]: server and client
//!   authentication, because the same certificate serves etcd peer traffic both ways and
//!   the HTTPS API.
//! - [`member`]: [`member::MemberSpec`], the etcd member this node runs (its URLs, the
//!   initial cluster, peer TLS) and the command line etcd 3.4 gets from it.
//! - [`supervise`]: [`supervise::EtcdSupervisor`], etcd as a child process that dies with
//!   the daemon and is restarted with backoff when it exits on its own.
//!
//! **Architecture Invariant:** no HTTP and no etcd client here; the only IO is files
//! (keys, certificates, specs, the etcd log) and the etcd child process. Speaking to etcd
//! is `mao-store`'s job.

pub mod ca;
pub mod member;
pub mod supervise;

use std::path::{Path, PathBuf};

pub use ca::{fingerprint_of_pem, Ca, NodeKey};
pub use member::{InitialState, MemberSpec, PeerTls};
pub use supervise::EtcdSupervisor;

/// What went wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or a directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An input (a key, a certificate, a spec) is not what it must be.
    #[error("{0}")]
    Invalid(String),
    /// The etcd binary is not where the configuration says.
    #[error("etcd_bin: {} not found: install Debian's etcd-server or set --etcd-bin", .0.display())]
    EtcdBinMissing(PathBuf),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn invalid(why: impl Into<String>) -> Error {
        Error::Invalid(why.into())
    }
}

/// The result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `bytes` to `path` with permissions `mode` through a temp file and a rename: a
/// crash leaves either the old file or the new one, never half a key.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    // `mode` is filtered by the umask on create, and an old temp file keeps its own.
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&tmp, e))?;
    }
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent() {
        // The rename is durable once the directory is.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
