//! A tiny deterministic network: hosts, TCP connections with real handshakes, sequence and
//! acknowledgement numbers, UDP datagrams and ICMP errors, written as Ethernet frames with a
//! clock. Scenarios drive it; it knows nothing about DCE/RPC.
//!
//! [`Wire`] builds the frames (Ethernet II, IPv4 or IPv6, TCP/UDP/ICMP headers with real
//! checksums, RFC 791 / RFC 8200 / RFC 9293 / RFC 768 / RFC 792 / RFC 4443) into a caller's
//! buffer; [`Net`] keeps a clock and the frames of a scenario in memory, while the large
//! capture generator ([`crate::bigcap`]) drives a [`Wire`] directly and streams to disk.

use etherparse::{
    IcmpEchoHeader, Icmpv4Type, Icmpv6Type, IpHeaders, IpNumber, Ipv4Header, Ipv6Header,
    PacketBuilder,
};
use std::net::{IpAddr, SocketAddr};

/// Nanoseconds per millisecond.
pub const MS: i64 = 1_000_000;
/// Nanoseconds per second.
pub const SEC: i64 = 1_000_000_000;

/// A deterministic pseudo-random source (SplitMix64): same seed, same capture.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// Fills `out` with random bytes, eight per step (a different stream from [`Rng::bytes`],
    /// which spends a whole step per byte).
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next_u64() % 1000 < per_mille
    }
}

/// A host on the capture's Ethernet segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Its MAC address.
    pub mac: [u8; 6],
    /// Its IP address.
    pub ip: IpAddr,
    /// TTL / hop limit of its packets as seen at the capture point.
    pub ttl: u8,
    /// The capture runs on this host: its own TCP and UDP packets are captured before its
    /// adapter fills in their checksums (checksum offload), so they carry the partial sum
    /// the stack leaves for the adapter.
    pub offload: bool,
}

impl Host {
    /// A host with a MAC derived from `id`.
    pub fn new(id: u8, ip: &str, ttl: u8) -> Host {
        let ip = ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Host {
            mac: [0x00, 0x15, 0x5d, 0x01, 0x00, id],
            ip,
            ttl,
            offload: false,
        }
    }

    /// This host as the capture host (see [`Host::offload`]).
    pub fn capturing(self) -> Host {
        Host {
            offload: true,
            ..self
        }
    }

    /// This host seen from beyond a router: its frames carry `router_mac` and arrive with a
    /// TTL `hops` lower.
    pub fn behind(self, router_mac: [u8; 6], hops: u8) -> Host {
        Host {
            mac: router_mac,
            ttl: self.ttl.saturating_sub(hops),
            ..self
        }
    }

    /// The socket address of this host at `port`.
    pub fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, port)
    }
}

/// One frame written by the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFrame {
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// Ethernet frame bytes.
    pub bytes: Vec<u8>,
}

/// Which way bytes travel on a [`TcpConn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// From the client (the side that connected).
    Client,
    /// From the server.
    Server,
}

/// A TCP connection's state: endpoints and next sequence numbers.
#[derive(Debug, Clone)]
pub struct TcpConn {
    /// The connecting host and its port.
    pub client: (Host, u16),
    /// The listening host and its port.
    pub server: (Host, u16),
    next_seq: [u32; 2],
}

impl TcpConn {
    /// A connection between `client` and `server` whose next sequence numbers are `next_seq`
    /// (client's, server's): before the handshake, the initial sequence numbers.
    pub fn new(client: (Host, u16), server: (Host, u16), next_seq: [u32; 2]) -> TcpConn {
        TcpConn {
            client,
            server,
            next_seq,
        }
    }

    fn ends(&self, from: Side) -> ((Host, u16), (Host, u16), usize) {
        match from {
            Side::Client => (self.client, self.server, 0),
            Side::Server => (self.server, self.client, 1),
        }
    }

    /// The sequence number of the next byte `side` sends.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.next_seq[side.index()]
    }

    /// Moves `side`'s next sequence number on by `n` (bytes sent, or 1 for a SYN or FIN).
    pub fn advance(&mut self, side: Side, n: u32) {
        let i = side.index();
        self.next_seq[i] = self.next_seq[i].wrapping_add(n);
    }
}

