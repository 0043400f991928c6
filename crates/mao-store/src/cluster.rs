//! Administration of an etcd cluster's membership: list the members, add one as a
//! learner, promote it to a voter, remove one, and ask a member for its status.
//!
//! A new member joins as a non-voting learner (etcd 3.4): it does not count towards the
//! quorum while it catches up with the leader, so adding it cannot cost the cluster its
//! majority. Once in sync it is promoted. Only [`crate::etcd::EtcdStore`] implements
//! [`Cluster`]; the embedded store has no cluster.

use async_trait::async_trait;

use crate::Result;

/// One member of an etcd cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMember {
    pub id: u64,
    /// Empty until the member started and joined.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What one member says of itself (etcd's maintenance `Status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub member_id: u64,
    /// The leader's member id; 0 while the member knows of no leader.
    pub leader: u64,
    pub is_learner: bool,
    pub raft_index: u64,
    /// Alarms and other errors the member reports.
    pub errors: Vec<String>,
}

/// A learner just added, and every member after the add (the joiner's initial cluster).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    pub member: ClusterMember,
    pub members: Vec<ClusterMember>,
}

impl Added {
    /// The joiner's `--initial-cluster`: `name=peer-url` of every started member, and
    /// `joiner_name` for the learner just added.
    pub fn initial_cluster(&self, joiner_name: &str) -> String {
        self.members
            .iter()
            .flat_map(|member| {
                let name = if member.id == self.member.id {
                    joiner_name
                } else {
                    member.name.as_str()
                };
                member
                    .peer_urls
                    .iter()
                    .map(move |url| format!("{name}={url}"))
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The membership of an etcd cluster. Refusals of etcd (a learner not in sync yet, an
/// unknown member, a peer URL in use, too many learners, a change that would lose the
/// quorum) are [`crate::StoreError::Refused`] with what to do about them.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Every member, voters and learners.
    async fn members(&self) -> Result<Vec<ClusterMember>>;

    /// Adds a non-voting learner with these peer URLs (etcd 3.4 MemberAdd isLearner).
    async fn add_learner(&self, peer_urls: &[String]) -> Result<Added>;

    /// Makes a learner a voting member; a learner not yet in sync with the leader is refused.
    async fn promote(&self, id: u64) -> Result<()>;

    /// Removes a member, voter or learner.
    async fn remove(&self, id: u64) -> Result<()>;

    /// The status of the first endpoint that answers (the store's own member when it has
    /// one endpoint).
    async fn status(&self) -> Result<MemberStatus>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, peer: &str, is_learner: bool) -> ClusterMember {
        ClusterMember {
            id,
            name: name.to_owned(),
            peer_urls: vec![peer.to_owned()],
            client_urls: Vec::new(),
            is_learner,
        }
    }

    #[test]
    fn the_initial_cluster_names_the_joiner() {
        let joiner = member(2, "", "http://b:2380", true);
        let added = Added {
            member: joiner.clone(),
            members: vec![member(1, "a", "http://a:2380", false), joiner],
        };
        assert_eq!(
            added.initial_cluster("b"),
            "a=http://a:2380,b=http://b:2380"
        );
    }
}
