//! Slot claims of `once` schedules: who runs a slot, and their collection once no node can
//! need them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mao_api::Schedule;
use mao_store::StoreError;
use serde::{Deserialize, Serialize};

use super::Scheduler;

/// What a `once` claim records. While neither `run_id` nor `skipped` is set, the claim is
/// bound to its node's lease and the other nodes stand by for the slot.
#[derive(Serialize, Deserialize)]
pub(super) struct Claim {
    pub(super) node: String,
    pub(super) slot: DateTime<Utc>,
    #[serde(default)]
    pub(super) run_id: Option<String>,
    /// Why the claimer decided, for the federation, not to run the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) skipped: Option<String>,
}

impl Claim {
    /// Whether the claimer started the slot's run or decided to skip it.
    pub(super) fn settled(&self) -> bool {
        self.run_id.is_some() || self.skipped.is_some()
    }
}

/// How often old slot claims are deleted.
pub(super) const CLAIM_GC_EVERY: Duration = Duration::from_secs(600);
/// A claim is kept this long past its schedule's starting deadline, so no node can still
/// consider its slot when it goes.
const CLAIM_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Deletes claims no node can need any more: those of removed schedules, and those older
/// than their schedule's starting deadline plus a grace period. Every node may do it; a
/// delete is idempotent.
pub async fn collect_claims(state: &Scheduler, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let prefix = state.keys.collection("claims");
    let deadlines: HashMap<String, chrono::Duration> = match state.schedules.entries().await {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|(id, stored)| {
                let s: Schedule = serde_json::from_slice(&stored.json).ok()?;
                let d = mao_api::units::parse_duration(&s.starting_deadline).ok()?;
                Some((id, chrono::Duration::from_std(d).ok()?))
            })
            .collect(),
        Err(_) => return Ok(0),
    };
    let page = mao_store::list_all(state.store.as_ref(), &prefix, 1000).await?;
    let mut deleted = 0;
    for kv in page.kvs {
        let Some((schedule, slot)) = kv.key[prefix.len()..].split_once('/') else {
            continue;
        };
        let expired = match (deadlines.get(schedule), slot.parse::<DateTime<Utc>>()) {
            (None, _) => true,
            (Some(deadline), Ok(slot)) => slot
                .checked_add_signed(*deadline)
                .and_then(|t| t.checked_add_signed(CLAIM_GRACE))
                .is_some_and(|t| t < now),
            (Some(_), Err(_)) => false,
        };
        if expired
            && state
                .store
                .compare_and_delete(&kv.key, kv.mod_revision)
                .await
                .is_ok()
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}
