//! Holds the figures of docs/detector.md to the code: the default detector is the best
//! parameter set of the best method on the labelled series, with the counts recorded
//! there. Change a default or a method and this says which figure moved.

use mao_detector::{default_spec, Method, DEFAULT_METHOD};

use crate::scoring::{self, Counts};

#[test]
fn the_default_is_the_measured_best() {
    let series = scoring::load_all();
    let names: Vec<&str> = series.iter().map(|s| s.name).collect();
    assert_eq!(names, scoring::SERIES, "every labelled series, in order");
    let bests: Vec<(Method, f64)> = Method::ALL
        .into_iter()
        .map(|m| (m, scoring::best(m, &series).1.f1()))
        .collect();
    let (best_method, _) = bests
        .iter()
        .copied()
        .fold(None, |acc: Option<(Method, f64)>, (m, f1)| match acc {
            Some((_, a)) if a >= f1 => acc,
            _ => Some((m, f1)),
        })
        .unwrap();
    assert_eq!(best_method, DEFAULT_METHOD, "best F1 per method: {bests:?}");

    let (params, counts) = scoring::best(DEFAULT_METHOD, &series);
    let default = default_spec();
    let best = scoring::detector(DEFAULT_METHOD, &params);
    assert_eq!(
        best.params(),
        default.params,
        "the grid's best is not the default"
    );
    assert_eq!(
        counts,
        Counts {
            events: 11,
            detected: 5,
            false_alarms: 7,
            points: 7121,
        }
    );
}

#[test]
fn the_original_rule_floods_these_series() {
    let series = scoring::load_all();
    let original = scoring::detector(Method::Percent, &[("window", 2.0), ("threshold", 6.0)]);
    let counts = scoring::score_all(&original, &series);
    assert_eq!((counts.detected, counts.false_alarms), (11, 3443));
    assert_eq!(original.params(), Method::Percent.default_params());
}
