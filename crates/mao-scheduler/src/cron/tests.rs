use chrono::{DateTime, LocalResult, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;
use crate::test_support::{expression, instant_near, ts, zone, ZONES};

fn cron(text: &str) -> Cron {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("{text:?} should not parse, got {c}"),
        Err(e) => e.to_string(),
    }
}

fn tz(name: &str) -> Tz {
    parse_tz(name).expect("known zone")
}

/// Fire times in (from, to].
fn fires(c: &Cron, tz: Tz, from: &str, to: &str) -> Vec<DateTime<Utc>> {
    let to = ts(to);
    c.iter_after(ts(from), tz)
        .take_while(|t| *t <= to)
        .collect()
}

fn all(texts: &[&str]) -> Vec<DateTime<Utc>> {
    texts.iter().map(|t| ts(t)).collect()
}

/// The brute-force meaning of a fire time: a matching local time, at its first instant.
fn is_fire(c: &Cron, tz: Tz, t: DateTime<Utc>) -> bool {
    let here = t.with_timezone(&tz).naive_local();
    let first = match tz.from_local_datetime(&here) {
        LocalResult::Single(x) => x,
        LocalResult::Ambiguous(a, b) => a.min(b),
        LocalResult::None => unreachable!("an instant's own local time exists"),
    };
    c.matches(here) && first.with_timezone(&Utc) == t
}

#[test]
fn five_fields_with_names_lists_ranges_and_steps() {
    let c = cron("*/15 9-17 * * MON-FRI");
    assert_eq!(c.to_string(), "*/15 9-17 * * 1-5");
    assert_eq!(c.source(), "*/15 9-17 * * MON-FRI");
    assert_eq!(cron("0 0 * jan,Mar-may *").to_string(), "0 0 * 1,3-5 *");
    assert_eq!(cron("5/20 * * * *").to_string(), "5/20 * * * *");
    assert_eq!(cron("10-40/10 * * * *").to_string(), "10-40/10 * * * *");
    assert_eq!(cron("1,2,3,7 1-3,5 * * *").to_string(), "1-3,7 1-3,5 * * *");
    assert_eq!(cron("0,30 * * * *").to_string(), "*/30 * * * *");
    assert_eq!(cron("0 8,20 * * *").to_string(), "0 8,20 * * *");
    assert_eq!(cron("0 */1 * * *").to_string(), "0 * * * *");
    assert_eq!(cron("  0 12 * * *  ").source(), "  0 12 * * *  ");
    assert!(!cron("0 12 * * *").has_seconds());
}

#[test]
fn six_and_seven_fields() {
    let c = cron("30 0 12 * * *");
    assert_eq!(c.to_string(), "30 0 12 * * *");
    assert!(c.has_seconds());
    assert_eq!(cron("0 0 12 * * *").to_string(), "0 12 * * *");
    assert_eq!(cron("0 0 12 1 1 * 2027").to_string(), "0 0 12 1 1 * 2027");
    assert_eq!(
        cron("0 0 12 1 1 * 2026-2030/2").to_string(),
        "0 0 12 1 1 * 2026-2030/2"
    );
    // A free year is no year at all.
    assert_eq!(cron("0 0 12 1 1 * *").to_string(), "0 12 1 1 *");
    assert_eq!(cron("0 0 12 1 1 * *"), cron("0 12 1 1 *"));
    assert_eq!(
        cron("0 0 0 1 1 * 1970,2199").to_string(),
        "0 0 0 1 1 * 1970,2199"
    );
}

#[test]
fn nicknames_and_plain_words() {
    for (nick, normal) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("daily", "0 0 * * *"),
        ("Weekly", "0 0 * * 0"),
        ("hourly", "0 * * * *"),
    ] {
        let c = cron(nick);
        assert_eq!(c.to_string(), normal, "{nick}");
        assert_eq!(c.source(), nick);
        assert_eq!(c, cron(normal));
    }
}

#[test]
fn question_mark_and_sunday_as_seven() {
    assert_eq!(cron("0 0 ? * MON"), cron("0 0 * * 1"));
    assert_eq!(cron("0 0 1 * ?"), cron("0 0 1 * *"));
    assert_eq!(cron("0 0 * * 7"), cron("0 0 * * 0"));
    assert_eq!(cron("0 0 * * sun"), cron("0 0 * * 0"));
    assert_eq!(cron("0 0 * * 5-7").to_string(), "0 0 * * 0,5,6");
    // Written out, a full day-of-week still restricts: it keeps the either-day rule.
    assert_eq!(cron("0 0 * * 0-7").to_string(), "0 0 * * 0-6");
    assert_ne!(cron("0 0 1 * 0-6"), cron("0 0 1 * *"));
    assert_eq!(cron("0 0 * * */2").to_string(), "0 0 * * */2");
}

