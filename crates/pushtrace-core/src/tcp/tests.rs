//! Tests of the TCP reassembler on hand-built segments, and property tests on generated
//! two-direction streams.

use super::*;
use crate::decode::TcpFlags;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const CLIENT_PORT: u16 = 50_000;
/// The DCE/RPC endpoint mapper port, as a plausible server port.
const SERVER_PORT: u16 = 135;

/// One call the reassembler made on the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Opened(ConnId, ConnEndpoints),
    Data(ConnId, Direction, Vec<u8>, u64),
    Gap(ConnId, Direction, u64, u64),
    Closed(ConnId, CloseReason),
    Warning(&'static str),
}

#[derive(Debug, Default)]
struct Recorder {
    events: Vec<Event>,
    /// Connections whose bytes the recorder declines (after recording the first delivery).
    decline: Vec<ConnId>,
}

impl StreamSink for Recorder {
    fn opened(&mut self, conn: ConnId, ends: &ConnEndpoints) {
        self.events.push(Event::Opened(conn, *ends));
    }
    fn data(
        &mut self,
        conn: ConnId,
        dir: Direction,
        bytes: &[u8],
        frame: u64,
        _ts_ns: i64,
    ) -> Interest {
        self.events
            .push(Event::Data(conn, dir, bytes.to_vec(), frame));
        if self.decline.contains(&conn) {
            Interest::Declined
        } else {
            Interest::More
        }
    }
    fn gap(&mut self, conn: ConnId, dir: Direction, missing: u64, frame: u64) {
        self.events.push(Event::Gap(conn, dir, missing, frame));
    }
    fn closed(&mut self, conn: ConnId, reason: CloseReason) {
        self.events.push(Event::Closed(conn, reason));
    }
    fn warning(&mut self, warning: Warning) {
        self.events.push(Event::Warning(warning.code));
    }
}

/// A part of one direction's delivered stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    Bytes(Vec<u8>),
    Gap(u64),
}

impl Recorder {
    /// One direction's data and gaps in order, adjacent data merged.
    fn stream(&self, conn: ConnId, dir: Direction) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for event in &self.events {
            match event {
                Event::Data(c, d, bytes, _) if *c == conn && *d == dir => match chunks.last_mut() {
                    Some(Chunk::Bytes(last)) => last.extend_from_slice(bytes),
                    _ => chunks.push(Chunk::Bytes(bytes.clone())),
                },
                Event::Gap(c, d, missing, _) if *c == conn && *d == dir => {
                    chunks.push(Chunk::Gap(*missing))
                }
                _ => {}
            }
        }
        chunks
    }

    fn closes(&self) -> Vec<(ConnId, CloseReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Closed(c, r) => Some((*c, *r)),
                _ => None,
            })
            .collect()
    }

    fn opened(&self) -> Vec<(ConnId, ConnEndpoints)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Opened(c, ends) => Some((*c, *ends)),
                _ => None,
            })
            .collect()
    }

    fn warnings(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Warning(code) => Some(*code),
                _ => None,
            })
            .collect()
    }
}

fn bytes(b: &[u8]) -> Chunk {
    Chunk::Bytes(b.to_vec())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Flags from letters: S(YN) A(CK) F(IN) R(ST).
fn flags(letters: &str) -> TcpFlags {
    TcpFlags {
        syn: letters.contains('S'),
        ack: letters.contains('A'),
        fin: letters.contains('F'),
        rst: letters.contains('R'),
    }
}

/// A reassembler, a recording sink and a clock: frame n is captured at n milliseconds.
struct Harness {
    reassembler: TcpReassembler,
    sink: Recorder,
    frame: u64,
    ts_ns: i64,
}

const C: ConnId = ConnId(0);
const TO_SERVER: Direction = Direction::ToResponder;
const TO_CLIENT: Direction = Direction::ToInitiator;

impl Harness {
    fn new() -> Self {
        Harness::with_limits(TcpLimits::default())
    }

    fn with_limits(limits: TcpLimits) -> Self {
        Harness {
            reassembler: TcpReassembler::new(limits),
            sink: Recorder::default(),
            frame: 0,
            ts_ns: 0,
        }
    }

    /// Sends a fully captured segment; returns its frame number.
    fn send(&mut self, side: Side, letters: &str, seq: u32, ack: u32, payload: &[u8]) -> u64 {
        self.send_cut(side, letters, seq, ack, payload, payload.len() as u32)
    }

    /// Sends a segment whose payload was `wire_len` bytes on the wire.
    fn send_cut(
        &mut self,
        side: Side,
        letters: &str,
        seq: u32,
        ack: u32,
        payload: &[u8],
        wire_len: u32,
    ) -> u64 {
        self.send_between(side, CLIENT_PORT, letters, seq, ack, payload, wire_len)
    }

    #[allow(clippy::too_many_arguments)]
    fn send_between(
        &mut self,
        side: Side,
        client_port: u16,
        letters: &str,
        seq: u32,
        ack: u32,
        payload: &[u8],
        wire_len: u32,
    ) -> u64 {
        self.frame += 1;
        self.ts_ns += 1_000_000;
        let (src, dst, src_port, dst_port) = match side {
            Side::Client => (CLIENT_IP, SERVER_IP, client_port, SERVER_PORT),
            Side::Server => (SERVER_IP, CLIENT_IP, SERVER_PORT, client_port),
        };
        let seg = TcpSegment {
            src_port,
            dst_port,
            seq,
            ack,
            flags: flags(letters),
            payload,
            wire_payload_len: wire_len,
        };
        self.reassembler
            .segment(self.frame, self.ts_ns, src, dst, &seg, &mut self.sink);
        self.frame
    }

    /// SYN, SYN-ACK, ACK: client data starts at `client_isn + 1`, server data at
    /// `server_isn + 1`.
    fn handshake(&mut self, client_isn: u32, server_isn: u32) {
        self.send(Side::Client, "S", client_isn, 0, b"");
        self.send(
            Side::Server,
            "SA",
            server_isn,
            client_isn.wrapping_add(1),
            b"",
        );
        self.send(
            Side::Client,
            "A",
            client_isn.wrapping_add(1),
            server_isn.wrapping_add(1),
            b"",
        );
    }

    fn stream(&self, dir: Direction) -> Vec<Chunk> {
        self.sink.stream(C, dir)
    }

    fn finish(&mut self) {
        self.reassembler.finish(&mut self.sink);
    }

    fn stats(&self) -> &TcpStats {
        self.reassembler.stats()
    }
}

fn client() -> SocketAddr {
    SocketAddr::new(CLIENT_IP, CLIENT_PORT)
}

fn server() -> SocketAddr {
    SocketAddr::new(SERVER_IP, SERVER_PORT)
}

// The first 8 bytes of a DCE/RPC bind (version 5.0, type 11, flags 03, drep 10 00 00 00) and
// of its bind_ack (type 12), as stream content.
const BIND_HEAD: &[u8] = &[0x05, 0x00, 0x0b, 0x03, 0x10, 0x00, 0x00, 0x00];
const BIND_ACK_HEAD: &[u8] = &[0x05, 0x00, 0x0c, 0x03, 0x10, 0x00, 0x00, 0x00];

#[test]
fn in_order_segments_are_delivered_with_their_frames() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // client → server, seq 1001: the bind's first 4 bytes, then the next 4 at seq 1005.
    let f1 = h.send(Side::Client, "A", 1001, 5001, &BIND_HEAD[..4]);
    let f2 = h.send(Side::Client, "A", 1005, 5001, &BIND_HEAD[4..]);
    // server → client, seq 5001, acknowledging all 8 bytes.
    let f3 = h.send(Side::Server, "A", 5001, 1009, BIND_ACK_HEAD);
    let ends = ConnEndpoints {
        initiator: client(),
        responder: server(),
        saw_syn: true,
    };
    assert_eq!(
        h.sink.events,
        vec![
            Event::Opened(C, ends),
            Event::Data(C, TO_SERVER, BIND_HEAD[..4].to_vec(), f1),
            Event::Data(C, TO_SERVER, BIND_HEAD[4..].to_vec(), f2),
            Event::Data(C, TO_CLIENT, BIND_ACK_HEAD.to_vec(), f3),
        ]
    );
    assert_eq!(h.stats().bytes_delivered, 16);
    assert_eq!(h.stats().connections, 1);
}

