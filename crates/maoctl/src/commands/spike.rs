//! `maoctl spike check`: the daemon's spike detector run offline over a series in a CSV
//! file, to try a method and its parameters on past values before configuring them.
//!
//! The same code as the daemon's (`mao_detector`), so a value gets here the verdict the
//! daemon would give it with the same history. No daemon, no endpoint.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use mao_detector::{Detector, Direction, Judgement, Method, Spec};
use serde::Serialize;

use crate::app::{read_text, write_stdout, OutputFormat, Printer, UsageError};
use crate::args::parse_key_value;
use crate::render;
use crate::render::spike::{Row, Series};

/// `maoctl spike ...`
#[derive(Debug, Subcommand)]
pub enum SpikeCommand {
    /// Judge every value of a CSV series against the values before it, as the daemon would
    #[command(after_help = check_help())]
    Check(SpikeCheck),
}

/// Arguments of `maoctl spike check`.
#[derive(Debug, Args)]
pub struct SpikeCheck {
    /// CSV file: one value per line, or timestamp,value with a header ('-' for standard input)
    pub file: PathBuf,
    /// Detection method [default: the daemon's default, see below]
    #[arg(
        long,
        value_name = "METHOD",
        value_parser = PossibleValuesParser::new(Method::ALL.map(Method::as_str))
            .map(|s| s.parse::<Method>().expect("a listed method")),
    )]
    pub method: Option<Method>,
    /// Parameter of the method, e.g. threshold=4 (repeatable; unset ones take defaults)
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, f64)>,
    /// Which way a spike must go to count
    #[arg(
        long,
        value_name = "DIRECTION",
        default_value = "both",
        value_parser = PossibleValuesParser::new(["both", "up", "down"])
            .map(|s| s.parse::<Direction>().expect("a listed direction")),
    )]
    pub direction: Direction,
    /// Values of history needed before a verdict [default: the method's]
    #[arg(long, value_name = "N")]
    pub min_history: Option<usize>,
    /// Print only the score of each row (0 to 1, above 0.5 for a spike), one per line
    #[arg(long)]
    pub scores: bool,
}

fn check_help() -> String {
    let mut text = String::from(
        "\
Examples:
  maoctl spike check control.csv
  maoctl spike check control.csv --method percent --param threshold=10
  maoctl spike check control.csv --method robust-z --param window=20 --direction up -o json
  maoctl spike check values.txt --scores | paste -d, values.txt -

The file holds one value per line (a first line `value` is a header), or two columns
with a header whose second name is `value` (e.g. `timestamp,value`). Blank lines are
skipped. An empty cell or NaN is a missing value: its row is kept, scores 0 and is left
out of the history of the rows after it. Any other cell that is not a finite number is
an error naming its line.

Each row is judged against the rows before it, exactly as the daemon judges a run's
metric against the runs before it. The table ends with a summary line; -o json prints
an array with one object per row; --scores prints one score per row and nothing else.
Exit status: 0 whether or not there are spikes, 2 for a bad file or option.

Methods and their parameters (default in brackets):
",
    );
    let default = mao_detector::DEFAULT_METHOD;
    for method in Method::ALL {
        let mark = if method == default {
            " (the default)"
        } else {
            ""
        };
        text.push_str(&format!("  {method}{mark}\n"));
        for def in method.param_defs() {
            text.push_str(&format!(
                "    {} [{}]: {}\n",
                def.name, def.default, def.help
            ));
        }
    }
    text
}

/// `NAME=VALUE` with a number for the value.
fn parse_param(s: &str) -> Result<(String, f64), String> {
    let (name, value) = parse_key_value(s)?;
    let number = value
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("the value of {name} must be a number, not {value:?}"))?;
    Ok((name, number))
}

/// Runs `maoctl spike ...`: offline, no daemon, so the endpoint does not matter.
pub fn run(out: &Printer, command: SpikeCommand) -> anyhow::Result<()> {
    match command {
        SpikeCommand::Check(args) => check(out, args),
    }
}

fn check(out: &Printer, args: SpikeCheck) -> anyhow::Result<()> {
    let detector = detector(&args)?;
    let (text, shown) = read_text(&args.file, "series")?;
    let series = parse_series(&text).map_err(|e| UsageError(format!("{shown}: {e}")))?;
    let values: Vec<f64> = series.rows.iter().map(|r| r.value).collect();
    let judgements = detector.series(&values);
    let report = if args.scores {
        scores(&judgements)
    } else {
        match out.format {
            OutputFormat::Json => json(&series, &judgements)?,
            OutputFormat::Table => render::spike::table(&series, &judgements, &detector.spec()),
        }
    };
    write_stdout(&report)
}

