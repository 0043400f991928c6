//! Datasets and their clones: `maoctl dataset list`, `get`, `list-local`, `clone`.

use mao_api::{Dataset, LocalDataset};

use super::table::{details, short_commit, yes_no, Table};

/// The table of `maoctl dataset list`.
pub fn datasets_table(datasets: &[Dataset]) -> String {
    let mut table = Table::new(&[
        ("NAME", None),
        ("MASTER", Some(50)),
        ("NODES", Some(30)),
        ("LOCAL", None),
        ("DESCRIPTION", Some(40)),
    ]);
    for dataset in datasets {
        table.push(vec![
            dataset.name.clone(),
            dataset.master.clone(),
            dataset.nodes.join(","),
            yes_no(dataset.local_only),
            dataset.description.clone(),
        ]);
    }
    table.render()
}

/// The detail view of `maoctl dataset get`.
pub fn dataset_details(dataset: &Dataset) -> String {
    details(&[
        ("Name", dataset.name.clone()),
        ("Master", dataset.master.clone()),
        ("Nodes", dataset.nodes.join("\n")),
        ("Local only", yes_no(dataset.local_only)),
        ("Description", dataset.description.clone()),
    ])
}

/// The table of `maoctl dataset list-local`.
pub fn local_datasets_table(datasets: &[LocalDataset]) -> String {
    let mut table = Table::new(&[
        ("NAME", None),
        ("BRANCH", Some(30)),
        ("HEAD", None),
        ("CLEAN", None),
        ("UNPUSHED", None),
        ("REGISTERED", None),
        ("PATH", None),
    ]);
    for dataset in datasets {
        table.push(vec![
            dataset.name.clone(),
            dataset.branch.clone().unwrap_or_else(|| "-".to_owned()),
            dataset
                .head
                .as_deref()
                .map_or_else(|| "-".to_owned(), |h| short_commit(h, true)),
            yes_no(dataset.clean),
            dataset.unpushed.to_string(),
            yes_no(dataset.registered),
            dataset.path.clone(),
        ]);
    }
    table.render()
}

/// Where a clone is and what it has checked out: `/path (branch main at 1a2b3c4d)`.
pub fn clone_place(dataset: &LocalDataset) -> String {
    let branch = match &dataset.branch {
        Some(branch) => format!("branch {branch}"),
        None => "detached HEAD".to_owned(),
    };
    match &dataset.head {
        Some(head) => format!(
            "{} ({branch} at {})",
            dataset.path,
            short_commit(head, true)
        ),
        None => format!("{} ({branch}, no commits yet)", dataset.path),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn dataset_table_and_details() {
        let d = Dataset {
            name: "weather".into(),
            master: "git@example.com:weather.git".into(),
            nodes: vec!["node-a".into(), "node-b".into()],
            description: String::new(),
            local_only: true,
        };
        expect![[r#"
            NAME     MASTER                       NODES          LOCAL  DESCRIPTION
            weather  git@example.com:weather.git  node-a,node-b  yes
        "#]]
        .assert_eq(&datasets_table(std::slice::from_ref(&d)));
        expect![[r#"
            Name:         weather
            Master:       git@example.com:weather.git
            Nodes:        node-a
                          node-b
            Local only:   yes
            Description:
        "#]]
        .assert_eq(&dataset_details(&d));
    }

    #[test]
    fn local_datasets_table_shows_the_state_of_each_clone() {
        let clones: Vec<LocalDataset> = serde_json::from_value(serde_json::json!([
            {"name": "weather-raw", "path": "/var/lib/mao/datasets/weather-raw",
             "remote": "https://git.example.com/weather-raw.git", "branch": "node-a",
             "head": "1a2b3c4d5e6f", "clean": false, "unpushed": 2, "registered": true},
            {"name": "old", "path": "/var/lib/mao/datasets/old", "remote": "/srv/old.git",
             "clean": true, "unpushed": 0, "registered": false},
        ]))
        .unwrap();
        expect![[r#"
            NAME         BRANCH  HEAD      CLEAN  UNPUSHED  REGISTERED  PATH
            weather-raw  node-a  1a2b3c4d  no     2         yes         /var/lib/mao/datasets/weather-raw
            old          -       -         yes    0         no          /var/lib/mao/datasets/old
        "#]].assert_eq(&local_datasets_table(&clones));
        expect!["/var/lib/mao/datasets/weather-raw (branch node-a at 1a2b3c4d)"]
            .assert_eq(&clone_place(&clones[0]));
        expect!["/var/lib/mao/datasets/old (detached HEAD, no commits yet)"]
            .assert_eq(&clone_place(&clones[1]));
    }
}
