//! Datasets on this node: the clones (worktree `<data-dir>/datasets/<name>`, git directory
//! `<data-dir>/git/<name>.git`), the bare repositories `init-local` makes under
//! `<data-dir>/bare/<name>.git`, and the lock that keeps two runs from sharing a worktree.
//!
//! A worktree holds no `.git`: a step's container gets the worktree mounted read-write,
//! and must not reach the repository (its config, hooks, references) through it. Every
//! fetch and push goes to the dataset's registered remote ([`ClonePaths::open`]), never to
//! a URL the repository's config names. A data dir of an older version (the git directory
//! inside the worktree) is moved to this layout the first time the clone is looked at.
//!
//! Every git operation runs on a blocking thread ([`Clones::blocking`]), never on the
//! async runtime's workers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mao_api::{Dataset, InitLocalRequest, LocalDataset};
use mao_datasets::{Credentials, Repo};
use tokio::sync::OwnedMutexGuard;
use tracing::{info, warn};

use crate::local_remotes::{LocalRemoteRefused, LocalRemotes};
use crate::registry::{Registry, RegistryError};

/// What can go wrong with the node's clones of datasets.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Git refused or failed (the remote, credentials, the clone).
    #[error(transparent)]
    Git(#[from] mao_datasets::Error),
    #[error("dataset {name:?} is not cloned on this node; run `maoctl pipeline init` (or `maoctl dataset clone {name}`) first")]
    NotCloned { name: String },
    #[error("dataset {name:?} is not cloned on this node")]
    NoClone { name: String },
    #[error("the clone of {name:?} holds {what}; push or inspect it first, or pass --force to discard it")]
    UnpushedWork { name: String, what: String },
    #[error("a bare repository {} exists already", path.display())]
    BareExists { path: PathBuf },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A `file://` or path remote outside the folders this node allows.
    #[error(transparent)]
    LocalRemote(#[from] LocalRemoteRefused),
}

/// Result of work on the node's clones.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// The node's clones of datasets.
pub struct Clones {
    root: PathBuf,
    git_root: PathBuf,
    bare_root: PathBuf,
    creds: Arc<Credentials>,
    /// Where each dataset's registered remote is read from.
    datasets: Registry<Dataset>,
    /// Which local remotes a dataset may have.
    local_remotes: LocalRemotes,
    worktrees: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One clone: its worktree (what a step's container sees), its git directory (outside the
/// worktree, never mounted) and the remote every transfer goes to.
#[derive(Clone, Debug)]
pub struct ClonePaths {
    pub worktree: PathBuf,
    pub git_dir: PathBuf,
    /// The dataset's registered remote; `None` once the registry no longer has it.
    pub remote: Option<String>,
}

impl ClonePaths {
    /// Opens the clone with its git directory named explicitly and its transfers bound to
    /// the registered remote (blocking).
    pub fn open(&self) -> Result<Repo, mao_datasets::Error> {
        let repo = Repo::open_separate(&self.git_dir, &self.worktree)?;
        Ok(match &self.remote {
            Some(url) => repo.with_remote(url),
            None => repo.without_remote(),
        })
    }
}

impl Clones {
    /// Clones kept under `<data_dir>/datasets` (worktrees) and `<data_dir>/git` (their git
    /// directories), made with `creds`, transfers going to the remotes `datasets` holds;
    /// local remotes only under `<data_dir>/bare` and `allowed_local_remotes`.
    pub fn new(
        data_dir: &Path,
        creds: Credentials,
        datasets: Registry<Dataset>,
        allowed_local_remotes: &[PathBuf],
    ) -> Clones {
        Clones {
            local_remotes: LocalRemotes::new(&data_dir.join("bare"), allowed_local_remotes),
            root: data_dir.join("datasets"),
            git_root: data_dir.join("git"),
            bare_root: data_dir.join("bare"),
            creds: Arc::new(creds),
            datasets,
            worktrees: Mutex::new(HashMap::new()),
        }
    }

    /// Where the worktree of `name` lives (a validated name; never a path from a user).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where the git directory of `name` lives.
    fn git_dir(&self, name: &str) -> PathBuf {
        self.git_root.join(format!("{name}.git"))
    }

    /// Whether `name` is cloned here; moves the git directory of an older data dir out of
    /// the worktree first.
    fn is_cloned(&self, name: &str) -> bool {
        let (worktree, git_dir) = (self.path(name), self.git_dir(name));
        if !worktree.is_dir() {
            return false;
        }
        if git_dir.is_dir() {
            return true;
        }
        let inside = worktree.join(".git");
        if !inside.is_dir() {
            return false;
        }
        match Repo::separate(&worktree, &git_dir) {
            Ok(_) => {
                info!(dataset = name, git_dir = %git_dir.display(), "moved the clone's git directory out of its worktree");
                true
            }
            Err(e) => {
                // Another task may have moved it just now.
                if git_dir.is_dir() {
                    return true;
                }
                warn!(dataset = name, error = %e, "cannot move the clone's git directory out of its worktree");
                false
            }
        }
    }

    /// The clone of `name` with its registered remote, or 409 telling the user to
    /// initialise the pipeline.
    pub async fn clone_of(&self, name: &str) -> Result<ClonePaths> {
        self.require(name)?;
        let remote = match self.datasets.get(name).await {
            Ok((dataset, _)) => Some(dataset.master),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        Ok(ClonePaths {
            worktree: self.path(name),
            git_dir: self.git_dir(name),
            remote,
        })
    }

    /// Runs git work on a blocking thread, with the node's credentials.
    pub async fn git<T, F>(&self, work: F) -> Result<T, mao_datasets::Error>
    where
        F: FnOnce(&Credentials) -> Result<T, mao_datasets::Error> + Send + 'static,
        T: Send + 'static,
    {
        let creds = self.creds.clone();
        tokio::task::spawn_blocking(move || work(&creds))
            .await
            .unwrap_or_else(|e| {
                Err(mao_datasets::Error::Git {
                    op: "task",
                    detail: e.to_string(),
                })
            })
    }

    /// [`Clones::git`] with its error as a [`DatasetError`].
    pub async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Credentials) -> Result<T, mao_datasets::Error> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.git(work).await?)
    }

    /// Takes the worktree of `name` for the caller alone (a step, a push, a removal).
    pub async fn lock(&self, name: &str) -> OwnedMutexGuard<()> {
        let m = self
            .worktrees
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .clone();
        m.lock_owned().await
    }

    /// Refuses (422) a local remote outside `<data-dir>/bare/` and `allowed_local_remotes`,
    /// in the same words whatever the path: registering cannot probe the host's paths.
    pub fn check_remote(&self, url: &str) -> Result<()> {
        Ok(self.local_remotes.check(url)?)
    }

    /// Clones `dataset` unless this node has it already; true when it cloned now. A clone
    /// that fails leaves nothing behind. Its remote is checked first (a document stored
    /// before the check existed, or written by another node, gets no pass).
    pub async fn ensure(&self, dataset: &Dataset) -> Result<bool> {
        self.check_remote(&dataset.master)?;
        let _guard = self.lock(&dataset.name).await;
        let path = self.path(&dataset.name);
        let git_dir = self.git_dir(&dataset.name);
        let url = dataset.master.clone();
        let cloned = self.is_cloned(&dataset.name);
        self.blocking(move |creds| {
            if cloned {
                // Transfers use the registered URL whatever the config says; the config
                // keeps it too, for a person reading the clone with git.
                let repo = Repo::open_separate(&git_dir, &path)?;
                let remote = repo
                    .git()
                    .find_remote(mao_datasets::REMOTE)
                    .ok()
                    .and_then(|r| r.url().ok().map(str::to_owned));
                if remote.as_deref() != Some(url.as_str()) {
                    // The registry is the truth: the dataset moved.
                    repo.git()
                        .remote_set_url(mao_datasets::REMOTE, &url)
                        .map_err(|e| mao_datasets::Error::Git {
                            op: "set remote url",
                            detail: e.message().to_owned(),
                        })?;
                    info!(dataset = %path.display(), "remote URL updated from the registry");
                }
                return Ok(false);
            }
            // Cloned next to its place and renamed into it: a crash mid-clone never leaves
            // something that looks like a clone.
            let partial = path.with_file_name(format!(
                ".{}.partial",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            for stale in [&path, &partial, &git_dir] {
                if stale.exists() {
                    std::fs::remove_dir_all(stale).map_err(|e| mao_datasets::Error::Io {
                        path: stale.to_path_buf(),
                        source: e,
                    })?;
                }
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| mao_datasets::Error::Io {
                    path: parent.to_owned(),
                    source: e,
                })?;
            }
            // The git directory leaves the worktree before the worktree takes its place.
            let made = mao_datasets::clone_dataset(&url, &partial, creds)
                .and_then(|repo| {
                    drop(repo);
                    Repo::separate(&partial, &git_dir)
                })
                .and_then(|repo| {
                    drop(repo);
                    std::fs::rename(&partial, &path).map_err(|e| mao_datasets::Error::Io {
                        path: path.clone(),
                        source: e,
                    })
                });
            match made {
                Ok(()) => Ok(true),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&partial);
                    let _ = std::fs::remove_dir_all(&git_dir);
                    Err(e)
                }
            }
        })
        .await
    }

    /// Removes the lock files a crash of the previous process left in the clones
    /// (`index.lock`, `*.lock` under refs): this daemon is their only writer and nothing
    /// runs yet, so they are stale, and git refuses to work while they exist.
    pub async fn clear_stale_locks(&self) {
        // Older clones get their git directory moved out first.
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str() {
                    if !name.starts_with('.') {
                        self.is_cloned(name);
                    }
                }
            }
        }
        let root = self.git_root.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&root) else {
                return;
            };
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    remove_locks(&entry.path(), 0);
                }
            }
        })
        .await;
    }

    /// The clone of `name`, or 409 telling the user to initialise the pipeline.
    pub fn require(&self, name: &str) -> Result<PathBuf> {
        if self.is_cloned(name) {
            Ok(self.path(name))
        } else {
            Err(DatasetError::NotCloned {
                name: name.to_owned(),
            })
        }
    }

    /// What this node holds: every clone, with its branch and state.
    pub async fn list(&self, registered: Vec<String>) -> Result<Vec<LocalDataset>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(DatasetError::Io {
                    what: format!("cannot read {}", self.root.display()),
                    source,
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.') && self.is_cloned(name))
            .collect();
        names.sort();
        let clones: Vec<(PathBuf, PathBuf, String)> = names
            .into_iter()
            .map(|name| (self.path(&name), self.git_dir(&name), name))
            .collect();
        self.blocking(move |_| {
            let mut out = Vec::new();
            for (worktree, git_dir, name) in clones {
                match describe(&worktree, &git_dir, &name, registered.contains(&name)) {
                    Ok(d) => out.push(d),
                    Err(e) => warn!(dataset = %name, error = %e, "cannot read a local clone"),
                }
            }
            Ok(out)
        })
        .await
    }

    /// One clone's state.
    pub async fn describe(&self, name: &str, registered: bool) -> Result<LocalDataset> {
        let path = self.require(name)?;
        let git_dir = self.git_dir(name);
        let name = name.to_owned();
        self.blocking(move |_| describe(&path, &git_dir, &name, registered))
            .await
    }

    /// Deletes the clone of `name`. Without `force`, refuses (409) when it holds work the
    /// remote lacks: unpushed commits or uncommitted changes.
    pub async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _guard = self.lock(name).await;
        let path = self.path(name);
        let git_dir = self.git_dir(name);
        if !path.exists() {
            return Err(DatasetError::NoClone {
                name: name.to_owned(),
            });
        }
        let state = {
            let path = path.clone();
            let git_dir = git_dir.clone();
            let name = name.to_owned();
            self.blocking(move |_| {
                Ok((
                    describe(&path, &git_dir, &name, false)?,
                    failed_refs(&git_dir, &path),
                ))
            })
            .await
        };
        if !force {
            let refuse = |what: String| {
                Err(DatasetError::UnpushedWork {
                    name: name.to_owned(),
                    what,
                })
            };
            match &state {
                Ok((d, failed)) => {
                    let failed = *failed;
                    if d.unpushed > 0 || !d.clean || failed > 0 {
                        let mut parts = Vec::new();
                        if d.unpushed > 0 {
                            parts.push(format!("{} unpushed commit(s)", d.unpushed));
                        }
                        if !d.clean {
                            parts.push("uncommitted changes".to_owned());
                        }
                        if failed > 0 {
                            parts.push(format!(
                                "{failed} kept output(s) of failed steps under refs/mao/failed/"
                            ));
                        }
                        return refuse(format!(
                            "work the remote does not have ({})",
                            parts.join(", ")
                        ));
                    }
                }
                Err(e) => return refuse(format!("a state that cannot be read ({})", e.detail())),
            }
        }
        for dir in [&path, &git_dir] {
            match tokio::fs::remove_dir_all(dir).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DatasetError::Io {
                        what: format!("cannot delete {}", dir.display()),
                        source,
                    })
                }
                Ok(()) => {}
            }
        }
        info!(dataset = name, "local clone removed");
        Ok(())
    }

    /// Creates the bare repository `<data-dir>/bare/<name>.git` with an initial commit;
    /// returns its `file://` URL. 409 if it exists.
    pub async fn init_bare(&self, name: &str) -> Result<(PathBuf, String)> {
        let path = self.bare_root.join(format!("{name}.git"));
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(DatasetError::BareExists { path });
        }
        tokio::fs::create_dir_all(&self.bare_root)
            .await
            .map_err(|source| DatasetError::Io {
                what: format!("cannot create {}", self.bare_root.display()),
                source,
            })?;
        let abs = std::path::absolute(&path).unwrap_or(path.clone());
        let p = abs.clone();
        self.blocking(move |creds| mao_datasets::init_bare_with_initial_commit(&p, creds))
            .await?;
        let url = format!("file://{}", abs.display());
        Ok((abs, url))
    }

    /// Removes a bare repository made by [`Clones::init_bare`] (when registering it failed).
    pub async fn remove_bare(&self, path: &Path) {
        if let Err(e) = tokio::fs::remove_dir_all(path).await {
            warn!(path = %path.display(), error = %e, "cannot remove a bare repository");
        }
    }

    /// `init-local`: a bare repository in the data dir with an initial commit, registered
    /// as a `local_only` dataset. Nothing is left half-made when the registration fails.
    pub async fn init_local(
        &self,
        datasets: &Registry<Dataset>,
        request: InitLocalRequest,
    ) -> Result<Dataset> {
        mao_api::validate::name("name", &request.name).map_err(RegistryError::from)?;
        if datasets.get(&request.name).await.is_ok() {
            return Err(RegistryError::AlreadyExists {
                kind: "dataset",
                name: request.name,
            }
            .into());
        }
        let (path, url) = self.init_bare(&request.name).await?;
        let dataset = Dataset {
            name: request.name.clone(),
            master: url,
            nodes: Vec::new(),
            description: request.description.unwrap_or_default(),
            local_only: true,
        };
        if let Err(e) = datasets.create(dataset.clone()).await {
            self.remove_bare(&path).await;
            return Err(e.into());
        }
        info!(dataset = %dataset.name, path = %path.display(), "local dataset created");
        Ok(dataset)
    }
}

