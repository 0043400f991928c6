//! A Docker Engine that stops answering: a unix-socket proxy in front of the real engine's
//! socket that forwards every byte until it is frozen, then accepts connections and reads
//! requests but answers nothing (as a wedged engine does), until it is thawed.
//!
//! Point a daemon at it with `DOCKER_HOST=unix://<EngineProxy::path>`. The engine behind
//! it is the real one: containers are really created and started; only the answers stop.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

/// The engine's socket, as the tests of this workspace find it.
pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

#[derive(Default)]
struct State {
    frozen: bool,
    /// Freeze once a request whose bytes contain this passes (it is still forwarded).
    freeze_after: Option<Vec<u8>>,
    /// How many times `freeze_after` fired.
    tripped: usize,
    closed: bool,
    /// Both sides of every connection, shut down on drop so no thread stays blocked.
    streams: Vec<UnixStream>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    /// Blocks while frozen; false once the proxy is closed.
    fn wait_thawed(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        while state.frozen && !state.closed {
            state = self.changed.wait(state).unwrap();
        }
        !state.closed
    }
}

/// A proxy of the engine's socket that can be made to hang; removed and stopped on drop.
pub struct EngineProxy {
    path: PathBuf,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl EngineProxy {
    /// A proxy of the engine at [`ENGINE_SOCKET`] on a socket of its own.
    pub fn start() -> EngineProxy {
        EngineProxy::start_in_front_of(Path::new(ENGINE_SOCKET))
    }

    /// A proxy of the engine listening at `engine`.
    pub fn start_in_front_of(engine: &Path) -> EngineProxy {
        assert!(
            engine.exists(),
            "the Docker Engine's socket {} is missing: these tests need a real engine",
            engine.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("mao-engine-proxy-")
            .tempdir()
            .expect("a temp dir for the proxy's socket");
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", path.display()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let accepting = shared.clone();
        let engine = engine.to_owned();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.state.lock().unwrap().closed {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = UnixStream::connect(&engine) else {
                    continue;
                };
                connect(&accepting, client, upstream);
            }
        });
        EngineProxy {
            path,
            shared,
            _dir: dir,
        }
    }

    /// The proxy's socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `unix://<path>`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// From now on nothing is forwarded either way: requests are read, never answered.
    pub fn freeze(&self) {
        self.set(|state| state.frozen = true);
    }

    /// Forwards again, the bytes held meanwhile first.
    pub fn thaw(&self) {
        self.set(|state| {
            state.frozen = false;
            state.freeze_after = None;
        });
    }

    /// Freezes as soon as a request containing `needle` (e.g. `/start`) has been forwarded:
    /// the engine does what it was asked, and its answer never comes.
    pub fn freeze_after(&self, needle: &str) {
        self.set(|state| state.freeze_after = Some(needle.as_bytes().to_vec()));
    }

    /// How many times a [`EngineProxy::freeze_after`] fired.
    pub fn tripped(&self) -> usize {
        self.shared.state.lock().unwrap().tripped
    }

    /// Whether it answers nothing now.
    pub fn is_frozen(&self) -> bool {
        self.shared.state.lock().unwrap().frozen
    }

    fn set(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.shared.state.lock().unwrap());
        self.shared.changed.notify_all();
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        let streams = {
            let mut state = self.shared.state.lock().unwrap();
            state.closed = true;
            std::mem::take(&mut state.streams)
        };
        self.shared.changed.notify_all();
        for stream in streams {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // Wakes the accepting thread, which sees `closed` and ends.
        let _ = UnixStream::connect(&self.path);
    }
}

/// Copies both ways between a client and the engine, each chunk only while thawed.
fn connect(shared: &Arc<Shared>, client: UnixStream, upstream: UnixStream) {
    let (Ok(client_read), Ok(upstream_read)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    {
        let mut state = shared.state.lock().unwrap();
        for stream in [&client, &upstream] {
            if let Ok(clone) = stream.try_clone() {
                state.streams.push(clone);
            }
        }
    }
    let requests = shared.clone();
    thread::spawn(move || pipe(&requests, client_read, upstream, true));
    let answers = shared.clone();
    thread::spawn(move || pipe(&answers, upstream_read, client, false));
}

fn pipe(shared: &Shared, mut from: UnixStream, mut to: UnixStream, requests: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    // The end of the previous chunk, so a needle split across two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let mut trips = false;
        if requests {
            let mut state = shared.state.lock().unwrap();
            if let Some(needle) = state.freeze_after.clone() {
                let mut seen = std::mem::take(&mut tail);
                seen.extend_from_slice(chunk);
                if !state.frozen && contains(&seen, &needle) {
                    // Frozen before the request reaches the engine, so its answer is held.
                    state.frozen = true;
                    state.freeze_after = None;
                    state.tripped += 1;
                    trips = true;
                }
                let keep = needle.len().min(seen.len());
                tail = seen[seen.len() - keep..].to_vec();
            }
        }
        if !trips && !shared.wait_thawed() {
            break;
        }
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
