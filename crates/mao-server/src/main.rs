//! `mao-orchestrator`: the daemon of one MAO node.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mao_api::NodeInfo;
use mao_node::access::{ActivityLog, Tokens};
use mao_node::federation::Federation;
use mao_node::local::LocalStore;
use mao_node::membership;
use mao_node::{Keys, Node, NodeSettings};
use mao_server::auth::Guard;
use mao_server::config::{Config, LoadError, StoreKind};
use mao_server::router;
use mao_server::serve::{serve, tls_config, ServeSettings};
use mao_store::cluster::Cluster;
use mao_store::embedded::EmbeddedStore;
use mao_store::etcd::EtcdStore;
use mao_store::Store;
use tracing::{error, info, warn};

fn main() -> ExitCode {
    // Variables that are not UTF-8 cannot hold a value the configuration would accept.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "token") {
        return mao_server::token_cmd::main(args[1..].to_vec(), &env, home.as_deref());
    }
    if args.get(1).is_some_and(|a| a == "federation") {
        // init and join set the site up, then (unless --no-start) run it from the
        // configuration file they wrote.
        match mao_server::federation_cmd::main(args[1..].to_vec(), &env, home.as_deref()) {
            mao_server::federation_cmd::Outcome::Exit(code) => return code,
            mao_server::federation_cmd::Outcome::Start(config) => {
                args = vec!["mao-orchestrator".into(), "--config".into(), config.into()];
            }
        }
    }
    let config = match Config::load(args, &env, home.as_deref()) {
        Ok(c) => c,
        Err(LoadError::Usage(e)) => e.exit(),
        Err(LoadError::Invalid(e)) => {
            eprintln!("mao-orchestrator: error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log))
        .with_writer(mao_server::log_writer::RedactingStderr::new(
            config.git.redactor(),
        ))
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    for warning in &config.warnings {
        warn!("{warning}");
    }
    // Two workers suffice for an API and a few background tasks, and keep idle memory low.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("mao-orchestrator: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The shared store, and with etcd the cluster behind it.
type Opened = (Arc<dyn Store>, Option<Arc<dyn Cluster>>);

async fn open_store(config: &Config) -> anyhow::Result<Opened> {
    Ok(match config.store {
        StoreKind::Embedded => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create the data dir {}", config.data_dir.display())
            })?;
            let path = config.data_dir.join("store.redb");
            let store = EmbeddedStore::open(&path)?;
            info!(path = %path.display(), "embedded store open");
            (Arc::new(store), None)
        }
        StoreKind::Etcd => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create the data dir {}", config.data_dir.display())
            })?;
            let store = EtcdStore::connect_with(mao_store::etcd::EtcdConfig {
                endpoints: config.etcd_endpoints.clone(),
                tls: config.etcd_tls.clone(),
                user: config.etcd_user.clone(),
            })
            .await
            .context("cannot set up the etcd client")?;
            info!(endpoints = %config.etcd_endpoints.join(","), prefix = %config.etcd_prefix,
                tls = config.etcd_tls.is_some(),
                user = config.etcd_user.as_ref().map_or("", |u| u.name.as_str()),
                "etcd store configured");
            let store = Arc::new(store);
            (store.clone(), Some(store))
        }
    })
}

async fn run(mut config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    // Local state is opened (and locked) before anything is started or published.
    let runs = LocalStore::open(&config.data_dir.join("local.redb"))?;
    let etcd = match &config.etcd_managed {
        Some(managed) => {
            let spec = mao_server::managed::spec(&config, managed)?;
            config.etcd_endpoints = vec![spec.client_url.clone()];
            config.etcd_tls = mao_server::managed::client_tls(&spec)?;
            Some(mao_server::managed::start(&config.data_dir, &managed.bin, &spec).await?)
        }
        None => None,
    };
    let result = serve_node(config, runs, etcd.is_some()).await;
    if let Some(etcd) = etcd {
        info!("stopping the managed etcd member");
        etcd.stop(Duration::from_secs(10)).await;
    }
    result
}

