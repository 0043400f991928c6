//! The etcd member a managed daemon runs (`etcd_managed`): its spec from the data dir
//! (written by `federation init|join`, or made here for a member of its own), the
//! supervised process, and the wait until the member votes and knows a leader.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mao_federation::member::{InitialState, MemberSpec};
use mao_federation::supervise::EtcdSupervisor;
use mao_store::cluster::Cluster;
use tracing::info;

use crate::config::{Config, ManagedEtcd, DEFAULT_CLIENT_URL, DEFAULT_PEER_URL};

/// Where a site keeps its federation files: the CA, its key and certificate, its member.
pub fn federation_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("federation")
}

/// The spec of this site's member.
pub fn spec_path(data_dir: &Path) -> PathBuf {
    federation_dir(data_dir).join("member.json")
}

/// The etcd data of the managed member.
pub fn etcd_data_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("etcd")
}

/// The managed member's log.
pub fn etcd_log(data_dir: &Path) -> PathBuf {
    data_dir.join("etcd.log")
}

/// The member's spec: the one in the data dir (the configured URLs must agree with it),
/// else a one-member cluster of its own with the configured URLs, saved for next time.
pub fn spec(config: &Config, managed: &ManagedEtcd) -> anyhow::Result<MemberSpec> {
    let path = spec_path(&config.data_dir);
    if let Some(spec) = MemberSpec::load(&path)? {
        for (key, configured, actual) in [
            ("etcd_client_url", &managed.client_url, &spec.client_url),
            ("etcd_peer_url", &managed.peer_url, &spec.peer_url),
        ] {
            if let Some(configured) = configured {
                anyhow::ensure!(
                    configured == actual,
                    "{key}: {configured} differs from {actual}, the URL this site's member was created with ({}); drop the setting (a member's URLs do not change here)",
                    path.display()
                );
            }
        }
        anyhow::ensure!(
            spec.name == config.node,
            "node: {:?} differs from {:?}, the name this site's etcd member has ({})",
            config.node,
            spec.name,
            path.display()
        );
        return Ok(spec);
    }
    let peer_url = managed
        .peer_url
        .clone()
        .unwrap_or_else(|| DEFAULT_PEER_URL.to_owned());
    anyhow::ensure!(
        !peer_url.starts_with("https://"),
        "etcd_peer_url: {peer_url} is https:// but this site has no federation certificate: start a federation with `mao-orchestrator federation init` (or join one with `federation join`)"
    );
    let spec = MemberSpec {
        name: config.node.clone(),
        client_url: managed
            .client_url
            .clone()
            .unwrap_or_else(|| DEFAULT_CLIENT_URL.to_owned()),
        initial_cluster: format!("{}={peer_url}", config.node),
        peer_url,
        initial_state: InitialState::New,
        peer_tls: None,
    };
    std::fs::create_dir_all(federation_dir(&config.data_dir)).with_context(|| {
        format!(
            "cannot create {}",
            federation_dir(&config.data_dir).display()
        )
    })?;
    spec.save(&path)?;
    Ok(spec)
}

/// The TLS a client of the member needs when its client URL is `https://`: the
/// federation's CA and this site's certificate (`client-cert-auth`).
pub fn client_tls(spec: &MemberSpec) -> anyhow::Result<Option<mao_store::etcd::EtcdTls>> {
    if !spec.client_url.starts_with("https://") {
        return Ok(None);
    }
    let tls = spec
        .peer_tls
        .as_ref()
        .context("an https:// client URL needs the site's certificate")?;
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok(Some(mao_store::etcd::EtcdTls {
        ca_pem: read(&tls.ca)?,
        client: Some((read(&tls.cert)?, read(&tls.key)?)),
    }))
}

/// Starts the supervised member.
pub async fn start(
    data_dir: &Path,
    bin: &Path,
    spec: &MemberSpec,
) -> anyhow::Result<EtcdSupervisor> {
    let supervisor = EtcdSupervisor::start(
        bin.to_path_buf(),
        spec.clone(),
        etcd_data_dir(data_dir),
        etcd_log(data_dir),
    )
    .await?;
    info!(name = %spec.name, client = %spec.client_url, peer = %spec.peer_url,
        log = %etcd_log(data_dir).display(), "managed etcd member started");
    Ok(supervisor)
}

/// Waits until the member knows a leader and (with `voter`) is a voting member (a joining site's
/// member is a learner until a site of the federation promoted it). Logs what it waits
/// for every 10 s; `None` when `stop` came first.
pub async fn wait_ready(
    cluster: &Arc<dyn Cluster>,
    voter: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Option<()> {
    tokio::pin!(stop);
    let started = Instant::now();
    let mut said = Instant::now();
    loop {
        let why = match cluster.status().await {
            Ok(s) if (!voter || !s.is_learner) && s.leader != 0 => {
                info!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    "etcd member ready"
                );
                return Some(());
            }
            Ok(s) if s.is_learner => {
                "a learner, catching up with the leader until a site promotes it".to_owned()
            }
            Ok(_) => "without a leader (are the other members reachable?)".to_owned(),
            Err(e) => format!("not answering ({e})"),
        };
        if said.elapsed() >= Duration::from_secs(10) {
            info!(
                waited_s = started.elapsed().as_secs(),
                "waiting for this site's etcd member: {why}"
            );
            said = Instant::now();
        }
        tokio::select! {
            _ = &mut stop => return None,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}
