//! Writing a commit's files into a plain directory (a step's read-only input), and the
//! small directory helpers clone and init share.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::Path;

use git2::{ObjectType, Repository, Tree};

use crate::error::{Error, GitContext, Result};

/// Refuses a path that exists and is not an empty directory. Returns whether it exists.
pub(crate) fn ensure_absent_or_empty(path: &Path) -> Result<bool> {
    match fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::AlreadyExists {
                    what: format!("non-empty directory {}", path.display()),
                });
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(Error::AlreadyExists {
            what: format!("file {}", path.display()),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Removes everything inside `dir`, keeping `dir`.
pub(crate) fn remove_contents(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Writes the files of `tree` into `dest` (absent or empty); returns how many. On failure
/// `dest` is emptied again.
pub(crate) fn write_tree(repo: &Repository, tree: &Tree<'_>, dest: &Path) -> Result<usize> {
    let existed = ensure_absent_or_empty(dest)?;
    if !existed {
        fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    }
    let mut files = 0;
    let written = write_entries(repo, tree, dest, &mut files);
    if written.is_err() {
        let _ = remove_contents(dest);
    }
    written.map(|()| files)
}

fn write_entries(repo: &Repository, tree: &Tree<'_>, dir: &Path, files: &mut usize) -> Result<()> {
    for entry in tree.iter() {
        let name = component(entry.name_bytes())?;
        let path = dir.join(name);
        match entry.kind() {
            Some(ObjectType::Tree) => {
                // create_dir, not create_dir_all: never follows a symlink written before.
                fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
                let subtree = repo.find_tree(entry.id()).op("export")?;
                write_entries(repo, &subtree, &path, files)?;
            }
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id()).op("export")?;
                let mode = entry.filemode();
                if mode == 0o120000 {
                    let target = OsStr::from_bytes(blob.content());
                    symlink(target, &path).map_err(|e| Error::io(&path, e))?;
                } else {
                    let perms = if mode == 0o100755 { 0o755 } else { 0o644 };
                    // create_new: fails on anything already there, a symlink included.
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(perms)
                        .open(&path)
                        .map_err(|e| Error::io(&path, e))?;
                    file.write_all(blob.content())
                        .map_err(|e| Error::io(&path, e))?;
                }
                *files += 1;
            }
            // A submodule: its commit is not in this repository; leave an empty directory.
            Some(ObjectType::Commit) => fs::create_dir(&path).map_err(|e| Error::io(&path, e))?,
            _ => {}
        }
    }
    Ok(())
}

/// A tree entry's name as a single path component, refusing names that could escape the
/// destination.
fn component(bytes: &[u8]) -> Result<&OsStr> {
    if bytes.is_empty()
        || bytes == b"."
        || bytes == b".."
        || bytes.contains(&b'/')
        || bytes.contains(&0)
    {
        return Err(Error::invalid(
            "tree entry",
            format!("unsafe name {:?}", String::from_utf8_lossy(bytes)),
        ));
    }
    Ok(OsStr::from_bytes(bytes))
}
