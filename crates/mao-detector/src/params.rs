//! The parameters of each method: names, defaults, accepted values, and the checks of a
//! spec's parameters against them.

use std::collections::BTreeMap;

use crate::Method;

/// The largest `min_history`, `window` or `lag`: far beyond any control-metric history,
/// small enough that a window is cheap to keep.
pub const MAX_MIN_HISTORY: usize = 100_000;

/// Below this many points a median, a MAD or a standard deviation says little, so the
/// z-score methods wait for it by default (or for their whole window if it is shorter).
const DEFAULT_MIN_HISTORY_Z: usize = 5;

/// One parameter of a method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamDef {
    /// Its name in `Spec::params` and in `--param NAME=VALUE`.
    pub name: &'static str,
    /// The value it takes when the spec does not set it.
    pub default: f64,
    /// What it means, for help texts.
    pub help: &'static str,
    kind: Kind,
}

/// The values a parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A whole number of points from `min` to [`MAX_MIN_HISTORY`].
    Count { min: usize },
    /// A finite number above zero.
    Positive,
    /// A number from 0 to 1.
    Fraction,
}

impl ParamDef {
    /// `Ok` when `value` is one the parameter accepts, else what it accepts.
    fn check(&self, value: f64) -> Result<(), String> {
        let ok = match self.kind {
            Kind::Count { min } => {
                value.fract() == 0.0 && value >= min as f64 && value <= MAX_MIN_HISTORY as f64
            }
            Kind::Positive => value.is_finite() && value > 0.0,
            Kind::Fraction => (0.0..=1.0).contains(&value),
        };
        if ok {
            return Ok(());
        }
        let accepted = match self.kind {
            Kind::Count { min } => format!("a whole number from {min} to {MAX_MIN_HISTORY}"),
            Kind::Positive => "a number above 0".to_owned(),
            Kind::Fraction => "a number from 0 to 1".to_owned(),
        };
        Err(format!("must be {accepted}, not {value}"))
    }
}

const fn count(name: &'static str, default: f64, min: usize, help: &'static str) -> ParamDef {
    ParamDef {
        name,
        default,
        help,
        kind: Kind::Count { min },
    }
}

const fn positive(name: &'static str, default: f64, help: &'static str) -> ParamDef {
    ParamDef {
        name,
        default,
        help,
        kind: Kind::Positive,
    }
}

// The original's rule, unchanged: the mean of the previous two values, 6 %.
const PERCENT: [ParamDef; 2] = [
    count(
        "window",
        2.0,
        1,
        "previous values whose mean is the baseline",
    ),
    positive(
        "threshold",
        6.0,
        "change from the baseline, in percent, beyond which a value is a spike",
    ),
];

// Chosen by measurement (docs/detector.md).
const ROBUST_Z: [ParamDef; 2] = [
    count(
        "window",
        50.0,
        1,
        "trailing values whose median and MAD are the baseline",
    ),
    positive(
        "threshold",
        12.0,
        "modified z-score beyond which a value is a spike",
    ),
];

// Chosen by measurement (docs/detector.md).
const SMOOTHED_Z: [ParamDef; 3] = [
    count(
        "lag",
        30.0,
        2,
        "trailing (smoothed) values whose mean and standard deviation are the baseline",
    ),
    positive("threshold", 10.0, "z-score beyond which a value is a spike"),
    ParamDef {
        name: "influence",
        default: 0.75,
        help: "weight (0 to 1) with which a spike enters the baseline",
        kind: Kind::Fraction,
    },
];

/// The parameters of `method`.
pub(crate) fn defs(method: Method) -> &'static [ParamDef] {
    match method {
        Method::Percent => &PERCENT,
        Method::RobustZ => &ROBUST_Z,
        Method::SmoothedZ => &SMOOTHED_Z,
    }
}

/// The method's parameters: `given` checked and laid over the defaults.
pub(crate) fn effective(
    method: Method,
    given: &BTreeMap<String, f64>,
) -> Result<BTreeMap<String, f64>, String> {
    let mut params = method.default_params();
    for (name, &value) in given {
        let def = defs(method)
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                format!(
                    "unknown parameter {name:?} for method {method}; valid parameters: {}",
                    method.param_names().join(", ")
                )
            })?;
        def.check(value)
            .map_err(|m| format!("parameter {name} of method {method} {m}"))?;
        params.insert(name.clone(), value);
    }
    Ok(params)
}

/// `n` when it is an acceptable `min_history`.
pub(crate) fn check_min_history(n: usize) -> Result<usize, String> {
    if (1..=MAX_MIN_HISTORY).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "min_history must be a whole number from 1 to {MAX_MIN_HISTORY}, not {n}"
        ))
    }
}

/// The history a method waits for when the spec does not say: the whole window for
/// `percent` (the original judged nothing before it had two values), otherwise
/// [`DEFAULT_MIN_HISTORY_Z`] points or the whole window if it is shorter.
pub(crate) fn default_min_history(method: Method, params: &BTreeMap<String, f64>) -> usize {
    match method {
        Method::Percent => whole(params, "window"),
        Method::RobustZ => whole(params, "window").min(DEFAULT_MIN_HISTORY_Z),
        Method::SmoothedZ => whole(params, "lag").min(DEFAULT_MIN_HISTORY_Z),
    }
}

/// A checked whole-number parameter.
pub(crate) fn whole(params: &BTreeMap<String, f64>, name: &str) -> usize {
    params[name] as usize
}
