//! Link-layer shims: from a frame's link type and bytes to the first byte of its IP packet.
//!
//! Hand-written because etherparse covers only Ethernet II and Linux SLL v1, and neither
//! 802.3 LLC/SNAP nor the other link types a Windows or enterprise capture carries
//! (formats.md §1.4; NetMon media types arrive already mapped onto pcap link types, §3.5):
//!
//! * Ethernet II and 802.3 + LLC/SNAP, with any number of 802.1Q / QinQ tags
//!   (TPID 0x8100, 0x88A8, 0x9100); the 802.3 length field bounds the payload.
//! * Linux cooked capture v1 (113) and v2 (276).
//! * Raw IP (12, 14, 101: the version nibble decides; 228 IPv4 only; 229 IPv6 only).
//! * BSD NULL (0, address family in the writer's byte order) and OpenBSD LOOP (108, big-endian).
//! * Token Ring (6) and FDDI (10), both carrying LLC/SNAP.
//! * PPP (9), with or without the `FF 03` HDLC address/control bytes.
//!
//! Nothing here allocates; every read is bounds-checked.

use crate::LinkType;

/// Ethertype of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q customer tag.
const TPID_8021Q: u16 = 0x8100;
/// 802.1ad service tag (QinQ outer tag).
const TPID_8021AD: u16 = 0x88A8;
/// Pre-standard QinQ outer tag.
const TPID_QINQ_OLD: u16 = 0x9100;
/// Ethertype values below this are 802.3 length fields.
const ETHERTYPE_MIN: u16 = 0x0600;
/// Linux SLL protocol value meaning "an 802.2 LLC header follows".
const SLL_PROTOCOL_LLC: u16 = 0x0004;
/// BSD address families meaning IPv4 or IPv6 (AF_INET 2; AF_INET6 on Linux 10, Windows 23,
/// NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
const NULL_IP_FAMILIES: [u32; 6] = [2, 10, 23, 24, 28, 30];

/// The IP packet found under a link header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IpBytes<'a> {
    /// The bytes from the first byte of the IP header to the end of the link payload.
    pub bytes: &'a [u8],
    /// Outer and inner 802.1Q VLAN IDs (0 when absent); they keep fragment streams apart.
    pub vlans: [u16; 2],
}

/// What the link layer of one frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkResult<'a> {
    /// An IPv4 or IPv6 packet (its version nibble already checked).
    Ip(IpBytes<'a>),
    /// A frame that does not carry IP (ARP, LLDP, STP, IPX, ...).
    NotIp,
    /// A link type this module cannot read.
    Unsupported,
    /// The link header is cut or inconsistent.
    Malformed(&'static str),
}

/// The sender's MAC address, for the link types that record one: Ethernet (every variant
/// opens with the destination and source addresses), Linux SLL (the link-layer address, when
/// six bytes long) and SLL2 (likewise).
pub(crate) fn source_mac(link: LinkType, data: &[u8]) -> Option<[u8; 6]> {
    // The address length: a big-endian u16 at 4 in SLL, one byte at 11 in SLL2.
    let (len_field, addr_at) = match link {
        LinkType::ETHERNET => return data.get(6..12)?.try_into().ok(),
        LinkType::LINUX_SLL => (data.get(4..6)?, 6),
        LinkType::LINUX_SLL2 => (data.get(11..12)?, 12),
        _ => return None,
    };
    let len = len_field
        .iter()
        .fold(0usize, |n, &b| n << 8 | usize::from(b));
    (len == 6)
        .then(|| data.get(addr_at..addr_at + 6)?.try_into().ok())
        .flatten()
}

/// Which IP version a link header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The version nibble decides.
    Any,
    /// Only IPv4 may follow.
    V4,
    /// Only IPv6 may follow.
    V6,
}

