//! Measures every method over a grid of parameters on the labelled series of
//! `tests/data/` and prints the tables of docs/detector.md:
//!
//! ```text
//! cargo run --release -p mao-detector --example evaluate
//! ```

// The measurement of the integration tests, so both report the same figures.
#[path = "../tests/it/scoring.rs"]
mod scoring;

use mao_detector::Method;

fn params_text(params: &[(&str, f64)]) -> String {
    let text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    text.join(" ")
}

fn main() {
    let series = scoring::load_all();
    let points: usize = series.iter().map(|s| s.values.len()).sum();
    println!(
        "{} series, {points} points: {}",
        series.len(),
        series.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
    );

    println!("\nEvery parameter set of the grid:\n");
    println!("| method | parameters | detected | false alarms | precision | recall | F1 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (method, params) in scoring::grid() {
        let c = scoring::score_all(&scoring::detector(method, &params), &series);
        println!(
            "| {method} | {} | {}/{} | {} | {:.2} | {:.2} | {:.2} |",
            params_text(&params),
            c.detected,
            c.events,
            c.false_alarms,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }

    println!("\nThe best of each method, and the original rule, per series:\n");
    let mut rows = vec![(
        Method::Percent,
        vec![("window", 2.0), ("threshold", 6.0)],
        "the original rule",
    )];
    for method in Method::ALL {
        rows.push((method, scoring::best(method, &series).0, "best of the grid"));
    }
    print!("| method | parameters | |");
    for s in &series {
        print!(" {} |", s.name);
    }
    println!(" all | F1 |");
    println!("|---|---|---|{}---:|---:|", "---:|".repeat(series.len()));
    for (method, params, what) in rows {
        let detector = scoring::detector(method, &params);
        print!("| {method} | {} | {what} |", params_text(&params));
        for s in &series {
            let c = scoring::score(&detector, s);
            print!(" {}/{}, {} |", c.detected, c.events, c.false_alarms);
        }
        let c = scoring::score_all(&detector, &series);
        println!(
            " {}/{}, {} | {:.2} |",
            c.detected,
            c.events,
            c.false_alarms,
            c.f1()
        );
    }
    println!("\n(cells: detected events/events, false alarms)");
    let default = mao_detector::default_spec();
    println!(
        "\nThe default (mao_detector::default_spec()): {}",
        serde_json::to_string(&default).expect("a spec serializes")
    );
}
