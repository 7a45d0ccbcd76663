//! Shared code of pushtrace's fuzz targets: how each target turns the fuzzer's bytes into an
//! input for the code under test, and the inverse mappings the seed builder
//! (`examples/seed_corpora.rs`) uses to turn the bundled samples into corpus files.
//!
//! Input layouts (first bytes are selectors, so the fuzzer never wastes time on a magic
//! number that routes the input to another reader):
//!
//! | target | layout |
//! |---|---|
//! | `pcap` | selector byte (one of 4 magic numbers: µs/ns × LE/BE), then the file after its magic |
//! | `pcapng` | the file after the first 4 bytes (the Section Header Block type) |
//! | `netmon` | selector byte (`RTSS` = 1.x or `GMBU` = 2.x), then the file after its magic |
//! | `dcerpc_pdu` | one connection-oriented PDU (or anything) |
//! | `register_push` | NDR format byte (bit 0 little-endian, bit 1 NDR64), then an opnum-4 stub |
//! | `frames` | frames split on [`DELIMITER`], each a link-type selector byte ([`FRAME_LINKS`]) then the frame's bytes |
//! | `conversation` | two control bytes ([`ConversationOptions`]), then chunks split on [`DELIMITER`], alternating client → server, server → client |
//! | `views` | a clock byte (the second capture's offset, in 10 ms steps, signed), then frames split on [`DELIMITER`], each a selector byte (bit 7: captured at the second point; bit 6: captured at both; bits 0–5: the [`FRAME_LINKS`] index), a time step byte (100 µs units) and the frame's bytes |
//!
//! The conversation layout follows Zeek's FuzzBuffer: one input describes a whole two-way
//! exchange, which is replayed both straight into [`RpcConnection`] and as Ethernet frames
//! (TCP segments built by the samples simulator) through the whole [`Analyzer`].

use pushtrace_capture::{CaptureReader, LinkType, ReadOptions, Warning};
use pushtrace_core::dcerpc::{RpcConnection, RpcLimits};
use pushtrace_core::engine::{AnalyzeOptions, Analyzer, TraceAnalyzer};
use pushtrace_core::flow::Direction;
use pushtrace_core::Frame;
use pushtrace_samples::net::{Host, Net, Segmenting, Side, SEC};
use std::io::Read;

/// The four classic pcap magic numbers as they appear in a file: µs little-endian,
/// µs big-endian, ns little-endian, ns big-endian.
pub const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];

/// The block type of a pcapng Section Header Block (a palindrome: same in both byte orders).
pub const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The two Network Monitor signatures: 1.x and 2.x.
pub const NETMON_MAGICS: [[u8; 4]; 2] = [*b"RTSS", *b"GMBU"];

/// Separates the chunks of a `conversation` input.
pub const DELIMITER: &[u8] = b"FUZZ";

/// The link types a `frames` selector byte picks (a byte beyond the table is taken as a
/// `LINKTYPE_` value itself).
pub const FRAME_LINKS: [LinkType; 13] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::TOKEN_RING,
    LinkType::FDDI,
    LinkType::RAW_DLT12,
    LinkType::NetMon(6),
    LinkType::NetMon(0xFFE0),
];

/// Runs a `frames` input through the whole [`Analyzer`]: each chunk is one frame, 1 ms after
/// the previous one.
pub fn run_frames(data: &[u8]) {
    let options = AnalyzeOptions {
        collect_calls: true,
        ..AnalyzeOptions::default()
    };
    let mut analyzer = Analyzer::new(0, &options);
    let mut count = 0;
    for (i, chunk) in split_chunks(data).into_iter().enumerate() {
        let Some((&selector, bytes)) = chunk.split_first() else {
            continue;
        };
        let link = frame_link(selector);
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: 1_700_000_000_000_000_000 + i as i64 * 1_000_000,
            link,
            data: bytes,
            orig_len: bytes.len() as u32,
            interface: 0,
            options: Default::default(),
        });
        count += 1;
    }
    let analysis = analyzer.finish();
    assert_eq!(
        analysis.views[0].counters["decode"]["frames"].as_u64(),
        Some(count)
    );
    let _ = serde_json::to_string(&analysis.sessions);
    let _ = serde_json::to_string(&analysis.calls);
}

/// The link type a frame selector byte picks.
fn frame_link(selector: u8) -> LinkType {
    FRAME_LINKS
        .get(usize::from(selector))
        .copied()
        .unwrap_or(LinkType::Pcap(u16::from(selector)))
}

