//! Hostile captures for the bounded-memory checks (issue "Speed, scale and hostile input"):
//! inputs built to make an analyser hold as much state as it can, streamed straight to a
//! classic pcap file (Ethernet, µs) so that a million connections never sit in the
//! generator's memory.
//!
//! | attack | what the capture holds | caps it aims at |
//! |---|---|---|
//! | `half-pdus` | N TCP connections (SYN + one segment), each holding the first half of a DCE/RPC request | TCP connection table, DCE/RPC partial-PDU buffers |
//! | `out-of-order` | 64 connections; N segments in turn, each after a hole that never fills | TCP out-of-order buffers, per direction and in all |
//! | `endless-fragments` | 64 bound EMSMDB connections; a request's FIRST fragment on each, then N middle fragments in turn, never the LAST | DCE/RPC stub caps, per connection and in all |
//! | `registrations` | N `EcRRegisterPushNotification` calls over 64 client connections; only every other one is answered | pending calls per connection, correlation items |
//! | `udp-flood` | one registered session, then N small datagrams from its server to N other clients | pending-datagram pool, sessions |
//! | `icmp-flood` | one registered session, then N ICMP port-unreachable errors quoting datagrams | ICMP error pool |
//! | `ip-fragments` | N IPv4 fragments of 65,000-byte UDP datagrams, each datagram missing its first fragment | IP reassembly pool |
//! | `unknown-calls` | N answered calls without a bind whose stubs only fit a store call (opnum 1, a bare live context handle), over 64 connections | the list of calls waiting for evidence that they are store calls |
//! | `combined` | every attack above at scale N, one after the other in one capture, so that each one's state is still held when the next begins | all of them at once |
//!
//! Frames are 10 µs apart, so no connection is ever idle long enough to be evicted by time:
//! only the caps can bound the state. The output is deterministic.

use crate::net::Rng;
use crate::rpc::{Context, PduWriter, EMSMDB, NDR20};
use etherparse::{
    icmpv4::DestUnreachableHeader, EtherType, Ethernet2Header, Icmpv4Type, IpFragOffset, IpNumber,
    Ipv4Header, PacketBuilder,
};
use pushtrace_capture::write::{PcapOptions, PcapWriter};
use pushtrace_core::emsmdb::{self, CallbackAddress, NdrFormat};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};

/// One kind of hostile capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// N connections, each holding half a DCE/RPC PDU.
    HalfPdus,
    /// Endless out-of-order segments on many connections.
    OutOfOrder,
    /// Fragmented requests that never end, on many connections.
    EndlessFragments,
    /// N registrations (opnum 4), every other one unanswered.
    Registrations,
    /// N small datagrams from a known Exchange server to N clients.
    UdpFlood,
    /// N ICMP port-unreachable errors.
    IcmpFlood,
    /// N IP fragments of UDP datagrams that never complete.
    IpFragments,
    /// N calls of unknown interface that only fit a store call.
    UnknownCalls,
    /// Every other attack at scale N, in one capture.
    Combined,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 9] = [
        Attack::HalfPdus,
        Attack::OutOfOrder,
        Attack::EndlessFragments,
        Attack::Registrations,
        Attack::UdpFlood,
        Attack::IcmpFlood,
        Attack::IpFragments,
        Attack::UnknownCalls,
        Attack::Combined,
    ];

    /// The attack's command-line name, e.g. `half-pdus`.
    pub fn name(self) -> &'static str {
        match self {
            Attack::HalfPdus => "half-pdus",
            Attack::OutOfOrder => "out-of-order",
            Attack::EndlessFragments => "endless-fragments",
            Attack::Registrations => "registrations",
            Attack::UdpFlood => "udp-flood",
            Attack::IcmpFlood => "icmp-flood",
            Attack::IpFragments => "ip-fragments",
            Attack::UnknownCalls => "unknown-calls",
            Attack::Combined => "combined",
        }
    }

    /// The attack with that command-line name.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Writes the attack at scale `n` as a pcap file into `out`; returns the frames written.
    pub fn write<W: Write>(self, n: u64, out: W) -> io::Result<u64> {
        let mut wire = Wire::new(out)?;
        self.play(&mut wire, n)?;
        wire.out.into_inner().flush()?;
        Ok(wire.frames)
    }

    /// Writes the attack's frames at scale `n` onto `wire`.
    fn play<W: Write>(self, wire: &mut Wire<W>, n: u64) -> io::Result<()> {
        match self {
            Attack::HalfPdus => half_pdus(wire, n)?,
            Attack::OutOfOrder => out_of_order(wire, n)?,
            Attack::EndlessFragments => endless_fragments(wire, n)?,
            Attack::Registrations => registrations(wire, n)?,
            Attack::UdpFlood => udp_flood(wire, n)?,
            Attack::IcmpFlood => icmp_flood(wire, n)?,
            Attack::IpFragments => ip_fragments(wire, n)?,
            Attack::UnknownCalls => unknown_calls(wire, n)?,
            Attack::Combined => {
                // Each part's own connection gets a port of its own, so that no part
                // continues (or reopens) the connection of another.
                for part in Attack::ALL.into_iter().filter(|a| *a != Attack::Combined) {
                    part.play(wire, n)?;
                    wire.client_port += 1;
                }
            }
        }
        Ok(())
    }
}

