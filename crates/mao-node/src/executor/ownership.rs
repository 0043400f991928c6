//! Who owns a run's data folder: the tool's user while it runs, the daemon before and after.
//!
//! A tool runs as an unprivileged `run_user`, so its data folder is handed to that user
//! before the container starts and taken back (every file the tool wrote, whatever its
//! mode) once the run has ended, so git, the metrics reader and pruning keep working. Only a
//! daemon running as root can do either; otherwise the tool runs as the daemon's own user
//! and nothing changes hands (start-up refuses any other `run_user`).
//!
//! The walk never follows a symbolic link (a tool could plant one pointing at `/etc`): links
//! are re-owned themselves (`lchown`) and never descended into. A dataset's `.git` at the
//! top of the folder is left to the daemon, so a tool cannot rewrite the history.

use std::io;
use std::os::unix::fs::lchown;
use std::path::Path;

/// Makes `dir` and everything under it (but a top-level `.git`) owned by `uid:gid`.
pub(super) fn chown_tree(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is a symbolic link", dir.display()),
        ));
    }
    lchown(dir, Some(uid), Some(gid))?;
    let mut pending = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        pending.push(entry.path());
    }
    while let Some(path) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Removed meanwhile (the tool's own temporary files): nothing to own.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        lchown(&path, Some(uid), Some(gid))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn the_tree_changes_hands_but_git_and_link_targets_do_not() {
        if unsafe { libc::geteuid() } != 0 {
            // Only root may give files away; the rest of the suite covers a non-root node.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f.csv"), "1").unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(outside.path().join("target"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        chown_tree(root, 65534, 65534).unwrap();
        let owner = |p: &Path| std::fs::symlink_metadata(p).unwrap().uid();
        assert_eq!(owner(root), 65534);
        assert_eq!(owner(&root.join("a/b/f.csv")), 65534);
        assert_eq!(owner(&root.join("link")), 65534);
        assert_eq!(owner(&root.join(".git/HEAD")), 0, "git stays the daemon's");
        assert_eq!(
            owner(&outside.path().join("target")),
            0,
            "links are not followed"
        );
        chown_tree(root, 0, 0).unwrap();
        assert_eq!(owner(&root.join("a/b/f.csv")), 0);
    }
}
