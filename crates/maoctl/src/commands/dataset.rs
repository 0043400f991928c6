//! `maoctl dataset ...`: register, inspect and remove datasets, and their clones: the
//! node's (`clone`, `list-local`, `remove-local`, `init-local`) and one made here for
//! someone who only wants the data (`clone --dir`).
//!
//! The local clone is the one place maoctl does git itself, through mao-datasets, so that
//! it goes wrong in the same words as it does on a node.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mao_api::{Dataset, InitLocalRequest, LocalDataset};
use mao_client::Client;
use mao_datasets::Credentials;

use crate::app::{hint, not_found, read_document, register, Printer, UsageError};
use crate::args::validate_name;
use crate::render;

/// Examples of `maoctl dataset`, shown by its help.
pub const DATASET_EXAMPLES: &str = "\
Examples:
  maoctl dataset list
  maoctl dataset add weather https://git.example.com/weather.git --node node-a --node node-b
  maoctl dataset clone weather
  maoctl dataset clone weather --dir ./weather
  maoctl dataset list-local
  maoctl dataset init-local scratch --description 'notes of node-a'
  maoctl dataset remove-local weather
  maoctl dataset remove weather";

/// `maoctl dataset ...`
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// List the registered datasets
    #[command(
        after_help = "Example:\n  maoctl dataset list\n  maoctl dataset list -o json | jq -r '.items[].master'"
    )]
    List,
    /// Show one dataset
    #[command(after_help = "Example:\n  maoctl dataset get weather")]
    Get {
        /// Name of the dataset
        name: String,
    },
    /// Register a dataset, from arguments or from a JSON document
    #[command(after_help = DATASET_ADD_EXAMPLES)]
    Add(DatasetAdd),
    /// Unregister a dataset
    #[command(
        visible_alias = "delete",
        after_help = "Example:\n  maoctl dataset remove weather"
    )]
    Remove {
        /// Name of the dataset
        name: String,
    },
    /// Clone a dataset: on the node, into its data dir, or here, into --dir
    #[command(after_help = DATASET_CLONE_HELP)]
    Clone(DatasetClone),
    /// List the datasets cloned on the node, with the state of each clone
    #[command(
        after_help = "Examples:\n  maoctl dataset list-local\n  maoctl dataset list-local -o json | jq -r '.items[] | select(.unpushed > 0) | .name'\n\nUNPUSHED counts the commits the remote does not have yet; CLEAN is no when the\nworktree has uncommitted changes; REGISTERED is no when the dataset was unregistered\nsince it was cloned."
    )]
    ListLocal,
    /// Delete the node's clone of a dataset (its registration stays)
    #[command(
        after_help = "Examples:\n  maoctl dataset remove-local weather\n  maoctl dataset remove-local weather --force\n\nA clone with commits the remote does not have, or with uncommitted changes, is kept\nunless --force is given: then that work is lost."
    )]
    RemoveLocal {
        /// Name of the dataset
        name: String,
        /// Delete the clone even if it has unpushed commits or uncommitted changes
        #[arg(long)]
        force: bool,
    },
    /// Create a dataset kept on the node only: a new git repository in its data dir
    #[command(
        after_help = "Examples:\n  maoctl dataset init-local scratch\n  maoctl dataset init-local scratch --description 'notes of node-a'\n\nThe repository starts with a README on its branch main and is registered as a\nlocal-only dataset, so pipelines of this node can write to it."
    )]
    InitLocal {
        /// Name of the dataset (lower-case letters, digits, '.', '_', '-')
        name: String,
        /// What the dataset holds
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
}

impl DatasetCommand {
    /// Checks the name, and that a `--dir` can take a clone, before connecting.
    pub fn validate(&self) -> Result<(), UsageError> {
        match self {
            DatasetCommand::Get { name }
            | DatasetCommand::Remove { name }
            | DatasetCommand::RemoveLocal { name, .. }
            | DatasetCommand::InitLocal { name, .. } => validate_name("name", name),
            DatasetCommand::Clone(clone) => {
                if let Some(dir) = &clone.dir {
                    check_destination(dir)?;
                }
                validate_name("name", &clone.name)
            }
            DatasetCommand::List | DatasetCommand::Add(_) | DatasetCommand::ListLocal => Ok(()),
        }
    }
}

const DATASET_CLONE_HELP: &str = "\
Examples:
  maoctl dataset clone weather
  maoctl dataset clone weather --dir ./weather
  maoctl dataset clone weather --dir /tmp/w --ssh-key ~/.ssh/id_ed25519 --known-hosts ~/.ssh/known_hosts
  MAO_GIT_HTTPS_TOKEN=... maoctl dataset clone weather --dir ./weather

Without --dir, the node clones the dataset into its data dir (if it has not yet) and
maoctl prints where. With --dir, maoctl reads the dataset's git URL from the registry and
clones it here, on the remote's default branch, for someone who only wants the data;
DIR must not exist or be empty. An https:// remote gets the token in MAO_GIT_HTTPS_TOKEN
as its password; an SSH remote uses --ssh-key (else the SSH agent) and --known-hosts
(else ~/.ssh/known_hosts).";

