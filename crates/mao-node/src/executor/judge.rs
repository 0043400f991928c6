//! After a run: its control metrics judged against their history, and the notifications
//! a finished run calls for.

use std::path::PathBuf;
use std::time::Duration;

use mao_api::{RunRecord, RunStatus};
use tracing::warn;

use super::{Executor, METRIC_HISTORY};

impl Executor {
    /// Reads the metrics the run wrote and judges each against its history on this node
    /// (seeded from the folder's older control files on first use). A problem with the
    /// metrics is recorded on the run; it never fails the run.
    pub(super) async fn judge(&self, record: &mut RunRecord) {
        let dir = PathBuf::from(&record.data_dir);
        let since = written_since(record);
        let d = dir.clone();
        let collected = tokio::task::spawn_blocking(move || crate::metrics::collect(&d, since))
            .await
            .unwrap_or_default();
        record.metrics = collected.values;
        let mut problems = collected.problems;
        let spec = record.detector.clone().unwrap_or_default();
        let detector = match spec.detector() {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("detector: {e}"));
                None
            }
        };
        let subject = match (&record.pipeline, &record.step) {
            (Some(p), Some(s)) => format!("pipeline/{p}/{s}"),
            _ => format!("tool/{}", record.tool),
        };
        for (metric, value) in record.metrics.clone() {
            let mut history = match self.runs.metric_history(&subject, &metric).await {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("history of {metric}: {e}"));
                    continue;
                }
            };
            if history.is_empty() && metric == crate::metrics::CONTROL {
                let d = dir.clone();
                let seeds = tokio::task::spawn_blocking(move || crate::metrics::seed_history(&d))
                    .await
                    .unwrap_or_default();
                if !seeds.is_empty() {
                    let keyed: Vec<(String, f64)> = seeds
                        .iter()
                        .map(|(file, v)| (format!("a-{file}"), *v))
                        .collect();
                    let _ = self
                        .runs
                        .add_metric_values(&subject, &metric, &keyed, METRIC_HISTORY)
                        .await;
                    history = seeds.into_iter().map(|(_, v)| v).collect();
                }
            }
            if let Some(detector) = &detector {
                record.detection.push(mao_api::MetricJudgement {
                    metric: metric.clone(),
                    method: detector.method(),
                    judgement: detector.judge(&history, value),
                });
            }
            let entry = [(format!("r-{}", record.id), value)];
            if let Err(e) = self
                .runs
                .add_metric_values(&subject, &metric, &entry, METRIC_HISTORY)
                .await
            {
                problems.push(format!("history of {metric}: {e}"));
            }
        }
        if !problems.is_empty() {
            warn!(run_id = %record.id, problems = %problems.join("; "), "metrics not fully usable");
            record.metrics_error = Some(problems.join("; "));
        }
    }

    /// Publishes the `insights.json` the run wrote, if it wrote one; a file that cannot
    /// be published is recorded on the run as `insights_error` and never fails it.
    pub(super) async fn publish_insights(&self, record: &mut RunRecord) {
        let dir = PathBuf::from(&record.data_dir);
        let since = written_since(record);
        let read = tokio::task::spawn_blocking(move || crate::insights::read(&dir, since)).await;
        let object = match read {
            Ok(Ok(Some(object))) => object,
            Ok(Ok(None)) => return,
            Ok(Err(why)) => {
                warn!(run_id = %record.id, error = %why, "insights not published");
                record.insights_error = Some(why);
                return;
            }
            Err(e) => {
                record.insights_error = Some(format!("cannot read {}: {e}", crate::insights::FILE));
                return;
            }
        };
        let insight = mao_api::Insight {
            tool: record.tool.clone(),
            node: self.node.clone(),
            run_id: record.id.clone(),
            published_at: record.finished_at.unwrap_or_else(chrono::Utc::now),
            insights: object,
        };
        if let Err(e) = self.insights.publish(&insight).await {
            warn!(run_id = %record.id, error = %e, "insights not published");
            record.insights_error = Some(format!("cannot publish the insights: {e}"));
        }
    }

    /// Raises the notifications a finished run calls for: its failure, its spikes.
    pub(super) async fn report(&self, record: &RunRecord) {
        use crate::notify::Draft;
        use mao_api::{NotificationKind, Severity, Verdict};
        let notifier = &self.notifier;
        let what = match (&record.pipeline, &record.step) {
            (Some(p), Some(s)) => format!("step {s} of pipeline {p} (tool {})", record.tool),
            _ => format!("tool {}", record.tool),
        };
        if matches!(
            record.status,
            RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost
        ) {
            let message = format!(
                "run {} of {what} on node {} ended {}: {}",
                record.id,
                self.node,
                record.status.as_str(),
                record.error.as_deref().unwrap_or("no reason recorded")
            );
            notifier
                .raise(
                    Draft::new(NotificationKind::RunFailed, Severity::Warning, message)
                        .about_run(record),
                )
                .await;
        }
        for m in &record.detection {
            let j = &m.judgement;
            let direction = match j.verdict {
                Verdict::SpikeUp => "up",
                Verdict::SpikeDown => "down",
                _ => continue,
            };
            let change = j
                .change_pct
                .map(|c| format!(" ({c:+.1} %)"))
                .unwrap_or_default();
            let message = format!(
                "{} of {what} on node {} jumped {direction}: {} against a baseline of {}{change}; score {:.2} ({} over {} earlier values)",
                m.metric,
                self.node,
                j.value,
                j.baseline.map(|b| format!("{b}")).unwrap_or_else(|| "?".into()),
                j.score,
                m.method,
                j.history_len
            );
            let mut draft =
                Draft::new(NotificationKind::Spike, Severity::Warning, message).about_run(record);
            draft.metric = Some(m.metric.clone());
            draft.value = Some(j.value);
            draft.baseline = j.baseline;
            draft.score = Some(j.score);
            notifier.raise(draft).await;
        }
    }
}

/// Files modified since this instant were written by the run: its start, less a little
/// skew (the container's files carry the host's clock).
fn written_since(record: &RunRecord) -> Option<std::time::SystemTime> {
    record
        .started_at
        .map(|t| std::time::SystemTime::from(t) - Duration::from_secs(2))
}
