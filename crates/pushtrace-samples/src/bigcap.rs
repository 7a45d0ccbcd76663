//! A large, realistic capture for benchmarks, written as a stream: busy-network background
//! traffic with Outlook/Exchange EMSMDB sessions ([`Story`]) planted in it, deterministic by
//! seed, in bounded memory whatever the size.
//!
//! The background is what a capture on a busy segment holds:
//!
//! * TCP flows with three-way handshakes, request/response exchanges cut at the MSS (1460
//!   bytes over IPv4, 1440 over IPv6), an ACK every second segment (RFC 9293 §3.8.6.3),
//!   think times between exchanges, FIN/ACK closes and the odd RST; web flows (HTTP on port
//!   80, TLS records on 443) and file-server flows (SMB2 over NetBIOS framing on 445). A few
//!   segments are retransmitted or arrive swapped. Flows already running when the capture
//!   starts appear without their handshake.
//! * UDP: DNS queries and answers (some near the MTU), syslog, NTP and rare tiny datagrams.
//! * ICMP: echo request/reply series, and port-unreachable errors for DNS queries sent to a
//!   host without a resolver.
//!
//! Every source is a small state machine that yields one frame at a time; a heap ordered by
//! time merges them, so frames come out in capture order. New background sources arrive as a
//! Poisson process whose rate is steered towards [`BigcapOptions::rate`] bytes per second of
//! capture time. EMSMDB sessions start at times spread evenly over the capture, each played
//! by [`scenarios::play`] on a private [`Net`] (a few hundred kilobytes at most) and merged
//! in. Once the file reaches [`BigcapOptions::size`] the background stops; every planted
//! session still runs to its end (one whose start comes later still starts then), so the file
//! ends a little past the size asked for and every planted session is complete.
//!
//! That is the [`Mix::Handshakes`] mix: apart from a few dozen flows caught running, every
//! TCP connection starts with its handshake inside the capture. [`Mix::Midstream`] is the
//! opposite, what a capture started on a busy network holds: every TCP connection began
//! before the capture (see [`midstream`]).

use crate::files::{FileFormat, FrameWriter};
use crate::net::{Host, Net, Rng, Side, SimFrame, TcpConn, Wire, MS, SEC};
use crate::scenarios::{self, Story};
use anyhow::Result;
use serde::Serialize;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

mod midstream;

/// The version of the traffic model: changes whenever the same options give different
/// bytes, so cached captures can be told apart.
pub const MODEL_VERSION: u32 = 1;
/// Nanoseconds per microsecond.
const US: i64 = 1_000;
/// 2025-11-03 09:00:00 UTC, like the samples.
const START_NS: i64 = 1_762_160_400 * SEC;
/// The shortest capture (capture time): sessions need minutes to show polling.
const MIN_DURATION_NS: i64 = 12 * 60 * SEC;
/// The longest a planted session runs (capture time).
const SESSION_SPAN_NS: i64 = 6 * 60 * SEC;
/// Random bytes that payloads are cut from.
const POOL_LEN: usize = 1 << 20;
/// Background TCP flows already running when the capture starts: one per MiB of file, up
/// to this many.
const FLOWS_AT_START: u64 = 64;
/// Background hosts that open connections and ask questions.
const CLIENT_HOSTS: u32 = 2000;
/// First ephemeral port (RFC 6335).
const EPHEMERAL: u16 = 49_152;
/// One in this many background sources runs over IPv6.
const IPV6_ONE_IN: u64 = 10;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigcapOptions {
    /// Bytes of capture file to write (background traffic stops once reached).
    pub size: u64,
    /// Seed of every random choice: same options, same bytes.
    pub seed: u64,
    /// pcap (µs or ns) or pcapng.
    pub format: FileFormat,
    /// EMSMDB sessions planted.
    pub sessions: usize,
    /// Background bytes per second of capture time.
    pub rate: u64,
    /// Whether TCP connections start inside the capture or before it.
    pub mix: Mix,
}

/// How the background TCP connections and the planted sessions begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// Connections start with their handshake inside the capture (a few dozen flows are
    /// caught running at its start); sessions run from the endpoint-mapper lookup on.
    #[default]
    Handshakes,
    /// Every connection began before the capture: thousands are open at its start, many in
    /// the middle of a message, and the others are first seen at their next message, without
    /// SYN, with sequence numbers from mid-stream; HTTP, TLS, SMB2 and random payloads on
    /// ordinary ports, ports DCE/RPC also uses (135, 1025–5000, 49152–65535) and others.
    /// The planted sessions were set up before the capture too, which starts inside a large
    /// fragmented `EcDoRpcExt2` response of each (see [`midstream`]).
    Midstream,
}

impl Mix {
    /// The mix's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Handshakes => "handshakes",
            Mix::Midstream => "midstream",
        }
    }
}

impl BigcapOptions {
    /// Options for a file of `size` bytes: pcap (µs), seed 1, one session per 32 MiB (at
    /// least three, at most 4096), 4 MiB of background per second of capture time.
    pub fn with_size(size: u64) -> Self {
        BigcapOptions {
            size,
            seed: 1,
            format: FileFormat::PcapMicros,
            sessions: usize::try_from(size >> 25)
                .unwrap_or(usize::MAX)
                .clamp(3, 4096),
            rate: 4 << 20,
            mix: Mix::Handshakes,
        }
    }

    /// Capture time the background spans: the size at the rate, but at least
    /// [`MIN_DURATION_NS`] so sessions have room.
    fn duration_ns(&self) -> i64 {
        let at_rate = self.size as f64 / self.rate.max(1) as f64 * SEC as f64;
        (at_rate.min(i64::MAX as f64) as i64).max(MIN_DURATION_NS)
    }

    /// The background rate actually aimed at (bytes per second): lower than
    /// [`BigcapOptions::rate`] when a small file must still span [`MIN_DURATION_NS`].
    fn effective_rate(&self) -> f64 {
        self.size as f64 / (self.duration_ns() as f64 / SEC as f64)
    }
}

