//! The guard in front of every route: the `Host` allow-list (DNS rebinding), the refusal of
//! cross-site requests (CSRF), bearer tokens and the role each route needs, and the
//! activity log of every state-changing request. The policy is one table
//! ([`needed_role`]); handlers that need a finer decision read the [`Caller`].

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mao_api::auth::{Activity, Role};
use mao_node::access::{ActivityLog, Principal, Tokens};
use tracing::warn;

use crate::error::ApiError;

/// The header a non-browser client may send instead of a JSON content type on a bodyless
/// state-changing request (browsers cannot send it cross-origin without a preflight).
pub const CLIENT_HEADER: &str = "x-mao-client";

/// What the guard checks, built once at start-up.
pub struct Guard {
    /// The tokens a request must carry one of; `None`: auth is off (loopback only).
    pub tokens: Option<Tokens>,
    /// Host names (lowercase, no port) the API answers to; IP literals always pass.
    pub allowed_hosts: Vec<String>,
    pub activity: Arc<ActivityLog>,
}

/// Who made the request: `None` when auth is off (every request may do everything).
#[derive(Clone, Debug)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    /// Refuses with 403 unless the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        match &self.0 {
            None => Ok(()),
            Some(p) if p.role.allows(role) => Ok(()),
            Some(p) => Err(forbidden(role, p)),
        }
    }
}

/// The role a request needs; `None` for the probes, which are public.
pub fn needed_role(method: &Method, path: &str) -> Option<Role> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // The federation's CA certificate is public: a joining site pins it by the hash its
    // join token carries before it sends the token.
    if matches!(segments.as_slice(), ["healthz"] | ["readyz"])
        || (method == Method::GET && segments.as_slice() == ["api", "v1", "federation", "ca"])
    {
        return None;
    }
    if method == Method::POST && segments.as_slice() == ["api", "v1", "federation", "join"] {
        return Some(Role::Join);
    }
    if method == Method::GET || method == Method::HEAD {
        return Some(match segments.as_slice() {
            ["api", "v1", "activity"] => Role::Admin,
            _ => Role::Read,
        });
    }
    // The original's gateway reads with a POST; reading is all it does.
    if method == Method::POST && matches!(segments.as_slice(), ["read"] | ["inspect"]) {
        return Some(Role::Read);
    }
    let operate = matches!(
        segments.as_slice(),
        ["api", "v1", "tools", _, "runs"]
            | ["api", "v1", "runs", _, "cancel"]
            | ["api", "v1", "pipelines", _, "runs"]
            | ["api", "v1", "pipelines", _, "init"]
            | ["api", "v1", "pipeline-runs", _, "cancel"]
            | ["api", "v1", "notifications", _, "ack"]
            | ["api", "v1", "schedules", _, "pause" | "resume"]
            | ["api", "v1", "datasets", _, "clone"]
            | ["pipeline", "init"]
            | ["pipeline", "run"]
            | ["write"]
    );
    // Anything else that changes state (and any route added later) is admin's: the table
    // fails closed.
    Some(if operate { Role::Operate } else { Role::Admin })
}

/// Who the activity log names for a request refused without a token.
pub const ANONYMOUS: &str = "anonymous";

/// Who the activity log names for a request refused for a token that is not valid (or an
/// `Authorization` header that is not a bearer token).
pub const INVALID_TOKEN: &str = "invalid-token";

/// The middleware: host, cross-site, token and role checks, then the activity log.
pub async fn guard(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let target = request.uri().path().to_owned();
    let changes_state = changes_state(&method);
    let checked = check(&guard, &method, &target, request.headers());
    let (sender, response) = match checked {
        Ok(caller) => {
            request.extensions_mut().insert(caller.clone());
            (Sender::Identified(caller), next.run(request).await)
        }
        Err(Refusal {
            by: Sender::Unchecked,
            error,
        }) if changes_state => (sender(&guard, request.headers()), error.into_response()),
        Err(Refusal { by, error }) => (by, error.into_response()),
    };
    if changes_state {
        let (who, role) = match &sender {
            Sender::Identified(Caller(Some(p))) => (p.name.clone(), Some(p.role)),
            Sender::Identified(Caller(None)) => ("local".to_owned(), None),
            Sender::Unidentified(who) => ((*who).to_owned(), None),
            Sender::Unchecked => (ANONYMOUS.to_owned(), None),
        };
        let mut target = target;
        if target.len() > MAX_TARGET {
            let mut cut = MAX_TARGET;
            while !target.is_char_boundary(cut) {
                cut -= 1;
            }
            target.truncate(cut);
            target.push('…');
        }
        let entry = Activity {
            at: chrono::Utc::now(),
            who,
            role,
            method: method.to_string(),
            target,
            status: response.status().as_u16(),
        };
        let log = guard.activity.clone();
        // Anyone can send requests that are refused before they are identified: those are
        // logged within a budget (ActivityLog::append_unidentified), so a flood of them
        // shows without rotating out what token holders did.
        let identified = matches!(sender, Sender::Identified(_));
        let appended = tokio::task::spawn_blocking(move || {
            if identified {
                log.append(&entry)
            } else {
                log.append_unidentified(&entry)
            }
        })
        .await;
        match appended {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot append to the activity log"),
            Err(e) => warn!(error = %e, "cannot append to the activity log"),
        }
    }
    response
}

