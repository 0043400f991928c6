//! The federation CA: what it issues verifies (as a real TLS stack would check it)
//! against the CA certificate, also after the CA was saved and loaded again.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mao_federation::{fingerprint_of_pem, Ca, NodeKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

/// Verifies `leaf_pem` for `usage` against `ca_pem` as the only trust anchor, and (with a
/// name) that it is valid for that DNS name or IP address.
fn verify(
    ca_pem: &str,
    leaf_pem: &str,
    usage: KeyUsage,
    name: Option<&str>,
) -> Result<(), webpki::Error> {
    verify_at(ca_pem, leaf_pem, usage, name, SystemTime::now())
}

/// [`verify`] as a verifier whose clock says `time`.
fn verify_at(
    ca_pem: &str,
    leaf_pem: &str,
    usage: KeyUsage,
    name: Option<&str>,
    time: SystemTime,
) -> Result<(), webpki::Error> {
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM");
    let leaf_der = CertificateDer::from_pem_slice(leaf_pem.as_bytes()).expect("leaf PEM");
    let anchor = webpki::anchor_from_trusted_cert(&ca_der)?;
    let leaf = EndEntityCert::try_from(&leaf_der)?;
    let since_epoch = time.duration_since(UNIX_EPOCH).expect("after 1970");
    leaf.verify_for_usage(
        &[webpki::ring::ECDSA_P256_SHA256],
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(since_epoch),
        usage,
        None,
        None,
    )?;
    if let Some(name) = name {
        let name = ServerName::try_from(name).expect("a server name");
        leaf.verify_is_valid_for_subject_name(&name)?;
    }
    Ok(())
}

fn issue_for(ca: &Ca, hosts: &[&str]) -> String {
    let key = NodeKey::generate().unwrap();
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    ca.issue("site-a", &hosts, &key.public_key_raw()).unwrap()
}

#[test]
fn a_site_certificate_serves_and_authenticates_for_its_ip_and_name() {
    let ca = Ca::create("mao federation test").unwrap();
    let leaf = issue_for(&ca, &["10.1.2.3", "site-a.example.org"]);
    for name in ["10.1.2.3", "site-a.example.org", "127.0.0.1", "localhost"] {
        verify(ca.cert_pem(), &leaf, KeyUsage::server_auth(), Some(name))
            .unwrap_or_else(|e| panic!("server auth for {name}: {e:?}"));
    }
    verify(ca.cert_pem(), &leaf, KeyUsage::client_auth(), None).expect("client auth");
    for other in ["other.example.org", "10.1.2.4"] {
        let err = verify(ca.cert_pem(), &leaf, KeyUsage::server_auth(), Some(other)).unwrap_err();
        assert!(
            matches!(err, webpki::Error::CertNotValidForName(_)),
            "{other}: {err:?}"
        );
    }
}

#[test]
fn an_ipv6_host_is_an_ip_address() {
    let ca = Ca::create("mao federation test").unwrap();
    let leaf = issue_for(&ca, &["[fd00::5]"]);
    verify(
        ca.cert_pem(),
        &leaf,
        KeyUsage::server_auth(),
        Some("fd00::5"),
    )
    .unwrap();
}

#[test]
fn a_certificate_of_another_ca_is_refused() {
    let ours = Ca::create("mao federation test").unwrap();
    let theirs = Ca::create("another federation").unwrap();
    let leaf = issue_for(&theirs, &["10.1.2.3"]);
    let err = verify(ours.cert_pem(), &leaf, KeyUsage::server_auth(), None).unwrap_err();
    assert!(matches!(err, webpki::Error::UnknownIssuer), "{err:?}");
    assert_ne!(ours.fingerprint(), theirs.fingerprint());

    // A CA that takes our name is not us: its signature does not verify with our key.
    let impostor = Ca::create("mao federation test").unwrap();
    let leaf = issue_for(&impostor, &["10.1.2.3"]);
    let err = verify(ours.cert_pem(), &leaf, KeyUsage::server_auth(), None).unwrap_err();
    assert!(
        matches!(err, webpki::Error::InvalidSignatureForPublicKey),
        "{err:?}"
    );
}

