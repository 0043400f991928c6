//! Insights the federation's tools published.

use mao_api::{Insight, List};

use crate::endpoint::item_path;
use crate::{Client, Error};

impl Client {
    /// Every published insight, of one tool when `tool` is given.
    pub fn list_insights(&self, tool: Option<&str>) -> Result<Vec<Insight>, Error> {
        let page: List<Insight> = match tool {
            Some(tool) => self.get(&item_path("/api/v1/insights", tool)?)?,
            None => self.get("/api/v1/insights")?,
        };
        Ok(page.items)
    }

    /// The insights of `tool` published by `node`.
    pub fn get_insight(&self, tool: &str, node: &str) -> Result<Insight, Error> {
        let path = item_path(&item_path("/api/v1/insights", tool)?, node)?;
        self.get(&path)
    }
}
