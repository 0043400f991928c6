//! The one mapping from errors to HTTP responses.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mao_api::{ErrorBody, ErrorDetail, ValidationError};
use mao_store::StoreError;
use tracing::error;

/// An error as the API reports it: a status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// A 4xx or 5xx with the given code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 for a missing resource of `kind` named `name`.
    pub fn not_found(kind: &str, name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{kind} {name:?} is not registered"),
        )
    }

    /// 400 for a malformed name in a URL path.
    pub fn bad_path_name(e: ValidationError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", e.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { key } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{key} does not exist"),
            ),
            StoreError::AlreadyExists { key } => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{key} already exists"),
            ),
            StoreError::Conflict { key, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{key} was changed by someone else meanwhile; read it again and retry"),
            ),
            StoreError::Unavailable(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the shared store is unavailable, retry later ({m})"),
            ),
            e => {
                error!(error = %e, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the daemon's log",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::BAD_REQUEST => "malformed_json",
            _ => "invalid_body",
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                format!("the request body is larger than {} bytes", crate::MAX_BODY)
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "send the body as JSON with the header Content-Type: application/json".to_owned()
            }
            _ => {
                let text = r.body_text();
                if text.ends_with("line 1 column 0") {
                    "the request body is empty; send a JSON object".to_owned()
                } else {
                    text
                }
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<mao_datasets::Error> for ApiError {
    fn from(e: mao_datasets::Error) -> ApiError {
        use mao_datasets::Error as E;
        let message = e.to_string();
        let (status, code) = match &e {
            E::Network { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "remote_unreachable"),
            E::Auth { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "remote_auth_refused"),
            E::HostKey { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "remote_host_key"),
            E::NonFastForward { .. } | E::Diverged { .. } => {
                (StatusCode::CONFLICT, "branch_diverged")
            }
            E::Rejected { .. } => (StatusCode::CONFLICT, "remote_rejected"),
            E::DirtyWorktree { .. } => (StatusCode::CONFLICT, "dirty_worktree"),
            E::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
            E::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            E::Io { .. } | E::Git { .. } => {
                error!(error = %e, "git error");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "git_error",
                    format!("{message} (see the daemon's log)"),
                );
            }
        };
        ApiError::new(status, code, message)
    }
}
