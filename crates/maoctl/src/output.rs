//! Rendering for people (aligned tables, detail views) and for scripts (pretty JSON).
//!
//! Everything here is pure: it returns the text and `main` writes it, so a closed pipe
//! is handled in one place.

use mao_api::{Dataset, NodeInfo, Tool};

/// Marks a cell that was cut to fit its column.
const ELLIPSIS: char = '…';

/// Columns are separated by this much space.
const GAP: &str = "  ";

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

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
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
fn printable(s: &str) -> String {
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
fn details(fields: &[(&str, String)]) -> String {
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

/// The document pretty-printed, with a final newline.
pub fn json(value: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are strings.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The table of `maoctl tool list`.
pub fn tools_table(tools: &[Tool]) -> Table {
    let mut table = Table::new(&[
        ("NAME", None),
        ("AUTHOR", Some(20)),
        ("IMAGE", Some(40)),
        ("ARTEFACT", Some(30)),
        ("DESCRIPTION", Some(40)),
    ]);
    for tool in tools {
        table.push(vec![
            tool.name.clone(),
            tool.author.clone(),
            tool.image.clone(),
            tool.artefact.clone(),
            tool.description.clone(),
        ]);
    }
    table
}

/// The detail view of `maoctl tool get`.
pub fn tool_details(tool: &Tool) -> String {
    let env = tool
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let cmd = match &tool.cmd {
        Some(cmd) => shell_words(cmd),
        None => "(the image's default)".to_owned(),
    };
    details(&[
        ("Name", tool.name.clone()),
        ("Author", tool.author.clone()),
        ("Image", tool.image.clone()),
        ("Data repo", tool.data_repo.clone()),
        ("Code repo", tool.code_repo.clone()),
        ("Artefact", tool.artefact.clone()),
        ("Description", tool.description.clone()),
        ("Command", cmd),
        ("Environment", env),
    ])
}

/// The table of `maoctl dataset list`.
pub fn datasets_table(datasets: &[Dataset]) -> Table {
    let mut table = Table::new(&[
        ("NAME", None),
        ("MASTER", Some(50)),
        ("NODES", Some(30)),
        ("LOCAL", None),
        ("DESCRIPTION", Some(40)),
    ]);
    for dataset in datasets {
        table.push(vec![
            dataset.name.clone(),
            dataset.master.clone(),
            dataset.nodes.join(","),
            yes_no(dataset.local_only),
            dataset.description.clone(),
        ]);
    }
    table
}

/// The detail view of `maoctl dataset get`.
pub fn dataset_details(dataset: &Dataset) -> String {
    details(&[
        ("Name", dataset.name.clone()),
        ("Master", dataset.master.clone()),
        ("Nodes", dataset.nodes.join("\n")),
        ("Local only", yes_no(dataset.local_only)),
        ("Description", dataset.description.clone()),
    ])
}

/// The table of `maoctl node list`; `now` (Unix seconds) gives the age of each node.
pub fn nodes_table(nodes: &[NodeInfo], now: i64) -> Table {
    let mut table = Table::new(&[
        ("NAME", None),
        ("API URL", Some(40)),
        ("VERSION", Some(20)),
        ("STARTED", None),
        ("HOST/PID", Some(40)),
    ]);
    for node in nodes {
        let started = format!(
            "{} ({})",
            node.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            age(now - node.started_at.timestamp())
        );
        table.push(vec![
            node.name.clone(),
            node.api_url.clone(),
            node.version.clone(),
            started,
            format!("{}/{}", node.host, node.pid),
        ]);
    }
    table
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

fn yes_no(b: bool) -> String {
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
    use super::*;

    fn tool(name: &str, description: &str) -> Tool {
        Tool {
            name: name.to_owned(),
            author: "ada".to_owned(),
            image: "mao/demo:1".to_owned(),
            data_repo: "https://git.example.com/data.git".to_owned(),
            code_repo: "https://git.example.com/code.git".to_owned(),
            artefact: "out.csv".to_owned(),
            description: description.to_owned(),
            cmd: None,
            env: Default::default(),
        }
    }

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut t = Table::new(&[("NAME", None), ("VALUE", None), ("LAST", None)]);
        t.push(vec!["a".into(), "long value".into(), "".into()]);
        t.push(vec!["longer-name".into(), "v".into(), "x".into()]);
        assert_eq!(
            t.render(),
            "NAME         VALUE       LAST\n\
             a            long value\n\
             longer-name  v           x\n"
        );
    }

    #[test]
    fn empty_table_is_its_header() {
        let t = tools_table(&[]);
        assert!(t.is_empty());
        assert_eq!(t.render(), "NAME  AUTHOR  IMAGE  ARTEFACT  DESCRIPTION\n");
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        let mut t = Table::new(&[("A", Some(5)), ("B", None)]);
        t.push(vec!["abcdefgh".into(), "x".into()]);
        t.push(vec!["abcde".into(), "y".into()]);
        assert_eq!(t.render(), "A      B\nabcd…  x\nabcde  y\n");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn cells_stay_on_one_line_and_escape_free() {
        let table = tools_table(&[tool("demo", "line one\nline\ttwo\u{1b}[31m")]);
        let text = table.render();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("line one line two\u{fffd}[31m"));
    }

    #[test]
    fn tool_details_show_every_field() {
        let mut t = tool("demo", "first\nsecond");
        t.cmd = Some(vec!["run".into(), "--in".into(), "a file".into()]);
        t.env.insert("A".into(), "1".into());
        t.env.insert("B".into(), "x=y".into());
        let text = tool_details(&t);
        assert!(text.starts_with("Name:         demo\n"), "{text}");
        assert!(
            text.contains("Description:  first\n              second\n"),
            "{text}"
        );
        assert!(text.contains("Command:      run --in 'a file'\n"), "{text}");
        assert!(
            text.contains("Environment:  A=1\n              B=x=y\n"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.ends_with(' ')), "{text}");
    }

    #[test]
    fn dataset_table_and_details() {
        let d = Dataset {
            name: "weather".into(),
            master: "git@example.com:weather.git".into(),
            nodes: vec!["node-a".into(), "node-b".into()],
            description: String::new(),
            local_only: true,
        };
        assert_eq!(
            datasets_table(std::slice::from_ref(&d)).render(),
            "NAME     MASTER                       NODES          LOCAL  DESCRIPTION\n\
             weather  git@example.com:weather.git  node-a,node-b  yes\n"
        );
        let text = dataset_details(&d);
        assert!(
            text.contains("Nodes:        node-a\n              node-b\n"),
            "{text}"
        );
        assert!(text.contains("Local only:   yes\n"), "{text}");
    }

    #[test]
    fn nodes_table_shows_age_and_process() {
        let node: NodeInfo = serde_json::from_value(serde_json::json!({
            "name": "node-a",
            "api_url": "http://10.0.0.1:8080",
            "version": "0.1.0",
            "started_at": "2024-05-01T12:00:00Z",
            "host": "alpha",
            "pid": 4242,
        }))
        .unwrap();
        let now = node.started_at.timestamp() + 3 * 3600 + 59;
        assert_eq!(
            nodes_table(&[node], now).render(),
            "NAME    API URL               VERSION  STARTED                        HOST/PID\n\
             node-a  http://10.0.0.1:8080  0.1.0    2024-05-01T12:00:00Z (3h ago)  alpha/4242\n"
        );
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
    fn json_is_pretty_with_a_final_newline() {
        let text = json(&serde_json::json!({"items": []}));
        assert_eq!(text, "{\n  \"items\": []\n}\n");
    }
}
