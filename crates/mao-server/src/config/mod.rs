//! Node configuration: a TOML file, overridden by `MAO_*` environment variables, overridden
//! by command-line flags. Every value is checked before anything starts; a bad one stops
//! start-up with one line that names the key and where its value came from.
//!
//! Each key is spelled once, as a field of the typed layer (`layer.rs`); each section of
//! keys resolves and checks itself in its own module.

mod error;
mod file;
mod git;
mod layer;
mod network;
mod node;
mod runs;
mod sinks;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, LoadError, Source};
pub use git::{GitSettings, Secret, SecretScope};
pub use store::StoreKind;

/// The validated configuration of one node.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub advertise_url: String,
    pub data_dir: PathBuf,
    pub node: String,
    pub store: StoreKind,
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
    pub membership_ttl: Duration,
    pub log: String,
    pub runs: mao_node::executor::RunSettings,
    pub git: GitSettings,
    /// Where this node delivers its notifications.
    pub sinks: Vec<mao_notify::SinkConfig>,
    /// What start-up logs as warnings (a setting that works but should change).
    pub warnings: Vec<String>,
}

impl Config {
    /// Builds the configuration from the command line `args` (the program name first),
    /// the environment `env` and the home directory `home` (for the default data dir).
    pub fn load<I, T>(
        args: I,
        env: &BTreeMap<String, String>,
        home: Option<&Path>,
    ) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let layer::Merged {
            layer,
            sections,
            origins,
        } = layer::merge(args, env)?;
        let origins = &origins;
        let runs = layer.runs.resolve(sections.detector, origins)?;
        let sinks = sinks::resolve(sections.sinks, origins)?;
        let network = layer.network.resolve(origins)?;
        let (data_dir, node) = layer.node.resolve(env, home, origins)?;
        let store = layer.store.resolve(origins)?;
        let membership_ttl = layer.membership.resolve(origins)?;
        let mut warnings = Vec::new();
        let git = layer
            .git
            .resolve(&node, sections.secrets, env, origins, &mut warnings)?;
        let log = layer.log.unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log)
            .map_err(|e| origins.bad("log", format!("{log:?} is not a log filter ({e})")))?;
        Ok(Config {
            listen: network.listen,
            advertise_url: network.advertise_url,
            data_dir,
            node,
            store: store.kind,
            etcd_endpoints: store.etcd_endpoints,
            etcd_prefix: store.etcd_prefix,
            membership_ttl,
            log,
            runs,
            git,
            sinks,
            warnings,
        })
    }
}
