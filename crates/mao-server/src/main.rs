//! `mao-orchestrator`: the daemon of one MAO node.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mao_api::NodeInfo;
use mao_node::local::LocalStore;
use mao_node::membership;
use mao_node::{Keys, Node, NodeSettings};
use mao_server::config::{Config, LoadError, StoreKind};
use mao_server::router;
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
    let config = match Config::load(std::env::args_os(), &env, home.as_deref()) {
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

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.store {
        StoreKind::Embedded => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create the data dir {}", config.data_dir.display())
            })?;
            let path = config.data_dir.join("store.redb");
            let store = EmbeddedStore::open(&path)?;
            info!(path = %path.display(), "embedded store open");
            Arc::new(store)
        }
        StoreKind::Etcd => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create the data dir {}", config.data_dir.display())
            })?;
            let store = EtcdStore::connect(&config.etcd_endpoints)
                .await
                .context("cannot set up the etcd client")?;
            info!(endpoints = %config.etcd_endpoints.join(","), prefix = %config.etcd_prefix, "etcd store configured");
            Arc::new(store)
        }
    })
}

async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    // Local state is opened (and locked) before anything is published.
    let runs = LocalStore::open(&config.data_dir.join("local.redb"))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let advertise_url = if config.listen.port() == 0 && config.advertise_url.ends_with(":0") {
        format!("http://{local}")
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

    let runtime: Arc<dyn mao_runtime::Runtime> =
        Arc::new(mao_runtime::docker::DockerRuntime::connect());
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
    let _tasks = node.spawn_background();
    let app = router(node);
    info!(node = %config.node, url = %advertise_url, "listening");
    // Scripts and tests read the bound address from this line (useful with port 0).
    println!("mao-orchestrator listening on http://{local}");
    // On SIGTERM/SIGINT, requests in flight get a few seconds; log followers and long
    // polls would otherwise hold the shutdown until their run ends. Running containers are
    // left alone: the next start re-attaches them.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut stop = stop_rx;
    tokio::select! {
        result = server => result.context("the HTTP server failed")?,
        _ = async {
            let _ = stop.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => warn!("open connections did not close within 5 s; stopping anyway"),
    }
    info!("shutting down");
    membership.leave().await;
    Ok(())
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