/// The Exchange server every attack talks to.
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
/// The port its EMSMDB endpoint listens on.
const SERVER_PORT: u16 = 6001;
/// A port of the server nothing in the attacks shows to serve the store (no bind, no
/// endpoint-mapper answer, no recognisable call): calls there wait for evidence, even in the
/// combined attack, where the other parts bind EMSMDB on [`SERVER_PORT`].
const UNSHOWN_PORT: u16 = 6004;
/// The registered client of the flood attacks.
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 21);
/// The port the registered client listens on for notification datagrams.
const CALLBACK_PORT: u16 = 3333;
/// Connections the `out-of-order`, `endless-fragments` and `registrations` attacks spread
/// their segments over (more than enough for the shared caps to bite before the
/// per-connection ones).
const SPREAD: u64 = 64;

/// The `n`-th address of a /8 used for the many clients of an attack (never the server's).
fn many(first_octet: u8, n: u64) -> Ipv4Addr {
    let low = (n % 0x00ff_ffff) as u32 + 1;
    Ipv4Addr::from((u32::from(first_octet) << 24) | low)
}

/// A TCP endpoint: address, port and the next sequence number it sends.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    ip: Ipv4Addr,
    port: u16,
    seq: u32,
}

/// One TCP connection's two endpoints.
#[derive(Debug, Clone, Copy)]
struct Tcp {
    client: Endpoint,
    server: Endpoint,
}

/// TCP flags of a segment.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
}

/// Frames on the wire, written as they are made.
struct Wire<W: Write> {
    out: PcapWriter<W>,
    ts_ns: i64,
    frames: u64,
    buf: Vec<u8>,
    /// The port [`CLIENT`] connects from.
    client_port: u16,
}

const CLIENT_MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x01, 0x00, 0x01];
const SERVER_MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x01, 0x00, 0x02];

impl<W: Write> Wire<W> {
    fn new(out: W) -> io::Result<Self> {
        let options = PcapOptions {
            linktype: 1,
            ..PcapOptions::default()
        };
        Ok(Wire {
            out: PcapWriter::new(out, options)?,
            ts_ns: 1_700_000_000_000_000_000,
            frames: 0,
            buf: Vec::with_capacity(2048),
            client_port: 50_000,
        })
    }

    /// Writes the frame in `buf` and moves the clock 10 µs on.
    fn emit(&mut self) -> io::Result<()> {
        self.out
            .write_frame(self.ts_ns, &self.buf, self.buf.len() as u32)?;
        self.frames += 1;
        self.ts_ns += 10_000;
        Ok(())
    }

    /// A TCP segment from `from` to `to` at `from.seq`, acknowledging `to.seq` when `ack`.
    fn tcp(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        flags: Flags,
        payload: &[u8],
    ) -> io::Result<()> {
        let (src_mac, dst_mac) = if from.ip == SERVER {
            (SERVER_MAC, CLIENT_MAC)
        } else {
            (CLIENT_MAC, SERVER_MAC)
        };
        let mut b = PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(from.ip.octets(), to.ip.octets(), 128)
            .tcp(from.port, to.port, from.seq, 64_240);
        if flags.syn {
            b = b.syn();
        }
        if flags.ack {
            b = b.ack(to.seq);
        }
        if !payload.is_empty() {
            b = b.psh();
        }
        self.buf.clear();
        b.write(&mut self.buf, payload)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.emit()
    }

