//! Checking an endpoint URL and encoding item names into the paths under it.

use crate::Error;

/// Checks an endpoint URL and returns it without a trailing slash.
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = endpoint.trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(invalid(
            "the URL must start with http:// or https:// (for example http://127.0.0.1:8080)",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid(&format!(
            "unsupported scheme {scheme:?}; use http:// or https://"
        )));
    }
    if scheme == "https" && !cfg!(feature = "tls") {
        return Err(invalid(
            "https:// needs mao-client built with its \"tls\" feature; use http://",
        ));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "the URL must not contain a query, a fragment or spaces",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(invalid("credentials in the URL are not supported"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: [::1] or [::1]:8080.
        match bracketed.split_once(']') {
            Some((ip, tail)) if !ip.is_empty() && ip.parse::<std::net::Ipv6Addr>().is_ok() => {
                match tail {
                    "" => (ip, None),
                    _ => match tail.strip_prefix(':') {
                        Some(port) => (ip, Some(port)),
                        None => return Err(invalid("malformed IPv6 address")),
                    },
                }
            }
            _ => return Err(invalid("malformed IPv6 address")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the host is missing"));
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(invalid("the host name is malformed"));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(&format!(
                "{port:?} is not a port number (1 to 65535)"
            )));
        }
    }
    let path = path.trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{path}"))
}

/// `{collection}/{name}` with `name` percent-encoded as one path segment.
pub(crate) fn item_path(collection: &str, name: &str) -> Result<String, Error> {
    // URL parsers resolve these as dot-segments even when percent-encoded, so the
    // request would address the collection (or its parent) instead of an item.
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(format!("{collection}/{}", encode_segment(name)))
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
