use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads `args` after `--node n1 --data-dir /tmp/x` (unless `args` sets them), with
/// `env` as the whole environment and no home.
fn load_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, LoadError> {
    let mut argv = vec!["mao-orchestrator"];
    for (flag, value) in [("--node", "n1"), ("--data-dir", "/tmp/x")] {
        if !args.contains(&flag) {
            argv.extend([flag, value]);
        }
    }
    argv.extend(args);
    Config::load(argv, &env(vars), None)
}

fn load(args: &[&str]) -> Result<Config, LoadError> {
    load_env(args, &[])
}

fn invalid(result: Result<Config, LoadError>) -> ConfigError {
    match result {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(LoadError::Usage(e)) => panic!("not a config error: {e}"),
        Err(LoadError::Invalid(e)) => e,
    }
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("mao.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults() {
    let c = load(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store, StoreKind::Embedded);
    assert_eq!(c.etcd_endpoints, vec!["http://127.0.0.1:2379"]);
    assert_eq!(c.etcd_prefix, "/mao");
    assert_eq!(c.advertise_url, "http://127.0.0.1:8080");
    assert_eq!(c.membership_ttl, Duration::from_secs(10));
    assert_eq!(c.log, "info");
    let runs = mao_node::executor::RunSettings::default();
    assert_eq!(c.runs.limits.timeout, runs.limits.timeout);
    assert_eq!(c.runs.limits.pids, runs.limits.pids);
    assert_eq!(
        (c.runs.log_cap, c.runs.retention, c.runs.max_concurrent),
        (runs.log_cap, runs.retention, runs.max_concurrent)
    );
    assert!(!c.runs.allow_docker_socket);
    assert_eq!(c.runs.engine_timeout, Duration::from_secs(60));
    assert!(c.sinks.is_empty());
}

#[test]
fn engine_timeout_is_read_from_every_source() {
    assert_eq!(
        load(&["--engine-timeout", "3s"])
            .unwrap()
            .runs
            .engine_timeout,
        Duration::from_secs(3)
    );
    let c = load_env(&[], &[("MAO_ENGINE_TIMEOUT", "2m")]).unwrap();
    assert_eq!(c.runs.engine_timeout, Duration::from_secs(120));
}

#[test]
fn bad_values_name_their_key() {
    let cases: [(&[&str], &str); 16] = [
        (&["--listen", "nope"], "listen"),
        (&["--node", "Bad/Name"], "node"),
        (&["--store", "redis"], "store"),
        (&["--etcd-endpoints", "127.0.0.1:2379"], "etcd_endpoints"),
        (&["--etcd-prefix", "mao"], "etcd_prefix"),
        (&["--membership-ttl", "1"], "membership_ttl"),
        (&["--membership-ttl", "x"], "membership_ttl"),
        (&["--advertise-url", "ftp://x"], "advertise_url"),
        (&["--run-cpus", "many"], "run_cpus"),
        (&["--run-log-cap", "12"], "run_log_cap"),
        (&["--max-concurrent-runs", "0"], "max_concurrent_runs"),
        (&["--allow-docker-socket", "yes"], "allow_docker_socket"),
        (&["--log", "a=b=c"], "log"),
        (&["--engine-timeout", "soon"], "engine_timeout"),
        (&["--engine-timeout", "0s"], "engine_timeout"),
        (&["--engine-timeout", "2h"], "engine_timeout"),
    ];
    for (args, key) in cases {
        let e = invalid(load(args));
        assert_eq!(e.key, key, "{e}");
        assert_eq!(e.origin, Source::Flag(args[0].to_owned()), "{e}");
    }
}

#[test]
fn messages_are_kept() {
    let e = invalid(load(&["--listen", "nowhere"]));
    assert_eq!(
        e.to_string(),
        "config key \"listen\" (from flag --listen): \"nowhere\" is not ADDR:PORT, e.g. 127.0.0.1:8080"
    );
    let e = invalid(load(&["--store", "redis"]));
    assert_eq!(e.message, "\"redis\" is not one of embedded, etcd");
    let e = invalid(load(&["--membership-ttl", "1"]));
    assert_eq!(e.message, "1 is outside 2..=300 seconds");
    let e = invalid(load(&["--run-retention", " x "]));
    assert_eq!(e.message, "\" x \" is not a whole number");
    let c = load(&["--run-retention", " 3 ", "--allow-docker-socket", "true "]).unwrap();
    assert_eq!(c.runs.retention, 3, "numbers are trimmed, as before");
    assert!(c.runs.allow_docker_socket);
}

#[test]
fn etcd_endpoints() {
    for (list, expected) in [
        (
            "http://10.0.0.1:2379, http://h:2379/",
            &["http://10.0.0.1:2379", "http://h:2379/"][..],
        ),
        ("http://h:80", &["http://h:80"]),
    ] {
        let c = load(&["--etcd-endpoints", list]).unwrap();
        assert_eq!(c.etcd_endpoints, expected, "{list}");
    }
    for (endpoint, message) in [
        ("http://h", "needs a port"),
        ("http://h:2379/x", "is not http(s)://HOST:PORT"),
        ("http://h:2379?q", "is not http(s)://HOST:PORT"),
        ("localhost", "is not a URL"),
        ("ftp://h:21", "is not an http:// or https:// URL"),
        ("http://h:99999", "is not a URL"),
        (" , ", "at least one URL is needed"),
    ] {
        let e = invalid(load(&["--etcd-endpoints", endpoint]));
        assert_eq!(e.key, "etcd_endpoints");
        assert!(e.message.contains(message), "{endpoint}: {e}");
    }
}

#[test]
fn file_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "listen = \"127.0.0.1:9000\"\nstore = \"etcd\"\netcd_endpoints = [\"http://10.0.0.1:2379\"]\netcd_prefix = \"/fed/\"\n",
    );
    let c = load(&[
        "--config",
        path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:9001",
    ])
    .unwrap();
    assert_eq!(c.listen.port(), 9001, "a flag beats the file");
    assert_eq!(c.store, StoreKind::Etcd);
    assert_eq!(c.etcd_endpoints, vec!["http://10.0.0.1:2379"]);
    assert_eq!(c.etcd_prefix, "/fed");

    write(dir.path(), "lisen = \"x\"\n");
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "config");
    assert!(e.message.contains("lisen"), "{e}");
    assert_eq!(e.origin, Source::File(path.clone()));
    assert!(
        e.message.contains("listen"),
        "the message lists the keys: {e}"
    );

    for text in ["config = \"other.toml\"\n", "[listen]\nport = 1\n"] {
        write(dir.path(), text);
        let e = invalid(load(&["--config", path.to_str().unwrap()]));
        assert_eq!(e.origin, Source::File(path.clone()), "{text}: {e}");
    }

    let e = invalid(load(&["--config", "/nonexistent/mao.toml"]));
    assert_eq!(e.key, "config");
    assert_eq!(e.origin, Source::Flag("--config".into()), "{e}");
    assert!(
        e.message.contains("cannot read /nonexistent/mao.toml"),
        "{e}"
    );
}

