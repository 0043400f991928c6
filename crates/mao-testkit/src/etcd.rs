//! A throwaway single-member etcd: `/usr/bin/etcd` on free loopback ports, plain or with
//! TLS (client certificates required) and etcd's own authentication.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::ports::ClosedPort;
use crate::tls::TestPki;
use crate::{log_tail, PORT_ATTEMPTS};

/// The etcd binary; `ETCD_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/bin/etcd";
/// How long etcd may take to elect itself and answer, on a loaded machine.
pub(crate) const STARTUP_LIMIT: Duration = Duration::from_secs(60);
const NAME: &str = "mao-test";
/// The etcdctl binary; `ETCDCTL_BIN` overrides it.
const DEFAULT_CTL_BIN: &str = "/usr/bin/etcdctl";

/// How a [`EtcdServer`] is started.
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// Serve clients over TLS only (`https://`), with a certificate of a CA of the test's
    /// own, and require a client certificate signed by it (`--client-cert-auth`).
    pub tls: bool,
    /// `--auth-token-ttl`: seconds an etcd auth token lives (etcd's default is 300).
    pub auth_token_ttl: Option<u64>,
}

/// A running (or stopped) etcd process with its own data dir, killed on drop.
pub struct EtcdServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    options: EtcdOptions,
    /// The certificates of a TLS server.
    pki: Option<TestPki>,
    /// `root`'s password once [`EtcdServer::enable_auth`] ran.
    root_password: Option<String>,
    /// While stopped, its ports are held closed, so that no other process takes them
    /// before the restart.
    held: Vec<ClosedPort>,
}

/// Why a start failed.
enum StartError {
    /// Another process took one of the ports between the probe and etcd's bind.
    PortTaken(String),
    Other(String),
}

impl EtcdServer {
    /// Starts etcd in a fresh temp dir and waits until it answers; panics with the reason if not.
    pub fn start_new() -> EtcdServer {
        EtcdServer::start_with(EtcdOptions::default())
    }

    /// Starts an etcd that serves clients over TLS only and requires a client certificate
    /// (see [`EtcdServer::pki`]).
    pub fn start_tls() -> EtcdServer {
        EtcdServer::start_with(EtcdOptions {
            tls: true,
            ..EtcdOptions::default()
        })
    }

