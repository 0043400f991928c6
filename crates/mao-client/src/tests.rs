use mao_api::{InitLocalRequest, RunStatus};

use super::*;
use crate::endpoint::item_path;

#[test]
fn endpoints_are_normalized() {
    for (given, expected) in [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("HTTP://localhost", "http://localhost"),
        (
            "  http://mao.example.com:80/prefix/ ",
            "http://mao.example.com:80/prefix",
        ),
        ("https://mao.example.com", "https://mao.example.com"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://[::1]", "http://[::1]"),
    ] {
        assert_eq!(normalize_endpoint(given).unwrap(), expected, "{given}");
    }
}

#[test]
fn bad_endpoints_are_rejected_with_a_reason() {
    for (given, reason) in [
        ("127.0.0.1:8080", "must start with http://"),
        ("localhost", "must start with http://"),
        ("ftp://host", "unsupported scheme \"ftp\""),
        ("http://", "host is missing"),
        ("http://:8080", "host is missing"),
        ("http://host:99999", "not a port number"),
        ("http://host:0", "not a port number"),
        ("http://host:abc", "not a port number"),
        ("http://host?x=1", "query"),
        ("http://ho st", "spaces"),
        ("http://user:pw@host", "credentials"),
        ("http://[zz]:80", "IPv6"),
    ] {
        match normalize_endpoint(given) {
            Err(e @ Error::InvalidEndpoint { .. }) => {
                let text = e.to_string();
                assert!(text.contains(reason), "{given}: {text}");
                assert!(text.starts_with("invalid endpoint"), "{text}");
            }
            other => panic!("{given}: {other:?}"),
        }
    }
}

#[test]
fn client_keeps_the_normalized_endpoint() {
    let client = Client::new("http://localhost:9000/").unwrap();
    assert_eq!(client.endpoint(), "http://localhost:9000");
}

#[test]
fn names_are_encoded_as_one_segment() {
    assert_eq!(
        item_path("/api/v1/tools", "demo-tool.v1_x").unwrap(),
        "/api/v1/tools/demo-tool.v1_x"
    );
    assert_eq!(
        item_path("/api/v1/tools", "a/b c?d").unwrap(),
        "/api/v1/tools/a%2Fb%20c%3Fd"
    );
    assert_eq!(
        item_path("/api/v1/tools", "é").unwrap(),
        "/api/v1/tools/%C3%A9"
    );
    for bad in ["", ".", ".."] {
        assert!(matches!(
            item_path("/api/v1/tools", bad),
            Err(Error::InvalidName { .. })
        ));
    }
}

#[test]
fn long_polls_outlast_the_wait_they_ask_for() {
    let (param, request) = wait_timeouts(Duration::from_secs(30));
    assert_eq!(param, "30000ms");
    assert_eq!(request, Duration::from_secs(30) + REQUEST_TIMEOUT);
    assert_eq!(
        mao_api::units::parse_duration(&param).unwrap(),
        Duration::from_secs(30)
    );
    // The daemon answers after a minute at most; asking for more would only delay errors.
    let (param, request) = wait_timeouts(Duration::from_secs(3600));
    assert_eq!(param, "60000ms");
    assert_eq!(request, MAX_WAIT + REQUEST_TIMEOUT);
    assert_eq!(wait_timeouts(Duration::from_millis(1500)).0, "1500ms");
}

#[test]
fn run_paths_are_one_segment() {
    assert_eq!(
        item_path("/api/v1/runs", "01J9Z8X7W6V5T4S3R2Q1P0NMKH").unwrap(),
        "/api/v1/runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH"
    );
    assert!(item_path("/api/v1/runs", "..").is_err());
}

#[test]
fn api_errors_expose_their_code() {
    let body =
        br#"{"error":{"code":"run_finished","message":"run X has already finished (succeeded)"}}"#;
    let e = api_error("http://h/api/v1/runs/X/cancel", 409, body);
    assert!(e.is_conflict());
    assert_eq!(e.code(), Some("run_finished"));
    let e = Error::InvalidName { name: ".".into() };
    assert_eq!(e.code(), None);
}

#[test]
fn error_bodies_become_api_errors() {
    let body = br#"{"error":{"code":"not_found","message":"tool \"x\" does not exist"}}"#;
    let e = api_error("http://h/api/v1/tools/x", 404, body);
    assert!(e.is_not_found());
    assert_eq!(e.to_string(), "tool \"x\" does not exist");
    match e {
        Error::Api { code, .. } => assert_eq!(code, "not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreign_error_bodies_still_explain() {
    let e = api_error("http://h/x", 502, b"<html>\n  Bad   Gateway\n</html>\n");
    assert_eq!(e.status(), Some(502));
    assert_eq!(
        e.to_string(),
        "http://h/x answered 502 without an error document (is it a mao-orchestrator?): \"<html> Bad Gateway </html>\""
    );
    let e = api_error("http://h/x", 404, b"");
    assert_eq!(
        e.to_string(),
        "http://h/x answered 404 without an error document (is it a mao-orchestrator?)"
    );
    let long = "x".repeat(500);
    let text = api_error("http://h/x", 500, long.as_bytes()).to_string();
    assert!(text.ends_with("x…\""), "{text}");
    assert!(text.len() < 250, "{text}");
}

/// A server on loopback answering each request with the next of `answers` (status,
/// body), one connection each; its thread returns every request as
/// `METHOD /path?query` followed by the body, if any, on a line of its own.
fn serve(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut request = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut sent = vec![0; length];
            reader.read_exact(&mut sent).unwrap();
            if length > 0 {
                request.push('\n');
                request.push_str(&String::from_utf8(sent).unwrap());
            }
            seen.push(request);
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            reader.into_inner().write_all(answer.as_bytes()).unwrap();
        }
        seen
    });
    (endpoint, thread)
}

