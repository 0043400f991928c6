//! What a tool container may be on this node: the user it runs as, its network, the
//! capabilities it may get back, the images it may come from and the most it may use.
//!
//! Checked twice with the same code: when a tool is registered or a run is asked for (a
//! clear 403 or 422 at request time), and again before a container is made, because a tool
//! registered through another node of the federation met that node's policy, not ours.

use std::collections::BTreeSet;

use mao_api::units::{format_size, parse_size};
use mao_api::{Network, RunLimits, Tool};

use super::RunError;

/// Why this node refuses a tool: a policy of the node, not a malformed request.
#[derive(Debug, thiserror::Error)]
pub enum Forbidden {
    #[error("image {image} is not allowed on this node: it matches none of allowed_images ({patterns}) and is not present on the node's Docker Engine, so it is never pulled; add a pattern to allowed_images or load the image on the node first")]
    Image { image: String, patterns: String },
    #[error("tool {tool:?} asks for capability {capability} but this node allows {allowed} (node key allowed_capabilities)")]
    Capability {
        tool: String,
        capability: String,
        allowed: String,
    },
    #[error("tool {tool:?} asks for network {wanted} but this node's run_network is {node}; a tool may only ask for the same network or none")]
    Network {
        tool: String,
        wanted: &'static str,
        node: &'static str,
    },
}

/// The most a run may ask for on this node.
#[derive(Clone, Debug, PartialEq)]
pub struct Maximums {
    pub memory_bytes: u64,
    pub cpus: f64,
    pub pids: i64,
}

/// The node's rules for tool containers (node keys `run_user`, `run_network`,
/// `run_tmp_size`, `allowed_images`, `allowed_capabilities`, `run_*_max`).
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerPolicy {
    /// `uid:gid` every tool container runs as.
    pub run_user: String,
    /// The network of a tool that does not ask for one, and the loosest one allowed.
    pub network: Network,
    /// Size of the tmpfs at `/tmp` (the root filesystem is read-only).
    pub tmp_size: u64,
    /// Image patterns (`mao/*`, exact references) that may be used and pulled; an image
    /// matching none may still be used when it is present on the engine, never pulled.
    pub allowed_images: Vec<String>,
    /// Capabilities a tool may ask to get back.
    pub allowed_capabilities: BTreeSet<String>,
    pub max: Maximums,
    /// The host's CPUs: no run may ask for more.
    pub host_cpus: f64,
}

/// The user of nobody, which owns nothing on a host.
pub const NOBODY: &str = "65534:65534";

impl Default for ContainerPolicy {
    /// The policy of a node that configures nothing.
    fn default() -> ContainerPolicy {
        let host_cpus = host_cpus();
        ContainerPolicy {
            run_user: default_run_user(),
            network: Network::Bridge,
            tmp_size: 64 << 20,
            allowed_images: Vec::new(),
            allowed_capabilities: BTreeSet::new(),
            max: Maximums {
                memory_bytes: host_memory().unwrap_or(1 << 30).max(1 << 30),
                cpus: host_cpus,
                pids: 32768,
            },
            host_cpus,
        }
    }
}

/// The daemon's own uid:gid.
pub fn daemon_user() -> String {
    let (uid, gid) = daemon_ids();
    format!("{uid}:{gid}")
}

