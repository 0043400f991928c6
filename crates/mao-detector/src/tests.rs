use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn spec(method: Method, params: &[(&str, f64)]) -> Spec {
    Spec {
        method: Some(method),
        params: params.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
        ..Spec::default()
    }
}

fn detector(method: Method, params: &[(&str, f64)]) -> Detector {
    spec(method, params).detector().unwrap()
}

/// Each method with its defaults.
fn defaults() -> Vec<Detector> {
    Method::ALL.into_iter().map(|m| detector(m, &[])).collect()
}

/// Indexes of the points judged spikes.
fn spikes(judgements: &[Judgement]) -> Vec<usize> {
    judgements
        .iter()
        .enumerate()
        .filter(|(_, j)| j.verdict.is_spike())
        .map(|(i, _)| i)
        .collect()
}

/// 100 with a wobble of at most ±1, the same every run.
fn gently_noisy(len: usize) -> Vec<f64> {
    (0..len)
        .map(|i| 100.0 + (i as f64 * 1.7).sin() * 0.6 + (i as f64 * 0.31).cos() * 0.4)
        .collect()
}

/// Judgements compared field by field, NaN equal to NaN.
fn same(a: &Judgement, b: &Judgement) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn wire_forms_are_unchanged() {
    let spec: Spec = serde_json::from_value(serde_json::json!({
        "method": "smoothed-z",
        "params": {"lag": 10, "influence": 0.5},
        "direction": "up",
        "min_history": 3,
    }))
    .unwrap();
    assert_eq!(spec.method, Some(Method::SmoothedZ));
    assert_eq!(spec.direction, Direction::Up);
    for (method, name) in [
        (Method::Percent, "percent"),
        (Method::RobustZ, "robust-z"),
        (Method::SmoothedZ, "smoothed-z"),
    ] {
        assert_eq!(serde_json::to_value(method).unwrap(), name);
        assert_eq!(name.parse::<Method>().unwrap(), method);
        assert_eq!(method.to_string(), name);
    }
    assert_eq!(
        serde_json::to_value(Verdict::NotEnoughHistory).unwrap(),
        Verdict::NotEnoughHistory.as_str()
    );
    assert_eq!(
        serde_json::to_string(&Spec::default()).unwrap(),
        r#"{"direction":"both"}"#
    );
    let e = "zscore".parse::<Method>().unwrap_err();
    assert_eq!(
        e,
        r#"unknown method "zscore": expected percent, robust-z, smoothed-z"#
    );
    for d in Direction::ALL {
        assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        assert_eq!(d.to_string().parse::<Direction>().unwrap(), d);
    }
    for v in Verdict::ALL {
        assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        assert_eq!(v.to_string().parse::<Verdict>().unwrap(), v);
    }
    assert_eq!(
        "sideways".parse::<Direction>().unwrap_err(),
        r#"unknown direction "sideways": expected both, up, down"#
    );
}

#[test]
fn unknown_parameters_are_refused_with_the_valid_ones() {
    let e = spec(Method::SmoothedZ, &[("window", 5.0)])
        .validate()
        .unwrap_err();
    assert_eq!(
        e,
        r#"unknown parameter "window" for method smoothed-z; valid parameters: influence, lag, threshold"#
    );
    let e = Spec {
        params: BTreeMap::from([("lags".to_owned(), 5.0)]),
        ..Spec::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.contains(&format!("for method {DEFAULT_METHOD}")), "{e}");
}

