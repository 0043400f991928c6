//! The etcd member this node runs: where it listens, which cluster it forms or joins, and
//! the command line etcd 3.4 gets from that.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{write_atomic, Error, Result};

/// The `--initial-cluster-token` of every federation: the cluster is told apart by its
/// CA, not by a token.
const CLUSTER_TOKEN: &str = "mao";

/// Whether the member founds a cluster or joins one that exists.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    /// The first member of a new cluster.
    New,
    /// A member added to a running cluster (`etcdctl member add` came first).
    Existing,
}

impl InitialState {
    fn as_flag(self) -> &'static str {
        match self {
            InitialState::New => "new",
            InitialState::Existing => "existing",
        }
    }
}

/// The files of mutual TLS between members.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerTls {
    /// This site's certificate (issued by the federation CA).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The federation CA certificate: the only issuer a peer's certificate may have.
    pub ca: PathBuf,
}

/// The etcd member this node runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberSpec {
    /// The member name, unique in the cluster.
    pub name: String,
    /// Where clients (this node's store) reach it, e.g. `http://127.0.0.1:2379`.
    pub client_url: String,
    /// Where the other members reach it, e.g. `https://10.0.0.5:2380`.
    pub peer_url: String,
    /// `name=peer-url` of every member, comma-separated.
    pub initial_cluster: String,
    /// Whether it founds the cluster or joins it.
    pub initial_state: InitialState,
    /// Mutual TLS between members; `None` for plain HTTP (tests on loopback).
    pub peer_tls: Option<PeerTls>,
}

impl MemberSpec {
    /// Checks that etcd can run this spec: URLs that parse, TLS exactly with an `https`
    /// peer URL, and this member in the initial cluster at its peer URL.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains([',', '=']) {
            return Err(Error::invalid(format!(
                "member name {:?} must be non-empty without ',' or '='",
                self.name
            )));
        }
        let client = parse_url("client_url", &self.client_url)?;
        if client.scheme() == "https" && self.peer_tls.is_none() {
            return Err(Error::invalid(format!(
                "client_url {} is https but the spec has no certificate (peer TLS) to serve it with",
                self.client_url
            )));
        }
        let peer = parse_url("peer_url", &self.peer_url)?;
        match (peer.scheme(), &self.peer_tls) {
            ("https", Some(_)) | ("http", None) => {}
            ("https", None) => {
                return Err(Error::invalid(format!(
                    "peer_url {} is https but the spec has no peer TLS",
                    self.peer_url
                )))
            }
            ("http", Some(_)) => {
                return Err(Error::invalid(format!(
                    "peer_url {} is plain http but the spec has peer TLS: use https://",
                    self.peer_url
                )))
            }
            (scheme, _) => {
                return Err(Error::invalid(format!(
                    "peer_url {}: scheme {scheme} is neither http nor https",
                    self.peer_url
                )))
            }
        }
        let ours = format!("{}={}", self.name, self.peer_url);
        let mut listed = false;
        for entry in self.initial_cluster.split(',') {
            let Some((name, url)) = entry.split_once('=') else {
                return Err(Error::invalid(format!(
                    "initial_cluster entry {entry:?} is not name=peer-url"
                )));
            };
            parse_url("initial_cluster", url)?;
            listed |= name == self.name && same_url(url, &self.peer_url);
        }
        if !listed {
            return Err(Error::invalid(format!(
                "initial_cluster {:?} does not list this member as {ours}",
                self.initial_cluster
            )));
        }
        Ok(())
    }

    /// Where a member whose client port takes TLS only serves `/health` and `/metrics` in
    /// plain HTTP, for probes: the client URL's host, its port + 2 (2381 for 2379).
    pub fn metrics_url(&self) -> Option<String> {
        let url = Url::parse(&self.client_url).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        let port = url.port_or_known_default()?.checked_add(2)?;
        Some(format!("http://{}:{port}", url.host_str()?))
    }

    /// The command line of etcd for this member with its data in `data_dir`.
    pub fn args(&self, data_dir: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        // `--name=value`, one argument: Go's flag package reads a boolean only so.
        let mut flag = |name: &str, value: &dyn AsRef<std::ffi::OsStr>| {
            let mut arg = OsString::from(format!("--{name}="));
            arg.push(value);
            args.push(arg);
        };
        flag("name", &self.name);
        flag("data-dir", &data_dir);
        flag("listen-client-urls", &self.client_url);
        flag("advertise-client-urls", &self.client_url);
        flag("listen-peer-urls", &listen_peer_url(&self.peer_url));
        flag("initial-advertise-peer-urls", &self.peer_url);
        flag("initial-cluster", &self.initial_cluster);
        // Ignored once the data dir holds the member (a restart).
        flag("initial-cluster-state", &self.initial_state.as_flag());
        flag("initial-cluster-token", &CLUSTER_TOKEN);
        // The store keeps only current state: an hour of history serves every watch
        // that reconnects after an outage.
        flag("auto-compaction-mode", &"periodic");
        flag("auto-compaction-retention", &"1h");
        flag("enable-v2", &"false");
        flag("logger", &"zap");
        flag("log-outputs", &"stderr");
        if let Some(tls) = &self.peer_tls {
            flag("peer-cert-file", &tls.cert);
            flag("peer-key-file", &tls.key);
            flag("peer-trusted-ca-file", &tls.ca);
            flag("peer-client-cert-auth", &"true");
            // A peer's certificate must be the federation CA's; etcd would also match its
            // names against the address the connection comes from, which behind NAT (a
            // container, a site's gateway) is not the peer's own, and refuse every peer.
            flag("experimental-peer-skip-client-san-verification", &"true");
            if self.client_url.starts_with("https://") {
                // The client port too takes only certificates of the federation's CA: no
                // other local user of the host can read or write the federation's state.
                flag("cert-file", &tls.cert);
                flag("key-file", &tls.key);
                flag("trusted-ca-file", &tls.ca);
                flag("client-cert-auth", &"true");
                if let Some(metrics) = self.metrics_url() {
                    flag("listen-metrics-urls", &metrics);
                }
            }
        }
        args
    }

    /// The spec saved at `path`; `None` when there is no file.
    pub fn load(path: &Path) -> Result<Option<MemberSpec>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
    }

    /// Writes the spec to `path` (JSON, 0644), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("a member spec serializes");
        json.push(b'\n');
        write_atomic(path, &json, 0o644)
    }
}