#[test]
fn file_values_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "membership_ttl = 30\nrun_cpus = 1.5\nrun_pids = 64\nrun_retention = 2\nallow_docker_socket = true\nrun_log_cap = \"64k\"\netcd_endpoints = \"http://a:1,http://b:2\"\nlog = \"debug\"\n",
    );
    let c = load(&["--config", path.to_str().unwrap()]).unwrap();
    assert_eq!(c.membership_ttl, Duration::from_secs(30));
    assert_eq!(c.runs.limits.cpus, Some(1.5));
    assert_eq!(c.runs.limits.pids, Some(64));
    assert_eq!(c.runs.retention, 2);
    assert!(c.runs.allow_docker_socket);
    assert_eq!(c.runs.log_cap, 64 << 10);
    assert_eq!(c.etcd_endpoints, vec!["http://a:1", "http://b:2"]);
    assert_eq!(c.log, "debug");

    write(dir.path(), "etcd_endpoints = []\n");
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "etcd_endpoints", "an empty list is refused: {e}");

    write(dir.path(), "[detector]\nmethod = \"nope\"\n");
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "detector", "{e}");
    assert_eq!(e.origin, Source::File(path.clone()));

    write(
        dir.path(),
        "[[sinks]]\nname = \"a\"\ntype = \"log\"\n[[sinks]]\nname = \"a\"\ntype = \"log\"\n",
    );
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "sinks", "{e}");
    assert!(e.message.contains("two sinks are named \"a\""), "{e}");
}