/// Writes the summary of refusals left out of the activity log every few seconds, once
/// their window has passed, so it is there even when no other request follows.
pub fn spawn_refusal_summaries(log: Arc<ActivityLog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let log = log.clone();
            match tokio::task::spawn_blocking(move || log.settle(chrono::Utc::now())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "cannot append to the activity log"),
                Err(e) => warn!(error = %e, "cannot append to the activity log"),
            }
        }
    })
}

/// Who sent a request, as far as the guard got.
enum Sender {
    /// A token holder, or anyone when auth is off.
    Identified(Caller),
    /// Nobody this node knows: [`ANONYMOUS`] or [`INVALID_TOKEN`].
    Unidentified(&'static str),
    /// Refused before the token was looked at (foreign host, cross-site).
    Unchecked,
}

/// A refused request: who sent it and the answer.
struct Refusal {
    by: Sender,
    error: ApiError,
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The longest path kept in an activity entry.
const MAX_TARGET: usize = 256;

fn check(
    guard: &Guard,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let unchecked = |error| Refusal {
        by: Sender::Unchecked,
        error,
    };
    check_host(guard, headers).map_err(unchecked)?;
    if changes_state(method) {
        check_cross_site(guard, method, headers).map_err(unchecked)?;
    }
    let Some(needed) = needed_role(method, path) else {
        return Ok(Caller(None));
    };
    let Some(tokens) = &guard.tokens else {
        return Ok(Caller(None));
    };
    let principal = identify(tokens, headers).map_err(|(who, error)| Refusal {
        by: Sender::Unidentified(who),
        error,
    })?;
    let caller = Caller(Some(principal.clone()));
    if !principal.role.allows(needed) {
        return Err(Refusal {
            by: Sender::Identified(caller),
            error: forbidden(needed, &principal),
        });
    }
    Ok(caller)
}

/// Who sent a request the guard refused before it looked at the token: the activity log
/// names a token holder even then.
fn sender(guard: &Guard, headers: &HeaderMap) -> Sender {
    match &guard.tokens {
        None => Sender::Unidentified(ANONYMOUS),
        Some(tokens) => match identify(tokens, headers) {
            Ok(principal) => Sender::Identified(Caller(Some(principal))),
            Err((who, _)) => Sender::Unidentified(who),
        },
    }
}

/// The holder of the request's bearer token; otherwise who to log ([`ANONYMOUS`],
/// [`INVALID_TOKEN`]) and the 401.
fn identify(tokens: &Tokens, headers: &HeaderMap) -> Result<Principal, (&'static str, ApiError)> {
    let presented = bearer(headers).map_err(|e| {
        let who = if headers.contains_key(header::AUTHORIZATION) {
            INVALID_TOKEN
        } else {
            ANONYMOUS
        };
        (who, e)
    })?;
    tokens.verify(presented).ok_or_else(|| {
        (
            INVALID_TOKEN,
            unauthorized(
                "the token is not valid on this node (revoked, expired, used up, mistyped, or made for another node)",
            ),
        )
    })
}

/// A name in `Host` must be one of this node's; an IP literal cannot be rebound, so it
/// passes (the connection reached this node at that address).
fn check_host(guard: &Guard, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_host",
            "send a Host header",
        ));
    };
    if host_allowed(guard, host) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this node does not answer to the host {:?}; if it is a name of this node, add it to allowed_hosts",
                host_name(host)
            ),
        ))
    }
}

/// The host of a `Host` header or an origin, lowercase, without port or brackets.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name.to_owned()
        }
        _ => host,
    }
}

fn host_allowed(guard: &Guard, host: &str) -> bool {
    let name = host_name(host);
    name.parse::<IpAddr>().is_ok()
        || name.ends_with(".localhost")
        || guard.allowed_hosts.contains(&name)
}

