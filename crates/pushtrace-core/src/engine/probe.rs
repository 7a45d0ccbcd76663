//! What a TCP connection carries, decided from its first bytes: raw DCE/RPC (ncacn_ip_tcp),
//! SMB, or something else.
//!
//! DCE/RPC is recognised by content on any port (Wireshark's heuristic, protocol.md §1.12):
//! with the SYN captured the stream's first byte must start a plausible PDU header; without
//! it the stream may start mid-PDU, so a header is searched for in the first
//! [`PROBE_BYTES`]. Sixteen bytes that pass the heuristic turn up inside other protocols
//! now and then, so a header found mid-stream counts only when its frag_length confirms it:
//! the PDU ends exactly where the bytes end (PDUs end with their segment far more often
//! than not) or another plausible header starts right after it.
//!
//! SMB is recognised first, so that named-pipe RPC inside it is never framed as raw DCE/RPC
//! (its PDUs sit between SMB headers, which the framer would report as bad headers and
//! resyncs): by port, since Windows' SMB server owns TCP 139 (NetBIOS session service) and
//! 445 (SMB direct) and nothing else listens there, and by content elsewhere: an SMB1, SMB2/3,
//! SMB3 transform or SMB3 compression header (`FF`/`FE`/`FD`/`FC` `SMB`) right after a
//! 4-byte NetBIOS session-message header ([MS-SMB2] 2.1, RFC 1002 §4.3.6).

use crate::dcerpc::pdu::{frame_pdu, looks_like_pdu_header, Framing};
use crate::flow::ConnEndpoints;

/// Without a captured SYN, this many bytes are searched for a DCE/RPC header before a
/// connection is judged not to carry DCE/RPC.
pub(super) const PROBE_BYTES: u64 = 64 * 1024;

/// TCP ports owned by Windows' SMB server: NetBIOS session service and SMB direct.
const SMB_PORTS: [u16; 2] = [139, 445];

/// What a connection's bytes showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carries {
    /// A plausible DCE/RPC header.
    DceRpc,
    /// SMB (by port or by an SMB header).
    Smb,
    /// Neither in these bytes.
    Undecided,
}

/// True when either end of the connection is an SMB port.
pub(super) fn on_smb_port(ends: &ConnEndpoints) -> bool {
    SMB_PORTS.contains(&ends.initiator.port()) || SMB_PORTS.contains(&ends.responder.port())
}

/// Looks at the next bytes of a connection not decided yet; `stream_start` says they are the
/// first bytes of a stream whose SYN was captured (a DCE/RPC header must then be at offset 0).
pub(super) fn probe(bytes: &[u8], stream_start: bool) -> Carries {
    if contains_smb_header(bytes) {
        Carries::Smb
    } else if (stream_start && looks_like_pdu_header(bytes))
        || (!stream_start && contains_confirmed_pdu(bytes))
    {
        Carries::DceRpc
    } else {
        Carries::Undecided
    }
}

/// The second to fourth bytes of every SMB header, after its protocol byte.
const SMB_MAGIC: &[u8; 3] = b"SMB";
/// SMB protocol bytes: SMB1, SMB2/3, SMB3 transform (encrypted), SMB3 compression transform.
const SMB_PROTOCOL_BYTES: [u8; 4] = [0xFF, 0xFE, 0xFD, 0xFC];
/// The smallest SMB header (SMB1's fixed header) a NetBIOS session message can carry.
const MIN_SMB_MESSAGE: usize = 32;

/// Whether an SMB header preceded by a NetBIOS session-message header (type 0, a length of
/// at least [`MIN_SMB_MESSAGE`]) starts anywhere in `bytes`.
fn contains_smb_header(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(s) = find_byte(b'S', bytes, from) {
        from = s + 1;
        let Some(start) = s.checked_sub(5) else {
            continue;
        };
        let (Some(nbss), Some(magic)) = (bytes.get(start..start + 4), bytes.get(s..s + 3)) else {
            continue;
        };
        let length = usize::from(nbss[1]) << 16 | usize::from(nbss[2]) << 8 | usize::from(nbss[3]);
        if magic == SMB_MAGIC
            && SMB_PROTOCOL_BYTES.contains(&bytes[s - 1])
            && nbss[0] == 0
            && length >= MIN_SMB_MESSAGE
        {
            return true;
        }
    }
    false
}