/// Runs a `views` input through a [`TraceAnalyzer`] fed two captures side by side: frames
/// marked as seen at both points go to both, the second capture's clock off by the clock
/// byte, so the matcher, the clock estimate and the merging of views meet hostile traffic and
/// hostile times.
pub fn run_views(data: &[u8]) {
    let Some((&clock, rest)) = data.split_first() else {
        return;
    };
    let offset = i64::from(clock as i8) * 10_000_000;
    let mut trace = TraceAnalyzer::new(2, &AnalyzeOptions::default());
    let mut times = [1_700_000_000_000_000_000i64; 2];
    let mut numbers = [0u64; 2];
    for chunk in split_chunks(rest) {
        let [selector, step, bytes @ ..] = chunk else {
            continue;
        };
        let first = usize::from(selector >> 7);
        let both = selector & 0x40 != 0;
        let link = frame_link(selector & 0x3f);
        times[first] = times[first].saturating_add(i64::from(*step) * 100_000);
        let at = times[first];
        let seen = if both { vec![0, 1] } else { vec![first] };
        for input in seen {
            let ts_ns = match input {
                1 if first == 0 => at.saturating_add(offset),
                0 if first == 1 => at.saturating_sub(offset),
                _ => at,
            };
            numbers[input] += 1;
            trace.feed(
                input,
                &Frame {
                    number: numbers[input],
                    ts_ns,
                    link,
                    data: bytes,
                    orig_len: bytes.len() as u32,
                    interface: 0,
                    options: Default::default(),
                },
            );
        }
    }
    let traces = trace.finish();
    assert!(matches!(traces.len(), 1 | 2), "{} traces", traces.len());
    for t in &traces {
        assert!(!t.views.is_empty());
        let _ = serde_json::to_string(&t.sessions);
    }
}

/// A frame copied out of a reader, for comparing two reading paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    /// Frame number.
    pub number: u64,
    /// Timestamp.
    pub ts_ns: i64,
    /// Link type.
    pub link: LinkType,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub orig_len: u32,
    /// The pcapng interface id.
    pub interface: u32,
    /// The packet comments (the options parsed on demand, as the evidence tests read them).
    pub comments: Vec<String>,
}

/// Reads every frame of `reader`, copied, checking the frame invariants on the way.
pub fn drain(reader: &mut CaptureReader) -> (Vec<OwnedFrame>, Vec<Warning>) {
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame() {
        // Wireshark numbering: a skipped record may leave a hole, but numbers only grow.
        let previous = frames.last().map_or(0, |f: &OwnedFrame| f.number);
        assert!(frame.number > previous, "frame numbers increase");
        frames.push(OwnedFrame {
            number: frame.number,
            ts_ns: frame.ts_ns,
            link: frame.link,
            data: frame.data.to_vec(),
            orig_len: frame.orig_len,
            interface: frame.interface,
            comments: frame.options.comments().map(String::from).collect(),
        });
    }
    assert!(
        reader.next_frame().is_none(),
        "an exhausted reader stays exhausted"
    );
    (frames, reader.warnings().to_vec())
}

/// A reader that hands out its bytes in short, irregular reads, as a pipe would.
struct ShortReads {
    data: Vec<u8>,
    pos: usize,
    turn: usize,
}

impl Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const SIZES: [usize; 5] = [1, 7, 4096, 13, 65_536];
        let size = SIZES[self.turn % SIZES.len()];
        self.turn += 1;
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = size.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads `file` from memory and as a stream of short reads; both paths must accept or reject
/// it alike and yield the same frames and warnings.
pub fn read_both_ways(file: Vec<u8>) {
    let options = ReadOptions::default();
    let stream = CaptureReader::from_reader(
        ShortReads {
            data: file.clone(),
            pos: 0,
            turn: 0,
        },
        &options,
    );
    let whole = CaptureReader::from_bytes(file, &options);
    match (whole, stream) {
        (Ok(mut a), Ok(mut b)) => {
            let (frames, warnings) = drain(&mut a);
            assert_eq!(
                (frames.clone(), warnings.clone()),
                drain(&mut b),
                "memory and stream paths differ"
            );
            check_tail(&a, &frames, &warnings);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!(
            "one path failed: memory {:?}, stream {:?}",
            a.err(),
            b.err()
        ),
    }
}

/// The last frames of a file read from its end (how several files are chained) are at most
/// as many as asked; in a pcapng or Network Monitor file read without a warning they are
/// exactly the last frames the forward read gave (a pcap file has no structure to walk
/// back by: its tail is found by a heuristic, so only the bound is checked).
fn check_tail(reader: &CaptureReader, frames: &[OwnedFrame], warnings: &[Warning]) {
    const K: usize = 4;
    let Some(tail) = reader.tail_frames(K) else {
        return;
    };
    assert!(tail.len() <= K, "{} tail frames", tail.len());
    let structured = reader.info().format != pushtrace_capture::Format::Pcap;
    if structured && warnings.is_empty() {
        let last = &frames[frames.len().saturating_sub(K)..];
        let found: Vec<(i64, &[u8])> = tail.iter().map(|f| (f.ts_ns, &f.data[..])).collect();
        let expected: Vec<(i64, &[u8])> = last.iter().map(|f| (f.ts_ns, &f.data[..])).collect();
        assert_eq!(
            found, expected,
            "the tail differs from the last frames read"
        );
    }
}

/// Splits a conversation input into its chunks (an input without a delimiter is one chunk).
pub fn split_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
        chunks.push(&rest[..at]);
        rest = &rest[at + DELIMITER.len()..];
    }
    chunks.push(rest);
    chunks
}

