//! Where maoctl connects and as whom: the global flags, the `MAO_*` variables and the
//! client config file with its named contexts, merged once (flags > env > context >
//! default).
//!
//! The file (`$XDG_CONFIG_HOME/mao/config.toml`, else `~/.config/mao/config.toml`, or
//! `--config`/`MAO_CONFIG`) holds tokens, so it is written with mode 0600 and no command
//! prints a token. The environment and the home directory are arguments, so tests pass
//! them in.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use mao_client::{ClientOptions, Token, DEFAULT_ENDPOINT};
use serde::{Deserialize, Serialize};

use crate::app::UsageError;

/// The variables read, beside the flags they stand in for.
pub const ENV_ENDPOINT: &str = "MAO_ENDPOINT";
pub const ENV_TOKEN: &str = "MAO_TOKEN";
pub const ENV_CA_CERT: &str = "MAO_CA_CERT";
pub const ENV_CONTEXT: &str = "MAO_CONTEXT";
pub const ENV_CONFIG: &str = "MAO_CONFIG";

/// The global flags that choose the daemon and the credentials.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Global options")]
pub struct ConnectionFlags {
    /// URL of a mao-orchestrator daemon, http:// or https:// [env: MAO_ENDPOINT] [default: the context's, else http://127.0.0.1:8080]
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint: Option<String>,

    /// API token, sent as `Authorization: Bearer` [env: MAO_TOKEN]; prefer the variable or a context's token_file: a flag shows in `ps`
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,

    /// CA certificate (PEM) that an https:// daemon's certificate must be signed by [env: MAO_CA_CERT] [default: the public CAs]
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,

    /// Context of the client config file to use [env: MAO_CONTEXT] [default: its current_context]
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,

    /// Client config file [env: MAO_CONFIG] [default: $XDG_CONFIG_HOME/mao/config.toml or ~/.config/mao/config.toml]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

/// The client config file: named contexts and the one used by default.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, Context>,
}

/// One daemon and how to talk to it.
#[derive(Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The token itself; `token_file` keeps it out of this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("token_file", &self.token_file)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// Where to connect and with what, after every source was merged.
#[derive(Debug)]
pub struct Connection {
    pub endpoint: String,
    pub options: ClientOptions,
    /// The CA file, to name it in messages.
    pub ca_cert: Option<PathBuf>,
    /// The context used, if any.
    pub context: Option<String>,
}

/// The config file's path: `--config`, `MAO_CONFIG`, `$XDG_CONFIG_HOME/mao/config.toml`,
/// `~/.config/mao/config.toml`; `None` without any of them.
pub fn config_path(
    flags: &ConnectionFlags,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(path) = &flags.config {
        return Some(path.clone());
    }
    if let Some(path) = env.get(ENV_CONFIG).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(dir) = env.get("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(Path::new(dir).join("mao/config.toml"));
    }
    home.filter(|h| !h.as_os_str().is_empty())
        .map(|home| home.join(".config/mao/config.toml"))
}

impl ClientConfig {
    /// Reads the file at `path`; a file that does not exist is an empty configuration.
    pub fn load(path: &Path) -> Result<ClientConfig, UsageError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ClientConfig::default())
            }
            Err(e) => {
                return Err(UsageError(format!(
                    "cannot read the client config {}: {e}",
                    path.display()
                )))
            }
        };
        toml::from_str(&text).map_err(|e| {
            let why = e.message().to_owned();
            UsageError(format!(
                "client config {} is not valid: {why}",
                path.display()
            ))
        })
    }

    /// Writes the file at `path` with mode 0600 (its directory created 0700), replacing it
    /// in one rename so a reader never sees half of it.
    pub fn save(&self, path: &Path) -> Result<(), UsageError> {
        let fail = |what: &str, e: std::io::Error| {
            UsageError(format!("cannot {what} {}: {e}", path.display()))
        };
        let text = toml::to_string(self)
            .map_err(|e| UsageError(format!("cannot write the client config: {e}")))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| fail("create the directory of", e))?;
        let temp = path.with_extension("toml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).map_err(|e| fail("write", e))?;
        // A temp file left by an older run may have kept wider permissions.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("write", e))?;
        }
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail("write", e))?;
        std::fs::rename(&temp, path).map_err(|e| fail("write", e))
    }

    /// The context called `name`, or what to do when there is none.
    pub fn context(&self, name: &str, path: &Path) -> Result<&Context, UsageError> {
        self.contexts.get(name).ok_or_else(|| {
            UsageError(format!(
                "no context {name:?} in {} (see maoctl context list; add one with maoctl context set {name} --endpoint URL)",
                path.display()
            ))
        })
    }
}

