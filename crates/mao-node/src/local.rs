//! The node's local state (`<data-dir>/local.redb`, never in etcd): run records, the last
//! slot each schedule fired on this node, and the history of slots.

use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mao_api::{PipelineRun, RunRecord, SlotRecord};
use mao_store::embedded::EmbeddedStore;
use mao_store::{list_all, Result, Store, StoreError};

use crate::redact::Redactor;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "/runs/";
const SCHEDULE_STATE: &str = "/schedule-state/";
const SLOTS: &str = "/slots/";
const PIPELINE_RUNS: &str = "/pipeline-runs/";
const PENDING_PUSHES: &str = "/pending-pushes/";
const METRIC_HISTORY: &str = "/metric-history/";
const DELIVERIES: &str = "/deliveries/";
const DEDUP: &str = "/dedup/";
const OUTBOX: &str = "/outbox/";
const BINDINGS: &str = "/bindings/";

/// What a pending push remembers besides its run.
#[derive(Serialize, Deserialize)]
struct PendingPush {
    #[serde(default)]
    merge: bool,
}

/// Where one notification is on its way to one sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub notification: mao_api::Notification,
    pub sink: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Not before this instant (backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The state of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Retries exhausted, or an answer not worth retrying; `last_error` says why.
    Failed,
    /// The same news (kind + target + metric) went to this sink within its repeat interval.
    Suppressed,
}

/// What this node remembers of a schedule between restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The newest slot handled (fired, skipped or missed); never handled again.
    pub last_slot: Option<DateTime<Utc>>,
    pub last_run_id: Option<String>,
    /// The `created_at` of the schedule this state belongs to: a schedule removed and
    /// created again under the same id starts afresh.
    #[serde(default)]
    pub schedule_created_at: Option<DateTime<Utc>>,
}

/// The node's run records, keyed by run id (ULIDs sort by time).
#[derive(Clone)]
pub struct LocalStore {
    store: EmbeddedStore,
    /// Known secrets, masked in every string of a run record or pipeline run saved.
    redactor: Redactor,
}

impl LocalStore {
    /// Opens the local store file.
    pub fn open(path: &Path) -> Result<LocalStore> {
        Ok(LocalStore {
            store: EmbeddedStore::open(path)?,
            redactor: Redactor::default(),
        })
    }

    /// The same store, masking `redactor`'s secrets in what it saves.
    pub fn with_redactor(mut self, redactor: Redactor) -> LocalStore {
        self.redactor = redactor;
        self
    }

    /// The secrets this store masks (the executor masks run logs with them too).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Writes a record (durably: it survives kill -9 once this returns).
    pub async fn save(&self, record: &RunRecord) -> Result<()> {
        let record = &self.redactor.redact_value(record.clone());
        let json = serde_json::to_vec(record).expect("run records serialize");
        self.store
            .put(&format!("{PREFIX}{}", record.id), Bytes::from(json), None)
            .await
            .map(|_| ())
    }

    /// One record.
    pub async fn get(&self, id: &str) -> Result<Option<RunRecord>> {
        // Run ids and schedule ids never collide: they live under different prefixes.
        match self.store.get(&format!("{PREFIX}{id}")).await? {
            Some(kv) => decode(&kv.value).map(Some),
            None => Ok(None),
        }
    }

    /// Every record, oldest first.
    pub async fn list(&self) -> Result<Vec<RunRecord>> {
        let page = list_all(&self.store, PREFIX, 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// Deletes a record.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.store
            .delete(&format!("{PREFIX}{id}"))
            .await
            .map(|_| ())
    }

    /// The state of a schedule on this node.
    pub async fn schedule_state(&self, id: &str) -> Result<ScheduleState> {
        match self.store.get(&format!("{SCHEDULE_STATE}{id}")).await? {
            Some(kv) => decode(&kv.value),
            None => Ok(ScheduleState::default()),
        }
    }

    /// Saves the states of many schedules and the records of their slots in one commit
    /// (one fsync), so a thousand slots firing at once do not queue behind the disk.
    pub async fn save_slots(
        &self,
        states: &[(String, ScheduleState)],
        records: &[SlotRecord],
    ) -> Result<()> {
        let mut items = Vec::with_capacity(states.len() + records.len());
        for (id, state) in states {
            let json = serde_json::to_vec(state).expect("schedule state serializes");
            items.push((format!("{SCHEDULE_STATE}{id}"), Bytes::from(json)));
        }
        for record in records {
            let json = serde_json::to_vec(record).expect("slot records serialize");
            let key = format!(
                "{SLOTS}{}/{:020}",
                record.schedule,
                record.slot.timestamp_millis()
            );
            items.push((key, Bytes::from(json)));
        }
        self.store.put_many(items).await.map(|_| ())
    }

    /// The slots of a schedule, newest first, at most `limit`.
    pub async fn slots(&self, id: &str, limit: usize) -> Result<Vec<SlotRecord>> {
        let page = list_all(&self.store, &format!("{SLOTS}{id}/"), 1000).await?;
        page.kvs
            .iter()
            .rev()
            .take(limit)
            .map(|kv| decode(&kv.value))
            .collect()
    }

    /// Keeps the newest `keep` slot records of a schedule.
    pub async fn prune_slots(&self, id: &str, keep: usize) -> Result<()> {
        let page = list_all(&self.store, &format!("{SLOTS}{id}/"), 1000).await?;
        let excess = page.kvs.len().saturating_sub(keep);
        for kv in &page.kvs[..excess] {
            self.store.delete(&kv.key).await?;
        }
        Ok(())
    }

    /// Forgets everything of a removed schedule.
    pub async fn forget_schedule(&self, id: &str) -> Result<()> {
        self.store.delete(&format!("{SCHEDULE_STATE}{id}")).await?;
        self.prune_slots(id, 0).await
    }
}

impl LocalStore {
    /// Writes a pipeline run's record durably.
    pub async fn save_pipeline_run(&self, run: &PipelineRun) -> Result<()> {
        let run = &self.redactor.redact_value(run.clone());
        let json = serde_json::to_vec(run).expect("pipeline runs serialize");
        self.store
            .put(
                &format!("{PIPELINE_RUNS}{}", run.id),
                Bytes::from(json),
                None,
            )
            .await
            .map(|_| ())
    }

