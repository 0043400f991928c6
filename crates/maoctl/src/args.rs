//! Argument groups and value parsers that several commands share: run limits, the
//! `--env`/`--cmd`/`--` overrides, the schedule policy, names and ids.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use mao_api::{CatchUp, Concurrency, RunLimits, RunRequest, RunStatus, ScheduleMode};

use crate::app::UsageError;

/// Limits of a run; unset ones fall back to the tool's, then to the node's.
#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Wall-clock limit, e.g. 90s, 10m or 1h30m; then the run is killed and ends timed_out
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, help_heading = "Limits")]
    pub timeout: Option<String>,
    /// Memory limit, e.g. 512m or 2g (at least 6m)
    #[arg(long, value_name = "SIZE", value_parser = parse_memory, help_heading = "Limits")]
    pub memory: Option<String>,
    /// CPUs the run may use, e.g. 0.5 or 1.5
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_cpus,
        allow_negative_numbers = true,
        help_heading = "Limits"
    )]
    pub cpus: Option<f64>,
    /// Maximum number of processes in the container
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(i64).range(1..),
        allow_negative_numbers = true,
        help_heading = "Limits"
    )]
    pub pids: Option<i64>,
}

impl LimitArgs {
    /// The limits as the API carries them.
    pub fn to_limits(&self) -> RunLimits {
        RunLimits {
            timeout: self.timeout.clone(),
            memory: self.memory.clone(),
            cpus: self.cpus,
            pids: self.pids,
        }
    }
}

/// What a run executes and with which environment, over the tool's: `--env`, and the
/// command as `--cmd` arguments or after `--`. Written once for `tool add`, `tool run` and
/// `tool schedule`; the help speaks of "this run", and the other two reword it with
/// `mut_arg` so that each help says whose runs the flags change.
#[derive(Debug, Default, Args)]
pub struct RunOverrides {
    /// Environment variable of this run, added to the tool's (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Argument of the command this run executes instead of the tool's (repeatable)
    #[arg(
        long = "cmd",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "args"
    )]
    pub cmd: Vec<String>,
    /// The command this run executes instead of the tool's, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

impl RunOverrides {
    /// The command, from `--cmd` or after `--`; `None` keeps the tool's (or the image's).
    pub fn command(&self) -> Option<Vec<String>> {
        if !self.cmd.is_empty() {
            Some(self.cmd.clone())
        } else if !self.args.is_empty() {
            Some(self.args.clone())
        } else {
            None
        }
    }

    /// The overrides as the API carries them, not yet validated; a variable given twice
    /// is a usage error.
    pub fn request(&self) -> anyhow::Result<RunRequest> {
        Ok(RunRequest {
            env: env_map(self.env.clone())?,
            cmd: self.command(),
            limits: self.limits.to_limits(),
        })
    }
}

/// When and how a schedule fires: the flags `maoctl tool schedule` and
/// `maoctl pipeline run --cron` share. Each needs a cron expression (the argument `cron`).
#[derive(Debug, Default, Args)]
pub struct SchedulePolicy {
    /// IANA time zone the expression is read in, e.g. Europe/Zurich (default: UTC)
    #[arg(long, value_name = "ZONE", requires = "cron")]
    pub tz: Option<String>,
    /// Which nodes run each slot (default: every-node)
    #[arg(long, value_enum, value_name = "MODE", requires = "cron")]
    pub mode: Option<ModeArg>,
    /// What a slot does while the previous run is still going (default: forbid)
    #[arg(long, value_enum, value_name = "POLICY", requires = "cron")]
    pub concurrency: Option<ConcurrencyArg>,
    /// Which slots missed while the node was down run late (default: latest)
    #[arg(long, value_enum, value_name = "POLICY", requires = "cron")]
    pub catch_up: Option<CatchUpArg>,
    /// How late a missed slot may still start, e.g. 30m or 2h (default: 18h)
    #[arg(long, value_name = "DURATION", value_parser = parse_deadline, requires = "cron")]
    pub deadline: Option<String>,
    /// Id of the schedule (default: the name and a random suffix)
    #[arg(long, value_name = "ID", requires = "cron")]
    pub id: Option<String>,
    /// Create the schedule paused: it fires once `maoctl schedule resume ID` is run
    #[arg(long, requires = "cron")]
    pub paused: bool,
}

/// `--mode`: which nodes run a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// every node that holds the schedule runs each slot
    EveryNode,
    /// exactly one node of the federation runs each slot
    Once,
}

impl From<ModeArg> for ScheduleMode {
    fn from(mode: ModeArg) -> ScheduleMode {
        match mode {
            ModeArg::EveryNode => ScheduleMode::EveryNode,
            ModeArg::Once => ScheduleMode::Once,
        }
    }
}

