//! `[[sinks]]` of a node's configuration: where notifications go, which kinds, how often.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use mao_api::units::parse_duration;
use mao_api::NotificationKind;
use serde::Deserialize;

/// Default of `repeat_interval`: the same news reaches a sink at most once an hour.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(3600);
/// Default of `timeout`, for one delivery attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `retries`: attempts after the first one.
pub const DEFAULT_RETRIES: u32 = 5;

/// Headers a webhook sink sets itself; a configured header may not replace them.
const RESERVED_HEADERS: [&str; 4] = ["content-type", "content-length", "host", "idempotency-key"];

/// One sink of a node: common routing and retry settings plus the kind-specific part.
///
/// Deserialised from a `[[sinks]]` table (unknown fields and fields of another sink type
/// are refused); call [`SinkConfig::validate`] before use. `Debug` shows no password,
/// header value, URL user-info or query string.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawSink")]
pub struct SinkConfig {
    /// Unique per node; names the sink in logs and delivery records.
    pub name: String,
    /// The kinds this sink receives; empty = all kinds.
    pub kinds: Vec<NotificationKind>,
    repeat_interval: Duration,
    timeout: Duration,
    retries: u32,
    /// Where it goes.
    pub kind: SinkKind,
}

/// The kind-specific part of a sink (`type = "..."`).
#[derive(Clone, Debug, PartialEq)]
pub enum SinkKind {
    /// The daemon's own log (warn for warning and critical, info for info).
    Log,
    /// A JSON POST of the notification (schema `mao.notification/v1`).
    Webhook(WebhookSink),
    /// A Slack incoming webhook: one line of text.
    Slack(SlackSink),
    /// An email over SMTP.
    Email(EmailSink),
}

/// `type = "webhook"`.
#[derive(Clone, PartialEq)]
pub struct WebhookSink {
    /// `http://` or `https://`; may carry a token in its path or query.
    pub url: String,
    /// Extra request headers (e.g. `Authorization`); values are secrets.
    pub headers: BTreeMap<String, Secret>,
}

/// `type = "slack"`.
#[derive(Clone, PartialEq)]
pub struct SlackSink {
    /// The incoming-webhook URL; its path is the secret.
    pub url: String,
}

/// `type = "email"`.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailSink {
    pub host: String,
    /// Unset: 587 for starttls, 465 for tls, 25 for none.
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The name of an environment variable holding the password (instead of `password`).
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// Accept any server certificate (self-signed test servers only).
    pub accept_invalid_certs: bool,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (port 25; a local relay). No password is sent over it.
    #[serde(rename = "none")]
    Plain,
}

/// A secret value; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &redact_url(&self.url))
            .field("headers", &self.headers)
            .finish()
    }
}

impl fmt::Debug for SlackSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackSink")
            .field("url", &redact_slack_url(&self.url))
            .finish()
    }
}

impl SinkConfig {
    /// A sink with the default routing (all kinds), repeat interval, timeout and retries.
    pub fn new(name: impl Into<String>, kind: SinkKind) -> SinkConfig {
        SinkConfig {
            name: name.into(),
            kinds: Vec::new(),
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            kind,
        }
    }

    /// A notification with the same dedup key reaches this sink at most once per interval
    /// (`repeat_interval`, default 1h).
    pub fn repeat_interval(&self) -> Duration {
        self.repeat_interval
    }

    /// The bound of one delivery attempt (`timeout`, default 10s).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times a failed delivery is retried after the first attempt (`retries`,
    /// default 5).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The `type` of the sink as written in the configuration.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// True when notifications of `kind` go to this sink.
    pub fn routes(&self, kind: NotificationKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// Where the sink delivers, fit for a log line: a URL without secrets, `host:port`.
    pub fn target(&self) -> String {
        match &self.kind {
            SinkKind::Log => "the daemon's log".to_owned(),
            SinkKind::Webhook(w) => redact_url(&w.url),
            SinkKind::Slack(s) => redact_slack_url(&s.url),
            SinkKind::Email(e) => format!("{}:{}", e.host, e.port()),
        }
    }

    /// Checks every value; the message starts with the field it is about.
    ///
    /// The uniqueness of `name` among a node's sinks is the caller's to check.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| format!("name: {e}"))?;
        if self.timeout.is_zero() {
            return Err("timeout: must be longer than 0s (e.g. \"10s\")".to_owned());
        }
        match &self.kind {
            SinkKind::Log => Ok(()),
            SinkKind::Webhook(w) => {
                validate_http_url(&w.url, &redact_url(&w.url)).map_err(|e| format!("url: {e}"))?;
                for (header, value) in &w.headers {
                    validate_header(header, &value.0)
                        .map_err(|e| format!("headers.{header}: {e}"))?;
                }
                Ok(())
            }
            SinkKind::Slack(s) => validate_http_url(&s.url, &redact_slack_url(&s.url))
                .map_err(|e| format!("url: {e}")),
            SinkKind::Email(e) => e.validate(),
        }
    }
}