impl Side {
    /// 0 for the client, 1 for the server.
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// How to cut a message into TCP segments and disturb their delivery.
#[derive(Debug, Clone, Default)]
pub struct Segmenting {
    /// Largest segment payload (0 = 1460).
    pub mss: usize,
    /// Extra cut points (byte offsets into the message).
    pub cuts: Vec<usize>,
    /// Segment indices sent a second time right after themselves (retransmissions).
    pub retransmit: Vec<usize>,
    /// Segment index pairs whose order on the wire is swapped.
    pub swap: Vec<(usize, usize)>,
    /// Overlapping retransmissions: `(after, start, end)` re-sends the message bytes
    /// `start..end` right after the segment sent at position `after`.
    pub resend: Vec<(usize, usize, usize)>,
}

/// Builds Ethernet frames into a caller's buffer, numbering IPv4 packets (identification)
/// in the order it writes them. Checksums are real; lengths come from the payload.
#[derive(Debug, Clone)]
pub struct Wire {
    ip_id: u16,
}

impl Wire {
    /// A builder whose first IPv4 packet gets identification `first_ip_id + 1`.
    pub fn new(first_ip_id: u16) -> Wire {
        Wire { ip_id: first_ip_id }
    }

    fn ip_headers(&mut self, src: &Host, dst: &Host, proto: IpNumber) -> IpHeaders {
        self.ip_id = self.ip_id.wrapping_add(1);
        match (src.ip, dst.ip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h =
                    Ipv4Header::new(0, src.ttl, proto, s.octets(), d.octets()).unwrap_or_default();
                h.identification = self.ip_id;
                h.dont_fragment = true;
                IpHeaders::Ipv4(h, Default::default())
            }
            (s, d) => {
                let to16 = |ip: IpAddr| match ip {
                    IpAddr::V6(v6) => v6.octets(),
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                };
                let h = Ipv6Header {
                    hop_limit: src.ttl,
                    next_header: proto,
                    source: to16(s),
                    destination: to16(d),
                    ..Default::default()
                };
                IpHeaders::Ipv6(h, Default::default())
            }
        }
    }

    /// Appends the frame of a TCP segment sent by `from` on `conn` with sequence number `seq`,
    /// `flags` (`S` SYN, `F` FIN, `R` RST, `P` PSH) and `payload`. Every segment but the
    /// client's opening SYN acknowledges the peer's next sequence number.
    pub fn tcp(
        &mut self,
        out: &mut Vec<u8>,
        conn: &TcpConn,
        from: Side,
        seq: u32,
        flags: &[char],
        payload: &[u8],
    ) {
        let ((src, sport), (dst, dport), i) = conn.ends(from);
        let ack = conn.next_seq[1 - i];
        let ip = self.ip_headers(&src, &dst, IpNumber::TCP);
        let mut b = PacketBuilder::ethernet2(src.mac, dst.mac)
            .ip(ip)
            .tcp(sport, dport, seq, 64_240);
        for f in flags {
            b = match f {
                'S' => b.syn(),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                _ => b,
            };
        }
        if !flags.contains(&'S') || from == Side::Server {
            b = b.ack(ack);
        }
        out.reserve(b.size(payload.len()));
        let start = out.len();
        // Writing into a Vec cannot fail except on impossible header lengths.
        let _ = b.write(out, payload);
        if src.offload {
            offload_checksum(&mut out[start..], 16);
        }
    }

    /// Appends the frame of a UDP datagram.
    pub fn udp(
        &mut self,
        out: &mut Vec<u8>,
        (src, sport): (Host, u16),
        (dst, dport): (Host, u16),
        payload: &[u8],
    ) {
        let ip = self.ip_headers(&src, &dst, IpNumber::UDP);
        let b = PacketBuilder::ethernet2(src.mac, dst.mac)
            .ip(ip)
            .udp(sport, dport);
        out.reserve(b.size(payload.len()));
        let start = out.len();
        let _ = b.write(out, payload);
        if src.offload {
            offload_checksum(&mut out[start..], 6);
        }
    }

    fn icmp_protocol(from: &Host) -> IpNumber {
        if from.ip.is_ipv4() {
            IpNumber::ICMP
        } else {
            IpNumber::IPV6_ICMP
        }
    }