    /// One pipeline run.
    pub async fn pipeline_run(&self, id: &str) -> Result<Option<PipelineRun>> {
        match self.store.get(&format!("{PIPELINE_RUNS}{id}")).await? {
            Some(kv) => decode(&kv.value).map(Some),
            None => Ok(None),
        }
    }

    /// Every pipeline run, oldest first.
    pub async fn pipeline_runs(&self) -> Result<Vec<PipelineRun>> {
        let page = list_all(&self.store, PIPELINE_RUNS, 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// Deletes a pipeline run's record.
    pub async fn delete_pipeline_run(&self, id: &str) -> Result<()> {
        self.store
            .delete(&format!("{PIPELINE_RUNS}{id}"))
            .await
            .map(|_| ())
    }

    /// Remembers that the commit of run `run_id` on `dataset` still has to be pushed
    /// (and, with `merge`, merged into ground-truth once it is).
    pub async fn add_pending_push(&self, dataset: &str, run_id: &str, merge: bool) -> Result<()> {
        let value = serde_json::to_vec(&PendingPush { merge }).expect("pending pushes serialize");
        self.store
            .put(
                &format!("{PENDING_PUSHES}{dataset}/{run_id}"),
                Bytes::from(value),
                None,
            )
            .await
            .map(|_| ())
    }

    /// Runs whose commits wait to be pushed: dataset, run id, merge wanted; oldest first.
    pub async fn pending_pushes(&self) -> Result<Vec<(String, String, bool)>> {
        let page = list_all(&self.store, PENDING_PUSHES, 1000).await?;
        Ok(page
            .kvs
            .iter()
            .filter_map(|kv| {
                let rest = kv.key.strip_prefix(PENDING_PUSHES)?;
                let (dataset, run) = rest.split_once('/')?;
                let merge = serde_json::from_slice::<PendingPush>(&kv.value)
                    .map(|p| p.merge)
                    .unwrap_or(false);
                Some((dataset.to_owned(), run.to_owned(), merge))
            })
            .collect())
    }

    /// The commit of `run_id` has been pushed (or given up on).
    pub async fn clear_pending_push(&self, dataset: &str, run_id: &str) -> Result<()> {
        self.store
            .delete(&format!("{PENDING_PUSHES}{dataset}/{run_id}"))
            .await
            .map(|_| ())
    }
}

impl LocalStore {
    /// The history of a metric, oldest first (keys sort by time: seeds, then run ids).
    pub async fn metric_history(&self, subject: &str, metric: &str) -> Result<Vec<f64>> {
        let page = list_all(
            &self.store,
            &format!("{METRIC_HISTORY}{subject}/{metric}/"),
            1000,
        )
        .await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// Appends values to a metric's history (`sort_key` orders them) in one commit, then
    /// keeps the newest `keep`.
    pub async fn add_metric_values(
        &self,
        subject: &str,
        metric: &str,
        values: &[(String, f64)],
        keep: usize,
    ) -> Result<()> {
        let prefix = format!("{METRIC_HISTORY}{subject}/{metric}/");
        let items = values
            .iter()
            .map(|(k, v)| {
                (
                    format!("{prefix}{k}"),
                    Bytes::from(serde_json::to_vec(v).expect("numbers serialize")),
                )
            })
            .collect();
        self.store.put_many(items).await?;
        let page = list_all(&self.store, &prefix, 1000).await?;
        let excess = page.kvs.len().saturating_sub(keep);
        for kv in &page.kvs[..excess] {
            self.store.delete(&kv.key).await?;
        }
        Ok(())
    }

    /// Saves a delivery's state durably.
    pub async fn save_delivery(&self, d: &Delivery) -> Result<()> {
        let json = serde_json::to_vec(d).expect("deliveries serialize");
        self.store
            .put(
                &format!("{DELIVERIES}{}/{}", d.notification.id, d.sink),
                Bytes::from(json),
                None,
            )
            .await
            .map(|_| ())
    }

    /// Saves a new notification for publishing (the outbox) and its deliveries, in one
    /// commit: from here on a restart loses neither.
    pub async fn save_raised(&self, n: &mao_api::Notification, ds: &[Delivery]) -> Result<()> {
        let mut items: Vec<(String, Bytes)> = vec![(
            format!("{OUTBOX}{}", n.id),
            Bytes::from(serde_json::to_vec(n).expect("notifications serialize")),
        )];
        items.extend(ds.iter().map(|d| {
            (
                format!("{DELIVERIES}{}/{}", d.notification.id, d.sink),
                Bytes::from(serde_json::to_vec(d).expect("deliveries serialize")),
            )
        }));
        self.store.put_many(items).await.map(|_| ())
    }

    /// Notifications raised here and not yet in the shared store, oldest first.
    pub async fn outbox(&self) -> Result<Vec<mao_api::Notification>> {
        let page = list_all(&self.store, OUTBOX, 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// The notification is in the shared store.
    pub async fn published(&self, id: &str) -> Result<()> {
        self.store
            .delete(&format!("{OUTBOX}{id}"))
            .await
            .map(|_| ())
    }

    /// Every delivery this node has on record, oldest notification first.
    pub async fn deliveries(&self) -> Result<Vec<Delivery>> {
        let page = list_all(&self.store, DELIVERIES, 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// The deliveries of one notification.
    pub async fn deliveries_of(&self, id: &str) -> Result<Vec<Delivery>> {
        let page = list_all(&self.store, &format!("{DELIVERIES}{id}/"), 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// Forgets finished deliveries beyond the newest `keep` notifications.
    pub async fn prune_deliveries(&self, keep: usize) -> Result<()> {
        let all = self.deliveries().await?;
        let mut ids: Vec<&str> = all.iter().map(|d| d.notification.id.as_str()).collect();
        ids.dedup();
        let excess = ids.len().saturating_sub(keep);
        for d in all.iter().filter(|d| d.state != DeliveryState::Pending) {
            if ids[..excess].contains(&d.notification.id.as_str()) {
                self.store
                    .delete(&format!("{DELIVERIES}{}/{}", d.notification.id, d.sink))
                    .await?;
            }
        }
        Ok(())
    }

    /// When the news `key` last went to `sink`.
    pub async fn last_sent(&self, sink: &str, key: &str) -> Result<Option<DateTime<Utc>>> {
        match self.store.get(&format!("{DEDUP}{sink}/{key}")).await? {
            Some(kv) => decode(&kv.value).map(Some),
            None => Ok(None),
        }
    }

    /// Records that the news `key` went to `sink` at `at`.
    pub async fn set_last_sent(&self, sink: &str, key: &str, at: DateTime<Utc>) -> Result<()> {
        let json = serde_json::to_vec(&at).expect("times serialize");
        self.store
            .put(&format!("{DEDUP}{sink}/{key}"), Bytes::from(json), None)
            .await
            .map(|_| ())
    }
}

fn decode<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T> {
    serde_json::from_slice(json)
        .map_err(|e| StoreError::Internal(format!("unreadable local record: {e}")))
}

/// A `once` slot this node is binding to a run: written before the claim names the run,
/// deleted once the run is queued (or the binding given up). One left by a crash is a slot
/// whose claim may name a run that never existed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Binding {
    pub schedule: String,
    pub slot: DateTime<Utc>,
    pub run_id: String,
}

impl LocalStore {
    /// Writes a binding durably, before the claim is bound.
    pub async fn save_binding(&self, binding: &Binding) -> Result<()> {
        let json = serde_json::to_vec(binding).expect("bindings serialize");
        self.store
            .put(
                &format!("{BINDINGS}{}", binding.run_id),
                Bytes::from(json),
                None,
            )
            .await
            .map(|_| ())
    }

    /// The bindings a crash left.
    pub async fn bindings(&self) -> Result<Vec<Binding>> {
        let page = list_all(&self.store, BINDINGS, 1000).await?;
        page.kvs.iter().map(|kv| decode(&kv.value)).collect()
    }

    /// The run of a binding is queued, or will never be.
    pub async fn clear_binding(&self, run_id: &str) -> Result<()> {
        self.store
            .delete(&format!("{BINDINGS}{run_id}"))
            .await
            .map(|_| ())
    }
}
