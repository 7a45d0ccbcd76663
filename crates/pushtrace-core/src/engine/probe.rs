//! What a TCP connection carries, decided from its first bytes: raw DCE/RPC (ncacn_ip_tcp),
//! SMB, or something else — and, for a connection that began before the capture, decided
//! early and cheaply, without ever giving up a DCE/RPC stream the capture entered mid-PDU.
//!
//! DCE/RPC is recognised by content on any port (Wireshark's heuristic, protocol.md §1.12,
//! [`looks_like_pdu_header`]). With the SYN captured, the stream's first byte must start a
//! plausible PDU header. Without it, a direction may start anywhere inside a PDU, and what
//! follows until the next header is stub bytes — a sealed stub (packet privacy) or an
//! obfuscated ROP buffer is indistinguishable from random payload. The rules below therefore
//! never judge stub-like bytes; they rest on where headers must be, and on the opening
//! bytes of the protocols a connection that is not DCE/RPC carries.
//!
//! # Where headers must be
//!
//! An ncacn_ip_tcp byte stream is PDUs back to back, each starting with the 16-byte common
//! header whose frag_length gives the PDU's length, header included (C706 §12.6.3.1). A call
//! longer than one fragment is split into fragments no longer than the size the bind and its
//! bind_ack negotiated (their max_xmit_frag and max_recv_frag, C706 §12.6.4.3–4; every PDU,
//! auth trailer included, is one fragment). On ncacn_ip_tcp the Windows RPC runtime
//! negotiates at most [`MAX_FRAGMENT`] =
//! 5840 bytes (the size Windows proposes for the transport, and the largest a Windows server
//! accepts: Samba's implementation records both, tested against Windows Server 2012 R2), so on
//! any connection with a Windows end — every connection to an Exchange store — each PDU is
//! at most 5840 bytes long. Hence, from any point of such a stream, the next header starts at
//! most 5839 bytes later, and from any header at `p` the next one starts at most at
//! `p + 5840`. A direction that delivered `last + 5840 + 16` bytes without a plausible header
//! starting after `last` (its last plausible header, or `-1` at its start; each is judged on
//! its 16 bytes) is not DCE/RPC: at the start that is [`HEADER_WINDOW`] = 5855 bytes. Every
//! plausible header, genuine or a look-alike inside a stub, moves `last`, so a look-alike only
//! delays the decision; one that announces a fragment longer than 5840 bytes (two peers
//! that are not both Windows may negotiate up to 65535) moves it to its own end, so such a
//! stream is followed through its long fragments once a header is seen (within
//! [`PROBE_BYTES`] in all); one that starts more than 5855 bytes before its first header is
//! still declined. A gap restarts the count, since the bytes after it are again an
//! arbitrary point of the stream. Finding headers costs a byte search for `rpc_vers` (5), and
//! headers that straddle two deliveries are judged once the next bytes arrive (the last 15
//! bytes are carried over).
//!
//! A connection is recognised as DCE/RPC when a header is confirmed, since sixteen bytes that
//! pass the heuristic turn up inside other protocols now and then:
//!
//! * the direction's first byte starts a plausible header whose frag_length agrees with the
//!   bytes delivered (the PDU runs past them, ends with them, or another plausible header
//!   follows it): the direction starts at a PDU boundary, as an idle connection's next call
//!   does — the rule a captured SYN gets, plus the length check;
//! * a plausible header starts exactly where an earlier plausible header's PDU ends (a chain
//!   of two, across any number of deliveries);
//! * a whole plausible PDU ends exactly where the delivered bytes end (PDUs end with their
//!   segment far more often than not).
//!
//! The engine then feeds the connection from the first confirmed header (the bytes of a PDU
//! that began in an earlier delivery are not kept, so at worst one PDU per direction is lost,
//! the one the capture was already inside or its successor), and tells it how many bytes of
//! each direction were passed over.
//!
//! # Opening bytes of other protocols
//!
//! Most connections that are not DCE/RPC say so in their first bytes, in either direction,
//! before 5855 bytes are spent: the first delivery of a direction starts a segment, which in
//! a message protocol is usually a message start. A direction whose first bytes hold
//!
//! * an HTTP/1.x request line (method token, target, `HTTP/1.`) or status line
//!   (`HTTP/1.x NNN`), or an SSH banner (`SSH-2.0-`, `SSH-1.`), or
//! * a TLS record header (content type 20–23, version 3.1–3.4, length up to 2^14 + 2048,
//!   RFC 8446 §5.1, RFC 5246 §6.2) whose record ends inside the delivery and is followed by
//!   another record header (or ends exactly with the delivery),
//!
//! declines the connection at once. A lone TLS record header (its record runs past the
//! delivery) or a run of printable text (the first 16 to 64 bytes all printable ASCII, tab,
//! CR or LF) only hints; hints from both directions decline it.
//!
//! These signatures are sound in the sense that matters: a DCE/RPC direction that starts at
//! a PDU boundary starts with byte 5, which none of them allow; one that starts inside a stub
//! matches them only by chance. For uniformly random stub bytes (a sealed stub) that chance
//! is below 10^-9 per direction for the declining signatures (a chained TLS header: five
//! bytes right, about 2.7·10^-7, times at least three more, about 10^-6; the text ones are
//! far longer) and about 2·10^-13 for two hints (each below 2.7·10^-7 + 2·10^-7). Stub bytes
//! that are text (a mail body in an unobfuscated ROP buffer) can start a hint in one
//! direction, never a decline on their own: the declining text signatures need a whole HTTP
//! request or status line exactly at the point where the capture began.
//!
//! SMB is recognised first, so that named-pipe RPC inside it is never framed as raw DCE/RPC
//! (its PDUs sit between SMB headers, which the framer would report as bad headers and
//! resyncs): by port, since Windows' SMB server owns TCP 139 (NetBIOS session service) and
//! 445 (SMB direct) and nothing else listens there, and by content elsewhere: an SMB1, SMB2/3,
//! SMB3 transform or SMB3 compression header (`FF`/`FE`/`FD`/`FC` `SMB`) right after a
//! 4-byte NetBIOS session-message header ([MS-SMB2] 2.1, RFC 1002 §4.3.6).
//!
//! # Cost
//!
//! A connection whose SYN was captured is decided by its first delivery. Without the SYN, a
//! direction costs one delivery when its opening bytes decline it, and at most
//! [`HEADER_WINDOW`] bytes of the first direction to reach it otherwise; [`PROBE_BYTES`] of
//! both directions bound a connection whose plausible headers never confirm (a crafted
//! stream). The state of a connection being probed is under 300 bytes, allocated at its first
//! bytes and freed when it is decided; no payload is kept beyond the 15 bytes carried over.

