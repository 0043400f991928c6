//! Node configuration: a TOML file, overridden by `MAO_*` environment variables, overridden
//! by command-line flags. Every value is checked before anything starts; a bad one stops
//! start-up with one line that names the key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// Which backend holds the shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Etcd,
}

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
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config key {key:?}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Command-line flags of `mao-orchestrator`; each also reads a `MAO_*` variable.
#[derive(Parser, Debug, Default)]
#[command(
    name = "mao-orchestrator",
    version,
    about = "The MAO orchestrator daemon: registries, membership and the HTTP API of one node",
    after_help = "Examples:\n  mao-orchestrator --data-dir ./mao-data\n  mao-orchestrator --store etcd --etcd-endpoints http://127.0.0.1:2379 --node site-a\n\nPrecedence: flags, then MAO_* variables, then the --config file, then defaults."
)]
pub struct Args {
    /// TOML configuration file.
    #[arg(long, env = "MAO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the HTTP API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "MAO_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// URL other nodes and clients use to reach this API [default: http://<listen>].
    #[arg(long, env = "MAO_ADVERTISE_URL", value_name = "URL")]
    pub advertise_url: Option<String>,
    /// Directory of the node's local state [default: ~/.local/share/mao-orchestrator].
    #[arg(long, env = "MAO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Name of this node in the federation [default: the host name].
    #[arg(long, env = "MAO_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// Shared-state backend: embedded (one node) or etcd (a federation) [default: embedded].
    #[arg(long, env = "MAO_STORE", value_name = "embedded|etcd")]
    pub store: Option<String>,
    /// etcd client URLs, comma-separated [default: http://127.0.0.1:2379].
    #[arg(long, env = "MAO_ETCD_ENDPOINTS", value_name = "URL[,URL...]")]
    pub etcd_endpoints: Option<String>,
    /// Key prefix of this federation in etcd [default: /mao].
    #[arg(long, env = "MAO_ETCD_PREFIX", value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
    /// Seconds a dead node stays listed before its membership expires [default: 10].
    #[arg(long, env = "MAO_MEMBERSHIP_TTL", value_name = "SECONDS")]
    pub membership_ttl: Option<String>,
    /// Log filter, e.g. info or mao_server=debug [default: info].
    #[arg(long, env = "MAO_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// The keys a config file may hold; unknown keys are refused so a typo is not ignored.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    advertise_url: Option<String>,
    data_dir: Option<PathBuf>,
    node: Option<String>,
    store: Option<String>,
    etcd_endpoints: Option<EndpointList>,
    etcd_prefix: Option<String>,
    membership_ttl: Option<u64>,
    log: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum EndpointList {
    One(String),
    Many(Vec<String>),
}

impl Config {
    /// Builds the configuration from flags (with their env fallbacks) and the file they name.
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| {
                    bad(
                        "config",
                        format!("{}: {}", path.display(), e.message().trim()),
                    )
                })?
            }
            None => FileConfig::default(),
        };

        let listen_text = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            bad(
                "listen",
                format!("{listen_text:?} is not ADDR:PORT, e.g. 127.0.0.1:8080"),
            )
        })?;

        let advertise_url = match args.advertise_url.or(file.advertise_url) {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
                    return Err(bad("advertise_url", format!("{u:?} is not an http(s) URL")));
                }
                u.trim_end_matches('/').to_owned()
            }
            None => format!("http://{listen}"),
        };

        let data_dir = match args.data_dir.or(file.data_dir) {
            Some(d) if d.as_os_str().is_empty() => {
                return Err(bad("data_dir", "must not be empty"))
            }
            Some(d) => d,
            None => default_data_dir()?,
        };

        let node = match args.node.or(file.node) {
            Some(n) => n,
            None => {
                let host = hostname::get().map_err(|e| {
                    bad(
                        "node",
                        format!("cannot read the host name ({e}); pass --node"),
                    )
                })?;
                host.to_string_lossy().to_lowercase()
            }
        };
        mao_api::validate::name("node", &node).map_err(|e| bad("node", e.message))?;

        let store = match args.store.or(file.store).as_deref() {
            None | Some("embedded") => StoreKind::Embedded,
            Some("etcd") => StoreKind::Etcd,
            Some(other) => {
                return Err(bad(
                    "store",
                    format!("{other:?} is not one of embedded, etcd"),
                ))
            }
        };

        let endpoints: Vec<String> = match (args.etcd_endpoints, file.etcd_endpoints) {
            (Some(flag), _) => split_list(&flag),
            (None, Some(EndpointList::One(s))) => split_list(&s),
            (None, Some(EndpointList::Many(v))) => v,
            (None, None) => vec!["http://127.0.0.1:2379".to_owned()],
        };
        if endpoints.is_empty() {
            return Err(bad("etcd_endpoints", "at least one URL is needed"));
        }
        for e in &endpoints {
            check_endpoint(e).map_err(|m| bad("etcd_endpoints", m))?;
        }

        let etcd_prefix = args
            .etcd_prefix
            .or(file.etcd_prefix)
            .unwrap_or_else(|| "/mao".to_owned());
        let prefix_ok = etcd_prefix.starts_with('/')
            && etcd_prefix.len() <= 128
            && !etcd_prefix.contains("..")
            && !etcd_prefix.contains("//")
            && etcd_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        if !prefix_ok {
            return Err(bad(
                "etcd_prefix",
                format!("{etcd_prefix:?} must start with '/' and hold only letters, digits, '/', '.', '_' and '-'"),
            ));
        }
        let etcd_prefix = etcd_prefix.trim_end_matches('/').to_owned();

        let ttl_secs = match args.membership_ttl {
            Some(t) => t.parse::<u64>().map_err(|_| {
                bad(
                    "membership_ttl",
                    format!("{t:?} is not a whole number of seconds"),
                )
            })?,
            None => file.membership_ttl.unwrap_or(10),
        };
        if !(2..=300).contains(&ttl_secs) {
            return Err(bad(
                "membership_ttl",
                format!("{ttl_secs} is outside 2..=300 seconds"),
            ));
        }

        let log = args.log.or(file.log).unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log)
            .map_err(|e| bad("log", format!("{log:?} is not a log filter ({e})")))?;

        Ok(Config {
            listen,
            advertise_url,
            data_dir,
            node,
            store,
            etcd_endpoints: endpoints,
            etcd_prefix,
            membership_ttl: Duration::from_secs(ttl_secs),
            log,
        })
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_endpoint(e: &str) -> Result<(), String> {
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or_else(|| format!("{e:?} must start with http:// or https://"))?;
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{e:?} needs a port, e.g. http://127.0.0.1:2379"))?;
    if host.is_empty() || authority.contains('/') || port.parse::<u16>().is_err() {
        return Err(format!("{e:?} is not http(s)://HOST:PORT"));
    }
    Ok(())
}

