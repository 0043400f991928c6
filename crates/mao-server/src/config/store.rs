//! `store`, `etcd_*` and `membership_ttl`: the shared state and this node's lease in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mao_store::etcd::{EtcdTls, EtcdUser};

use super::error::{ConfigError, Origins};

/// The variable the etcd password is read from when no `etcd_password_file` is given. It is
/// not a key: a password has no flag (it would show in `ps`) and no place in the file.
pub(super) const ETCD_PASSWORD_VAR: &str = "MAO_ETCD_PASSWORD";

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
    /// CA certificate (PEM) etcd's server certificate is checked against; needed with https:// endpoints.
    #[arg(long, value_name = "PATH")]
    pub etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's --client-cert-auth; with etcd_key.
    #[arg(long, value_name = "PATH")]
    pub etcd_cert: Option<PathBuf>,
    /// Private key (PEM) of etcd_cert.
    #[arg(long, value_name = "PATH")]
    pub etcd_key: Option<PathBuf>,
    /// etcd user to authenticate as (etcd auth); its password from etcd_password_file or MAO_ETCD_PASSWORD.
    #[arg(long, value_name = "NAME")]
    pub etcd_user: Option<String>,
    /// File holding the password of etcd_user (one line) [default: the variable MAO_ETCD_PASSWORD].
    #[arg(long, value_name = "PATH")]
    pub etcd_password_file: Option<PathBuf>,
    /// Run this site's etcd member as a child of the daemon (data in <data-dir>/etcd); implies store etcd [default: false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true",
        value_parser = |t: &str| super::layer::trimmed::<bool>(t, "true or false"))]
    pub etcd_managed: Option<bool>,
    /// The etcd binary of the managed member [default: /usr/bin/etcd].
    #[arg(long, value_name = "PATH")]
    pub etcd_bin: Option<PathBuf>,
    /// Where the managed member serves this daemon, on loopback (https:// in a federation: its certificates only) [default: http://127.0.0.1:2379].
    #[arg(long, value_name = "URL")]
    pub etcd_client_url: Option<String>,
    /// Where the managed member meets its peers (https:// in a federation) [default: http://127.0.0.1:2380].
    #[arg(long, value_name = "URL")]
    pub etcd_peer_url: Option<String>,
}

/// The etcd member this daemon runs itself (`etcd_managed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedEtcd {
    pub bin: PathBuf,
    /// `http://<loopback>:PORT`: the member serves this site only; unset, the member's
    /// spec (written by `federation init|join`) or `http://127.0.0.1:2379`.
    pub client_url: Option<String>,
    /// Unset, the member's spec or `http://127.0.0.1:2380`.
    pub peer_url: Option<String>,
}

/// The client URL a managed member has when none is configured.
pub const DEFAULT_CLIENT_URL: &str = "http://127.0.0.1:2379";
/// The peer URL a managed member has when none is configured (one member, no federation).
pub const DEFAULT_PEER_URL: &str = "http://127.0.0.1:2380";

/// The backend, etcd's endpoints and the federation's key prefix (no trailing '/').
pub(super) struct Store {
    pub kind: StoreKind,
    pub etcd_endpoints: Vec<String>,
    pub etcd_prefix: String,
    /// TLS towards etcd, with https:// endpoints.
    pub etcd_tls: Option<EtcdTls>,
    /// The etcd user and its password.
    pub etcd_user: Option<EtcdUser>,
    /// The member this daemon runs, with `etcd_managed`.
    pub managed: Option<ManagedEtcd>,
}

impl StoreLayer {
    pub(super) fn resolve(
        self,
        env: &BTreeMap<String, String>,
        origins: &Origins,
    ) -> Result<Store, ConfigError> {
        let managed = managed(&self, origins)?;
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

        let etcd_tls = etcd_tls(
            &endpoints,
            self.etcd_ca.as_deref(),
            self.etcd_cert.as_deref(),
            self.etcd_key.as_deref(),
            origins,
        )?;
        let etcd_user = etcd_user(self.etcd_user, self.etcd_password_file, env, origins)?;

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
        let (kind, endpoints) = match &managed {
            Some(m) => (
                StoreKind::Etcd,
                vec![m
                    .client_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CLIENT_URL.to_owned())],
            ),
            None => (self.store.unwrap_or(StoreKind::Embedded), endpoints),
        };
        Ok(Store {
            kind,
            managed,
            etcd_endpoints: endpoints,
            etcd_prefix: prefix.trim_end_matches('/').to_owned(),
            etcd_tls,
            etcd_user,
        })
    }
}

