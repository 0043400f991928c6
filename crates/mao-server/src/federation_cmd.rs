//! `mao-orchestrator federation init|join|leave`: a site starts a federation, joins one
//! with one command, or leaves it. `init` and `join` write the site's configuration file
//! (`<data-dir>/mao.toml`) and its federation files, then run the daemon from that file
//! (unless `--no-start`); the daemon supervises the site's etcd member from then on.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use clap::{Args, Parser, Subcommand};
use mao_api::auth::Role;
use mao_api::federation::JoinRequest;
use mao_federation::ca::{fingerprint_of_pem, Ca, NodeKey};
use mao_federation::member::{InitialState, MemberSpec, PeerTls};
use mao_node::access::TokenFile;
use mao_store::cluster::Cluster;

use crate::config::managed_client_url;

/// The client URL of a federated site's member: loopback, and TLS with client certificates
/// of the federation's CA, so no other user of the host reaches the federation's state.
const FEDERATED_CLIENT_URL: &str = "https://127.0.0.1:2379";
use crate::managed::{etcd_data_dir, federation_dir, spec_path};

/// What `main` does next.
pub enum Outcome {
    /// Exit with this code.
    Exit(ExitCode),
    /// Run the daemon from this configuration file.
    Start(PathBuf),
}

/// A failure: its message, and whether it was a usage error (exit 2) or not (exit 1).
struct Failure {
    message: String,
    usage: bool,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            usage: true,
        }
    }
    fn failed(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            usage: false,
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::failed(e.to_string())
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "mao-orchestrator federation",
    bin_name = "mao-orchestrator federation",
    about = "Start a federation, join one, or leave it: each site runs its own etcd member, supervised by its daemon",
    after_help = "Examples:\n  mao-orchestrator federation init --node site-a --data-dir /var/lib/mao --advertise-url https://10.0.0.1:8443 --etcd-peer-url https://10.0.0.1:2380\n  mao-orchestrator federation join https://10.0.0.1:8443 --token TOKEN --node site-b --data-dir /var/lib/mao --advertise-url https://10.0.0.2:8443 --etcd-peer-url https://10.0.0.2:2380\n  mao-orchestrator federation leave --data-dir /var/lib/mao"
)]
struct FederationArgs {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a one-member federation: its CA, this site's certificate and etcd member,
    /// a join token (printed on stdout); then run the daemon.
    Init {
        #[command(flatten)]
        site: SiteArgs,
        /// How many sites the printed join token may add.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        join_uses: u32,
        /// How long the printed join token is accepted.
        #[arg(long, default_value = "24h", value_parser = mao_api::units::parse_duration)]
        join_expires_in: Duration,
        /// The federation's key prefix in etcd (joining sites take it from this site).
        #[arg(long, value_name = "PREFIX")]
        etcd_prefix: Option<String>,
    },
    /// Join the federation of the site at PEER (its API URL) with a join token; then run
    /// the daemon.
    Join {
        /// The API URL of a site of the federation that holds its CA (the one that ran init).
        peer: String,
        /// The join token `federation init` or `token create --role join` printed [env:
        /// MAO_JOIN_TOKEN]; it shows in `ps` while the daemon runs: prefer --token-file.
        #[arg(long)]
        token: Option<String>,
        /// A file holding the join token (keeps it out of `ps` and /proc/PID/cmdline).
        #[arg(long, value_name = "PATH", conflicts_with = "token")]
        token_file: Option<PathBuf>,
        /// Send the token to an http:// peer (only on a network you trust: anyone on the
        /// path could take it).
        #[arg(long)]
        allow_http: bool,
        /// The CA certificate (PEM) the peer's https:// certificate is checked against,
        /// for a token that carries no CA hash.
        #[arg(long, value_name = "PATH")]
        peer_ca: Option<PathBuf>,
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Remove this site's etcd member from the federation (the daemon must be stopped);
    /// afterwards the site runs alone on the embedded store.
    Leave {
        /// The site's data dir [default: $MAO_DATA_DIR, else ~/.local/share/mao-orchestrator].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The etcd binary [default: /usr/bin/etcd].
        #[arg(long, value_name = "PATH")]
        etcd_bin: Option<PathBuf>,
    },
}

/// What init and join both need to know about this site.
#[derive(Args, Debug)]
struct SiteArgs {
    /// This site's node name (also its etcd member's name).
    #[arg(long)]
    node: String,
    /// The site's data dir [default: $MAO_DATA_DIR, else ~/.local/share/mao-orchestrator].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The URL other sites reach this site's API at; https:// makes the API serve TLS with
    /// the certificate the federation issues.
    #[arg(long, value_name = "URL")]
    advertise_url: String,
    /// Where the API listens [default: 0.0.0.0 and the port of advertise_url].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Where this site's etcd member meets its peers: https://HOST:PORT.
    #[arg(long, value_name = "URL")]
    etcd_peer_url: String,
    /// Where the member serves this daemon: on loopback, TLS with this site's certificate
    /// (health and metrics in plain HTTP on the port + 2).
    #[arg(long, value_name = "URL", default_value = FEDERATED_CLIENT_URL)]
    etcd_client_url: String,
    /// The etcd binary [default: /usr/bin/etcd].
    #[arg(long, value_name = "PATH")]
    etcd_bin: Option<PathBuf>,
    /// Set the site up, but do not run the daemon (run it later with --config DIR/mao.toml).
    #[arg(long)]
    no_start: bool,
}

/// Runs `federation ...` (`args` starts with `federation`).
pub fn main(
    args: Vec<std::ffi::OsString>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Outcome {
    let args = match FederationArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let result = match args.command {
        Command::Init {
            site,
            join_uses,
            join_expires_in,
            etcd_prefix,
        } => init(site, join_uses, join_expires_in, etcd_prefix, env, home),
        Command::Join {
            peer,
            token,
            token_file,
            allow_http,
            peer_ca,
            site,
        } => match token_file {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| Failure::usage(format!("--token-file {}: {e}", path.display())))
                .and_then(|t| join(&peer, Some(t), allow_http, peer_ca, site, env, home)),
            None => {
                let token = token.or_else(|| env.get("MAO_JOIN_TOKEN").cloned());
                join(&peer, token, allow_http, peer_ca, site, env, home)
            }
        },
        Command::Leave { data_dir, etcd_bin } => {
            leave(data_dir, etcd_bin, env, home).map(|()| None)
        }
    };
    match result {
        Ok(Some(config)) => Outcome::Start(config),
        Ok(None) => Outcome::Exit(ExitCode::SUCCESS),
        Err(failure) => {
            eprintln!("mao-orchestrator: error: {}", failure.message);
            Outcome::Exit(ExitCode::from(if failure.usage { 2 } else { 1 }))
        }
    }
}

fn data_dir(
    given: Option<PathBuf>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<PathBuf, Failure> {
    crate::config::command_data_dir(given, env, home)
        .ok_or_else(|| Failure::usage("data_dir: no HOME to put the default in; pass --data-dir"))
}

/// The checked settings of a site that starts or joins a federation.
struct Site {
    node: String,
    data_dir: PathBuf,
    advertise_url: String,
    listen: SocketAddr,
    peer_url: String,
    client_url: String,
    etcd_bin: Option<PathBuf>,
    /// The hosts the site's certificate is for: its peer URL's and its API URL's.
    hosts: Vec<String>,
    tls_api: bool,
    no_start: bool,
}

fn site(
    args: SiteArgs,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<Site, Failure> {
    mao_api::validate::name("node", &args.node).map_err(|e| Failure::usage(e.to_string()))?;
    let data_dir = data_dir(args.data_dir, env, home)?;
    let api = url::Url::parse(&args.advertise_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--advertise-url {:?} is not http(s)://HOST:PORT",
                args.advertise_url
            ))
        })?;
    let peer = url::Url::parse(&args.etcd_peer_url)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some() && u.port().is_some())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--etcd-peer-url {:?} must be https://HOST:PORT: etcd peers talk TLS with the certificates the federation issues",
                args.etcd_peer_url
            ))
        })?;
    let client_url = managed_client_url(&args.etcd_client_url)
        .map_err(|m| Failure::usage(format!("--etcd-client-url {m}")))?;
    let port = api.port_or_known_default().unwrap_or(8080);
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port)));
    let host = |u: &url::Url| {
        u.host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned()
    };
    let mut hosts = vec![host(&peer)];
    if !hosts.contains(&host(&api)) {
        hosts.push(host(&api));
    }
    if spec_path(&data_dir).exists() || etcd_data_dir(&data_dir).exists() {
        return Err(Failure::failed(format!(
            "{} already holds an etcd member ({}): this site is set up; start it with `mao-orchestrator --config {}`, or leave the federation first",
            data_dir.display(),
            spec_path(&data_dir).display(),
            data_dir.join("mao.toml").display()
        )));
    }
    Ok(Site {
        node: args.node,
        data_dir,
        tls_api: api.scheme() == "https",
        advertise_url: args.advertise_url.trim_end_matches('/').to_owned(),
        listen,
        peer_url: args.etcd_peer_url.trim_end_matches('/').to_owned(),
        client_url,
        etcd_bin: args.etcd_bin,
        hosts,
        no_start: args.no_start,
    })
}

