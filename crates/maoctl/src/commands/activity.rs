//! `maoctl activity`: who changed what on the node (its activity log; role admin).

use clap::Args;
use mao_client::Client;

use crate::app::Printer;
use crate::render;

/// Examples of `maoctl activity`, shown by its help.
pub const ACTIVITY_EXAMPLES: &str = "\
Examples:
  maoctl activity --since 24h
  maoctl activity --who alice --limit 20
  maoctl activity -o json | jq '.items[] | select(.status >= 400)'";

/// `maoctl activity [--since T] [--who NAME] [--limit N]`
#[derive(Debug, Args)]
pub struct ActivityArgs {
    /// Only requests since this time: RFC 3339 (2026-12-01T08:00:00Z) or a duration back from now (24h, 7d)
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: Option<String>,
    /// Only requests made with this token's name (`local` when auth is off; `anonymous`, `invalid-token` and `unidentified` for callers the node did not know)
    #[arg(long, value_name = "NAME")]
    pub who: Option<String>,
    /// At most this many, the newest
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
}

/// Runs `maoctl activity`.
pub fn run(client: &Client, out: &Printer, args: ActivityArgs) -> anyhow::Result<()> {
    let entries = client.activity(args.since.as_deref(), args.who.as_deref(), Some(args.limit))?;
    out.list(entries, "no activity", render::activity::activity_table)
}