    /// Appends an ICMP destination-unreachable error from `from` to `to` quoting `quoted`
    /// (an IP packet). `code` is the ICMPv4 code (3 = port unreachable) or ICMPv6 code
    /// (4 = port unreachable).
    pub fn icmp_unreachable(
        &mut self,
        out: &mut Vec<u8>,
        from: Host,
        to: Host,
        code: u8,
        quoted: &[u8],
    ) {
        let ip = self.ip_headers(&from, &to, Self::icmp_protocol(&from));
        let b = PacketBuilder::ethernet2(from.mac, to.mac).ip(ip);
        let _ = if from.ip.is_ipv4() {
            let t = Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::from_values(code, 0)
                    .unwrap_or(etherparse::icmpv4::DestUnreachableHeader::Port),
            );
            b.icmpv4(t).write(out, quoted)
        } else {
            let c = etherparse::icmpv6::DestUnreachableCode::from_u8(code)
                .unwrap_or(etherparse::icmpv6::DestUnreachableCode::Port);
            b.icmpv6(Icmpv6Type::DestinationUnreachable(c))
                .write(out, quoted)
        };
    }

    /// Appends an ICMP (v4 or v6, after `from`'s address) echo request, or reply when `reply`.
    pub fn icmp_echo(
        &mut self,
        out: &mut Vec<u8>,
        from: Host,
        to: Host,
        (id, seq): (u16, u16),
        reply: bool,
        payload: &[u8],
    ) {
        let ip = self.ip_headers(&from, &to, Self::icmp_protocol(&from));
        let b = PacketBuilder::ethernet2(from.mac, to.mac).ip(ip);
        let echo = IcmpEchoHeader { id, seq };
        let _ = match (from.ip.is_ipv4(), reply) {
            (true, false) => b.icmpv4(Icmpv4Type::EchoRequest(echo)).write(out, payload),
            (true, true) => b.icmpv4(Icmpv4Type::EchoReply(echo)).write(out, payload),
            (false, false) => b.icmpv6(Icmpv6Type::EchoRequest(echo)).write(out, payload),
            (false, true) => b.icmpv6(Icmpv6Type::EchoReply(echo)).write(out, payload),
        };
    }
}

