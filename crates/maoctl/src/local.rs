//! Clones of datasets: the node's (`maoctl dataset clone`, `list-local`, `remove-local`,
//! `init-local`) and one made here for someone who only wants the data
//! (`maoctl dataset clone --dir`).
//!
//! The local clone is the one place maoctl does git itself, through mao-datasets, so that
//! it goes wrong in the same words as it does on a node.

use std::path::{Path, PathBuf};

use mao_api::{Dataset, InitLocalRequest, LocalDataset};
use mao_client::Client;
use mao_datasets::Credentials;

use crate::cli::DatasetClone;
use crate::commands::{hint, Printer, UsageError};
use crate::output;

/// The environment variable whose value is sent as the password to https:// remotes.
/// Not a flag: a command line is visible to every user of the machine.
pub const HTTPS_TOKEN_ENV: &str = "MAO_GIT_HTTPS_TOKEN";

/// Refuses a `--dir` that exists and is not an empty folder, before anything is fetched.
pub fn check_destination(dir: &Path) -> Result<(), UsageError> {
    let not_usable = |why: &str| {
        UsageError(format!(
            "--dir {}: {why}; give a folder that does not exist or is empty",
            dir.display()
        ))
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(not_usable("the folder is not empty")),
            None => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(not_usable("it is a file")),
        Err(e) => Err(not_usable(&format!("it cannot be read ({e})"))),
    }
}

/// `maoctl dataset clone`.
pub fn clone(client: &Client, out: &Printer, args: DatasetClone) -> anyhow::Result<()> {
    let not_found_hint = |e| {
        hint(
            e,
            mao_client::Error::is_not_found,
            "maoctl dataset list shows the registered datasets",
        )
    };
    let Some(dir) = &args.dir else {
        let clone = client.clone_dataset(&args.name).map_err(not_found_hint)?;
        let place = output::clone_place(&clone.dataset);
        let message = if clone.created {
            format!("the node cloned dataset {} into {place}", args.name)
        } else {
            format!(
                "the node has dataset {} cloned already, at {place}; nothing changed",
                args.name
            )
        };
        return out.done(&clone.dataset, &message);
    };
    let dataset = client.get_dataset(&args.name).map_err(not_found_hint)?;
    let creds = Credentials {
        ssh_key: args.ssh_key.clone(),
        known_hosts: args.known_hosts.clone(),
        https_token: std::env::var(HTTPS_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty()),
        ..Credentials::identity("maoctl", "maoctl@localhost")
    };
    let clone = clone_here(&dataset, dir, &creds)?;
    out.done(
        &clone,
        &format!(
            "cloned dataset {} from {} into {}",
            dataset.name,
            dataset.master,
            output::clone_place(&clone)
        ),
    )
}

/// Clones `dataset` into `dir` (absent or empty) on the remote's default branch, and
/// describes the clone as the daemon describes its own. On failure `dir` is left as it
/// was found.
pub fn clone_here(
    dataset: &Dataset,
    dir: &Path,
    creds: &Credentials,
) -> anyhow::Result<LocalDataset> {
    let repo = mao_datasets::clone_dataset(&dataset.master, dir, creds)
        .map_err(|e| clone_error(dataset, dir, e))?;
    let context = || {
        format!(
            "cloned dataset {} into {}, but",
            dataset.name,
            dir.display()
        )
    };
    let branch = repo
        .head_branch()
        .map_err(|e| anyhow::anyhow!("{} cannot read its branch: {e}", context()))?;
    let head = repo
        .head_commit()
        .map_err(|e| anyhow::anyhow!("{} cannot read its commit: {e}", context()))?;
    let path: PathBuf = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    Ok(LocalDataset {
        name: dataset.name.clone(),
        path: path.display().to_string(),
        remote: dataset.master.clone(),
        branch,
        head: head.map(|oid| oid.to_string()),
        clean: true,
        unpushed: 0,
        registered: true,
    })
}

/// The error of a failed clone, with what to do about it.
fn clone_error(dataset: &Dataset, dir: &Path, error: mao_datasets::Error) -> anyhow::Error {
    use mao_datasets::Error as E;
    let what = format!(
        "cannot clone dataset {} from {}",
        dataset.name, dataset.master
    );
    let advice = match &error {
        E::AlreadyExists { .. } => {
            return UsageError(format!(
                "--dir {}: {error}; give a folder that does not exist or is empty",
                dir.display()
            ))
            .into()
        }
        E::Auth { .. } => format!(
            "for an https:// remote, put a token in {HTTPS_TOKEN_ENV}; for an SSH one, give \
             --ssh-key or load the key into the SSH agent"
        ),
        E::HostKey { .. } => {
            "add the host's key to a known_hosts file (ssh-keyscan HOST >> FILE) and give \
             --known-hosts FILE"
                .to_owned()
        }
        E::Network { .. } if dataset.local_only => format!(
            "dataset {} is local-only: its repository is in the data dir of the node that \
             made it, and reachable there only",
            dataset.name
        ),
        _ => return anyhow::Error::new(error).context(what),
    };
    anyhow::anyhow!("{what}: {error} ({advice})")
}