#[test]
fn flags_beat_env_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "run_timeout = \"3m\"\n");
    let config = path.to_str().unwrap();
    let timeout = |args: &[&str], vars: &[(&str, &str)]| {
        load_env(args, vars).unwrap().runs.limits.timeout.unwrap()
    };
    let env_and_file = [("MAO_RUN_TIMEOUT", "2m"), ("MAO_CONFIG", config)];
    assert_eq!(timeout(&["--run-timeout", "1m"], &env_and_file), "1m");
    assert_eq!(timeout(&[], &env_and_file), "2m");
    assert_eq!(timeout(&[], &env_and_file[1..]), "3m");
    assert_eq!(timeout(&["--config", config], &[]), "3m");
    assert_eq!(timeout(&[], &[]), "1h");
}

#[test]
fn an_overridden_value_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "listen = \"bad\"\nmembership_ttl = \"x\"\n");
    let c = load_env(
        &[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:1",
        ],
        &[("MAO_LISTEN", "worse"), ("MAO_MEMBERSHIP_TTL", "20")],
    )
    .unwrap();
    assert_eq!(c.listen.port(), 1);
    assert_eq!(c.membership_ttl, Duration::from_secs(20));
}

#[test]
fn an_error_names_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "run_timeout = \"soon\"\n");
    let e = invalid(load(&["--run-timeout", "soon"]));
    assert_eq!(e.key, "run_timeout");
    assert_eq!(e.origin, Source::Flag("--run-timeout".into()));
    assert!(
        e.to_string()
            .starts_with("config key \"run_timeout\" (from flag --run-timeout): "),
        "{e}"
    );

    let e = invalid(load_env(&[], &[("MAO_RUN_TIMEOUT", "soon")]));
    assert_eq!(e.origin, Source::Env("MAO_RUN_TIMEOUT".into()));
    assert!(
        e.to_string()
            .starts_with("config key \"run_timeout\" (from env MAO_RUN_TIMEOUT): "),
        "{e}"
    );

    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.origin, Source::File(path.clone()));
    assert!(
        e.to_string().starts_with(&format!(
            "config key \"run_timeout\" (from file {}): ",
            path.display()
        )),
        "{e}"
    );

    // A value refused by its parser names its source as well.
    let e = invalid(load_env(&[], &[("MAO_STORE", "etcd3")]));
    assert_eq!(
        e.to_string(),
        "config key \"store\" (from env MAO_STORE): \"etcd3\" is not one of embedded, etcd"
    );
    write(dir.path(), "membership_ttl = -1\n");
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "membership_ttl");
    assert_eq!(e.origin, Source::File(path));
    assert_eq!(e.message, "\"-1\" is not a whole number of seconds");
}

#[test]
fn the_environment_is_the_map_given() {
    let c = load_env(
        &["--data-dir", "/d"],
        &[
            ("MAO_NODE", "from-env"),
            ("MAO_ETCD_ENDPOINTS", "http://e:1,http://f:2"),
            ("MAO_GIT_HTTPS_TOKEN", "tok"),
        ],
    );
    // `load_env` passes --node unless given: use the map alone here.
    let c = c.unwrap();
    assert_eq!(c.node, "n1", "the flag beats MAO_NODE");
    assert_eq!(c.etcd_endpoints, vec!["http://e:1", "http://f:2"]);
    assert_eq!(c.git.credentials.https_token.as_deref(), Some("tok"));

    let argv = ["mao-orchestrator"];
    let vars = env(&[("MAO_NODE", "from-env"), ("XDG_DATA_HOME", "/xdg")]);
    let c = Config::load(argv, &vars, Some(Path::new("/home/u"))).unwrap();
    assert_eq!(c.node, "from-env");
    assert_eq!(c.data_dir, Path::new("/xdg/mao-orchestrator"));
    let vars = env(&[("MAO_NODE", "n"), ("XDG_DATA_HOME", "")]);
    let c = Config::load(argv, &vars, Some(Path::new("/home/u"))).unwrap();
    assert_eq!(
        c.data_dir,
        Path::new("/home/u/.local/share/mao-orchestrator")
    );
    let e = invalid(Config::load(argv, &vars, None));
    assert_eq!(e.key, "data_dir");
    assert_eq!(e.origin, Source::Default);
    assert_eq!(
        e.to_string(),
        "config key \"data_dir\": no HOME to put the default in; pass --data-dir"
    );
}

