//! Node-local settings the domain needs beyond run limits: the git identity and
//! credentials, and the secrets pipeline steps may ask for.

/// The node's git identity, the secrets it reaches remotes with, and the secrets pipeline
/// steps may ask for. Node-local: never written to the shared store or to a log.
#[derive(Clone, Debug, Default)]
pub struct GitSettings {
    pub credentials: mao_datasets::Credentials,
    /// `{{ secret:NAME }}` values of pipeline steps' environments.
    pub secrets: std::collections::BTreeMap<String, Secret>,
    /// Folders (canonical) whose repositories may be datasets' local remotes, besides the
    /// node's own `<data-dir>/bare/`.
    pub allowed_local_remotes: Vec<std::path::PathBuf>,
}

/// A secret value; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
