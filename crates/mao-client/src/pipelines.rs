//! Pipelines and their runs on the node.

use std::time::Duration;

use mao_api::{InitReport, List, Pipeline, PipelineRun};

use crate::endpoint::item_path;
use crate::{Client, Error};

impl Client {
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
    /// [`MAX_WAIT`](crate::MAX_WAIT)): one long poll, to be repeated until
    /// [`RunStatus::is_finished`](mao_api::RunStatus::is_finished).
    pub fn wait_pipeline_run(&self, id: &str, timeout: Duration) -> Result<PipelineRun, Error> {
        self.long_poll(
            &format!("{}/wait", item_path("/api/v1/pipeline-runs", id)?),
            timeout,
        )
    }
}
