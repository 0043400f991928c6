//! The federation's notifications and their acknowledgement.

use mao_api::{List, Notification, NotificationKind};

use crate::endpoint::item_path;
use crate::{Client, Error};

impl Client {
    /// Notifications of the federation, newest first: of one kind, only unacknowledged.
    pub fn list_notifications(
        &self,
        kind: Option<NotificationKind>,
        unacked: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Notification>, Error> {
        let mut request = self.agent.get(&self.url("/api/v1/notifications"));
        if let Some(kind) = kind {
            request = request.query("kind", kind.as_str());
        }
        if unacked {
            request = request.query("unacked", "true");
        }
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let page: List<Notification> = self.call(request, None::<&()>)?;
        Ok(page.items)
    }

    /// The notification whose id is `id`.
    pub fn get_notification(&self, id: &str) -> Result<Notification, Error> {
        self.get(&item_path("/api/v1/notifications", id)?)
    }

    /// Acknowledges a notification as `by` (the daemon's node when `None`); acknowledging
    /// again keeps the first acknowledgement.
    pub fn ack_notification(&self, id: &str, by: Option<&str>) -> Result<Notification, Error> {
        let path = format!("{}/ack", item_path("/api/v1/notifications", id)?);
        let body = serde_json::json!({ "by": by });
        self.send("POST", &path, &body)
    }
}