async fn serve_node(config: Config, runs: LocalStore, managed: bool) -> anyhow::Result<()> {
    let (store, cluster) = open_store(&config).await?;
    if let (true, Some(cluster)) = (managed, &cluster) {
        mao_server::managed::wait_ready(cluster, true, shutdown_signal())
            .await
            .context("interrupted while waiting for this site's etcd member")?;
    }
    let guard = Arc::new(guard(&config)?);
    let _summaries = mao_server::auth::spawn_refusal_summaries(guard.activity.clone());
    let tls = match &config.access.tls {
        Some(files) => Some(tls_config(&files.cert, &files.key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let scheme = if config.access.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let advertise_url = if config.listen.port() == 0 && config.advertise_url.ends_with(":0") {
        format!("{scheme}://{local}")
    } else {
        config.advertise_url.clone()
    };

    let keys = Keys::new(&config.etcd_prefix);
    let info = NodeInfo {
        name: config.node.clone(),
        api_url: advertise_url.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: chrono::Utc::now(),
        host: hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        pid: std::process::id(),
        machine_id: membership::machine_id(),
    };
    // A live twin is fatal; an unreachable store is waited for, until a signal.
    let membership = membership::join_waiting(
        store.clone(),
        keys.node(&config.node),
        info,
        config.membership_ttl,
        shutdown_signal(),
    )
    .await?
    .context("interrupted while waiting for the store")?;

    // Every request to the engine is bounded by engine_timeout, so a hung engine fails the
    // runs that need it instead of holding them.
    let runtime: Arc<dyn mao_runtime::Runtime> = Arc::new(
        mao_runtime::docker::DockerRuntime::connect().with_call_timeout(config.runs.engine_timeout),
    );
    let node = Node::new(
        store,
        runs,
        runtime,
        NodeSettings {
            name: config.node.clone(),
            prefix: config.etcd_prefix.clone(),
            data_dir: config.data_dir.clone(),
            runs: config.runs.clone(),
            git: config.git.clone(),
            sinks: config.sinks.clone(),
        },
    );
    node.track_membership(&membership);
    let _keeper = cluster.map(|cluster| {
        let federation = Arc::new(Federation::new(
            config.node.clone(),
            &config.etcd_prefix,
            node.store.clone(),
            cluster,
            mao_server::managed::federation_dir(&config.data_dir),
            managed,
        ));
        node.attach_federation(federation.clone());
        // A managed site reports on its member and promotes learners that caught up.
        managed.then(|| tokio::spawn(federation.keep()))
    });
    let _tasks = node.spawn_background();
    let going = node.clone();
    let app = router(node, guard);
    info!(node = %config.node, url = %advertise_url, auth = if config.access.auth_required { "required" } else { "off" }, "listening");
    // Scripts and tests read the bound address from this line (useful with port 0).
    println!("mao-orchestrator listening on {scheme}://{local}");
    // On SIGTERM/SIGINT, requests in flight get a few seconds; log followers and long
    // polls would otherwise hold the shutdown until their run ends. Running containers are
    // left alone: the next start re-attaches them.
    let settings = ServeSettings {
        header_timeout: config.access.header_timeout,
        idle_timeout: config.access.idle_timeout,
        max_connections: config.access.max_connections,
        tls,
        drain: Duration::from_secs(5),
    };
    // Another live daemon taking this node's name (while this one had lost its lease)
    // stops this one too, with an error: it must not go on acting as that node.
    let taken = std::sync::OnceLock::<String>::new();
    let stop = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            why = membership.name_taken() => { let _ = taken.set(why); }
        }
    };
    serve(listener, app, settings, stop).await;
    if let Some(why) = taken.get() {
        anyhow::bail!("{why}; this daemon stops");
    }
    info!("shutting down");
    if going.runs_going() {
        // Its runs go on in their containers: the entry is left to expire with its
        // lease, so a restart within the TTL keeps this node a member throughout and
        // the running markers of its runs keep counting.
        info!("runs go on without this daemon; its membership expires with its lease");
        membership.step_away();
    } else {
        membership.leave().await;
    }
    Ok(())
}

/// The checks in front of the API: tokens (when auth is on), hosts, the activity log.
fn guard(config: &Config) -> anyhow::Result<Guard> {
    let tokens = if config.access.auth_required {
        let tokens = Tokens::open(&config.data_dir)?;
        if tokens.count() == 0 {
            warn!(
                data_dir = %config.data_dir.display(),
                "auth is required and this node has no token yet: every request but /healthz and /readyz is refused; create one with `mao-orchestrator token create NAME --role admin --data-dir DIR`"
            );
        }
        Some(tokens)
    } else {
        None
    };
    Ok(Guard {
        tokens,
        allowed_hosts: config.access.allowed_hosts.clone(),
        activity: Arc::new(ActivityLog::open(&config.data_dir)?),
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