/// Joins chunks with [`DELIMITER`] (the inverse of [`split_chunks`]).
pub fn join_chunks(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(DELIMITER);
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// How a conversation is put on the wire; decoded from the input's two control bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationOptions {
    /// The capture starts after the three-way handshake (no SYN seen).
    pub mid_stream: bool,
    /// IPv6 instead of IPv4.
    pub ipv6: bool,
    /// Each chunk is cut in two and the halves are sent in reverse order.
    pub out_of_order: bool,
    /// The first segment of each chunk is sent twice.
    pub retransmit: bool,
    /// The first segment of every third chunk is lost (never captured).
    pub lose_segments: bool,
    /// Segments carry at most 16 bytes.
    pub tiny_segments: bool,
    /// The connection ends with FIN from both sides.
    pub close: bool,
    /// The server listens on the endpoint mapper's port 135 instead of 6001.
    pub epm_port: bool,
    /// Small DCE/RPC caps, so every cap can bite on a short input.
    pub tight_limits: bool,
    /// The capture clock jumps: each chunk starts with 8 bytes that are not sent but give
    /// the time it is sent at (little-endian nanoseconds), anywhere in the i64 range.
    pub hostile_clock: bool,
    /// The middle half of each chunk is sent again after its first segment (an overlapping
    /// retransmission).
    pub overlap: bool,
}

impl ConversationOptions {
    /// Decodes the two control bytes.
    pub fn from_bytes(a: u8, b: u8) -> Self {
        let bit = |byte: u8, n: u8| byte & (1 << n) != 0;
        ConversationOptions {
            mid_stream: bit(a, 0),
            ipv6: bit(a, 1),
            out_of_order: bit(a, 2),
            retransmit: bit(a, 3),
            lose_segments: bit(a, 4),
            tiny_segments: bit(a, 5),
            close: bit(a, 6),
            epm_port: bit(a, 7),
            tight_limits: bit(b, 0),
            hostile_clock: bit(b, 1),
            overlap: bit(b, 2),
        }
    }

    /// Splits a chunk into the bytes it sends and, when the clock is hostile, the time it
    /// is sent at (its first 8 bytes).
    fn chunk<'a>(self, raw: &'a [u8]) -> Chunk<'a> {
        if !self.hostile_clock {
            return Chunk {
                data: raw,
                time: None,
            };
        }
        let (head, data) = raw.split_at(raw.len().min(8));
        let mut time = [0u8; 8];
        time[..head.len()].copy_from_slice(head);
        // Kept 2^40 ns (18 minutes) inside the range, so the simulator's own clock, which
        // moves on by microseconds per segment, cannot overflow; differences between two
        // such times still can.
        let time = i64::from_le_bytes(time).clamp(i64::MIN + CLOCK_MARGIN, i64::MAX - CLOCK_MARGIN);
        Chunk {
            data,
            time: Some(time),
        }
    }

    /// The DCE/RPC caps to run with.
    pub fn rpc_limits(self) -> RpcLimits {
        if self.tight_limits {
            RpcLimits {
                max_pdu_len: 512,
                max_stub_len: 64,
                max_held_stub_bytes: 160,
                max_pending_calls: 3,
                max_contexts: 2,
                max_pending_binds: 2,
                max_pending_calls_total: 2,
                max_held_bytes_total: 256,
            }
        } else {
            RpcLimits::default()
        }
    }

    /// Whether chunk `index` loses its first segment.
    fn loses(self, index: usize) -> bool {
        self.lose_segments && index % 3 == 2
    }
}

/// How far inside the i64 range a hostile clock stays.
pub const CLOCK_MARGIN: i64 = 1 << 40;

/// One chunk of a conversation: the bytes it sends and, with a hostile clock, when.
#[derive(Debug, Clone, Copy)]
struct Chunk<'a> {
    data: &'a [u8],
    time: Option<i64>,
}

