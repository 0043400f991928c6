//! The one error type of this crate.

use std::time::Duration;

use mao_api::units::format_duration;

/// Why one delivery attempt failed, in words an operator can act on.
///
/// `target` is where the sink delivers, without secrets: a URL as `scheme://host/path`
/// (a Slack URL without its path), an SMTP server as `host:port`. No message carries a
/// password, a header value or a token.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The sink's configuration cannot be used (a password variable unset, a bad
    /// address). Fix the node's configuration; retrying does not help.
    #[error("the sink cannot be used: {0}")]
    Config(String),
    /// No answer within the sink's `timeout`.
    #[error("{target} did not answer within {}", format_duration(*timeout))]
    Timeout { target: String, timeout: Duration },
    /// The receiver could not be reached: connection refused, unknown host, network down.
    #[error("cannot reach {target}: {detail}")]
    Unreachable { target: String, detail: String },
    /// TLS failed: the certificate is not trusted, or the server does not speak TLS the
    /// way `security` says.
    #[error("TLS with {target} failed: {detail}")]
    Tls { target: String, detail: String },
    /// An HTTP receiver answered with a status other than 2xx. `body` is the start of
    /// its answer (at most 200 bytes).
    #[error("{target} answered HTTP {status}{}", http_hint(*status, body))]
    HttpStatus {
        target: String,
        status: u16,
        body: String,
    },
    /// The SMTP server refused the login.
    #[error("{target} refused the login of {username:?}: {detail}; check username and password")]
    LoginRefused {
        target: String,
        username: String,
        detail: String,
        /// A 5xx answer: the same credentials will be refused again.
        permanent: bool,
    },
    /// The SMTP server refused the sender, a recipient or the message.
    #[error("{target} refused the message: {detail}")]
    MessageRefused {
        target: String,
        detail: String,
        /// A 5xx answer: the same message will be refused again.
        permanent: bool,
    },
    /// The SMTP dialogue broke off (connection closed, unexpected answer).
    #[error("SMTP with {target} failed: {detail}")]
    Smtp { target: String, detail: String },
}

impl DeliveryError {
    /// True when the same attempt may succeed later without anyone changing anything:
    /// timeouts, unreachable receivers, 5xx, 408 and 429 answers, temporary SMTP refusals.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Config(_) | DeliveryError::Tls { .. } => false,
            DeliveryError::Timeout { .. }
            | DeliveryError::Unreachable { .. }
            | DeliveryError::Smtp { .. } => true,
            DeliveryError::HttpStatus { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            DeliveryError::LoginRefused { permanent, .. }
            | DeliveryError::MessageRefused { permanent, .. } => !permanent,
        }
    }
}

/// The body excerpt and, for answers that mean the sink is misconfigured, what to check.
fn http_hint(status: u16, body: &str) -> String {
    let mut out = String::new();
    if !body.is_empty() {
        out.push_str(": ");
        out.push_str(body);
    }
    match status {
        300..=399 => {
            out.push_str(" (a redirect is not followed: set the sink's url to its target)")
        }
        401 | 403 => out
            .push_str(" (check the sink's url and headers: the receiver refused the credentials)"),
        404 | 410 => out.push_str(" (check the sink's url)"),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> DeliveryError {
        DeliveryError::HttpStatus {
            target: "https://hooks.example.com/mao".into(),
            status,
            body: String::new(),
        }
    }

    #[test]
    fn retryable_by_what_happened() {
        for code in [500, 502, 503, 408, 429] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 413, 422] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        let refused = |permanent| DeliveryError::LoginRefused {
            target: "smtp:587".into(),
            username: "mao".into(),
            detail: "535".into(),
            permanent,
        };
        assert!(!refused(true).is_retryable());
        assert!(refused(false).is_retryable());
        assert!(DeliveryError::Timeout {
            target: "x".into(),
            timeout: Duration::from_secs(10)
        }
        .is_retryable());
        assert!(!DeliveryError::Config("x".into()).is_retryable());
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = DeliveryError::HttpStatus {
            target: "https://hooks.example.com/mao".into(),
            status: 401,
            body: "bad token".into(),
        };
        assert_eq!(
            e.to_string(),
            "https://hooks.example.com/mao answered HTTP 401: bad token (check the sink's url \
             and headers: the receiver refused the credentials)"
        );
        let e = DeliveryError::Timeout {
            target: "smtp.example.com:587".into(),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            e.to_string(),
            "smtp.example.com:587 did not answer within 10s"
        );
    }
}
