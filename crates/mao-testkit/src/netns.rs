//! A federation of sites that are separate hosts as far as the network goes: each site is a
//! network namespace of its own, with one address, its own etcd member and its own
//! `mao-orchestrator` daemon, and all of them share the host's Docker Engine through its
//! unix socket (a namespace changes the network, not the filesystem).
//!
//! The network, made by [`Federation::start`] as root with `ip`:
//!
//! ```text
//!  host namespace                 hub namespace              site namespaces
//!  mf<pid>-<n> 10.a.b.1 ──veth── host ┐
//!                                     ├─ br0 (bridge) ─ s0 ──veth── eth0 10.a.b.2  etcd, daemon
//!                                     ├───────────────  s1 ──veth── eth0 10.a.b.3  etcd, daemon
//!                                     └───────────────  s2 ──veth── eth0 10.a.b.4  etcd, daemon
//! ```
//!
//! The bridge lives in a namespace of its own rather than in the host's: the host bridges
//! through iptables (`bridge-nf-call-iptables = 1`) and Docker sets the `FORWARD` policy to
//! `DROP`, so site-to-site frames on a host bridge would be dropped, and opening them would
//! mean editing the host's firewall, which other tests and the Docker Engine share. The
//! test process reaches every site through the host end of the hub's veth.
//!
//! The subnet `10.a.b.0/24` and every name come from the test process's pid and a counter,
//! checked free (no address or route of the host in that subnet, no namespace or link of
//! that name) under a file lock, so that harnesses of parallel test processes never clash.
//! Namespaces of a test process that died without cleaning up are removed by the next
//! harness; the processes a harness starts die with the thread that started them
//! (`PR_SET_PDEATHSIG`), and on drop (also while a panic unwinds) every process is killed
//! by its pid, the namespaces with their veths deleted and the sites' containers removed.
//!
//! Faults: kill, stop (`SIGSTOP`), continue and start again an etcd member or a daemon;
//! partition a site (its veth's bridge end taken down: it reaches nobody and nobody
//! reaches it, the test process included) and heal it.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::daemon::Daemon;
use crate::docker::ContainerSweep;
use crate::etcd::{etcd_bin, etcdctl_bin, MemberSpec};

/// Names of every namespace a harness makes start with this.
const NETNS_PREFIX: &str = "maofed-";
/// The port of every site's API (each site has its own network namespace, so no port of
/// one site can clash with another's, nor with the host's).
pub const API_PORT: u16 = 8080;
const ETCD_CLIENT_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
/// How long the etcd cluster may take to elect a leader, on a loaded machine.
const ETCD_STARTUP: Duration = Duration::from_secs(60);
/// The container label of the node that ran a container (mao-node's executor sets it).
const NODE_LABEL: &str = "mao.node";
/// The lock under which a harness picks its subnet and names.
const LOCK_FILE: &str = "/tmp/mao-testkit-netns.lock";

/// How a [`Federation`] is made.
#[derive(Clone, Debug)]
pub struct FederationOptions {
    /// Number of sites (each an etcd member and a daemon); 3 gives etcd a quorum of 2.
    pub sites: usize,
    /// `--membership-ttl` of every daemon, in seconds.
    pub membership_ttl: u64,
    /// More arguments for every daemon.
    pub daemon_args: Vec<String>,
    /// Environment of one site's daemon from its first start on: `(site, key, value)`
    /// (e.g. `MAO_FAILPOINTS`); see also [`Federation::set_daemon_env`].
    pub daemon_env: Vec<(usize, String, String)>,
}

impl Default for FederationOptions {
    fn default() -> Self {
        FederationOptions {
            sites: 3,
            membership_ttl: 3,
            daemon_args: Vec::new(),
            daemon_env: Vec::new(),
        }
    }
}