#[test]
fn parameter_values_are_checked() {
    for (method, name, value, message) in [
        (
            Method::Percent,
            "window",
            0.0,
            "parameter window of method percent must be a whole number from 1 to 100000, not 0",
        ),
        (
            Method::RobustZ,
            "window",
            2.5,
            "parameter window of method robust-z must be a whole number from 1 to 100000, not 2.5",
        ),
        (
            Method::SmoothedZ,
            "lag",
            1.0,
            "parameter lag of method smoothed-z must be a whole number from 2 to 100000, not 1",
        ),
        (
            Method::Percent,
            "threshold",
            0.0,
            "parameter threshold of method percent must be a number above 0, not 0",
        ),
        (
            Method::RobustZ,
            "threshold",
            f64::INFINITY,
            "parameter threshold of method robust-z must be a number above 0, not inf",
        ),
        (
            Method::SmoothedZ,
            "threshold",
            f64::NAN,
            "parameter threshold of method smoothed-z must be a number above 0, not NaN",
        ),
        (
            Method::SmoothedZ,
            "influence",
            1.5,
            "parameter influence of method smoothed-z must be a number from 0 to 1, not 1.5",
        ),
        (
            Method::SmoothedZ,
            "influence",
            f64::NAN,
            "parameter influence of method smoothed-z must be a number from 0 to 1, not NaN",
        ),
        (
            Method::Percent,
            "window",
            1e9,
            "parameter window of method percent must be a whole number from 1 to 100000, not 1000000000",
        ),
    ] {
        assert_eq!(
            spec(method, &[(name, value)]).validate().unwrap_err(),
            message
        );
    }
    for n in [0, MAX_MIN_HISTORY + 1] {
        let e = Spec {
            min_history: Some(n),
            ..Spec::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            e,
            format!("min_history must be a whole number from 1 to 100000, not {n}")
        );
    }
    assert!(spec(Method::SmoothedZ, &[("influence", 0.0), ("lag", 2.0)])
        .validate()
        .is_ok());
}

#[test]
fn defaults_are_filled_in() {
    let d = Spec::default().detector().unwrap();
    assert_eq!(d.method(), DEFAULT_METHOD);
    assert_eq!(d.params(), DEFAULT_METHOD.default_params());
    assert_eq!(d.spec(), default_spec());
    assert_eq!(default_spec().detector().unwrap(), d);

    // The original rule keeps the original's defaults: mean of two, 6 %.
    let p = detector(Method::Percent, &[]);
    assert_eq!(
        p.params(),
        BTreeMap::from([("threshold".into(), 6.0), ("window".into(), 2.0)])
    );
    assert_eq!(p.min_history(), 2);

    let d = detector(Method::RobustZ, &[("window", 3.0)]);
    assert_eq!(d.params()["window"], 3.0);
    assert_eq!(d.params()["threshold"], 12.0);
    assert_eq!(d.min_history(), 3, "never more than the window");
    assert_eq!(detector(Method::SmoothedZ, &[]).min_history(), 5);
    assert_eq!(
        Method::SmoothedZ.param_names(),
        vec!["influence", "lag", "threshold"]
    );
}

#[test]
fn percent_is_the_original_rule() {
    let d = detector(Method::Percent, &[]);
    let j = d.judge(&[100.0, 104.0], 109.0);
    assert_eq!(j.verdict, Verdict::SpikeUp);
    assert_eq!(j.baseline, Some(102.0));
    assert_eq!(j.difference, Some(7.0));
    assert!((j.change_pct.unwrap() - 700.0 / 102.0).abs() < 1e-12);
    assert_eq!(j.history_len, 2);
    // Only the previous two count, and 6 % itself is not beyond the threshold.
    assert_eq!(
        d.judge(&[1.0, 100.0, 100.0], 106.0).verdict,
        Verdict::Normal
    );
    assert_eq!(d.judge(&[100.0, 100.0], 93.9).verdict, Verdict::SpikeDown);
    assert_eq!(d.judge(&[100.0], 200.0).verdict, Verdict::NotEnoughHistory);
    // Against a negative baseline, "up" is still towards larger numbers.
    assert_eq!(d.judge(&[-100.0, -100.0], -80.0).verdict, Verdict::SpikeUp);
}

