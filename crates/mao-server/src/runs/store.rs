//! Run records in the node's local store (`<data-dir>/local.redb`), never in etcd.

use std::path::Path;

use bytes::Bytes;
use mao_api::RunRecord;
use mao_store::embedded::EmbeddedStore;
use mao_store::{list_all, Result, Store, StoreError};

const PREFIX: &str = "/runs/";

/// The node's run records, keyed by run id (ULIDs sort by time).
#[derive(Clone)]
pub struct RunStore {
    store: EmbeddedStore,
}

impl RunStore {
    /// Opens the local store file.
    pub fn open(path: &Path) -> Result<RunStore> {
        Ok(RunStore {
            store: EmbeddedStore::open(path)?,
        })
    }

    /// Writes a record (durably: it survives kill -9 once this returns).
    pub async fn save(&self, record: &RunRecord) -> Result<()> {
        let json = serde_json::to_vec(record).expect("run records serialize");
        self.store
            .put(&format!("{PREFIX}{}", record.id), Bytes::from(json), None)
            .await
            .map(|_| ())
    }

    /// One record.
    pub async fn get(&self, id: &str) -> Result<Option<RunRecord>> {
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
}

fn decode(json: &[u8]) -> Result<RunRecord> {
    serde_json::from_slice(json)
        .map_err(|e| StoreError::Internal(format!("unreadable run record: {e}")))
}
