//! Checking an SSH host key against an OpenSSH `known_hosts` file.
//!
//! libgit2 only reads `~/.ssh/known_hosts`; a node names its own file in its config, so the
//! check is done here, from the raw key libgit2 hands to the certificate callback. Plain,
//! wildcard, negated and hashed (`|1|salt|hash`, Debian's default) host fields are
//! understood, as are `@revoked` markers; `@cert-authority` lines are ignored.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Checks `key` (the SSH wire blob of the host key) for `host`:`port`; the error is the
/// reason the key is not trusted.
pub(crate) fn check(path: &Path, host: &str, port: u16, key: &[u8]) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read known_hosts file {}: {e}", path.display()))?;
    check_text(&text, host, port, key).map_err(|reason| match reason {
        Mismatch::Unknown(name) => format!("{name} is not listed in {}", path.display()),
        Mismatch::Changed(name) => format!(
            "the key {name} presented differs from the one in {} (possible man-in-the-middle)",
            path.display()
        ),
        Mismatch::Revoked(name) => format!(
            "the key {name} presented is marked @revoked in {}",
            path.display()
        ),
    })
}

#[derive(Debug, PartialEq)]
enum Mismatch {
    Unknown(String),
    Changed(String),
    Revoked(String),
}

fn check_text(text: &str, host: &str, port: u16, key: &[u8]) -> Result<(), Mismatch> {
    // OpenSSH writes a non-default port as `[host]:port` and looks up only that form.
    let host = host.to_ascii_lowercase();
    let name = if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    };
    let mut listed = false;
    let mut matched = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next();
        let marker = match hosts {
            Some(m) if m.starts_with('@') => {
                hosts = fields.next();
                Some(m)
            }
            _ => None,
        };
        let (Some(hosts), Some(_key_type), Some(encoded)) = (hosts, fields.next(), fields.next())
        else {
            continue;
        };
        if !hosts_match(hosts, &name) {
            continue;
        }
        let Ok(blob) = STANDARD.decode(encoded) else {
            continue;
        };
        match marker {
            None => {
                listed = true;
                matched |= blob == key;
            }
            Some("@revoked") if blob == key => return Err(Mismatch::Revoked(name)),
            Some(_) => {}
        }
    }
    if matched {
        Ok(())
    } else if listed {
        Err(Mismatch::Changed(name))
    } else {
        Err(Mismatch::Unknown(name))
    }
}

fn hosts_match(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if glob(pattern.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

fn hashed_match(field: &str, name: &str) -> bool {
    let Some((salt, hash)) = field.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, as in OpenSSH host patterns.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"\x00\x00\x00\x0bssh-ed25519key-bytes";

    fn line(hosts: &str, key: &[u8]) -> String {
        format!("{hosts} ssh-ed25519 {}\n", STANDARD.encode(key))
    }

    #[test]
    fn plain_host_and_port_forms() {
        let text = line("example.org,10.0.0.1", KEY) + &line("[127.0.0.1]:2222", KEY);
        assert_eq!(check_text(&text, "example.org", 22, KEY), Ok(()));
        assert_eq!(check_text(&text, "10.0.0.1", 22, KEY), Ok(()));
        assert_eq!(check_text(&text, "127.0.0.1", 2222, KEY), Ok(()));
        // A non-default port is looked up only as [host]:port.
        assert_eq!(
            check_text(&text, "example.org", 2222, KEY),
            Err(Mismatch::Unknown("[example.org]:2222".into()))
        );
    }

    #[test]
    fn changed_key_is_refused() {
        let text = line("example.org", b"another key");
        assert_eq!(
            check_text(&text, "example.org", 22, KEY),
            Err(Mismatch::Changed("example.org".into()))
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let text = line("*.example.org,!bad.example.org", KEY);
        assert_eq!(check_text(&text, "git.example.org", 22, KEY), Ok(()));
        assert!(check_text(&text, "bad.example.org", 22, KEY).is_err());
        assert!(check_text(&text, "example.com", 22, KEY).is_err());
    }

    #[test]
    fn hashed_entries() {
        // Made with: HMAC-SHA1(salt, "[127.0.0.1]:2222"), as `ssh-keygen -H` writes them.
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let field = format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash));
        let text = line(&field, KEY);
        assert_eq!(check_text(&text, "127.0.0.1", 2222, KEY), Ok(()));
        assert!(check_text(&text, "127.0.0.1", 22, KEY).is_err());
    }

    #[test]
    fn revoked_key_is_refused_even_if_listed() {
        let text =
            line("example.org", KEY) + "@revoked example.org ssh-ed25519 " + &STANDARD.encode(KEY);
        assert_eq!(
            check_text(&text, "example.org", 22, KEY),
            Err(Mismatch::Revoked("example.org".into()))
        );
    }

    #[test]
    fn comments_and_junk_are_skipped() {
        let text = "# comment\n\nnot-a-valid-line\n".to_string() + &line("example.org", KEY);
        assert_eq!(check_text(&text, "EXAMPLE.org", 22, KEY), Ok(()));
    }
}
