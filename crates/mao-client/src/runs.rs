//! Tool runs: starting, listing, awaiting and cancelling them, and their logs.

use std::io::Read;
use std::time::Duration;

use mao_api::{List, RunRecord, RunRequest, RunStatus};

use crate::endpoint::item_path;
use crate::{Client, Error};

/// How long reading a finished run's whole log may take (it can be tens of megabytes).
const LOG_TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
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
    /// answers after [`MAX_WAIT`](crate::MAX_WAIT) at most): one long poll, to be repeated until
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
}
