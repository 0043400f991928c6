//! Following a started container to its end: logs, wait, timeout, cancel, the final record.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use mao_api::units::parse_duration;
use mao_api::{RunRecord, RunStatus};
use mao_runtime::{LogChunk, LogStream, Runtime, RuntimeError};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Ending, Executor, Progress};
use crate::redact::Redactor;

impl Executor {
    /// Follows a started container to its end: logs, wait (timeout, cancel), record, removal.
    /// `logs` is the stream attached before the start; without it (re-attaching after a
    /// restart) the container's log is read again from its beginning.
    pub(super) async fn supervise(
        self: Arc<Self>,
        record: RunRecord,
        container: String,
        logs: Option<LogStream>,
        cancel: CancellationToken,
        progress: watch::Sender<Progress>,
    ) {
        self.supervise_from(record, container, logs, None, cancel, progress)
            .await
    }

    /// [`Executor::supervise`] for a container that may have exited already (`exited`:
    /// its exit code, found by recovery), which is collected, never timed out.
    pub(super) async fn supervise_from(
        self: Arc<Self>,
        mut record: RunRecord,
        container: String,
        logs: Option<LogStream>,
        exited: Option<i64>,
        cancel: CancellationToken,
        progress: watch::Sender<Progress>,
    ) {
        let timeout = record
            .limits
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(3600));
        let elapsed = record
            .started_at
            .map(|s| (Utc::now() - s).to_std().unwrap_or_default())
            .unwrap_or_default();
        let remaining = timeout.saturating_sub(elapsed);

        let pump = tokio::spawn(pump_logs(
            self.runtime.clone(),
            container.clone(),
            logs,
            PathBuf::from(&record.log_path),
            self.settings.log_cap,
            progress.clone(),
            self.runs.redactor().clone(),
        ));
        let ending = match exited {
            Some(code) => Ending::Exited(code),
            None => self.await_exit(&container, remaining, &cancel).await,
        };
        if let Ending::EngineUnresponsive(why) = ending {
            // The log stream hangs with the engine: keep what came, and end the run now.
            pump.abort();
            record.log_bytes = progress.borrow().log_bytes;
            self.engine_failed(
                &mut record,
                "follow its container",
                mao_runtime::RuntimeError::Unavailable(why),
            );
            self.finish(record, RunStatus::Failed, &progress).await;
            return self.reap_later(container);
        }
        if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
            if let Err(e) = self.runtime.kill(&container).await {
                warn!(run_id = %record.id, error = %e, "cannot kill the container");
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(10), self.runtime.wait(&container)).await;
        }
        match tokio::time::timeout(Duration::from_secs(30), pump).await {
            Ok(Ok(Ok((bytes, truncated)))) => {
                record.log_bytes = bytes;
                record.log_truncated = truncated;
            }
            Ok(Ok(Err(e))) => warn!(run_id = %record.id, error = %e, "the run's log is incomplete"),
            Ok(Err(e)) => warn!(run_id = %record.id, error = %e, "the log task failed"),
            Err(_) => {
                warn!(run_id = %record.id, "the log stream did not end; the log may be incomplete")
            }
        }
        // The container's own times, exact whatever the daemon was doing (down, busy).
        let info = match ending {
            Ending::Exited(_) => self
                .engine("a container inspection", self.runtime.inspect(&container))
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        if let Some(info) = &info {
            if info.started_at.is_some() {
                record.started_at = info.started_at;
            }
            record.finished_at = info.finished_at;
        }
        let status = match ending {
            Ending::Exited(0) => {
                record.exit_code = Some(0);
                RunStatus::Succeeded
            }
            Ending::Exited(code) => {
                record.exit_code = Some(code);
                let oom = info.as_ref().is_some_and(|info| info.oom_killed);
                record.error = Some(if oom {
                    format!(
                        "killed for exceeding its memory limit ({})",
                        record.limits.memory.as_deref().unwrap_or("engine default")
                    )
                } else {
                    format!("the tool exited with code {code}")
                });
                RunStatus::Failed
            }
            Ending::TimedOut => {
                record.error = Some(format!(
                    "killed after its timeout of {}",
                    mao_api::units::format_duration(timeout)
                ));
                RunStatus::TimedOut
            }
            Ending::Cancelled => {
                record.error = Some("cancelled by a user".into());
                RunStatus::Cancelled
            }
            Ending::Error(e) => {
                record.error = Some(format!("lost track of the container: {e}"));
                RunStatus::Failed
            }
            Ending::EngineUnresponsive(_) => unreachable!("handled before the log is waited for"),
        };
        self.finish(record, status, &progress).await;
        self.remove_container(&container).await;
    }

    /// Waits for the container's exit, its timeout or its cancellation, asking the engine
    /// about the container every [`probe_every`] meanwhile: a wait the engine keeps open
    /// is a run going on only as long as the engine answers those questions.
    async fn await_exit(
        &self,
        container: &str,
        remaining: Duration,
        cancel: &CancellationToken,
    ) -> Ending {
        let deadline = tokio::time::Instant::now() + remaining;
        let mut wait = std::pin::pin!(self.runtime.wait(container));
        let mut waiting = true;
        let every = probe_every(self.settings.engine_timeout);
        let mut probe = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = &mut wait, if waiting => match r {
                    Ok(code) => return Ending::Exited(code),
                    // A wait that broke off (the engine restarted, a connection reset) is
                    // not an exit: the probes find the container's state.
                    Err(e) => {
                        warn!(container, error = %e, "the wait for the container broke off; asking the engine instead");
                        waiting = false;
                    }
                },
                _ = probe.tick() => {
                    match self.engine("a container inspection", self.runtime.inspect(container)).await {
                        Ok(Some(info)) => {
                            if let (false, Some(code)) = (info.running, info.exit_code) {
                                return Ending::Exited(code);
                            }
                        }
                        Ok(None) => return Ending::Error(format!("container {container} vanished")),
                        Err(RuntimeError::Unavailable(why)) => return Ending::EngineUnresponsive(why),
                        Err(e) => warn!(container, error = %e, "cannot inspect the run's container"),
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ending::TimedOut,
                _ = cancel.cancelled() => return Ending::Cancelled,
            }
        }
    }

    /// Removes `container` in the background, retrying until the engine answers again (a
    /// container the engine may have made or started without saying so); gives up after
    /// an hour, leaving it to the next start's recovery.
    pub(super) fn reap_later(self: &Arc<Self>, container: String) {
        let this = self.clone();
        tokio::spawn(async move {
            let give_up = tokio::time::Instant::now() + Duration::from_secs(3600);
            let mut backoff = crate::retry::RECOVERY.backoff();
            loop {
                match this
                    .engine("a removal", this.runtime.remove(&container))
                    .await
                {
                    Ok(()) => return info!(container, "container of a failed run removed"),
                    Err(e) if tokio::time::Instant::now() >= give_up => {
                        return warn!(container, error = %e, "cannot remove the container; it is reaped at the next start")
                    }
                    Err(_) => backoff.wait().await,
                }
            }
        });
    }

    pub(super) async fn remove_container(&self, container: &str) {
        if let Err(e) = self.runtime.remove(container).await {
            warn!(container, error = %e, "cannot remove the container; it is reaped at the next start");
        }
    }

    /// Saves the final record, tells followers, prunes old runs of the tool.
    pub(super) async fn finish(
        &self,
        mut record: RunRecord,
        status: RunStatus,
        progress: &watch::Sender<Progress>,
    ) {
        // Before anything reads the folder: the files the tool wrote become the daemon's.
        let data_dir = PathBuf::from(&record.data_dir);
        if let Err(e) = self.take_back(&data_dir, &record.id).await {
            error!(run_id = %record.id, dir = %data_dir.display(), error = %e, "cannot take the data folder back from the tool's user");
        }
        record.status = status;
        record.finished_at.get_or_insert_with(Utc::now);
        if status == RunStatus::Succeeded {
            self.judge(&mut record).await;
            self.publish_insights(&mut record).await;
        }
        if let Err(e) = self.runs.save(&record).await {
            error!(run_id = %record.id, error = %e, "cannot save the final run record");
        }
        info!(run_id = %record.id, tool = %record.tool, status = status.as_str(), exit_code = ?record.exit_code, "run finished");
        self.report(&record).await;
        self.active.lock().unwrap().remove(&record.id);
        // Pruned before followers hear of the end: whoever waited for this run finds the
        // tool's runs and logs within the retention already.
        if let Err(e) = self.prune_with(&record.tool, Some(&record)).await {
            warn!(tool = %record.tool, error = %e, "cannot prune old runs");
        }
        progress.send_modify(|p| p.finished = true);
    }
}

