//! `maoctl federation status`: the etcd members behind the shared store, the mao nodes,
//! and which of them match.

use clap::Subcommand;
use mao_client::Client;

use crate::app::Printer;
use crate::render;

/// Examples of `maoctl federation`, shown by its help.
pub const FEDERATION_EXAMPLES: &str = "\
Examples:
  maoctl federation status
  maoctl federation status -o json | jq '.members[] | select(.health != \"healthy\")'
  maoctl federation remove 8e9e05c52164694d      # a site gone for good

Sites start, join and leave a federation with the daemon itself:
  mao-orchestrator federation init|join|leave --help";

/// `maoctl federation ...`
#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// The etcd members (id, name, peer URL, leader, health, learner), the mao nodes, and which match
    #[command(after_help = FEDERATION_EXAMPLES)]
    Status,
    /// Remove the etcd member of a site gone for good (or a learner that never started);
    /// refused when the rest could not keep quorum. A site that is up leaves by itself:
    /// `mao-orchestrator federation leave`
    Remove {
        /// The member's id, as `maoctl federation status` shows it.
        id: String,
        /// Also remove a healthy member whose node is live.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `maoctl federation ...`.
pub fn run(client: &Client, out: &Printer, command: FederationCommand) -> anyhow::Result<()> {
    match command {
        FederationCommand::Status => {
            let status = client.federation_status()?;
            out.item(&status, render::federation::status)
        }
        FederationCommand::Remove { id, force } => {
            client.federation_remove(&id, force)?;
            out.removed(&format!("etcd member {id} removed"))
        }
    }
}
