//! The federation's certificate authority and the keys and certificates of its sites.
//!
//! rcgen (without x509-parser) cannot parse a certificate back, so a loaded CA signs with
//! an issuer rebuilt from its key and its name (`ca.json`): the issuer name and the
//! authority key identifier (a hash of the public key) of what it issues are the same as
//! those of the `ca.pem` saved when it was created, which is all a verifier matches on.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
    SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{write_atomic, Error, Result};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// How long the CA certificate is valid.
const CA_LIFETIME: Duration = DAY.saturating_mul(3653);
/// How long a site's certificate is valid.
const LEAF_LIFETIME: Duration = DAY.saturating_mul(1827);
/// How far back a certificate is valid from: the clocks of two sites differ a little.
const CLOCK_SKEW: Duration = Duration::from_secs(60 * 60);
/// The names every site certificate carries besides its own: a node talks to its own etcd
/// member and API over loopback.
const LOOPBACK_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca.key";
const META_FILE: &str = "ca.json";

/// What `ca.json` keeps: what is needed to rebuild the issuer besides the key.
#[derive(Serialize, Deserialize)]
struct CaMeta {
    common_name: String,
}

/// The certificate authority of a federation: it issues the certificate of every site.
pub struct Ca {
    common_name: String,
    key: KeyPair,
    /// The certificate as created (and saved); the trust anchor of every site.
    cert_pem: String,
    cert_der: Vec<u8>,
    /// What signs: the saved certificate itself, or after [`Ca::load`] one rebuilt with
    /// the same name and key.
    issuer: Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("common_name", &self.common_name)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed ECDSA P-256 CA named `common_name`, valid for ten years.
    pub fn create(common_name: &str) -> Result<Ca> {
        if common_name.trim().is_empty() {
            return Err(Error::invalid("a CA needs a common name"));
        }
        let key = KeyPair::generate().map_err(certificate_error)?;
        let mut params = ca_params(common_name);
        set_validity(&mut params, CA_LIFETIME);
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(certificate_error)?;
        Ok(Ca {
            common_name: common_name.to_owned(),
            key,
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: cert,
        })
    }

    /// Writes `dir/ca.pem` (0644), `dir/ca.key` (0600) and `dir/ca.json` (0644), each
    /// atomically; creates `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let meta = serde_json::to_vec_pretty(&CaMeta {
            common_name: self.common_name.clone(),
        })
        .expect("a CA's metadata serializes");
        write_atomic(
            &dir.join(KEY_FILE),
            self.key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_atomic(&dir.join(META_FILE), &meta, 0o644)?;
        write_atomic(&dir.join(CERT_FILE), self.cert_pem.as_bytes(), 0o644)
    }

    /// The CA that [`Ca::save`] wrote to `dir`.
    pub fn load(dir: &Path) -> Result<Ca> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))
        };
        let meta: CaMeta = serde_json::from_str(&read(META_FILE)?)
            .map_err(|e| Error::invalid(format!("{}: {e}", dir.join(META_FILE).display())))?;
        let key = KeyPair::from_pem(&read(KEY_FILE)?).map_err(|e| {
            Error::invalid(format!(
                "{}: not a private key: {e}",
                dir.join(KEY_FILE).display()
            ))
        })?;
        let cert_pem = read(CERT_FILE)?;
        let cert_der = pem_certificate_der(&cert_pem)
            .map_err(|e| Error::invalid(format!("{}: {e}", dir.join(CERT_FILE).display())))?;
        // The certificate's public key is the key's raw point inside its DER: without it
        // the files are of two CAs, and what this one issued would verify against neither.
        if !contains(&cert_der, key.public_key_raw()) {
            return Err(Error::invalid(format!(
                "{} is not the certificate of the key {}",
                dir.join(CERT_FILE).display(),
                dir.join(KEY_FILE).display()
            )));
        }
        let issuer = ca_params(&meta.common_name)
            .self_signed(&key)
            .map_err(certificate_error)?;
        Ok(Ca {
            common_name: meta.common_name,
            key,
            cert_pem,
            cert_der,
            issuer,
        })
    }

    /// The CA certificate (PEM), as created.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// Lowercase hex SHA-256 of the CA certificate's DER: what a joining site pins.
    pub fn fingerprint(&self) -> String {
        fingerprint_of_der(&self.cert_der)
    }

    /// A site certificate (PEM) for `public_key`, the raw uncompressed P-256 point (65
    /// bytes, [`NodeKey::public_key_raw`]), naming `common_name` and `hosts` (IP addresses
    /// and DNS names) plus 127.0.0.1 and localhost; for server and client authentication,
    /// valid for five years.
    pub fn issue(&self, common_name: &str, hosts: &[String], public_key: &[u8]) -> Result<String> {
        let public_key = P256PublicKey::new(public_key)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        for host in hosts.iter().map(String::as_str).chain(LOOPBACK_HOSTS) {
            let san = subject_alt_name(host)?;
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, LEAF_LIFETIME);
        params.serial_number = Some(random_serial()?);
        let cert = params
            .signed_by(&public_key, &self.issuer, &self.key)
            .map_err(certificate_error)?;
        Ok(cert.pem())
    }
}

