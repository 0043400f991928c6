//! `maoctl notification list` and `maoctl notification get`.

use mao_api::Notification;

use super::table::{details, one_line, Table, TIMESTAMP};

/// `maoctl notification list`: newest first.
pub fn notifications_table(items: &[Notification]) -> String {
    let mut table = Table::new(&[
        ("ID", None),
        ("CREATED", None),
        ("KIND", None),
        ("SEVERITY", None),
        ("NODE", Some(20)),
        ("TARGET", Some(30)),
        ("ACK", Some(16)),
        ("MESSAGE", Some(80)),
    ]);
    for n in items {
        table.push(vec![
            n.id.clone(),
            n.created_at.format(TIMESTAMP).to_string(),
            n.kind.as_str().to_owned(),
            n.severity.as_str().to_owned(),
            n.node.clone(),
            n.target(),
            n.acknowledged_by.clone().unwrap_or_else(|| "-".into()),
            one_line(&n.message),
        ]);
    }
    table.render()
}

/// `maoctl notification get`: every field.
pub fn notification_details(n: &Notification) -> String {
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let fields = [
        ("ID", n.id.clone()),
        ("Kind", n.kind.as_str().to_owned()),
        ("Severity", n.severity.as_str().to_owned()),
        ("Node", n.node.clone()),
        ("Tool", n.tool.clone().unwrap_or_default()),
        ("Pipeline", n.pipeline.clone().unwrap_or_default()),
        ("Step", n.step.clone().unwrap_or_default()),
        ("Run", n.run_id.clone().unwrap_or_default()),
        ("Dataset", n.dataset.clone().unwrap_or_default()),
        ("Metric", n.metric.clone().unwrap_or_default()),
        ("Value", num(n.value)),
        ("Baseline", num(n.baseline)),
        (
            "Score",
            n.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
        ),
        ("Message", n.message.clone()),
        ("Created", n.created_at.format(TIMESTAMP).to_string()),
        (
            "Acknowledged",
            match (&n.acknowledged_by, n.acknowledged_at) {
                (Some(by), Some(at)) => format!("by {by} at {}", at.format(TIMESTAMP)),
                _ => "no".to_owned(),
            },
        ),
    ];
    let shown: Vec<(&str, String)> = fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    details(&shown)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    /// A spike notification acknowledged by alice, and a failed run nobody acknowledged.
    fn notifications() -> Vec<mao_api::Notification> {
        serde_json::from_value(serde_json::json!([
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y2Z", "kind": "spike", "severity": "warning",
             "node": "node-a", "tool": "demo-tool", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
             "metric": "control", "value": 131.0, "baseline": 100.0, "score": 0.8421,
             "message": "control jumped\nfrom 100 to 131", "created_at": "2024-05-01T12:00:00Z",
             "acknowledged_by": "alice", "acknowledged_at": "2024-05-01T13:00:00Z"},
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y30", "kind": "run_failed", "severity": "critical",
             "node": "node-b", "pipeline": "weather", "step": "clean", "dataset": "weather-raw",
             "message": "run failed", "created_at": "2024-05-01T12:05:00Z"},
            {"id": "01J9Z8K3YQ7M2E4V6T8W0X1Y31", "kind": "push_failing", "severity": "info",
             "node": "node-c", "message": "push keeps failing", "created_at": "2024-05-01T12:06:00Z"},
        ]))
        .unwrap()
    }

    #[test]
    fn notifications_table_and_details() {
        let items = notifications();
        expect![[r#"
            ID                          CREATED               KIND          SEVERITY  NODE    TARGET         ACK    MESSAGE
            01J9Z8K3YQ7M2E4V6T8W0X1Y2Z  2024-05-01T12:00:00Z  spike         warning   node-a  demo-tool      alice  control jumped from 100 to 131
            01J9Z8K3YQ7M2E4V6T8W0X1Y30  2024-05-01T12:05:00Z  run_failed    critical  node-b  weather/clean  -      run failed
            01J9Z8K3YQ7M2E4V6T8W0X1Y31  2024-05-01T12:06:00Z  push_failing  info      node-c                 -      push keeps failing
        "#]].assert_eq(&notifications_table(&items));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y2Z
            Kind:          spike
            Severity:      warning
            Node:          node-a
            Tool:          demo-tool
            Run:           01J9Z8X7W6V5T4S3R2Q1P0NMKH
            Metric:        control
            Value:         131
            Baseline:      100
            Score:         0.84
            Message:       control jumped
                           from 100 to 131
            Created:       2024-05-01T12:00:00Z
            Acknowledged:  by alice at 2024-05-01T13:00:00Z
        "#]]
        .assert_eq(&notification_details(&items[0]));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y30
            Kind:          run_failed
            Severity:      critical
            Node:          node-b
            Pipeline:      weather
            Step:          clean
            Dataset:       weather-raw
            Message:       run failed
            Created:       2024-05-01T12:05:00Z
            Acknowledged:  no
        "#]]
        .assert_eq(&notification_details(&items[1]));
        expect![[r#"
            ID:            01J9Z8K3YQ7M2E4V6T8W0X1Y31
            Kind:          push_failing
            Severity:      info
            Node:          node-c
            Message:       push keeps failing
            Created:       2024-05-01T12:06:00Z
            Acknowledged:  no
        "#]]
        .assert_eq(&notification_details(&items[2]));
    }
}
