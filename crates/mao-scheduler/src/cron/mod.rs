//! Cron expressions: parsing, the normalized form, and fire times in a time zone.

use std::str::FromStr;

/// First year a seven-field expression may name.
pub const FIRST_YEAR: i32 = 1970;
/// Last year a seven-field expression may name.
pub const LAST_YEAR: i32 = 2199;

mod display;
mod fire_times;
mod parse;
mod zone;

pub use fire_times::FireTimes;
pub use parse::{parse, CronError, Field, FieldProblem};
pub use zone::{parse_tz, UnknownTimeZone};

/// The matching sets of a parsed expression, one bit per value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Fields {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    dom_any: bool,
    dow_any: bool,
    /// `None` when the year is free; bit i is year FIRST_YEAR + i.
    years: Option<[u64; 4]>,
}

/// A parsed cron expression.
///
/// Two values are equal when they match the same times, whatever their spelling.
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    fields: Fields,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Eq for Cron {}

impl std::hash::Hash for Cron {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fields.hash(state);
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Cron {
    /// The expression as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the seconds field matches more than second 0.
    pub fn has_seconds(&self) -> bool {
        self.fields.seconds != 1
    }
}

#[cfg(test)]
mod tests;