/// One site: a network namespace with one address, an etcd member and a daemon.
pub struct Site {
    /// The site's position, 0-based.
    pub index: usize,
    /// The daemon's node name.
    pub node: String,
    /// The network namespace.
    pub netns: String,
    /// The site's address, e.g. `10.201.17.2`.
    pub addr: String,
    /// The daemon's data dir.
    pub data_dir: PathBuf,
    /// An admin token of the daemon (its listen address is not loopback, so it requires one).
    pub token: String,
    /// The bridge end of the site's veth, in the hub namespace.
    link: String,
    etcd: Option<Child>,
    etcd_dir: PathBuf,
    daemon: Option<Daemon>,
    /// Environment the daemon is started with (kept for restarts).
    daemon_env: Vec<(String, String)>,
    /// Daemon starts so far, which numbers its log files.
    starts: u32,
}

impl Site {
    /// The daemon's API URL, e.g. `http://10.201.17.2:8080`.
    pub fn url(&self) -> String {
        format!("http://{}:{API_PORT}", self.addr)
    }

    /// The etcd member's client URL.
    pub fn etcd_endpoint(&self) -> String {
        format!("http://{}:{ETCD_CLIENT_PORT}", self.addr)
    }

    fn etcd_peer(&self) -> String {
        format!("http://{}:{ETCD_PEER_PORT}", self.addr)
    }

    fn etcd_name(&self) -> String {
        format!("s{}", self.index)
    }
}

/// A federation of [`Site`]s on a network of its own; see the module's documentation.
pub struct Federation {
    /// The sites, in order.
    pub sites: Vec<Site>,
    /// The test process's address on the federation's network.
    pub host_addr: String,
    hub: String,
    host_link: String,
    daemon_bin: PathBuf,
    options: FederationOptions,
    dir: tempfile::TempDir,
    _sweeps: Vec<ContainerSweep>,
}

/// The names and the subnet of one harness.
struct Plan {
    tag: String,
    prefix: String,
    hub: String,
    host_link: String,
}

impl Federation {
    /// Makes the network, starts an etcd cluster of one member per site and then one
    /// daemon per site (`daemon_bin`, the `mao-orchestrator` under test); panics with the
    /// reason (and a log tail) if any of it fails. Needs root.
    pub fn start(daemon_bin: &Path, options: FederationOptions) -> Federation {
        let mut federation = Federation::make(daemon_bin, options.clone());
        for index in 0..options.sites {
            federation.start_etcd(index);
        }
        federation.wait_etcd_healthy(ETCD_STARTUP);
        for index in 0..options.sites {
            federation.start_daemon(index);
        }
        federation
    }

    /// Makes the network and the sites (data dirs with an admin token each) but starts
    /// nothing: for sites that set themselves up (`federation init`, `federation join`),
    /// started with [`Federation::spawn_in`] and [`Federation::run_in`].
    pub fn network(daemon_bin: &Path, sites: usize) -> Federation {
        Federation::make(
            daemon_bin,
            FederationOptions {
                sites,
                membership_ttl: 10,
                daemon_args: Vec::new(),
                daemon_env: Vec::new(),
            },
        )
    }

    /// Runs the daemon binary with `args` in site `index`'s namespace and waits until it
    /// listens (its log is `name` in the federation's dir). The caller owns it.
    pub fn spawn_in(&mut self, index: usize, args: &[&str], name: &str) -> Daemon {
        let site = &self.sites[index];
        let mut command = in_netns(&site.netns, &self.daemon_bin);
        command.args(args);
        Daemon::spawn(command, &self.dir.path().join(name))
    }

