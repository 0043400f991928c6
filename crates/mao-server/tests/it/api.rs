//! The HTTP API in-process (`router(..).oneshot`) over a real embedded store.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use mao_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::node::{collect_claims, node_state, router, ActivityLog, Guard, Keys, Node};

struct Api {
    app: Router,
    state: Arc<Node>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let (store, state) = node_state(dir.path());
    // Let the registry copies load, so reads exercise the cached path. (A generous
    // deadline: on a loaded machine the first load takes longer than a second.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(state.tools.is_live() && state.datasets.is_live())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(state.tools.is_live() && state.datasets.is_live());
    Api {
        app: router(
            state.clone(),
            Arc::new(Guard {
                tokens: None,
                allowed_hosts: vec!["localhost".to_owned()],
                activity: Arc::new(ActivityLog::open(dir.path()).unwrap()),
            }),
        ),
        state,
        store,
        _dir: dir,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value, axum::http::HeaderMap) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "localhost:8080");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(body.unwrap_or_else(Body::empty)).unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{uri}: body is not JSON ({e}): {bytes:?}"))
        };
        (status, value, headers)
    }

    async fn json(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(
                method,
                uri,
                Some(Body::from(body.to_string())),
                Some("application/json"),
            )
            .await;
        (s, v)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, uri, None, None).await;
        (s, v)
    }
}

fn tool(name: &str) -> Value {
    json!({
        "name": name, "author": "Jane Doe", "image": "mao/demo-tool:latest",
        "data_repo": "https://github.com/mao/data.git", "code_repo": "git@github.com:mao/code.git",
        "artefact": "paper-2020"
    })
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "errors carry a message: {body}"
    );
}

