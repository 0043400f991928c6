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
    bin_name = "mao-orchestrator token",
    about = "Create, list and revoke the API tokens of a node",
    after_help = "Examples:\n  mao-orchestrator token create ci --role operate --data-dir ./mao-data\n  mao-orchestrator token create site-b --role join --uses 1 --expires-in 2h\n  mao-orchestrator token list\n  mao-orchestrator token revoke ci"
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
        /// What the token may do: read, operate, admin, or join (only ask to join the federation).
        #[arg(long, value_parser = |t: &str| t.parse::<Role>())]
        role: Role,
        /// How long it is accepted, e.g. 30m, 24h, 7d [default: never expires; 24h for join].
        #[arg(long, value_name = "DURATION", value_parser = mao_api::units::parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// How many times it may be used [default: unlimited; 1 for join].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        uses: Option<u32>,
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
    let data_dir = match crate::config::command_data_dir(args.data_dir, env, home) {
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
        TokenCommand::Create {
            name,
            role,
            expires_in,
            uses,
        } => {
            let limits = match limits(role, expires_in, uses) {
                Ok(limits) => limits,
                Err(e) => {
                    eprintln!("mao-orchestrator: error: {e}");
                    return ExitCode::from(2);
                }
            };
            file.create_limited(&name, role, limits).map(|secret| {
                let _ = writeln!(out, "{}", printed(&data_dir, role, &secret));
                eprintln!(
                    "token {name:?} (role {role}{}) created in {}; the secret above is not shown again",
                    describe(&limits),
                    file.path().display()
                );
            })
        }
        TokenCommand::List { output } => file.list().map(|tokens| {
            if output == "json" {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&tokens).expect("tokens serialise")
                );
            } else {
                let _ = writeln!(
                    out,
                    "{:<24} {:<8} {:<20} {:<20} USES LEFT",
                    "NAME", "ROLE", "CREATED", "EXPIRES"
                );
                for t in tokens {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<8} {:<20} {:<20} {}",
                        t.name,
                        t.role,
                        t.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        t.expires_at.map_or_else(
                            || "never".to_owned(),
                            |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                        ),
                        t.uses_left
                            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
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

/// The limits of a new token: as given, and for a join token at most a day and one use
/// unless said otherwise (a join token left lying around should not open the federation).
pub fn limits(
    role: Role,
    expires_in: Option<std::time::Duration>,
    uses: Option<u32>,
) -> Result<mao_node::access::Limits, String> {
    let join = role == Role::Join;
    let expires_in = expires_in.or(join.then_some(std::time::Duration::from_secs(24 * 3600)));
    let expires_at = match expires_in {
        Some(d) => Some(
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                .filter(|at| at.timestamp() < 253_402_300_800) // 10000-01-01
                .ok_or_else(|| {
                    format!(
                        "--expires-in {} is beyond the calendar: give a shorter duration",
                        mao_api::units::format_duration(d)
                    )
                })?,
        ),
        None => None,
    };
    Ok(mao_node::access::Limits {
        expires_at,
        uses: uses.or(join.then_some(1)),
    })
}

/// What `token create` prints: the secret, and for a join token on a site of a federation
/// `SECRET.CA_SHA256`, the form `federation join` takes (it pins the CA by that hash).
pub fn printed(data_dir: &Path, role: Role, secret: &str) -> String {
    let ca = data_dir.join("federation").join("ca.pem");
    match std::fs::read_to_string(ca)
        .ok()
        .and_then(|pem| mao_federation::ca::fingerprint_of_pem(&pem).ok())
    {
        Some(fingerprint) if role == Role::Join => format!("{secret}.{fingerprint}"),
        _ => secret.to_owned(),
    }
}

/// ", expires ..., N uses" for the message of a limited token.
pub fn describe(limits: &mao_node::access::Limits) -> String {
    let mut text = String::new();
    if let Some(at) = limits.expires_at {
        text.push_str(&format!(", expires {}", at.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    if let Some(uses) = limits.uses {
        text.push_str(&format!(", {uses} use{}", if uses == 1 { "" } else { "s" }));
    }
    text
}