    /// Sends `payload` on `conn` from the client (or the server), advancing its sequence.
    fn send(&mut self, conn: &mut Tcp, from_client: bool, payload: &[u8]) -> io::Result<()> {
        let ack = Flags {
            syn: false,
            ack: true,
        };
        if from_client {
            self.tcp(conn.client, conn.server, ack, payload)?;
            conn.client.seq = conn.client.seq.wrapping_add(payload.len() as u32);
        } else {
            self.tcp(conn.server, conn.client, ack, payload)?;
            conn.server.seq = conn.server.seq.wrapping_add(payload.len() as u32);
        }
        Ok(())
    }

    /// A three-way handshake; returns the open connection.
    fn connect(&mut self, client: (Ipv4Addr, u16), isn: u32) -> io::Result<Tcp> {
        self.connect_to(client, SERVER_PORT, isn)
    }

    /// Opens a connection from `client` to the server's `port`.
    fn connect_to(&mut self, client: (Ipv4Addr, u16), port: u16, isn: u32) -> io::Result<Tcp> {
        let mut conn = Tcp {
            client: Endpoint {
                ip: client.0,
                port: client.1,
                seq: isn,
            },
            server: Endpoint {
                ip: SERVER,
                port,
                seq: isn.wrapping_mul(31).wrapping_add(7),
            },
        };
        let syn = Flags {
            syn: true,
            ack: false,
        };
        self.tcp(conn.client, conn.server, syn, &[])?;
        conn.client.seq = conn.client.seq.wrapping_add(1);
        let syn_ack = Flags {
            syn: true,
            ack: true,
        };
        self.tcp(conn.server, conn.client, syn_ack, &[])?;
        conn.server.seq = conn.server.seq.wrapping_add(1);
        self.send(&mut conn, true, &[])?;
        Ok(conn)
    }

    /// A UDP datagram.
    fn udp(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> io::Result<()> {
        let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
            return Err(io::Error::other("IPv4 only"));
        };
        let b = PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
            .ipv4(from.ip().octets(), to.ip().octets(), 128)
            .udp(from.port(), to.port());
        self.buf.clear();
        b.write(&mut self.buf, payload)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.emit()
    }

    /// An IPv4 fragment of a UDP datagram of identification `id` from `src` to `dst`:
    /// `payload` at byte offset `at.0` (a multiple of 8), with More Fragments set when `at.1`.
    fn ipv4_fragment(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        at: (usize, bool),
        payload: &[u8],
    ) -> io::Result<()> {
        let invalid = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        let mut ip = Ipv4Header::new(
            payload.len() as u16,
            64,
            IpNumber::UDP,
            src.octets(),
            dst.octets(),
        )
        .map_err(|e| invalid(&e))?;
        ip.identification = id;
        ip.more_fragments = at.1;
        ip.fragment_offset = IpFragOffset::try_new((at.0 / 8) as u16).map_err(|e| invalid(&e))?;
        ip.header_checksum = ip.calc_header_checksum();
        self.buf.clear();
        Ethernet2Header {
            source: SERVER_MAC,
            destination: CLIENT_MAC,
            ether_type: EtherType::IPV4,
        }
        .write(&mut self.buf)?;
        ip.write(&mut self.buf)?;
        self.buf.extend_from_slice(payload);
        self.emit()
    }

    /// An ICMP port-unreachable error from `from` to `to` quoting `quoted` (an IP packet).
    fn icmp_port_unreachable(
        &mut self,
        from: Ipv4Addr,
        to: Ipv4Addr,
        quoted: &[u8],
    ) -> io::Result<()> {
        let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
            .ipv4(from.octets(), to.octets(), 128)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                DestUnreachableHeader::Port,
            ));
        self.buf.clear();
        b.write(&mut self.buf, quoted)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.emit()
    }
}

/// PDUs of a little-endian, unauthenticated association.
fn pdus() -> PduWriter {
    PduWriter::new(true, None)
}

/// The EMSMDB context 0 proposed in every bind.
fn emsmdb_context() -> Context {
    Context::ndr20(0, EMSMDB, (0, 81))
}

