//! The layering of maoctl's source, checked on the files themselves: `main` → `commands`
//! → `args` → `app` and `render`; `render` pure; no cycle between modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/` (`main`, `app`, `commands::run`, ...) and its source, without
/// its `mod tests`: test code may use fixtures and test-only crates.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let mut name = relative.to_str().unwrap().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_owned();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            modules.insert(name, without_tests(&text));
        }
    }
    assert!(modules.contains_key("main") && modules.contains_key("render::table"));
    modules
}

/// `text` without its `mod tests`, which ends at the first `}` in the first column.
fn without_tests(text: &str) -> String {
    let marker = "\n#[cfg(test)]\nmod tests {";
    match text.find(marker) {
        Some(start) => {
            let rest = &text[start + marker.len()..];
            let end = rest.find("\n}\n").map_or(rest.len(), |end| end + 3);
            format!("{}{}", &text[..start], &rest[end..])
        }
        None => text.to_owned(),
    }
}

/// The modules `code` (the module `name`) refers to: `crate::a::b` is `a::b` when `a::b`
/// is a module and `a` otherwise, `super::b` is a sibling.
fn references(name: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let parent = name.rsplit_once("::").map_or("", |(parent, _)| parent);
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_owned())] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let path: Vec<&str> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap()
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            let join = |segments: &[&str]| {
                let tail = segments.join("::");
                if base.is_empty() {
                    tail
                } else {
                    format!("{base}::{tail}")
                }
            };
            let target = (1..=path.len())
                .rev()
                .map(|n| join(&path[..n]))
                .find(|candidate| known.contains(candidate));
            if let Some(target) = target.filter(|t| t != name) {
                found.insert(target);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, code)| (name.clone(), references(name, code, &known)))
        .collect()
}

/// A cycle in `graph`, as the modules on it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            graph
                .entry((*from).into())
                .or_default()
                .insert((*to).into());
        }
        graph
    };
    assert_eq!(cycle(&edges(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        cycle(&edges(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
}

#[test]
fn no_module_cycle() {
    let graph = graph();
    // The check sees references at all: `tool add` registers through `app`, and
    // `tool run` is a run's.
    let tool = &graph["commands::tool"];
    assert!(
        tool.contains("app") && tool.contains("commands::run"),
        "{tool:?}"
    );
    assert_eq!(cycle(&graph), None, "{graph:#?}");
}

#[test]
fn render_is_pure() {
    for (name, code) in modules() {
        if !name.starts_with("render") || name == "render::fixtures" {
            continue;
        }
        for line in code.lines().map(str::trim_start) {
            let Some(path) = line.strip_prefix("use ") else {
                continue;
            };
            let root = path.split("::").next().unwrap();
            let allowed = match root {
                "super" => true,
                "crate" => path.starts_with("crate::render::"),
                // chrono: the type of mao_api's timestamps.
                "mao_api" | "chrono" => true,
                "std" => ![
                    "std::io",
                    "std::fs",
                    "std::net",
                    "std::process",
                    "std::time",
                ]
                .iter()
                .any(|io| path.starts_with(io)),
                _ => false,
            };
            assert!(allowed, "{name}: {line}");
        }
        for banned in [
            "crate::app",
            "crate::args",
            "crate::commands",
            "mao_client",
            "serde::",
            "serde_json",
        ] {
            assert!(!code.contains(banned), "{name} uses {banned}");
        }
        assert!(!code.contains(":?}"), "{name}: Debug in text for people");
    }
}

#[test]
fn only_main_uses_the_commands_and_app_is_a_leaf() {
    for (name, refs) in graph() {
        let user_of_commands = name == "main" || name.starts_with("commands");
        assert!(
            user_of_commands || !refs.iter().any(|r| r.starts_with("commands")),
            "{name} uses {refs:?}"
        );
        match name.as_str() {
            "app" => assert!(refs.is_empty(), "app uses {refs:?}"),
            "args" => assert!(
                refs.iter().all(|r| r == "app" || r.starts_with("render")),
                "args uses {refs:?}"
            ),
            _ => {}
        }
    }
}