#[test]
fn out_of_order_segment_waits_for_the_hole() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // seq 1005 arrives before seq 1001.
    h.send(Side::Client, "A", 1005, 5001, b"BBBB");
    assert_eq!(h.stream(TO_SERVER), vec![]);
    let early = h.send(Side::Client, "A", 1001, 5001, b"AAAA");
    let data: Vec<_> = h
        .sink
        .events
        .iter()
        .filter(|e| matches!(e, Event::Data(..)))
        .cloned()
        .collect();
    assert_eq!(
        data,
        vec![
            Event::Data(C, TO_SERVER, b"AAAA".to_vec(), early),
            // Buffered bytes are cited with the frame that made them deliverable.
            Event::Data(C, TO_SERVER, b"BBBB".to_vec(), early)
        ]
    );
    assert_eq!(h.stats().ooo_segments, 1);
    assert_eq!(h.reassembler.shared.buffered_total, 0);
}

#[test]
fn duplicates_are_dropped() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1009, 5001, b"CCCC");
    h.send(Side::Client, "A", 1009, 5001, b"CCCC"); // duplicate while buffered
    h.send(Side::Client, "A", 1001, 5001, b"AAAA");
    h.send(Side::Client, "A", 1001, 5001, b"AAAA"); // duplicate after delivery
    h.send(Side::Client, "A", 1005, 5001, b"BBBB");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"AAAABBBBCCCC")]);
    assert_eq!(h.stats().retransmitted_bytes_dropped, 8);
}

#[test]
fn retransmission_cannot_rewrite_delivered_bytes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"hello");
    // A retransmission covering the same 5 positions with other bytes, plus 6 new ones.
    h.send(Side::Client, "A", 1001, 5001, b"HELLO world");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"hello world")]);
    assert_eq!(h.stats().retransmitted_bytes_dropped, 5);
}

#[test]
fn overlapping_buffered_segments_keep_the_first_received_bytes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // Positions 2..6 then 4..8 (overlapping 4..6 with other bytes), both out of order.
    h.send(Side::Client, "A", 1003, 5001, b"cdef");
    h.send(Side::Client, "A", 1005, 5001, b"XXgh");
    // An in-order segment covering 0..11: its bytes at 2..8 lose to the buffered ones.
    h.send(Side::Client, "A", 1001, 5001, b"abZZZZZZijk");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"abcdefghijk")]);
    assert_eq!(h.stats().retransmitted_bytes_dropped, 2 + 6);
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut h = Harness::new();
    // Client data starts at 2^32 - 2, so "abcd" spans the wrap; the server's at 2^32 - 1.
    h.handshake(u32::MAX - 2, u32::MAX - 1);
    h.send(Side::Client, "A", 2, u32::MAX.wrapping_add(1), b"efgh"); // after the wrap, out of order
    h.send(Side::Client, "A", u32::MAX - 1, 0, b"abcd");
    h.send(Side::Server, "A", u32::MAX, 6, b"xy"); // spans the wrap too
    h.send(Side::Server, "A", 1, 6, b"z");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"abcdefgh")]);
    assert_eq!(h.stream(TO_CLIENT), vec![bytes(b"xyz")]);
    // The server acknowledged position 4 (seq 2) only; nothing was skipped.
    assert_eq!(h.stats().gaps, 0);
}

#[test]
fn fin_from_both_sides_closes_and_time_wait_ignores_stragglers() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"ping");
    h.send(Side::Client, "FA", 1005, 5001, b""); // FIN takes seq 1005
    h.send(Side::Server, "A", 5001, 1006, b"pong");
    assert_eq!(h.sink.closes(), vec![]);
    h.send(Side::Server, "FA", 5005, 1006, b""); // FIN takes seq 5005
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
    assert_eq!(h.reassembler.live_connections(), 0);
    let events = h.sink.events.len();
    h.send(Side::Client, "A", 1006, 5006, b""); // the last ACK
    h.send(Side::Server, "FA", 5005, 1006, b""); // a retransmitted FIN
    assert_eq!(h.sink.events.len(), events, "no new connection");
    assert_eq!(h.stats().segments_after_close, 2);
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"ping")]);
    assert_eq!(h.stream(TO_CLIENT), vec![bytes(b"pong")]);
    assert_eq!(h.stats().closed_fin, 1);
}

#[test]
fn fin_waits_for_the_bytes_before_it() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Server, "FA", 5001, 1001, b"");
    h.send(Side::Client, "FA", 1005, 5002, b""); // FIN at 1005 before the data at 1001
    assert_eq!(h.sink.closes(), vec![]);
    h.send(Side::Client, "A", 1001, 5002, b"late");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"late")]);
}

