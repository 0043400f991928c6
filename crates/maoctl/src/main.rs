//! `maoctl`: the command-line client of the MAO orchestrator.
//!
//! Kept light on purpose (no async runtime, no config files): one call against a local
//! daemon should take a few milliseconds.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod local;
mod output;
mod pipelines;
mod progress;
mod runs;
mod schedules;
mod spike;

fn main() -> ExitCode {
    // Usage errors exit with 2 and --help with 0, both printed by clap.
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `maoctl tool list | head -1`: the reader had enough, which is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {}", error_chain(&e));
            if e.downcast_ref::<commands::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by `: `, skipping a cause whose text its parent
/// already shows (mao-client puts the cause in its messages, e.g. "cannot reach ...").
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_skips_causes_already_shown() {
        let client_error = mao_client::Error::Unreachable {
            endpoint: "http://127.0.0.1:1".to_owned(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"),
        };
        let e = anyhow::Error::new(client_error);
        assert_eq!(
            error_chain(&e),
            "cannot reach http://127.0.0.1:1: is mao-orchestrator running? (connection refused)"
        );
    }

    #[test]
    fn chain_keeps_new_causes() {
        let e = anyhow::Error::new(io::Error::other("disk on fire")).context("cannot save");
        assert_eq!(error_chain(&e), "cannot save: disk on fire");
    }

    #[test]
    fn broken_pipe_is_found_anywhere_in_the_chain() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
