//! What every request carries (the bearer token, the marks of a state-changing request)
//! and the TLS trust of `https://` endpoints.

use std::sync::Arc;

use crate::Error;

/// The header that marks a request as sent by this client; the daemon accepts a
/// state-changing request that has it (or `Content-Type: application/json`), which a
/// cross-site form post cannot have.
pub const CLIENT_HEADER: &str = "X-Mao-Client";
/// The value of [`CLIENT_HEADER`].
pub const CLIENT_HEADER_VALUE: &str = "maoctl";

/// A bearer token of the API. Neither `Debug` nor any error shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks that `text` can be sent in an `Authorization` header (surrounding blanks and
    /// a final newline, as a token file has, are dropped).
    pub fn new(text: &str) -> Result<Token, Error> {
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::InvalidSettings("the token is empty".into()));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidSettings(
                "the token holds spaces or characters that cannot be sent in a header".into(),
            ));
        }
        Ok(Token(token.to_owned()))
    }

    /// The token itself, to send; never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// How a [`crate::Client`] authenticates and whom it trusts.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <token>` on every request.
    pub token: Option<Token>,
    /// CA certificates (PEM) that an `https://` endpoint's certificate must be signed by,
    /// instead of the bundled public roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// SHA-256 of the one CA certificate an `https://` endpoint must present in its chain
    /// and be signed by (a join token carries it): trust on first use, made safe by the
    /// pin. Overrides `ca_cert_pem`.
    pub pinned_ca_sha256: Option<[u8; 32]>,
}

/// Adds the token to every request and the marks of a state-changing one to every
/// request that is not a GET or HEAD, so no call site can forget them.
pub(crate) struct Headers {
    pub token: Option<Token>,
}

impl ureq::Middleware for Headers {
    fn handle(
        &self,
        mut request: ureq::Request,
        next: ureq::MiddlewareNext,
    ) -> Result<ureq::Response, ureq::Error> {
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {}", token.expose()));
        }
        if !matches!(request.method(), "GET" | "HEAD") {
            if !request.has("Content-Type") {
                request = request.set("Content-Type", "application/json");
            }
            request = request.set(CLIENT_HEADER, CLIENT_HEADER_VALUE);
        }
        next.handle(request)
    }
}

/// The TLS configuration that trusts only the CAs in `pem`.
#[cfg(feature = "tls")]
pub(crate) fn tls_config(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let invalid = |reason: String| Error::InvalidSettings(format!("the CA certificate {reason}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| invalid(format!("is not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("cannot be used: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(
            "file holds no certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("cannot be used: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration that trusts only the CA whose certificate hashes to `pin`, taken
/// from the chain the server presents.
#[cfg(feature = "tls")]
pub(crate) fn pinned_tls_config(pin: [u8; 32]) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidSettings(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa { pin, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(not(feature = "tls"))]
pub(crate) fn pinned_tls_config(_pin: [u8; 32]) -> Result<Arc<()>, Error> {
    Err(Error::InvalidSettings(
        "a pinned CA needs mao-client built with its \"tls\" feature".into(),
    ))
}

/// Verifies a server's chain against the one CA certificate of the chain whose SHA-256 is
/// the pin: the chain must hold that certificate, and the server's own certificate must be
/// signed by it and valid for the host, as with any trusted root.
#[cfg(feature = "tls")]
#[derive(Debug)]
struct PinnedCa {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

#[cfg(feature = "tls")]
impl rustls::client::danger::ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use sha2::Digest;
        let ca = intermediates
            .iter()
            .find(|cert| sha2::Sha256::digest(cert.as_ref()).as_slice() == self.pin)
            .ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(not(feature = "tls"))]
pub(crate) fn tls_config(_pem: &[u8]) -> Result<Arc<()>, Error> {
    Err(Error::InvalidSettings(
        "a CA certificate needs mao-client built with its \"tls\" feature".into(),
    ))
}

/// What went wrong in a TLS handshake, in words, when `error` is a TLS failure.
#[cfg(feature = "tls")]
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{CertificateError, Error as TlsError};

    let mut cause = Some(error);
    while let Some(current) = cause {
        let tls = current.downcast_ref::<TlsError>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<TlsError>())
        });
        if let Some(tls) = tls {
            return Some(match tls {
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
                | TlsError::InvalidCertificate(CertificateError::BadSignature) => {
                    "the server's certificate is not signed by a CA this client trusts (give the CA that signed it: maoctl --ca-cert FILE or MAO_CA_CERT)".to_owned()
                }
                TlsError::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => "the server's certificate is not valid for this host name (use the name or address the certificate was made for)".to_owned(),
                TlsError::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => "the server's certificate has expired".to_owned(),
                TlsError::InvalidMessage(_) => {
                    "the server does not speak TLS (is the endpoint http://?)".to_owned()
                }
                other => format!("TLS handshake failed: {other}"),
            });
        }
        cause = current.source();
    }
    None
}

#[cfg(not(feature = "tls"))]
pub(crate) fn tls_failure(_error: &(dyn std::error::Error + 'static)) -> Option<String> {
    None
}
