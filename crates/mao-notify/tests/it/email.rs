//! The email sink against a real SMTP server (aiosmtpd, started by mao_testkit::smtp) on a
//! loopback port: plain, STARTTLS and implicit TLS with a self-signed certificate made
//! at test time, login accepted and refused.

use mao_api::{Notification, Severity};
use mao_notify::{deliver_once, DeliveryError, SinkConfig};
use serde_json::Value;

use mao_testkit::smtp::{SmtpServer, PASSWORD, USER};

/// The notification of these tests: critical, about a dataset too.
fn spike() -> Notification {
    Notification {
        severity: Severity::Critical,
        dataset: Some("weather-data".into()),
        ..crate::support::spike()
    }
}

/// An email sink to 127.0.0.1:`port`.
fn email_sink(port: u16, extra: &str) -> SinkConfig {
    crate::support::sink(&format!(
        "name = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         from = \"MAO <mao@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n\
         {extra}"
    ))
}

/// An email sink to `server` that logs in as USER with the password line given, over
/// `security` with the test server's self-signed certificate.
fn login_sink(server: &SmtpServer, security: &str, password_line: &str) -> SinkConfig {
    email_sink(
        server.port,
        &format!(
            "security = \"{security}\"\naccept_invalid_certs = true\nusername = \"{USER}\"\n\
             {password_line}"
        ),
    )
}

/// Asserts that `server` got exactly one message, over TLS, from a session logged in as USER.
fn assert_one_encrypted_login(server: &SmtpServer) {
    let got = server.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["login"], USER);
}

/// The message's text with folded header lines joined.
fn unfolded(message: &Value) -> String {
    message["data"]
        .as_str()
        .unwrap()
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ")
}

#[tokio::test]
async fn plain_delivery_to_every_recipient() {
    let server = SmtpServer::start("none", false);
    let sink = email_sink(server.port, "security = \"none\"");
    deliver_once(&sink, &spike()).await.unwrap();

    let got = server.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["mail_from"], "mao@example.com");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["ops@example.com", "oncall@example.com"])
    );
    assert_eq!(m["tls"], false);
    assert_eq!(m["login"], Value::Null);
    let text = unfolded(m);
    for expected in [
        "Subject: [mao] spike on site-a: weather/collect control 131 (baseline 100)",
        "From: MAO <mao@example.com>",
        "Message-ID: <01J0000000000000000000SPKE@mao-orchestrator>",
        "Content-Type: text/plain; charset=utf-8",
        "from 100 to 131; check the sensor",
        "severity:  critical",
        "dataset:   weather-data",
        "score:     4.25",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
}

#[tokio::test]
async fn starttls_with_a_self_signed_cert_and_a_login_from_the_environment() {
    let server = SmtpServer::start("starttls", true);
    let var = "MAO_NOTIFY_TEST_SMTP_PASSWORD";
    std::env::set_var(var, PASSWORD);
    let sink = login_sink(&server, "starttls", &format!("password_env = \"{var}\""));
    deliver_once(&sink, &spike()).await.unwrap();
    assert_one_encrypted_login(&server);
}

#[tokio::test]
async fn starttls_refuses_an_untrusted_certificate() {
    let server = SmtpServer::start("starttls", false);
    let sink = email_sink(server.port, "security = \"starttls\"");
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Tls { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("accept_invalid_certs = true"), "{e}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn starttls_against_a_server_without_it_says_so() {
    let server = SmtpServer::start("none", false);
    let sink = email_sink(server.port, "security = \"starttls\"");
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("does not offer STARTTLS"), "{e}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_with_a_login() {
    let server = SmtpServer::start("tls", true);
    let sink = login_sink(&server, "tls", &format!("password = \"{PASSWORD}\""));
    deliver_once(&sink, &spike()).await.unwrap();
    assert_one_encrypted_login(&server);
}

#[tokio::test]
async fn a_refused_login_says_so_and_is_not_retried() {
    let server = SmtpServer::start("starttls", true);
    let sink = login_sink(&server, "starttls", "password = \"wr0ng-pa55\"");
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(
        matches!(
            e,
            DeliveryError::LoginRefused {
                permanent: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "127.0.0.1:{} refused the login of \"mao\"",
            server.port
        )),
        "{text}"
    );
    assert!(text.contains("535"), "{text}");
    assert!(!format!("{text} {e:?} {sink:?}").contains("wr0ng-pa55"));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_against_a_plain_server_is_a_tls_error() {
    let server = SmtpServer::start("none", false);
    let sink = email_sink(
        server.port,
        "security = \"tls\"\naccept_invalid_certs = true",
    );
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(
        matches!(e, DeliveryError::Tls { .. } | DeliveryError::Timeout { .. }),
        "{e:?}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_retryable() {
    // Held closed: nobody else can start listening there during the test.
    let closed = mao_testkit::ports::ClosedPort::new();
    let port = closed.port();
    let sink = email_sink(port, "security = \"none\"");
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn a_server_that_never_greets_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = email_sink(port, "security = \"none\"\ntimeout = \"1s\"");
    let started = std::time::Instant::now();
    let e = deliver_once(&sink, &spike()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Timeout { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!("127.0.0.1:{port} did not answer within 1s")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    drop(listener);
}
