//! Webhook and Slack sinks against a real HTTP server on a loopback port.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{sink, spike};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use mao_api::Notification;
use mao_notify::{deliver_once, deliver_with_retries, DeliveryError, SinkConfig};
use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    uri: Uri,
    headers: HeaderMap,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// How the receiver answers one request.
#[derive(Clone)]
enum Answer {
    Status(u16, String),
    /// Never answers.
    Hang,
}

/// A real HTTP server on 127.0.0.1:<free port> that records every request and answers
/// with the next of its answers (then 200). Stops with the test's runtime.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answers: Vec<Answer>) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let record = got.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            let answers = answers.clone();
            async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                record.lock().unwrap().push(Received { uri, headers, body });
                let answer = answers.lock().unwrap().pop_front();
                match answer.unwrap_or(Answer::Status(200, "ok".into())) {
                    Answer::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text),
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        (StatusCode::OK, String::new())
                    }
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { port, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn webhook(url: &str, extra: &str) -> SinkConfig {
    sink(&format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"{url}\"\n{extra}"
    ))
}

#[tokio::test]
async fn webhook_posts_the_documented_schema() {
    let r = Receiver::start(vec![]).await;
    let url = format!("http://127.0.0.1:{}/hooks/mao?token=t0ken", r.port);
    let s = webhook(&url, "headers = { Authorization = \"Bearer s3cret\" }");
    let n = spike();
    deliver_once(&s, &n).await.unwrap();

    let got = r.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.uri.path(), "/hooks/mao");
    assert_eq!(
        req.uri.query(),
        Some("token=t0ken"),
        "the URL is used whole"
    );
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("idempotency-key"), n.id);
    assert_eq!(req.header("authorization"), "Bearer s3cret");
    assert_eq!(
        req.header("user-agent"),
        format!("mao-orchestrator/{}", env!("CARGO_PKG_VERSION"))
    );
    let body = req.body.as_object().unwrap();
    assert_eq!(body.len(), 2, "{body:?}");
    assert_eq!(body["schema"], "mao.notification/v1");
    let sent: Notification = serde_json::from_value(body["notification"].clone()).unwrap();
    assert_eq!(sent, n);
    assert_eq!(body["notification"]["kind"], "spike");
    assert_eq!(body["notification"]["value"], 131.0);
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_idempotency_key() {
    let r = Receiver::start(vec![Answer::Status(500, "database down".into())]).await;
    let s = webhook(&format!("http://127.0.0.1:{}/hook", r.port), "retries = 3");
    let n = spike();
    let mut failures = Vec::new();
    deliver_with_retries(&s, &n, |attempt, e| failures.push((attempt, e.to_string())))
        .await
        .unwrap();

    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, 1);
    assert!(
        failures[0].1.contains("answered HTTP 500: database down"),
        "{failures:?}"
    );
    let got = r.received();
    assert_eq!(got.len(), 2, "delivered on the second attempt");
    assert_eq!(got[0].header("idempotency-key"), n.id);
    assert_eq!(got[1].header("idempotency-key"), n.id);
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    let answers = vec![Answer::Status(503, String::new()); 5];
    let r = Receiver::start(answers).await;
    let s = webhook(&format!("http://127.0.0.1:{}/hook", r.port), "retries = 1");
    let mut attempts = Vec::new();
    let e = deliver_with_retries(&s, &spike(), |a, _| attempts.push(a))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DeliveryError::HttpStatus { status: 503, .. }),
        "{e}"
    );
    assert_eq!(attempts, [1, 2]);
    assert_eq!(r.received().len(), 2);
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let r = Receiver::start(vec![Answer::Hang]).await;
    let s = webhook(
        &format!("http://127.0.0.1:{}/hook?token=t0ken", r.port),
        "timeout = \"1s\"",
    );
    let started = Instant::now();
    let e = deliver_once(&s, &spike()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, DeliveryError::Timeout { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!("http://127.0.0.1:{}/... did not answer within 1s", r.port)
    );
    // Bounded by the sink's timeout, give or take the scheduler.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn connection_refused_is_retryable_and_names_no_secret() {
    // Held closed: nobody else can start listening there during the test.
    let closed = mao_testkit::ports::ClosedPort::new();
    let port = closed.port();
    let s = webhook(
        &format!("http://user:pa55@127.0.0.1:{port}/hook?token=t0ken"),
        "retries = 0",
    );
    let mut calls = 0;
    let e = deliver_with_retries(&s, &spike(), |_, _| calls += 1)
        .await
        .unwrap_err();
    assert_eq!(calls, 1, "retries = 0 makes one attempt");
    assert!(matches!(e, DeliveryError::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
    let text = format!("{e} {e:?}");
    assert!(
        text.contains(&format!("cannot reach http://127.0.0.1:{port}/...")),
        "{text}"
    );
    assert!(
        !text.contains("t0ken") && !text.contains("pa55") && !text.contains("/hook"),
        "{text}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let long = "x".repeat(1000);
    let r = Receiver::start(vec![
        Answer::Status(400, format!("missing field\n{long}")),
        Answer::Status(302, String::new()),
        Answer::Status(429, "slow down".into()),
    ])
    .await;
    let s = webhook(&format!("http://127.0.0.1:{}/hook", r.port), "retries = 5");
    let mut calls = 0;
    let e = deliver_with_retries(&s, &spike(), |_, _| calls += 1)
        .await
        .unwrap_err();
    assert_eq!(calls, 1, "a 400 is not retried");
    let DeliveryError::HttpStatus { status, body, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*status, 400);
    assert!(body.starts_with("missing field xxx"), "{body}");
    assert!(body.len() <= 200, "{} bytes", body.len());
    assert!(!e.is_retryable());

    let e = deliver_once(&s, &spike()).await.unwrap_err();
    assert!(
        matches!(e, DeliveryError::HttpStatus { status: 302, .. }),
        "{e:?}"
    );
    assert!(!e.is_retryable(), "a redirect is not followed: {e}");
    assert!(e.to_string().contains("redirect"), "{e}");

    let e = deliver_once(&s, &spike()).await.unwrap_err();
    assert!(
        matches!(e, DeliveryError::HttpStatus { status: 429, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn https_to_a_plain_server_is_a_tls_error() {
    let r = Receiver::start(vec![]).await;
    let s = webhook(&format!("https://127.0.0.1:{}/hook", r.port), "");
    let e = deliver_once(&s, &spike()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Tls { .. }), "{e:?}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn slack_gets_one_line_of_text() {
    let r = Receiver::start(vec![]).await;
    let s = sink(&format!(
        "name = \"chat\"\ntype = \"slack\"\nurl = \"http://127.0.0.1:{}/services/T0/B0/sl4ck\"",
        r.port
    ));
    deliver_once(&s, &spike()).await.unwrap();
    let got = r.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].uri.path(), "/services/T0/B0/sl4ck");
    assert_eq!(got[0].header("content-type"), "application/json");
    let body = got[0].body.as_object().unwrap();
    assert_eq!(body.len(), 1, "{body:?}");
    assert_eq!(
        body["text"],
        "[warning] spike on site-a: weather/collect control 131 (baseline 100, score 4.25): \
         control jumped from 100 to 131; check the sensor"
    );
    assert!(!format!("{s:?}").contains("sl4ck"));
}
