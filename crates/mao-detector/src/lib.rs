//! Spike detection over a series of numbers: pure code, no IO, no clock.
//!
//! (Skeleton: the wire types are settled; the methods are being implemented.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A detection method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The original rule: the latest value against the mean of the previous `window`.
    Percent,
    /// Median and MAD over a trailing window; threshold in robust z units.
    RobustZ,
    /// Smoothed z-score (lag, threshold, influence).
    SmoothedZ,
}

/// Which way a spike must go to count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Both,
    Up,
    Down,
}

/// A detector as configured (node default, per tool, per pipeline step): the wire form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `None`: the default method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Method parameters by name; unset ones take the method's defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
    #[serde(default)]
    pub direction: Direction,
    /// Points of history needed before a verdict; `None`: the method's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_history: Option<usize>,
}

/// What the detector says of one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    SpikeUp,
    SpikeDown,
    Normal,
    NotEnoughHistory,
}

/// The detector's work on one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// In [0, 1]; above 0.5 exactly when the point is beyond the threshold.
    pub score: f64,
    /// What the value was compared against (mean, median, smoothed mean).
    pub baseline: Option<f64>,
    pub value: f64,
    /// Points of history the verdict used.
    pub history_len: usize,
    /// `value - baseline`.
    pub difference: Option<f64>,
    /// `100 * (value - baseline) / |baseline|`; `None` when the baseline is 0.
    pub change_pct: Option<f64>,
}

impl Spec {
    /// Checks the method's parameters (skeleton: accepts everything).
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Parameters are compared as numbers; a NaN parameter never validates, so `Eq` holds
/// for every spec that can be stored.
impl Eq for Spec {}