/// Parses a size: `123`, `64K`, `250M`, `0.25G`, `2GiB` (binary multiples).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit {unit:?} (use K, M, G)")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("not a size: {text:?}"));
    }
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// One EMSMDB session planted in the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlantedSession {
    /// The Outlook client's address.
    pub client: IpAddr,
    /// The Exchange server's address.
    pub server: IpAddr,
    /// What happens in it.
    #[serde(serialize_with = "story_name")]
    pub story: Story,
    /// The verdict `pushtrace analyze` must give it.
    pub verdict: &'static str,
    /// Its connection began before the capture, which starts inside one of its PDUs.
    pub began_before_capture: bool,
}

fn story_name<S: serde::Serializer>(story: &Story, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match story {
        Story::Healthy => "healthy",
        Story::Blocked => "blocked",
        Story::Refused => "refused",
    })
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BigcapSummary {
    /// Bytes written (the whole file).
    pub bytes: u64,
    /// Frames written.
    pub frames: u64,
    /// Time of the first frame, ns since the Unix epoch.
    pub first_ts_ns: i64,
    /// Time of the last frame.
    pub last_ts_ns: i64,
    /// Background TCP connections started (including those already running at the start).
    pub tcp_flows: u64,
    /// UDP exchanges (DNS, syslog, NTP, tiny datagrams).
    pub udp_exchanges: u64,
    /// ICMP echo series and unreachable errors.
    pub icmp_messages: u64,
    /// The planted sessions, in start order.
    pub sessions: Vec<PlantedSession>,
}

/// Writes a capture of about `opts.size` bytes to `out`; returns what was written and `out`.
pub fn generate<W: Write>(out: W, opts: &BigcapOptions) -> Result<(BigcapSummary, W)> {
    let written = Rc::new(Cell::new(0));
    let counting = Counting {
        inner: out,
        count: Rc::clone(&written),
    };
    let writer = FrameWriter::new(counting, opts.format, None)?;
    let mut g = Generator::new(writer, written, opts);
    g.run()?;
    let Generator {
        mut summary, out, ..
    } = g;
    let mut counting = out.writer.into_inner();
    counting.flush()?;
    summary.bytes = counting.count.get();
    Ok((summary, counting.inner))
}

/// A writer that counts the bytes it passes on.
struct Counting<W> {
    inner: W,
    count: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where frames go: the file writer, the frame being built and the totals.
struct Output<W: Write> {
    writer: FrameWriter<Counting<W>>,
    /// Bytes written so far (shared with the counting writer).
    written: Rc<Cell<u64>>,
    frame: Vec<u8>,
    frames: u64,
    first_ts_ns: Option<i64>,
    last_ts_ns: i64,
}

impl<W: Write> Output<W> {
    /// Writes the frame built in `self.frame` at `ts_ns` and clears it; returns its size.
    fn emit(&mut self, ts_ns: i64) -> io::Result<u64> {
        let len = self.frame.len();
        self.writer.write(ts_ns, &self.frame, len as u32)?;
        self.frame.clear();
        self.frames += 1;
        self.first_ts_ns.get_or_insert(ts_ns);
        self.last_ts_ns = ts_ns;
        Ok(len as u64)
    }

    fn writer_bytes(&self) -> u64 {
        self.written.get()
    }
}

/// Shared state the sources draw on while they build frames.
struct Ctx {
    wire: Wire,
    rng: Rng,
    pool: Vec<u8>,
    /// A first segment's payload: protocol header then pool bytes.
    scratch: Vec<u8>,
    next_port: u16,
}

impl Ctx {
    /// `len` random bytes from the pool.
    fn pool_slice(&mut self, len: usize) -> &[u8] {
        let len = len.min(POOL_LEN);
        let start = self.rng.range(0, (POOL_LEN - len) as u64) as usize;
        &self.pool[start..start + len]
    }

    /// A fresh ephemeral port (cycling through the range, so concurrent flows never share one).
    fn port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p == u16::MAX { EPHEMERAL } else { p + 1 };
        p
    }

    /// A log-uniform value in `lo..=hi`: most small, some large (heavy tail).
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(1) as f64).ln());
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((a + (b - a) * u).exp() as u64).clamp(lo, hi)
    }

    /// A duration log-uniform in `lo..=hi` ns.
    fn delay(&mut self, lo: i64, hi: i64) -> i64 {
        self.log_uniform(lo as u64, hi as u64) as i64
    }
}

/// A host derived from an address: its MAC embeds the address.
fn host(ip: IpAddr, ttl: u8) -> Host {
    let tail = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    Host {
        mac: [0x02, 0x42, tail[0], tail[1], tail[2], tail[3]],
        ip,
        ttl,
        offload: false,
    }
}

/// Background host `n` of a /16: 10.`net`.x.y, or 2001:db8:`net`::x:y over IPv6.
fn numbered_host(net: u8, n: u32, v6: bool, ttl: u8) -> Host {
    let (hi, lo) = ((n / 250) as u8, (n % 250 + 1) as u8);
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0x0db8,
            u16::from(net),
            0,
            0,
            0,
            u16::from(hi),
            u16::from(lo),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, net, hi, lo))
    };
    host(ip, ttl)
}

/// The application a background TCP flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    /// Plain HTTP/1.1 on port 80.
    Http,
    /// TLS application-data records on port 443.
    Tls,
    /// SMB2 reads and writes over NetBIOS session framing on port 445.
    Smb,
    /// Payload without framing (a proprietary or encrypted protocol), both ways.
    Random,
}

/// Largest TLS record payload (RFC 8446 §5.1) and its header length.
const TLS_RECORD: u32 = 16_384;
const TLS_HEADER: u32 = 5;
/// NetBIOS session header + SMB2 header (MS-SMB2 §2.2.1).
const SMB_HEADERS: u32 = 4 + 64;
/// SMB2 READ request: headers + 49-byte body (§2.2.19); READ/WRITE responses: headers +
/// 16 fixed bytes (§2.2.20, §2.2.22); WRITE request: headers + 48 fixed bytes (§2.2.21).
const SMB_READ_REQUEST: u32 = SMB_HEADERS + 49;
const SMB_RESPONSE_FIXED: u32 = SMB_HEADERS + 16;
const SMB_WRITE_FIXED: u32 = SMB_HEADERS + 48;

impl App {
    fn port(self) -> u16 {
        match self {
            App::Http => 80,
            App::Tls => 443,
            App::Smb => 445,
            App::Random => 5001,
        }
    }
}