/// Arguments of `maoctl dataset clone`.
#[derive(Debug, Args)]
pub struct DatasetClone {
    /// Name of the dataset
    pub name: String,
    /// Clone here, into this folder (absent or empty), instead of on the node
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Private key for an SSH remote (with --dir; default: the SSH agent)
    #[arg(long, value_name = "PATH", env = "MAO_GIT_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH remote's host key must be in (with --dir; default:
    /// ~/.ssh/known_hosts)
    #[arg(long, value_name = "PATH", env = "MAO_GIT_KNOWN_HOSTS")]
    pub known_hosts: Option<PathBuf>,
}

const DATASET_ADD_EXAMPLES: &str = "\
Examples:
  maoctl dataset add weather https://git.example.com/weather.git --node node-a --node node-b \\
      --description 'hourly readings'
  maoctl dataset add scratch /srv/git/scratch.git --local-only
  maoctl dataset add -f weather.json

The JSON document has the fields name and master, and optionally nodes (a list of
branch names), description and local_only.";

/// Arguments of `maoctl dataset add`.
#[derive(Debug, Args)]
pub struct DatasetAdd {
    /// Name of the dataset (lower-case letters, digits, '.', '_', '-')
    #[arg(required_unless_present = "file")]
    pub name: Option<String>,
    /// Git URL of the shared repository
    #[arg(required_unless_present = "file")]
    pub master: Option<String>,

    /// Branch of a node that works on the dataset (repeatable)
    #[arg(long = "node", value_name = "BRANCH")]
    pub nodes: Vec<String>,
    /// What the dataset holds
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Keep the dataset on one node only
    #[arg(long)]
    pub local_only: bool,

    /// Read the dataset from a JSON document instead ('-' for standard input)
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        conflicts_with_all = ["name", "master", "nodes", "description", "local_only"]
    )]
    pub file: Option<PathBuf>,

    /// Replace the dataset of that name instead of failing when it exists
    #[arg(long)]
    pub replace: bool,
}

/// Runs `maoctl dataset ...`.
pub fn run(client: &Client, out: &Printer, command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::List => {
            let datasets = client.list_datasets()?;
            out.list(
                datasets,
                "no datasets registered",
                render::dataset::datasets_table,
            )
        }
        DatasetCommand::Get { name } => {
            let dataset = client.get_dataset(&name)?;
            out.item(&dataset, render::dataset::dataset_details)
        }
        DatasetCommand::Add(add) => {
            let replace = add.replace;
            let dataset = dataset_from_args(add)?;
            let (saved, verb) = register(
                replace,
                || client.create_dataset(&dataset),
                || client.replace_dataset(&dataset),
            )?;
            out.done(&saved, &format!("{verb} dataset {}", saved.name))
        }
        DatasetCommand::Remove { name } => {
            client.delete_dataset(&name)?;
            out.removed(&format!("removed dataset {name}"))
        }
        DatasetCommand::Clone(args) => clone(client, out, args),
        DatasetCommand::ListLocal => {
            let clones = client.list_local_datasets()?;
            out.list(
                clones,
                "no dataset is cloned on the node",
                render::dataset::local_datasets_table,
            )
        }
        DatasetCommand::RemoveLocal { name, force } => remove_local(client, out, &name, force),
        DatasetCommand::InitLocal { name, description } => {
            init_local(client, out, name, description)
        }
    }
}

/// The dataset described by `maoctl dataset add`'s arguments or file, validated as the server would.
pub fn dataset_from_args(add: DatasetAdd) -> anyhow::Result<Dataset> {
    let dataset = match &add.file {
        Some(path) => read_document::<Dataset>(path, "dataset")?,
        None => Dataset {
            name: add.name.unwrap_or_default(),
            master: add.master.unwrap_or_default(),
            nodes: add.nodes,
            description: add.description.unwrap_or_default(),
            local_only: add.local_only,
        },
    };
    dataset.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(dataset)
}

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
fn clone(client: &Client, out: &Printer, args: DatasetClone) -> anyhow::Result<()> {
    let not_found_hint = not_found("maoctl dataset list shows the registered datasets");
    let Some(dir) = &args.dir else {
        let clone = client.clone_dataset(&args.name).map_err(not_found_hint)?;
        let place = render::dataset::clone_place(&clone.dataset);
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
            render::dataset::clone_place(&clone)
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
fn remove_local(client: &Client, out: &Printer, name: &str, force: bool) -> anyhow::Result<()> {
    client.remove_local_dataset(name, force).map_err(|e| {
        if e.is_conflict() {
            anyhow::anyhow!(
                "{e} (with --force, the clone's unpushed commits and uncommitted changes are lost)"
            )
        } else {
            not_found("maoctl dataset list-local shows the node's clones")(e)
        }
    })?;
    out.removed(&format!(
        "removed the node's clone of dataset {name}; the dataset stays registered"
    ))
}

/// `maoctl dataset init-local`.
fn init_local(
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
    use crate::commands::testing;

    #[test]
    fn dataset_from_flags() {
        let argv = ["weather", "/srv/w.git", "--node", "a", "--node", "a"];
        let add: DatasetAdd = testing::args(&argv).unwrap();
        let e = dataset_from_args(add).unwrap_err();
        assert_eq!(e.to_string(), "nodes: branch \"a\" is listed twice");
    }

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
            render::dataset::clone_place(&clone),
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