#[test]
fn data_beyond_fin_is_dropped_and_a_second_fin_ignored() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "FA", 1001, 5001, b"ab"); // FIN at 1003
    h.send(Side::Client, "A", 1003, 5001, b"zz"); // beyond the FIN
    h.send(Side::Server, "FA", 5001, 1004, b"");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"ab")]);
    assert_eq!(h.stats().bytes_after_fin, 2);

    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1009, 5001, b"tail"); // buffered up to position 12
    h.send(Side::Client, "FA", 1001, 5001, b"x"); // a FIN at position 1 would cut it
    assert_eq!(h.stats().conflicting_fins, 1);
    h.send(Side::Client, "A", 1002, 5001, b"yyyyyyy");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"xyyyyyyytail")]);
}

#[test]
fn rst_flushes_and_closes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"ab");
    let fg = h.send(Side::Client, "A", 1006, 5001, b"fg"); // 3 bytes missing before it
    let rst = h.send(Side::Server, "RA", 5001, 1003, b"");
    assert_eq!(
        h.stream(TO_SERVER),
        vec![bytes(b"ab"), Chunk::Gap(3), bytes(b"fg")]
    );
    let tail: Vec<_> = h.sink.events[h.sink.events.len() - 3..].to_vec();
    // The gap is revealed by the RST; the bytes behind it are cited with their own frame.
    assert_eq!(
        tail,
        vec![
            Event::Gap(C, TO_SERVER, 3, rst),
            Event::Data(C, TO_SERVER, b"fg".to_vec(), fg),
            Event::Closed(C, CloseReason::Rst),
        ]
    );
    assert_eq!(h.reassembler.shared.buffered_total, 0);
    // A stray RST for a connection that is gone opens nothing.
    h.send(Side::Client, "R", 1003, 0, b"");
    assert_eq!(h.sink.opened().len(), 1);
}

#[test]
fn capture_starting_mid_connection_names_the_first_sender_initiator() {
    let mut h = Harness::new();
    // server → client, seq 7000: the first captured segment.
    h.send(Side::Server, "A", 7000, 3000, BIND_ACK_HEAD);
    // A bare ACK from the client does not anchor its stream...
    h.send(Side::Client, "A", 2990, 7008, b"");
    // ...its first data segment does.
    h.send(Side::Client, "A", 3000, 7008, BIND_HEAD);
    let ends = ConnEndpoints {
        initiator: server(),
        responder: client(),
        saw_syn: false,
    };
    assert_eq!(h.sink.opened(), vec![(C, ends)]);
    assert_eq!(
        h.sink.stream(C, Direction::ToResponder),
        vec![bytes(BIND_ACK_HEAD)]
    );
    assert_eq!(
        h.sink.stream(C, Direction::ToInitiator),
        vec![bytes(BIND_HEAD)]
    );
}

#[test]
fn syn_ack_seen_first_names_its_receiver_initiator_and_a_late_syn_joins() {
    let mut h = Harness::new();
    h.send(Side::Server, "SA", 5000, 1001, b"");
    h.send(Side::Client, "S", 1000, 0, b""); // captured after the SYN-ACK
    h.send(Side::Client, "A", 1001, 5001, b"hi");
    let ends = ConnEndpoints {
        initiator: client(),
        responder: server(),
        saw_syn: false,
    };
    assert_eq!(h.sink.opened(), vec![(C, ends)]);
    assert_eq!(h.sink.closes(), vec![]);
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"hi")]);
}

#[test]
fn snap_length_cut_payload_reports_the_missing_tail() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // 10 bytes on the wire, 4 captured.
    let cut = h.send_cut(Side::Client, "A", 1001, 5001, b"abcd", 10);
    h.send(Side::Client, "A", 1011, 5001, b"next");
    // Out of order and cut: 6 on the wire at 1019, 2 captured; then the hole fills.
    h.send_cut(Side::Client, "A", 1019, 5001, b"uv", 6);
    h.send(Side::Client, "A", 1015, 5001, b"more");
    h.send(Side::Client, "A", 1025, 5001, b"end");
    assert_eq!(
        h.stream(TO_SERVER),
        vec![
            bytes(b"abcd"),
            Chunk::Gap(6),
            bytes(b"nextmoreuv"),
            Chunk::Gap(4),
            bytes(b"end")
        ]
    );
    assert!(h.sink.events.contains(&Event::Gap(C, TO_SERVER, 6, cut)));
    assert_eq!(h.stats().truncated_segments, 2);
}

#[test]
fn ack_beyond_a_hole_skips_it() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // Client seq 1001..1005 is never captured; 1005..1009 waits behind the hole.
    h.send(Side::Client, "A", 1005, 5001, b"BBBB");
    assert_eq!(h.stream(TO_SERVER), vec![]);
    // The server acknowledges 1009: it received the missing bytes.
    let ack = h.send(Side::Server, "A", 5001, 1009, b"");
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(4), bytes(b"BBBB")]);
    assert!(h.sink.events.contains(&Event::Gap(C, TO_SERVER, 4, ack)));
    assert_eq!(h.stats().holes_skipped_by_ack, 1);
    // The lost bytes retransmitted late change nothing.
    h.send(Side::Client, "A", 1001, 5001, b"AAAA");
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(4), bytes(b"BBBB")]);
}

#[test]
fn ack_inside_a_hole_skips_only_the_acknowledged_part() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1009, 5001, b"tail"); // positions 8..12; 0..8 missing
    h.send(Side::Server, "A", 5001, 1004, b""); // acknowledges positions 0..3
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(3)]);
    h.send(Side::Client, "A", 1004, 5001, b"defgh"); // 3..8 still arrives
    assert_eq!(
        h.stream(TO_SERVER),
        vec![Chunk::Gap(3), bytes(b"defghtail")]
    );
}

#[test]
fn an_ack_with_nothing_waiting_is_kept_for_later() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    // The server acknowledges 8 bytes the capture missed, before anything follows them.
    h.send(Side::Server, "A", 5001, 1009, b"");
    assert_eq!(h.stream(TO_SERVER), vec![]);
    h.send(Side::Client, "A", 1009, 5001, b"more");
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(8), bytes(b"more")]);
}

