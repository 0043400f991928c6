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
    pub runs: mao_node::executor::RunSettings,
    pub git: GitSettings,
    /// Where this node delivers its notifications.
    pub sinks: Vec<mao_notify::SinkConfig>,
}

pub use mao_node::{GitSettings, Secret};

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
    /// Default wall-clock limit of a run [default: 1h].
    #[arg(long, env = "MAO_RUN_TIMEOUT", value_name = "DURATION")]
    pub run_timeout: Option<String>,
    /// Default memory limit of a run, e.g. 1g [default: none].
    #[arg(long, env = "MAO_RUN_MEMORY", value_name = "SIZE")]
    pub run_memory: Option<String>,
    /// Default CPU limit of a run, e.g. 1.5 [default: none].
    #[arg(long, env = "MAO_RUN_CPUS", value_name = "CPUS")]
    pub run_cpus: Option<String>,
    /// Default process limit of a run [default: 1024].
    #[arg(long, env = "MAO_RUN_PIDS", value_name = "N")]
    pub run_pids: Option<String>,
    /// Log bytes kept per run; the rest is dropped after a marker [default: 16m].
    #[arg(long, env = "MAO_RUN_LOG_CAP", value_name = "SIZE")]
    pub run_log_cap: Option<String>,
    /// Finished runs kept per tool, with their logs [default: 50].
    #[arg(long, env = "MAO_RUN_RETENTION", value_name = "N")]
    pub run_retention: Option<String>,
    /// Runs executing at once; more wait queued [default: 8].
    #[arg(long, env = "MAO_MAX_CONCURRENT_RUNS", value_name = "N")]
    pub max_concurrent_runs: Option<String>,
    /// Let tools that ask for it have the Docker socket [default: false].
    #[arg(long, env = "MAO_ALLOW_DOCKER_SOCKET", value_name = "true|false")]
    pub allow_docker_socket: Option<String>,
    /// Author name of the node's commits to datasets [default: the node name].
    #[arg(long, env = "MAO_GIT_NAME", value_name = "NAME")]
    pub git_name: Option<String>,
    /// Author email of the node's commits [default: <node>@localhost].
    #[arg(long, env = "MAO_GIT_EMAIL", value_name = "EMAIL")]
    pub git_email: Option<String>,
    /// Private SSH key for ssh:// and git@host:path remotes [default: the SSH agent].
    #[arg(long, env = "MAO_GIT_SSH_KEY", value_name = "PATH")]
    pub git_ssh_key: Option<PathBuf>,
    /// known_hosts file SSH remotes must be listed in [default: ~/.ssh/known_hosts].
    #[arg(long, env = "MAO_GIT_KNOWN_HOSTS", value_name = "PATH")]
    pub git_known_hosts: Option<PathBuf>,
    /// Token for https:// remotes. Prefer the variable or the file: a flag shows in `ps`.
    #[arg(
        long,
        env = "MAO_GIT_HTTPS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub git_https_token: Option<String>,
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
    run_timeout: Option<String>,
    run_memory: Option<String>,
    run_cpus: Option<f64>,
    run_pids: Option<i64>,
    run_log_cap: Option<String>,
    run_retention: Option<usize>,
    max_concurrent_runs: Option<usize>,
    allow_docker_socket: Option<bool>,
    git_name: Option<String>,
    git_email: Option<String>,
    git_ssh_key: Option<PathBuf>,
    git_known_hosts: Option<PathBuf>,
    git_https_token: Option<String>,
    /// `NAME = "value"` pairs that pipeline steps refer to as `{{ secret:NAME }}`.
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
    /// The node's default detector (`[detector]`).
    detector: Option<mao_api::DetectorSpec>,
    /// Notification sinks (`[[sinks]]`).
    #[serde(default)]
    sinks: Vec<mao_notify::SinkConfig>,
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
        let args_runs = RunArgs {
            timeout: args.run_timeout.clone(),
            memory: args.run_memory.clone(),
            cpus: args.run_cpus.clone(),
            pids: args.run_pids.clone(),
            log_cap: args.run_log_cap.clone(),
            retention: args.run_retention.clone(),
            max_concurrent: args.max_concurrent_runs.clone(),
            allow_docker_socket: args.allow_docker_socket.clone(),
        };
        let mut file = match &args.config {
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
        let runs = run_settings(&args_runs, &file)?;
        let file_git = GitArgs {
            name: file.git_name.take(),
            email: file.git_email.take(),
            ssh_key: file.git_ssh_key.take(),
            known_hosts: file.git_known_hosts.take(),
            https_token: file.git_https_token.take(),
        };
        let file_secrets = std::mem::take(&mut file.secrets);
        let sinks = std::mem::take(&mut file.sinks);
        let mut names = std::collections::BTreeSet::new();
        for sink in &sinks {
            sink.validate()
                .map_err(|m| bad("sinks", format!("sink {:?}: {m}", sink.name)))?;
            if !names.insert(sink.name.clone()) {
                return Err(bad("sinks", format!("two sinks are named {:?}", sink.name)));
            }
        }
        let mut runs = runs;
        if let Some(d) = file.detector.take() {
            d.validate().map_err(|m| bad("detector", m))?;
            runs.detector = d;
        }

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

        let git = git_settings(
            &node,
            GitArgs {
                name: args.git_name,
                email: args.git_email,
                ssh_key: args.git_ssh_key,
                known_hosts: args.git_known_hosts,
                https_token: args.git_https_token,
            },
            file_git,
            file_secrets,
        )?;

        let log = args.log.or(file.log).unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log)
            .map_err(|e| bad("log", format!("{log:?} is not a log filter ({e})")))?;

        Ok(Config {
            runs,
            git,
            sinks,
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

struct GitArgs {
    name: Option<String>,
    email: Option<String>,
    ssh_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    https_token: Option<String>,
}

fn git_settings(
    node: &str,
    args: GitArgs,
    file: GitArgs,
    file_secrets: std::collections::BTreeMap<String, String>,
) -> Result<GitSettings, ConfigError> {
    let name = args.name.or(file.name).unwrap_or_else(|| node.to_owned());
    if name.trim().is_empty() || name.contains(['<', '>', '\n']) {
        return Err(bad(
            "git_name",
            format!("{name:?} cannot name a commit author"),
        ));
    }
    let email = args
        .email
        .or(file.email)
        .unwrap_or_else(|| format!("{node}@localhost"));
    if !email.contains('@') || email.contains(['<', '>', ' ', '\n']) {
        return Err(bad(
            "git_email",
            format!("{email:?} is not an email address"),
        ));
    }
    let ssh_key = args.ssh_key.or(file.ssh_key);
    if let Some(k) = &ssh_key {
        std::fs::File::open(k)
            .map_err(|e| bad("git_ssh_key", format!("cannot read {}: {e}", k.display())))?;
    }
    let known_hosts = args.known_hosts.or(file.known_hosts);
    if let Some(k) = &known_hosts {
        std::fs::File::open(k).map_err(|e| {
            bad(
                "git_known_hosts",
                format!("cannot read {}: {e}", k.display()),
            )
        })?;
    }
    let https_token = args
        .https_token
        .or(file.https_token)
        .filter(|t| !t.is_empty());
    let mut secrets = std::collections::BTreeMap::new();
    for (k, v) in &file_secrets {
        let ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !ok {
            return Err(bad(
                "secrets",
                format!("{k:?} is not a secret name (letters, digits, '_', '-', '.')"),
            ));
        }
        secrets.insert(k.clone(), Secret(v.clone()));
    }
    Ok(GitSettings {
        credentials: mao_datasets::Credentials {
            name,
            email,
            ssh_key,
            known_hosts,
            https_token,
        },
        secrets,
    })
}

struct RunArgs {
    timeout: Option<String>,
    memory: Option<String>,
    cpus: Option<String>,
    pids: Option<String>,
    log_cap: Option<String>,
    retention: Option<String>,
    max_concurrent: Option<String>,
    allow_docker_socket: Option<String>,
}

fn parse_flag<T: std::str::FromStr>(
    key: &'static str,
    flag: Option<String>,
    file: Option<T>,
    what: &str,
) -> Result<Option<T>, ConfigError> {
    match flag {
        Some(text) => text
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| bad(key, format!("{text:?} is not {what}"))),
        None => Ok(file),
    }
}

fn run_settings(
    args: &RunArgs,
    file: &FileConfig,
) -> Result<mao_node::executor::RunSettings, ConfigError> {
    use mao_api::units::parse_size;
    let defaults = mao_node::executor::RunSettings::default();
    let limits = mao_api::RunLimits {
        timeout: args
            .timeout
            .clone()
            .or_else(|| file.run_timeout.clone())
            .or(defaults.limits.timeout),
        memory: args
            .memory
            .clone()
            .or_else(|| file.run_memory.clone())
            .or(defaults.limits.memory),
        cpus: parse_flag(
            "run_cpus",
            args.cpus.clone(),
            file.run_cpus,
            "a number of CPUs",
        )?
        .or(defaults.limits.cpus),
        pids: parse_flag(
            "run_pids",
            args.pids.clone(),
            file.run_pids,
            "a whole number",
        )?
        .or(defaults.limits.pids),
    };
    if let Err(e) = limits.validate() {
        let key = match e.field.as_str() {
            "timeout" => "run_timeout",
            "memory" => "run_memory",
            "cpus" => "run_cpus",
            _ => "run_pids",
        };
        return Err(bad(key, e.message));
    }
    let log_cap = match args.log_cap.clone().or_else(|| file.run_log_cap.clone()) {
        Some(text) => parse_size(&text).map_err(|m| bad("run_log_cap", m))?,
        None => defaults.log_cap,
    };
    if log_cap < 1024 {
        return Err(bad("run_log_cap", "must be at least 1k"));
    }
    let retention = parse_flag(
        "run_retention",
        args.retention.clone(),
        file.run_retention,
        "a whole number",
    )?
    .unwrap_or(defaults.retention);
    if retention == 0 {
        return Err(bad("run_retention", "must keep at least 1 run"));
    }
    let max_concurrent = parse_flag(
        "max_concurrent_runs",
        args.max_concurrent.clone(),
        file.max_concurrent_runs,
        "a whole number",
    )?
    .unwrap_or(defaults.max_concurrent);
    if !(1..=1024).contains(&max_concurrent) {
        return Err(bad("max_concurrent_runs", "must be between 1 and 1024"));
    }
    let allow_docker_socket = parse_flag(
        "allow_docker_socket",
        args.allow_docker_socket.clone(),
        file.allow_docker_socket,
        "true or false",
    )?
    .unwrap_or(defaults.allow_docker_socket);
    Ok(mao_node::executor::RunSettings {
        limits,
        log_cap,
        retention,
        max_concurrent,
        allow_docker_socket,
        run_as_node_user: defaults.run_as_node_user,
        detector: defaults.detector,
    })
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

    #[test]
    fn git_identity_keys_and_secrets() {
        let c = Config::load(args()).unwrap();
        assert_eq!(c.git.credentials.name, "n1");
        assert_eq!(c.git.credentials.email, "n1@localhost");
        assert!(c.git.secrets.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mao.toml");
        std::fs::write(
            &path,
            "git_name = \"Site A\"\ngit_https_token = \"tok-123\"\n[secrets]\nAPI_KEY = \"s3cr3t\"\n",
        )
        .unwrap();
        let c = Config::load(Args {
            config: Some(path.clone()),
            git_email: Some("a@example.org".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(c.git.credentials.name, "Site A");
        assert_eq!(c.git.credentials.email, "a@example.org");
        assert_eq!(c.git.secrets["API_KEY"].0, "s3cr3t");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("tok-123"),
            "{shown}"
        );

        let e = Config::load(Args {
            git_ssh_key: Some(dir.path().join("missing-key")),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.key, "git_ssh_key", "{e}");
        let e = Config::load(Args {
            git_email: Some("nope".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.key, "git_email", "{e}");
        std::fs::write(&path, "[secrets]\n\"a b\" = \"x\"\n").unwrap();
        let e = Config::load(Args {
            config: Some(path),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.key, "secrets", "{e}");
    }
}
