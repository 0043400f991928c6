//! What a notification looks like in each sink: webhook JSON, a Slack line, an email.

use mao_api::{Notification, Severity};
use serde_json::json;

/// The `schema` field of every webhook body; a change of shape gets a new version.
pub const WEBHOOK_SCHEMA: &str = "mao.notification/v1";

/// The webhook body: `{"schema": "mao.notification/v1", "notification": {...}}`.
pub fn webhook_payload(n: &Notification) -> serde_json::Value {
    json!({ "schema": WEBHOOK_SCHEMA, "notification": n })
}

/// The Slack body: `{"text": "<one line>"}`.
pub fn slack_payload(n: &Notification) -> serde_json::Value {
    json!({ "text": slack_text(n) })
}

/// One line for people: `[warning] spike on site-a: weather/collect control 131
/// (baseline 100, score 4.2): <message>`.
pub fn slack_text(n: &Notification) -> String {
    one_line(&format!(
        "[{}] {}: {}",
        severity(n.severity),
        headline(n, true),
        n.message
    ))
}

/// The email subject: `[mao] spike on site-a: weather/collect control 131 (baseline 100)`.
pub fn email_subject(n: &Notification) -> String {
    one_line(&format!("[mao] {}", headline(n, false)))
}

/// The plain-text email body: the headline, the message, then every field.
pub fn email_body(n: &Notification) -> String {
    let mut out = format!("{}\n\n{}\n\n", headline(n, true), n.message.trim_end());
    let mut field = |label: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push_str(&format!("{label:<10} {v}\n"));
        }
    };
    field("id:", Some(n.id.clone()));
    field("kind:", Some(n.kind.as_str().to_owned()));
    field("severity:", Some(severity(n.severity).to_owned()));
    field("node:", Some(n.node.clone()));
    field("pipeline:", n.pipeline.clone());
    field("step:", n.step.clone());
    field("tool:", n.tool.clone());
    field("run:", n.run_id.clone());
    field("dataset:", n.dataset.clone());
    field("metric:", n.metric.clone());
    field("value:", n.value.map(number));
    field("baseline:", n.baseline.map(number));
    field("score:", n.score.map(number));
    field("created:", Some(n.created_at.to_rfc3339()));
    field("acked by:", n.acknowledged_by.clone());
    field("acked at:", n.acknowledged_at.map(|t| t.to_rfc3339()));
    out
}

/// `spike on site-a: weather/collect control 131 (baseline 100[, score 4.2])`: kind,
/// node, then whatever of target, metric, value, baseline and score the notification has.
pub fn headline(n: &Notification, with_score: bool) -> String {
    let mut out = format!("{} on {}", n.kind.as_str().replace('_', " "), n.node);
    let target = n.target();
    let subject: Vec<String> = [
        (!target.is_empty()).then_some(target),
        n.metric.clone(),
        n.value.map(number),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !subject.is_empty() {
        out.push_str(": ");
        out.push_str(&subject.join(" "));
    }
    let mut context = Vec::new();
    if let Some(b) = n.baseline {
        context.push(format!("baseline {}", number(b)));
    }
    if let Some(s) = n.score.filter(|_| with_score) {
        context.push(format!("score {}", number(s)));
    }
    if !context.is_empty() {
        out.push_str(&format!(" ({})", context.join(", ")));
    }
    out
}

pub(crate) fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// `131`, `0.9312`, `-2.5`: at most 4 decimals, no trailing zeros.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::spike;
    use mao_api::NotificationKind;

    #[test]
    fn subject_and_slack_line() {
        let n = spike();
        assert_eq!(
            email_subject(&n),
            "[mao] spike on site-a: weather/collect control 131 (baseline 100)"
        );
        assert_eq!(
            slack_text(&n),
            "[warning] spike on site-a: weather/collect control 131 (baseline 100, score 4.25): \
             control jumped from 100 to 131; check the sensor"
        );
        assert_eq!(
            slack_payload(&n),
            json!({ "text": slack_text(&n) }),
            "slack gets exactly one field"
        );
        let bare = Notification {
            kind: NotificationKind::PushFailing,
            pipeline: None,
            step: None,
            tool: None,
            metric: None,
            value: None,
            baseline: None,
            score: None,
            dataset: Some("weather-data".into()),
            ..spike()
        };
        assert_eq!(
            headline(&bare, true),
            "push failing on site-a: weather-data"
        );
    }

    #[test]
    fn body_lists_every_field() {
        let body = email_body(&spike());
        for expected in [
            "id:        01J0000000000000000000SPKE",
            "kind:      spike",
            "severity:  warning",
            "pipeline:  weather",
            "step:      collect",
            "run:       01J0000000000000000000RUN1",
            "value:     131",
            "score:     4.25",
            "created:   2025-01-02T03:04:05+00:00",
            "check the sensor",
        ] {
            assert!(body.contains(expected), "{expected:?} not in\n{body}");
        }
        assert!(!body.contains("dataset:"), "{body}");
    }

    #[test]
    fn webhook_schema() {
        let n = spike();
        let v = webhook_payload(&n);
        assert_eq!(v["schema"], "mao.notification/v1");
        let back: Notification = serde_json::from_value(v["notification"].clone()).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn numbers() {
        assert_eq!(number(131.0), "131");
        assert_eq!(number(0.93127), "0.9313");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(number(-0.00001), "0");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
