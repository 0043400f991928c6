//! `[[sinks]]`: where this node delivers its notifications.

use std::collections::BTreeSet;

use mao_notify::SinkConfig;

use super::error::{ConfigError, Origins};

/// Checks every sink, and that no two share a name.
pub(super) fn resolve(
    sinks: Vec<SinkConfig>,
    origins: &Origins,
) -> Result<Vec<SinkConfig>, ConfigError> {
    let mut names = BTreeSet::new();
    for sink in &sinks {
        sink.validate()
            .map_err(|m| origins.bad("sinks", format!("sink {:?}: {m}", sink.name)))?;
        if !names.insert(sink.name.as_str()) {
            return Err(origins.bad("sinks", format!("two sinks are named {:?}", sink.name)));
        }
    }
    Ok(sinks)
}