/// Opens a connection from `client` and binds EMSMDB on it.
fn bound_connection<W: Write>(
    wire: &mut Wire<W>,
    client: (Ipv4Addr, u16),
    isn: u32,
) -> io::Result<Tcp> {
    let mut conn = wire.connect(client, isn)?;
    let pdu = pdus();
    wire.send(&mut conn, true, &pdu.bind(1, &[emsmdb_context()], false))?;
    let ack = pdu.bind_ack(1, &SERVER_PORT.to_string(), &[Some(NDR20)], false);
    wire.send(&mut conn, false, &ack)?;
    Ok(conn)
}

/// The request and response stubs of a registration for `callback`.
fn registration_stubs(callback: SocketAddr, context: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let f = NdrFormat::NDR20_LE;
    let handle = [0x11; 20];
    let request = emsmdb::encode_register_push_request(
        f,
        &handle,
        context,
        &CallbackAddress::encode_windows(callback),
        0xa5,
    );
    let response = emsmdb::encode_register_push_response(f, &handle, 1, 0);
    (request, response)
}

/// One single-fragment request and, when `answered`, its response.
fn call<W: Write>(
    wire: &mut Wire<W>,
    conn: &mut Tcp,
    call_id: u32,
    (request, response): (&[u8], &[u8]),
    answered: bool,
    rng: &mut Rng,
) -> io::Result<()> {
    let pdu = pdus();
    for fragment in pdu.request(call_id, 0, emsmdb::OP_REGISTER_PUSH, request, 4096, rng) {
        wire.send(conn, true, &fragment)?;
    }
    if answered {
        for fragment in pdu.response(call_id, 0, response, 4096, rng) {
            wire.send(conn, false, &fragment)?;
        }
    }
    Ok(())
}

/// A client that registers its callback once, answered: makes [`SERVER`] a known Exchange
/// server and [`CLIENT`] a session, so later datagrams and ICMP errors are relevant.
fn registered_session<W: Write>(wire: &mut Wire<W>, rng: &mut Rng) -> io::Result<()> {
    let mut conn = bound_connection(wire, (CLIENT, wire.client_port), 1_000)?;
    let callback = SocketAddr::from((CLIENT, CALLBACK_PORT));
    let (request, response) = registration_stubs(callback, &[0xc0, 0xff, 0xee, 0, 0, 0, 0, 1]);
    call(wire, &mut conn, 3, (&request, &response), true, rng)
}

fn half_pdus<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(1);
    // A 400-byte request; each connection carries its first 200 bytes.
    let request = pdus().request(1, 0, 9, &[0x42; 376], 4096, &mut rng);
    let half = &request[0][..200];
    for i in 0..n {
        let client = (many(10, i + 0x1_0000), 49_152 + (i % 16_384) as u16);
        let mut conn = Tcp {
            client: Endpoint {
                ip: client.0,
                port: client.1,
                seq: (i as u32).wrapping_mul(7919),
            },
            server: Endpoint {
                ip: SERVER,
                port: SERVER_PORT,
                seq: 0,
            },
        };
        let syn = Flags {
            syn: true,
            ack: false,
        };
        wire.tcp(conn.client, conn.server, syn, &[])?;
        conn.client.seq = conn.client.seq.wrapping_add(1);
        wire.send(&mut conn, true, half)?;
    }
    Ok(())
}

/// Opens up to [`SPREAD`] bound connections (never more than `n`) from clients numbered
/// from `first` in the attack range.
fn spread_connections<W: Write>(wire: &mut Wire<W>, n: u64, first: u64) -> io::Result<Vec<Tcp>> {
    (0..SPREAD.min(n.max(1)))
        .map(|c| bound_connection(wire, (many(10, first + c), 50_000), c as u32))
        .collect()
}

