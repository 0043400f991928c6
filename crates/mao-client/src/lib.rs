//! Typed, blocking HTTP client of the mao-orchestrator API.
//!
//! Blocking on purpose: `maoctl` makes one or two requests per run, and an async runtime
//! would cost more to start than the requests take against a local daemon.

use std::io::{self, Read};
use std::time::Duration;

use mao_api::{ErrorBody, List};
use serde::de::DeserializeOwned;
use serde::Serialize;

use endpoint::normalize_endpoint;

mod auth;
mod endpoint;

// One module per resource of the API, each adding its methods to `Client`.
mod activity;
mod datasets;
mod insights;
mod nodes;
mod notifications;
mod pipelines;
mod runs;
mod schedules;
mod tools;

pub use auth::{ClientOptions, Token, CLIENT_HEADER, CLIENT_HEADER_VALUE};
pub use datasets::NodeClone;

/// The endpoint `maoctl` and other clients use when none is given.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// How long to wait for the TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one request may take in all, from connecting to the end of the body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait the daemon grants in one `GET /api/v1/runs/{id}/wait` (or
/// `GET /api/v1/pipeline-runs/{id}/wait`).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

const USER_AGENT: &str = concat!("mao-client/", env!("CARGO_PKG_VERSION"));

// A body larger than this is not something the API sends; stop reading instead of
// filling memory when the endpoint is not a mao-orchestrator.
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Everything a call can fail with, in variants a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer: nothing listens, the host is unknown, the connection broke or timed out.
    #[error("cannot reach {endpoint}: is mao-orchestrator running? ({source})")]
    Unreachable { endpoint: String, source: io::Error },
    /// The server answered with a 4xx or 5xx status.
    #[error("{message}")]
    Api {
        /// The HTTP status, e.g. 404.
        status: u16,
        /// The server's machine-readable code, e.g. `not_found`.
        code: String,
        /// The server's explanation, for people.
        message: String,
    },
    /// The server answered 2xx with a body that is not the document the API promises.
    #[error(
        "unexpected response from {url}: {source} (is it a mao-orchestrator of the same version?)"
    )]
    Decode {
        /// The URL whose answer could not be read.
        url: String,
        /// What is wrong with the document.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The endpoint URL cannot be used.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name that cannot be put in a URL path (empty, `.` or `..`).
    #[error("{name:?} cannot be used as a name")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A token or CA certificate that cannot be used; the message never holds a token.
    #[error("{0}")]
    InvalidSettings(String),
    /// The TLS handshake with an `https://` endpoint failed: an untrusted or wrong
    /// certificate, or no TLS at all.
    #[error("TLS with {endpoint} failed: {reason}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// What was wrong, and what to do.
        reason: String,
    },
}

impl Error {
    /// The HTTP status of an [`Error::Api`], `None` for the other variants.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the server refused the request for its missing or wrong token (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Whether the server said the token's role may not do this (403).
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// Whether the server said the resource exists already.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// The server's machine-readable code of an [`Error::Api`] (`run_finished`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A connection to one mao-orchestrator endpoint; cheap to clone, safe to share.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: String,
    agent: ureq::Agent,
    /// Without an overall timeout: a followed log lasts as long as its run.
    stream_agent: ureq::Agent,
}

impl Client {
    /// Checks `endpoint` (`http://host[:port][/prefix]` or `https://...`) and builds a client
    /// without a token that trusts the bundled public CAs.
    pub fn new(endpoint: &str) -> Result<Client, Error> {
        Client::with_options(endpoint, ClientOptions::default())
    }

    /// [`Client::new`] with a token and the CA an `https://` endpoint is checked against.
    pub fn with_options(endpoint: &str, options: ClientOptions) -> Result<Client, Error> {
        let endpoint = normalize_endpoint(endpoint)?;
        let tls = match options.pinned_ca_sha256 {
            Some(pin) => Some(auth::pinned_tls_config(pin)?),
            None => options
                .ca_cert_pem
                .as_deref()
                .map(auth::tls_config)
                .transpose()?,
        };
        let builder = || {
            let builder = ureq::AgentBuilder::new()
                .timeout_connect(CONNECT_TIMEOUT)
                .user_agent(USER_AGENT)
                .middleware(auth::Headers {
                    token: options.token.clone(),
                });
            #[cfg(feature = "tls")]
            let builder = match &tls {
                Some(config) => builder.tls_config(config.clone()),
                None => builder,
            };
            #[cfg(not(feature = "tls"))]
            let _ = &tls;
            builder
        };
        let agent = builder().timeout(REQUEST_TIMEOUT).build();
        let stream_agent = builder().build();
        Ok(Client {
            endpoint,
            agent,
            stream_agent,
        })
    }

