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

/// A secret value and the steps it may reach; `Debug` does not show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub value: String,
    pub scope: SecretScope,
}

/// Which steps may use a secret. Each list that is given must hold the step's pipeline
/// (resp. tool); `Any` (the old `[secrets] NAME = "value"` form) lets every step use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretScope {
    Any,
    Only {
        pipelines: Option<Vec<String>>,
        tools: Option<Vec<String>>,
    },
}

impl Secret {
    /// A secret every step may use.
    pub fn unscoped(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            scope: SecretScope::Any,
        }
    }

    /// Whether a step of `pipeline` running `tool` may use it.
    pub fn allows(&self, pipeline: &str, tool: &str) -> bool {
        match &self.scope {
            SecretScope::Any => true,
            SecretScope::Only { pipelines, tools } => {
                let holds = |list: &Option<Vec<String>>, name: &str| {
                    list.as_ref().is_none_or(|l| l.iter().any(|n| n == name))
                };
                holds(pipelines, pipeline) && holds(tools, tool)
            }
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

impl GitSettings {
    /// What the node hides in logs and records: every step secret and the https token.
    pub fn redactor(&self) -> crate::redact::Redactor {
        crate::redact::Redactor::new(
            self.secrets
                .values()
                .map(|s| s.value.as_str())
                .chain(self.credentials.https_token.as_deref()),
        )
    }
}