/// Little-endian field writers for the SMB2 structures.
fn le16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn le32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn le64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Where a TCP flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Syn,
    SynAck,
    HandshakeAck,
    /// Starts the next request (no frame).
    Exchange,
    /// Sends the current message segment by segment.
    Data,
    /// The receiver acknowledges the segments so far.
    DataAck,
    /// The receiver acknowledges the end of the message.
    MessageAck,
    Fin,
    FinAck,
    LastAck,
}

/// A segment waiting to go out of order: retransmitted or swapped with its successor.
#[derive(Debug, Clone, Copy)]
struct Held {
    seq: u32,
    /// Offset of its first byte in the message.
    at: u32,
    len: u32,
}

/// The message a flow is sending: its length, the bytes its protocol puts first, and the
/// seed of the rest. Its bytes are a function of the offset, so a retransmission repeats them.
#[derive(Debug, Default)]
struct Message {
    len: u32,
    /// Bytes sent so far (in order; a held segment is counted when it is first sent).
    sent: u32,
    head: Vec<u8>,
    seed: usize,
}

/// One background TCP connection.
struct TcpFlow {
    conn: TcpConn,
    app: App,
    phase: Phase,
    mss: u32,
    rtt: i64,
    seg_gap: i64,
    exchanges_left: u32,
    exchanges: u64,
    from: Side,
    msg: Message,
    /// SMB: the current exchange is a write (else a read); bytes read or written.
    smb_write: bool,
    smb_data: u32,
    unacked: u32,
    held: Option<Held>,
    think_max: i64,
    /// TLS: the current message's record header, content type and version (`[23, 3, 3]`,
    /// TLS 1.2/1.3 application data, unless the flow belongs to [`Mix::Midstream`]).
    tls_head: [u8; 3],
    /// Part of [`Mix::Midstream`]: HTTP requests may carry bodies, TLS records vary.
    midstream: bool,
}

impl TcpFlow {
    /// A new connection from a background client; `running` flows started before the capture
    /// (no handshake, maybe in the middle of a response).
    fn new(ctx: &mut Ctx, running: bool) -> TcpFlow {
        let v6 = ctx.rng.range(1, IPV6_ONE_IN) == 1;
        let app = match ctx.rng.range(0, 9) {
            0..=2 => App::Http,
            3..=7 => App::Tls,
            _ => App::Smb,
        };
        let mut flow = TcpFlow::with_app(ctx, v6, app, app.port(), running);
        if running && app != App::Smb && ctx.rng.chance(500) {
            // Caught in the middle of a response: its start was before the capture.
            flow.start_message(ctx, Side::Server);
            flow.msg.sent = ctx.rng.range(0, u64::from(flow.msg.len / 2)) as u32;
        }
        flow
    }

    /// A connection carrying `app` to `server_port`, over IPv6 when `v6`, from a handshake
    /// or (`running`) from its next exchange.
    fn with_app(ctx: &mut Ctx, v6: bool, app: App, server_port: u16, running: bool) -> TcpFlow {
        // Web flows: a few requests, idle keep-alive between them; file-server flows: many
        // small reads, long-lived.
        let (servers, exchanges, think_max) = match app {
            App::Smb => (8, ctx.rng.range(10, 100), 10 * SEC),
            _ => (200, ctx.rng.range(1, 12), 30 * SEC),
        };
        let client = numbered_host(
            20,
            ctx.rng.range(0, u64::from(CLIENT_HOSTS) - 1) as u32,
            v6,
            128,
        );
        let server = numbered_host(30, ctx.rng.range(0, servers - 1) as u32, v6, 62);
        let isn = [ctx.rng.next_u64() as u32, ctx.rng.next_u64() as u32];
        let conn = TcpConn::new((client, ctx.port()), (server, server_port), isn);
        let rtt = ctx.delay(200 * US, 60 * MS);
        // Per-flow pacing: 50 KB/s to 20 MB/s.
        let rate = ctx.log_uniform(50_000, 20_000_000) as i64;
        let mss = if v6 { 1440 } else { 1460 };
        TcpFlow {
            conn,
            app,
            phase: if running { Phase::Exchange } else { Phase::Syn },
            mss,
            rtt,
            seg_gap: (i64::from(mss) * SEC / rate).max(US),
            exchanges_left: exchanges as u32,
            exchanges: 0,
            from: Side::Client,
            msg: Message::default(),
            smb_write: false,
            smb_data: 0,
            unacked: 0,
            held: None,
            think_max,
            tls_head: [0x17, 3, 3],
            midstream: false,
        }
    }

    /// Builds this flow's next frame into `frame`; returns the delay to the one after, or
    /// `None` when the flow is over. Some phases build nothing: they only move on.
    fn step(&mut self, ctx: &mut Ctx, frame: &mut Vec<u8>) -> Option<i64> {
        loop {
            let delay = match self.phase {
                Phase::Syn => {
                    self.segment(ctx, frame, Side::Client, &['S']);
                    self.conn.advance(Side::Client, 1);
                    self.phase = Phase::SynAck;
                    self.rtt
                }
                Phase::SynAck => {
                    self.segment(ctx, frame, Side::Server, &['S']);
                    self.conn.advance(Side::Server, 1);
                    self.phase = Phase::HandshakeAck;
                    self.rtt / 4 + US
                }
                Phase::HandshakeAck => {
                    self.segment(ctx, frame, Side::Client, &[]);
                    self.phase = Phase::Exchange;
                    ctx.delay(50 * US, 3 * MS)
                }
                Phase::Exchange => {
                    if self.exchanges_left == 0 {
                        self.phase = Phase::Fin;
                        continue;
                    }
                    self.exchanges_left -= 1;
                    self.exchanges += 1;
                    self.start_message(ctx, Side::Client);
                    continue;
                }
                Phase::Data => return Some(self.data(ctx, frame)),
                Phase::DataAck => {
                    self.segment(ctx, frame, self.from.peer(), &[]);
                    self.unacked = 0;
                    self.phase = Phase::Data;
                    self.seg_gap
                }
                Phase::MessageAck => {
                    self.segment(ctx, frame, self.from.peer(), &[]);
                    self.unacked = 0;
                    if self.from == Side::Client {
                        // The server thinks, then answers.
                        self.start_message(ctx, Side::Server);
                        ctx.delay(100 * US, 30 * MS)
                    } else {
                        self.phase = Phase::Exchange;
                        ctx.delay(5 * MS, self.think_max)
                    }
                }
                Phase::Fin => {
                    if ctx.rng.chance(20) {
                        self.segment(ctx, frame, Side::Client, &['R']);
                        return None;
                    }
                    self.segment(ctx, frame, Side::Client, &['F']);
                    self.conn.advance(Side::Client, 1);
                    self.phase = Phase::FinAck;
                    self.rtt / 2 + US
                }
                Phase::FinAck => {
                    self.segment(ctx, frame, Side::Server, &['F']);
                    self.conn.advance(Side::Server, 1);
                    self.phase = Phase::LastAck;
                    self.rtt / 2 + US
                }
                Phase::LastAck => {
                    self.segment(ctx, frame, Side::Client, &[]);
                    return None;
                }
            };
            return Some(delay);
        }
    }

