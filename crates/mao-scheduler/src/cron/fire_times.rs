//! Fire times: the next one after an instant, and how many lie between two, without
//! visiting each.

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use super::zone::{first_instant, gap_end, local_floor, offset_at};
use super::{Cron, FIRST_YEAR, LAST_YEAR};

/// Years searched past the start when the year is free: a day that exists at all (Feb 29
/// across a non-leap century year is the worst case) comes back within eight years.
const HORIZON_YEARS: i32 = 8;

/// A calendar position in local time, kept as plain numbers while the search jumps.
#[derive(Debug, Clone, Copy)]
struct Moment {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Moment {
    fn of(t: NaiveDateTime) -> Self {
        Moment {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
        }
    }

    fn start_of_month(year: i32, month: u32) -> Self {
        Moment {
            year,
            month,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    fn next_month(self) -> Self {
        if self.month == 12 {
            Moment::start_of_month(self.year + 1, 1)
        } else {
            Moment::start_of_month(self.year, self.month + 1)
        }
    }

    fn next_day(self) -> Self {
        if self.day >= days_in_month(self.year, self.month) {
            self.next_month()
        } else {
            Moment {
                day: self.day + 1,
                hour: 0,
                minute: 0,
                second: 0,
                ..self
            }
        }
    }

    fn next_hour(self) -> Self {
        if self.hour == 23 {
            self.next_day()
        } else {
            Moment {
                hour: self.hour + 1,
                minute: 0,
                second: 0,
                ..self
            }
        }
    }

    fn next_minute(self) -> Self {
        if self.minute == 59 {
            self.next_hour()
        } else {
            Moment {
                minute: self.minute + 1,
                second: 0,
                ..self
            }
        }
    }

    fn naive(self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)?.and_hms_opt(
            self.hour,
            self.minute,
            self.second,
        )
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Smallest set bit at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Instants whose local time exists in every zone, with a day to spare for the search.
fn representable() -> (DateTime<Utc>, DateTime<Utc>) {
    let margin = TimeDelta::days(2);
    (
        DateTime::<Utc>::MIN_UTC + margin,
        DateTime::<Utc>::MAX_UTC - margin,
    )
}

impl Cron {
    /// The first instant strictly after `after` whose local time in `tz` matches.
    ///
    /// Second resolution: sub-seconds of `after` are dropped. Local times that do not exist
    /// are skipped and local times that exist twice fire at their earlier instant only (see
    /// the crate docs). `None` when nothing matches within eight years (or before the last
    /// year of a seven-field expression).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let after = truncate(after);
        let start = after.checked_add_signed(TimeDelta::seconds(1))?;
        let (lowest, highest) = representable();
        if start > highest {
            return None;
        }
        let start = start.max(lowest);
        let mut from = local_floor(tz, start);
        let last_year = self.last_year(from.year());
        loop {
            let candidate = self.next_local(from, last_year)?;
            let first = match tz.from_local_datetime(&candidate) {
                LocalResult::Single(t) => t,
                LocalResult::Ambiguous(a, b) => a.min(b),
                LocalResult::None => {
                    from = gap_end(tz, candidate);
                    continue;
                }
            };
            let first = first.with_timezone(&Utc);
            if first > after {
                return Some(first);
            }
            // Only zones whose transitions overlap get here; move on rather than loop.
            from = candidate + TimeDelta::seconds(1);
        }
    }

    /// Successive fire times strictly after `after`.
    pub fn iter_after(&self, after: DateTime<Utc>, tz: Tz) -> FireTimes<'_> {
        FireTimes {
            cron: self,
            tz,
            cursor: Some(after),
        }
    }

    /// True when the local time matches every field.
    #[cfg(test)]
    pub(crate) fn matches(&self, t: NaiveDateTime) -> bool {
        let x = &self.fields;
        self.year_ok(t.year())
            && x.months & (1 << t.month()) != 0
            && self.day_ok(t.year(), t.month(), t.day())
            && x.hours & (1 << t.hour()) != 0
            && x.minutes & (1 << t.minute()) != 0
            && x.seconds & (1 << t.second()) != 0
    }

    fn year_ok(&self, year: i32) -> bool {
        match &self.fields.years {
            None => true,
            Some(bits) => {
                let i = year - FIRST_YEAR;
                (0..256).contains(&i) && bits[(i / 64) as usize] & (1 << (i % 64)) != 0
            }
        }
    }

    /// The first allowed year at or after `from` (years restricted only).
    fn next_year(&self, from: i32) -> Option<i32> {
        (from.max(FIRST_YEAR)..=LAST_YEAR).find(|&y| self.year_ok(y))
    }

    fn last_year(&self, start: i32) -> i32 {
        let year = match &self.fields.years {
            Some(_) => (FIRST_YEAR..=LAST_YEAR)
                .rev()
                .find(|&y| self.year_ok(y))
                .unwrap_or(FIRST_YEAR - 1),
            None => start.saturating_add(HORIZON_YEARS),
        };
        year.min(NaiveDate::MAX.year() - 1)
    }

    /// Standard cron rule: when both day fields are restricted a day matches if either
    /// does, otherwise both must.
    fn day_ok(&self, year: i32, month: u32, day: u32) -> bool {
        let x = &self.fields;
        let dom = x.days_of_month & (1 << day) != 0;
        let dow = NaiveDate::from_ymd_opt(year, month, day)
            .is_some_and(|d| x.days_of_week & (1 << d.weekday().num_days_from_sunday()) != 0);
        if x.dom_any || x.dow_any {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching local time at or after `from`, jumping field by field, not
    /// looking past `last_year`.
    fn next_local(&self, from: NaiveDateTime, last_year: i32) -> Option<NaiveDateTime> {
        let x = &self.fields;
        let mut m = Moment::of(from);
        loop {
            if m.year > last_year {
                return None;
            }
            if !self.year_ok(m.year) {
                m = Moment::start_of_month(self.next_year(m.year + 1)?, 1);
                continue;
            }
            match next_bit(x.months, m.month) {
                None => {
                    m = Moment::start_of_month(m.year + 1, 1);
                    continue;
                }
                Some(month) if month != m.month => m = Moment::start_of_month(m.year, month),
                Some(_) => {}
            }
            let days = days_in_month(m.year, m.month);
            match (m.day..=days).find(|&d| self.day_ok(m.year, m.month, d)) {
                None => {
                    m = m.next_month();
                    continue;
                }
                Some(day) if day != m.day => {
                    m = Moment {
                        day,
                        hour: 0,
                        minute: 0,
                        second: 0,
                        ..m
                    }
                }
                Some(_) => {}
            }
            match next_bit(x.hours, m.hour) {
                None => {
                    m = m.next_day();
                    continue;
                }
                Some(hour) if hour != m.hour => {
                    m = Moment {
                        hour,
                        minute: 0,
                        second: 0,
                        ..m
                    }
                }
                Some(_) => {}
            }
            match next_bit(x.minutes, m.minute) {
                None => {
                    m = m.next_hour();
                    continue;
                }
                Some(minute) if minute != m.minute => {
                    m = Moment {
                        minute,
                        second: 0,
                        ..m
                    }
                }
                Some(_) => {}
            }
            match next_bit(x.seconds, m.second) {
                None => {
                    m = m.next_minute();
                    continue;
                }
                Some(second) => m.second = second,
            }
            return m.naive();
        }
    }

    /// Matching times of day strictly before `secs` seconds after midnight.
    fn times_of_day_before(&self, secs: u32) -> u64 {
        let x = &self.fields;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let below = |mask: u64, n: u32| u64::from((mask & ((1u64 << n) - 1)).count_ones());
        let per_minute = u64::from(x.seconds.count_ones());
        let per_hour = u64::from(x.minutes.count_ones()) * per_minute;
        let mut n = below(x.hours, h) * per_hour;
        if x.hours & (1 << h) != 0 {
            n += below(x.minutes, m) * per_minute;
            if x.minutes & (1 << m) != 0 {
                n += below(x.seconds, s);
            }
        }
        n
    }

    /// Matching local times in [from, to), time zones aside.
    fn count_local(&self, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        if from >= to {
            return 0;
        }
        let mut total = 0;
        let mut day = from.date();
        while day <= to.date() {
            if self.year_ok(day.year())
                && self.fields.months & (1 << day.month()) != 0
                && self.day_ok(day.year(), day.month(), day.day())
            {
                let lo = if day == from.date() {
                    from.num_seconds_from_midnight()
                } else {
                    0
                };
                let hi = if day == to.date() {
                    to.num_seconds_from_midnight()
                } else {
                    86_400
                };
                total += self.times_of_day_before(hi) - self.times_of_day_before(lo);
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// Number of fire times in (after, until], counted without visiting each one.
    pub(crate) fn count_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> u64 {
        let (Some(a), Some(end)) = (
            truncate(after).checked_add_signed(TimeDelta::seconds(1)),
            truncate(until).checked_add_signed(TimeDelta::seconds(1)),
        ) else {
            return 0;
        };
        let (lowest, highest) = representable();
        let (mut a, end) = (a.max(lowest), end.min(highest));
        let mut total = 0;
        // Day-sized pieces, each split at a transition, so that each piece maps onto local
        // time through one offset.
        while a < end {
            let chunk_end = (a + TimeDelta::days(1)).min(end);
            let offset = offset_at(tz, a);
            let last = chunk_end - TimeDelta::seconds(1);
            let piece_end = if offset_at(tz, last) != offset {
                first_instant(a, last, |t| offset_at(tz, t) != offset)
            } else {
                chunk_end
            };
            let to = piece_end.naive_utc() + TimeDelta::seconds(offset.into());
            total += self.count_local(local_floor(tz, a), to);
            a = piece_end;
        }
        total
    }
}

/// Iterator over successive fire times, from [`Cron::iter_after`].
#[derive(Debug, Clone)]
pub struct FireTimes<'a> {
    cron: &'a Cron,
    tz: Tz,
    cursor: Option<DateTime<Utc>>,
}

impl Iterator for FireTimes<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.cron.next_after(self.cursor?, self.tz);
        self.cursor = next;
        next
    }
}