/// How often the engine is asked about a running container: four times per
/// `engine_timeout`, at least every 15 s and at most every 250 ms.
fn probe_every(engine_timeout: Duration) -> Duration {
    (engine_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15))
}

/// Writes a container's output to the run's log file, node secrets masked, up to `cap`
/// bytes, then a marker; the rest is drained and dropped so the container never blocks on
/// a full pipe. The log is masked as it is written: a follower never sees a secret.
async fn pump_logs(
    runtime: Arc<dyn Runtime>,
    container: String,
    attached: Option<LogStream>,
    path: PathBuf,
    cap: u64,
    progress: watch::Sender<Progress>,
    redactor: Redactor,
) -> anyhow::Result<(u64, bool)> {
    // One per stream: stdout and stderr chunks interleave, and a secret split in one of
    // them must be joined with its own rest.
    let (mut out_redactor, mut err_redactor) = (redactor.stream(), redactor.stream());
    let mut file = tokio::fs::File::create(&path).await?;
    let mut stream = match attached {
        Some(s) => s,
        None => runtime.logs(&container, true).await?,
    };
    let mut written = 0u64;
    let mut truncated = false;
    while let Some(chunk) = stream.next().await {
        let bytes = match chunk? {
            LogChunk::Stdout(b) => out_redactor.push(&b),
            LogChunk::Stderr(b) => err_redactor.push(&b),
        };
        if truncated {
            continue;
        }
        let room = cap.saturating_sub(written) as usize;
        if bytes.len() <= room {
            file.write_all(&bytes).await?;
            written += bytes.len() as u64;
        } else {
            file.write_all(&bytes[..room]).await?;
            written += room as u64;
            let marker = format!("\n[mao: log truncated at {cap} bytes; the run goes on]\n");
            file.write_all(marker.as_bytes()).await?;
            truncated = true;
        }
        file.flush().await?;
        progress.send_modify(|p| p.log_bytes = written);
    }
    let mut tail = out_redactor.finish();
    tail.extend(err_redactor.finish());
    if !truncated && !tail.is_empty() {
        file.write_all(&tail).await?;
        written += tail.len() as u64;
        progress.send_modify(|p| p.log_bytes = written);
    }
    file.sync_all().await?;
    Ok((written, truncated))
}