    /// Starts a message from `from`: a request (an HTTP GET, a TLS record, an SMB2 read or
    /// write) or its response, with the protocol's header in front.
    fn start_message(&mut self, ctx: &mut Ctx, from: Side) {
        self.from = from;
        self.unacked = 0;
        self.phase = Phase::Data;
        let mut head = std::mem::take(&mut self.msg.head);
        head.clear();
        let head = &mut head;
        let request = from == Side::Client;
        let len: u32 = match (self.app, request) {
            (App::Http, true) if self.midstream && ctx.rng.chance(250) => {
                let body = ctx.log_uniform(100, 200_000);
                let _ = write!(
                    head,
                    "POST /api/v2/{:016x} HTTP/1.1\r\nHost: intranet.contoso.com\r\n\
                     Content-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n",
                    ctx.rng.next_u64()
                );
                head.len() as u32 + body as u32
            }
            (App::Http, true) => {
                let len = ctx.rng.range(180, 900) as u32;
                let _ = write!(
                    head,
                    "GET /static/{:016x}.js HTTP/1.1\r\nHost: intranet.contoso.com\r\n\
                     Accept: */*\r\nCookie: session=",
                    ctx.rng.next_u64()
                );
                // The cookie fills the request up to its length.
                let fill = (len as usize).saturating_sub(head.len() + 4);
                for _ in 0..fill {
                    head.push(b"0123456789abcdef"[(ctx.rng.next_u64() & 15) as usize]);
                }
                head.extend_from_slice(b"\r\n\r\n");
                head.len() as u32
            }
            (App::Http, false) => {
                // One response in a hundred is a download.
                let body = if ctx.rng.chance(10) {
                    ctx.log_uniform(1 << 20, 20 << 20)
                } else {
                    ctx.log_uniform(60, 120_000)
                };
                let _ = write!(
                    head,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {body}\r\n\r\n"
                );
                head.len() as u32 + body as u32
            }
            (App::Random, true) => ctx.log_uniform(20, 4_000) as u32,
            (App::Random, false) if ctx.rng.chance(10) => ctx.log_uniform(1 << 20, 20 << 20) as u32,
            (App::Random, false) => ctx.log_uniform(40, 150_000) as u32,
            (App::Tls, _) => {
                let short = if self.midstream {
                    midstream::tls_content_type(ctx, &mut self.tls_head)
                } else {
                    None
                };
                let len = match (short, request) {
                    (Some(len), _) => len,
                    (None, true) => ctx.rng.range(100, 900),
                    (None, false) if ctx.rng.chance(10) => ctx.log_uniform(1 << 20, 20 << 20),
                    (None, false) => ctx.log_uniform(150, 120_000),
                } as u32;
                // No record may end inside its own header.
                if (1..TLS_HEADER).contains(&(len % (TLS_RECORD + TLS_HEADER))) {
                    len + TLS_HEADER
                } else {
                    len
                }
            }
            (App::Smb, true) => {
                self.smb_write = ctx.rng.chance(200);
                self.smb_data = if self.smb_write {
                    ctx.log_uniform(4_096, 65_536)
                } else {
                    ctx.log_uniform(100, 65_536)
                } as u32;
                self.smb_head(head, request);
                if self.smb_write {
                    SMB_WRITE_FIXED + self.smb_data
                } else {
                    SMB_READ_REQUEST
                }
            }
            (App::Smb, false) => {
                self.smb_head(head, request);
                if self.smb_write {
                    SMB_RESPONSE_FIXED
                } else {
                    SMB_RESPONSE_FIXED + self.smb_data
                }
            }
        };
        self.msg.head = std::mem::take(head);
        self.msg.len = len;
        self.msg.sent = 0;
        self.msg.seed = ctx.rng.range(0, POOL_LEN as u64 - 1) as usize;
        if self.app == App::Smb {
            // NetBIOS session header: the length of what follows.
            let nbss = (len - 4).to_be_bytes();
            if let Some(field) = self.msg.head.get_mut(1..4) {
                field.copy_from_slice(&nbss[1..]);
            }
        }
    }

    /// The NetBIOS + SMB2 headers and the fixed part of the READ/WRITE request or response
    /// (MS-SMB2 §2.2.1.2, §2.2.19–§2.2.22); the NetBIOS length is filled in by the caller.
    fn smb_head(&self, head: &mut Vec<u8>, request: bool) {
        head.extend_from_slice(&[0; 4]);
        head.extend_from_slice(b"\xfeSMB");
        le16(head, 64); // StructureSize
        le16(head, 1); // CreditCharge
        le32(head, 0); // Status
        le16(head, if self.smb_write { 9 } else { 8 }); // WRITE / READ
        le16(head, 1); // Credits
        le32(head, u32::from(!request)); // Flags: SERVER_TO_REDIR on responses
        le32(head, 0); // NextCommand
        le64(head, self.exchanges); // MessageId
        le32(head, 0xfeff); // Reserved (process id)
        le32(head, 1); // TreeId
        le64(head, 0x0000_4000_0000_0041); // SessionId
        head.extend_from_slice(&[0; 16]); // Signature
        match (request, self.smb_write) {
            (true, false) => {
                le16(head, 49);
                head.extend_from_slice(&[0x50, 0]); // Padding, Flags
                le32(head, self.smb_data); // Length
                le64(head, self.exchanges << 16); // Offset
                head.extend_from_slice(&[0x11; 16]); // FileId
                head.extend_from_slice(&[0; 17]); // counts, channel info, one buffer byte
            }
            (true, true) => {
                le16(head, 49);
                le16(head, SMB_WRITE_FIXED as u16 - 4); // DataOffset
                le32(head, self.smb_data); // Length
                le64(head, self.exchanges << 16); // Offset
                head.extend_from_slice(&[0x11; 16]); // FileId
                head.extend_from_slice(&[0; 16]); // Channel, Remaining, channel info, Flags
            }
            (false, false) => {
                le16(head, 17);
                head.extend_from_slice(&[SMB_RESPONSE_FIXED as u8 - 4, 0]); // DataOffset
                le32(head, self.smb_data); // DataLength
                head.extend_from_slice(&[0; 8]); // DataRemaining, Reserved2
            }
            (false, true) => {
                le16(head, 17);
                le16(head, 0);
                le32(head, self.smb_data); // Count
                head.extend_from_slice(&[0; 8]); // Remaining, channel info
            }
        }
    }