#[test]
fn full_reorder_buffer_skips_the_earliest_hole() {
    let limits = TcpLimits {
        max_ooo_segments_per_direction: 2,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    // 1001..1005 lost; three segments pile up behind it, the third does not fit.
    h.send(Side::Client, "A", 1005, 5001, b"BBBB");
    h.send(Side::Client, "A", 1009, 5001, b"CCCC");
    let third = h.send(Side::Client, "A", 1013, 5001, b"DDDD");
    assert_eq!(
        h.stream(TO_SERVER),
        vec![Chunk::Gap(4), bytes(b"BBBBCCCCDDDD")]
    );
    assert!(h.sink.events.contains(&Event::Gap(C, TO_SERVER, 4, third)));
    assert_eq!(h.sink.warnings(), vec!["tcp_reorder_buffer_full"]);
    // Again: the warning is not repeated, the counter goes on.
    h.send(Side::Client, "A", 1021, 5001, b"FFFF");
    h.send(Side::Client, "A", 1025, 5001, b"GGGG");
    h.send(Side::Client, "A", 1029, 5001, b"HHHH");
    assert_eq!(
        h.stream(TO_SERVER),
        vec![
            Chunk::Gap(4),
            bytes(b"BBBBCCCCDDDD"),
            Chunk::Gap(4),
            bytes(b"FFFFGGGGHHHH")
        ]
    );
    assert_eq!(h.sink.warnings().len(), 1);
    assert_eq!(h.stats().ooo_cap_hits, 2);
    assert_eq!(h.stats().gap_bytes, 8);
}

#[test]
fn byte_cap_and_zero_buffer_turn_holes_into_gaps() {
    let limits = TcpLimits {
        max_ooo_bytes_per_direction: 6,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1003, 5001, b"cdef"); // 4 bytes fit
    h.send(Side::Client, "A", 1009, 5001, b"ijkl"); // 8 would not: skip 0..2
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(2), bytes(b"cdef")]);
    h.send(Side::Client, "A", 1007, 5001, b"gh");
    assert_eq!(
        h.stream(TO_SERVER),
        vec![Chunk::Gap(2), bytes(b"cdefghijkl")]
    );

    let limits = TcpLimits {
        max_ooo_bytes_per_direction: 0,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1003, 5001, b"cd");
    assert_eq!(h.stream(TO_SERVER), vec![Chunk::Gap(2), bytes(b"cd")]);
}

#[test]
fn global_buffer_cap_bounds_all_connections_together() {
    // Room for one 4-byte piece (4 + 64 bookkeeping bytes) in all.
    let limits = TcpLimits {
        max_buffered_bytes_total: 80,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.send_between(Side::Client, 40_000, "A", 100, 0, b"a", 1);
    h.send_between(Side::Client, 40_000, "A", 105, 0, b"BBBB", 4); // buffered
    h.send_between(Side::Client, 40_001, "A", 100, 0, b"a", 1);
    h.send_between(Side::Client, 40_001, "A", 105, 0, b"CCCC", 4); // no room: gap at once
    assert_eq!(h.sink.stream(ConnId(0), TO_SERVER), vec![bytes(b"a")]);
    assert_eq!(
        h.sink.stream(ConnId(1), TO_SERVER),
        vec![bytes(b"a"), Chunk::Gap(4), bytes(b"CCCC")]
    );
    assert_eq!(h.stats().peak_buffered_bytes, 68);
}

#[test]
fn idle_connections_are_evicted_by_a_periodic_sweep() {
    let second = 1_000_000_000;
    let limits = TcpLimits {
        idle_timeout_ns: 10 * second,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.send_between(Side::Client, 40_000, "A", 100, 0, b"old", 3);
    h.send_between(Side::Client, 40_000, "A", 110, 0, b"buffered", 8);
    h.ts_ns += 20 * second;
    h.send_between(Side::Client, 40_001, "A", 100, 0, b"new", 3);
    assert_eq!(
        h.sink.closes(),
        vec![(ConnId(0), CloseReason::Evicted(EvictionCause::Idle))]
    );
    assert_eq!(
        h.sink.stream(ConnId(0), TO_SERVER),
        vec![bytes(b"old"), Chunk::Gap(7), bytes(b"buffered")]
    );
    assert_eq!(h.sink.warnings(), vec!["tcp_idle_eviction"]);
    assert_eq!(h.reassembler.live_connections(), 1);
    // The evicted 4-tuple opens a new connection when it speaks again.
    h.send_between(Side::Client, 40_000, "A", 118, 0, b"again", 5);
    assert_eq!(h.sink.opened().len(), 3);
    assert_eq!(h.stats().evicted_idle, 1);
}

#[test]
fn a_clock_stepping_back_evicts_nothing_by_itself() {
    let second = 1_000_000_000;
    let limits = TcpLimits {
        idle_timeout_ns: 10 * second,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.ts_ns = 100 * second;
    h.send_between(Side::Client, 40_000, "A", 100, 0, b"a", 1); // ConnId(0) at 100 s
    h.ts_ns = 0;
    h.send_between(Side::Client, 40_001, "A", 100, 0, b"b", 1); // ConnId(1) at 0 s
    assert_eq!(h.sink.closes(), vec![]);
    h.ts_ns = 105 * second;
    h.send_between(Side::Client, 40_002, "A", 100, 0, b"c", 1);
    // At 105 s only ConnId(1) has been silent for more than 10 s.
    assert_eq!(
        h.sink.closes(),
        vec![(ConnId(1), CloseReason::Evicted(EvictionCause::Idle))]
    );
}

#[test]
fn full_connection_table_evicts_the_least_recently_active() {
    let limits = TcpLimits {
        max_connections: 2,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.send_between(Side::Client, 40_000, "A", 100, 0, b"a", 1); // ConnId(0)
    h.send_between(Side::Client, 40_001, "A", 100, 0, b"b", 1); // ConnId(1)
    h.send_between(Side::Client, 40_000, "A", 101, 0, b"a", 1); // 0 is now the most recent
    h.send_between(Side::Client, 40_002, "A", 100, 0, b"c", 1); // ConnId(2) evicts 1
    assert_eq!(
        h.sink.closes(),
        vec![(ConnId(1), CloseReason::Evicted(EvictionCause::Capacity))]
    );
    assert_eq!(h.reassembler.live_connections(), 2);
    h.send_between(Side::Client, 40_003, "A", 100, 0, b"d", 1); // ConnId(3) evicts 0
    assert_eq!(
        h.sink.closes()[1],
        (ConnId(0), CloseReason::Evicted(EvictionCause::Capacity))
    );
    assert_eq!(h.sink.warnings(), vec!["tcp_connection_table_full"]);
    assert_eq!(h.stats().connection_cap_hits, 2);
    assert_eq!(h.stats().peak_live_connections, 2);
}

#[test]
fn new_syn_after_close_opens_a_new_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "FA", 1001, 5001, b"");
    h.send(Side::Server, "FA", 5001, 1002, b"");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
    // Same 4-tuple, still in time-wait: an opening SYN is a new connection all the same.
    h.handshake(9000, 7000);
    h.send(Side::Client, "A", 9001, 7001, b"second");
    let ids: Vec<ConnId> = h.sink.opened().iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![ConnId(0), ConnId(1)]);
    assert_eq!(h.sink.stream(ConnId(1), TO_SERVER), vec![bytes(b"second")]);
}

#[test]
fn syn_with_a_new_isn_on_a_live_connection_reopens_it() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "S", 1000, 0, b""); // retransmitted SYN: same connection
    assert_eq!(h.sink.closes(), vec![]);
    h.send(Side::Client, "A", 1001, 5001, b"one");
    h.send(Side::Client, "S", 8000, 0, b""); // a new ISN: a new connection
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Reopened)]);
    h.send(Side::Server, "SA", 6000, 8001, b"");
    h.send(Side::Client, "A", 8001, 6001, b"two");
    assert_eq!(h.sink.stream(ConnId(0), TO_SERVER), vec![bytes(b"one")]);
    assert_eq!(h.sink.stream(ConnId(1), TO_SERVER), vec![bytes(b"two")]);
    assert_eq!(h.stats().closed_reopened, 1);
}