#[test]
fn help_and_version_are_not_config_errors() {
    for flag in ["--help", "--version", "--no-such-flag"] {
        match load(&[flag]) {
            Err(LoadError::Usage(_)) => {}
            other => panic!("{flag}: {other:?}"),
        }
    }
    let help = layer::command().render_help().to_string();
    for shown in [
        "--listen <ADDR:PORT>",
        "[env: MAO_LISTEN]",
        "[env: MAO_CONFIG]",
        "--max-concurrent-runs <N>",
        "[env: MAO_MAX_CONCURRENT_RUNS]",
        "[env: MAO_GIT_HTTPS_TOKEN]",
        "--store <embedded|etcd>",
        "Precedence: flags",
    ] {
        assert!(help.contains(shown), "{shown} in {help}");
    }
}

#[test]
fn git_identity_keys_and_secrets() {
    let c = load(&[]).unwrap();
    assert_eq!(c.git.credentials.name, "n1");
    assert_eq!(c.git.credentials.email, "n1@localhost");
    assert!(c.git.secrets.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "git_name = \"Site A\"\ngit_https_token = \"tok-123\"\n[secrets]\nAPI_KEY = \"s3cr3t\"\n",
    );
    let c = load(&[
        "--config",
        path.to_str().unwrap(),
        "--git-email",
        "a@example.org",
    ])
    .unwrap();
    assert_eq!(c.git.credentials.name, "Site A");
    assert_eq!(c.git.credentials.email, "a@example.org");
    assert_eq!(c.git.secrets["API_KEY"].value, "s3cr3t");
    // The old form: no step may use it, the warning says how to scope it, and its value
    // is still masked.
    assert_eq!(c.git.secrets["API_KEY"].scope, SecretScope::Unscoped);
    assert!(!c.git.secrets["API_KEY"].allows("p1", "demo"));
    let warning = &c.warnings[0];
    for words in [
        "\"API_KEY\" has no scope, so no pipeline step may use it",
        "[secrets.API_KEY]",
        "pipelines = [...]",
        "tools = [...]",
    ] {
        assert!(warning.contains(words), "{words}: {warning}");
    }
    assert_eq!(c.git.redactor().redact("key=s3cr3t"), "key=***");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("tok-123"),
        "{shown}"
    );

    let missing = dir.path().join("missing-key");
    let e = invalid(load(&["--git-ssh-key", missing.to_str().unwrap()]));
    assert_eq!(e.key, "git_ssh_key", "{e}");
    let e = invalid(load(&["--git-email", "nope"]));
    assert_eq!(e.key, "git_email", "{e}");
    write(dir.path(), "[secrets]\n\"a b\" = \"x\"\n");
    let e = invalid(load(&["--config", path.to_str().unwrap()]));
    assert_eq!(e.key, "secrets", "{e}");
}

