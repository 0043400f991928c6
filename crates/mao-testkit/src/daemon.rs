//! The real `mao-orchestrator` and `maoctl` as processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The line a daemon prints on stdout once it listens, followed by its URL.
const LISTENING: &str = "mao-orchestrator listening on ";

/// How long a daemon may take to say where it listens, on a loaded machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A running `mao-orchestrator`, killed (SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    /// Where it listens, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The file its stderr (the log) goes to.
    pub log: PathBuf,
    /// What it printed on stdout before saying where it listens (e.g. the join token of
    /// `federation init`).
    pub preamble: Vec<String>,
}

impl Daemon {
    /// Starts the daemon binary `bin` with `args` (plus `--listen 127.0.0.1:0` unless
    /// given) and waits for the line that says where it listens; panics with its log if it
    /// does not start.
    pub fn start(bin: &Path, args: &[&str], log: &Path) -> Daemon {
        Self::start_with_env(bin, args, log, &[])
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(bin: &Path, args: &[&str], log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(bin);
        cmd.envs(env.iter().copied());
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        Self::spawn(cmd, log)
    }

    /// Starts `command`, a daemon command line made by the caller (e.g. wrapped in
    /// `ip netns exec`, which execs the daemon, so the child's pid is the daemon's), and
    /// waits for the line that says where it listens; panics with its log if it does not
    /// start. Its stderr goes to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> Daemon {
        let what = format!("{:?}", command.get_program());
        let stderr = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut child = command
            .env("MAO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("a piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut preamble = Vec::new();
            let found = loop {
                match lines.next() {
                    Some(Ok(line)) if line.starts_with(LISTENING) => break Some(Ok(line)),
                    Some(Ok(line)) => preamble.push(line),
                    other => break other,
                }
            };
            let _ = tx.send((found, preamble));
            // Keep reading, so the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        // A command that sets a site up first (federation join) may take a while before it
        // runs the daemon.
        let (line, preamble) = match rx.recv_timeout(STARTUP_LIMIT * 2) {
            Ok((Some(Ok(line)), preamble)) => (line, preamble),
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                let why = match outcome {
                    Err(_) => format!("no line within {}s", 2 * STARTUP_LIMIT.as_secs()),
                    Ok((_, preamble)) => format!("its stdout closed after {preamble:?}"),
                };
                panic!(
                    "the daemon did not start ({why}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        };
        let url = line
            .strip_prefix(LISTENING)
            .unwrap_or_else(|| panic!("unexpected line: {line}"))
            .to_owned();
        Daemon {
            child,
            url,
            log: log.to_owned(),
            preamble,
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited, and how (reaps it): `None` while it runs.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`) to the daemon.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// The daemon's exit status once it has exited by itself within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("the daemon's exit status")
    }

    /// Runs maoctl against this daemon.
    pub fn maoctl(&self, args: &[&str]) -> Output {
        maoctl(&self.url, args)
    }

    /// Runs maoctl against this daemon with a token and/or a CA certificate.
    pub fn maoctl_with(&self, credentials: &Credentials, args: &[&str]) -> Output {
        maoctl_with(&self.url, credentials, args)
    }

    /// [`Daemon::maoctl_with`] that must succeed; returns its stdout.
    pub fn maoctl_with_ok(&self, credentials: &Credentials, args: &[&str]) -> String {
        let out = self.maoctl_with(credentials, args);
        assert!(
            out.status.success(),
            "maoctl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8(out.stdout).expect("maoctl prints UTF-8")
    }

    /// Runs maoctl and returns its stdout, panicking with its stderr and the daemon's log
    /// if it fails.
    pub fn maoctl_ok(&self, args: &[&str]) -> String {
        self.maoctl_with_ok(&Credentials::default(), args)
    }

    /// maoctl `-o json` output, parsed into `T` (a `mao_api` type, or `serde_json::Value`).
    pub fn maoctl_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        let out = self.maoctl_ok(&full);
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!(
                "maoctl {args:?}: not a {}: {e}: {out}",
                std::any::type_name::<T>()
            )
        })
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

/// The `maoctl` binary of the target dir the running test was built into.
pub fn maoctl_bin() -> PathBuf {
    crate::workspace_bin("maoctl", "maoctl")
}

/// What maoctl authenticates with and whom it trusts.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Sent as `Authorization: Bearer`; handed over in `MAO_TOKEN`, never on the command
    /// line (where `ps` shows it).
    pub token: Option<String>,
    /// `--ca-cert`: the CA an https:// daemon's certificate is checked against.
    pub ca_cert: Option<PathBuf>,
}

impl Credentials {
    /// A token and no CA.
    pub fn token(token: &str) -> Credentials {
        Credentials {
            token: Some(token.to_owned()),
            ca_cert: None,
        }
    }
}

/// Runs maoctl against `endpoint` without credentials; nothing of the environment
/// (`MAO_ENDPOINT`, `MAO_TOKEN`, contexts of the user's config file) applies.
pub fn maoctl(endpoint: &str, args: &[&str]) -> Output {
    maoctl_with(endpoint, &Credentials::default(), args)
}

/// [`maoctl`] with a token and/or a CA certificate.
pub fn maoctl_with(endpoint: &str, credentials: &Credentials, args: &[&str]) -> Output {
    let mut command = Command::new(maoctl_bin());
    for var in [
        "MAO_ENDPOINT",
        "MAO_TOKEN",
        "MAO_CA_CERT",
        "MAO_CONTEXT",
        "XDG_CONFIG_HOME",
    ] {
        command.env_remove(var);
    }
    command.env("MAO_CONFIG", "/nonexistent/mao-testkit/config.toml");
    if let Some(token) = &credentials.token {
        command.env("MAO_TOKEN", token);
    }
    if let Some(ca) = &credentials.ca_cert {
        command.arg("--ca-cert").arg(ca);
    }
    command
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("maoctl runs")
}

/// GET `url` without following anything; any status is returned, not an error.
pub fn http_get(url: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .redirects(0)
        .build();
    match agent.get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}