/// Finds the IP packet in one frame's bytes.
pub(super) fn strip(link: LinkType, data: &[u8]) -> LinkResult<'_> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::RAW | LinkType::RAW_DLT12 | LinkType::RAW_DLT14 => {
            ip(data, Expect::Any, NO_VLANS)
        }
        LinkType::IPV4 => ip(data, Expect::V4, NO_VLANS),
        LinkType::IPV6 => ip(data, Expect::V6, NO_VLANS),
        LinkType::LINUX_SLL => match (be16(data, 14), data.get(16..)) {
            (Some(protocol), Some(rest)) => sll_protocol(protocol, rest),
            _ => LinkResult::Malformed("linux sll header cut"),
        },
        LinkType::LINUX_SLL2 => match (be16(data, 0), data.get(20..)) {
            (Some(protocol), Some(rest)) => sll_protocol(protocol, rest),
            _ => LinkResult::Malformed("linux sll2 header cut"),
        },
        LinkType::NULL => null_loop(data, false),
        LinkType::LOOP => null_loop(data, true),
        LinkType::TOKEN_RING => token_ring(data),
        LinkType::FDDI => fddi(data),
        LinkType::Pcap(9) => ppp(data),
        _ => LinkResult::Unsupported,
    }
}

/// No VLAN tags seen.
const NO_VLANS: [u16; 2] = [0, 0];

/// Reads a big-endian u16 at `at`, if the bytes are there.
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// Ethernet II / 802.3: destination(6) source(6) ethertype-or-length(2).
fn ethernet(data: &[u8]) -> LinkResult<'_> {
    match (be16(data, 12), data.get(14..)) {
        (Some(ether_type), Some(rest)) => ether_type_chain(ether_type, rest, true),
        _ => LinkResult::Malformed("ethernet header cut"),
    }
}

/// Follows VLAN tags, an optional 802.3 length + LLC/SNAP, down to IPv4/IPv6.
///
/// `length_allowed` says whether a value below 0x0600 is an 802.3 length (true after an
/// Ethernet header or a VLAN tag) rather than something else (Linux SLL, inside SNAP).
fn ether_type_chain(
    mut ether_type: u16,
    mut rest: &[u8],
    mut length_allowed: bool,
) -> LinkResult<'_> {
    let mut vlans = NO_VLANS;
    let mut tags = 0usize;
    // Every turn either returns or consumes at least 4 bytes, so the loop ends.
    loop {
        match ether_type {
            ETHERTYPE_IPV4 => return ip(rest, Expect::V4, vlans),
            ETHERTYPE_IPV6 => return ip(rest, Expect::V6, vlans),
            TPID_8021Q | TPID_8021AD | TPID_QINQ_OLD => {
                let (Some(tci), Some(inner), Some(after)) =
                    (be16(rest, 0), be16(rest, 2), rest.get(4..))
                else {
                    return LinkResult::Malformed("vlan tag cut");
                };
                if let Some(slot) = vlans.get_mut(tags) {
                    *slot = tci & 0x0FFF;
                }
                tags += 1;
                ether_type = inner;
                rest = after;
            }
            length if length < ETHERTYPE_MIN && length_allowed => {
                // 802.3: the length covers the LLC header and its payload, not the padding.
                let body = rest.get(..usize::from(length)).unwrap_or(rest);
                let Some((inner, after)) = snap(body) else {
                    return LinkResult::NotIp;
                };
                ether_type = inner;
                rest = after;
                length_allowed = false;
            }
            _ => return LinkResult::NotIp,
        }
    }
}

/// An 802.2 LLC header with SNAP: DSAP 0xAA, SSAP 0xAA/0xAB, control 0x03 (UI), OUI 00-00-00
/// (RFC 1042) or 00-00-F8 (802.1H), then an ethertype. Returns the ethertype and what follows;
/// `None` for any other LLC (STP, NetBIOS, IPX, vendor SNAP protocols such as CDP).
fn snap(llc: &[u8]) -> Option<(u16, &[u8])> {
    let (header, rest) = llc.split_first_chunk::<8>()?;
    let [dsap, ssap, control, oui_0, oui_1, oui_2, type_high, type_low] = *header;
    let is_snap = dsap == 0xAA && ssap & 0xFE == 0xAA && control == 0x03;
    let ethertype_oui = matches!([oui_0, oui_1, oui_2], [0, 0, 0] | [0, 0, 0xF8]);
    if !(is_snap && ethertype_oui) {
        return None;
    }
    Some((u16::from_be_bytes([type_high, type_low]), rest))
}

