//! `maoctl context`: the named daemons of the client config file. No command here talks to
//! a daemon, and none prints a token.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use crate::app::{self, Printer, UsageError};
use crate::config::{ClientConfig, ConnectionFlags, Context};
use crate::render::table::Table;

pub const CONTEXT_EXAMPLES: &str = "\
Examples:
  maoctl context set site-a --endpoint https://mao-a.example.org:8443 --token-file ~/.config/mao/site-a.token --ca-cert site-a-ca.pem
  maoctl context use site-a
  maoctl context list
  maoctl --context site-b tool list
  maoctl context remove site-b

The file is $XDG_CONFIG_HOME/mao/config.toml (else ~/.config/mao/config.toml; --config or
MAO_CONFIG to choose another), written with mode 0600. A context's token and CA are used
only for its own endpoint, unless the context is chosen with --context or MAO_CONTEXT.";

/// The contexts of the client config file.
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// List the contexts; the current one is marked with '*'
    List,
    /// Make NAME the context used when none is chosen
    Use { name: String },
    /// Add the context NAME, or change it: --endpoint, --token or --token-file, --ca-cert
    Set {
        name: String,
        /// File holding the token (kept out of the config file)
        #[arg(long, value_name = "FILE", conflicts_with = "token")]
        token_file: Option<PathBuf>,
    },
    /// Remove the context NAME
    #[command(visible_alias = "delete")]
    Remove { name: String },
}

/// One context as listed: what it points to, and whether (not what) it has a token.
#[derive(Serialize)]
struct ContextView {
    name: String,
    current: bool,
    endpoint: Option<String>,
    /// `inline`, `file` or none.
    token: Option<&'static str>,
    token_file: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
}

/// Runs a context command on the config file `path` (`None`: no HOME and no --config).
pub fn run(
    out: &Printer,
    flags: &ConnectionFlags,
    path: Option<&Path>,
    command: ContextCommand,
) -> anyhow::Result<()> {
    let path = path.ok_or_else(|| {
        UsageError("no client config file: set HOME, XDG_CONFIG_HOME or pass --config".into())
    })?;
    let mut file = ClientConfig::load(path)?;
    match command {
        ContextCommand::List => {
            let views: Vec<ContextView> = file
                .contexts
                .iter()
                .map(|(name, c)| view(name, c, file.current_context.as_deref()))
                .collect();
            let empty = format!(
                "no contexts in {} (add one: maoctl context set NAME --endpoint URL)",
                path.display()
            );
            out.list(views, &empty, table)
        }
        ContextCommand::Use { name } => {
            file.context(&name, path)?;
            file.current_context = Some(name.clone());
            file.save(path)?;
            let context = &file.contexts[&name];
            out.done(
                &view(&name, context, Some(&name)),
                &format!("using context {name:?} ({})", shown(&context.endpoint)),
            )
        }
        ContextCommand::Set { name, token_file } => {
            check_name(&name)?;
            let context = set(file.contexts.get(&name).cloned(), flags, token_file)?;
            let new = !file.contexts.contains_key(&name);
            file.contexts.insert(name.clone(), context.clone());
            let first = file.current_context.is_none();
            if first {
                file.current_context = Some(name.clone());
            }
            file.save(path)?;
            let verb = if new { "added" } else { "changed" };
            let note = if first {
                ", now the current context"
            } else {
                ""
            };
            out.done(
                &view(&name, &context, file.current_context.as_deref()),
                &format!(
                    "{verb} context {name:?} ({}) in {}{note}",
                    shown(&context.endpoint),
                    path.display()
                ),
            )
        }
        ContextCommand::Remove { name } => {
            file.context(&name, path)?;
            file.contexts.remove(&name);
            if file.current_context.as_deref() == Some(name.as_str()) {
                file.current_context = None;
            }
            file.save(path)?;
            out.removed(&format!("removed context {name:?}"))
        }
    }
}

/// The context after `context set`: the flags given replace what it had.
fn set(
    old: Option<Context>,
    flags: &ConnectionFlags,
    token_file: Option<PathBuf>,
) -> Result<Context, UsageError> {
    let mut context = old.unwrap_or_default();
    if let Some(endpoint) = &flags.endpoint {
        app::connect(endpoint, Default::default())?;
        context.endpoint = Some(endpoint.trim().to_owned());
    }
    if context.endpoint.is_none() {
        return Err(UsageError(
            "a new context needs --endpoint URL (the daemon it names)".into(),
        ));
    }
    if let Some(token) = &flags.token {
        mao_client::Token::new(token).map_err(|e| UsageError(format!("--token: {e}")))?;
        context.token = Some(token.trim().to_owned());
        context.token_file = None;
    }
    if let Some(file) = token_file {
        let file = absolute(&file, "--token-file")?;
        std::fs::read_to_string(&file).map_err(|e| {
            UsageError(format!(
                "cannot read the token file {}: {e}",
                file.display()
            ))
        })?;
        context.token_file = Some(file);
        context.token = None;
    }
    if let Some(ca) = &flags.ca_cert {
        let ca = absolute(ca, "--ca-cert")?;
        std::fs::read(&ca).map_err(|e| {
            UsageError(format!(
                "cannot read the CA certificate {}: {e}",
                ca.display()
            ))
        })?;
        context.ca_cert = Some(ca);
    }
    Ok(context)
}

/// `path` made absolute, so the file still works from another directory.
fn absolute(path: &Path, flag: &str) -> Result<PathBuf, UsageError> {
    std::path::absolute(path).map_err(|e| UsageError(format!("{flag} {}: {e}", path.display())))
}

fn check_name(name: &str) -> Result<(), UsageError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "{name:?} cannot name a context (letters, digits, '.', '_', '-')"
        )))
    }
}

fn view(name: &str, context: &Context, current: Option<&str>) -> ContextView {
    ContextView {
        name: name.to_owned(),
        current: current == Some(name),
        endpoint: context.endpoint.clone(),
        token: match (&context.token, &context.token_file) {
            (Some(_), _) => Some("inline"),
            (None, Some(_)) => Some("file"),
            (None, None) => None,
        },
        token_file: context.token_file.clone(),
        ca_cert: context.ca_cert.clone(),
    }
}

fn shown(endpoint: &Option<String>) -> &str {
    endpoint.as_deref().unwrap_or(mao_client::DEFAULT_ENDPOINT)
}

fn table(views: &[ContextView]) -> String {
    let mut table = Table::new(&[
        ("CURRENT", None),
        ("NAME", None),
        ("ENDPOINT", None),
        ("TOKEN", None),
        ("CA", None),
    ]);
    for v in views {
        let token = match (v.token, &v.token_file) {
            (Some("file"), Some(file)) => file.display().to_string(),
            (Some(kind), _) => kind.to_owned(),
            (None, _) => "-".to_owned(),
        };
        table.push(vec![
            if v.current { "*" } else { "" }.to_owned(),
            v.name.clone(),
            shown(&v.endpoint).to_owned(),
            token,
            v.ca_cert
                .as_ref()
                .map_or("-".to_owned(), |p| p.display().to_string()),
        ]);
    }
    table.render()
}
