//! Cron expressions: parsing, the normalized form, and fire times in a time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// First year a seven-field expression may name.
pub const FIRST_YEAR: i32 = 1970;
/// Last year a seven-field expression may name.
pub const LAST_YEAR: i32 = 2199;

/// Years searched past the start when the year is free: a day that exists at all (Feb 29
/// across a non-leap century year is the worst case) comes back within eight years.
const HORIZON_YEARS: i32 = 8;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field of a cron expression, named the way error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Seconds, 0-59 (six- and seven-field forms).
    Second,
    /// Minutes, 0-59.
    Minute,
    /// Hours, 0-23.
    Hour,
    /// Day of the month, 1-31.
    DayOfMonth,
    /// Month, 1-12 or JAN-DEC.
    Month,
    /// Day of the week, 0-7 (0 and 7 are Sunday) or SUN-SAT.
    DayOfWeek,
    /// Year, 1970-2199 (seven-field form).
    Year,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        }
    }

    /// Smallest and largest value the field accepts as written.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
            Field::Year => (FIRST_YEAR as u32, LAST_YEAR as u32),
        }
    }

    /// Largest value `*` and `a/n` reach: 7 (Sunday again) would only duplicate 0.
    fn top(self) -> u32 {
        match self {
            Field::DayOfWeek => 6,
            other => other.bounds().1,
        }
    }

    /// Bit index of a value; years are stored relative to the first year.
    fn index(self, value: u32) -> u32 {
        match self {
            Field::Year => value - FIRST_YEAR as u32,
            Field::DayOfWeek if value == 7 => 0,
            _ => value,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one field of an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// A number outside the field's range.
    #[error("{value} is out of range {min}-{max}")]
    OutOfRange {
        /// The number as written.
        value: String,
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },
    /// Something that is neither a number nor a name the field knows.
    #[error("{0:?} is not a number")]
    NotANumber(String),
    /// A word in the month field that is not JAN-DEC.
    #[error("{0:?} is not a month name")]
    NotAMonthName(String),
    /// A word in the day-of-week field that is not SUN-SAT.
    #[error("{0:?} is not a day name")]
    NotADayName(String),
    /// A range whose start lies after its end.
    #[error("range {0:?} starts after it ends")]
    ReversedRange(String),
    /// A step that is not a number.
    #[error("step {0:?} is not a number")]
    BadStep(String),
    /// A step of zero or one longer than the field.
    #[error("step {step} is out of range 1-{max}")]
    StepOutOfRange {
        /// The step as written.
        step: String,
        /// Largest accepted step.
        max: u32,
    },
    /// A list element with more than one `/`.
    #[error("{0:?} has more than one step")]
    DoubleStep(String),
    /// A missing value, as in `1,,2` or `5-`.
    #[error("empty value in {0:?}")]
    EmptyValue(String),
    /// `?` outside the two day fields.
    #[error("\"?\" is only allowed in day-of-month and day-of-week")]
    QuestionMark,
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression is blank.
    #[error("cron expression is empty")]
    Empty,
    /// The expression does not have 5, 6 or 7 fields.
    #[error("expected 5, 6 or 7 fields, got {0}")]
    FieldCount(usize),
    /// An `@` word that is not a known nickname.
    #[error(
        "unknown nickname {0:?}, expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
    )]
    UnknownNickname(String),
    /// One field is wrong; the message names it.
    #[error("{field}: {problem}")]
    Field {
        /// The field that was rejected.
        field: Field,
        /// What is wrong with it.
        problem: FieldProblem,
    },
}

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

