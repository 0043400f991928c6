//! `git_*` and `[secrets]`: the node's git identity and the secrets it holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{ConfigError, Origins};

pub use mao_node::{GitSettings, Secret};

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
    pub(super) fn resolve(
        self,
        node: &str,
        secrets: BTreeMap<String, String>,
        origins: &Origins,
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
        for (secret, value) in secrets {
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
            node_secrets.insert(secret, Secret(value));
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
