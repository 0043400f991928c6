//! `/api/v1/tools` and `/api/v1/datasets`: one set of handlers for both registries.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mao_api::{Dataset, Pipeline, Tool};
use serde::Deserialize;
use tracing::{info, instrument};

use super::{document, raw_json};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IfMatch, Name};
use mao_node::registry::{Entity, Registry};
use mao_node::Node;

/// Picks a registry out of the state by its entity type.
pub trait Registered: Entity {
    fn registry(state: &Node) -> &Registry<Self>;

    /// What this node checks of a document before it stores it, beyond its own validity
    /// (a tool's image, capabilities, network and limits against the node's policy).
    fn admit(
        _state: &Node,
        _item: &Self,
    ) -> impl std::future::Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }
}

impl Registered for Tool {
    fn registry(state: &Node) -> &Registry<Self> {
        &state.tools
    }

    async fn admit(state: &Node, tool: &Tool) -> ApiResult<()> {
        admit_tool(state, tool).await
    }
}

/// A tool's document checked whole, then against this node's container policy; the one
/// check of both `/api/v1/tools` and the compatible `/registry/tools`.
pub async fn admit_tool(state: &Node, tool: &Tool) -> ApiResult<()> {
    tool.validate()?;
    Ok(state.executor.admit(tool).await?)
}

impl Registered for Pipeline {
    fn registry(state: &Node) -> &Registry<Self> {
        &state.pipelines
    }
}

impl Registered for Dataset {
    fn registry(state: &Node) -> &Registry<Self> {
        &state.datasets
    }

    /// A local remote only under the node's bare/ or allowed_local_remotes.
    async fn admit(state: &Node, item: &Self) -> ApiResult<()> {
        item.validate()?;
        Ok(state.clones.check_remote(&item.master)?)
    }
}

/// Query of a listing: `?limit=N&after=NAME`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// `GET /api/v1/{tools,datasets}`
pub async fn list<T: Registered>(
    State(state): State<Arc<Node>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    if q.limit == Some(0) {
        return Err(ApiError::bad_query("limit must be at least 1"));
    }
    let body = T::registry(&state)
        .list_json(q.after.as_deref(), q.limit)
        .await?;
    Ok(raw_json(StatusCode::OK, body))
}

/// `GET /api/v1/{tools,datasets}/{name}`
pub async fn get_one<T: Registered>(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<Response> {
    let stored = T::registry(&state).get_raw(&name).await?;
    Ok(document(StatusCode::OK, stored))
}

/// `POST /api/v1/{tools,datasets}`: 201, or 409 if the name is taken.
#[instrument(skip_all, fields(kind = T::KIND))]
pub async fn create<T: Registered>(
    State(state): State<Arc<Node>>,
    ApiJson(item): ApiJson<T>,
) -> ApiResult<Response> {
    T::admit(&state, &item).await?;
    let stored = T::registry(&state).create(item.clone()).await?;
    info!(name = item.name(), "registered");
    Ok(document(StatusCode::CREATED, stored))
}

/// `PUT /api/v1/{tools,datasets}/{name}`: replaces; `If-Match` makes it conditional.
#[instrument(skip_all, fields(kind = T::KIND))]
pub async fn replace<T: Registered>(
    State(state): State<Arc<Node>>,
    Name(name): Name,
    IfMatch(expected): IfMatch,
    ApiJson(item): ApiJson<T>,
) -> ApiResult<Response> {
    T::admit(&state, &item).await?;
    let stored = T::registry(&state).replace(&name, item, expected).await?;
    info!(name = %name, "replaced");
    Ok(document(StatusCode::OK, stored))
}

/// `DELETE /api/v1/{tools,datasets}/{name}`: 204, or 404 if unknown.
#[instrument(skip_all, fields(kind = T::KIND))]
pub async fn remove<T: Registered>(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<StatusCode> {
    T::registry(&state).delete(&name).await?;
    info!(name = %name, "removed");
    Ok(StatusCode::NO_CONTENT)
}
