//! ICMP destination-unreachable errors and the datagram they quote (protocol.md §6).
//!
//! ICMPv4 type 3 quotes the failed datagram's IP header (options included) and at least its
//! first 8 payload bytes (RFC 792; RFC 1812 routers quote up to 576 bytes in all). ICMPv6
//! type 1 quotes as much of the invoking packet as fits in 1280 bytes (RFC 4443). Quotes are
//! usually shorter than the lengths their headers announce, so they are sliced laxly
//! (formats.md §5.3). Ports are read by hand from the first transport bytes, because the
//! 8 quoted bytes of a TCP header are too few for etherparse's TCP slicer.

use super::{IcmpUnreachable, QuotedDatagram, Transport};
use etherparse::{
    ip_number, Icmpv4Slice, Icmpv6Slice, Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket,
};
use std::net::IpAddr;

/// ICMPv4 type: destination unreachable.
const ICMPV4_DEST_UNREACHABLE: u8 = 3;
/// ICMPv6 type: destination unreachable.
const ICMPV6_DEST_UNREACHABLE: u8 = 1;
/// At most this many quoted bytes after the UDP header are kept.
const MAX_PAYLOAD_PREFIX: usize = 64;

/// The transport view of an ICMPv4 message.
pub(super) fn from_icmpv4(icmp: &Icmpv4Slice<'_>) -> Transport<'static> {
    if icmp.type_u8() != ICMPV4_DEST_UNREACHABLE {
        return Transport::OtherIcmp;
    }
    Transport::IcmpUnreachable(Box::new(IcmpUnreachable {
        v6: false,
        code: icmp.code_u8(),
        quoted: quoted_datagram(icmp.payload()),
    }))
}

/// The transport view of an ICMPv6 message.
pub(super) fn from_icmpv6(icmp: &Icmpv6Slice<'_>) -> Transport<'static> {
    if icmp.type_u8() != ICMPV6_DEST_UNREACHABLE {
        return Transport::OtherIcmp;
    }
    Transport::IcmpUnreachable(Box::new(IcmpUnreachable {
        v6: true,
        code: icmp.code_u8(),
        quoted: quoted_datagram(icmp.payload()),
    }))
}

/// Decodes the quoted datagram: IP addresses, protocol, IPv4 ID, ports when the quote holds
/// the start of the transport header, and up to 64 UDP payload bytes.
fn quoted_datagram(quote: &[u8]) -> Option<QuotedDatagram> {
    let sliced = LaxSlicedPacket::from_ip(quote).ok()?;
    let (src, dst, ip_id, payload, starts_transport) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let header = v4.header();
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                Some(header.identification()),
                v4.payload(),
                header.fragments_offset().value() == 0,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let header = v6.header();
            let later_fragment = v6.extensions().clone().into_iter().any(|ext| {
                matches!(ext, Ipv6ExtensionSlice::Fragment(frag) if frag.fragment_offset().value() != 0)
            });
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                None,
                v6.payload(),
                !later_fragment,
            )
        }
        Some(LaxNetSlice::Arp(_)) | None => return None,
    };
    let protocol = payload.ip_number;
    let transport = payload.payload;
    let has_ports = starts_transport && (protocol == ip_number::UDP || protocol == ip_number::TCP);
    let port_at = |at: usize| {
        let bytes = transport.get(at..at + 2)?.try_into().ok()?;
        has_ports.then(|| u16::from_be_bytes(bytes))
    };
    let payload_prefix = if has_ports && protocol == ip_number::UDP {
        udp_payload_prefix(transport)
    } else {
        Vec::new()
    };
    Some(QuotedDatagram {
        src,
        dst,
        protocol: protocol.0,
        src_port: port_at(0),
        dst_port: port_at(2),
        ip_id,
        payload_prefix,
    })
}

