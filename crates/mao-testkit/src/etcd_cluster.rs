//! A throwaway etcd cluster of several members on loopback: each member its own
//! `/usr/bin/etcd` process, data dir and pair of free ports, so that a test can kill,
//! stop and restart members and watch the others elect a leader.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::etcd::{etcd_bin, etcdctl_bin, healthy_member, MemberSpec, STARTUP_LIMIT};
use crate::ports::ClosedPort;
use crate::{log_tail, PORT_ATTEMPTS};

/// One member: its ports and, while it runs, its process.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    /// While it is down its ports are held closed, so that no other process takes them
    /// before the restart (and a client's connection is refused at once).
    held: Vec<ClosedPort>,
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

/// A running etcd cluster; every member is killed on drop.
pub struct EtcdCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    members: Vec<Member>,
    /// `--initial-cluster`: every member's name and peer URL.
    initial_cluster: String,
    token: String,
}

/// Why a start failed.
enum StartError {
    /// Another process took one of the ports between the probe and etcd's bind.
    PortTaken(String),
    Other(String),
}

impl EtcdCluster {
    /// Starts a cluster of `size` members and waits until every member answers with a
    /// leader; panics with the reason if not.
    pub fn start(size: usize) -> EtcdCluster {
        assert!(size > 0, "a cluster needs at least one member");
        let dir = tempfile::tempdir().expect("cannot create a temp dir for etcd");
        let mut cluster = EtcdCluster {
            bin: etcd_bin(),
            dir,
            members: Vec::new(),
            initial_cluster: String::new(),
            token: String::new(),
        };
        let mut taken = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            // etcd binds its ports itself, so they can only be probed, not handed over:
            // when another process takes one in between, that member exits and the whole
            // cluster starts again on other ports.
            let listeners: Vec<TcpListener> = (0..size * 2)
                .map(|_| TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port"))
                .collect();
            let ports: Vec<u16> = listeners
                .iter()
                .map(|l| l.local_addr().expect("local addr").port())
                .collect();
            drop(listeners);
            cluster.members = (0..size)
                .map(|i| Member {
                    name: format!("m{i}"),
                    client_port: ports[2 * i],
                    peer_port: ports[2 * i + 1],
                    child: None,
                    held: Vec::new(),
                })
                .collect();
            cluster.initial_cluster = cluster
                .members
                .iter()
                .map(|m| format!("{}={}", m.name, m.peer_url()))
                .collect::<Vec<_>>()
                .join(",");
            cluster.token = format!("mao-test-cluster-{}", ports[0]);
            for i in 0..size {
                let _ = std::fs::remove_dir_all(cluster.data_dir(i));
                cluster.spawn(i);
            }
            let result = (0..size).try_for_each(|i| cluster.wait_healthy_or_exit(i));
            match result {
                Ok(()) => return cluster,
                Err(StartError::PortTaken(why)) => {
                    taken.push(why);
                    for i in 0..size {
                        cluster.kill(i);
                    }
                }
                Err(StartError::Other(why)) => panic!("{why}"),
            }
        }
        panic!("the etcd cluster found its ports taken {PORT_ATTEMPTS} times: {taken:?}");
    }

