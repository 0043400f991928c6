//! Rendering for people (aligned tables, detail views) and for scripts (pretty JSON).
//!
//! Everything here is pure: it returns the text and `main` writes it, so a closed pipe
//! is handled in one place.

use chrono::{DateTime, Utc};
use mao_api::{
    Dataset, FireTime, GitOutcome, GroundTruth, InitReport, LocalDataset, NodeInfo, Pipeline,
    PipelineRun, RunLimits, RunRecord, RunStatus, ScheduleView, SlotRecord, Target, Tool,
};
use serde::Serialize;

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
        ("Limits", limits_text(&tool.limits, "(the node's defaults)")),
        ("Docker socket", yes_no(tool.docker_socket)),
    ])
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

/// The table of `maoctl run list`; `now_ms` (Unix milliseconds) gives ages and the
/// duration of runs still going.
pub fn runs_table(runs: &[RunRecord], now_ms: i64) -> Table {
    let mut table = Table::new(&[
        ("ID", None),
        ("TOOL", Some(30)),
        ("STATUS", None),
        ("EXIT", None),
        ("STARTED", None),
        ("DURATION", None),
        ("TRIGGER", Some(40)),
    ]);
    for run in runs {
        table.push(vec![
            run.id.clone(),
            run.tool.clone(),
            run.status.as_str().to_owned(),
            run.exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            started_ago(run.started_at, now_ms),
            duration_ms(run.started_at, run.finished_at, now_ms)
                .map_or_else(|| "-".to_owned(), human_duration),
            run.trigger.clone(),
        ]);
    }
    table
}

/// How long ago something started, `-` if it has not.
fn started_ago(started: Option<DateTime<Utc>>, now_ms: i64) -> String {
    match started {
        Some(at) => age((now_ms - at.timestamp_millis()).div_euclid(1000)),
        None => "-".to_owned(),
    }
}

/// Milliseconds from `started` to `finished`, or to `now_ms` while it goes on.
fn duration_ms(
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    now_ms: i64,
) -> Option<i64> {
    let start = started?.timestamp_millis();
    let end = finished.map_or(now_ms, |at| at.timestamp_millis());
    Some((end - start).max(0))
}

/// Milliseconds from the start of the run to its end, or to `now_ms` while it runs.
fn run_duration_ms(run: &RunRecord, now_ms: i64) -> Option<i64> {
    duration_ms(run.started_at, run.finished_at, now_ms)
}

/// The detail view of `maoctl run get`: every field of the record.
pub fn run_details(run: &RunRecord, now_ms: i64) -> String {
    let cmd = match &run.cmd {
        Some(cmd) => shell_words(cmd),
        None => "(the image's default)".to_owned(),
    };
    let duration = match run_duration_ms(run, now_ms) {
        Some(ms) if run.finished_at.is_none() => format!("{} so far", human_duration(ms)),
        Some(ms) => human_duration(ms),
        None => String::new(),
    };
    let mut fields = vec![
        ("ID", run.id.clone()),
        ("Tool", run.tool.clone()),
        ("Pipeline", run.pipeline.clone().unwrap_or_default()),
        ("Pipeline run", run.pipeline_run.clone().unwrap_or_default()),
        ("Step", run.step.clone().unwrap_or_default()),
        ("Node", run.node.clone()),
        ("Trigger", run.trigger.clone()),
        ("Schedule", run.schedule.clone().unwrap_or_default()),
        ("Slot", slot_text(run)),
        ("Status", run.status.as_str().to_owned()),
        ("Exit code", optional(run.exit_code)),
        ("Error", run.error.clone().unwrap_or_default()),
        ("Image", run.image.clone()),
        ("Image digest", run.image_digest.clone().unwrap_or_default()),
        ("Command", cmd),
        ("Environment", run.env_keys.join("\n")),
        ("Limits", limits_text(&run.limits, "")),
        ("Data folder", run.data_dir.clone()),
        ("Input folder", run.input_dir.clone().unwrap_or_default()),
        ("Queued", run.queued_at.format(TIMESTAMP).to_string()),
        (
            "Started",
            optional(run.started_at.map(|at| at.format(TIMESTAMP))),
        ),
        (
            "Finished",
            optional(run.finished_at.map(|at| at.format(TIMESTAMP))),
        ),
        ("Duration", duration),
        ("Log file", run.log_path.clone()),
        (
            "Log size",
            if run.status.is_finished() || run.log_bytes > 0 {
                log_size(run)
            } else {
                "(known when the run has ended)".to_owned()
            },
        ),
        ("Container", run.container_id.clone().unwrap_or_default()),
    ];
    if let Some(git) = &run.git {
        fields.extend(git_fields(git, false));
    }
    fields.extend(detection_fields(run));
    details(&fields)
}

/// The detector's work on a run's metrics, the way the original reported it: per metric
/// the value, the baseline and the snapshots it came from, the difference, the change in
/// percent, the score and the verdict.
pub fn detection_fields(run: &RunRecord) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(spec) = &run.detector {
        if !run.detection.is_empty() || !run.metrics.is_empty() {
            let method = match spec.detector() {
                Ok(d) => {
                    let params: Vec<String> =
                        d.params().iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{} ({})", d.method(), params.join(", "))
                }
                Err(e) => format!("unusable: {e}"),
            };
            fields.push(("Detector", method));
        }
    }
    let lines: Vec<String> = run
        .detection
        .iter()
        .map(|m| {
            let j = &m.judgement;
            let verdict = match j.verdict {
                mao_api::Verdict::SpikeUp => "SPIKE UP",
                mao_api::Verdict::SpikeDown => "SPIKE DOWN",
                mao_api::Verdict::Normal => "normal",
                mao_api::Verdict::NotEnoughHistory => "not enough history",
            };
            if j.verdict == mao_api::Verdict::NotEnoughHistory {
                return format!(
                    "{}: {} (not enough history yet: {} snapshots)",
                    m.metric, j.value, j.history_len
                );
            }
            let baseline = j.baseline.map_or("-".to_owned(), |b| format!("{b}"));
            let difference = j.difference.map_or("-".to_owned(), |d| format!("{d:+}"));
            let change = j.change_pct.map_or("-".to_owned(), |c| format!("{c:+.1} %"));
            format!(
                "{}: {} against baseline {baseline} ({} snapshots), difference {difference}, change {change}, score {:.2}: {verdict}",
                m.metric, j.value, j.history_len, j.score
            )
        })
        .collect();
    if !lines.is_empty() {
        fields.push(("Metrics", lines.join("\n")));
    } else if !run.metrics.is_empty() {
        let values: Vec<String> = run
            .metrics
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        fields.push(("Metrics", values.join("\n")));
    }
    if let Some(e) = &run.metrics_error {
        fields.push(("Metrics error", e.clone()));
    }
    fields
}

/// Characters of a commit id shown where space is short (`git log --abbrev=8`).
const SHORT_COMMIT: usize = 8;

fn short_commit(commit: &str, short: bool) -> String {
    if short {
        commit.chars().take(SHORT_COMMIT).collect()
    } else {
        commit.to_owned()
    }
}

