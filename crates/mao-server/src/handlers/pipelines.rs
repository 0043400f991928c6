//! Pipelines: definitions (checked against the registries), init on this node, runs, and
//! the original's `POST /pipeline/init` and `POST /pipeline/run`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mao_api::{
    GroundTruth, InitReport, List, Pipeline, PipelineInitRequest, PipelineRun, PipelineRunRequest,
    ScheduleRequest, Step,
};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::document;
use super::runs::WaitQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IfMatch, Name, RunId};
use mao_node::executor::Trigger;
use mao_node::pipeline;
use mao_node::Node;

/// `POST /api/v1/pipelines`: 201; 404 naming the step when a tool or dataset is unknown.
pub async fn create(
    State(state): State<Arc<Node>>,
    ApiJson(p): ApiJson<Pipeline>,
) -> ApiResult<Response> {
    p.validate()?;
    pipeline::check_refs(&state.runner, &p).await?;
    let p = pipeline::redact(&state.runner, p);
    let stored = state.pipelines.create(p.clone()).await?;
    info!(pipeline = %p.name, "registered");
    Ok(document(StatusCode::CREATED, stored))
}

/// `PUT /api/v1/pipelines/{name}`
pub async fn replace(
    State(state): State<Arc<Node>>,
    Name(name): Name,
    IfMatch(expected): IfMatch,
    ApiJson(p): ApiJson<Pipeline>,
) -> ApiResult<Response> {
    p.validate()?;
    pipeline::check_refs(&state.runner, &p).await?;
    let p = pipeline::redact(&state.runner, p);
    let stored = state.pipelines.replace(&name, p, expected).await?;
    Ok(document(StatusCode::OK, stored))
}

/// `POST /api/v1/pipelines/{name}/init`
pub async fn init(State(state): State<Arc<Node>>, Name(name): Name) -> ApiResult<Json<InitReport>> {
    let (p, _) = state.pipelines.get(&name).await?;
    Ok(Json(pipeline::init(&state.runner, &p).await?))
}