    /// How many members the cluster has (running or not).
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The client URL of member `i`, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url()
    }

    /// Every member's client URL, comma-joined (the value of `--etcd-endpoints`).
    pub fn endpoints(&self) -> String {
        self.endpoint_list().join(",")
    }

    /// Every member's client URL.
    pub fn endpoint_list(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// Whether member `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// The file member `i` logs to (appended across restarts).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].name))
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    /// Kills member `i` with SIGKILL; its data dir stays, so [`EtcdCluster::start_member`]
    /// resumes it. Until then its ports refuse connections and are taken by nobody else.
    pub fn kill(&mut self, i: usize) {
        self.down(i, libc::SIGKILL);
    }

    /// Stops member `i` with SIGTERM (etcd shuts down cleanly, a leader hands over) and
    /// waits for it to exit; like [`EtcdCluster::kill`] its ports stay held.
    pub fn stop(&mut self, i: usize) {
        self.down(i, libc::SIGTERM);
    }

    fn down(&mut self, i: usize, signal: i32) {
        let member = &mut self.members[i];
        if let Some(mut child) = member.child.take() {
            let pid = child.id() as i32;
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(pid, signal);
            }
            let _ = child.wait();
            member.held = [member.client_port, member.peer_port]
                .into_iter()
                .filter_map(|port| ClosedPort::hold(port).ok())
                .collect();
        }
    }

    /// Starts member `i` again on its ports and data dir and waits until it answers with
    /// a leader (so a quorum must be up, counting this member).
    pub fn start_member(&mut self, i: usize) {
        self.start_member_nowait(i);
        if let Err(StartError::PortTaken(why) | StartError::Other(why)) =
            self.wait_healthy_or_exit(i)
        {
            panic!("{why}");
        }
    }

    /// Starts member `i` again without waiting for it (it cannot answer before a quorum
    /// is up: start the others, then [`EtcdCluster::wait_healthy`]).
    pub fn start_member_nowait(&mut self, i: usize) {
        assert!(
            self.members[i].child.is_none(),
            "etcd member {i} is already running"
        );
        self.spawn(i);
    }

    /// Waits until member `i` runs and answers with a leader; panics if it does not.
    pub fn wait_healthy(&mut self, i: usize) {
        if let Err(StartError::PortTaken(why) | StartError::Other(why)) =
            self.wait_healthy_or_exit(i)
        {
            panic!("{why}");
        }
    }

    /// The index of the member that is the leader, as the running members report it
    /// (`etcdctl endpoint status -w json`); `None` while they know of no running leader.
    pub fn leader(&self) -> Option<usize> {
        let running: Vec<usize> = (0..self.size()).filter(|&i| self.is_running(i)).collect();
        if running.is_empty() {
            return None;
        }
        let endpoints: Vec<String> = running.iter().map(|&i| self.endpoint(i)).collect();
        // With a member that does not answer etcdctl exits non-zero but still prints the
        // status of the others.
        let output = self.etcdctl(&endpoints.join(","), &["endpoint", "status", "-w", "json"]);
        let statuses: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        let statuses = statuses.as_array()?;
        let member_of = |status: &serde_json::Value| -> Option<(String, u64, u64)> {
            Some((
                status["Endpoint"].as_str()?.to_owned(),
                status["Status"]["header"]["member_id"].as_u64()?,
                status["Status"]["leader"].as_u64()?,
            ))
        };
        let members: Vec<(String, u64, u64)> = statuses.iter().filter_map(member_of).collect();
        let leader = members.iter().map(|m| m.2).find(|&l| l != 0)?;
        let (endpoint, _, _) = members.iter().find(|m| m.1 == leader)?;
        running.into_iter().find(|&i| &self.endpoint(i) == endpoint)
    }

    /// Waits until a running member is the leader and returns its index; panics after
    /// `deadline`.
    pub fn wait_leader(&self, deadline: Duration) -> usize {
        let end = Instant::now() + deadline;
        loop {
            if let Some(leader) = self.leader() {
                return leader;
            }
            assert!(
                Instant::now() < end,
                "no etcd leader among the running members within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `etcdctl` against `endpoints` (comma-separated); returns what it printed.
    pub fn etcdctl(&self, endpoints: &str, args: &[&str]) -> Output {
        let bin = etcdctl_bin();
        Command::new(&bin)
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(endpoints)
            .arg("--command-timeout=5s")
            .arg("--dial-timeout=2s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    }

    fn spawn(&mut self, i: usize) {
        self.members[i].held.clear();
        let member = &self.members[i];
        let child = MemberSpec {
            name: &member.name,
            data_dir: &self.data_dir(i),
            client_url: &member.client_url(),
            peer_url: &member.peer_url(),
            initial_cluster: &self.initial_cluster,
            existing: false,
            token: &self.token,
            log: &self.log_path(i),
        }
        .spawn(Command::new(&self.bin));
        self.members[i].child = Some(child);
    }

    /// Polls member `i`'s `/health` until it has a leader and is a member of this cluster.
    fn wait_healthy_or_exit(&mut self, i: usize) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_LIMIT;
        let mut last = String::from("not polled yet");
        let log_path = self.log_path(i);
        let peer_url = self.members[i].peer_url();
        let port = self.members[i].client_port;
        while Instant::now() < deadline {
            let member = &mut self.members[i];
            let Some(child) = member.child.as_mut() else {
                return Err(StartError::Other(format!("etcd member {i} is not running")));
            };
            if let Ok(Some(status)) = child.try_wait() {
                member.child = None;
                let tail = log_tail(&log_path, 30);
                let why =
                    format!("etcd member {i} exited at startup ({status}); log tail:\n{tail}");
                return Err(if tail.contains("address already in use") {
                    StartError::PortTaken(why)
                } else {
                    StartError::Other(why)
                });
            }
            match healthy_member(port, &peer_url) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(StartError::Other(format!(
            "etcd member {i} did not become healthy within {}s (last: {last}); log tail:\n{}",
            STARTUP_LIMIT.as_secs(),
            log_tail(&log_path, 30)
        )))
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