#[tokio::test]
async fn tool_crud() {
    let api = api().await;
    let (s, v) = api
        .json(Method::POST, "/api/v1/tools", tool("scraper"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "scraper");
    assert_eq!(v["description"], "");

    let (s, v) = api
        .json(Method::POST, "/api/v1/tools", tool("scraper"))
        .await;
    assert_error(s, &v, StatusCode::CONFLICT, "already_exists");

    let (s, v, headers) = api
        .call(Method::GET, "/api/v1/tools/scraper", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["image"], "mao/demo-tool:latest");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();

    let mut changed = tool("scraper");
    changed["description"] = json!("collects things");
    changed["env"] = json!({"MODE": "full"});
    changed["cmd"] = json!(["run", "--all"]);
    let req = |etag: &str| {
        Request::builder()
            .method(Method::PUT)
            .uri("/api/v1/tools/scraper")
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, etag)
            .body(Body::from(changed.to_string()))
            .unwrap()
    };
    let resp = api.app.clone().oneshot(req(&etag)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The same stale ETag again: someone (we) changed it meanwhile.
    let resp = api.app.clone().oneshot(req(&etag)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    let (_, v) = api.get("/api/v1/tools/scraper").await;
    assert_eq!(v["description"], "collects things");
    assert_eq!(v["env"]["MODE"], "full");
    assert_eq!(v["cmd"], json!(["run", "--all"]));

    let (s, v) = api
        .json(Method::PUT, "/api/v1/tools/other", tool("other"))
        .await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found");
    let (s, v) = api
        .json(Method::PUT, "/api/v1/tools/scraper", tool("other"))
        .await;
    assert_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    let (s, v, _) = api
        .call(Method::DELETE, "/api/v1/tools/scraper", None, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = api.get("/api/v1/tools/scraper").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found");
    let (s, v, _) = api
        .call(Method::DELETE, "/api/v1/tools/scraper", None, None)
        .await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn listing_is_sorted_and_paginated() {
    let api = api().await;
    for name in ["c-tool", "a-tool", "b-tool", "d-tool"] {
        let (s, _) = api.json(Method::POST, "/api/v1/tools", tool(name)).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, v) = api.get("/api/v1/tools").await;
    let names: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-tool", "b-tool", "c-tool", "d-tool"]);
    assert!(v.get("next").is_none());

    let (_, v) = api.get("/api/v1/tools?limit=3").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert_eq!(v["next"], "c-tool");
    let (_, v) = api.get("/api/v1/tools?limit=3&after=c-tool").await;
    assert_eq!(v["items"][0]["name"], "d-tool");
    assert!(v.get("next").is_none());

    let (s, v) = api.get("/api/v1/tools?limit=0").await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_query");
    let (s, v) = api.get("/api/v1/tools?limit=x").await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn datasets_crud_and_validation() {
    let api = api().await;
    let ds = json!({"name": "weather", "master": "git@github.com:mao/weather.git", "nodes": ["site-a"], "description": "d"});
    let (s, v) = api.json(Method::POST, "/api/v1/datasets", ds.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["local_only"], false);
    let (s, v) = api.json(Method::POST, "/api/v1/datasets", ds).await;
    assert_error(s, &v, StatusCode::CONFLICT, "already_exists");
    for bad in [
        json!({"name": "x", "master": "not a url"}),
        json!({"name": "x", "master": "ftp://host/repo"}),
        json!({"name": "x", "master": "https://host/r.git", "nodes": ["Bad Node"]}),
        json!({"name": "x", "master": "https://host/r.git", "nodes": ["a", "a"]}),
        json!({"name": "x"}),
    ] {
        let (s, v) = api
            .json(Method::POST, "/api/v1/datasets", bad.clone())
            .await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {s} {v}");
    }
    let (_, v) = api.get("/api/v1/datasets").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
}

/// Writers that PUT without `If-Match` mean "this is the document now": however their
/// writes interleave, none is answered 409 (issue 12, D9).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blind_puts_from_concurrent_writers_never_conflict() {
    let api = Arc::new(api().await);
    let (s, v) = api
        .json(Method::POST, "/api/v1/tools", tool("shared"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut refused = Vec::new();
                for i in 0..100 {
                    let mut doc = tool("shared");
                    doc["description"] = json!(format!("writer {w}, write {i}"));
                    let (s, v) = api.json(Method::PUT, "/api/v1/tools/shared", doc).await;
                    if s != StatusCode::OK {
                        refused.push(format!("{s}: {v}"));
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = Vec::new();
    for writer in writers {
        refused.extend(writer.await.unwrap());
    }
    assert!(
        refused.is_empty(),
        "{} of 400 refused: {:?}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    let (_, v) = api.get("/api/v1/tools/shared").await;
    assert!(
        v["description"].as_str().unwrap().ends_with("write 99"),
        "{v}"
    );
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let api = api().await;
    let (s, _) = api.json(Method::POST, "/api/v1/tools", tool("keep")).await;
    assert_eq!(s, StatusCode::CREATED);
    let before = api.store.ping().await.unwrap();

    let ct = Some("application/json");
    let raw = |b: &str| Some(Body::from(b.to_owned()));
    let mut long = tool(&"a".repeat(64));
    long["name"] = json!("a".repeat(64));
    type Case<'a> = (
        Method,
        &'a str,
        Option<Body>,
        Option<&'a str>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (Method::POST, "/api/v1/tools", raw("{\"name\":"), ct, StatusCode::BAD_REQUEST, "malformed_json"),
        (Method::POST, "/api/v1/tools", raw(""), ct, StatusCode::BAD_REQUEST, "malformed_json"),
        (Method::POST, "/api/v1/tools", raw("[]"), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        // An array fills a struct by position in serde: never accepted for an object.
        (Method::POST, "/api/v1/tools", raw(r#"["y","a","alpine","/r","/c",""]"#), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::PUT, "/api/v1/tools/keep", raw(r#"["keep","a","alpine","/r","/c",""]"#), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/tools/keep/runs", raw("[]"), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/tools", raw("\"a string\""), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/schedules", raw(&json!({"tool": "keep", "cron": format!("0 0 * * {}", "1,".repeat(5_000))}).to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw("{\"name\":\"x\"}"), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/tools", raw(&json!({"name": 5, "author": "a", "image": "i", "data_repo": "/r", "code_repo": "/c", "artefact": ""}).to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/tools", raw(&tool("a/b").to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&tool("..").to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&tool("a..b").to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&tool("Upper").to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&long.to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&json!({"name": "x", "author": "a", "image": "Not An Image", "data_repo": "/r", "code_repo": "/c", "artefact": ""}).to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&json!({"name": "x", "author": "a", "image": "alpine", "data_repo": "nope", "code_repo": "/c", "artefact": ""}).to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::POST, "/api/v1/tools", raw(&json!({"name": "x", "author": "a", "image": "alpine", "data_repo": "/r", "code_repo": "/c", "artefact": "", "extra": 1}).to_string()), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/api/v1/tools", raw(&tool("x").to_string()), Some("text/plain"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Method::POST, "/api/v1/tools", raw(&tool("x").to_string()), None, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Method::POST, "/api/v1/tools", Some(Body::from(vec![b' '; 1024 * 1024 + 1])), ct, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        (Method::GET, "/api/v1/tools/Upper", None, None, StatusCode::BAD_REQUEST, "invalid_name"),
        (Method::GET, "/api/v1/tools/a%2Fb", None, None, StatusCode::BAD_REQUEST, "invalid_name"),
        (Method::GET, "/api/v1/tools/..", None, None, StatusCode::BAD_REQUEST, "invalid_name"),
        (Method::GET, "/api/v1/tools/a/b", None, None, StatusCode::NOT_FOUND, "no_route"),
        (Method::GET, "/api/v1/tools/unknown", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::DELETE, "/api/v1/tools/unknown", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::DELETE, "/api/v1/datasets/unknown", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/v1/datasets/unknown", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::DELETE, "/registry/tools/unknown", None, None, StatusCode::NOT_FOUND, "not_found"),
        (Method::POST, "/registry/datasets", raw("{\"name\":\"d\",\"body\":{}}"), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Method::POST, "/registry/datasets", raw("{\"name\":\"D\",\"body\":{\"master\":\"/srv/x.git\"}}"), ct, StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (Method::PUT, "/api/v1/tools", raw("{}"), ct, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, uri, body, ct, expected, code) in cases {
        let (s, v, _) = api.call(method.clone(), uri, body, ct).await;
        assert_eq!(s, expected, "{method} {uri}: {v}");
        assert_eq!(v["error"]["code"], code, "{method} {uri}: {v}");
    }
    assert_eq!(
        api.store.ping().await.unwrap(),
        before,
        "no bad request wrote anything"
    );
    let (s, v) = api.get("/api/v1/tools").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["name"], "keep");
}

#[tokio::test]
async fn compatibility_routes_keep_the_original_shapes() {
    let api = api().await;
    let (s, v) = api
        .json(Method::POST, "/registry/tools", tool("legacy"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let doc: Value =
        serde_json::from_str(v.as_str().expect("a JSON string, as the original")).unwrap();
    assert_eq!(doc["author"], "Jane Doe");
    // Registering again replaces, as the original did.
    let mut again = tool("legacy");
    again["author"] = json!("John");
    let (s, _) = api.json(Method::POST, "/registry/tools", again).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.get("/registry/tools").await;
    assert_eq!(v, json!(["/tools/legacy"]));
    let (_, v) = api.get("/registry/tools/legacy").await;
    let doc: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
    assert_eq!(doc["author"], "John");
    let (_, v) = api.get("/api/v1/tools/legacy").await;
    assert_eq!(v["author"], "John", "both APIs see one registry");

    let (s, v) = api
        .json(Method::POST, "/registry/datasets", json!({"name": "legacy-data", "body": {"master": "https://github.com/mao/d.git", "nodes": []}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = api.get("/registry/datasets").await;
    assert_eq!(v, json!(["/dataset/legacy-data"]));
    let (_, v) = api.get("/registry/datasets/legacy-data").await;
    let doc: Value = serde_json::from_str(v.as_str().unwrap()).unwrap();
    assert_eq!(doc["master"], "https://github.com/mao/d.git");
    let (s, v, _) = api
        .call(Method::DELETE, "/registry/datasets/legacy-data", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!("Successfully deleted dataset/legacy-data"));
    let (s, v, _) = api
        .call(Method::DELETE, "/registry/tools/legacy", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!("Successfully deleted tools/legacy"));
    let (_, v) = api.get("/registry/tools").await;
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn documents_are_stored_one_per_key() {
    let api = api().await;
    api.json(Method::POST, "/api/v1/tools", tool("plain")).await;
    let kv = api
        .store
        .get("/mao/tools/plain")
        .await
        .unwrap()
        .expect("stored under /mao/tools/<name>");
    let doc: Value = serde_json::from_slice(&kv.value).unwrap();
    assert_eq!(doc["name"], "plain");
}

#[tokio::test]
async fn health_and_readiness() {
    let api = api().await;
    let (s, v) = api.get("/healthz").await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = api.get("/readyz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ready"], true);
    assert_eq!(v["store"], "embedded");
    // In-process there is no membership to hold: the store and the engine are checked.
    assert_eq!(
        v["checks"],
        json!([{"name": "store", "ok": true}, {"name": "runtime", "ok": true}])
    );
    let (s, v) = api.get("/nope").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "no_route");
}

#[tokio::test]
async fn concurrent_updates_are_not_lost() {
    let api = api().await;
    api.json(
        Method::POST,
        "/api/v1/datasets",
        json!({"name": "shared", "master": "https://example.org/shared.git"}),
    )
    .await;
    // Sixteen nodes add their branch at once; compare-and-swap keeps every one.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let state = api.state.clone();
            tokio::spawn(async move {
                state
                    .datasets
                    .update("shared", |d: &mut mao_api::Dataset| {
                        d.nodes.push(format!("node-{i:02}"));
                        Ok::<(), mao_node::registry::RegistryError>(())
                    })
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (_, v) = api.get("/api/v1/datasets/shared").await;
    let mut nodes: Vec<String> = serde_json::from_value(v["nodes"].clone()).unwrap();
    nodes.sort();
    let expected: Vec<String> = (0..16).map(|i| format!("node-{i:02}")).collect();
    assert_eq!(nodes, expected);
}

#[tokio::test]
async fn old_slot_claims_are_collected() {
    let api = api().await;
    api.json(Method::POST, "/api/v1/tools", tool("demo")).await;
    let (s, v) = api
        .json(
            Method::POST,
            "/api/v1/schedules",
            json!({"id": "hourly", "tool": "demo", "cron": "@hourly", "mode": "once", "starting_deadline": "2h", "suspended": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let now = chrono::Utc::now();
    let keys = Keys::new("/mao");
    let old = now - chrono::Duration::hours(4);
    let recent = now - chrono::Duration::hours(1);
    for key in [
        keys.claim("hourly", &old),
        keys.claim("hourly", &recent),
        keys.claim("removed-schedule", &recent),
    ] {
        api.store
            .put(&key, bytes::Bytes::from_static(b"{}"), None)
            .await
            .unwrap();
    }
    let deleted = collect_claims(&api.state, now).await.unwrap();
    assert_eq!(
        deleted, 2,
        "the 4 h old claim and the removed schedule's claim"
    );
    assert!(api
        .store
        .get(&keys.claim("hourly", &recent))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn schedules_are_validated_before_they_are_stored() {
    let api = api().await;
    api.json(Method::POST, "/api/v1/tools", tool("demo")).await;
    let cases = [
        (json!({"tool": "demo", "cron": "61 * * * *"}), "minute"),
        (json!({"tool": "demo", "cron": "* * * * * * * *"}), "fields"),
        (
            json!({"tool": "demo", "cron": "daily", "tz": "Nowhere/Town"}),
            "tz",
        ),
        (
            json!({"tool": "demo", "cron": "daily", "starting_deadline": "soon"}),
            "starting_deadline",
        ),
        (json!({"tool": "demo", "cron": "0 0 30 2 *"}), "never"),
        (json!({"tool": "ghost", "cron": "daily"}), "not registered"),
        (
            json!({"tool": "demo", "cron": "daily", "id": "Bad/Id"}),
            "id",
        ),
        (
            json!({"tool": "demo", "cron": "daily", "mode": "sometimes"}),
            "mode",
        ),
    ];
    for (body, needle) in cases {
        let (s, v) = api
            .json(Method::POST, "/api/v1/schedules", body.clone())
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let (_, v) = api.get("/api/v1/schedules").await;
    assert_eq!(v["items"], json!([]), "nothing was stored");
    let (s, v) = api
        .json(
            Method::POST,
            "/api/v1/schedules",
            json!({"tool": "demo", "cron": "weekly", "id": "w", "tz": "Europe/Zurich"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        v["next_fire_local"].as_str().unwrap().ends_with("+01:00"),
        "{v}"
    );
    let (s, _) = api
        .json(
            Method::POST,
            "/api/v1/schedules",
            json!({"tool": "demo", "cron": "weekly", "id": "w"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = api
        .json(Method::POST, "/api/v1/schedules/w/pause", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["suspended"], true);
    assert!(v.get("next_fire").is_none());
    let (_, v) = api.get("/jobs").await;
    assert_eq!(v["w"], "paused");
    let (s, v, _) = api.call(Method::DELETE, "/jobs/w", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = api.get("/api/v1/schedules/w").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A `Write` into a shared buffer, so a test can read what was logged.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_server_error_answers_a_generic_body_and_is_logged_once_with_its_detail() {
    let api = api().await;
    api.json(Method::POST, "/api/v1/tools", tool("demo")).await;
    let (s, v) = api
        .json(
            Method::POST,
            "/api/v1/schedules",
            json!({"id": "broken", "tool": "demo", "cron": "@daily", "suspended": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The document edited by hand (etcdctl, say) into one that can no longer be planned.
    let key = Keys::new("/mao").collection("schedules") + "broken";
    let stored = api.store.get(&key).await.unwrap().unwrap();
    let mut doc: Value = serde_json::from_slice(&stored.value).unwrap();
    doc["cron"] = json!("every full moon");
    api.store
        .put(&key, bytes::Bytes::from(doc.to_string()), None)
        .await
        .unwrap();
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (s, v) = loop {
        let (s, v) = api.get("/api/v1/schedules/broken").await;
        if s != StatusCode::OK || tokio::time::Instant::now() > deadline {
            break (s, v);
        }
        // The registry copy has not seen the edit yet.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_eq!(v["error"]["code"], "internal", "{v}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(lines.len(), 1, "one log line per failed request: {logged}");
    assert!(
        lines[0].contains("/api/v1/schedules/broken")
            && lines[0].contains("status=500")
            && lines[0].contains("stored schedule is unusable"),
        "{}",
        lines[0]
    );
    // A client mistake is not logged as a server error.
    logs.0.lock().unwrap().clear();
    let (s, _) = api.get("/api/v1/schedules/missing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!logged.contains("request failed"), "{logged}");
}

#[tokio::test]
async fn insights_are_read_per_tool_and_node_and_bad_names_are_400() {
    let api = api().await;
    let (s, v) = api.get("/api/v1/insights").await;
    assert_eq!((s, v), (StatusCode::OK, json!({"items": []})));
    let (s, v) = api.get("/api/v1/insights/weather/zurich").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found");

    let published: mao_api::Insight = serde_json::from_value(json!({
        "tool": "weather", "node": "zurich", "run_id": "01RUN",
        "published_at": "2026-12-04T06:00:05Z", "insights": {"rain_mm": 3.5}
    }))
    .unwrap();
    api.state.insights.publish(&published).await.unwrap();
    assert!(api
        .store
        .get("/mao/insights/weather/zurich")
        .await
        .unwrap()
        .is_some());
    let (s, v) = api.get("/api/v1/insights/weather/zurich").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["insights"]["rain_mm"], 3.5);
    for uri in ["/api/v1/insights?tool=weather", "/api/v1/insights/weather"] {
        let (s, v) = api.get(uri).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["items"][0]["node"], "zurich", "{uri}: {v}");
    }
    let (_, v) = api.get("/api/v1/insights?tool=rain").await;
    assert_eq!(v, json!({"items": []}), "another tool's are not listed");

    let (s, v) = api.get("/api/v1/insights?tool=Bad%20Name").await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_query");
    let (s, v) = api.get("/api/v1/insights/weather/Bad%20Node").await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_name");
    let (s, v) = api.get("/api/v1/insights?node=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}
