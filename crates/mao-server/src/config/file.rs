//! The `--config` TOML file: the flags' keys, and the tables only a file can hold.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Command;
use serde::Deserialize;

use super::error::{ConfigError, Origins, Source};
use super::layer::{keys, long, takes_list, CONFIG_KEY};

/// The tables of the file, which have no flag.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSections {
    /// Secrets pipeline steps refer to as `{{ secret:NAME }}`: `[secrets.NAME]` tables
    /// (checked in `git.rs`), or the older `NAME = "value"` pairs.
    #[serde(default)]
    pub secrets: BTreeMap<String, toml::Value>,
    /// The node's default detector (`[detector]`).
    pub detector: Option<mao_api::DetectorSpec>,
    /// Notification sinks (`[[sinks]]`).
    #[serde(default)]
    pub sinks: Vec<mao_notify::SinkConfig>,
}

/// A file read: its flags' values as `--key=value` arguments, its tables, the keys it set.
pub(super) struct Loaded {
    pub args: Vec<String>,
    pub sections: FileSections,
    pub keys: Vec<String>,
}

/// Reads `path` (named by `path_origin`); keys a stronger source set are skipped.
pub(super) fn read(
    path: &Path,
    path_origin: Source,
    cmd: &Command,
    taken: &Origins,
) -> Result<Loaded, ConfigError> {
    let in_file = |key: &str, message: String| ConfigError {
        key: key.to_owned(),
        origin: Source::File(path.to_owned()),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        key: CONFIG_KEY.to_owned(),
        origin: path_origin,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| in_file(CONFIG_KEY, e.message().trim().to_owned()))?;

    let mut loaded = Loaded {
        args: Vec::new(),
        sections: FileSections::default(),
        keys: Vec::new(),
    };
    let mut tables = toml::Table::new();
    for (key, value) in table {
        // `config` names the file, so the file cannot hold it.
        match keys(cmd).find(|arg| arg.get_id() == key.as_str() && key != CONFIG_KEY) {
            Some(arg) => {
                if !taken.is_set(&key) {
                    for text in texts(value, takes_list(arg)).map_err(|m| in_file(&key, m))? {
                        loaded.args.push(format!("--{}={text}", long(arg)));
                    }
                }
            }
            None => {
                // One table at a time, so an error names the table it is about.
                let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
                if let Err(e) = toml::Value::Table(alone).try_into::<FileSections>() {
                    let message = e.message().trim().to_owned();
                    return Err(if message.starts_with("unknown field") {
                        let flags: Vec<&str> = keys(cmd)
                            .map(|arg| arg.get_id().as_str())
                            .filter(|k| *k != CONFIG_KEY)
                            .collect();
                        in_file(
                            CONFIG_KEY,
                            format!("{message}, or one of {}", flags.join(", ")),
                        )
                    } else {
                        in_file(&key, message)
                    });
                }
                tables.insert(key.clone(), value);
            }
        }
        loaded.keys.push(key);
    }
    loaded.sections = toml::Value::Table(tables)
        .try_into()
        .map_err(|e: toml::de::Error| in_file(CONFIG_KEY, e.message().trim().to_owned()))?;
    Ok(loaded)
}

/// A TOML value as the text of a flag; a list, where the flag takes several, item by item.
fn texts(value: toml::Value, list: bool) -> Result<Vec<String>, String> {
    match value {
        // An empty list is one empty value, so that it is refused rather than ignored.
        toml::Value::Array(items) if list && items.is_empty() => Ok(vec![String::new()]),
        toml::Value::Array(items) if list => items.into_iter().map(text).collect(),
        value => text(value).map(|t| vec![t]),
    }
}

fn text(value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("expected one value, found a {}", other.type_str())),
    }
}
