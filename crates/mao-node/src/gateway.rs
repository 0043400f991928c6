//! The original's gateway (`POST /write`, `/read`, `/inspect`), confined: a client writes
//! short-lived raw entries under the federation's `raw/` and reads under `raw/` and
//! `insights/`, and nothing else of the shared store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mao_api::ValidationError;
use mao_store::{Store, StoreError};
use serde_json::Value;

use crate::keys::Keys;

/// How long a raw entry lives after its write, as in the original (etcd v2 `ttl=60`).
pub const RAW_TTL: Duration = Duration::from_secs(60);

/// Largest value a raw entry may hold.
pub const MAX_VALUE: usize = 64 * 1024;

/// Most segments a gateway key may have (`raw/a/b/...`).
const MAX_SEGMENTS: usize = 8;

/// The parts of the shared store the gateway opens.
const AREAS: [&str; 2] = ["raw", "insights"];

/// What can go wrong at the gateway, by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The key is outside `raw/` and `insights/`.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0} does not exist (or its 60 s have passed); /inspect lists what is there")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key the gateway may touch, checked: `raw/...` or `insights/...`, each segment a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayKey(String);

impl GatewayKey {
    /// A key to read or inspect, as the original's clients spell it (`raw/x`, `/raw/x`).
    pub fn readable(key: &str) -> Result<GatewayKey, GatewayError> {
        let segments = segments(key)?;
        if !AREAS.contains(&segments[0]) {
            return Err(GatewayError::Forbidden(format!(
                "key {key:?}: only keys under raw/ and insights/ can be read through the gateway"
            )));
        }
        Ok(GatewayKey(segments.join("/")))
    }

    /// The key a write of `key` lands on: always under `raw/`.
    pub fn raw(key: &str) -> Result<GatewayKey, GatewayError> {
        let segments = segments(key)?;
        if segments.len() >= MAX_SEGMENTS {
            return Err(too_deep());
        }
        Ok(GatewayKey(format!("raw/{}", segments.join("/"))))
    }

    /// The key as the original showed it, `/raw/...`.
    pub fn shown(&self) -> String {
        format!("/{}", self.0)
    }
}

fn too_deep() -> GatewayError {
    ValidationError::new("key", format!("has more than {MAX_SEGMENTS} segments")).into()
}

fn segments(key: &str) -> Result<Vec<&str>, GatewayError> {
    let trimmed = key.strip_prefix('/').unwrap_or(key);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.iter().any(|s| *s == ".." || *s == ".") {
        return Err(GatewayError::Forbidden(format!(
            "key {key:?}: '.' and '..' would leave raw/ and insights/; the gateway opens nothing else"
        )));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(too_deep());
    }
    for s in &segments {
        mao_api::validate::name("key", s).map_err(|_| {
            ValidationError::new(
                "key",
                format!(
                    "{key:?}: each '/'-separated segment must be a name ({})",
                    mao_api::validate::NAME_RULE
                ),
            )
        })?;
    }
    Ok(segments)
}

/// The gateway over the shared store.
#[derive(Clone)]
pub struct Gateway {
    store: Arc<dyn Store>,
    keys: Keys,
}

impl Gateway {
    /// The gateway of the federation whose keys `keys` spells.
    pub fn new(store: Arc<dyn Store>, keys: Keys) -> Gateway {
        Gateway { store, keys }
    }

    /// Writes a raw entry that vanishes [`RAW_TTL`] after this write; returns what is
    /// stored. A string value is stored as it is, any other JSON value as its JSON text.
    pub async fn write(&self, key: &GatewayKey, value: &Value) -> Result<String, GatewayError> {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.len() > MAX_VALUE {
            return Err(
                ValidationError::new("value", format!("is larger than {MAX_VALUE} bytes")).into(),
            );
        }
        let lease = self.store.grant_lease(RAW_TTL).await?;
        let stored = self
            .store
            .put(
                &self.keys.gateway(&key.0),
                Bytes::from(text.clone()),
                Some(lease),
            )
            .await;
        if let Err(e) = stored {
            // Nothing is bound to the lease; let it go rather than wait for it to expire.
            let _ = self.store.revoke_lease(lease).await;
            return Err(e.into());
        }
        Ok(text)
    }

    /// The value at `key`: its JSON when it is JSON, else the text as a JSON string.
    pub async fn read(&self, key: &GatewayKey) -> Result<Value, GatewayError> {
        let kv = self
            .store
            .get(&self.keys.gateway(&key.0))
            .await?
            .ok_or_else(|| GatewayError::NotFound(key.shown()))?;
        Ok(as_json(&kv.value))
    }

    /// Every entry at or under `key`, as `{"/raw/...": "<value>"}`.
    pub async fn inspect(
        &self,
        key: &GatewayKey,
    ) -> Result<serde_json::Map<String, Value>, GatewayError> {
        let full = self.keys.gateway(&key.0);
        let below = format!("{full}/");
        let page = mao_store::list_all(self.store.as_ref(), &full, 500).await?;
        Ok(page
            .kvs
            .into_iter()
            .filter(|kv| kv.key == full || kv.key.starts_with(&below))
            .filter_map(|kv| {
                let shown = self.keys.gateway_relative(&kv.key)?;
                let value = String::from_utf8_lossy(&kv.value).into_owned();
                Some((format!("/{shown}"), Value::String(value)))
            })
            .collect())
    }
}

fn as_json(value: &[u8]) -> Value {
    serde_json::from_slice(value)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(value).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_confined_to_raw_and_insights() {
        for ok in [
            "raw/x",
            "/raw/a/b_1",
            "insights/tool/node-a",
            "raw/",
            "insights",
        ] {
            assert!(GatewayKey::readable(ok).is_ok(), "{ok}");
        }
        for forbidden in ["tools/x", "/nodes", "secrets/a", "raw/../tools", "raw/./x"] {
            assert!(
                matches!(
                    GatewayKey::readable(forbidden),
                    Err(GatewayError::Forbidden(_))
                ),
                "{forbidden}"
            );
        }
        for invalid in ["", "raw//x", "raw/X", "raw/a b", "raw/a\0"] {
            assert!(
                matches!(GatewayKey::readable(invalid), Err(GatewayError::Invalid(_))),
                "{invalid}"
            );
        }
    }

    #[test]
    fn writes_land_under_raw() {
        assert_eq!(GatewayKey::raw("temp").unwrap().shown(), "/raw/temp");
        assert_eq!(GatewayKey::raw("tools/x").unwrap().shown(), "/raw/tools/x");
        assert!(matches!(
            GatewayKey::raw("../tools/x"),
            Err(GatewayError::Forbidden(_))
        ));
        assert!(GatewayKey::raw(&["a"; MAX_SEGMENTS].join("/")).is_err());
    }

    #[test]
    fn json_values_read_back_as_json_and_text_as_a_string() {
        assert_eq!(as_json(br#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(as_json(b"plain"), Value::String("plain".into()));
    }
}