    /// Appends the message's bytes `[at, at + len)`: its header, TLS record headers where
    /// records start, pool bytes elsewhere.
    fn message_bytes(&self, ctx: &Ctx, out: &mut Vec<u8>, at: u32, len: u32) {
        let end = at + len;
        let mut pos = at;
        while pos < end {
            let (stop, bytes): (u32, &[u8]) = if (pos as usize) < self.msg.head.len() {
                (self.msg.head.len() as u32, &self.msg.head[pos as usize..])
            } else if self.app == App::Tls && pos % (TLS_RECORD + TLS_HEADER) < TLS_HEADER {
                let record_start = pos - pos % (TLS_RECORD + TLS_HEADER);
                let body = (self.msg.len - record_start - TLS_HEADER).min(TLS_RECORD) as u16;
                let [hi, lo] = body.to_be_bytes();
                let [kind, major, minor] = self.tls_head;
                let header = [kind, major, minor, hi, lo];
                let stop = (record_start + TLS_HEADER).min(end);
                out.extend_from_slice(
                    &header[(pos - record_start) as usize..(stop - record_start) as usize],
                );
                pos = stop;
                continue;
            } else {
                let stop = if self.app == App::Tls {
                    pos - pos % (TLS_RECORD + TLS_HEADER) + TLS_RECORD + TLS_HEADER
                } else {
                    end
                };
                let from = (self.msg.seed + pos as usize) % (POOL_LEN / 2);
                (stop, &ctx.pool[from..from + (POOL_LEN / 2)])
            };
            let take = (stop.min(end) - pos) as usize;
            out.extend_from_slice(&bytes[..take]);
            pos += take as u32;
        }
    }

    /// Sends the next data segment of the current message; returns the delay to the next frame.
    fn data(&mut self, ctx: &mut Ctx, frame: &mut Vec<u8>) -> i64 {
        let left = self.msg.len - self.msg.sent;
        if let Some(h) = self.held.take() {
            self.segment_at(ctx, frame, h);
        } else if left >= 2 * self.mss && ctx.rng.chance(2) {
            // Two segments swapped on the wire: the second goes first.
            let first = self.next_segment(self.mss);
            let second = self.next_segment(self.mss.min(left - self.mss));
            self.segment_at(ctx, frame, second);
            self.held = Some(first);
        } else {
            let seg = self.next_segment(self.mss.min(left));
            self.segment_at(ctx, frame, seg);
            if ctx.rng.chance(1) {
                // Retransmitted (the ACK was slow).
                self.held = Some(seg);
            }
        }
        self.unacked += 1;
        if self.held.is_some() {
            self.seg_gap
        } else if self.msg.sent == self.msg.len {
            self.phase = Phase::MessageAck;
            ctx.delay(40 * US, self.rtt.max(41 * US))
        } else if self.unacked >= 2 {
            self.phase = Phase::DataAck;
            US
        } else {
            self.seg_gap
        }
    }

    /// Takes the next `len` bytes of the message for a segment.
    fn next_segment(&mut self, len: u32) -> Held {
        let seg = Held {
            seq: self.conn.next_seq(self.from),
            at: self.msg.sent,
            len,
        };
        self.conn.advance(self.from, len);
        self.msg.sent += len;
        seg
    }

    /// Builds the frame of a data segment of the current message.
    fn segment_at(&mut self, ctx: &mut Ctx, frame: &mut Vec<u8>, seg: Held) {
        let flags: &[char] = if seg.at + seg.len == self.msg.len {
            &['P']
        } else {
            &[]
        };
        let mut payload = std::mem::take(&mut ctx.scratch);
        payload.clear();
        self.message_bytes(ctx, &mut payload, seg.at, seg.len);
        ctx.wire
            .tcp(frame, &self.conn, self.from, seg.seq, flags, &payload);
        ctx.scratch = payload;
    }

    /// A segment without payload (handshake, ACK, FIN, RST) from `from`.
    fn segment(&self, ctx: &mut Ctx, frame: &mut Vec<u8>, from: Side, flags: &[char]) {
        let seq = self.conn.next_seq(from);
        ctx.wire.tcp(frame, &self.conn, from, seq, flags, &[]);
    }
}

/// The kinds of UDP exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UdpKind {
    /// A DNS query and its answer (some near the MTU).
    Dns,
    /// A DNS query to a host without a resolver, answered by ICMP port unreachable.
    DnsRefused,
    /// One syslog message.
    Syslog,
    /// An NTP request and its answer.
    Ntp,
    /// One datagram of 1–16 bytes (keep-alives, game or VPN heartbeats).
    Tiny,
}

/// One UDP exchange: a datagram and perhaps its answer.
struct UdpExchange {
    kind: UdpKind,
    client: (Host, u16),
    server: (Host, u16),
    answered: bool,
    /// The DNS name asked for (its number).
    name: u32,
    /// The query's IP packet, for the ICMP error that quotes it.
    quoted: Vec<u8>,
}

