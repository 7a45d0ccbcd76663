//! The per-frame path allocates nothing: once a connection is known, feeding its segments,
//! unrelated UDP datagrams and ICMP messages through [`Analyzer::feed`] must not touch the
//! heap, however many frames there are. A counting global allocator (per thread, so other
//! tests running at the same time do not disturb the count) checks it.

use etherparse::PacketBuilder;
use pushtrace_core::capture::{Frame, LinkType};
use pushtrace_core::engine::{AnalyzeOptions, Analyzer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the allocations made on each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// a thread-local integer, which needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CLIENT: [u8; 4] = [192, 168, 1, 10];
const SERVER: [u8; 4] = [192, 168, 1, 80];
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Builds the frames of one round of ordinary traffic: a web connection exchanging a
/// request and a response (in order, acknowledged), a DNS answer and a ping.
struct Traffic {
    client_seq: u32,
    server_seq: u32,
}

impl Traffic {
    fn tcp(&self, from_client: bool, syn: bool, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sport, dport, seq, ack) = if from_client {
            (CLIENT, SERVER, 50_000, 80, self.client_seq, self.server_seq)
        } else {
            (SERVER, CLIENT, 80, 50_000, self.server_seq, self.client_seq)
        };
        let mut b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 64_000);
        b = if syn && from_client { b.syn() } else { b };
        b = if syn && !from_client {
            b.syn().ack(ack)
        } else {
            b
        };
        b = if syn { b } else { b.ack(ack) };
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn handshake(&mut self) -> Vec<Vec<u8>> {
        let syn = self.tcp(true, true, &[]);
        self.client_seq += 1;
        let syn_ack = self.tcp(false, true, &[]);
        self.server_seq += 1;
        vec![syn, syn_ack, self.tcp(true, false, &[])]
    }

    fn round(&mut self) -> Vec<Vec<u8>> {
        let request = self.tcp(true, false, b"GET /owa/ HTTP/1.1\r\nHost: mail\r\n\r\n");
        self.client_seq += 35;
        let response = self.tcp(false, false, &[b'x'; 1200]);
        self.server_seq += 1200;
        let ack = self.tcp(true, false, &[]);
        let mut dns = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4([10, 0, 0, 53], CLIENT, 64)
            .udp(53, 53_000)
            .write(&mut dns, &[0x42; 180])
            .unwrap();
        let mut ping = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(CLIENT, SERVER, 64)
            .icmpv4_echo_request(1, 7)
            .write(&mut ping, &[0; 32])
            .unwrap();
        vec![request, response, ack, dns, ping]
    }
}

/// Feeds `frames` from frame number `*number` on, one millisecond apart.
fn feed(analyzer: &mut Analyzer, frames: &[Vec<u8>], number: &mut u64) {
    for data in frames {
        *number += 1;
        let frame = Frame {
            number: *number,
            ts_ns: 1_700_000_000_000_000_000 + *number as i64 * 1_000_000,
            link: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            options: Default::default(),
        };
        analyzer.feed(&frame);
    }
}

#[test]
fn feeding_known_traffic_allocates_nothing_per_frame() {
    let mut traffic = Traffic {
        client_seq: 1_000,
        server_seq: 9_000,
    };
    let mut analyzer = Analyzer::new(0, &AnalyzeOptions::default());
    let mut number = 0;
    // Opening the connection, learning what it carries and the first warnings may allocate.
    feed(&mut analyzer, &traffic.handshake(), &mut number);
    for _ in 0..10 {
        feed(&mut analyzer, &traffic.round(), &mut number);
    }
    let rounds: Vec<Vec<Vec<u8>>> = (0..2_000).map(|_| traffic.round()).collect();
    let before = allocations();
    for round in &rounds {
        feed(&mut analyzer, round, &mut number);
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations over 10,000 frames");
    let result = analyzer.finish();
    assert!(result.sessions.is_empty());
    // The count is real: finishing (building the report) allocates.
    assert!(allocations() > before);
}