    /// Starts etcd as `options` say, in a fresh temp dir, and waits until it answers.
    pub fn start_with(options: EtcdOptions) -> EtcdServer {
        let bin = etcd_bin();
        let dir = tempfile::tempdir().expect("cannot create a temp dir for etcd");
        let mut server = EtcdServer {
            bin,
            dir,
            client_port: 0,
            peer_port: 0,
            child: None,
            pki: options.tls.then(TestPki::new),
            options,
            root_password: None,
            held: Vec::new(),
        };
        let mut taken = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            // etcd binds its ports itself, so a port can only be probed, not handed over:
            // when another process takes one in between, etcd exits and we try others.
            let client = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
            let peer = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
            server.client_port = client.local_addr().expect("local addr").port();
            server.peer_port = peer.local_addr().expect("local addr").port();
            drop((client, peer));
            let _ = std::fs::remove_dir_all(server.dir.path().join("data"));
            match server.try_start() {
                Ok(()) => return server,
                Err(StartError::PortTaken(why)) => taken.push(why),
                Err(StartError::Other(why)) => panic!("{why}"),
            }
        }
        panic!("etcd found its ports taken {PORT_ATTEMPTS} times: {taken:?}");
    }

    /// The client URL, e.g. `http://127.0.0.1:40123` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.pki.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The member's name (`--name`).
    pub fn name(&self) -> &str {
        NAME
    }

    /// The peer URL, e.g. `http://127.0.0.1:40124`.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// A second member for this (plain) server's cluster, on ports of its own; see
    /// [`JoiningMember`].
    pub fn joining_member(&self, name: &str) -> JoiningMember {
        assert!(self.pki.is_none(), "a joining member has no TLS");
        let (client, peer) = (ClosedPort::new(), ClosedPort::new());
        JoiningMember {
            bin: self.bin.clone(),
            dir: tempfile::tempdir().expect("cannot create a temp dir for etcd"),
            name: name.to_owned(),
            token: format!("mao-test-{}", self.client_port),
            client_port: client.port(),
            peer_port: peer.port(),
            ports: Some((client, peer)),
            child: None,
        }
    }

    /// The CA and the client and server certificates of a TLS server; `None` without TLS.
    pub fn pki(&self) -> Option<&TestPki> {
        self.pki.as_ref()
    }

    /// Turns on etcd's authentication: creates the user `root` with `password` and runs
    /// `auth enable`. From then on every request needs a user (or a token).
    pub fn enable_auth(&mut self, password: &str) {
        self.etcdctl_ok(&["user", "add", &format!("root:{password}")]);
        self.etcdctl_ok(&["auth", "enable"]);
        self.root_password = Some(password.to_owned());
    }

    /// Runs `etcdctl` against this server, with its certificates and, once auth is on,
    /// as `root`; returns what it printed.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let bin = etcdctl_bin();
        let mut command = Command::new(&bin);
        command
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(self.endpoint())
            .arg("--command-timeout=5s")
            .arg("--dial-timeout=2s");
        if let Some(pki) = &self.pki {
            command
                .arg("--cacert")
                .arg(pki.ca())
                .arg("--cert")
                .arg(pki.client_cert())
                .arg("--key")
                .arg(pki.client_key());
        }
        if let Some(password) = &self.root_password {
            command.arg("--user").arg(format!("root:{password}"));
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    }

    /// [`EtcdServer::etcdctl`] that must succeed; returns its standard output.
    pub fn etcdctl_ok(&self, args: &[&str]) -> String {
        let output = self.etcdctl(args);
        assert!(
            output.status.success(),
            "etcdctl {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The file etcd logs to (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Kills etcd with SIGKILL; the data dir stays, so [`EtcdServer::start`] resumes it.
    /// Until then its ports refuse connections and are taken by nobody else.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.held = [self.client_port, self.peer_port]
                .into_iter()
                .filter_map(|port| ClosedPort::hold(port).ok())
                .collect();
        }
    }

    /// Starts etcd again on the same ports and data dir and waits until it answers.
    pub fn start(&mut self) {
        match self.try_start() {
            Ok(()) => {}
            Err(StartError::PortTaken(why) | StartError::Other(why)) => panic!("{why}"),
        }
    }

    fn try_start(&mut self) -> Result<(), StartError> {
        assert!(self.child.is_none(), "etcd is already running");
        self.held.clear();
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new(&self.bin);
        if let Some(pki) = &self.pki {
            command
                .arg("--cert-file")
                .arg(pki.server_cert())
                .arg("--key-file")
                .arg(pki.server_key())
                .arg("--client-cert-auth")
                .arg("--trusted-ca-file")
                .arg(pki.ca());
        }
        if let Some(ttl) = self.options.auth_token_ttl {
            command.arg(format!("--auth-token-ttl={ttl}"));
        }
        let child = MemberSpec {
            name: NAME,
            data_dir: &self.dir.path().join("data"),
            client_url: &client_url,
            peer_url: &peer_url,
            initial_cluster: &format!("{NAME}={peer_url}"),
            existing: false,
            token: &format!("mao-test-{}", self.client_port),
            log: &self.log_path(),
        }
        .spawn(command);
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls `/health` until etcd has a leader.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_LIMIT;
        let mut last = String::from("not polled yet");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    let tail = log_tail(&self.log_path(), 30);
                    let why = format!("etcd exited at startup ({status}); log tail:\n{tail}");
                    return Err(if tail.contains("address already in use") {
                        StartError::PortTaken(why)
                    } else {
                        StartError::Other(why)
                    });
                }
            }
            if self.pki.is_some() {
                // Only a client with our certificates gets an answer, and only our etcd
                // has a server certificate of our fresh CA: an answer is from ours.
                let output = self.etcdctl(&["endpoint", "health"]);
                if output.status.success() {
                    return Ok(());
                }
                last = String::from_utf8_lossy(&output.stderr).trim().to_owned();
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
            match healthy_member(self.client_port, &peer_url) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        Err(StartError::Other(format!(
            "etcd did not become healthy within {}s (last: {last}); log tail:\n{}",
            STARTUP_LIMIT.as_secs(),
            log_tail(&self.log_path(), 30)
        )))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A member that joins a running cluster: its ports are reserved first, so that its peer
/// URL can be added to the cluster (MemberAdd) before it runs, then
/// [`JoiningMember::start`] runs it with `--initial-cluster-state existing`. Killed on drop.
pub struct JoiningMember {
    bin: PathBuf,
    dir: tempfile::TempDir,
    name: String,
    token: String,
    /// Held closed until the start, so that no other process takes them meanwhile.
    ports: Option<(ClosedPort, ClosedPort)>,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl JoiningMember {
    /// Its client URL, e.g. `http://127.0.0.1:40125`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Its peer URL, to add to the cluster before [`JoiningMember::start`].
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// Its name (`--name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file etcd logs to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Runs it as a member of the cluster `initial_cluster` (`name=peer-url` of every
    /// member, this one's included) and waits until its client port accepts connections;
    /// panics with its log when it exits first. It answers requests only once it joined.
    pub fn start(&mut self, initial_cluster: &str) {
        assert!(self.child.is_none(), "the joining member already runs");
        // etcd binds the ports itself.
        self.ports = None;
        let child = MemberSpec {
            name: &self.name,
            data_dir: &self.dir.path().join("data"),
            client_url: &self.endpoint(),
            peer_url: &self.peer_url(),
            initial_cluster,
            existing: true,
            token: &self.token,
            log: &self.log_path(),
        }
        .spawn(Command::new(&self.bin));
        let child = self.child.insert(child);
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "joining etcd member {} exited at startup ({status}); log tail:\n{}",
                    self.name,
                    log_tail(&self.log_path(), 30)
                );
            }
            let addr = ([127, 0, 0, 1], self.client_port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "joining etcd member {} did not listen within {}s; log tail:\n{}",
                self.name,
                STARTUP_LIMIT.as_secs(),
                log_tail(&self.log_path(), 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for JoiningMember {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One etcd member as the tests start it: where it listens and which cluster it forms.
pub(crate) struct MemberSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) data_dir: &'a Path,
    pub(crate) client_url: &'a str,
    pub(crate) peer_url: &'a str,
    /// `name=peer-url` of every member, comma-separated.
    pub(crate) initial_cluster: &'a str,
    /// Joins a running cluster (`--initial-cluster-state existing`, after a MemberAdd)
    /// instead of forming a new one.
    pub(crate) existing: bool,
    pub(crate) token: &'a str,
    /// The file its output is appended to.
    pub(crate) log: &'a Path,
}

impl MemberSpec<'_> {
    /// Starts `command` (the etcd binary, maybe behind `ip netns exec`, maybe with TLS
    /// flags already) as this member; panics if it cannot be run.
    pub(crate) fn spawn(&self, mut command: Command) -> Child {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log)
            .unwrap_or_else(|e| panic!("cannot open the etcd log {}: {e}", self.log.display()));
        let log_err = log.try_clone().expect("cannot clone the etcd log file");
        command
            .arg("--name")
            .arg(self.name)
            .arg("--data-dir")
            .arg(self.data_dir)
            .arg("--listen-client-urls")
            .arg(self.client_url)
            .arg("--advertise-client-urls")
            .arg(self.client_url)
            .arg("--listen-peer-urls")
            .arg(self.peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(self.peer_url)
            .arg("--initial-cluster")
            .arg(self.initial_cluster)
            // Ignored once the data dir holds the member (a restart).
            .arg("--initial-cluster-state")
            .arg(if self.existing { "existing" } else { "new" })
            .arg("--initial-cluster-token")
            .arg(self.token)
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run etcd member {}: {e}", self.name))
    }
}

/// The etcd binary (`ETCD_BIN` or Debian's); panics with what to install when it is missing.
pub fn etcd_bin() -> PathBuf {
    let bin = std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
    if !bin.is_file() {
        panic!(
            "etcd binary {} not found: install etcd (Debian: apt-get install etcd-server) or set ETCD_BIN",
            bin.display()
        );
    }
    bin
}

/// The etcdctl binary (`ETCDCTL_BIN` or Debian's).
pub fn etcdctl_bin() -> PathBuf {
    std::env::var_os("ETCDCTL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CTL_BIN))
}

/// Whether the etcd on `port` is healthy and is the member with `peer_url` (the port may
/// have been taken by another test's etcd, which would answer just as well); why not.
pub fn healthy_member(port: u16, peer_url: &str) -> Result<(), String> {
    match request(port, "GET", "/health", "") {
        Ok(body) if body.contains("\"health\":\"true\"") => {
            match request(port, "POST", "/v3/cluster/member/list", "{}") {
                Ok(members) if members.contains(peer_url) => Ok(()),
                Ok(members) => Err(format!("not our etcd: {members}")),
                Err(e) => Err(e.to_string()),
            }
        }
        Ok(body) => Err(format!("unhealthy: {body}")),
        Err(e) => Err(e.to_string()),
    }
}

/// One plain HTTP/1.0 request on the client port (etcd serves HTTP and gRPC there).
pub(crate) fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}
