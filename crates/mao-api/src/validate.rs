//! Validation at the edge: nothing reaches a store key or a container before it passed here.

use std::collections::BTreeMap;

/// One invalid field and why, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl std::error::Error for ValidationError {}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl ValidationError {
    /// An error about `field`.
    pub fn new(field: &str, message: impl Into<String>) -> ValidationError {
        ValidationError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The rule for names of tools, datasets, pipelines and nodes.
pub const NAME_RULE: &str = "1 to 63 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, no '..'";

/// Checks a name against `^[a-z0-9][a-z0-9._-]{0,62}$` (and no `..`).
pub fn name(field: &str, value: &str) -> Result<(), ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !value.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("{value:?} is not a valid name ({NAME_RULE})"),
        ))
    }
}

/// Free text: bounded length, no control characters except tab and newline.
pub fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), ValidationError> {
    if required && value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn path_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !valid {
            return false;
        }
    }
    true
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn registry_host(c: &str) -> bool {
    let (host, port) = match c.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (c, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// A Linux capability as Docker names it: upper-case letters, digits and `_`, without the
/// `CAP_` prefix (`NET_BIND_SERVICE`).
pub fn capability(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.starts_with("CAP_") {
        return Err(ValidationError::new(
            field,
            format!("write {value:?} without its CAP_ prefix"),
        ));
    }
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(ValidationError::new(
            field,
            format!("{value:?} is not a capability name (upper-case letters, digits and _, e.g. NET_BIND_SERVICE)"),
        ));
    }
    Ok(())
}

/// Checks a Docker image reference: `[registry[:port]/]path[:tag][@sha256:digest]`.
pub fn image(field: &str, value: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| {
        Err(ValidationError::new(
            field,
            format!("{value:?} is not a valid image reference ({why})"),
        ))
    };
    if value.is_empty() {
        return bad("empty");
    }
    if value.len() > 255 {
        return bad("longer than 255 characters");
    }
    let (rest, digest) = match value.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (value, None),
    };
    if let Some(d) = digest {
        let ok = d.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if !ok {
            return bad("the digest must be sha256: and 64 lower-case hex digits");
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return bad("the tag may hold letters, digits, '_', '.' and '-', up to 128");
        }
    }
    let mut components: Vec<&str> = path.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase())
        {
            if !registry_host(first) {
                return bad("the registry host is malformed");
            }
            components.remove(0);
        }
    }
    if components.iter().all(|c| path_component(c)) {
        Ok(())
    } else {
        bad("path components are lower-case letters and digits separated by '.', '_', '__' or '-'")
    }
}

/// Checks a git remote: `https://`, `http://`, `ssh://`, `git://`, `file://`, an absolute
/// path, or scp-like `user@host:path`.
pub fn git_url(field: &str, value: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| {
        Err(ValidationError::new(
            field,
            format!("{value:?} is not a git URL ({why}); use https://host/path, ssh://[user@]host[:port]/path, git@host:path or file:///path"),
        ))
    };
    if value.is_empty() {
        return bad("empty");
    }
    if value.len() > 2048 {
        return bad("longer than 2048 characters");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or control characters");
    }
    if value.starts_with('-') {
        return bad("starts with '-'");
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        match scheme {
            "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git" => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                if authority
                    .rsplit_once('@')
                    .is_some_and(|(userinfo, _)| userinfo.contains(':'))
                {
                    // The registry is shared: a password in a URL would be everyone's.
                    return bad("holds a password; keep secrets in the node's config (git_https_token), not in the registry");
                }
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                let host = match host.rsplit_once(':') {
                    Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => host,
                };
                if host.is_empty()
                    || !host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b))
                {
                    return bad("the host is missing or malformed");
                }
                if path.is_empty() {
                    return bad("the repository path is missing");
                }
                Ok(())
            }
            "file" => {
                if rest.starts_with('/') && rest.len() > 1 {
                    Ok(())
                } else {
                    bad("a file URL needs an absolute path")
                }
            }
            _ => bad("unsupported scheme"),
        }
    } else if value.starts_with('/') {
        if value.len() > 1 {
            Ok(())
        } else {
            bad("the path is the root directory")
        }
    } else if let Some((authority, path)) = value.split_once(':') {
        // scp-like syntax: [user@]host:path, with no slash before the colon.
        if authority.contains('/') || authority.is_empty() || path.is_empty() {
            return bad("scp-like URLs are [user@]host:path");
        }
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        {
            return bad("the host is missing or malformed");
        }
        Ok(())
    } else {
        bad("not a URL, an absolute path or host:path")
    }
}