fn parse_url(what: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| Error::invalid(format!("{what} {text:?}: {e}")))?;
    if url.host().is_none() || url.port_or_known_default().is_none() {
        return Err(Error::invalid(format!(
            "{what} {text:?} needs a host and a port"
        )));
    }
    Ok(url)
}

fn same_url(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Where etcd listens for peers: the peer URL itself when its host is an IP address (etcd
/// binds only IPs), else the same scheme and port on every interface.
fn listen_peer_url(peer_url: &str) -> String {
    let Ok(url) = Url::parse(peer_url) else {
        return peer_url.to_owned();
    };
    match url.host() {
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => peer_url.to_owned(),
        _ => match url.port_or_known_default() {
            Some(port) => format!("{}://0.0.0.0:{port}", url.scheme()),
            None => peer_url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(peer_url: &str, tls: bool) -> MemberSpec {
        MemberSpec {
            name: "site-a".into(),
            client_url: "http://127.0.0.1:2379".into(),
            peer_url: peer_url.into(),
            initial_cluster: format!("site-a={peer_url},site-b=https://b.example:2380"),
            initial_state: InitialState::New,
            peer_tls: tls.then(|| PeerTls {
                cert: "/etc/mao/site.pem".into(),
                key: "/etc/mao/site.key".into(),
                ca: "/etc/mao/ca.pem".into(),
            }),
        }
    }

    #[test]
    fn an_https_client_url_takes_the_site_certificate_and_client_certificates_only() {
        let mut tls = spec("https://10.0.0.5:2380", true);
        tls.client_url = "https://127.0.0.1:2379".into();
        tls.validate().unwrap();
        let args = tls.args(Path::new("/d"));
        assert_eq!(
            value_of(&args, "--cert-file").as_deref(),
            Some("/etc/mao/site.pem")
        );
        assert_eq!(
            value_of(&args, "--key-file").as_deref(),
            Some("/etc/mao/site.key")
        );
        assert_eq!(
            value_of(&args, "--trusted-ca-file").as_deref(),
            Some("/etc/mao/ca.pem")
        );
        assert_eq!(
            value_of(&args, "--client-cert-auth").as_deref(),
            Some("true")
        );
        assert_eq!(
            value_of(&args, "--listen-metrics-urls").as_deref(),
            Some("http://127.0.0.1:2381")
        );
        // Plain client URL: none of it.
        let plain = spec("https://10.0.0.5:2380", true);
        assert_eq!(
            value_of(&plain.args(Path::new("/d")), "--client-cert-auth"),
            None
        );
        assert_eq!(plain.metrics_url(), None);
        // https without a certificate cannot be served.
        let mut bare = spec("http://10.0.0.5:2380", false);
        bare.client_url = "https://127.0.0.1:2379".into();
        assert!(bare
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no certificate"));
    }

    fn value_of(args: &[OsString], flag: &str) -> Option<String> {
        let prefix = format!("{flag}=");
        args.iter().find_map(|arg| {
            let arg = arg.to_string_lossy();
            arg.strip_prefix(&prefix).map(str::to_owned)
        })
    }

    /// Asserts that `args` carry each `(flag, value)`.
    fn assert_flags(args: &[OsString], expected: &[(&str, &str)]) {
        for (flag, value) in expected {
            assert_eq!(value_of(args, flag).as_deref(), Some(*value), "{flag}");
        }
    }

    #[test]
    fn the_command_line_names_every_url_and_the_tls_files() {
        let spec = spec("https://10.0.0.5:2380", true);
        spec.validate().unwrap();
        let args = spec.args(Path::new("/var/lib/mao/etcd"));
        assert_flags(
            &args,
            &[
                ("--name", "site-a"),
                ("--data-dir", "/var/lib/mao/etcd"),
                ("--listen-client-urls", "http://127.0.0.1:2379"),
                ("--advertise-client-urls", "http://127.0.0.1:2379"),
                ("--listen-peer-urls", "https://10.0.0.5:2380"),
                ("--initial-advertise-peer-urls", "https://10.0.0.5:2380"),
                ("--initial-cluster", &spec.initial_cluster),
                ("--initial-cluster-state", "new"),
                ("--initial-cluster-token", "mao"),
                ("--peer-cert-file", "/etc/mao/site.pem"),
                ("--peer-key-file", "/etc/mao/site.key"),
                ("--peer-trusted-ca-file", "/etc/mao/ca.pem"),
                ("--enable-v2", "false"),
            ],
        );
        assert!(args.iter().any(|a| a == "--peer-client-cert-auth=true"));
        assert!(args
            .iter()
            .any(|a| a == "--experimental-peer-skip-client-san-verification=true"));
    }

    #[test]
    fn a_peer_url_with_a_dns_name_listens_on_every_interface() {
        let mut joining = spec("https://a.example:2380", true);
        joining.initial_state = InitialState::Existing;
        assert_flags(
            &joining.args(Path::new("/d")),
            &[
                ("--listen-peer-urls", "https://0.0.0.0:2380"),
                ("--initial-advertise-peer-urls", "https://a.example:2380"),
                ("--initial-cluster-state", "existing"),
            ],
        );
        assert_flags(
            &spec("http://[::1]:2380", false).args(Path::new("/d")),
            &[("--listen-peer-urls", "http://[::1]:2380")],
        );
    }

    #[test]
    fn plain_peers_get_no_tls_flags() {
        let spec = spec("http://127.0.0.1:2380", false);
        spec.validate().unwrap();
        let args = spec.args(Path::new("/d"));
        assert!(!args
            .iter()
            .any(|a| a.to_string_lossy().starts_with("--peer-")));
    }

    #[test]
    fn tls_and_the_peer_scheme_must_agree() {
        let err = spec("http://10.0.0.5:2380", true).validate().unwrap_err();
        assert!(err.to_string().contains("use https://"), "{err}");
        let err = spec("https://10.0.0.5:2380", false).validate().unwrap_err();
        assert!(err.to_string().contains("no peer TLS"), "{err}");
        let err = spec("ftp://10.0.0.5:2380", false).validate().unwrap_err();
        assert!(err.to_string().contains("neither http nor https"), "{err}");
    }

    #[test]
    fn the_member_must_be_in_its_initial_cluster() {
        let mut spec = spec("https://10.0.0.5:2380", true);
        spec.initial_cluster = "site-b=https://b.example:2380".into();
        let err = spec.validate().unwrap_err();
        assert!(
            err.to_string().contains("does not list this member"),
            "{err}"
        );
        spec.initial_cluster = "site-a".into();
        let err = spec.validate().unwrap_err();
        assert!(err.to_string().contains("not name=peer-url"), "{err}");
        spec.initial_cluster = "site-a=https://10.0.0.5:2380".into();
        spec.name = "a,b".into();
        assert!(spec.validate().is_err());
        spec.name = "site-a".into();
        spec.client_url = "not a url".into();
        let err = spec.validate().unwrap_err();
        assert!(err.to_string().contains("client_url"), "{err}");
    }

    #[test]
    fn the_initial_state_is_lowercase_in_json() {
        let json = serde_json::to_value(spec("http://127.0.0.1:2380", false)).unwrap();
        assert_eq!(json["initial_state"], "new");
        let back: MemberSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec("http://127.0.0.1:2380", false));
    }
}
