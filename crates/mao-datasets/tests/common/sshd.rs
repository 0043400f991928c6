//! A private `sshd` for tests: its own config, host key and authorized_keys, on a free
//! loopback port, running as the current user. Used by the SSH tests of mao-datasets and
//! by the daemon's end-to-end tests (included with `#[path]`).
#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd: its own config, host key and authorized_keys, on 127.0.0.1:<free port>,
/// running as the current user. Killed when dropped.
pub struct SshServer {
    pub dir: TempDir,
    pub port: u16,
    pub user: String,
    pub child: Child,
    /// The key listed in authorized_keys.
    pub client_key: PathBuf,
    /// A key the server does not know.
    pub wrong_key: PathBuf,
    /// A known_hosts file listing the server's host key for [127.0.0.1]:port.
    pub known_hosts: PathBuf,
}

impl SshServer {
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

        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();

        let mut server = SshServer {
            dir,
            port,
            user,
            child,
            client_key,
            wrong_key,
            known_hosts,
        };
        server.wait_ready();
        server
    }

    /// Waits for the SSH banner; fails loudly with sshd's log when it does not come.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "sshd exited ({status}) before accepting connections:\n{}",
                    self.log()
                );
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not answer on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
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