/// The detector the flags describe; a mistake in them is a usage error.
fn detector(args: &SpikeCheck) -> Result<Detector, UsageError> {
    let mut params = BTreeMap::new();
    for (name, value) in &args.params {
        if params.insert(name.clone(), *value).is_some() {
            return Err(UsageError(format!("--param {name} is given twice")));
        }
    }
    let spec = Spec {
        method: args.method,
        params,
        direction: args.direction,
        min_history: args.min_history,
    };
    spec.detector().map_err(UsageError)
}

/// Reads a series: one value per line (optionally under a header `value`), or two
/// columns under a header whose second name is `value`. Errors name the line.
fn parse_series(text: &str) -> Result<Series, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();
    let Some(&(first_line, first)) = lines.peek() else {
        return Err("no values: the file is empty".to_owned());
    };
    let header: Vec<String> = cells(first).map(|c| c.to_ascii_lowercase()).collect();
    let timestamps = match header.as_slice() {
        [value] if value == "value" => {
            lines.next();
            false
        }
        [_] => false,
        [_, value] if value == "value" => {
            lines.next();
            true
        }
        _ => {
            return Err(format!(
                "line {first_line}: expected one value per line, or a header like \
                 timestamp,value for two columns, found {first:?}"
            ))
        }
    };
    let mut rows = Vec::new();
    for (line, text) in lines {
        let cells: Vec<&str> = cells(text).collect();
        let (timestamp, value) = match (timestamps, cells.as_slice()) {
            (false, [value]) => (None, *value),
            (true, [timestamp, value]) => (Some((*timestamp).to_owned()), *value),
            (false, _) => {
                return Err(format!(
                    "line {line}: expected one value, found {} cells",
                    cells.len()
                ))
            }
            (true, _) => {
                return Err(format!(
                    "line {line}: expected 2 cells (timestamp,value), found {}",
                    cells.len()
                ))
            }
        };
        rows.push(Row {
            line,
            timestamp,
            value: parse_value(value).map_err(|e| format!("line {line}: {e}"))?,
        });
    }
    if rows.is_empty() {
        return Err("no values: the file has only a header".to_owned());
    }
    Ok(Series { timestamps, rows })
}

/// The cells of a CSV line, trimmed, without surrounding double quotes.
fn cells(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(|cell| {
        let cell = cell.trim();
        cell.strip_prefix('"')
            .and_then(|c| c.strip_suffix('"'))
            .unwrap_or(cell)
            .trim()
    })
}

/// A finite number, or NaN for a missing value (an empty cell or `NaN`).
fn parse_value(cell: &str) -> Result<f64, String> {
    if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{cell:?} is not a finite number")),
        Err(_) => Err(format!("{cell:?} is not a number")),
    }
}

/// One score per row, one per line: what `--scores` prints.
fn scores(judgements: &[Judgement]) -> String {
    judgements
        .iter()
        .map(|j| format!("{}\n", j.score))
        .collect()
}

/// A row as `-o json` prints it: its place in the file and the detector's judgement.
#[derive(Serialize)]
struct JsonRow<'a> {
    /// Data row, from 1.
    row: usize,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(flatten)]
    judgement: &'a Judgement,
}

