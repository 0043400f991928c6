//! The table of `maoctl spike check`: each value of a series and the detector's verdict.

use mao_api::notification::{Judgement, Verdict};
use mao_api::DetectorSpec;

use super::table::Table;

/// A series read from a CSV file.
#[derive(Debug, PartialEq)]
pub struct Series {
    /// Whether the file has a timestamp (first) column.
    pub timestamps: bool,
    pub rows: Vec<Row>,
}

/// One data row.
#[derive(Debug, PartialEq)]
pub struct Row {
    /// Line in the file, from 1.
    pub line: usize,
    /// The first cell of a two-column file.
    pub timestamp: Option<String>,
    /// The value; NaN when the cell is empty or NaN.
    pub value: f64,
}

/// The table of `maoctl spike check`, then one summary line; `detector` is the
/// effective spec, its defaults filled in.
pub fn table(series: &Series, judgements: &[Judgement], detector: &DetectorSpec) -> String {
    let mut columns = vec![("ROW", None)];
    if series.timestamps {
        columns.push(("TIMESTAMP", Some(32)));
    }
    columns.extend([
        ("VALUE", None),
        ("BASELINE", None),
        ("CHANGE", None),
        ("SCORE", None),
        ("VERDICT", None),
    ]);
    let mut table = Table::new(&columns);
    for (i, (row, j)) in series.rows.iter().zip(judgements).enumerate() {
        let mut cells = vec![(i + 1).to_string()];
        if let Some(timestamp) = &row.timestamp {
            cells.push(timestamp.clone());
        }
        let missing = !row.value.is_finite();
        cells.extend([
            if missing {
                "-".to_owned()
            } else {
                number(row.value)
            },
            j.baseline.map_or_else(|| "-".to_owned(), number),
            j.change_pct
                .map_or_else(|| "-".to_owned(), |c| format!("{c:+.1}%")),
            format!("{:.3}", j.score),
            if missing {
                "missing".to_owned()
            } else {
                verdict_text(j.verdict).to_owned()
            },
        ]);
        table.push(cells);
    }
    let mut text = table.render();
    text.push_str(&summary(series, judgements, detector));
    text
}

/// A verdict in words for people (`SPIKE UP`), not the wire name.
pub fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::SpikeUp => "SPIKE UP",
        Verdict::SpikeDown => "SPIKE DOWN",
        Verdict::Normal => "normal",
        Verdict::NotEnoughHistory => "not enough history",
    }
}

/// `1127 points, 3 spikes (1 up, 2 down); method smoothed-z (influence=0.75 lag=30
/// threshold=10), direction both, min history 5`
fn summary(series: &Series, judgements: &[Judgement], detector: &DetectorSpec) -> String {
    let count = |v: Verdict| judgements.iter().filter(|j| j.verdict == v).count();
    let (up, down) = (count(Verdict::SpikeUp), count(Verdict::SpikeDown));
    let missing = series.rows.iter().filter(|r| !r.value.is_finite()).count();
    let params: Vec<String> = detector
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let missing = if missing > 0 {
        format!(", {missing} missing")
    } else {
        String::new()
    };
    let spikes = match up + down {
        1 => "1 spike".to_owned(),
        n => format!("{n} spikes"),
    };
    format!(
        "{} points{missing}, {spikes} ({up} up, {down} down); method {} ({}), direction {}, \
         min history {}\n",
        series.rows.len(),
        detector.method.map(|m| m.to_string()).unwrap_or_default(),
        params.join(" "),
        detector.direction,
        detector.min_history.unwrap_or_default()
    )
}

/// A number for a table cell: at most 3 decimals, no trailing zeros; exponent notation
/// for very large or very small magnitudes.
fn number(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-3..1e9).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(number(102.0), "102");
        assert_eq!(number(10.666_666), "10.667");
        assert_eq!(number(-0.0001), "-1.000e-4");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1.5e10), "1.500e10");
    }
}
