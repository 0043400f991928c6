//! etcd as a supervised child of the daemon ("managed etcd").
//!
//! The member dies with the daemon, even when the daemon is killed with SIGKILL
//! (`PR_SET_PDEATHSIG`), so no orphaned etcd holds the data dir and ports when the daemon
//! comes back. When etcd exits on its own it is started again after a backoff; once it has
//! run for a while the backoff starts over, so a member that crashes once a day is not
//! made to wait 30 s.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mao_retry::Policy;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::member::MemberSpec;
use crate::{Error, Result};

/// The wait before a restart: 1 s doubling to 30 s.
const RESTART_POLICY: Policy = Policy::new(Duration::from_secs(1), Duration::from_secs(30));
/// A member that ran this long before it exited is restarted after the shortest wait.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How many of the etcd log's last lines are searched for etcd's word that its member was
/// removed (what follows it on shutdown is a few lines per peer).
const REMOVED_WINDOW_LINES: usize = 400;
/// How many lines of the etcd log a warning about its exit carries.
const LOG_TAIL_LINES: usize = 20;

/// A running etcd member, restarted when it exits until [`EtcdSupervisor::stop`].
pub struct EtcdSupervisor {
    state: Arc<State>,
    /// `Some(grace)` asks the watcher to stop the member.
    stop_tx: watch::Sender<Option<Duration>>,
    /// The watcher, until a stop has waited for it.
    watcher: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// What the supervisor and its watcher task share.
struct State {
    /// The pid of the running member; 0 while none runs.
    pid: AtomicU32,
    restarts: AtomicU64,
}

/// How to start the member again.
struct Launch {
    bin: PathBuf,
    spec: MemberSpec,
    data_dir: PathBuf,
    log: PathBuf,
}

impl EtcdSupervisor {
    /// Starts `bin` as the member `spec` with its data in `data_dir` and its output appended
    /// to `log`, and watches it. A missing binary or an invalid spec is an error here;
    /// whether etcd then comes up is for the caller to see (its health, the log).
    pub async fn start(
        bin: PathBuf,
        spec: MemberSpec,
        data_dir: PathBuf,
        log: PathBuf,
    ) -> Result<EtcdSupervisor> {
        if !bin.is_file() {
            return Err(Error::EtcdBinMissing(bin));
        }
        spec.validate()?;
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        create_private_dir(&data_dir)?;
        let launch = Launch {
            bin,
            spec,
            data_dir,
            log,
        };
        let child = launch.spawn()?;
        let state = Arc::new(State {
            pid: AtomicU32::new(child.id().unwrap_or(0)),
            restarts: AtomicU64::new(0),
        });
        info!(member = %launch.spec.name, pid = child.id(), "etcd started");
        let (stop_tx, stop_rx) = watch::channel(None);
        let watcher = tokio::spawn(watch_member(launch, child, state.clone(), stop_rx));
        Ok(EtcdSupervisor {
            state,
            stop_tx,
            watcher: tokio::sync::Mutex::new(Some(watcher)),
        })
    }