#[test]
fn finish_flushes_buffered_bytes_and_the_known_tail() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"ab");
    h.send(Side::Client, "A", 1006, 5001, b"fg"); // after a 3-byte hole
    h.send(Side::Client, "FA", 1010, 5001, b""); // FIN at position 9: 2 more bytes missing
    h.send(Side::Server, "A", 5001, 1003, b"srv");
    h.send(Side::Client, "A", 1003, 5011, b""); // the client acknowledges 10 server bytes
    h.finish();
    assert_eq!(
        h.stream(TO_SERVER),
        vec![bytes(b"ab"), Chunk::Gap(3), bytes(b"fg"), Chunk::Gap(2)]
    );
    assert_eq!(h.stream(TO_CLIENT), vec![bytes(b"srv"), Chunk::Gap(7)]);
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::EndOfCapture)]);
    assert_eq!(h.reassembler.live_connections(), 0);
    assert_eq!(h.reassembler.shared.buffered_total, 0);
}

#[test]
fn implausibly_distant_segments_are_ignored() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"ok");
    h.send(Side::Client, "A", 1003 + (1 << 30) + 1, 5001, b"far"); // beyond the largest window
    h.send(
        Side::Client,
        "A",
        1003u32.wrapping_sub((1 << 31) - 100),
        5001,
        b"old",
    ); // far behind: old
    h.send(Side::Client, "A", 1003, 5001, b"!");
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"ok!")]);
    assert_eq!(h.stats().out_of_window_segments, 1);
    assert_eq!(h.sink.warnings(), vec!["tcp_segment_out_of_window"]);
}

#[test]
fn stats_serialize_with_their_field_names() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"abc");
    let json = serde_json::to_value(h.stats()).unwrap();
    assert_eq!(json["bytes_delivered"], 3);
    assert_eq!(json["segments"], 4);
    assert_eq!(
        serde_json::to_value(CloseReason::Evicted(EvictionCause::Idle)).unwrap(),
        serde_json::json!({"evicted": "idle"})
    );
}

// ---------------------------------------------------------------------------------------
// Property tests on generated conversations.

/// A small deterministic generator (xorshift64*) for the shape of a conversation; proptest
/// draws its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        if n == 0 {
            0
        } else {
            (x % n as u64) as usize
        }
    }
}

/// One packet of a generated conversation: side 0 or 1, data positions `[start, end)`.
#[derive(Debug, Clone)]
struct Pkt {
    side: usize,
    syn: bool,
    fin: bool,
    start: usize,
    end: usize,
    /// Never dropped when simulating loss (handshake, FINs, the first segment without SYN).
    keep: bool,
    ack: Option<u32>,
}

#[derive(Debug, Clone)]
struct Conversation {
    data: [Vec<u8>; 2],
    isn: [u32; 2],
    with_syn: bool,
    seed: u64,
}

fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX]
}

