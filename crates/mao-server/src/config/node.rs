//! `data_dir` and `node`: where this node keeps its state and what it is called.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Origins};

/// The node's local state and name.
#[derive(clap::Args, Debug, Default)]
pub(super) struct NodeLayer {
    /// Directory of the node's local state [default: ~/.local/share/mao-orchestrator].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Name of this node in the federation [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

impl NodeLayer {
    /// The data dir and the node's name; the defaults come from `env` and `home`.
    pub(super) fn resolve(
        self,
        env: &BTreeMap<String, String>,
        home: Option<&Path>,
        origins: &Origins,
    ) -> Result<(PathBuf, String), ConfigError> {
        let data_dir = match self.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(origins.bad("data_dir", "must not be empty"))
            }
            Some(dir) => dir,
            None => default_data_dir(env, home).ok_or_else(|| {
                origins.bad("data_dir", "no HOME to put the default in; pass --data-dir")
            })?,
        };
        let node = match self.node {
            Some(node) => node,
            None => {
                let host = hostname::get().map_err(|e| {
                    origins.bad(
                        "node",
                        format!("cannot read the host name ({e}); pass --node"),
                    )
                })?;
                host.to_string_lossy().to_lowercase()
            }
        };
        mao_api::validate::name("node", &node).map_err(|e| origins.bad("node", e.message))?;
        Ok((data_dir, node))
    }
}

/// `$XDG_DATA_HOME/mao-orchestrator`, else `~/.local/share/mao-orchestrator`.
pub fn default_data_dir(env: &BTreeMap<String, String>, home: Option<&Path>) -> Option<PathBuf> {
    if let Some(data) = env.get("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(data).join("mao-orchestrator"));
    }
    home.filter(|home| !home.as_os_str().is_empty())
        .map(|home| home.join(".local/share/mao-orchestrator"))
}

/// The data dir a subcommand (`token`, `federation`) works on: `given`, else
/// `MAO_DATA_DIR`, else the default under the home directory.
pub fn command_data_dir(
    given: Option<PathBuf>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    given
        .or_else(|| {
            env.get("MAO_DATA_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| default_data_dir(env, home))
}
