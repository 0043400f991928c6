//! `/api/v1/federation/*`: the etcd members behind the shared store and admitting a site.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use mao_api::auth::Role;
use mao_api::federation::{FederationStatus, JoinRequest, JoinResponse};
use mao_node::federation::Federation;
use mao_node::Node;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;

fn federation(node: &Node) -> ApiResult<&Arc<Federation>> {
    node.federation().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_federated",
            "this node keeps its state in the embedded store: it is a federation of one (start a federation with `mao-orchestrator federation init`)",
        )
    })
}

/// `GET /api/v1/federation/status`: etcd members, mao nodes, and which match.
pub async fn status(State(node): State<Arc<Node>>) -> ApiResult<Json<FederationStatus>> {
    Ok(Json(federation(&node)?.status().await?))
}

/// `GET /api/v1/federation/ca`: the federation's CA certificate (public: a joining site
/// checks it against the hash in its join token).
pub async fn ca(State(node): State<Arc<Node>>) -> ApiResult<String> {
    federation(&node)?.ca_pem().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_ca",
            "this node has no federation CA (it was not started with `federation init` or `federation join`)",
        )
    })
}

/// `POST /api/v1/federation/join` (role `join`): adds the site's etcd member as a learner
/// and answers what it needs to start it. A join that adds nothing gives its token's use
/// back.
pub async fn join(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<JoinRequest>,
) -> ApiResult<(StatusCode, Json<JoinResponse>)> {
    let federation = federation(&node)?;
    let token = caller
        .0
        .as_ref()
        .filter(|p| p.role == Role::Join)
        .map(|p| p.name.clone());
    if let Some(name) = &token {
        federation
            .take_use(name)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
    }
    match federation.join(&request).await {
        Ok(response) => Ok((StatusCode::CREATED, Json(response))),
        Err(e) => {
            if let Some(name) = &token {
                federation.give_back(name);
            }
            Err(e.into())
        }
    }
}

/// Query of `DELETE /api/v1/federation/members/{id}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// Also a healthy member whose node is live.
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/federation/members/{id}` (admin): removes a member of a site gone for
/// good (or a learner that never started), unless the rest could not keep quorum.
pub async fn remove_member(
    State(node): State<Arc<Node>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    query: Result<axum::extract::Query<RemoveQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<StatusCode> {
    let axum::extract::Query(query) = query?;
    federation(&node)?.remove(&id, query.force).await?;
    Ok(StatusCode::NO_CONTENT)
}
