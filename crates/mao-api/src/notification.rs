//! Notifications: what an operator must see, shared by the whole federation
//! (`/mao/notifications/<id>`), and what the detector said of a run's metrics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use mao_detector::{Direction, Judgement, Method, Spec as DetectorSpec, Verdict};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A control metric jumped.
    Spike,
    /// A run failed, timed out or was lost.
    RunFailed,
    /// A push of collected data keeps failing (the remote is down, or refuses).
    PushFailing,
    /// Someone else pushed to this node's branch and the commits conflict.
    PushConflict,
    /// Merging the node branch into ground-truth conflicts.
    GroundTruthConflict,
}

impl NotificationKind {
    /// Every kind, for routing and help texts.
    pub const ALL: [NotificationKind; 5] = [
        NotificationKind::Spike,
        NotificationKind::RunFailed,
        NotificationKind::PushFailing,
        NotificationKind::PushConflict,
        NotificationKind::GroundTruthConflict,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Spike => "spike",
            NotificationKind::RunFailed => "run_failed",
            NotificationKind::PushFailing => "push_failing",
            NotificationKind::PushConflict => "push_conflict",
            NotificationKind::GroundTruthConflict => "ground_truth_conflict",
        }
    }
}

impl std::str::FromStr for NotificationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a notification kind ({})",
                    NotificationKind::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

/// How urgent it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One notification, as stored in the shared store and sent to sinks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Sortable id (ULID).
    pub id: String,
    pub kind: NotificationKind,
    pub severity: Severity,
    /// The node it happened on.
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// For people: what happened and what to do.
    pub message: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// What it is about: `pipeline/step`, `tool`, or the dataset.
    pub fn target(&self) -> String {
        match (&self.pipeline, &self.step, &self.tool, &self.dataset) {
            (Some(p), Some(s), _, _) => format!("{p}/{s}"),
            (Some(p), None, _, _) => p.clone(),
            (None, _, Some(t), _) => t.clone(),
            (None, _, None, Some(d)) => d.clone(),
            _ => String::new(),
        }
    }

    /// Two notifications with the same key are the same news: a sink gets it once per
    /// repeat interval. Kind + target + metric.
    pub fn dedup_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.kind.as_str(),
            self.target(),
            self.metric.as_deref().unwrap_or("")
        )
    }
}

/// What the detector said of one metric of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricJudgement {
    pub metric: String,
    pub method: Method,
    #[serde(flatten)]
    pub judgement: Judgement,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_dedup_key() {
        for k in NotificationKind::ALL {
            assert_eq!(k.as_str().parse::<NotificationKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!("nope".parse::<NotificationKind>().is_err());
        let n = Notification {
            id: "01".into(),
            kind: NotificationKind::Spike,
            severity: Severity::Warning,
            node: "a".into(),
            tool: Some("demo".into()),
            pipeline: Some("p".into()),
            step: Some("s".into()),
            run_id: None,
            dataset: None,
            metric: Some("control".into()),
            value: Some(2.0),
            baseline: Some(1.0),
            score: Some(0.9),
            message: "m".into(),
            created_at: Utc::now(),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        assert_eq!(n.dedup_key(), "spike|p/s|control");
    }
}