/// `--concurrency`: what a slot does while the previous run is still going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConcurrencyArg {
    /// the slot is skipped
    Forbid,
    /// both run
    Allow,
    /// the previous run is cancelled and the new one starts
    Replace,
}

impl From<ConcurrencyArg> for Concurrency {
    fn from(policy: ConcurrencyArg) -> Concurrency {
        match policy {
            ConcurrencyArg::Forbid => Concurrency::Forbid,
            ConcurrencyArg::Allow => Concurrency::Allow,
            ConcurrencyArg::Replace => Concurrency::Replace,
        }
    }
}

/// `--catch-up`: which missed slots run late.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CatchUpArg {
    /// a slot runs on time or not at all
    None,
    /// the newest missed slot within the deadline
    Latest,
    /// every missed slot within the deadline, oldest first
    All,
}

impl From<CatchUpArg> for CatchUp {
    fn from(policy: CatchUpArg) -> CatchUp {
        match policy {
            CatchUpArg::None => CatchUp::None,
            CatchUpArg::Latest => CatchUp::Latest,
            CatchUpArg::All => CatchUp::All,
        }
    }
}

/// Checks a `--timeout` as the daemon would (`10m`, `1h30m`, above zero).
pub fn parse_timeout(s: &str) -> Result<String, String> {
    let limits = RunLimits {
        timeout: Some(s.trim().to_owned()),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(s.trim().to_owned())
}

/// Checks a `--memory` as the daemon would (`512m`, `2g`, at least 6m).
pub fn parse_memory(s: &str) -> Result<String, String> {
    let limits = RunLimits {
        memory: Some(s.trim().to_owned()),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(s.trim().to_owned())
}

/// Checks a `--cpus` as the daemon would (above 0, at most 1024).
pub fn parse_cpus(s: &str) -> Result<f64, String> {
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of CPUs (e.g. 0.5, 2)"))?;
    let limits = RunLimits {
        cpus: Some(cpus),
        ..RunLimits::default()
    };
    limits.validate().map_err(|e| e.message)?;
    Ok(cpus)
}

/// Checks a `--deadline` as the daemon would (`30m`, `2h`, above zero).
pub fn parse_deadline(s: &str) -> Result<String, String> {
    let deadline = mao_api::units::parse_duration(s.trim())?;
    if deadline.is_zero() {
        return Err("must be above zero".to_owned());
    }
    Ok(s.trim().to_owned())
}

/// Parses a run status by its wire name (`timed_out`).
pub fn parse_status(s: &str) -> Result<RunStatus, String> {
    s.trim().parse()
}

/// Parses `KEY=VALUE`; the value may be empty and may contain `=`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("{s:?} has no name before '='")),
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
        None => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// The `--env` pairs as a map; a name given twice is a usage error.
pub fn env_map(pairs: Vec<(String, String)>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (key, value) in pairs {
        if env.insert(key.clone(), value).is_some() {
            return Err(UsageError(format!("--env {key} is given twice")).into());
        }
    }
    Ok(env)
}

/// Checks a name or id as the daemon would; `field` names it in the message.
pub fn validate_name(field: &str, value: &str) -> Result<(), UsageError> {
    mao_api::validate::name(field, value).map_err(|e| UsageError(e.to_string()))
}

/// Checks that `id` is a ULID; the message calls it `what`, printed by `listed_by`.
pub fn validate_ulid(id: &str, what: &str, listed_by: &str) -> Result<(), String> {
    let valid = ulid::Ulid::from_string(id).is_ok()
        // 26 base-32 digits hold 130 bits; a ULID has 128, so the first digit is at most 7
        // (the decoder would drop the extra bits without a word).
        && id.as_bytes()[0] <= b'7';
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not {what} (26 characters, as printed by {listed_by})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("A=1").unwrap(),
            ("A".to_owned(), "1".to_owned())
        );
        assert_eq!(
            parse_key_value("URL=http://x/?a=b").unwrap(),
            ("URL".to_owned(), "http://x/?a=b".to_owned())
        );
        assert_eq!(
            parse_key_value("EMPTY=").unwrap(),
            ("EMPTY".to_owned(), String::new())
        );
        assert!(parse_key_value("NOVALUE")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_key_value("=x").unwrap_err().contains("no name"));
    }

    #[test]
    fn deadlines() {
        assert_eq!(parse_deadline(" 2h ").unwrap(), "2h");
        assert_eq!(parse_deadline("1h30m").unwrap(), "1h30m");
        assert_eq!(parse_deadline("90").unwrap(), "90");
        assert_eq!(parse_deadline("0s").unwrap_err(), "must be above zero");
        assert!(parse_deadline("2 days")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_deadline("").is_err());
    }
}
