//! The run keys (`run_*` limits, `max_concurrent_runs`, `allow_docker_socket`,
//! `engine_timeout`) and
//! `[detector]`; what a container may be is in `containers.rs`.

use std::time::Duration;

use mao_api::units::parse_size;

use super::containers::fit_defaults;
use super::error::{ConfigError, Origins};
use super::layer::trimmed;
use mao_node::executor::{ContainerPolicy, RunSettings};

/// The defaults of runs on this node.
#[derive(clap::Args, Debug, Default)]
pub(super) struct RunsLayer {
    /// Default wall-clock limit of a run [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub run_timeout: Option<String>,
    /// Default memory limit of a run, e.g. 512m [default: 1g].
    #[arg(long, value_name = "SIZE")]
    pub run_memory: Option<String>,
    /// Default CPU limit of a run, e.g. 1.5 [default: 1].
    #[arg(long, value_name = "CPUS", value_parser = |t: &str| trimmed::<f64>(t, "a number of CPUs"))]
    pub run_cpus: Option<f64>,
    /// Default process limit of a run [default: 1024].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<i64>(t, "a whole number"))]
    pub run_pids: Option<i64>,
    /// Log bytes kept per run; the rest is dropped after a marker [default: 16m].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub run_log_cap: Option<u64>,
    /// Finished runs kept per tool, with their logs [default: 50].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<usize>(t, "a whole number"))]
    pub run_retention: Option<usize>,
    /// Runs executing at once; more wait queued [default: 8].
    #[arg(long, value_name = "N", value_parser = |t: &str| trimmed::<usize>(t, "a whole number"))]
    pub max_concurrent_runs: Option<usize>,
    /// Let tools that ask for it have the Docker socket [default: false].
    #[arg(long, value_name = "true|false", value_parser = |t: &str| trimmed::<bool>(t, "true or false"))]
    pub allow_docker_socket: Option<bool>,
    /// Longest the Docker Engine may leave a request unanswered; a run that needs it then
    /// fails engine_unresponsive [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub engine_timeout: Option<String>,
}

impl RunsLayer {
    /// The run settings, judging metrics with `detector` (the file's `[detector]`) if set,
    /// with the containers' `policy` and queue bound.
    pub(super) fn resolve(
        self,
        detector: Option<mao_api::DetectorSpec>,
        (policy, max_queued): (ContainerPolicy, usize),
        origins: &Origins,
    ) -> Result<RunSettings, ConfigError> {
        let defaults = RunSettings::default();
        let mut limits = mao_api::RunLimits {
            timeout: self.run_timeout.or(defaults.limits.timeout),
            memory: self.run_memory.or(defaults.limits.memory),
            cpus: self.run_cpus.or(defaults.limits.cpus),
            pids: self.run_pids.or(defaults.limits.pids),
        };
        if let Err(e) = limits.validate() {
            let key = match e.field.as_str() {
                "timeout" => "run_timeout",
                "memory" => "run_memory",
                "cpus" => "run_cpus",
                _ => "run_pids",
            };
            return Err(origins.bad(key, e.message));
        }
        fit_defaults(&mut limits, &policy, origins)?;
        let log_cap = self.run_log_cap.unwrap_or(defaults.log_cap);
        if log_cap < 1024 {
            return Err(origins.bad("run_log_cap", "must be at least 1k"));
        }
        let retention = self.run_retention.unwrap_or(defaults.retention);
        if retention == 0 {
            return Err(origins.bad("run_retention", "must keep at least 1 run"));
        }
        let max_concurrent = self.max_concurrent_runs.unwrap_or(defaults.max_concurrent);
        if !(1..=1024).contains(&max_concurrent) {
            return Err(origins.bad("max_concurrent_runs", "must be between 1 and 1024"));
        }
        let engine_timeout = match self.engine_timeout {
            None => defaults.engine_timeout,
            Some(text) => {
                let timeout = mao_api::units::parse_duration(&text)
                    .map_err(|e| origins.bad("engine_timeout", e))?;
                if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&timeout) {
                    return Err(origins.bad("engine_timeout", "must be between 1s and 1h"));
                }
                timeout
            }
        };
        let detector = match detector {
            Some(detector) => {
                detector
                    .validate()
                    .map_err(|m| origins.bad("detector", m))?;
                detector
            }
            None => defaults.detector,
        };
        Ok(RunSettings {
            limits,
            log_cap,
            retention,
            max_concurrent,
            max_queued,
            allow_docker_socket: self
                .allow_docker_socket
                .unwrap_or(defaults.allow_docker_socket),
            policy,
            detector,
            engine_timeout,
        })
    }
}