/// Linux SLL/SLL2 protocol field: an ethertype, or 4 for "LLC follows" (1 = Novell raw
/// 802.3 and other small values carry no IP).
fn sll_protocol(protocol: u16, rest: &[u8]) -> LinkResult<'_> {
    if protocol == SLL_PROTOCOL_LLC {
        return match snap(rest) {
            Some((inner, after)) => ether_type_chain(inner, after, false),
            None => LinkResult::NotIp,
        };
    }
    ether_type_chain(protocol, rest, false)
}

/// BSD NULL / OpenBSD LOOP: a 4-byte address family, then the packet. NULL writes the family
/// in the capturing host's byte order, so the version nibble picks IPv4 or IPv6.
fn null_loop(data: &[u8], big_endian: bool) -> LinkResult<'_> {
    let Some((family, rest)) = data.split_first_chunk::<4>() else {
        return LinkResult::Malformed("null/loop header cut");
    };
    let family = *family;
    let family = if big_endian {
        u32::from_be_bytes(family)
    } else {
        // Family numbers are small: a value above 0xFFFF was written in the other byte order.
        let little = u32::from_le_bytes(family);
        if little > 0xFFFF {
            little.swap_bytes()
        } else {
            little
        }
    };
    if NULL_IP_FAMILIES.contains(&family) {
        ip(rest, Expect::Any, NO_VLANS)
    } else {
        LinkResult::NotIp
    }
}

/// Token Ring: AC(1) FC(1) DA(6) SA(6) [routing field when SA[0] & 0x80], then LLC/SNAP.
fn token_ring(data: &[u8]) -> LinkResult<'_> {
    let (Some(&frame_control), Some(&source_first), Some(after_addresses)) =
        (data.get(1), data.get(8), data.get(14..))
    else {
        return LinkResult::Malformed("token ring header cut");
    };
    // Frame type bits (FC >> 6): 0 = MAC frame, 1 = LLC frame.
    if frame_control >> 6 != 1 {
        return LinkResult::NotIp;
    }
    let llc = if source_first & 0x80 != 0 {
        let Some(&routing_control) = after_addresses.first() else {
            return LinkResult::Malformed("token ring routing field cut");
        };
        let routing_len = usize::from(routing_control & 0x1F);
        if routing_len < 2 {
            return LinkResult::Malformed("token ring routing field too short");
        }
        match after_addresses.get(routing_len..) {
            Some(llc) => llc,
            None => return LinkResult::Malformed("token ring routing field cut"),
        }
    } else {
        after_addresses
    };
    match snap(llc) {
        Some((ether_type, rest)) => ether_type_chain(ether_type, rest, false),
        None => LinkResult::NotIp,
    }
}

/// FDDI: FC(1) DA(6) SA(6), then LLC/SNAP for LLC frames (FC format bits `xx01xxxx`).
fn fddi(data: &[u8]) -> LinkResult<'_> {
    let (Some(&frame_control), Some(llc)) = (data.first(), data.get(13..)) else {
        return LinkResult::Malformed("fddi header cut");
    };
    if frame_control & 0x30 != 0x10 {
        return LinkResult::NotIp;
    }
    match snap(llc) {
        Some((ether_type, rest)) => ether_type_chain(ether_type, rest, false),
        None => LinkResult::NotIp,
    }
}