#[test]
fn every_key_is_documented() {
    let docs = include_str!("../../../../docs/configuration.md");
    let cmd = layer::command();
    let missing: Vec<&str> = layer::keys(&cmd)
        .map(|arg| arg.get_id().as_str())
        .filter(|key| *key != layer::CONFIG_KEY && !docs.contains(&format!("| `{key}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md has no row for {missing:?}"
    );
}

#[test]
fn auth_follows_the_listen_address() {
    assert!(!load(&[]).unwrap().access.auth_required);
    assert!(
        load(&["--listen", "0.0.0.0:8080"])
            .unwrap()
            .access
            .auth_required
    );
    assert!(
        load(&["--listen", "[::]:8080"])
            .unwrap()
            .access
            .auth_required
    );
    assert!(load(&["--auth", "required"]).unwrap().access.auth_required);
    let e = invalid(load(&["--listen", "10.0.0.1:8080", "--auth", "off"]));
    assert_eq!(e.key, "auth", "{e}");
    assert!(e.to_string().contains("not loopback"), "{e}");
    let e = invalid(load_env(&["--listen", "0.0.0.0:1"], &[("MAO_AUTH", "off")]));
    assert_eq!(
        (e.key.as_str(), e.origin.clone()),
        ("auth", Source::Env("MAO_AUTH".into()))
    );

    let c = load(&[
        "--advertise-url",
        "http://Site-A.example.org:8080",
        "--allowed-hosts",
        "mao.example.org, other.example.org",
    ])
    .unwrap();
    assert_eq!(
        c.access.allowed_hosts,
        [
            "localhost",
            "mao.example.org",
            "other.example.org",
            "site-a.example.org"
        ]
    );
    let refused: [(&[&str], &str); 6] = [
        (&["--allowed-hosts", "evil.example:80"], "allowed_hosts"),
        (
            &[
                "--tls-cert",
                "/nonexistent/c.pem",
                "--tls-key",
                "/nonexistent/k",
            ],
            "tls_cert",
        ),
        (&["--tls-key", "/etc/hostname"], "tls_cert"),
        (&["--http-header-timeout", "0s"], "http_header_timeout"),
        (
            &["--http-header-timeout", "30s", "--http-idle-timeout", "10s"],
            "http_idle_timeout",
        ),
        (&["--http-max-connections", "0"], "http_max_connections"),
    ];
    for (args, key) in refused {
        let e = invalid(load(args));
        assert_eq!(e.key, key, "{args:?}: {e}");
    }
}

#[test]
fn etcd_tls_files_are_read_and_checked_at_start_up() {
    let pki = mao_testkit::tls::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (ca, cert, key) = (pki.ca(), pki.client_cert(), pki.client_key());
    let (ca, cert, key, not_pem) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        not_pem.to_str().unwrap(),
    );
    let https = "https://[::1]:2379";

    let c = load(&["--etcd-endpoints", https, "--etcd-ca", ca]).unwrap();
    assert_eq!(c.etcd_endpoints, [https]);
    let tls = c.etcd_tls.unwrap();
    assert_eq!(tls.ca_pem, std::fs::read(pki.ca()).unwrap());
    assert!(tls.client.is_none());
    let c = load(&[
        "--etcd-endpoints",
        https,
        "--etcd-ca",
        ca,
        "--etcd-cert",
        cert,
        "--etcd-key",
        key,
    ])
    .unwrap();
    assert!(c.etcd_tls.as_ref().unwrap().client.is_some());
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("PRIVATE KEY"),
        "Debug shows the key: {shown}"
    );
    assert!(load(&["--etcd-ca", ca]).is_err(), "TLS with http://");

    for (args, key_named, message) in [
        (
            vec!["--etcd-endpoints", https],
            "etcd_ca",
            "need the CA certificate",
        ),
        (
            vec![
                "--etcd-endpoints",
                "https://h:1,http://h:2",
                "--etcd-ca",
                ca,
            ],
            "etcd_endpoints",
            "mixes http:// and https://",
        ),
        (vec!["--etcd-ca", ca], "etcd_ca", "use https:// endpoints"),
        (
            vec!["--etcd-endpoints", https, "--etcd-ca", "/nope/ca.pem"],
            "etcd_ca",
            "cannot read /nope/ca.pem",
        ),
        (
            vec!["--etcd-endpoints", https, "--etcd-ca", not_pem],
            "etcd_ca",
            "is not a certificate in PEM form",
        ),
        (
            vec!["--etcd-endpoints", https, "--etcd-ca", key],
            "etcd_ca",
            "is not a certificate in PEM form",
        ),
        (
            vec![
                "--etcd-endpoints",
                https,
                "--etcd-ca",
                ca,
                "--etcd-cert",
                cert,
            ],
            "etcd_key",
            "is needed with etcd_cert",
        ),
        (
            vec![
                "--etcd-endpoints",
                https,
                "--etcd-ca",
                ca,
                "--etcd-key",
                key,
            ],
            "etcd_cert",
            "is needed with etcd_key",
        ),
        (
            vec![
                "--etcd-endpoints",
                https,
                "--etcd-ca",
                ca,
                "--etcd-cert",
                cert,
                "--etcd-key",
                cert,
            ],
            "etcd_key",
            "is not a private key in PEM form",
        ),
    ] {
        let e = invalid(load(&args));
        assert_eq!(e.key, key_named, "{args:?}: {e}");
        assert!(e.message.contains(message), "{args:?}: {e}");
    }
}

