use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;
use crate::cron::parse;
use crate::test_support::{expression, instant_near, ts, zone, ZONES};

const UTC: Tz = chrono_tz::UTC;

fn cron(text: &str) -> Cron {
    parse(text).expect("valid expression")
}

fn policy(catch_up: CatchUp, deadline_secs: u64) -> Policy {
    Policy {
        catch_up,
        starting_deadline: Duration::from_secs(deadline_secs),
        ..Policy::default()
    }
}

fn slots(texts: &[&str]) -> Vec<DateTime<Utc>> {
    texts.iter().map(|t| ts(t)).collect()
}

fn missed(reason: MissedReason, texts: &[&str]) -> Vec<Missed> {
    texts
        .iter()
        .map(|t| Missed {
            slot: ts(t),
            reason,
        })
        .collect()
}

#[test]
fn on_time_slot_is_due() {
    let p = plan(
        &cron("0 2 * * *"),
        UTC,
        &Policy::default(),
        Some(ts("2026-05-01T02:00:00Z")),
        ts("2026-01-01T00:00:00Z"),
        ts("2026-05-02T02:00:02.700Z"),
    );
    assert_eq!(
        p,
        Plan {
            due: slots(&["2026-05-02T02:00:00Z"]),
            next: Some(ts("2026-05-03T02:00:00Z")),
            ..Plan::default()
        }
    );
}

#[test]
fn never_fired_starts_at_created_rounded_up() {
    let every_second = cron("* * * * * *");
    let p = plan(
        &every_second,
        UTC,
        &Policy::default(),
        None,
        ts("2026-05-01T10:00:00.300Z"),
        ts("2026-05-01T10:00:03Z"),
    );
    assert_eq!(
        p.due,
        slots(&[
            "2026-05-01T10:00:01Z",
            "2026-05-01T10:00:02Z",
            "2026-05-01T10:00:03Z",
        ])
    );
    // A slot at the very instant of creation counts.
    let p = plan(
        &cron("0 10 * * *"),
        UTC,
        &Policy::default(),
        None,
        ts("2026-05-01T10:00:00Z"),
        ts("2026-05-01T10:00:01Z"),
    );
    assert_eq!(p.due, slots(&["2026-05-01T10:00:00Z"]));
}

#[test]
fn catch_up_policies_after_an_outage() {
    let hourly = cron("@hourly");
    let run = |catch_up, now| {
        plan(
            &hourly,
            UTC,
            &policy(catch_up, 18 * 3600),
            Some(ts("2026-05-01T05:00:00Z")),
            ts("2026-01-01T00:00:00Z"),
            ts(now),
        )
    };
    let overdue = [
        "2026-05-01T06:00:00Z",
        "2026-05-01T07:00:00Z",
        "2026-05-01T08:00:00Z",
    ];

    let latest = run(CatchUp::Latest, "2026-05-01T09:30:00Z");
    assert_eq!(latest.due, slots(&["2026-05-01T09:00:00Z"]));
    assert_eq!(latest.missed, missed(MissedReason::Superseded, &overdue));
    assert_eq!(latest.next, Some(ts("2026-05-01T10:00:00Z")));

    // With an on-time slot too, the newest overdue slot still runs once (before it).
    let latest = run(CatchUp::Latest, "2026-05-01T09:00:02Z");
    assert_eq!(
        latest.due,
        slots(&["2026-05-01T08:00:00Z", "2026-05-01T09:00:00Z"])
    );
    assert_eq!(
        latest.missed,
        missed(MissedReason::Superseded, &overdue[..2])
    );

    let none = run(CatchUp::None, "2026-05-01T09:30:00Z");
    assert!(none.due.is_empty());
    assert_eq!(
        none.missed,
        missed(
            MissedReason::CatchUpNone,
            &[overdue[0], overdue[1], overdue[2], "2026-05-01T09:00:00Z"]
        )
    );
    let none = run(CatchUp::None, "2026-05-01T09:00:05Z");
    assert_eq!(none.due, slots(&["2026-05-01T09:00:00Z"]));

    let all = run(CatchUp::All, "2026-05-01T09:30:00Z");
    assert_eq!(
        all.due,
        slots(&[overdue[0], overdue[1], overdue[2], "2026-05-01T09:00:00Z"])
    );
    assert!(all.missed.is_empty());
}

