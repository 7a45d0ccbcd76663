//! IPv4/IPv6 → TCP | UDP | ICMP, with etherparse's lax slicer (formats.md §5.3).
//!
//! Whole frames in the common case (IPv4 without options or IPv6 without extension headers,
//! unfragmented, carrying TCP or UDP) are read directly, about four times faster than through
//! a slicer (see `benches/decode.rs`); other whole frames go through the strict slicer (about a
//! quarter faster than the lax one); frames cut by the snap length, and packets the strict
//! slicer refuses, go through the lax one. Both give the same result where both succeed (tested). Lengths come
//! from the IP and UDP headers when the bytes are there (so Ethernet padding never reaches a
//! payload) and fall back to the captured bytes when the frame was cut. IPv4 options and the
//! IPv6 extension headers etherparse knows (Hop-by-Hop, Routing, Destination Options,
//! Fragment, AH) are skipped. Checksums are not checked here (the capture-point observer samples them).
//!
//! Fragments are not decoded here; they are described ([`FragmentView`]) for the reassembler.

use super::{icmp, Packet, TcpFlags, TcpSegment, Transport, UdpDatagram};
use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::{
    ip_number, IpNumber, Ipv4HeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice,
    LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TcpSlice, TransportSlice, UdpSlice,
};
use std::net::IpAddr;

/// One IP fragment, as the reassembler needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FragmentView<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// IPv4 identification or IPv6 fragment-header identification.
    pub id: u32,
    /// Protocol of the fragmented payload (for IPv6: the fragment header's next header).
    pub protocol: u8,
    /// Byte offset of `data` in the original payload.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's bytes (what the capture holds of them).
    pub data: &'a [u8],
    /// True when the frame was cut before the end of the fragment.
    pub truncated: bool,
}

/// What an IP packet turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IpOutcome<'a> {
    /// A whole (unfragmented) packet, decoded.
    Packet(Packet<'a>),
    /// A fragment of a larger datagram.
    Fragment(FragmentView<'a>),
    /// The IP header is cut or invalid; `bool` is true when it was cut by the snap length.
    Malformed(&'static str, bool),
}

/// Decodes an IP packet starting at `bytes[0]` (version nibble already checked).
///
/// `whole_frame` says the capture holds the whole frame (caplen = origlen): then the common
/// case is read directly ([`common_case`]), anything else goes through the faster strict
/// slicer, and only what it refuses goes through the lax one. A frame cut by the snap length
/// goes to the lax slicer directly (strict would fail on it anyway).
pub(super) fn decode(bytes: &[u8], whole_frame: bool) -> IpOutcome<'_> {
    if whole_frame {
        if let Some(outcome) = common_case(bytes).or_else(|| strict(bytes)) {
            return outcome;
        }
    }
    lax(bytes)
}

/// The bulk of any capture without a general slicer: IPv4 without options (IHL 5) or IPv6
/// without extension headers, not fragmented, holding exactly what its length field says
/// (trailing link padding allowed), carrying TCP or UDP whose header the strict checks accept.
/// `None` for anything else. Where it answers, it answers exactly what [`strict`] does (the
/// transport headers are still sliced by etherparse; tested against it): it only skips
/// building etherparse's whole-packet structure, which costs more than the decoding itself.
#[inline(always)]
pub(super) fn common_case(bytes: &[u8]) -> Option<IpOutcome<'_>> {
    let (src, dst, protocol, hop_limit, ip_id, payload) = match bytes.first()? >> 4 {
        4 => {
            let header: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
            // Version 4, IHL 5; MF clear and fragment offset 0 (RFC 791 §3.1).
            let flags_offset = u16::from_be_bytes([header[6], header[7]]);
            if header[0] != 0x45 || flags_offset & 0x3FFF != 0 {
                return None;
            }
            let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let [s0, s1, s2, s3] = [header[12], header[13], header[14], header[15]];
            let [d0, d1, d2, d3] = [header[16], header[17], header[18], header[19]];
            (
                IpAddr::from([s0, s1, s2, s3]),
                IpAddr::from([d0, d1, d2, d3]),
                header[9],
                header[8],
                Some(u16::from_be_bytes([header[4], header[5]])),
                // None when the total length is below the header or beyond the capture.
                bytes.get(20..total_len)?,
            )
        }
        6 => {
            let header: &[u8; 40] = bytes.get(..40)?.try_into().ok()?;
            // A zero payload length (jumbogram, RFC 2675) is left to the slicers.
            let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
            if payload_len == 0 {
                return None;
            }
            let src: [u8; 16] = header[8..24].try_into().ok()?;
            let dst: [u8; 16] = header[24..40].try_into().ok()?;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                header[6],
                header[7],
                None,
                bytes.get(40..40 + payload_len)?,
            )
        }
        _ => return None,
    };
    let transport = match IpNumber(protocol) {
        ip_number::TCP => Transport::Tcp(tcp_segment(
            &TcpSlice::from_slice(payload).ok()?,
            payload.len(),
        )),
        ip_number::UDP => Transport::Udp(udp_datagram(
            &UdpSlice::from_slice(payload).ok()?,
            payload.len(),
        )),
        _ => return None,
    };
    Some(IpOutcome::Packet(Packet {
        src,
        dst,
        transport,
        truncated: false,
        hop_limit,
        ip_id,
        transport_bytes: payload,
    }))
}