impl UdpExchange {
    fn new(ctx: &mut Ctx, kind: UdpKind) -> UdpExchange {
        let v6 = ctx.rng.range(1, IPV6_ONE_IN) == 1;
        let client = numbered_host(
            20,
            ctx.rng.range(0, u64::from(CLIENT_HOSTS) - 1) as u32,
            v6,
            128,
        );
        let (server, port) = match kind {
            UdpKind::Dns => (
                numbered_host(30, 250 + ctx.rng.range(0, 1) as u32, v6, 62),
                53,
            ),
            UdpKind::DnsRefused => {
                let n = ctx.rng.range(0, u64::from(CLIENT_HOSTS) - 1) as u32;
                (numbered_host(20, n, v6, 128), 53)
            }
            UdpKind::Syslog => (numbered_host(30, 252, v6, 62), 514),
            UdpKind::Ntp => (numbered_host(30, 253, v6, 62), 123),
            UdpKind::Tiny => {
                let n = ctx.rng.range(0, u64::from(CLIENT_HOSTS) - 1) as u32;
                (numbered_host(20, n, v6, 128), ctx.port())
            }
        };
        UdpExchange {
            kind,
            client: (client, ctx.port()),
            server: (server, port),
            answered: false,
            name: ctx.rng.range(0, 99_999) as u32,
            quoted: Vec::new(),
        }
    }

    /// Builds the next frame; returns the delay to the one after, or `None` when done.
    fn step(&mut self, ctx: &mut Ctx, frame: &mut Vec<u8>) -> Option<i64> {
        let mut payload = std::mem::take(&mut ctx.scratch);
        payload.clear();
        let next = if self.answered {
            match self.kind {
                UdpKind::DnsRefused => {
                    let (from, to) = (self.server.0, self.client.0);
                    ctx.wire.icmp_unreachable(
                        frame,
                        from,
                        to,
                        if from.ip.is_ipv4() { 3 } else { 4 },
                        &self.quoted,
                    );
                }
                UdpKind::Ntp => {
                    // LI 0, version 4, mode 4 (server), stratum 2, then times.
                    payload.extend_from_slice(&[0x24, 2]);
                    payload.extend_from_slice(ctx.pool_slice(46));
                    ctx.wire.udp(frame, self.server, self.client, &payload);
                }
                _ => {
                    // Some answers are long lists of addresses, near the MTU.
                    let answers = if ctx.rng.chance(50) {
                        ctx.rng.range(70, 80)
                    } else {
                        ctx.rng.range(1, 4)
                    } as u16;
                    dns_message(&mut payload, self.client.1, self.name, Some(answers));
                    ctx.wire.udp(frame, self.server, self.client, &payload);
                }
            }
            None
        } else {
            self.answered = true;
            match self.kind {
                UdpKind::Dns | UdpKind::DnsRefused => {
                    dns_message(&mut payload, self.client.1, self.name, None);
                }
                UdpKind::Ntp => {
                    payload.push(0x23);
                    payload.resize(48, 0);
                }
                UdpKind::Syslog => {
                    let len = ctx.rng.range(80, 400) as usize;
                    let _ = write!(
                        payload,
                        "<134>Nov  3 09:00:00 ws{:05} app[{}]: ",
                        self.client.1, len
                    );
                    let fill = len.saturating_sub(payload.len());
                    payload.extend_from_slice(ctx.pool_slice(fill));
                }
                UdpKind::Tiny => {
                    let len = ctx.rng.range(1, 16) as usize;
                    payload.extend_from_slice(ctx.pool_slice(len));
                }
            }
            ctx.wire.udp(frame, self.client, self.server, &payload);
            match self.kind {
                UdpKind::Dns | UdpKind::Ntp => Some(ctx.delay(200 * US, 30 * MS)),
                UdpKind::DnsRefused => {
                    self.quoted = frame.get(14..).unwrap_or_default().to_vec();
                    Some(ctx.delay(50 * US, 2 * MS))
                }
                UdpKind::Syslog | UdpKind::Tiny => None,
            }
        };
        ctx.scratch = payload;
        next
    }
}

/// Appends a DNS message (RFC 1035 §4.1): the query `ws<name>.contoso.com IN A`, or with
/// `answers`, its response holding that many A records.
fn dns_message(out: &mut Vec<u8>, id: u16, name: u32, answers: Option<u16>) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(if answers.is_some() {
        &[0x81, 0x80]
    } else {
        &[0x01, 0x00]
    });
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&answers.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    let _ = write!(out, "\x08ws{:06}\x07contoso\x03com\0", name % 1_000_000);
    out.extend_from_slice(&[0, 1, 0, 1]);
    for i in 0..answers.unwrap_or(0) {
        // Name: pointer to the question; A, IN, TTL 3600, 4 bytes of address.
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 40]);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// A series of four ICMP echo requests, one a second, each answered.
struct Ping {
    from: Host,
    to: Host,
    id: u16,
    sent: u16,
    replied: bool,
    rtt: i64,
}

impl Ping {
    fn new(ctx: &mut Ctx) -> Ping {
        let v6 = ctx.rng.range(1, IPV6_ONE_IN) == 1;
        let n = ctx.rng.range(0, u64::from(CLIENT_HOSTS) - 1) as u32;
        Ping {
            from: numbered_host(20, n, v6, 128),
            to: numbered_host(30, ctx.rng.range(0, 199) as u32, v6, 62),
            id: ctx.port(),
            sent: 0,
            replied: true,
            rtt: ctx.delay(100 * US, 40 * MS),
        }
    }

    fn step(&mut self, ctx: &mut Ctx, frame: &mut Vec<u8>) -> Option<i64> {
        let payload = ctx.pool_slice(56).to_owned();
        if self.replied {
            self.sent += 1;
            self.replied = false;
            ctx.wire.icmp_echo(
                frame,
                self.from,
                self.to,
                (self.id, self.sent),
                false,
                &payload,
            );
            Some(self.rtt)
        } else {
            self.replied = true;
            ctx.wire.icmp_echo(
                frame,
                self.to,
                self.from,
                (self.id, self.sent),
                true,
                &payload,
            );
            (self.sent < 4).then_some(SEC - self.rtt)
        }
    }
}

/// Something that produces frames over time.
enum Source {
    /// Starts new background sources (a Poisson process).
    Arrivals,
    /// A background TCP connection.
    Tcp(Box<TcpFlow>),
    /// A background UDP exchange.
    Udp(UdpExchange),
    /// A background ping series.
    Ping(Ping),
    /// A planted session, not started yet (index into the plan).
    SessionStart(usize),
    /// A planted session's frames still to write.
    Session(VecDeque<SimFrame>),
}

