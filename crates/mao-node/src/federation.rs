//! The federation's own membership: the etcd members behind the shared store, admitting a
//! new site (a learner first, promoted once it caught up), and what each site reports on
//! its member so that any site can tell which members are healthy.
//!
//! Only `mao-store` speaks to etcd ([`Cluster`]); the CA that signs each site's certificate
//! is `mao-federation`'s. The HTTP edge maps [`FederationError`] to statuses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use mao_api::federation::{EtcdMember, FederationStatus, JoinRequest, JoinResponse, MemberReport};
use mao_api::NodeInfo;
use mao_store::cluster::{Cluster, ClusterMember};
use mao_store::{Store, StoreError};
use tracing::{debug, info, warn};

use crate::keys::Keys;

/// How often a managed site reports on its member, and how old a report may be before its
/// member counts as unhealthy.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
pub const REPORT_STALE: Duration = Duration::from_secs(20);
/// How often learners are offered promotion.
pub const PROMOTE_INTERVAL: Duration = Duration::from_secs(2);

/// Why a federation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("{0}")]
    Invalid(#[from] mao_api::ValidationError),
    /// The node name or peer URL is in use.
    #[error("{0}")]
    Taken(String),
    /// This node cannot do it (no etcd, no CA): the message says where to go instead.
    #[error("{0}")]
    NotHere(String),
    /// No such member.
    #[error("{0}")]
    Missing(String),
    /// Adding or removing a member now could leave the cluster without quorum.
    #[error("{0}")]
    Quorum(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The federation as one node sees it.
pub struct Federation {
    node: String,
    keys: Keys,
    prefix: String,
    store: Arc<dyn Store>,
    cluster: Arc<dyn Cluster>,
    /// `<data-dir>/federation`: the CA (on a site that may admit others), this site's key
    /// and certificate, its member's spec.
    dir: PathBuf,
    managed: bool,
    /// One join at a time on this node: a second one would meet the first one's learner.
    joining: tokio::sync::Mutex<()>,
}

impl Federation {
    pub fn new(
        node: String,
        prefix: &str,
        store: Arc<dyn Store>,
        cluster: Arc<dyn Cluster>,
        dir: PathBuf,
        managed: bool,
    ) -> Federation {
        Federation {
            node,
            keys: Keys::new(prefix),
            prefix: prefix.to_owned(),
            store,
            cluster,
            dir,
            managed,
            joining: tokio::sync::Mutex::new(()),
        }
    }

    /// The members, the nodes, and which match.
    pub async fn status(&self) -> Result<FederationStatus, FederationError> {
        let members = self.cluster.members().await?;
        let leader = self.cluster.status().await.map(|s| s.leader).unwrap_or(0);
        let nodes = self.nodes().await?;
        let reports = self.reports().await?;
        let now = Utc::now();
        let members: Vec<EtcdMember> = members
            .iter()
            .map(|m| {
                let report = reports.iter().find(|r| r.member_id == hex_id(m.id));
                let (health, detail) = health(m, report, now);
                EtcdMember {
                    id: hex_id(m.id),
                    name: m.name.clone(),
                    peer_urls: m.peer_urls.clone(),
                    is_learner: m.is_learner,
                    is_leader: m.id == leader,
                    health: health.to_owned(),
                    detail,
                    node: nodes
                        .iter()
                        .find(|n| !m.name.is_empty() && n.name == m.name)
                        .map(|n| n.name.clone()),
                }
            })
            .collect();
        let nodes_without_member = nodes
            .iter()
            .filter(|n| !members.iter().any(|m| m.name == n.name))
            .map(|n| n.name.clone())
            .collect();
        Ok(FederationStatus {
            managed: self.managed,
            members,
            nodes,
            nodes_without_member,
        })
    }

    /// Admits a new site: checks the request, that its name and peer URL are free and that
    /// the cluster keeps quorum, signs its certificate and adds its member as a learner.
    /// Nothing is added to etcd unless every check passed.
    pub async fn join(&self, request: &JoinRequest) -> Result<JoinResponse, FederationError> {
        let _one_at_a_time = self.joining.lock().await;
        mao_api::validate::name("node", &request.node)?;
        let peer = peer_url(&request.peer_url)?;
        let api = mao_api::validate::http_endpoint("api_url", &request.api_url)?;
        let public_key = base64::engine::general_purpose::STANDARD
            .decode(request.public_key.trim())
            .map_err(|_| invalid("public_key", "is not base64"))?;
        let ca = self.ca()?;

        let api_host = api
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        self.admissible(&request.node, &peer, &api_host)
            .await
            .map_err(|e| match e {
                // A store that cannot be reached (no leader, members down) cannot safely
                // take a member either.
                FederationError::Store(StoreError::Unavailable(why)) => FederationError::Quorum(format!(
                    "the etcd cluster does not answer ({why}): bring its members back before adding one; a new member now could leave the cluster unable to keep quorum"
                )),
                e => e,
            })?;

        let hosts = [
            host_of(&peer),
            api.host_str().unwrap_or_default().to_owned(),
        ];
        let hosts: Vec<String> = hosts.into_iter().filter(|h| !h.is_empty()).collect();
        let cert_pem = ca
            .issue(&request.node, &hosts, &public_key)
            .map_err(|e| invalid("public_key", &e.to_string()))?;
        let peers = std::slice::from_ref(&peer);
        let added = settled(|| self.cluster.add_learner(peers)).await?;
        info!(node = %request.node, member = %hex_id(added.member.id), peer = %peer, "etcd member added as a learner");
        let initial_cluster = added
            .members
            .iter()
            .filter_map(|m| {
                let name = if m.id == added.member.id {
                    request.node.as_str()
                } else {
                    m.name.as_str()
                };
                let url = m.peer_urls.first()?;
                (!name.is_empty()).then(|| format!("{name}={url}"))
            })
            .collect::<Vec<_>>()
            .join(",");
        Ok(JoinResponse {
            member_id: hex_id(added.member.id),
            initial_cluster,
            ca_pem: ca.cert_pem().to_owned(),
            cert_pem: format!("{}{}", cert_pem, ca.cert_pem()),
            prefix: self.prefix.clone(),
        })
    }

    /// The checks before a member is added: quorum, the name and the peer URL free, no
    /// member still joining.
    async fn admissible(
        &self,
        node: &str,
        peer: &str,
        api_host: &str,
    ) -> Result<(), FederationError> {
        // Quorum first: without a leader every other request would only time out.
        self.check_leader().await?;
        let mut members = self.cluster.members().await?;
        self.check_quorum(&members).await?;
        // The same site asking again after a join that never got as far as starting its
        // member (it failed or was killed on the way): that learner goes, a new one comes.
        if let Some(stale) = members
            .iter()
            .find(|m| {
                m.is_learner && m.name.is_empty() && m.peer_urls.iter().any(|u| same_url(u, peer))
            })
            .cloned()
        {
            settled(|| self.cluster.remove(stale.id)).await?;
            info!(member = %hex_id(stale.id), peer = %peer, "removed the unstarted learner of an earlier join of this peer URL");
            members.retain(|m| m.id != stale.id);
            // etcd derives a member's id from its peer URLs and the second it is added, and
            // refuses an id it removed: the new learner must be added in a later second.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        if let Some(m) = members.iter().find(|m| m.name == node) {
            return Err(FederationError::Taken(format!(
                "the name {:?} is taken by etcd member {} ({}): choose another --node, or remove that member first",
                node,
                hex_id(m.id),
                m.peer_urls.join(",")
            )));
        }
        if let Some(m) = members
            .iter()
            .find(|m| m.peer_urls.iter().any(|u| same_url(u, peer)))
        {
            return Err(FederationError::Taken(format!(
                "the peer URL {peer} is already used by etcd member {} {:?}: give this site its own --etcd-peer-url",
                hex_id(m.id),
                m.name
            )));
        }
        if self.store.get(&self.keys.node(node)).await?.is_some() {
            return Err(FederationError::Taken(format!(
                "a live node is named {:?}: choose another --node",
                node
            )));
        }
        // The certificate the CA signs names these hosts: no site may get one for a host
        // another site uses (it could pass for that site's API or member).
        let wanted = [host_of(peer), api_host.to_owned()];
        let nodes = self.nodes().await?;
        let used = members
            .iter()
            .flat_map(|m| m.peer_urls.iter().map(|u| host_of(u)))
            .chain(nodes.iter().map(|n| host_of(&n.api_url)))
            .filter(|h| !h.is_empty() && !is_loopback(h));
        for host in used {
            if wanted.contains(&host) {
                return Err(FederationError::Taken(format!(
                    "the host {host} is another site's: a site's certificate names only its own hosts (give this site's own address in --advertise-url and --etcd-peer-url)"
                )));
            }
        }
        if let Some(m) = members.iter().find(|m| m.is_learner || m.name.is_empty()) {
            return Err(FederationError::Quorum(format!(
                "etcd member {} ({}) is still joining: wait until it caught up (maoctl federation status), or remove it",
                hex_id(m.id),
                m.peer_urls.join(",")
            )));
        }

        Ok(())
    }

    /// This site's member must know a leader: a cluster without one cannot take a member
    /// (and adding one could leave it unable to regain quorum).
    async fn check_leader(&self) -> Result<(), FederationError> {
        let status = self.cluster.status().await.map_err(|e| {
            FederationError::Quorum(format!(
                "the etcd cluster has no leader or this site's member does not answer ({e}): bring the members back before adding one; a new member now could leave the cluster unable to keep quorum"
            ))
        })?;
        if status.leader == 0 {
            return Err(FederationError::Quorum(
                "the etcd cluster has no leader: bring its members back before adding one; a new member now could leave the cluster unable to keep quorum".to_owned(),
            ));
        }
        Ok(())
    }

    /// The voting members that are healthy must be a majority of the voters the cluster
    /// will have once the new member is promoted (it is caught up then, so it counts).
    async fn check_quorum(&self, members: &[ClusterMember]) -> Result<(), FederationError> {
        let reports = self.reports().await?;
        let now = Utc::now();
        let voters: Vec<&ClusterMember> = members.iter().filter(|m| !m.is_learner).collect();
        let unhealthy: Vec<String> = voters
            .iter()
            .filter(|m| {
                let report = reports.iter().find(|r| r.member_id == hex_id(m.id));
                health(m, report, now).0 == "unhealthy"
            })
            .map(|m| m.name.clone())
            .collect();
        // The healthy voters must be a quorum now: the new member only counts once it
        // caught up (etcd promotes it then), and a learner does not change the quorum.
        let healthy = voters.len() - unhealthy.len();
        if healthy < voters.len() / 2 + 1 {
            return Err(FederationError::Quorum(format!(
                "{} of {} etcd members are unhealthy ({}): the cluster has no healthy quorum to take one more member; bring them back or remove them first (maoctl federation remove ID)",
                unhealthy.len(),
                voters.len(),
                unhealthy.join(", ")
            )));
        }
        Ok(())
    }

    /// Removes this site's member from the cluster, unless the members left could not keep
    /// quorum (or it is the last one); answers its id and how many members remain.
    pub async fn leave(&self) -> Result<(String, usize), FederationError> {
        let status = self.cluster.status().await?;
        if status.is_learner {
            return Err(FederationError::NotHere(format!(
                "this site's member {id} is still a learner (it never caught up with the leader): remove it from another site with `maoctl federation remove {id}`",
                id = hex_id(status.member_id)
            )));
        }
        self.remove_member(status.member_id, true, false).await
    }

    /// Removes the member `id` (a site gone for good, or a learner that never started),
    /// unless the members left could not keep quorum. A healthy member whose node is live is
    /// only removed with `force` (it should leave by itself). Answers its id and how many
    /// members remain.
    pub async fn remove(&self, id: &str, force: bool) -> Result<(String, usize), FederationError> {
        let id = u64::from_str_radix(id, 16).map_err(|_| {
            invalid(
                "id",
                &format!("{id:?} is not a member id (hex, as `maoctl federation status` shows)"),
            )
        })?;
        let status = self.cluster.status().await?;
        if id == status.member_id {
            return Err(FederationError::NotHere(format!(
                "{} is this node's own member: stop the daemon and run `mao-orchestrator federation leave` on this site",
                hex_id(id)
            )));
        }
        self.remove_member(id, false, force).await
    }

    async fn remove_member(
        &self,
        id: u64,
        leaving: bool,
        force: bool,
    ) -> Result<(String, usize), FederationError> {
        let members = self.cluster.members().await?;
        let target = members.iter().find(|m| m.id == id).ok_or_else(|| {
            FederationError::Missing(format!("no etcd member has the id {}", hex_id(id)))
        })?;
        let reports = self.reports().await?;
        let now = Utc::now();
        let report_of = |m: &ClusterMember| reports.iter().find(|r| r.member_id == hex_id(m.id));
        if !target.is_learner {
            let voters: Vec<&ClusterMember> = members.iter().filter(|m| !m.is_learner).collect();
            if voters.len() <= 1 {
                return Err(FederationError::NotHere(format!(
                    "{:?} is the federation's last etcd member: there is nothing to leave",
                    target.name
                )));
            }
            let healthy_others = voters
                .iter()
                .filter(|m| m.id != id && health(m, report_of(m), now).0 != "unhealthy")
                .count();
            let after = voters.len() - 1;
            if healthy_others < after / 2 + 1 {
                return Err(FederationError::Quorum(format!(
                    "only {healthy_others} of the {after} members that would remain are healthy: the cluster could not keep quorum; bring them back or remove the dead ones first"
                )));
            }
            let alive = !target.name.is_empty()
                && self
                    .store
                    .get(&self.keys.node(&target.name))
                    .await?
                    .is_some();
            if !leaving && !force && alive && health(target, report_of(target), now).0 == "healthy"
            {
                return Err(FederationError::Taken(format!(
                    "member {} ({:?}) is healthy and its node is live: let that site leave (`mao-orchestrator federation leave`), or remove it anyway with --force",
                    hex_id(id),
                    target.name
                )));
            }
        }
        // The report goes first: once removed, a leaving member cannot write.
        if !target.name.is_empty() {
            self.store.delete(&self.report_key(&target.name)).await?;
        }
        settled(|| self.cluster.remove(id)).await?;
        info!(member = %hex_id(id), name = %target.name, "etcd member removed from the cluster");
        Ok((hex_id(id), members.len() - 1))
    }

    /// Promotes every started learner that caught up; those that did not are asked again
    /// at the next pass.
    pub async fn promote_learners(&self) {
        let members = match self.cluster.members().await {
            Ok(m) => m,
            Err(e) => {
                debug!(error = %e, "cannot list the etcd members");
                return;
            }
        };
        for m in members
            .iter()
            .filter(|m| m.is_learner && !m.name.is_empty())
        {
            match self.cluster.promote(m.id).await {
                Ok(()) => {
                    info!(member = %hex_id(m.id), name = %m.name, "etcd learner promoted to a voting member")
                }
                Err(e) => debug!(member = %hex_id(m.id), error = %e, "learner not promoted yet"),
            }
        }
    }

    /// Uses the join token `name` once (expired or used up: refused); see [`Federation::give_back`].
    pub fn take_use(&self, name: &str) -> Result<(), crate::access::AccessError> {
        self.tokens().take_use(name)
    }

    /// Gives back the use of a join that added nothing.
    pub fn give_back(&self, name: &str) {
        if let Err(e) = self.tokens().give_back(name) {
            warn!(token = %name, error = %e, "cannot give the join token its use back");
        }
    }

    fn tokens(&self) -> crate::access::TokenFile {
        crate::access::TokenFile::in_data_dir(self.dir.parent().unwrap_or(&self.dir))
    }

    /// Writes this site's report on its own member.
    pub async fn report(&self) -> Result<(), FederationError> {
        let status = self.cluster.status().await?;
        let report = MemberReport {
            node: self.node.clone(),
            member_id: hex_id(status.member_id),
            is_learner: status.is_learner,
            leader: if status.leader == 0 {
                String::new()
            } else {
                hex_id(status.leader)
            },
            raft_index: status.raft_index,
            errors: status.errors,
            at: Utc::now(),
        };
        let value = serde_json::to_vec(&report).expect("a report serialises");
        self.store
            .put(&self.report_key(&self.node), Bytes::from(value), None)
            .await?;
        Ok(())
    }

    /// Reports and promotes, every few seconds, until the task is dropped.
    pub async fn keep(self: Arc<Self>) {
        let mut report = tokio::time::interval(REPORT_INTERVAL);
        let mut promote = tokio::time::interval(PROMOTE_INTERVAL);
        loop {
            tokio::select! {
                _ = report.tick() => {
                    if let Err(e) = self.report().await {
                        debug!(error = %e, "cannot report on this site's etcd member");
                    }
                }
                _ = promote.tick() => self.promote_learners().await,
            }
        }
    }

    fn report_key(&self, node: &str) -> String {
        format!("{}{}", self.keys.collection("etcd-members"), node)
    }

    async fn reports(&self) -> Result<Vec<MemberReport>, FederationError> {
        let page = mao_store::list_all(
            self.store.as_ref(),
            &self.keys.collection("etcd-members"),
            500,
        )
        .await?;
        Ok(page
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, FederationError> {
        let page =
            mao_store::list_all(self.store.as_ref(), &self.keys.collection("nodes"), 500).await?;
        Ok(page
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect())
    }

    fn ca(&self) -> Result<mao_federation::ca::Ca, FederationError> {
        if !self.dir.join("ca.key").exists() {
            return Err(FederationError::NotHere(format!(
                "node {:?} holds no federation CA ({} has no ca.key): send the join to the site that ran `federation init`",
                self.node,
                self.dir.display()
            )));
        }
        mao_federation::ca::Ca::load(&self.dir).map_err(|e| {
            warn!(error = %e, "cannot load the federation CA");
            FederationError::NotHere(format!("the federation CA cannot be loaded: {e}"))
        })
    }

    /// The federation's CA certificate (PEM), if this site has it.
    pub fn ca_pem(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("ca.pem")).ok()
    }
}

/// How long a membership change is retried while etcd answers that not every member is
/// connected yet (the first seconds after a member joined, or a member that is down).
const SETTLE: Duration = Duration::from_secs(20);

/// Runs a membership change, again while etcd says the cluster is not settled.
async fn settled<T, F, Fut>(change: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let until = tokio::time::Instant::now() + SETTLE;
    loop {
        match change().await {
            Err(StoreError::Unavailable(why)) if tokio::time::Instant::now() < until => {
                debug!(%why, "etcd is not ready for a membership change; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// How a member is doing, from the report its site wrote.
fn health(
    member: &ClusterMember,
    report: Option<&MemberReport>,
    now: chrono::DateTime<Utc>,
) -> (&'static str, Option<String>) {
    if member.name.is_empty() {
        return ("starting", Some("added, not started yet".to_owned()));
    }
    if member.is_learner {
        return (
            "starting",
            Some("learner, catching up with the leader".to_owned()),
        );
    }
    let Some(report) = report else {
        return ("unknown", Some("no site reports on this member".to_owned()));
    };
    let age = (now - report.at).num_seconds().max(0);
    if age as u64 > REPORT_STALE.as_secs() {
        return ("unhealthy", Some(format!("no report for {age} s")));
    }
    if report.leader.is_empty() {
        return ("unhealthy", Some("knows no leader".to_owned()));
    }
    if !report.errors.is_empty() {
        return ("unhealthy", Some(report.errors.join("; ")));
    }
    ("healthy", None)
}

/// etcd's member id as etcdctl prints it.
pub fn hex_id(id: u64) -> String {
    format!("{id:x}")
}

fn invalid(field: &str, message: &str) -> FederationError {
    FederationError::Invalid(mao_api::ValidationError::new(field, message))
}

/// A peer URL: `https://HOST:PORT` (peer traffic is always TLS in a federation).
fn peer_url(text: &str) -> Result<String, FederationError> {
    let url = mao_api::validate::http_endpoint("peer_url", text)?;
    if url.scheme() != "https" {
        return Err(invalid(
            "peer_url",
            &format!("{text:?} must be https:// (etcd peers talk TLS with certificates the federation issues)"),
        ));
    }
    if url.port().is_none() || url.path() != "/" {
        return Err(invalid(
            "peer_url",
            &format!("{text:?} is not https://HOST:PORT"),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}