fn conversation() -> impl Strategy<Value = Conversation> {
    (
        proptest::collection::vec(any::<u8>(), 0..1500),
        proptest::collection::vec(any::<u8>(), 0..1500),
        isn(),
        isn(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(a, b, isn_a, isn_b, with_syn, seed)| Conversation {
            data: [a, b],
            isn: [isn_a, isn_b],
            with_syn,
            seed: seed | 1,
        })
}

/// The packets in capture order: each direction cut into random segments and a FIN,
/// interleaved, with overlapping retransmissions, reordered within `window`, each carrying
/// the acknowledgement of what the other side had sent before it.
fn packets(conv: &Conversation, rng: &mut Rng, window: usize) -> Vec<Pkt> {
    let mut per_side: [Vec<Pkt>; 2] = [Vec::new(), Vec::new()];
    for (side, list) in per_side.iter_mut().enumerate() {
        let len = conv.data[side].len();
        let max_segment = 1 + rng.below(300);
        let mut at = 0;
        while at < len {
            let end = (at + 1 + rng.below(max_segment)).min(len);
            list.push(Pkt {
                side,
                syn: false,
                fin: false,
                start: at,
                end,
                keep: false,
                ack: None,
            });
            at = end;
        }
        list.push(Pkt {
            side,
            syn: false,
            fin: true,
            start: len,
            end: len,
            keep: true,
            ack: None,
        });
    }
    // Interleave the two directions, each keeping its order.
    let mut sent = Vec::new();
    let mut next = [0usize; 2];
    while next[0] < per_side[0].len() || next[1] < per_side[1].len() {
        let side = if next[0] == per_side[0].len() {
            1
        } else if next[1] == per_side[1].len() {
            0
        } else {
            rng.below(2)
        };
        sent.push(per_side[side][next[side]].clone());
        next[side] += 1;
    }
    // Retransmissions of random ranges, each some time after the range was first sent.
    for _ in 0..rng.below(12) {
        let side = rng.below(2);
        let len = conv.data[side].len();
        if len == 0 {
            continue;
        }
        let start = rng.below(len);
        let end = (start + 1 + rng.below(400)).min(len);
        let first_sent = sent
            .iter()
            .position(|p| p.side == side && !p.fin && p.end >= end)
            .unwrap_or(sent.len() - 1);
        let at = (first_sent + 1 + rng.below(6)).min(sent.len());
        sent.insert(
            at,
            Pkt {
                side,
                syn: false,
                fin: false,
                start,
                end,
                keep: false,
                ack: None,
            },
        );
    }
    // Reorder within the window.
    let mut keyed: Vec<(usize, usize, Pkt)> = sent
        .into_iter()
        .enumerate()
        .map(|(i, p)| (i + rng.below(window + 1), i, p))
        .collect();
    keyed.sort_by_key(|(key, i, _)| (*key, *i));
    let mut capture: Vec<Pkt> = keyed.into_iter().map(|(_, _, p)| p).collect();
    if conv.with_syn {
        let syn = |side| Pkt {
            side,
            syn: true,
            fin: false,
            start: 0,
            end: 0,
            keep: true,
            ack: None,
        };
        capture.insert(0, syn(1));
        capture.insert(0, syn(0));
    } else {
        // Without a SYN, each direction's stream starts where its first captured segment does:
        // bring a segment starting at position 0 to the front.
        for side in [1, 0] {
            if let Some(i) = capture.iter().position(|p| p.side == side && p.start == 0) {
                let mut first = capture.remove(i);
                first.keep = true;
                capture.insert(0, first);
            }
        }
    }
    // Acknowledgements: what the other side had sent before this packet (in capture order,
    // lost packets included, since the peer received them).
    let mut covered: [Vec<bool>; 2] = [
        vec![false; conv.data[0].len()],
        vec![false; conv.data[1].len()],
    ];
    let mut prefix = [0usize; 2];
    let mut fin_sent = [false; 2];
    for p in &mut capture {
        let other = 1 - p.side;
        if !(p.syn && p.side == 0) {
            let fin = usize::from(fin_sent[other] && prefix[other] == conv.data[other].len());
            p.ack = Some(seq_at(conv, other, prefix[other] + fin));
        }
        covered[p.side][p.start..p.end]
            .iter_mut()
            .for_each(|c| *c = true);
        fin_sent[p.side] |= p.fin;
        while prefix[p.side] < covered[p.side].len() && covered[p.side][prefix[p.side]] {
            prefix[p.side] += 1;
        }
    }
    capture
}

/// The sequence number of data position `pos` of `side` (its SYN took `isn`).
fn seq_at(conv: &Conversation, side: usize, pos: usize) -> u32 {
    conv.isn[side].wrapping_add(1).wrapping_add(pos as u32)
}

fn endpoint(side: usize) -> SocketAddr {
    if side == 0 {
        client()
    } else {
        server()
    }
}

/// Feeds the packets (frame n at n µs) and finishes.
fn run(conv: &Conversation, capture: &[Pkt], limits: TcpLimits) -> (Recorder, TcpReassembler) {
    let mut reassembler = TcpReassembler::new(limits);
    let mut sink = Recorder::default();
    for (i, p) in capture.iter().enumerate() {
        let (from, to) = (endpoint(p.side), endpoint(1 - p.side));
        let seq = if p.syn {
            conv.isn[p.side]
        } else {
            seq_at(conv, p.side, p.start)
        };
        let payload = &conv.data[p.side][p.start..p.end];
        let seg = TcpSegment {
            src_port: from.port(),
            dst_port: to.port(),
            seq,
            ack: p.ack.unwrap_or(0),
            flags: TcpFlags {
                syn: p.syn,
                ack: p.ack.is_some(),
                fin: p.fin,
                rst: false,
            },
            payload,
            wire_payload_len: payload.len() as u32,
        };
        let frame = i as u64 + 1;
        reassembler.segment(
            frame,
            frame as i64 * 1000,
            from.ip(),
            to.ip(),
            &seg,
            &mut sink,
        );
    }
    reassembler.finish(&mut sink);
    (sink, reassembler)
}

/// The direction that carries `side`'s bytes in connection `conn`.
fn direction_of(sink: &Recorder, side: usize) -> Direction {
    let (_, ends) = sink.opened()[0];
    if ends.initiator == endpoint(side) {
        Direction::ToResponder
    } else {
        Direction::ToInitiator
    }
}

/// Checks that every delivered byte sits at its original position and that data plus gaps
/// cover the whole stream; returns the number of gap bytes.
fn check_positions(original: &[u8], chunks: &[Chunk]) -> Result<u64, TestCaseError> {
    let mut pos = 0usize;
    let mut gap_bytes = 0;
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(b) => {
                prop_assert_eq!(
                    original.get(pos..pos + b.len()),
                    Some(&b[..]),
                    "bytes at {}",
                    pos
                );
                pos += b.len();
            }
            Chunk::Gap(n) => {
                pos += *n as usize;
                gap_bytes += n;
            }
        }
    }
    prop_assert_eq!(pos, original.len());
    Ok(gap_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Segmentation, duplicates, overlapping retransmissions and reordering, but no loss:
    /// each direction comes out exactly as sent, without a gap, and the connection closes
    /// by FIN.
    #[test]
    fn lossless_conversations_are_rebuilt_exactly(conv in conversation(), window in 0usize..8) {
        let mut rng = Rng(conv.seed);
        let capture = packets(&conv, &mut rng, window);
        let (sink, reassembler) = run(&conv, &capture, TcpLimits::default());
        prop_assert_eq!(sink.opened().len(), 1);
        for side in 0..2 {
            let dir = direction_of(&sink, side);
            let expected = if conv.data[side].is_empty() { vec![] } else { vec![bytes(&conv.data[side])] };
            prop_assert_eq!(sink.stream(ConnId(0), dir), expected);
        }
        prop_assert_eq!(sink.closes(), vec![(ConnId(0), CloseReason::Fin)]);
        prop_assert_eq!(sink.warnings(), Vec::<&str>::new());
        prop_assert_eq!(reassembler.stats().gaps, 0);
        prop_assert_eq!(reassembler.shared.buffered_total, 0);
    }

    /// The same with packets lost (and sometimes tiny buffers): every delivered byte is at
    /// its right position, and data plus gaps add up to each stream's length.
    #[test]
    fn lossy_conversations_keep_positions_and_lengths(
        conv in conversation(),
        window in 0usize..8,
        loss_percent in 1usize..60,
        tiny_buffers in any::<bool>(),
    ) {
        let mut rng = Rng(conv.seed);
        let capture: Vec<Pkt> = packets(&conv, &mut rng, window)
            .into_iter()
            .filter(|p| p.keep || rng.below(100) >= loss_percent)
            .collect();
        let limits = if tiny_buffers {
            TcpLimits {
                max_ooo_bytes_per_direction: rng.below(600),
                max_ooo_segments_per_direction: rng.below(6),
                ..TcpLimits::default()
            }
        } else {
            TcpLimits::default()
        };
        let (sink, reassembler) = run(&conv, &capture, limits);
        prop_assert_eq!(sink.opened().len(), 1);
        let mut delivered = 0;
        let mut gap_bytes = 0;
        for side in 0..2 {
            let chunks = sink.stream(ConnId(0), direction_of(&sink, side));
            gap_bytes += check_positions(&conv.data[side], &chunks)?;
            delivered += conv.data[side].len() as u64;
        }
        prop_assert_eq!(reassembler.stats().gap_bytes, gap_bytes);
        prop_assert_eq!(reassembler.stats().bytes_delivered + gap_bytes, delivered);
        prop_assert_eq!(sink.closes().len(), 1);
        prop_assert_eq!(reassembler.shared.buffered_total, 0);
    }

    /// Arbitrary segments (sequence numbers, flags, payloads, wire lengths, clocks) never
    /// panic, never exceed the buffer caps, and account for every delivered byte.
    #[test]
    fn arbitrary_segments_never_panic(
        segments in proptest::collection::vec(
            (
                any::<bool>(),
                0u16..3,
                prop_oneof![any::<u32>(), 990u32..1100],
                prop_oneof![any::<u32>(), 990u32..1100],
                any::<[bool; 4]>(),
                proptest::collection::vec(any::<u8>(), 0..40),
                prop_oneof![Just(0u32), 0u32..80, any::<u32>()],
                prop_oneof![0i64..5_000, any::<i64>()],
            ),
            0..120,
        ),
        max_ooo_bytes in 0usize..200,
        max_ooo_segments in 0usize..6,
        max_connections in 0usize..4,
    ) {
        let limits = TcpLimits {
            max_ooo_bytes_per_direction: max_ooo_bytes,
            max_ooo_segments_per_direction: max_ooo_segments,
            max_buffered_bytes_total: 400,
            max_connections,
            idle_timeout_ns: 2_000,
            time_wait_ns: 500,
        };
        let mut reassembler = TcpReassembler::new(limits);
        let mut sink = Recorder::default();
        let mut ts = 0i64;
        for (i, (from_client, port, seq, ack, [syn, ackf, fin, rst], payload, extra, step)) in segments.iter().enumerate() {
            ts = ts.saturating_add(*step);
            let (src, dst, src_port, dst_port) = if *from_client {
                (CLIENT_IP, SERVER_IP, 40_000 + port, SERVER_PORT)
            } else {
                (SERVER_IP, CLIENT_IP, SERVER_PORT, 40_000 + port)
            };
            let seg = TcpSegment {
                src_port,
                dst_port,
                seq: *seq,
                ack: *ack,
                flags: TcpFlags { syn: *syn, ack: *ackf, fin: *fin, rst: *rst },
                payload,
                wire_payload_len: (payload.len() as u32).saturating_add(*extra),
            };
            reassembler.segment(i as u64 + 1, ts, src, dst, &seg, &mut sink);
            prop_assert!(reassembler.shared.buffered_total <= 400);
            prop_assert!(reassembler.live_connections() <= max_connections.max(1));
        }
        reassembler.finish(&mut sink);
        prop_assert_eq!(reassembler.live_connections(), 0);
        prop_assert_eq!(reassembler.shared.buffered_total, 0);
        let delivered: usize = sink.events.iter().map(|e| match e { Event::Data(_, _, b, _) => b.len(), _ => 0 }).sum();
        prop_assert_eq!(reassembler.stats().bytes_delivered, delivered as u64);
        prop_assert_eq!(sink.opened().len(), sink.closes().len());
    }
}

