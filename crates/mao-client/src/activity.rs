//! The node's activity log (role admin).

use mao_api::auth::Activity;
use mao_api::List;

use crate::{Client, Error};

impl Client {
    /// The state-changing requests the node logged, oldest first: since `since` (an
    /// RFC 3339 time or a duration back from now, e.g. `24h`), of the token `who`, at most
    /// the newest `limit`.
    pub fn activity(
        &self,
        since: Option<&str>,
        who: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Activity>, Error> {
        let mut request = self.agent.get(&self.url("/api/v1/activity"));
        if let Some(since) = since {
            request = request.query("since", since);
        }
        if let Some(who) = who {
            request = request.query("who", who);
        }
        if let Some(limit) = limit {
            request = request.query("limit", &limit.to_string());
        }
        let list: List<Activity> = self.call(request, None::<&()>)?;
        Ok(list.items)
    }
}
