//! What the integration tests of the workspace share: real servers on free loopback ports
//! (etcd, sshd, SMTP), the daemon and `maoctl` as processes, Docker clean-up, and
//! waiting on a condition instead of sleeping.
//!
//! Dev-only, and free of domain crates: helpers that build domain values live in the
//! tests of the crate that owns the domain.

pub mod daemon;
pub mod docker;
pub mod engine_proxy;
pub mod etcd;
pub mod etcd_cluster;
pub mod netns;
pub mod ports;
pub mod smtp;
pub mod sshd;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `condition` until it holds or `deadline` has passed; returns whether it held.
///
/// The synchronisation of the tests: a deadline generous enough for a loaded machine, and
/// no fixed sleep that a slow build next door makes too short.
pub fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// A name no other test of any running test process uses: `<prefix>-<pid>-<n>-<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// A binary of the workspace built into the same target dir as the running test
/// (`target/<profile>/<name>`); panics with the command that builds it when it is missing.
///
/// `CARGO_BIN_EXE_<name>` exists only in the tests of the crate that owns the binary.
pub fn workspace_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in a cargo target dir", exe.display()));
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p {package}, or cargo test --workspace)",
        path.display()
    );
    path
}

/// The last `lines` lines of a log file, for panic messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// How many times a server whose free port was taken before it bound it is started again
/// on other ports.
const PORT_ATTEMPTS: usize = 5;
