//! The one mapping from errors to HTTP responses: every domain error of `mao-node` gets
//! its status and stable code here, and nowhere else. A 5xx answers a generic message; its
//! detail travels in the response's extensions to [`log_server_errors`], the one place
//! that logs it.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mao_api::{ErrorBody, ErrorDetail, ValidationError};
use mao_node::datasets::DatasetError;
use mao_node::executor::RunError;
use mao_node::pipeline::PipelineError;
use mao_node::registry::RegistryError;
use mao_node::scheduler::ScheduleError;
use mao_runtime::RuntimeError;
use mao_store::StoreError;
use tracing::error;

/// An error as the API reports it: a status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// What went wrong inside, for the daemon's log only (5xx).
    pub detail: Option<String>,
    /// Seconds a client should wait before it asks again (`Retry-After`, with 429 and 503).
    pub retry_after: Option<u64>,
}

/// The inside story of a 5xx, handed from [`ApiError`] to [`log_server_errors`].
#[derive(Clone, Debug)]
struct ServerErrorDetail(String);

impl ApiError {
    /// A 4xx or 5xx with the given code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    /// A 500 whose message stays generic; `detail` goes to the log.
    pub fn internal(
        code: &'static str,
        message: impl Into<String>,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            detail: Some(detail.into()),
            ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
        }
    }

    /// 400 for a malformed query parameter.
    pub fn bad_query(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
    }

    /// 422 for a request that cannot be carried out as it stands.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
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

/// The Python original's failure shape, `{"ok": false, "errors": [...]}`, beside ours.
#[derive(serde::Serialize)]
struct OriginalFailure {
    ok: bool,
    errors: Vec<String>,
    #[serde(flatten)]
    body: ErrorBody,
}

impl ApiError {
    /// The response with the original's `ok: false` and `errors` added to the error
    /// object, for its routes whose clients read them (`POST /pipeline/init`).
    pub fn into_original_response(self) -> Response {
        self.respond(|body| OriginalFailure {
            ok: false,
            errors: vec![body.error.message.clone()],
            body,
        })
    }

    fn respond<B: serde::Serialize>(self, shape: impl FnOnce(ErrorBody) -> B) -> Response {
        let detail = self.status.is_server_error().then(|| {
            ServerErrorDetail(
                self.detail
                    .clone()
                    .unwrap_or_else(|| format!("{} ({})", self.message, self.code)),
            )
        });
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let status = self.status;
        let mut response = (status, Json(shape(body))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 says which scheme would be accepted.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"mao\""),
            );
        }
        if let Some(d) = detail {
            response.extensions_mut().insert(d);
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.respond(|body| body)
    }
}

/// Logs every 5xx the API answers, with its detail, method and path: the one place where
/// server errors are logged.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if response.status().is_server_error() {
        let detail = response
            .extensions()
            .get::<ServerErrorDetail>()
            .map(|d| d.0.as_str())
            .unwrap_or("no detail");
        error!(%method, %path, status = response.status().as_u16(), error = %detail, "request failed");
    }
    response
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

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
            StoreError::Refused(m) => ApiError::new(
                StatusCode::CONFLICT,
                "refused",
                format!("etcd refused: {m}"),
            ),
            StoreError::Unavailable(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the shared store is unavailable, retry later ({m})"),
            ),
            e => ApiError::internal(
                "internal",
                "internal error; see the daemon's log",
                format!("store error: {e}"),
            ),
        }
    }
}

