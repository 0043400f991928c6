//! `maoctl node list`: the live members of the federation.

use clap::Subcommand;
use mao_client::Client;

use crate::app::{now_secs, Printer};
use crate::render;

/// Examples of `maoctl node`, shown by its help.
pub const NODE_EXAMPLES: &str = "\
Examples:
  maoctl node list
  maoctl node list -o json | jq -r '.items[].api_url'";

/// `maoctl node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the live nodes of the federation
    #[command(after_help = NODE_EXAMPLES)]
    List,
}

/// Runs `maoctl node ...`.
pub fn run(client: &Client, out: &Printer, command: NodeCommand) -> anyhow::Result<()> {
    match command {
        NodeCommand::List => {
            let nodes = client.list_nodes()?;
            let now = now_secs();
            out.list(nodes, "no live nodes", |nodes| {
                render::node::nodes_table(nodes, now)
            })
        }
    }
}
