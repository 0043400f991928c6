//! Time zones, and the daylight saving time rules: gaps are skipped, folds fire once.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// An unknown IANA time zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}, expected an IANA name such as \"Europe/Zurich\" or \"UTC\"")]
pub struct UnknownTimeZone(pub String);

/// Parses an IANA time zone name (`Europe/Zurich`, `America/New_York`, `UTC`).
pub fn parse_tz(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownTimeZone(name.to_string()))
}

pub(super) fn offset_at(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Smallest instant in (lo, hi] where `pred` holds, given it is false at lo, true at hi,
/// and flips once in between.
pub(super) fn first_instant(
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    pred: impl Fn(DateTime<Utc>) -> bool,
) -> DateTime<Utc> {
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let t = DateTime::from_timestamp(mid, 0).expect("between two valid instants");
        if pred(t) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).expect("a valid instant")
}

/// The first local time at or after which every existing local time first occurs at or
/// after `t`: the local time of `t`, except in the repeated half of a fall-back fold, where
/// every local time of the fold already occurred once, so it is the end of the fold.
pub(crate) fn local_floor(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    let here = local(tz, t);
    if let LocalResult::Ambiguous(a, b) = tz.from_local_datetime(&here) {
        let first = a.min(b);
        let first_utc = first.with_timezone(&Utc);
        if first_utc < t {
            let early = first.offset().fix();
            let change = first_instant(first_utc, t, |x| {
                tz.offset_from_utc_datetime(&x.naive_utc()).fix() != early
            });
            return change.naive_utc() + TimeDelta::seconds(early.local_minus_utc().into());
        }
    }
    here
}

/// The first existing local time after `missing`, a local time in a spring-forward gap.
pub(super) fn gap_end(tz: Tz, missing: NaiveDateTime) -> NaiveDateTime {
    let step = missing + TimeDelta::seconds(1);
    let as_utc = missing.and_utc();
    let t1 = as_utc - TimeDelta::seconds(offset_at(tz, as_utc).into());
    let t2 = as_utc - TimeDelta::seconds(offset_at(tz, t1).into());
    let (lo, hi) = (t1.min(t2), t1.max(t2));
    if local(tz, lo) < missing && local(tz, hi) > missing {
        local(tz, first_instant(lo, hi, |t| local(tz, t) > missing))
    } else {
        // Not the usual one-transition gap: crawl, which is slow but still correct.
        step
    }
}
