//! The integration tests of mao-server, one binary: the HTTP API in-process, and the real
//! daemon binary with the real maoctl, etcd, sshd, SMTP and Docker Engine.

mod api;
mod confine;
mod e2e;
mod engine;
mod etcd_failover;
mod faults;
mod gateway;
mod hardening;
mod insights;
mod managed;
mod node;
mod notifications;
mod old_data_dir;
mod original_client;
mod pipelines;
mod runs;
mod schedules;
mod security;
mod support;
