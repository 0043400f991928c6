//! `maoctl activity`.

use mao_api::auth::Activity;

use super::table::{Table, TIMESTAMP};

/// The table of `maoctl activity`, oldest first.
pub fn activity_table(entries: &[Activity]) -> String {
    let mut table = Table::new(&[
        ("TIME", None),
        ("WHO", Some(24)),
        ("ROLE", None),
        ("METHOD", None),
        ("TARGET", Some(60)),
        ("STATUS", None),
    ]);
    for entry in entries {
        table.push(vec![
            entry.at.format(TIMESTAMP).to_string(),
            entry.who.clone(),
            entry.role.map(|r| r.as_str()).unwrap_or("-").to_owned(),
            entry.method.clone(),
            entry.target.clone(),
            entry.status.to_string(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use mao_api::auth::Role;

    use super::*;

    #[test]
    fn activity_table_shows_who_did_what() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let entries = [
            Activity {
                at,
                who: "alice".into(),
                role: Some(Role::Admin),
                method: "POST".into(),
                target: "/api/v1/tools".into(),
                status: 201,
            },
            Activity {
                at,
                who: "-".into(),
                role: None,
                method: "DELETE".into(),
                target: "/api/v1/tools/weather".into(),
                status: 401,
            },
        ];
        expect![[r#"
            TIME                  WHO    ROLE   METHOD  TARGET                 STATUS
            2027-01-15T08:00:00Z  alice  admin  POST    /api/v1/tools          201
            2027-01-15T08:00:00Z  -      -      DELETE  /api/v1/tools/weather  401
        "#]]
        .assert_eq(&activity_table(&entries));
    }
}