/// `POST /api/v1/pipelines/{name}/runs`: 202 with the queued pipeline run.
pub async fn start(
    State(state): State<Arc<Node>>,
    Name(name): Name,
) -> ApiResult<(StatusCode, Json<PipelineRun>)> {
    let (p, _) = state.pipelines.get(&name).await?;
    let run = pipeline::submit(&state.runner, p, Trigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// Query of `GET /api/v1/pipeline-runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pipeline: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/pipeline-runs?pipeline=&limit=`: newest first.
pub async fn list_runs(
    State(state): State<Arc<Node>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<PipelineRun>>> {
    let Query(q) = query?;
    let bad = |m: String| ApiError::bad_query(m);
    if let Some(p) = &q.pipeline {
        mao_api::validate::name("pipeline", p).map_err(|e| bad(e.to_string()))?;
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit must be between 1 and 1000".into()));
    }
    let items = pipeline::list(&state.runner, q.pipeline.as_deref(), limit).await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/pipeline-runs/{id}`
pub async fn get_run(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<PipelineRun>> {
    Ok(Json(pipeline::get(&state.runner, &id).await?))
}

/// `GET /api/v1/pipeline-runs/{id}/wait?timeout=30s`
pub async fn wait_run(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PipelineRun>> {
    let Query(q) = query?;
    Ok(Json(pipeline::wait(&state.runner, &id, q.limit()?).await?))
}

/// `POST /api/v1/pipeline-runs/{id}/cancel`
pub async fn cancel_run(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<PipelineRun>> {
    pipeline::cancel(&state.runner, &id).await?;
    Ok(Json(
        pipeline::wait(&state.runner, &id, std::time::Duration::from_secs(10)).await?,
    ))
}

/// What `POST /pipeline/init` answers: the original's `ok`, `name` and `steps`, then our
/// report.
#[derive(Serialize)]
pub struct CompatInitAnswer {
    ok: bool,
    name: String,
    steps: Vec<Step>,
    #[serde(flatten)]
    report: InitReport,
}

/// `POST /pipeline/init` (the original's route). `{"tool","dataset"}` defines (if needed)
/// and initialises a one-step pipeline named after the tool; `{"name"}` initialises a
/// registered pipeline; `{"name","steps",...}` registers (if needed) and initialises.
/// A failure answers our error object and, as the original did, `ok: false` and `errors`.
pub async fn compat_init(
    State(state): State<Arc<Node>>,
    axum::Extension(caller): axum::Extension<crate::auth::Caller>,
    req: Result<ApiJson<PipelineInitRequest>, ApiError>,
) -> Response {
    let answer = match req {
        Ok(ApiJson(req)) => compat_init_pipeline(&state, &caller, req).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok((p, report)) => Json(CompatInitAnswer {
            ok: true,
            name: p.name,
            steps: p.steps,
            report,
        })
        .into_response(),
        Err(e) => e.into_original_response(),
    }
}

async fn compat_init_pipeline(
    state: &Arc<Node>,
    caller: &crate::auth::Caller,
    mut req: PipelineInitRequest,
) -> ApiResult<(Pipeline, InitReport)> {
    // The original's client sends `"cmd": []` for "the tool's own command".
    for step in req.steps.iter_mut().flatten() {
        step.cmd = step.cmd.take().filter(|c| !c.is_empty());
    }
    let wanted = match (&req.tool, &req.dataset, &req.steps) {
        (Some(tool), Some(dataset), None) => Some(Pipeline {
            name: req.name.clone().unwrap_or_else(|| tool.clone()),
            description: req.description.clone().unwrap_or_default(),
            steps: vec![Step {
                name: tool.clone(),
                tool: tool.clone(),
                cmd: None,
                env: Default::default(),
                input_dataset: None,
                output_dataset: dataset.clone(),
                docker_socket: false,
                detector: None,
            }],
            ground_truth: req.ground_truth.unwrap_or(GroundTruth::None),
        }),
        (None, None, Some(steps)) => Some(Pipeline {
            name: req
                .name
                .clone()
                .ok_or_else(|| ApiError::invalid("name: a multi-step pipeline needs a name"))?,
            description: req.description.clone().unwrap_or_default(),
            steps: steps.clone(),
            ground_truth: req.ground_truth.unwrap_or(GroundTruth::None),
        }),
        (None, None, None) if req.name.is_some() => None,
        _ => {
            return Err(ApiError::invalid(
                "give either {\"tool\", \"dataset\"}, or {\"name\"} of a registered pipeline, or {\"name\", \"steps\"}",
            ))
        }
    };
    let p = match wanted {
        Some(p) => {
            let existing = state.pipelines.get(&p.name).await;
            if matches!(&existing, Err(e) if e.is_not_found()) {
                // Initialising is an operator's; registering a pipeline (which decides
                // what runs with which secrets) is an admin's.
                caller.require(mao_api::auth::Role::Admin)?;
            }
            p.validate()?;
            pipeline::check_refs(&state.runner, &p).await?;
            let p = pipeline::redact(&state.runner, p);
            match existing {
                Ok((existing, _)) if existing == p => existing,
                Ok(_) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "already_exists",
                        format!(
                            "pipeline {:?} exists with another definition; init it by name or replace it first",
                            p.name
                        ),
                    ))
                }
                Err(e) if e.is_not_found() => {
                    // Registered only once its datasets are reachable: nothing half-made.
                    let report = pipeline::init(&state.runner, &p).await?;
                    state.pipelines.create(p.clone()).await?;
                    return Ok((p, report));
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            state
                .pipelines
                .get(req.name.as_deref().unwrap_or(""))
                .await?
                .0
        }
    };
    let report = pipeline::init(&state.runner, &p).await?;
    Ok((p, report))
}

/// `GET /pipeline` (the original's route): every registered pipeline document, as an
/// array.
pub async fn compat_list(State(state): State<Arc<Node>>) -> ApiResult<Response> {
    let entries = state.pipelines.entries().await?;
    let mut body =
        Vec::with_capacity(2 + entries.iter().map(|(_, s)| s.json.len() + 1).sum::<usize>());
    body.push(b'[');
    for (i, (_, stored)) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&stored.json);
    }
    body.push(b']');
    Ok(super::raw_json(StatusCode::OK, body.into()))
}

/// `GET /registry/pipelines/{name}` (the original's route): the pipeline document; 404
/// when it is not registered.
pub async fn compat_get(State(state): State<Arc<Node>>, Name(name): Name) -> ApiResult<Response> {
    let stored = state.pipelines.get_raw(&name).await?;
    Ok(document(StatusCode::OK, stored))
}

/// `POST /pipeline/run` (the original's route): `{"name"}` runs now (202 with the run);
/// `{"name","cron"}` creates a schedule (201 with it).
pub async fn compat_run(
    State(state): State<Arc<Node>>,
    axum::Extension(caller): axum::Extension<crate::auth::Caller>,
    ApiJson(req): ApiJson<PipelineRunRequest>,
) -> ApiResult<Response> {
    if req.cron.is_some() {
        // With a cron it registers a schedule: an admin's job, unlike a run.
        caller.require(mao_api::auth::Role::Admin)?;
    }
    mao_api::validate::name("name", &req.name)?;
    let (p, _) = state.pipelines.get(&req.name).await?;
    match req.cron {
        Some(cron) => {
            let request = ScheduleRequest {
                pipeline: Some(p.name.clone()),
                cron,
                tz: req.tz,
                ..ScheduleRequest::default()
            };
            let view = state.scheduler.create(request).await?;
            Ok((StatusCode::CREATED, Json(view)).into_response())
        }
        None => {
            let run = pipeline::submit(&state.runner, p, Trigger::Manual).await?;
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
    }
}
