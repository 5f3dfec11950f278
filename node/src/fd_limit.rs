//! The open-file limit. Every Stratum connection, peer and RocksDB file is a file descriptor,
//! and most distributions start services with a soft limit of 1024: a farm of a thousand rigs
//! would be refused by `accept` long before `max_connections`. As Bitcoin Core does, the node
//! raises its soft limit to the hard limit at start and says what it got.

use std::io;

/// Descriptors the node needs beyond Stratum connections: peers (at most a few hundred),
/// RocksDB's open table files (its default `max_open_files` is unbounded, a few hundred for a
/// sharechain), the API's connections and a margin for logs and the full-node client.
pub const BASE_DESCRIPTORS: u64 = 1024;

/// The limit before and after raising it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised {
    pub before: u64,
    pub after: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
#[cfg(unix)]
pub fn raise_to_hard_limit() -> io::Result<Raised> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    let hard = limit.rlim_max;
    if before < hard {
        let raised = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads one rlimit we own; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut now = limit;
    // SAFETY: as above.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on Linux but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok(Raised {
        before: before as u64,
        after: now.rlim_cur as u64,
        hard: hard as u64,
    })
}

#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> io::Result<Raised> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "file descriptor limits are a Unix feature",
    ))
}

/// Descriptors needed to serve `stratum_connections` rigs.
pub fn needed(stratum_connections: usize) -> u64 {
    stratum_connections as u64 + BASE_DESCRIPTORS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let r = raise_to_hard_limit().unwrap();
        assert!(r.before <= r.after);
        assert_eq!(r.after, r.hard);
        // Idempotent.
        assert_eq!(raise_to_hard_limit().unwrap().before, r.after);
        assert_eq!(needed(20_000), 21_024);
    }
}
