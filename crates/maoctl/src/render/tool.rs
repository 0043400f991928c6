//! `maoctl tool list` and `maoctl tool get`.

use mao_api::Tool;

use super::table::{details, limits_text, shell_words, yes_no, Table};

/// The table of `maoctl tool list`.
pub fn tools_table(tools: &[Tool]) -> String {
    let mut table = Table::new(&[
        ("NAME", None),
        ("AUTHOR", Some(20)),
        ("IMAGE", Some(40)),
        ("ARTEFACT", Some(30)),
        ("DESCRIPTION", Some(40)),
    ]);
    for tool in tools {
        table.push(vec![
            tool.name.clone(),
            tool.author.clone(),
            tool.image.clone(),
            tool.artefact.clone(),
            tool.description.clone(),
        ]);
    }
    table.render()
}

/// The detail view of `maoctl tool get`.
pub fn tool_details(tool: &Tool) -> String {
    let env = tool
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let cmd = match &tool.cmd {
        Some(cmd) => shell_words(cmd),
        None => "(the image's default)".to_owned(),
    };
    details(&[
        ("Name", tool.name.clone()),
        ("Author", tool.author.clone()),
        ("Image", tool.image.clone()),
        ("Data repo", tool.data_repo.clone()),
        ("Code repo", tool.code_repo.clone()),
        ("Artefact", tool.artefact.clone()),
        ("Description", tool.description.clone()),
        ("Command", cmd),
        ("Environment", env),
        ("Limits", limits_text(&tool.limits, "(the node's defaults)")),
        ("Docker socket", yes_no(tool.docker_socket)),
    ])
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::render::fixtures::assert_no_trailing_spaces;

    fn tool(name: &str, description: &str) -> Tool {
        Tool {
            name: name.to_owned(),
            author: "ada".to_owned(),
            image: "mao/demo:1".to_owned(),
            data_repo: "https://git.example.com/data.git".to_owned(),
            code_repo: "https://git.example.com/code.git".to_owned(),
            artefact: "out.csv".to_owned(),
            description: description.to_owned(),
            cmd: None,
            env: Default::default(),
            limits: Default::default(),
            docker_socket: false,
            detector: None,
            capabilities: Vec::new(),
            network: None,
        }
    }

    #[test]
    fn empty_table_is_its_header() {
        let t = tools_table(&[]);
        expect![[r#"
            NAME  AUTHOR  IMAGE  ARTEFACT  DESCRIPTION
        "#]]
        .assert_eq(&t);
    }

    #[test]
    fn cells_stay_on_one_line_and_escape_free() {
        let text = tools_table(&[tool("demo", "line one\nline\ttwo\u{1b}[31m")]);
        // The escape character would be invisible in the snapshot.
        assert!(!text.contains('\u{1b}'));
        expect![[r#"
            NAME  AUTHOR  IMAGE       ARTEFACT  DESCRIPTION
            demo  ada     mao/demo:1  out.csv   line one line two�[31m
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn tool_details_show_every_field() {
        let mut t = tool("demo", "first\nsecond");
        t.cmd = Some(vec!["run".into(), "--in".into(), "a file".into()]);
        t.env.insert("A".into(), "1".into());
        t.env.insert("B".into(), "x=y".into());
        let text = tool_details(&t);
        assert_no_trailing_spaces(&text);
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:    first
                            second
            Command:        run --in 'a file'
            Environment:    A=1
                            B=x=y
            Limits:         (the node's defaults)
            Docker socket:  no
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn tool_details_show_limits() {
        let mut t = tool("demo", "");
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:
            Command:        (the image's default)
            Environment:
            Limits:         (the node's defaults)
            Docker socket:  no
        "#]]
        .assert_eq(&tool_details(&t));
        t.limits.timeout = Some("1h".into());
        t.limits.cpus = Some(2.0);
        t.docker_socket = true;
        expect![[r#"
            Name:           demo
            Author:         ada
            Image:          mao/demo:1
            Data repo:      https://git.example.com/data.git
            Code repo:      https://git.example.com/code.git
            Artefact:       out.csv
            Description:
            Command:        (the image's default)
            Environment:
            Limits:         timeout=1h cpus=2
            Docker socket:  yes
        "#]]
        .assert_eq(&tool_details(&t));
    }
}