fn local_dataset_json() -> String {
    serde_json::json!({
        "name": "weather",
        "path": "/var/lib/mao/datasets/weather",
        "remote": "https://git.example.com/weather.git",
        "branch": "node-a",
        "head": "1a2b3c4d5e6f",
        "clean": true,
        "unpushed": 0,
        "registered": true,
    })
    .to_string()
}

#[test]
fn clone_tells_a_new_clone_from_an_existing_one() {
    let (endpoint, server) = serve(vec![
        (201, local_dataset_json()),
        (200, local_dataset_json()),
    ]);
    let client = Client::new(&endpoint).unwrap();
    let first = client.clone_dataset("weather").unwrap();
    assert!(first.created);
    assert_eq!(first.dataset.path, "/var/lib/mao/datasets/weather");
    assert_eq!(first.dataset.branch.as_deref(), Some("node-a"));
    assert!(!client.clone_dataset("weather").unwrap().created);
    assert_eq!(
        server.join().unwrap(),
        vec![
            "POST /api/v1/datasets/weather/clone",
            "POST /api/v1/datasets/weather/clone"
        ]
    );
}

#[test]
fn local_datasets_are_removed_with_force_only_when_asked() {
    let conflict =
        r#"{"error":{"code":"conflict","message":"the clone of weather has 2 unpushed commits"}}"#;
    let (endpoint, server) = serve(vec![(409, conflict.to_owned()), (204, String::new())]);
    let client = Client::new(&endpoint).unwrap();
    let e = client.remove_local_dataset("weather", false).unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    assert_eq!(e.to_string(), "the clone of weather has 2 unpushed commits");
    client.remove_local_dataset("weather", true).unwrap();
    assert_eq!(
        server.join().unwrap(),
        vec![
            "DELETE /api/v1/local/datasets/weather",
            "DELETE /api/v1/local/datasets/weather?force=true"
        ]
    );
}

#[test]
fn pipeline_runs_are_listed_and_awaited_on_their_routes() {
    let run = serde_json::json!({
        "id": "01J9Z8X7W6V5T4S3R2Q1P0NMKH",
        "pipeline": "weather",
        "node": "node-a",
        "trigger": "manual",
        "status": "succeeded",
        "steps": [{"name": "collect", "tool": "demo", "run_id": "01J9Z8X7W6V5T4S3R2Q1P0NMKJ", "status": "succeeded"}],
        "queued_at": "2024-05-01T12:00:00Z",
    });
    let page = serde_json::json!({"items": [run]});
    let (endpoint, server) = serve(vec![
        (200, page.to_string()),
        (200, run.to_string()),
        (202, run.to_string()),
    ]);
    let client = Client::new(&endpoint).unwrap();
    let runs = client.list_pipeline_runs(Some("weather"), Some(5)).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].steps[0].status, Some(RunStatus::Succeeded));
    let done = client
        .wait_pipeline_run("01J9Z8X7W6V5T4S3R2Q1P0NMKH", Duration::from_secs(30))
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    client.start_pipeline_run("weather").unwrap();
    assert_eq!(
        server.join().unwrap(),
        vec![
            "GET /api/v1/pipeline-runs?pipeline=weather&limit=5",
            "GET /api/v1/pipeline-runs/01J9Z8X7W6V5T4S3R2Q1P0NMKH/wait?timeout=30000ms",
            "POST /api/v1/pipelines/weather/runs",
        ]
    );
}

#[test]
fn pipelines_are_paged_and_local_datasets_initialised() {
    let pipeline = |name: &str| serde_json::json!({"name": name, "steps": [{"name": "s", "tool": "t", "output_dataset": "d"}]});
    let dataset = serde_json::json!({"name": "scratch", "master": "/srv/mao/datasets/scratch.git", "local_only": true});
    let (endpoint, server) = serve(vec![
        (
            200,
            serde_json::json!({"items": [pipeline("a")], "next": "a"}).to_string(),
        ),
        (
            200,
            serde_json::json!({"items": [pipeline("b")]}).to_string(),
        ),
        (201, dataset.to_string()),
    ]);
    let client = Client::new(&endpoint).unwrap();
    let names: Vec<String> = client
        .list_pipelines()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    let created = client
        .init_local_dataset(&InitLocalRequest {
            name: "scratch".into(),
            description: Some("notes".into()),
        })
        .unwrap();
    assert!(created.local_only);
    assert_eq!(
        server.join().unwrap(),
        vec![
            "GET /api/v1/pipelines",
            "GET /api/v1/pipelines?after=a",
            "POST /api/v1/local/datasets\n{\"name\":\"scratch\",\"description\":\"notes\"}",
        ]
    );
}

#[test]
fn unreachable_message_names_the_endpoint() {
    let e = Error::Unreachable {
        endpoint: "http://127.0.0.1:1".to_owned(),
        source: io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"),
    };
    assert_eq!(
        e.to_string(),
        "cannot reach http://127.0.0.1:1: is mao-orchestrator running? (connection refused)"
    );
}
