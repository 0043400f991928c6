//! Email over SMTP with lettre's tokio connection, step by step, so that an error says
//! which step failed (connect, STARTTLS, login, message).

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use mao_api::Notification;

use crate::config::{parse_mailbox, EmailSink, SmtpSecurity};
use crate::{render, DeliveryError};

/// The step of the SMTP dialogue an error happened in.
#[derive(Clone, Copy)]
enum Step {
    Connect,
    Starttls,
    Login,
    Send,
}

/// Sends `n` to every recipient of `sink` in one SMTP session. The caller bounds the time.
pub(crate) async fn send(
    sink: &EmailSink,
    n: &Notification,
    timeout: std::time::Duration,
) -> Result<(), DeliveryError> {
    let target = format!("{}:{}", sink.host, sink.port());
    let message = build_message(sink, n)?;
    let password = sink.resolve_password().map_err(DeliveryError::Config)?;
    let credentials = match (&sink.username, password) {
        (Some(user), Some(password)) => Some((user.clone(), password)),
        _ => None,
    };
    let tls = || {
        TlsParameters::builder(sink.host.clone())
            .dangerous_accept_invalid_certs(sink.accept_invalid_certs)
            .build_rustls()
            .map_err(|e| DeliveryError::Tls {
                target: target.clone(),
                detail: e.to_string(),
            })
    };
    let fail = |step, e| classify(&target, sink, timeout, step, e);
    let hello = ClientId::default();
    let implicit_tls = match sink.security {
        SmtpSecurity::Tls => Some(tls()?),
        SmtpSecurity::Starttls | SmtpSecurity::Plain => None,
    };
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (sink.host.as_str(), sink.port()),
        Some(timeout),
        &hello,
        implicit_tls,
        None,
    )
    .await
    .map_err(|e| fail(Step::Connect, e))?;
    if sink.security == SmtpSecurity::Starttls {
        conn.starttls(tls()?, &hello)
            .await
            .map_err(|e| fail(Step::Starttls, e))?;
    }
    if let Some((user, password)) = credentials {
        conn.auth(DEFAULT_MECHANISMS, &Credentials::new(user, password.0))
            .await
            .map_err(|e| fail(Step::Login, e))?;
    }
    let sent = conn
        .send(message.envelope(), &message.formatted())
        .await
        .map_err(|e| fail(Step::Send, e));
    // The message is accepted once DATA is answered; a failed QUIT changes nothing.
    let _ = conn.quit().await;
    sent.map(|_| ())
}

fn build_message(sink: &EmailSink, n: &Notification) -> Result<Message, DeliveryError> {
    let mailbox = |field: &str, text: &str| -> Result<Mailbox, DeliveryError> {
        parse_mailbox(text).map_err(|e| DeliveryError::Config(format!("{field}: {e}")))
    };
    let mut builder = Message::builder()
        .from(mailbox("from", &sink.from)?)
        .subject(render::email_subject(n))
        // The same id on every attempt lets a mail system drop a duplicate.
        .message_id(Some(format!("<{}@mao-orchestrator>", n.id)))
        .header(ContentType::TEXT_PLAIN);
    for (i, to) in sink.to.iter().enumerate() {
        builder = builder.to(mailbox(&format!("to[{i}]"), to)?);
    }
    builder
        .body(render::email_body(n))
        .map_err(|e| DeliveryError::Config(format!("the email cannot be built: {e}")))
}

/// Sorts an SMTP error by the step it happened in and what the server said.
fn classify(
    target: &str,
    sink: &EmailSink,
    timeout: std::time::Duration,
    step: Step,
    e: lettre::transport::smtp::Error,
) -> DeliveryError {
    let target = target.to_owned();
    let detail = match step {
        // lettre wraps the network error in layers that each repeat "Connection error".
        Step::Connect | Step::Starttls if !e.is_permanent() && !e.is_transient() => innermost(&e),
        _ => e.to_string(),
    };
    if e.is_timeout() {
        return DeliveryError::Timeout { target, timeout };
    }
    let permanent = e.is_permanent();
    let answered = e.is_permanent() || e.is_transient();
    match step {
        Step::Login if answered => DeliveryError::LoginRefused {
            target,
            username: sink.username.clone().unwrap_or_default(),
            detail,
            permanent,
        },
        Step::Login if e.is_client() => DeliveryError::LoginRefused {
            target,
            username: sink.username.clone().unwrap_or_default(),
            detail: format!(
                "the server offers no login mechanism this client supports (PLAIN, LOGIN): {detail}"
            ),
            permanent: true,
        },
        Step::Starttls if e.is_client() => DeliveryError::Tls {
            target,
            detail: "the server does not offer STARTTLS; set security = \"tls\" if it \
                     expects TLS from the start, or \"none\" for a plain local relay"
                .to_owned(),
        },
        Step::Connect | Step::Starttls if e.is_tls() || is_tls_io(&e) => DeliveryError::Tls {
            target,
            detail: format!("{detail}{}", tls_hint(sink)),
        },
        Step::Connect if !answered => DeliveryError::Unreachable { target, detail },
        Step::Send | Step::Connect if answered => DeliveryError::MessageRefused {
            target,
            detail,
            permanent,
        },
        _ => DeliveryError::Smtp { target, detail },
    }
}

/// The message of the last error in `e`'s source chain.
fn innermost(e: &lettre::transport::smtp::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

/// rustls reports a handshake failure as an `InvalidData` IO error.
fn is_tls_io(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = s.source();
    }
    false
}

fn tls_hint(sink: &EmailSink) -> &'static str {
    match (sink.security, sink.accept_invalid_certs) {
        (SmtpSecurity::Tls, _) => {
            " (does the server expect TLS from the first byte? port 465 does, 587 uses \
             security = \"starttls\")"
        }
        (_, false) => {
            " (is the certificate valid for the host? a self-signed test server needs \
             accept_invalid_certs = true)"
        }
        _ => "",
    }
}
