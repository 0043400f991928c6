//! Schedules: create, list, inspect, pause/resume, remove, preview fire times, history;
//! and the original's `/jobs` routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use mao_api::{FireTime, List, ScheduleRequest, ScheduleView, SlotRecord};
use mao_node::Node;
use serde::Deserialize;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Name};

/// `POST /api/v1/schedules`: 201 with the schedule's view.
#[instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<Node>>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.scheduler.create(req).await?),
    ))
}

/// `GET /api/v1/schedules`
pub async fn list(State(state): State<Arc<Node>>) -> ApiResult<Json<List<ScheduleView>>> {
    let items = state.scheduler.list().await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/schedules/{id}`
pub async fn get_one(
    State(state): State<Arc<Node>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(state.scheduler.get(&id).await?))
}

/// `DELETE /api/v1/schedules/{id}`: 204.
pub async fn remove(State(state): State<Arc<Node>>, Name(id): Name) -> ApiResult<StatusCode> {
    state.scheduler.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/schedules/{id}/pause`
pub async fn pause(
    State(state): State<Arc<Node>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(state.scheduler.set_suspended(&id, true).await?))
}

/// `POST /api/v1/schedules/{id}/resume`
pub async fn resume(
    State(state): State<Arc<Node>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(state.scheduler.set_suspended(&id, false).await?))
}

/// Query of `GET /api/v1/schedules/{id}/next`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextQuery {
    n: Option<usize>,
}

/// `GET /api/v1/schedules/{id}/next?n=5`: the next fire times, UTC and local.
pub async fn next(
    State(state): State<Arc<Node>>,
    Name(id): Name,
    query: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<FireTime>>> {
    let Query(q) = query?;
    let n = q.n.unwrap_or(5);
    if !(1..=1000).contains(&n) {
        return Err(ApiError::bad_query("n must be between 1 and 1000"));
    }
    let items = state.scheduler.next(&id, n).await?;
    Ok(Json(List { items, next: None }))
}

/// Query of `GET /api/v1/schedules/{id}/history`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/schedules/{id}/history?limit=50`: this node's slots, newest first.
pub async fn history(
    State(state): State<Arc<Node>>,
    Name(id): Name,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<SlotRecord>>> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50).min(1000);
    let items = state.scheduler.history(&id, limit).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /jobs` (the original's): schedule id to its next fire time.
pub async fn jobs(State(state): State<Arc<Node>>) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(state.scheduler.jobs().await?))
}

/// `DELETE /jobs/{id}` (the original's).
pub async fn delete_job(State(state): State<Arc<Node>>, Name(id): Name) -> ApiResult<Json<String>> {
    state.scheduler.remove(&id).await?;
    Ok(Json(format!("Removed job {id}")))
}