use crate::dcerpc::pdu::{frame_pdu, looks_like_pdu_header, Framing, COMMON_HEADER_LEN};
use crate::flow::{ConnEndpoints, Direction};

/// The longest PDU the rules assume: the largest fragment the Windows RPC runtime negotiates
/// on ncacn_ip_tcp (see the module documentation).
pub(super) const MAX_FRAGMENT: u64 = 5840;
/// Header length as a stream offset.
const HEADER: u64 = COMMON_HEADER_LEN as u64;
/// Bytes of one direction, from its start (or a gap), within which a DCE/RPC stream shows a
/// whole header: the next header starts at most [`MAX_FRAGMENT`] − 1 bytes in, and is judged
/// on its 16 bytes.
pub(super) const HEADER_WINDOW: u64 = MAX_FRAGMENT - 1 + HEADER;
/// Bytes of both directions after which a connection without a captured SYN whose plausible
/// headers never confirmed is judged not to carry DCE/RPC.
pub(super) const PROBE_BYTES: u64 = 64 * 1024;

/// TCP ports owned by Windows' SMB server: NetBIOS session service and SMB direct.
const SMB_PORTS: [u16; 2] = [139, 445];

/// What a connection's bytes showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Carries {
    /// DCE/RPC: feed the connection from where [`Resume`] says.
    DceRpc(Resume),
    /// SMB (by port or by an SMB header).
    Smb,
    /// Neither: the bytes prove it is not DCE/RPC.
    Other,
    /// Not decided yet.
    Undecided,
}

/// Where the engine starts feeding a connection just recognised as DCE/RPC, in the
/// direction of the bytes that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resume {
    /// Bytes of the earlier delivery to feed first (the start of a header that the delivery
    /// boundary split), then the current bytes from [`Resume::at`].
    pub carried: Carried,
    /// Offset in the current bytes to feed from, after [`Resume::carried`].
    pub at: usize,
    /// Bytes of this direction passed over before the first fed byte (since its start or its
    /// last gap).
    pub skipped: u64,
}

impl Resume {
    /// Feed everything, from the first byte.
    fn whole() -> Resume {
        Resume {
            carried: Carried::default(),
            at: 0,
            skipped: 0,
        }
    }
}

/// At most 15 bytes of a delivery, kept because the positions they start could not be judged
/// yet (a header needs 16 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Carried {
    bytes: [u8; COMMON_HEADER_LEN - 1],
    len: u8,
}

impl Carried {
    /// The bytes kept.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The last (up to 15) bytes of `front` followed by `back`.
    fn last_of(front: &[u8], back: &[u8]) -> Carried {
        let mut out = Carried::default();
        let keep = (front.len() + back.len()).min(COMMON_HEADER_LEN - 1);
        let from_back = keep.min(back.len());
        let from_front = keep - from_back;
        let front = &front[front.len() - from_front..];
        out.bytes[..from_front].copy_from_slice(front);
        out.bytes[from_front..keep].copy_from_slice(&back[back.len() - from_back..]);
        out.len = keep as u8;
        out
    }
}

/// True when either end of the connection is an SMB port.
pub(super) fn on_smb_port(ends: &ConnEndpoints) -> bool {
    SMB_PORTS.contains(&ends.initiator.port()) || SMB_PORTS.contains(&ends.responder.port())
}

