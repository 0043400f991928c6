//! Notifications: list (newest first, by kind, unacknowledged only), get, acknowledge,
//! and where this node's deliveries of one stand.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use mao_api::{List, Notification, NotificationKind};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{OptionalJson, RunId};
use crate::local::Delivery;
use crate::AppState;

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
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<Notification>>> {
    let Query(q) = query?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", m);
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
    // This node's notifications not yet in the shared store count too: whoever raised a
    // notification sees it at once, the rest of the federation once it is published.
    let mut all: std::collections::BTreeMap<String, Notification> = state
        .local
        .outbox()
        .await?
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();
    for (id, stored) in state.notifications.entries().await? {
        if let Ok(n) = serde_json::from_slice::<Notification>(&stored.json) {
            all.insert(id, n);
        }
    }
    let items = all
        .into_values()
        .rev()
        .filter(|n| kind.is_none_or(|k| k == n.kind))
        .filter(|n| !q.unacked || n.acknowledged_at.is_none())
        .take(limit)
        .collect();
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/notifications/{id}`
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    RunId(id): RunId,
) -> ApiResult<Json<Notification>> {
    match state.notifications.get(&id).await {
        Ok((n, _)) => Ok(Json(n)),
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let waiting = state.local.outbox().await?.into_iter().find(|n| n.id == id);
            waiting.map(Json).ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// Body of `POST /api/v1/notifications/{id}/ack`.
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
    State(state): State<Arc<AppState>>,
    RunId(id): RunId,
    OptionalJson(body): OptionalJson<AckRequest>,
) -> ApiResult<Json<Notification>> {
    let by = body
        .and_then(|b| b.by)
        .unwrap_or_else(|| state.node.clone());
    mao_api::validate::text("by", &by, 200, true)?;
    let stored = state
        .notifications
        .update(&id, |n| {
            if n.acknowledged_at.is_none() {
                n.acknowledged_by = Some(by.clone());
                n.acknowledged_at = Some(Utc::now());
            }
            Ok(())
        })
        .await?;
    let n = serde_json::from_slice(&stored.json).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("stored notification is unreadable: {e}"),
        )
    })?;
    Ok(Json(n))
}

/// `GET /api/v1/notifications/{id}/deliveries`: this node's deliveries of it, per sink.
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    RunId(id): RunId,
) -> ApiResult<Json<List<Delivery>>> {
    let items = state.local.deliveries_of(&id).await?;
    Ok(Json(List { items, next: None }))
}
