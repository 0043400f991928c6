//! The daemon's retry policies, one per thing waited for; all are [`mao_retry::Policy`],
//! so every wait is jittered and no two nodes retry in lockstep.

use std::time::Duration;

pub use mao_retry::{Backoff, Policy};

/// Waiting for the shared store (registry watches, membership, start-up).
pub const STORE: Policy = Policy::new(Duration::from_millis(500), Duration::from_secs(10));
/// Waiting for the container engine to recover the runs of a previous process.
pub const RECOVERY: Policy = Policy::new(Duration::from_secs(1), Duration::from_secs(30));
/// Registry copies re-listing after their watch broke.
pub const WATCH: Policy = Policy::new(Duration::from_millis(100), Duration::from_secs(5));
/// Retrying a push a git remote did not take.
pub const PUSH: Policy = Policy::new(Duration::from_secs(2), Duration::from_secs(300));