/// Where a value came from, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Flag,
    Env,
    Context,
    Default,
}

/// Merges flags, environment and the context into a [`Connection`].
///
/// A context's token and CA go only to its own endpoint: when `--endpoint` or
/// `MAO_ENDPOINT` names another daemon, the current context's token is not sent there
/// unless the context was chosen explicitly (`--context`, `MAO_CONTEXT`).
pub fn resolve(
    flags: &ConnectionFlags,
    env: &BTreeMap<String, String>,
    file: &ClientConfig,
    path: Option<&Path>,
) -> Result<Connection, UsageError> {
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
    let shown_path = path.unwrap_or(Path::new("the client config"));
    let explicit = flags.context.clone().or_else(|| var(ENV_CONTEXT));
    let chosen = explicit.clone().or_else(|| file.current_context.clone());
    let context = match &chosen {
        Some(name) => Some((name.clone(), file.context(name, shown_path)?)),
        None => None,
    };

    let (endpoint, endpoint_origin) = match (&flags.endpoint, var(ENV_ENDPOINT)) {
        (Some(flag), _) => (flag.clone(), Origin::Flag),
        (None, Some(env)) => (env, Origin::Env),
        (None, None) => match context.as_ref().and_then(|(_, c)| c.endpoint.clone()) {
            Some(endpoint) => (endpoint, Origin::Context),
            None => (DEFAULT_ENDPOINT.to_owned(), Origin::Default),
        },
    };
    let same_endpoint = |other: &Option<String>| {
        other.as_deref().map(|e| e.trim().trim_end_matches('/'))
            == Some(endpoint.trim().trim_end_matches('/'))
    };
    let context = context.filter(|(_, c)| {
        explicit.is_some()
            || matches!(endpoint_origin, Origin::Context | Origin::Default)
            || same_endpoint(&c.endpoint)
    });

    let base = path.and_then(Path::parent).unwrap_or(Path::new("."));
    let (token_text, token_origin) = match (&flags.token, var(ENV_TOKEN)) {
        (Some(flag), _) => (Some(flag.clone()), Origin::Flag),
        (None, Some(env)) => (Some(env), Origin::Env),
        (None, None) => match &context {
            Some((name, c)) => (context_token(name, c, base)?, Origin::Context),
            None => (None, Origin::Default),
        },
    };
    let token = token_text
        .map(|text| {
            Token::new(&text).map_err(|e| {
                let source = match token_origin {
                    Origin::Flag => "--token".to_owned(),
                    Origin::Env => ENV_TOKEN.to_owned(),
                    _ => format!(
                        "the token of context {:?}",
                        context.as_ref().map_or("", |(n, _)| n.as_str())
                    ),
                };
                UsageError(format!("{source}: {e}"))
            })
        })
        .transpose()?;

    let ca_cert = match (&flags.ca_cert, var(ENV_CA_CERT)) {
        (Some(flag), _) => Some(flag.clone()),
        (None, Some(env)) => Some(PathBuf::from(env)),
        (None, None) => context
            .as_ref()
            .and_then(|(_, c)| c.ca_cert.as_ref())
            .map(|p| base.join(p)),
    };
    let ca_cert_pem = ca_cert
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| {
                UsageError(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })
        })
        .transpose()?;
    Ok(Connection {
        endpoint,
        options: ClientOptions {
            token,
            ca_cert_pem,
            pinned_ca_sha256: None,
        },
        ca_cert,
        context: context.map(|(name, _)| name),
    })
}

