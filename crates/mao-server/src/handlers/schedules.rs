//! Schedules: create, list, inspect, pause/resume, remove, preview fire times, history;
//! and the original's `/jobs` routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{SecondsFormat, Utc};
use mao_api::{FireTime, List, Schedule, ScheduleRequest, ScheduleView, SlotRecord, Target};
use serde::Deserialize;
use tracing::{info, instrument};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Name};
use crate::scheduler::{compile, Compiled};
use crate::AppState;

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

async fn view(state: &AppState, schedule: Schedule) -> ApiResult<ScheduleView> {
    let c = compile(schedule).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("stored schedule is unusable: {e}"),
        )
    })?;
    let local = state.local.schedule_state(&c.schedule.id).await?;
    let next = if c.schedule.suspended {
        None
    } else {
        c.cron.next_after(Utc::now(), c.tz)
    };
    let last_run_status = match &local.last_run_id {
        Some(id) => match state.executor.get(id).await {
            Ok(r) => Some(r.status),
            Err(_) => crate::pipelines::get(state, id)
                .await
                .ok()
                .map(|r| r.status),
        },
        None => None,
    };
    Ok(ScheduleView {
        next_fire_local: next.map(|t| local_text(&c, t)),
        next_fire: next,
        last_slot: local.last_slot,
        last_run_id: local.last_run_id,
        last_run_status,
        schedule: c.schedule,
    })
}

fn local_text(c: &Compiled, t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&c.tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `POST /api/v1/schedules`: 201 with the schedule and its next fire time.
#[instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    Ok((StatusCode::CREATED, Json(create_from(&state, req).await?)))
}

/// Creates a schedule of a tool or a pipeline; nothing is stored when anything is wrong.
pub async fn create_from(state: &AppState, req: ScheduleRequest) -> ApiResult<ScheduleView> {
    let target = match (req.tool.is_empty(), &req.pipeline) {
        (false, None) => {
            mao_api::validate::name("tool", &req.tool)?;
            Target::Tool(req.tool.clone())
        }
        (true, Some(p)) => {
            mao_api::validate::name("pipeline", p)?;
            Target::Pipeline(p.clone())
        }
        _ => return Err(invalid("tool, pipeline: give exactly one of them".into())),
    };
    let id = match req.id {
        Some(id) => {
            mao_api::validate::name("id", &id)?;
            id
        }
        None => format!(
            "{}-{}",
            target.name().chars().take(36).collect::<String>(),
            short_id()
        ),
    };
    let schedule = Schedule {
        id,
        target: target.clone(),
        cron: req.cron.trim().to_owned(),
        tz: req.tz.unwrap_or_else(|| "UTC".to_owned()),
        mode: req.mode.unwrap_or_default(),
        concurrency: req.concurrency.unwrap_or_default(),
        catch_up: req.catch_up.unwrap_or_default(),
        starting_deadline: req.starting_deadline.unwrap_or_else(|| "18h".to_owned()),
        overrides: req.overrides,
        suspended: req.suspended,
        created_by: state.node.clone(),
        created_at: Utc::now(),
    };
    let c = compile(schedule.clone()).map_err(invalid)?;
    if c.policy.starting_deadline.is_zero()
        || c.policy.starting_deadline > std::time::Duration::from_secs(366 * 86_400)
    {
        return Err(invalid(
            "starting_deadline: must be above zero and at most 366d".into(),
        ));
    }
    if c.cron.next_after(Utc::now(), c.tz).is_none() {
        return Err(invalid(format!(
            "cron: {:?} never fires again",
            schedule.cron
        )));
    }
    // A schedule of an unknown tool or pipeline is refused, not stored.
    let known = match &target {
        Target::Tool(name) => state.tools.get(name).await.map(|_| ()),
        Target::Pipeline(name) => state.pipelines.get(name).await.map(|_| ()),
    };
    known.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            invalid(format!(
                "{}: {}",
                if matches!(target, Target::Tool(_)) {
                    "tool"
                } else {
                    "pipeline"
                },
                e.message
            ))
        } else {
            e
        }
    })?;
    state.schedules.create(schedule.clone()).await?;
    info!(schedule = %schedule.id, cron = %schedule.cron, tz = %schedule.tz, "schedule created");
    view(state, schedule).await
}