impl SinkKind {
    /// The `type` value of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Log => "log",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Slack(_) => "slack",
            SinkKind::Email(_) => "email",
        }
    }
}

impl EmailSink {
    /// The configured port, or the usual one of the security mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        })
    }

    /// The password from `password` or from the variable `password_env` names; `None`
    /// when the sink does not log in.
    pub fn resolve_password(&self) -> Result<Option<Secret>, String> {
        if let Some(p) = &self.password {
            return Ok(Some(p.clone()));
        }
        let Some(var) = &self.password_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
            Ok(_) => Err(format!(
                "password_env: environment variable {var} is empty; set it to the SMTP password"
            )),
            Err(_) => Err(format!(
                "password_env: environment variable {var} is not set; set it to the SMTP password"
            )),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() || self.host.contains(|c: char| c.is_whitespace()) {
            return Err(format!(
                "host: {:?} is not a host name or address (e.g. \"smtp.example.com\")",
                self.host
            ));
        }
        if self.port == Some(0) {
            return Err("port: 0 is not a port".to_owned());
        }
        parse_mailbox(&self.from).map_err(|e| format!("from: {e}"))?;
        if self.to.is_empty() {
            return Err("to: list at least one recipient address".to_owned());
        }
        for (i, to) in self.to.iter().enumerate() {
            parse_mailbox(to).map_err(|e| format!("to[{i}]: {e}"))?;
        }
        if self.password.is_some() && self.password_env.is_some() {
            return Err("password: set password or password_env, not both".to_owned());
        }
        let has_password = self.password.is_some() || self.password_env.is_some();
        match (&self.username, has_password) {
            (Some(_), false) => {
                return Err("password: a username needs password or password_env".to_owned())
            }
            (None, true) => {
                return Err("username: a password needs the username to log in with".to_owned())
            }
            _ => {}
        }
        if has_password && self.security == SmtpSecurity::Plain {
            return Err(
                "security: a password is never sent over an unencrypted connection; \
                 use security = \"starttls\" or \"tls\""
                    .to_owned(),
            );
        }
        if let Some(var) = &self.password_env {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(format!(
                    "password_env: {var:?} is not an environment variable name"
                ));
            }
        }
        self.resolve_password().map(|_| ())
    }
}

/// Parses an address like `ops@example.com` or `MAO <mao@example.com>`.
pub(crate) fn parse_mailbox(text: &str) -> Result<lettre::message::Mailbox, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not an email address (e.g. \"ops@example.com\" or \"MAO <mao@example.com>\")")
    })
}

/// `^[a-z0-9][a-z0-9._-]{0,62}$`.
fn validate_name(name: &str) -> Result<(), String> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_first && ok_rest && name.len() <= 63 {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a sink name: 1 to 63 of a-z 0-9 . _ -, starting with a letter or digit"
        ))
    }
}

/// `shown` is the URL as it may appear in a message (without its secrets).
fn validate_http_url(url: &str, shown: &str) -> Result<(), String> {
    mao_api::validate::http_endpoint("url", url)
        .map(|_| ())
        .map_err(|e| format!("{shown} {}", e.message))
}

fn validate_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err("not a header name (letters, digits and - only)".to_owned());
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err("set by the sink itself; remove it".to_owned());
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err("the value contains a line break".to_owned());
    }
    Ok(())
}

