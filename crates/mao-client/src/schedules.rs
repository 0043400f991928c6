//! Schedules: their life cycle, next fire times and slot history.

use mao_api::{FireTime, List, ScheduleRequest, ScheduleView, SlotRecord};

use crate::endpoint::item_path;
use crate::{Client, Error};

impl Client {
    /// Creates a schedule; [`Error::is_conflict`] if its id is taken, status 422 when the
    /// cron expression, the time zone, the deadline or the tool is refused.
    pub fn create_schedule(&self, request: &ScheduleRequest) -> Result<ScheduleView, Error> {
        self.send("POST", "/api/v1/schedules", request)
    }

    /// Every schedule of the federation, with what this node knows of its timing.
    pub fn list_schedules(&self) -> Result<Vec<ScheduleView>, Error> {
        self.list_all("/api/v1/schedules")
    }

    /// The schedule whose id is `id`.
    pub fn get_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.get(&item_path("/api/v1/schedules", id)?)
    }

    /// Removes the schedule whose id is `id`; runs it already started go on.
    pub fn delete_schedule(&self, id: &str) -> Result<(), Error> {
        self.delete(&item_path("/api/v1/schedules", id)?)
    }

    /// Suspends the schedule: no slot fires until it is resumed.
    pub fn pause_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.schedule_action(id, "pause")
    }

    /// Lets a paused schedule fire again.
    pub fn resume_schedule(&self, id: &str) -> Result<ScheduleView, Error> {
        self.schedule_action(id, "resume")
    }

    fn schedule_action(&self, id: &str, action: &str) -> Result<ScheduleView, Error> {
        self.post(&format!("{}/{action}", item_path("/api/v1/schedules", id)?))
    }

    /// The schedule's next `n` fire times (1 to 1000), in UTC and in its time zone,
    /// whether or not it is paused.
    pub fn next_fire_times(&self, id: &str, n: usize) -> Result<Vec<FireTime>, Error> {
        let path = format!("{}/next", item_path("/api/v1/schedules", id)?);
        let request = self.agent.get(&self.url(&path)).query("n", &n.to_string());
        let page: List<FireTime> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// What became of the schedule's slots on this node, newest first; at most `limit`
    /// (the server's default, 50, if `None`; at most 1000).
    pub fn schedule_history(
        &self,
        id: &str,
        limit: Option<usize>,
    ) -> Result<Vec<SlotRecord>, Error> {
        let path = format!("{}/history", item_path("/api/v1/schedules", id)?);
        let mut request = self.agent.get(&self.url(&path));
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<SlotRecord> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }
}
