//! Registered datasets and the node's clones of them.

use mao_api::{Dataset, InitLocalRequest, List, LocalDataset};

use crate::endpoint::item_path;
use crate::{Client, Error};

/// What `POST /api/v1/datasets/{name}/clone` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClone {
    /// The node's clone of the dataset.
    pub dataset: LocalDataset,
    /// The clone was made by this call (201); `false` when the node had it already (200).
    pub created: bool,
}

impl Client {
    /// Every registered dataset, following `next` across pages.
    pub fn list_datasets(&self) -> Result<Vec<Dataset>, Error> {
        self.list_all("/api/v1/datasets")
    }

    /// One page of datasets: at most `limit` (server default if `None`), names after `after`.
    pub fn list_datasets_page(
        &self,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<List<Dataset>, Error> {
        self.list_page("/api/v1/datasets", limit, after)
    }

    /// The dataset called `name`.
    pub fn get_dataset(&self, name: &str) -> Result<Dataset, Error> {
        self.get(&item_path("/api/v1/datasets", name)?)
    }

    /// Registers a new dataset; [`Error::is_conflict`] if the name is taken.
    pub fn create_dataset(&self, dataset: &Dataset) -> Result<Dataset, Error> {
        self.send("POST", "/api/v1/datasets", dataset)
    }

    /// Replaces the dataset called `dataset.name`; [`Error::is_not_found`] if there is none.
    pub fn replace_dataset(&self, dataset: &Dataset) -> Result<Dataset, Error> {
        self.send(
            "PUT",
            &item_path("/api/v1/datasets", &dataset.name)?,
            dataset,
        )
    }

    /// Unregisters the dataset called `name`; [`Error::is_not_found`] if there is none.
    pub fn delete_dataset(&self, name: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/datasets", name)?)
    }

    /// Has the node clone the registered dataset called `name` into its data dir; a
    /// dataset it has cloned already is left as it is ([`NodeClone::created`] is `false`).
    pub fn clone_dataset(&self, name: &str) -> Result<NodeClone, Error> {
        let path = format!("{}/clone", item_path("/api/v1/datasets", name)?);
        let (dataset, status) = self.call_status(self.agent.post(&self.url(&path)), None::<&()>)?;
        Ok(NodeClone {
            dataset,
            created: status == 201,
        })
    }

    /// The datasets cloned on the node, with the state of each clone.
    pub fn list_local_datasets(&self) -> Result<Vec<LocalDataset>, Error> {
        self.list_all("/api/v1/local/datasets")
    }

    /// Deletes the node's clone of the dataset called `name`. Without `force`, a clone
    /// with unpushed commits or uncommitted changes is kept: [`Error::is_conflict`].
    pub fn remove_local_dataset(&self, name: &str, force: bool) -> Result<(), Error> {
        let mut request = self
            .agent
            .delete(&self.url(&item_path("/api/v1/local/datasets", name)?));
        if force {
            request = request.query("force", "true");
        }
        self.delete_request(request)
    }

    /// Creates a bare repository with an initial commit in the node's data dir and
    /// registers it as a `local_only` dataset; [`Error::is_conflict`] if the name is taken.
    pub fn init_local_dataset(&self, request: &InitLocalRequest) -> Result<Dataset, Error> {
        self.send("POST", "/api/v1/local/datasets", request)
    }
}