#[test]
fn deadline_and_on_time_boundaries() {
    let hourly = cron("@hourly");
    let run = |catch_up, now| {
        plan(
            &hourly,
            UTC,
            &policy(catch_up, 2 * 3600),
            Some(ts("2026-05-01T05:00:00Z")),
            ts("2026-01-01T00:00:00Z"),
            ts(now),
        )
    };
    // 06:00 is exactly two hours old: still within the deadline.
    let p = run(CatchUp::All, "2026-05-01T08:00:00Z");
    assert_eq!(
        p.due,
        slots(&[
            "2026-05-01T06:00:00Z",
            "2026-05-01T07:00:00Z",
            "2026-05-01T08:00:00Z"
        ])
    );
    let p = run(CatchUp::All, "2026-05-01T08:00:00.001Z");
    assert_eq!(
        p.missed,
        missed(MissedReason::PastDeadline, &["2026-05-01T06:00:00Z"])
    );
    assert_eq!(
        p.due,
        slots(&["2026-05-01T07:00:00Z", "2026-05-01T08:00:00Z"])
    );
    // Five seconds late is on time, whatever the policy; a millisecond more is not.
    let p = run(CatchUp::None, "2026-05-01T06:00:05Z");
    assert_eq!(p.due, slots(&["2026-05-01T06:00:00Z"]));
    let p = run(CatchUp::None, "2026-05-01T06:00:05.001Z");
    assert!(p.due.is_empty());
    assert_eq!(
        p.missed,
        missed(MissedReason::CatchUpNone, &["2026-05-01T06:00:00Z"])
    );
}

#[test]
fn a_decade_of_missed_seconds_is_listed_in_part_and_counted() {
    let every_second = cron("* * * * * *");
    let last_fired = ts("2016-05-01T00:00:00Z");
    let now = ts("2026-05-01T00:00:00Z");
    let p = plan(
        &every_second,
        UTC,
        &Policy::default(),
        Some(last_fired),
        ts("2016-01-01T00:00:00Z"),
        now,
    );
    let total = (now - last_fired).num_seconds() as u64;
    assert_eq!(
        p.due.len(),
        7,
        "the newest overdue second, then now and the five seconds before"
    );
    assert_eq!(p.missed.len(), MAX_MISSED);
    assert_eq!(p.missed_more, total - 7 - MAX_MISSED as u64);
    assert_eq!(p.missed[0].slot, last_fired + TimeDelta::seconds(1));
    assert!(p
        .missed
        .iter()
        .all(|m| m.reason == MissedReason::PastDeadline));
    assert_eq!(p.next, Some(now + TimeDelta::seconds(1)));
}

#[test]
fn nothing_at_or_before_last_fired_is_due() {
    let hourly = cron("@hourly");
    let now = ts("2026-05-01T09:00:01Z");
    let p = plan(
        &hourly,
        UTC,
        &Policy::default(),
        Some(ts("2026-05-01T09:00:00Z")),
        ts("2026-01-01T00:00:00Z"),
        now,
    );
    assert!(p.due.is_empty());
    assert_eq!(p.next, Some(ts("2026-05-01T10:00:00Z")));
    // A last run recorded ahead of this clock: the next slot is after it.
    let p = plan(
        &hourly,
        UTC,
        &Policy::default(),
        Some(ts("2026-05-01T11:00:00Z")),
        ts("2026-01-01T00:00:00Z"),
        now,
    );
    assert!(p.due.is_empty());
    assert_eq!(p.next, Some(ts("2026-05-01T12:00:00Z")));
}

#[test]
fn the_repeated_half_past_two_is_not_a_slot() {
    let zurich: Tz = "Europe/Zurich".parse().expect("zone");
    let p = plan(
        &cron("30 2 * * *"),
        zurich,
        &Policy::default(),
        Some(ts("2026-10-25T00:30:00Z")),
        ts("2026-01-01T00:00:00Z"),
        ts("2026-10-25T01:30:02Z"),
    );
    assert!(p.due.is_empty());
    assert!(p.missed.is_empty());
    assert_eq!(p.next, Some(ts("2026-10-26T01:30:00Z")));
}

