//! What a tool container may be on this node: `run_user`, `run_network`, `run_tmp_size`,
//! `allowed_images`, `allowed_capabilities`, the maximums `run_*_max`, `max_queued_runs`.

use mao_api::units::{format_size, parse_size};
use mao_api::Network;
use mao_node::executor::policy::{self, ContainerPolicy, Maximums};

use super::error::{ConfigError, Origins};
use super::layer::trimmed;

/// The node's rules for tool containers.
#[derive(clap::Args, Debug, Default)]
pub(super) struct ContainersLayer {
    /// uid:gid tool containers run as [default: 65534:65534 when the daemon is root, else the daemon's own].
    #[arg(long, value_name = "UID:GID")]
    pub run_user: Option<String>,
    /// Network of tool containers, bridge or none; a tool may only ask for none [default: bridge].
    #[arg(long, value_name = "bridge|none", value_parser = |t: &str| t.parse::<Network>())]
    pub run_network: Option<Network>,
    /// Size of the tmpfs at /tmp of a tool container (its root filesystem is read-only) [default: 64m].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub run_tmp_size: Option<u64>,
    /// Image patterns tools may use and the node may pull (mao/*, registry.example.org/team/*, exact refs); images present on the engine are allowed too, never pulled [default: none].
    #[arg(long, value_name = "PATTERN[,PATTERN...]", value_delimiter = ',')]
    pub allowed_images: Option<Vec<String>>,
    /// Capabilities tools may ask to get back, e.g. NET_BIND_SERVICE [default: none].
    #[arg(long, value_name = "CAP[,CAP...]", value_delimiter = ',')]
    pub allowed_capabilities: Option<Vec<String>>,
    /// Most memory a tool or a run may ask for [default: the host's memory].
    #[arg(long, value_name = "SIZE")]
    pub run_memory_max: Option<String>,
    /// Most CPUs a tool or a run may ask for; at most the host's cores [default: the host's cores].
    #[arg(long, value_name = "CPUS", value_parser = |t: &str| trimmed::<f64>(t, "a number of CPUs"))]
    pub run_cpus_max: Option<f64>,
    /// Most processes a tool or a run may ask for [default: 32768].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<i64>(t, "a whole number"))]
    pub run_pids_max: Option<i64>,
    /// Runs that may wait for a slot; one more is refused with 429 [default: 64].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<usize>(t, "a whole number"))]
    pub max_queued_runs: Option<usize>,
}

impl ContainersLayer {
    /// The policy and the queue bound; `daemon` is the daemon's uid and gid.
    pub(super) fn resolve(
        self,
        daemon: (u32, u32),
        origins: &Origins,
    ) -> Result<(ContainerPolicy, usize), ConfigError> {
        let defaults = ContainerPolicy::default();
        let run_user = match self.run_user {
            Some(user) => {
                let ids = policy::parse_user(&user).map_err(|m| origins.bad("run_user", m))?;
                if daemon.0 != 0 && ids != daemon {
                    return Err(origins.bad(
                        "run_user",
                        format!(
                            "the daemon runs as {}:{}, not root, so it cannot hand a tool's data folder to {user}; run it as root or leave run_user unset",
                            daemon.0, daemon.1
                        ),
                    ));
                }
                if ids.0 == 0 {
                    return Err(origins.bad(
                        "run_user",
                        "tools never run as root; choose another uid (e.g. 65534:65534)",
                    ));
                }
                format!("{}:{}", ids.0, ids.1)
            }
            None if daemon.0 == 0 => policy::NOBODY.to_owned(),
            None => format!("{}:{}", daemon.0, daemon.1),
        };
        let tmp_size = self.run_tmp_size.unwrap_or(defaults.tmp_size);
        if tmp_size < 1 << 20 {
            return Err(origins.bad("run_tmp_size", "must be at least 1m"));
        }
        let allowed_images = self.allowed_images.unwrap_or_default();
        for pattern in &allowed_images {
            let ok = !pattern.is_empty()
                && pattern.len() <= 255
                && pattern.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(origins.bad(
                    "allowed_images",
                    format!("{pattern:?} is not an image pattern (e.g. mao/*, alpine:3.19)"),
                ));
            }
        }
        let mut allowed_capabilities = std::collections::BTreeSet::new();
        for capability in self.allowed_capabilities.unwrap_or_default() {
            mao_api::validate::capability("allowed_capabilities", &capability)
                .map_err(|e| origins.bad("allowed_capabilities", e.message))?;
            allowed_capabilities.insert(capability);
        }
        let memory_bytes = match self.run_memory_max {
            Some(text) => {
                let bytes = parse_size(&text).map_err(|m| origins.bad("run_memory_max", m))?;
                if bytes < 6 << 20 {
                    return Err(
                        origins.bad("run_memory_max", "must be at least 6m (Docker's minimum)")
                    );
                }
                bytes
            }
            None => defaults.max.memory_bytes,
        };
        let cpus = self.run_cpus_max.unwrap_or(defaults.host_cpus);
        if !(cpus.is_finite() && cpus > 0.0) {
            return Err(origins.bad("run_cpus_max", "must be above 0"));
        }
        if cpus > defaults.host_cpus {
            return Err(origins.bad(
                "run_cpus_max",
                format!("{cpus} is above this host's {} cores", defaults.host_cpus),
            ));
        }
        let pids = self.run_pids_max.unwrap_or(defaults.max.pids);
        if pids < 1 {
            return Err(origins.bad("run_pids_max", "must be at least 1"));
        }
        let max_queued = self.max_queued_runs.unwrap_or(64);
        if max_queued > 100_000 {
            return Err(origins.bad("max_queued_runs", "must be at most 100000"));
        }
        let policy = ContainerPolicy {
            run_user,
            network: self.run_network.unwrap_or(defaults.network),
            tmp_size,
            allowed_images,
            allowed_capabilities,
            max: Maximums {
                memory_bytes,
                cpus,
                pids,
            },
            host_cpus: defaults.host_cpus,
        };
        Ok((policy, max_queued))
    }
}

/// The default limits of runs, each checked against its maximum: a default above it
/// names both keys. Defaults that nobody set are lowered to the maximum instead.
pub(super) fn fit_defaults(
    limits: &mut mao_api::RunLimits,
    policy: &ContainerPolicy,
    origins: &Origins,
) -> Result<(), ConfigError> {
    let max = &policy.max;
    // A default above its maximum: lowered when it is the built-in one, refused when set.
    let fit = |key: &str, value: String, max: String| -> Result<(), ConfigError> {
        if origins.is_set(key) {
            Err(origins.bad(key, format!("{value} is above {key}_max ({max})")))
        } else {
            Ok(())
        }
    };
    if let Some(memory) = limits.memory.clone() {
        let bytes = parse_size(&memory).map_err(|m| origins.bad("run_memory", m))?;
        if bytes > max.memory_bytes {
            fit("run_memory", memory, format_size(max.memory_bytes))?;
            limits.memory = Some(format_size(max.memory_bytes));
        }
    }
    if let Some(cpus) = limits.cpus.filter(|cpus| *cpus > max.cpus) {
        fit("run_cpus", cpus.to_string(), max.cpus.to_string())?;
        limits.cpus = Some(max.cpus);
    }
    if let Some(pids) = limits.pids.filter(|pids| *pids > max.pids) {
        fit("run_pids", pids.to_string(), max.pids.to_string())?;
        limits.pids = Some(max.pids);
    }
    Ok(())
}