fn default_data_dir() -> Result<PathBuf, ConfigError> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("mao-orchestrator"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/mao-orchestrator")),
        None => Err(bad(
            "data_dir",
            "no HOME to put the default in; pass --data-dir",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Args {
        Args {
            node: Some("n1".into()),
            data_dir: Some("/tmp/x".into()),
            ..Args::default()
        }
    }

    #[test]
    fn defaults() {
        let c = Config::load(args()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.store, StoreKind::Embedded);
        assert_eq!(c.etcd_prefix, "/mao");
        assert_eq!(c.advertise_url, "http://127.0.0.1:8080");
        assert_eq!(c.membership_ttl, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: Vec<(Args, &str)> = vec![
            (
                Args {
                    listen: Some("nope".into()),
                    ..args()
                },
                "listen",
            ),
            (
                Args {
                    node: Some("Bad/Name".into()),
                    ..args()
                },
                "node",
            ),
            (
                Args {
                    store: Some("redis".into()),
                    ..args()
                },
                "store",
            ),
            (
                Args {
                    etcd_endpoints: Some("127.0.0.1:2379".into()),
                    ..args()
                },
                "etcd_endpoints",
            ),
            (
                Args {
                    etcd_prefix: Some("mao".into()),
                    ..args()
                },
                "etcd_prefix",
            ),
            (
                Args {
                    membership_ttl: Some("1".into()),
                    ..args()
                },
                "membership_ttl",
            ),
        ];
        for (a, key) in cases {
            let e = Config::load(a).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mao.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nstore = \"etcd\"\netcd_endpoints = [\"http://10.0.0.1:2379\"]\netcd_prefix = \"/fed/\"\n",
        )
        .unwrap();
        let c = Config::load(Args {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9001".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(c.listen.port(), 9001, "a flag beats the file");
        assert_eq!(c.store, StoreKind::Etcd);
        assert_eq!(c.etcd_endpoints, vec!["http://10.0.0.1:2379"]);
        assert_eq!(c.etcd_prefix, "/fed");

        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = Config::load(Args {
            config: Some(path),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.key, "config");
        assert!(e.message.contains("lisen"), "{e}");
    }
}
