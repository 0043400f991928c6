//! Helpers shared by the integration tests.

// Each test binary uses only some of the helpers.
#[allow(dead_code)]
pub mod etcd_server;