/// The token a context holds, inline or in its token_file (relative to the config file).
fn context_token(name: &str, context: &Context, base: &Path) -> Result<Option<String>, UsageError> {
    if let Some(token) = &context.token {
        return Ok(Some(token.clone()));
    }
    let Some(file) = &context.token_file else {
        return Ok(None);
    };
    let path = base.join(file);
    std::fs::read_to_string(&path).map(Some).map_err(|e| {
        UsageError(format!(
            "cannot read the token_file {} of context {name:?}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sites(dir: &Path) -> (ClientConfig, PathBuf) {
        std::fs::write(dir.join("b.token"), "token-of-b\n").unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            r#"
current_context = "site-a"

[contexts.site-a]
endpoint = "https://a.example:8443"
token = "token-of-a"
ca_cert = "a-ca.pem"

[contexts.site-b]
endpoint = "http://b.example:8080/"
token_file = "b.token"
"#,
        )
        .unwrap();
        std::fs::write(dir.join("a-ca.pem"), "pem of a").unwrap();
        (ClientConfig::load(&path).unwrap(), path)
    }

    fn token(c: &Connection) -> Option<&str> {
        c.options.token.as_ref().map(Token::expose)
    }

    #[test]
    fn the_config_path_follows_flag_env_xdg_home() {
        let home = Path::new("/home/u");
        let none = ConnectionFlags::default();
        assert_eq!(
            config_path(&none, &env(&[]), Some(home)),
            Some(PathBuf::from("/home/u/.config/mao/config.toml"))
        );
        assert_eq!(
            config_path(&none, &env(&[("XDG_CONFIG_HOME", "/x")]), Some(home)),
            Some(PathBuf::from("/x/mao/config.toml"))
        );
        let vars = env(&[("XDG_CONFIG_HOME", "/x"), (ENV_CONFIG, "/e.toml")]);
        assert_eq!(
            config_path(&none, &vars, Some(home)),
            Some(PathBuf::from("/e.toml"))
        );
        let flag = ConnectionFlags {
            config: Some("/f.toml".into()),
            ..ConnectionFlags::default()
        };
        assert_eq!(
            config_path(&flag, &vars, Some(home)),
            Some(PathBuf::from("/f.toml"))
        );
        assert_eq!(config_path(&none, &env(&[]), None), None);
    }

    #[test]
    fn without_anything_the_default_endpoint_and_no_token() {
        let c = resolve(
            &ConnectionFlags::default(),
            &env(&[]),
            &ClientConfig::default(),
            None,
        )
        .unwrap();
        assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
        assert!(c.options.token.is_none() && c.options.ca_cert_pem.is_none());
        assert_eq!(c.context, None);
    }

    #[test]
    fn the_current_context_gives_endpoint_token_and_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = sites(dir.path());
        let c = resolve(&ConnectionFlags::default(), &env(&[]), &file, Some(&path)).unwrap();
        assert_eq!(c.endpoint, "https://a.example:8443");
        assert_eq!(token(&c), Some("token-of-a"));
        assert_eq!(c.ca_cert, Some(dir.path().join("a-ca.pem")));
        assert_eq!(c.options.ca_cert_pem.as_deref(), Some(&b"pem of a"[..]));
        assert_eq!(c.context.as_deref(), Some("site-a"));
    }

    #[test]
    fn flags_beat_env_beat_the_context() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = sites(dir.path());
        std::fs::write(dir.path().join("env-ca.pem"), "env pem").unwrap();
        let env_ca = dir.path().join("env-ca.pem");
        let vars = env(&[
            (ENV_CONTEXT, "site-b"),
            (ENV_TOKEN, "token-from-env"),
            (ENV_CA_CERT, env_ca.to_str().unwrap()),
        ]);
        // MAO_CONTEXT picks site-b; its endpoint; the variables' token and CA.
        let c = resolve(&ConnectionFlags::default(), &vars, &file, Some(&path)).unwrap();
        assert_eq!(c.endpoint, "http://b.example:8080/");
        assert_eq!(token(&c), Some("token-from-env"));
        assert_eq!(c.options.ca_cert_pem.as_deref(), Some(&b"env pem"[..]));
        // --context beats MAO_CONTEXT; --token beats MAO_TOKEN.
        let flags = ConnectionFlags {
            context: Some("site-a".into()),
            token: Some("token-from-flag".into()),
            ..ConnectionFlags::default()
        };
        let c = resolve(&flags, &vars, &file, Some(&path)).unwrap();
        assert_eq!(c.endpoint, "https://a.example:8443");
        assert_eq!(token(&c), Some("token-from-flag"));
        // Without variables the context's token_file (relative to the file) is read.
        let flags = ConnectionFlags {
            context: Some("site-b".into()),
            ..ConnectionFlags::default()
        };
        let c = resolve(&flags, &env(&[]), &file, Some(&path)).unwrap();
        assert_eq!(token(&c), Some("token-of-b"), "trimmed of its newline");
        assert!(c.options.ca_cert_pem.is_none());
        // MAO_ENDPOINT beats the context's endpoint; --endpoint beats MAO_ENDPOINT.
        let vars = env(&[(ENV_ENDPOINT, "http://env:1")]);
        let c = resolve(&flags, &vars, &file, Some(&path)).unwrap();
        assert_eq!(c.endpoint, "http://env:1");
        let flags = ConnectionFlags {
            endpoint: Some("http://flag:1".into()),
            ..flags
        };
        assert_eq!(
            resolve(&flags, &vars, &file, Some(&path)).unwrap().endpoint,
            "http://flag:1"
        );
    }

    #[test]
    fn a_current_context_token_goes_to_its_own_endpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = sites(dir.path());
        let elsewhere = ConnectionFlags {
            endpoint: Some("http://somewhere-else:8080".into()),
            ..ConnectionFlags::default()
        };
        let c = resolve(&elsewhere, &env(&[]), &file, Some(&path)).unwrap();
        assert_eq!(token(&c), None, "site-a's token must not go elsewhere");
        assert_eq!(c.context, None);
        let same = ConnectionFlags {
            endpoint: Some("https://a.example:8443/".into()),
            ..ConnectionFlags::default()
        };
        let c = resolve(&same, &env(&[]), &file, Some(&path)).unwrap();
        assert_eq!(token(&c), Some("token-of-a"));
        let chosen = ConnectionFlags {
            context: Some("site-a".into()),
            ..elsewhere
        };
        let c = resolve(&chosen, &env(&[]), &file, Some(&path)).unwrap();
        assert_eq!(token(&c), Some("token-of-a"), "an explicit context applies");
    }

    #[test]
    fn mistakes_are_usage_errors_that_show_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = sites(dir.path());
        let e = resolve(
            &ConnectionFlags {
                context: Some("site-z".into()),
                ..ConnectionFlags::default()
            },
            &env(&[]),
            &file,
            Some(&path),
        )
        .unwrap_err();
        assert!(e.0.contains("no context \"site-z\""), "{e}");
        let e = resolve(
            &ConnectionFlags::default(),
            &env(&[(ENV_TOKEN, "has space")]),
            &file,
            Some(&path),
        )
        .unwrap_err();
        assert!(e.0.starts_with("MAO_TOKEN: "), "{e}");
        assert!(!e.0.contains("has space"), "{e}");
        std::fs::remove_file(dir.path().join("b.token")).unwrap();
        let e = resolve(
            &ConnectionFlags::default(),
            &env(&[(ENV_CONTEXT, "site-b")]),
            &file,
            Some(&path),
        )
        .unwrap_err();
        assert!(e.0.contains("cannot read the token_file"), "{e}");
        let e = resolve(
            &ConnectionFlags {
                ca_cert: Some("/nope.pem".into()),
                ..ConnectionFlags::default()
            },
            &env(&[]),
            &ClientConfig::default(),
            None,
        )
        .unwrap_err();
        assert!(
            e.0.contains("cannot read the CA certificate /nope.pem"),
            "{e}"
        );
        assert!(
            !format!("{file:?}").contains("token-of-a"),
            "Debug shows a token"
        );
    }

    #[test]
    fn the_file_is_written_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/mao/config.toml");
        assert_eq!(ClientConfig::load(&path).unwrap(), ClientConfig::default());
        let mut file = ClientConfig {
            current_context: Some("a".into()),
            ..ClientConfig::default()
        };
        file.contexts.insert(
            "a".into(),
            Context {
                endpoint: Some("http://a:1".into()),
                token: Some("t".into()),
                ..Context::default()
            },
        );
        file.save(&path).unwrap();
        assert_eq!(ClientConfig::load(&path).unwrap(), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(
            &path,
            "current_context = \"a\"\n[contexts.a]\ntokn = \"x\"\n",
        )
        .unwrap();
        let e = ClientConfig::load(&path).unwrap_err();
        assert!(e.0.contains("unknown field"), "{e}");
    }
}
