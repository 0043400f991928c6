//! The notification every test of mao-notify sends: the unit tests' module, which the
//! integration tests (`tests/it/support.rs`) include as well.

use chrono::TimeZone;
use mao_api::{Notification, NotificationKind, Severity};

/// A spike of `control` on site-a in weather/collect: 131 against a baseline of 100.
pub fn spike() -> Notification {
    Notification {
        id: "01J0000000000000000000SPKE".into(),
        kind: NotificationKind::Spike,
        severity: Severity::Warning,
        node: "site-a".into(),
        tool: Some("collector".into()),
        pipeline: Some("weather".into()),
        step: Some("collect".into()),
        run_id: Some("01J0000000000000000000RUN1".into()),
        dataset: None,
        metric: Some("control".into()),
        value: Some(131.0),
        baseline: Some(100.0),
        score: Some(4.25),
        message: "control jumped\nfrom 100 to 131; check the sensor".into(),
        created_at: chrono::Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
        acknowledged_by: None,
        acknowledged_at: None,
    }
}
