//! The planning core: which slots of a schedule are due now, which were missed, and when
//! the next one comes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::cron::Cron;

/// Most missed slots a plan lists; the rest are only counted, in [`Plan::missed_more`].
pub const MAX_MISSED: usize = 1000;

/// What to do with slots that were not run on time but are still within the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CatchUp {
    /// Run none of them.
    None,
    /// Run only the newest of them (once), the older ones are superseded.
    #[default]
    Latest,
    /// Run all of them, oldest first.
    All,
}

impl CatchUp {
    /// The policy's name, as accepted by `FromStr`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A catch-up policy name that is not `none`, `latest` or `all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown catch-up policy {0:?}, expected none, latest or all")]
pub struct UnknownCatchUp(pub String);

impl FromStr for CatchUp {
    type Err = UnknownCatchUp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(CatchUp::None),
            "latest" => Ok(CatchUp::Latest),
            "all" => Ok(CatchUp::All),
            _ => Err(UnknownCatchUp(s.to_string())),
        }
    }
}

/// How a schedule treats slots that were not run when they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// What to do with overdue slots within the deadline.
    pub catch_up: CatchUp,
    /// Slots older than this are never run.
    pub starting_deadline: Duration,
    /// A slot at most this old counts as on time and is always run.
    pub on_time: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            catch_up: CatchUp::Latest,
            starting_deadline: Duration::from_secs(18 * 3600),
            on_time: Duration::from_secs(5),
        }
    }
}

/// Why a slot will not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissedReason {
    /// Older than the starting deadline.
    PastDeadline,
    /// Overdue, and the policy is `catch_up = none`.
    CatchUpNone,
    /// Overdue, and a newer slot runs in its place (`catch_up = latest`).
    Superseded,
}

impl MissedReason {
    /// A short kebab-case name for logs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedReason::PastDeadline => "past-deadline",
            MissedReason::CatchUpNone => "catch-up-none",
            MissedReason::Superseded => "superseded",
        }
    }
}

impl fmt::Display for MissedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A slot that will not run, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Missed {
    /// The slot's instant.
    pub slot: DateTime<Utc>,
    /// Why it will not run.
    pub reason: MissedReason,
}

/// The outcome of planning one schedule at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots to run now, oldest first.
    pub due: Vec<DateTime<Utc>>,
    /// Slots that will not run, oldest first, at most [`MAX_MISSED`] of them.
    pub missed: Vec<Missed>,
    /// Missed slots beyond those listed in `missed`.
    pub missed_more: u64,
    /// The first slot after `now` (and after `last_fired`).
    pub next: Option<DateTime<Utc>>,
}

/// Decides which slots of a schedule are due at `now`, which are missed, and the next one.
///
/// Slots considered are those after `last_fired` (or, never fired, at or after `created_at`
/// rounded up to a whole second) and at or before `now`. `last_fired` is only an exclusive
/// lower bound: a caller that passes `now` back once it has acted on the plan reports each
/// missed slot once; one that passes the newest due slot sees missed slots again.
pub fn plan(
    cron: &Cron,
    tz: Tz,
    policy: &Policy,
    last_fired: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Plan {
    let second = TimeDelta::seconds(1);
    let floor = match last_fired {
        Some(t) => t,
        None => just_before(created_at),
    };
    let now_second = truncate(now);
    // Slots are whole seconds, so compare them with whole-second edges: at or before
    // `overdue_edge` a slot is older than `on_time`, at or before `deadline_edge` older than
    // the deadline; where the two overlap, on time wins.
    let overdue_edge = just_before(minus(now, policy.on_time));
    let deadline_edge = just_before(minus(now, policy.starting_deadline)).min(overdue_edge);

    let mut plan = Plan {
        next: cron.next_after(now.max(floor), tz),
        ..Plan::default()
    };
    record_missed(
        &mut plan,
        cron,
        tz,
        floor,
        deadline_edge,
        MissedReason::PastDeadline,
    );

    let overdue_from = floor.max(deadline_edge);
    let on_time: Vec<_> = between(cron, tz, floor.max(overdue_edge), now_second).collect();
    match policy.catch_up {
        CatchUp::All => plan
            .due
            .extend(between(cron, tz, overdue_from, overdue_edge)),
        CatchUp::None => record_missed(
            &mut plan,
            cron,
            tz,
            overdue_from,
            overdue_edge,
            MissedReason::CatchUpNone,
        ),
        CatchUp::Latest => {
            // The newest overdue slot runs once, even when a slot is also on time: a slot
            // missed while the node was down is never silently dropped under `latest`.
            let latest = newest(cron, tz, overdue_from, overdue_edge);
            let superseded_until = latest.map_or(overdue_edge, |t| t - second);
            record_missed(
                &mut plan,
                cron,
                tz,
                overdue_from,
                superseded_until,
                MissedReason::Superseded,
            );
            plan.due.extend(latest);
        }
    }
    plan.due.extend(on_time);
    plan
}

/// The next `n` fire times strictly after `after`.
pub fn upcoming(cron: &Cron, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    cron.iter_after(after, tz).take(n).collect()
}

/// Fire times in (after, until].
fn between(
    cron: &Cron,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    cron.iter_after(after, tz)
        .take_while(move |slot| *slot <= until)
}

/// Lists the slots in (after, until] as missed up to the cap, and counts the rest, so that
/// a schedule idle for years costs a thousand steps and a count, not a step per slot.
fn record_missed(
    plan: &mut Plan,
    cron: &Cron,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    reason: MissedReason,
) {
    if until <= after {
        return;
    }
    let mut cursor = after;
    while plan.missed.len() < MAX_MISSED {
        match cron.next_after(cursor, tz) {
            Some(slot) if slot <= until => {
                plan.missed.push(Missed { slot, reason });
                cursor = slot;
            }
            _ => return,
        }
    }
    plan.missed_more += cron.count_between(cursor, until, tz);
}

/// The newest fire time in (after, until], found by bisecting on the start of
/// `next_after`, which never moves backwards, instead of walking every slot.
fn newest(
    cron: &Cron,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let fits = |t: DateTime<Utc>| cron.next_after(t, tz).filter(|slot| *slot <= until);
    let first = fits(after)?;
    let (mut good, mut bad) = (first.timestamp() - 1, truncate(until).timestamp());
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        let t = DateTime::from_timestamp(mid, 0).expect("between two valid instants");
        if fits(t).is_some() {
            good = mid;
        } else {
            bad = mid;
        }
    }
    fits(DateTime::from_timestamp(good, 0).expect("a valid instant"))
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The last whole second strictly before `t`: slots at or before it are older than `t`.
fn just_before(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = truncate(t);
    if whole == t {
        t.checked_sub_signed(TimeDelta::seconds(1)).unwrap_or(t)
    } else {
        whole
    }
}

/// `t - d`, or the earliest instant chrono knows when that is further back.
fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests;