/// `maoctl dataset remove-local`.
pub fn remove(client: &Client, out: &Printer, name: &str, force: bool) -> anyhow::Result<()> {
    client.remove_local_dataset(name, force).map_err(|e| {
        if e.is_conflict() {
            anyhow::anyhow!(
                "{e} (with --force, the clone's unpushed commits and uncommitted changes are lost)"
            )
        } else {
            hint(
                e,
                mao_client::Error::is_not_found,
                "maoctl dataset list-local shows the node's clones",
            )
        }
    })?;
    out.removed(&format!(
        "removed the node's clone of dataset {name}; the dataset stays registered"
    ))
}

/// `maoctl dataset init-local`.
pub fn init(
    client: &Client,
    out: &Printer,
    name: String,
    description: Option<String>,
) -> anyhow::Result<()> {
    if let Some(text) = &description {
        mao_api::validate::text("--description", text, 4096, false)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    let request = InitLocalRequest { name, description };
    let dataset = client.init_local_dataset(&request).map_err(|e| {
        hint(
            e,
            mao_client::Error::is_conflict,
            "maoctl dataset list shows the names taken",
        )
    })?;
    out.done(
        &dataset,
        &format!(
            "created local-only dataset {} at {} on the node",
            dataset.name, dataset.master
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use mao_datasets::{clone_dataset, init_bare_with_initial_commit};

    use super::*;

    fn creds() -> Credentials {
        Credentials::identity("test", "test@example.org")
    }

    /// A bare repository in `root` whose `main` has the initial README and a commit
    /// adding `data/readings.csv`; returns the dataset document and that commit.
    fn remote(root: &Path) -> (Dataset, String) {
        let bare = root.join("weather.git");
        init_bare_with_initial_commit(&bare, &creds()).unwrap();
        let url = format!("file://{}", bare.display());
        let work = root.join("work");
        let repo = clone_dataset(&url, &work, &creds()).unwrap();
        std::fs::create_dir(work.join("data")).unwrap();
        std::fs::write(work.join("data/readings.csv"), "t,temp\n0,12.5\n").unwrap();
        let commit = repo.commit_all("readings", &creds()).unwrap().unwrap();
        repo.push("main", &creds()).unwrap();
        let dataset = Dataset {
            name: "weather".into(),
            master: url,
            nodes: vec!["node-a".into()],
            description: String::new(),
            local_only: false,
        };
        (dataset, commit.to_string())
    }

    #[test]
    fn clone_here_checks_out_the_default_branch_with_its_files() {
        let root = tempfile::tempdir().unwrap();
        let (dataset, commit) = remote(root.path());
        let dest = root.path().join("mine");
        let clone = clone_here(&dataset, &dest, &creds()).unwrap();
        assert_eq!(clone.name, "weather");
        assert_eq!(clone.branch.as_deref(), Some("main"));
        assert_eq!(clone.head.as_deref(), Some(commit.as_str()));
        assert_eq!(clone.remote, dataset.master);
        assert_eq!(
            Path::new(&clone.path),
            std::fs::canonicalize(&dest).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("data/readings.csv")).unwrap(),
            "t,temp\n0,12.5\n"
        );
        assert!(dest.join("README.md").is_file());
        assert!(dest.join(".git").is_dir());
        // The text people read: where, which branch, which commit.
        assert_eq!(
            output::clone_place(&clone),
            format!("{} (branch main at {})", clone.path, &commit[..8])
        );
    }

    #[test]
    fn an_empty_folder_is_used_and_a_full_one_refused() {
        let root = tempfile::tempdir().unwrap();
        let (dataset, _) = remote(root.path());
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(check_destination(&empty).map_err(|e| e.0), Ok(()));
        clone_here(&dataset, &empty, &creds()).unwrap();
        assert!(empty.join("data/readings.csv").is_file());

        // `empty` now holds the clone: refused before anything is fetched, and by the
        // clone itself, leaving the files where they are.
        let e = check_destination(&empty).unwrap_err();
        assert!(e.0.contains("the folder is not empty"), "{}", e.0);
        let e = clone_here(&dataset, &empty, &creds()).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
        assert!(e.to_string().contains("does not exist or is empty"), "{e}");
        assert!(empty.join("data/readings.csv").is_file());

        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(check_destination(&file)
            .unwrap_err()
            .0
            .contains("it is a file"));
        assert_eq!(
            check_destination(&root.path().join("absent")).map_err(|e| e.0),
            Ok(())
        );
    }

    #[test]
    fn an_unreachable_local_only_dataset_says_why() {
        let root = tempfile::tempdir().unwrap();
        let dataset = Dataset {
            name: "scratch".into(),
            master: format!("file://{}", root.path().join("gone.git").display()),
            nodes: vec![],
            description: String::new(),
            local_only: true,
        };
        let dest = root.path().join("dest");
        let e = clone_here(&dataset, &dest, &creds()).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.starts_with("cannot clone dataset scratch from file://"),
            "{text}"
        );
        assert!(text.contains("is local-only"), "{text}");
        assert!(!dest.exists(), "a failed clone leaves nothing");
    }
}
