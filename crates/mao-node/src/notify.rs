//! Notifications: raised by runs, the detector and the git work; stored in the shared
//! store (`/mao/notifications/<id>`) so the whole federation sees them; delivered by the
//! node that raised them to its own sinks.
//!
//! Delivery is durable: a notification's deliveries (one per routed sink) are saved in
//! the local store before the notification is published, and the deliverer works from
//! that record, so a notification not yet delivered when the daemon dies is delivered
//! after the restart. Per sink, the same news (kind + target + metric) goes out at most
//! once per the sink's repeat interval. Failed attempts are retried with exponential
//! backoff, then marked failed with the reason. Nothing here blocks a run.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use mao_api::{Notification, NotificationKind, Severity};
use mao_notify::SinkConfig;
use mao_store::{Store, StoreError};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::local::{Delivery, DeliveryState, LocalStore};
use crate::registry::{Registry, RegistryError};
use crate::Keys;

/// Deliveries attempted at once.
const PARALLEL: usize = 16;
/// Finished deliveries remembered (by notification).
const KEEP_DELIVERED: usize = 1000;

/// What raises and delivers this node's notifications.
pub struct Notifier {
    store: Arc<dyn Store>,
    keys: Keys,
    node: String,
    local: LocalStore,
    sinks: Vec<SinkConfig>,
    wake: Notify,
    /// The federation's notifications (`/mao/notifications/`).
    notifications: Registry<Notification>,
}

/// A notification before it has an id, a node and a time.
#[derive(Clone, Debug)]
pub struct Draft {
    pub kind: NotificationKind,
    pub severity: Severity,
    pub tool: Option<String>,
    pub pipeline: Option<String>,
    pub step: Option<String>,
    pub run_id: Option<String>,
    pub dataset: Option<String>,
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub score: Option<f64>,
    pub message: String,
}

impl Draft {
    /// A draft of `kind` with only a message.
    pub fn new(kind: NotificationKind, severity: Severity, message: impl Into<String>) -> Draft {
        Draft {
            kind,
            severity,
            tool: None,
            pipeline: None,
            step: None,
            run_id: None,
            dataset: None,
            metric: None,
            value: None,
            baseline: None,
            score: None,
            message: message.into(),
        }
    }

    /// The run's tool, pipeline, step and id.
    pub fn about_run(mut self, r: &mao_api::RunRecord) -> Draft {
        self.tool = Some(r.tool.clone());
        self.pipeline = r.pipeline.clone();
        self.step = r.step.clone();
        self.run_id = Some(r.id.clone());
        self
    }
}