    /// Runs the daemon binary with `args` in site `index`'s namespace to its end (a
    /// command such as `federation leave`), and answers what it printed.
    pub fn run_in(&self, index: usize, args: &[String]) -> Output {
        let site = &self.sites[index];
        in_netns(&site.netns, &self.daemon_bin)
            .args(args)
            .env("MAO_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.daemon_bin.display()))
    }

    /// Runs `command` (a program and its arguments) in site `index`'s namespace to its end.
    pub fn exec_in(&self, index: usize, command: &[&str]) -> Output {
        let (program, args) = command.split_first().expect("a program");
        in_netns(&self.sites[index].netns, Path::new(program))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// Starts `program` with `args` in site `index`'s namespace (e.g. a web server that is
    /// not a mao node); the caller owns the child.
    pub fn spawn_plain_in(&self, index: usize, command: &[&str]) -> Child {
        let (program, args) = command.split_first().expect("a program");
        in_netns(&self.sites[index].netns, Path::new(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    }

    fn make(daemon_bin: &Path, options: FederationOptions) -> Federation {
        assert!(
            options.sites >= 1 && options.sites <= 200,
            "a federation has 1 to 200 sites"
        );
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "the federation harness makes network namespaces and must run as root"
        );
        remove_stale_namespaces();
        let dir = tempfile::Builder::new()
            .prefix("maofed-")
            .tempdir()
            .expect("cannot create a temp dir for the federation");
        let plan = plan_and_make_hub();
        let mut federation = Federation {
            sites: Vec::new(),
            host_addr: format!("{}.1", plan.prefix),
            hub: plan.hub.clone(),
            host_link: plan.host_link.clone(),
            daemon_bin: daemon_bin.to_owned(),
            options: options.clone(),
            dir,
            _sweeps: Vec::new(),
        };
        // From here on a panic drops `federation`, which removes what was made so far.
        for index in 0..options.sites {
            let netns = format!("{NETNS_PREFIX}{}-s{index}", plan.tag);
            let link = format!("s{index}");
            let addr = format!("{}.{}", plan.prefix, index + 2);
            ip(&["netns", "add", &netns]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &plan.hub, "link", "add", &link, "type", "veth", "peer", "name", "eth0",
                "netns", &netns,
            ]);
            ip(&[
                "-n", &plan.hub, "link", "set", "dev", &link, "master", "br0", "up",
            ]);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &netns, "link", "set", "dev", "eth0", "up"]);
            let node = format!("fed-{}-s{index}", plan.tag);
            let data_dir = federation.dir.path().join(&node);
            let etcd_dir = federation.dir.path().join(format!("etcd-s{index}"));
            std::fs::create_dir_all(&data_dir).expect("cannot create a site's data dir");
            let token = admin_token(daemon_bin, &data_dir);
            federation
                ._sweeps
                .push(ContainerSweep::new(NODE_LABEL, &node));
            federation.sites.push(Site {
                index,
                node,
                netns,
                addr,
                data_dir,
                token,
                link,
                etcd: None,
                etcd_dir,
                daemon: None,
                daemon_env: options
                    .daemon_env
                    .iter()
                    .filter(|(site, _, _)| *site == index)
                    .map(|(_, k, v)| (k.clone(), v.clone()))
                    .collect(),
                starts: 0,
            });
        }
        federation
    }

    /// The site `index`.
    pub fn site(&self, index: usize) -> &Site {
        &self.sites[index]
    }

    /// The running daemon of site `index`; panics if it is not running.
    pub fn daemon(&self, index: usize) -> &Daemon {
        self.sites[index]
            .daemon
            .as_ref()
            .unwrap_or_else(|| panic!("the daemon of site {index} is not running"))
    }

    /// The daemon of site `index`, if one was started and not killed.
    pub fn daemon_mut(&mut self, index: usize) -> Option<&mut Daemon> {
        self.sites[index].daemon.as_mut()
    }

    /// A folder of the federation's temp dir, for the test's own files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every etcd member's client URL, comma-separated.
    pub fn etcd_endpoints(&self) -> String {
        self.sites
            .iter()
            .map(Site::etcd_endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The etcd endpoints a site's daemon is given: its own member first.
    fn endpoints_for(&self, index: usize) -> String {
        let mut endpoints = vec![self.sites[index].etcd_endpoint()];
        endpoints.extend(
            self.sites
                .iter()
                .filter(|s| s.index != index)
                .map(Site::etcd_endpoint),
        );
        endpoints.join(",")
    }

    /// Runs `etcdctl` (API 3) against every member, from the test process.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new(etcdctl_bin())
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(self.etcd_endpoints())
            .arg("--command-timeout=5s")
            .arg("--dial-timeout=2s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", etcdctl_bin().display()))
    }

