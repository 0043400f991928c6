//! `maoctl notification ...`: list and acknowledge what an operator must see.

use clap::Subcommand;
use mao_client::Client;

use crate::app::{Printer, UsageError};
use crate::render;

/// Examples of `maoctl notification`, shown by its help.
pub const NOTIFICATION_EXAMPLES: &str = "\
Examples:
  maoctl notification list --unacked
  maoctl notification list --kind spike -o json
  maoctl notification get 01J9Z8K3YQ7M2E4V6T8W0X1Y2Z
  maoctl notification ack 01J9Z8K3YQ7M2E4V6T8W0X1Y2Z --by alice";

/// `maoctl notification ...`
#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// List notifications, newest first
    #[command(after_help = NOTIFICATION_EXAMPLES)]
    List {
        /// Only this kind: spike, run_failed, push_failing, push_conflict, ground_truth_conflict
        #[arg(long, value_parser = parse_kind)]
        kind: Option<mao_api::NotificationKind>,
        /// Only those nobody has acknowledged
        #[arg(long)]
        unacked: bool,
        /// At most this many (1..1000)
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one notification
    Get { id: String },
    /// Acknowledge a notification
    Ack {
        id: String,
        /// Who acknowledges [default: the daemon's node name]
        #[arg(long)]
        by: Option<String>,
    },
}

fn parse_kind(s: &str) -> Result<mao_api::NotificationKind, String> {
    s.parse()
}

/// Runs `maoctl notification ...`.
pub fn run(client: &Client, out: &Printer, command: NotificationCommand) -> anyhow::Result<()> {
    use NotificationCommand as N;
    match command {
        N::List {
            kind,
            unacked,
            limit,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err(UsageError("--limit must be between 1 and 1000".into()).into());
            }
            let items = client.list_notifications(kind, unacked, Some(limit))?;
            out.list(
                items,
                "no notifications",
                render::notification::notifications_table,
            )
        }
        N::Get { id } => {
            let n = client.get_notification(&id)?;
            out.item(&n, render::notification::notification_details)
        }
        N::Ack { id, by } => {
            let n = client.ack_notification(&id, by.as_deref())?;
            out.item(&n, |n| {
                format!(
                    "acknowledged {} by {}",
                    n.id,
                    n.acknowledged_by.as_deref().unwrap_or("?")
                )
            })
        }
    }
}
