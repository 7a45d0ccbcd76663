//! The [`Mix::Midstream`] mix: a capture started on a busy network, where every TCP
//! connection began before the capture.
//!
//! * Thousands of connections are open when the capture starts (one per 160 KiB of file, at
//!   most 12,000): three in five in the middle of a message — an HTTP body, a TLS record, an
//!   SMB2 read, random payload — at an arbitrary byte, the others idle until their next
//!   exchange, at any time of the capture. Connections that arrive later are first seen at
//!   their next message (a keep-alive connection waking up): no SYN either, sequence numbers
//!   from mid-stream. Think times between exchanges are four times the handshake mix's.
//! * Their payloads are what real captures hold: TLS records of content types 20–23 with
//!   record-layer versions 3.1–3.4, HTTP/1.1 requests (some POSTs with bodies) and responses
//!   with bodies, SMB2 over NetBIOS on 445, and random bytes both ways — on ordinary ports
//!   and on ports DCE/RPC uses too: 135, 1025–5000 and the dynamic range 49152–65535.
//! * The planted Outlook sessions logged on and registered before the capture; it starts
//!   inside a large `EcDoRpcExt2` call's response (30 KB or more, in fragments of 5840 or
//!   4304 bytes, at a segment that does not start a fragment). Healthy sessions then get
//!   notifications they react to, blocked ones get notifications refused by ICMP port
//!   unreachable while they poll, spread over the capture.

use super::{
    exchange_server, host, App, Ctx, Host, IpAddr, Ipv4Addr, Phase, Side, SimFrame, Story, TcpFlow,
    EPHEMERAL, MS, SEC, START_NS, US,
};
use crate::net::Net;
use crate::outlook::ConnectOptions;
use crate::scenarios::{logon, poll_every_minute, CALLBACK_PORT};

/// Bytes of capture file per background connection open when the capture starts.
const BYTES_PER_OPEN_FLOW: u64 = 160 << 10;
/// Most background connections open when the capture starts.
const MAX_OPEN_FLOWS: u64 = 12_000;
/// The largest fragment Windows negotiates on ncacn_ip_tcp, and a smaller one: 5840 and 4304
/// bytes of PDU (24 of header and request fields, the rest stub).
const FRAGMENT_STUBS: [usize; 2] = [5816, 4280];

/// Background connections open when a capture of `size` bytes starts.
pub(super) fn open_flows(size: u64) -> u64 {
    (size / BYTES_PER_OPEN_FLOW).clamp(16, MAX_OPEN_FLOWS)
}

/// When the planted session `i` starts: in the first 100 ms of the capture, with its story
/// (healthy and blocked in turn) and client.
pub(super) fn plan(rng: &mut crate::net::Rng, i: usize) -> (i64, Story, Host) {
    let start = START_NS + rng.range(0, 100 * MS as u64) as i64;
    let n = i as u32;
    let ip = IpAddr::V4(Ipv4Addr::new(10, 10, (n / 250) as u8, (n % 250 + 1) as u8));
    let story = [Story::Healthy, Story::Blocked][i % 2];
    (start, story, host(ip, 127))
}

impl TcpFlow {
    /// A background connection that began before the capture: open at its start, idle ones
    /// waking within `wake_within` ns (`Some`), or first seen now at its next exchange
    /// (`None`). Returns the flow and the delay to its first frame.
    pub(super) fn midstream(ctx: &mut Ctx, wake_within: Option<i64>) -> (TcpFlow, i64) {
        let v6 = ctx.rng.range(1, super::IPV6_ONE_IN) == 1;
        let (app, port) = match ctx.rng.range(0, 99) {
            0..=24 => (App::Http, pick(ctx, &[(70, 80), (20, 8080)], true)),
            25..=64 => (
                App::Tls,
                pick(ctx, &[(75, 443), (10, 8443), (5, 636)], true),
            ),
            65..=79 => (App::Smb, 445),
            _ => (App::Random, pick(ctx, &[(10, 135)], false)),
        };
        let mut flow = TcpFlow::with_app(ctx, v6, app, port, true);
        flow.midstream = true;
        flow.think_max *= 4;
        flow.tls_head[2] = match ctx.rng.range(0, 99) {
            0..=69 => 3,
            70..=84 => 1,
            85..=94 => 2,
            _ => 4,
        };
        let Some(wake_within) = wake_within else {
            return (flow, 0);
        };
        if !ctx.rng.chance(600) {
            // Idle: its next exchange comes at any time of the capture.
            return (
                flow,
                ctx.rng.range(MS as u64, wake_within.max(SEC) as u64) as i64,
            );
        }
        // In the middle of a message: mostly a response, an SMB2 read's for file servers.
        let side = if app != App::Smb && ctx.rng.chance(250) {
            Side::Client
        } else {
            Side::Server
        };
        if app == App::Smb {
            flow.smb_write = false;
            flow.smb_data = ctx.log_uniform(4_096, 65_536) as u32;
        }
        if side == Side::Client {
            flow.exchanges += 1;
        }
        flow.start_message(ctx, side);
        flow.msg.sent = ctx.rng.range(1, u64::from(flow.msg.len.max(2) - 1)) as u32;
        flow.phase = Phase::Data;
        (flow, ctx.delay(10 * US, 100 * MS))
    }
}