/// Decides a connection whose SYN was captured from its first bytes: a DCE/RPC header must
/// start them.
pub(super) fn at_stream_start(bytes: &[u8]) -> Carries {
    if contains_smb_header(bytes) {
        Carries::Smb
    } else if looks_like_pdu_header(bytes) {
        Carries::DceRpc(Resume::whole())
    } else {
        Carries::Other
    }
}

/// The probe of a connection that began before the capture (no SYN captured): the state of
/// each direction, fed delivery by delivery until the connection is decided.
#[derive(Debug, Default)]
pub(super) struct Probe {
    /// In [`Direction::index`] order.
    dirs: [DirProbe; 2],
    /// Bytes of both directions so far.
    seen: u64,
}

/// What a direction's first bytes showed of protocols other than DCE/RPC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Opening {
    /// No bytes yet.
    #[default]
    Unseen,
    /// Nothing recognised (or a DCE/RPC header).
    Plain,
    /// A lone TLS record header or printable text: declines with a hint from the other
    /// direction.
    Hint,
    /// An HTTP request or status line, an SSH banner, chained TLS records.
    Decline,
}

/// Most plausible PDUs a direction waits to see confirmed at once.
const PENDING: usize = 4;

/// One direction of a probed connection.
#[derive(Debug, Default)]
struct DirProbe {
    /// Bytes delivered since the direction's start or its last gap: the stream position of
    /// the next byte.
    pos: u64,
    /// Plus [`MAX_FRAGMENT`] (or its frag_length, when longer): the last position at which
    /// the next header may start (the last plausible header, or −1 before any).
    last_header_plus_max: Option<u64>,
    /// The bytes at positions `pos - carried.len ..`, not judged yet.
    carried: Carried,
    /// (start, end) of recent plausible PDUs: a plausible header at an end confirms them.
    pending: [Option<(u64, u64)>; PENDING],
    opening: Opening,
}

impl Probe {
    /// Takes the next `bytes` of direction `dir`.
    pub(super) fn feed(&mut self, dir: Direction, bytes: &[u8]) -> Carries {
        self.seen = self.seen.saturating_add(bytes.len() as u64);
        if contains_smb_header(bytes) {
            return Carries::Smb;
        }
        let d = &mut self.dirs[dir.index()];
        if d.opening == Opening::Unseen {
            d.opening = opening(bytes);
        }
        if d.opening == Opening::Decline {
            return Carries::Other;
        }
        if let Some(resume) = d.scan(bytes) {
            return Carries::DceRpc(resume);
        }
        let hints = self.dirs.iter().all(|d| d.opening == Opening::Hint);
        let d = &self.dirs[dir.index()];
        if hints || d.exhausted() || self.seen >= PROBE_BYTES {
            Carries::Other
        } else {
            Carries::Undecided
        }
    }

    /// The next `missing` bytes of direction `dir` were not captured: the bytes after them
    /// are an arbitrary point of the stream again.
    pub(super) fn gap(&mut self, dir: Direction) {
        let d = &mut self.dirs[dir.index()];
        *d = DirProbe {
            opening: d.opening,
            ..DirProbe::default()
        };
    }

    /// The bytes of direction `dir` delivered but not judged yet: fed first when the
    /// connection is recognised by the other direction's bytes.
    pub(super) fn carried(&self, dir: Direction) -> &[u8] {
        self.dirs[dir.index()].carried.as_slice()
    }

    /// Bytes of direction `dir` passed over (delivered since its start or last gap, minus
    /// those carried).
    pub(super) fn passed_over(&self, dir: Direction) -> u64 {
        let d = &self.dirs[dir.index()];
        d.pos - u64::from(d.carried.len)
    }
}

impl DirProbe {
    /// Judges every position that `bytes` completes (the carried ones, then those of `bytes`
    /// with 16 bytes after them), carries the rest over, and returns where to resume when a
    /// header was confirmed.
    fn scan(&mut self, bytes: &[u8]) -> Option<Resume> {
        let start = self.pos;
        let carried = self.carried;
        let carried_len = usize::from(carried.len);
        let base = start - carried_len as u64;
        self.pos += bytes.len() as u64;
        let end = self.pos;
        // Positions in the carried bytes, judged with the first bytes of this delivery.
        let mut window = [0u8; 2 * (COMMON_HEADER_LEN - 1)];
        let extra = bytes.len().min(COMMON_HEADER_LEN - 1);
        window[..carried_len].copy_from_slice(carried.as_slice());
        window[carried_len..carried_len + extra].copy_from_slice(&bytes[..extra]);
        let window = &window[..carried_len + extra];
        let view = View {
            bytes,
            base,
            start,
            end,
            carried: &carried,
        };
        let mut at = 0;
        while let Some(i) = find_byte(RPC_VERS, &window[..carried_len], at) {
            at = i + 1;
            let Some(header) = window.get(i..i + COMMON_HEADER_LEN) else {
                break;
            };
            if let Some(from) = self.judge(base + i as u64, header, &view) {
                return Some(view.resume(from));
            }
        }
        // Positions in this delivery with a whole header after them.
        let judged = bytes.len().saturating_sub(COMMON_HEADER_LEN - 1);
        let mut at = 0;
        while let Some(i) = find_byte(RPC_VERS, &bytes[..judged], at) {
            at = i + 1;
            if let Some(from) = self.judge(start + i as u64, &bytes[i..], &view) {
                return Some(view.resume(from));
            }
        }
        self.carried = Carried::last_of(carried.as_slice(), bytes);
        None
    }

