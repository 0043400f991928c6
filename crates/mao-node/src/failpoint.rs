//! Named pauses for fault tests. `MAO_FAILPOINTS=after_claim=2000` makes the scheduler wait
//! 2 s after it created a once-claim and before it starts the run, so that a test can kill
//! the daemon inside that window (the way etcd's gofail points are used). Unset, a point
//! costs one map lookup. Points: `after_claim`, `after_bind` (after the claim names the run,
//! before the run is queued), `join_after_answer` (`federation join`: the peer added this
//! site's member, nothing is written here yet).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use tracing::warn;

/// The variable that arms the points: `name=milliseconds`, comma-separated.
pub const ENV: &str = "MAO_FAILPOINTS";

fn points() -> &'static HashMap<String, Duration> {
    static POINTS: OnceLock<HashMap<String, Duration>> = OnceLock::new();
    POINTS.get_or_init(|| match std::env::var(ENV) {
        Ok(spec) => parse(&spec),
        Err(_) => HashMap::new(),
    })
}

fn parse(spec: &str) -> HashMap<String, Duration> {
    let mut out = HashMap::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('=').map(|(n, ms)| (n, ms.parse::<u64>())) {
            Some((name, Ok(ms))) => {
                warn!(point = name, ms, "failpoint armed (fault tests only)");
                out.insert(name.to_owned(), Duration::from_millis(ms));
            }
            _ => warn!(item, "ignoring a failpoint that is not name=milliseconds"),
        }
    }
    out
}

/// Waits as long as the point `name` is armed for (not at all when it is not).
pub async fn pause(name: &str) {
    if let Some(d) = points().get(name) {
        warn!(
            point = name,
            ms = d.as_millis() as u64,
            "failpoint reached; pausing"
        );
        tokio::time::sleep(*d).await;
    }
}

/// [`pause`] for code that is not async (a command line tool's steps).
pub fn pause_blocking(name: &str) {
    if let Some(d) = points().get(name) {
        warn!(
            point = name,
            ms = d.as_millis() as u64,
            "failpoint reached; pausing"
        );
        std::thread::sleep(*d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_name_equals_milliseconds() {
        let p = parse("after_claim=1500, bad, other=x,,x=2");
        assert_eq!(p.len(), 2);
        assert_eq!(p["after_claim"], Duration::from_millis(1500));
        assert_eq!(p["x"], Duration::from_millis(2));
    }
}
