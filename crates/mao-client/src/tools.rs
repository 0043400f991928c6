//! Registered tools: the registry's `/api/v1/tools` collection.

use mao_api::{List, Tool};

use crate::endpoint::item_path;
use crate::{Client, Error};

impl Client {
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
}