/// Background bytes one arrival brings on average, before any has been measured.
const PRIOR_BYTES_PER_ARRIVAL: f64 = 40_000.0;

/// The merge loop and its state.
struct Generator<W: Write> {
    out: Output<W>,
    ctx: Ctx,
    opts: BigcapOptions,
    /// (time of the next frame, insertion order, slot): the earliest first.
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    slots: Vec<Option<Source>>,
    free: Vec<usize>,
    order: u64,
    /// (start time, story, client) of every planned session.
    plan: Vec<(i64, Story, Host)>,
    background_bytes: u64,
    arrivals: u64,
    stopping: bool,
    summary: BigcapSummary,
}

/// The Exchange server every planted session talks to.
fn exchange_server() -> Host {
    Host::new(5, "10.0.0.5", 128)
}

impl<W: Write> Generator<W> {
    fn new(writer: FrameWriter<Counting<W>>, written: Rc<Cell<u64>>, opts: &BigcapOptions) -> Self {
        let mut rng = Rng::new(opts.seed);
        let mut pool = vec![0u8; POOL_LEN];
        rng.fill(&mut pool);
        let duration = opts.duration_ns();
        let stride = (duration - SESSION_SPAN_NS).max(SEC) / opts.sessions.max(1) as i64;
        let stories = [Story::Healthy, Story::Blocked, Story::Refused];
        let plan = (0..opts.sessions)
            .map(|i| {
                if opts.mix == Mix::Midstream {
                    return midstream::plan(&mut rng, i);
                }
                let start = START_NS + stride * i as i64 + rng.range(0, stride as u64 / 2) as i64;
                let n = i as u32;
                let ip = IpAddr::V4(Ipv4Addr::new(10, 10, (n / 250) as u8, (n % 250 + 1) as u8));
                (start, stories[i % stories.len()], host(ip, 127))
            })
            .collect();
        let mut g = Generator {
            out: Output {
                writer,
                written,
                frame: Vec::with_capacity(2048),
                frames: 0,
                first_ts_ns: None,
                last_ts_ns: START_NS,
            },
            ctx: Ctx {
                wire: Wire::new(0x2000),
                rng,
                pool,
                scratch: Vec::with_capacity(2048),
                next_port: EPHEMERAL,
            },
            opts: *opts,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            order: 0,
            plan,
            background_bytes: 0,
            arrivals: 0,
            stopping: false,
            summary: BigcapSummary::default(),
        };
        match opts.mix {
            Mix::Handshakes => {
                for _ in 0..(opts.size >> 20).clamp(1, FLOWS_AT_START) {
                    let at = START_NS + g.ctx.rng.range(0, 100 * MS as u64) as i64;
                    let flow = TcpFlow::new(&mut g.ctx, true);
                    g.summary.tcp_flows += 1;
                    g.schedule(at, Source::Tcp(Box::new(flow)));
                }
            }
            Mix::Midstream => {
                for _ in 0..midstream::open_flows(opts.size) {
                    let wake = Some(duration / 2);
                    let (flow, delay) = TcpFlow::midstream(&mut g.ctx, wake);
                    g.summary.tcp_flows += 1;
                    g.schedule(START_NS + delay, Source::Tcp(Box::new(flow)));
                }
            }
        }
        g.schedule(START_NS, Source::Arrivals);
        for i in 0..g.plan.len() {
            g.schedule(g.plan[i].0, Source::SessionStart(i));
        }
        g
    }

