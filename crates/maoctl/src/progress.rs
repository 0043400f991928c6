//! A one-line progress indicator on stderr, for people watching a terminal.
//!
//! Hand-made rather than indicatif: one spinner line is all maoctl needs, and it keeps
//! the binary's start-up and dependency tree small.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::render::table::clock;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

/// Moves to the start of the line and erases it (no colour, so `NO_COLOR` has nothing to turn off).
const CLEAR_LINE: &str = "\r\x1b[2K";

/// Redraws `<frame> <label> <elapsed>` on stderr until dropped, which erases the line.
pub struct Spinner {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    label: String,
    done: bool,
}

impl Spinner {
    /// A spinner showing `label`, or `None` when stderr is not a terminal (pipes and
    /// log files get no progress at all).
    pub fn start(label: String) -> Option<Spinner> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let shared = Arc::new((Mutex::new(State { label, done: false }), Condvar::new()));
        let drawer = shared.clone();
        let thread = std::thread::spawn(move || draw(&drawer));
        Some(Spinner {
            shared,
            thread: Some(thread),
        })
    }

    /// Prints `line` on stderr above the spinner, which is drawn again below it.
    pub fn println(&self, line: &str) {
        let (state, _) = &*self.shared;
        // Holding the lock keeps the drawing thread from writing half a frame in between.
        let _guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(io::stderr(), "{CLEAR_LINE}{line}");
    }

    /// Replaces the label from the next frame on.
    pub fn set_label(&self, label: String) {
        let (state, _) = &*self.shared;
        state.lock().unwrap_or_else(|e| e.into_inner()).label = label;
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        let (state, wake) = &*self.shared;
        state.lock().unwrap_or_else(|e| e.into_inner()).done = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw(shared: &(Mutex<State>, Condvar)) {
    let (state, wake) = shared;
    let started = Instant::now();
    let mut frame = 0;
    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if guard.done {
            let _ = write!(io::stderr(), "{CLEAR_LINE}");
            return;
        }
        let line = format!(
            "{CLEAR_LINE}{} {} {}",
            FRAMES[frame % FRAMES.len()],
            guard.label,
            clock(started.elapsed().as_secs())
        );
        // A closed stderr is no reason to stop waiting for the run.
        let _ = io::stderr().write_all(line.as_bytes());
        frame += 1;
        guard = wake
            .wait_timeout(guard, TICK)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}
