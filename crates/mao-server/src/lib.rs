//! The HTTP edge of a MAO node: the router, its handlers, the extractors that turn client
//! mistakes into 4xx, and the one mapping from domain errors to statuses. The domain is
//! `mao-node`; `main.rs` wires both to a socket.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use mao_api::{Dataset, Pipeline, Tool};
use mao_node::Node;

pub mod auth;
pub mod config;
pub mod error;
mod extract;
pub mod federation_cmd;
mod handlers;
pub mod log_writer;
pub mod managed;
pub mod serve;
pub mod token_cmd;

/// Largest request body accepted (1 MiB); larger ones get 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// The HTTP API: `/api/v1`, the original's compatibility routes, health probes, behind
/// the `guard` (hosts, cross-site requests, tokens and roles, the activity log).
pub fn router(state: Arc<Node>, guard: Arc<auth::Guard>) -> Router {
    use axum::routing::post;
    use handlers::{
        activity, compat, datasets, federation, gateway, health, insights, nodes, notifications,
        pipelines, registry as reg, runs, schedules,
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/api/v1/tools",
            get(reg::list::<Tool>).post(reg::create::<Tool>),
        )
        .route(
            "/api/v1/tools/{name}",
            get(reg::get_one::<Tool>)
                .put(reg::replace::<Tool>)
                .delete(reg::remove::<Tool>),
        )
        .route(
            "/api/v1/datasets",
            get(reg::list::<Dataset>).post(reg::create::<Dataset>),
        )
        .route(
            "/api/v1/datasets/{name}",
            get(reg::get_one::<Dataset>)
                .put(reg::replace::<Dataset>)
                .delete(reg::remove::<Dataset>),
        )
        .route("/api/v1/datasets/{name}/clone", post(datasets::clone_one))
        .route(
            "/api/v1/local/datasets",
            get(datasets::list_local).post(datasets::init_local),
        )
        .route(
            "/api/v1/local/datasets/{name}",
            get(datasets::get_local).delete(datasets::remove_local),
        )
        .route("/bare-repo/init", post(datasets::bare_repo_init))
        .route(
            "/api/v1/pipelines",
            get(reg::list::<Pipeline>).post(pipelines::create),
        )
        .route(
            "/api/v1/pipelines/{name}",
            get(reg::get_one::<Pipeline>)
                .put(pipelines::replace)
                .delete(reg::remove::<Pipeline>),
        )
        .route("/api/v1/pipelines/{name}/init", post(pipelines::init))
        .route("/api/v1/pipelines/{name}/runs", post(pipelines::start))
        .route("/api/v1/pipeline-runs", get(pipelines::list_runs))
        .route("/api/v1/pipeline-runs/{id}", get(pipelines::get_run))
        .route("/api/v1/pipeline-runs/{id}/wait", get(pipelines::wait_run))
        .route(
            "/api/v1/pipeline-runs/{id}/cancel",
            post(pipelines::cancel_run),
        )
        .route("/write", post(gateway::write))
        .route("/read", post(gateway::read))
        .route("/inspect", post(gateway::inspect))
        .route("/pipeline", get(pipelines::compat_list))
        .route("/registry/pipelines/{name}", get(pipelines::compat_get))
        .route("/pipeline/init", post(pipelines::compat_init))
        .route("/pipeline/run", post(pipelines::compat_run))
        .route("/api/v1/tools/{name}/runs", post(runs::start))
        .route("/api/v1/runs", get(runs::list))
        .route("/api/v1/runs/{id}", get(runs::get_one))
        .route("/api/v1/runs/{id}/wait", get(runs::wait))
        .route("/api/v1/runs/{id}/logs", get(runs::logs))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel))
        .route(
            "/api/v1/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/v1/schedules/{name}",
            get(schedules::get_one).delete(schedules::remove),
        )
        .route("/api/v1/schedules/{name}/pause", post(schedules::pause))
        .route("/api/v1/schedules/{name}/resume", post(schedules::resume))
        .route("/api/v1/schedules/{name}/next", get(schedules::next))
        .route("/api/v1/schedules/{name}/history", get(schedules::history))
        .route("/jobs", get(schedules::jobs))
        .route("/jobs/{name}", axum::routing::delete(schedules::delete_job))
        .route("/api/v1/nodes", get(nodes::list))
        .route("/api/v1/federation/status", get(federation::status))
        .route("/api/v1/federation/ca", get(federation::ca))
        .route("/api/v1/federation/join", post(federation::join))
        .route(
            "/api/v1/federation/members/{id}",
            axum::routing::delete(federation::remove_member),
        )
        .route("/api/v1/activity", get(activity::list))
        .route("/api/v1/insights", get(insights::list))
        .route("/api/v1/insights/{tool}", get(insights::of_tool))
        .route("/api/v1/insights/{tool}/{node}", get(insights::get_one))
        .route("/api/v1/notifications", get(notifications::list))
        .route("/api/v1/notifications/{id}", get(notifications::get_one))
        .route("/api/v1/notifications/{id}/ack", post(notifications::ack))
        .route(
            "/api/v1/notifications/{id}/deliveries",
            get(notifications::deliveries),
        )
        .route(
            "/registry/tools",
            get(compat::list_tools).post(compat::register_tool),
        )
        .route(
            "/registry/tools/{name}",
            get(compat::get_tool).delete(compat::delete_tool),
        )
        .route(
            "/registry/datasets",
            get(compat::list_datasets).post(compat::register_dataset),
        )
        .route(
            "/registry/datasets/{name}",
            get(compat::get_dataset).delete(compat::delete_dataset),
        )
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::Extension(guard.activity.clone()))
        .layer(axum::middleware::from_fn_with_state(guard, auth::guard))
        .layer(axum::middleware::from_fn(error::log_server_errors))
        .with_state(state)
}
