//! Notifications: list (newest first, by kind, unacknowledged only), get, acknowledge,
//! and where this node's deliveries of one stand.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use mao_api::{List, Notification, NotificationKind};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{OptionalJson, RunId};
use mao_node::local::Delivery;
use mao_node::Node;

/// Query of `GET /api/v1/notifications`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    kind: Option<String>,
    #[serde(default)]
    unacked: bool,
    limit: Option<usize>,
}

/// `GET /api/v1/notifications?kind=&unacked=true&limit=`: newest first (default 50).
pub async fn list(
    State(state): State<Arc<Node>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<Notification>>> {
    let Query(q) = query?;
    let bad = |m: String| ApiError::bad_query(m);
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<NotificationKind>)
        .transpose()
        .map_err(bad)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit must be between 1 and 1000".into()));
    }
    let items = state.notifier.list(kind, q.unacked, limit).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/notifications/{id}`
pub async fn get_one(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<Notification>> {
    Ok(Json(state.notifier.get(&id).await?))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Who acknowledges; default: this node.
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/v1/notifications/{id}/ack`: acknowledges (compare-and-swap); acknowledging
/// again keeps the first acknowledgement.
pub async fn ack(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
    OptionalJson(body): OptionalJson<AckRequest>,
) -> ApiResult<Json<Notification>> {
    let by = body.and_then(|b| b.by);
    Ok(Json(state.notifier.ack(&id, by).await?))
}

pub async fn deliveries(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<List<Delivery>>> {
    let items = state.notifier.deliveries_of(&id).await?;
    Ok(Json(List { items, next: None }))
}
