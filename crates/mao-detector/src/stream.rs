//! The methods, written once as a stream: each point is judged against the state the
//! points before it left, then added to that state.

use std::collections::{BTreeMap, VecDeque};

use crate::params::whole;
use crate::{Detector, Judgement, Method, Verdict};

/// Modified z-score constant: the MAD of a normal distribution is 0.6745 σ.
const MAD_TO_SIGMA: f64 = 0.6745;

/// The mean absolute deviation of a normal distribution is σ·√(2/π), so σ ≈ 1.2533 · it
/// (the fallback when more than half of the window sits on the median and the MAD is 0).
const MEAN_AD_TO_SIGMA: f64 = 1.253_314;

/// A method with its parameters, as numbers the stream uses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rule {
    Percent {
        window: usize,
        threshold: f64,
    },
    RobustZ {
        window: usize,
        threshold: f64,
    },
    SmoothedZ {
        lag: usize,
        threshold: f64,
        influence: f64,
    },
}

impl Rule {
    /// The rule of `method` with checked, complete `params`.
    pub(crate) fn new(method: Method, params: &BTreeMap<String, f64>) -> Rule {
        let threshold = params["threshold"];
        match method {
            Method::Percent => Rule::Percent {
                window: whole(params, "window"),
                threshold,
            },
            Method::RobustZ => Rule::RobustZ {
                window: whole(params, "window"),
                threshold,
            },
            Method::SmoothedZ => Rule::SmoothedZ {
                lag: whole(params, "lag"),
                threshold,
                influence: params["influence"],
            },
        }
    }

    fn threshold(&self) -> f64 {
        match *self {
            Rule::Percent { threshold, .. }
            | Rule::RobustZ { threshold, .. }
            | Rule::SmoothedZ { threshold, .. } => threshold,
        }
    }

    /// How many trailing (for smoothed-z: smoothed) values the state keeps.
    fn capacity(&self) -> usize {
        match *self {
            Rule::Percent { window, .. } | Rule::RobustZ { window, .. } => window,
            Rule::SmoothedZ { lag, .. } => lag,
        }
    }
}

/// Judges the points of a series one at a time, each against the points before it.
#[derive(Clone, Debug)]
pub struct Stream<'a> {
    detector: &'a Detector,
    /// The trailing values (smoothed ones for smoothed-z), oldest first.
    recent: VecDeque<f64>,
    /// Finite values seen so far.
    seen: usize,
}

impl<'a> Stream<'a> {
    pub(crate) fn new(detector: &'a Detector) -> Stream<'a> {
        Stream {
            detector,
            recent: VecDeque::with_capacity(detector.rule.capacity().min(1024)),
            seen: 0,
        }
    }

    /// Judges `value` against the points before it, then adds it to them (a value that
    /// is not finite is judged but not added).
    pub fn step(&mut self, value: f64) -> Judgement {
        let detector = self.detector;
        if self.seen < detector.min_history {
            let history_len = self.seen;
            self.push(value, false);
            return Judgement {
                verdict: Verdict::NotEnoughHistory,
                score: 0.0,
                baseline: None,
                value,
                history_len,
                difference: None,
                change_pct: None,
            };
        }
        let baseline = self.baseline();
        let history_len = self.recent.len();
        if !value.is_finite() {
            return Judgement {
                verdict: Verdict::Normal,
                score: 0.0,
                baseline: Some(baseline),
                value,
                history_len,
                difference: None,
                change_pct: None,
            };
        }
        let deviation = self.deviation(value, baseline);
        let threshold = detector.rule.threshold();
        let upwards = deviation > 0.0;
        // Deviation in a direction nobody watches scores nothing, so that a score above
        // 0.5 always goes with a spike verdict.
        let watched = if detector.direction.watches(upwards) {
            deviation.abs()
        } else {
            0.0
        };
        let verdict = match watched > threshold {
            false => Verdict::Normal,
            true if upwards => Verdict::SpikeUp,
            true => Verdict::SpikeDown,
        };
        self.push(value, deviation.abs() > threshold);
        let difference = value - baseline;
        Judgement {
            verdict,
            score: score(watched, threshold),
            baseline: Some(baseline),
            value,
            history_len,
            difference: Some(difference).filter(|d| d.is_finite()),
            change_pct: Some(100.0 * difference / baseline.abs())
                .filter(|c| baseline != 0.0 && c.is_finite()),
        }
    }

    /// Adds a finite `value` to the state; `beyond` says it was past the threshold, which
    /// smoothed-z lets into its baseline only with weight `influence`.
    fn push(&mut self, value: f64, beyond: bool) {
        if !value.is_finite() {
            return;
        }
        self.seen += 1;
        let kept = match self.detector.rule {
            Rule::SmoothedZ { influence, .. } if beyond => match self.recent.back() {
                Some(&last) => influence * value + (1.0 - influence) * last,
                None => value,
            },
            _ => value,
        };
        if self.recent.len() == self.detector.rule.capacity() {
            self.recent.pop_front();
        }
        self.recent.push_back(kept);
    }

    /// What the next value is compared against; the state holds at least one value.
    fn baseline(&self) -> f64 {
        match self.detector.rule {
            Rule::Percent { .. } | Rule::SmoothedZ { .. } => mean(&self.recent),
            Rule::RobustZ { .. } => median(self.recent.iter().copied().collect()),
        }
    }

    /// How far `value` is from `baseline`, signed, in the method's unit (percent or z);
    /// ±inf when the state has no spread at all and the value differs from it.
    fn deviation(&self, value: f64, baseline: f64) -> f64 {
        let difference = value - baseline;
        let scale = match self.detector.rule {
            Rule::Percent { .. } => baseline.abs() / 100.0,
            Rule::RobustZ { .. } => robust_sigma(&self.recent, baseline),
            Rule::SmoothedZ { .. } => std_dev(&self.recent, baseline),
        };
        let deviation = if difference == 0.0 {
            0.0
        } else if scale > 0.0 {
            difference / scale
        } else {
            f64::INFINITY.copysign(difference)
        };
        // Overflowing values (near ±f64::MAX) leave no meaningful deviation.
        if deviation.is_nan() {
            0.0
        } else {
            deviation
        }
    }
}

/// `d / (d + threshold)`: 0 for no deviation, 0.5 at the threshold, 1 for an infinite one.
fn score(deviation: f64, threshold: f64) -> f64 {
    if deviation.is_infinite() {
        1.0
    } else {
        deviation / (deviation + threshold)
    }
}

/// The mean; exactly the value when all values are equal (a plain sum can round).
fn mean(values: &VecDeque<f64>) -> f64 {
    let first = values[0];
    if values.iter().all(|&v| v == first) {
        return first;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The population standard deviation around `mean`.
fn std_dev(values: &VecDeque<f64>, mean: f64) -> f64 {
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (squares / values.len() as f64).sqrt()
}

/// The median of a non-empty list.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        values[mid - 1] / 2.0 + values[mid] / 2.0
    }
}

/// The spread of a robust z-score: MAD / 0.6745; when the MAD is 0 (more than half of the
/// values equal), 1.2533 × the mean absolute deviation; 0 when all values are equal.
fn robust_sigma(values: &VecDeque<f64>, median_value: f64) -> f64 {
    let deviations: Vec<f64> = values.iter().map(|v| (v - median_value).abs()).collect();
    let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
    let mad = median(deviations);
    if mad > 0.0 {
        mad / MAD_TO_SIGMA
    } else {
        MEAN_AD_TO_SIGMA * mean_ad
    }
}
