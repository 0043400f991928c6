//! Spike detection over a series of numbers: pure code, no IO, no clock.
//!
//! A [`Spec`] is the wire form of a detector (node default, per tool, per pipeline step).
//! [`Spec::detector`] checks it and fills in the defaults; the [`Detector`] then judges
//! the latest value of a series against the values before it ([`Detector::judge`]), or
//! every point of a series in turn ([`Detector::series`], the backtest of
//! `maoctl spike check`). Both run the same streaming code ([`Stream`]), so a point gets
//! the same judgement whichever way it is asked.
//!
//! Methods ([`Method`]):
//! - `percent`: the rule of the Python original, the latest value against the mean of
//!   the previous `window` values (default 2), a spike beyond `threshold` percent
//!   (default 6);
//! - `robust-z`: the modified z-score `0.6745 * (x - median) / MAD` over a trailing
//!   `window`;
//! - `smoothed-z`: the smoothed z-score (`lag`, `threshold`, `influence`), where a spike
//!   enters the baseline only with weight `influence`.
//!
//! The default method and its parameters ([`DEFAULT_METHOD`], [`default_spec`]) were
//! chosen by measurement on labelled series; docs/detector.md has the numbers and the
//! command that reproduces them.
//!
//! **Architecture Invariant:** no IO, no clock, no dependency but serde.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Display` and `FromStr` by the wire name (`as_str`) of every value in `ALL`; an
/// unknown name is refused with the known ones.
macro_rules! named {
    ($type:ident, $what:literal) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;

            fn from_str(s: &str) -> Result<$type, String> {
                $type::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = $type::ALL.iter().map(|v| v.as_str()).collect();
                        format!(
                            concat!("unknown ", $what, " {:?}: expected {}"),
                            s,
                            names.join(", ")
                        )
                    })
            }
        }
    };
}

mod params;
mod stream;

pub use params::{ParamDef, MAX_MIN_HISTORY};
pub use stream::Stream;

/// The method a spec without one uses: `smoothed-z`, the best of the three on the
/// labelled series of docs/detector.md.
pub const DEFAULT_METHOD: Method = Method::SmoothedZ;

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

impl Method {
    /// Every method, in the order help texts list them.
    pub const ALL: [Method; 3] = [Method::Percent, Method::RobustZ, Method::SmoothedZ];

    /// The name on the wire and on the command line, e.g. `robust-z`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Percent => "percent",
            Method::RobustZ => "robust-z",
            Method::SmoothedZ => "smoothed-z",
        }
    }

    /// The parameters the method takes, with their defaults and accepted values.
    pub fn param_defs(self) -> &'static [ParamDef] {
        params::defs(self)
    }

    /// The names of the method's parameters, sorted.
    pub fn param_names(self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.param_defs().iter().map(|d| d.name).collect();
        names.sort_unstable();
        names
    }

    /// Every parameter of the method at its default value.
    pub fn default_params(self) -> BTreeMap<String, f64> {
        self.param_defs()
            .iter()
            .map(|d| (d.name.to_owned(), d.default))
            .collect()
    }
}

named!(Method, "method");

/// Which way a spike must go to count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Both,
    Up,
    Down,
}

impl Direction {
    /// Every direction.
    pub const ALL: [Direction; 3] = [Direction::Both, Direction::Up, Direction::Down];

    /// The name on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// Whether a deviation of this sign is watched (`true` for upwards).
    fn watches(self, upwards: bool) -> bool {
        match self {
            Direction::Both => true,
            Direction::Up => upwards,
            Direction::Down => !upwards,
        }
    }
}

named!(Direction, "direction");

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

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 4] = [
        Verdict::SpikeUp,
        Verdict::SpikeDown,
        Verdict::Normal,
        Verdict::NotEnoughHistory,
    ];

    /// The name on the wire, e.g. `spike_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::SpikeUp => "spike_up",
            Verdict::SpikeDown => "spike_down",
            Verdict::Normal => "normal",
            Verdict::NotEnoughHistory => "not_enough_history",
        }
    }

    /// Whether the verdict is a spike, up or down.
    pub fn is_spike(self) -> bool {
        matches!(self, Verdict::SpikeUp | Verdict::SpikeDown)
    }
}

named!(Verdict, "verdict");

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
    /// Checks the method's parameters: every name known to the method, every value in
    /// its range, `min_history` from 1 to [`MAX_MIN_HISTORY`].
    pub fn validate(&self) -> Result<(), String> {
        self.detector().map(|_| ())
    }

    /// The detector this spec describes, defaults filled in; an error says which
    /// parameter is wrong and what it accepts.
    pub fn detector(&self) -> Result<Detector, String> {
        let method = self.method.unwrap_or(DEFAULT_METHOD);
        let params = params::effective(method, &self.params)?;
        let min_history = match self.min_history {
            Some(n) => params::check_min_history(n)?,
            None => params::default_min_history(method, &params),
        };
        Ok(Detector {
            method,
            rule: stream::Rule::new(method, &params),
            params,
            direction: self.direction,
            min_history,
        })
    }
}

/// Parameters are compared as numbers; a NaN parameter never validates, so `Eq` holds
/// for every spec that can be stored.
impl Eq for Spec {}

/// The spec a detector uses when nothing is configured, every value spelled out: the
/// default method ([`DEFAULT_METHOD`]) with its default parameters, both directions and
/// the method's default `min_history`. `Spec::default()` (method `None`) means the same.
pub fn default_spec() -> Spec {
    Spec::default()
        .detector()
        .expect("the default spec is valid")
        .spec()
}

/// A checked spec with its defaults filled in, ready to judge series.
#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    method: Method,
    params: BTreeMap<String, f64>,
    direction: Direction,
    min_history: usize,
    rule: stream::Rule,
}

impl Detector {
    /// The method in use (the default one when the spec named none).
    pub fn method(&self) -> Method {
        self.method
    }

    /// Every parameter of the method, as given or at its default.
    pub fn params(&self) -> BTreeMap<String, f64> {
        self.params.clone()
    }

    /// Which way a spike must go to count.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Valid (finite) points of history needed before a verdict.
    pub fn min_history(&self) -> usize {
        self.min_history
    }

    /// The effective spec: what a run record shows as the detector it was judged with.
    pub fn spec(&self) -> Spec {
        Spec {
            method: Some(self.method),
            params: self.params.clone(),
            direction: self.direction,
            min_history: Some(self.min_history),
        }
    }

    /// A stream that judges points one at a time, each against those before it.
    pub fn stream(&self) -> Stream<'_> {
        Stream::new(self)
    }

    /// The latest `value` against its `history` (oldest first). Values in the history
    /// that are not finite (NaN, ±inf) are skipped, as if never measured.
    ///
    /// A `value` that is not finite is no measurement: when the history is long enough
    /// the verdict is `Normal` with score 0 and no difference (the daemon never passes
    /// one; `maoctl spike check` does for an empty or `NaN` cell).
    ///
    /// Equal to the last judgement of `series(history ++ [value])`.
    pub fn judge(&self, history: &[f64], value: f64) -> Judgement {
        let mut stream = self.stream();
        for &x in history {
            stream.step(x);
        }
        stream.step(value)
    }

    /// Every point of `values` judged against the points before it, in order.
    pub fn series(&self, values: &[f64]) -> Vec<Judgement> {
        let mut stream = self.stream();
        values.iter().map(|&x| stream.step(x)).collect()
    }
}

#[cfg(test)]
mod tests;