/// The managed member's settings; the keys that cannot go with it are refused.
fn managed(layer: &StoreLayer, origins: &Origins) -> Result<Option<ManagedEtcd>, ConfigError> {
    let managed_keys = ["etcd_bin", "etcd_client_url", "etcd_peer_url"];
    if layer.etcd_managed != Some(true) {
        for key in managed_keys {
            if origins.is_set(key) {
                return Err(origins.bad(key, "only applies with etcd_managed = true"));
            }
        }
        return Ok(None);
    }
    if layer.store == Some(StoreKind::Embedded) {
        return Err(origins.bad(
            "store",
            "is embedded, but etcd_managed runs an etcd member: drop one of them",
        ));
    }
    for key in [
        "etcd_endpoints",
        "etcd_ca",
        "etcd_cert",
        "etcd_key",
        "etcd_user",
    ] {
        if origins.is_set(key) {
            return Err(origins.bad(
                key,
                "cannot be set with etcd_managed: the daemon talks to its own member at etcd_client_url",
            ));
        }
    }
    let client_url = match &layer.etcd_client_url {
        Some(url) => Some(managed_client_url(url).map_err(|m| origins.bad("etcd_client_url", m))?),
        None => None,
    };
    let peer_url = match &layer.etcd_peer_url {
        Some(url) => {
            etcd_endpoint(url).map_err(|m| origins.bad("etcd_peer_url", m))?;
            Some(url.trim_end_matches('/').to_owned())
        }
        None => None,
    };
    if peer_url.is_some() && peer_url == client_url {
        return Err(origins.bad("etcd_peer_url", "is the same as etcd_client_url"));
    }
    Ok(Some(ManagedEtcd {
        bin: layer
            .etcd_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd")),
        client_url,
        peer_url,
    }))
}

/// The client URL of a managed member: `http://` on a loopback address.
pub fn managed_client_url(url: &str) -> Result<String, String> {
    etcd_endpoint(url)?;
    let loopback = url::Url::parse(url).ok().is_some_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    });
    if !loopback {
        return Err(format!("{url:?} must be on a loopback address (e.g. http://127.0.0.1:2379): the member serves this site's daemon only; sites meet through peer URLs"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// TLS settings when the endpoints are `https://`; every file read and checked now.
fn etcd_tls(
    endpoints: &[String],
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
    origins: &Origins,
) -> Result<Option<EtcdTls>, ConfigError> {
    let secure = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    if secure > 0 && secure < endpoints.len() {
        return Err(origins.bad(
            "etcd_endpoints",
            "mixes http:// and https:// URLs: use https:// for all of them",
        ));
    }
    if secure == 0 {
        for (key, path) in [("etcd_ca", ca), ("etcd_cert", cert), ("etcd_key", key)] {
            if path.is_some() {
                return Err(origins.bad(
                    key,
                    "is set but etcd_endpoints are http:// URLs: use https:// endpoints for TLS",
                ));
            }
        }
        return Ok(None);
    }
    let ca = ca.ok_or_else(|| {
        origins.bad(
            "etcd_ca",
            "https:// etcd endpoints need the CA certificate that signed etcd's certificate",
        )
    })?;
    let ca_pem = pem_file("etcd_ca", ca, "CERTIFICATE", origins)?;
    let client = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((
            pem_file("etcd_cert", cert, "CERTIFICATE", origins)?,
            pem_file("etcd_key", key, "PRIVATE KEY", origins)?,
        )),
        (Some(_), None) => {
            return Err(origins.bad("etcd_key", "is needed with etcd_cert (its private key)"))
        }
        (None, Some(_)) => {
            return Err(origins.bad(
                "etcd_cert",
                "is needed with etcd_key (the certificate of that key)",
            ))
        }
    };
    Ok(Some(EtcdTls { ca_pem, client }))
}

/// The file at `path`, which must hold a PEM block whose label ends with `label`
/// (`CERTIFICATE`; `PRIVATE KEY` also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`).
fn pem_file(
    key: &str,
    path: &Path,
    label: &str,
    origins: &Origins,
) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| origins.bad(key, format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text.lines().any(|line| {
        let line = line.trim();
        line.starts_with("-----BEGIN ") && line.ends_with(&format!("{label}-----"))
    });
    if !found {
        let what = if label == "CERTIFICATE" {
            "a certificate"
        } else {
            "a private key"
        };
        return Err(origins.bad(
            key,
            format!(
                "{} is not {what} in PEM form (-----BEGIN {label}-----)",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// The etcd user with its password: from `etcd_password_file`, else from
/// [`ETCD_PASSWORD_VAR`].
fn etcd_user(
    user: Option<String>,
    password_file: Option<PathBuf>,
    env: &BTreeMap<String, String>,
    origins: &Origins,
) -> Result<Option<EtcdUser>, ConfigError> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        if password_file.is_some() {
            return Err(origins.bad(
                "etcd_password_file",
                "is set without etcd_user: set the user it is the password of",
            ));
        }
        return Ok(None);
    };
    if user.contains(char::is_whitespace) || user.contains(':') {
        return Err(origins.bad(
            "etcd_user",
            format!("{user:?} cannot be an etcd user name (no spaces or ':')"),
        ));
    }
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                origins.bad(
                    "etcd_password_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let password = text.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err(origins.bad(
                    "etcd_password_file",
                    format!(
                        "{} is empty: write etcd_user's password in it",
                        path.display()
                    ),
                ));
            }
            password
        }
        None => match env.get(ETCD_PASSWORD_VAR).filter(|p| !p.is_empty()) {
            Some(password) => password.clone(),
            None => {
                return Err(origins.bad(
                    "etcd_user",
                    format!(
                    "needs a password: set etcd_password_file or the variable {ETCD_PASSWORD_VAR}"
                ),
                ))
            }
        },
    };
    Ok(Some(EtcdUser::new(user, password)))
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