#[test]
fn upcoming_fire_times() {
    let zurich: Tz = "Europe/Zurich".parse().expect("zone");
    assert_eq!(
        upcoming(&cron("30 2 * * *"), zurich, ts("2026-03-27T12:00:00Z"), 3),
        slots(&[
            "2026-03-28T01:30:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z",
        ])
    );
    assert_eq!(
        upcoming(
            &cron("0 0 0 1 1 * 2030"),
            UTC,
            ts("2026-01-01T00:00:00Z"),
            5
        )
        .len(),
        1
    );
}

#[test]
fn policy_names() {
    for (text, value) in [
        ("none", CatchUp::None),
        ("latest", CatchUp::Latest),
        ("all", CatchUp::All),
        ("Latest", CatchUp::Latest),
    ] {
        assert_eq!(text.parse::<CatchUp>(), Ok(value));
        assert_eq!(value.to_string(), text.to_ascii_lowercase());
    }
    assert_eq!(
        "some".parse::<CatchUp>().unwrap_err().to_string(),
        "unknown catch-up policy \"some\", expected none, latest or all"
    );
    let default = Policy::default();
    assert_eq!(default.catch_up, CatchUp::Latest);
    assert_eq!(default.starting_deadline, Duration::from_secs(18 * 3600));
    assert_eq!(default.on_time, Duration::from_secs(5));
    assert_eq!(MissedReason::PastDeadline.to_string(), "past-deadline");
    assert_eq!(MissedReason::CatchUpNone.to_string(), "catch-up-none");
    assert_eq!(MissedReason::Superseded.to_string(), "superseded");
}

fn catch_up() -> impl Strategy<Value = CatchUp> {
    prop_oneof![
        Just(CatchUp::None),
        Just(CatchUp::Latest),
        Just(CatchUp::All)
    ]
}

/// Slots in (after, until].
fn walk(c: &Cron, tz: Tz, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    c.iter_after(after, tz)
        .take_while(|t| *t <= until)
        .collect()
}