/// `scheme://host[:port]/...` of a URL: no user-info, path, query or fragment, which often
/// carry tokens (many webhooks hold theirs in the path, `/api/webhooks/ID/TOKEN`). This is
/// what errors, logs and the deliveries a `read` token sees show of a sink.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(host) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                let rest = if matches!(u.path(), "" | "/") && u.query().is_none() {
                    "/"
                } else {
                    "/..."
                };
                format!("{}://{host}{port}{rest}", u.scheme())
            }
            None => format!("{}:<redacted>", u.scheme()),
        },
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// `scheme://host[:port]/...`: a Slack webhook's path is its secret.
fn redact_slack_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/...",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        }
        _ => "<unparsable URL>".to_owned(),
    }
}

/// The `type` of a `[[sinks]]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SinkType {
    Log,
    Webhook,
    Slack,
    Email,
}

/// A `[[sinks]]` table as written: every field of every type, checked by `TryFrom`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    name: String,
    #[serde(rename = "type")]
    sink_type: SinkType,
    #[serde(default)]
    kinds: Vec<NotificationKind>,
    repeat_interval: Option<String>,
    timeout: Option<String>,
    retries: Option<u32>,
    url: Option<String>,
    headers: Option<BTreeMap<String, Secret>>,
    host: Option<String>,
    port: Option<u16>,
    security: Option<SmtpSecurity>,
    username: Option<String>,
    password: Option<Secret>,
    password_env: Option<String>,
    from: Option<String>,
    to: Option<Vec<String>>,
    accept_invalid_certs: Option<bool>,
}

impl TryFrom<RawSink> for SinkConfig {
    type Error = String;