/// The key of the connection from the client's `port` to the server, for table tests.
fn table_key(port: u16) -> FlowKey {
    FlowKey::new(
        SocketAddr::new(CLIENT_IP, port),
        SocketAddr::new(SERVER_IP, SERVER_PORT),
    )
}

/// A connection record for table tests.
fn table_conn(id: u64) -> Connection {
    Connection {
        id: ConnId(id),
        initiator_low: true,
        to_responder: HalfStream::default(),
        to_initiator: HalfStream::default(),
        last_seen_ns: 0,
        declined: None,
    }
}

#[test]
fn connection_table_finds_reuses_and_forgets() {
    let key = table_key;
    let mut table = ConnTable::default();
    table.insert(key(1), table_conn(1));
    table.insert(key(2), table_conn(2));
    // Both directions find the same connection, repeatedly (the cache of recent lookups)
    // and after looking up another one.
    let reversed = FlowKey::new(
        SocketAddr::new(SERVER_IP, SERVER_PORT),
        SocketAddr::new(CLIENT_IP, 1),
    );
    for k in [key(1), reversed, key(2), key(1)] {
        let expected = if k == key(2) { 2 } else { 1 };
        assert_eq!(table.get_mut(&k).map(|c| c.id), Some(ConnId(expected)));
    }
    // A removed connection is gone even though it was the last one looked up.
    assert_eq!(table.remove(&key(1)).map(|c| c.id), Some(ConnId(1)));
    assert!(table.get_mut(&key(1)).is_none());
    assert!(table.remove(&key(1)).is_none());
    // Its slot is reused; the table holds what is live.
    table.insert(key(3), table_conn(3));
    assert_eq!(table.slots.len(), 2);
    assert_eq!(table.len(), 2);
    let mut ids: Vec<u64> = table.iter().map(|(_, c)| c.id.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, [2, 3]);
}

/// Keys that share an entry of the cache of recent lookups are told apart by the key kept
/// in the slot: each lookup finds its own connection, and a removed one stays gone.
#[test]
fn connection_table_cache_collisions_fall_back_to_the_map() {
    let key = table_key;
    let first = key(1);
    let twin = (2..=u16::MAX)
        .map(key)
        .find(|k| k.cache_entry() == first.cache_entry())
        .expect("16,384 entries, 65,534 ports");
    let mut table = ConnTable::default();
    table.insert(first, table_conn(1));
    table.insert(twin, table_conn(2));
    for (k, id) in [(first, 1), (twin, 2), (twin, 2), (first, 1), (twin, 2)] {
        assert_eq!(table.get_mut(&k).map(|c| c.id), Some(ConnId(id)));
    }
    assert_eq!(table.remove(&twin).map(|c| c.id), Some(ConnId(2)));
    assert!(table.get_mut(&twin).is_none());
    assert_eq!(table.get_mut(&first).map(|c| c.id), Some(ConnId(1)));
    // The twin's slot, reused by another key, is not taken for the twin's.
    table.insert(key(7), table_conn(3));
    assert!(table.get_mut(&twin).is_none());
    assert_eq!(table.get_mut(&key(7)).map(|c| c.id), Some(ConnId(3)));
}

