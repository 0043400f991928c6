//! Which local remotes (`file://` URLs and paths) a dataset may have: only repositories
//! under the node's own `<data-dir>/bare/` or under a folder of `allowed_local_remotes`.
//!
//! A path is canonicalised before it is compared (no `..`, no symlink leads out), and
//! every refusal has the same words whatever the path is, so that registering a dataset
//! cannot be used to learn which paths exist on the node's host.

use std::path::{Path, PathBuf};

/// The folders local remotes may lie under.
#[derive(Clone, Debug, Default)]
pub struct LocalRemotes {
    roots: Vec<PathBuf>,
}

/// A local remote outside the allowed folders. Its message names no path on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("master: a local remote (file:// or a path) must be a repository under this node's <data-dir>/bare/ or under a folder of allowed_local_remotes")]
pub struct LocalRemoteRefused;

impl LocalRemotes {
    /// Local remotes allowed under `bare` (the node's `<data-dir>/bare`) and `allowed`.
    pub fn new(bare: &Path, allowed: &[PathBuf]) -> LocalRemotes {
        let mut roots = vec![bare.to_path_buf()];
        roots.extend(allowed.iter().cloned());
        LocalRemotes { roots }
    }

    /// Ok for a remote that is not local, or local under an allowed folder.
    pub fn check(&self, url: &str) -> Result<(), LocalRemoteRefused> {
        let Some(path) = local_path(url) else {
            return Ok(());
        };
        let real = resolve(&path).ok_or(LocalRemoteRefused)?;
        let inside = self.roots.iter().any(|root| {
            // The root itself may not exist yet (`bare/` before the first init-local).
            let root = std::fs::canonicalize(root)
                .or_else(|_| std::path::absolute(root))
                .unwrap_or_else(|_| root.clone());
            real.starts_with(&root) && real != root
        });
        if inside {
            Ok(())
        } else {
            Err(LocalRemoteRefused)
        }
    }
}

/// `path` with every symlink and `..` resolved: its deepest existing ancestor
/// canonicalised, then the rest, which must be plain names (a repository that does not
/// exist yet, or no longer, under an allowed folder is judged by where it would be).
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = std::path::absolute(path).ok()?;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            return Some(rest.iter().rev().fold(real, |p, name| p.join(name)));
        }
        // `..` and `.` have no file name: a path that climbs through something that does
        // not exist is refused.
        rest.push(existing.file_name()?.to_owned());
        if !existing.pop() {
            return None;
        }
    }
}

/// The path a local remote names: `file://` URLs and paths (absolute or relative, not
/// scp-like `host:path`); `None` for a network remote.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        // `file://host/path` is not a thing libgit2 reaches; keep only the path.
        let path = match rest.find('/') {
            Some(i) => &rest[i..],
            None => rest,
        };
        return Some(PathBuf::from(path));
    }
    if url.contains("://") {
        return None;
    }
    let scp_like = match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    };
    (!scp_like).then(|| PathBuf::from(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_remotes_are_not_local() {
        let policy = LocalRemotes::new(Path::new("/nonexistent-bare"), &[]);
        for url in [
            "https://example.org/x.git",
            "ssh://git@host/x",
            "git@host:x.git",
            "git://host/x",
        ] {
            assert_eq!(policy.check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn local_paths_only_under_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("bare");
        let allowed = dir.path().join("shared");
        let outside = dir.path().join("outside");
        for d in [
            bare.join("a.git"),
            allowed.join("b.git"),
            outside.join("c.git"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(&outside, bare.join("escape")).unwrap();
        let policy = LocalRemotes::new(&bare, std::slice::from_ref(&allowed));
        let url = |p: &Path| format!("file://{}", p.display());
        assert_eq!(policy.check(&url(&bare.join("a.git"))), Ok(()));
        assert_eq!(
            policy.check(&allowed.join("b.git").display().to_string()),
            Ok(())
        );
        // Not there (yet, or any more) under an allowed folder: judged by where it would be.
        assert_eq!(policy.check(&url(&allowed.join("new/d.git"))), Ok(()));
        for refused in [
            url(&outside.join("c.git")),
            url(&bare.join("../outside/c.git")),
            url(&bare.join("escape/c.git")),
            url(&bare.join("missing/../../outside/c.git")),
            url(&bare.join("escape/missing.git")),
            url(&bare),
            "file:///etc".to_owned(),
            "file:///nonexistent".to_owned(),
            "relative/path".to_owned(),
        ] {
            assert_eq!(policy.check(&refused), Err(LocalRemoteRefused), "{refused}");
        }
    }
}
