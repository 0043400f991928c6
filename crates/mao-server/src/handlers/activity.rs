//! `GET /api/v1/activity`: the node's log of state-changing requests (role admin).

use std::sync::Arc;

use axum::extract::Query;
use axum::{Extension, Json};
use mao_api::auth::Activity;
use mao_api::List;
use mao_node::access::{ActivityFilter, ActivityLog};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// Query of `GET /api/v1/activity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// RFC 3339 time, or a duration back from now (`1h`, `7d`).
    since: Option<String>,
    /// Only this token's requests.
    who: Option<String>,
    /// At most this many, the newest.
    limit: Option<usize>,
}

/// The entries that pass the query, oldest first.
pub async fn list(
    Extension(log): Extension<Arc<ActivityLog>>,
    query: Result<Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<List<Activity>>> {
    let Query(q) = query?;
    let since = match q.since.as_deref() {
        None => None,
        Some(text) => Some(parse_since(text).ok_or_else(|| {
            ApiError::bad_query(format!(
                "since={text:?} is neither an RFC 3339 time nor a duration such as 1h"
            ))
        })?),
    };
    let filter = ActivityFilter {
        since,
        who: q.who,
        limit: q.limit,
    };
    let unreadable =
        |e: String| ApiError::internal("activity_failed", "cannot read the activity log", e);
    // A window of refusals that has passed is summed up before it is read.
    let items = tokio::task::spawn_blocking(move || {
        log.settle(chrono::Utc::now())?;
        log.read(&filter)
    })
    .await
    .map_err(|e| unreadable(e.to_string()))?
    .map_err(|e| unreadable(e.to_string()))?;
    Ok(Json(List { items, next: None }))
}

fn parse_since(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&chrono::Utc));
    }
    let back = mao_api::units::parse_duration(text).ok()?;
    // A duration beyond the calendar is no time at all, not a panic.
    chrono::Utc::now().checked_sub_signed(chrono::Duration::from_std(back).ok()?)
}
