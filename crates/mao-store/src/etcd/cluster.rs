//! [`Cluster`] for [`EtcdStore`]: etcd's Cluster and Maintenance services, through the
//! same member rotation, timeouts and token renewal as every other request of the store.
//!
//! Membership changes are sent again after an attempt with an unknown outcome, like every
//! request of the store (see [`EtcdStore::run_resolving`]), but unlike the store's writes a
//! repeated MemberAdd is not harmless by itself: each add makes a new member. It cannot
//! make two, though: etcd refuses a second member with the same peer URLs ("Peer URLs
//! already exists", or "member ID already exist" within the same second, as etcd derives
//! the id from the peer URLs and the time in seconds). After an ambiguous attempt that refusal is read as the first
//! attempt's effect when the member holding those peer URLs is a learner that has not
//! started yet (no name): that is the learner this call added, and the call answers it as
//! added. A repeated promote that finds the member a voter already, and a repeated remove
//! that finds the member gone, likewise answer success. Without an ambiguous attempt the
//! same refusals are [`StoreError::Refused`].

use std::future::Future;

use async_trait::async_trait;
use etcd_client::{ClusterClient, Error as EtcdError, MemberAddOptions};

use super::{Context, EtcdStore};
use crate::cluster::{Added, Cluster, ClusterMember, MemberStatus};
use crate::{Result, StoreError};

/// A membership change etcd refused: an answer about the request itself, which sending it
/// to another member does not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    PeerUrlExists,
    MemberNotFound,
    /// A promote of a member that votes already.
    NotLearner,
    /// A promote of a learner that has not caught up with the leader (or not started).
    LearnerNotReady,
    TooManyLearners,
    /// The change would leave fewer started voters than a quorum (`--strict-reconfig-check`).
    NotEnoughStarted,
    /// The member that took the request is not connected to every other voter, so it
    /// cannot tell that the change keeps a quorum (`--strict-reconfig-check`).
    Unhealthy,
    BadUrls,
}

impl Refusal {
    /// The refusal etcd answered, if it is one.
    fn of(e: &EtcdError) -> Option<Refusal> {
        match e {
            EtcdError::GRpcStatus(status) => Refusal::of_message(status.message()),
            _ => None,
        }
    }

    /// The refusal etcd 3.4 means by this status message, if it is one.
    fn of_message(message: &str) -> Option<Refusal> {
        // Longest first: "can only promote a learner member which is in sync with leader"
        // contains "can only promote a learner member".
        let known = [
            ("which is in sync with leader", Refusal::LearnerNotReady),
            ("can only promote a learner member", Refusal::NotLearner),
            ("peer urls already exists", Refusal::PeerUrlExists),
            // etcd derives a new member's id from its peer URLs, the cluster and the
            // second of the add: the same peer URLs added again within a second.
            ("member id already exist", Refusal::PeerUrlExists),
            ("member not found", Refusal::MemberNotFound),
            ("too many learner members", Refusal::TooManyLearners),
            ("not enough started members", Refusal::NotEnoughStarted),
            ("unhealthy cluster", Refusal::Unhealthy),
            ("given member urls are invalid", Refusal::BadUrls),
        ];
        let message = message.to_lowercase();
        known
            .iter()
            .find(|(needle, _)| message.contains(needle))
            .map(|(_, refusal)| *refusal)
    }

    /// The error for the caller: what was refused and what to do about it. `subject` is
    /// the member ("member 8e9e05c52164694d") or the peer URLs the request was about.
    fn error(self, subject: &str) -> StoreError {
        let message = match self {
            Refusal::PeerUrlExists => format!(
                "{subject} are the peer URLs of a member already: remove that member first, or give the new one other peer URLs"
            ),
            Refusal::MemberNotFound => format!(
                "{subject} is not a member of the cluster (list the members for their ids)"
            ),
            Refusal::NotLearner => {
                format!("{subject} is a voting member already: only a learner can be promoted")
            }
            Refusal::LearnerNotReady => format!(
                "{subject} is a learner not in sync with the leader yet: start it (--initial-cluster-state existing) and promote it again once it caught up"
            ),
            Refusal::TooManyLearners => format!(
                "cannot add {subject}: the cluster has as many learners as etcd allows; promote or remove a learner first"
            ),
            Refusal::NotEnoughStarted => format!(
                "changing {subject} would leave too few started voting members for a quorum: start the members that are down first"
            ),
            // Also the first seconds after a member joined (etcd's --strict-reconfig-check
            // wants every member connected for a while): worth a retry, so Unavailable.
            Refusal::Unhealthy => {
                return StoreError::Unavailable(format!(
                    "changing {subject} could break the quorum: the member that took the request is not connected to every other member; retry once all members are up"
                ))
            }
            Refusal::BadUrls => {
                return StoreError::Invalid(format!(
                    "{subject}: etcd accepts only URLs like http://host:port"
                ))
            }
        };
        StoreError::Refused(message)
    }
}

/// Turns etcd's membership refusals into an answer, so that [`EtcdStore::run_resolving`]
/// hands them back with whether an earlier attempt was ambiguous.
fn refusal<T>(result: Result<T, EtcdError>) -> Result<Result<T, Refusal>, EtcdError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e) => match Refusal::of(&e) {
            Some(refusal) => Ok(Err(refusal)),
            None => Err(e),
        },
    }
}

fn member_name(id: u64) -> String {
    format!("member {id:x}")
}