fn init(
    args: SiteArgs,
    join_uses: u32,
    join_expires_in: Duration,
    etcd_prefix: Option<String>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, Failure> {
    let limits = crate::token_cmd::limits(Role::Join, Some(join_expires_in), Some(join_uses))
        .map_err(|e| Failure::usage(e.replace("--expires-in", "--join-expires-in")))?;
    let site = site(args, env, home)?;
    check_config_writable(&site)?;
    if site.data_dir.join("store.redb").exists() {
        eprintln!(
            "note: {} holds an embedded store; this site keeps its state in etcd from now on (the embedded store's tools and datasets are not moved)",
            site.data_dir.display()
        );
    }
    let dir = federation_dir(&site.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca = Ca::create(&format!("mao federation CA ({})", site.node))?;
    ca.save(&dir)?;
    let key = NodeKey::generate()?;
    let cert = ca.issue(&site.node, &site.hosts, &key.public_key_raw())?;
    write_site_files(
        &site,
        &key,
        &format!("{cert}{}", ca.cert_pem()),
        ca.cert_pem(),
    )?;
    let config = write_config(&site, etcd_prefix.as_deref())?;
    // The member's spec last: it is what says the site is set up.
    MemberSpec {
        name: site.node.clone(),
        client_url: site.client_url.clone(),
        peer_url: site.peer_url.clone(),
        initial_cluster: format!("{}={}", site.node, site.peer_url),
        initial_state: InitialState::New,
        peer_tls: Some(peer_tls(&dir)),
    }
    .save(&spec_path(&site.data_dir))?;

    let name = format!(
        "join-{}-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        std::process::id()
    );
    let secret =
        TokenFile::in_data_dir(&site.data_dir).create_limited(&name, Role::Join, limits)?;
    let token = format!("{secret}.{}", ca.fingerprint());
    let _ = writeln!(std::io::stdout().lock(), "{token}");
    eprintln!(
        "federation started by {node}: CA {fp}\n  configuration: {config}\n  join token above ({name}{limits}); another site joins with:\n    mao-orchestrator federation join {url} --token TOKEN --node NAME --advertise-url URL --etcd-peer-url https://HOST:2380\n  an admin token for maoctl: mao-orchestrator token create admin --role admin --data-dir {dd}",
        node = site.node,
        fp = ca.fingerprint(),
        config = config.display(),
        limits = crate::token_cmd::describe(&limits),
        url = site.advertise_url,
        dd = site.data_dir.display(),
    );
    Ok((!site.no_start).then_some(config))
}

fn join(
    peer: &str,
    token: Option<String>,
    allow_http: bool,
    peer_ca: Option<PathBuf>,
    args: SiteArgs,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, Failure> {
    let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        Failure::usage("--token is needed: the join token `federation init` or `token create --role join` printed on the peer")
    })?;
    let (secret, pin) = split_token(token.trim())?;
    if peer_ca.is_some() && pin.is_none() {
        eprintln!("note: the token carries no CA hash: the peer is trusted by --peer-ca alone");
    }
    let peer_url = url::Url::parse(peer)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Failure::usage(format!(
                "{peer:?} is not the http(s):// URL of a site's API"
            ))
        })?;
    if peer_url.scheme() == "http" && !allow_http {
        return Err(Failure::usage(format!(
            "{peer} is http://: the join token would cross the network in the clear; use the peer's https:// URL (or --allow-http on a network you trust)"
        )));
    }
    let site = site(args, env, home)?;
    let options = mao_client::ClientOptions {
        token: Some(mao_client::Token::new(&secret).map_err(|e| Failure::usage(e.to_string()))?),
        ca_cert_pem: match &peer_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| Failure::usage(format!("--peer-ca {}: {e}", path.display())))?,
            ),
            None => None,
        },
        pinned_ca_sha256: if peer_ca.is_some() {
            None
        } else {
            pin.as_ref().map(|(bytes, _)| *bytes)
        },
    };
    let client = mao_client::Client::with_options(peer, options)
        .map_err(|e| Failure::usage(e.to_string()))?;
    // A peer that is not a mao-orchestrator is told apart before the token is sent.
    client.health().map_err(|e| match &e {
        mao_client::Error::Api { .. } | mao_client::Error::Decode { .. } => {
            Failure::failed(format!(
            "{peer} does not look like a mao-orchestrator API (GET /healthz: {e}): check the URL"
        ))
        }
        _ => Failure::failed(format!("cannot join through {peer}: {e}")),
    })?;
    if let (Some(_), Some((_, hex))) = (&peer_ca, &pin) {
        // Trusted by --peer-ca; the token's CA must still be the peer's, before it is sent.
        let pem = client
            .federation_ca()
            .map_err(|e| Failure::failed(format!("cannot read the peer's federation CA: {e}")))?;
        if &fingerprint_of_pem(&pem)? != hex {
            return Err(Failure::failed(format!(
                "the peer's federation CA is not the one the join token names ({hex}): this is not the federation the token was made for"
            )));
        }
    }
    // What can be written before the peer adds anything is written now: a data dir that
    // cannot take the files fails before a member exists for it.
    let dir = federation_dir(&site.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key = NodeKey::generate()?;
    key.save(&dir.join("node.key"))?;
    check_config_writable(&site)?;
    let request = JoinRequest {
        node: site.node.clone(),
        peer_url: site.peer_url.clone(),
        api_url: site.advertise_url.clone(),
        public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key_raw()),
    };
    let response = client.federation_join(&request).map_err(|e| match &e {
        mao_client::Error::Api { status: 401 | 403, message, .. } => Failure::failed(format!(
            "the peer refused the join token ({message}): ask its operator for a new one (`mao-orchestrator token create NAME --role join`)"
        )),
        mao_client::Error::Api { status: 404 | 405, .. } => Failure::failed(format!(
            "{peer} does not look like a mao-orchestrator API (it has no /api/v1/federation/join): check the URL"
        )),
        mao_client::Error::Api { message, .. } => {
            Failure::failed(format!("the peer did not add this site: {message}"))
        }
        mao_client::Error::Decode { .. } => Failure::failed(format!(
            "{peer} does not look like a mao-orchestrator API ({e})"
        )),
        _ => Failure::failed(format!("cannot join through {peer}: {e}")),
    })?;
    mao_node::failpoint::pause_blocking("join_after_answer");
    if let Some((_, hex)) = &pin {
        let got = fingerprint_of_pem(&response.ca_pem)?;
        if &got != hex {
            return Err(Failure::failed(format!(
                "the peer's federation CA ({got}) is not the one the join token names ({hex}): this is not the federation the token was made for; nothing was set up here (the peer added member {} for this site: remove it there)",
                response.member_id
            )));
        }
    }
    write_atomic(&dir.join("ca.pem"), &response.ca_pem)?;
    write_site_files(&site, &key, &response.cert_pem, &response.ca_pem)?;
    let config = write_config(&site, Some(&response.prefix))?;
    // The member's spec last: it is what says the site is set up.
    MemberSpec {
        name: site.node.clone(),
        client_url: site.client_url.clone(),
        peer_url: site.peer_url.clone(),
        initial_cluster: response.initial_cluster.clone(),
        initial_state: InitialState::Existing,
        peer_tls: Some(peer_tls(&dir)),
    }
    .save(&spec_path(&site.data_dir))?;
    eprintln!(
        "{node} was added to the federation as etcd member {id} (a learner until it caught up)\n  initial cluster: {cluster}\n  configuration: {config}",
        node = site.node,
        id = response.member_id,
        cluster = response.initial_cluster,
        config = config.display()
    );
    Ok((!site.no_start).then_some(config))
}

