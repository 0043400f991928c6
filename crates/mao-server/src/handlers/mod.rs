//! HTTP handlers, one module per resource.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::ApiError;
use mao_node::registry::Stored;

pub mod activity;
pub mod compat;
pub mod datasets;
pub mod federation;
pub mod gateway;
pub mod health;
pub mod insights;
pub mod nodes;
pub mod notifications;
pub mod pipelines;
pub mod registry;
pub mod runs;
pub mod schedules;

/// A JSON body that is already serialized.
pub(crate) fn raw_json(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A stored document with its revision as ETag (send it back in `If-Match`).
pub(crate) fn document(status: StatusCode, stored: Stored) -> Response {
    let mut response = raw_json(status, stored.json);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", stored.revision)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// 404 in the API's error shape for paths no route matches.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no route for {method} {}", uri.path()),
    )
}

/// 405 in the API's error shape.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