/// The direction chunk `index` travels: even chunks from the client (the connection's
/// initiator), odd ones from the server.
fn chunk_direction(index: usize) -> (Direction, Side) {
    if index.is_multiple_of(2) {
        (Direction::ToResponder, Side::Client)
    } else {
        (Direction::ToInitiator, Side::Server)
    }
}

/// Runs one conversation input (two control bytes, then chunks) through [`RpcConnection`]
/// directly and through the whole [`Analyzer`] as Ethernet frames.
pub fn run_conversation(data: &[u8]) {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let options = ConversationOptions::from_bytes(*a, *b);
    let chunks: Vec<Chunk<'_>> = split_chunks(rest)
        .into_iter()
        .map(|raw| options.chunk(raw))
        .collect();
    feed_rpc_connection(&chunks, options);
    let frames = conversation_frames(&chunks, options);
    analyze_frames(&frames, options);
}

/// Feeds the chunks straight into one [`RpcConnection`]; a lost chunk is reported as a gap.
fn feed_rpc_connection(chunks: &[Chunk<'_>], options: ConversationOptions) {
    let mut rpc = RpcConnection::new(options.rpc_limits());
    let mut events = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let (dir, _) = chunk_direction(i);
        let frame = i as u64 + 1;
        let ts_ns = chunk.time.unwrap_or(frame as i64 * 1_000);
        if options.loses(i) && !chunk.data.is_empty() {
            rpc.gap(dir, chunk.data.len() as u64, frame, &mut events);
        } else {
            rpc.feed(dir, chunk.data, frame, ts_ns, &mut events);
        }
        events.clear();
    }
    rpc.finish(&mut events);
}

/// Builds the Ethernet frames of the conversation with the samples simulator.
fn conversation_frames(chunks: &[Chunk<'_>], options: ConversationOptions) -> Vec<(i64, Vec<u8>)> {
    let (client_ip, server_ip) = if options.ipv6 {
        ("2001:db8::21", "2001:db8::5")
    } else {
        ("10.0.0.21", "10.0.0.5")
    };
    let client = Host::new(1, client_ip, 128);
    let server = Host::new(2, server_ip, 127);
    let server_port = if options.epm_port { 135 } else { 6001 };
    let mut net = Net::new(1_700_000_000 * SEC, 7);
    let mut conn = net.tcp_connect(client, 50_123, server, server_port);
    if options.mid_stream {
        net.frames.clear();
    }
    for (i, chunk) in chunks.iter().enumerate() {
        if chunk.data.is_empty() {
            continue;
        }
        let (_, side) = chunk_direction(i);
        if let Some(ts_ns) = chunk.time {
            net.now = ts_ns;
        }
        let segmenting = Segmenting {
            mss: if options.tiny_segments { 16 } else { 0 },
            cuts: if options.out_of_order {
                vec![chunk.data.len() / 2]
            } else {
                Vec::new()
            },
            retransmit: if options.retransmit {
                vec![0]
            } else {
                Vec::new()
            },
            swap: if options.out_of_order {
                vec![(0, 1)]
            } else {
                Vec::new()
            },
            resend: if options.overlap {
                let len = chunk.data.len();
                vec![(0, len / 4, len - len / 4)]
            } else {
                Vec::new()
            },
        };
        let first_data_frame = net.frames.len();
        net.tcp_send(&mut conn, side, chunk.data, &segmenting);
        if options.loses(i) && first_data_frame < net.frames.len() {
            net.frames.remove(first_data_frame);
        }
    }
    if options.close {
        net.tcp_close(&mut conn);
    }
    net.frames.into_iter().map(|f| (f.ts_ns, f.bytes)).collect()
}

/// Feeds Ethernet frames through a whole [`Analyzer`] and serialises what it found.
pub fn analyze_frames(frames: &[(i64, Vec<u8>)], options: ConversationOptions) {
    let mut analyze = AnalyzeOptions {
        collect_calls: true,
        ..AnalyzeOptions::default()
    };
    analyze.limits.rpc = options.rpc_limits();
    let mut analyzer = Analyzer::new(0, &analyze);
    for (i, (ts_ns, bytes)) in frames.iter().enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: *ts_ns,
            link: LinkType::ETHERNET,
            data: bytes,
            orig_len: bytes.len() as u32,
            interface: 0,
            options: Default::default(),
        });
    }
    let analysis = analyzer.finish();
    assert!(
        analysis.views[0].counters["tcp"]["peak_live_connections"].as_u64() <= Some(1),
        "one 4-tuple makes at most one live connection"
    );
    let _ = serde_json::to_string(&analysis.sessions);
    let _ = serde_json::to_string(&analysis.calls);
}