#[test]
fn a_zero_baseline_does_not_divide_by_zero() {
    let d = detector(Method::Percent, &[]);
    let j = d.judge(&[0.0, 0.0], 0.0);
    assert_eq!((j.verdict, j.score), (Verdict::Normal, 0.0));
    assert_eq!(j.change_pct, None);
    let j = d.judge(&[0.0, 0.0], 0.5);
    assert_eq!((j.verdict, j.score), (Verdict::SpikeUp, 1.0));
    assert_eq!((j.difference, j.change_pct), (Some(0.5), None));
    // A mean of zero from values that are not.
    let j = d.judge(&[-1.0, 1.0], -0.1);
    assert_eq!(j.verdict, Verdict::SpikeDown);
}

#[test]
fn robust_z_falls_back_when_the_mad_is_zero() {
    let d = detector(Method::RobustZ, &[("window", 5.0), ("threshold", 3.0)]);
    // Median 10 and MAD 0; the mean absolute deviation (0.4) gives the scale.
    let history = [10.0, 10.0, 12.0, 10.0, 10.0];
    let j = d.judge(&history, 11.0);
    assert_eq!(j.baseline, Some(10.0));
    assert_eq!(j.verdict, Verdict::Normal);
    let z = 1.0 / (1.253_314 * 0.4);
    assert!((j.score - z / (z + 3.0)).abs() < 1e-12);
    assert_eq!(d.judge(&history, 13.0).verdict, Verdict::SpikeUp);
    // A window of one value: any change is a spike, no change is normal.
    let d = detector(Method::RobustZ, &[("window", 1.0)]);
    assert_eq!(d.judge(&[5.0], 5.0).verdict, Verdict::Normal);
    let j = d.judge(&[5.0], 5.001);
    assert_eq!((j.verdict, j.score), (Verdict::SpikeUp, 1.0));
}

#[test]
fn modified_z_score_uses_the_mad() {
    let d = detector(Method::RobustZ, &[("window", 5.0), ("threshold", 3.5)]);
    // Median 3, MAD 1: z = 0.6745 * (x - 3).
    let history = [1.0, 2.0, 3.0, 4.0, 5.0];
    let j = d.judge(&history, 8.0);
    let z = 0.6745 * 5.0;
    assert!((j.score - z / (z + 3.5)).abs() < 1e-12);
    assert_eq!(j.verdict, Verdict::Normal);
    assert_eq!(d.judge(&history, 9.0).verdict, Verdict::SpikeUp);
    assert_eq!(d.judge(&history, -3.0).verdict, Verdict::SpikeDown);
}

#[test]
fn smoothed_z_lets_a_spike_in_with_its_influence() {
    let history = [10.0, 11.0, 10.0, 11.0, 10.0, 11.0];
    let spike = 100.0;
    // The oldest value drops out; the spike enters as the value before it (influence 0)
    // or as itself (influence 1).
    for (influence, baseline) in [
        (0.0, (11.0 + 10.0 + 11.0 + 10.0 + 11.0 + 11.0) / 6.0),
        (1.0, (11.0 + 10.0 + 11.0 + 10.0 + 11.0 + 100.0) / 6.0),
    ] {
        let d = detector(
            Method::SmoothedZ,
            &[("lag", 6.0), ("threshold", 3.0), ("influence", influence)],
        );
        let mut all = history.to_vec();
        all.push(spike);
        let after = d.judge(&all, 10.0);
        assert!(
            (after.baseline.unwrap() - baseline).abs() < 1e-12,
            "influence {influence}: {after:?}"
        );
    }
    // Half the influence: the spike enters as the midpoint of it and the value before.
    let d = detector(
        Method::SmoothedZ,
        &[("lag", 6.0), ("threshold", 3.0), ("influence", 0.5)],
    );
    let mut all = history.to_vec();
    all.push(spike);
    let expected = (11.0 + 10.0 + 11.0 + 10.0 + 11.0 + (0.5 * 100.0 + 0.5 * 11.0)) / 6.0;
    assert!((d.judge(&all, 10.0).baseline.unwrap() - expected).abs() < 1e-12);
}

