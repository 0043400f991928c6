//! The node's git identity and the secrets it uses to reach remotes.

use std::fmt;
use std::path::PathBuf;

use git2::Signature;

use crate::error::{Error, Result};

/// A node's git identity (author and committer of its commits) and the secrets it uses
/// to reach remotes. Comes from node-local config; never stored in the shared store.
///
/// `Debug` shows which secrets are configured, never their value.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Author and committer name of the node's commits.
    pub name: String,
    /// Author and committer email of the node's commits.
    pub email: String,
    /// Private key for `ssh://` and `user@host:path` remotes; without it the SSH agent
    /// is asked.
    pub ssh_key: Option<PathBuf>,
    /// OpenSSH known_hosts file the remote's host key must be listed in; without it,
    /// libgit2 checks `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Token sent as the password to `https://` remotes.
    pub https_token: Option<String>,
}

impl Credentials {
    /// An identity with no secrets: enough for file:// remotes and public https remotes.
    pub fn identity(name: impl Into<String>, email: impl Into<String>) -> Credentials {
        Credentials {
            name: name.into(),
            email: email.into(),
            ..Credentials::default()
        }
    }

    /// The signature of a commit made now by this identity.
    pub(crate) fn signature(&self) -> Result<Signature<'static>> {
        if self.name.trim().is_empty() || self.email.trim().is_empty() {
            return Err(Error::invalid(
                "git identity",
                "name and email must both be set in the node config",
            ));
        }
        Signature::now(&self.name, &self.email)
            .map_err(|e| Error::invalid("git identity", e.message().to_string()))
    }

    /// Removes the token from a message that may quote it (libgit2 errors can).
    pub(crate) fn scrub(&self, message: &str) -> String {
        let mut out = redact_urls(message);
        if let Some(token) = self.https_token.as_deref().filter(|t| !t.is_empty()) {
            out = out.replace(token, "***");
        }
        out
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("ssh_key", &self.ssh_key)
            .field("known_hosts", &self.known_hosts)
            .field(
                "https_token",
                &self.https_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A URL as it may appear in a message: without the `user:password@` part.
pub(crate) fn redact_url(url: &str) -> String {
    redact_urls(url)
}

/// Strips the user-info part of every `scheme://user-info@host` in `text`.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => rest = &tail[at + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Whether `url` reaches its remote over SSH (`ssh://`, `git+ssh://` or scp-like
/// `user@host:path`).
pub(crate) fn is_ssh(url: &str) -> bool {
    if let Some((scheme, _)) = url.split_once("://") {
        return matches!(scheme, "ssh" | "git+ssh" | "ssh+git");
    }
    // scp-like syntax: a colon before any slash.
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The host a remote URL connects to, lowercased (`None` for local paths and `file://`).
pub(crate) fn url_host(url: &str) -> Option<String> {
    let authority = match url.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(""),
        // scp-like `user@host:path`
        None if is_ssh(url) => url.split(':').next().unwrap_or(""),
        None => return None,
    };
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The port an SSH URL connects to (22 unless the URL says otherwise).
pub(crate) fn ssh_port(url: &str) -> u16 {
    let Some((_, rest)) = url.split_once("://") else {
        return 22;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let port = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, p)| p),
        None => host_port.split_once(':').map(|(_, p)| p),
    };
    port.and_then(|p| p.parse().ok()).unwrap_or(22)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let creds = Credentials {
            https_token: Some("s3cr3t-token".into()),
            ..Credentials::identity("node-a", "a@example.org")
        };
        let shown = format!("{creds:?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn scrub_removes_tokens_and_user_info() {
        let creds = Credentials {
            https_token: Some("tok123".into()),
            ..Credentials::default()
        };
        let msg = "failed to reach 'https://bob:tok123@example.org/x.git' (tok123)";
        assert_eq!(
            creds.scrub(msg),
            "failed to reach 'https://example.org/x.git' (***)"
        );
        assert_eq!(redact_url("ssh://git@host:2222/x"), "ssh://host:2222/x");
        assert_eq!(redact_url("file:///tmp/x"), "file:///tmp/x");
    }

    #[test]
    fn ssh_urls() {
        assert!(is_ssh("ssh://git@host/x"));
        assert!(is_ssh("git@host:x.git"));
        assert!(!is_ssh("https://host/x"));
        assert!(!is_ssh("file:///tmp/x"));
        assert!(!is_ssh("/tmp/x"));
        assert_eq!(ssh_port("ssh://git@127.0.0.1:2222/srv/x.git"), 2222);
        assert_eq!(ssh_port("ssh://[::1]:2200/x"), 2200);
        assert_eq!(ssh_port("ssh://host/x"), 22);
        assert_eq!(ssh_port("git@host:x.git"), 22);
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://tok@Example.org:8443/x.git").as_deref(),
            Some("example.org")
        );
        assert_eq!(url_host("ssh://git@[::1]:2200/x").as_deref(), Some("::1"));
        assert_eq!(url_host("git@host:x.git").as_deref(), Some("host"));
        assert_eq!(url_host("file:///tmp/x"), None);
        assert_eq!(url_host("/tmp/x"), None);
    }
}