    fn try_from(raw: RawSink) -> Result<SinkConfig, String> {
        let name = raw.name.clone();
        let type_name = format!("{:?}", raw.sink_type).to_ascii_lowercase();
        let present = [
            ("url", raw.url.is_some()),
            ("headers", raw.headers.is_some()),
            ("host", raw.host.is_some()),
            ("port", raw.port.is_some()),
            ("security", raw.security.is_some()),
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("password_env", raw.password_env.is_some()),
            ("from", raw.from.is_some()),
            ("to", raw.to.is_some()),
            ("accept_invalid_certs", raw.accept_invalid_certs.is_some()),
        ];
        let allowed: &[&str] = match raw.sink_type {
            SinkType::Log => &[],
            SinkType::Webhook => &["url", "headers"],
            SinkType::Slack => &["url"],
            SinkType::Email => &[
                "host",
                "port",
                "security",
                "username",
                "password",
                "password_env",
                "from",
                "to",
                "accept_invalid_certs",
            ],
        };
        if let Some((field, _)) = present
            .iter()
            .find(|(field, set)| *set && !allowed.contains(field))
        {
            return Err(format!(
                "sink {name:?}: `{field}` is not a field of a {type_name} sink"
            ));
        }
        let missing = |field: &str| format!("sink {name:?}: a {type_name} sink needs `{field}`");
        let duration = |field: &str, text: Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(t) => parse_duration(&t).map_err(|e| format!("sink {name:?}: {field}: {e}")),
        };
        let kind = match raw.sink_type {
            SinkType::Log => SinkKind::Log,
            SinkType::Webhook => SinkKind::Webhook(WebhookSink {
                url: raw.url.ok_or_else(|| missing("url"))?,
                headers: raw.headers.unwrap_or_default(),
            }),
            SinkType::Slack => SinkKind::Slack(SlackSink {
                url: raw.url.ok_or_else(|| missing("url"))?,
            }),
            SinkType::Email => SinkKind::Email(EmailSink {
                host: raw.host.ok_or_else(|| missing("host"))?,
                port: raw.port,
                security: raw.security.unwrap_or_default(),
                username: raw.username,
                password: raw.password,
                password_env: raw.password_env,
                from: raw.from.ok_or_else(|| missing("from"))?,
                to: raw.to.ok_or_else(|| missing("to"))?,
                accept_invalid_certs: raw.accept_invalid_certs.unwrap_or(false),
            }),
        };
        Ok(SinkConfig {
            repeat_interval: duration(
                "repeat_interval",
                raw.repeat_interval,
                DEFAULT_REPEAT_INTERVAL,
            )?,
            timeout: duration("timeout", raw.timeout, DEFAULT_TIMEOUT)?,
            retries: raw.retries.unwrap_or(DEFAULT_RETRIES),
            name: raw.name,
            kinds: raw.kinds,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct NodeConfig {
        sinks: Vec<SinkConfig>,
    }

    fn parse(toml_text: &str) -> Result<Vec<SinkConfig>, String> {
        toml::from_str::<NodeConfig>(toml_text)
            .map(|c| c.sinks)
            .map_err(|e| e.to_string())
    }

    fn one(toml_text: &str) -> SinkConfig {
        let mut sinks = parse(toml_text).unwrap();
        assert_eq!(sinks.len(), 1);
        sinks.remove(0)
    }

    /// Each `(table body, field)`: `base` + body parses, and `validate` names the field.
    fn assert_invalid(base: &str, cases: &[(&str, &str)]) {
        for (body, field) in cases {
            let err = one(&format!("{base}{body}")).validate().unwrap_err();
            assert!(err.starts_with(field), "{body}: {err}");
        }
    }

    #[test]
    fn every_type_parses_with_defaults() {
        let sinks = parse(
            r#"
            [[sinks]]
            name = "log"
            type = "log"

            [[sinks]]
            name = "hook"
            type = "webhook"
            url = "https://hooks.example.com/mao?token=abc"
            kinds = ["spike", "run_failed"]
            repeat_interval = "30m"
            timeout = "5s"
            retries = 2
            headers = { Authorization = "Bearer xyz" }

            [[sinks]]
            name = "slack"
            type = "slack"
            url = "https://hooks.slack.com/services/T0/B0/secret"

            [[sinks]]
            name = "mail"
            type = "email"
            host = "smtp.example.com"
            username = "mao"
            password_env = "PATH"
            from = "MAO <mao@example.com>"
            to = ["ops@example.com"]
            "#,
        )
        .unwrap();
        for s in &sinks {
            s.validate().unwrap();
        }
        assert_eq!(sinks[0].kind, SinkKind::Log);
        assert_eq!(sinks[0].repeat_interval, DEFAULT_REPEAT_INTERVAL);
        assert_eq!(sinks[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(sinks[0].retries, DEFAULT_RETRIES);
        assert!(sinks[0].routes(NotificationKind::PushConflict));
        let hook = &sinks[1];
        assert_eq!(hook.repeat_interval, Duration::from_secs(1800));
        assert_eq!(hook.timeout, Duration::from_secs(5));
        assert_eq!(hook.retries, 2);
        assert!(hook.routes(NotificationKind::Spike));
        assert!(!hook.routes(NotificationKind::PushFailing));
        // The path may hold the webhook's token: never shown.
        assert_eq!(hook.target(), "https://hooks.example.com/...");
        let SinkKind::Email(mail) = &sinks[3].kind else {
            panic!("not email: {:?}", sinks[3]);
        };
        assert_eq!(mail.security, SmtpSecurity::Starttls);
        assert_eq!(mail.port(), 587);
        assert!(!mail.accept_invalid_certs);
        assert_eq!(sinks[3].target(), "smtp.example.com:587");
    }

    #[test]
    fn unknown_and_foreign_fields_are_refused() {
        let err = parse("[[sinks]]\nname = \"a\"\ntype = \"log\"\ncolour = \"red\"\n").unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err =
            parse("[[sinks]]\nname = \"a\"\ntype = \"log\"\nurl = \"http://x/\"\n").unwrap_err();
        assert!(err.contains("`url` is not a field of a log sink"), "{err}");
        let err = parse("[[sinks]]\nname = \"a\"\ntype = \"webhook\"\n").unwrap_err();
        assert!(err.contains("needs `url`"), "{err}");
        let err = parse("[[sinks]]\nname = \"a\"\ntype = \"pager\"\n").unwrap_err();
        assert!(err.contains("pager"), "{err}");
        let err =
            parse("[[sinks]]\nname = \"a\"\ntype = \"log\"\nkinds = [\"spikes\"]\n").unwrap_err();
        assert!(err.contains("spikes"), "{err}");
        let err =
            parse("[[sinks]]\nname = \"a\"\ntype = \"log\"\ntimeout = \"10x\"\n").unwrap_err();
        assert!(err.contains("timeout:"), "{err}");
    }

    #[test]
    fn validate_names_the_field() {
        let base = "[[sinks]]\ntype = \"webhook\"\n";
        let cases = [
            ("name = \"Bad Name\"\nurl = \"http://x/\"", "name:"),
            ("name = \"a\"\nurl = \"ftp://x/\"", "url:"),
            ("name = \"a\"\nurl = \"not a url\"", "url:"),
            ("name = \"a\"\nurl = \"http://x/\"\ntimeout = \"0s\"", "timeout:"),
            (
                "name = \"a\"\nurl = \"http://x/\"\nheaders = { \"Content-Type\" = \"text/plain\" }",
                "headers.Content-Type:",
            ),
            (
                "name = \"a\"\nurl = \"http://x/\"\nheaders = { \"Bad Header\" = \"v\" }",
                "headers.Bad Header:",
            ),
        ];
        assert_invalid(base, &cases);
        let name64 = "a".repeat(64);
        assert!(validate_name(&name64).is_err());
        assert!(validate_name(&name64[..63]).is_ok());
        assert!(validate_name("0k.a_b-c").is_ok());
        assert!(validate_name("-a").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn email_validation() {
        let base = "[[sinks]]\nname = \"m\"\ntype = \"email\"\nhost = \"smtp.example.com\"\n";
        let cases = [
            ("from = \"nope\"\nto = [\"a@b.c\"]", "from:"),
            ("from = \"a@b.c\"\nto = []", "to:"),
            ("from = \"a@b.c\"\nto = [\"a@b.c\", \"x\"]", "to[1]:"),
            ("from = \"a@b.c\"\nto = [\"a@b.c\"]\nusername = \"u\"", "password:"),
            ("from = \"a@b.c\"\nto = [\"a@b.c\"]\npassword = \"p\"", "username:"),
            (
                "from = \"a@b.c\"\nto = [\"a@b.c\"]\nusername = \"u\"\npassword = \"p\"\nsecurity = \"none\"",
                "security:",
            ),
            (
                "from = \"a@b.c\"\nto = [\"a@b.c\"]\nusername = \"u\"\npassword_env = \"MAO_NOTIFY_TEST_UNSET_VARIABLE\"",
                "password_env:",
            ),
            (
                "from = \"a@b.c\"\nto = [\"a@b.c\"]\nusername = \"u\"\npassword = \"p\"\npassword_env = \"PATH\"",
                "password:",
            ),
        ];
        assert_invalid(base, &cases);
        let plain = one(&format!(
            "{base}from = \"a@b.c\"\nto = [\"a@b.c\"]\nsecurity = \"none\""
        ));
        plain.validate().unwrap();
        assert_eq!(plain.target(), "smtp.example.com:25");
        let tls = one(&format!(
            "{base}from = \"a@b.c\"\nto = [\"a@b.c\"]\nsecurity = \"tls\""
        ));
        assert_eq!(tls.target(), "smtp.example.com:465");
    }

    #[test]
    fn debug_hides_secrets() {
        let sinks = parse(
            r#"
            [[sinks]]
            name = "hook"
            type = "webhook"
            url = "https://user:pa55@hooks.example.com:8443/mao?token=t0ken#frag"
            headers = { Authorization = "Bearer s3cret" }

            [[sinks]]
            name = "slack"
            type = "slack"
            url = "https://hooks.slack.com/services/T0/B0/sl4ck"

            [[sinks]]
            name = "mail"
            type = "email"
            host = "smtp.example.com"
            username = "mao"
            password = "hunter2"
            from = "mao@example.com"
            to = ["ops@example.com"]
            "#,
        )
        .unwrap();
        let debug = format!("{sinks:?} {sinks:#?}");
        for secret in [
            "pa55", "t0ken", "frag", "s3cret", "sl4ck", "hunter2", "user:",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(
            debug.contains("https://hooks.example.com:8443/...") && !debug.contains("/mao"),
            "{debug}"
        );
        assert!(debug.contains("Authorization"), "{debug}");
        assert!(debug.contains("https://hooks.slack.com/..."), "{debug}");
        for s in &sinks {
            let target = s.target();
            for secret in ["pa55", "t0ken", "sl4ck"] {
                assert!(!target.contains(secret), "{target}");
            }
        }
        let err = one(
            "[[sinks]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"ftp://u:pa55@x/?token=t0ken\"",
        )
        .validate()
        .unwrap_err();
        assert!(!err.contains("pa55") && !err.contains("t0ken"), "{err}");
    }
}