/// Checks an endpoint: an absolute `http://` or `https://` URL with a host.
///
/// The message does not repeat the value, which may hold a token: each caller shows the
/// value as it may (whole, or redacted) before the message.
pub fn http_endpoint(field: &str, value: &str) -> Result<url::Url, ValidationError> {
    let url = url::Url::parse(value)
        .map_err(|e| ValidationError::new(field, format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ValidationError::new(
            field,
            "is not an http:// or https:// URL",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ValidationError::new(field, "has no host"));
    }
    Ok(url)
}

/// A command line: at most 256 arguments, none with a NUL byte.
pub fn command(field: &str, cmd: &[String]) -> Result<(), ValidationError> {
    if cmd.len() > 256 {
        return Err(ValidationError::new(field, "has more than 256 arguments"));
    }
    if cmd.iter().any(|a| a.contains('\0')) {
        return Err(ValidationError::new(
            field,
            "an argument contains a NUL byte",
        ));
    }
    Ok(())
}

/// Environment variables: POSIX names, values without NUL bytes.
pub fn env(field: &str, env: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    for (k, v) in env {
        let ok = k
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(ValidationError::new(
                field,
                format!("{k:?} is not a valid variable name (letters, digits and '_', not starting with a digit)"),
            ));
        }
        if v.contains('\0') {
            return Err(ValidationError::new(
                field,
                format!("the value of {k} contains a NUL byte"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints() {
        for ok in [
            "http://x",
            "https://hooks.example.com/mao?token=abc",
            "http://127.0.0.1:2379",
            "https://[::1]:2379/",
            "https://user:pw@h:8443/p#f",
        ] {
            let url = http_endpoint("url", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(url.host_str().is_some(), "{ok}");
        }
        for (bad, message) in [
            ("not a url", "is not a URL (relative URL without a base)"),
            (
                "127.0.0.1:2379",
                "is not a URL (relative URL without a base)",
            ),
            ("http://", "is not a URL (empty host)"),
            ("http://h:99999", "is not a URL (invalid port number)"),
            ("ftp://x/", "is not an http:// or https:// URL"),
            ("localhost:2379", "is not an http:// or https:// URL"),
        ] {
            let e = http_endpoint("url", bad).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.message.as_str()),
                ("url", message),
                "{bad}"
            );
        }
        let e = http_endpoint("url", "ftp://u:pa55@x/?token=t0ken").unwrap_err();
        assert!(
            !e.to_string().contains("pa55") && !e.to_string().contains("t0ken"),
            "{e}"
        );
    }

    #[test]
    fn names() {
        for ok in ["a", "demo-tool", "x.y_z", "0abc", &"a".repeat(63)] {
            assert!(name("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "-a",
            ".a",
            "a/b",
            "a..b",
            "..",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images() {
        for ok in [
            "alpine",
            "mao/demo-tool:latest",
            "localhost:5000/a/b:1.0",
            "ghcr.io/org/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com/x__y/z-w:v_1",
        ] {
            assert!(image("image", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Alpine",
            "a:",
            "a:-x",
            "a//b",
            "a@sha256:xyz",
            "a b",
            "-a",
            "a/",
            "http://x/y",
        ] {
            assert!(image("image", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_urls() {
        for ok in [
            "https://github.com/org/repo.git",
            "ssh://git@host:2222/srv/repo.git",
            "git@github.com:org/repo.git",
            "file:///srv/git/repo.git",
            "/srv/git/repo.git",
            "host:repo",
        ] {
            assert!(git_url("master", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "repo",
            "https://",
            "https://host",
            "ftp://host/x",
            "file://relative",
            "-oProxyCommand=x:y",
            "a b:c",
            "/",
            "./x:y",
            "https://bob:s3cret@host/x.git",
        ] {
            assert!(git_url("master", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn envs() {
        let mut e = BTreeMap::new();
        e.insert("GOOD_1".to_owned(), "v".to_owned());
        assert!(env("env", &e).is_ok());
        e.insert("1BAD".to_owned(), "v".to_owned());
        assert!(env("env", &e).is_err());
    }
}
