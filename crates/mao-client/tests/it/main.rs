//! The integration tests of mao-client, one binary: the client against real servers on
//! loopback ports.

mod tls;
