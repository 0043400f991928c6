//! Delivery of notifications to sinks: the daemon's log, webhooks, Slack and email.
//!
//! A node's configuration lists its sinks as `[[sinks]]` tables ([`SinkConfig`]). The
//! daemon decides which sink gets which notification ([`SinkConfig::routes`], and the
//! dedup key once per `repeat_interval`), keeps the delivery state and runs the retry
//! loop; this crate makes one attempt ([`deliver_once`]), says how long to wait before
//! the next ([`RETRY`], the project's one retry policy) and, for callers that need nothing more, loops over both
//! ([`deliver_with_retries`]).
//!
//! # What each sink receives
//!
//! - `log`: one event in the daemon's log, at `warn` for warning and critical
//!   notifications and `info` for info, with the notification's fields as structured
//!   fields.
//! - `webhook`: `POST <url>` with `Content-Type: application/json`,
//!   `User-Agent: mao-orchestrator/<version>`, `Idempotency-Key: <notification id>` (the
//!   same on every attempt, so a receiver can drop a duplicate), the configured headers,
//!   and the body
//!   ```json
//!   {"schema": "mao.notification/v1", "notification": { "id": "01J...", "kind": "spike", ... }}
//!   ```
//!   where `notification` is [`mao_api::Notification`] as the API serves it (fields that
//!   are not set are absent). The schema name changes when the shape does; fields may be
//!   added within `v1`. Any 2xx answer is a delivery; redirects are not followed.
//! - `slack`: `POST <url>` with `{"text": "<one line>"}` ([`render::slack_text`]).
//! - `email`: a plain-text message, subject [`render::email_subject`], body
//!   [`render::email_body`], `Message-ID: <<notification id>@mao-orchestrator>`.
//!
//! Secrets (passwords, header values, tokens in URLs) never appear in `Debug` output,
//! logs or error messages: URLs are shown as `scheme://host/path`, Slack URLs without
//! their path.

mod config;
mod email;
mod error;
mod http;
pub mod render;

use std::time::Duration;

use mao_api::{Notification, Severity};

pub use config::{
    redact_url, EmailSink, Secret, SinkConfig, SinkKind, SlackSink, SmtpSecurity, WebhookSink,
    DEFAULT_REPEAT_INTERVAL, DEFAULT_RETRIES, DEFAULT_TIMEOUT,
};
pub use error::DeliveryError;
pub use http::USER_AGENT;
pub use render::WEBHOOK_SCHEMA;

#[cfg(test)]
mod fixtures;

/// The wait before a retry: nominally 1 s after the first failed attempt, doubling, at
/// most 5 min, jittered into the upper half of that (see [`mao_retry`]).
pub const RETRY: mao_retry::Policy =
    mao_retry::Policy::new(Duration::from_secs(1), Duration::from_secs(300));

/// How long to wait after failed attempt number `attempt` (1 = the first attempt) before
/// the next: [`RETRY`]'s wait for that attempt. `0` counts as `1`.
pub fn backoff(attempt: u32) -> Duration {
    RETRY.delay(attempt.saturating_sub(1))
}

/// Makes one delivery attempt of `n` to `sink`, bounded by the sink's timeout.
///
/// Never panics; the error says what happened and whether a retry may help
/// ([`DeliveryError::is_retryable`]).
pub async fn deliver_once(sink: &SinkConfig, n: &Notification) -> Result<(), DeliveryError> {
    let attempt = async {
        match &sink.kind {
            SinkKind::Log => {
                log(sink, n);
                Ok(())
            }
            SinkKind::Webhook(w) => {
                let mut headers = vec![("Idempotency-Key".to_owned(), n.id.clone())];
                headers.extend(w.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())));
                http::send(http::Post {
                    url: w.url.clone(),
                    target: sink.target(),
                    headers,
                    body: json_bytes(&render::webhook_payload(n)),
                    timeout: sink.timeout(),
                })
                .await
            }
            SinkKind::Slack(s) => {
                http::send(http::Post {
                    url: s.url.clone(),
                    target: sink.target(),
                    headers: Vec::new(),
                    body: json_bytes(&render::slack_payload(n)),
                    timeout: sink.timeout(),
                })
                .await
            }
            SinkKind::Email(e) => email::send(e, n, sink.timeout()).await,
        }
    };
    tokio::time::timeout(sink.timeout(), attempt)
        .await
        .unwrap_or_else(|_| {
            Err(DeliveryError::Timeout {
                target: sink.target(),
                timeout: sink.timeout(),
            })
        })
}

/// Delivers `n` with up to `sink.retries()` retries, waiting [`backoff`] between attempts
/// and stopping at the first error that is not retryable. `on_attempt` hears of every
/// failed attempt (numbered from 1) before the wait; the last error is returned.
pub async fn deliver_with_retries(
    sink: &SinkConfig,
    n: &Notification,
    mut on_attempt: impl FnMut(u32, &DeliveryError),
) -> Result<(), DeliveryError> {
    let mut attempt = 1;
    loop {
        match deliver_once(sink, n).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                on_attempt(attempt, &e);
                if !e.is_retryable() || attempt > sink.retries() {
                    return Err(e);
                }
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
        }
    }
}

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    // A `Value` always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The `log` sink: one structured event in the daemon's log.
fn log(sink: &SinkConfig, n: &Notification) {
    let line = render::one_line(&format!("{}: {}", render::headline(n, true), n.message));
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                sink = %sink.name,
                notification = %n.id,
                kind = n.kind.as_str(),
                severity = render::severity(n.severity),
                node = %n.node,
                target = %n.target(),
                metric = n.metric.as_deref(),
                value = n.value,
                baseline = n.baseline,
                score = n.score,
                run_id = n.run_id.as_deref(),
                "{}",
                line
            )
        };
    }
    match n.severity {
        Severity::Info => event!(info),
        Severity::Warning | Severity::Critical => event!(warn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let nominal = |a: u32| RETRY.nominal(a.saturating_sub(1)).as_secs();
        let secs: Vec<u64> = (0..=12).map(nominal).collect();
        assert_eq!(secs, [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(RETRY.nominal(u32::MAX), Duration::from_secs(300));
        for a in 0..=12 {
            let wait = backoff(a);
            let n = RETRY.nominal(a.saturating_sub(1));
            assert!(
                wait >= n / 2 && wait <= n,
                "attempt {a}: {wait:?} not within [{n:?}/2, {n:?}]"
            );
        }
    }

    /// A log the test can read back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[tokio::test]
    async fn log_sink_writes_warn_for_warnings_and_info_for_info() {
        let log = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let sink = SinkConfig::new("log", SinkKind::Log);
        deliver_once(&sink, &fixtures::spike()).await.unwrap();
        let info = Notification {
            severity: Severity::Info,
            ..fixtures::spike()
        };
        deliver_once(&sink, &info).await.unwrap();

        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains(" WARN "), "{text}");
        assert!(lines[1].contains(" INFO "), "{text}");
        for expected in [
            "spike on site-a: weather/collect control 131 (baseline 100, score 4.25)",
            "sink=log",
            "notification=01J0000000000000000000SPKE",
            "kind=\"spike\"",
            "severity=\"warning\"",
            "value=131",
        ] {
            assert!(lines[0].contains(expected), "{expected} not in {text}");
        }
    }
}
