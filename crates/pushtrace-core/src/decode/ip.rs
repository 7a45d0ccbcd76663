//! IPv4/IPv6 → TCP | UDP | ICMP, with etherparse's lax slicer (formats.md §5.3).
//!
//! One lax pass decodes complete and snap-length-cut packets alike: lengths come from the IP
//! and UDP headers when the bytes are there (so Ethernet padding never reaches a payload) and
//! fall back to the captured bytes when the frame was cut. IPv4 options and the IPv6
//! extension headers etherparse knows (Hop-by-Hop, Routing, Destination Options, Fragment,
//! AH) are skipped. Checksums are never looked at.
//!
//! Fragments are not decoded here; they are described ([`FragmentView`]) for the reassembler.

use super::{icmp, Packet, TcpFlags, TcpSegment, Transport, UdpDatagram};
use etherparse::{
    ip_number, IpNumber, Ipv6ExtensionSlice, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket,
    TcpSlice, TransportSlice, UdpSlice,
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
pub(super) fn decode(bytes: &[u8]) -> IpOutcome<'_> {
    let sliced = match LaxSlicedPacket::from_ip(bytes) {
        Ok(sliced) => sliced,
        Err(etherparse::err::ip::LaxHeaderSliceError::Len(_)) => {
            return IpOutcome::Malformed("ip header cut", true)
        }
        Err(etherparse::err::ip::LaxHeaderSliceError::Content(_)) => {
            return IpOutcome::Malformed("invalid ip header", false)
        }
    };
    let (src, dst, payload, declared_len, fragment) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let header = v4.header();
            let fragment = v4.payload().fragmented.then(|| FragmentHeader {
                id: u32::from(header.identification()),
                protocol: header.protocol(),
                offset: header.fragments_offset().byte_offset(),
                more: header.more_fragments(),
            });
            let src = IpAddr::V4(header.source_addr());
            let dst = IpAddr::V4(header.destination_addr());
            (
                src,
                dst,
                v4.payload(),
                usize::from(header.total_len()),
                fragment,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let header = v6.header();
            let fragment = if v6.payload().fragmented {
                v6.extensions()
                    .clone()
                    .into_iter()
                    .find_map(|ext| match ext {
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
            let src = IpAddr::V6(header.source_addr());
            let dst = IpAddr::V6(header.destination_addr());
            (
                src,
                dst,
                v6.payload(),
                40 + usize::from(header.payload_length()),
                fragment,
            )
        }
        // `from_ip` only yields IPv4 or IPv6.
        Some(LaxNetSlice::Arp(_)) | None => {
            return IpOutcome::Malformed("invalid ip header", false)
        }
    };
    let truncated = payload.incomplete;

    if let Some(fragment) = fragment {
        return IpOutcome::Fragment(FragmentView {
            src,
            dst,
            id: fragment.id,
            protocol: fragment.protocol.0,
            offset: fragment.offset,
            more: fragment.more,
            data: payload.payload,
            truncated,
        });
    }

    let wire_len = wire_payload_len(payload, declared_len, bytes.len());
    let transport = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => Transport::Tcp(tcp_segment(tcp, wire_len)),
        Some(TransportSlice::Udp(udp)) => Transport::Udp(udp_datagram(udp, wire_len)),
        Some(TransportSlice::Icmpv4(icmp)) => icmp::from_icmpv4(icmp),
        Some(TransportSlice::Icmpv6(icmp)) => icmp::from_icmpv6(icmp),
        Some(TransportSlice::Igmp(_)) => Transport::Other(ip_number::IGMP.0),
        None => Transport::Other(payload.ip_number.0),
    };
    IpOutcome::Packet(Packet {
        src,
        dst,
        transport,
        truncated,
    })
}

/// The fragment fields of an IPv4 header or IPv6 fragment header.
struct FragmentHeader {
    id: u32,
    protocol: IpNumber,
    offset: u16,
    more: bool,
}

/// Length of the IP payload on the wire: the captured payload plus what the snap length cut
/// (`declared_len` is the IP packet length the header announces, `captured_len` what we have).
fn wire_payload_len(
    payload: &LaxIpPayloadSlice<'_>,
    declared_len: usize,
    captured_len: usize,
) -> usize {
    let cut = if payload.incomplete {
        declared_len.saturating_sub(captured_len)
    } else {
        0
    };
    payload.payload.len().saturating_add(cut)
}

/// Converts a length to the `u32` the output types use (IP lengths fit; saturate otherwise).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A TCP segment; `ip_payload_wire_len` is the TCP header + payload length on the wire.
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
        let p = packet(decode(&bytes));
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
        let p = packet(decode(&bytes));
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
        let p = packet(decode(&bytes));
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
        let p = packet(decode(&bytes[..46]));
        assert!(p.truncated);
        match p.transport {
            Transport::Tcp(tcp) => {
                assert_eq!(tcp.payload, &[0x55; 6]);
                assert_eq!(tcp.wire_payload_len, 100);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
        // Cut inside the TCP header: the protocol is all that is left.
        let p = packet(decode(&bytes[..30]));
        assert_eq!((p.transport, p.truncated), (Transport::Other(6), true));
    }

    #[test]
    fn ip_header_cut_or_invalid() {
        assert_eq!(
            decode(&[0x45, 0, 0, 20, 0, 0]),
            IpOutcome::Malformed("ip header cut", true)
        );
        // IHL 4 (< 5) is invalid.
        let mut bytes = [0u8; 20];
        bytes[0] = 0x44;
        assert_eq!(
            decode(&bytes),
            IpOutcome::Malformed("invalid ip header", false)
        );
    }

    #[test]
    fn other_protocols() {
        // IPv4 carrying GRE (47), 4 payload bytes.
        let bytes = [
            0x45, 0, 0, 24, 0, 0, 0, 0, 64, 47, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0x08, 0x00,
        ];
        assert_eq!(packet(decode(&bytes)).transport, Transport::Other(47));
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
        let IpOutcome::Fragment(f) = decode(&bytes) else {
            panic!("expected a fragment")
        };
        assert_eq!(
            (f.id, f.protocol, f.offset, f.more, f.truncated),
            (0xABCD, 17, 0, true, false)
        );
        assert_eq!(f.data, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