#[test]
fn a_public_key_that_is_not_a_p256_point_is_refused() {
    let ca = Ca::create("mao federation test").unwrap();
    let mut compressed = NodeKey::generate().unwrap().public_key_raw();
    compressed[0] = 0x02;
    for (key, expected) in [
        (vec![0x04; 64], "got 64 bytes"),
        (compressed, "starting with 0x02"),
        (Vec::new(), "got 0 bytes"),
    ] {
        let err = ca.issue("site-a", &[], &key).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("uncompressed P-256 point") && message.contains(expected),
            "{message}"
        );
    }
}

#[test]
fn a_loaded_ca_issues_what_the_saved_certificate_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let created = Ca::create("mao federation test").unwrap();
    created.save(dir.path()).unwrap();
    let saved_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert_eq!(saved_pem, created.cert_pem());
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.pem"), 0o644);
    assert_eq!(mode("ca.key"), 0o600);
    assert!(!dir.path().join("ca.key.tmp").exists());

    let loaded = Ca::load(dir.path()).unwrap();
    assert_eq!(loaded.cert_pem(), saved_pem);
    assert_eq!(loaded.fingerprint(), created.fingerprint());
    assert_eq!(loaded.common_name(), "mao federation test");
    let leaf = issue_for(&loaded, &["10.1.2.3"]);
    verify(&saved_pem, &leaf, KeyUsage::server_auth(), Some("10.1.2.3")).unwrap();
    verify(&saved_pem, &leaf, KeyUsage::client_auth(), None).unwrap();
}

#[test]
fn a_ca_whose_key_is_of_another_ca_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    Ca::create("one").unwrap().save(dir.path()).unwrap();
    let other = tempfile::tempdir().unwrap();
    Ca::create("two").unwrap().save(other.path()).unwrap();
    std::fs::copy(other.path().join("ca.key"), dir.path().join("ca.key")).unwrap();
    let err = Ca::load(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not the certificate of the key"),
        "{err}"
    );
    let err = Ca::load(&dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn the_fingerprint_is_the_sha256_of_the_first_certificate() {
    let ca = Ca::create("mao federation test").unwrap();
    let fingerprint = ca.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    let leaf = issue_for(&ca, &[]);
    let bundle = format!("{}{}", ca.cert_pem(), leaf);
    assert_eq!(fingerprint_of_pem(&bundle).unwrap(), fingerprint);
    assert_ne!(fingerprint_of_pem(&leaf).unwrap(), fingerprint);
    assert!(fingerprint_of_pem("no certificate here").is_err());
}

#[test]
fn a_node_key_survives_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let key = NodeKey::generate().unwrap();
    key.save(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let loaded = NodeKey::load(&path).unwrap();
    assert_eq!(loaded.public_key_raw(), key.public_key_raw());
    assert_eq!(loaded.pem(), key.pem());
    assert_eq!(key.public_key_raw().len(), 65);
    std::fs::write(&path, "garbage").unwrap();
    assert!(NodeKey::load(&path).is_err());
}

#[test]
fn a_site_certificate_is_valid_for_five_years() {
    let ca = Ca::create("mao federation test").unwrap();
    let leaf = issue_for(&ca, &["10.1.2.3"]);
    let year = Duration::from_secs(365 * 24 * 3600);
    let at = |time| verify_at(ca.cert_pem(), &leaf, KeyUsage::server_auth(), None, time);
    at(SystemTime::now() + year * 4).expect("valid in four years");
    // The clocks of two sites differ a little.
    at(SystemTime::now() - Duration::from_secs(1800)).expect("valid half an hour ago");
    assert!(
        at(SystemTime::now() + year * 6).is_err(),
        "expired after five years"
    );
}
