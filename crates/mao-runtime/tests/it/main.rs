//! The integration tests of mao-runtime, one binary: the Docker backend against the real
//! Engine.

mod docker;
