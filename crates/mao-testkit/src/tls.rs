//! Certificates made in the test: a CA of its own, a server certificate for
//! 127.0.0.1/localhost and a client certificate, as PEM files in a temp dir.
//!
//! Each [`TestPki`] has a fresh CA, so two of them do not trust each other: a server of one
//! is an "unknown CA" to a client configured with the other.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, a server and a client certificate with their keys, written as PEM files.
pub struct TestPki {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM), as the clients' trust anchor.
    pub ca_pem: String,
    /// The server certificate (PEM), for 127.0.0.1 and localhost.
    pub server_cert_pem: String,
    /// The server's private key (PEM, PKCS#8).
    pub server_key_pem: String,
}

/// The common name of the client certificate (etcd would take it as a user name; no user
/// of that name exists in the tests, so it authenticates nobody by itself).
pub const CLIENT_COMMON_NAME: &str = "mao-test-client";

impl TestPki {
    /// A fresh CA and certificates signed by it, in a new temp dir.
    pub fn new() -> TestPki {
        TestPki::issue(&["localhost"], true)
    }

    /// Like [`TestPki::new`], but the server certificate names only the host `name`: a
    /// client connecting to 127.0.0.1 finds it made for another host.
    pub fn for_host(name: &str) -> TestPki {
        TestPki::issue(&[name], false)
    }

    fn issue(names: &[&str], loopback_ip: bool) -> TestPki {
        let dir = tempfile::tempdir().expect("cannot create a temp dir for certificates");
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            // A name of its own: a client that trusts another test's CA finds no issuer.
            .push(DnType::CommonName, crate::unique_name("mao-test-ca"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("self-sign the CA");

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let issue = |common_name: &str, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("generate a key");
            let mut params = CertificateParams::new(names.clone()).expect("certificate params");
            if loopback_ip {
                params
                    .subject_alt_names
                    .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            }
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![purpose];
            let cert = params
                .signed_by(&key, &ca, &ca_key)
                .expect("sign a certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) =
            issue("localhost", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert_pem, client_key_pem) =
            issue(CLIENT_COMMON_NAME, ExtendedKeyUsagePurpose::ClientAuth);

        let ca_pem = ca.pem();
        for (name, text) in [
            ("ca.pem", &ca_pem),
            ("server.pem", &server_cert_pem),
            ("server-key.pem", &server_key_pem),
            ("client.pem", &client_cert_pem),
            ("client-key.pem", &client_key_pem),
        ] {
            std::fs::write(dir.path().join(name), text)
                .unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        }
        TestPki {
            dir,
            ca_pem,
            server_cert_pem,
            server_key_pem,
        }
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate file.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate file (127.0.0.1, localhost).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server key file.
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// The client certificate file.
    pub fn client_cert(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The client key file.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client-key.pem")
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

/// A small HTTPS server on a loopback port with a certificate of a [`TestPki`]: it answers
/// every request with one fixed response and keeps the head of each request it read.
pub struct HttpsServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl HttpsServer {
    /// Serves `status` with the JSON `body` to every request.
    pub fn start(pki: &TestPki, status: u16, body: &str) -> HttpsServer {
        HttpsServer::start_with_headers(pki, status, &[], body)
    }

    /// [`HttpsServer::start`] with more response headers (a `Location` of a redirect, a
    /// `WWW-Authenticate` challenge).
    pub fn start_with_headers(
        pki: &TestPki,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpsServer {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the server certificate is PEM");
        let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
            .expect("the server key is PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a server certificate and key");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        );
        let (thread_heads, thread_stop) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // A client that refuses the certificate ends the handshake: nothing to keep.
                if let Some(head) = read_request(&mut tls) {
                    thread_heads.lock().expect("heads").push(head);
                    let _ = tls.write_all(response.as_bytes());
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        HttpsServer {
            url: format!("https://127.0.0.1:{port}"),
            heads,
            stop,
            port,
        }
    }

    /// The heads (request line and headers) of the requests answered so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The head of one request and its body (by Content-Length), read to the end.
fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(head);
        }
    }
}
