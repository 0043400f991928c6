//! Runs: start a tool, list and inspect runs, follow logs, cancel.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use mao_api::units::parse_duration;
use mao_api::{List, RunRecord, RunRequest, RunStatus};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Name, OptionalJson, RunId};
use mao_node::executor::{Progress, Trigger};
use mao_node::Node;

/// `POST /api/v1/tools/{name}/runs`: 202 with the queued run's record.
#[instrument(skip_all, fields(tool = %name))]
pub async fn start(
    State(state): State<Arc<Node>>,
    Name(name): Name,
    OptionalJson(request): OptionalJson<RunRequest>,
) -> ApiResult<(StatusCode, Json<RunRecord>)> {
    let (tool, _) = state.tools.get(&name).await?;
    let record = state
        .executor
        .submit(&tool, request.unwrap_or_default(), Trigger::Manual)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// Query of `GET /api/v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    tool: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/runs?tool=&status=&limit=`: newest first (default 50, at most 1000).
pub async fn list(
    State(state): State<Arc<Node>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<RunRecord>>> {
    let Query(q) = query?;
    let bad = |m: String| ApiError::bad_query(m);
    if let Some(t) = &q.tool {
        mao_api::validate::name("tool", t).map_err(|e| bad(e.to_string()))?;
    }
    let status = q
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(bad)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit must be between 1 and 1000".into()));
    }
    let items = state
        .executor
        .list(q.tool.as_deref(), status, limit)
        .await?;
    Ok(Json(List { items, next: None }))
}

/// `GET /api/v1/runs/{id}`
pub async fn get_one(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<RunRecord>> {
    Ok(Json(state.executor.get(&id).await?))
}

/// Query of `GET /api/v1/runs/{id}/wait`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    timeout: Option<String>,
}

impl WaitQuery {
    /// The long-poll limit: `timeout` (default 30 s), at most 60 s.
    pub fn limit(&self) -> ApiResult<Duration> {
        Ok(match self.timeout.as_deref() {
            Some(t) => parse_duration(t).map_err(ApiError::bad_query)?,
            None => Duration::from_secs(30),
        }
        .min(Duration::from_secs(60)))
    }
}

/// `GET /api/v1/runs/{id}/wait?timeout=30s`: answers when the run has finished, or with
/// its current record after the timeout (at most 60 s), so clients need not poll.
pub async fn wait(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RunRecord>> {
    let Query(q) = query?;
    Ok(Json(state.executor.wait(&id, q.limit()?).await?))
}

/// `POST /api/v1/runs/{id}/cancel`: kills the run; answers once it has ended (or after
/// 10 s with its current record). 409 if it had already finished.
pub async fn cancel(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
) -> ApiResult<Json<RunRecord>> {
    state.executor.cancel(&id).await?;
    Ok(Json(
        state.executor.wait(&id, Duration::from_secs(10)).await?,
    ))
}

/// Query of `GET /api/v1/runs/{id}/logs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    #[serde(default)]
    follow: bool,
}

/// `GET /api/v1/runs/{id}/logs[?follow=true]`: the run's output as text; with `follow`,
/// streamed as it is written until the run ends.
pub async fn logs(
    State(state): State<Arc<Node>>,
    RunId(id): RunId,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    let record = state.executor.get(&id).await?;
    let progress = if q.follow {
        state.executor.progress(&id)
    } else {
        None
    };
    let tail = Tail {
        path: PathBuf::from(record.log_path),
        file: None,
        progress,
        pos: 0,
    };
    let body = Body::from_stream(futures::stream::unfold(tail, Tail::next));
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// Reads a log file to its end and, while the run is active, waits for more.
struct Tail {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    progress: Option<watch::Receiver<Progress>>,
    pos: u64,
}

impl Tail {
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Tail)> {
        loop {
            if self.file.is_none() {
                self.file = tokio::fs::File::open(&self.path).await.ok();
            }
            if let Some(file) = &mut self.file {
                let mut buf = vec![0; 64 * 1024];
                match file.read(&mut buf).await {
                    Ok(0) => {}
                    Ok(n) => {
                        buf.truncate(n);
                        self.pos += n as u64;
                        return Some((Ok(Bytes::from(buf)), self));
                    }
                    Err(e) => {
                        self.progress = None;
                        return Some((Err(e), self));
                    }
                }
            }
            let rx = self.progress.as_mut()?;
            if rx.borrow().finished {
                // One more pass reads what was written last, then the stream ends.
                self.progress = None;
                continue;
            }
            let pos = self.pos;
            if rx
                .wait_for(|p| p.finished || p.log_bytes > pos)
                .await
                .is_err()
            {
                self.progress = None;
            }
        }
    }
}
