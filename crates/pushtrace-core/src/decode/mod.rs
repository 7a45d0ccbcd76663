//! Link layer → IPv4/IPv6 → TCP | UDP | ICMP, decoded as far as the captured bytes go.
//!
//! [`Decoder::decode`] turns one captured [`Frame`] into a [`Decoded`] outcome:
//!
//! * `link` strips the link header (formats.md §1.4; NetMon media are already mapped onto
//!   pcap link types, §3.5): Ethernet II, 802.3 LLC/SNAP, 802.1Q/QinQ, Linux SLL/SLL2, raw IP,
//!   BSD NULL/LOOP, Token Ring, FDDI, PPP.
//! * `ip` slices IPv4 (options) / IPv6 (extension headers) and TCP, UDP, ICMP with
//!   etherparse (formats.md §5.3): strict slicing for whole frames, lax slicing for frames cut
//!   by the snap length (they decode as far as their bytes go and are marked `truncated`) and
//!   for packets the strict slicer refuses. Lengths come from the IP/UDP headers, so Ethernet
//!   padding never reaches a payload. Checksums are never checked.
//! * `icmp` decodes the datagram an ICMPv4 type 3 / ICMPv6 type 1 error quotes
//!   (protocol.md §6).
//! * `defrag` reassembles fragmented UDP datagrams under caps ([`DefragLimits`]); fragments
//!   of other protocols are counted and passed on undecoded.
//!
//! The decoder keeps counters ([`DecodeStats`]) and raises one [`Warning`] per kind of cap
//! event or unsupported link type. Apart from ICMP quotes (a short `Vec`) and fragment
//! buffers, decoding allocates nothing: payloads borrow the frame.

mod defrag;
mod icmp;
mod ip;
mod link;

pub use defrag::DefragLimits;
pub(crate) use link::source_mac;

use crate::{Frame, LinkType, Warning};
use defrag::{AddOutcome, CapsHit, Fragment, FragmentKey, Reassembler};
use ip::{FragmentView, IpOutcome};
use link::LinkResult;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// IP protocol number of UDP.
const PROTOCOL_UDP: u8 = 17;
/// Distinct unsupported link types that get their own warning (all are counted).
const MAX_LINK_WARNINGS: usize = 32;

/// The outcome of decoding one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// An IP packet (possibly reassembled from fragments, possibly cut by the snap length).
    Packet(Packet<'a>),
    /// A frame that carries no IP (ARP, LLDP, STP, other ethertypes).
    NotIp,
    /// A link type the decoder cannot read.
    UnsupportedLink(LinkType),
    /// A frame whose headers are cut or inconsistent; the reason is a stable short phrase.
    Malformed(&'static str),
    /// An IP fragment of a UDP datagram, kept until the datagram is complete.
    FragmentHeld,
}

/// Counters over every frame given to a [`Decoder`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    /// Frames decoded.
    pub frames: u64,
    /// Frames that gave a [`Decoded::Packet`] (reassembled datagrams included).
    pub packets: u64,
    /// Packets carrying TCP.
    pub tcp: u64,
    /// Packets carrying UDP.
    pub udp: u64,
    /// Packets carrying an ICMP/ICMPv6 destination unreachable.
    pub icmp_unreachable: u64,
    /// Packets carrying other ICMP, another protocol, or a transport header cut short.
    pub other_transport: u64,
    /// Packets cut by the snap length before the end of the IP packet, plus frames whose IP
    /// header itself was cut.
    pub truncated: u64,
    /// Frames without IP ([`Decoded::NotIp`]).
    pub not_ip: u64,
    /// Frames of unsupported link types ([`Decoded::UnsupportedLink`]).
    pub unsupported_link: u64,
    /// The same, per link type.
    pub unsupported_link_types: BTreeMap<LinkType, u64>,
    /// Malformed frames ([`Decoded::Malformed`]).
    pub malformed: u64,
    /// The same, per reason.
    pub malformed_reasons: BTreeMap<&'static str, u64>,
    /// IP fragments and their reassembly.
    pub fragments: FragmentStats,
}

impl DecodeStats {
    /// Counts a packet by its transport and truncation, and passes it on.
    #[inline(always)]
    fn count_packet<'a>(&mut self, packet: Packet<'a>) -> Decoded<'a> {
        self.packets += 1;
        if packet.truncated {
            self.truncated += 1;
        }
        let counter = match packet.transport {
            Transport::Tcp(_) => &mut self.tcp,
            Transport::Udp(_) => &mut self.udp,
            Transport::IcmpUnreachable(_) => &mut self.icmp_unreachable,
            Transport::OtherIcmp | Transport::Other(_) => &mut self.other_transport,
        };
        *counter += 1;
        Decoded::Packet(packet)
    }

    /// Counts a malformed frame by reason.
    fn count_malformed<'a>(&mut self, reason: &'static str) -> Decoded<'a> {
        self.malformed += 1;
        *self.malformed_reasons.entry(reason).or_insert(0) += 1;
        Decoded::Malformed(reason)
    }
}

