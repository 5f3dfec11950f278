//! Free loopback ports for daemons the tests start.
//!
//! A port is found by binding port 0 and releasing it for the daemon, so two separate picks
//! can return the same port (CI once gave a node's Stratum and P2P the same one, and the node
//! rightly refused to start). Every pick in a test process therefore goes through one set of
//! ports already handed out, and the ports of one call are bound together.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

/// Ports this process has already handed out; never handed out twice.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Bounds the search: the ephemeral range has tens of thousands of ports, so a few hundred
/// binds that all hit ports already handed out mean something else is wrong.
const MAX_BINDS: usize = 512;

/// `N` distinct free loopback ports, none handed out before in this process.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let mut given = handed_out().lock().unwrap_or_else(|p| p.into_inner());
    // Listeners stay bound until all N are found, so the kernel cannot repeat one of them.
    let mut held = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    let mut found = 0;
    for _ in 0..MAX_BINDS {
        if found == N {
            break;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
            .port();
        if given.insert(port) {
            ports[found] = port;
            found += 1;
        }
        held.push(listener);
    }
    assert_eq!(found, N, "no {N} fresh loopback ports in {MAX_BINDS} binds");
    ports
}

/// One free loopback port, never handed out before in this process.
pub fn free_port() -> u16 {
    let [port] = free_ports::<1>();
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let [a, b, c] = free_ports::<3>();
            assert!(seen.insert(a) && seen.insert(b) && seen.insert(c));
        }
    }
}
