//! Helpers of the integration tests of mao-notify.

// The one notification of the unit tests, so both speak of the same news.
#[path = "../../src/fixtures.rs"]
mod fixtures;

pub use fixtures::spike;
use mao_notify::SinkConfig;

/// One sink parsed from the body of a `[[sinks]]` table, as the daemon reads it, and
/// validated.
pub fn sink(table: &str) -> SinkConfig {
    #[derive(serde::Deserialize)]
    struct File {
        sinks: Vec<SinkConfig>,
    }
    let file: File = toml::from_str(&format!("[[sinks]]\n{table}")).unwrap();
    let sink = file.sinks.into_iter().next().unwrap();
    sink.validate().unwrap();
    sink
}
