//! Liveness and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mao_api::{Readiness, ReadinessCheck};

use mao_node::Node;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the node can do its job: the shared store answers, the
/// container engine answers, and the node holds its membership lease; 503 otherwise, with
/// each check and the first reason.
pub async fn readyz(State(state): State<Arc<Node>>) -> (StatusCode, Json<Readiness>) {
    const LIMIT: Duration = Duration::from_secs(3);
    let (store, runtime) = tokio::join!(
        tokio::time::timeout(LIMIT, state.store.ping()),
        tokio::time::timeout(LIMIT, state.executor.ping_runtime()),
    );
    let mut checks = vec![
        check(
            "store",
            match store {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("the store did not answer within 3 s".to_owned()),
            },
        ),
        check(
            "runtime",
            match runtime {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("the Docker Engine did not answer within 3 s".to_owned()),
            },
        ),
    ];
    if let Some(held) = state.holds_membership() {
        checks.push(check(
            "membership",
            held.err().map(|fenced| fenced.to_string()),
        ));
    }
    let reason = checks.iter().find_map(|c| c.reason.clone());
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
            checks,
        }),
    )
}

fn check(name: &str, reason: Option<String>) -> ReadinessCheck {
    ReadinessCheck {
        name: name.to_owned(),
        ok: reason.is_none(),
        reason,
    }
}
