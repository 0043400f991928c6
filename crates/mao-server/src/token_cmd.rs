//! `mao-orchestrator token create|list|revoke`: the tokens a node accepts, managed in its
//! data dir (the daemon may be running: it re-reads the file at its next request).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mao_api::auth::Role;
use mao_node::access::TokenFile;

/// The tokens of a node.
#[derive(Parser, Debug)]
#[command(
    name = "mao-orchestrator token",
    about = "Create, list and revoke the API tokens of a node",
    after_help = "Examples:\n  mao-orchestrator token create ci --role operate --data-dir ./mao-data\n  mao-orchestrator token list\n  mao-orchestrator token revoke ci"
)]
struct TokenArgs {
    /// The node's data dir [default: $MAO_DATA_DIR, else ~/.local/share/mao-orchestrator].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print its secret once, on stdout (only a hash is kept).
    Create {
        /// The token's name, shown in the activity log.
        name: String,
        /// What the token may do.
        #[arg(long, value_parser = |t: &str| t.parse::<Role>())]
        role: Role,
    },
    /// List the tokens (names, roles, creation times; never secrets).
    List {
        /// Output format.
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        output: String,
    },
    /// Revoke a token: requests carrying it are refused from the next one on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs `token ...` (`args` starts with `token`).
pub fn main(
    args: Vec<std::ffi::OsString>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> ExitCode {
    let args = match TokenArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let data_dir = match args
        .data_dir
        .or_else(|| {
            env.get("MAO_DATA_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| crate::config::default_data_dir(env, home))
    {
        Some(dir) => dir,
        None => {
            eprintln!(
                "mao-orchestrator: error: data_dir: no HOME to put the default in; pass --data-dir"
            );
            return ExitCode::from(2);
        }
    };
    let file = TokenFile::in_data_dir(&data_dir);
    let mut out = std::io::stdout().lock();
    let result = match args.command {
        TokenCommand::Create { name, role } => file.create(&name, role).map(|secret| {
            let _ = writeln!(out, "{secret}");
            eprintln!(
                "token {name:?} (role {role}) created in {}; the secret above is not shown again",
                file.path().display()
            );
        }),
        TokenCommand::List { output } => file.list().map(|tokens| {
            if output == "json" {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&tokens).expect("tokens serialise")
                );
            } else {
                let _ = writeln!(out, "{:<24} {:<8} CREATED", "NAME", "ROLE");
                for t in tokens {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<8} {}",
                        t.name,
                        t.role,
                        t.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                    );
                }
            }
        }),
        TokenCommand::Revoke { name } => file.revoke(&name).map(|()| {
            eprintln!("token {name:?} revoked");
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mao-orchestrator: error: {e}");
            let usage = matches!(e, mao_node::access::AccessError::Invalid(_));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
