//! The one typed layer of keys, and how flags, the environment and the file fill it.
//!
//! Each key is one field of [`Layer`] (or of a section it flattens): its name is the file
//! key, `--name-with-dashes` is the flag, `MAO_NAME` the variable. The three sources are
//! all parsed by the field's own clap value parser (the environment and the file are
//! turned into `--key=value` arguments), so a value means the same and fails with the same
//! message wherever it is written. A source is only read for the keys that no stronger
//! source set, as a value that is overridden does not matter.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches, Parser};

use super::access::AccessLayer;
use super::containers::ContainersLayer;
use super::error::{ConfigError, LoadError, Origins, Source};
use super::file::{self, FileSections};
use super::git::GitLayer;
use super::network::NetworkLayer;
use super::node::NodeLayer;
use super::runs::RunsLayer;
use super::store::{MembershipLayer, StoreLayer};

/// Every key a node reads, as flags; the same keys are read from `MAO_*` and the file.
#[derive(Parser, Debug, Default)]
#[command(
    name = "mao-orchestrator",
    version,
    about = "The MAO orchestrator daemon: registries, membership and the HTTP API of one node",
    after_help = "Examples:\n  mao-orchestrator --data-dir ./mao-data\n  mao-orchestrator --store etcd --etcd-endpoints http://127.0.0.1:2379 --node site-a\n\nAPI tokens (needed on a non-loopback --listen):\n  mao-orchestrator token create NAME --role read|operate|admin|join --data-dir DIR\n  mao-orchestrator token list|revoke ...   (see `mao-orchestrator token --help`)\n\nA federation (each site runs its own etcd member, --etcd-managed):\n  mao-orchestrator federation init|join|leave ...   (see `mao-orchestrator federation --help`)\n\nPrecedence: flags, then MAO_* variables, then the --config file, then defaults."
)]
pub(super) struct Layer {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub network: NetworkLayer,
    #[command(flatten)]
    pub access: AccessLayer,
    #[command(flatten)]
    pub node: NodeLayer,
    #[command(flatten)]
    pub store: StoreLayer,
    #[command(flatten)]
    pub membership: MembershipLayer,
    /// Log filter, e.g. info or mao_server=debug [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    #[command(flatten)]
    pub runs: RunsLayer,
    #[command(flatten)]
    pub containers: ContainersLayer,
    #[command(flatten)]
    pub git: GitLayer,
}

/// The layers merged: the typed keys, the file's tables, and where each value came from.
pub(super) struct Merged {
    pub layer: Layer,
    pub sections: FileSections,
    pub origins: Origins,
}

/// The key a flag is spelled from, and never read from the file.
pub(super) const CONFIG_KEY: &str = "config";

/// The variable a key is also read from: `run_timeout` -> `MAO_RUN_TIMEOUT`.
pub(super) fn env_name(key: &str) -> String {
    format!("MAO_{}", key.to_ascii_uppercase())
}

/// The flags, each help line naming its variable (clap's `env` would read the process's).
pub(super) fn command() -> Command {
    Layer::command().mut_args(|arg| {
        if !takes_value(&arg) {
            return arg;
        }
        let env = env_name(arg.get_id().as_str());
        let help = match arg.get_help() {
            Some(help) => format!("{help} [env: {env}]"),
            None => format!("[env: {env}]"),
        };
        arg.help(help)
    })
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_long().is_some() && arg.get_action().takes_values()
}

/// The keys, in the order of `--help`.
pub(super) fn keys(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|arg| takes_value(arg))
}