    /// The site whose etcd member is the leader, as the live members say.
    pub fn etcd_leader(&self) -> Option<usize> {
        let out = self.etcdctl(&["endpoint", "status", "-w", "json"]);
        let statuses: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        statuses.as_array()?.iter().find_map(|entry| {
            let status = &entry["Status"];
            let leader = status["leader"].as_u64()?;
            (status["header"]["member_id"].as_u64()? == leader)
                .then(|| entry["Endpoint"].as_str())
                .flatten()
                .and_then(|endpoint| {
                    self.sites
                        .iter()
                        .position(|s| s.etcd_endpoint() == endpoint)
                })
        })
    }

    /// Waits until every member answers `endpoint health` (the cluster has a leader);
    /// panics with the members' log tails if it does not within `deadline`.
    pub fn wait_etcd_healthy(&self, deadline: Duration) {
        let mut last = String::new();
        let healthy = crate::wait_until(deadline, || {
            let out = self.etcdctl(&["endpoint", "health"]);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success()
        });
        if !healthy {
            let tails: Vec<String> = self
                .sites
                .iter()
                .map(|s| {
                    format!(
                        "--- etcd of site {} ---\n{}",
                        s.index,
                        crate::log_tail(&self.etcd_log(s.index), 20)
                    )
                })
                .collect();
            panic!(
                "the etcd cluster is not healthy after {}s: {last}\n{}",
                deadline.as_secs(),
                tails.join("\n")
            );
        }
    }