fn out_of_order<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(2);
    let mut conns = spread_connections(wire, n, 0x6_0000)?;
    // Segments of PDU bytes, each after a 1000-byte hole that is never sent; the server never
    // acknowledges past the first hole. The segments go to the connections in turn.
    let request = pdus().request(7, 0, 11, &rng.bytes(976), 4096, &mut rng);
    let payload = &request[0];
    let bases: Vec<u32> = conns.iter().map(|c| c.client.seq).collect();
    for k in 0..n {
        let c = (k % conns.len() as u64) as usize;
        let round = k / conns.len() as u64;
        let offset = (round * 2 + 1) * 1000;
        conns[c].client.seq = bases[c].wrapping_add(offset as u32);
        let mut sent = conns[c];
        wire.send(&mut sent, true, payload)?;
    }
    Ok(())
}

fn endless_fragments<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(3);
    let mut conns = spread_connections(wire, n, 0x7_0000)?;
    // A three-fragment request: its FIRST fragment on every connection, then its middle
    // fragment forever, on the connections in turn.
    let fragments = pdus().request(3, 0, 11, &rng.bytes(3000), 1000, &mut rng);
    for conn in &mut conns {
        wire.send(conn, true, &fragments[0])?;
    }
    for k in 0..n {
        let c = (k % conns.len() as u64) as usize;
        wire.send(&mut conns[c], true, &fragments[1])?;
    }
    Ok(())
}

fn registrations<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(4);
    let mut conns = spread_connections(wire, n, 0x2_0000)?;
    let clients = conns.len() as u64;
    let mut stubs = Vec::new();
    for conn in &conns {
        stubs.push(registration_stubs(
            SocketAddr::from((conn.client.ip, CALLBACK_PORT)),
            &[1, 2, 3, 4, 5, 6, 7, 8],
        ));
    }
    for i in 0..n {
        let c = (i % clients) as usize;
        let call_id = (i / clients) as u32 + 3;
        let (request, response) = &stubs[c];
        call(
            wire,
            &mut conns[c],
            call_id,
            (request, response),
            i % 2 == 0,
            &mut rng,
        )?;
    }
    Ok(())
}

fn udp_flood<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(5);
    registered_session(wire, &mut rng)?;
    let from = SocketAddr::from((SERVER, 49_999));
    for i in 0..n {
        let to = SocketAddr::from((many(10, i + 0x3_0000), CALLBACK_PORT));
        wire.udp(from, to, &i.to_le_bytes())?;
    }
    Ok(())
}

fn icmp_flood<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(6);
    registered_session(wire, &mut rng)?;
    let mut quoted = Vec::with_capacity(64);
    for i in 0..n {
        let client = many(10, i + 0x4_0000);
        quoted.clear();
        PacketBuilder::ipv4(SERVER.octets(), client.octets(), 128)
            .udp(49_999, CALLBACK_PORT)
            .write(&mut quoted, &i.to_le_bytes())
            .map_err(|e| io::Error::other(e.to_string()))?;
        wire.icmp_port_unreachable(client, SERVER, &quoted)?;
    }
    Ok(())
}

fn unknown_calls<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    let mut rng = Rng::new(8);
    let mut conns = (0..SPREAD.min(n.max(1)))
        .map(|c| wire.connect_to((many(10, 0x8_0000 + c), 50_000), UNSHOWN_PORT, c as u32))
        .collect::<io::Result<Vec<Tcp>>>()?;
    let pdu = pdus();
    let mut handle = [0x5a; 20];
    handle[..4].copy_from_slice(&[0; 4]);
    for i in 0..n {
        let c = (i % conns.len() as u64) as usize;
        let call_id = (i / conns.len() as u64) as u32 + 1;
        for fragment in pdu.request(
            call_id,
            0,
            emsmdb::OP_DO_DISCONNECT,
            &handle,
            4096,
            &mut rng,
        ) {
            wire.send(&mut conns[c], true, &fragment)?;
        }
        for fragment in pdu.response(call_id, 0, &[0; 24], 4096, &mut rng) {
            wire.send(&mut conns[c], false, &fragment)?;
        }
    }
    Ok(())
}

