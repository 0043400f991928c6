//! The Python original's newest client (`maoctl.py`) against the real daemon on loopback:
//! a Python program sends exactly its requests (urllib only, as `requests` would send
//! them) and reads the response fields it reads.

use std::process::Command;

use crate::pipelines::{git, start_node};
use crate::support::{ensure_demo_image, unique_node};

/// The original client's requests, in the order a user types its commands; each `check`
/// is what `maoctl.py` reads from the answer (or what its user sees printed).
const ORIGINAL_CLIENT: &str = r#"
import json, sys, urllib.error, urllib.request

_URL, empty_remote = sys.argv[1], sys.argv[2]

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{_URL}/{path}", data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def check(cond, what, answer):
    if not cond:
        sys.exit(f"{what}: {answer!r}")
    print("ok", what)

# maoctl.py tool add weather_tool ...
s, r = call("POST", "registry/tools", {"name": "weather_tool", "author": "MAO",
    "image": "mao/demo-tool:latest", "data_repo": "https://github.com/mao/data.git",
    "code_repo": "https://github.com/mao/code.git", "artefact": "demo"})
check(s < 300, "tool add", (s, r))
# maoctl.py tool get / tool get --name weather_tool
s, r = call("GET", "registry/tools")
check(s == 200 and "/tools/weather_tool" in r, "tool get", (s, r))
s, r = call("GET", "registry/tools/weather_tool")
check(s == 200 and json.loads(r)["image"] == "mao/demo-tool:latest", "tool get --name", (s, r))
# maoctl.py dataset add --name weather_data --git_url <a freshly created, empty repository>
s, r = call("POST", "registry/datasets", {"name": "weather_data",
    "body": {"master": empty_remote, "nodes": []}})
check(s < 300, "dataset add", (s, r))
s, r = call("GET", "registry/datasets/weather_data")
check(s == 200 and json.loads(r)["master"] == empty_remote, "dataset get --name", (s, r))
# maoctl.py repo add --name local_data
s, r = call("POST", "bare-repo/init", {"name": "local_data"})
check(200 <= s < 300, "repo add", (s, r))
# maoctl.py pipeline add (interactive): names are Python identifiers; cmd [] and env {}
# as its step builder sets them (input_dataset None when left empty: the second step).
step = {"name": "step_1", "tool": "weather_tool", "input_dataset": "local_data",
    "output_dataset": "weather_data", "docker_socket": False, "cmd": [], "env": {}}
s, r = call("POST", "pipeline/init", {"name": "weather_daily",
    "description": "Pipeline to collect the weather", "steps": [step]})
check(200 <= s < 300, "pipeline add", (s, r))
check(r["ok"] is True and r["name"] == "weather_daily", "pipeline add answer", r)
# A failed init: the client prints resp["errors"].
bad = dict(step, name="step_2", tool="no_such_tool", input_dataset=None)
s, r = call("POST", "pipeline/init", {"name": "broken_pipeline", "description": "",
    "steps": [bad]})
check(400 <= s < 500, "pipeline add failing", (s, r))
check(r["ok"] is False and r["errors"] and "no_such_tool" in r["errors"][0]
    and r["error"]["code"], "pipeline add failing answer", r)
# maoctl.py pipeline get: [p["name"] for p in r.json()]
s, r = call("GET", "pipeline")
check(s == 200 and [p["name"] for p in r] == ["weather_daily"], "pipeline get", (s, r))
check(r[0]["steps"][0]["name"] == "step_1", "pipeline get steps", r)
# maoctl.py pipeline get --name weather_daily
s, r = call("GET", "registry/pipelines/weather_daily")
check(s == 200 and r["name"] == "weather_daily"
    and r["steps"][0]["output_dataset"] == "weather_data", "pipeline get --name", (s, r))
s, r = call("GET", "registry/pipelines/no_such_pipeline")
check(s == 404 and "error" in r, "pipeline get --name unknown", (s, r))
print("all done")
"#;

#[test]
fn the_original_client_registers_and_reads_pipelines_with_python_names() {
    ensure_demo_image();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_node("orig");
    let empty = dir.path().join("weather.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", empty.to_str().unwrap()],
    );
    let d = start_node(dir.path(), &node, &[]);
    let empty_url = format!("file://{}", empty.display());

    let out = Command::new("python3")
        .args(["-c", ORIGINAL_CLIENT, &d.url, &empty_url])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the original client failed\nstdout:\n{}\nstderr:\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&d.log).unwrap_or_default()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all done"));

    // The empty remote got this node's branch as its first commit.
    let log = git(&empty, &["log", "--format=%s", &node]);
    assert_eq!(log.trim(), "initial commit");
    let readme = git(&empty, &["show", &format!("{node}:README.md")]);
    assert!(readme.starts_with("# weather\n"), "{readme}");
    // The failed init left nothing registered.
    let (status, _) =
        crate::pipelines::request(&d, "GET", "/api/v1/pipelines/broken_pipeline", None);
    assert_eq!(status, 404);
}
