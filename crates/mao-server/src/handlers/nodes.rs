//! `GET /api/v1/nodes`: the live members of the federation.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use mao_api::{List, NodeInfo};
use mao_store::list_all;
use tracing::warn;

use crate::error::ApiResult;
use crate::AppState;

/// Every node whose membership lease is alive, sorted by name.
pub async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<List<NodeInfo>>> {
    let prefix = state.keys.collection("nodes");
    let page = list_all(state.store.as_ref(), &prefix, 500).await?;
    let items = page
        .kvs
        .iter()
        .filter_map(|kv| match serde_json::from_slice::<NodeInfo>(&kv.value) {
            Ok(n) => Some(n),
            Err(e) => {
                warn!(key = %kv.key, error = %e, "skipping an unreadable membership entry");
                None
            }
        })
        .collect();
    Ok(Json(List { items, next: None }))
}