/// Etherparse's strict slicer, for whole packets; `None` when it refuses the packet.
fn strict(bytes: &[u8]) -> Option<IpOutcome<'_>> {
    let sliced = SlicedPacket::from_ip(bytes).ok()?;
    let layer = sliced.net.as_ref().and_then(IpLayer::strict)?;
    Some(finish(layer, sliced.transport.as_ref(), bytes.len()))
}

/// Etherparse's lax slicer: decodes as far as the bytes go.
fn lax(bytes: &[u8]) -> IpOutcome<'_> {
    let sliced = match LaxSlicedPacket::from_ip(bytes) {
        Ok(sliced) => sliced,
        Err(LaxHeaderSliceError::Len(_)) => return IpOutcome::Malformed("ip header cut", true),
        Err(LaxHeaderSliceError::Content(_)) => {
            return IpOutcome::Malformed("invalid ip header", false)
        }
    };
    match sliced.net.as_ref().and_then(IpLayer::lax) {
        Some(layer) => finish(layer, sliced.transport.as_ref(), bytes.len()),
        // `from_ip` only yields IPv4 or IPv6.
        None => IpOutcome::Malformed("invalid ip header", false),
    }
}

/// The IP layer of a packet, from the strict or the lax slicer.
struct IpLayer<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// Protocol of `payload` (after the extension headers).
    protocol: IpNumber,
    /// The IP payload the capture holds, bounded by the IP length fields.
    payload: &'a [u8],
    /// The capture ends before the IP length fields say the packet does.
    incomplete: bool,
    /// IP packet length the header announces (header included).
    declared_len: usize,
    /// TTL or hop limit.
    hop_limit: u8,
    /// IPv4 identification.
    ip_id: Option<u16>,
    /// Set when the payload is a fragment.
    fragment: Option<FragmentHeader>,
}

