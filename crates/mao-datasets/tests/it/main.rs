//! The integration tests of mao-datasets, one binary: bare repositories on disk reached
//! over file://, a real sshd, and a bulk commit timed against the git command line.

mod bulk;
mod confine;
mod local;
mod ssh;
mod support;
