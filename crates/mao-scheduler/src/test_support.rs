//! Generators and helpers shared by the crate's property tests.

use std::sync::LazyLock;

use chrono::{DateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

/// Zones with every kind of trouble: none, hour-long DST, half-hour DST (Lord Howe), DST at
/// midnight (Santiago), odd offsets (Chatham, St Johns, Kolkata), Ramadan DST (Casablanca).
pub const ZONES: &[&str] = &[
    "UTC",
    "Europe/Zurich",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "America/St_Johns",
    "Africa/Casablanca",
];

/// Offset changes of each zone of [`ZONES`] during 2026, found by scanning.
static TRANSITIONS: LazyLock<Vec<Vec<DateTime<Utc>>>> = LazyLock::new(|| {
    ZONES
        .iter()
        .map(|name| {
            let tz: Tz = name.parse().expect("known zone");
            let offset = |t: DateTime<Utc>| {
                tz.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc()
            };
            let mut found = Vec::new();
            let mut t = ts("2026-01-01T00:00:00Z");
            while t < ts("2027-01-01T00:00:00Z") {
                let next = t + TimeDelta::hours(1);
                if offset(t) != offset(next) {
                    let (mut lo, mut hi) = (t, next);
                    while hi - lo > TimeDelta::seconds(1) {
                        let mid = lo + (hi - lo) / 2;
                        if offset(mid) == offset(t) {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    found.push(hi);
                }
                t = next;
            }
            found
        })
        .collect()
});

/// Parses an RFC 3339 instant.
pub fn ts(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid test instant")
        .with_timezone(&Utc)
}

/// The zone at `index` of [`ZONES`].
pub fn zone(index: usize) -> Tz {
    ZONES[index].parse().expect("known zone")
}

/// An instant in 2026 near a DST transition of the zone most of the time, `jitter` seconds
/// away from it.
pub fn instant_near(zone: usize, pick: u32, jitter: i64) -> DateTime<Utc> {
    let transitions = &TRANSITIONS[zone];
    // Three picks in four land near a transition.
    let base = if !transitions.is_empty() && pick & 3 != 0 {
        transitions[pick as usize % transitions.len()]
    } else {
        ts("2026-01-01T00:00:00Z") + TimeDelta::seconds(i64::from(pick % (365 * 86_400)))
    };
    base + TimeDelta::seconds(jitter)
}

fn item(min: u32, max: u32) -> BoxedStrategy<String> {
    // Steps reach over the field once: 7 days, not the 8 values 0-7.
    let span = (max - min + 1).min(if max == 7 { 7 } else { 60 });
    prop_oneof![
        3 => Just("*".to_string()),
        3 => (min..=max).prop_map(|v| v.to_string()),
        2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        2 => (2..=span).prop_map(|n| format!("*/{n}")),
        1 => (min..=max, 1..=span).prop_map(|(a, n)| format!("{a}/{n}")),
        1 => (min..=max, min..=max, 1..=span)
            .prop_map(|(a, b, n)| format!("{}-{}/{n}", a.min(b), a.max(b))),
    ]
    .boxed()
}

fn list(min: u32, max: u32) -> BoxedStrategy<String> {
    prop::collection::vec(item(min, max), 1..=3)
        .prop_map(|items| items.join(","))
        .boxed()
}

/// Seconds kept sparse so that a day holds thousands of slots, not hundreds of thousands.
fn seconds() -> BoxedStrategy<String> {
    prop_oneof![
        Just("0".to_string()),
        Just("30".to_string()),
        Just("0,30".to_string()),
        Just("*/15".to_string()),
        Just("*/20".to_string()),
        Just("10-12".to_string()),
        (0u32..60).prop_map(|v| v.to_string()),
    ]
    .boxed()
}

fn years() -> BoxedStrategy<String> {
    prop_oneof![
        Just("*".to_string()),
        Just("2026".to_string()),
        Just("2025-2027".to_string()),
        Just("2026,2027".to_string()),
        Just("2024/2".to_string()),
        Just("2025".to_string()),
    ]
    .boxed()
}

fn days_of_week() -> BoxedStrategy<String> {
    prop_oneof![
        4 => list(0, 7),
        1 => Just("?".to_string()),
        1 => Just("MON-FRI".to_string()),
        1 => Just("sat,Sun".to_string()),
    ]
    .boxed()
}

fn months() -> BoxedStrategy<String> {
    prop_oneof![
        4 => list(1, 12),
        1 => Just("MAR-apr,Oct,nov".to_string()),
    ]
    .boxed()
}

/// Valid cron expressions in every accepted form.
pub fn expression() -> BoxedStrategy<String> {
    let five = (
        list(0, 59),
        list(0, 23),
        prop_oneof![4 => list(1, 31), 1 => Just("?".to_string())],
        months(),
        days_of_week(),
    )
        .prop_map(|(mi, h, dom, mo, dow)| format!("{mi} {h} {dom} {mo} {dow}"));
    prop_oneof![
        1 => prop::sample::select(vec![
            "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
            "daily", "weekly", "hourly",
        ])
        .prop_map(str::to_string),
        5 => five.clone(),
        3 => (seconds(), five.clone()).prop_map(|(s, rest)| format!("{s} {rest}")),
        2 => (seconds(), five, years()).prop_map(|(s, rest, y)| format!("{s} {rest} {y}")),
    ]
    .boxed()
}