/// A server port: one of `weighted` (per cent, port), else from the dynamic range (one in
/// two when `dynamic_rest`, else a registered port 1025–5000 or 5001–49151).
fn pick(ctx: &mut Ctx, weighted: &[(u64, u16)], dynamic_rest: bool) -> u16 {
    let mut roll = ctx.rng.range(0, 99);
    for &(share, port) in weighted {
        if roll < share {
            return port;
        }
        roll -= share;
    }
    match ctx.rng.range(0, 9) {
        0..=4 => ctx.rng.range(u64::from(EPHEMERAL), u64::from(u16::MAX)) as u16,
        5..=7 if !dynamic_rest => ctx.rng.range(1025, 5000) as u16,
        _ => ctx.rng.range(5001, u64::from(EPHEMERAL) - 1) as u16,
    }
}

/// A TLS message's record content type, written into `head`: application data mostly, and
/// handshake, alert and change_cipher_spec records; the latter two are short, so their
/// length (header included) is returned.
pub(super) fn tls_content_type(ctx: &mut Ctx, head: &mut [u8; 3]) -> Option<u64> {
    let (kind, len) = match ctx.rng.range(0, 99) {
        0..=84 => (23, None),
        85..=93 => (22, None),
        94..=97 => (21, Some(5 + 2)),
        _ => (20, Some(5 + 1)),
    };
    head[0] = kind;
    len
}

/// Plays planted session `i` (`story` between `client` and the Exchange server) whose
/// connection began before the capture, which starts at `start` inside a large response of
/// it; its notifications come within `span_ns`. Returns the frames from that point.
pub(super) fn session(
    start: i64,
    seed: u64,
    i: usize,
    (story, client): (Story, Host),
    span_ns: i64,
) -> Vec<SimFrame> {
    let server = exchange_server();
    let mut net = Net::new(start - 90 * SEC, seed);
    let max_frag_stub = FRAGMENT_STUBS[i % FRAGMENT_STUBS.len()];
    let opts = ConnectOptions {
        max_frag_stub,
        ..ConnectOptions::default()
    };
    let callback = client.at(CALLBACK_PORT);
    let mut l = logon(&mut net, client, server, opts, Some((callback, 0)));
    net.now = net.now.max(start);
    // The capture starts at a segment of the response that does not start a fragment.
    let rops = 10_000 + net.rng.range(0, 6_000) as usize;
    let big = l.conn.rop_call(&mut net, rops);
    let segments = big.response - big.request - 1;
    let fragment = max_frag_stub as u64 + 24;
    let mut j = net.rng.range(1, segments - 1);
    while (j * 1460).is_multiple_of(fragment) {
        j += 1;
    }
    let first_kept = (big.request + 1 + j) as usize;
    let span_s = (span_ns / SEC).max(60) as u64;
    match story {
        Story::Healthy => {
            let waits = [
                net.rng.range(10, span_s / 2) as i64,
                net.rng.range(10, span_s / 2) as i64,
            ];
            l.notify_and_react(&mut net, server, &waits);
            l.conn.close(&mut net);
        }
        Story::Blocked => {
            let wait = net.rng.range(5, span_s / 3) as i64;
            net.wait(wait * SEC);
            l.notify_blocked(&mut net, server, 4);
        }
        Story::Refused => poll_every_minute(&mut net, &mut l.conn, 5),
    }
    net.frames.split_off(first_kept)
}
