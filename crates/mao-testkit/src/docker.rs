//! The Docker Engine side of the tests: the demo image, and containers a test leaves.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The image of `crates/demo-tool`.
pub const DEMO_IMAGE: &str = "mao/demo-tool:latest";

/// Builds [`DEMO_IMAGE`] once per test process (`scripts/build-demo-image.sh`, which
/// locks against other processes and rebuilds only what changed); panics with the
/// script's output when it fails.
pub fn ensure_demo_image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-demo-image.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(DEMO_IMAGE)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(message) = built {
        panic!("the demo image could not be built (is the Docker Engine running?): {message}");
    }
    DEMO_IMAGE
}

/// Removes every container carrying `label=value` when dropped, even if a test fails.
pub struct ContainerSweep {
    filter: String,
}

impl ContainerSweep {
    /// A sweep of the containers labelled `label=value`.
    pub fn new(label: &str, value: &str) -> ContainerSweep {
        ContainerSweep {
            filter: format!("label={label}={value}"),
        }
    }

    /// Ids of the containers (running or not) this sweep removes.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &self.filter])
            .output()
            .expect("the docker command line runs");
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
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
    }
}
