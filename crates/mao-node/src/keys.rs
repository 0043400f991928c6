//! Store keys, spelled in one place.

/// Builds store keys from the federation prefix; the only place keys are spelled.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `/mao`, no trailing slash).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The prefix of a collection, e.g. `/mao/tools/`.
    pub fn collection(&self, name: &str) -> String {
        format!("{}/{}/", self.prefix, name)
    }

    /// The claim of one slot of a `once` schedule.
    pub fn claim(&self, schedule: &str, slot: &chrono::DateTime<chrono::Utc>) -> String {
        format!(
            "{}{}/{}",
            self.collection("claims"),
            schedule,
            slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// The key of a federation-wide lock.
    pub fn lock(&self, name: &str) -> String {
        format!("{}{}", self.collection("locks"), name)
    }

    /// The marker of a `once` schedule's run in progress (concurrency `forbid`).
    pub fn running(&self, schedule: &str) -> String {
        format!("{}{}", self.collection("running"), schedule)
    }

    /// The insights of a tool published by a node.
    pub fn insight(&self, tool: &str, node: &str) -> String {
        format!("{}{}", self.insights_of(tool), node)
    }

    /// The prefix of every node's insights of a tool.
    pub fn insights_of(&self, tool: &str) -> String {
        format!("{}{}/", self.collection("insights"), tool)
    }

    /// The membership key of a node.
    pub fn node(&self, node: &str) -> String {
        format!("{}{}", self.collection("nodes"), node)
    }

    /// A key of the original's gateway, `relative` to the prefix (`raw/...`, `insights/...`).
    pub fn gateway(&self, relative: &str) -> String {
        format!("{}/{}", self.prefix, relative)
    }

    /// A full key without the prefix and its slash, when it is under the prefix.
    pub fn gateway_relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }
}
