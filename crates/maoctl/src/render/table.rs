//! What every view is made of: aligned tables, `key: value` details, and the words
//! for durations, sizes, ages and commands.

use chrono::{DateTime, Utc};
use mao_api::RunLimits;

/// Marks a cell that was cut to fit its column.
pub const ELLIPSIS: char = '…';

/// Columns are separated by this much space.
pub const GAP: &str = "  ";

/// A table with a header row; a column may have a maximum width beyond which cells are cut.
pub struct Table {
    headers: Vec<&'static str>,
    max_widths: Vec<Option<usize>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns, each `(header, max width)`.
    pub fn new(columns: &[(&'static str, Option<usize>)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| *h).collect(),
            max_widths: columns.iter().map(|(_, w)| *w).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; cells are made single-line and cut to their column's maximum width.
    pub fn push(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        let row = cells
            .into_iter()
            .zip(&self.max_widths)
            .map(|(cell, max)| {
                let cell = one_line(&cell);
                match max {
                    Some(max) => truncate(&cell, *max),
                    None => cell,
                }
            })
            .collect();
        self.rows.push(row);
    }

    /// The aligned text, header first, each line ending in a newline, no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str(GAP);
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - width(cell)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

// Characters, not terminal cells: wide (CJK) characters misalign a column, which is
// cosmetic, and a display-width table is not worth a dependency here.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Cuts `s` to at most `max` characters, the last being an ellipsis when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push(ELLIPSIS);
    out
}

/// Line breaks and tabs become spaces and other control characters U+FFFD, so that a
/// value cannot break a table row or send escape sequences to the terminal.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect()
}

/// Like [`one_line`] but keeps line breaks, for multi-line values in a detail view.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect()
}

/// `key: value` lines with the values aligned; continuation lines are indented.
pub fn details(fields: &[(&str, String)]) -> String {
    let key_width = fields.iter().map(|(k, _)| width(k) + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in fields {
        let value = printable(value);
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        let line = format!("{:<key_width$}{GAP}{first}", format!("{key}:"));
        out.push_str(line.trim_end());
        out.push('\n');
        for more in lines {
            let line = format!("{:key_width$}{GAP}{more}", "");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// `timeout=10m memory=512m cpus=1.5 pids=100`, the flags' names; `empty` when none is set.
pub fn limits_text(limits: &RunLimits, empty: &str) -> String {
    let mut parts = Vec::new();
    if let Some(timeout) = &limits.timeout {
        parts.push(format!("timeout={timeout}"));
    }
    if let Some(memory) = &limits.memory {
        parts.push(format!("memory={memory}"));
    }
    if let Some(cpus) = limits.cpus {
        parts.push(format!("cpus={cpus}"));
    }
    if let Some(pids) = limits.pids {
        parts.push(format!("pids={pids}"));
    }
    if parts.is_empty() {
        empty.to_owned()
    } else {
        parts.join(" ")
    }
}

/// How long ago something started, `-` if it has not.
pub fn started_ago(started: Option<DateTime<Utc>>, now_ms: i64) -> String {
    match started {
        Some(at) => age((now_ms - at.timestamp_millis()).div_euclid(1000)),
        None => "-".to_owned(),
    }
}

/// Milliseconds from `started` to `finished`, or to `now_ms` while it goes on.
pub fn duration_ms(
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    now_ms: i64,
) -> Option<i64> {
    let start = started?.timestamp_millis();
    let end = finished.map_or(now_ms, |at| at.timestamp_millis());
    Some((end - start).max(0))
}

/// Characters of a commit id shown where space is short (`git log --abbrev=8`).
const SHORT_COMMIT: usize = 8;

/// The first characters of a commit id when `short`, else all of it.
pub fn short_commit(commit: &str, short: bool) -> String {
    if short {
        commit.chars().take(SHORT_COMMIT).collect()
    } else {
        commit.to_owned()
    }
}

/// How long something took, with its start and end; or that it has not ended or started.
pub fn span(started: Option<DateTime<Utc>>, finished: Option<DateTime<Utc>>) -> String {
    match (started, finished) {
        (Some(start), Some(end)) => format!(
            "{} ({} → {})",
            human_duration((end - start).num_milliseconds().max(0)),
            start.format(TIMESTAMP),
            end.format(TIMESTAMP)
        ),
        (Some(start), None) => format!("started {}", start.format(TIMESTAMP)),
        (None, _) => "(it never started)".to_owned(),
    }
}

/// The value as text, or nothing.
pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// How instants are shown: UTC, to the second, as RFC 3339 writes them.
pub const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%SZ";

/// A duration for people, to about two significant units: `350ms`, `1.2s`, `42s`,
/// `3m04s`, `2h05m`, `3d04h`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..=9 => format!("{secs}.{}s", ms % 1000 / 100),
        10..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs / 3600 % 24),
    }
}

/// Elapsed time as a clock: `0:07`, `3:04`, `1:02:03`.
pub fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A size for people, in powers of 1024: `0 B`, `812 B`, `1.2 KiB`, `34 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// How long ago, in the largest whole unit: `42s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn age(seconds: i64) -> String {
    match seconds {
        // Clocks of federation members drift; a start "in the future" is just recent.
        s if s < 1 => "just now".to_owned(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// Arguments joined so that a POSIX shell would split them back the same way.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::render::fixtures::assert_no_trailing_spaces;

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut t = Table::new(&[("NAME", None), ("VALUE", None), ("LAST", None)]);
        t.push(vec!["a".into(), "long value".into(), "".into()]);
        t.push(vec!["longer-name".into(), "v".into(), "x".into()]);
        let text = t.render();
        assert_no_trailing_spaces(&text);
        expect![[r#"
            NAME         VALUE       LAST
            a            long value
            longer-name  v           x
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        let mut t = Table::new(&[("A", Some(5)), ("B", None)]);
        t.push(vec!["abcdefgh".into(), "x".into()]);
        t.push(vec!["abcde".into(), "y".into()]);
        expect![[r#"
            A      B
            abcd…  x
            abcde  y
        "#]]
        .assert_eq(&t.render());
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn ages() {
        assert_eq!(age(-5), "just now");
        assert_eq!(age(0), "just now");
        assert_eq!(age(59), "59s ago");
        assert_eq!(age(60), "1m ago");
        assert_eq!(age(7200), "2h ago");
        assert_eq!(age(3 * 86_400 + 5), "3d ago");
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let args: Vec<String> = ["python", "run.py", "--name=x", "two words", "it's", ""]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            shell_words(&args),
            r#"python run.py --name=x 'two words' 'it'\''s' ''"#
        );
    }

    #[test]
    fn human_durations() {
        for (ms, text) in [
            (-5, "0ms"),
            (0, "0ms"),
            (350, "350ms"),
            (1_000, "1.0s"),
            (1_290, "1.2s"),
            (9_999, "9.9s"),
            (42_000, "42s"),
            (184_500, "3m04s"),
            (3_600_000, "1h00m"),
            (7_500_000, "2h05m"),
            (273_600_000, "3d04h"),
        ] {
            assert_eq!(human_duration(ms), text, "{ms}");
        }
    }

    #[test]
    fn clocks_and_sizes() {
        assert_eq!(clock(7), "0:07");
        assert_eq!(clock(184), "3:04");
        assert_eq!(clock(3723), "1:02:03");
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1300), "1.3 KiB");
        assert_eq!(human_size(34 << 20), "34 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
