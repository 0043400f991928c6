//! Reading an expression: fields, nicknames, names, ranges and steps, and why one is refused.

use std::fmt;

use super::{Cron, Fields, FIRST_YEAR, LAST_YEAR};

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
    pub(super) fn bounds(self) -> (u32, u32) {
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
    pub(super) fn top(self) -> u32 {
        match self {
            Field::DayOfWeek => 6,
            other => other.bounds().1,
        }
    }

    /// Bit index of a value; years are stored relative to the first year.
    pub(super) fn index(self, value: u32) -> u32 {
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
    /// The expression is longer than [`MAX_LEN`] bytes.
    #[error("cron expression is {0} characters long; at most 256 are accepted")]
    TooLong(usize),
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

/// The longest cron expression accepted: no schedule needs more, and the parser's work
/// (lists of ranges) grows with the length.
pub const MAX_LEN: usize = 256;

/// Parses a cron expression (5, 6 or 7 fields, or a nickname).
pub fn parse(expr: &str) -> Result<Cron, CronError> {
    if expr.len() > MAX_LEN {
        return Err(CronError::TooLong(expr.len()));
    }
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
