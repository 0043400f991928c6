//! Retention: the newest finished runs of each tool are kept, older ones go with their logs.

use mao_api::RunRecord;
use tracing::warn;

use super::{Executor, FinishedIndex};

impl Executor {
    /// Keeps the newest `retention` finished runs of `tool`; deletes older ones and their logs.
    pub async fn prune(&self, tool: &str) -> Result<(), mao_store::StoreError> {
        self.prune_with(tool, None).await
    }

    /// [`Executor::prune`], counting `just_finished` (already saved) among the finished runs.
    pub(super) async fn prune_with(
        &self,
        tool: &str,
        just_finished: Option<&RunRecord>,
    ) -> Result<(), mao_store::StoreError> {
        let mut index = self.finished.lock().await;
        if index.is_none() {
            let mut loaded = FinishedIndex::new();
            for r in self.runs.list().await? {
                if r.status.is_finished() {
                    loaded.entry(r.tool).or_default().insert(r.id, r.log_path);
                }
            }
            *index = Some(loaded);
        }
        let index = index.as_mut().expect("loaded above");
        if let Some(r) = just_finished {
            index
                .entry(tool.to_owned())
                .or_default()
                .insert(r.id.clone(), r.log_path.clone());
        }
        let Some(runs) = index.get_mut(tool) else {
            return Ok(());
        };
        while runs.len() > self.settings.retention {
            let Some((id, log_path)) = runs.pop_first() else {
                break;
            };
            self.runs.delete(&id).await?;
            match tokio::fs::remove_file(&log_path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn!(path = %log_path, error = %e, "cannot delete an old log"),
            }
        }
        Ok(())
    }
}