#[test]
fn the_etcd_password_comes_from_a_file_or_the_variable_never_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file-Pw\n").unwrap();
    let file = file.to_str().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.to_str().unwrap();

    let c = load(&["--etcd-user", "mao", "--etcd-password-file", file]).unwrap();
    let user = c.etcd_user.clone().unwrap();
    assert_eq!(user.name, "mao");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("from-file-Pw"),
        "Debug shows the password: {shown}"
    );
    let c = load_env(
        &["--etcd-user", "mao"],
        &[("MAO_ETCD_PASSWORD", "from-env-Pw")],
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("from-env-Pw"));
    let c = load_env(&[], &[("MAO_ETCD_USER", "mao"), ("MAO_ETCD_PASSWORD", "x")]).unwrap();
    assert_eq!(c.etcd_user.unwrap().name, "mao");
    assert!(load(&[]).unwrap().etcd_user.is_none());

    assert!(
        matches!(load(&["--etcd-password", "x"]), Err(LoadError::Usage(_))),
        "a password flag must not exist"
    );
    for (args, vars, key_named, message) in [
        (
            vec!["--etcd-user", "mao"],
            vec![],
            "etcd_user",
            "needs a password",
        ),
        (
            vec!["--etcd-password-file", file],
            vec![],
            "etcd_password_file",
            "without etcd_user",
        ),
        (
            vec!["--etcd-user", "mao", "--etcd-password-file", "/nope/pw"],
            vec![],
            "etcd_password_file",
            "cannot read /nope/pw",
        ),
        (
            vec!["--etcd-user", "mao", "--etcd-password-file", empty],
            vec![],
            "etcd_password_file",
            "is empty",
        ),
        (
            vec!["--etcd-user", "a:b"],
            vec![("MAO_ETCD_PASSWORD", "x")],
            "etcd_user",
            "cannot be an etcd user name",
        ),
    ] {
        let e = invalid(load_env(&args, &vars));
        assert_eq!(e.key, key_named, "{args:?}: {e}");
        assert!(e.message.contains(message), "{args:?}: {e}");
    }
}

#[test]
fn container_defaults_are_secure() {
    let c = load(&[]).unwrap();
    let policy = &c.runs.policy;
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        assert_eq!(policy.run_user, "65534:65534");
    } else {
        assert_eq!(policy.run_user, mao_node::executor::policy::daemon_user());
    }
    assert_eq!(policy.network, mao_api::Network::Bridge);
    assert_eq!(policy.tmp_size, 64 << 20);
    assert!(policy.allowed_images.is_empty());
    assert!(policy.allowed_capabilities.is_empty());
    assert_eq!(policy.max.cpus, policy.host_cpus);
    assert_eq!(c.runs.max_queued, 64);
    assert_eq!(c.runs.limits.memory.as_deref(), Some("1g"));
    assert_eq!(c.runs.limits.cpus, Some(1.0));
    assert_eq!(c.runs.limits.pids, Some(1024));
}

#[test]
fn container_keys_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "allowed_images = [\"mao/*\", \"alpine:3.19\"]\nallowed_capabilities = [\"NET_BIND_SERVICE\"]\nrun_network = \"none\"\nrun_tmp_size = \"16m\"\n",
    );
    let c = load_env(
        &["--config", file.to_str().unwrap()],
        &[("MAO_MAX_QUEUED_RUNS", "3"), ("MAO_RUN_PIDS_MAX", "2048")],
    )
    .unwrap();
    let policy = &c.runs.policy;
    assert_eq!(policy.allowed_images, ["mao/*", "alpine:3.19"]);
    assert!(policy.allowed_capabilities.contains("NET_BIND_SERVICE"));
    assert_eq!(policy.network, mao_api::Network::None);
    assert_eq!(policy.tmp_size, 16 << 20);
    assert_eq!(policy.max.pids, 2048);
    assert_eq!(c.runs.max_queued, 3);
}