fn short_id() -> String {
    let u = ulid::Ulid::new().to_string().to_lowercase();
    u[u.len() - 8..].to_owned()
}

/// `GET /api/v1/schedules`
pub async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<List<ScheduleView>>> {
    let mut items = Vec::new();
    for (_, stored) in state.schedules.entries().await? {
        if let Ok(s) = serde_json::from_slice::<Schedule>(&stored.json) {
            if let Ok(v) = view(&state, s).await {
                items.push(v);
            }
        }
    }
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/schedules/{id}`
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    let (s, _) = state.schedules.get(&id).await?;
    Ok(Json(view(&state, s).await?))
}

/// `DELETE /api/v1/schedules/{id}`: 204; runs already started go on.
pub async fn remove(State(state): State<Arc<AppState>>, Name(id): Name) -> ApiResult<StatusCode> {
    state.schedules.delete(&id).await?;
    info!(schedule = %id, "schedule removed");
    Ok(StatusCode::NO_CONTENT)
}

async fn set_suspended(state: &AppState, id: &str, suspended: bool) -> ApiResult<ScheduleView> {
    let stored = state
        .schedules
        .update(id, |s: &mut Schedule| {
            s.suspended = suspended;
            Ok(())
        })
        .await?;
    let s: Schedule = serde_json::from_slice(&stored.json)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    info!(schedule = %id, suspended, "schedule paused or resumed");
    view(state, s).await
}

/// `POST /api/v1/schedules/{id}/pause`
pub async fn pause(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(set_suspended(&state, &id, true).await?))
}

/// `POST /api/v1/schedules/{id}/resume`
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(set_suspended(&state, &id, false).await?))
}

/// Query of `GET /api/v1/schedules/{id}/next`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextQuery {
    n: Option<usize>,
}

/// `GET /api/v1/schedules/{id}/next?n=5`: the next fire times, in UTC and local time.
pub async fn next(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
    query: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<FireTime>>> {
    let Query(q) = query?;
    let n = q.n.unwrap_or(5);
    if !(1..=1000).contains(&n) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "n must be between 1 and 1000",
        ));
    }
    let (s, _) = state.schedules.get(&id).await?;
    let c = compile(s).map_err(invalid)?;
    let items = mao_scheduler::plan::upcoming(&c.cron, c.tz, Utc::now(), n)
        .into_iter()
        .map(|t| FireTime {
            local: local_text(&c, t),
            utc: t,
        })
        .collect();
    Ok(Json(List { items, next: None }))
}

/// Query of `GET /api/v1/schedules/{id}/history`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/schedules/{id}/history`: what became of each slot on this node, newest first.
pub async fn history(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<SlotRecord>>> {
    let Query(q) = query?;
    state.schedules.get(&id).await?;
    let items = state
        .local
        .slots(&id, q.limit.unwrap_or(50).min(1000))
        .await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /jobs` (the original's): `{"<id>": "<next run time>"}`.
pub async fn jobs(State(state): State<Arc<AppState>>) -> ApiResult<Json<BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for (_, stored) in state.schedules.entries().await? {
        let Ok(s) = serde_json::from_slice::<Schedule>(&stored.json) else {
            continue;
        };
        let Ok(c) = compile(s) else { continue };
        let next = if c.schedule.suspended {
            "paused".to_owned()
        } else {
            c.cron
                .next_after(Utc::now(), c.tz)
                .map(|t| local_text(&c, t))
                .unwrap_or_else(|| "never".to_owned())
        };
        out.insert(c.schedule.id.clone(), next);
    }
    Ok(Json(out))
}

/// `DELETE /jobs/{id}` (the original's).
pub async fn delete_job(
    State(state): State<Arc<AppState>>,
    Name(id): Name,
) -> ApiResult<Json<String>> {
    state.schedules.delete(&id).await?;
    Ok(Json(format!("Removed job {id}")))
}
