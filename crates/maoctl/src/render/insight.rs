//! `maoctl insight list` and `maoctl insight get`.

use mao_api::Insight;

use super::table::{details, Table, TIMESTAMP};

/// `maoctl insight list` and `maoctl insight get TOOL`: one row per tool and node.
pub fn insights_table(items: &[Insight]) -> String {
    let mut table = Table::new(&[
        ("TOOL", None),
        ("NODE", Some(20)),
        ("RUN", None),
        ("PUBLISHED", None),
        ("INSIGHTS", Some(80)),
    ]);
    for i in items {
        table.push(vec![
            i.tool.clone(),
            i.node.clone(),
            i.run_id.clone(),
            i.published_at.format(TIMESTAMP).to_string(),
            i.insights_compact(),
        ]);
    }
    table.render()
}

/// `maoctl insight get TOOL --node N`: the fields, then the object as it was written.
pub fn insight_details(i: &Insight) -> String {
    let object = i.insights_pretty();
    let mut out = details(&[
        ("Tool", i.tool.clone()),
        ("Node", i.node.clone()),
        ("Run", i.run_id.clone()),
        ("Published", i.published_at.format(TIMESTAMP).to_string()),
    ]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&object);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insight() -> Insight {
        Insight {
            tool: "weather".into(),
            node: "zurich".into(),
            run_id: "01J9Z8K3YQ7M2E4V6T8W0X1Y2Z".into(),
            published_at: "2026-12-04T06:00:05Z".parse().unwrap(),
            insights: serde_json::from_str(r#"{"rain_mm": 3.5}"#).unwrap(),
        }
    }

    #[test]
    fn a_row_per_node_and_the_object_in_full() {
        let table = insights_table(&[insight()]);
        assert!(table.contains("weather"), "{table}");
        assert!(table.contains(r#"{"rain_mm":3.5}"#), "{table}");
        let text = insight_details(&insight());
        assert!(text.contains("zurich"), "{text}");
        assert!(text.contains("\"rain_mm\": 3.5"), "{text}");
    }
}
