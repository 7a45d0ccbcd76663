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

/// Bits of a frame reference that hold the frame's number in its input.
const FRAME_NUMBER_BITS: u32 = 48;

/// The most inputs one analysis takes: an input's index must fit a frame reference.
pub const MAX_INPUTS: usize = 1 << (64 - FRAME_NUMBER_BITS);

/// A frame of one input of a trace, as every stage carries it (`frame: u64`): the input's
/// index in the top 16 bits and the frame's number in that input (Wireshark's, from 1) in
/// the low 48. For input 0 it is the frame number itself. The report splits it again
/// ([`frame_input`], [`frame_number`]) so that each cited frame names its file.
pub fn frame_ref(input: usize, number: u64) -> u64 {
    ((input as u64) << FRAME_NUMBER_BITS) | (number & ((1 << FRAME_NUMBER_BITS) - 1))
}

/// The input a frame reference belongs to.
pub fn frame_input(frame: u64) -> usize {
    (frame >> FRAME_NUMBER_BITS) as usize
}

/// The frame's number in its input.
pub fn frame_number(frame: u64) -> u64 {
    frame & ((1 << FRAME_NUMBER_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_references_round_trip_and_input_zero_is_the_number() {
        assert_eq!(frame_ref(0, 12_345), 12_345);
        let r = frame_ref(3, 777);
        assert_eq!((frame_input(r), frame_number(r)), (3, 777));
        let last = frame_ref(MAX_INPUTS - 1, (1 << 48) - 1);
        assert_eq!(
            (frame_input(last), frame_number(last)),
            (MAX_INPUTS - 1, (1 << 48) - 1)
        );
        // Frames of a later input sort after every frame of an earlier one.
        assert!(frame_ref(1, 1) > frame_ref(0, 1 << 40));
    }
}
