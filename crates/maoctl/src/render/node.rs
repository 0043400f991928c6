//! `maoctl node list`.

use mao_api::NodeInfo;

use super::table::{age, Table, TIMESTAMP};

/// The table of `maoctl node list`; `now` (Unix seconds) gives the age of each node.
pub fn nodes_table(nodes: &[NodeInfo], now: i64) -> String {
    let mut table = Table::new(&[
        ("NAME", None),
        ("API URL", Some(40)),
        ("VERSION", Some(20)),
        ("STARTED", None),
        ("HOST/PID", Some(40)),
    ]);
    for node in nodes {
        let started = format!(
            "{} ({})",
            node.started_at.format(TIMESTAMP),
            age(now - node.started_at.timestamp())
        );
        table.push(vec![
            node.name.clone(),
            node.api_url.clone(),
            node.version.clone(),
            started,
            format!("{}/{}", node.host, node.pid),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn nodes_table_shows_age_and_process() {
        let node: NodeInfo = serde_json::from_value(serde_json::json!({
            "name": "node-a",
            "api_url": "http://10.0.0.1:8080",
            "version": "0.1.0",
            "started_at": "2024-05-01T12:00:00Z",
            "host": "alpha",
            "pid": 4242,
        }))
        .unwrap();
        let now = node.started_at.timestamp() + 3 * 3600 + 59;
        expect![[r#"
            NAME    API URL               VERSION  STARTED                        HOST/PID
            node-a  http://10.0.0.1:8080  0.1.0    2024-05-01T12:00:00Z (3h ago)  alpha/4242
        "#]]
        .assert_eq(&nodes_table(&[node], now));
    }
}