#[test]
fn errors_name_their_field() {
    let cases = [
        ("* * * *", "expected 5, 6 or 7 fields, got 4"),
        ("* * * * * * * *", "expected 5, 6 or 7 fields, got 8"),
        ("every day", "expected 5, 6 or 7 fields, got 2"),
        ("", "cron expression is empty"),
        ("   ", "cron expression is empty"),
        ("60 * * * * *", "second: 60 is out of range 0-59"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("0 25 * * *", "hour: 25 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("0 0 * FOO *", "month: \"FOO\" is not a month name"),
        (
            "0 0 * * FUNDAY",
            "day-of-week: \"FUNDAY\" is not a day name",
        ),
        ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
        ("0 0 0 1 1 * 2200", "year: 2200 is out of range 1970-2199"),
        ("0 0 0 1 1 * 1969", "year: 1969 is out of range 1970-2199"),
        ("0 0 0 1 1 * x", "year: \"x\" is not a number"),
        ("abc * * * *", "minute: \"abc\" is not a number"),
        ("-5 * * * *", "minute: empty value in \"-5\""),
        ("1,,2 * * * *", "minute: empty value in \"1,,2\""),
        ("0 5- * * *", "hour: empty value in \"5-\""),
        (
            "0 ? * * *",
            "hour: \"?\" is only allowed in day-of-month and day-of-week",
        ),
        (
            "? * * * * *",
            "second: \"?\" is only allowed in day-of-month and day-of-week",
        ),
        ("*/0 * * * *", "minute: step 0 is out of range 1-60"),
        ("*/61 * * * *", "minute: step 61 is out of range 1-60"),
        ("0 0 * * */8", "day-of-week: step 8 is out of range 1-7"),
        ("*/x * * * *", "minute: step \"x\" is not a number"),
        ("*/ * * * *", "minute: step \"\" is not a number"),
        ("*/2/3 * * * *", "minute: \"*/2/3\" has more than one step"),
        ("0 5-2 * * *", "hour: range \"5-2\" starts after it ends"),
        (
            "0 0 * * FRI-MON",
            "day-of-week: range \"FRI-MON\" starts after it ends",
        ),
        (
            "0 0 * DEC-JAN *",
            "month: range \"DEC-JAN\" starts after it ends",
        ),
        (
            "0 0 99999999999 * *",
            "day-of-month: 99999999999 is out of range 1-31",
        ),
        (
            "@reboot",
            "unknown nickname \"@reboot\", expected @yearly, @annually, @monthly, @weekly, \
             @daily, @midnight or @hourly",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(error(text), message, "{text:?}");
    }
    let field = |text: &str| match parse(text) {
        Err(CronError::Field { field, .. }) => field,
        other => panic!("{text:?}: {other:?}"),
    };
    assert_eq!(field("0 0 * * FUNDAY"), Field::DayOfWeek);
    assert_eq!(field("0 0 1 1 * 2200"), Field::DayOfWeek);
    assert_eq!(field("0 0 0 1 1 * 2200"), Field::Year);
}

#[test]
fn time_zone_names() {
    assert_eq!(tz("Europe/Zurich"), chrono_tz::Europe::Zurich);
    assert_eq!(tz(" UTC "), chrono_tz::UTC);
    assert_eq!(
        parse_tz("Mars/Olympus").unwrap_err().to_string(),
        "unknown time zone \"Mars/Olympus\", expected an IANA name such as \"Europe/Zurich\" or \"UTC\""
    );
    assert!(parse_tz("").is_err());
}

#[test]
fn next_after_is_strict_and_drops_sub_seconds() {
    let c = cron("* * * * * *");
    let utc = chrono_tz::UTC;
    let t = ts("2026-05-01T10:00:00Z");
    assert_eq!(c.next_after(t, utc), Some(ts("2026-05-01T10:00:01Z")));
    let frac = ts("2026-05-01T10:00:00.500Z");
    assert_eq!(c.next_after(frac, utc), Some(ts("2026-05-01T10:00:01Z")));
    let hourly = cron("@hourly");
    assert_eq!(
        hourly.next_after(ts("2026-05-01T10:00:00Z"), utc),
        Some(ts("2026-05-01T11:00:00Z"))
    );
    assert_eq!(
        hourly.next_after(ts("2026-05-01T09:59:59.999Z"), utc),
        Some(ts("2026-05-01T10:00:00Z"))
    );
}

#[test]
fn month_ends_and_year_ends() {
    let utc = chrono_tz::UTC;
    assert_eq!(
        fires(
            &cron("0 0 31 * *"),
            utc,
            "2026-01-31T00:00:00Z",
            "2026-08-01T00:00:00Z"
        ),
        all(&[
            "2026-03-31T00:00:00Z",
            "2026-05-31T00:00:00Z",
            "2026-07-31T00:00:00Z",
        ])
    );
    assert_eq!(
        fires(
            &cron("59 23 30 * *"),
            utc,
            "2026-01-31T00:00:00Z",
            "2026-04-01T00:00:00Z"
        ),
        all(&["2026-03-30T23:59:00Z"])
    );
    assert_eq!(
        fires(
            &cron("59 59 23 31 12 *"),
            utc,
            "2026-06-01T00:00:00Z",
            "2028-01-01T00:00:00Z"
        ),
        all(&["2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"])
    );
}

#[test]
fn leap_years_and_impossible_days() {
    let utc = chrono_tz::UTC;
    let feb29 = cron("0 12 29 2 *");
    assert_eq!(
        feb29.next_after(ts("2026-01-01T00:00:00Z"), utc),
        Some(ts("2028-02-29T12:00:00Z"))
    );
    // 2100 is not a leap year: the longest wait there is, eight years.
    assert_eq!(
        feb29.next_after(ts("2096-03-01T00:00:00Z"), utc),
        Some(ts("2104-02-29T12:00:00Z"))
    );
    assert_eq!(
        cron("0 0 30 2 *").next_after(ts("2026-01-01T00:00:00Z"), utc),
        None
    );
    assert_eq!(
        cron("0 0 31 4,6 *").next_after(ts("2026-01-01T00:00:00Z"), utc),
        None
    );
    assert_eq!(
        cron("0 0 0 31 2 * 1970-2199").next_after(ts("1970-01-01T00:00:00Z"), utc),
        None
    );
    assert_eq!(
        cron("@yearly").next_after(ts("2026-01-01T00:00:00Z"), utc),
        Some(ts("2027-01-01T00:00:00Z"))
    );
}

#[test]
fn either_day_rule() {
    let utc = chrono_tz::UTC;
    // 2026-01-01 is a Thursday: the 13th or any Friday.
    assert_eq!(
        fires(
            &cron("0 0 13 * FRI"),
            utc,
            "2026-01-01T00:00:00Z",
            "2026-01-20T00:00:00Z"
        ),
        all(&[
            "2026-01-02T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-13T00:00:00Z",
            "2026-01-16T00:00:00Z",
        ])
    );
    // One day field free: both must match, so Friday the 13th only.
    assert_eq!(
        fires(
            &cron("0 0 * * FRI"),
            utc,
            "2026-01-01T00:00:00Z",
            "2026-01-12T00:00:00Z"
        ),
        all(&["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"])
    );
    assert_eq!(
        fires(
            &cron("0 0 13 * ?"),
            utc,
            "2026-01-01T00:00:00Z",
            "2026-03-01T00:00:00Z"
        ),
        all(&["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"])
    );
}

#[test]
fn seconds_and_years() {
    let utc = chrono_tz::UTC;
    assert_eq!(
        fires(
            &cron("*/20 * * * * *"),
            utc,
            "2026-05-01T10:00:05Z",
            "2026-05-01T10:01:00Z"
        ),
        all(&[
            "2026-05-01T10:00:20Z",
            "2026-05-01T10:00:40Z",
            "2026-05-01T10:01:00Z",
        ])
    );
    let c = cron("0 0 0 1 1 * 2030,2035");
    assert_eq!(
        c.iter_after(ts("2026-05-01T00:00:00Z"), utc)
            .collect::<Vec<_>>(),
        all(&["2030-01-01T00:00:00Z", "2035-01-01T00:00:00Z"])
    );
    assert_eq!(
        cron("0 0 0 1 1 * 2020").next_after(ts("2026-01-01T00:00:00Z"), utc),
        None
    );
    assert_eq!(
        cron("0 0 0 1 1 * 2199").next_after(ts("2026-01-01T00:00:00Z"), utc),
        Some(ts("2199-01-01T00:00:00Z"))
    );
}

#[test]
fn local_time_in_a_zone() {
    let c = cron("0 9 * * *");
    assert_eq!(
        c.next_after(ts("2026-05-01T00:00:00Z"), tz("Asia/Kolkata")),
        Some(ts("2026-05-01T03:30:00Z"))
    );
    assert_eq!(
        c.next_after(ts("2026-05-01T00:00:00Z"), tz("Europe/Zurich")),
        Some(ts("2026-05-01T07:00:00Z"))
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    let c = cron("* * * * * *");
    for zone in ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"] {
        let _ = c.next_after(DateTime::<Utc>::MIN_UTC, tz(zone));
        assert_eq!(c.next_after(DateTime::<Utc>::MAX_UTC, tz(zone)), None);
    }
}

#[test]
fn zurich_daily_at_half_past_two_across_both_transitions() {
    let zurich = tz("Europe/Zurich");
    let c = cron("30 2 * * *");
    // 2026-03-29 02:30 does not exist: no run that day.
    assert_eq!(
        fires(&c, zurich, "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
        all(&[
            "2026-03-27T01:30:00Z",
            "2026-03-28T01:30:00Z",
            "2026-03-30T00:30:00Z",
        ])
    );
    // 2026-10-25 02:30 exists twice: one run, at the summer-time instant.
    assert_eq!(
        fires(&c, zurich, "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"),
        all(&[
            "2026-10-23T00:30:00Z",
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
        ])
    );
    // Having fired the first 02:30, the second one is never next, wherever we start.
    for after in [
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:00:00Z",
        "2026-10-25T01:29:59Z",
        "2026-10-25T01:30:00Z",
    ] {
        assert_eq!(
            c.next_after(ts(after), zurich),
            Some(ts("2026-10-26T01:30:00Z")),
            "{after}"
        );
    }
}

#[test]
fn zurich_every_quarter_hour_across_both_transitions() {
    let zurich = tz("Europe/Zurich");
    let c = cron("*/15 * * * *");
    assert_eq!(
        fires(&c, zurich, "2026-03-29T00:30:00Z", "2026-03-29T01:15:00Z"),
        all(&[
            "2026-03-29T00:45:00Z", // 01:45 CET
            "2026-03-29T01:00:00Z", // 03:00 CEST
            "2026-03-29T01:15:00Z",
        ])
    );
    let fold = fires(&c, zurich, "2026-10-24T23:30:00Z", "2026-10-25T02:15:00Z");
    assert_eq!(
        fold,
        all(&[
            "2026-10-24T23:45:00Z", // 01:45 CEST
            "2026-10-25T00:00:00Z", // 02:00 CEST
            "2026-10-25T00:15:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T00:45:00Z", // 02:45 CEST; 02:00-02:45 CET are repeats
            "2026-10-25T02:00:00Z", // 03:00 CET
            "2026-10-25T02:15:00Z",
        ])
    );
    let locals: Vec<_> = fold
        .iter()
        .map(|t| t.with_timezone(&zurich).naive_local())
        .collect();
    assert!(locals.windows(2).all(|w| w[0] < w[1]), "{locals:?}");
    // Starting inside the repeated hour skips to its end.
    assert_eq!(
        c.next_after(ts("2026-10-25T01:10:00Z"), zurich),
        Some(ts("2026-10-25T02:00:00Z"))
    );
}

#[test]
fn new_york_daily_jobs_across_both_transitions() {
    let ny = tz("America/New_York");
    let c = cron("30 2 * * *");
    // 2026-03-08 02:30 does not exist.
    assert_eq!(
        fires(&c, ny, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        all(&["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"])
    );
    // The fold is 01:00-02:00 here, so 02:30 is an ordinary time on 2026-11-01.
    assert_eq!(
        fires(&c, ny, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
        all(&[
            "2026-10-31T06:30:00Z",
            "2026-11-01T07:30:00Z",
            "2026-11-02T07:30:00Z",
        ])
    );
    // 01:30 exists twice on 2026-11-01: one run, at the daylight-time instant.
    assert_eq!(
        fires(
            &cron("30 1 * * *"),
            ny,
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z"
        ),
        all(&[
            "2026-10-31T05:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
        ])
    );
}

#[test]
fn new_york_every_quarter_hour_across_both_transitions() {
    let ny = tz("America/New_York");
    let c = cron("*/15 * * * *");
    assert_eq!(
        fires(&c, ny, "2026-03-08T06:30:00Z", "2026-03-08T07:15:00Z"),
        all(&[
            "2026-03-08T06:45:00Z", // 01:45 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT
            "2026-03-08T07:15:00Z",
        ])
    );
    assert_eq!(
        fires(&c, ny, "2026-11-01T04:30:00Z", "2026-11-01T07:15:00Z"),
        all(&[
            "2026-11-01T04:45:00Z", // 00:45 EDT
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T05:15:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T05:45:00Z", // 01:45 EDT; 01:00-01:45 EST are repeats
            "2026-11-01T07:00:00Z", // 02:00 EST
            "2026-11-01T07:15:00Z",
        ])
    );
}

#[test]
fn half_hour_shift_and_midnight_gap() {
    // Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
    let lord_howe = tz("Australia/Lord_Howe");
    assert_eq!(
        fires(
            &cron("*/10 2 4 10 *"),
            lord_howe,
            "2026-10-03T00:00:00Z",
            "2026-10-05T00:00:00Z"
        ),
        all(&[
            "2026-10-03T15:30:00Z", // 02:30 +11
            "2026-10-03T15:40:00Z",
            "2026-10-03T15:50:00Z",
        ])
    );
    // Santiago springs forward at midnight: 2026-09-06 00:00 -> 01:00 does not exist.
    let santiago = tz("America/Santiago");
    assert_eq!(
        fires(
            &cron("@daily"),
            santiago,
            "2026-09-05T00:00:00Z",
            "2026-09-08T00:00:00Z"
        ),
        all(&["2026-09-05T04:00:00Z", "2026-09-07T03:00:00Z"])
    );
}

#[test]
fn count_between_matches_a_walk() {
    let zurich = tz("Europe/Zurich");
    let c = cron("*/15 * * * *");
    let (from, to) = (ts("2026-10-24T00:00:00Z"), ts("2026-10-27T00:00:00Z"));
    let walked = c.iter_after(from, zurich).take_while(|t| *t <= to).count();
    assert_eq!(c.count_between(from, to, zurich), walked as u64);
    let every_second = cron("* * * * * *");
    let (from, to) = (ts("2016-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"));
    // Ten years of seconds, less each autumn's repeated hour, which fires no second time.
    let seconds = (to - from).num_seconds() as u64;
    assert_eq!(
        every_second.count_between(from, to, chrono_tz::UTC),
        seconds
    );
    assert_eq!(
        every_second.count_between(from, to, zurich),
        seconds - 10 * 3600
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The normalized form parses back to the same schedule, and to the same text.
    #[test]
    fn display_round_trips(text in expression()) {
        let c = cron(&text);
        let again = cron(&c.to_string());
        prop_assert_eq!(&again, &c, "{} -> {}", text, c);
        prop_assert_eq!(again.to_string(), c.to_string());
    }

    /// Counting agrees with walking, across transitions.
    #[test]
    fn count_agrees_with_walk(
        text in expression(),
        z in 0..ZONES.len(),
        pick in any::<u32>(),
        jitter in -86_400i64..86_400,
        span in 0i64..(2 * 86_400),
    ) {
        let c = cron(&text);
        let tz = zone(z);
        let from = instant_near(z, pick, jitter);
        let to = from + TimeDelta::seconds(span);
        let walked = c.iter_after(from, tz).take_while(|t| *t <= to).count() as u64;
        prop_assert_eq!(c.count_between(from, to, tz), walked);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// next_after finds exactly the instants a second-by-second scan finds.
    #[test]
    fn next_after_agrees_with_a_scan(
        text in expression(),
        z in 0..ZONES.len(),
        pick in any::<u32>(),
        jitter in -5_400i64..1_800,
    ) {
        let c = cron(&text);
        let tz = zone(z);
        let from = instant_near(z, pick, jitter);
        let to = from + TimeDelta::hours(2);
        let found: Vec<_> = c.iter_after(from, tz).take_while(|t| *t <= to).collect();
        let scanned: Vec<_> = (1..=7_200)
            .map(|s| from + TimeDelta::seconds(s))
            .filter(|t| is_fire(&c, tz, *t))
            .collect();
        prop_assert_eq!(found, scanned);
    }
}

#[test]
fn an_expression_longer_than_256_characters_is_refused_before_it_is_parsed() {
    let long = format!("0 0 * * {}", "1,".repeat(5_000));
    assert_eq!(
        error(&long),
        format!(
            "cron expression is {} characters long; at most 256 are accepted",
            long.len()
        )
    );
    // Just under the bound still parses as usual.
    let list = (0..59).map(|m| m.to_string()).collect::<Vec<_>>().join(",");
    assert!(list.len() + 8 <= 256);
    cron(&format!("{list} * * * *"));
}
