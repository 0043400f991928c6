//! The integration tests of maoctl, one test binary for the crate: the real binary in
//! the cases that need no daemon (`cli_offline`, `spike`, `contexts`: the client config
//! file and https:// endpoints against a small TLS server) and checks of the source's
//! layering (`layers`).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};

mod cli_offline;
mod contexts;
mod layers;
mod spike;

/// The maoctl binary, with the caller's environment kept from picking the endpoint, the
/// credentials, the contexts or the format.
pub fn maoctl_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maoctl"));
    for var in [
        "MAO_ENDPOINT",
        "MAO_OUTPUT",
        "MAO_TOKEN",
        "MAO_CA_CERT",
        "MAO_CONTEXT",
        "XDG_CONFIG_HOME",
    ] {
        command.env_remove(var);
    }
    // No context of the person running the tests applies.
    command.env("MAO_CONFIG", "/nonexistent/maoctl-tests/config.toml");
    command
}

/// Runs `command` to its end with `stdin` (if any) as its standard input, else none.
///
/// The input is written from a thread and a closed pipe is ignored: maoctl may exit (a
/// usage error) before it reads a byte, and that must not fail the test on a busy machine.
pub fn run(command: &mut Command, stdin: Option<&str>) -> Output {
    let stdin_mode = if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin_mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maoctl runs");
    let writer = child.stdin.take().map(|mut pipe| {
        let input = stdin.unwrap_or_default().to_owned();
        std::thread::spawn(move || match pipe.write_all(input.as_bytes()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
            _ => Ok(()),
        })
    });
    let out = child.wait_with_output().expect("maoctl ends");
    if let Some(writer) = writer {
        writer
            .join()
            .expect("the stdin writer does not panic")
            .expect("stdin is written or refused by a closed pipe");
    }
    out
}

/// Standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback endpoint where nothing listens, for as long as this value lives.
///
/// A port bound and closed again could be handed to another test's server in between;
/// this one is the local end of a connection held open, so no listener can take it and
/// a connection to it is refused.
pub struct ClosedEndpoint {
    pub url: String,
    _held: (TcpListener, TcpStream, TcpStream),
}

impl ClosedEndpoint {
    /// A new endpoint where nothing listens.
    pub fn open() -> ClosedEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let port: SocketAddr = client.local_addr().unwrap();
        ClosedEndpoint {
            url: format!("http://{port}"),
            _held: (listener, client, server),
        }
    }
}