fn to_member(member: &etcd_client::Member) -> ClusterMember {
    ClusterMember {
        id: member.id(),
        name: member.name().to_owned(),
        peer_urls: member.peer_urls().to_vec(),
        client_urls: member.client_urls().to_vec(),
        is_learner: member.is_learner(),
    }
}

/// Whether `member` has exactly `peer_urls`, in any order.
fn has_peer_urls(member: &ClusterMember, peer_urls: &[String]) -> bool {
    let mut have = member.peer_urls.clone();
    let mut want = peer_urls.to_vec();
    have.sort();
    want.sort();
    have == want
}

impl EtcdStore {
    /// Runs a change of member `id` (a promote or a remove); `applied` is the refusal that,
    /// after an attempt with an unknown outcome, means that attempt made the change.
    async fn change_member<F, C>(&self, id: u64, applied: Refusal, call: C) -> Result<()>
    where
        C: Fn(ClusterClient) -> F,
        F: Future<Output = Result<(), EtcdError>>,
    {
        let answer = self
            .run_resolving(Context::default(), |client| {
                let change = call(client.cluster_client());
                async move { refusal(change.await) }
            })
            .await?;
        match answer.value {
            Ok(()) => Ok(()),
            Err(refused) if refused == applied && answer.after_ambiguous => Ok(()),
            Err(refused) => Err(refused.error(&member_name(id))),
        }
    }
}

#[async_trait]
impl Cluster for EtcdStore {
    async fn members(&self) -> Result<Vec<ClusterMember>> {
        let resp = self
            .run(Context::default(), |client| {
                let mut cluster = client.cluster_client();
                async move { cluster.member_list().await }
            })
            .await?;
        Ok(resp.members().iter().map(to_member).collect())
    }

    async fn add_learner(&self, peer_urls: &[String]) -> Result<Added> {
        let subject = format!("{peer_urls:?}");
        if peer_urls.is_empty() {
            return Err(StoreError::Invalid(
                "a new member needs at least one peer URL".into(),
            ));
        }
        let answer = self
            .run_resolving(Context::default(), |client| {
                let mut cluster = client.cluster_client();
                let urls = peer_urls.to_vec();
                async move {
                    let options = MemberAddOptions::new().with_is_learner();
                    refusal(cluster.member_add(urls, Some(options)).await)
                }
            })
            .await?;
        match answer.value {
            Ok(resp) => {
                let member = resp.member().map(to_member).ok_or_else(|| {
                    StoreError::Internal("etcd answered a member add without the member".into())
                })?;
                let members = resp.member_list().iter().map(to_member).collect();
                Ok(Added { member, members })
            }
            Err(Refusal::PeerUrlExists) if answer.after_ambiguous => {
                // An earlier attempt may have added the member: then it holds these peer
                // URLs, is a learner, and has not started (nobody could start it yet).
                let members = self.members().await?;
                match members
                    .iter()
                    .find(|m| has_peer_urls(m, peer_urls) && m.is_learner && m.name.is_empty())
                {
                    Some(member) => Ok(Added {
                        member: member.clone(),
                        members: members.clone(),
                    }),
                    None => Err(Refusal::PeerUrlExists.error(&subject)),
                }
            }
            Err(refused) => Err(refused.error(&subject)),
        }
    }

    async fn promote(&self, id: u64) -> Result<()> {
        // A voter now: an earlier attempt promoted it.
        self.change_member(id, Refusal::NotLearner, |mut cluster| async move {
            cluster.member_promote(id).await.map(drop)
        })
        .await
    }

    async fn remove(&self, id: u64) -> Result<()> {
        // Gone: an earlier attempt removed it.
        self.change_member(id, Refusal::MemberNotFound, |mut cluster| async move {
            cluster.member_remove(id).await.map(drop)
        })
        .await
    }

    async fn status(&self) -> Result<MemberStatus> {
        let resp = self
            .run(Context::default(), |client| {
                let mut maintenance = client.maintenance_client();
                async move { maintenance.status().await }
            })
            .await?;
        let header = resp
            .header()
            .ok_or_else(|| StoreError::Internal("etcd status without a header".into()))?;
        Ok(MemberStatus {
            member_id: header.member_id(),
            leader: resp.leader(),
            is_learner: resp.is_learner(),
            raft_index: resp.raft_index(),
            errors: resp.errors().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_refusals_are_told_apart() {
        let cases = [
            (
                "etcdserver: can only promote a learner member which is in sync with leader",
                Some(Refusal::LearnerNotReady),
            ),
            (
                "etcdserver: can only promote a learner member",
                Some(Refusal::NotLearner),
            ),
            (
                "etcdserver: Peer URLs already exists",
                Some(Refusal::PeerUrlExists),
            ),
            (
                "etcdserver: member ID already exist",
                Some(Refusal::PeerUrlExists),
            ),
            (
                "etcdserver: member not found",
                Some(Refusal::MemberNotFound),
            ),
            ("etcdserver: no leader", None),
        ];
        for (message, expected) in cases {
            assert_eq!(Refusal::of_message(message), expected, "{message}");
        }
    }

    #[test]
    fn a_peer_url_match_ignores_order() {
        let member = ClusterMember {
            id: 1,
            name: String::new(),
            peer_urls: vec!["http://b".into(), "http://a".into()],
            client_urls: Vec::new(),
            is_learner: true,
        };
        assert!(has_peer_urls(
            &member,
            &["http://a".into(), "http://b".into()]
        ));
        assert!(!has_peer_urls(&member, &["http://a".into()]));
    }
}