    /// The endpoint this client talks to, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.endpoint, path)
    }

    fn list_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page: List<T> = self.list_page(path, None, after.as_deref())?;
            items.extend(page.items);
            match page.next {
                // A cursor that does not move would loop forever.
                Some(next) if after.as_deref() == Some(next.as_str()) => {
                    return Err(Error::Decode {
                        url: self.url(path),
                        source: format!("the page after {next:?} points to itself").into(),
                    });
                }
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }

    fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<List<T>, Error> {
        let mut request = self.agent.get(&self.url(path));
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        if let Some(after) = after {
            request = request.query("after", after);
        }
        self.call(request, None::<&()>)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(self.agent.get(&self.url(path)), None::<&()>)
    }

    /// `POST` without a body.
    fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(self.agent.post(&self.url(path)), None::<&()>)
    }

    /// One `GET {path}?timeout=...` that the daemon answers when the awaited thing has
    /// finished or when the timeout has passed.
    fn long_poll<T: DeserializeOwned>(&self, path: &str, timeout: Duration) -> Result<T, Error> {
        let (param, request_timeout) = wait_timeouts(timeout);
        let request = self
            .agent
            .get(&self.url(path))
            .query("timeout", &param)
            .timeout(request_timeout);
        self.call(request, None::<&()>)
    }

    fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        self.call(self.agent.request(method, &self.url(path)), Some(body))
    }

    fn delete(&self, path: &str) -> Result<(), Error> {
        self.delete_request(self.agent.delete(&self.url(path)))
    }

    fn delete_request(&self, request: ureq::Request) -> Result<(), Error> {
        match request.call() {
            // Drain the body so the connection could be reused; its content does not matter.
            Ok(response) => read_body(&self.endpoint, response).map(drop),
            Err(e) => Err(self.map_error(e)?),
        }
    }

    fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        request: ureq::Request,
        body: Option<&B>,
    ) -> Result<T, Error> {
        self.call_status(request, body)
            .map(|(document, _)| document)
    }

    /// Like [`Client::call`], with the 2xx status of the answer (201 and 200 can mean
    /// different things).
    fn call_status<T: DeserializeOwned, B: Serialize>(
        &self,
        request: ureq::Request,
        body: Option<&B>,
    ) -> Result<(T, u16), Error> {
        let url = request.url().to_owned();
        let result = match body {
            Some(body) => {
                let bytes = serde_json::to_vec(body).map_err(|e| Error::Decode {
                    url: url.clone(),
                    source: Box::new(e),
                })?;
                request
                    .set("Content-Type", "application/json")
                    .send_bytes(&bytes)
            }
            None => request.call(),
        };
        match result {
            Ok(response) => {
                let status = response.status();
                Ok((decode(&self.endpoint, &url, response)?, status))
            }
            Err(e) => Err(self.map_error(e)?),
        }
    }

    /// Turns a ureq error into ours; `Err` when reading the error body itself failed.
    fn map_error(&self, error: ureq::Error) -> Result<Error, Error> {
        match error {
            ureq::Error::Status(status, response) => {
                let url = response.get_url().to_owned();
                let body = read_body(&self.endpoint, response)?;
                Ok(api_error(&url, status, &body))
            }
            ureq::Error::Transport(transport) => {
                if let Some(reason) = auth::tls_failure(&transport) {
                    return Ok(Error::Tls {
                        endpoint: self.endpoint.clone(),
                        reason,
                    });
                }
                Ok(Error::Unreachable {
                    endpoint: self.endpoint.clone(),
                    source: transport_cause(&transport),
                })
            }
        }
    }
}

/// The `timeout=` of a long poll, and how long the whole request may take: the answer
/// may come only when the wait is over, so the request outlasts it by [`REQUEST_TIMEOUT`].
fn wait_timeouts(timeout: Duration) -> (String, Duration) {
    let timeout = timeout.min(MAX_WAIT);
    (
        format!("{}ms", timeout.as_millis()),
        timeout + REQUEST_TIMEOUT,
    )
}

fn decode<T: DeserializeOwned>(
    endpoint: &str,
    url: &str,
    response: ureq::Response,
) -> Result<T, Error> {
    let status = response.status();
    let body = read_body(endpoint, response)?;
    serde_json::from_slice(&body).map_err(|e| Error::Decode {
        url: url.to_owned(),
        source: if (200..300).contains(&status) {
            Box::new(e)
        } else {
            // Only reached when a redirect was not followed (3xx is not an error for ureq).
            format!("status {status} is not a document of the API").into()
        },
    })
}

fn read_body(endpoint: &str, response: ureq::Response) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY_BYTES)
        .read_to_end(&mut body)
        .map_err(|source| Error::Unreachable {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    Ok(body)
}

/// The error a 4xx/5xx response stands for; a body that is not an [`ErrorBody`] (a proxy,
/// another service on that port) still yields a message that says what came back.
fn api_error(url: &str, status: u16, body: &[u8]) -> Error {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        return Error::Api {
            status,
            code: error.code,
            message: error.message,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let excerpt: String = if text.chars().count() > 100 {
        text.chars().take(99).chain(['…']).collect()
    } else {
        text
    };
    let message = if excerpt.is_empty() {
        format!("{url} answered {status} without an error document (is it a mao-orchestrator?)")
    } else {
        format!("{url} answered {status} without an error document (is it a mao-orchestrator?): {excerpt:?}")
    };
    Error::Api {
        status,
        code: format!("http_{status}"),
        message,
    }
}

/// A short, lower-case description of why no HTTP answer came.
fn transport_cause(transport: &ureq::Transport) -> io::Error {
    let io_source =
        std::error::Error::source(transport).and_then(|s| s.downcast_ref::<io::Error>());
    match (transport.kind(), io_source) {
        (ureq::ErrorKind::Dns, Some(source)) => {
            io::Error::new(source.kind(), format!("cannot resolve the host: {source}"))
        }
        (_, Some(source)) => io::Error::new(source.kind(), source.to_string()),
        (kind, None) => {
            let what = match kind {
                ureq::ErrorKind::BadStatus => {
                    "the answer is not HTTP (is the daemon serving https://?)".to_owned()
                }
                ureq::ErrorKind::BadHeader => "the answer has a malformed header".to_owned(),
                ureq::ErrorKind::TooManyRedirects => "too many redirects".to_owned(),
                other => other.to_string().to_lowercase(),
            };
            match transport.message() {
                Some(message) => io::Error::other(format!("{what}: {message}")),
                None => io::Error::other(what),
            }
        }
    }
}

#[cfg(test)]
mod tests;
