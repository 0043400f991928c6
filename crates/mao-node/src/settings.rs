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
/// (resp. tool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretScope {
    /// The old `[secrets] NAME = "value"` form: no step may use it until it is given a
    /// scope. Its value is still masked in logs and records.
    Unscoped,
    Only {
        pipelines: Option<Vec<String>>,
        tools: Option<Vec<String>>,
    },
}

impl Secret {
    /// A secret of the old form, which no step may use.
    pub fn unscoped(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            scope: SecretScope::Unscoped,
        }
    }

    /// Whether a step of `pipeline` running `tool` may use it.
    pub fn allows(&self, pipeline: &str, tool: &str) -> bool {
        match &self.scope {
            SecretScope::Unscoped => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_reaches_the_steps_every_given_list_holds_and_an_unscoped_one_none() {
        let only = |pipelines: Option<&[&str]>, tools: Option<&[&str]>| Secret {
            value: "v".into(),
            scope: SecretScope::Only {
                pipelines: pipelines.map(|l| l.iter().map(|s| s.to_string()).collect()),
                tools: tools.map(|l| l.iter().map(|s| s.to_string()).collect()),
            },
        };
        let by_pipeline = only(Some(&["p1"]), None);
        assert!(by_pipeline.allows("p1", "any-tool"));
        assert!(!by_pipeline.allows("p2", "any-tool"));
        let both = only(Some(&["p1"]), Some(&["demo"]));
        assert!(both.allows("p1", "demo"));
        assert!(!both.allows("p1", "other"));
        assert!(!both.allows("p2", "demo"));
        let unscoped = Secret::unscoped("v");
        for (pipeline, tool) in [("p1", "demo"), ("", ""), ("any", "thing")] {
            assert!(!unscoped.allows(pipeline, tool), "{pipeline} {tool}");
        }
    }
}
