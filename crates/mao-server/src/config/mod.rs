//! Node configuration: a TOML file, overridden by `MAO_*` environment variables, overridden
//! by command-line flags. Every value is checked before anything starts; a bad one stops
//! start-up with one line that names the key and where its value came from.
//!
//! Each key is spelled once, as a field of the typed layer (`layer.rs`); each section of
//! keys resolves and checks itself in its own module.

mod access;
mod containers;
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

pub use access::{Access, AuthMode, TlsFiles};
pub use error::{ConfigError, LoadError, Source};
pub use git::{GitSettings, Secret, SecretScope};
pub use node::{command_data_dir, default_data_dir};
pub use store::{managed_client_url, ManagedEtcd, StoreKind, DEFAULT_CLIENT_URL, DEFAULT_PEER_URL};

/// The validated configuration of one node.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub advertise_url: String,
    /// Tokens, allowed hosts, TLS and connection limits of the API.
    pub access: Access,
    pub data_dir: PathBuf,
    pub node: String,
    pub store: StoreKind,
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
    /// TLS towards etcd (with https:// endpoints).
    pub etcd_tls: Option<mao_store::etcd::EtcdTls>,
    /// The etcd user; its password never shows in `Debug`.
    pub etcd_user: Option<mao_store::etcd::EtcdUser>,
    /// The etcd member this daemon runs itself (`etcd_managed`); the store then talks to it.
    pub etcd_managed: Option<ManagedEtcd>,
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
        let daemon = mao_node::executor::policy::daemon_ids();
        let containers = layer.containers.resolve(daemon, origins)?;
        let runs = layer.runs.resolve(sections.detector, containers, origins)?;
        let sinks = sinks::resolve(sections.sinks, origins)?;
        let network = layer.network.resolve(origins)?;
        let access = layer
            .access
            .resolve(network.listen, &network.advertise_url, origins)?;
        let mut network = network;
        if access.tls.is_some() && !origins.is_set("advertise_url") {
            network.advertise_url = network.advertise_url.replacen("http://", "https://", 1);
        }
        let (data_dir, node) = layer.node.resolve(env, home, origins)?;
        let store = layer.store.resolve(env, origins)?;
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
            access,
            data_dir,
            node,
            store: store.kind,
            etcd_endpoints: store.etcd_endpoints,
            etcd_prefix: store.etcd_prefix,
            etcd_tls: store.etcd_tls,
            etcd_user: store.etcd_user,
            etcd_managed: store.managed,
            membership_ttl,
            log,
            runs,
            git,
            sinks,
            warnings,
        })
    }
}
