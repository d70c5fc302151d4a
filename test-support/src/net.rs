//! Loopback ports for test servers.

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before this returns, so another process may take it in between; callers
/// that can (like [`crate::PgCluster`]) retry with a new port when binding fails. Prefer binding
/// `127.0.0.1:0` directly when the server runs in the test process.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("binding 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}