impl<'a> IpLayer<'a> {
    fn strict(net: &NetSlice<'a>) -> Option<IpLayer<'a>> {
        match net {
            NetSlice::Ipv4(v4) => Some(IpLayer::v4(
                v4.header(),
                v4.payload().ip_number,
                v4.payload().payload,
                false,
            )),
            NetSlice::Ipv6(v6) => Some(IpLayer::v6(
                v6.header(),
                v6.extensions(),
                v6.payload().ip_number,
                v6.payload().payload,
                false,
            )),
            NetSlice::Arp(_) => None,
        }
    }

    fn lax(net: &LaxNetSlice<'a>) -> Option<IpLayer<'a>> {
        match net {
            LaxNetSlice::Ipv4(v4) => {
                let payload = v4.payload();
                Some(IpLayer::v4(
                    v4.header(),
                    payload.ip_number,
                    payload.payload,
                    payload.incomplete,
                ))
            }
            LaxNetSlice::Ipv6(v6) => {
                let payload = v6.payload();
                Some(IpLayer::v6(
                    v6.header(),
                    v6.extensions(),
                    payload.ip_number,
                    payload.payload,
                    payload.incomplete,
                ))
            }
            LaxNetSlice::Arp(_) => None,
        }
    }

    fn v4(
        header: Ipv4HeaderSlice<'_>,
        protocol: IpNumber,
        payload: &'a [u8],
        incomplete: bool,
    ) -> IpLayer<'a> {
        IpLayer {
            src: IpAddr::V4(header.source_addr()),
            dst: IpAddr::V4(header.destination_addr()),
            protocol,
            payload,
            incomplete,
            declared_len: usize::from(header.total_len()),
            hop_limit: header.ttl(),
            ip_id: Some(header.identification()),
            fragment: header.is_fragmenting_payload().then(|| FragmentHeader {
                id: u32::from(header.identification()),
                protocol: header.protocol(),
                offset: header.fragments_offset().byte_offset(),
                more: header.more_fragments(),
            }),
        }
    }

    fn v6(
        header: Ipv6HeaderSlice<'_>,
        extensions: &Ipv6ExtensionsSlice<'_>,
        protocol: IpNumber,
        payload: &'a [u8],
        incomplete: bool,
    ) -> IpLayer<'a> {
        let fragment = if extensions.is_fragmenting_payload() {
            extensions.clone().into_iter().find_map(|ext| match ext {
                Ipv6ExtensionSlice::Fragment(frag) => Some(FragmentHeader {
                    id: frag.identification(),
                    protocol: frag.next_header(),
                    offset: frag.fragment_offset().byte_offset(),
                    more: frag.more_fragments(),
                }),
                _ => None,
            })
        } else {
            None
        };
        IpLayer {
            src: IpAddr::V6(header.source_addr()),
            dst: IpAddr::V6(header.destination_addr()),
            protocol,
            payload,
            incomplete,
            declared_len: 40 + usize::from(header.payload_length()),
            hop_limit: header.hop_limit(),
            ip_id: None,
            fragment,
        }
    }
}

/// Turns the sliced IP layer and transport into the decoder's output.
fn finish<'a>(
    layer: IpLayer<'a>,
    transport: Option<&TransportSlice<'a>>,
    captured_len: usize,
) -> IpOutcome<'a> {
    let IpLayer {
        src,
        dst,
        protocol,
        payload,
        incomplete,
        declared_len,
        hop_limit,
        ip_id,
        fragment,
    } = layer;
    if let Some(fragment) = fragment {
        return IpOutcome::Fragment(FragmentView {
            src,
            dst,
            id: fragment.id,
            protocol: fragment.protocol.0,
            offset: fragment.offset,
            more: fragment.more,
            data: payload,
            truncated: incomplete,
        });
    }
    // The payload on the wire: what was captured plus what the snap length cut.
    let cut = if incomplete {
        declared_len.saturating_sub(captured_len)
    } else {
        0
    };
    let wire_len = payload.len().saturating_add(cut);
    let transport = match transport {
        Some(TransportSlice::Tcp(tcp)) => Transport::Tcp(tcp_segment(tcp, wire_len)),
        Some(TransportSlice::Udp(udp)) => Transport::Udp(udp_datagram(udp, wire_len)),
        Some(TransportSlice::Icmpv4(icmp)) => icmp::from_icmpv4(icmp),
        Some(TransportSlice::Icmpv6(icmp)) => icmp::from_icmpv6(icmp),
        Some(TransportSlice::Igmp(_)) => Transport::Other(ip_number::IGMP.0),
        None => Transport::Other(protocol.0),
    };
    IpOutcome::Packet(Packet {
        src,
        dst,
        transport,
        truncated: incomplete,
        hop_limit,
        ip_id,
        transport_bytes: payload,
    })
}

/// The fragment fields of an IPv4 header or IPv6 fragment header.
struct FragmentHeader {
    id: u32,
    protocol: IpNumber,
    offset: u16,
    more: bool,
}