    /// The pid of the running member; `None` while it is down (between a crash and its
    /// restart, or after a stop).
    pub fn pid(&self) -> Option<u32> {
        match self.state.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times the member was started again after it exited.
    pub fn restarts(&self) -> u64 {
        self.state.restarts.load(Ordering::SeqCst)
    }

    /// Stops the member: SIGTERM, up to `grace` for it to exit, then SIGKILL. It is not
    /// restarted afterwards. Returns once it is gone; a second call returns at once.
    pub async fn stop(&self, grace: Duration) {
        let mut watcher = self.watcher.lock().await;
        let Some(handle) = watcher.take() else {
            return;
        };
        self.stop_tx.send_replace(Some(grace));
        if let Err(e) = handle.await {
            warn!(error = %e, "the etcd watcher failed");
        }
        self.state.pid.store(0, Ordering::SeqCst);
    }
}

impl Drop for EtcdSupervisor {
    fn drop(&mut self) {
        // Without a stop the watcher is aborted; dropping it drops the child, which is
        // killed on drop: no member outlives its supervisor.
        if let Some(handle) = self.watcher.get_mut().take() {
            handle.abort();
        }
    }
}

impl Launch {
    fn spawn(&self) -> Result<Child> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(&self.log, e))?;
        let log_err = log.try_clone().map_err(|e| Error::io(&self.log, e))?;
        let mut command = Command::new(&self.bin);
        command
            .args(self.spec.args(&self.data_dir))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // The signal comes when the thread that forked exits; tokio's worker
                // threads (and the caller's runtime thread) live as long as the daemon.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The daemon died before the prctl: the signal will never come.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the daemon exited"));
                }
                Ok(())
            });
        }
        command.spawn().map_err(|e| Error::io(&self.bin, e))
    }
}

/// Waits for the member to exit and starts it again, until a stop is asked for.
async fn watch_member(
    launch: Launch,
    mut child: Child,
    state: Arc<State>,
    mut stop_rx: watch::Receiver<Option<Duration>>,
) {
    let mut backoff = RESTART_POLICY.backoff();
    let mut started = Instant::now();
    loop {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop_rx.changed() => {
                let grace = stop_rx.borrow().unwrap_or_default();
                terminate(&mut child, grace, &launch.spec.name).await;
                return;
            }
        };
        state.pid.store(0, Ordering::SeqCst);
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let tail = log_tail(&launch.log, LOG_TAIL_LINES);
        // etcd says why well before its last lines (it logs every peer it stops).
        if removed(&log_tail(&launch.log, REMOVED_WINDOW_LINES)) {
            // Starting it again would only fail again, forever.
            tracing::error!(
                member = %launch.spec.name,
                status = %describe(&status),
                "this site's etcd member was removed from the cluster (`maoctl federation remove` or `federation leave`): it is not started again; join the federation anew (`mao-orchestrator federation join`) or run the site alone"
            );
            return;
        }
        let mut delay = backoff.next_delay();
        warn!(
            member = %launch.spec.name,
            status = %describe(&status),
            restart_in_ms = delay.as_millis() as u64,
            log_tail = %tail,
            "etcd exited; restarting it"
        );
        // A stop during the wait (or the spawn's failure and the next wait) ends the loop.
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop_rx.changed() => return,
            }
            match launch.spawn() {
                Ok(new) => {
                    child = new;
                    break;
                }
                Err(e) => {
                    delay = backoff.next_delay();
                    warn!(member = %launch.spec.name, error = %e, restart_in_ms = delay.as_millis() as u64, "cannot start etcd again");
                }
            }
        }
        started = Instant::now();
        state.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        state.restarts.fetch_add(1, Ordering::SeqCst);
        info!(member = %launch.spec.name, pid = child.id(), "etcd restarted");
    }
}

/// Whether etcd's last words say its member was removed from the cluster.
fn removed(log_tail: &str) -> bool {
    log_tail.contains("permanently removed from the cluster")
        || log_tail.contains("has already been removed")
}

/// SIGTERM, up to `grace` to exit, then SIGKILL; reaps the child either way.
async fn terminate(child: &mut Child, grace: Duration, member: &str) {
    let Some(pid) = child.id() else {
        return; // Already reaped.
    };
    // SAFETY: kill(2) on our own child, not reaped yet (tokio reaps only in wait).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => info!(member, status = %describe(&status), "etcd stopped"),
        Err(_) => {
            warn!(
                member,
                grace_ms = grace.as_millis() as u64,
                "etcd ignored SIGTERM; killing it"
            );
            let _ = child.kill().await;
        }
    }
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// etcd wants its data dir private (0700) and warns about anything else.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// The last `lines` lines of the log (of its last 64 KiB: the log grows across restarts).
fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