fn json(series: &Series, judgements: &[Judgement]) -> anyhow::Result<String> {
    let rows: Vec<JsonRow> = series
        .rows
        .iter()
        .zip(judgements)
        .enumerate()
        .map(|(i, (row, judgement))| JsonRow {
            row: i + 1,
            line: row.line,
            timestamp: row.timestamp.as_deref(),
            judgement,
        })
        .collect();
    // Straight from the rows, to keep the fields in their order; NaN becomes null.
    let mut text = serde_json::to_string_pretty(&rows)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(series: &Series) -> Vec<f64> {
        series.rows.iter().map(|r| r.value).collect()
    }

    #[test]
    fn one_value_per_line_with_or_without_header() {
        for text in [
            "1\n2.5\n\n-3\n",
            "value\n1\n2.5\n-3",
            "  VALUE \r\n1\r\n2.5\r\n-3\r\n",
        ] {
            let series = parse_series(text).unwrap();
            assert!(!series.timestamps);
            assert_eq!(values(&series), vec![1.0, 2.5, -3.0], "{text:?}");
        }
        let series = parse_series("\n\nvalue\n7\n").unwrap();
        assert_eq!(series.rows[0].line, 4);
    }

    #[test]
    fn timestamp_and_value_with_a_header() {
        let series =
            parse_series("timestamp,value\n2024-05-01,10\n\"2024-05-02\", \"11\"\n").unwrap();
        assert!(series.timestamps);
        assert_eq!(
            series.rows[1],
            Row {
                line: 3,
                timestamp: Some("2024-05-02".into()),
                value: 11.0
            }
        );
        assert!(parse_series("date,value\nmon,1\n").unwrap().timestamps);
    }

    #[test]
    fn missing_values_are_kept_as_nan() {
        let series = parse_series("value\n1\n\"\"\nNaN\nnan\n2\n").unwrap();
        let v = values(&series);
        assert_eq!(v.len(), 5);
        assert!(v[1].is_nan() && v[2].is_nan() && v[3].is_nan());
        let series = parse_series("t,value\na,\nb,3\n").unwrap();
        assert!(series.rows[0].value.is_nan());
    }

    #[test]
    fn mistakes_name_their_line() {
        for (text, message) in [
            ("1\n2\nabc\n", r#"line 3: "abc" is not a number"#),
            ("value\n1\ninf\n", r#"line 3: "inf" is not a finite number"#),
            (
                "value\n1\n1,2\n",
                "line 3: expected one value, found 2 cells",
            ),
            (
                "timestamp,value\na,1\nb\n",
                "line 3: expected 2 cells (timestamp,value), found 1",
            ),
            (
                "a,b\n1,2\n",
                r#"line 1: expected one value per line, or a header like timestamp,value for two columns, found "a,b""#,
            ),
            ("value\n12x\n", r#"line 2: "12x" is not a number"#),
            ("", "no values: the file is empty"),
            ("\n \n", "no values: the file is empty"),
            ("timestamp,value\n", "no values: the file has only a header"),
        ] {
            assert_eq!(parse_series(text).unwrap_err(), message, "{text:?}");
        }
    }

    #[test]
    fn params_are_numbers_and_given_once() {
        assert_eq!(
            parse_param("threshold=4").unwrap(),
            ("threshold".into(), 4.0)
        );
        assert!(parse_param("threshold=four")
            .unwrap_err()
            .contains("must be a number"));
        assert!(parse_param("threshold").is_err());
        let args = SpikeCheck {
            file: "-".into(),
            method: Some(Method::Percent),
            params: vec![("window".into(), 3.0), ("window".into(), 4.0)],
            direction: Direction::Both,
            min_history: None,
            scores: false,
        };
        assert_eq!(
            detector(&args).unwrap_err().0,
            "--param window is given twice"
        );
    }

    #[test]
    fn table_json_and_scores_say_the_same() {
        let series = parse_series("timestamp,value\nd1,100\nd2,100\nd3,\nd4,150\n").unwrap();
        let detector = Spec {
            method: Some(Method::Percent),
            ..Spec::default()
        }
        .detector()
        .unwrap();
        let judgements = detector.series(&values(&series));
        assert_eq!(
            render::spike::table(&series, &judgements, &detector.spec()),
            "ROW  TIMESTAMP  VALUE  BASELINE  CHANGE  SCORE  VERDICT\n\
             1    d1         100    -         -       0.000  not enough history\n\
             2    d2         100    -         -       0.000  not enough history\n\
             3    d3         -      100       -       0.000  missing\n\
             4    d4         150    100       +50.0%  0.893  SPIKE UP\n\
             4 points, 1 missing, 1 spike (1 up, 0 down); method percent (threshold=6 window=2), direction both, min history 2\n"
        );
        assert_eq!(scores(&judgements), "0\n0\n0\n0.8928571428571429\n");
        let doc: serde_json::Value =
            serde_json::from_str(&json(&series, &judgements).unwrap()).unwrap();
        assert_eq!(doc.as_array().unwrap().len(), 4);
        assert_eq!(doc[2]["value"], serde_json::Value::Null);
        assert_eq!(doc[3]["verdict"], "spike_up");
        assert_eq!(doc[3]["timestamp"], "d4");
        assert_eq!(doc[3]["row"], 4);
        assert_eq!(doc[3]["line"], 5);
        assert_eq!(doc[3]["baseline"], 100.0);
    }
}