/// Converts a length to the `u32` the output types use (IP lengths fit; saturate otherwise).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A TCP segment; `ip_payload_wire_len` is the TCP header + payload length on the wire.
#[inline(always)]
fn tcp_segment<'a>(tcp: &TcpSlice<'a>, ip_payload_wire_len: usize) -> TcpSegment<'a> {
    let payload = tcp.payload();
    let wire = ip_payload_wire_len
        .saturating_sub(tcp.header_slice().len())
        .max(payload.len());
    TcpSegment {
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload,
        wire_payload_len: len_u32(wire),
    }
}

/// A UDP datagram; the UDP length field gives the wire length when it is plausible (≥ 8),
/// otherwise the IP payload length does.
pub(super) fn udp_datagram<'a>(udp: &UdpSlice<'a>, ip_payload_wire_len: usize) -> UdpDatagram<'a> {
    let payload = udp.payload();
    let wire = match usize::from(udp.length()).checked_sub(8) {
        Some(from_header) => from_header,
        None => ip_payload_wire_len.saturating_sub(8),
    }
    .max(payload.len());
    UdpDatagram {
        src_port: udp.source_port(),
        dst_port: udp.destination_port(),
        payload,
        wire_payload_len: len_u32(wire),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Decodes with the common-case reader, the strict slicer and the lax slicer; each that
    /// answers must agree with the others, and with the path `decode` takes.
    fn decode_both(bytes: &[u8]) -> IpOutcome<'_> {
        let whole = decode(bytes, true);
        let lax_only = decode(bytes, false);
        assert_eq!(whole, lax_only, "strict-first and lax disagree");
        if let Some(common) = common_case(bytes) {
            assert_eq!(
                Some(&common),
                strict(bytes).as_ref(),
                "common case and strict disagree"
            );
        }
        whole
    }

    fn packet(outcome: IpOutcome<'_>) -> Packet<'_> {
        match outcome {
            IpOutcome::Packet(packet) => packet,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    #[test]
    fn ipv4_with_options_and_udp() {
        let bytes: [u8; 36] = [
            0x46, 0x00, 0x00, 0x24, // IPv4, IHL 6 (24 bytes), total length 36
            0x12, 0x34, 0x00, 0x00, // id 0x1234, no fragmentation
            0x80, 0x11, 0x00, 0x00, // TTL 128, protocol UDP, checksum (unchecked)
            192, 168, 0, 2, // source
            192, 168, 0, 173, // destination
            0x01, 0x01, 0x01, 0x00, // options: NOP, NOP, NOP, end of list
            0x04, 0x08, 0x04, 0x31, // UDP: source port 1032, destination port 1073
            0x00, 0x0C, 0xBE, 0xEF, // UDP length 12, checksum (wrong on purpose)
            0xDE, 0xAD, 0xBE, 0xEF, // payload
        ];
        let p = packet(decode_both(&bytes));
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(192, 168, 0, 173)));
        assert!(!p.truncated);
        assert_eq!(
            p.transport,
            Transport::Udp(UdpDatagram {
                src_port: 1032,
                dst_port: 1073,
                payload: &[0xDE, 0xAD, 0xBE, 0xEF],
                wire_payload_len: 4,
            })
        );
    }

    #[test]
    fn ipv6_extension_headers_are_skipped() {
        let bytes: [u8; 68] = [
            0x60, 0x00, 0x00, 0x00, // IPv6, traffic class, flow label
            0x00, 0x1C, 0x00,
            0x40, // payload length 28, next header Hop-by-Hop (0), hop limit 64
            0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // source fe80::1
            0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // destination fe80::2
            0x3C, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
            0x00, // Hop-by-Hop: next Dest Opts (60), PadN
            0x11, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
            0x00, // Dest Options: next UDP (17), PadN
            0x00, 0x35, 0xC0, 0x00, 0x00, 0x0C, 0x00, 0x00, // UDP 53 → 49152, length 12
            0x61, 0x62, 0x63, 0x64, // payload "abcd"
        ];
        let p = packet(decode_both(&bytes));
        assert_eq!(p.src, IpAddr::V6("fe80::1".parse::<Ipv6Addr>().unwrap()));
        match p.transport {
            Transport::Udp(udp) => {
                assert_eq!(
                    (udp.src_port, udp.dst_port, udp.payload),
                    (53, 49152, &b"abcd"[..])
                );
            }
            other => panic!("expected UDP, got {other:?}"),
        }
    }

    #[test]
    fn tcp_fields_and_flags() {
        let builder = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(49731, 135, 0x0102_0304, 8192)
            .syn()
            .ack(0xA0B0_C0D0);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"hello").unwrap();
        let p = packet(decode_both(&bytes));
        assert_eq!(
            p.transport,
            Transport::Tcp(TcpSegment {
                src_port: 49731,
                dst_port: 135,
                seq: 0x0102_0304,
                ack: 0xA0B0_C0D0,
                flags: TcpFlags {
                    syn: true,
                    ack: true,
                    fin: false,
                    rst: false
                },
                payload: b"hello",
                wire_payload_len: 5,
            })
        );
    }

    #[test]
    fn cut_tcp_keeps_wire_length() {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut bytes, &[0x55; 100])
            .unwrap();
        // IPv4 (20) + TCP (20) + 6 of the 100 payload bytes.
        let p = packet(decode_both(&bytes[..46]));
        assert!(p.truncated);
        match p.transport {
            Transport::Tcp(tcp) => {
                assert_eq!(tcp.payload, &[0x55; 6]);
                assert_eq!(tcp.wire_payload_len, 100);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
        // Cut inside the TCP header: the protocol is all that is left.
        let p = packet(decode_both(&bytes[..30]));
        assert_eq!((p.transport, p.truncated), (Transport::Other(6), true));
    }

    #[test]
    fn zero_total_length_from_segmentation_offload() {
        // Captured on the sender before TSO: IPv4 total length 0, TCP with 8 payload bytes.
        let mut bytes = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut bytes, b"offload!")
            .unwrap();
        bytes[2] = 0;
        bytes[3] = 0;
        let p = packet(decode_both(&bytes));
        let Transport::Tcp(tcp) = p.transport else {
            panic!("expected TCP")
        };
        assert_eq!(
            (tcp.payload, tcp.wire_payload_len, p.truncated),
            (&b"offload!"[..], 8, false)
        );
    }

    #[test]
    fn ip_header_cut_or_invalid() {
        assert_eq!(
            decode_both(&[0x45, 0, 0, 20, 0, 0]),
            IpOutcome::Malformed("ip header cut", true)
        );
        // IHL 4 (< 5) is invalid.
        let mut bytes = [0u8; 20];
        bytes[0] = 0x44;
        assert_eq!(
            decode_both(&bytes),
            IpOutcome::Malformed("invalid ip header", false)
        );
    }

    #[test]
    fn other_protocols() {
        // IPv4 carrying GRE (47), 4 payload bytes.
        let bytes = [
            0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0x08, 0x00,
        ];
        assert_eq!(packet(decode_both(&bytes)).transport, Transport::Other(47));
    }

    #[test]
    fn fragments_are_described_not_decoded() {
        let bytes = [
            0x45, 0x00, 0x00, 0x1C, // IPv4, total length 28
            0xAB, 0xCD, 0x20, 0x00, // id 0xABCD, MF, offset 0
            0x40, 0x11, 0x00, 0x00, // TTL, UDP
            1, 1, 1, 1, 2, 2, 2, 2, // addresses
            1, 2, 3, 4, 5, 6, 7, 8, // first 8 bytes of the UDP datagram
        ];
        let IpOutcome::Fragment(f) = decode_both(&bytes) else {
            panic!("expected a fragment")
        };
        assert_eq!(
            (f.id, f.protocol, f.offset, f.more, f.truncated),
            (0xABCD, 17, 0, true, false)
        );
        assert_eq!(f.data, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn common_case_answers_for_plain_tcp_and_udp_only() {
        let mut v4_tcp = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(49731, 135, 7, 8192)
            .write(&mut v4_tcp, b"dce")
            .unwrap();
        let mut v6_udp = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(3105, 1088)
            .write(&mut v6_udp, b"context!")
            .unwrap();
        // Ethernet padding after the IP packet is allowed (and ignored).
        let mut padded = v4_tcp.clone();
        padded.extend_from_slice(&[0; 6]);
        for bytes in [&v4_tcp, &v6_udp, &padded] {
            assert!(common_case(bytes).is_some(), "{bytes:02x?}");
            let _ = decode_both(bytes);
        }
        let mut fragment = v4_tcp.clone();
        fragment[6] = 0x20; // MF
        let mut options = v4_tcp.clone();
        options[0] = 0x46; // IHL 6
        let mut offload = v4_tcp.clone();
        offload[2..4].copy_from_slice(&[0, 0]); // total length 0
        let mut gre = v4_tcp.clone();
        gre[9] = 47;
        let mut jumbo = v6_udp.clone();
        jumbo[4..6].copy_from_slice(&[0, 0]);
        for bytes in [
            &fragment,
            &options,
            &offload,
            &gre,
            &jumbo,
            &v4_tcp[..40].to_vec(),
        ] {
            assert_eq!(common_case(bytes), None, "{bytes:02x?}");
        }
    }

    proptest::proptest! {
        /// Packets near the common case (header fields the fast reader checks set to random
        /// values, random padding or cuts) decode the same on every path.
        #[test]
        fn common_case_matches_the_slicers(
            v6 in proptest::bool::ANY,
            tcp in proptest::bool::ANY,
            payload_len in 0usize..64,
            field in 0usize..6,
            value in proptest::num::u16::ANY,
            padding in 0usize..8,
            cut in proptest::option::of(0usize..100),
        ) {
            let mut bytes = Vec::new();
            let builder = if v6 {
                PacketBuilder::ipv6([1; 16], [2; 16], 64)
            } else {
                PacketBuilder::ipv4([1; 4], [2; 4], 64)
            };
            let payload = vec![0x5A; payload_len];
            if tcp {
                builder.tcp(1, 2, 3, 4).write(&mut bytes, &payload).unwrap();
            } else {
                builder.udp(1, 2).write(&mut bytes, &payload).unwrap();
            }
            let ip_len = if v6 { 40 } else { 20 };
            let [hi, lo] = value.to_be_bytes();
            // The fields the common case reads: version/IHL, lengths, fragment field,
            // protocol / next header, TCP data offset, UDP length.
            let at = match (field, v6) {
                (0, _) => 0,
                (1, false) => 2,
                (1, true) => 4,
                (2, false) => 6,
                (2, true) => 6,
                (3, false) => 9,
                (3, true) => 7,
                (4, _) if tcp => ip_len + 12,
                _ => ip_len + 4,
            };
            if let Some(b) = bytes.get_mut(at) {
                *b = hi;
            }
            if field != 3 {
                if let Some(b) = bytes.get_mut(at + 1) {
                    *b = lo;
                }
            }
            bytes.resize(bytes.len() + padding, 0xEE);
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            let _ = decode_both(&bytes);
        }

        #[test]
        fn strict_and_lax_agree(
            v6 in proptest::bool::ANY,
            tcp in proptest::bool::ANY,
            flips in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..4),
            padding in 0usize..8,
        ) {
            let mut bytes = Vec::new();
            let builder = if v6 {
                PacketBuilder::ipv6([1; 16], [2; 16], 64)
            } else {
                PacketBuilder::ipv4([1; 4], [2; 4], 64)
            };
            if tcp {
                builder.tcp(1, 2, 3, 4).write(&mut bytes, &[9; 24]).unwrap();
            } else {
                builder.udp(1, 2).write(&mut bytes, &[9; 24]).unwrap();
            }
            for (at, value) in flips {
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = value;
                }
            }
            bytes.resize(bytes.len() + padding, 0xEE);
            let _ = decode_both(&bytes);
        }
    }
}
