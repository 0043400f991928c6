//! Certificates made in the test: a CA of its own, a server certificate for
//! 127.0.0.1/localhost and a client certificate, as PEM files in a temp dir.
//!
//! Each [`TestPki`] has a fresh CA, so two of them do not trust each other: a server of one
//! is an "unknown CA" to a client configured with the other.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

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

        let issue = |common_name: &str, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("generate a key");
            let mut params =
                CertificateParams::new(vec!["localhost".to_owned()]).expect("certificate params");
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
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
