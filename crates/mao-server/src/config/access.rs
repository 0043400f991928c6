//! `auth`, `allowed_hosts`, `tls_*` and `http_*`: who may reach the API and how.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mao_api::units::parse_duration;

use super::error::{ConfigError, Origins};
use super::layer::trimmed;

/// Whether requests need a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Off when every listen address is loopback, required otherwise.
    Auto,
    Required,
    Off,
}

/// The access keys, as flags.
#[derive(clap::Args, Debug, Default)]
pub(super) struct AccessLayer {
    /// Whether requests need a token: auto (off on loopback, required otherwise), required, off [default: auto].
    #[arg(long, value_name = "auto|required|off", hide_possible_values = true)]
    pub auth: Option<AuthMode>,
    /// Host names the API answers to besides localhost, IP literals and the advertise URL's host, comma-separated.
    #[arg(long, value_name = "HOST[,HOST...]", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Time a client has to send a request's headers, and the longest wait for the next request on a kept-alive connection [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub http_header_timeout: Option<Duration>,
    /// A connection with no byte read or written for this long is closed [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub http_idle_timeout: Option<Duration>,
    /// Connections served at once; more wait to be accepted [default: 1024].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<usize>(t, "a whole number"))]
    pub http_max_connections: Option<usize>,
}

/// The resolved access settings.
#[derive(Clone, Debug)]
pub struct Access {
    /// Whether a token is required (`auto` decided).
    pub auth_required: bool,
    /// Host names accepted in the `Host` header, lowercase, without port.
    pub allowed_hosts: Vec<String>,
    pub tls: Option<TlsFiles>,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The certificate and key the API serves HTTPS with.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl AccessLayer {
    /// The access settings of a node listening on `listen` and advertised as `advertise_url`.
    pub(super) fn resolve(
        self,
        listen: SocketAddr,
        advertise_url: &str,
        origins: &Origins,
    ) -> Result<Access, ConfigError> {
        let loopback = listen.ip().is_loopback();
        let auth_required = match self.auth.unwrap_or(AuthMode::Auto) {
            AuthMode::Auto => !loopback,
            AuthMode::Required => true,
            AuthMode::Off if !loopback => {
                return Err(origins.bad(
                    "auth",
                    format!(
                        "off is refused when listening on {listen}, which is not loopback: use auth = required and create tokens with `mao-orchestrator token create`"
                    ),
                ))
            }
            AuthMode::Off => false,
        };

        let mut allowed_hosts = vec!["localhost".to_owned()];
        if let Some(host) = url::Url::parse(advertise_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        {
            allowed_hosts.push(host.trim_matches(['[', ']']).to_owned());
        }
        for host in self.allowed_hosts.unwrap_or_default() {
            let host = host.trim().to_ascii_lowercase();
            if host.is_empty() {
                continue;
            }
            let ok = host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
            if !ok {
                return Err(origins.bad(
                    "allowed_hosts",
                    format!("{host:?} is not a host name (letters, digits, '-', '.'; no port)"),
                ));
            }
            allowed_hosts.push(host);
        }
        allowed_hosts.sort();
        allowed_hosts.dedup();

        let tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                for (name, path) in [("tls_cert", &cert), ("tls_key", &key)] {
                    std::fs::File::open(path).map_err(|e| {
                        origins.bad(name, format!("cannot read {}: {e}", path.display()))
                    })?;
                }
                Some(TlsFiles { cert, key })
            }
            (Some(_), None) => return Err(origins.bad("tls_key", "is needed with tls_cert")),
            (None, Some(_)) => return Err(origins.bad("tls_cert", "is needed with tls_key")),
        };

        let header_timeout = self.http_header_timeout.unwrap_or(Duration::from_secs(10));
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&header_timeout) {
            return Err(origins.bad("http_header_timeout", "must be between 100ms and 10m"));
        }
        let idle_timeout = self.http_idle_timeout.unwrap_or(Duration::from_secs(300));
        if idle_timeout < header_timeout || idle_timeout > Duration::from_secs(24 * 3600) {
            return Err(origins.bad(
                "http_idle_timeout",
                "must be at least http_header_timeout and at most 24h",
            ));
        }
        let max_connections = self.http_max_connections.unwrap_or(1024);
        if !(1..=65_536).contains(&max_connections) {
            return Err(origins.bad("http_max_connections", "must be between 1 and 65536"));
        }
        Ok(Access {
            auth_required,
            allowed_hosts,
            tls,
            header_timeout,
            idle_timeout,
            max_connections,
        })
    }
}
