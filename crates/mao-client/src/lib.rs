//! Typed, blocking HTTP client of the mao-orchestrator API.
//!
//! Blocking on purpose: `maoctl` makes one or two requests per run, and an async runtime
//! would cost more to start than the requests take against a local daemon.

use std::io::{self, Read};
use std::time::Duration;

use mao_api::{
    Dataset, ErrorBody, FireTime, InitLocalRequest, InitReport, List, LocalDataset, NodeInfo,
    Notification, NotificationKind, Pipeline, PipelineRun, Readiness, RunRecord, RunRequest,
    RunStatus, ScheduleRequest, ScheduleView, SlotRecord, Tool,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The endpoint `maoctl` and other clients use when none is given.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// How long to wait for the TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one request may take in all, from connecting to the end of the body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait the daemon grants in one `GET /api/v1/runs/{id}/wait` (or
/// `GET /api/v1/pipeline-runs/{id}/wait`).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long reading a finished run's whole log may take (it can be tens of megabytes).
const LOG_TIMEOUT: Duration = Duration::from_secs(300);

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

/// What `POST /api/v1/datasets/{name}/clone` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClone {
    /// The node's clone of the dataset.
    pub dataset: LocalDataset,
    /// The clone was made by this call (201); `false` when the node had it already (200).
    pub created: bool,
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
    /// Checks `endpoint` (`http://host[:port][/prefix]` or `https://...`) and builds a client.
    pub fn new(endpoint: &str) -> Result<Client, Error> {
        let endpoint = normalize_endpoint(endpoint)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build();
        let stream_agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build();
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

    /// Every registered tool, following `next` across pages.
    pub fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        self.list_all("/api/v1/tools")
    }

    /// One page of tools: at most `limit` (server default if `None`), names after `after`.
    pub fn list_tools_page(
        &self,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<List<Tool>, Error> {
        self.list_page("/api/v1/tools", limit, after)
    }

    /// The tool called `name`.
    pub fn get_tool(&self, name: &str) -> Result<Tool, Error> {
        self.get(&item_path("/api/v1/tools", name)?)
    }

    /// Registers a new tool; [`Error::is_conflict`] if the name is taken.
    pub fn create_tool(&self, tool: &Tool) -> Result<Tool, Error> {
        self.send("POST", "/api/v1/tools", tool)
    }

    /// Replaces the tool called `tool.name`; [`Error::is_not_found`] if there is none.
    pub fn replace_tool(&self, tool: &Tool) -> Result<Tool, Error> {
        self.send("PUT", &item_path("/api/v1/tools", &tool.name)?, tool)
    }

    /// Unregisters the tool called `name`; [`Error::is_not_found`] if there is none.
    pub fn delete_tool(&self, name: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/tools", name)?)
    }

    /// Every registered dataset, following `next` across pages.
    pub fn list_datasets(&self) -> Result<Vec<Dataset>, Error> {
        self.list_all("/api/v1/datasets")
    }

    /// One page of datasets: at most `limit` (server default if `None`), names after `after`.
    pub fn list_datasets_page(
        &self,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<List<Dataset>, Error> {
        self.list_page("/api/v1/datasets", limit, after)
    }

    /// The dataset called `name`.
    pub fn get_dataset(&self, name: &str) -> Result<Dataset, Error> {
        self.get(&item_path("/api/v1/datasets", name)?)
    }

    /// Registers a new dataset; [`Error::is_conflict`] if the name is taken.
    pub fn create_dataset(&self, dataset: &Dataset) -> Result<Dataset, Error> {
        self.send("POST", "/api/v1/datasets", dataset)
    }

    /// Replaces the dataset called `dataset.name`; [`Error::is_not_found`] if there is none.
    pub fn replace_dataset(&self, dataset: &Dataset) -> Result<Dataset, Error> {
        self.send(
            "PUT",
            &item_path("/api/v1/datasets", &dataset.name)?,
            dataset,
        )
    }

    /// Unregisters the dataset called `name`; [`Error::is_not_found`] if there is none.
    pub fn delete_dataset(&self, name: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/datasets", name)?)
    }

    /// Has the node clone the registered dataset called `name` into its data dir; a
    /// dataset it has cloned already is left as it is ([`NodeClone::created`] is `false`).
    pub fn clone_dataset(&self, name: &str) -> Result<NodeClone, Error> {
        let path = format!("{}/clone", item_path("/api/v1/datasets", name)?);
        let (dataset, status) = self.call_status(self.agent.post(&self.url(&path)), None::<&()>)?;
        Ok(NodeClone {
            dataset,
            created: status == 201,
        })
    }

    /// The datasets cloned on the node, with the state of each clone.
    pub fn list_local_datasets(&self) -> Result<Vec<LocalDataset>, Error> {
        self.list_all("/api/v1/local/datasets")
    }

    /// Deletes the node's clone of the dataset called `name`. Without `force`, a clone
    /// with unpushed commits or uncommitted changes is kept: [`Error::is_conflict`].
    pub fn remove_local_dataset(&self, name: &str, force: bool) -> Result<(), Error> {
        let mut request = self
            .agent
            .delete(&self.url(&item_path("/api/v1/local/datasets", name)?));
        if force {
            request = request.query("force", "true");
        }
        self.delete_request(request)
    }

    /// Creates a bare repository with an initial commit in the node's data dir and
    /// registers it as a `local_only` dataset; [`Error::is_conflict`] if the name is taken.
    pub fn init_local_dataset(&self, request: &InitLocalRequest) -> Result<Dataset, Error> {
        self.send("POST", "/api/v1/local/datasets", request)
    }

    /// The live members of the federation, following `next` across pages.
    pub fn list_nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        self.list_all("/api/v1/nodes")
    }

    /// Every pipeline, following `next` across pages.
    pub fn list_pipelines(&self) -> Result<Vec<Pipeline>, Error> {
        self.list_all("/api/v1/pipelines")
    }

    /// One page of pipelines: at most `limit` (server default if `None`), names after `after`.
    pub fn list_pipelines_page(
        &self,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<List<Pipeline>, Error> {
        self.list_page("/api/v1/pipelines", limit, after)
    }

    /// The pipeline called `name`.
    pub fn get_pipeline(&self, name: &str) -> Result<Pipeline, Error> {
        self.get(&item_path("/api/v1/pipelines", name)?)
    }

    /// Registers a new pipeline; [`Error::is_conflict`] if the name is taken, status 422
    /// when a step names a tool or a dataset that is not registered.
    pub fn create_pipeline(&self, pipeline: &Pipeline) -> Result<Pipeline, Error> {
        self.send("POST", "/api/v1/pipelines", pipeline)
    }

    /// Replaces the pipeline called `pipeline.name`; [`Error::is_not_found`] if there is none.
    pub fn replace_pipeline(&self, pipeline: &Pipeline) -> Result<Pipeline, Error> {
        self.send(
            "PUT",
            &item_path("/api/v1/pipelines", &pipeline.name)?,
            pipeline,
        )
    }

    /// Removes the pipeline called `name`; [`Error::is_not_found`] if there is none.
    pub fn delete_pipeline(&self, name: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/pipelines", name)?)
    }

    /// Prepares the node for the pipeline called `name`: clones its datasets and sets up
    /// the node branch of each output. Running it again changes nothing
    /// ([`InitReport::changed`] is `false`).
    pub fn init_pipeline(&self, name: &str) -> Result<InitReport, Error> {
        self.post(&format!("{}/init", item_path("/api/v1/pipelines", name)?))
    }

    /// Queues a run of the pipeline called `name` on the node; it comes back `queued`.
    pub fn start_pipeline_run(&self, name: &str) -> Result<PipelineRun, Error> {
        self.post(&format!("{}/runs", item_path("/api/v1/pipelines", name)?))
    }

    /// The node's pipeline runs, newest first, optionally only those of `pipeline`; at
    /// most `limit` (the server's default if `None`).
    pub fn list_pipeline_runs(
        &self,
        pipeline: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<PipelineRun>, Error> {
        let mut request = self.agent.get(&self.url("/api/v1/pipeline-runs"));
        if let Some(pipeline) = pipeline {
            request = request.query("pipeline", pipeline);
        }
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<PipelineRun> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// The pipeline run whose id is `id`.
    pub fn get_pipeline_run(&self, id: &str) -> Result<PipelineRun, Error> {
        self.get(&item_path("/api/v1/pipeline-runs", id)?)
    }

    /// Cancels a queued or running pipeline run; [`Error::is_conflict`] when it has ended.
    /// Answers once it has ended, or after 10 s with its current state.
    pub fn cancel_pipeline_run(&self, id: &str) -> Result<PipelineRun, Error> {
        self.post(&format!(
            "{}/cancel",
            item_path("/api/v1/pipeline-runs", id)?
        ))
    }

    /// The pipeline run once it has finished, or as it is after `timeout` (at most
    /// [`MAX_WAIT`]): one long poll, to be repeated until [`RunStatus::is_finished`].
    pub fn wait_pipeline_run(&self, id: &str, timeout: Duration) -> Result<PipelineRun, Error> {
        self.long_poll(
            &format!("{}/wait", item_path("/api/v1/pipeline-runs", id)?),
            timeout,
        )
    }

    /// Queues a run of the tool called `tool`; the record comes back with status `queued`.
    pub fn start_run(&self, tool: &str, request: &RunRequest) -> Result<RunRecord, Error> {
        let path = format!("{}/runs", item_path("/api/v1/tools", tool)?);
        self.send("POST", &path, request)
    }

    /// This node's runs, newest first, optionally only those of `tool` or in `status`;
    /// at most `limit` (the server's default, 50, if `None`; at most 1000).
    pub fn list_runs(
        &self,
        tool: Option<&str>,
        status: Option<RunStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<RunRecord>, Error> {
        let mut request = self.agent.get(&self.url("/api/v1/runs"));
        if let Some(tool) = tool {
            request = request.query("tool", tool);
        }
        if let Some(status) = status {
            request = request.query("status", status.as_str());
        }
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<RunRecord> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// The run whose id is `id`.
    pub fn get_run(&self, id: &str) -> Result<RunRecord, Error> {
        self.get(&item_path("/api/v1/runs", id)?)
    }

    /// The run's record once it has finished, or as it is after `timeout` (the daemon
    /// answers after [`MAX_WAIT`] at most): one long poll, to be repeated until
    /// [`RunStatus::is_finished`].
    pub fn wait_run(&self, id: &str, timeout: Duration) -> Result<RunRecord, Error> {
        self.long_poll(&format!("{}/wait", item_path("/api/v1/runs", id)?), timeout)
    }

    /// The run's output. With `follow`, the stream goes on while the run is active and
    /// ends when it has finished, however long that takes; without, it is the log so far.
    pub fn run_logs(&self, id: &str, follow: bool) -> Result<impl Read + Send, Error> {
        let url = self.url(&format!("{}/logs", item_path("/api/v1/runs", id)?));
        let request = if follow {
            self.stream_agent.get(&url).query("follow", "true")
        } else {
            self.stream_agent.get(&url).timeout(LOG_TIMEOUT)
        };
        match request.call() {
            Ok(response) => Ok(response.into_reader()),
            Err(e) => Err(self.map_error(e)?),
        }
    }

    /// Stops a queued or running run and returns its record once it has ended (or as it
    /// is after ten seconds); [`Error::is_conflict`] (code `run_finished`) if it had ended.
    pub fn cancel_run(&self, id: &str) -> Result<RunRecord, Error> {
        self.post(&format!("{}/cancel", item_path("/api/v1/runs", id)?))
    }

    /// Notifications of the federation, newest first: of one kind, only unacknowledged.
    pub fn list_notifications(
        &self,
        kind: Option<NotificationKind>,
        unacked: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Notification>, Error> {
        let mut request = self.agent.get(&self.url("/api/v1/notifications"));
        if let Some(kind) = kind {
            request = request.query("kind", kind.as_str());
        }
        if unacked {
            request = request.query("unacked", "true");
        }
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<Notification> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// The notification whose id is `id`.
    pub fn get_notification(&self, id: &str) -> Result<Notification, Error> {
        self.get(&item_path("/api/v1/notifications", id)?)
    }

    /// Acknowledges a notification as `by` (the daemon's node when `None`); acknowledging
    /// again keeps the first acknowledgement.
    pub fn ack_notification(&self, id: &str, by: Option<&str>) -> Result<Notification, Error> {
        let path = format!("{}/ack", item_path("/api/v1/notifications", id)?);
        let body = serde_json::json!({ "by": by });
        self.send("POST", &path, &body)
    }

    /// Creates a schedule; [`Error::is_conflict`] if its id is taken, status 422 when the
    /// cron expression, the time zone, the deadline or the tool is refused.
    pub fn create_schedule(&self, request: &ScheduleRequest) -> Result<ScheduleView, Error> {
        self.send("POST", "/api/v1/schedules", request)
    }

    /// Every schedule of the federation, with what this node knows of its timing.
    pub fn list_schedules(&self) -> Result<Vec<ScheduleView>, Error> {
        self.list_all("/api/v1/schedules")
    }

    /// The schedule whose id is `id`.
    pub fn get_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.get(&item_path("/api/v1/schedules", id)?)
    }

    /// Removes the schedule whose id is `id`; runs it already started go on.
    pub fn delete_schedule(&self, id: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/schedules", id)?)
    }

    /// Suspends the schedule: no slot fires until it is resumed.
    pub fn pause_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.schedule_action(id, "pause")
    }

    /// Lets a paused schedule fire again.
    pub fn resume_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.schedule_action(id, "resume")
    }

    fn schedule_action(&self, id: &str, action: &str) -> Result<ScheduleView, Error> {
        self.post(&format!("{}/{action}", item_path("/api/v1/schedules", id)?))
    }

    /// The schedule's next `n` fire times (1 to 1000), in UTC and in its time zone,
    /// whether or not it is paused.
    pub fn next_fire_times(&self, id: &str, n: usize) -> Result<Vec<FireTime>, Error> {
        let path = format!("{}/next", item_path("/api/v1/schedules", id)?);
        let request = self.agent.get(&self.url(&path)).query("n", &n.to_string());
        let page: List<FireTime> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// What became of the schedule's slots on this node, newest first; at most `limit`
    /// (the server's default, 50, if `None`; at most 1000).
    pub fn schedule_history(
        &self,
        id: &str,
        limit: Option<usize>,
    ) -> Result<Vec<SlotRecord>, Error> {
        let path = format!("{}/history", item_path("/api/v1/schedules", id)?);
        let mut request = self.agent.get(&self.url(&path));
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<SlotRecord> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// `Ok` when the daemon answers `GET /healthz` with `{"status":"ok"}`.
    pub fn health(&self) -> Result<(), Error> {
        let url = self.url("/healthz");
        let doc: serde_json::Value = self.call(self.agent.get(&url), None::<&()>)?;
        match doc.get("status").and_then(|s| s.as_str()) {
            Some("ok") => Ok(()),
            _ => Err(Error::Decode {
                url,
                source: format!("expected {{\"status\":\"ok\"}}, got {doc}").into(),
            }),
        }
    }

    /// The daemon's readiness; a 503 carrying a [`Readiness`] is `Ok` with `ready: false`.
    pub fn ready(&self) -> Result<Readiness, Error> {
        let url = self.url("/readyz");
        match self.agent.get(&url).call() {
            Ok(response) => decode(&self.endpoint, &url, response),
            Err(ureq::Error::Status(503, response)) => {
                let body = read_body(&self.endpoint, response)?;
                match serde_json::from_slice::<Readiness>(&body) {
                    Ok(readiness) => Ok(readiness),
                    Err(_) => Err(api_error(&url, 503, &body)),
                }
            }
            Err(e) => Err(self.map_error(e)?),
        }
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
            ureq::Error::Transport(transport) => Ok(Error::Unreachable {
                endpoint: self.endpoint.clone(),
                source: transport_cause(&transport),
            }),
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
                ureq::ErrorKind::BadStatus => "the answer is not HTTP".to_owned(),
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

/// Checks an endpoint URL and returns it without a trailing slash.
fn normalize_endpoint(endpoint: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = endpoint.trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid(
            "the URL must start with http:// or https:// (for example http://127.0.0.1:8080)",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid(&format!(
            "unsupported scheme {scheme:?}; use http:// or https://"
        )));
    }
    if scheme == "https" && !cfg!(feature = "tls") {
        return Err(invalid(
            "https:// needs mao-client built with its \"tls\" feature; use http://",
        ));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "the URL must not contain a query, a fragment or spaces",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(invalid("credentials in the URL are not supported"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: [::1] or [::1]:8080.
        match bracketed.split_once(']') {
            Some((ip, tail)) if !ip.is_empty() && ip.parse::<std::net::Ipv6Addr>().is_ok() => {
                match tail {
                    "" => (ip, None),
                    _ => match tail.strip_prefix(':') {
                        Some(port) => (ip, Some(port)),
                        None => return Err(invalid("malformed IPv6 address")),
                    },
                }
            }
            _ => return Err(invalid("malformed IPv6 address")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the host is missing"));
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(invalid("the host name is malformed"));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(&format!(
                "{port:?} is not a port number (1 to 65535)"
            )));
        }
    }
    let path = path.trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{path}"))
}

/// `{collection}/{name}` with `name` percent-encoded as one path segment.
fn item_path(collection: &str, name: &str) -> Result<String, Error> {
    // URL parsers resolve these as dot-segments even when percent-encoded, so the
    // request would address the collection (or its parent) instead of an item.
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(format!("{collection}/{}", encode_segment(name)))
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        for (given, expected) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("HTTP://localhost", "http://localhost"),
            (
                "  http://mao.example.com:80/prefix/ ",
                "http://mao.example.com:80/prefix",
            ),
            ("https://mao.example.com", "https://mao.example.com"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(normalize_endpoint(given).unwrap(), expected, "{given}");
        }
    }

    #[test]
    fn bad_endpoints_are_rejected_with_a_reason() {
        for (given, reason) in [
            ("127.0.0.1:8080", "must start with http://"),
            ("localhost", "must start with http://"),
            ("ftp://host", "unsupported scheme \"ftp\""),
            ("http://", "host is missing"),
            ("http://:8080", "host is missing"),
            ("http://host:99999", "not a port number"),
            ("http://host:0", "not a port number"),
            ("http://host:abc", "not a port number"),
            ("http://host?x=1", "query"),
            ("http://ho st", "spaces"),
            ("http://user:pw@host", "credentials"),
            ("http://[zz]:80", "IPv6"),
        ] {
            match normalize_endpoint(given) {
                Err(e @ Error::InvalidEndpoint { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(reason), "{given}: {text}");
                    assert!(text.starts_with("invalid endpoint"), "{text}");
                }
                other => panic!("{given}: {other:?}"),
            }
        }
    }

    #[test]
    fn client_keeps_the_normalized_endpoint() {
        let client = Client::new("http://localhost:9000/").unwrap();
        assert_eq!(client.endpoint(), "http://localhost:9000");
    }

    #[test]
    fn names_are_encoded_as_one_segment() {
        assert_eq!(
            item_path("/api/v1/tools", "demo-tool.v1_x").unwrap(),
            "/api/v1/tools/demo-tool.v1_x"
        );
        assert_eq!(
            item_path("/api/v1/tools", "a/b c?d").unwrap(),
            "/api/v1/tools/a%2Fb%20c%3Fd"
        );
        assert_eq!(
            item_path("/api/v1/tools", "é").unwrap(),
            "/api/v1/tools/%C3%A9"
        );
        for bad in ["", ".", ".."] {
            assert!(matches!(
                item_path("/api/v1/tools", bad),
                Err(Error::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn long_polls_outlast_the_wait_they_ask_for() {
        let (param, request) = wait_timeouts(Duration::from_secs(30));
        assert_eq!(param, "30000ms");
        assert_eq!(request, Duration::from_secs(30) + REQUEST_TIMEOUT);
        assert_eq!(
            mao_api::units::parse_duration(&param).unwrap(),
            Duration::from_secs(30)
        );
        // The daemon answers after a minute at most; asking for more would only delay errors.
        let (param, request) = wait_timeouts(Duration::from_secs(3600));
        assert_eq!(param, "60000ms");
        assert_eq!(request, MAX_WAIT + REQUEST_TIMEOUT);
        assert_eq!(wait_timeouts(Duration::from_millis(1500)).0, "1500ms");
    }

    #[test]
    fn run_paths_are_one_segment() {
        assert_eq!(
            item_path("/api/v1/runs", "01J9Z8X7W6V5T4S3R2Q1P0NMKH").unwrap(),
            "/api/v1/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH"
        );
        assert!(item_path("/api/v1/runs", "..").is_err());
    }

    #[test]
    fn api_errors_expose_their_code() {
        let body = br#"{"error":{"code":"run_finished","message":"run X has already finished (succeeded)"}}"#;
        let e = api_error("http://h/api/v1/runs/X/cancel", 409, body);
        assert!(e.is_conflict());
        assert_eq!(e.code(), Some("run_finished"));
        let e = Error::InvalidName { name: ".".into() };
        assert_eq!(e.code(), None);
    }

    #[test]
    fn error_bodies_become_api_errors() {
        let body = br#"{"error":{"code":"not_found","message":"tool \"x\" does not exist"}}"#;
        let e = api_error("http://h/api/v1/tools/x", 404, body);
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "tool \"x\" does not exist");
        match e {
            Error::Api { code, .. } => assert_eq!(code, "not_found"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_error_bodies_still_explain() {
        let e = api_error("http://h/x", 502, b"<html>\n  Bad   Gateway\n</html>\n");
        assert_eq!(e.status(), Some(502));
        assert_eq!(
            e.to_string(),
            "http://h/x answered 502 without an error document (is it a mao-orchestrator?): \"<html> Bad Gateway </html>\""
        );
        let e = api_error("http://h/x", 404, b"");
        assert_eq!(
            e.to_string(),
            "http://h/x answered 404 without an error document (is it a mao-orchestrator?)"
        );
        let long = "x".repeat(500);
        let text = api_error("http://h/x", 500, long.as_bytes()).to_string();
        assert!(text.ends_with("x…\""), "{text}");
        assert!(text.len() < 250, "{text}");
    }

    /// A server on loopback answering each request with the next of `answers` (status,
    /// body), one connection each; its thread returns every request as
    /// `METHOD /path?query` followed by the body, if any, on a line of its own.
    fn serve(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut request = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                let mut sent = vec![0; length];
                reader.read_exact(&mut sent).unwrap();
                if length > 0 {
                    request.push('\n');
                    request.push_str(&String::from_utf8(sent).unwrap());
                }
                seen.push(request);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                reader.into_inner().write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (endpoint, thread)
    }

    fn local_dataset_json() -> String {
        serde_json::json!({
            "name": "weather",
            "path": "/var/lib/mao/datasets/weather",
            "remote": "https://git.example.com/weather.git",
            "branch": "node-a",
            "head": "1a2b3c4d5e6f",
            "clean": true,
            "unpushed": 0,
            "registered": true,
        })
        .to_string()
    }

    #[test]
    fn clone_tells_a_new_clone_from_an_existing_one() {
        let (endpoint, server) = serve(vec![
            (201, local_dataset_json()),
            (200, local_dataset_json()),
        ]);
        let client = Client::new(&endpoint).unwrap();
        let first = client.clone_dataset("weather").unwrap();
        assert!(first.created);
        assert_eq!(first.dataset.path, "/var/lib/mao/datasets/weather");
        assert_eq!(first.dataset.branch.as_deref(), Some("node-a"));
        assert!(!client.clone_dataset("weather").unwrap().created);
        assert_eq!(
            server.join().unwrap(),
            vec![
                "POST /api/v1/datasets/weather/clone",
                "POST /api/v1/datasets/weather/clone"
            ]
        );
    }

    #[test]
    fn local_datasets_are_removed_with_force_only_when_asked() {
        let conflict = r#"{"error":{"code":"conflict","message":"the clone of weather has 2 unpushed commits"}}"#;
        let (endpoint, server) = serve(vec![(409, conflict.to_owned()), (204, String::new())]);
        let client = Client::new(&endpoint).unwrap();
        let e = client.remove_local_dataset("weather", false).unwrap_err();
        assert!(e.is_conflict(), "{e:?}");
        assert_eq!(e.to_string(), "the clone of weather has 2 unpushed commits");
        client.remove_local_dataset("weather", true).unwrap();
        assert_eq!(
            server.join().unwrap(),
            vec![
                "DELETE /api/v1/local/datasets/weather",
                "DELETE /api/v1/local/datasets/weather?force=true"
            ]
        );
    }

    #[test]
    fn pipeline_runs_are_listed_and_awaited_on_their_routes() {
        let run = serde_json::json!({
            "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "pipeline": "weather",
            "node": "node-a",
            "trigger": "manual",
            "status": "succeeded",
            "steps": [{"name": "collect", "tool": "demo", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKJ", "status": "succeeded"}],
            "queued_at": "2024-05-01T12:00:00Z",
        });
        let page = serde_json::json!({"items": [run]});
        let (endpoint, server) = serve(vec![
            (200, page.to_string()),
            (200, run.to_string()),
            (202, run.to_string()),
        ]);
        let client = Client::new(&endpoint).unwrap();
        let runs = client.list_pipeline_runs(Some("weather"), Some(5)).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].steps[0].status, Some(RunStatus::Succeeded));
        let done = client
            .wait_pipeline_run("01J9Z8X7W6V5T4S3R2Q1P0NMKH", Duration::from_secs(30))
            .unwrap();
        assert_eq!(done.status, RunStatus::Succeeded);
        client.start_pipeline_run("weather").unwrap();
        assert_eq!(
            server.join().unwrap(),
            vec![
                "GET /api/v1/pipeline-runs?pipeline=weather&limit=5",
                "GET /api/v1/pipeline-runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH/wait?timeout=30000ms",
                "POST /api/v1/pipelines/weather/runs",
            ]
        );
    }

    #[test]
    fn pipelines_are_paged_and_local_datasets_initialised() {
        let pipeline = |name: &str| serde_json::json!({"name": name, "steps": [{"name": "s", "tool": "t", "output_dataset": "d"}]});
        let dataset = serde_json::json!({"name": "scratch", "master": "/srv/mao/datasets/scratch.git", "local_only": true});
        let (endpoint, server) = serve(vec![
            (
                200,
                serde_json::json!({"items": [pipeline("a")], "next": "a"}).to_string(),
            ),
            (
                200,
                serde_json::json!({"items": [pipeline("b")]}).to_string(),
            ),
            (201, dataset.to_string()),
        ]);
        let client = Client::new(&endpoint).unwrap();
        let names: Vec<String> = client
            .list_pipelines()
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        let created = client
            .init_local_dataset(&InitLocalRequest {
                name: "scratch".into(),
                description: Some("notes".into()),
            })
            .unwrap();
        assert!(created.local_only);
        assert_eq!(
            server.join().unwrap(),
            vec![
                "GET /api/v1/pipelines",
                "GET /api/v1/pipelines?after=a",
                "POST /api/v1/local/datasets\n{\"name\":\"scratch\",\"description\":\"notes\"}",
            ]
        );
    }

    #[test]
    fn unreachable_message_names_the_endpoint() {
        let e = Error::Unreachable {
            endpoint: "http://127.0.0.1:1".to_owned(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach http://127.0.0.1:1: is mao-orchestrator running? (connection refused)"
        );
    }
}
