//! The client config file through the real binary (contexts added, listed without tokens,
//! chosen; the file 0600), and https:// endpoints with a token against a small TLS server.

use std::path::Path;
use std::process::Output;

use mao_testkit::tls::{HttpsServer, TestPki};

use crate::{maoctl_command, run, stderr};

const EMPTY_LIST: &str = r#"{"items":[]}"#;

fn maoctl_with(config: &Path, args: &[&str]) -> Output {
    run(maoctl_command().env("MAO_CONFIG", config).args(args), None)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn contexts_are_added_listed_without_tokens_and_chosen() {
    let pki = TestPki::new();
    let a = HttpsServer::start(&pki, 200, EMPTY_LIST);
    let b = HttpsServer::start(&pki, 200, EMPTY_LIST);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mao/config.toml");
    let token_file = dir.path().join("b.token");
    std::fs::write(&token_file, "token-of-b-7c1\n").unwrap();
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();

    let out = maoctl_with(
        &config,
        &[
            "context",
            "set",
            "site-a",
            "--endpoint",
            &a.url,
            "--token",
            "token-of-a-9f2",
            "--ca-cert",
            ca,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("now the current context"),
        "{}",
        stdout(&out)
    );
    let out = maoctl_with(
        &config,
        &[
            "context",
            "set",
            "site-b",
            "--endpoint",
            &b.url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--ca-cert",
            ca,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds tokens");
    }

    for args in [
        vec!["context", "list"],
        vec!["context", "list", "-o", "json"],
    ] {
        let out = maoctl_with(&config, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            !text.contains("token-of-a") && !text.contains("token-of-b"),
            "{text}"
        );
        assert!(text.contains("site-a") && text.contains(&b.url), "{text}");
    }
    let table = stdout(&maoctl_with(&config, &["context", "list"]));
    let current: Vec<&str> = table.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{table}");
    assert!(current[0].contains("site-a"), "{table}");

    // The current context: site-a, with its token.
    let out = maoctl_with(&config, &["tool", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        a.heads()[0].contains("Bearer token-of-a-9f2"),
        "{:?}",
        a.heads()
    );
    // --context picks site-b and its token file.
    let out = maoctl_with(&config, &["--context", "site-b", "tool", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        b.heads()[0].contains("Bearer token-of-b-7c1"),
        "{:?}",
        b.heads()
    );
    // context use makes site-b current.
    let out = maoctl_with(&config, &["context", "use", "site-b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(maoctl_with(&config, &["tool", "list"]).status.success());
    assert_eq!(b.heads().len(), 2);
    // A flag beats the context: --token replaces its token.
    let out = maoctl_with(&config, &["--token", "flag-token", "tool", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        b.heads()[2].contains("Bearer flag-token"),
        "{:?}",
        b.heads()
    );

    for args in [
        vec!["--context", "site-z", "tool", "list"],
        vec!["context", "use", "site-z"],
    ] {
        let out = maoctl_with(&config, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no context \"site-z\""),
            "{}",
            stderr(&out)
        );
    }
    let out = maoctl_with(&config, &["context", "remove", "site-b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&maoctl_with(&config, &["context", "list"]));
    assert!(
        !table.contains("site-b") && !table.lines().any(|l| l.starts_with('*')),
        "{table}"
    );
}

#[test]
fn https_with_a_ca_and_a_token_and_the_failures_in_one_line() {
    let pki = TestPki::new();
    let server = HttpsServer::start(&pki, 200, EMPTY_LIST);
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();
    let out = run(
        maoctl_command().env("MAO_TOKEN", "env-token-51").args([
            "--endpoint",
            &server.url,
            "--ca-cert",
            ca,
            "tool",
            "list",
        ]),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        server.heads()[0].contains("Bearer env-token-51"),
        "{:?}",
        server.heads()
    );
    let out = run(
        maoctl_command().env("MAO_CA_CERT", ca).args([
            "--endpoint",
            &server.url,
            "tool",
            "add",
            "-f",
            "-",
        ]),
        Some(
            r#"{"name":"demo","author":"a","image":"mao/demo:1","data_repo":"https://h/d.git","code_repo":"https://h/c.git","artefact":"out"}"#,
        ),
    );
    // The answer is not a tool; the request is what counts.
    let _ = out;
    let head = server.heads().last().unwrap().to_lowercase();
    assert!(
        head.contains("x-mao-client: maoctl") && head.contains("content-type: application/json"),
        "{head}"
    );

    // No CA given: the public roots do not know the test CA.
    let out = run(
        maoctl_command().args(["--endpoint", &server.url, "--token", "t-1", "tool", "list"]),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not signed by a CA this client trusts"),
        "{err}"
    );
    assert!(!err.contains("t-1"), "{err}");

    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "nope").unwrap();
    let out = run(
        maoctl_command()
            .args(["--endpoint", &server.url, "--ca-cert"])
            .arg(not_pem.path())
            .args(["tool", "list"]),
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds no certificate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unauthorized_and_forbidden_are_one_line_exit_1() {
    let pki = TestPki::new();
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();
    let body = r#"{"error":{"code":"unauthorized","message":"missing or invalid bearer token"}}"#;
    let server = HttpsServer::start(&pki, 401, body);
    let out = run(
        maoctl_command().args(["--endpoint", &server.url, "--ca-cert", ca, "tool", "list"]),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: missing or invalid bearer token (no token was sent"),
        "{err}"
    );

    let body = r#"{"error":{"code":"forbidden","message":"this needs the role operate"}}"#;
    let server = HttpsServer::start(&pki, 403, body);
    let out = run(
        maoctl_command().args([
            "--endpoint",
            &server.url,
            "--ca-cert",
            ca,
            "--token",
            "reader",
            "tool",
            "remove",
            "demo",
        ]),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), "error: this needs the role operate\n");
}
