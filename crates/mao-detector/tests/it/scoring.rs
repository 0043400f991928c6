//! The measurement behind the default detector (docs/detector.md): labelled series
//! from `tests/data/`, each point judged by the streaming detector, scored by events.
//!
//! Shared by `examples/evaluate.rs` (the full table) and `evaluation.rs` (which holds
//! the documented figures of the default to the code). It builds domain values, so it
//! stays in this crate rather than in mao-testkit.

use std::path::{Path, PathBuf};

use mao_detector::{Detector, Method, Spec};

/// The labelled series, by file name in `tests/data/`.
pub const SERIES: [&str; 4] = [
    "nab_speed_7578.csv",
    "nab_speed_t4013.csv",
    "nab_TravelTime_387.csv",
    "streamad_uni_ds.csv",
];

/// One labelled series: values, and whether each point lies in a labelled anomaly.
pub struct Labelled {
    pub name: &'static str,
    pub values: Vec<f64>,
    pub anomalous: Vec<bool>,
}

/// Reads a `value,label` CSV of `tests/data/`.
pub fn load(name: &'static str) -> Labelled {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut values = Vec::new();
    let mut anomalous = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let (value, label) = line
            .split_once(',')
            .unwrap_or_else(|| panic!("{name} line {}: expected value,label", i + 1));
        values.push(
            value
                .parse()
                .unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1)),
        );
        anomalous.push(label == "1");
    }
    Labelled {
        name,
        values,
        anomalous,
    }
}

/// Every labelled series.
pub fn load_all() -> Vec<Labelled> {
    SERIES.into_iter().map(load).collect()
}

/// Event counts of a detector on some series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Labelled anomalies: maximal runs of labelled points.
    pub events: usize,
    /// Events with at least one spike verdict inside.
    pub detected: usize,
    /// Spike verdicts outside every event.
    pub false_alarms: usize,
    /// Points judged.
    pub points: usize,
}

impl Counts {
    /// Detected events over detected events plus false alarms.
    pub fn precision(&self) -> f64 {
        ratio(self.detected, self.detected + self.false_alarms)
    }

    /// Detected events over events.
    pub fn recall(&self) -> f64 {
        ratio(self.detected, self.events)
    }

    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn add(&mut self, other: Counts) {
        self.events += other.events;
        self.detected += other.detected;
        self.false_alarms += other.false_alarms;
        self.points += other.points;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Runs `detector` over one series and counts events, detections and false alarms.
pub fn score(detector: &Detector, series: &Labelled) -> Counts {
    let judgements = detector.series(&series.values);
    let mut counts = Counts {
        points: judgements.len(),
        ..Counts::default()
    };
    let mut in_event = false;
    let mut event_detected = false;
    for (judgement, &anomalous) in judgements.iter().zip(&series.anomalous) {
        let spike = judgement.verdict.is_spike();
        if anomalous {
            if !in_event {
                counts.events += 1;
                event_detected = false;
            }
            if spike && !event_detected {
                counts.detected += 1;
                event_detected = true;
            }
        } else if spike {
            counts.false_alarms += 1;
        }
        in_event = anomalous;
    }
    counts
}

/// Counts of `detector` summed over every series.
pub fn score_all(detector: &Detector, series: &[Labelled]) -> Counts {
    let mut total = Counts::default();
    for s in series {
        total.add(score(detector, s));
    }
    total
}

/// The detector of `method` with these parameters (both directions, default history).
pub fn detector(method: Method, params: &[(&str, f64)]) -> Detector {
    Spec {
        method: Some(method),
        params: params.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
        ..Spec::default()
    }
    .detector()
    .expect("a valid grid point")
}

/// The parameter sets measured, per method.
pub fn grid() -> Vec<(Method, Vec<(&'static str, f64)>)> {
    let mut grid = Vec::new();
    for window in [1.0, 2.0, 3.0, 5.0, 10.0] {
        for threshold in [6.0, 10.0, 20.0, 30.0, 50.0, 100.0] {
            grid.push((
                Method::Percent,
                vec![("window", window), ("threshold", threshold)],
            ));
        }
    }
    for window in [10.0, 20.0, 30.0, 50.0, 100.0] {
        for threshold in [3.5, 5.0, 8.0, 10.0, 12.0, 15.0, 20.0] {
            grid.push((
                Method::RobustZ,
                vec![("window", window), ("threshold", threshold)],
            ));
        }
    }
    for lag in [10.0, 20.0, 30.0, 50.0] {
        for threshold in [3.5, 5.0, 6.0, 8.0, 10.0, 12.0] {
            for influence in [0.0, 0.25, 0.5, 0.75, 1.0] {
                grid.push((
                    Method::SmoothedZ,
                    vec![
                        ("lag", lag),
                        ("threshold", threshold),
                        ("influence", influence),
                    ],
                ));
            }
        }
    }
    grid
}

/// The best parameter set of `method` in the grid: highest F1, then highest recall, then
/// the first in grid order (smaller windows and influences first).
pub fn best(method: Method, series: &[Labelled]) -> (Vec<(&'static str, f64)>, Counts) {
    let mut best: Option<(Vec<(&'static str, f64)>, Counts)> = None;
    for (m, params) in grid() {
        if m != method {
            continue;
        }
        let counts = score_all(&detector(m, &params), series);
        let better = match &best {
            None => true,
            Some((_, b)) => (counts.f1(), counts.recall()) > (b.f1(), b.recall()),
        };
        if better {
            best = Some((params, counts));
        }
    }
    best.expect("the grid has every method")
}