impl From<mao_node::federation::FederationError> for ApiError {
    fn from(e: mao_node::federation::FederationError) -> ApiError {
        use mao_node::federation::FederationError as F;
        match e {
            F::Invalid(v) => v.into(),
            F::Taken(m) => ApiError::new(StatusCode::CONFLICT, "name_taken", m),
            F::Missing(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            F::NotHere(m) => ApiError::new(StatusCode::CONFLICT, "not_here", m),
            F::Quorum(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "quorum_at_risk", m),
            F::Store(e) => e.into(),
        }
    }
}

impl From<mao_node::insights::InsightError> for ApiError {
    fn from(e: mao_node::insights::InsightError) -> ApiError {
        use mao_node::insights::InsightError;
        let message = e.to_string();
        match e {
            InsightError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            InsightError::Unreadable { .. } => ApiError {
                detail: Some(message.clone()),
                ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            },
            InsightError::Store(s) => s.into(),
        }
    }
}

impl From<mao_node::gateway::GatewayError> for ApiError {
    fn from(e: mao_node::gateway::GatewayError) -> ApiError {
        use mao_node::gateway::GatewayError as G;
        let message = e.to_string();
        match e {
            G::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "outside_gateway", message),
            G::Invalid(v) => v.into(),
            G::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            G::Store(e) => e.into(),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        let message = e.to_string();
        match e {
            RegistryError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            RegistryError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", message)
            }
            RegistryError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            RegistryError::Invalid(v) => v.into(),
            RegistryError::Unreadable { .. } => ApiError {
                detail: Some(message.clone()),
                ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            },
            RegistryError::Store(s) => s.into(),
        }
    }
}

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
                return ApiError::internal(
                    "git_error",
                    format!("{message} (see the daemon's log)"),
                    format!("git error: {message}"),
                );
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<DatasetError> for ApiError {
    fn from(e: DatasetError) -> ApiError {
        let message = e.to_string();
        match e {
            DatasetError::Git(g) => g.into(),
            DatasetError::NotCloned { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_cloned", message)
            }
            DatasetError::NoClone { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            DatasetError::UnpushedWork { .. } => {
                ApiError::new(StatusCode::CONFLICT, "unpushed_work", message)
            }
            DatasetError::BareExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", message)
            }
            DatasetError::Io { .. } => ApiError {
                detail: Some(message.clone()),
                ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", message)
            },
            DatasetError::Registry(r) => r.into(),
            DatasetError::LocalRemote(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "local_remote_not_allowed",
                message,
            ),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        RunError::from(e).into()
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        let message = e.to_string();
        match e {
            RunError::Invalid(v) => v.into(),
            RunError::DockerSocketNotAllowed { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "docker_socket_not_allowed", message)
            }
            RunError::RuntimeUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "runtime_unavailable",
                message,
            ),
            RunError::Runtime(_) => {
                ApiError::internal("internal", "internal error; see the daemon's log", message)
            }
            RunError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            RunError::Finished { .. } => {
                ApiError::new(StatusCode::CONFLICT, "run_finished", message)
            }
            RunError::Recovering { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "recovering", message)
            }
            RunError::Forbidden(f) => {
                use mao_node::executor::Forbidden;
                let code = match f {
                    Forbidden::Image { .. } => "image_not_allowed",
                    Forbidden::Capability { .. } => "capability_not_allowed",
                    Forbidden::Network { .. } => "network_not_allowed",
                };
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            RunError::AboveMaximum { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit_above_maximum",
                message,
            ),
            RunError::QueueFull { retry_after, .. } => ApiError {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", message)
            },
            RunError::Store(s) => s.into(),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> ApiError {
        let message = e.to_string();
        match e {
            PipelineError::NotRegistered { .. } | PipelineError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            PipelineError::MissingSecret { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_secret", message)
            }
            PipelineError::SecretNotAllowed { .. } | PipelineError::SecretUnscoped { .. } => {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "secret_not_allowed",
                    message,
                )
            }
            PipelineError::Finished { .. } => {
                ApiError::new(StatusCode::CONFLICT, "run_finished", message)
            }
            PipelineError::Registry(e) => e.into(),
            PipelineError::Dataset(e) => e.into(),
            PipelineError::Run(e) => e.into(),
            PipelineError::Store(e) => e.into(),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> ApiError {
        match e {
            ScheduleError::Invalid(m) => ApiError::invalid(m),
            e @ ScheduleError::Unusable(_) => {
                let message = e.to_string();
                ApiError {
                    detail: Some(message.clone()),
                    ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
                }
            }
            ScheduleError::Registry(e) => e.into(),
        }
    }
}
