//! The one retry policy of the project: exponential backoff with jitter.
//!
//! Every loop that waits for something to come back (the store, the container engine, a
//! git remote, a notification sink) uses it, so that after an etcd outage the nodes of a
//! federation do not all retry at the same instant. The delay of attempt `n` is drawn from
//! `[d/2, d]` where `d = min(max, initial * 2^n)` ("equal jitter"): never shorter than half
//! the nominal wait, so a retry never hammers, and spread over the other half.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How long to wait between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The nominal wait before the first retry.
    pub initial: Duration,
    /// The longest nominal wait.
    pub max: Duration,
}

impl Policy {
    /// A policy doubling from `initial` up to `max`.
    pub const fn new(initial: Duration, max: Duration) -> Policy {
        Policy { initial, max }
    }

    /// The nominal (unjittered) wait before retry `attempt` (0 for the first retry).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `attempt`, with `unit` in `[0, 1)` choosing where in
    /// `[nominal/2, nominal]` it falls. Pure: the jitter is an argument.
    pub fn delay_at(&self, attempt: u32, unit: f64) -> Duration {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        half + (nominal - half).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry `attempt`, jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_at(attempt, random_unit())
    }

    /// A fresh sequence of waits under this policy.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            policy: *self,
            attempt: 0,
        }
    }
}

/// A sequence of jittered waits: each [`Backoff::next_delay`] is about twice the last,
/// until [`Backoff::reset`] after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: Policy,
    attempt: u32,
}

impl Backoff {
    /// The wait before the next attempt; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.policy.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Sleeps for [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts again from the shortest wait (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Attempts counted since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// A number in `[0, 1)` that differs between calls and between processes: the standard
/// library's randomly keyed hasher, so no RNG dependency is needed for jitter.
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy::new(Duration::from_millis(100), Duration::from_secs(5));

    #[test]
    fn nominal_doubles_up_to_the_max() {
        let waits: Vec<u128> = (0..8).map(|n| P.nominal(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(P.nominal(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole() {
        assert_eq!(P.delay_at(3, 0.0), Duration::from_millis(400));
        assert_eq!(P.delay_at(3, 1.0), Duration::from_millis(800));
        assert_eq!(P.delay_at(3, 0.5), Duration::from_millis(600));
        for n in 0..40 {
            let d = P.delay(n);
            assert!(d >= P.nominal(n) / 2 && d <= P.nominal(n), "{n}: {d:?}");
        }
    }

    #[test]
    fn jitter_spreads_the_waits_of_many_nodes() {
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| P.delay(4)).collect();
        assert!(
            waits.len() > 40,
            "only {} distinct waits of 50",
            waits.len()
        );
    }

    #[test]
    fn a_backoff_grows_and_resets() {
        let mut b = P.backoff();
        let first = b.next_delay();
        assert!(first <= Duration::from_millis(100));
        for _ in 0..10 {
            b.next_delay();
        }
        assert_eq!(b.attempts(), 11);
        assert!(b.next_delay() >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
