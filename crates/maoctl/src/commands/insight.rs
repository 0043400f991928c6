//! `maoctl insight ...`: what the federation's tools published in their `insights.json`.

use clap::Subcommand;
use mao_client::Client;

use crate::app::{Printer, UsageError};
use crate::render;

/// Examples of `maoctl insight`, shown by its help.
pub const INSIGHT_EXAMPLES: &str = "\
Examples:
  maoctl insight list
  maoctl insight list --tool weather -o json
  maoctl insight get weather
  maoctl insight get weather --node zurich -o json";

/// `maoctl insight ...`
#[derive(Debug, Subcommand)]
pub enum InsightCommand {
    /// List published insights, one per tool and node
    #[command(after_help = INSIGHT_EXAMPLES)]
    List {
        /// Only this tool's
        #[arg(long)]
        tool: Option<String>,
    },
    /// Show a tool's insights: of every node, or of one
    #[command(after_help = INSIGHT_EXAMPLES)]
    Get {
        /// Name of the tool
        tool: String,
        /// Only this node's
        #[arg(long)]
        node: Option<String>,
    },
}

impl InsightCommand {
    /// Checks the names before connecting.
    pub fn validate(&self) -> Result<(), UsageError> {
        let check = |what: &str, name: &str| {
            mao_api::validate::name(what, name).map_err(|e| UsageError(e.to_string()))
        };
        match self {
            InsightCommand::List { tool } => tool.iter().try_for_each(|t| check("tool", t)),
            InsightCommand::Get { tool, node } => {
                check("tool", tool)?;
                node.iter().try_for_each(|n| check("node", n))
            }
        }
    }
}

/// Runs `maoctl insight ...`.
pub fn run(client: &Client, out: &Printer, command: InsightCommand) -> anyhow::Result<()> {
    match command {
        InsightCommand::List { tool } => {
            let items = client.list_insights(tool.as_deref())?;
            out.list(items, "no insights", render::insight::insights_table)
        }
        InsightCommand::Get {
            tool,
            node: Some(node),
        } => {
            let insight = client.get_insight(&tool, &node)?;
            out.item(&insight, render::insight::insight_details)
        }
        InsightCommand::Get { tool, node: None } => {
            let items = client.list_insights(Some(&tool))?;
            out.list(
                items,
                &format!("no insights of tool {tool}"),
                render::insight::insights_table,
            )
        }
    }
}