    fn schedule(&mut self, at: i64, source: Source) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(source);
                slot
            }
            None => {
                self.slots.push(Some(source));
                self.slots.len() - 1
            }
        };
        self.order += 1;
        self.heap.push(Reverse((at, self.order, slot)));
    }

    fn run(&mut self) -> io::Result<()> {
        while let Some(Reverse((now, _, slot))) = self.heap.pop() {
            let Some(mut source) = self.slots.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            // Once the file is full, background sources end; planted sessions all run.
            let planted = matches!(source, Source::Session(_) | Source::SessionStart(_));
            let next = if self.stopping && !planted {
                None
            } else {
                self.step(&mut source, now)
            };
            if !self.out.frame.is_empty() {
                let n = self.out.emit(now)?;
                if !planted {
                    self.background_bytes += n;
                }
                self.stopping |= self.out.writer_bytes() >= self.opts.size;
            }
            match next {
                Some(at) => {
                    self.slots[slot] = Some(source);
                    self.order += 1;
                    self.heap.push(Reverse((at, self.order, slot)));
                }
                None => self.free.push(slot),
            }
        }
        self.summary.frames = self.out.frames;
        self.summary.first_ts_ns = self.out.first_ts_ns.unwrap_or(START_NS);
        self.summary.last_ts_ns = self.out.last_ts_ns;
        Ok(())
    }

    /// Runs one step of `source` at `now` (building at most one frame); returns the time of
    /// its next step.
    fn step(&mut self, source: &mut Source, now: i64) -> Option<i64> {
        let ctx = &mut self.ctx;
        let frame = &mut self.out.frame;
        match source {
            Source::Arrivals => {
                self.arrive(now);
                Some(now + self.next_arrival_gap(now))
            }
            Source::Tcp(flow) => flow.step(ctx, frame).map(|d| now + d),
            Source::Udp(x) => x.step(ctx, frame).map(|d| now + d),
            Source::Ping(p) => p.step(ctx, frame).map(|d| now + d),
            Source::SessionStart(i) => {
                let (_, story, client) = self.plan[*i];
                let server = exchange_server();
                let seed = self.opts.seed ^ (*i as u64 + 1) << 32;
                let midstream = self.opts.mix == Mix::Midstream;
                let frames = if midstream {
                    let span = self.opts.duration_ns() - (now - START_NS) - 60 * SEC;
                    midstream::session(now, seed, *i, (story, client), span)
                } else {
                    let mut net = Net::new(now, seed);
                    scenarios::play(&mut net, story, client, server);
                    net.frames
                };
                self.summary.sessions.push(PlantedSession {
                    client: client.ip,
                    server: server.ip,
                    story,
                    verdict: story.verdict(),
                    began_before_capture: midstream,
                });
                let frames = VecDeque::from(frames);
                let first = frames.front().map(|f| f.ts_ns);
                *source = Source::Session(frames);
                first
            }
            Source::Session(frames) => {
                let f = frames.pop_front()?;
                *frame = f.bytes;
                frames.front().map(|f| f.ts_ns)
            }
        }
    }

    /// Starts one background source at `now`.
    fn arrive(&mut self, now: i64) {
        self.arrivals += 1;
        let ctx = &mut self.ctx;
        let source = match ctx.rng.range(0, 99) {
            0..=14 => {
                self.summary.tcp_flows += 1;
                Source::Tcp(Box::new(match self.opts.mix {
                    Mix::Handshakes => TcpFlow::new(ctx, false),
                    Mix::Midstream => TcpFlow::midstream(ctx, None).0,
                }))
            }
            15..=74 => Source::Udp(UdpExchange::new(ctx, UdpKind::Dns)),
            75..=84 => Source::Udp(UdpExchange::new(ctx, UdpKind::Syslog)),
            85..=89 => Source::Udp(UdpExchange::new(ctx, UdpKind::Ntp)),
            90..=96 => {
                self.summary.icmp_messages += 1;
                Source::Ping(Ping::new(ctx))
            }
            97..=98 => {
                self.summary.icmp_messages += 1;
                Source::Udp(UdpExchange::new(ctx, UdpKind::DnsRefused))
            }
            _ => Source::Udp(UdpExchange::new(ctx, UdpKind::Tiny)),
        };
        if matches!(source, Source::Udp(_)) {
            self.summary.udp_exchanges += 1;
        }
        self.schedule(now, source);
    }

    /// The wait before the next arrival: exponential, with a mean steering the background
    /// towards the target rate (longer while ahead of it, shorter while behind).
    fn next_arrival_gap(&mut self, now: i64) -> i64 {
        let rate = self.opts.effective_rate().max(1.0);
        let elapsed_s = (now - START_NS) as f64 / SEC as f64;
        let ahead = if elapsed_s < 1.0 {
            1.0
        } else {
            (self.background_bytes as f64 / (rate * elapsed_s)).clamp(0.25, 4.0)
        };
        let mean_ns = PRIOR_BYTES_PER_ARRIVAL / rate * SEC as f64 * ahead;
        let u = ((self.ctx.rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        ((-u.ln() * mean_ns) as i64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtrace_capture::{CaptureReader, ReadOptions};
    use pushtrace_core::engine::{AnalyzeOptions, Analyzer};
    use std::collections::BTreeMap;

    fn small(format: FileFormat, seed: u64, mix: Mix) -> BigcapOptions {
        BigcapOptions {
            seed,
            format,
            mix,
            ..BigcapOptions::with_size(3 << 20)
        }
    }

    #[test]
    fn sizes_with_binary_suffixes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("250M"), Ok(250 << 20));
        assert_eq!(parse_size("0.25G"), Ok(1 << 28));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-1M").is_err());
        assert!(parse_size("M").is_err());
    }

    /// The capture reads back whole, in time order, about the size asked for, with the mix
    /// of traffic described, and the engine finds every planted session with its verdict.
    #[test]
    fn planted_sessions_are_found_in_the_background() {
        for (format, mix) in [
            (FileFormat::PcapMicros, Mix::Handshakes),
            (FileFormat::PcapNg, Mix::Handshakes),
            (FileFormat::PcapMicros, Mix::Midstream),
        ] {
            let opts = small(format, 3, mix);
            let (summary, bytes) = generate(Vec::new(), &opts).unwrap();
            assert_eq!(summary.bytes, bytes.len() as u64);
            assert!(summary.bytes >= opts.size && summary.bytes < opts.size + (1 << 20));
            assert_eq!(summary.sessions.len(), 3);
            assert!(summary.tcp_flows >= 3 && summary.udp_exchanges > 0);

            let mut reader = CaptureReader::from_bytes(bytes, &ReadOptions::default()).unwrap();
            let mut analyzer = Analyzer::new(0, &AnalyzeOptions::default());
            let (mut frames, mut last_ts, mut syns) = (0, i64::MIN, 0);
            while let Some(frame) = reader.next_frame() {
                assert!(frame.ts_ns >= last_ts, "frames in time order");
                last_ts = frame.ts_ns;
                frames += 1;
                syns += usize::from(is_opening_syn(frame.data));
                analyzer.feed(&frame);
            }
            assert!(reader.warnings().is_empty(), "{:?}", reader.warnings());
            assert_eq!(frames, summary.frames);
            match mix {
                Mix::Handshakes => assert!(syns > 0),
                Mix::Midstream => assert_eq!(syns, 0, "no connection starts in the capture"),
            }
            let found: BTreeMap<String, &str> = analyzer
                .finish()
                .sessions
                .iter()
                .map(|s| (s.client.clone(), s.verdict.as_str()))
                .collect();
            let planted: BTreeMap<String, &str> = summary
                .sessions
                .iter()
                .map(|s| (s.client.to_string(), s.verdict))
                .collect();
            assert_eq!(found, planted, "{mix:?}");
        }
    }

    /// Whether an Ethernet frame holds a TCP SYN without ACK (IPv4 or IPv6, no extension
    /// headers).
    fn is_opening_syn(frame: &[u8]) -> bool {
        let tcp = match frame.get(12..14) {
            Some([0x08, 0x00]) if frame.get(23) == Some(&6) => frame.get(34..),
            Some([0x86, 0xdd]) if frame.get(20) == Some(&6) => frame.get(54..),
            _ => None,
        };
        tcp.and_then(|t| t.get(13))
            .is_some_and(|flags| flags & 0x12 == 0x02)
    }

    #[test]
    fn same_seed_same_bytes() {
        let opts = BigcapOptions::with_size(256 << 10);
        let (_, a) = generate(Vec::new(), &opts).unwrap();
        let (_, b) = generate(Vec::new(), &opts).unwrap();
        assert!(a == b);
        let other = BigcapOptions { seed: 2, ..opts };
        let (_, c) = generate(Vec::new(), &other).unwrap();
        assert!(a != c);
    }
}