    /// Judges the position `p` whose bytes (at least 16) are `at_p`; returns the stream
    /// position to feed from when it confirms a header.
    fn judge(&mut self, p: u64, at_p: &[u8], view: &View<'_>) -> Option<u64> {
        if !looks_like_pdu_header(at_p) {
            return None;
        }
        let little_endian = at_p[4] & 0x10 != 0;
        let [a, b] = [at_p[8], at_p[9]];
        let len = u64::from(if little_endian {
            u16::from_le_bytes([a, b])
        } else {
            u16::from_be_bytes([a, b])
        });
        // A header that announces a longer fragment (a peer that negotiated more than
        // Windows does) moves the deadline past its own end.
        self.last_header_plus_max = Some(p + MAX_FRAGMENT.max(len));
        let pdu_end = p + len;
        // The direction starts at a PDU boundary.
        if p == 0 && (pdu_end >= view.end || view.header_or_nothing_at(pdu_end)) {
            return Some(0);
        }
        // It ends an earlier plausible PDU.
        let mut first = None;
        for slot in &mut self.pending {
            match *slot {
                Some((s, e)) if e == p => first = Some(s),
                Some((_, e)) if e < p => *slot = None,
                _ => {}
            }
        }
        if let Some(first) = first {
            // Fed from the chain's first header when its bytes are still at hand, else
            // from its second.
            return Some(if first >= view.base { first } else { p });
        }
        // A whole PDU ending with the delivery.
        if pdu_end == view.end {
            return Some(p);
        }
        let slot = match self.pending.iter().position(Option::is_none) {
            Some(free) => free,
            None => (0..PENDING)
                .min_by_key(|&i| self.pending[i].map_or(0, |(s, _)| s))
                .unwrap_or(0),
        };
        self.pending[slot] = Some((p, pdu_end));
        None
    }

    /// Whether every position up to the last one where the next header may start was judged
    /// without finding one.
    fn exhausted(&self) -> bool {
        match self.last_header_plus_max {
            Some(deadline) => self.pos >= deadline + HEADER,
            None => self.pos >= HEADER_WINDOW,
        }
    }
}

/// The bytes around one delivery while it is scanned.
struct View<'a> {
    bytes: &'a [u8],
    /// Stream position of the first carried byte.
    base: u64,
    /// Stream position of `bytes[0]`.
    start: u64,
    /// Stream position after the last byte.
    end: u64,
    /// The bytes before `start`, still available.
    carried: &'a Carried,
}

impl View<'_> {
    /// Whether the bytes from stream position `p` (inside this delivery) start a plausible
    /// header or are none.
    fn header_or_nothing_at(&self, p: u64) -> bool {
        let Some(rest) = p
            .checked_sub(self.start)
            .and_then(|i| self.bytes.get(usize::try_from(i).ok()?..))
        else {
            return false;
        };
        rest.is_empty() || !matches!(frame_pdu(rest), Framing::Invalid(_))
    }

    /// Where to feed from to start at stream position `from` (at or after [`View::base`]):
    /// in the carried bytes or in this delivery.
    fn resume(&self, from: u64) -> Resume {
        if from >= self.start {
            Resume {
                carried: Carried::default(),
                at: usize::try_from(from - self.start).unwrap_or(usize::MAX),
                skipped: from,
            }
        } else {
            let skip = usize::try_from(from.saturating_sub(self.base)).unwrap_or(0);
            let rest = self.carried.as_slice().get(skip..).unwrap_or_default();
            Resume {
                carried: Carried::last_of(rest, &[]),
                at: 0,
                skipped: from,
            }
        }
    }
}

/// What a direction's first delivery opens with.
fn opening(bytes: &[u8]) -> Opening {
    if http_start_line(bytes) || bytes.starts_with(b"SSH-2.0-") || bytes.starts_with(b"SSH-1.") {
        return Opening::Decline;
    }
    if let Some(record) = tls_record_len(bytes) {
        return match bytes.get(record..) {
            Some([]) => Opening::Decline,
            Some(next) if next.len() >= 3 => {
                if tls_record_prefix(next) {
                    Opening::Decline
                } else {
                    Opening::Plain
                }
            }
            _ => Opening::Hint,
        };
    }
    if printable_text(bytes) {
        Opening::Hint
    } else {
        Opening::Plain
    }
}

/// TLS record content types: change_cipher_spec, alert, handshake, application_data.
const TLS_TYPES: std::ops::RangeInclusive<u8> = 20..=23;
/// Largest TLS record fragment: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows.
const TLS_MAX_RECORD: usize = (1 << 14) + 2048;

