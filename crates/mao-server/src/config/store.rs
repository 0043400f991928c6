//! `store`, `etcd_*` and `membership_ttl`: the shared state and this node's lease in it.

use std::time::Duration;

use super::error::{ConfigError, Origins};

/// Which backend holds the shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    Embedded,
    Etcd,
}

/// The shared-state backend and where etcd is.
#[derive(clap::Args, Debug, Default)]
pub(super) struct StoreLayer {
    /// Shared-state backend: embedded (one node) or etcd (a federation) [default: embedded].
    #[arg(long, value_name = "embedded|etcd", hide_possible_values = true)]
    pub store: Option<StoreKind>,
    /// etcd client URLs, comma-separated [default: http://127.0.0.1:2379].
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    pub etcd_endpoints: Option<Vec<String>>,
    /// Key prefix of this federation in etcd [default: /mao].
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
}

/// The backend, etcd's endpoints and the federation's key prefix (no trailing '/').
pub(super) struct Store {
    pub kind: StoreKind,
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
}

impl StoreLayer {
    pub(super) fn resolve(self, origins: &Origins) -> Result<Store, ConfigError> {
        let endpoints: Vec<String> = match self.etcd_endpoints {
            Some(list) => list
                .iter()
                .map(|e| e.trim())
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
            None => vec!["http://127.0.0.1:2379".to_owned()],
        };
        if endpoints.is_empty() {
            return Err(origins.bad("etcd_endpoints", "at least one URL is needed"));
        }
        for endpoint in &endpoints {
            etcd_endpoint(endpoint).map_err(|m| origins.bad("etcd_endpoints", m))?;
        }

        let prefix = self.etcd_prefix.unwrap_or_else(|| "/mao".to_owned());
        let prefix_ok = prefix.starts_with('/')
            && prefix.len() <= 128
            && !prefix.contains("..")
            && !prefix.contains("//")
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        if !prefix_ok {
            return Err(origins.bad(
                "etcd_prefix",
                format!("{prefix:?} must start with '/' and hold only letters, digits, '/', '.', '_' and '-'"),
            ));
        }
        Ok(Store {
            kind: self.store.unwrap_or(StoreKind::Embedded),
            etcd_endpoints: endpoints,
            etcd_prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }
}

/// An etcd client URL: `http(s)://HOST:PORT`, the port written out, no path.
fn etcd_endpoint(text: &str) -> Result<(), String> {
    let bare = text.trim_end_matches('/');
    let url = mao_api::validate::http_endpoint("etcd_endpoints", bare)
        .map_err(|e| format!("{text:?} {}", e.message))?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} is not http(s)://HOST:PORT"));
    }
    // `Url` drops a port that is the scheme's default, so look for it in the text.
    let port = url.port_or_known_default().unwrap_or_default();
    if url.port().is_none() && !bare.ends_with(&format!(":{port}")) {
        return Err(format!("{text:?} needs a port, e.g. http://127.0.0.1:2379"));
    }
    Ok(())
}

/// How long a dead node stays listed.
#[derive(clap::Args, Debug, Default)]
pub(super) struct MembershipLayer {
    /// Seconds a dead node stays listed before its membership expires [default: 10].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub membership_ttl: Option<Duration>,
}

impl MembershipLayer {
    pub(super) fn resolve(self, origins: &Origins) -> Result<Duration, ConfigError> {
        let ttl = self.membership_ttl.unwrap_or(Duration::from_secs(10));
        if !(2..=300).contains(&ttl.as_secs()) {
            return Err(origins.bad(
                "membership_ttl",
                format!("{} is outside 2..=300 seconds", ttl.as_secs()),
            ));
        }
        Ok(ttl)
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))
}
