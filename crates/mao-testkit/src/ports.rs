//! Loopback ports that nobody else can take.

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// A loopback port reserved by a bound socket that does not listen: a connection to it is
/// refused at once, and no other process can bind it while this value lives. The fix for
/// "bind port 0, drop the listener, hope nobody takes the port".
pub struct ClosedPort {
    socket: Socket,
    port: u16,
}

impl ClosedPort {
    /// Reserves a free port on 127.0.0.1.
    pub fn new() -> ClosedPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .expect("cannot create a TCP socket");
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        socket
            .bind(&any.into())
            .expect("cannot bind a loopback port");
        let port = socket
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("an IP socket")
            .port();
        ClosedPort { socket, port }
    }

    /// Reserves `port` on 127.0.0.1, which a server of the test has just let go of (it was
    /// killed): the port stays closed, and taken by nobody else, until this value is dropped.
    pub fn hold(port: u16) -> std::io::Result<ClosedPort> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        // The old server's connections may linger in TIME_WAIT.
        socket.set_reuse_address(true)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        socket.bind(&addr.into())?;
        Ok(ClosedPort { socket, port })
    }

    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening on the reserved port: from now on connections are accepted.
    pub fn listen(self) -> TcpListener {
        self.socket.listen(128).expect("cannot listen on the port");
        self.socket.into()
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}
