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
    assert!(c.sinks.is_empty());
}

#[test]
fn bad_values_name_their_key() {
    let cases: [(&[&str], &str); 13] = [
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
            "http://10.0.0.1:2379, https://h:2379/",
            &["http://10.0.0.1:2379", "https://h:2379/"][..],
        ),
        ("http://h:80", &["http://h:80"]),
        ("https://[::1]:2379", &["https://[::1]:2379"]),
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
    assert_eq!(c.git.secrets["API_KEY"].scope, SecretScope::Any);
    assert!(
        c.warnings[0].contains("\"API_KEY\" has no scope"),
        "{:?}",
        c.warnings
    );
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
