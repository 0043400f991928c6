//! A private `sshd` for tests: its own config, host key and authorized_keys, on a free
//! loopback port, running as the current user.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports::ClosedPort;
use crate::PORT_ATTEMPTS;

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd: its own config, host key and authorized_keys, on 127.0.0.1:<free port>,
/// running as the current user. Killed when dropped.
pub struct SshServer {
    /// Its config, keys and log.
    pub dir: TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The user it lets in: the one running the tests.
    pub user: String,
    child: Child,
    /// The key listed in authorized_keys.
    pub client_key: PathBuf,
    /// A key the server does not know.
    pub wrong_key: PathBuf,
    /// A known_hosts file listing the server's host key for [127.0.0.1]:port.
    pub known_hosts: PathBuf,
    /// Once stopped, the port is held closed: a client finds nobody, not another server.
    held: Option<ClosedPort>,
}

impl SshServer {
    /// Makes the keys and the config, starts sshd and waits until it accepts connections.
    pub fn start() -> SshServer {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install the openssh-server package (scripts/test.sh does) \
             to run the SSH tests"
        );
        let dir = tempfile::tempdir().unwrap();
        let keygen = |name: &str| {
            let path = dir.path().join(name);
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&path)
                .output()
                .expect("ssh-keygen is missing: install the openssh-client package");
            assert!(
                out.status.success(),
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            path
        };
        let host_key = keygen("host_key");
        let client_key = keygen("client_key");
        let wrong_key = keygen("wrong_key");
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();

        let user = current_user();
        let root = unsafe_geteuid() == 0;
        if root {
            // sshd started as root insists on its privilege separation directory.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let known_hosts = dir.path().join("known_hosts");
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut taken = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            // sshd binds its port itself, so a port can only be probed, not handed over:
            // when another process takes it in between, sshd exits and we try another.
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {host_key}\n\
                     PidFile {pid}\n\
                     AuthorizedKeysFile {keys}\n\
                     StrictModes no\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     PermitRootLogin prohibit-password\n\
                     AllowUsers {user}\n\
                     LogLevel VERBOSE\n",
                    host_key = host_key.display(),
                    pid = dir.path().join("sshd.pid").display(),
                    keys = dir.path().join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
            let child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
            let log_path = dir.path().join("sshd.log");
            match wait_ready(child, &log_path, port) {
                Ok(child) => {
                    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
                    return SshServer {
                        dir,
                        port,
                        user,
                        child,
                        client_key,
                        wrong_key,
                        known_hosts,
                        held: None,
                    };
                }
                Err(log) if log.contains("Address already in use") => taken.push(log),
                Err(log) => panic!("sshd exited before accepting connections:\n{log}"),
            }
        }
        panic!("sshd found its port taken {PORT_ATTEMPTS} times: {taken:?}");
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The `ssh://` URL of a repository at `path` on this server.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// Kills sshd; its port then refuses connections, and no other server takes it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.held.is_none() {
            let held = ClosedPort::hold(self.port)
                .unwrap_or_else(|e| panic!("cannot hold port {} closed: {e}", self.port));
            self.held = Some(held);
        }
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until our sshd says it listens and sends its banner; `Err(log)` when it exited
/// first, a panic with its log when it does neither in time.
fn wait_ready(mut child: Child, log_path: &Path, port: u16) -> Result<Child, String> {
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Another process on the port would send a banner too: the log says it is ours.
    let listening = format!("Server listening on 127.0.0.1 port {port}");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("sshd exited ({status}):\n{}", log()));
        }
        if log().contains(&listening) {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return Ok(child);
                }
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sshd did not answer on port {port}:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn unsafe_geteuid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("id");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
