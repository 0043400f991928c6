//! The integration tests of mao-notify, one binary: webhook and Slack sinks against a real
//! HTTP receiver, email against a real SMTP server, both on loopback ports.

mod email;
mod http;
mod support;