/// What a pipeline step did in git, as detail fields; `short` abbreviates commit ids.
/// Fields without a value are left out.
pub fn git_fields(git: &GitOutcome, short: bool) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("Dataset", git.dataset.clone()),
        ("Branch", git.branch.clone()),
    ];
    if !short {
        if let Some(base) = &git.base {
            fields.push(("Base", base.clone()));
        }
    }
    if let Some(commit) = &git.commit {
        fields.push(("Commit", short_commit(commit, short)));
    }
    let push = match git.push {
        mao_api::PushState::Pending => "pending (the daemon retries)".to_owned(),
        mao_api::PushState::Conflict => {
            "conflict (the remote branch has other commits; nothing is pushed until an \
             operator resolves it)"
                .to_owned()
        }
        state => state.as_str().to_owned(),
    };
    fields.push(("Push", push));
    if let Some(error) = &git.push_error {
        fields.push(("Push error", error.clone()));
    }
    if let Some(at) = git.pushed_at {
        fields.push(("Pushed at", at.format(TIMESTAMP).to_string()));
    }
    if let Some(failed) = &git.failed_ref {
        fields.push(("Failed ref", failed.clone()));
    }
    if let Some(input) = &git.input {
        fields.push((
            "Input",
            format!(
                "{}@{} ({})",
                input.dataset,
                short_commit(&input.commit, short),
                input.branch
            ),
        ));
    }
    if let Some(merge) = &git.ground_truth {
        let mut text = merge.outcome.clone();
        if let Some(commit) = &merge.commit {
            text.push(' ');
            text.push_str(&short_commit(commit, short));
        }
        if let Some(message) = &merge.message {
            text.push_str(": ");
            text.push_str(message);
        }
        fields.push(("Ground truth", text));
    }
    fields
}

/// The slot a scheduled run is for, and how late it started.
fn slot_text(run: &RunRecord) -> String {
    let Some(slot) = run.scheduled_at else {
        return String::new();
    };
    let slot_text = slot.format(TIMESTAMP).to_string();
    match run.started_at {
        Some(start) => format!(
            "{slot_text} (started {} later)",
            human_duration((start - slot).num_milliseconds())
        ),
        None => slot_text,
    }
}

/// What `maoctl tool run` prints once the run has ended.
pub fn run_report(run: &RunRecord) -> String {
    let mut fields = vec![
        ("Run", run.id.clone()),
        ("Tool", run.tool.clone()),
        ("Image", run.image.clone()),
    ];
    if let Some(digest) = &run.image_digest {
        fields.push(("Image digest", digest.clone()));
    }
    fields.extend([
        ("Data folder", run.data_dir.clone()),
        ("Trigger", run.trigger.clone()),
        ("Status", run.status.as_str().to_owned()),
    ]);
    if let Some(code) = run.exit_code {
        fields.push(("Exit code", code.to_string()));
    }
    fields.push(("Duration", span(run.started_at, run.finished_at)));
    if let Some(error) = &run.error {
        fields.push(("Error", error.clone()));
    }
    fields.push((
        "Log",
        format!("{} (maoctl run logs {})", log_size(run), run.id),
    ));
    fields.extend(detection_fields(run));
    details(&fields)
}

