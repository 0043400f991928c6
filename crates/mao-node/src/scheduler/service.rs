//! Schedules as users manage them: create (checked against the cron grammar, the zone and
//! the registries), views with the next fire time and the last run, pause/resume, preview
//! of fire times, slot history, and the original's `/jobs` listing.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use mao_api::{FireTime, Schedule, ScheduleRequest, ScheduleView, SlotRecord, Target};
use mao_store::StoreError;
use tracing::info;

use super::{compile, Compiled, Scheduler};
use crate::pipeline;
use crate::registry::{self, RegistryError};

/// What can go wrong with a schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The request cannot become a schedule (the message names the field).
    #[error("{0}")]
    Invalid(String),
    /// A stored schedule that cannot be planned any more.
    #[error("stored schedule is unusable: {0}")]
    Unusable(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<mao_api::ValidationError> for ScheduleError {
    fn from(e: mao_api::ValidationError) -> ScheduleError {
        ScheduleError::Invalid(e.to_string())
    }
}

impl From<StoreError> for ScheduleError {
    fn from(e: StoreError) -> ScheduleError {
        ScheduleError::Registry(e.into())
    }
}

/// Result of a schedule operation.
pub type Result<T, E = ScheduleError> = std::result::Result<T, E>;

fn local_text(c: &Compiled, t: DateTime<Utc>) -> String {
    t.with_timezone(&c.tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn short_id() -> String {
    let u = ulid::Ulid::new().to_string().to_lowercase();
    u[u.len() - 8..].to_owned()
}

impl Scheduler {
    /// A schedule as users see it: the document, its next fire time, its last run.
    pub async fn view(&self, schedule: Schedule) -> Result<ScheduleView> {
        let c = compile(schedule).map_err(ScheduleError::Unusable)?;
        let local = self.local.schedule_state(&c.schedule.id).await?;
        let next = if c.schedule.suspended {
            None
        } else {
            c.cron.next_after(Utc::now(), c.tz)
        };
        let last_run_status = match &local.last_run_id {
            Some(id) => match self.executor.get(id).await {
                Ok(r) => Some(r.status),
                Err(_) => pipeline::get(&self.runner, id).await.ok().map(|r| r.status),
            },
            None => None,
        };
        Ok(ScheduleView {
            next_fire_local: next.map(|t| local_text(&c, t)),
            next_fire: next,
            last_slot: local.last_slot,
            last_run_id: local.last_run_id,
            last_run_status,
            schedule: c.schedule,
        })
    }

    /// Creates a schedule of a registered tool or pipeline; refuses what could never run.
    pub async fn create(&self, req: ScheduleRequest) -> Result<ScheduleView> {
        let target = match (req.tool.is_empty(), &req.pipeline) {
            (false, None) => {
                mao_api::validate::name("tool", &req.tool)?;
                Target::Tool(req.tool.clone())
            }
            (true, Some(p)) => {
                mao_api::validate::name("pipeline", p)?;
                Target::Pipeline(p.clone())
            }
            _ => {
                return Err(ScheduleError::Invalid(
                    "tool, pipeline: give exactly one of them".into(),
                ))
            }
        };
        let id = match req.id {
            Some(id) => {
                mao_api::validate::name("id", &id)?;
                id
            }
            None => format!(
                "{}-{}",
                target.name().chars().take(36).collect::<String>(),
                short_id()
            ),
        };
        let schedule = Schedule {
            id,
            target: target.clone(),
            cron: req.cron.trim().to_owned(),
            tz: req.tz.unwrap_or_else(|| "UTC".to_owned()),
            mode: req.mode.unwrap_or_default(),
            concurrency: req.concurrency.unwrap_or_default(),
            catch_up: req.catch_up.unwrap_or_default(),
            starting_deadline: req.starting_deadline.unwrap_or_else(|| "18h".to_owned()),
            overrides: req.overrides,
            suspended: req.suspended,
            created_by: self.node.clone(),
            created_at: Utc::now(),
        };
        let c = compile(schedule.clone()).map_err(ScheduleError::Invalid)?;
        if c.policy.starting_deadline.is_zero()
            || c.policy.starting_deadline > std::time::Duration::from_secs(366 * 86_400)
        {
            return Err(ScheduleError::Invalid(
                "starting_deadline: must be above zero and at most 366d".into(),
            ));
        }
        if c.cron.next_after(Utc::now(), c.tz).is_none() {
            return Err(ScheduleError::Invalid(format!(
                "cron: {:?} never fires again",
                schedule.cron
            )));
        }
        // A schedule of an unknown tool or pipeline is refused, not stored.
        let (field, known) = match &target {
            Target::Tool(name) => ("tool", self.tools.get(name).await.map(|_| ())),
            Target::Pipeline(name) => ("pipeline", self.pipelines.get(name).await.map(|_| ())),
        };
        known.map_err(|e| match e {
            e @ RegistryError::NotFound { .. } => ScheduleError::Invalid(format!("{field}: {e}")),
            e => e.into(),
        })?;
        self.schedules.create(schedule.clone()).await?;
        info!(schedule = %schedule.id, cron = %schedule.cron, tz = %schedule.tz, "schedule created");
        self.view(schedule).await
    }

    /// Every schedule that can be shown, by id.
    pub async fn list(&self) -> Result<Vec<ScheduleView>> {
        let mut items = Vec::new();
        for (_, stored) in self.schedules.entries().await? {
            if let Ok(s) = serde_json::from_slice::<Schedule>(&stored.json) {
                if let Ok(v) = self.view(s).await {
                    items.push(v);
                }
            }
        }
        Ok(items)
    }

    /// One schedule's view.
    pub async fn get(&self, id: &str) -> Result<ScheduleView> {
        let (s, _) = self.schedules.get(id).await?;
        self.view(s).await
    }

    /// Removes a schedule; its slot history goes when the scheduler sees it gone.
    pub async fn remove(&self, id: &str) -> Result<()> {
        self.schedules.delete(id).await?;
        info!(schedule = %id, "schedule removed");
        Ok(())
    }

    /// Pauses (`true`) or resumes (`false`) a schedule, for the whole federation.
    pub async fn set_suspended(&self, id: &str, suspended: bool) -> Result<ScheduleView> {
        let (s, _) = self
            .schedules
            .update(id, |s: &mut Schedule| {
                s.suspended = suspended;
                Ok::<(), RegistryError>(())
            })
            .await?;
        info!(schedule = %id, suspended, "schedule paused or resumed");
        self.view(s).await
    }

    /// The next `n` fire times of a schedule.
    pub async fn next(&self, id: &str, n: usize) -> Result<Vec<FireTime>> {
        let (s, _) = self.schedules.get(id).await?;
        let c = compile(s).map_err(ScheduleError::Invalid)?;
        Ok(mao_scheduler::plan::upcoming(&c.cron, c.tz, Utc::now(), n)
            .into_iter()
            .map(|t| FireTime {
                local: local_text(&c, t),
                utc: t,
            })
            .collect())
    }

    /// The newest `limit` slots of a schedule on this node: fired, skipped or missed.
    pub async fn history(&self, id: &str, limit: usize) -> Result<Vec<SlotRecord>> {
        self.schedules.get(id).await?;
        Ok(self.local.slots(id, limit).await?)
    }

    /// The original's `/jobs`: schedule id to its next fire time in its zone (`paused`,
    /// `never`).
    pub async fn jobs(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (id, stored) in self.schedules.entries().await? {
            let Ok(s) = registry::parse::<Schedule>(&id, &stored.json) else {
                continue;
            };
            let Ok(c) = compile(s) else { continue };
            let next = if c.schedule.suspended {
                "paused".to_owned()
            } else {
                c.cron
                    .next_after(Utc::now(), c.tz)
                    .map(|t| local_text(&c, t))
                    .unwrap_or_else(|| "never".to_owned())
            };
            out.insert(c.schedule.id.clone(), next);
        }
        Ok(out)
    }
}
