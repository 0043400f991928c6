//! The managed etcd member: the real `/usr/bin/etcd` (or `ETCD_BIN`) on free loopback
//! ports, started, killed behind the supervisor's back, restarted, and stopped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mao_federation::{Ca, EtcdSupervisor, InitialState, MemberSpec, NodeKey, PeerTls};
use mao_testkit::etcd::{etcd_bin, healthy_member};
use mao_testkit::{log_tail, wait_until};

/// How long etcd may take to elect itself on a loaded machine.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);
/// How many times a member whose free port another process took is started on others.
const PORT_ATTEMPTS: usize = 5;

/// A supervised member in a temp dir of its own.
struct Member {
    supervisor: EtcdSupervisor,
    client_port: u16,
    peer_url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Member {
    fn healthy(&self) -> Result<(), String> {
        healthy_member(self.client_port, &self.peer_url)
    }

    /// Waits until the member answers `/health` as healthy; panics with the log if not.
    fn wait_healthy(&self) {
        let mut last = String::new();
        let healthy = wait_until(HEALTHY_WITHIN, || match self.healthy() {
            Ok(()) => true,
            Err(why) => {
                last = why;
                false
            }
        });
        assert!(
            healthy,
            "etcd not healthy within {HEALTHY_WITHIN:?} (last: {last}); log:\n{}",
            log_tail(&self.log, 30)
        );
    }
}

fn free_port() -> u16 {
    // etcd binds its ports itself: a port can only be probed, not handed over.
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

/// Starts a one-member cluster on free loopback ports, its peer URL `https` with the TLS
/// files `tls` makes in the member's dir, else plain; waits until it is healthy.
async fn start_member(tls: Option<&dyn Fn(&Path) -> PeerTls>) -> Member {
    let mut taken = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        let dir = tempfile::tempdir().expect("temp dir");
        let (client_port, peer_port) = (free_port(), free_port());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let peer_url = format!("{scheme}://127.0.0.1:{peer_port}");
        let spec = MemberSpec {
            name: "site-a".into(),
            client_url: format!("http://127.0.0.1:{client_port}"),
            peer_url: peer_url.clone(),
            initial_cluster: format!("site-a={peer_url}"),
            initial_state: InitialState::New,
            peer_tls: tls.map(|make| make(dir.path())),
        };
        let log = dir.path().join("logs/etcd.log");
        let supervisor =
            EtcdSupervisor::start(etcd_bin(), spec, dir.path().join("data"), log.clone())
                .await
                .expect("start etcd");
        let member = Member {
            supervisor,
            client_port,
            peer_url,
            log,
            _dir: dir,
        };
        let up = wait_until(HEALTHY_WITHIN, || {
            member.healthy().is_ok() || log_tail(&member.log, 50).contains("address already in use")
        });
        if up && member.healthy().is_ok() {
            return member;
        }
        let tail = log_tail(&member.log, 30);
        member.supervisor.stop(Duration::from_secs(5)).await;
        if !tail.contains("address already in use") {
            panic!("etcd not healthy within {HEALTHY_WITHIN:?}; log:\n{tail}");
        }
        taken.push(tail);
    }
    panic!("etcd found its ports taken {PORT_ATTEMPTS} times: {taken:#?}");
}

/// Whether `pid` runs: it exists and is not a zombie (an orphan's zombie lingers where
/// pid 1 of a container does not reap).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) state ...": the state follows the last ')'.
        Ok(stat) => !matches!(
            stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()),
            Some(rest) if rest.starts_with('Z') || rest.starts_with('X')
        ),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_is_restarted_and_a_stopped_one_is_not() {
    let member = start_member(None).await;
    let first = member.supervisor.pid().expect("a running member");
    assert_eq!(member.supervisor.restarts(), 0);

    // SAFETY: kill(2) on the etcd child the supervisor started for this test.
    assert_eq!(
        unsafe { libc::kill(first as libc::pid_t, libc::SIGKILL) },
        0
    );
    let restarted = wait_until(Duration::from_secs(15), || {
        member.supervisor.restarts() == 1 && member.supervisor.pid().is_some_and(|p| p != first)
    });
    assert!(
        restarted,
        "not restarted: pid {:?}, restarts {}; log:\n{}",
        member.supervisor.pid(),
        member.supervisor.restarts(),
        log_tail(&member.log, 30)
    );
    member.wait_healthy();
    let second = member.supervisor.pid().expect("the restarted member");

    member.supervisor.stop(Duration::from_secs(5)).await;
    assert!(!alive(second), "etcd {second} still runs after stop");
    assert_eq!(member.supervisor.pid(), None);
    // Longer than the restart backoff after a crash: a stopped member stays down.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(member.supervisor.restarts(), 1);
    assert_eq!(member.supervisor.pid(), None);
    assert!(member.healthy().is_err(), "a stopped member answers");
    // Idempotent.
    member.supervisor.stop(Duration::from_secs(5)).await;
}