fn whole_second_before(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = DateTime::from_timestamp(t.timestamp(), 0).expect("valid");
    if whole == t {
        t - TimeDelta::seconds(1)
    } else {
        whole
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) A daemon that plans at random ticks and remembers its newest due slot never
    /// runs a slot twice, and runs slots in order.
    #[test]
    fn a_slot_is_never_due_twice(
        text in expression(),
        z in 0..ZONES.len(),
        pick in any::<u32>(),
        jitter in -86_400i64..86_400,
        catch_up in catch_up(),
        deadline in 60u64..(2 * 86_400),
        on_time in 0u64..30,
        gaps in prop::collection::vec(1i64..(8 * 3_600_000), 1..15),
    ) {
        let c = parse(&text).expect("valid");
        let tz = zone(z);
        let policy = Policy {
            catch_up,
            starting_deadline: Duration::from_secs(deadline),
            on_time: Duration::from_secs(on_time),
        };
        let created = instant_near(z, pick, jitter);
        let mut now = created;
        let mut last_fired = None;
        let mut ran = Vec::new();
        for gap in gaps {
            now += TimeDelta::milliseconds(gap);
            let p = plan(&c, tz, &policy, last_fired, created, now);
            for slot in &p.due {
                prop_assert!(*slot <= now);
                prop_assert!(last_fired.is_none_or(|l| *slot > l));
                prop_assert_eq!(c.next_after(*slot - TimeDelta::seconds(1), tz), Some(*slot));
            }
            ran.extend(p.due.iter().copied());
            if let Some(newest) = p.due.last() {
                last_fired = Some(*newest);
            }
        }
        prop_assert!(ran.windows(2).all(|w| w[0] < w[1]), "{:?}", ran);
    }

    /// (b) With `all` and ticks never further apart than the deadline, every slot between
    /// creation and the last tick is due exactly once.
    #[test]
    fn within_the_deadline_no_slot_is_skipped(
        text in expression(),
        z in 0..ZONES.len(),
        pick in any::<u32>(),
        jitter in -86_400i64..86_400,
        deadline in 60u64..86_400,
        on_time in 0u64..30,
        gaps in prop::collection::vec(any::<u32>(), 1..12),
    ) {
        let c = parse(&text).expect("valid");
        let tz = zone(z);
        let policy = Policy {
            catch_up: CatchUp::All,
            starting_deadline: Duration::from_secs(deadline),
            on_time: Duration::from_secs(on_time),
        };
        let longest = (deadline * 1000).min(6 * 3_600_000) as i64;
        let created = instant_near(z, pick, jitter) + TimeDelta::milliseconds(i64::from(pick % 1000));
        let mut now = created;
        let mut last_fired = None;
        let mut ran = Vec::new();
        for gap in gaps {
            now += TimeDelta::milliseconds(1 + i64::from(gap) % longest);
            let p = plan(&c, tz, &policy, last_fired, created, now);
            prop_assert!(p.missed.is_empty() && p.missed_more == 0, "{:?}", p.missed);
            ran.extend(p.due.iter().copied());
            if let Some(newest) = p.due.last() {
                last_fired = Some(*newest);
            }
        }
        prop_assert_eq!(ran, walk(&c, tz, whole_second_before(created), now));
    }

    /// (c) One plan obeys its policy: on-time slots run, overdue ones by the catch-up rule,
    /// ones past the deadline never; every slot in the window is due or missed.
    #[test]
    fn catch_up_obeys_its_policy(
        text in expression(),
        z in 0..ZONES.len(),
        pick in any::<u32>(),
        jitter in -86_400i64..86_400,
        catch_up in catch_up(),
        deadline in 60u64..(2 * 86_400),
        on_time in 0u64..30,
        window in 0i64..(3 * 86_400_000),
        fired in any::<bool>(),
    ) {
        let c = parse(&text).expect("valid");
        let tz = zone(z);
        let policy = Policy {
            catch_up,
            starting_deadline: Duration::from_secs(deadline),
            on_time: Duration::from_secs(on_time),
        };
        let start = instant_near(z, pick, jitter);
        let now = start + TimeDelta::milliseconds(window);
        let (last_fired, created, floor) = if fired {
            let whole = DateTime::from_timestamp(start.timestamp(), 0).expect("valid");
            (Some(whole), start - TimeDelta::days(30), whole)
        } else {
            (None, start, whole_second_before(start))
        };
        let p = plan(&c, tz, &policy, last_fired, created, now);

        let age = |s: DateTime<Utc>| (now - s).to_std().expect("slot not after now");
        let all = walk(&c, tz, floor, now);
        let on_time_slots: Vec<_> = all.iter().copied().filter(|s| age(*s) <= policy.on_time).collect();
        let overdue: Vec<_> = all
            .iter()
            .copied()
            .filter(|s| age(*s) > policy.on_time && age(*s) <= policy.starting_deadline)
            .collect();

        prop_assert!(p.due.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(p.due.iter().all(|s| all.contains(s)));
        prop_assert!(p.due.iter().all(|s| age(*s) <= policy.starting_deadline));
        for s in &on_time_slots {
            prop_assert!(p.due.contains(s), "on-time slot {} not due", s);
        }
        let overdue_due: Vec<_> = p.due.iter().copied().filter(|s| age(*s) > policy.on_time).collect();
        match catch_up {
            CatchUp::None => prop_assert!(overdue_due.is_empty()),
            CatchUp::Latest => {
                // The newest overdue slot runs once, whether or not a slot is also on time.
                let expected: Vec<_> = overdue.last().copied().into_iter().collect();
                prop_assert_eq!(overdue_due, expected);
            }
            CatchUp::All => prop_assert_eq!(overdue_due, overdue.clone()),
        }
        // Every slot is either due or missed, and the listed missed ones say why.
        prop_assert_eq!(p.due.len() as u64 + p.missed.len() as u64 + p.missed_more, all.len() as u64);
        prop_assert!(p.missed.len() <= MAX_MISSED);
        prop_assert!(p.missed.windows(2).all(|w| w[0].slot < w[1].slot));
        for m in &p.missed {
            prop_assert!(all.contains(&m.slot) && !p.due.contains(&m.slot));
            let reason = if age(m.slot) > policy.starting_deadline {
                MissedReason::PastDeadline
            } else if catch_up == CatchUp::None {
                MissedReason::CatchUpNone
            } else {
                MissedReason::Superseded
            };
            prop_assert_eq!(m.reason, reason, "{}", m.slot);
        }
        prop_assert_eq!(p.next, c.next_after(now.max(floor), tz));
    }
}