/// The bulk of most captures, decoded inline without the link shims: a whole Ethernet II
/// frame (no VLAN tag) whose ethertype announces the IP version its packet has, in the
/// common case of [`ip::common_case`]. `None` for anything else, which takes the general
/// path; where this answers, the general path answers the same (tested). Inlined, the
/// packet is built once, where the caller wants it: the general path moves it through
/// several enums, which costs more than the decoding.
#[inline(always)]
fn ethernet_common_case<'a>(frame: &Frame<'a>) -> Option<Packet<'a>> {
    if frame.link != LinkType::ETHERNET || frame.is_truncated() {
        return None;
    }
    let ip = frame.data.get(14..)?;
    match (frame.data.get(12..14)?, ip.first()? >> 4) {
        ([0x08, 0x00], 4) | ([0x86, 0xDD], 6) => {}
        _ => return None,
    }
    match ip::common_case(ip)? {
        IpOutcome::Packet(packet) => Some(packet),
        _ => None,
    }
}

/// Counters of IP fragments and reassembly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FragmentStats {
    /// IP fragments seen.
    pub fragments: u64,
    /// Fragments held for reassembly ([`Decoded::FragmentHeld`]).
    pub held: u64,
    /// Fragments of protocols other than UDP (e.g. TCP): passed on undecoded, not reassembled.
    pub other_protocol: u64,
    /// UDP fragments cut by the snap length: unusable for reassembly.
    pub truncated: u64,
    /// Datagrams reassembled.
    pub datagrams_reassembled: u64,
    /// Datagrams dropped because a cap ([`DefragLimits`]) bit.
    pub datagrams_dropped_cap: u64,
    /// Datagrams dropped because they stayed incomplete longer than the timeout.
    pub datagrams_dropped_timeout: u64,
    /// Datagrams dropped because their fragments contradicted each other.
    pub datagrams_dropped_invalid: u64,
    /// Datagrams still incomplete.
    pub datagrams_in_flight: u64,
}

/// Decodes frames one by one, keeping fragment reassembly state and counters.
#[derive(Debug)]
pub struct Decoder {
    reassembler: Reassembler,
    stats: DecodeStats,
    warnings: Vec<Warning>,
    warned_datagram_cap: bool,
    warned_byte_cap: bool,
}

impl Default for Decoder {
    /// A decoder with [`DefragLimits::default`].
    fn default() -> Self {
        Decoder::new(DefragLimits::default())
    }
}

impl Decoder {
    /// A decoder whose fragment reassembly obeys `limits`.
    pub fn new(limits: DefragLimits) -> Self {
        Decoder {
            reassembler: Reassembler::new(limits),
            stats: DecodeStats::default(),
            warnings: Vec::new(),
            warned_datagram_cap: false,
            warned_byte_cap: false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Warnings raised so far (one per kind of cap event, one per unsupported link type),
    /// drained.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// Decodes one frame. A datagram completed from fragments borrows the decoder's
    /// reassembly buffer, valid until the next call.
    ///
    /// The common case is decoded inline, so that the packet is built where the caller
    /// keeps it (moving it out of a call stalled on store forwarding); the rest is not.
    #[inline(always)]
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        self.stats.frames += 1;
        if let Some(packet) = ethernet_common_case(frame) {
            return self.stats.count_packet(packet);
        }
        self.decode_link(frame)
    }

    /// [`Decoder::decode`] past the common case: every link type, through the link shims.
    #[inline(never)]
    fn decode_link<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        let ip = match link::strip(frame.link, frame.data) {
            LinkResult::Ip(ip) => ip,
            LinkResult::NotIp => {
                self.stats.not_ip += 1;
                return Decoded::NotIp;
            }
            LinkResult::Unsupported => return self.unsupported_link(frame),
            LinkResult::Malformed(reason) => return self.stats.count_malformed(reason),
        };
        match ip::decode(ip.bytes, !frame.is_truncated()) {
            IpOutcome::Packet(packet) => self.stats.count_packet(packet),
            IpOutcome::Fragment(fragment) => self.fragment(frame, fragment, ip.vlans),
            IpOutcome::Malformed(reason, cut) => {
                if cut {
                    self.stats.truncated += 1;
                }
                self.stats.count_malformed(reason)
            }
        }
    }

