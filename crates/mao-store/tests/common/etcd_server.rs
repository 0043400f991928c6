//! A throwaway single-member etcd for tests: `/usr/bin/etcd` on free loopback ports.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The etcd binary; `ETCD_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/bin/etcd";
/// How long etcd may take to elect itself and answer.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);
const NAME: &str = "mao-test";

/// A running (or stopped) etcd process with its own data dir, killed on drop.
pub struct EtcdServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdServer {
    /// Starts etcd in a fresh temp dir and waits until it answers; panics with the reason if not.
    pub fn start_new() -> EtcdServer {
        let bin = std::env::var_os("ETCD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
        if !bin.is_file() {
            panic!(
                "etcd binary {} not found: install etcd (Debian: apt-get install etcd-server) or set ETCD_BIN",
                bin.display()
            );
        }
        let dir = tempfile::tempdir().expect("cannot create a temp dir for etcd");
        // Both listeners stay bound until both ports are known, so the two differ.
        let client = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let peer = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let client_port = client.local_addr().expect("local addr").port();
        let peer_port = peer.local_addr().expect("local addr").port();
        drop((client, peer));
        let mut server = EtcdServer {
            bin,
            dir,
            client_port,
            peer_port,
            child: None,
        };
        server.start();
        server
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The file etcd logs to (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Kills etcd with SIGKILL; the data dir stays, so [`EtcdServer::start`] resumes it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd (again) on the same ports and data dir and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("cannot open the etcd log file");
        let log_err = log.try_clone().expect("cannot clone the etcd log file");
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(&self.bin)
            .arg("--name")
            .arg(NAME)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("{NAME}={peer_url}"))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg(format!("mao-test-{}", self.client_port))
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls `/health` until etcd has a leader, or panics with the end of its log.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_LIMIT;
        let mut last = String::from("not polled yet");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "etcd exited at startup ({status}); log tail:\n{}",
                        log_tail(&self.log_path())
                    );
                }
            }
            match health(self.client_port) {
                Ok(body) if body.contains("\"health\":\"true\"") => return,
                Ok(body) => last = format!("unhealthy: {body}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        panic!(
            "etcd did not become healthy within {}s (last: {last}); log tail:\n{}",
            STARTUP_LIMIT.as_secs(),
            log_tail(&self.log_path())
        );
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One plain HTTP/1.0 `GET /health` on the client port (etcd serves HTTP and gRPC there).
fn health(port: u16) -> std::io::Result<String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The last lines of the log, for panic messages.
fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Err(e) = File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        return format!("(cannot read {}: {e})", path.display());
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
