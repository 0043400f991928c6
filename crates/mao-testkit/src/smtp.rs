//! A real SMTP server for tests: Debian's aiosmtpd (`smtp_server.py` of this crate) on a
//! port the kernel chose, plain, STARTTLS or implicit TLS with a self-signed certificate
//! made at test time, login optional.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// The system Python, which has Debian's aiosmtpd.
pub const PYTHON: &str = "/usr/bin/python3";
/// What makes the self-signed certificates.
pub const OPENSSL: &str = "/usr/bin/openssl";
/// The login the server accepts when started with `auth`.
pub const USER: &str = "mao";
/// The password of [`USER`].
pub const PASSWORD: &str = "corr3ct-h0rse";

/// A private SMTP server; killed when dropped.
pub struct SmtpServer {
    /// Where the messages, the log and the certificate are.
    pub dir: TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    child: Child,
}

impl SmtpServer {
    /// `security`: none, starttls or tls; `auth`: require a login as USER/PASSWORD.
    pub fn start(security: &str, auth: bool) -> SmtpServer {
        // Debian's aiosmtpd lives in the system Python, which a pyenv `python3` on PATH
        // does not see.
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: install the python3 and python3-aiosmtpd packages \
             (scripts/test.sh does) to run the SMTP tests"
        );
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp_server.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg("--record")
            .arg(dir.path().join("messages.jsonl"))
            .args(["--security", security]);
        if security != "none" {
            let (cert, key) = self_signed_cert(dir.path());
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if auth {
            cmd.args(["--auth", &format!("{USER}:{PASSWORD}")]);
        }
        let log = dir.path().join("smtp.log");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON} {script}: {e}"));
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SMTP test server did not start (is python3-aiosmtpd installed?): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        SmtpServer { dir, port, child }
    }

    /// Every message the server accepted, in order.
    pub fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("messages.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key and a self-signed certificate for 127.0.0.1 and localhost.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    assert!(
        Path::new(OPENSSL).exists(),
        "{OPENSSL} is missing: install the openssl package to run the SMTP TLS tests"
    );
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new(OPENSSL)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
