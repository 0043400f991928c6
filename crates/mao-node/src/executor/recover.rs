//! After a restart: the runs of the previous process, found by their containers' labels.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use mao_api::RunStatus;
use tracing::{info, warn};

use super::{Executor, LABEL_NODE, LABEL_RUN};

impl Executor {
    /// After a restart: re-attaches running containers, collects exited ones, marks
    /// records whose container vanished `lost`, removes containers nobody owns, prunes.
    /// Retries until the container engine answers.
    pub async fn recover(self: Arc<Self>) {
        let mut backoff = crate::retry::RECOVERY.backoff();
        loop {
            match self.clone().recover_once().await {
                Ok(()) => {
                    self.recovery_done.send_replace(true);
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "cannot recover runs yet; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    pub(super) async fn recover_once(self: Arc<Self>) -> anyhow::Result<()> {
        // Containers first, records second: every container listed was created after its
        // record was saved, so a container without a record is truly nobody's.
        let labels = BTreeMap::from([(LABEL_NODE.to_owned(), self.node.clone())]);
        let containers = self.runtime.list(&labels).await?;
        let records = self.runs.list().await?;
        let is_active = |id: &str| self.active.lock().unwrap().contains_key(id);
        let mut by_run: HashMap<String, mao_runtime::ContainerInfo> = HashMap::new();
        for c in containers {
            match c.labels.get(LABEL_RUN) {
                Some(run) => {
                    by_run.insert(run.clone(), c);
                }
                None => self.remove_container(&c.id).await,
            }
        }
        let mut tools = std::collections::BTreeSet::new();
        for record in records {
            tools.insert(record.tool.clone());
            let container = by_run.remove(&record.id);
            // A run of this process (submitted or re-attached already) is supervised.
            if is_active(&record.id) {
                continue;
            }
            if record.status.is_finished() {
                if let Some(c) = container {
                    self.remove_container(&c.id).await;
                }
                continue;
            }
            let (cancel, progress) = self.register(&record.id, record.schedule.clone(), false)?;
            match container {
                // Started (running or exited): follow it to its end. A container that was
                // created but never started has no exit code and is not running.
                Some(c) if c.running || c.exit_code.is_some() => {
                    info!(run_id = %record.id, running = c.running, "re-attaching to the run's container");
                    if c.running {
                        // Its folder stays the tool's until this run, too, has ended.
                        self.lent
                            .lock()
                            .unwrap()
                            .entry(std::path::PathBuf::from(&record.data_dir))
                            .or_default()
                            .insert(record.id.clone());
                    }
                    let mut record = record;
                    record.container_id = Some(c.id.clone());
                    record.status = RunStatus::Running;
                    // The container's own start: a record saved `queued` (the daemon died
                    // between the start and saving `running`) has none, and recovery's
                    // clock is not the run's. Its metrics are judged against this time.
                    if let Some(started) = c.started_at {
                        record.started_at = Some(started);
                    }
                    record.started_at.get_or_insert_with(Utc::now);
                    if c.running {
                        tokio::spawn(
                            self.clone()
                                .supervise_from(record, c.id, None, None, cancel, progress),
                        );
                    } else {
                        // Ended while the daemon was down: collected before recovery is
                        // done, so no schedule sees it as still going.
                        self.clone()
                            .supervise_from(record, c.id, None, c.exit_code, cancel, progress)
                            .await;
                    }
                }
                Some(c) => {
                    let mut record = record;
                    record.error = Some("the daemon stopped before the container started".into());
                    self.finish(record, RunStatus::Lost, &progress).await;
                    self.remove_container(&c.id).await;
                }
                None => {
                    let mut record = record;
                    record.error = Some(if record.status == RunStatus::Queued {
                        "the daemon stopped before the run started".into()
                    } else {
                        "the container vanished while the daemon was down".into()
                    });
                    self.finish(record, RunStatus::Lost, &progress).await;
                }
            }
        }
        for (run, c) in by_run {
            if is_active(&run) {
                continue;
            }
            info!(container = %c.id, "removing a container with no run record");
            self.remove_container(&c.id).await;
        }
        for tool in tools {
            if let Err(e) = self.prune(&tool).await {
                warn!(tool = %tool, error = %e, "cannot prune old runs");
            }
        }
        Ok(())
    }
}
