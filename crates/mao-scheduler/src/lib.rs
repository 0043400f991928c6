//! Pure schedule planning for MAO: cron expressions, time zones, slots and catch-up
//! policies.
//!
//! Nothing here does IO or reads a clock: every function takes "now" as an argument, so
//! the daemon, the API and the tests all get the same answer for the same inputs.
//!
//! # Expressions
//!
//! [`cron::parse`] accepts 5 fields (`min hour dom mon dow`), 6 fields (seconds first),
//! 7 fields (seconds first, year last, 1970-2199), the nicknames `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, and the bare words `daily`,
//! `weekly` and `hourly`. When both day-of-month and day-of-week are restricted (neither is
//! `*` nor `?`), a day matches if either matches; otherwise both must.
//!
//! # Time zones and daylight saving time
//!
//! A schedule's fields are matched against the local wall-clock time in its IANA time zone,
//! at one-second resolution. Twice a year that clock misbehaves, and the rule is:
//!
//! - **A local time that does not exist is skipped.** When clocks spring forward (Zurich,
//!   2026-03-29 02:00 -> 03:00) the slots in the gap (02:30) have no instant and do not run;
//!   they are not moved to 03:00.
//! - **A local time that exists twice runs once, at its first instant.** When clocks fall
//!   back (Zurich, 2026-10-25 03:00 -> 02:00) the slot 02:30 runs at 02:30 summer time
//!   (00:30 UTC) and not again an hour later; an every-15-minutes job runs 02:00, 02:15,
//!   02:30 and 02:45 once each, then 03:00 one hour and fifteen minutes after 02:45.
//!
//! Every fire time is thus the earliest instant of a matching local time that exists, which
//! keeps fire times strictly increasing and lets a slot be named by its UTC instant.
//!
//! # Planning
//!
//! [`plan::plan`] turns a schedule, its policy, the last slot it fired and "now" into the
//! slots due now, the slots missed (and why) and the next slot; see [`plan::Policy`].
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use mao_scheduler::{parse, parse_tz, plan, Policy};
//!
//! let cron = parse("30 2 * * *").unwrap();
//! let zurich = parse_tz("Europe/Zurich").unwrap();
//! let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
//!
//! // 2026-03-29 02:30 does not exist in Zurich: the next run is on the 30th.
//! let next = cron.next_after(at("2026-03-28T12:00:00Z"), zurich);
//! assert_eq!(next, Some(at("2026-03-30T00:30:00Z")));
//!
//! // Two slots were missed while the daemon was down; `latest` runs the newer one.
//! let p = plan(
//!     &cron,
//!     zurich,
//!     &Policy::default(),
//!     Some(at("2026-04-01T00:30:00Z")),
//!     at("2026-01-01T00:00:00Z"),
//!     at("2026-04-03T08:00:00Z"),
//! );
//! assert_eq!(p.due, vec![at("2026-04-03T00:30:00Z")]);
//! assert_eq!(p.missed.len(), 1);
//! assert_eq!(p.next, Some(at("2026-04-04T00:30:00Z")));
//! ```

pub mod cron;
pub mod plan;

pub use chrono_tz::Tz;
pub use cron::{parse, parse_tz, Cron, CronError, UnknownTimeZone};
pub use plan::{plan, upcoming, CatchUp, Missed, MissedReason, Plan, Policy};

#[cfg(test)]
mod test_support;
