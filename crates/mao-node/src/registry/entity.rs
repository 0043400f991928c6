//! What a registry holds: the entities and the checks each passes before it is stored.

use mao_api::{Dataset, Tool, ValidationError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A document kept in a registry.
pub trait Entity: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Singular noun for messages ("tool").
    const KIND: &'static str;
    /// The document's name (its key below the registry prefix).
    fn name(&self) -> &str;
    /// Checks every field before anything is stored.
    fn validate(&self) -> Result<(), ValidationError>;
}

impl Entity for Tool {
    const KIND: &'static str = "tool";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        Tool::validate(self)
    }
}

impl Entity for mao_api::Schedule {
    const KIND: &'static str = "schedule";
    fn name(&self) -> &str {
        &self.id
    }
    fn validate(&self) -> Result<(), ValidationError> {
        // The cron expression, zone and deadline are checked where mao-scheduler is at hand
        // (handlers/schedules.rs); here only what every document needs.
        mao_api::validate::name("id", &self.id)?;
        mao_api::validate::name("target", self.target.name())?;
        self.overrides.validate()
    }
}

impl Entity for mao_api::Pipeline {
    const KIND: &'static str = "pipeline";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        mao_api::Pipeline::validate(self)
    }
}

impl Entity for mao_api::Notification {
    const KIND: &'static str = "notification";
    fn name(&self) -> &str {
        &self.id
    }
    fn validate(&self) -> Result<(), ValidationError> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(ValidationError::new("id", "must be letters and digits"));
        }
        Ok(())
    }
}

impl Entity for Dataset {
    const KIND: &'static str = "dataset";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), ValidationError> {
        Dataset::validate(self)
    }
}