#[test]
fn bad_container_values_name_their_key() {
    let cases: &[(&[&str], &str)] = &[
        (&["--run-user", "nobody"], "run_user"),
        (&["--run-user", "0:0"], "run_user"),
        (&["--run-network", "host"], "run_network"),
        (&["--run-tmp-size", "1k"], "run_tmp_size"),
        (
            &["--allowed-capabilities", "cap_sys_admin"],
            "allowed_capabilities",
        ),
        (
            &["--allowed-capabilities", "CAP_SYS_ADMIN"],
            "allowed_capabilities",
        ),
        (&["--run-cpus-max", "100000"], "run_cpus_max"),
        (&["--run-memory-max", "1m"], "run_memory_max"),
        (&["--run-pids-max", "0"], "run_pids_max"),
        (&["--max-queued-runs", "many"], "max_queued_runs"),
        (
            &["--run-memory", "2g", "--run-memory-max", "1g"],
            "run_memory",
        ),
        (&["--run-pids", "100", "--run-pids-max", "50"], "run_pids"),
    ];
    for (args, key) in cases {
        let e = invalid(load(args));
        assert_eq!(e.key, *key, "{args:?}: {e}");
    }
    let e = invalid(load(&["--run-memory", "2g", "--run-memory-max", "1g"]));
    assert!(e.message.contains("run_memory_max (1g)"), "{e}");
    // A default nobody set is lowered to the maximum instead.
    let c = load(&["--run-memory-max", "512m", "--run-pids-max", "10"]).unwrap();
    assert_eq!(c.runs.limits.memory.as_deref(), Some("512m"));
    assert_eq!(c.runs.limits.pids, Some(10));
}

#[test]
fn a_daemon_that_is_not_root_runs_tools_as_itself() {
    let resolve = |user: Option<&str>| {
        containers::ContainersLayer {
            run_user: user.map(str::to_owned),
            ..Default::default()
        }
        .resolve((1000, 1000), &error::Origins::default())
    };
    assert_eq!(resolve(None).unwrap().0.run_user, "1000:1000");
    assert_eq!(resolve(Some("1000:1000")).unwrap().0.run_user, "1000:1000");
    let e = resolve(Some("65534:65534")).unwrap_err();
    assert_eq!(e.key, "run_user");
    assert!(e.message.contains("not root"), "{e}");
}

#[test]
fn allowed_local_remotes_are_existing_folders_kept_canonical() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    std::os::unix::fs::symlink(&a, dir.path().join("link")).unwrap();
    let file = write(
        dir.path(),
        &format!(
            "allowed_local_remotes = [{:?}]\n",
            dir.path().join("link").display().to_string()
        ),
    );
    let c = load(&["--config", file.to_str().unwrap()]).unwrap();
    assert_eq!(
        c.git.allowed_local_remotes,
        [std::fs::canonicalize(&a).unwrap()]
    );
    let both = format!("{},{}", a.display(), dir.path().display());
    let c = load_env(&[], &[("MAO_ALLOWED_LOCAL_REMOTES", both.as_str())]).unwrap();
    assert_eq!(c.git.allowed_local_remotes.len(), 2);
    assert!(load(&[]).unwrap().git.allowed_local_remotes.is_empty());
    for bad in ["/nonexistent/dir", "/", file.to_str().unwrap()] {
        let e = invalid(load(&["--allowed-local-remotes", bad]));
        assert_eq!(e.key, "allowed_local_remotes", "{bad}: {e}");
        assert!(e.message.contains("not an existing folder"), "{bad}: {e}");
    }
}

