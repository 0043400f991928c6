//! `GET /api/v1/nodes`: the live members of the federation.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use mao_api::{List, NodeInfo};

use crate::error::ApiResult;
use mao_node::Node;

/// Every node whose membership lease is alive, sorted by name.
pub async fn list(State(state): State<Arc<Node>>) -> ApiResult<Json<List<NodeInfo>>> {
    let items = mao_node::membership::list(state.store.as_ref(), &state.keys).await?;
    Ok(Json(List { items, next: None }))
}