/// PPP: optional `FF 03`, then the protocol (1 byte when compressed, i.e. odd first byte):
/// 0x0021 IPv4, 0x0057 IPv6.
fn ppp(data: &[u8]) -> LinkResult<'_> {
    let frame = match data {
        [0xFF, 0x03, rest @ ..] => rest,
        _ => data,
    };
    let (protocol, rest) = match frame {
        [first, rest @ ..] if first & 1 == 1 => (u16::from(*first), rest),
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
        _ => return LinkResult::Malformed("ppp header cut"),
    };
    match protocol {
        0x0021 => ip(rest, Expect::V4, NO_VLANS),
        0x0057 => ip(rest, Expect::V6, NO_VLANS),
        _ => LinkResult::NotIp,
    }
}

/// Checks the IP version nibble against what the link header announced.
fn ip(bytes: &[u8], expect: Expect, vlans: [u16; 2]) -> LinkResult<'_> {
    let Some(&first) = bytes.first() else {
        return LinkResult::Malformed("ip header cut");
    };
    match (first >> 4, expect) {
        (4, Expect::Any | Expect::V4) | (6, Expect::Any | Expect::V6) => {
            LinkResult::Ip(IpBytes { bytes, vlans })
        }
        (4 | 6, _) => LinkResult::Malformed("ip version does not match the link header"),
        _ => LinkResult::Malformed("unknown ip version"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal IPv4 header (20 bytes, total length 20, protocol 253 = experimental).
    const IPV4: [u8; 20] = [
        0x45, 0x00, 0x00, 0x14, // version 4, IHL 5, TOS, total length 20
        0x00, 0x01, 0x00, 0x00, // id 1, no fragmentation
        0x40, 0xFD, 0x00, 0x00, // TTL 64, protocol 253, checksum (unchecked)
        10, 0, 0, 1, // source 10.0.0.1
        10, 0, 0, 2, // destination 10.0.0.2
    ];

    /// The first bytes of an IPv6 header (the link layer only reads the version nibble).
    const IPV6_START: [u8; 4] = [0x60, 0x00, 0x00, 0x00];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn ip_bytes<'a>(result: LinkResult<'a>) -> IpBytes<'a> {
        match result {
            LinkResult::Ip(ip) => ip,
            other => panic!("expected IP, got {other:?}"),
        }
    }

    const MACS: [u8; 12] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
    ];

    #[test]
    fn source_macs_of_ethernet_and_cooked_captures() {
        let eth = [&MACS[..], &[0x08, 0x00], &[0x45; 20]].concat();
        assert_eq!(
            source_mac(LinkType::ETHERNET, &eth),
            MACS[6..12].try_into().ok()
        );
        // SLL v1: packet type, ARPHRD, address length 6, address padded to 8, protocol.
        let sll = [0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0];
        assert_eq!(
            source_mac(LinkType::LINUX_SLL, &sll),
            Some([1, 2, 3, 4, 5, 6])
        );
        let mut not_mac = sll;
        not_mac[5] = 0;
        assert_eq!(source_mac(LinkType::LINUX_SLL, &not_mac), None);
        // The length is 16 bits: 262 is not 6.
        let mut long = sll;
        long[4] = 1;
        assert_eq!(source_mac(LinkType::LINUX_SLL, &long), None);
        assert_eq!(source_mac(LinkType::ETHERNET, &MACS[..11]), None);
        assert_eq!(source_mac(LinkType::RAW, &eth), None);
    }

    #[test]
    fn ethernet_ii_ipv4() {
        let frame = cat(&[&MACS, &[0x08, 0x00], &IPV4]);
        let ip = ip_bytes(strip(LinkType::ETHERNET, &frame));
        assert_eq!(ip.bytes, &IPV4);
        assert_eq!(ip.vlans, [0, 0]);
    }

    #[test]
    fn ethernet_arp_and_lldp_are_not_ip() {
        let arp = cat(&[&MACS, &[0x08, 0x06], &[0u8; 28]]);
        assert_eq!(strip(LinkType::ETHERNET, &arp), LinkResult::NotIp);
        let lldp = cat(&[&MACS, &[0x88, 0xCC], &[0u8; 20]]);
        assert_eq!(strip(LinkType::ETHERNET, &lldp), LinkResult::NotIp);
    }

    #[test]
    fn ethernet_header_cut() {
        assert_eq!(
            strip(LinkType::ETHERNET, &MACS),
            LinkResult::Malformed("ethernet header cut")
        );
    }

    #[test]
    fn vlan_and_qinq_tags() {
        // 802.1Q: TPID 8100, TCI = PCP 5 | VID 0x123, inner ethertype IPv4.
        let single = cat(&[&MACS, &[0x81, 0x00, 0xA1, 0x23, 0x08, 0x00], &IPV4]);
        let ip = ip_bytes(strip(LinkType::ETHERNET, &single));
        assert_eq!((ip.bytes, ip.vlans), (&IPV4[..], [0x123, 0]));

        // QinQ: S-tag 88A8 VID 100, C-tag 8100 VID 200, IPv6.
        let double = cat(&[
            &MACS,
            &[0x88, 0xA8, 0x00, 0x64, 0x81, 0x00],
            &[0x00, 0xC8, 0x86, 0xDD],
            &IPV6_START,
        ]);
        let ip = ip_bytes(strip(LinkType::ETHERNET, &double));
        assert_eq!((ip.bytes, ip.vlans), (&IPV6_START[..], [100, 200]));

        // Old QinQ TPID 9100 outside an 8100 tag.
        let old = cat(&[
            &MACS,
            &[0x91, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x08, 0x08, 0x00],
            &IPV4,
        ]);
        assert_eq!(ip_bytes(strip(LinkType::ETHERNET, &old)).vlans, [7, 8]);

        // A tag cut in the middle.
        let cut = cat(&[&MACS, &[0x81, 0x00, 0x00]]);
        assert_eq!(
            strip(LinkType::ETHERNET, &cut),
            LinkResult::Malformed("vlan tag cut")
        );
    }

    #[test]
    fn ipv4_under_ethertype_ipv6_is_malformed() {
        let frame = cat(&[&MACS, &[0x86, 0xDD], &IPV4]);
        assert_eq!(
            strip(LinkType::ETHERNET, &frame),
            LinkResult::Malformed("ip version does not match the link header")
        );
    }

    #[test]
    fn ieee_802_3_llc_snap() {
        // 802.3 length 28 = LLC(3) + SNAP(5) + IPv4(20); 4 bytes of padding follow.
        let frame = cat(&[
            &MACS,
            &[0x00, 0x1C],                   // 802.3 length
            &[0xAA, 0xAA, 0x03],             // LLC: DSAP, SSAP, UI
            &[0x00, 0x00, 0x00, 0x08, 0x00], // SNAP: OUI 000000, ethertype IPv4
            &IPV4,
            &[0, 0, 0, 0], // padding
        ]);
        let ip = ip_bytes(strip(LinkType::ETHERNET, &frame));
        assert_eq!(ip.bytes, &IPV4, "the 802.3 length cuts the padding");

        // 802.3 + STP (DSAP 0x42) is not IP.
        let stp = cat(&[&MACS, &[0x00, 0x26, 0x42, 0x42, 0x03], &[0u8; 35]]);
        assert_eq!(strip(LinkType::ETHERNET, &stp), LinkResult::NotIp);

        // SNAP with a vendor OUI (Cisco CDP) is not IP.
        let cdp = cat(&[
            &MACS,
            &[0x00, 0x10, 0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x20, 0x00],
            &[0u8; 8],
        ]);
        assert_eq!(strip(LinkType::ETHERNET, &cdp), LinkResult::NotIp);

        // VLAN-tagged 802.3 frame.
        let tagged = cat(&[
            &MACS,
            &[
                0x81, 0x00, 0x00, 0x05, 0x00, 0x1C, 0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00,
            ],
            &IPV4,
        ]);
        let ip = ip_bytes(strip(LinkType::ETHERNET, &tagged));
        assert_eq!((ip.bytes, ip.vlans), (&IPV4[..], [5, 0]));
    }

    #[test]
    fn linux_sll_v1_and_v2() {
        // SLL: packet type 0 (to us), ARPHRD 1, address length 6, address (8), protocol IPv4.
        let sll = cat(&[
            &[0x00, 0x00, 0x00, 0x01, 0x00, 0x06],
            &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00],
            &[0x08, 0x00],
            &IPV4,
        ]);
        assert_eq!(ip_bytes(strip(LinkType::LINUX_SLL, &sll)).bytes, &IPV4);

        // SLL2: protocol IPv6, reserved, ifindex 2, ARPHRD 1, packet type 4, addr len 6, addr (8).
        let sll2 = cat(&[
            &[0x86, 0xDD, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02],
            &[0x00, 0x01, 0x04, 0x06],
            &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00],
            &IPV6_START,
        ]);
        assert_eq!(
            ip_bytes(strip(LinkType::LINUX_SLL2, &sll2)).bytes,
            &IPV6_START
        );

        // SLL protocol 4: LLC/SNAP follows.
        let sll_llc = cat(&[
            &sll[..14],
            &[0x00, 0x04, 0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00],
            &IPV4,
        ]);
        assert_eq!(ip_bytes(strip(LinkType::LINUX_SLL, &sll_llc)).bytes, &IPV4);

        // SLL protocol 1 (Novell 802.3) is not IP; a short header is malformed.
        let novell = cat(&[&sll[..14], &[0x00, 0x01], &[0xFF; 30]]);
        assert_eq!(strip(LinkType::LINUX_SLL, &novell), LinkResult::NotIp);
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &sll2[..19]),
            LinkResult::Malformed("linux sll2 header cut")
        );
    }

    #[test]
    fn raw_ip_link_types() {
        for link in [LinkType::RAW, LinkType::RAW_DLT12, LinkType::RAW_DLT14] {
            assert_eq!(ip_bytes(strip(link, &IPV4)).bytes, &IPV4);
            assert_eq!(ip_bytes(strip(link, &IPV6_START)).bytes, &IPV6_START);
            assert_eq!(
                strip(link, &[0x50, 0, 0]),
                LinkResult::Malformed("unknown ip version")
            );
            assert_eq!(strip(link, &[]), LinkResult::Malformed("ip header cut"));
        }
        assert_eq!(ip_bytes(strip(LinkType::IPV4, &IPV4)).bytes, &IPV4);
        assert_eq!(
            strip(LinkType::IPV4, &IPV6_START),
            LinkResult::Malformed("ip version does not match the link header")
        );
        assert_eq!(
            ip_bytes(strip(LinkType::IPV6, &IPV6_START)).bytes,
            &IPV6_START
        );
        assert_eq!(
            strip(LinkType::IPV6, &IPV4),
            LinkResult::Malformed("ip version does not match the link header")
        );
    }

    #[test]
    fn null_family_in_either_byte_order() {
        // AF_INET written little-endian (x86 writer).
        let le = cat(&[&[2, 0, 0, 0], &IPV4]);
        assert_eq!(ip_bytes(strip(LinkType::NULL, &le)).bytes, &IPV4);
        // AF_INET6 = 24 written big-endian (an OpenBSD/SPARC writer).
        let be = cat(&[&[0, 0, 0, 24], &IPV6_START]);
        assert_eq!(ip_bytes(strip(LinkType::NULL, &be)).bytes, &IPV6_START);
        // Windows/Npcap AF_INET6 = 23 little-endian.
        let npcap = cat(&[&[23, 0, 0, 0], &IPV6_START]);
        assert_eq!(ip_bytes(strip(LinkType::NULL, &npcap)).bytes, &IPV6_START);
        // AF_APPLETALK (16) is not IP; 3 bytes are not a header.
        assert_eq!(
            strip(LinkType::NULL, &cat(&[&[16, 0, 0, 0], &IPV4])),
            LinkResult::NotIp
        );
        assert_eq!(
            strip(LinkType::NULL, &[2, 0, 0]),
            LinkResult::Malformed("null/loop header cut")
        );
    }

    #[test]
    fn loop_family_is_big_endian() {
        let frame = cat(&[&[0, 0, 0, 2], &IPV4]);
        assert_eq!(ip_bytes(strip(LinkType::LOOP, &frame)).bytes, &IPV4);
        // Little-endian 2 read big-endian is 0x02000000: not an IP family.
        let wrong = cat(&[&[2, 0, 0, 0], &IPV4]);
        assert_eq!(strip(LinkType::LOOP, &wrong), LinkResult::NotIp);
    }

    #[test]
    fn token_ring_with_and_without_routing_field() {
        let snap_ipv4: [u8; 8] = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00];
        // AC 0x10, FC 0x40 (LLC frame), DA, SA without the routing bit.
        let plain = cat(&[&[0x10, 0x40], &MACS, &snap_ipv4, &IPV4]);
        assert_eq!(ip_bytes(strip(LinkType::TOKEN_RING, &plain)).bytes, &IPV4);

        // SA[0] | 0x80: routing field of 6 bytes (RIF[0] & 0x1F = 6).
        let mut routed_macs = MACS;
        routed_macs[6] |= 0x80;
        let routed = cat(&[
            &[0x10, 0x40],
            &routed_macs,
            &[0x06, 0x30, 0x00, 0x10, 0x00, 0x20],
            &snap_ipv4,
            &IPV4,
        ]);
        assert_eq!(ip_bytes(strip(LinkType::TOKEN_RING, &routed)).bytes, &IPV4);

        // MAC frame (FC 0x00) is not IP.
        let mac_frame = cat(&[&[0x10, 0x00], &MACS, &[0u8; 10]]);
        assert_eq!(strip(LinkType::TOKEN_RING, &mac_frame), LinkResult::NotIp);

        // Routing field claims more bytes than there are.
        let cut = cat(&[&[0x10, 0x40], &routed_macs, &[0x1F, 0x30]]);
        assert_eq!(
            strip(LinkType::TOKEN_RING, &cut),
            LinkResult::Malformed("token ring routing field cut")
        );
    }

    #[test]
    fn fddi_llc_snap() {
        // FC 0x50 (async LLC), DA, SA, LLC/SNAP, IPv4.
        let frame = cat(&[
            &[0x50],
            &MACS,
            &[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00],
            &IPV4,
        ]);
        assert_eq!(ip_bytes(strip(LinkType::FDDI, &frame)).bytes, &IPV4);
        // SMT frame (FC 0x41) is not IP.
        let smt = cat(&[&[0x41], &MACS, &[0u8; 20]]);
        assert_eq!(strip(LinkType::FDDI, &smt), LinkResult::NotIp);
        assert_eq!(
            strip(LinkType::FDDI, &[0x50; 12]),
            LinkResult::Malformed("fddi header cut")
        );
    }

    #[test]
    fn ppp_framings() {
        let hdlc = cat(&[&[0xFF, 0x03, 0x00, 0x21], &IPV4]);
        assert_eq!(ip_bytes(strip(LinkType::Pcap(9), &hdlc)).bytes, &IPV4);
        let bare_v6 = cat(&[&[0x00, 0x57], &IPV6_START]);
        assert_eq!(
            ip_bytes(strip(LinkType::Pcap(9), &bare_v6)).bytes,
            &IPV6_START
        );
        let compressed = cat(&[&[0x21], &IPV4]);
        assert_eq!(ip_bytes(strip(LinkType::Pcap(9), &compressed)).bytes, &IPV4);
        // LCP (0xC021) is not IP.
        assert_eq!(
            strip(LinkType::Pcap(9), &[0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4]),
            LinkResult::NotIp
        );
        assert_eq!(
            strip(LinkType::Pcap(9), &[0xFF, 0x03]),
            LinkResult::Malformed("ppp header cut")
        );
    }

    #[test]
    fn unknown_link_types_are_unsupported() {
        for link in [
            LinkType::Pcap(105),
            LinkType::Pcap(127),
            LinkType::NetMon(6),
            LinkType::NetMon(0xE083),
        ] {
            assert_eq!(strip(link, &IPV4), LinkResult::Unsupported);
        }
    }
}