#[test]
fn a_declined_connection_gets_nothing_more_and_closes_on_its_fins() {
    let mut h = Harness::new();
    h.sink.decline.push(C);
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1005, 5001, b"LATE");
    h.send(Side::Client, "A", 1001, 5001, b"GET ");
    // Only the first delivery reached the sink; the buffered piece was dropped with it.
    assert_eq!(h.stream(TO_SERVER), vec![bytes(b"GET ")]);
    assert_eq!(h.stats().connections_declined, 1);
    h.send(Side::Server, "A", 5001, 1009, b"HTTP/1.1 200 OK");
    h.send(Side::Client, "A", 2000, 5016, b"out of order, not buffered");
    assert_eq!(h.stream(TO_CLIENT), vec![]);
    assert_eq!(
        h.stats().ooo_segments,
        1,
        "only the piece buffered before declining"
    );
    h.send(Side::Client, "FA", 1009, 5016, b"");
    assert_eq!(h.sink.closes(), vec![]);
    h.send(Side::Server, "FA", 5016, 1010, b"");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
    // The final ACK falls in time-wait instead of opening a connection.
    h.send(Side::Client, "A", 1010, 5017, b"");
    assert_eq!(h.reassembler.live_connections(), 0);
    assert_eq!(h.stats().connections, 1);
}

#[test]
fn declining_a_connection_returns_its_buffered_bytes_to_the_shared_budget() {
    let limits = TcpLimits {
        max_buffered_bytes_total: 200,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.sink.decline.push(C);
    h.handshake(1000, 5000);
    // 100 bytes (+64 of bookkeeping) wait behind a hole, then the hole fills and the sink
    // declines the connection at its first bytes.
    h.send(Side::Client, "A", 1101, 5001, &[b'x'; 100]);
    h.send(Side::Client, "A", 1001, 5001, &[b'y'; 100]);
    assert_eq!(h.stats().connections_declined, 1);
    // A second connection can now use the whole budget.
    let other = CLIENT_PORT + 1;
    h.send_between(Side::Client, other, "S", 7000, 0, b"", 0);
    h.send_between(Side::Client, other, "A", 7101, 0, &[b'z'; 100], 100);
    assert_eq!(h.stats().ooo_cap_hits, 0);
    assert_eq!(h.stats().ooo_segments, 2);
}

#[test]
fn a_declined_connection_ends_at_a_reset() {
    let mut h = Harness::new();
    h.sink.decline.push(C);
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1001, 5001, b"SSH-2.0");
    h.send(Side::Server, "RA", 5001, 1008, b"");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Rst)]);
}

#[test]
fn a_connection_declined_by_the_segment_that_ends_it_closes_at_once() {
    let mut h = Harness::new();
    h.sink.decline.push(C);
    h.handshake(1000, 5000);
    h.send(Side::Server, "FA", 5001, 1001, b"");
    // The client's last data and FIN in one segment; the sink declines at that data.
    h.send(Side::Client, "FA", 1001, 5002, b"QUIT");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
    assert_eq!(h.reassembler.live_connections(), 0);
}

#[test]
fn expired_time_wait_entries_make_room_on_a_busy_capture() {
    let limits = TcpLimits {
        max_connections: 4,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    // Ten connections closed by FINs, 100 s apart (longer than the 60 s time-wait), each
    // followed by its final ACK, which must land in time-wait, not open a connection.
    for k in 0..10u16 {
        let port = 41_000 + k;
        h.ts_ns += 100_000_000_000;
        h.send_between(Side::Client, port, "S", 100, 0, b"", 0);
        h.send_between(Side::Server, port, "SA", 900, 101, b"", 0);
        h.send_between(Side::Client, port, "FA", 101, 901, b"", 0);
        h.send_between(Side::Server, port, "FA", 901, 102, b"", 0);
        h.send_between(Side::Client, port, "A", 102, 902, b"", 0);
    }
    assert_eq!(h.stats().connections, 10);
    assert_eq!(h.stats().closed_fin, 10);
    assert_eq!(h.reassembler.live_connections(), 0);
}

#[test]
fn a_full_table_evicts_declined_connections_first() {
    let limits = TcpLimits {
        max_connections: 2,
        ..TcpLimits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.sink.decline.push(ConnId(1));
    h.send_between(Side::Client, 40_000, "A", 100, 0, b"a", 1); // ConnId(0), followed
    h.send_between(Side::Client, 40_001, "A", 100, 0, b"b", 1); // ConnId(1), declined
    h.send_between(Side::Client, 40_002, "A", 100, 0, b"c", 1); // ConnId(2) evicts 1
    assert_eq!(
        h.sink.closes(),
        vec![(ConnId(1), CloseReason::Evicted(EvictionCause::Capacity))]
    );
}

#[test]
fn an_acknowledgement_past_a_hole_delivers_the_held_bytes_before_its_own_payload() {
    // The capture lost 10 bytes of the client's; its next request waits behind the hole
    // until the server's answer acknowledges it. The request reaches the sink before the
    // answer, cited with the frame that carried it; the gap with the frame that revealed it.
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    let request = h.send(Side::Client, "A", 1011, 5001, b"request");
    let answer = h.send(Side::Server, "A", 5001, 1018, b"answer");
    let stream: Vec<Event> = h
        .sink
        .events
        .iter()
        .filter(|e| matches!(e, Event::Data(..) | Event::Gap(..)))
        .cloned()
        .collect();
    assert_eq!(
        stream,
        vec![
            Event::Gap(C, TO_SERVER, 10, answer),
            Event::Data(C, TO_SERVER, b"request".to_vec(), request),
            Event::Data(C, TO_CLIENT, b"answer".to_vec(), answer),
        ]
    );
}

#[test]
fn a_fin_whose_acknowledgement_declines_the_connection_still_ends_its_direction() {
    // The client's bytes wait behind a hole; the server's FIN/ACK acknowledges them, their
    // delivery makes the sink decline the connection, and that FIN must still count.
    let mut h = Harness::new();
    h.sink.decline.push(C);
    h.handshake(1000, 5000);
    h.send(Side::Client, "A", 1011, 5001, b"held");
    h.send(Side::Server, "FA", 5001, 1015, b"");
    assert_eq!(h.stats().connections_declined, 1);
    assert_eq!(h.sink.closes(), vec![]);
    h.send(Side::Client, "FA", 1015, 5002, b"");
    assert_eq!(h.sink.closes(), vec![(C, CloseReason::Fin)]);
}