    fn unsupported_link<'a>(&mut self, frame: &Frame<'_>) -> Decoded<'a> {
        self.stats.unsupported_link += 1;
        let types = &mut self.stats.unsupported_link_types;
        let first_of_its_type = !types.contains_key(&frame.link);
        *types.entry(frame.link).or_insert(0) += 1;
        if first_of_its_type && types.len() <= MAX_LINK_WARNINGS {
            self.warnings.push(
                Warning::new(
                    "unsupported_link_type",
                    format!(
                        "frames of link type {} cannot be decoded and are skipped",
                        frame.link
                    ),
                )
                .at_frame(frame.number),
            );
        }
        Decoded::UnsupportedLink(frame.link)
    }

    /// An IP fragment: UDP goes to the reassembler; fragments of other protocols, cut ones
    /// and those a cap drops are passed on undecoded (`Transport::Other`).
    fn fragment<'a>(
        &'a mut self,
        frame: &Frame<'a>,
        fragment: FragmentView<'a>,
        vlans: [u16; 2],
    ) -> Decoded<'a> {
        let fragments = &mut self.stats.fragments;
        fragments.fragments += 1;
        let undecoded = Packet {
            src: fragment.src,
            dst: fragment.dst,
            transport: Transport::Other(fragment.protocol),
            truncated: fragment.truncated,
            hop_limit: 0,
            ip_id: None,
            transport_bytes: &[],
        };
        if fragment.protocol != PROTOCOL_UDP {
            fragments.other_protocol += 1;
            return self.stats.count_packet(undecoded);
        }
        if fragment.truncated {
            fragments.truncated += 1;
            return self.stats.count_packet(undecoded);
        }
        let key = FragmentKey {
            src: fragment.src,
            dst: fragment.dst,
            id: fragment.id,
            protocol: fragment.protocol,
            vlans,
        };
        let piece = Fragment {
            offset: fragment.offset,
            more: fragment.more,
            data: fragment.data,
            ts_ns: frame.ts_ns,
        };
        let (outcome, caps) = self.reassembler.add(fragments, key, piece);
        self.warn_caps(caps, frame.number);
        match outcome {
            AddOutcome::Held => {
                self.stats.fragments.held += 1;
                Decoded::FragmentHeld
            }
            AddOutcome::Refused(reason) => self.stats.count_malformed(reason),
            AddOutcome::Dropped => self.stats.count_packet(undecoded),
            AddOutcome::Completed => self.reassembled(fragment.src, fragment.dst),
        }
    }

    /// The UDP datagram the reassembler just completed, borrowed from its buffer.
    fn reassembled<'a>(&'a mut self, src: IpAddr, dst: IpAddr) -> Decoded<'a> {
        // Split the borrow: the datagram borrows the reassembler for 'a, the counters stay usable.
        let Decoder {
            reassembler, stats, ..
        } = self;
        let datagram: &'a [u8] = reassembler.completed();
        match etherparse::UdpSlice::from_slice_lax(datagram) {
            Ok(udp) => {
                let udp = ip::udp_datagram(&udp, datagram.len());
                stats.count_packet(Packet {
                    src,
                    dst,
                    transport: Transport::Udp(udp),
                    truncated: false,
                    hop_limit: 0,
                    ip_id: None,
                    transport_bytes: &[],
                })
            }
            Err(_) => stats.count_malformed("reassembled udp datagram shorter than its header"),
        }
    }

    /// Raises the warning for each cap that bit, once per kind of cap.
    fn warn_caps(&mut self, caps: CapsHit, frame_number: u64) {
        let kinds = [
            (
                caps.datagrams,
                &mut self.warned_datagram_cap,
                "ip_defrag_datagram_cap",
                "too many fragmented IP datagrams in flight: the oldest incomplete ones were dropped",
            ),
            (
                caps.bytes,
                &mut self.warned_byte_cap,
                "ip_defrag_byte_cap",
                "fragmented IP datagrams in flight hold too many bytes: incomplete ones were dropped",
            ),
        ];
        for (hit, warned, code, message) in kinds {
            if hit && !*warned {
                *warned = true;
                self.warnings
                    .push(Warning::new(code, message).at_frame(frame_number));
            }
        }
    }
}

/// TCP control flags pushtrace cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
}

/// A TCP segment's header fields and payload (payload may be cut by the snap length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length on the wire according to the IP length (≥ `payload.len()`).
    pub wire_payload_len: u32,
}

/// A UDP datagram (payload may be cut by the snap length, or reassembled from fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length according to the UDP header (≥ `payload.len()` when cut).
    pub wire_payload_len: u32,
}

/// The datagram an ICMP error quotes (IP header + at least the UDP/TCP ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedDatagram {
    /// Source address of the datagram that failed.
    pub src: IpAddr,
    /// Destination address of the datagram that failed.
    pub dst: IpAddr,
    /// IP protocol number of the quoted datagram (17 = UDP).
    pub protocol: u8,
    /// Quoted source port, when the quote reaches it.
    pub src_port: Option<u16>,
    /// Quoted destination port, when the quote reaches it.
    pub dst_port: Option<u16>,
    /// IPv4 identification of the quoted datagram (None for IPv6).
    pub ip_id: Option<u16>,
    /// Quoted transport payload bytes after the UDP header, at most 64 of them.
    pub payload_prefix: Vec<u8>,
}

/// An ICMPv4 type 3 or ICMPv6 type 1 destination-unreachable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpUnreachable {
    /// True for ICMPv6.
    pub v6: bool,
    /// The code (3 = port unreachable for v4, 4 for v6; 13 / 1 = administratively prohibited).
    pub code: u8,
    /// The quoted datagram, when it could be decoded.
    pub quoted: Option<QuotedDatagram>,
}

/// The transport part of a decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// An ICMP/ICMPv6 destination-unreachable error (boxed: rare, and the largest variant,
    /// so every other packet stays small enough to be moved without a `memcpy` call).
    IcmpUnreachable(Box<IcmpUnreachable>),
    /// Any other ICMP/ICMPv6 message (echo, neighbour discovery, ...).
    OtherIcmp,
    /// Another IP protocol (number given), a transport header cut before its end or invalid,
    /// or an IP fragment that is not reassembled (not UDP, cut, or dropped by a cap).
    Other(u8),
}

