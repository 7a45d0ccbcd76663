//! Names shared by the stream stages: which side of a connection bytes come from.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

/// Identifies one TCP connection for the lifetime of the analysis (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A map keyed by [`ConnId`], hashed with [`ConnIdHasher`].
pub type ConnIdMap<V> = HashMap<ConnId, V, BuildHasherDefault<ConnIdHasher>>;

/// Hashes [`ConnId`]s by multiplying them with an odd constant (Fibonacci hashing). Ids are
/// handed out in sequence by the reassembler, never read from the input, so the standard
/// library's keyed (and much slower) hasher buys no protection here; the multiplication
/// spreads consecutive ids over the low bits (the bucket) and the high bits (the tag).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnIdHasher(u64);

impl Hasher for ConnIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The two directions of a TCP connection, named after who opened it.
///
/// The *initiator* is the side that sent the SYN, or, when no SYN was captured, the source
/// of the first segment seen. Client and server roles for DCE/RPC are decided later (the
/// side that sends binds and requests is the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the initiator to the responder.
    ToResponder,
    /// From the responder back to the initiator.
    ToInitiator,
}

impl Direction {
    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToResponder => Direction::ToInitiator,
            Direction::ToInitiator => Direction::ToResponder,
        }
    }

    /// 0 for [`Direction::ToResponder`], 1 for [`Direction::ToInitiator`]: an index for
    /// per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ToResponder => 0,
            Direction::ToInitiator => 1,
        }
    }
}

/// The endpoints of a TCP connection as first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnEndpoints {
    /// The side that opened the connection (or sent the first captured segment).
    pub initiator: SocketAddr,
    /// The other side.
    pub responder: SocketAddr,
    /// Whether the opening SYN was captured (roles are then certain).
    pub saw_syn: bool,
}