/// The CA hash a join token carries: its bytes and its hex.
type Pin = ([u8; 32], String);

/// `SECRET.CA_SHA256` (what `federation init` prints), or a bare secret.
fn split_token(token: &str) -> Result<(String, Option<Pin>), Failure> {
    let Some((secret, hex)) = token.rsplit_once('.') else {
        return Ok((token.to_owned(), None));
    };
    let bytes = (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| {
            (0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .flatten()
        .ok_or_else(|| {
            Failure::usage("the join token is malformed (expected the SECRET.CA_HASH that `federation init` printed)")
        })?;
    let mut pin = [0u8; 32];
    pin.copy_from_slice(&bytes);
    Ok((secret.to_owned(), Some((pin, hex.to_ascii_lowercase()))))
}

fn peer_tls(dir: &Path) -> PeerTls {
    PeerTls {
        cert: dir.join("node.pem"),
        key: dir.join("node.key"),
        ca: dir.join("ca.pem"),
    }
}

/// This site's key and certificate (chain: its certificate, then the CA), for its etcd
/// member's peer traffic and its HTTPS API.
fn write_site_files(site: &Site, key: &NodeKey, chain: &str, ca_pem: &str) -> Result<(), Failure> {
    let dir = federation_dir(&site.data_dir);
    key.save(&dir.join("node.key"))?;
    write_atomic(&dir.join("node.pem"), chain)?;
    if !dir.join("ca.pem").exists() {
        write_atomic(&dir.join("ca.pem"), ca_pem)?;
    }
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename: a crash leaves the old
/// file or the new one.
fn write_atomic(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))
}

/// The first line of a `mao.toml` the federation commands wrote (they may write it again).
const CONFIG_HEADER: &str = "# Written by `mao-orchestrator federation`";

/// A `mao.toml` of the operator's own is never overwritten.
fn check_config_writable(site: &Site) -> Result<(), Failure> {
    let path = site.data_dir.join("mao.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.starts_with(CONFIG_HEADER) => Err(Failure::failed(format!(
            "{} exists and was not written by `federation`: move it away (its keys can be added to the file this command writes, or given as flags)",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// `<data-dir>/mao.toml`: the daemon's configuration for this site (with the
/// federation's key prefix when it is not the default).
fn write_config(site: &Site, prefix: Option<&str>) -> Result<PathBuf, Failure> {
    check_config_writable(site)?;
    let path = site.data_dir.join("mao.toml");
    let dir = federation_dir(&site.data_dir);
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "{CONFIG_HEADER}; run this site with\n#   mao-orchestrator --config {path}\nnode = {node}\ndata_dir = {data_dir}\nlisten = {listen}\nadvertise_url = {advertise}\netcd_managed = true\netcd_client_url = {client}\netcd_peer_url = {peer}\n",
        path = path.display(),
        node = quote(&site.node),
        data_dir = quote(&site.data_dir.display().to_string()),
        listen = quote(&site.listen.to_string()),
        advertise = quote(&site.advertise_url),
        client = quote(&site.client_url),
        peer = quote(&site.peer_url),
    );
    if let Some(prefix) = prefix.filter(|p| *p != "/mao") {
        text.push_str(&format!("etcd_prefix = {}\n", quote(prefix)));
    }
    if let Some(bin) = &site.etcd_bin {
        text.push_str(&format!(
            "etcd_bin = {}\n",
            quote(&bin.display().to_string())
        ));
    }
    if site.tls_api {
        text.push_str(&format!(
            "tls_cert = {}\ntls_key = {}\n",
            quote(&dir.join("node.pem").display().to_string()),
            quote(&dir.join("node.key").display().to_string())
        ));
    }
    write_atomic(&path, &text)?;
    Ok(path)
}

fn leave(
    data_dir: Option<PathBuf>,
    etcd_bin: Option<PathBuf>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<(), Failure> {
    let data_dir = self::data_dir(data_dir, env, home)?;
    let spec = MemberSpec::load(&spec_path(&data_dir))?.ok_or_else(|| {
        Failure::failed(format!(
            "{} holds no etcd member ({} is missing): this site is in no federation",
            data_dir.display(),
            spec_path(&data_dir).display()
        ))
    })?;
    // The daemon holds its local store while it runs.
    let _local = mao_node::local::LocalStore::open(&data_dir.join("local.redb")).map_err(|e| {
        Failure::failed(format!(
            "the daemon of {} seems to be running ({e}): stop it first",
            data_dir.display()
        ))
    })?;
    let bin = etcd_bin.unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(async {
        let etcd = crate::managed::start(&data_dir, &bin, &spec).await?;
        let result = leave_with_member(&data_dir, &spec).await;
        etcd.stop(Duration::from_secs(10)).await;
        let (removed, remaining) = result?;
        let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
        let kept = data_dir.join(format!("etcd.left-{stamp}"));
        std::fs::rename(etcd_data_dir(&data_dir), &kept)
            .map_err(|e| format!("cannot move {}: {e}", etcd_data_dir(&data_dir).display()))?;
        std::fs::rename(spec_path(&data_dir), spec_path(&data_dir).with_extension(format!("json.left-{stamp}")))
            .map_err(|e| format!("cannot move {}: {e}", spec_path(&data_dir).display()))?;
        let config = data_dir.join("mao.toml");
        if let Ok(text) = std::fs::read_to_string(&config) {
            write_atomic(&config, &without_managed_keys(&text)?)?;
        }
        if federation_dir(&data_dir).join("ca.key").exists() {
            eprintln!(
                "warning: this site held the federation's CA ({}): unless another site has a copy (ca.pem, ca.key, ca.json), no site can admit new ones",
                federation_dir(&data_dir).display()
            );
        }
        eprintln!(
            "{} left the federation (etcd member {removed} removed; {remaining} remain). Its etcd data is kept in {}; `mao-orchestrator --config {}` now runs it alone on the embedded store",
            spec.name,
            kept.display(),
            config.display()
        );
        Ok::<(), Failure>(())
    })
}

async fn leave_with_member(data_dir: &Path, spec: &MemberSpec) -> Result<(String, usize), Failure> {
    let store = Arc::new(
        mao_store::etcd::EtcdStore::connect_with(mao_store::etcd::EtcdConfig {
            endpoints: vec![spec.client_url.clone()],
            tls: crate::managed::client_tls(spec)?,
            user: None,
        })
        .await?,
    );
    let cluster: Arc<dyn Cluster> = store.clone();
    // A learner (a site that never caught up) may leave too: only a leader is needed.
    let ready = tokio::time::timeout(
        Duration::from_secs(60),
        crate::managed::wait_ready(&cluster, false, std::future::pending()),
    )
    .await;
    if ready.is_err() {
        return Err(Failure::failed(
            "this site's etcd member did not reach the cluster's leader within 60 s: leaving needs a working cluster (if this site is gone for good, remove its member from another site: maoctl federation remove ID)",
        ));
    }
    let prefix = read_prefix(data_dir);
    let federation = mao_node::federation::Federation::new(
        spec.name.clone(),
        &prefix,
        store,
        cluster,
        federation_dir(data_dir),
        true,
    );
    Ok(federation.leave().await?)
}

/// A configuration without the managed member's keys (the site runs alone on the embedded
/// store afterwards); every other key is kept.
fn without_managed_keys(text: &str) -> Result<String, Failure> {
    let mut table: toml::Table = text.parse().map_err(|e| {
        Failure::failed(format!(
            "mao.toml cannot be read ({e}): remove its etcd_managed key by hand"
        ))
    })?;
    for key in [
        "etcd_managed",
        "etcd_client_url",
        "etcd_peer_url",
        "etcd_bin",
        "store",
    ] {
        table.remove(key);
    }
    let body = toml::to_string(&table).expect("a TOML table serialises");
    Ok(format!(
        "{CONFIG_HEADER}; this site left its federation and runs on the embedded store\n{body}"
    ))
}

/// The key prefix the site's configuration names, else the default.
fn read_prefix(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("mao.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("etcd_prefix")
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "/mao".to_owned())
}