#[test]
fn a_constant_series_has_no_spike() {
    for d in defaults() {
        for c in [0.0, 1.0, -3.5, 0.1, 1e12] {
            let judgements = d.series(&vec![c; 200]);
            assert!(spikes(&judgements).is_empty(), "{:?} on {c}", d.method());
            assert!(judgements.iter().all(|j| j.score == 0.0));
        }
    }
}

#[test]
fn one_outlier_is_a_spike_there_and_only_there() {
    for base in [vec![50.0; 60], gently_noisy(60)] {
        for d in defaults() {
            for (outlier, verdict) in [(200.0, Verdict::SpikeUp), (0.0, Verdict::SpikeDown)] {
                let mut values = base.clone();
                values[40] = outlier;
                let judgements = d.series(&values);
                assert_eq!(judgements[40].verdict, verdict, "{:?}", d.method());
                if d.method() == Method::Percent {
                    // The original rule compares with the mean of the previous two,
                    // which still holds the outlier for two more points.
                    assert_eq!(spikes(&judgements), vec![40, 41, 42]);
                } else {
                    assert_eq!(spikes(&judgements), vec![40], "{:?}", d.method());
                }
            }
        }
    }
}

#[test]
fn values_that_are_not_finite_are_skipped_in_history() {
    for d in defaults() {
        let clean = gently_noisy(30);
        let mut dirty = Vec::new();
        for (i, &x) in clean.iter().enumerate() {
            dirty.push(x);
            if i % 7 == 3 {
                dirty.push(f64::NAN);
            }
            if i == 11 {
                dirty.push(f64::INFINITY);
            }
        }
        for value in [100.0, 150.0] {
            assert_eq!(d.judge(&clean, value), d.judge(&dirty, value));
        }
    }
}

#[test]
fn a_value_that_is_not_finite_is_no_spike() {
    for d in defaults() {
        let history = gently_noisy(30);
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let j = d.judge(&history, value);
            assert_eq!((j.verdict, j.score), (Verdict::Normal, 0.0));
            assert!(j.baseline.is_some());
            assert_eq!((j.difference, j.change_pct), (None, None));
        }
        let j = d.judge(&[], f64::NAN);
        assert_eq!(j.verdict, Verdict::NotEnoughHistory);
    }
}

#[test]
fn a_history_of_one_point() {
    for method in Method::ALL {
        let spec = Spec {
            min_history: Some(1),
            ..spec(method, &[])
        };
        let d = spec.detector().unwrap();
        let j = d.judge(&[20.0], 20.0);
        assert_eq!((j.verdict, j.history_len), (Verdict::Normal, 1));
        assert_eq!(j.baseline, Some(20.0));
        let j = d.judge(&[20.0], 30.0);
        assert_eq!(j.verdict, Verdict::SpikeUp, "{method}");
        assert_eq!((j.difference, j.change_pct), (Some(10.0), Some(50.0)));
        // With the default history, one point is not enough.
        let j = detector(method, &[]).judge(&[20.0], 30.0);
        assert_eq!((j.verdict, j.history_len), (Verdict::NotEnoughHistory, 1));
        assert_eq!((j.score, j.baseline), (0.0, None));
    }
}

#[test]
fn direction_filters_verdicts_and_scores() {
    let history = gently_noisy(40);
    for method in Method::ALL {
        for (direction, up, down) in [
            (Direction::Both, Verdict::SpikeUp, Verdict::SpikeDown),
            (Direction::Up, Verdict::SpikeUp, Verdict::Normal),
            (Direction::Down, Verdict::Normal, Verdict::SpikeDown),
        ] {
            let d = Spec {
                direction,
                ..spec(method, &[])
            }
            .detector()
            .unwrap();
            let j = d.judge(&history, 300.0);
            assert_eq!(j.verdict, up, "{method} {direction}");
            assert_eq!(j.score > 0.5, up.is_spike());
            let j = d.judge(&history, -300.0);
            assert_eq!(j.verdict, down, "{method} {direction}");
            assert_eq!(j.score > 0.5, down.is_spike());
        }
    }
}

