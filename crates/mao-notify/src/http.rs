//! Webhook and Slack: one JSON POST with ureq on a blocking thread.

use std::io::Read;
use std::time::Duration;

use crate::DeliveryError;

/// `User-Agent` of every request: the daemon's name and version.
pub const USER_AGENT: &str = concat!("mao-orchestrator/", env!("CARGO_PKG_VERSION"));

/// How much of a refusing answer's body goes into the error.
const BODY_EXCERPT: usize = 200;

/// One POST, as the blocking thread sees it.
pub(crate) struct Post {
    pub url: String,
    /// For messages: the URL without secrets.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// Sends `post` on a blocking thread; 2xx is delivered, anything else an error.
pub(crate) async fn send(post: Post) -> Result<(), DeliveryError> {
    let target = post.target.clone();
    tokio::task::spawn_blocking(move || send_blocking(post))
        .await
        .unwrap_or_else(|e| {
            Err(DeliveryError::Unreachable {
                target,
                detail: format!("the delivery thread failed: {e}"),
            })
        })
}

fn send_blocking(post: Post) -> Result<(), DeliveryError> {
    // Redirects are not followed: a POST turned into a GET delivers nothing.
    let agent = ureq::AgentBuilder::new()
        .timeout(post.timeout)
        .redirects(0)
        .user_agent(USER_AGENT)
        .build();
    let mut request = agent
        .post(&post.url)
        .set("Content-Type", "application/json");
    for (name, value) in &post.headers {
        request = request.set(name, value);
    }
    match request.send_bytes(&post.body) {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(refused(&post.target, response)),
        Err(ureq::Error::Status(_, response)) => Err(refused(&post.target, response)),
        Err(ureq::Error::Transport(t)) => Err(transport(&post.target, post.timeout, &t)),
    }
}

fn refused(target: &str, response: ureq::Response) -> DeliveryError {
    let status = response.status();
    let mut body = Vec::with_capacity(BODY_EXCERPT);
    // The excerpt is a courtesy: a body that cannot be read leaves it empty.
    let _ = response
        .into_reader()
        .take(BODY_EXCERPT as u64)
        .read_to_end(&mut body);
    DeliveryError::HttpStatus {
        target: target.to_owned(),
        status,
        body: String::from_utf8_lossy(&body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Sorts a transport failure without ureq's own text, which repeats the full URL.
fn transport(target: &str, timeout: Duration, t: &ureq::Transport) -> DeliveryError {
    let io = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
    if io.is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        )
    }) {
        return DeliveryError::Timeout {
            target: target.to_owned(),
            timeout,
        };
    }
    let mut detail = t.message().unwrap_or_default().to_owned();
    if let Some(source) = std::error::Error::source(t) {
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&source.to_string());
    }
    if detail.is_empty() {
        detail = t.kind().to_string();
    }
    let target = target.to_owned();
    match t.kind() {
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => {
            DeliveryError::Config(format!("url {target}: {detail}"))
        }
        _ if io.is_some_and(|e| e.kind() == std::io::ErrorKind::InvalidData) => {
            DeliveryError::Tls { target, detail }
        }
        _ => DeliveryError::Unreachable { target, detail },
    }
}