/// Whether a DCE/RPC PDU that its own frag_length confirms starts anywhere in `bytes`
/// ([`confirmed_at`]): the same answer as trying every position, but only where a header can
/// start (an `rpc_vers` byte of 5), so a megabyte of other traffic costs a byte search, not a
/// header check per byte.
fn contains_confirmed_pdu(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(start) = find_byte(RPC_VERS, bytes, from) {
        if confirmed_at(bytes, start) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// A whole plausible PDU starts at `start` and is followed by the end of `bytes` or by the
/// start of another plausible header (as far as the bytes go).
fn confirmed_at(bytes: &[u8], start: usize) -> bool {
    let rest = bytes.get(start..).unwrap_or_default();
    let Framing::Complete { len } = frame_pdu(rest) else {
        return false;
    };
    match rest.get(len..) {
        Some([]) => true,
        Some(next) => !matches!(frame_pdu(next), Framing::Invalid(_)),
        None => false,
    }
}

/// The first byte of every DCE/RPC connection-oriented PDU (C706 §12.6.3.1).
const RPC_VERS: u8 = 5;

/// Position of the first `needle` in `haystack` at or after `from`. Eight bytes are tested
/// at a time (a word has a zero byte where `(x - 0x01..) & !x & 0x80..` is non-zero).
fn find_byte(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let rest = haystack.get(from..)?;
    let spread = u64::from_ne_bytes([needle; 8]);
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().ok()?) ^ spread;
        if word.wrapping_sub(LOW) & !word & HIGH != 0 {
            break;
        }
        at += 8;
    }
    haystack
        .get(at..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// A bind header, little-endian, frag_length 72 (C706 §12.6.3.1).
    const BIND: [u8; 16] = [5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0];

    /// A NetBIOS session message holding an SMB2 WRITE request header (MS-SMB2 2.2.1.2,
    /// command 9) and, as a named-pipe write does, the start of a DCE/RPC bind after it.
    fn smb2_write_carrying_a_bind() -> Vec<u8> {
        let mut header = vec![0xFE, b'S', b'M', b'B', 64, 0, 1, 0];
        header.extend_from_slice(&[0; 4]); // status
        header.extend_from_slice(&[9, 0, 1, 0]); // command WRITE, credits
        header.resize(64, 0);
        let body = [&[0x31, 0, 0x70, 0][..], &[0; 44], &bind()].concat();
        let len = (header.len() + body.len()) as u32;
        [&len.to_be_bytes()[..], &header, &body].concat()
    }

    #[test]
    fn smb_wins_over_the_rpc_it_carries() {
        let message = smb2_write_carrying_a_bind();
        assert!(
            contains_confirmed_pdu(&message),
            "the bind inside is plausible"
        );
        assert_eq!(probe(&message, true), Carries::Smb);
        // Mid-stream: the capture began 37 bytes into an earlier message.
        let mid = [&[0x41; 37][..], &message].concat();
        assert_eq!(probe(&mid, false), Carries::Smb);
        // SMB1 on the NetBIOS session service, and an SMB3 encrypted (transform) message.
        for protocol in [0xFF, 0xFD] {
            let mut m = message.clone();
            m[4] = protocol;
            assert_eq!(probe(&m, true), Carries::Smb);
        }
    }

    #[test]
    fn smb_needs_its_session_header() {
        let mut message = smb2_write_carrying_a_bind();
        message[0] = 0x85; // a keep-alive type cannot carry a message
        assert_eq!(probe(&message, true), Carries::Undecided);
        assert_eq!(probe(&message, false), Carries::DceRpc);
        // "SMB" in text is not an SMB header.
        assert_eq!(
            probe(b"GET /SMB/FESMB HTTP/1.1\r\n", true),
            Carries::Undecided
        );
        // Cut right after the magic's first byte, and at the very start.
        assert!(!contains_smb_header(&smb2_write_carrying_a_bind()[..6]));
        assert!(!contains_smb_header(b"SMB"));
    }

    #[test]
    fn smb_ports_are_smb_whichever_side_is_taken_for_the_initiator() {
        let ends = |a: u16, b: u16| ConnEndpoints {
            initiator: SocketAddr::from(([10, 0, 0, 21], a)),
            responder: SocketAddr::from(([10, 0, 0, 5], b)),
            saw_syn: false,
        };
        assert!(on_smb_port(&ends(49_731, 445)));
        assert!(on_smb_port(&ends(139, 1088)));
        assert!(!on_smb_port(&ends(49_731, 1032)));
    }

    /// A whole bind: the header above and 56 body bytes.
    fn bind() -> Vec<u8> {
        [&BIND[..], &[0x11; 56]].concat()
    }

    #[test]
    fn finds_a_pdu_its_length_confirms() {
        let mut bytes = vec![0x05; 40]; // version bytes that do not start a header
        bytes.extend_from_slice(&bind());
        assert!(contains_confirmed_pdu(&bytes), "ends where the bytes end");
        // One byte short, or one byte more than the PDU: not confirmed.
        assert!(!contains_confirmed_pdu(&bytes[..bytes.len() - 1]));
        assert!(!contains_confirmed_pdu(&[&bytes[..], &[0x42]].concat()));
        // Followed by the start of another PDU: confirmed.
        assert!(contains_confirmed_pdu(&[&bytes[..], &BIND[..6]].concat()));
        assert!(!contains_confirmed_pdu(&[]));
        assert!(!contains_confirmed_pdu(&BIND[..15]));
        assert_eq!(probe(&bytes, false), Carries::DceRpc);
        assert_eq!(probe(&bytes, true), Carries::Undecided);
        assert_eq!(probe(&BIND, true), Carries::DceRpc);
    }

    proptest::proptest! {
        #[test]
        fn finds_the_first_byte(
            haystack in proptest::collection::vec(proptest::sample::select(vec![0u8, 4, 5, 6, 0x85]), 0..80),
            from in 0usize..90,
        ) {
            let expected = haystack
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == 5))
                .map(|i| from + i);
            proptest::prop_assert_eq!(find_byte(5, &haystack, from), expected);
        }

        /// Same answer as checking every position, on noise with PDUs and near-PDUs.
        #[test]
        fn agrees_with_every_position(
            noise in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 5, 11, 0x10, 72, 0xff]), 0..200),
            pdu_at in proptest::option::of(0usize..200),
            damage in proptest::option::of((0usize..16, proptest::num::u8::ANY)),
        ) {
            let mut bytes = noise;
            if let Some(at) = pdu_at {
                let at = at.min(bytes.len());
                let mut pdu = bind();
                if let Some((i, v)) = damage {
                    pdu[i] = v;
                }
                bytes.splice(at..at, pdu);
            }
            let naive = (0..bytes.len()).any(|i| confirmed_at(&bytes, i));
            proptest::prop_assert_eq!(contains_confirmed_pdu(&bytes), naive);
        }

        /// The SMB search agrees with checking every position, on noise made of the bytes
        /// an SMB header is made of.
        #[test]
        fn smb_search_agrees_with_every_position(
            bytes in proptest::collection::vec(proptest::sample::select(vec![0u8, 0xFE, 0xFF, b'S', b'M', b'B', 0x40]), 0..120),
        ) {
            let naive = bytes.windows(8).any(|w| {
                w[0] == 0
                    && (usize::from(w[1]) << 16 | usize::from(w[2]) << 8 | usize::from(w[3])) >= MIN_SMB_MESSAGE
                    && SMB_PROTOCOL_BYTES.contains(&w[4])
                    && &w[5..8] == SMB_MAGIC
            });
            proptest::prop_assert_eq!(contains_smb_header(&bytes), naive);
        }
    }
}
