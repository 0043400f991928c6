//! Helpers of the end-to-end tests: the real daemon binary (through mao-testkit), the
//! demo tool registered on it, and its containers swept.

use std::path::{Path, PathBuf};

pub use mao_testkit::daemon::{maoctl, maoctl_bin, maoctl_with, Credentials, Daemon};
pub use mao_testkit::docker::ensure_demo_image;
pub use mao_testkit::wait_until as eventually;

/// The `mao-orchestrator` binary under test.
pub fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mao-orchestrator"))
}

/// Starts the daemon under test with `args`; see [`Daemon::start`].
pub fn start_daemon(args: &[&str], log: &Path) -> Daemon {
    Daemon::start(&daemon_bin(), args, log)
}

/// [`start_daemon`] with extra environment variables.
pub fn start_daemon_with_env(args: &[&str], log: &Path, env: &[(&str, &str)]) -> Daemon {
    Daemon::start_with_env(&daemon_bin(), args, log, env)
}

/// Removes every container labelled with node `node` when dropped, even if a test fails.
pub fn container_sweep(node: &str) -> mao_testkit::docker::ContainerSweep {
    mao_testkit::docker::ContainerSweep::new("mao.node", node)
}

/// A unique node name for a test, so its containers are its own.
pub fn unique_node(prefix: &str) -> String {
    mao_testkit::unique_name(prefix)
}

/// A typed client of a daemon.
pub fn client(d: &Daemon) -> mao_client::Client {
    mao_client::Client::new(&d.url).expect("a valid endpoint")
}

/// A typed client of a daemon with a token and/or the CA of its https:// certificate
/// (`maoctl` with the same: `d.maoctl_with(&credentials, args)`).
pub fn client_with(d: &Daemon, credentials: &Credentials) -> mao_client::Client {
    let ca_cert_pem = credentials
        .ca_cert
        .as_ref()
        .map(|path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let options = mao_client::ClientOptions {
        token: credentials
            .token
            .as_deref()
            .map(|t| mao_client::Token::new(t).expect("a valid token")),
        ca_cert_pem,
        pinned_ca_sha256: None,
    };
    mao_client::Client::with_options(&d.url, options).expect("a valid endpoint")
}

/// Registers the demo tool (`mao/demo-tool:latest`) as `demo` on a daemon.
pub fn add_demo_tool(d: &Daemon) {
    d.maoctl_ok(&DEMO_TOOL_ADD);
}

/// The maoctl command line that registers the demo tool as `demo`.
pub const DEMO_TOOL_ADD: [&str; 8] = [
    "tool",
    "add",
    "demo",
    "MAO",
    "mao/demo-tool:latest",
    "https://github.com/mao/data.git",
    "https://github.com/mao/code.git",
    "demo",
];

/// maoctl `-o json` output, parsed into a `mao_api` type; panics with the text if it does
/// not parse.
pub fn maoctl_as<T: serde::de::DeserializeOwned>(d: &Daemon, args: &[&str]) -> T {
    d.maoctl_json(args)
}

/// The items of a maoctl `-o json` listing (`{"items": [...]}`), typed.
pub fn maoctl_items<T: serde::de::DeserializeOwned>(d: &Daemon, args: &[&str]) -> Vec<T> {
    maoctl_as::<mao_api::List<T>>(d, args).items
}
