//! Wire types of the MAO orchestrator API, shared by the server and its clients,
//! and the validation every name, image reference and git URL goes through at the edge.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod validate;

pub use validate::ValidationError;

/// A registered tool: a Docker image that runs non-interactively and writes to its data folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub author: String,
    pub image: String,
    pub data_repo: String,
    pub code_repo: String,
    pub artefact: String,
    #[serde(default)]
    pub description: String,
    /// Default command (overrides the image's CMD) for every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Default environment for every run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl Tool {
    /// Checks every field; the first problem is returned with the field it concerns.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::text("author", &self.author, 200, true)?;
        validate::image("image", &self.image)?;
        validate::git_url("data_repo", &self.data_repo)?;
        validate::git_url("code_repo", &self.code_repo)?;
        validate::text("artefact", &self.artefact, 500, false)?;
        validate::text("description", &self.description, 4096, false)?;
        if let Some(cmd) = &self.cmd {
            validate::command("cmd", cmd)?;
        }
        validate::env("env", &self.env)
    }
}

/// A registered dataset: a git repository; each node works on its own branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub name: String,
    /// The git URL of the shared repository.
    pub master: String,
    /// Branches (one per node) that work on the dataset.
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Kept on one node only (a bare repository in its data dir).
    #[serde(default)]
    pub local_only: bool,
}

impl Dataset {
    /// Checks every field; the first problem is returned with the field it concerns.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::git_url("master", &self.master)?;
        for node in &self.nodes {
            validate::name("nodes", node)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.nodes.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(ValidationError::new(
                "nodes",
                format!("branch {dup:?} is listed twice"),
            ));
        }
        validate::text("description", &self.description, 4096, false)
    }
}

/// A live member of the federation, as published under its lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Where this node's HTTP API listens.
    pub api_url: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// Host and process, so a restarted daemon can tell its own stale entry from a live twin.
    pub host: String,
    pub pid: u32,
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `after=` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Body of every error response: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `GET /readyz`: whether the store answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub store: String,
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
