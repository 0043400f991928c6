//! The Python original's routes, same paths and response shapes, so its users' scripts
//! keep working: listings are arrays of keys (`/tools/<name>`), a document is returned as
//! a JSON string holding the document, a delete answers `"Successfully deleted <key>"`.
//! Registration creates or replaces, as it did there. Unlike there, bad input is a 4xx.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use bytes::Bytes;
use mao_api::{Dataset, Tool};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{ApiJson, Name};
use mao_node::registry::{Entity, Registry};
use mao_node::Node;

fn keys(names: Vec<String>, dir: &str) -> Json<Vec<String>> {
    Json(names.into_iter().map(|n| format!("/{dir}/{n}")).collect())
}

fn as_string(json: Bytes) -> Json<String> {
    Json(String::from_utf8_lossy(&json).into_owned())
}

async fn get_doc<T: Entity>(registry: &Registry<T>, name: &str) -> ApiResult<Json<String>> {
    Ok(as_string(registry.get_raw(name).await?.json))
}

async fn delete_doc<T: Entity>(
    registry: &Registry<T>,
    dir: &str,
    name: &str,
) -> ApiResult<Json<String>> {
    registry.delete(name).await?;
    Ok(Json(format!("Successfully deleted {dir}/{name}")))
}

/// `GET /registry/tools`: `["/tools/<name>", ...]`
pub async fn list_tools(State(state): State<Arc<Node>>) -> ApiResult<Json<Vec<String>>> {
    Ok(keys(state.tools.names().await?, "tools"))
}

/// `GET /registry/tools/{name}`: the document, as a JSON string.
pub async fn get_tool(State(state): State<Arc<Node>>, Name(name): Name) -> ApiResult<Json<String>> {
    get_doc(&state.tools, &name).await
}

/// `POST /registry/tools` with `{"name","author","image","data_repo","code_repo","artefact"}`.
pub async fn register_tool(
    State(state): State<Arc<Node>>,
    ApiJson(tool): ApiJson<Tool>,
) -> ApiResult<Json<String>> {
    super::registry::admit_tool(&state, &tool).await?;
    Ok(as_string(state.tools.upsert(tool).await?.json))
}

/// `DELETE /registry/tools/{name}`
pub async fn delete_tool(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<Json<String>> {
    delete_doc(&state.tools, "tools", &name).await
}

/// `GET /registry/datasets`: `["/dataset/<name>", ...]`
pub async fn list_datasets(State(state): State<Arc<Node>>) -> ApiResult<Json<Vec<String>>> {
    Ok(keys(state.datasets.names().await?, "dataset"))
}

/// `GET /registry/datasets/{name}`: the document, as a JSON string.
pub async fn get_dataset(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<Json<String>> {
    get_doc(&state.datasets, &name).await
}

/// The original's dataset registration: `{"name": ..., "body": {"master": ..., "nodes": []}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatDataset {
    name: String,
    body: CompatDatasetBody,
}

/// The `body` of a [`CompatDataset`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatDatasetBody {
    master: String,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    local_only: bool,
}

/// `POST /registry/datasets`
pub async fn register_dataset(
    State(state): State<Arc<Node>>,
    ApiJson(req): ApiJson<CompatDataset>,
) -> ApiResult<Json<String>> {
    let dataset = Dataset {
        name: req.name,
        master: req.body.master,
        nodes: req.body.nodes,
        description: req.body.description,
        local_only: req.body.local_only,
    };
    dataset.validate()?;
    state.clones.check_remote(&dataset.master)?;
    Ok(as_string(state.datasets.upsert(dataset).await?.json))
}

/// `DELETE /registry/datasets/{name}`
pub async fn delete_dataset(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<Json<String>> {
    delete_doc(&state.datasets, "dataset", &name).await
}