#[test]
fn scoped_secrets_from_a_value_a_file_or_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("token");
    std::fs::write(&from_file, "from-file\n").unwrap();
    let path = write(
        dir.path(),
        &format!(
            "[secrets.A]\nvalue = \"va\"\npipelines = [\"p1\"]\n\
             [secrets.B]\nfile = {:?}\ntools = [\"demo\"]\n\
             [secrets.C]\nenv = \"MY_TOKEN\"\npipelines = [\"p1\"]\ntools = [\"demo\"]\n",
            from_file.display().to_string()
        ),
    );
    let args = ["--config", path.to_str().unwrap()];
    let c = load_env(&args, &[("MY_TOKEN", "from-env")]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let s = &c.git.secrets;
    assert_eq!(
        (
            s["A"].value.as_str(),
            s["B"].value.as_str(),
            s["C"].value.as_str()
        ),
        ("va", "from-file", "from-env")
    );
    assert!(s["A"].allows("p1", "any") && !s["A"].allows("p2", "any"));
    assert!(s["B"].allows("any", "demo") && !s["B"].allows("any", "other"));
    assert!(
        s["C"].allows("p1", "demo")
            && !s["C"].allows("p1", "other")
            && !s["C"].allows("p2", "demo")
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("from-file") && !shown.contains("from-env"),
        "{shown}"
    );

    for (table, message) in [
        ("[secrets.X]\nvalue = \"v\"\n", "give its scope"),
        (
            "[secrets.X]\nvalue = \"v\"\nenv = \"Y\"\ntools = [\"t\"]\n",
            "exactly one of",
        ),
        (
            "[secrets.X]\nenv = \"UNSET_VAR\"\ntools = [\"t\"]\n",
            "UNSET_VAR is not set",
        ),
        (
            "[secrets.X]\nfile = \"/nonexistent/x\"\ntools = [\"t\"]\n",
            "cannot read /nonexistent/x",
        ),
        (
            "[secrets.X]\nvalue = \"v\"\ntools = [\"Bad Tool\"]\n",
            "scope",
        ),
        (
            "[secrets.X]\nvalue = \"v\"\nscope = [\"t\"]\n",
            "unknown field",
        ),
    ] {
        write(dir.path(), table);
        let e = invalid(load(&args));
        assert_eq!(e.key, "secrets.X", "{table}: {e}");
        assert!(e.message.contains(message), "{table}: {e}");
    }
}

#[test]
fn a_managed_member_implies_etcd_and_refuses_what_would_contradict_it() {
    let c = load(&["--etcd-managed"]).unwrap();
    assert_eq!(c.store, StoreKind::Etcd);
    assert_eq!(c.etcd_endpoints, ["http://127.0.0.1:2379"]);
    let managed = c.etcd_managed.expect("managed");
    assert_eq!(managed.bin, PathBuf::from("/usr/bin/etcd"));
    assert_eq!((managed.client_url, managed.peer_url), (None, None));

    let c = load_env(
        &["--etcd-client-url", "http://127.0.0.1:12379/"],
        &[("MAO_ETCD_MANAGED", "true"), ("MAO_ETCD_BIN", "/opt/etcd")],
    )
    .unwrap();
    assert_eq!(c.etcd_endpoints, ["http://127.0.0.1:12379"]);
    assert_eq!(c.etcd_managed.unwrap().bin, PathBuf::from("/opt/etcd"));
    assert!(load(&["--etcd-managed=false"])
        .unwrap()
        .etcd_managed
        .is_none());

    let cases: [(&[&str], &str, &str); 7] = [
        (
            &["--etcd-managed", "--store", "embedded"],
            "store",
            "drop one of them",
        ),
        (
            &["--etcd-managed", "--etcd-endpoints", "http://10.0.0.1:2379"],
            "etcd_endpoints",
            "its own member",
        ),
        (
            &[
                "--etcd-managed",
                "--etcd-client-url",
                "http://10.0.0.1:2379",
            ],
            "etcd_client_url",
            "loopback",
        ),
        (
            &[
                "--etcd-managed",
                "--etcd-client-url",
                "http://localhost:2379",
            ],
            "etcd_client_url",
            "loopback",
        ),
        (
            &["--etcd-managed", "--etcd-peer-url", "10.0.0.1:2380"],
            "etcd_peer_url",
            "",
        ),
        (
            &["--etcd-peer-url", "https://10.0.0.1:2380"],
            "etcd_peer_url",
            "etcd_managed",
        ),
        (
            &["--etcd-bin", "/x/etcd"],
            "etcd_bin",
            "only applies with etcd_managed",
        ),
    ];
    for (args, key, needle) in cases {
        let e = invalid(load(args));
        assert_eq!(e.key, key, "{args:?}: {e}");
        assert!(e.message.contains(needle), "{args:?}: {e}");
    }
}