/// The quoted bytes after the UDP header, bounded by the UDP length field (read leniently,
/// as etherparse's lax slicer does: a length that is too short or runs past the quote means
/// the quote's end) and by 64.
fn udp_payload_prefix(udp: &[u8]) -> Vec<u8> {
    let Ok(slice) = etherparse::UdpSlice::from_slice_lax(udp) else {
        return Vec::new();
    };
    let payload = slice.payload();
    payload[..payload.len().min(MAX_PAYLOAD_PREFIX)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// ICMPv4 port unreachable from the client 192.168.0.173 to the server 192.168.0.2,
    /// quoting the notification datagram 192.168.0.2:1032 → 192.168.0.173:1073.
    const PORT_UNREACHABLE: [u8; 44] = [
        0x03, 0x03, 0x00, 0x00, // type 3, code 3, checksum (unchecked)
        0x00, 0x00, 0x00, 0x00, // unused
        // quoted IPv4 header: total length 44 (the quote is cut after 8 payload bytes + 8)
        0x45, 0x00, 0x00, 0x2C, 0x4E, 0x21, 0x00, 0x00, // id 0x4E21
        0x80, 0x11, 0x00, 0x00, // TTL 128, UDP
        192, 168, 0, 2, 192, 168, 0, 173, // server → client
        0x04, 0x08, 0x04, 0x31, 0x00, 0x18, 0x12, 0x34, // UDP 1032 → 1073, length 24
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // first 8 of 16 payload bytes
    ];

    #[test]
    fn icmpv4_port_unreachable_quoting_udp() {
        let icmp = Icmpv4Slice::from_slice(&PORT_UNREACHABLE).unwrap();
        let Transport::IcmpUnreachable(unreachable) = from_icmpv4(&icmp) else {
            panic!("expected an unreachable")
        };
        assert!(!unreachable.v6);
        assert_eq!(unreachable.code, 3);
        assert_eq!(
            unreachable.quoted,
            Some(QuotedDatagram {
                src: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)),
                dst: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 173)),
                protocol: 17,
                src_port: Some(1032),
                dst_port: Some(1073),
                ip_id: Some(0x4E21),
                payload_prefix: vec![1, 2, 3, 4, 5, 6, 7, 8],
            })
        );
    }

    #[test]
    fn quote_cut_inside_the_udp_header() {
        // Only 3 bytes of the UDP header survive: no destination port, no payload.
        let icmp = Icmpv4Slice::from_slice(&PORT_UNREACHABLE[..31]).unwrap();
        let Transport::IcmpUnreachable(unreachable) = from_icmpv4(&icmp) else {
            panic!()
        };
        let quoted = unreachable.quoted.unwrap();
        assert_eq!((quoted.src_port, quoted.dst_port), (Some(1032), None));
        assert!(quoted.payload_prefix.is_empty());
    }

    #[test]
    fn quote_without_an_ip_header() {
        let icmp = Icmpv4Slice::from_slice(&PORT_UNREACHABLE[..20]).unwrap();
        let Transport::IcmpUnreachable(unreachable) = from_icmpv4(&icmp) else {
            panic!()
        };
        assert_eq!(unreachable.quoted, None);
    }

    #[test]
    fn quoted_tcp_gives_ports_only() {
        let mut bytes = PORT_UNREACHABLE;
        bytes[17] = 6; // quoted protocol TCP
        let icmp = Icmpv4Slice::from_slice(&bytes).unwrap();
        let Transport::IcmpUnreachable(unreachable) = from_icmpv4(&icmp) else {
            panic!()
        };
        let quoted = unreachable.quoted.unwrap();
        assert_eq!(
            (quoted.protocol, quoted.src_port, quoted.dst_port),
            (6, Some(1032), Some(1073))
        );
        assert!(quoted.payload_prefix.is_empty());
    }

    #[test]
    fn quoted_later_fragment_has_no_ports() {
        let mut bytes = PORT_UNREACHABLE;
        bytes[15] = 0x10; // fragment offset 16 (×8 bytes)
        let icmp = Icmpv4Slice::from_slice(&bytes).unwrap();
        let Transport::IcmpUnreachable(unreachable) = from_icmpv4(&icmp) else {
            panic!()
        };
        let quoted = unreachable.quoted.unwrap();
        assert_eq!((quoted.src_port, quoted.dst_port), (None, None));
    }

    #[test]
    fn prefix_is_capped_at_64_and_by_the_udp_length() {
        let mut udp = vec![0x04, 0x08, 0x04, 0x31, 0x00, 0x00, 0x00, 0x00];
        udp.extend(0..100u8);
        udp[5] = 8 + 100; // UDP length: header + 100
        assert_eq!(udp_payload_prefix(&udp), (0..64u8).collect::<Vec<_>>());
        udp[5] = 8 + 10; // UDP length: header + 10
        assert_eq!(udp_payload_prefix(&udp), (0..10u8).collect::<Vec<_>>());
    }

    #[test]
    fn other_icmp_types() {
        // Echo request.
        let echo = [8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
        assert_eq!(
            from_icmpv4(&Icmpv4Slice::from_slice(&echo).unwrap()),
            Transport::OtherIcmp
        );
        // ICMPv6 neighbour solicitation (135).
        let ns = [135, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            from_icmpv6(&Icmpv6Slice::from_slice(&ns).unwrap()),
            Transport::OtherIcmp
        );
    }

    #[test]
    fn quoted_udp_lengths_are_read_leniently() {
        // Length field 4 (below the header), 0, 10, 200 (past the quote), then a cut header.
        let mut udp = vec![0x13, 0x88, 0x04, 0x40, 0, 4, 0, 0];
        udp.extend_from_slice(&[1, 2, 3]);
        assert_eq!(udp_payload_prefix(&udp), vec![1, 2, 3]);
        udp[5] = 0;
        assert_eq!(udp_payload_prefix(&udp), vec![1, 2, 3]);
        udp[5] = 10;
        assert_eq!(udp_payload_prefix(&udp), vec![1, 2]);
        udp[5] = 200;
        assert_eq!(udp_payload_prefix(&udp), vec![1, 2, 3]);
        assert_eq!(udp_payload_prefix(&udp[..5]), Vec::<u8>::new());
    }
}