/// Lowercase hex SHA-256 of the DER of the first certificate in `pem`.
pub fn fingerprint_of_pem(pem: &str) -> Result<String> {
    Ok(fingerprint_of_der(&pem_certificate_der(pem)?))
}

/// The private key of a site (ECDSA P-256): its certificate is issued for its public key.
pub struct NodeKey {
    key: KeyPair,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey").finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A fresh key.
    pub fn generate() -> Result<NodeKey> {
        Ok(NodeKey {
            key: KeyPair::generate().map_err(certificate_error)?,
        })
    }

    /// Writes the key (PEM, PKCS#8) to `path`, 0600, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.key.serialize_pem().as_bytes(), 0o600)
    }

    /// The key [`NodeKey::save`] wrote to `path`.
    pub fn load(path: &Path) -> Result<NodeKey> {
        let pem = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let key = KeyPair::from_pem(&pem)
            .map_err(|e| Error::invalid(format!("{}: not a private key: {e}", path.display())))?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(Error::invalid(format!(
                "{}: not an ECDSA P-256 key",
                path.display()
            )));
        }
        Ok(NodeKey { key })
    }

    /// The public key as the raw uncompressed point (65 bytes): what [`Ca::issue`] takes.
    pub fn public_key_raw(&self) -> Vec<u8> {
        self.key.public_key_raw().to_vec()
    }

    /// The private key (PEM, PKCS#8), for a TLS configuration.
    pub fn pem(&self) -> String {
        self.key.serialize_pem()
    }
}

/// A P-256 public key known only by its point: what a site sends to be certified.
struct P256PublicKey<'a>(&'a [u8]);

impl<'a> P256PublicKey<'a> {
    fn new(raw: &'a [u8]) -> Result<P256PublicKey<'a>> {
        if raw.len() != 65 || raw[0] != 0x04 {
            return Err(Error::invalid(format!(
                "a public key must be an uncompressed P-256 point (65 bytes starting with 0x04), got {} bytes{}",
                raw.len(),
                raw.first().map(|b| format!(" starting with {b:#04x}")).unwrap_or_default()
            )));
        }
        Ok(P256PublicKey(raw))
    }
}

impl PublicKeyData for P256PublicKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

/// The parameters of a CA certificate that its issued certificates depend on: [`Ca::load`]
/// rebuilds the issuer from them.
fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    // It issues site certificates only, no intermediate CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// An IP address SAN for a host that parses as one (`[::1]` too), else a DNS name.
fn subject_alt_name(host: &str) -> Result<SanType> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if host.is_empty() {
        return Err(Error::invalid("a certificate host must not be empty"));
    }
    let name = host
        .to_owned()
        .try_into()
        .map_err(|e| Error::invalid(format!("{host:?} is not a DNS name: {e}")))?;
    Ok(SanType::DnsName(name))
}

/// Valid from a little before now for `lifetime`.
fn set_validity(params: &mut CertificateParams, lifetime: Duration) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch.saturating_sub(CLOCK_SKEW);
    params.not_after = epoch + since_epoch + lifetime;
}

/// A random serial number: two certificates of one key must not share one.
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::invalid(format!("no randomness for a serial number: {e}")))?;
    // Positive and of full length.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn pem_certificate_der(pem: &str) -> Result<Vec<u8>> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| Error::invalid(format!("no PEM certificate: {e}")))
}

fn fingerprint_of_der(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn certificate_error(e: rcgen::Error) -> Error {
    Error::invalid(format!("certificate: {e}"))
}