/// Parses a cron expression (5, 6 or 7 fields, or a nickname).
pub fn parse(expr: &str) -> Result<Cron, CronError> {
    let text = expr.trim();
    if text.is_empty() {
        return Err(CronError::Empty);
    }
    let expanded = if let Some(nick) = text.strip_prefix('@') {
        Some(nickname(nick).ok_or_else(|| CronError::UnknownNickname(text.to_string()))?)
    } else {
        // The original CLI offered these bare words as schedule choices.
        match text.to_ascii_lowercase().as_str() {
            word @ ("daily" | "weekly" | "hourly") => nickname(word),
            _ => None,
        }
    };
    let fields: Vec<&str> = expanded.unwrap_or(text).split_whitespace().collect();
    let (second, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 | 7 => (fields[0], &fields[1..]),
        n => return Err(CronError::FieldCount(n)),
    };
    let seconds = parse_field(Field::Second, second)?;
    let minutes = parse_field(Field::Minute, rest[0])?;
    let hours = parse_field(Field::Hour, rest[1])?;
    let days_of_month = parse_field(Field::DayOfMonth, rest[2])?;
    let months = parse_field(Field::Month, rest[3])?;
    let days_of_week = parse_field(Field::DayOfWeek, rest[4])?;
    let years = match rest.get(5) {
        Some(text) => {
            let parsed = parse_field(Field::Year, text)?;
            (!parsed.any).then_some(parsed.bits)
        }
        None => None,
    };
    Ok(Cron {
        source: expr.to_string(),
        fields: Fields {
            seconds: seconds.bits[0],
            minutes: minutes.bits[0],
            hours: hours.bits[0],
            days_of_month: days_of_month.bits[0],
            months: months.bits[0],
            days_of_week: days_of_week.bits[0],
            dom_any: days_of_month.any,
            dow_any: days_of_week.any,
            years,
        },
    })
}

fn nickname(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => return None,
    })
}

struct ParsedField {
    bits: [u64; 4],
    /// Written as `*` or `?`: matters for the day-of-month/day-of-week rule.
    any: bool,
}

fn parse_field(field: Field, text: &str) -> Result<ParsedField, CronError> {
    parse_items(field, text).map_err(|problem| CronError::Field { field, problem })
}

fn parse_items(field: Field, text: &str) -> Result<ParsedField, FieldProblem> {
    let (min, _) = field.bounds();
    let mut bits = [0u64; 4];
    for item in text.split(',') {
        if item.is_empty() {
            return Err(FieldProblem::EmptyValue(text.to_string()));
        }
        let (base, step) = match item.split_once('/') {
            Some((_, step)) if step.contains('/') => {
                return Err(FieldProblem::DoubleStep(item.to_string()))
            }
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let (lo, hi) = if base == "*" || base == "?" {
            if base == "?" && !matches!(field, Field::DayOfMonth | Field::DayOfWeek) {
                return Err(FieldProblem::QuestionMark);
            }
            (min, field.top())
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (value(field, a, item)?, value(field, b, item)?);
            if a > b {
                return Err(FieldProblem::ReversedRange(base.to_string()));
            }
            (a, b)
        } else {
            let a = value(field, base, item)?;
            // `a/n` runs from `a` to the top of the field, as `*/n` runs from its bottom.
            let hi = if step.is_some() {
                field.top().max(a)
            } else {
                a
            };
            (a, hi)
        };
        let step = match step {
            None => 1,
            Some(step) => {
                let span = field.top() - min + 1;
                if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FieldProblem::BadStep(step.to_string()));
                }
                match step.parse::<u32>() {
                    Ok(n) if (1..=span).contains(&n) => n,
                    _ => {
                        return Err(FieldProblem::StepOutOfRange {
                            step: step.to_string(),
                            max: span,
                        })
                    }
                }
            }
        };
        for v in (lo..=hi).step_by(step as usize) {
            let i = field.index(v);
            bits[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    Ok(ParsedField {
        bits,
        any: text == "*" || text == "?",
    })
}

fn value(field: Field, token: &str, item: &str) -> Result<u32, FieldProblem> {
    let (min, max) = field.bounds();
    if token.is_empty() {
        return Err(FieldProblem::EmptyValue(item.to_string()));
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return match token.parse::<u32>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(FieldProblem::OutOfRange {
                value: token.to_string(),
                min,
                max,
            }),
        };
    }
    let upper = token.to_ascii_uppercase();
    match field {
        Field::Month => MONTH_NAMES
            .iter()
            .position(|n| *n == upper)
            .map(|i| i as u32 + 1)
            .ok_or_else(|| FieldProblem::NotAMonthName(token.to_string())),
        Field::DayOfWeek => DAY_NAMES
            .iter()
            .position(|n| *n == upper)
            .map(|i| i as u32)
            .ok_or_else(|| FieldProblem::NotADayName(token.to_string())),
        _ => Err(FieldProblem::NotANumber(token.to_string())),
    }
}

/// The matching sets of a parsed expression, one bit per value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Fields {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    dom_any: bool,
    dow_any: bool,
    /// `None` when the year is free; bit i is year FIRST_YEAR + i.
    years: Option<[u64; 4]>,
}