/// How long something took, with its start and end; or that it has not ended or started.
fn span(started: Option<DateTime<Utc>>, finished: Option<DateTime<Utc>>) -> String {
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

fn log_size(run: &RunRecord) -> String {
    let size = human_size(run.log_bytes);
    if run.log_truncated {
        format!("{size}, truncated")
    } else {
        size
    }
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// How instants are shown: UTC, to the second, as RFC 3339 writes them.
const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%SZ";

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
            node.started_at.format(TIMESTAMP),
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

/// `maoctl notification list`: newest first.
pub fn notifications_table(items: &[mao_api::Notification]) -> Table {
    let mut table = Table::new(&[
        ("ID", None),
        ("CREATED", None),
        ("KIND", None),
        ("SEVERITY", None),
        ("NODE", Some(20)),
        ("TARGET", Some(30)),
        ("ACK", Some(16)),
        ("MESSAGE", Some(80)),
    ]);
    for n in items {
        table.push(vec![
            n.id.clone(),
            n.created_at.format(TIMESTAMP).to_string(),
            n.kind.as_str().to_owned(),
            format!("{:?}", n.severity).to_lowercase(),
            n.node.clone(),
            n.target(),
            n.acknowledged_by.clone().unwrap_or_else(|| "-".into()),
            one_line(&n.message),
        ]);
    }
    table
}

/// `maoctl notification get`: every field.
pub fn notification_details(n: &mao_api::Notification) -> String {
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let fields = [
        ("ID", n.id.clone()),
        ("Kind", n.kind.as_str().to_owned()),
        ("Severity", format!("{:?}", n.severity).to_lowercase()),
        ("Node", n.node.clone()),
        ("Tool", n.tool.clone().unwrap_or_default()),
        ("Pipeline", n.pipeline.clone().unwrap_or_default()),
        ("Step", n.step.clone().unwrap_or_default()),
        ("Run", n.run_id.clone().unwrap_or_default()),
        ("Dataset", n.dataset.clone().unwrap_or_default()),
        ("Metric", n.metric.clone().unwrap_or_default()),
        ("Value", num(n.value)),
        ("Baseline", num(n.baseline)),
        (
            "Score",
            n.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
        ),
        ("Message", n.message.clone()),
        ("Created", n.created_at.format(TIMESTAMP).to_string()),
        (
            "Acknowledged",
            match (&n.acknowledged_by, n.acknowledged_at) {
                (Some(by), Some(at)) => format!("by {by} at {}", at.format(TIMESTAMP)),
                _ => "no".to_owned(),
            },
        ),
    ];
    let shown: Vec<(&str, String)> = fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    details(&shown)
}

/// What `maoctl tool schedule` prints (without a final newline): the new schedule's id
/// and when it fires first.
pub fn schedule_created(view: &ScheduleView) -> String {
    let s = &view.schedule;
    format!(
        "created schedule {} of {}: {} in {}\nnext fire: {}",
        s.id,
        s.target,
        shell_words(std::slice::from_ref(&s.cron)),
        s.tz,
        next_fire(view)
    )
}

/// The next fire time in the schedule's zone, then in UTC; or why there is none.
pub fn next_fire(view: &ScheduleView) -> String {
    match (&view.next_fire_local, view.next_fire) {
        (Some(local), Some(utc)) => format!("{local} ({})", utc.format(TIMESTAMP)),
        (None, Some(utc)) => utc.format(TIMESTAMP).to_string(),
        _ if view.schedule.suspended => format!(
            "none while paused (maoctl schedule resume {})",
            view.schedule.id
        ),
        _ => "never (the expression names no future time)".to_owned(),
    }
}

/// The last run of a schedule on this node: the end of its id and its status.
fn last_run_short(view: &ScheduleView) -> String {
    let Some(id) = &view.last_run_id else {
        return "-".to_owned();
    };
    // A ULID starts with its time, so runs of different schedules fired in the same
    // second share a prefix; the random end tells them apart.
    let tail: String = id
        .chars()
        .skip(id.chars().count().saturating_sub(SHORT_RUN_ID))
        .collect();
    let short = if tail.len() < id.len() {
        format!("{ELLIPSIS}{tail}")
    } else {
        tail
    };
    match view.last_run_status {
        Some(status) => format!("{short} {}", status.as_str()),
        None => short,
    }
}

/// Characters of a run id the schedule table shows.
const SHORT_RUN_ID: usize = 8;

/// The table of `maoctl schedule list`.
pub fn schedules_table(views: &[ScheduleView]) -> Table {
    let mut table = Table::new(&[
        ("ID", None),
        ("TARGET", Some(40)),
        ("CRON", Some(30)),
        ("TZ", Some(30)),
        ("MODE", None),
        ("NEXT (local)", None),
        ("NEXT (UTC)", None),
        ("LAST RUN", None),
        ("PAUSED", None),
    ]);
    for view in views {
        let s = &view.schedule;
        table.push(vec![
            s.id.clone(),
            s.target.to_string(),
            s.cron.clone(),
            s.tz.clone(),
            wire_name(&s.mode),
            view.next_fire_local
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            view.next_fire
                .map_or_else(|| "-".to_owned(), |t| t.format(TIMESTAMP).to_string()),
            last_run_short(view),
            yes_no(s.suspended),
        ]);
    }
    table
}

/// The detail view of `maoctl schedule get`.
pub fn schedule_details(view: &ScheduleView) -> String {
    let s = &view.schedule;
    let env = s
        .overrides
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    // What applies when the schedule overrides nothing.
    let own = match &s.target {
        Target::Tool(_) => "(the tool's)",
        Target::Pipeline(_) => "(the steps')",
    };
    let cmd = match &s.overrides.cmd {
        Some(cmd) => shell_words(cmd),
        None => own.to_owned(),
    };
    let last_run = match (&view.last_run_id, view.last_run_status) {
        (Some(id), Some(status)) => format!("{id} {}", status.as_str()),
        (Some(id), None) => id.clone(),
        (None, _) => String::new(),
    };
    details(&[
        ("ID", s.id.clone()),
        ("Target", s.target.to_string()),
        ("Cron", s.cron.clone()),
        ("Time zone", s.tz.clone()),
        ("Mode", wire_name(&s.mode)),
        ("Concurrency", wire_name(&s.concurrency)),
        ("Catch-up", wire_name(&s.catch_up)),
        ("Starting deadline", s.starting_deadline.clone()),
        ("Command", cmd),
        ("Environment", env),
        ("Limits", limits_text(&s.overrides.limits, own)),
        ("Paused", yes_no(s.suspended)),
        ("Next fire", next_fire(view)),
        (
            "Last slot",
            optional(view.last_slot.map(|at| at.format(TIMESTAMP))),
        ),
        ("Last run", last_run),
        (
            "Created",
            format!("{} by {}", s.created_at.format(TIMESTAMP), s.created_by),
        ),
    ])
}

/// The table of `maoctl schedule next`; `now_ms` (Unix milliseconds) gives the waits.
pub fn fire_times_table(times: &[FireTime], now_ms: i64) -> Table {
    let mut table = Table::new(&[("LOCAL", None), ("UTC", None), ("IN", None)]);
    for time in times {
        table.push(vec![
            time.local.clone(),
            time.utc.format(TIMESTAMP).to_string(),
            human_duration(time.utc.timestamp_millis() - now_ms),
        ]);
    }
    table
}

/// The table of `maoctl schedule history`.
pub fn slots_table(slots: &[SlotRecord]) -> Table {
    let mut table = Table::new(&[
        ("SLOT", None),
        ("OUTCOME", None),
        ("RUN", None),
        ("REASON", Some(60)),
    ]);
    for slot in slots {
        table.push(vec![
            slot.slot.format(TIMESTAMP).to_string(),
            wire_name(&slot.outcome),
            slot.run_id.clone().unwrap_or_else(|| "-".to_owned()),
            slot.reason.clone().unwrap_or_default(),
        ]);
    }
    table
}

/// The table of `maoctl pipeline list`.
pub fn pipelines_table(pipelines: &[Pipeline]) -> Table {
    let mut table = Table::new(&[
        ("NAME", None),
        ("STEPS", Some(50)),
        ("GROUND TRUTH", None),
        ("DESCRIPTION", Some(40)),
    ]);
    for pipeline in pipelines {
        let steps: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
        table.push(vec![
            pipeline.name.clone(),
            steps.join(" → "),
            wire_name(&pipeline.ground_truth),
            pipeline.description.clone(),
        ]);
    }
    table
}

/// The detail view of `maoctl pipeline get`: its fields, then a table of its steps.
pub fn pipeline_details(pipeline: &Pipeline) -> String {
    let ground_truth = match pipeline.ground_truth {
        GroundTruth::None => "none (left alone)".to_owned(),
        GroundTruth::Merge => "merge (each step's branch, after its push)".to_owned(),
    };
    let mut text = details(&[
        ("Name", pipeline.name.clone()),
        ("Description", pipeline.description.clone()),
        ("Ground truth", ground_truth),
        ("Steps", pipeline.steps.len().to_string()),
    ]);
    let mut steps = Table::new(&[
        ("STEP", None),
        ("TOOL", Some(30)),
        ("INPUT", Some(30)),
        ("OUTPUT", Some(30)),
        ("COMMAND", Some(40)),
        ("ENV", Some(50)),
    ]);
    for step in &pipeline.steps {
        let env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        steps.push(vec![
            step.name.clone(),
            step.tool.clone(),
            step.input_dataset.clone().unwrap_or_else(|| "-".to_owned()),
            step.output_dataset.clone(),
            step.cmd
                .as_deref()
                .map_or_else(|| "(the tool's)".to_owned(), shell_words),
            env.join(" "),
        ]);
    }
    text.push('\n');
    text.push_str(&steps.render());
    text
}

/// What `maoctl pipeline init` prints: what was done for each dataset, then whether
/// anything changed at all.
pub fn init_report(report: &InitReport) -> String {
    let mut table = Table::new(&[
        ("DATASET", None),
        ("ROLE", None),
        ("BRANCH", None),
        ("HEAD", None),
        ("DONE", None),
    ]);
    for dataset in &report.datasets {
        let mut done = Vec::new();
        if dataset.cloned {
            done.push("cloned");
        }
        if dataset.created_branch {
            done.push("branch created from the remote's default branch");
        }
        if dataset.tracked_remote {
            done.push("branch tracked from the remote");
        }
        if dataset.pushed {
            done.push("pushed");
        }
        if dataset.added_to_nodes {
            done.push("added to the dataset's nodes");
        }
        if done.is_empty() {
            done.push(if dataset.changed {
                "updated"
            } else {
                "nothing: already in place"
            });
        }
        table.push(vec![
            dataset.dataset.clone(),
            wire_name(&dataset.role),
            dataset.branch.clone().unwrap_or_else(|| "-".to_owned()),
            dataset
                .head
                .as_deref()
                .map_or_else(|| "-".to_owned(), |h| short_commit(h, true)),
            done.join(", "),
        ]);
    }
    let mut text = table.render();
    text.push_str(&if report.changed {
        format!(
            "initialised pipeline {} on node {}\n",
            report.pipeline, report.node
        )
    } else {
        format!(
            "nothing changed: pipeline {} was already initialised on node {}\n",
            report.pipeline, report.node
        )
    });
    text
}

/// The table of `maoctl pipeline runs`; `now_ms` (Unix milliseconds) gives ages and the
/// duration of runs still going.
pub fn pipeline_runs_table(runs: &[PipelineRun], now_ms: i64) -> Table {
    let mut table = Table::new(&[
        ("ID", None),
        ("PIPELINE", Some(30)),
        ("STATUS", None),
        ("STEPS OK", None),
        ("STARTED", None),
        ("DURATION", None),
        ("TRIGGER", Some(40)),
    ]);
    for run in runs {
        let succeeded = run
            .steps
            .iter()
            .filter(|s| s.status == Some(RunStatus::Succeeded))
            .count();
        table.push(vec![
            run.id.clone(),
            run.pipeline.clone(),
            run.status.as_str().to_owned(),
            format!("{succeeded}/{}", run.steps.len()),
            started_ago(run.started_at, now_ms),
            duration_ms(run.started_at, run.finished_at, now_ms)
                .map_or_else(|| "-".to_owned(), human_duration),
            run.trigger.clone(),
        ]);
    }
    table
}

/// The lines `maoctl pipeline run --follow` shows on stderr: one per step that started
/// or changed status since `before` (`None` at the first look).
pub fn step_progress(before: Option<&PipelineRun>, after: &PipelineRun) -> Vec<String> {
    let total = after.steps.len();
    let mut lines = Vec::new();
    for (i, step) in after.steps.iter().enumerate() {
        let Some(status) = step.status else {
            continue;
        };
        let previous = before.and_then(|b| b.steps.iter().find(|s| s.name == step.name));
        if previous.is_some_and(|p| p.status == step.status && p.run_id == step.run_id) {
            continue;
        }
        lines.push(format!(
            "step {}/{total} {} (tool {}): run {} {}",
            i + 1,
            one_line(&step.name),
            one_line(&step.tool),
            step.run_id.as_deref().unwrap_or("-"),
            status.as_str()
        ));
    }
    lines
}

/// What `maoctl pipeline status` and `maoctl pipeline run --follow` print: the pipeline
/// run, then each step with its run and what it did in git. `records` holds, for each
/// step in order, its run record or why it could not be read; `None` for a step that
/// has no run.
pub fn pipeline_report(run: &PipelineRun, records: &[Option<Result<RunRecord, String>>]) -> String {
    let mut fields = vec![
        ("Pipeline", run.pipeline.clone()),
        ("Run", run.id.clone()),
        ("Node", run.node.clone()),
        ("Trigger", run.trigger.clone()),
        ("Status", run.status.as_str().to_owned()),
        ("Duration", span(run.started_at, run.finished_at)),
    ];
    if let Some(error) = &run.error {
        fields.push(("Error", error.clone()));
    }
    let mut text = details(&fields);
    let total = run.steps.len();
    for (i, step) in run.steps.iter().enumerate() {
        let mut fields = vec![
            ("Tool", step.tool.clone()),
            ("Run", step.run_id.clone().unwrap_or_else(|| "-".to_owned())),
            (
                "Status",
                step.status
                    .map_or_else(|| "not started".to_owned(), |s| s.as_str().to_owned()),
            ),
        ];
        match records.get(i).and_then(Option::as_ref) {
            Some(Ok(record)) => {
                if let Some(code) = record.exit_code {
                    fields.push(("Exit code", code.to_string()));
                }
                if let Some(error) = &record.error {
                    fields.push(("Error", error.clone()));
                }
                if let Some(git) = &record.git {
                    fields.extend(git_fields(git, true));
                }
            }
            Some(Err(error)) => fields.push(("Record", format!("cannot be read: {error}"))),
            None => {}
        }
        text.push_str(&format!(
            "\nStep {}/{total}: {}\n",
            i + 1,
            printable(&step.name)
        ));
        for line in details(&fields).lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// The table of `maoctl dataset list-local`.
pub fn local_datasets_table(datasets: &[LocalDataset]) -> Table {
    let mut table = Table::new(&[
        ("NAME", None),
        ("BRANCH", Some(30)),
        ("HEAD", None),
        ("CLEAN", None),
        ("UNPUSHED", None),
        ("REGISTERED", None),
        ("PATH", None),
    ]);
    for dataset in datasets {
        table.push(vec![
            dataset.name.clone(),
            dataset.branch.clone().unwrap_or_else(|| "-".to_owned()),
            dataset
                .head
                .as_deref()
                .map_or_else(|| "-".to_owned(), |h| short_commit(h, true)),
            yes_no(dataset.clean),
            dataset.unpushed.to_string(),
            yes_no(dataset.registered),
            dataset.path.clone(),
        ]);
    }
    table
}

/// Where a clone is and what it has checked out: `/path (branch main at 1a2b3c4d)`.
pub fn clone_place(dataset: &LocalDataset) -> String {
    let branch = match &dataset.branch {
        Some(branch) => format!("branch {branch}"),
        None => "detached HEAD".to_owned(),
    };
    match &dataset.head {
        Some(head) => format!(
            "{} ({branch} at {})",
            dataset.path,
            short_commit(head, true)
        ),
        None => format!("{} ({branch}, no commits yet)", dataset.path),
    }
}

/// How a unit enum is written on the wire (`every-node`, `forbid`, `fired`).
fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
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
    use expect_test::expect;

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
            limits: Default::default(),
            docker_socket: false,
            detector: None,
        }
    }

    /// A run that failed after 3 min 4.5 s, as the daemon would send it.
    fn failed_run() -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "tool": "demo-tool",
            "node": "node-a",
            "trigger": "manual",
            "image": "mao/demo-tool:latest",
            "image_digest": "sha256:5a16",
            "data_dir": "/var/lib/mao/tools/demo-tool/data",
            "cmd": ["run", "--in", "a file"],
            "env_keys": ["A", "B"],
            "limits": {"timeout": "10m", "memory": "512m", "cpus": 1.5, "pids": 100},
            "status": "failed",
            "exit_code": 3,
            "error": "the tool exited with code 3",
            "queued_at": "2024-05-01T12:00:00Z",
            "started_at": "2024-05-01T12:00:01Z",
            "finished_at": "2024-05-01T12:03:05.500Z",
            "log_path": "/var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log",
            "log_bytes": 1300,
            "log_truncated": true,
            "container_id": "629cbc7c8ade",
        }))
        .unwrap()
    }

    /// A run queued at 12:00:00 and not started.
    fn queued_run() -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKJ",
            "tool": "other",
            "node": "node-a",
            "trigger": "schedule:nightly@2024-05-01T12:00:00Z",
            "image": "mao/other:1",
            "data_dir": "/d",
            "status": "queued",
            "queued_at": "2024-05-01T12:00:00Z",
            "log_path": "/l",
        }))
        .unwrap()
    }

    /// 2024-05-01T12:10:01Z in Unix milliseconds.
    const TEN_PAST: i64 = 1_714_565_401_000;

    /// A schedule as the daemon would send it: Zurich time, last run failed.
    fn schedule_view() -> ScheduleView {
        serde_json::from_value(serde_json::json!({
            "id": "demo-tool-1a2b3c4d",
            "target": {"kind": "tool", "name": "demo-tool"},
            "cron": "0 3 * * *",
            "tz": "Europe/Zurich",
            "mode": "every-node",
            "concurrency": "forbid",
            "catch_up": "latest",
            "starting_deadline": "18h",
            "overrides": {"env": {"CITY": "Zurich"}, "cmd": ["run", "--fast"], "limits": {"timeout": "10m"}},
            "suspended": false,
            "created_by": "node-a",
            "created_at": "2024-05-01T10:00:00Z",
            "next_fire": "2024-05-02T01:00:00Z",
            "next_fire_local": "2024-05-02T03:00:00+02:00",
            "last_slot": "2024-05-01T01:00:00Z",
            "last_run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
            "last_run_status": "failed",
        }))
        .unwrap()
    }

    /// A paused `once` schedule that never ran.
    fn paused_view() -> ScheduleView {
        serde_json::from_value(serde_json::json!({
            "id": "nightly",
            "target": {"kind": "tool", "name": "scraper"},
            "cron": "*/5 * * * *",
            "tz": "UTC",
            "mode": "once",
            "concurrency": "replace",
            "catch_up": "none",
            "starting_deadline": "2h",
            "suspended": true,
            "created_by": "node-b",
            "created_at": "2024-05-01T10:00:00Z",
        }))
        .unwrap()
    }

    /// A pipeline run on node-a that failed at its second step: the first step's commit
    /// is waiting to be pushed, the second step's output is kept off the branch.
    fn failed_pipeline_run() -> (PipelineRun, Vec<Option<Result<RunRecord, String>>>) {
        let run: PipelineRun = serde_json::from_value(serde_json::json!({
            "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKP",
            "pipeline": "weather",
            "node": "node-a",
            "trigger": "manual",
            "status": "failed",
            "steps": [
                {"name": "collect", "tool": "scraper", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKA", "status": "succeeded"},
                {"name": "clean", "tool": "cleaner", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKB", "status": "failed"},
                {"name": "publish", "tool": "publisher"},
            ],
            "error": "step clean failed",
            "queued_at": "2024-05-01T12:00:00Z",
            "started_at": "2024-05-01T12:00:01Z",
            "finished_at": "2024-05-01T12:03:05Z",
        }))
        .unwrap();
        let mut collect = failed_run();
        collect.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKA".into();
        collect.status = mao_api::RunStatus::Succeeded;
        collect.exit_code = Some(0);
        collect.error = None;
        collect.git = Some(
            serde_json::from_value(serde_json::json!({
                "dataset": "weather-raw",
                "branch": "node-a",
                "base": "0000000000000000000000000000000000000000",
                "commit": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
                "push": "pending",
                "push_error": "remote https://git.example.com/weather-raw.git is unreachable: connection refused",
                "input": {"dataset": "stations", "branch": "ground-truth", "commit": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f"},
                "ground_truth": {"outcome": "merged", "commit": "9abcdef0123456789abcdef0123456789abcdef0"},
            }))
            .unwrap(),
        );
        let mut clean = failed_run();
        clean.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKB".into();
        clean.git = Some(
            serde_json::from_value(serde_json::json!({
                "dataset": "weather-clean",
                "branch": "node-a",
                "push": "none",
                "failed_ref": "refs/mao/failed/01J9Z8X7W6V5T4S3R2Q1P0NMKB",
            }))
            .unwrap(),
        );
        (run, vec![Some(Ok(collect)), Some(Ok(clean)), None])
    }

    fn init_report_of(changed: bool) -> InitReport {
        serde_json::from_value(serde_json::json!({
            "pipeline": "weather",
            "node": "node-a",
            "datasets": [
                {"dataset": "weather-raw", "role": "output", "cloned": changed, "branch": "node-a",
                 "head": "1a2b3c4d5e6f", "created_branch": changed, "pushed": changed,
                 "added_to_nodes": changed, "changed": changed},
                {"dataset": "stations", "role": "input", "cloned": false, "changed": false},
            ],
            "changed": changed,
            "message": "",
        }))
        .unwrap()
    }

    fn pipeline() -> Pipeline {
        serde_json::from_value(serde_json::json!({
            "name": "weather",
            "description": "hourly readings",
            "ground_truth": "merge",
            "steps": [
                {"name": "collect", "tool": "scraper", "output_dataset": "weather-raw",
                 "env": {"CITY": "Zurich"}},
                {"name": "clean", "tool": "cleaner", "input_dataset": "weather-raw",
                 "output_dataset": "weather-clean", "cmd": ["python", "clean.py"]},
            ],
        }))
        .unwrap()
    }

    /// The text of a table, for snapshots.
    fn rendered(table: Table) -> String {
        table.render()
    }

    /// No line ends in a space: a snapshot would not show it.
    fn assert_no_trailing_spaces(text: &str) {
        assert!(!text.lines().any(|l| l.ends_with(' ')), "{text}");
    }

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut t = Table::new(&[("NAME", None), ("VALUE", None), ("LAST", None)]);
        t.push(vec!["a".into(), "long value".into(), "".into()]);
        t.push(vec!["longer-name".into(), "v".into(), "x".into()]);
        let text = rendered(t);
        assert_no_trailing_spaces(&text);
        expect![[r#"
            NAME         VALUE       LAST
            a            long value
            longer-name  v           x
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn empty_table_is_its_header() {
        let t = tools_table(&[]);
        assert!(t.is_empty());
        expect![[r#"
            NAME  AUTHOR  IMAGE  ARTEFACT  DESCRIPTION
        "#]]
        .assert_eq(&rendered(t));
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
        .assert_eq(&rendered(t));
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
        let text = rendered(tools_table(&[tool(
            "demo",
            "line one\nline\ttwo\u{1b}[31m",
        )]));
        // The escape character would be invisible in the snapshot.
        assert!(!text.contains('\u{1b}'));
        expect![[r#"
            NAME  AUTHOR  IMAGE       ARTEFACT  DESCRIPTION
            demo  ada     mao/demo:1  out.csv   line one line two�[31m
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn tool_details_show_every_field() {
        let mut t = tool("demo", "first\nsecond");
        t.cmd = Some(vec!["run".into(), "--in".into(), "a file".into()]);
        t.env.insert("A".into(), "1".into());
        t.env.insert("B".into(), "x=y".into());
        let text = tool_details(&t);
        assert_no_trailing_spaces(&text);
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:    first
                            second
            Command:        run --in 'a file'
            Environment:    A=1
                            B=x=y
            Limits:         (the node's defaults)
            Docker socket:  no
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn tool_details_show_limits() {
        let mut t = tool("demo", "");
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:
            Command:        (the image's default)
            Environment:
            Limits:         (the node's defaults)
            Docker socket:  no
        "#]]
        .assert_eq(&tool_details(&t));
        t.limits.timeout = Some("1h".into());
        t.limits.cpus = Some(2.0);
        t.docker_socket = true;
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:
            Command:        (the image's default)
            Environment:
            Limits:         timeout=1h cpus=2
            Docker socket:  yes
        "#]]
        .assert_eq(&tool_details(&t));
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
        expect![[r#"
            NAME     MASTER                       NODES          LOCAL  DESCRIPTION
            weather  git@example.com:weather.git  node-a,node-b  yes
        "#]]
        .assert_eq(&rendered(datasets_table(std::slice::from_ref(&d))));
        expect![[r#"
            Name:         weather
            Master:       git@example.com:weather.git
            Nodes:        node-a
                          node-b
            Local only:   yes
            Description:
        "#]]
        .assert_eq(&dataset_details(&d));
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
        expect![[r#"
            NAME    API URL               VERSION  STARTED                        HOST/PID
            node-a  http://10.0.0.1:8080  0.1.0    2024-05-01T12:00:00Z (3h ago)  alpha/4242
        "#]]
        .assert_eq(&rendered(nodes_table(&[node], now)));
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
    fn runs_table_shows_age_duration_and_dashes() {
        let mut running = failed_run();
        running.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKM".into();
        running.status = mao_api::RunStatus::Running;
        running.exit_code = None;
        running.finished_at = None;
        expect![[r#"
            ID                          TOOL       STATUS   EXIT  STARTED  DURATION  TRIGGER
            01J9Z8X7W6V5T4S3R2Q1P0NMKM  demo-tool  running  -     10m ago  10m00s    manual
            01J9Z8X7W6V5T4S3R2Q1P0NMKH  demo-tool  failed   3     10m ago  3m04s     manual
            01J9Z8X7W6V5T4S3R2Q1P0NMKJ  other      queued   -     -        -         schedule:nightly@2024-05-01T12:00:00Z
        "#]].assert_eq(&rendered(runs_table(
            &[running, failed_run(), queued_run()],
            TEN_PAST,
        )));
    }

    #[test]
    fn run_report_says_how_it_went() {
        expect![[r#"
            Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Trigger:       manual
            Status:        failed
            Exit code:     3
            Duration:      3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:         the tool exited with code 3
            Log:           1.3 KiB, truncated (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKH)
        "#]]
        .assert_eq(&run_report(&failed_run()));
    }

    #[test]
    fn run_report_shows_the_detectors_work() {
        let mut run = failed_run();
        run.detector = Some(mao_api::DetectorSpec {
            method: Some(mao_api::notification::Method::Percent),
            ..Default::default()
        });
        let judged = |metric: &str, verdict, value: f64, baseline: Option<f64>, n| {
            mao_api::MetricJudgement {
                metric: metric.into(),
                method: mao_api::notification::Method::Percent,
                judgement: mao_api::notification::Judgement {
                    verdict,
                    score: 0.84,
                    baseline,
                    value,
                    history_len: n,
                    difference: baseline.map(|b| value - b),
                    change_pct: baseline.map(|b| 100.0 * (value - b) / b),
                },
            }
        };
        run.detection = vec![
            judged("control", mao_api::Verdict::SpikeUp, 131.0, Some(100.0), 2),
            judged("rows", mao_api::Verdict::NotEnoughHistory, 3.0, None, 1),
        ];
        run.metrics_error = Some("metrics.json: \"x\" is not a finite number".into());
        expect![[r#"
            Run:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:           demo-tool
            Image:          mao/demo-tool:latest
            Image digest:   sha256:5a16
            Data folder:    /var/lib/mao/tools/demo-tool/data
            Trigger:        manual
            Status:         failed
            Exit code:      3
            Duration:       3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:          the tool exited with code 3
            Log:            1.3 KiB, truncated (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKH)
            Detector:       percent (threshold=6, window=2)
            Metrics:        control: 131 against baseline 100 (2 snapshots), difference +31, change +31.0 %, score 0.84: SPIKE UP
                            rows: 3 (not enough history yet: 1 snapshots)
            Metrics error:  metrics.json: "x" is not a finite number
        "#]].assert_eq(&run_report(&run));
    }

    #[test]
    fn run_report_of_a_run_that_never_started() {
        let mut run = queued_run();
        run.status = mao_api::RunStatus::Failed;
        run.error = Some("no such image".into());
        run.finished_at = run.queued_at.into();
        expect![[r#"
            Run:          01J9Z8X7W6V5T4S3R2Q1P0NMKJ
            Tool:         other
            Image:        mao/other:1
            Data folder:  /d
            Trigger:      schedule:nightly@2024-05-01T12:00:00Z
            Status:       failed
            Duration:     (it never started)
            Error:        no such image
            Log:          0 B (maoctl run logs 01J9Z8X7W6V5T4S3R2Q1P0NMKJ)
        "#]]
        .assert_eq(&run_report(&run));
    }

    #[test]
    fn run_details_show_every_field() {
        let text = run_details(&failed_run(), TEN_PAST);
        assert_no_trailing_spaces(&text);
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        failed
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&text);

        let mut running = failed_run();
        running.status = mao_api::RunStatus::Running;
        running.finished_at = None;
        running.log_bytes = 0;
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        running
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:
            Duration:      10m00s so far
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      (known when the run has ended)
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&run_details(&running, TEN_PAST));
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKJ
            Tool:          other
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       schedule:nightly@2024-05-01T12:00:00Z
            Schedule:
            Slot:
            Status:        queued
            Exit code:
            Error:
            Image:         mao/other:1
            Image digest:
            Command:       (the image's default)
            Environment:
            Limits:
            Data folder:   /d
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Started:
            Finished:
            Duration:
            Log file:      /l
            Log size:      (known when the run has ended)
            Container:
        "#]]
        .assert_eq(&run_details(&queued_run(), TEN_PAST));
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

    #[test]
    fn schedules_table_shows_next_fire_and_last_run() {
        expect![[r#"
            ID                  TARGET          CRON         TZ             MODE        NEXT (local)               NEXT (UTC)            LAST RUN          PAUSED
            demo-tool-1a2b3c4d  tool/demo-tool  0 3 * * *    Europe/Zurich  every-node  2024-05-02T03:00:00+02:00  2024-05-02T01:00:00Z  …Q1P0NMKH failed  no
            nightly             tool/scraper    */5 * * * *  UTC            once        -                          -                     -                 yes
        "#]].assert_eq(&rendered(schedules_table(&[schedule_view(), paused_view()])));
        let empty = schedules_table(&[]);
        assert!(empty.is_empty());
    }

    #[test]
    fn schedule_details_show_every_field() {
        expect![[r#"
            ID:                 demo-tool-1a2b3c4d
            Target:             tool/demo-tool
            Cron:               0 3 * * *
            Time zone:          Europe/Zurich
            Mode:               every-node
            Concurrency:        forbid
            Catch-up:           latest
            Starting deadline:  18h
            Command:            run --fast
            Environment:        CITY=Zurich
            Limits:             timeout=10m
            Paused:             no
            Next fire:          2024-05-02T03:00:00+02:00 (2024-05-02T01:00:00Z)
            Last slot:          2024-05-01T01:00:00Z
            Last run:           01J9Z8X7W6V5T4S3R2Q1P0NMKH failed
            Created:            2024-05-01T10:00:00Z by node-a
        "#]]
        .assert_eq(&schedule_details(&schedule_view()));
        let text = schedule_details(&paused_view());
        assert_no_trailing_spaces(&text);
        expect![[r#"
            ID:                 nightly
            Target:             tool/scraper
            Cron:               */5 * * * *
            Time zone:          UTC
            Mode:               once
            Concurrency:        replace
            Catch-up:           none
            Starting deadline:  2h
            Command:            (the tool's)
            Environment:
            Limits:             (the tool's)
            Paused:             yes
            Next fire:          none while paused (maoctl schedule resume nightly)
            Last slot:
            Last run:
            Created:            2024-05-01T10:00:00Z by node-b
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn created_message_gives_id_and_next_fire_in_both_zones() {
        expect![[r#"
            created schedule demo-tool-1a2b3c4d of tool/demo-tool: '0 3 * * *' in Europe/Zurich
            next fire: 2024-05-02T03:00:00+02:00 (2024-05-02T01:00:00Z)"#]]
        .assert_eq(&schedule_created(&schedule_view()));
        let mut never = schedule_view();
        never.next_fire = None;
        never.next_fire_local = None;
        expect!["never (the expression names no future time)"].assert_eq(&next_fire(&never));
        expect![[r#"
            created schedule nightly of tool/scraper: '*/5 * * * *' in UTC
            next fire: none while paused (maoctl schedule resume nightly)"#]]
        .assert_eq(&schedule_created(&paused_view()));
    }

    #[test]
    fn last_run_shows_the_end_of_the_id() {
        let mut view = schedule_view();
        view.last_run_status = None;
        assert_eq!(last_run_short(&view), "…Q1P0NMKH");
        view.last_run_id = Some("ABC".into());
        assert_eq!(last_run_short(&view), "ABC");
        view.last_run_id = None;
        assert_eq!(last_run_short(&view), "-");
    }

    #[test]
    fn fire_times_table_shows_both_zones_and_the_wait() {
        let times: Vec<FireTime> = serde_json::from_value(serde_json::json!([
            {"utc": "2024-05-01T12:30:00Z", "local": "2024-05-01T14:30:00+02:00"},
            {"utc": "2024-05-02T12:30:00Z", "local": "2024-05-02T14:30:00+02:00"},
        ]))
        .unwrap();
        expect![[r#"
            LOCAL                      UTC                   IN
            2024-05-01T14:30:00+02:00  2024-05-01T12:30:00Z  19m59s
            2024-05-02T14:30:00+02:00  2024-05-02T12:30:00Z  1d00h
        "#]]
        .assert_eq(&rendered(fire_times_table(&times, TEN_PAST)));
    }

    #[test]
    fn slots_table_shows_outcome_run_and_reason() {
        let slots: Vec<SlotRecord> = serde_json::from_value(serde_json::json!([
            {"schedule": "s", "slot": "2024-05-01T12:10:00Z", "outcome": "skipped",
             "reason": "the previous run\n01J9Z8X7W6V5T4S3R2Q1P0NMKH is still running",
             "node": "node-a", "at": "2024-05-01T12:10:00Z"},
            {"schedule": "s", "slot": "2024-05-01T12:05:00Z", "outcome": "fired",
             "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH", "node": "node-a", "at": "2024-05-01T12:05:00Z"},
            {"schedule": "s", "slot": "2024-05-01T12:00:00Z", "outcome": "missed",
             "reason": "the node was down", "node": "node-a", "at": "2024-05-01T12:07:00Z"},
        ]))
        .unwrap();
        expect![[r#"
            SLOT                  OUTCOME  RUN                         REASON
            2024-05-01T12:10:00Z  skipped  -                           the previous run 01J9Z8X7W6V5T4S3R2Q1P0NMKH is still running
            2024-05-01T12:05:00Z  fired    01J9Z8X7W6V5T4S3R2Q1P0NMKH
            2024-05-01T12:00:00Z  missed   -                           the node was down
        "#]].assert_eq(&rendered(slots_table(&slots)));
    }

    #[test]
    fn scheduled_runs_show_their_slot_and_lag() {
        let mut run = failed_run();
        run.trigger = "schedule:nightly@2024-05-01T12:00:00Z".into();
        run.schedule = Some("nightly".into());
        run.scheduled_at = Some("2024-05-01T11:59:59.500Z".parse().unwrap());
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Tool:          demo-tool
            Pipeline:
            Pipeline run:
            Step:
            Node:          node-a
            Trigger:       schedule:nightly@2024-05-01T12:00:00Z
            Schedule:      nightly
            Slot:          2024-05-01T11:59:59Z (started 1.5s later)
            Status:        failed
            Exit code:     3
            Error:         the tool exited with code 3
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
        "#]]
        .assert_eq(&run_details(&run, TEN_PAST));
        // Queued and never started: the schedule fields are there, empty.
        let text = run_details(&queued_run(), TEN_PAST);
        assert!(text.contains("Schedule:\nSlot:\n"), "{text}");
    }

    #[test]
    fn pipeline_report_shows_each_step_in_git() {
        let (run, records) = failed_pipeline_run();
        expect![[r#"
            Pipeline:  weather
            Run:       01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Node:      node-a
            Trigger:   manual
            Status:    failed
            Duration:  3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:     step clean failed

            Step 1/3: collect
              Tool:          scraper
              Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKA
              Status:        succeeded
              Exit code:     0
              Dataset:       weather-raw
              Branch:        node-a
              Commit:        1a2b3c4d
              Push:          pending (the daemon retries)
              Push error:    remote https://git.example.com/weather-raw.git is unreachable: connection refused
              Input:         stations@5e6f7a8b (ground-truth)
              Ground truth:  merged 9abcdef0

            Step 2/3: clean
              Tool:        cleaner
              Run:         01J9Z8X7W6V5T4S3R2Q1P0NMKB
              Status:      failed
              Exit code:   3
              Error:       the tool exited with code 3
              Dataset:     weather-clean
              Branch:      node-a
              Push:        none
              Failed ref:  refs/mao/failed/01J9Z8X7W6V5T4S3R2Q1P0NMKB

            Step 3/3: publish
              Tool:    publisher
              Run:     -
              Status:  not started
        "#]].assert_eq(&pipeline_report(&run, &records));
    }

    #[test]
    fn pipeline_report_says_when_a_record_cannot_be_read() {
        let (run, mut records) = failed_pipeline_run();
        records[1] = Some(Err("run 01J9Z8X7W6V5T4S3R2Q1P0NMKB does not exist".into()));
        expect![[r#"
            Pipeline:  weather
            Run:       01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Node:      node-a
            Trigger:   manual
            Status:    failed
            Duration:  3m04s (2024-05-01T12:00:01Z → 2024-05-01T12:03:05Z)
            Error:     step clean failed

            Step 1/3: collect
              Tool:          scraper
              Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKA
              Status:        succeeded
              Exit code:     0
              Dataset:       weather-raw
              Branch:        node-a
              Commit:        1a2b3c4d
              Push:          pending (the daemon retries)
              Push error:    remote https://git.example.com/weather-raw.git is unreachable: connection refused
              Input:         stations@5e6f7a8b (ground-truth)
              Ground truth:  merged 9abcdef0

            Step 2/3: clean
              Tool:    cleaner
              Run:     01J9Z8X7W6V5T4S3R2Q1P0NMKB
              Status:  failed
              Record:  cannot be read: run 01J9Z8X7W6V5T4S3R2Q1P0NMKB does not exist

            Step 3/3: publish
              Tool:    publisher
              Run:     -
              Status:  not started
        "#]].assert_eq(&pipeline_report(&run, &records));
    }

    #[test]
    fn run_details_show_the_git_outcome_in_full() {
        let (_, records) = failed_pipeline_run();
        let Some(Ok(mut collect)) = records.into_iter().next().unwrap() else {
            panic!()
        };
        collect.pipeline = Some("weather".into());
        collect.pipeline_run = Some("01J9Z8X7W6V5T4S3R2Q1P0NMKP".into());
        collect.step = Some("collect".into());
        if let Some(git) = &mut collect.git {
            git.push = mao_api::PushState::Pushed;
            git.push_error = None;
            git.pushed_at = Some("2024-05-01T12:03:06Z".parse().unwrap());
            git.failed_ref = Some("refs/mao/failed/X".into());
        }
        expect![[r#"
            ID:            01J9Z8X7W6V5T4S3R2Q1P0NMKA
            Tool:          demo-tool
            Pipeline:      weather
            Pipeline run:  01J9Z8X7W6V5T4S3R2Q1P0NMKP
            Step:          collect
            Node:          node-a
            Trigger:       manual
            Schedule:
            Slot:
            Status:        succeeded
            Exit code:     0
            Error:
            Image:         mao/demo-tool:latest
            Image digest:  sha256:5a16
            Command:       run --in 'a file'
            Environment:   A
                           B
            Limits:        timeout=10m memory=512m cpus=1.5 pids=100
            Data folder:   /var/lib/mao/tools/demo-tool/data
            Input folder:
            Queued:        2024-05-01T12:00:00Z
            Started:       2024-05-01T12:00:01Z
            Finished:      2024-05-01T12:03:05Z
            Duration:      3m04s
            Log file:      /var/lib/mao/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH.log
            Log size:      1.3 KiB, truncated
            Container:     629cbc7c8ade
            Dataset:       weather-raw
            Branch:        node-a
            Base:          0000000000000000000000000000000000000000
            Commit:        1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d
            Push:          pushed
            Pushed at:     2024-05-01T12:03:06Z
            Failed ref:    refs/mao/failed/X
            Input:         stations@5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f (ground-truth)
            Ground truth:  merged 9abcdef0123456789abcdef0123456789abcdef0
        "#]]
        .assert_eq(&run_details(&collect, TEN_PAST));
    }

    #[test]
    fn step_progress_shows_only_what_changed() {
        let (finished, _) = failed_pipeline_run();
        let mut started = finished.clone();
        started.steps[0].status = Some(mao_api::RunStatus::Running);
        started.steps[1].status = None;
        started.steps[1].run_id = None;
        assert_eq!(
            step_progress(None, &started),
            vec!["step 1/3 collect (tool scraper): run 01J9Z8X7W6V5T4S3R2Q1P0NMKA running"]
        );
        assert!(step_progress(Some(&started), &started).is_empty());
        assert_eq!(
            step_progress(Some(&started), &finished),
            vec![
                "step 1/3 collect (tool scraper): run 01J9Z8X7W6V5T4S3R2Q1P0NMKA succeeded",
                "step 2/3 clean (tool cleaner): run 01J9Z8X7W6V5T4S3R2Q1P0NMKB failed",
            ]
        );
    }

    #[test]
    fn pipeline_runs_table_counts_the_steps_that_succeeded() {
        let (finished, _) = failed_pipeline_run();
        let mut running = finished.clone();
        running.id = "01J9Z8X7W6V5T4S3R2Q1P0NMKQ".into();
        running.status = mao_api::RunStatus::Running;
        running.finished_at = None;
        running.trigger = "schedule:nightly@2024-05-01T12:00:00Z".into();
        expect![[r#"
            ID                          PIPELINE  STATUS   STEPS OK  STARTED  DURATION  TRIGGER
            01J9Z8X7W6V5T4S3R2Q1P0NMKQ  weather   running  1/3       10m ago  10m00s    schedule:nightly@2024-05-01T12:00:00Z
            01J9Z8X7W6V5T4S3R2Q1P0NMKP  weather   failed   1/3       10m ago  3m04s     manual
        "#]].assert_eq(&rendered(pipeline_runs_table(&[running, finished], TEN_PAST)));
    }

    #[test]
    fn init_report_says_what_was_done_and_when_nothing_was() {
        expect![[r#"
            DATASET      ROLE    BRANCH  HEAD      DONE
            weather-raw  output  node-a  1a2b3c4d  cloned, branch created from the remote's default branch, pushed, added to the dataset's nodes
            stations     input   -       -         nothing: already in place
            initialised pipeline weather on node node-a
        "#]].assert_eq(&init_report(&init_report_of(true)));
        expect![[r#"
            DATASET      ROLE    BRANCH  HEAD      DONE
            weather-raw  output  node-a  1a2b3c4d  nothing: already in place
            stations     input   -       -         nothing: already in place
            nothing changed: pipeline weather was already initialised on node node-a
        "#]]
        .assert_eq(&init_report(&init_report_of(false)));
    }

    #[test]
    fn pipelines_table_and_details() {
        expect![[r#"
            NAME     STEPS            GROUND TRUTH  DESCRIPTION
            weather  collect → clean  merge         hourly readings
        "#]]
        .assert_eq(&rendered(pipelines_table(&[pipeline()])));
        expect![[r#"
            Name:          weather
            Description:   hourly readings
            Ground truth:  merge (each step's branch, after its push)
            Steps:         2

            STEP     TOOL     INPUT        OUTPUT         COMMAND          ENV
            collect  scraper  -            weather-raw    (the tool's)     CITY=Zurich
            clean    cleaner  weather-raw  weather-clean  python clean.py
        "#]]
        .assert_eq(&pipeline_details(&pipeline()));
    }

    #[test]
    fn local_datasets_table_shows_the_state_of_each_clone() {
        let clones: Vec<LocalDataset> = serde_json::from_value(serde_json::json!([
            {"name": "weather-raw", "path": "/var/lib/mao/datasets/weather-raw",
             "remote": "https://git.example.com/weather-raw.git", "branch": "node-a",
             "head": "1a2b3c4d5e6f", "clean": false, "unpushed": 2, "registered": true},
            {"name": "old", "path": "/var/lib/mao/datasets/old", "remote": "/srv/old.git",
             "clean": true, "unpushed": 0, "registered": false},
        ]))
        .unwrap();
        expect![[r#"
            NAME         BRANCH  HEAD      CLEAN  UNPUSHED  REGISTERED  PATH
            weather-raw  node-a  1a2b3c4d  no     2         yes         /var/lib/mao/datasets/weather-raw
            old          -       -         yes    0         no          /var/lib/mao/datasets/old
        "#]].assert_eq(&rendered(local_datasets_table(&clones)));
        expect!["/var/lib/mao/datasets/weather-raw (branch node-a at 1a2b3c4d)"]
            .assert_eq(&clone_place(&clones[0]));
        expect!["/var/lib/mao/datasets/old (detached HEAD, no commits yet)"]
            .assert_eq(&clone_place(&clones[1]));
    }

    #[test]
    fn pipeline_schedules_show_their_target_and_the_steps_settings() {
        let mut view = paused_view();
        view.schedule.target = Target::Pipeline("weather".into());
        expect![[r#"
            ID       TARGET            CRON         TZ   MODE  NEXT (local)  NEXT (UTC)  LAST RUN  PAUSED
            nightly  pipeline/weather  */5 * * * *  UTC  once  -             -           -         yes
        "#]].assert_eq(&rendered(schedules_table(std::slice::from_ref(&view))));
        expect![[r#"
            ID:                 nightly
            Target:             pipeline/weather
            Cron:               */5 * * * *
            Time zone:          UTC
            Mode:               once
            Concurrency:        replace
            Catch-up:           none
            Starting deadline:  2h
            Command:            (the steps')
            Environment:
            Limits:             (the steps')
            Paused:             yes
            Next fire:          none while paused (maoctl schedule resume nightly)
            Last slot:
            Last run:
            Created:            2024-05-01T10:00:00Z by node-b
        "#]]
        .assert_eq(&schedule_details(&view));
    }

    /// A spike notification acknowledged by alice, and a failed run nobody acknowledged.
    fn notifications() -> Vec<mao_api::Notification> {
        serde_json::from_value(serde_json::json!([
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y2Z", "kind": "spike", "severity": "warning",
             "node": "node-a", "tool": "demo-tool", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
             "metric": "control", "value": 131.0, "baseline": 100.0, "score": 0.8421,
             "message": "control jumped\nfrom 100 to 131", "created_at": "2024-05-01T12:00:00Z",
             "acknowledged_by": "alice", "acknowledged_at": "2024-05-01T13:00:00Z"},
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y30", "kind": "run_failed", "severity": "critical",
             "node": "node-b", "pipeline": "weather", "step": "clean", "dataset": "weather-raw",
             "message": "run failed", "created_at": "2024-05-01T12:05:00Z"},
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y31", "kind": "push_failing", "severity": "info",
             "node": "node-c", "message": "push keeps failing", "created_at": "2024-05-01T12:06:00Z"},
        ]))
        .unwrap()
    }

    #[test]
    fn notifications_table_and_details() {
        let items = notifications();
        expect![[r#"
            ID                          CREATED               KIND          SEVERITY  NODE    TARGET         ACK    MESSAGE
            01J9Z8K3YQ7M2E4V6T8W0X1Y2Z  2024-05-01T12:00:00Z  spike         warning   node-a  demo-tool      alice  control jumped from 100 to 131
            01J9Z8K3YQ7M2E4V6T8W0X1Y30  2024-05-01T12:05:00Z  run_failed    critical  node-b  weather/clean  -      run failed
            01J9Z8K3YQ7M2E4V6T8W0X1Y31  2024-05-01T12:06:00Z  push_failing  info      node-c                 -      push keeps failing
        "#]].assert_eq(&rendered(notifications_table(&items)));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y2Z
            Kind:          spike
            Severity:      warning
            Node:          node-a
            Tool:          demo-tool
            Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Metric:        control
            Value:         131
            Baseline:      100
            Score:         0.84
            Message:       control jumped
                           from 100 to 131
            Created:       2024-05-01T12:00:00Z
            Acknowledged:  by alice at 2024-05-01T13:00:00Z
        "#]]
        .assert_eq(&notification_details(&items[0]));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y30
            Kind:          run_failed
            Severity:      critical
            Node:          node-b
            Pipeline:      weather
            Step:          clean
            Dataset:       weather-raw
            Message:       run failed
            Created:       2024-05-01T12:05:00Z
            Acknowledged:  no
        "#]]
        .assert_eq(&notification_details(&items[1]));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y31
            Kind:          push_failing
            Severity:      info
            Node:          node-c
            Message:       push keeps failing
            Created:       2024-05-01T12:06:00Z
            Acknowledged:  no
        "#]]
        .assert_eq(&notification_details(&items[2]));
    }

    #[test]
    fn json_is_pretty_with_a_final_newline() {
        let text = json(&serde_json::json!({"items": []}));
        assert_eq!(text, "{\n  \"items\": []\n}\n");
    }
}