/// Whether `bytes` start with the type and version of a TLS record header (as far as they go,
/// at least three bytes).
fn tls_record_prefix(bytes: &[u8]) -> bool {
    matches!(bytes, [t, 3, 1..=4, ..] if TLS_TYPES.contains(t))
        && bytes.get(3..5).is_none_or(|l| {
            (1..=TLS_MAX_RECORD).contains(&usize::from(u16::from_be_bytes([l[0], l[1]])))
        })
}

/// The length (header included) of the TLS record whose header starts `bytes`.
fn tls_record_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..5)?;
    tls_record_prefix(header).then(|| 5 + usize::from(u16::from_be_bytes([header[3], header[4]])))
}

/// An HTTP/1.x status line (`HTTP/1.1 200`) or request line (`GET /x HTTP/1.1`) starts
/// `bytes` (RFC 9112 §3, §4): a method token of capitals, `_` or `-`, one space, a target
/// of visible characters, one space, `HTTP/1.`, all in the first line.
fn http_start_line(bytes: &[u8]) -> bool {
    if let Some(rest) = bytes.strip_prefix(b"HTTP/1.") {
        return matches!(rest, [v, b' ', a, b, c, ..]
            if [v, a, b, c].iter().all(|x| x.is_ascii_digit()));
    }
    let line = &bytes[..bytes.len().min(MAX_REQUEST_LINE)];
    let method = line
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || matches!(b, b'_' | b'-'))
        .count();
    if !(3..=MAX_METHOD).contains(&method) || line.get(method) != Some(&b' ') {
        return false;
    }
    let target = &line[method + 1..];
    let len = target.iter().take_while(|b| b.is_ascii_graphic()).count();
    len > 0 && target[len..].starts_with(b" HTTP/1.")
}

/// Longest method token looked for (`RPC_OUT_DATA`, `PROPPATCH`).
const MAX_METHOD: usize = 16;
/// Longest request line looked at.
const MAX_REQUEST_LINE: usize = 1024;
/// Shortest run of text that hints at a text protocol.
const MIN_TEXT: usize = 16;
/// Bytes of a delivery checked for text.
const TEXT_CHECKED: usize = 64;

