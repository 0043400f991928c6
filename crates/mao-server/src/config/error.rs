//! What goes wrong while loading the configuration, and where the value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--run-timeout`.
    Flag(String),
    /// A `MAO_*` environment variable, e.g. `MAO_RUN_TIMEOUT`.
    Env(String),
    /// The `--config` file.
    File(PathBuf),
    /// Nothing set it: the default applies.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A configuration value that cannot be used: one line naming the key and its source.
#[derive(Debug)]
pub struct ConfigError {
    pub key: String,
    pub origin: Source,
    pub message: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Source::Default => write!(f, "config key {:?}: {}", self.key, self.message),
            origin => write!(
                f,
                "config key {:?} (from {origin}): {}",
                self.key, self.message
            ),
        }
    }
}

/// Why [`crate::config::Config::load`] returned no configuration.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `--help`, `--version` or a malformed command line: `clap::Error::exit` prints it
    /// and exits (status 0 for help and version, 2 otherwise).
    #[error(transparent)]
    Usage(clap::Error),
    /// A value that cannot be used (exit status 2).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The source of every key that was set; the others are defaults.
#[derive(Debug, Default)]
pub(super) struct Origins(BTreeMap<String, Source>);

impl Origins {
    pub(super) fn set(&mut self, key: &str, origin: Source) {
        self.0.insert(key.to_owned(), origin);
    }

    pub(super) fn is_set(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub(super) fn of(&self, key: &str) -> Source {
        self.0.get(key).cloned().unwrap_or(Source::Default)
    }

    /// An error about `key`, naming where its value came from.
    pub(super) fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            origin: self.of(key),
            message: message.into(),
        }
    }
}
