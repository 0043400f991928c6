//! Datasets on this node: the clones under `<data-dir>/datasets/<name>`, the bare
//! repositories `init-local` makes under `<data-dir>/bare/<name>.git`, and the lock that
//! keeps two runs from sharing a worktree.
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
}

/// Result of work on the node's clones.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// The node's clones of datasets.
pub struct Clones {
    root: PathBuf,
    bare_root: PathBuf,
    creds: Arc<Credentials>,
    worktrees: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Clones {
    /// Clones kept under `<data_dir>/datasets`, made with `creds`.
    pub fn new(data_dir: &Path, creds: Credentials) -> Clones {
        Clones {
            root: data_dir.join("datasets"),
            bare_root: data_dir.join("bare"),
            creds: Arc::new(creds),
            worktrees: Mutex::new(HashMap::new()),
        }
    }

    /// Where the clone of `name` lives (a validated name; never a path from a user).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
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

    /// Clones `dataset` unless this node has it already; true when it cloned now. A clone
    /// that fails leaves nothing behind.
    pub async fn ensure(&self, dataset: &Dataset) -> Result<bool> {
        let _guard = self.lock(&dataset.name).await;
        let path = self.path(&dataset.name);
        let url = dataset.master.clone();
        self.blocking(move |creds| {
            if path.join(".git").is_dir() {
                let repo = Repo::open(&path)?;
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
            for stale in [&path, &partial] {
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
            match mao_datasets::clone_dataset(&url, &partial, creds) {
                Ok(repo) => {
                    drop(repo);
                    std::fs::rename(&partial, &path).map_err(|e| mao_datasets::Error::Io {
                        path: path.clone(),
                        source: e,
                    })?;
                    Ok(true)
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&partial);
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
        let root = self.root.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&root) else {
                return;
            };
            for entry in entries.flatten() {
                let git = entry.path().join(".git");
                if git.is_dir() {
                    remove_locks(&git, 0);
                }
            }
        })
        .await;
    }

    /// The clone of `name`, or 409 telling the user to initialise the pipeline.
    pub fn require(&self, name: &str) -> Result<PathBuf> {
        let path = self.path(name);
        if path.join(".git").is_dir() {
            Ok(path)
        } else {
            Err(DatasetError::NotCloned {
                name: name.to_owned(),
            })
        }
    }

    /// What this node holds: every clone, with its branch and state.
    pub async fn list(&self, registered: Vec<String>) -> Result<Vec<LocalDataset>> {
        let root = self.root.clone();
        self.blocking(move |_| {
            let mut out = Vec::new();
            let entries = match std::fs::read_dir(&root) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => {
                    return Err(mao_datasets::Error::Io {
                        path: root,
                        source: e,
                    })
                }
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join(".git").is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            for name in names {
                match describe(&root.join(&name), &name, registered.contains(&name)) {
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
        let name = name.to_owned();
        self.blocking(move |_| describe(&path, &name, registered))
            .await
    }

    /// Deletes the clone of `name`. Without `force`, refuses (409) when it holds work the
    /// remote lacks: unpushed commits or uncommitted changes.
    pub async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _guard = self.lock(name).await;
        let path = self.path(name);
        if !path.exists() {
            return Err(DatasetError::NoClone {
                name: name.to_owned(),
            });
        }
        let state = {
            let path = path.clone();
            let name = name.to_owned();
            self.blocking(move |_| Ok((describe(&path, &name, false)?, failed_refs(&path))))
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
        tokio::fs::remove_dir_all(&path)
            .await
            .map_err(|source| DatasetError::Io {
                what: format!("cannot delete {}", path.display()),
                source,
            })?;
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
fn failed_refs(clone: &Path) -> usize {
    let Ok(repo) = Repo::open(clone) else {
        return 0;
    };
    repo.git()
        .references_glob(&format!("{}*", mao_datasets::FAILED_REF_PREFIX))
        .map(|refs| refs.count())
        .unwrap_or(0)
}

/// Deletes `*.lock` files in a `.git` folder: at its top and under `refs/`.
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
    name: &str,
    registered: bool,
) -> Result<LocalDataset, mao_datasets::Error> {
    let repo = Repo::open(path)?;
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
