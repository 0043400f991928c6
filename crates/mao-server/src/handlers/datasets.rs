//! Datasets on this node: clone, list, remove, and `init-local` (a bare repository in the
//! data dir, registered as `local_only`), with the original's `POST /bare-repo/init`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use mao_api::{Dataset, InitLocalRequest, List, LocalDataset};
use serde::Deserialize;
use tracing::info;

use crate::error::ApiResult;
use crate::extract::{ApiJson, Name};
use mao_node::Node;

/// `POST /api/v1/datasets/{name}/clone`: 201 when cloned now, 200 when it was there.
pub async fn clone_one(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<(StatusCode, Json<LocalDataset>)> {
    let (dataset, _) = state.datasets.get(&name).await?;
    let cloned = state.clones.ensure(&dataset).await?;
    let local = state.clones.describe(&name, true).await?;
    if cloned {
        info!(dataset = %name, "dataset cloned");
    }
    let status = if cloned {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(local)))
}

/// `GET /api/v1/local/datasets`: the clones on this node.
pub async fn list_local(State(state): State<Arc<Node>>) -> ApiResult<Json<List<LocalDataset>>> {
    let registered = state.datasets.names().await?;
    let items = state.clones.list(registered).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/local/datasets/{name}`
pub async fn get_local(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<Json<LocalDataset>> {
    let registered = state.datasets.get(&name).await.is_ok();
    Ok(Json(state.clones.describe(&name, registered).await?))
}

/// Query of `DELETE /api/v1/local/datasets/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/local/datasets/{name}[?force=true]`: 204; 409 when the clone holds
/// work the remote lacks and `force` is not set.
pub async fn remove_local(
    State(state): State<Arc<Node>>,
    Name(name): Name,
    query: Result<Query<RemoveQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = query?;
    state.clones.remove(&name, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/local/datasets`: 201 with the registered dataset.
pub async fn init_local(
    State(state): State<Arc<Node>>,
    ApiJson(request): ApiJson<InitLocalRequest>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.clones.init_local(&state.datasets, request).await?),
    ))
}

/// `POST /bare-repo/init` (the original's route): `{"name": ...}`.
pub async fn bare_repo_init(
    State(state): State<Arc<Node>>,
    ApiJson(request): ApiJson<InitLocalRequest>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    init_local(State(state), ApiJson(request)).await
}
