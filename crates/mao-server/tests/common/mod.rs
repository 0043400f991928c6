//! Helpers of the end-to-end tests: the real daemon binary, the real maoctl, a real etcd.
#![allow(dead_code)]

#[path = "../../../mao-store/tests/common/etcd_server.rs"]
pub mod etcd_server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `mao-orchestrator` binary under test.
pub fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mao-orchestrator"))
}

/// The `maoctl` binary, built next to the daemon by `cargo test --workspace`.
pub fn maoctl_bin() -> PathBuf {
    let path = daemon_bin().with_file_name("maoctl");
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p maoctl, or cargo test --workspace)",
        path.display()
    );
    path
}

/// A running `mao-orchestrator`, killed (SIGKILL) on drop.
pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the daemon with `args` (plus `--listen 127.0.0.1:0` unless given) and waits
    /// for the line that says where it listens; panics with its log if it does not start.
    pub fn start(args: &[&str], log: &Path) -> Daemon {
        Self::start_with_env(args, log, &[])
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(daemon_bin());
        cmd.envs(env.iter().copied());
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let stderr = std::fs::File::create(log).unwrap();
        let mut child = cmd
            .args(args)
            .env("MAO_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the daemon binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        };
        let url = line
            .strip_prefix("mao-orchestrator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Daemon {
            child,
            url,
            log: log.to_owned(),
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }

    /// Runs maoctl against this daemon.
    pub fn maoctl(&self, args: &[&str]) -> Output {
        maoctl(&self.url, args)
    }

    /// Runs maoctl and returns its stdout, panicking if it fails.
    pub fn maoctl_ok(&self, args: &[&str]) -> String {
        let out = self.maoctl(args);
        assert!(
            out.status.success(),
            "maoctl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// maoctl `-o json` output, parsed.
    pub fn maoctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.maoctl_ok(&full)).unwrap()
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET a path; returns the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{}", self.url, path))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs maoctl against `endpoint`.
pub fn maoctl(endpoint: &str, args: &[&str]) -> Output {
    Command::new(maoctl_bin())
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env_remove("MAO_ENDPOINT")
        .output()
        .expect("maoctl runs")
}

/// GET `url` without following anything; any status is returned, not an error.
pub fn http_get(url: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    match agent.get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Waits up to `limit` for `check`; returns whether it became true.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Builds `mao/demo-tool:latest` once per test binary (scripts/build-demo-image.sh).
pub fn ensure_demo_image() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-demo-image.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("the demo image build script runs");
        assert!(
            out.status.success(),
            "building the demo image failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Removes every container labelled with `node` when dropped, even if a test fails.
pub struct ContainerSweep(pub String);

impl ContainerSweep {
    /// Ids of the containers (running or not) labelled with this node.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=mao.node={}", self.0),
            ])
            .output()
            .expect("docker runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for ContainerSweep {
    fn drop(&mut self) {
        let ids = self.containers();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .arg("rm")
                .arg("-f")
                .args(&ids)
                .output();
        }
    }
}

/// A unique node name for a test, so its containers are its own.
pub fn unique_node(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Registers the demo tool (`mao/demo-tool:latest`) as `demo` on a daemon.
pub fn add_demo_tool(d: &Daemon) {
    d.maoctl_ok(&[
        "tool",
        "add",
        "demo",
        "MAO",
        "mao/demo-tool:latest",
        "https://github.com/mao/data.git",
        "https://github.com/mao/code.git",
        "demo",
    ]);
}
