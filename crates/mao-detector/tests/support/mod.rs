//! Code shared by the integration tests and the evaluate example.

pub mod scoring;