/// The daemon's uid and gid.
pub fn daemon_ids() -> (u32, u32) {
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// `nobody` when the daemon is root (it can hand the data folder over and take it back);
/// the daemon's own uid:gid otherwise, as it can give its files to no one else.
pub fn default_run_user() -> String {
    if daemon_ids().0 == 0 {
        NOBODY.to_owned()
    } else {
        daemon_user()
    }
}

/// The CPUs this process may use.
pub fn host_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// The host's physical memory in bytes, if the system says.
fn host_memory() -> Option<u64> {
    // SAFETY: sysconf reads a system constant and touches no memory.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && page > 0).then(|| pages as u64 * page as u64)
}

/// Parses `uid:gid` (both numbers).
pub fn parse_user(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not uid:gid (two numbers, e.g. {NOBODY})");
    let (uid, gid) = text.trim().split_once(':').ok_or_else(bad)?;
    Ok((
        uid.parse().map_err(|_| bad())?,
        gid.parse().map_err(|_| bad())?,
    ))
}

impl ContainerPolicy {
    /// Whether `image` matches a pattern of `allowed_images` (and so may also be pulled).
    pub fn image_matches(&self, image: &str) -> bool {
        self.allowed_images
            .iter()
            .any(|pattern| image_matches(pattern, image))
    }

    /// The patterns as a message shows them.
    fn patterns(&self) -> String {
        if self.allowed_images.is_empty() {
            "none set".to_owned()
        } else {
            self.allowed_images.join(", ")
        }
    }

    /// The refusal of an image that matches no pattern and is not on the engine.
    pub fn image_refused(&self, image: &str) -> RunError {
        Forbidden::Image {
            image: image.to_owned(),
            patterns: self.patterns(),
        }
        .into()
    }

    /// Everything about `tool` that needs no engine: capabilities, network, limits.
    pub fn check_tool(&self, tool: &Tool) -> Result<(), RunError> {
        for capability in &tool.capabilities {
            if !self.allowed_capabilities.contains(capability) {
                let allowed = if self.allowed_capabilities.is_empty() {
                    "none".to_owned()
                } else {
                    let list: Vec<&str> = self
                        .allowed_capabilities
                        .iter()
                        .map(String::as_str)
                        .collect();
                    format!("only {}", list.join(", "))
                };
                return Err(Forbidden::Capability {
                    tool: tool.name.clone(),
                    capability: capability.clone(),
                    allowed,
                }
                .into());
            }
        }
        if let Some(wanted) = tool.network {
            if !wanted.is_at_least_as_strict_as(self.network) {
                return Err(Forbidden::Network {
                    tool: tool.name.clone(),
                    wanted: wanted.as_str(),
                    node: self.network.as_str(),
                }
                .into());
            }
        }
        self.check_limits(&tool.limits)
    }

    /// Limits above the node's maximums (or cpus above the host's) are refused, naming
    /// the limit and the maximum.
    pub fn check_limits(&self, limits: &RunLimits) -> Result<(), RunError> {
        if let Some(memory) = &limits.memory {
            let bytes =
                parse_size(memory).map_err(|m| mao_api::ValidationError::new("memory", m))?;
            if bytes > self.max.memory_bytes {
                return Err(RunError::AboveMaximum {
                    limit: "memory",
                    value: memory.clone(),
                    max: format_size(self.max.memory_bytes),
                    key: "run_memory_max",
                });
            }
        }
        if let Some(cpus) = limits.cpus {
            if cpus > self.host_cpus {
                return Err(RunError::AboveMaximum {
                    limit: "cpus",
                    value: cpus.to_string(),
                    max: self.host_cpus.to_string(),
                    key: "the host's cores",
                });
            }
            if cpus > self.max.cpus {
                return Err(RunError::AboveMaximum {
                    limit: "cpus",
                    value: cpus.to_string(),
                    max: self.max.cpus.to_string(),
                    key: "run_cpus_max",
                });
            }
        }
        if let Some(pids) = limits.pids {
            if pids > self.max.pids {
                return Err(RunError::AboveMaximum {
                    limit: "pids",
                    value: pids.to_string(),
                    max: self.max.pids.to_string(),
                    key: "run_pids_max",
                });
            }
        }
        Ok(())
    }

    /// The network a run of `tool` gets.
    pub fn network_of(&self, tool: &Tool) -> Network {
        tool.network.unwrap_or(self.network)
    }
}

/// Whether `image` matches `pattern`: `*` stands for any run of characters (`/` too), and
/// a pattern without a tag also matches the image's `:latest`.
pub fn image_matches(pattern: &str, image: &str) -> bool {
    glob(pattern.as_bytes(), image.as_bytes())
        || (!has_tag_or_digest(pattern)
            && image
                .strip_suffix(":latest")
                .is_some_and(|bare| glob(pattern.as_bytes(), bare.as_bytes())))
}

/// Whether a reference names a tag or a digest (`a/b:1`, `a@sha256:..`).
fn has_tag_or_digest(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    image.contains('@') || last.contains(':')
}

/// `*`-only glob matching, iterative with one backtrack point (linear for one `*`).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ContainerPolicy {
        ContainerPolicy {
            run_user: NOBODY.to_owned(),
            network: Network::Bridge,
            tmp_size: 64 << 20,
            allowed_images: vec![
                "mao/*".to_owned(),
                "registry.example.org/team/*".to_owned(),
                "alpine".to_owned(),
            ],
            allowed_capabilities: BTreeSet::from(["NET_BIND_SERVICE".to_owned()]),
            max: Maximums {
                memory_bytes: 2 << 30,
                cpus: 2.0,
                pids: 4096,
            },
            host_cpus: 4.0,
        }
    }

    fn tool() -> Tool {
        serde_json::from_value(serde_json::json!({
            "name": "t", "author": "a", "image": "mao/demo-tool:latest",
            "data_repo": "https://example.org/d.git", "code_repo": "https://example.org/c.git",
            "artefact": ""
        }))
        .unwrap()
    }

    #[test]
    fn image_patterns_match_what_they_say() {
        let p = policy();
        assert!(p.image_matches("mao/demo-tool:latest"));
        assert!(p.image_matches("mao/demo-tool"));
        assert!(p.image_matches("registry.example.org/team/a/b:1"));
        assert!(p.image_matches("alpine"));
        assert!(p.image_matches("alpine:latest"));
        assert!(!p.image_matches("alpine:3.19"), "an exact ref is exact");
        assert!(!p.image_matches("evil/mao/x"));
        assert!(!p.image_matches("registry.example.org/other/x"));
        assert!(!p.image_matches("maoxyz/tool"));
        assert!(!ContainerPolicy {
            allowed_images: Vec::new(),
            ..policy()
        }
        .image_matches("mao/demo-tool:latest"));
        assert!(image_matches("*", "anything/at:all"));
        assert!(image_matches("a*b*c", "axxbyyc"));
        assert!(!image_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn capabilities_outside_the_allow_list_are_forbidden() {
        let mut t = tool();
        t.capabilities = vec!["NET_BIND_SERVICE".to_owned()];
        policy().check_tool(&t).unwrap();
        t.capabilities.push("SYS_ADMIN".to_owned());
        let e = policy().check_tool(&t).unwrap_err();
        assert!(
            matches!(e, RunError::Forbidden(Forbidden::Capability { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("SYS_ADMIN"), "{e}");
        assert!(e.to_string().contains("allowed_capabilities"), "{e}");
    }

    #[test]
    fn a_tool_network_may_only_be_as_strict_or_stricter() {
        let mut t = tool();
        t.network = Some(Network::None);
        policy().check_tool(&t).unwrap();
        let closed = ContainerPolicy {
            network: Network::None,
            ..policy()
        };
        closed.check_tool(&t).unwrap();
        assert_eq!(closed.network_of(&tool()), Network::None);
        t.network = Some(Network::Bridge);
        let e = closed.check_tool(&t).unwrap_err();
        assert!(
            matches!(e, RunError::Forbidden(Forbidden::Network { .. })),
            "{e}"
        );
    }

    #[test]
    fn limits_above_the_maximums_name_the_limit_and_the_maximum() {
        let p = policy();
        let ok = RunLimits {
            memory: Some("2g".into()),
            cpus: Some(2.0),
            pids: Some(4096),
            timeout: None,
        };
        p.check_limits(&ok).unwrap();
        let e = p
            .check_limits(&RunLimits {
                memory: Some("3g".into()),
                ..ok.clone()
            })
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("memory 3g") && text.contains("2g") && text.contains("run_memory_max"),
            "{text}"
        );
        let e = p
            .check_limits(&RunLimits {
                cpus: Some(8.0),
                ..ok.clone()
            })
            .unwrap_err();
        assert!(e.to_string().contains("host"), "{e}");
        let e = p
            .check_limits(&RunLimits {
                cpus: Some(3.0),
                ..ok.clone()
            })
            .unwrap_err();
        assert!(e.to_string().contains("run_cpus_max"), "{e}");
        let e = p
            .check_limits(&RunLimits {
                pids: Some(5000),
                ..ok
            })
            .unwrap_err();
        assert!(e.to_string().contains("run_pids_max"), "{e}");
    }

    #[test]
    fn users_parse_as_two_numbers() {
        assert_eq!(parse_user("65534:65534"), Ok((65534, 65534)));
        assert!(parse_user("nobody").is_err());
        assert!(parse_user("1:x").is_err());
    }
}