    /// The log file of site `index`'s etcd member (appended across restarts).
    pub fn etcd_log(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("etcd-s{index}.log"))
    }

    /// Starts (or starts again, on its data dir) the etcd member of site `index`; does not
    /// wait for it (a member alone has no quorum): see [`Federation::wait_etcd_healthy`].
    pub fn start_etcd(&mut self, index: usize) {
        assert!(
            self.sites[index].etcd.is_none(),
            "the etcd member of site {index} is already running"
        );
        let cluster = self
            .sites
            .iter()
            .map(|s| format!("{}={}", s.etcd_name(), s.etcd_peer()))
            .collect::<Vec<_>>()
            .join(",");
        let site = &self.sites[index];
        let child = MemberSpec {
            name: &site.etcd_name(),
            data_dir: &site.etcd_dir,
            client_url: &site.etcd_endpoint(),
            peer_url: &site.etcd_peer(),
            initial_cluster: &cluster,
            existing: false,
            token: &self.hub,
            log: &self.etcd_log(index),
        }
        .spawn(in_netns(&site.netns, &etcd_bin()));
        self.sites[index].etcd = Some(child);
    }

    /// Kills the etcd member of site `index` (SIGKILL); its data dir stays for a restart.
    pub fn kill_etcd(&mut self, index: usize) {
        if let Some(mut child) = self.sites[index].etcd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the etcd member of site `index` (SIGSTOP).
    pub fn stop_etcd(&self, index: usize) {
        signal(self.etcd_pid(index), libc::SIGSTOP);
    }

    /// Lets a frozen etcd member of site `index` go on (SIGCONT).
    pub fn cont_etcd(&self, index: usize) {
        signal(self.etcd_pid(index), libc::SIGCONT);
    }

    fn etcd_pid(&self, index: usize) -> u32 {
        self.sites[index]
            .etcd
            .as_ref()
            .unwrap_or_else(|| panic!("the etcd member of site {index} is not running"))
            .id()
    }

    /// Sets the environment the daemon of site `index` is started with from its next start
    /// on (e.g. `MAO_FAILPOINTS`).
    pub fn set_daemon_env(&mut self, index: usize, env: &[(&str, &str)]) {
        self.sites[index].daemon_env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// Starts the daemon of site `index` on its data dir and waits until it listens.
    pub fn start_daemon(&mut self, index: usize) {
        assert!(
            self.sites[index].daemon.is_none(),
            "the daemon of site {index} is already running"
        );
        let data_dir = self.sites[index].data_dir.clone();
        let node = self.sites[index].node.clone();
        let env = self.sites[index].daemon_env.clone();
        let daemon = self.launch_daemon(index, &node, &data_dir, API_PORT, &env);
        self.sites[index].daemon = Some(daemon);
    }

    /// Starts one more daemon in site `index`'s namespace, named `node`, on `data_dir`
    /// (see [`admin_token`] for its token) and `port`: e.g. a second daemon that takes the
    /// name of a frozen one. The caller owns it (it is killed when dropped).
    pub fn launch_daemon(
        &mut self,
        index: usize,
        node: &str,
        data_dir: &Path,
        port: u16,
        env: &[(String, String)],
    ) -> Daemon {
        let endpoints = self.endpoints_for(index);
        let site = &mut self.sites[index];
        site.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("daemon-s{index}-{node}-{}.log", site.starts));
        let listen = format!("{}:{port}", site.addr);
        let mut command = in_netns(&site.netns, &self.daemon_bin);
        command
            .arg("--listen")
            .arg(&listen)
            .arg("--advertise-url")
            .arg(format!("http://{listen}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--node")
            .arg(node)
            .arg("--store")
            .arg("etcd")
            .arg("--etcd-endpoints")
            .arg(endpoints)
            .arg("--membership-ttl")
            .arg(self.options.membership_ttl.to_string())
            .args(&self.options.daemon_args)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Daemon::spawn(command, &log)
    }

    /// Kills the daemon of site `index` (SIGKILL, as a crash would).
    pub fn kill_daemon(&mut self, index: usize) {
        if let Some(mut daemon) = self.sites[index].daemon.take() {
            daemon.kill();
        }
    }

    /// Takes the daemon of site `index` out of the federation's hands without killing it
    /// (e.g. to watch it exit by itself).
    pub fn take_daemon(&mut self, index: usize) -> Option<Daemon> {
        self.sites[index].daemon.take()
    }

    /// Freezes the daemon of site `index` (SIGSTOP).
    pub fn stop_daemon(&self, index: usize) {
        signal(self.daemon(index).pid(), libc::SIGSTOP);
    }

    /// Lets the frozen daemon of site `index` go on (SIGCONT).
    pub fn cont_daemon(&self, index: usize) {
        signal(self.daemon(index).pid(), libc::SIGCONT);
    }

    /// Cuts site `index` off: the bridge end of its veth goes down, so it reaches no other
    /// site and the test process does not reach it.
    pub fn partition(&self, index: usize) {
        self.set_link(index, "down");
    }

    /// Ends a [`Federation::partition`] of site `index`.
    pub fn heal(&self, index: usize) {
        self.set_link(index, "up");
    }

    fn set_link(&self, index: usize, state: &str) {
        let link = &self.sites[index].link;
        ip(&["-n", &self.hub, "link", "set", "dev", link, state]);
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        for site in &mut self.sites {
            // SIGKILL also ends a frozen process.
            if let Some(mut daemon) = site.daemon.take() {
                daemon.kill();
            }
            if let Some(mut child) = site.etcd.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Deleting a namespace deletes the veth ends in it, and with them their peers.
        for site in &self.sites {
            let _ = try_ip(&["netns", "delete", &site.netns]);
        }
        let _ = try_ip(&["netns", "delete", &self.hub]);
        let _ = try_ip(&["link", "delete", &self.host_link]);
        // The container sweeps run after this, as fields.
    }
}

/// Creates an admin token in `data_dir` with the daemon's `token create` and returns it.
pub fn admin_token(daemon_bin: &Path, data_dir: &Path) -> String {
    let out = Command::new(daemon_bin)
        .args([
            "token",
            "create",
            "federation-test",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", daemon_bin.display()));
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|line| line.trim().to_owned())
        .filter(|token| token.starts_with("mao_"))
        .unwrap_or_else(|| {
            panic!(
                "token create printed no token: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}

/// A command that runs `program` in the network namespace `netns` (`ip netns exec` execs
/// it, so the child's pid is the program's) and dies with the thread that spawns it.
fn in_netns(netns: &str, program: &Path) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", netns]).arg(program);
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child of ours that has not been reaped.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// Runs `ip args`; panics with its stderr if it fails.
fn ip(args: &[&str]) {
    if let Err(why) = try_ip(args) {
        panic!("{why}");
    }
}

fn try_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes the namespaces of harnesses whose test process is gone (`maofed-<pid>-...`).
fn remove_stale_namespaces() {
    let Ok(list) = try_ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = try_ip(&["netns", "delete", name]);
        }
    }
}

/// Picks a free subnet and free names, and makes the hub (its namespace, the bridge and
/// the veth to the host) under a file lock, so two harnesses never pick the same.
fn plan_and_make_hub() -> Plan {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .unwrap_or_else(|e| panic!("cannot open {LOCK_FILE}: {e}"));
    // SAFETY: flock on a file descriptor we own; released when `lock` is closed.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(rc, 0, "cannot lock {LOCK_FILE}");
    let pid = std::process::id();
    let addresses = try_ip(&["-o", "-4", "addr", "show"]).unwrap_or_default();
    let routes = try_ip(&["-4", "route", "show", "table", "all"]).unwrap_or_default();
    let namespaces = try_ip(&["netns", "list"]).unwrap_or_default();
    for _ in 0..200 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // 50 * 256 subnets 10.200.0.0/24 .. 10.249.255.0/24.
        let k = (u64::from(pid) * 7919 + u64::from(n) * 104_729) % (50 * 256);
        let prefix = format!("10.{}.{}", 200 + k / 256, k % 256);
        let tag = format!("{pid}-{n}");
        let hub = format!("{NETNS_PREFIX}{tag}-hub");
        let host_link = format!("mf{pid:x}-{n}");
        let subnet_used = addresses.contains(&format!(" {prefix}."))
            || routes.lines().any(|r| {
                r.starts_with(&format!("{prefix}.")) || r.contains(&format!(" {prefix}."))
            });
        let names_used = namespaces.contains(&format!("{NETNS_PREFIX}{tag}-"))
            || try_ip(&["link", "show", "dev", &host_link]).is_ok();
        if subnet_used || names_used || host_link.len() > 15 {
            continue;
        }
        ip(&["netns", "add", &hub]);
        let made = (|| {
            try_ip(&["-n", &hub, "link", "set", "lo", "up"])?;
            try_ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
            try_ip(&["-n", &hub, "link", "set", "dev", "br0", "up"])?;
            try_ip(&[
                "link", "add", &host_link, "type", "veth", "peer", "name", "host", "netns", &hub,
            ])?;
            try_ip(&[
                "-n", &hub, "link", "set", "dev", "host", "master", "br0", "up",
            ])?;
            try_ip(&["addr", "add", &format!("{prefix}.1/24"), "dev", &host_link])?;
            try_ip(&["link", "set", "dev", &host_link, "up"])
        })();
        if let Err(why) = made {
            let _ = try_ip(&["link", "delete", &host_link]);
            let _ = try_ip(&["netns", "delete", &hub]);
            panic!("cannot make the federation's network: {why}");
        }
        return Plan {
            tag,
            prefix,
            hub,
            host_link,
        };
    }
    panic!("no free subnet in 10.200.0.0/13 and no free names for a federation harness");
}