/// An IP packet with its transport layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// The transport layer.
    pub transport: Transport<'a>,
    /// True when the frame was cut by the snap length before the end of the IP packet.
    pub truncated: bool,
    /// TTL (IPv4) or hop limit (IPv6) as captured; 0 for a fragment or a datagram
    /// reassembled from fragments (their headers are not kept).
    pub hop_limit: u8,
    /// The IPv4 identification (`None` for IPv6 and reassembled datagrams): with the
    /// addresses and ports it names one packet wherever it is captured.
    pub ip_id: Option<u16>,
    /// The transport header and payload as captured, bounded by the IP length fields (what a
    /// transport checksum covers); empty for fragments and reassembled datagrams.
    pub transport_bytes: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const CLIENT: [u8; 4] = [192, 168, 0, 173];
    const SERVER: [u8; 4] = [192, 168, 0, 2];
    const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
    const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB];

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame {
            number: 1,
            ts_ns: 0,
            link,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            options: Default::default(),
        }
    }

    fn at(number: u64, ts_ns: i64, data: &[u8]) -> Frame<'_> {
        Frame {
            number,
            ts_ns,
            link: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            options: Default::default(),
        }
    }

    fn v4(addr: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(addr))
    }

    /// Ethernet II + IPv4 + UDP 1032 → 1073 carrying `payload`.
    fn ethernet_udp(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(SERVER, CLIENT, 128)
            .udp(1032, 1073)
            .write(&mut bytes, payload)
            .unwrap();
        bytes
    }

    /// Raw IPv4 + UDP 1032 → 1073 carrying `payload`.
    fn raw_udp(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(SERVER, CLIENT, 128)
            .udp(1032, 1073)
            .write(&mut bytes, payload)
            .unwrap();
        bytes
    }

    fn udp_of(decoded: Decoded<'_>) -> (IpAddr, IpAddr, UdpDatagram<'_>) {
        match decoded {
            Decoded::Packet(Packet {
                src,
                dst,
                transport: Transport::Udp(udp),
                truncated: false,
                ..
            }) => (src, dst, udp),
            other => panic!("expected a whole UDP packet, got {other:?}"),
        }
    }

    #[test]
    fn udp_over_every_link_type() {
        let ip = raw_udp(b"notify");
        let snap_ipv4: &[u8] = &[0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00];
        let macs: &[u8] = &[MAC_A, MAC_B].concat();
        let cases: Vec<(LinkType, Vec<u8>)> = vec![
            (LinkType::ETHERNET, ethernet_udp(b"notify")),
            // 802.3 length = LLC/SNAP (8) + IP packet.
            (
                LinkType::ETHERNET,
                [macs, &((8 + ip.len()) as u16).to_be_bytes(), snap_ipv4, &ip].concat(),
            ),
            // 802.1Q VID 10 then QinQ 88A8 VID 20 / 8100 VID 30.
            (
                LinkType::ETHERNET,
                [macs, &[0x81, 0x00, 0x00, 0x0A, 0x08, 0x00], &ip].concat(),
            ),
            (
                LinkType::ETHERNET,
                [
                    macs,
                    &[0x88, 0xA8, 0x00, 0x14, 0x81, 0x00, 0x00, 0x1E, 0x08, 0x00],
                    &ip,
                ]
                .concat(),
            ),
            (LinkType::RAW, ip.clone()),
            (LinkType::RAW_DLT12, ip.clone()),
            (LinkType::RAW_DLT14, ip.clone()),
            (LinkType::IPV4, ip.clone()),
            (LinkType::NULL, [&[2, 0, 0, 0], &ip[..]].concat()),
            (LinkType::NULL, [&[0, 0, 0, 2], &ip[..]].concat()),
            (LinkType::LOOP, [&[0, 0, 0, 2], &ip[..]].concat()),
            (
                LinkType::LINUX_SLL,
                [&[0, 0, 0, 1, 0, 6], &MAC_A[..], &[0, 0, 0x08, 0x00], &ip].concat(),
            ),
            (
                LinkType::LINUX_SLL2,
                [
                    &[0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6],
                    &MAC_A[..],
                    &[0, 0],
                    &ip,
                ]
                .concat(),
            ),
            (
                LinkType::TOKEN_RING,
                [&[0x10, 0x40], macs, snap_ipv4, &ip].concat(),
            ),
            (LinkType::FDDI, [&[0x50], macs, snap_ipv4, &ip].concat()),
            (
                LinkType::Pcap(9),
                [&[0xFF, 0x03, 0x00, 0x21], &ip[..]].concat(),
            ),
        ];
        for (link, bytes) in &cases {
            let mut decoder = Decoder::default();
            let (src, dst, udp) = udp_of(decoder.decode(&frame(*link, bytes)));
            assert_eq!((src, dst), (v4(SERVER), v4(CLIENT)), "{link}");
            assert_eq!(
                (
                    udp.src_port,
                    udp.dst_port,
                    udp.payload,
                    udp.wire_payload_len
                ),
                (1032, 1073, &b"notify"[..], 6)
            );
        }
    }

    #[test]
    fn ipv6_tcp_over_ethernet() {
        let mut bytes = Vec::new();
        let src: [u8; 16] = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        let dst: [u8; 16] = "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(src, dst, 64)
            .tcp(6001, 50000, 1000, 512)
            .fin()
            .ack(77)
            .write(&mut bytes, b"rpc")
            .unwrap();
        let mut decoder = Decoder::default();
        let Decoded::Packet(packet) = decoder.decode(&frame(LinkType::ETHERNET, &bytes)) else {
            panic!()
        };
        assert_eq!(packet.src, IpAddr::V6(Ipv6Addr::from(src)));
        let Transport::Tcp(tcp) = packet.transport else {
            panic!()
        };
        assert_eq!(
            (tcp.src_port, tcp.dst_port, tcp.seq, tcp.ack),
            (6001, 50000, 1000, 77)
        );
        assert_eq!(
            tcp.flags,
            TcpFlags {
                syn: false,
                ack: true,
                fin: true,
                rst: false
            }
        );
        assert_eq!(tcp.payload, b"rpc");
    }

    #[test]
    fn ethernet_padding_stays_out_of_the_payload() {
        // 14 + 20 + 8 + 2 = 44 bytes; pad to the 60-byte Ethernet minimum with 0xEE.
        let mut bytes = ethernet_udp(b"hi");
        bytes.resize(60, 0xEE);
        let mut decoder = Decoder::default();
        let (_, _, udp) = udp_of(decoder.decode(&frame(LinkType::ETHERNET, &bytes)));
        assert_eq!(udp.payload, b"hi");
        assert_eq!(decoder.stats().truncated, 0);
    }

    #[test]
    fn snaplen_60_cuts_a_tcp_frame() {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(SERVER, CLIENT, 128)
            .tcp(135, 49731, 7, 65535)
            .ack(9)
            .write(&mut bytes, &[0x05; 200])
            .unwrap();
        let cut = Frame {
            number: 3,
            ts_ns: 0,
            link: LinkType::ETHERNET,
            data: &bytes[..60],
            orig_len: bytes.len() as u32,
            interface: 0,
            options: Default::default(),
        };
        let mut decoder = Decoder::default();
        let Decoded::Packet(packet) = decoder.decode(&cut) else {
            panic!()
        };
        assert!(packet.truncated);
        let Transport::Tcp(tcp) = packet.transport else {
            panic!()
        };
        // 60 - 14 (Ethernet) - 20 (IPv4) - 20 (TCP) = 6 captured payload bytes.
        assert_eq!(
            (tcp.payload, tcp.wire_payload_len, tcp.seq),
            (&[0x05; 6][..], 200, 7)
        );
        assert_eq!(decoder.stats().truncated, 1);
    }

    #[test]
    fn icmpv4_port_unreachable_through_the_decoder() {
        // The client answers the notification datagram (server:1032 → client:1073) with a
        // port unreachable that quotes its IP header and the whole UDP datagram.
        let notification = raw_udp(&[0xAB; 16]);
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(CLIENT, SERVER, 128)
            .icmpv4_raw(3, 3, [0; 4])
            .write(&mut bytes, &notification)
            .unwrap();
        let mut decoder = Decoder::default();
        let Decoded::Packet(packet) = decoder.decode(&frame(LinkType::ETHERNET, &bytes)) else {
            panic!()
        };
        assert_eq!((packet.src, packet.dst), (v4(CLIENT), v4(SERVER)));
        let Transport::IcmpUnreachable(unreachable) = packet.transport else {
            panic!()
        };
        assert_eq!((unreachable.v6, unreachable.code), (false, 3));
        let quoted = unreachable.quoted.unwrap();
        assert_eq!(
            (quoted.src, quoted.dst, quoted.protocol),
            (v4(SERVER), v4(CLIENT), 17)
        );
        assert_eq!((quoted.src_port, quoted.dst_port), (Some(1032), Some(1073)));
        assert_eq!(
            quoted.ip_id,
            Some(u16::from_be_bytes([notification[4], notification[5]]))
        );
        assert_eq!(quoted.payload_prefix, vec![0xAB; 16]);
        assert_eq!(decoder.stats().icmp_unreachable, 1);
    }

    #[test]
    fn icmpv6_destination_unreachable() {
        let server: [u8; 16] = "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets();
        let client: [u8; 16] = "2001:db8::ad".parse::<Ipv6Addr>().unwrap().octets();
        let mut quoted = Vec::new();
        PacketBuilder::ipv6(server, client, 64)
            .udp(1032, 1073)
            .write(&mut quoted, b"ctx")
            .unwrap();
        let mut bytes = Vec::new();
        PacketBuilder::ipv6(client, server, 64)
            .icmpv6_raw(1, 4, [0; 4])
            .write(&mut bytes, &quoted)
            .unwrap();
        let mut decoder = Decoder::default();
        let Decoded::Packet(packet) = decoder.decode(&frame(LinkType::RAW, &bytes)) else {
            panic!()
        };
        let Transport::IcmpUnreachable(unreachable) = packet.transport else {
            panic!()
        };
        assert_eq!((unreachable.v6, unreachable.code), (true, 4));
        let quoted = unreachable.quoted.unwrap();
        assert_eq!(quoted.dst, IpAddr::V6(Ipv6Addr::from(client)));
        assert_eq!(
            (
                quoted.protocol,
                quoted.src_port,
                quoted.dst_port,
                quoted.ip_id
            ),
            (17, Some(1032), Some(1073), None)
        );
        assert_eq!(quoted.payload_prefix, b"ctx");
    }

    #[test]
    fn not_ip_malformed_and_unsupported_are_counted() {
        let mut decoder = Decoder::default();
        let arp = [&MAC_A[..], &MAC_B, &[0x08, 0x06], &[0u8; 28]].concat();
        assert_eq!(
            decoder.decode(&frame(LinkType::ETHERNET, &arp)),
            Decoded::NotIp
        );
        assert_eq!(
            decoder.decode(&frame(LinkType::ETHERNET, &arp[..10])),
            Decoded::Malformed("ethernet header cut")
        );
        for link in [
            LinkType::Pcap(105),
            LinkType::Pcap(105),
            LinkType::NetMon(0xE083),
        ] {
            assert_eq!(
                decoder.decode(&frame(link, &arp)),
                Decoded::UnsupportedLink(link)
            );
        }
        let stats = decoder.stats();
        assert_eq!(
            (
                stats.frames,
                stats.not_ip,
                stats.malformed,
                stats.unsupported_link
            ),
            (5, 1, 1, 3)
        );
        assert_eq!(stats.malformed_reasons.get("ethernet header cut"), Some(&1));
        assert_eq!(
            stats.unsupported_link_types.get(&LinkType::Pcap(105)),
            Some(&2)
        );
        let json = serde_json::to_value(stats).unwrap();
        assert_eq!(json["unsupported_link_types"]["IEEE802_11"], 2);
        let warnings = decoder.take_warnings();
        assert_eq!(
            warnings.len(),
            2,
            "one warning per unsupported link type: {warnings:?}"
        );
        assert!(warnings.iter().all(|w| w.code == "unsupported_link_type"));
        assert!(decoder.take_warnings().is_empty());
    }

    /// Raw IPv4 fragment of a UDP datagram: `data` sits at byte `offset` of the UDP datagram.
    fn ipv4_fragment(id: u16, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let total = (20 + data.len()) as u16;
        let flags_offset = (offset / 8) | if more { 0x2000 } else { 0 };
        let mut bytes = vec![0x45, 0x00];
        bytes.extend_from_slice(&total.to_be_bytes());
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&flags_offset.to_be_bytes());
        bytes.extend_from_slice(&[64, 17, 0, 0]); // TTL, UDP, checksum (unchecked)
        bytes.extend_from_slice(&SERVER);
        bytes.extend_from_slice(&CLIENT);
        bytes.extend_from_slice(data);
        bytes
    }

    /// A UDP datagram 1032 → 1073 with 40 payload bytes 0..40 (checksum 0).
    fn udp_datagram_bytes() -> Vec<u8> {
        let mut udp = vec![0x04, 0x08, 0x04, 0x31, 0x00, 48, 0x00, 0x00];
        udp.extend(0..40u8);
        udp
    }

    #[test]
    fn ipv4_fragments_in_order_out_of_order_and_duplicated() {
        let udp = udp_datagram_bytes();
        let pieces = [
            ipv4_fragment(7, 0, true, &udp[..16]),
            ipv4_fragment(7, 16, true, &udp[16..32]),
            ipv4_fragment(7, 32, false, &udp[32..]),
        ];
        for order in [vec![0, 1, 2], vec![2, 1, 0], vec![1, 1, 0, 2]] {
            let mut decoder = Decoder::default();
            let (last, held) = order.split_last().unwrap();
            for &i in held {
                assert_eq!(decoder.decode(&at(1, 0, &pieces[i])), Decoded::FragmentHeld);
            }
            let (src, dst, datagram) = udp_of(decoder.decode(&at(2, 0, &pieces[*last])));
            assert_eq!(
                (src, dst, datagram.src_port, datagram.dst_port),
                (v4(SERVER), v4(CLIENT), 1032, 1073)
            );
            assert_eq!(datagram.payload, &udp[8..]);
            assert_eq!(datagram.wire_payload_len, 40);
            let fragments = &decoder.stats().fragments;
            assert_eq!(
                (
                    fragments.fragments,
                    fragments.held,
                    fragments.datagrams_reassembled
                ),
                (order.len() as u64, held.len() as u64, 1)
            );
            assert_eq!(decoder.stats().udp, 1);
        }
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let src: [u8; 16] = "fe80::2".parse::<Ipv6Addr>().unwrap().octets();
        let dst: [u8; 16] = "fe80::ad".parse::<Ipv6Addr>().unwrap().octets();
        let fragment = |offset: u16, more: bool, data: &[u8]| {
            let mut bytes = vec![0x60, 0, 0, 0];
            bytes.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            bytes.extend_from_slice(&[44, 64]); // next header Fragment, hop limit
            bytes.extend_from_slice(&src);
            bytes.extend_from_slice(&dst);
            // Fragment header: next header UDP, reserved, offset (13 bits) | M, id 0xCAFE.
            bytes.extend_from_slice(&[17, 0]);
            bytes.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
            bytes.extend_from_slice(&0xCAFEu32.to_be_bytes());
            bytes.extend_from_slice(data);
            bytes
        };
        let udp = udp_datagram_bytes();
        let first = fragment(0, true, &udp[..24]);
        let second = fragment(24, false, &udp[24..]);
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(&at(1, 0, &second)), Decoded::FragmentHeld);
        let (src_ip, _, datagram) = udp_of(decoder.decode(&at(2, 0, &first)));
        assert_eq!(src_ip, IpAddr::V6(Ipv6Addr::from(src)));
        assert_eq!((datagram.dst_port, datagram.payload), (1073, &udp[8..]));
    }

    #[test]
    fn fragments_never_completed_time_out() {
        let udp = udp_datagram_bytes();
        let limits = DefragLimits {
            timeout_ns: 1_000_000_000,
            ..DefragLimits::default()
        };
        let mut decoder = Decoder::new(limits);
        assert_eq!(
            decoder.decode(&at(1, 0, &ipv4_fragment(1, 0, true, &udp[..16]))),
            Decoded::FragmentHeld
        );
        assert_eq!(decoder.stats().fragments.datagrams_in_flight, 1);
        // Two seconds later another datagram's fragment arrives: the first one is given up.
        assert_eq!(
            decoder.decode(&at(
                2,
                2_000_000_000,
                &ipv4_fragment(2, 0, true, &udp[..16])
            )),
            Decoded::FragmentHeld
        );
        // Its tail now starts a new datagram instead of completing the old one.
        assert_eq!(
            decoder.decode(&at(
                3,
                2_000_000_000,
                &ipv4_fragment(1, 16, false, &udp[16..])
            )),
            Decoded::FragmentHeld
        );
        let fragments = &decoder.stats().fragments;
        assert_eq!(
            (
                fragments.datagrams_dropped_timeout,
                fragments.datagrams_in_flight
            ),
            (1, 2)
        );
        assert!(
            decoder.take_warnings().is_empty(),
            "timeouts are counted, not warned about"
        );
    }

    #[test]
    fn reassembly_caps_warn_once_per_kind() {
        let udp = udp_datagram_bytes();
        let limits = DefragLimits {
            max_datagrams: 2,
            max_bytes: 64,
            ..DefragLimits::default()
        };
        let mut decoder = Decoder::new(limits);
        for id in 1..=4 {
            decoder.decode(&at(
                u64::from(id),
                0,
                &ipv4_fragment(id, 0, true, &udp[..16]),
            ));
        }
        // A fragment at offset 64 needs 80 bytes alone: over the byte cap, passed on undecoded.
        let far = ipv4_fragment(9, 64, true, &udp[..16]);
        let Decoded::Packet(packet) = decoder.decode(&at(5, 0, &far)) else {
            panic!()
        };
        assert_eq!(packet.transport, Transport::Other(17));
        let fragments = &decoder.stats().fragments;
        assert_eq!(
            (
                fragments.datagrams_dropped_cap,
                fragments.datagrams_in_flight
            ),
            (3, 2)
        );
        let codes: Vec<_> = decoder
            .take_warnings()
            .iter()
            .map(|w| (w.code, w.frame))
            .collect();
        assert_eq!(
            codes,
            [
                ("ip_defrag_datagram_cap", Some(3)),
                ("ip_defrag_byte_cap", Some(5))
            ]
        );
    }

    #[test]
    fn tcp_and_cut_fragments_are_passed_on_undecoded() {
        let mut tcp_fragment = ipv4_fragment(5, 0, true, &[0; 24]);
        tcp_fragment[9] = 6;
        let mut decoder = Decoder::default();
        let Decoded::Packet(packet) = decoder.decode(&at(1, 0, &tcp_fragment)) else {
            panic!()
        };
        assert_eq!(
            (packet.transport, packet.truncated),
            (Transport::Other(6), false)
        );

        let udp_fragment = ipv4_fragment(6, 0, true, &[0; 24]);
        let Decoded::Packet(packet) = decoder.decode(&at(2, 0, &udp_fragment[..30])) else {
            panic!()
        };
        assert_eq!(
            (packet.transport, packet.truncated),
            (Transport::Other(17), true)
        );
        let fragments = &decoder.stats().fragments;
        assert_eq!(
            (
                fragments.fragments,
                fragments.other_protocol,
                fragments.truncated,
                fragments.held
            ),
            (2, 1, 1, 0)
        );
    }

    #[test]
    fn misaligned_fragment_is_malformed() {
        let mut decoder = Decoder::default();
        let odd = ipv4_fragment(5, 0, true, &[0; 13]);
        assert_eq!(
            decoder.decode(&at(1, 0, &odd)),
            Decoded::Malformed("ip fragment length not a multiple of 8")
        );
    }

    const ALL_LINKS: [LinkType; 16] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::TOKEN_RING,
        LinkType::Pcap(9),
        LinkType::FDDI,
        LinkType::RAW_DLT12,
        LinkType::RAW_DLT14,
        LinkType::RAW,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::LINUX_SLL2,
        LinkType::Pcap(105),
        LinkType::NetMon(6),
        LinkType::NetMon(0xFFE0),
    ];

    /// The inline common case against the general path, byte by byte: every header byte of
    /// TCP/IPv4, TCP/IPv6 and UDP/IPv4 frames, under either IP ethertype, set to values that
    /// matter (ethertypes, version and IHL nibbles, protocols, data offsets), the frame whole
    /// or cut.
    #[test]
    fn the_common_case_agrees_with_the_general_path_on_every_header_byte() {
        let v6 = |last| [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last];
        let mut bases = Vec::new();
        for tcp in [true, false] {
            let mut data = Vec::new();
            let ip = PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4(CLIENT, SERVER, 128);
            if tcp {
                ip.tcp(49_731, 1032, 7, 64_240)
                    .write(&mut data, b"0123456789")
                    .unwrap();
            } else {
                ip.udp(1032, 1088).write(&mut data, b"0123456789").unwrap();
            }
            bases.push(data);
        }
        let mut data = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(v6(1), v6(2), 64)
            .tcp(49_731, 1032, 7, 64_240)
            .write(&mut data, b"0123456789")
            .unwrap();
        bases.push(data);
        let values = [
            0x00, 0x05, 0x06, 0x08, 0x11, 0x14, 0x45, 0x46, 0x50, 0x60, 0x81, 0x86, 0xDD, 0xFF,
        ];
        for (base, ethertype) in bases
            .iter()
            .flat_map(|b| [(b, [0x08, 0x00]), (b, [0x86, 0xDD])])
        {
            for at in 0..base.len() {
                for value in values {
                    let mut data = base.clone();
                    data[12..14].copy_from_slice(&ethertype);
                    data[at] = value;
                    for len in [data.len(), at + 1] {
                        let f = frame(LinkType::ETHERNET, &data[..len]);
                        let mut general = Decoder::default();
                        let expected = general.decode_link(&f);
                        let fast = ethernet_common_case(&f).map(Decoded::Packet);
                        assert!(
                            fast.is_none() || fast.as_ref() == Some(&expected),
                            "{at} = {value:#x}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(link in 0..ALL_LINKS.len(), data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut decoder = Decoder::default();
            let _ = decoder.decode(&frame(ALL_LINKS[link], &data));
            prop_assert_eq!(decoder.stats().frames, 1);
        }

        #[test]
        fn mutated_packets_never_panic(
            link in 0..ALL_LINKS.len(),
            flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..6),
            cut in 0usize..90,
        ) {
            // Start from a plausible frame so mutations reach the IP and transport layers.
            let mut data = match ALL_LINKS[link] {
                LinkType::ETHERNET => ethernet_udp(&[1; 30]),
                _ => raw_udp(&[1; 30]),
            };
            for (at, value) in flips {
                if let Some(byte) = data.get_mut(at) {
                    *byte = value;
                }
            }
            data.truncate(cut);
            let mut decoder = Decoder::default();
            let _ = decoder.decode(&frame(ALL_LINKS[link], &data));
            prop_assert_eq!(decoder.stats().frames, 1);
        }

        /// The inline common case answers exactly what the general path does, on Ethernet
        /// frames carrying TCP or UDP over IPv4 or IPv6 with any bytes changed (ethertype,
        /// version, IHL, flags, lengths, data offset), cut short or padded.
        #[test]
        fn the_common_case_agrees_with_the_general_path(
            v6: bool,
            tcp: bool,
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            cut in proptest::option::of(0usize..140),
            padding in 0usize..8,
        ) {
            let builder = PacketBuilder::ethernet2(MAC_A, MAC_B);
            let ip = if v6 {
                builder.ipv6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 64)
            } else {
                builder.ipv4(CLIENT, SERVER, 128)
            };
            let mut data = Vec::new();
            if tcp {
                ip.tcp(49_731, 1032, 7, 64_240).ack(9).write(&mut data, &payload).unwrap();
            } else {
                ip.udp(1032, 1088).write(&mut data, &payload).unwrap();
            }
            for (at, value) in flips {
                if let Some(byte) = data.get_mut(at) {
                    *byte = value;
                }
            }
            data.extend(std::iter::repeat_n(0, padding));
            if let Some(cut) = cut {
                data.truncate(cut);
            }
            let whole = frame(LinkType::ETHERNET, &data);
            let truncated = Frame { orig_len: data.len() as u32 + 1, ..frame(LinkType::ETHERNET, &data) };
            for f in [whole, truncated] {
                let mut general = Decoder::default();
                let expected = general.decode_link(&f);
                if let Some(packet) = ethernet_common_case(&f) {
                    prop_assert_eq!(Decoded::Packet(packet), expected.clone());
                }
                let mut decoder = Decoder::default();
                prop_assert_eq!(decoder.decode(&f), expected);
                general.stats.frames += 1;
                prop_assert_eq!(decoder.stats(), general.stats());
            }
        }
    }
}
