//! Known secret values replaced by `***` wherever the node shows text it did not write
//! itself: run logs (as they are written, so a follower never sees a secret either), run
//! records and pipeline runs (every string field), pipeline documents and the daemon's
//! log. A secret split across two chunks of a stream is still caught ([`StreamRedactor`]).

use std::sync::Arc;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The secret values to hide. Cheap to clone; the default hides nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor of `values`; empty values are ignored.
    pub fn new<I, S>(values: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets: Vec<Vec<u8>> = values
            .into_iter()
            .map(|v| v.as_ref().as_bytes().to_vec())
            .filter(|v| !v.is_empty())
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Redactor {
            secrets: Arc::new(secrets),
        }
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret masked.
    pub fn redact(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        String::from_utf8_lossy(&self.redact_bytes(text.as_bytes())).into_owned()
    }

    /// `bytes` with every known secret masked.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let (mut out, held) = self.scan(bytes, false);
        out.extend_from_slice(held);
        out
    }

    /// Masks every string (not the keys) of a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let masked = self.redact(s);
                if masked != *s {
                    *s = masked;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// A value with every string masked (through its JSON form; values that do not
    /// round-trip are returned as they were).
    pub fn redact_value<T>(&self, value: T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        if self.is_empty() {
            return value;
        }
        let Ok(mut json) = serde_json::to_value(&value) else {
            return value;
        };
        self.redact_json(&mut json);
        serde_json::from_value(json).unwrap_or(value)
    }

    /// A redactor of one stream of chunks.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            held: Vec::new(),
        }
    }

    /// Masks what can be decided now; with `hold`, stops at a tail that could be the start
    /// of a secret and returns it apart.
    fn scan<'a>(&self, bytes: &'a [u8], hold: bool) -> (Vec<u8>, &'a [u8]) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        'outer: while i < bytes.len() {
            let rest = &bytes[i..];
            for secret in self.secrets.iter() {
                if rest.starts_with(secret) {
                    out.extend_from_slice(MASK.as_bytes());
                    i += secret.len();
                    continue 'outer;
                }
            }
            if hold
                && self
                    .secrets
                    .iter()
                    .any(|s| rest.len() < s.len() && s.starts_with(rest))
            {
                return (out, rest);
            }
            out.push(bytes[i]);
            i += 1;
        }
        (out, &[])
    }
}

/// Masks secrets in a stream of chunks: a tail that could be the start of a secret is
/// held back until the next chunk tells (or the stream ends).
pub struct StreamRedactor {
    redactor: Redactor,
    held: Vec<u8>,
}

impl StreamRedactor {
    /// What of `chunk` (after what was held back) can be written now, masked.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.redactor.is_empty() {
            return chunk.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(chunk);
        let (out, held) = self.redactor.scan(&buf, true);
        self.held = held.to_vec();
        out
    }

    /// What was held back, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.redactor.redact_bytes(&held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new(["tok", "tok-123", ""]);
        assert_eq!(r.redact("a tok-123 b tok c"), "a *** b *** c");
        assert_eq!(Redactor::default().redact("tok"), "tok");
    }

    #[test]
    fn a_secret_split_across_chunks_is_masked() {
        let r = Redactor::new(["s3cr3t-value"]);
        for split in 0..=22 {
            let text = b"before s3cr3t-value after s3cr3t-val";
            let (a, b) = text.split_at(split.min(text.len()));
            let mut s = r.stream();
            let mut out = s.push(a);
            out.extend(s.push(b));
            out.extend(s.finish());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "before *** after s3cr3t-val",
                "split at {split}"
            );
        }
        // One byte at a time, and nothing is held back past a plain newline.
        let mut s = r.stream();
        let mut out = Vec::new();
        for b in b"x s3cr3t-value\n" {
            out.extend(s.push(&[*b]));
        }
        assert_eq!(out, b"x ***\n");
    }

    #[test]
    fn json_strings_are_masked_keys_kept() {
        let r = Redactor::new(["hunter2"]);
        let mut v = serde_json::json!({"hunter2": ["x hunter2", 1, {"e": "hunter2"}]});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"hunter2": ["x ***", 1, {"e": "***"}]})
        );
    }
}