/// Parses the flags, then the variables and the file for the keys still unset, and
/// merges them: flags over variables over the file.
pub(super) fn merge<I, T>(args: I, env: &BTreeMap<String, String>) -> Result<Merged, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cmd = command();
    let flags = cmd.clone().try_get_matches_from(args).map_err(|e| {
        match value_error(&cmd, &e, |arg| {
            Source::Flag(format!("--{}", arg.get_long().unwrap_or_default()))
        }) {
            Some(invalid) => LoadError::Invalid(invalid),
            None => LoadError::Usage(e),
        }
    })?;
    let mut origins = Origins::default();
    for arg in keys(&cmd) {
        let key = arg.get_id().as_str();
        if flags.contains_id(key) {
            origins.set(key, Source::Flag(format!("--{}", long(arg))));
        }
    }

    let mut from_env = Vec::new();
    for arg in keys(&cmd) {
        let key = arg.get_id().as_str();
        let var = env_name(key);
        if let Some(value) = env.get(&var).filter(|_| !origins.is_set(key)) {
            from_env.push(format!("--{}={value}", long(arg)));
            origins.set(key, Source::Env(var));
        }
    }
    let env_matches = parse(&cmd, from_env, |arg| {
        Source::Env(env_name(arg.get_id().as_str()))
    })?;

    let config = flags.get_one::<PathBuf>(CONFIG_KEY);
    let (from_file, sections) = match config.or(env_matches.get_one(CONFIG_KEY)) {
        Some(path) => {
            let loaded = file::read(path, origins.of(CONFIG_KEY), &cmd, &origins)?;
            for key in &loaded.keys {
                origins.set(key, Source::File(path.clone()));
            }
            let matches = parse(&cmd, loaded.args, |_| Source::File(path.clone()))?;
            (matches, loaded.sections)
        }
        None => (
            parse(&cmd, Vec::new(), |_| Source::Default)?,
            FileSections::default(),
        ),
    };

    let mut layer = Layer::from_arg_matches(&from_file).map_err(LoadError::Usage)?;
    for matches in [&env_matches, &flags] {
        layer
            .update_from_arg_matches(matches)
            .map_err(LoadError::Usage)?;
    }
    Ok(Merged {
        layer,
        sections,
        origins,
    })
}

/// The flag of a key, without its dashes.
pub(super) fn long(arg: &Arg) -> &str {
    arg.get_long().unwrap_or_default()
}

/// Whether the file may hold a list for this key (each item is one value).
pub(super) fn takes_list(arg: &Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append)
}

/// Parses `--key=value` arguments that a variable or the file supplied.
fn parse(
    cmd: &Command,
    args: Vec<String>,
    origin: impl Fn(&Arg) -> Source,
) -> Result<ArgMatches, ConfigError> {
    let argv = std::iter::once(cmd.get_name().to_owned()).chain(args);
    cmd.clone().try_get_matches_from(argv).map_err(|e| {
        value_error(cmd, &e, &origin).unwrap_or_else(|| ConfigError {
            key: CONFIG_KEY.to_owned(),
            origin: Source::Default,
            message: e.kind().to_string(),
        })
    })
}

/// A clap error about one value, as a [`ConfigError`] about its key; `None` for others.
fn value_error(
    cmd: &Command,
    e: &clap::Error,
    origin: impl Fn(&Arg) -> Source,
) -> Option<ConfigError> {
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    // clap names the argument as it shows it: `--store <embedded|etcd>`.
    let shown = match e.get(ContextKind::InvalidArg)? {
        ContextValue::String(shown) => shown,
        _ => return None,
    };
    let flag = shown.split([' ', '=']).next()?.trim_start_matches('-');
    let arg = keys(cmd).find(|arg| long(arg) == flag)?;
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.as_str(),
        _ => "",
    };
    let message = match (e.kind(), e.get(ContextKind::ValidValue)) {
        (ErrorKind::ValueValidation, _) => std::error::Error::source(e)
            .map(|source| source.to_string())
            .unwrap_or_else(|| format!("{value:?} is not valid")),
        _ if value.is_empty() => "must not be empty".to_owned(),
        (_, Some(ContextValue::Strings(valid))) => {
            format!("{value:?} is not one of {}", valid.join(", "))
        }
        _ => format!("{value:?} is not valid"),
    };
    Some(ConfigError {
        key: arg.get_id().as_str().to_owned(),
        origin: origin(arg),
        message,
    })
}

/// Parses a value with `FromStr` after trimming it, as `what` in the message.
pub(super) fn trimmed<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not {what}"))
}
