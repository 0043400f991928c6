//! Insights: the small JSON object a tool may leave in its data folder, published to the
//! shared store after a successful run so that every node (and a gateway) can read it.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use mao_api::Insight;
use mao_store::{list_all, Store, StoreError};
use serde_json::{Map, Value};

use crate::keys::Keys;

/// The file a tool writes in its data folder.
pub const FILE: &str = "insights.json";
/// The largest `insights.json` that is published.
pub const MAX_BYTES: u64 = 64 * 1024;

/// What can go wrong reading published insights.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    #[error("no insights of tool {tool} from node {node}")]
    NotFound { tool: String, node: String },
    /// A stored document that does not parse: not the caller's fault.
    #[error("the insights at {key} are unreadable: {reason}")]
    Unreadable { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The object of `insights.json` in `dir`, when the run wrote one (modified at or after
/// `since`: an older file is an earlier run's and is not published again). `Err` says
/// why the file cannot be published; the caller records it on the run.
pub fn read(dir: &Path, since: Option<SystemTime>) -> Result<Option<Map<String, Value>>, String> {
    let path = dir.join(FILE);
    // Not followed: a tool could point a link at a file of the host's.
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{FILE}: {e}")),
    };
    if !meta.file_type().is_file() {
        return Err(format!("{FILE} is not a regular file"));
    }
    if since.is_some_and(|since| meta.modified().is_ok_and(|m| m < since)) {
        return Ok(None);
    }
    let mut text = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut text))
        .map_err(|e| format!("{FILE}: {e}"))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{FILE} is larger than {MAX_BYTES} bytes ({} bytes); nothing was published",
            meta.len().max(text.len() as u64)
        ));
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(format!(
            "{FILE} must hold a JSON object, not {}; nothing was published",
            kind(&other)
        )),
        Err(e) => Err(format!(
            "{FILE} is not valid JSON ({e}); nothing was published"
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The federation's published insights.
#[derive(Clone)]
pub struct Insights {
    store: Arc<dyn Store>,
    keys: Keys,
}

impl Insights {
    /// Insights kept in `store` under the keys of `keys`.
    pub fn new(store: Arc<dyn Store>, keys: Keys) -> Insights {
        Insights { store, keys }
    }

    /// Publishes `insight`, replacing the node's earlier one of the tool in one write.
    pub async fn publish(&self, insight: &Insight) -> Result<(), InsightError> {
        let key = self.keys.insight(&insight.tool, &insight.node);
        let value = serde_json::to_vec(insight).expect("an insight serializes");
        self.store.put(&key, Bytes::from(value), None).await?;
        Ok(())
    }

    /// Every published insight, of one tool when `tool` is given, sorted by tool and node.
    pub async fn list(&self, tool: Option<&str>) -> Result<Vec<Insight>, InsightError> {
        let prefix = match tool {
            Some(t) => self.keys.insights_of(t),
            None => self.keys.collection("insights"),
        };
        let page = list_all(self.store.as_ref(), &prefix, 500).await?;
        page.kvs
            .iter()
            .map(|kv| parse(&kv.key, &kv.value))
            .collect()
    }

    /// The insights of `tool` published by `node`.
    pub async fn get(&self, tool: &str, node: &str) -> Result<Insight, InsightError> {
        let key = self.keys.insight(tool, node);
        match self.store.get(&key).await? {
            Some(kv) => parse(&key, &kv.value),
            None => Err(InsightError::NotFound {
                tool: tool.to_owned(),
                node: node.to_owned(),
            }),
        }
    }
}

fn parse(key: &str, value: &[u8]) -> Result<Insight, InsightError> {
    serde_json::from_slice(value).map_err(|e| InsightError::Unreadable {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(
        text: &[u8],
    ) -> (
        tempfile::TempDir,
        Result<Option<Map<String, Value>>, String>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let r = read(dir.path(), None);
        (dir, r)
    }

    #[test]
    fn an_object_is_read_and_anything_else_says_why_not() {
        let (_d, r) = with(br#"{"rain_mm": 3.5, "station": "ZRH"}"#);
        assert_eq!(r.unwrap().unwrap()["station"], "ZRH");
        let (_d, r) = with(b"[1, 2]");
        assert!(r.unwrap_err().contains("not an array"));
        let (_d, r) = with(b"{\"a\":");
        assert!(r.unwrap_err().contains("not valid JSON"));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BYTES as usize));
        let (_d, r) = with(big.as_bytes());
        assert!(r.unwrap_err().contains("larger than 65536 bytes"));
    }

    #[test]
    fn no_file_an_old_file_and_a_link_are_not_published() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), None), Ok(None));
        std::fs::write(dir.path().join(FILE), b"{}").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(read(dir.path(), Some(later)), Ok(None));
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join(FILE)).unwrap();
        assert!(read(dir.path(), None).unwrap_err().contains("regular file"));
    }
}
