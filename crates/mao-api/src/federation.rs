//! Wire types of the federation's own membership: the etcd members behind the shared
//! store, a new site's request to join, and what it is given to start its member.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::NodeInfo;

/// A new site asks a member of the federation to add it (`POST /api/v1/federation/join`,
/// with a token of the role `join`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The new site's node name; its etcd member is named the same.
    pub node: String,
    /// Where the new site's etcd member will listen for its peers (`https://HOST:PORT`).
    pub peer_url: String,
    /// Where the new site's API will be reached (its `advertise_url`).
    pub api_url: String,
    /// The public key of the new site (raw uncompressed P-256 point, base64): the
    /// federation's CA signs a certificate for it; the private key never leaves the site.
    pub public_key: String,
}

/// What a site that was added needs to start its etcd member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The etcd member added for the new site (a learner until it caught up).
    pub member_id: String,
    /// `name=peer_url,...` of every member, the new one included (etcd's `--initial-cluster`).
    pub initial_cluster: String,
    /// The federation's CA certificate (PEM).
    pub ca_pem: String,
    /// The new site's certificate (PEM), signed by the CA, for its peer URL's and API URL's
    /// hosts; for etcd peer traffic and the HTTPS API.
    pub cert_pem: String,
    /// The federation's key prefix in etcd.
    pub prefix: String,
}

/// One etcd member, as `maoctl federation status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMember {
    /// etcd's member id, in hex as etcdctl prints it.
    pub id: String,
    /// Empty until the member started for the first time.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub is_learner: bool,
    pub is_leader: bool,
    /// `healthy`, `unhealthy`, `starting` (added, not started yet) or `unknown` (no site
    /// reports on it).
    pub health: String,
    /// Why it is not healthy, when that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The live mao node of the same name, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// What a site reports on its own etcd member, every few seconds, under its lease
/// (`/mao/etcd-members/<node>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReport {
    pub node: String,
    pub member_id: String,
    pub is_learner: bool,
    /// The leader the member knows of (hex); empty when it has none.
    pub leader: String,
    pub raft_index: u64,
    /// etcd's own alarms and errors of the member.
    #[serde(default)]
    pub errors: Vec<String>,
    pub at: DateTime<Utc>,
}

/// The federation's membership: etcd members, mao nodes, and which match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationStatus {
    /// Whether the answering node runs its etcd member itself (`--etcd-managed`).
    pub managed: bool,
    pub members: Vec<EtcdMember>,
    pub nodes: Vec<NodeInfo>,
    /// Live mao nodes without an etcd member of their name (they use another site's member,
    /// or an etcd the operator runs).
    pub nodes_without_member: Vec<String>,
}