#[test]
fn history_len_counts_the_points_used() {
    let d = detector(Method::RobustZ, &[("window", 10.0)]);
    assert_eq!(d.judge(&gently_noisy(4), 100.0).history_len, 4);
    assert_eq!(d.judge(&gently_noisy(50), 100.0).history_len, 10);
    let d = detector(Method::Percent, &[]);
    assert_eq!(d.judge(&gently_noisy(50), 100.0).history_len, 2);
}

/// A spec of any method with parameters anywhere in their ranges.
fn any_spec() -> impl Strategy<Value = Spec> {
    let direction = prop_oneof![
        Just(Direction::Both),
        Just(Direction::Up),
        Just(Direction::Down)
    ];
    let min_history = proptest::option::of(1usize..12);
    let method = prop_oneof![
        (1u32..12, 0.5f64..200.0).prop_map(|(w, t)| (
            Method::Percent,
            vec![("window", f64::from(w)), ("threshold", t)]
        )),
        (1u32..40, 0.5f64..20.0).prop_map(|(w, t)| (
            Method::RobustZ,
            vec![("window", f64::from(w)), ("threshold", t)]
        )),
        (2u32..40, 0.5f64..20.0, 0.0f64..=1.0).prop_map(|(l, t, i)| (
            Method::SmoothedZ,
            vec![("lag", f64::from(l)), ("threshold", t), ("influence", i)]
        )),
    ];
    (method, direction, min_history).prop_map(|((method, params), direction, min_history)| Spec {
        direction,
        min_history,
        ..spec(method, &params)
    })
}

/// Values of a control metric, with now and then one that is missing or broken.
fn any_values() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        prop_oneof![
            20 => -1e6f64..1e6,
            3 => (0i32..5).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
        ],
        0..80,
    )
}

proptest! {
    #[test]
    fn judge_is_the_last_of_series(spec in any_spec(), values in any_values(), value in -1e6f64..1e6) {
        let d = spec.detector().unwrap();
        let mut all = values.clone();
        all.push(value);
        let series = d.series(&all);
        prop_assert_eq!(series.len(), all.len());
        let judged = d.judge(&values, value);
        prop_assert!(same(&judged, series.last().unwrap()), "{:?} vs {:?}", judged, series.last());
        // And so for every prefix.
        for (i, j) in series.iter().enumerate() {
            prop_assert!(same(&d.judge(&all[..i], all[i]), j));
        }
    }

    #[test]
    fn scores_are_in_bounds_and_match_verdicts(spec in any_spec(), values in any_values()) {
        let d = spec.detector().unwrap();
        for j in d.series(&values) {
            prop_assert!((0.0..=1.0).contains(&j.score), "{:?}", j);
            prop_assert_eq!(j.score > 0.5, j.verdict.is_spike(), "{:?}", j);
            if j.verdict == Verdict::NotEnoughHistory {
                prop_assert!(j.history_len < d.min_history());
            }
        }
    }

    #[test]
    fn constant_series_never_spike(spec in any_spec(), c in -1e9f64..1e9, len in 0usize..60) {
        let d = spec.detector().unwrap();
        prop_assert!(spikes(&d.series(&vec![c; len])).is_empty());
    }

    #[test]
    fn specs_survive_the_wire(spec in any_spec()) {
        let json = serde_json::to_string(&spec).unwrap();
        let back: Spec = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.method, spec.method);
        prop_assert_eq!(back.direction, spec.direction);
        prop_assert_eq!(back.min_history, spec.min_history);
        // serde_json may round the last digit of a float; the spec must stay valid.
        for (name, value) in &spec.params {
            prop_assert!((back.params[name] - value).abs() <= value.abs() * 1e-15);
        }
        prop_assert!(back.validate().is_ok());
    }
}