/// Replaces the TCP or UDP checksum (at `field` in the transport header) of an Ethernet
/// frame with what a sending stack that offloads checksums leaves there for its adapter: the
/// pseudo-header sum, not complemented. The capture host's own packets look so.
fn offload_checksum(frame: &mut [u8], field: usize) {
    let ip = &frame[14..];
    let (header_len, src, dst, protocol, len): (usize, &[u8], &[u8], u8, usize) = if ip[0] >> 4 == 4
    {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        (ihl, &ip[12..16], &ip[16..20], ip[9], total - ihl)
    } else {
        let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        (40, &ip[8..24], &ip[24..40], ip[6], payload)
    };
    let mut sum = 0u32;
    for pair in src.chunks(2).chain(dst.chunks(2)) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    sum += u32::from(protocol) + len as u32;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let at = 14 + header_len + field;
    frame[at..at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
}

/// The simulated capture: a clock and the frames written so far.
#[derive(Debug)]
pub struct Net {
    /// Current time, ns since the Unix epoch.
    pub now: i64,
    /// The frames, in capture order.
    pub frames: Vec<SimFrame>,
    /// Randomness for ports, sequence numbers, jitter and payloads.
    pub rng: Rng,
    wire: Wire,
}

impl Net {
    /// A network whose clock starts at `start_ns`.
    pub fn new(start_ns: i64, seed: u64) -> Net {
        Net {
            now: start_ns,
            frames: Vec::new(),
            rng: Rng::new(seed),
            wire: Wire::new(0x1000),
        }
    }

    /// Number of the next frame to be written (1-based, as Wireshark counts).
    pub fn next_frame_number(&self) -> u64 {
        self.frames.len() as u64 + 1
    }

    /// Moves the clock forward by `ns` plus up to 10% jitter.
    pub fn wait(&mut self, ns: i64) {
        let jitter = if ns >= 10 {
            self.rng.range(0, (ns / 10) as u64) as i64
        } else {
            0
        };
        self.now += ns + jitter;
    }

    fn push(&mut self, bytes: Vec<u8>) -> u64 {
        self.frames.push(SimFrame {
            ts_ns: self.now,
            bytes,
        });
        self.frames.len() as u64
    }

    fn tcp_segment(
        &mut self,
        conn: &TcpConn,
        from: Side,
        seq: u32,
        flags: &[char],
        payload: &[u8],
    ) -> u64 {
        let mut out = Vec::new();
        self.wire.tcp(&mut out, conn, from, seq, flags, payload);
        self.push(out)
    }
    /// Opens a connection with a three-way handshake; returns it and the handshake frames.
    pub fn tcp_connect(
        &mut self,
        client: Host,
        client_port: u16,
        server: Host,
        server_port: u16,
    ) -> TcpConn {
        let mut conn = TcpConn {
            client: (client, client_port),
            server: (server, server_port),
            next_seq: [self.rng.next_u64() as u32, self.rng.next_u64() as u32],
        };
        let isn = conn.next_seq;
        conn.next_seq = [isn[0], 0];
        self.tcp_segment(&conn, Side::Client, isn[0], &['S'], &[]);
        conn.next_seq = [isn[0].wrapping_add(1), isn[1]];
        self.wait(300_000);
        self.tcp_segment(&conn, Side::Server, isn[1], &['S'], &[]);
        conn.next_seq[1] = isn[1].wrapping_add(1);
        self.wait(200_000);
        self.tcp_segment(&conn, Side::Client, conn.next_seq[0], &[], &[]);
        conn
    }

    /// Sends `message` from one side, cut and disturbed as `seg` says, then the peer's ACK.
    /// Returns the frame number that carries the message's last byte first (the frame where
    /// a reader completes the message).
    pub fn tcp_send(
        &mut self,
        conn: &mut TcpConn,
        from: Side,
        message: &[u8],
        seg: &Segmenting,
    ) -> u64 {
        let mss = if seg.mss == 0 { 1460 } else { seg.mss };
        let mut cuts: Vec<usize> = seg
            .cuts
            .iter()
            .copied()
            .filter(|&c| c > 0 && c < message.len())
            .collect();
        let mut at = mss;
        while at < message.len() {
            cuts.push(at);
            at += mss;
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut start = 0;
        for c in cuts.into_iter().chain(std::iter::once(message.len())) {
            if c > start {
                pieces.push((start, c));
                start = c;
            }
        }
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        for &(a, b) in &seg.swap {
            if a < order.len() && b < order.len() {
                order.swap(a, b);
            }
        }
        let i = if from == Side::Client { 0 } else { 1 };
        let base = conn.next_seq[i];
        // Which message bytes were sent so far: the frame that sends the last missing one is
        // where a reader completes the message.
        let mut covered = vec![false; message.len()];
        let mut missing = message.len();
        let mut completed_at = 0;
        let mut send = |net: &mut Net, start: usize, end: usize| {
            let seq = base.wrapping_add(start as u32);
            let frame = net.tcp_segment(conn, from, seq, &['P'], &message[start..end]);
            for c in &mut covered[start..end] {
                missing -= usize::from(!*c);
                *c = true;
            }
            if completed_at == 0 && missing == 0 {
                completed_at = frame;
            }
            net.wait(40_000);
        };
        for (pos, &p) in order.iter().enumerate() {
            let (s, e) = pieces[p];
            send(self, s, e);
            if seg.retransmit.contains(&pos) {
                send(self, s, e);
            }
            for &(_, start, end) in seg.resend.iter().filter(|r| r.0 == pos) {
                if start < end && end <= message.len() {
                    send(self, start, end);
                }
            }
        }
        conn.next_seq[i] = base.wrapping_add(message.len() as u32);
        self.wait(150_000);
        let peer = if from == Side::Client {
            Side::Server
        } else {
            Side::Client
        };
        self.tcp_segment(conn, peer, conn.next_seq[1 - i], &[], &[]);
        completed_at
    }

    /// Closes the connection with FIN/ACK from both sides.
    pub fn tcp_close(&mut self, conn: &mut TcpConn) {
        for side in [Side::Client, Side::Server] {
            let i = if side == Side::Client { 0 } else { 1 };
            self.tcp_segment(conn, side, conn.next_seq[i], &['F'], &[]);
            conn.next_seq[i] = conn.next_seq[i].wrapping_add(1);
            self.wait(200_000);
        }
        self.tcp_segment(conn, Side::Client, conn.next_seq[0], &[], &[]);
    }

    /// Writes a UDP datagram; returns its frame number.
    pub fn udp(&mut self, src: Host, sport: u16, dst: Host, dport: u16, payload: &[u8]) -> u64 {
        let mut out = Vec::new();
        self.wire.udp(&mut out, (src, sport), (dst, dport), payload);
        self.push(out)
    }

    /// Writes an ICMP destination-unreachable error from `from` to `to` quoting the IP packet
    /// of frame `quoted_frame` (its bytes after the Ethernet header). `code` is the ICMPv4
    /// code (3 = port unreachable) or ICMPv6 code (4 = port unreachable).
    pub fn icmp_unreachable(&mut self, from: Host, to: Host, code: u8, quoted_frame: u64) -> u64 {
        let quoted: Vec<u8> = self
            .frames
            .get(quoted_frame as usize - 1)
            .map(|f| f.bytes.get(14..).unwrap_or_default().to_vec())
            .unwrap_or_default();
        let mut out = Vec::new();
        self.wire
            .icmp_unreachable(&mut out, from, to, code, &quoted);
        self.push(out)
    }
}