fn ip_fragments<W: Write>(wire: &mut Wire<W>, n: u64) -> io::Result<()> {
    // A 65,000-byte UDP datagram cut into 1480-byte fragments, sent without its first
    // fragment (offset 0), so it can never be reassembled. Every datagram carries the same
    // bytes; each has its own source and identification.
    const FRAGMENT: usize = 1480;
    const DATAGRAM: usize = 65_000;
    let payload = [0x5a; FRAGMENT];
    let offsets = (FRAGMENT..DATAGRAM).step_by(FRAGMENT);
    let per_datagram = offsets.len() as u64;
    for k in 0..n {
        let datagram = k / per_datagram;
        let offset = FRAGMENT * (1 + (k % per_datagram) as usize);
        let len = FRAGMENT.min(DATAGRAM - offset);
        let more = offset + len < DATAGRAM;
        let src = many(10, datagram + 0x5_0000);
        wire.ipv4_fragment(
            src,
            CLIENT,
            datagram as u16,
            (offset, more),
            &payload[..len],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtrace_capture::{CaptureReader, ReadOptions};

    fn frames(attack: Attack, n: u64) -> (u64, Vec<Vec<u8>>) {
        let mut file = Vec::new();
        let written = attack.write(n, &mut file).unwrap();
        let mut reader = CaptureReader::from_bytes(file, &ReadOptions::default()).unwrap();
        let mut out = Vec::new();
        while let Some(f) = reader.next_frame() {
            out.push(f.data.to_vec());
        }
        assert!(reader.warnings().is_empty(), "{:?}", reader.warnings());
        (written, out)
    }

    #[test]
    fn names_round_trip() {
        for attack in Attack::ALL {
            assert_eq!(Attack::from_name(attack.name()), Some(attack));
        }
        assert_eq!(Attack::from_name("nope"), None);
    }

    #[test]
    fn every_attack_writes_a_readable_capture_of_the_announced_size() {
        for attack in Attack::ALL {
            let (written, frames) = frames(attack, 10);
            assert_eq!(written, frames.len() as u64, "{}", attack.name());
            assert!(frames.len() >= 10, "{}", attack.name());
        }
    }

    #[test]
    fn half_pdus_are_a_syn_and_half_a_request_per_connection() {
        let (_, frames) = frames(Attack::HalfPdus, 3);
        assert_eq!(frames.len(), 6);
        // Ethernet 14 + IPv4 20 + TCP 20, then the first 200 bytes of a 400-byte request:
        // version 5.0, PTYPE 0 (request), FIRST|LAST, little-endian, frag_length 400.
        let data = &frames[1][54..];
        assert_eq!(data.len(), 200);
        assert_eq!(&data[..4], &[5, 0, 0, 3]);
        assert_eq!(u16::from_le_bytes([data[8], data[9]]), 400);
        // Each connection has its own client address.
        assert_ne!(frames[1][26..30], frames[3][26..30]);
    }

    #[test]
    fn endless_fragments_repeat_a_middle_fragment() {
        let (_, frames) = frames(Attack::EndlessFragments, 2);
        // Two connections (handshake 3 + bind + bind_ack each), a FIRST fragment on each,
        // then 2 middle fragments.
        assert_eq!(frames.len(), 2 * (3 + 2) + 2 + 2);
        for f in &frames[10..12] {
            assert_eq!(f[54 + 3], 1, "PFC_FIRST_FRAG only");
        }
        for f in &frames[12..] {
            assert_eq!(f[54 + 3], 0, "neither FIRST nor LAST");
        }
        assert_ne!(
            frames[12][26..30],
            frames[13][26..30],
            "connections in turn"
        );
    }

    #[test]
    fn ip_fragments_never_carry_the_first_fragment() {
        let (_, frames) = frames(Attack::IpFragments, 2 * 43);
        // 65,000 bytes in 1480-byte fragments: 44 fragments, the first one missing.
        assert_eq!(frames.len(), 2 * 43);
        for f in &frames {
            let flags_offset = u16::from_be_bytes([f[20], f[21]]);
            assert_ne!(flags_offset & 0x1fff, 0, "no fragment at offset 0");
        }
        let last = u16::from_be_bytes([frames[42][20], frames[42][21]]);
        assert_eq!(last & 0x2000, 0, "the last fragment ends the datagram");
        assert_eq!((last & 0x1fff) as usize * 8, 43 * 1480);
    }

    #[test]
    fn combined_plays_every_other_attack_in_turn() {
        let (written, _) = frames(Attack::Combined, 3);
        let parts: u64 = Attack::ALL
            .into_iter()
            .filter(|a| *a != Attack::Combined)
            .map(|a| frames(a, 3).0)
            .sum();
        assert_eq!(written, parts);
    }
}
