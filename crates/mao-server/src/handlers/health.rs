//! Liveness and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mao_api::Readiness;

use mao_node::Node;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the shared store answers, 503 otherwise.
pub async fn readyz(State(state): State<Arc<Node>>) -> (StatusCode, Json<Readiness>) {
    let probe = tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await;
    let reason = match probe {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the store did not answer within 3 s".to_owned()),
    };
    let status = if reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready: reason.is_none(),
            store: state.store.backend().to_owned(),
            node: state.name.clone(),
            reason,
        }),
    )
}
