//! Schedules: `maoctl schedule list`, `get`, `next`, `history` and what
//! `maoctl tool schedule` prints.

use mao_api::{FireTime, ScheduleView, SlotRecord, Target};

use super::table::{
    details, human_duration, limits_text, optional, shell_words, yes_no, Table, ELLIPSIS, TIMESTAMP,
};

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
pub fn schedules_table(views: &[ScheduleView]) -> String {
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
            s.mode.as_str().to_owned(),
            view.next_fire_local
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            view.next_fire
                .map_or_else(|| "-".to_owned(), |t| t.format(TIMESTAMP).to_string()),
            last_run_short(view),
            yes_no(s.suspended),
        ]);
    }
    table.render()
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
        ("Mode", s.mode.as_str().to_owned()),
        ("Concurrency", s.concurrency.as_str().to_owned()),
        ("Catch-up", s.catch_up.as_str().to_owned()),
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
pub fn fire_times_table(times: &[FireTime], now_ms: i64) -> String {
    let mut table = Table::new(&[("LOCAL", None), ("UTC", None), ("IN", None)]);
    for time in times {
        table.push(vec![
            time.local.clone(),
            time.utc.format(TIMESTAMP).to_string(),
            human_duration(time.utc.timestamp_millis() - now_ms),
        ]);
    }
    table.render()
}

/// The table of `maoctl schedule history`.
pub fn slots_table(slots: &[SlotRecord]) -> String {
    let mut table = Table::new(&[
        ("SLOT", None),
        ("OUTCOME", None),
        ("RUN", None),
        ("REASON", Some(60)),
    ]);
    for slot in slots {
        table.push(vec![
            slot.slot.format(TIMESTAMP).to_string(),
            slot.outcome.as_str().to_owned(),
            slot.run_id.clone().unwrap_or_else(|| "-".to_owned()),
            slot.reason.clone().unwrap_or_default(),
        ]);
    }
    table.render()
}

// The wire names of the schedule enums, matched one by one: mao-api has no `as_str` for
// them yet, and a name must not depend on how serde is configured.

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::render::fixtures::*;

    #[test]
    fn schedules_table_shows_next_fire_and_last_run() {
        expect![[r#"
            ID                  TARGET          CRON         TZ             MODE        NEXT (local)               NEXT (UTC)            LAST RUN          PAUSED
            demo-tool-1a2b3c4d  tool/demo-tool  0 3 * * *    Europe/Zurich  every-node  2024-05-02T03:00:00+02:00  2024-05-02T01:00:00Z  …Q1P0NMKH failed  no
            nightly             tool/scraper    */5 * * * *  UTC            once        -                          -                     -                 yes
        "#]].assert_eq(&schedules_table(&[schedule_view(), paused_view()]));
        // No schedule: the header alone.
        assert_eq!(schedules_table(&[]).lines().count(), 1);
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
        .assert_eq(&fire_times_table(&times, TEN_PAST));
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
        "#]].assert_eq(&slots_table(&slots));
    }

    #[test]
    fn pipeline_schedules_show_their_target_and_the_steps_settings() {
        let mut view = paused_view();
        view.schedule.target = Target::Pipeline("weather".into());
        expect![[r#"
            ID       TARGET            CRON         TZ   MODE  NEXT (local)  NEXT (UTC)  LAST RUN  PAUSED
            nightly  pipeline/weather  */5 * * * *  UTC  once  -             -           -         yes
        "#]].assert_eq(&schedules_table(std::slice::from_ref(&view)));
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
}