/// The first [`TEXT_CHECKED`] bytes (at least [`MIN_TEXT`]) are printable ASCII, tab, CR or LF.
fn printable_text(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_TEXT
        && bytes[..bytes.len().min(TEXT_CHECKED)]
            .iter()
            .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
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
    use proptest::prelude::*;
    use std::net::SocketAddr;

    /// The largest fragment the Windows RPC runtime negotiates on ncacn_ip_tcp (the fact the
    /// rules rest on, stated independently of [`MAX_FRAGMENT`]).
    const WINDOWS_FRAGMENT: usize = 5840;
    const TO_SERVER: Direction = Direction::ToResponder;
    const TO_CLIENT: Direction = Direction::ToInitiator;

    /// A connection-oriented PDU (C706 §12.6.3.1): a request (PTYPE 0) or response (2) with
    /// `flags`, in either byte order, with `stub` and, when `sealed`, an 8-byte sec_trailer
    /// and a 16-byte auth_value (packet privacy: the stub is opaque).
    fn pdu(response: bool, flags: u8, little_endian: bool, stub: &[u8], sealed: bool) -> Vec<u8> {
        let auth = if sealed { 16u16 } else { 0 };
        let len = (24 + stub.len() + if sealed { 8 + 16 } else { 0 }) as u16;
        let u16b = |v: u16| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let drep = if little_endian { 0x10 } else { 0x00 };
        let mut out = vec![5, 0, if response { 2 } else { 0 }, flags, drep, 0, 0, 0];
        out.extend_from_slice(&u16b(len));
        out.extend_from_slice(&u16b(auth));
        out.extend_from_slice(&u32b(7));
        out.extend_from_slice(&u32b(stub.len() as u32)); // alloc_hint
        out.extend_from_slice(&[0, 0, 2, 0]); // p_cont_id, opnum (or cancel count)
        out.extend_from_slice(stub);
        if sealed {
            out.extend_from_slice(&[9, 6, 0, 0, 1, 0, 0, 0]); // Kerberos, privacy
            out.extend_from_slice(&[0xA7; 16]);
        }
        out
    }

    /// What [`feed_in`] saw: the first answer that is not `Undecided` (or the last), the
    /// stream offset reached and where the last delivery started.
    #[derive(Debug)]
    struct Fed {
        answer: Carries,
        at: usize,
        last_start: usize,
    }

    /// Feeds `stream` to direction `dir` in pieces of the given lengths (cycled) until the
    /// probe decides.
    fn feed_in(probe: &mut Probe, dir: Direction, stream: &[u8], pieces: &[usize]) -> Fed {
        let mut fed = Fed {
            answer: Carries::Undecided,
            at: 0,
            last_start: 0,
        };
        for &len in pieces.iter().cycle() {
            if fed.at >= stream.len() {
                break;
            }
            let end = (fed.at + len.max(1)).min(stream.len());
            fed.answer = probe.feed(dir, &stream[fed.at..end]);
            fed.last_start = fed.at;
            fed.at = end;
            if fed.answer != Carries::Undecided {
                break;
            }
        }
        fed
    }

    /// Asserts the probe declined `fed` in the delivery that reached `limit` bytes.
    fn declined_at(fed: &Fed, limit: u64) {
        assert_eq!(fed.answer, Carries::Other, "{fed:?}");
        assert!(
            (fed.last_start as u64) < limit && limit <= fed.at as u64,
            "{fed:?}"
        );
    }

    /// Pseudo-random bytes (xorshift), none of them 5 unless `fives`.
    fn noise(n: usize, seed: u64, fives: bool) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let b = (x >> 24) as u8;
                if b == RPC_VERS && !fives {
                    6
                } else {
                    b
                }
            })
            .collect()
    }

    /// A NetBIOS session message holding an SMB2 WRITE request header (MS-SMB2 2.2.1.2,
    /// command 9) and, as a named-pipe write does, the start of a DCE/RPC request after it.
    fn smb2_write_carrying_a_request() -> Vec<u8> {
        let mut header = vec![0xFE, b'S', b'M', b'B', 64, 0, 1, 0];
        header.extend_from_slice(&[0; 4]); // status
        header.extend_from_slice(&[9, 0, 1, 0]); // command WRITE, credits
        header.resize(64, 0);
        let body = [
            &[0x31, 0, 0x70, 0][..],
            &[0; 44],
            &pdu(false, 3, true, &[0x11; 40], false),
        ]
        .concat();
        let len = (header.len() + body.len()) as u32;
        [&len.to_be_bytes()[..], &header, &body].concat()
    }

    #[test]
    fn smb_wins_over_the_rpc_it_carries() {
        let message = smb2_write_carrying_a_request();
        assert_eq!(at_stream_start(&message), Carries::Smb);
        // Mid-stream: the capture began 37 bytes into an earlier message.
        let mid = [&[0x41; 37][..], &message].concat();
        assert_eq!(Probe::default().feed(TO_SERVER, &mid), Carries::Smb);
        // SMB1 on the NetBIOS session service, and an SMB3 encrypted (transform) message.
        for protocol in [0xFF, 0xFD] {
            let mut m = message.clone();
            m[4] = protocol;
            assert_eq!(at_stream_start(&m), Carries::Smb);
        }
    }

    #[test]
    fn smb_needs_its_session_header() {
        let mut message = smb2_write_carrying_a_request();
        message[0] = 0x85; // a keep-alive type cannot carry a message
        assert_eq!(at_stream_start(&message), Carries::Other);
        // Mid-stream, the request inside (whole, ending with the delivery) is recognised.
        assert!(matches!(
            Probe::default().feed(TO_SERVER, &message),
            Carries::DceRpc(Resume { at: 116, .. })
        ));
        // "SMB" in text is not an SMB header.
        assert!(!contains_smb_header(b"GET /SMB/FESMB HTTP/1.1\r\n"));
        // Cut right after the magic's first byte, and at the very start.
        assert!(!contains_smb_header(&smb2_write_carrying_a_request()[..6]));
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

    #[test]
    fn fragments_longer_than_windows_negotiates_are_followed_past_their_header() {
        // Two 16 KiB fragments (a peer that negotiated more than 5840 bytes), the capture
        // starting 100 bytes before the first header: that header moves the deadline to its
        // own end, where the second one confirms the stream.
        let stub = noise(16 * 1024 - 24, 3, false);
        let stream = [
            &noise(100, 9, false)[..],
            &pdu(false, 1, true, &stub, false),
            &pdu(false, 2, true, &stub, false),
        ]
        .concat();
        let fed = feed_in(&mut Probe::default(), TO_SERVER, &stream, &[1460]);
        assert!(matches!(fed.answer, Carries::DceRpc(_)), "{fed:?}");
    }

    #[test]
    fn with_the_syn_the_first_bytes_decide() {
        let request = pdu(false, 3, true, &[1; 30], false);
        assert_eq!(at_stream_start(&request), Carries::DceRpc(Resume::whole()));
        assert_eq!(at_stream_start(&request[1..]), Carries::Other);
        assert_eq!(at_stream_start(&request[..15]), Carries::Other);
    }

    /// A direction that starts with a header is DCE/RPC at once, when its length agrees.
    #[test]
    fn a_direction_starting_at_a_header_is_recognised_by_its_first_delivery() {
        let big = pdu(false, 1, true, &noise(5000, 3, true), false);
        let fed = feed_in(&mut Probe::default(), TO_SERVER, &big, &[1460]);
        assert_eq!(
            (fed.answer, fed.at),
            (Carries::DceRpc(Resume::whole()), 1460)
        );
        // Two PDUs in one delivery, and a header cut after 10 bytes, judged with the next.
        let two = [
            pdu(false, 3, false, &[2; 40], false),
            pdu(true, 3, false, &[3; 8], false),
        ]
        .concat();
        assert_eq!(
            Probe::default().feed(TO_CLIENT, &two),
            Carries::DceRpc(Resume::whole())
        );
        let fed = feed_in(&mut Probe::default(), TO_CLIENT, &two, &[10, 1460]);
        assert_eq!(fed.at, two.len());
        assert_eq!(
            fed.answer,
            Carries::DceRpc(Resume {
                carried: Carried::last_of(&two[..10], &[]),
                at: 0,
                skipped: 0
            })
        );
        // A frag_length the next bytes contradict is not a PDU boundary.
        let mut wrong = two.clone();
        wrong[64] = 0x42;
        assert_eq!(Probe::default().feed(TO_CLIENT, &wrong), Carries::Undecided);
    }

    /// Entered in the middle of a 5840-byte fragment whose successor starts in a later
    /// delivery: the chain of two headers confirms it, and feeding resumes at the second.
    #[test]
    fn a_chain_of_headers_across_deliveries_confirms_a_stream_entered_mid_pdu() {
        let fragment = |flags| pdu(true, flags, true, &noise(5792, 9, true), true);
        let stream = [fragment(1), fragment(0), fragment(0), fragment(2)].concat();
        assert_eq!(stream.len() as u64, 4 * MAX_FRAGMENT);
        for cut in [1, 700, 5000, 5839] {
            let mut probe = Probe::default();
            let fed = feed_in(&mut probe, TO_CLIENT, &stream[cut..], &[1460]);
            let Carries::DceRpc(resume) = &fed.answer else {
                panic!("cut {cut}: {fed:?}")
            };
            // Resumes at the second header after the cut.
            assert_eq!(cut as u64 + resume.skipped, 2 * MAX_FRAGMENT, "cut {cut}");
        }
    }

    /// Entered mid-PDU, a whole PDU ending with a delivery confirms it, and is fed whole.
    #[test]
    fn a_pdu_ending_with_its_delivery_confirms_it() {
        let stream = [
            noise(300, 4, false),
            pdu(false, 3, true, &[0x55; 60], false),
        ]
        .concat();
        let answer = Probe::default().feed(TO_SERVER, &stream);
        assert_eq!(
            answer,
            Carries::DceRpc(Resume {
                carried: Carried::default(),
                at: 300,
                skipped: 300
            })
        );
    }

    /// Declined by the first delivery of a direction: an HTTP request or status line, an
    /// SSH banner, chained TLS records (ClientHello then ChangeCipherSpec), whatever the port.
    #[test]
    fn http_ssh_and_chained_tls_openings_decline_at_the_first_delivery() {
        let mut hello = vec![0x16, 3, 1, 0, 80];
        hello.extend_from_slice(&noise(80, 5, true));
        hello.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        let openings: [&[u8]; 6] = [
            b"GET /owa/auth/logon.aspx?replaceCurrent=1 HTTP/1.1\r\nHost: mail\r\n\r\n",
            b"RPC_IN_DATA /rpc/rpcproxy.dll?mail:6001 HTTP/1.1\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 120000\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            &hello,
            &hello[..85], // the ClientHello record exactly
        ];
        for opening in openings {
            for dir in [TO_SERVER, TO_CLIENT] {
                let mut p = Probe::default();
                assert_eq!(p.feed(dir, opening), Carries::Other, "{opening:?}");
            }
        }
    }

    /// A lone TLS record header or text only hints: the connection is declined once both
    /// directions hint, or after [`HEADER_WINDOW`] bytes of one direction without a header.
    #[test]
    fn hints_decline_with_the_other_direction_or_the_window() {
        let record = |seed| [&[0x17, 3, 3, 0x40, 0x00][..], &noise(16_384, seed, false)].concat();
        let text = b"220 mail.contoso.com Microsoft ESMTP MAIL Service ready\r\n";
        for other in [&record(2)[..1460], &text[..]] {
            let mut p = Probe::default();
            assert_eq!(p.feed(TO_CLIENT, &record(1)[..1460]), Carries::Undecided);
            assert_eq!(p.feed(TO_SERVER, other), Carries::Other);
        }
        // One direction only: declined by the delivery that reaches the window.
        let fed = feed_in(
            &mut Probe::default(),
            TO_CLIENT,
            &record(3),
            &[1460, 1000, 7],
        );
        declined_at(&fed, HEADER_WINDOW);
        // Text shorter than 16 bytes hints nothing.
        assert_eq!(opening(b"+OK\r\n"), Opening::Plain);
        assert_eq!(opening(text), Opening::Hint);
    }

    /// Random payload (and text that never ends its first line) is declined after
    /// [`HEADER_WINDOW`] bytes of one direction, however it is cut into deliveries.
    #[test]
    fn random_payload_is_declined_after_the_header_window() {
        for pieces in [&[1460][..], &[1, 15, 16, 17], &[5855], &[9000]] {
            let fed = feed_in(
                &mut Probe::default(),
                TO_SERVER,
                &noise(20_000, 11, false),
                pieces,
            );
            declined_at(&fed, HEADER_WINDOW);
        }
        // Both directions: whichever reaches the window first.
        let mut p = Probe::default();
        for i in 0..4 {
            assert_eq!(
                p.feed(TO_SERVER, &noise(1460, i, false)),
                Carries::Undecided
            );
            assert_eq!(
                p.feed(TO_CLIENT, &noise(300, i + 10, false)),
                Carries::Undecided
            );
        }
        assert_eq!(p.feed(TO_SERVER, &noise(1460, 9, false)), Carries::Other);
    }

    /// A plausible header inside random bytes (a look-alike) moves the deadline: the window
    /// then runs from it.
    #[test]
    fn a_look_alike_header_moves_the_window() {
        let mut stream = noise(20_000, 12, false);
        let fake = pdu(false, 3, true, &[], false);
        stream[1000..1016].copy_from_slice(&fake[..16]);
        stream[1008] = 0xff; // frag_length 0x??ff: its PDU never ends on a header
        let fed = feed_in(&mut Probe::default(), TO_SERVER, &stream, &[100]);
        declined_at(&fed, 1000 + MAX_FRAGMENT + HEADER);
    }

    /// A gap restarts the window: bytes after it are an arbitrary point of the stream again.
    #[test]
    fn a_gap_restarts_the_window() {
        let mut p = Probe::default();
        assert_eq!(
            p.feed(TO_SERVER, &noise(5000, 1, false)),
            Carries::Undecided
        );
        p.gap(TO_SERVER);
        assert_eq!(
            p.feed(TO_SERVER, &noise(5000, 2, false)),
            Carries::Undecided
        );
        assert_eq!(p.feed(TO_SERVER, &noise(855, 3, false)), Carries::Other);
    }

    /// Plausible headers that never confirm are given up after [`PROBE_BYTES`].
    #[test]
    fn unconfirmed_look_alikes_are_given_up_after_the_probe_bytes() {
        // A header every 1000 bytes announcing 1500: no chain, no PDU ending a delivery.
        let mut header = pdu(false, 3, true, &[], false)[..16].to_vec();
        header[8..10].copy_from_slice(&1500u16.to_le_bytes());
        let period = header.iter().copied().chain([0x42; 984]);
        let stream: Vec<u8> = [0x42; 500]
            .into_iter()
            .chain(period.cycle().take(80_000))
            .collect();
        let fed = feed_in(&mut Probe::default(), TO_SERVER, &stream, &[1000]);
        declined_at(&fed, PROBE_BYTES);
    }

    proptest! {
        #[test]
        fn finds_the_first_byte(
            haystack in proptest::collection::vec(proptest::sample::select(vec![0u8, 4, 5, 6, 0x85]), 0..80),
            from in 0usize..90,
        ) {
            let expected = haystack
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == 5))
                .map(|i| from + i);
            prop_assert_eq!(find_byte(5, &haystack, from), expected);
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
            prop_assert_eq!(contains_smb_header(&bytes), naive);
        }

        /// The soundness of the rules: a DCE/RPC direction — fragments of any length up to
        /// [`WINDOWS_FRAGMENT`], either byte order, sealed stubs of random bytes — entered at any
        /// byte and delivered in pieces of any size is never declined, and is recognised by
        /// the second header after the entry point at the latest, feeding from a real header.
        #[test]
        fn a_dcerpc_stream_entered_at_any_byte_is_never_declined(
            lengths in proptest::collection::vec(24usize..=WINDOWS_FRAGMENT, 3..8),
            little_endian: bool,
            sealed: bool,
            seed: u64,
            cut_at in 0.0f64..1.0,
            pieces in proptest::collection::vec(1usize..3000, 1..6),
        ) {
            let trailer = if sealed { 24 } else { 0 };
            let mut stream = Vec::new();
            let mut starts = Vec::new();
            for (i, &len) in lengths.iter().enumerate() {
                let stub = noise(len.max(24 + trailer) - 24 - trailer, seed ^ i as u64, true);
                starts.push(stream.len() as u64);
                let flags = u8::from(i == 0) | (u8::from(i + 1 == lengths.len()) << 1);
                stream.extend_from_slice(&pdu(true, flags, little_endian, &stub, sealed));
            }
            // Entered anywhere before the last two headers.
            let limit = starts[starts.len() - 2] as usize;
            let cut = ((limit as f64) * cut_at) as usize;
            let fed = feed_in(&mut Probe::default(), TO_CLIENT, &stream[cut..], &pieces);
            let Carries::DceRpc(resume) = &fed.answer else {
                return Err(TestCaseError::fail(format!("{fed:?}")));
            };
            // Fed from a real header, the one the resume point's bytes start.
            let fed_from = cut as u64 + resume.skipped;
            prop_assert!(starts.contains(&fed_from), "fed from {}, headers at {:?}", fed_from, starts);
            let carried = resume.carried.as_slice();
            prop_assert_eq!(fed_from, (cut + fed.last_start + resume.at - carried.len()) as u64);
            let header_bytes = [carried, &stream[cut + fed.last_start + resume.at..]].concat();
            prop_assert!(looks_like_pdu_header(&header_bytes));
            // Decided by the delivery that completes the second header after the cut.
            let second = starts.iter().filter(|&&s| s >= cut as u64).nth(1).copied().unwrap_or(0);
            prop_assert!(((cut + fed.last_start) as u64) < second + HEADER, "decided at {:?}", fed);
        }
    }
}