impl DatasetError {
    /// The message for a person; a git failure inside the daemon points at its log.
    pub fn detail(&self) -> String {
        match self {
            DatasetError::Git(
                e @ (mao_datasets::Error::Io { .. } | mao_datasets::Error::Git { .. }),
            ) => {
                format!("{e} (see the daemon's log)")
            }
            e => e.to_string(),
        }
    }
}

/// Outputs of failed steps kept in a clone (`refs/mao/failed/*`), which exist nowhere else.
fn failed_refs(git_dir: &Path, worktree: &Path) -> usize {
    let Ok(repo) = Repo::open_separate(git_dir, worktree) else {
        return 0;
    };
    repo.git()
        .references_glob(&format!("{}*", mao_datasets::FAILED_REF_PREFIX))
        .map(|refs| refs.count())
        .unwrap_or(0)
}

/// Deletes `*.lock` files in a git directory: at its top and under `refs/`.
fn remove_locks(dir: &Path, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < 8 && (depth > 0 || entry.file_name() == "refs") {
            remove_locks(&path, depth + 1);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
            match std::fs::remove_file(&path) {
                Ok(()) => warn!(path = %path.display(), "removed a lock file left by a crash"),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot remove a stale lock file")
                }
            }
        }
    }
}

fn describe(
    path: &Path,
    git_dir: &Path,
    name: &str,
    registered: bool,
) -> Result<LocalDataset, mao_datasets::Error> {
    let repo = Repo::open_separate(git_dir, path)?;
    let branch = repo.head_branch()?;
    let unpushed = match &branch {
        Some(b) => repo.unpushed(b).unwrap_or(0),
        None => 0,
    };
    let remote = repo
        .git()
        .find_remote(mao_datasets::REMOTE)
        .ok()
        .and_then(|r| r.url().ok().map(redact))
        .unwrap_or_default();
    Ok(LocalDataset {
        name: name.to_owned(),
        path: path.display().to_string(),
        remote,
        head: repo.head_commit()?.map(|o| o.to_string()),
        branch,
        clean: repo.is_clean()?,
        unpushed,
        registered,
    })
}

/// A URL without its `user:password@` part.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}