/// A parsed cron expression.
///
/// Two values are equal when they match the same times, whatever their spelling.
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    fields: Fields,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Eq for Cron {}

impl std::hash::Hash for Cron {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fields.hash(state);
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = &self.fields;
        let parts = [
            render(Field::Minute, &[x.minutes, 0, 0, 0], false),
            render(Field::Hour, &[x.hours, 0, 0, 0], false),
            render(Field::DayOfMonth, &[x.days_of_month, 0, 0, 0], x.dom_any),
            render(Field::Month, &[x.months, 0, 0, 0], false),
            render(Field::DayOfWeek, &[x.days_of_week, 0, 0, 0], x.dow_any),
        ];
        match &x.years {
            None if x.seconds == 1 => write!(f, "{}", parts.join(" ")),
            None => write!(
                f,
                "{} {}",
                render(Field::Second, &[x.seconds, 0, 0, 0], false),
                parts.join(" ")
            ),
            Some(years) => write!(
                f,
                "{} {} {}",
                render(Field::Second, &[x.seconds, 0, 0, 0], false),
                parts.join(" "),
                render(Field::Year, years, false)
            ),
        }
    }
}

/// Writes one field in a compact form that parses back to the same set.
fn render(field: Field, bits: &[u64; 4], any: bool) -> String {
    if any {
        return "*".to_string();
    }
    let (min, _) = field.bounds();
    let top = field.top();
    let values: Vec<u32> = (min..=top)
        .filter(|&v| {
            let i = field.index(v);
            bits[(i / 64) as usize] & (1 << (i % 64)) != 0
        })
        .collect();
    let full = values.len() as u32 == top - min + 1;
    // A full day field is not `*`: written out it keeps the day-of-month/day-of-week rule.
    if full && !matches!(field, Field::DayOfMonth | Field::DayOfWeek | Field::Year) {
        return "*".to_string();
    }
    if let [first, second, ..] = values[..] {
        let step = second - first;
        let last = *values.last().expect("two values at least");
        let regular = values.windows(2).all(|w| w[1] - w[0] == step);
        if regular && step > 1 {
            let to_top = last + step > top;
            // Two values read better as a list, unless they halve the field (`*/30`).
            if to_top && first == min && (values.len() >= 3 || 2 * step == top - min + 1) {
                return format!("*/{step}");
            }
            if values.len() >= 3 {
                return if to_top {
                    format!("{first}/{step}")
                } else {
                    format!("{first}-{last}/{step}")
                };
            }
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", values[i], values[j]));
        } else {
            parts.extend(values[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

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

fn offset_at(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Smallest instant in (lo, hi] where `pred` holds, given it is false at lo, true at hi,
/// and flips once in between.
fn first_instant(
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
fn gap_end(tz: Tz, missing: NaiveDateTime) -> NaiveDateTime {
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

impl Cron {
    /// The expression as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the seconds field matches more than second 0.
    pub fn has_seconds(&self) -> bool {
        self.fields.seconds != 1
    }

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

#[cfg(test)]
mod tests;
