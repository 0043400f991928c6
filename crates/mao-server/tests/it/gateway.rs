//! The original's gateway routes (`POST /write`, `/read`, `/inspect`) on the real daemon
//! over a real etcd: confined to `raw/` and `insights/`, raw entries bound to a 60 s lease,
//! roles as documented, and bad input a 4xx.

use std::time::Duration;

use mao_api::auth::Role;
use mao_testkit::etcd::EtcdServer;
use serde_json::{json, Value};

use crate::security::create_token;
use crate::support::{start_daemon, unique_node, Daemon};

/// A POST with a JSON body (raw text, so that malformed JSON can be sent) and a token.
fn post(d: &Daemon, token: &str, path: &str, body: &str) -> (u16, Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let result = agent
        .post(&format!("{}{path}", d.url))
        .set("Content-Type", "application/json")
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(body);
    let (status, text) = match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    };
    assert!(status < 500, "POST {path} {body} -> {status} {text}");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn the_gateway_writes_raw_entries_for_60_s_and_reads_only_raw_and_insights() {
    let etcd = EtcdServer::start_new();
    let endpoint = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let reader = create_token(&data, "reader", Role::Read);
    let operator = create_token(&data, "operator", Role::Operate);
    let node = unique_node("gw");
    let d = start_daemon(
        &[
            "--node",
            &node,
            "--auth",
            "required",
            "--data-dir",
            data.to_str().unwrap(),
            "--store",
            "etcd",
            "--etcd-endpoints",
            &endpoint,
            "--etcd-prefix",
            "/gw",
        ],
        &dir.path().join("daemon.log"),
    );

    // Write, then read the value back (its JSON), and inspect the directory.
    let reading = r#"{"celsius": 21.5}"#;
    let body = json!({"key": "temp/site_a", "value": reading}).to_string();
    let (s, v) = post(&d, &operator, "/write", &body);
    assert_eq!((s, v), (200, json!(reading)), "answers the stored value");
    let (s, v) = post(
        &d,
        &operator,
        "/write",
        r#"{"key":"temp/site_b","value":{"celsius":19}}"#,
    );
    assert_eq!((s, v), (200, json!(r#"{"celsius":19}"#)));
    let (s, v) = post(&d, &reader, "/read", r#"{"key":"raw/temp/site_a"}"#);
    assert_eq!((s, v), (200, json!({"celsius": 21.5})));
    let (s, v) = post(&d, &reader, "/read", r#"{"key":"/raw/temp/site_b"}"#);
    assert_eq!((s, v), (200, json!({"celsius": 19})));
    let (s, v) = post(&d, &reader, "/inspect", r#"{"key":"raw"}"#);
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"/raw/temp/site_a": reading, "/raw/temp/site_b": r#"{"celsius":19}"#})
    );
    let (s, v) = post(&d, &reader, "/inspect", r#"{"key":"raw/temp/site_a"}"#);
    assert_eq!((s, v), (200, json!({"/raw/temp/site_a": reading})));
    let (s, v) = post(&d, &reader, "/inspect", r#"{"key":"insights"}"#);
    assert_eq!((s, v), (200, json!({})));

    // The entry is in etcd under the federation's raw/, bound to a lease granted for 60 s.
    let got: Value =
        serde_json::from_str(&etcd.etcdctl_ok(&["get", "/gw/raw/temp/site_a", "-w", "json"]))
            .unwrap();
    let lease = got["kvs"][0]["lease"].as_i64().expect("a lease on the key");
    let ttl = etcd.etcdctl_ok(&["lease", "timetolive", &format!("{lease:x}")]);
    assert!(ttl.contains("granted with TTL(60s)"), "{ttl}");

    // Roles: a reader reads and inspects but does not write.
    let (s, v) = post(&d, &reader, "/write", r#"{"key":"x","value":"1"}"#);
    assert_eq!(s, 403, "{v}");

    // Nothing outside raw/ and insights/: 403 saying so, and nothing written.
    for (path, body) in [
        ("/read", r#"{"key":"tools/demo"}"#),
        ("/read", r#"{"key":"/nodes"}"#),
        ("/inspect", r#"{"key":"tools"}"#),
        ("/read", r#"{"key":"raw/../tools/demo"}"#),
        ("/write", r#"{"key":"../tools/demo","value":"x"}"#),
    ] {
        let (s, v) = post(&d, &operator, path, body);
        assert_eq!(s, 403, "{path} {body} -> {v}");
        assert_eq!(v["error"]["code"], "outside_gateway", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("raw/"),
            "{v}"
        );
    }
    assert_eq!(etcd.etcdctl_ok(&["get", "--prefix", "/gw/tools"]), "");

    // Bad input: 4xx with the error shape, never a 5xx.
    for (path, body, want) in [
        ("/write", "{not json", 400),
        ("/write", r#"{"key":"x"}"#, 422),
        ("/write", r#"{"key":"Bad Key","value":"x"}"#, 422),
        ("/write", r#"{"key":"a//b","value":"x"}"#, 422),
        ("/read", r#"{"key":""}"#, 422),
        ("/read", r#"{"key":"raw/nope"}"#, 404),
        ("/inspect", "[]", 422),
    ] {
        let (s, v) = post(&d, &operator, path, body);
        assert_eq!(s, want, "{path} {body} -> {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let big = json!({"key": "big", "value": "x".repeat(64 * 1024 + 1)}).to_string();
    let (s, _) = post(&d, &operator, "/write", &big);
    assert_eq!(s, 422);
    drop(d);
    drop(etcd);
}