impl Notifier {
    /// A notifier delivering to `sinks`, publishing to `notifications`.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Keys,
        node: String,
        local: LocalStore,
        sinks: Vec<SinkConfig>,
        notifications: Registry<Notification>,
    ) -> Notifier {
        Notifier {
            store,
            keys,
            node,
            local,
            sinks,
            wake: Notify::new(),
            notifications,
        }
    }

    /// Notifications newest first: the federation's, and this node's not yet published
    /// (whoever raised one sees it at once, the rest of the federation once it is out).
    pub async fn list(
        &self,
        kind: Option<NotificationKind>,
        unacked: bool,
        limit: usize,
    ) -> Result<Vec<Notification>, RegistryError> {
        let mut all: std::collections::BTreeMap<String, Notification> = self
            .local
            .outbox()
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        for (id, stored) in self.notifications.entries().await? {
            if let Ok(n) = serde_json::from_slice::<Notification>(&stored.json) {
                all.insert(id, n);
            }
        }
        Ok(all
            .into_values()
            .rev()
            .filter(|n| kind.is_none_or(|k| k == n.kind))
            .filter(|n| !unacked || n.acknowledged_at.is_none())
            .take(limit)
            .collect())
    }

    /// One notification, published or still in this node's outbox.
    pub async fn get(&self, id: &str) -> Result<Notification, RegistryError> {
        match self.notifications.get(id).await {
            Ok((n, _)) => Ok(n),
            Err(e) if e.is_not_found() => {
                let waiting = self.local.outbox().await?.into_iter().find(|n| n.id == id);
                waiting.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Acknowledges a notification for the whole federation (once: a second ack keeps the
    /// first one's name and time).
    pub async fn ack(&self, id: &str, by: Option<String>) -> Result<Notification, RegistryError> {
        let by = by.unwrap_or_else(|| self.node.clone());
        mao_api::validate::text("by", &by, 200, true)?;
        let (n, _) = self
            .notifications
            .update(id, |n: &mut Notification| {
                if n.acknowledged_at.is_none() {
                    n.acknowledged_by = Some(by.clone());
                    n.acknowledged_at = Some(Utc::now());
                }
                Ok::<(), RegistryError>(())
            })
            .await?;
        Ok(n)
    }

    /// Where this node's deliveries of notification `id` stand.
    pub async fn deliveries_of(&self, id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.local.deliveries_of(id).await
    }

    /// Raises a notification: saves its deliveries, publishes it, wakes the deliverer.
    /// Errors are logged, never returned: a notification must not fail what raised it.
    pub async fn raise(&self, draft: Draft) {
        let n = Notification {
            id: ulid::Ulid::new().to_string(),
            kind: draft.kind,
            severity: draft.severity,
            node: self.node.clone(),
            tool: draft.tool,
            pipeline: draft.pipeline,
            step: draft.step,
            run_id: draft.run_id,
            dataset: draft.dataset,
            metric: draft.metric,
            value: draft.value,
            baseline: draft.baseline,
            score: draft.score,
            message: draft.message,
            created_at: Utc::now(),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        let now = Utc::now();
        let deliveries: Vec<Delivery> = self
            .sinks
            .iter()
            .filter(|s| s.routes(n.kind))
            .map(|s| Delivery {
                notification: n.clone(),
                sink: s.name.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                last_error: None,
                next_attempt_at: None,
                updated_at: now,
            })
            .collect();
        // Saved locally only: publishing and delivering are the deliverer's, so a slow or
        // unreachable store never holds up the run that raised it.
        if let Err(e) = self.local.save_raised(&n, &deliveries).await {
            error!(error = %e, "cannot save a notification");
            return;
        }
        info!(notification = %n.id, kind = n.kind.as_str(), target = %n.target(), "notification raised");
        self.wake.notify_one();
    }

    /// Writes the notification to the shared store unless it is there already.
    async fn publish(&self, n: &Notification) -> Result<(), StoreError> {
        let key = self.key(&n.id);
        let json = Bytes::from(serde_json::to_vec(n).expect("notifications serialize"));
        match self.store.create(&key, json, None).await {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The store key of a notification.
    pub fn key(&self, id: &str) -> String {
        format!("{}{}", self.keys.collection("notifications"), id)
    }

    /// The configured sinks.
    pub fn sinks(&self) -> &[SinkConfig] {
        &self.sinks
    }

    /// Delivers pending notifications until the process ends.
    pub async fn deliverer(self: Arc<Self>) {
        let mut last_prune = std::time::Instant::now();
        // After a restart every pending delivery is tried at once, whatever its backoff.
        let mut first = true;
        loop {
            let next = match self.deliver_due(std::mem::take(&mut first)).await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "cannot read the pending deliveries");
                    Some(Duration::from_secs(5))
                }
            };
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = std::time::Instant::now();
                let _ = self.local.prune_deliveries(KEEP_DELIVERED).await;
            }
            let wait = next.unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Attempts every delivery that is due; returns how long until the next one is.
    async fn deliver_due(self: &Arc<Self>, all: bool) -> Result<Option<Duration>, StoreError> {
        let mut next: Option<Duration> = None;
        for n in self.local.outbox().await? {
            match self.publish(&n).await {
                Ok(()) => self.local.published(&n.id).await?,
                Err(e) => {
                    warn!(notification = %n.id, error = %e, "cannot publish the notification yet; retrying");
                    next = Some(Duration::from_secs(5));
                    break;
                }
            }
        }
        let now = Utc::now();
        let pending: Vec<Delivery> = self
            .local
            .deliveries()
            .await?
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .collect();
        let mut due = Vec::new();
        // One delivery per sink and news at a time: the next sees whether it went out.
        let mut taken = std::collections::HashMap::new();
        for d in pending {
            let waiting = d.next_attempt_at.is_some_and(|t| t > now) && !all;
            let key = (d.sink.clone(), d.notification.dedup_key());
            if let Some(sibling_due) = taken.get(&key) {
                if *sibling_due {
                    // Try again once the sibling's attempt is recorded.
                    let soon = Duration::from_secs(1);
                    next = Some(next.map_or(soon, |n| n.min(soon)));
                }
                continue;
            }
            taken.insert(key, !waiting);
            match d.next_attempt_at {
                Some(t) if t > now && !all => {
                    let wait = (t - now).to_std().unwrap_or_default();
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
                _ => due.push(d),
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for d in due {
            while tasks.len() >= PARALLEL {
                if let Some(Ok(Some(wait))) = tasks.join_next().await {
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
            }
            let this = self.clone();
            tasks.spawn(async move { this.attempt(d).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Ok(Some(wait)) = r {
                next = Some(next.map_or(wait, |n| n.min(wait)));
            }
        }
        Ok(next)
    }

    /// One attempt of one delivery; returns when the next attempt is due, if any.
    async fn attempt(&self, mut d: Delivery) -> Option<Duration> {
        let Some(sink) = self.sinks.iter().find(|s| s.name == d.sink) else {
            d.state = DeliveryState::Failed;
            d.last_error = Some(format!(
                "sink {:?} is no longer configured on this node",
                d.sink
            ));
            d.updated_at = Utc::now();
            let _ = self.local.save_delivery(&d).await;
            return None;
        };
        let key = d.notification.dedup_key();
        // Checked before every attempt: news that went out while this one was retried is
        // not sent again.
        if let Ok(Some(last)) = self.local.last_sent(&d.sink, &key).await {
            let interval =
                chrono::Duration::from_std(sink.repeat_interval()).unwrap_or(chrono::Duration::MAX);
            if last
                .checked_add_signed(interval)
                .is_some_and(|t| t > Utc::now())
            {
                d.state = DeliveryState::Suppressed;
                d.last_error = Some(format!(
                    "the same news went to this sink at {} (repeat interval {})",
                    last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    mao_api::units::format_duration(sink.repeat_interval())
                ));
                d.updated_at = Utc::now();
                let _ = self.local.save_delivery(&d).await;
                return None;
            }
        }
        d.attempts += 1;
        let result = mao_notify::deliver_once(sink, &d.notification).await;
        d.updated_at = Utc::now();
        let next = match result {
            Ok(()) => {
                d.state = DeliveryState::Delivered;
                d.last_error = None;
                d.next_attempt_at = None;
                let _ = self.local.set_last_sent(&d.sink, &key, Utc::now()).await;
                info!(notification = %d.notification.id, sink = %d.sink, attempts = d.attempts, "notification delivered");
                None
            }
            Err(e) if e.is_retryable() && d.attempts <= sink.retries() => {
                let wait = mao_notify::backoff(d.attempts);
                d.last_error = Some(e.to_string());
                d.next_attempt_at = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|w| Utc::now().checked_add_signed(w));
                warn!(notification = %d.notification.id, sink = %d.sink, attempt = d.attempts, error = %e, "delivery failed; retrying");
                Some(wait)
            }
            Err(e) => {
                d.state = DeliveryState::Failed;
                d.last_error = Some(e.to_string());
                d.next_attempt_at = None;
                error!(notification = %d.notification.id, sink = %d.sink, attempts = d.attempts, error = %e, "delivery failed for good");
                None
            }
        };
        if let Err(e) = self.local.save_delivery(&d).await {
            error!(error = %e, "cannot save a delivery's state");
        }
        next
    }
}

/// Notifications kept in the shared store: none older than this.
pub const KEEP_FOR: chrono::Duration = chrono::Duration::days(90);
/// ... and at most this many (the newest).
pub const KEEP_AT_MOST: usize = 10_000;

/// Which notifications go: older than `max_age`, or beyond the newest `max_count`.
/// `items` are (id, created_at), oldest first (ids are ULIDs).
pub fn expired(
    items: &[(String, chrono::DateTime<Utc>)],
    now: chrono::DateTime<Utc>,
    max_age: chrono::Duration,
    max_count: usize,
) -> Vec<String> {
    let excess = items.len().saturating_sub(max_count);
    items
        .iter()
        .enumerate()
        .filter(|(i, (_, created))| *i < excess || now - *created > max_age)
        .map(|(_, (id, _))| id.clone())
        .collect()
}

/// Deletes expired notifications from the shared store, every hour, on every node (a
/// delete is idempotent and conditional on the revision read).
pub async fn collect_old(notifier: Arc<Notifier>) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let Ok(entries) = notifier.notifications.entries().await else {
            continue;
        };
        let items: Vec<(String, chrono::DateTime<Utc>, i64)> = entries
            .iter()
            .filter_map(|(id, stored)| {
                let n: Notification = serde_json::from_slice(&stored.json).ok()?;
                Some((id.clone(), n.created_at, stored.revision))
            })
            .collect();
        let pairs: Vec<(String, chrono::DateTime<Utc>)> =
            items.iter().map(|(id, at, _)| (id.clone(), *at)).collect();
        let gone = expired(&pairs, Utc::now(), KEEP_FOR, KEEP_AT_MOST);
        for id in &gone {
            if let Some((_, _, rev)) = items.iter().find(|(i, _, _)| i == id) {
                let key = notifier.key(id);
                let _ = notifier.store.compare_and_delete(&key, *rev).await;
            }
        }
        if !gone.is_empty() {
            info!(deleted = gone.len(), "old notifications deleted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_excess_notifications_expire() {
        let now = Utc::now();
        let items: Vec<(String, chrono::DateTime<Utc>)> = [100, 50, 3, 2, 1]
            .iter()
            .enumerate()
            .map(|(i, days)| (format!("n{i}"), now - chrono::Duration::days(*days)))
            .collect();
        assert_eq!(expired(&items, now, chrono::Duration::days(90), 10), ["n0"]);
        assert_eq!(
            expired(&items, now, chrono::Duration::days(90), 2),
            ["n0", "n1", "n2"]
        );
        assert!(expired(&items, now, chrono::Duration::days(365), 10).is_empty());
    }
}
