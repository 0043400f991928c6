//! Insights: the JSON objects tools published after their runs, per tool and node.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use mao_api::{Insight, List};
use serde::Deserialize;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::extract::Name;
use mao_node::Node;

/// Query of `GET /api/v1/insights`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    tool: Option<String>,
}

/// `GET /api/v1/insights[?tool=T]`: every published insight, sorted by tool and node.
#[instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<Node>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<Insight>>> {
    let Query(q) = query?;
    if let Some(t) = &q.tool {
        mao_api::validate::name("tool", t).map_err(|e| ApiError::bad_query(e.to_string()))?;
    }
    let items = state.insights.list(q.tool.as_deref()).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/insights/{tool}`: the tool's insights from every node.
#[instrument(skip_all, fields(tool = %tool))]
pub async fn of_tool(
    State(state): State<Arc<Node>>,
    Name(tool): Name,
) -> ApiResult<Json<List<Insight>>> {
    let items = state.insights.list(Some(&tool)).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/insights/{tool}/{node}`: one node's insights of the tool; 404 if none.
#[instrument(skip_all)]
pub async fn get_one(
    State(state): State<Arc<Node>>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<Insight>> {
    let Path((tool, node)) = path?;
    mao_api::validate::name("tool", &tool).map_err(ApiError::bad_path_name)?;
    mao_api::validate::name("node", &node).map_err(ApiError::bad_path_name)?;
    Ok(Json(state.insights.get(&tool, &node).await?))
}
