//! `maoctl federation status`.

use mao_api::federation::FederationStatus;

use super::table::Table;

/// The members table, then the nodes that have no member of their name.
pub fn status(status: &FederationStatus) -> String {
    let mut table = Table::new(&[
        ("ID", None),
        ("NAME", None),
        ("PEER URL", Some(40)),
        ("LEADER", None),
        ("LEARNER", None),
        ("HEALTH", None),
        ("NODE", None),
        ("DETAIL", Some(50)),
    ]);
    for m in &status.members {
        table.push(vec![
            m.id.clone(),
            if m.name.is_empty() {
                "-".to_owned()
            } else {
                m.name.clone()
            },
            m.peer_urls.join(","),
            if m.is_leader { "yes" } else { "" }.to_owned(),
            if m.is_learner { "yes" } else { "" }.to_owned(),
            m.health.clone(),
            m.node.clone().unwrap_or_else(|| "-".to_owned()),
            m.detail.clone().unwrap_or_default(),
        ]);
    }
    let mut text = table.render();
    let healthy = status
        .members
        .iter()
        .filter(|m| m.health == "healthy")
        .count();
    text.push_str(&format!(
        "\n{} members, {healthy} healthy; {} live nodes{}\n",
        status.members.len(),
        status.nodes.len(),
        if status.managed {
            "; this node runs its member (managed)"
        } else {
            ""
        }
    ));
    if !status.nodes_without_member.is_empty() {
        text.push_str(&format!(
            "nodes without an etcd member of their own: {}\n",
            status.nodes_without_member.join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn status_shows_members_and_nodes_that_match() {
        let status: FederationStatus = serde_json::from_value(serde_json::json!({
            "managed": true,
            "members": [
                {"id": "8e9e05c52164694d", "name": "site-a", "peer_urls": ["https://10.0.0.1:2380"],
                 "is_learner": false, "is_leader": true, "health": "healthy", "node": "site-a"},
                {"id": "91bc3c398fb3c146", "name": "", "peer_urls": ["https://10.0.0.2:2380"],
                 "is_learner": true, "is_leader": false, "health": "starting", "detail": "added, not started yet"}
            ],
            "nodes": [],
            "nodes_without_member": ["site-x"]
        }))
        .unwrap();
        expect![[r#"
            ID                NAME    PEER URL               LEADER  LEARNER  HEALTH    NODE    DETAIL
            8e9e05c52164694d  site-a  https://10.0.0.1:2380  yes              healthy   site-a
            91bc3c398fb3c146  -       https://10.0.0.2:2380          yes      starting  -       added, not started yet

            2 members, 1 healthy; 0 live nodes; this node runs its member (managed)
            nodes without an etcd member of their own: site-x
        "#]]
        .assert_eq(&super::status(&status));
    }
}