/// A `GET /version` on the peer port over TLS, trusting `ca_pem`, presenting `client`
/// (certificate and key PEM) if any; what came back.
fn peer_request(port: u16, ca_pem: &str, client: Option<(&str, &str)>) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::io::{Read, Write};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("a trust anchor");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert PEM")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM"),
            )
            .expect("a client certificate"),
        None => builder.with_no_client_auth(),
    };
    let server = ServerName::try_from("127.0.0.1").expect("a server name");
    let connection =
        rustls::ClientConnection::new(Arc::new(config), server).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(b"GET /version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_peer_tls_from_the_federation_ca_is_healthy() {
    let ca = Ca::create("mao federation test").expect("CA");
    let key = NodeKey::generate().expect("node key");
    let cert = ca
        .issue("site-a", &["127.0.0.1".to_owned()], &key.public_key_raw())
        .expect("issue");
    let make_tls = |dir: &Path| {
        let tls = PeerTls {
            cert: dir.join("site.pem"),
            key: dir.join("site.key"),
            ca: dir.join("ca.pem"),
        };
        std::fs::write(&tls.cert, &cert).expect("write the certificate");
        key.save(&tls.key).expect("write the key");
        std::fs::write(&tls.ca, ca.cert_pem()).expect("write the CA");
        tls
    };
    let member = start_member(Some(&make_tls)).await;
    let peer_port: u16 = member.peer_url.rsplit(':').next().unwrap().parse().unwrap();

    // A peer with a certificate of the federation CA is answered: the same certificate
    // serves and authenticates.
    let answer = peer_request(peer_port, ca.cert_pem(), Some((&cert, &key.pem())));
    assert!(
        answer.as_ref().is_ok_and(|a| a.contains("etcdserver")),
        "{answer:?}"
    );
    // Without a client certificate, or with one of another CA, it is not.
    let answer = peer_request(peer_port, ca.cert_pem(), None);
    assert!(
        !answer.as_ref().is_ok_and(|a| a.contains("etcdserver")),
        "answered without a client certificate: {answer:?}"
    );
    let other = Ca::create("another federation").expect("CA");
    let foreign = other
        .issue("site-x", &["127.0.0.1".to_owned()], &key.public_key_raw())
        .expect("issue");
    let answer = peer_request(peer_port, ca.cert_pem(), Some((&foreign, &key.pem())));
    assert!(
        !answer.as_ref().is_ok_and(|a| a.contains("etcdserver")),
        "answered a certificate of another CA: {answer:?}"
    );

    let pid = member.supervisor.pid().expect("a running member");
    member.supervisor.stop(Duration::from_secs(5)).await;
    assert!(!alive(pid));
}

/// Why [`EtcdSupervisor::start`] refuses `bin` with a plain one-member spec whose
/// initial cluster is `initial_cluster`, in `dir`; panics if it starts.
async fn start_error(bin: PathBuf, initial_cluster: &str, dir: &Path) -> mao_federation::Error {
    let spec = MemberSpec {
        name: "site-a".into(),
        client_url: "http://127.0.0.1:1".into(),
        peer_url: "http://127.0.0.1:2".into(),
        initial_cluster: initial_cluster.into(),
        initial_state: InitialState::New,
        peer_tls: None,
    };
    match EtcdSupervisor::start(bin, spec, dir.join("data"), dir.join("etcd.log")).await {
        Ok(_) => panic!("etcd started"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_missing_binary_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-etcd");
    let err = start_error(missing.clone(), "site-a=http://127.0.0.1:2", dir.path()).await;
    assert_eq!(
        err.to_string(),
        format!(
            "etcd_bin: {} not found: install Debian's etcd-server or set --etcd-bin",
            missing.display()
        )
    );
    assert!(matches!(err, mao_federation::Error::EtcdBinMissing(_)));
}

#[tokio::test]
async fn an_invalid_spec_is_refused_before_etcd_runs() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_error(etcd_bin(), "site-b=http://127.0.0.1:2", dir.path()).await;
    assert!(matches!(err, mao_federation::Error::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("does not list this member"),
        "{err}"
    );
    assert!(!dir.path().join("etcd.log").exists());
}

/// Set in the environment of the test process that plays the daemon in
/// [`the_member_dies_with_a_killed_daemon`]: the file to write etcd's pid to.
const DAEMON_PID_FILE: &str = "MAO_FEDERATION_TEST_DAEMON_PID_FILE";

/// The daemon's part of [`the_member_dies_with_a_killed_daemon`]: run only in the process
/// that test starts (by this name, with [`DAEMON_PID_FILE`] set); elsewhere it has nothing
/// to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_role() {
    let Some(pid_file) = std::env::var_os(DAEMON_PID_FILE) else {
        return;
    };
    let member = start_member(None).await;
    let pid = member.supervisor.pid().expect("a running member");
    std::fs::write(&pid_file, pid.to_string()).expect("write the pid file");
    // Until the test kills this process.
    std::future::pending::<()>().await;
}

#[test]
fn the_member_dies_with_a_killed_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("etcd.pid");
    let mut daemon = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "daemon_role", "--nocapture", "--test-threads=1"])
        .env(DAEMON_PID_FILE, &pid_file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run the test binary as the daemon");
    let started = wait_until(HEALTHY_WITHIN * 2, || pid_file.exists());
    if !started {
        let _ = daemon.kill();
        let _ = daemon.wait();
        panic!("the daemon did not start etcd");
    }
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(alive(pid));

    daemon.kill().expect("SIGKILL the daemon");
    daemon.wait().unwrap();
    let gone = wait_until(Duration::from_secs(10), || !alive(pid));
    if !gone {
        // SAFETY: the etcd the daemon of this test started, orphaned by a failure.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("etcd {pid} outlived its daemon");
    }
}
