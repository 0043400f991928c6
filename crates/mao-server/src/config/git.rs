//! `git_*`, `allowed_local_remotes` and `[secrets]`: the node's git identity, where its
//! datasets' local remotes may be, and the secrets it holds.
//!
//! A secret is a `[secrets.NAME]` table: its value (`value`, or `file` = a path read at
//! start-up, or `env` = a variable read at start-up) and its scope (`pipelines = [...]`
//! and/or `tools = [...]`; a step may use it when every list given holds its pipeline,
//! resp. its tool). A table without a scope is refused: a secret reaches no step by
//! accident. The older form `[secrets] NAME = "value"` still loads, so that a node keeps
//! starting after an upgrade, but with a start-up warning per secret: such a secret has an
//! empty scope, so every step that names it is refused (422 `secret_not_allowed`, saying
//! how to scope it); its value is still masked in logs and records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{ConfigError, Origins};

pub use mao_node::{GitSettings, Secret, SecretScope};

/// A `[secrets.NAME]` table.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretTable {
    value: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
    pipelines: Option<Vec<String>>,
    tools: Option<Vec<String>>,
}

/// The node's git identity and credentials.
#[derive(clap::Args, Debug, Default)]
pub(super) struct GitLayer {
    /// Author name of the node's commits to datasets [default: the node name].
    #[arg(long, value_name = "NAME")]
    pub git_name: Option<String>,
    /// Author email of the node's commits [default: <node>@localhost].
    #[arg(long, value_name = "EMAIL")]
    pub git_email: Option<String>,
    /// Private SSH key for ssh:// and git@host:path remotes [default: the SSH agent].
    #[arg(long, value_name = "PATH")]
    pub git_ssh_key: Option<PathBuf>,
    /// known_hosts file SSH remotes must be listed in [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "PATH")]
    pub git_known_hosts: Option<PathBuf>,
    /// Token for https:// remotes. Prefer the variable or the file: a flag shows in `ps`.
    #[arg(long, value_name = "TOKEN")]
    pub git_https_token: Option<String>,
    /// Folders whose repositories may be datasets' file:// or path remotes, besides the
    /// node's own <data-dir>/bare/, comma-separated [default: none].
    #[arg(long, value_name = "DIR[,DIR...]", value_delimiter = ',')]
    pub allowed_local_remotes: Option<Vec<PathBuf>>,
}

impl GitLayer {
    /// The settings of node `node`, with the file's `[secrets]`.
    /// Warnings for the log come back in `warnings`; `env` is read for `env = ` secrets.
    pub(super) fn resolve(
        self,
        node: &str,
        secrets: BTreeMap<String, toml::Value>,
        env: &BTreeMap<String, String>,
        origins: &Origins,
        warnings: &mut Vec<String>,
    ) -> Result<GitSettings, ConfigError> {
        let name = self.git_name.unwrap_or_else(|| node.to_owned());
        if name.trim().is_empty() || name.contains(['<', '>', '\n']) {
            return Err(origins.bad("git_name", format!("{name:?} cannot name a commit author")));
        }
        let email = self
            .git_email
            .unwrap_or_else(|| format!("{node}@localhost"));
        if !email.contains('@') || email.contains(['<', '>', ' ', '\n']) {
            return Err(origins.bad("git_email", format!("{email:?} is not an email address")));
        }
        for (key, path) in [
            ("git_ssh_key", &self.git_ssh_key),
            ("git_known_hosts", &self.git_known_hosts),
        ] {
            if let Some(path) = path {
                std::fs::File::open(path).map_err(|e| {
                    origins.bad(key, format!("cannot read {}: {e}", path.display()))
                })?;
            }
        }
        let mut allowed_local_remotes = Vec::new();
        for dir in self.allowed_local_remotes.unwrap_or_default() {
            // Canonical, so a symlink or `..` in the setting cannot widen it later.
            let real = std::fs::canonicalize(&dir)
                .ok()
                .filter(|real| real.is_dir() && real.parent().is_some())
                .ok_or_else(|| {
                    origins.bad(
                        "allowed_local_remotes",
                        format!("{} is not an existing folder other than /", dir.display()),
                    )
                })?;
            allowed_local_remotes.push(real);
        }
        let mut node_secrets = BTreeMap::new();
        for (secret, entry) in secrets {
            let ok = !secret.is_empty()
                && secret.len() <= 128
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !ok {
                return Err(origins.bad(
                    "secrets",
                    format!("{secret:?} is not a secret name (letters, digits, '_', '-', '.')"),
                ));
            }
            let value = resolve_secret(&secret, entry, env, origins, warnings)?;
            node_secrets.insert(secret, value);
        }
        Ok(GitSettings {
            credentials: mao_datasets::Credentials {
                name,
                email,
                ssh_key: self.git_ssh_key,
                known_hosts: self.git_known_hosts,
                https_token: self.git_https_token.filter(|t| !t.is_empty()),
            },
            secrets: node_secrets,
            allowed_local_remotes,
        })
    }
}

/// One secret: its value read now, its scope checked.
fn resolve_secret(
    name: &str,
    entry: toml::Value,
    env: &BTreeMap<String, String>,
    origins: &Origins,
    warnings: &mut Vec<String>,
) -> Result<Secret, ConfigError> {
    let bad = |message: String| ConfigError {
        key: format!("secrets.{name}"),
        origin: origins.of("secrets"),
        message,
    };
    let table: SecretTable = match entry {
        toml::Value::String(value) => {
            warnings.push(format!(
                "secret {name:?} has no scope, so no pipeline step may use it (its value is still masked in logs and records); write it as [secrets.{name}] with value (or file, or env) and pipelines = [...] and/or tools = [...]"
            ));
            return Ok(Secret::unscoped(value));
        }
        toml::Value::Table(table) => toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().trim().to_owned()))?,
        other => {
            return Err(bad(format!(
                "expected a table (value, file or env; pipelines, tools), found a {}",
                other.type_str()
            )))
        }
    };
    let value = match (table.value, table.file, table.env) {
        (Some(value), None, None) => value,
        (None, Some(path), None) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            text.strip_suffix('\n').unwrap_or(&text).to_owned()
        }
        (None, None, Some(var)) => env
            .get(&var)
            .cloned()
            .ok_or_else(|| bad(format!("the variable {var} is not set")))?,
        _ => return Err(bad("give exactly one of value, file and env".into())),
    };
    if value.is_empty() {
        return Err(bad("the value is empty".into()));
    }
    if table.pipelines.is_none() && table.tools.is_none() {
        return Err(bad(
            "give its scope: pipelines = [...] and/or tools = [...] (the steps that may use it)"
                .into(),
        ));
    }
    for name in table.pipelines.iter().chain(table.tools.iter()).flatten() {
        mao_api::validate::name("scope", name).map_err(|e| bad(format!("scope: {}", e.message)))?;
    }
    Ok(Secret {
        value,
        scope: SecretScope::Only {
            pipelines: table.pipelines,
            tools: table.tools,
        },
    })
}
