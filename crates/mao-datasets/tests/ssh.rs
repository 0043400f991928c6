//! The dataset operations over SSH, against a real `sshd` each test starts on a loopback
//! port, with keys made by `ssh-keygen`. Needs the `openssh-server` and `openssh-client`
//! packages (scripts/test.sh installs them); without them the tests fail and say so.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{git, Remote};
use mao_datasets::{clone_dataset, Credentials, Error, MergeOutcome};
use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd: its own config, host key and authorized_keys, on 127.0.0.1:<free port>,
/// running as the current user. Killed when dropped.
struct SshServer {
    dir: TempDir,
    port: u16,
    user: String,
    child: Child,
    /// The key listed in authorized_keys.
    client_key: PathBuf,
    /// A key the server does not know.
    wrong_key: PathBuf,
    /// A known_hosts file listing the server's host key for [127.0.0.1]:port.
    known_hosts: PathBuf,
}

impl SshServer {
    fn start() -> SshServer {
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
    fn wait_ready(&mut self) {
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

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    fn creds(&self, node: &str) -> Credentials {
        Credentials {
            ssh_key: Some(self.client_key.clone()),
            known_hosts: Some(self.known_hosts.clone()),
            ..common::creds(node)
        }
    }

    fn stop(&mut self) {
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

#[test]
fn clone_node_branch_commit_push_and_merge_over_ssh() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = server.creds("node-a");
    let dir = tempfile::tempdir().unwrap();

    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("clone"), &creds)
        .unwrap_or_else(|e| panic!("clone over ssh: {e}\nsshd log:\n{}", server.log()));
    let setup = repo.ensure_node_branch("node-a", &creds).unwrap();
    assert!(setup.created_from_default && setup.pushed);
    assert!(!repo.ensure_node_branch("node-a", &creds).unwrap().changed());

    for run in 1..=3 {
        std::fs::write(repo.workdir().join("control-1.csv"), format!("{run}\n")).unwrap();
        repo.commit_all(&format!("run {run}"), &creds)
            .unwrap()
            .unwrap();
        repo.push("node-a", &creds).unwrap();
    }
    assert_eq!(
        remote.subjects("node-a"),
        ["run 3", "run 2", "run 1", "initial commit"]
    );
    let merged = repo.merge_into_ground_truth("node-a", &creds).unwrap();
    assert!(matches!(merged, MergeOutcome::Created { .. }), "{merged:?}");
    assert_eq!(remote.rev("ground-truth"), remote.rev("node-a"));
    assert!(
        server.log().contains("Accepted publickey"),
        "{}",
        server.log()
    );
}

#[test]
fn a_key_the_server_does_not_know_is_an_auth_error() {
    let server = SshServer::start();
    let remote = Remote::new();
    let wrong = Credentials {
        ssh_key: Some(server.wrong_key.clone()),
        ..server.creds("node-a")
    };
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("clone");
    let err = clone_dataset(&server.url(&remote.path), &dest, &wrong).unwrap_err();
    assert!(
        matches!(err, Error::Auth { .. }),
        "{err:?}\nsshd log:\n{}",
        server.log()
    );
    assert!(!err.is_retryable());
    assert!(!dest.exists());

    // A clone made with the right key, pushing with the wrong one.
    let repo = clone_dataset(&server.url(&remote.path), &dest, &server.creds("node-a")).unwrap();
    repo.ensure_node_branch("node-a", &server.creds("node-a"))
        .unwrap();
    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &wrong).unwrap().unwrap();
    let err = repo.push("node-a", &wrong).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("not accepted"), "{err}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
}

#[test]
fn a_missing_key_file_is_a_configuration_error() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = Credentials {
        ssh_key: Some(server.dir.path().join("no-such-key")),
        ..server.creds("node-a")
    };
    let dir = tempfile::tempdir().unwrap();
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[test]
fn an_unknown_or_changed_host_key_is_refused() {
    let server = SshServer::start();
    let remote = Remote::new();
    let dir = tempfile::tempdir().unwrap();

    // known_hosts lists another key for this host and port.
    let other = std::fs::read_to_string(server.wrong_key.with_extension("pub")).unwrap();
    let changed = dir.path().join("changed_hosts");
    std::fs::write(&changed, format!("[127.0.0.1]:{} {other}", server.port)).unwrap();
    let creds = Credentials {
        known_hosts: Some(changed),
        ..server.creds("node-a")
    };
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("a"), &creds).unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err:?}");
    assert!(err.to_string().contains("differs"), "{err}");

    // known_hosts does not list the host at all.
    let empty = dir.path().join("empty_hosts");
    std::fs::write(&empty, "").unwrap();
    let creds = Credentials {
        known_hosts: Some(empty),
        ..server.creds("node-a")
    };
    let err = clone_dataset(&server.url(&remote.path), &dir.path().join("b"), &creds).unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err:?}");
    assert!(err.to_string().contains("not listed"), "{err}");
}

#[test]
fn a_push_the_remote_refuses_is_rejected_with_its_reason() {
    let server = SshServer::start();
    let remote = Remote::new();
    let creds = server.creds("node-a");
    let dir = tempfile::tempdir().unwrap();
    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap();
    repo.ensure_node_branch("node-a", &creds).unwrap();

    // The push itself succeeds at the protocol level; only the reference's status says no.
    let hook = remote.path.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'frozen for the audit' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &creds).unwrap().unwrap();
    let err = repo.push("node-a", &creds).unwrap_err();
    let Error::Rejected { reference, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(reference, "refs/heads/node-a");
    assert!(reason.contains("hook declined"), "{reason}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
    assert_ne!(
        remote.rev("node-a"),
        repo.head_commit().unwrap().map(|c| c.to_string())
    );
}

#[test]
fn a_server_that_went_away_is_a_network_error() {
    let mut server = SshServer::start();
    let remote = Remote::new();
    let creds = server.creds("node-a");
    let dir = tempfile::tempdir().unwrap();
    let repo = clone_dataset(&server.url(&remote.path), &dir.path().join("c"), &creds).unwrap();
    repo.ensure_node_branch("node-a", &creds).unwrap();
    std::fs::write(repo.workdir().join("x"), "x").unwrap();
    repo.commit_all("run", &creds).unwrap().unwrap();

    server.stop();
    let err = repo.push("node-a", &creds).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert_eq!(repo.unpushed("node-a").unwrap(), 1);
    // Secrets are not in the message, the key path may be.
    assert!(!format!("{err} {err:?}").contains("PRIVATE KEY"));
    let _ = git(&remote.path, &["rev-parse", "node-a"]);
}
