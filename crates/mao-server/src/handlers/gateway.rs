//! The original's gateway routes, confined to the federation's `raw/` and `insights/`:
//! `POST /write` `{"key","value"}`, `POST /read` `{"key"}`, `POST /inspect` `{"key"}`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use mao_node::gateway::GatewayKey;
use mao_node::Node;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::ApiJson;

/// Body of `POST /write`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    key: String,
    value: Value,
}

/// Body of `POST /read` and `POST /inspect`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    key: String,
}

/// `POST /write`: a raw entry under `raw/<key>` for 60 s; answers the stored value as a
/// JSON string, as the original did.
pub async fn write(
    State(state): State<Arc<Node>>,
    ApiJson(req): ApiJson<WriteRequest>,
) -> ApiResult<Json<String>> {
    let key = GatewayKey::raw(&req.key)?;
    Ok(Json(state.gateway.write(&key, &req.value).await?))
}

/// `POST /read`: the value at a key under `raw/` or `insights/` (its JSON when it is JSON).
pub async fn read(
    State(state): State<Arc<Node>>,
    ApiJson(req): ApiJson<KeyRequest>,
) -> ApiResult<Json<Value>> {
    let key = GatewayKey::readable(&req.key)?;
    Ok(Json(state.gateway.read(&key).await?))
}

/// `POST /inspect`: `{"/raw/...": "<value>", ...}`, every entry at or under the key.
pub async fn inspect(
    State(state): State<Arc<Node>>,
    ApiJson(req): ApiJson<KeyRequest>,
) -> ApiResult<Json<serde_json::Map<String, Value>>> {
    let key = GatewayKey::readable(&req.key)?;
    Ok(Json(state.gateway.inspect(&key).await?))
}