/// An origin is this node when its host is one of the node's names, or the very IP
/// literal the request was sent to (any other IP is another site's page).
fn origin_allowed(guard: &Guard, origin_host: &str, headers: &HeaderMap) -> bool {
    let name = host_name(origin_host);
    if name.parse::<IpAddr>().is_ok() {
        return headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| host_name(host) == name);
    }
    name.ends_with(".localhost") || guard.allowed_hosts.contains(&name)
}

/// A browser can send a cross-origin POST without asking first only as a "simple"
/// request (a form or text/plain body): so a POST must be JSON or carry
/// [`CLIENT_HEADER`]. PUT and DELETE always need a preflight, which this API never
/// grants (it sends no CORS headers). Whatever the method, a request a browser marks as
/// coming from another site is refused.
fn check_cross_site(guard: &Guard, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = |why: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_refused",
            format!("{why}; this API does not accept requests from other web sites"),
        )
    };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if origin == "null" || host.is_empty() || !origin_allowed(guard, host, headers) {
            return Err(refused(format!(
                "the request comes from the origin {origin:?}"
            )));
        }
    }
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site")
    {
        return Err(refused(
            "the browser marked the request cross-site".to_owned(),
        ));
    }
    if *method == Method::POST
        && !crate::extract::is_json(headers)
        && !headers.contains_key(CLIENT_HEADER)
    {
        return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "a POST must send Content-Type: application/json (a bodyless one too, or the header X-Mao-Client)",
            ));
    }
    Ok(())
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "this node needs a token: send Authorization: Bearer <token> (maoctl --token, MAO_TOKEN or a context)",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn forbidden(needed: Role, principal: &Principal) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this request needs the role {needed}; the token {:?} has the role {}",
            principal.name, principal.role
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_family_needs_the_documented_role() {
        let get = Method::GET;
        let post = Method::POST;
        let cases = [
            (&get, "/healthz", None),
            (&get, "/readyz", None),
            (&get, "/api/v1/tools", Some(Role::Read)),
            (&get, "/registry/tools", Some(Role::Read)),
            (&get, "/api/v1/activity", Some(Role::Admin)),
            (&post, "/api/v1/tools", Some(Role::Admin)),
            (&Method::PUT, "/api/v1/tools/a", Some(Role::Admin)),
            (&Method::DELETE, "/api/v1/tools/a", Some(Role::Admin)),
            (&post, "/registry/tools", Some(Role::Admin)),
            (&Method::DELETE, "/jobs/x", Some(Role::Admin)),
            (&post, "/api/v1/schedules", Some(Role::Admin)),
            (&post, "/api/v1/tools/a/runs", Some(Role::Operate)),
            (&post, "/api/v1/runs/1/cancel", Some(Role::Operate)),
            (&post, "/api/v1/schedules/s/pause", Some(Role::Operate)),
            (&post, "/api/v1/notifications/n/ack", Some(Role::Operate)),
            (&post, "/pipeline/run", Some(Role::Operate)),
            (&post, "/write", Some(Role::Operate)),
            (&post, "/read", Some(Role::Read)),
            (&post, "/inspect", Some(Role::Read)),
            (&post, "/bare-repo/init", Some(Role::Admin)),
            (&post, "/api/v1/nothing/new", Some(Role::Admin)),
            (&post, "/api/v1/federation/join", Some(Role::Join)),
            (&post, "/api/v1/federation/leave", Some(Role::Admin)),
            (&get, "/api/v1/federation/status", Some(Role::Read)),
            (&get, "/api/v1/federation/ca", None),
            (&post, "/api/v1/federation/ca", Some(Role::Admin)),
        ];
        for (method, path, role) in cases {
            assert_eq!(needed_role(method, path), role, "{method} {path}");
        }
    }

    #[test]
    fn host_names_are_read_without_port() {
        assert_eq!(host_name("Example.org:8080"), "example.org");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("10.0.0.1"), "10.0.0.1");
        let guard = Guard {
            tokens: None,
            allowed_hosts: vec!["localhost".into(), "site-a.example.org".into()],
            activity: Arc::new(ActivityLog::open(tempfile::tempdir().unwrap().path()).unwrap()),
        };
        for ok in [
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:80",
            "site-a.example.org",
            "x.localhost",
        ] {
            assert!(host_allowed(&guard, ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "site-a.example.org.evil.example",
            "localhost.evil",
        ] {
            assert!(!host_allowed(&guard, bad), "{bad}");
        }
    }
}
