//! The integration tests of mao-store, one binary: the conformance suite against both
//! backends, and what only one backend has to prove.

#[macro_use]
mod suite;

mod embedded;
mod etcd;
mod etcd_cluster;
mod etcd_membership;
mod etcd_secure;
mod etcd_smoke;
