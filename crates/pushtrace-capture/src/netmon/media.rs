//! Network Monitor media types (`MacType`, formats.md §3.5) and their mapping onto
//! [`LinkType`].
//!
//! Files before version 2.1 carry one media type in the file header; from 2.1 on every frame
//! carries its own in the frame trailer. The mapping follows Wireshark's `wiretap/netmon.c`
//! so that a frame means the same thing here as in Wireshark, except that values Wireshark
//! refuses (and aborts the file on) become [`LinkType::NetMon`] frames for the decoder to
//! ignore.

use crate::LinkType;

/// Ethernet as written by NetMon 3.4 VPN captures (no NDIS medium, Ethernet headers).
pub const NONE: u16 = 0;
/// Ethernet II / 802.3.
pub const ETHERNET: u16 = 1;
/// IEEE 802.5 Token Ring.
pub const TOKEN_RING: u16 = 2;
/// FDDI (bit-swapped addresses).
pub const FDDI: u16 = 3;
/// "NDIS WAN": ATM PDUs behind a 16-byte pseudo-header (dest, src, VPI, VCI).
pub const ATM: u16 = 4;
/// NetMon 802.11: a NetMon radio metadata header, then an 802.11 frame.
pub const NETMON_802_11: u16 = 6;
/// Raw IP (tunnelling interfaces, 2.x).
pub const RAW_IP_TUNNEL: u16 = 7;
/// Raw IP (wireless WAN, 2.x).
pub const RAW_IP_WWAN: u16 = 8;
/// Raw IP frames (2.x).
pub const RAW_IP: u16 = 9;
/// Base of "converted pcap" media types: `PCAP_BASE | LINKTYPE` (low 12 bits).
pub const PCAP_BASE: u16 = 0xE000;
/// Message Analyzer "WiFi Message": a plain 802.11 frame.
pub const MA_WIFI: u16 = 0xE080;
/// Last of the Message Analyzer exported media types (0xE080..=0xE08A), which are not
/// converted pcap types.
pub const MA_LAST: u16 = 0xE08A;
/// An ETW event record.
pub const NET_EVENT: u16 = 0xFFE0;
/// The list of capture adapters (big-endian counts, UTF-16LE strings).
pub const NETWORK_INFO_EX: u16 = 0xFFFB;
/// Fake frame made by NetMon's reassembly; skipped when reading.
pub const PAYLOAD_HEADER: u16 = 0xFFFC;
/// Old-style adapter list; skipped when reading.
pub const NETWORK_INFO: u16 = 0xFFFD;
/// DNS cache; skipped when reading.
pub const DNS_CACHE: u16 = 0xFFFE;
/// The capture or display filter string.
pub const FILTER: u16 = 0xFFFF;

/// True for the metadata frames Wireshark drops without numbering them (0xFFFC, 0xFFFD,
/// 0xFFFE). Skipping exactly these keeps our frame numbers equal to Wireshark's.
pub fn is_skipped_metadata(media_type: u16) -> bool {
    matches!(media_type, PAYLOAD_HEADER | NETWORK_INFO | DNS_CACHE)
}

/// The link type of a frame with this media type.
///
/// The Message Analyzer range 0xE080..=0xE08A is tested before the generic converted-pcap
/// rule: only 0xE080 (plain 802.11) has a pcap equivalent.
pub fn link_type(media_type: u16) -> LinkType {
    match media_type {
        MA_WIFI => LinkType::Pcap(105),
        v if (MA_WIFI..=MA_LAST).contains(&v) => LinkType::NetMon(v),
        v if v & 0xF000 == PCAP_BASE => LinkType::Pcap(v & 0x0FFF),
        NONE | ETHERNET => LinkType::ETHERNET,
        TOKEN_RING => LinkType::TOKEN_RING,
        FDDI => LinkType::FDDI,
        RAW_IP_TUNNEL | RAW_IP_WWAN | RAW_IP => LinkType::RAW,
        other => LinkType::NetMon(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_ndis_media_types() {
        assert_eq!(link_type(0), LinkType::ETHERNET);
        assert_eq!(link_type(1), LinkType::ETHERNET);
        assert_eq!(link_type(2), LinkType::TOKEN_RING);
        assert_eq!(link_type(3), LinkType::FDDI);
        assert_eq!(link_type(4), LinkType::NetMon(4), "ATM pseudo-header kept");
        assert_eq!(link_type(5), LinkType::NetMon(5));
        assert_eq!(
            link_type(6),
            LinkType::NetMon(6),
            "NetMon 802.11 metadata header"
        );
        for raw in [7, 8, 9] {
            assert_eq!(link_type(raw), LinkType::RAW);
        }
        assert_eq!(link_type(10), LinkType::NetMon(10));
    }

    #[test]
    fn message_analyzer_range_beats_converted_pcap_rule() {
        assert_eq!(link_type(0xE080), LinkType::Pcap(105));
        for v in 0xE081..=0xE08A {
            assert_eq!(link_type(v), LinkType::NetMon(v), "{v:#06X}");
        }
        assert_eq!(link_type(0xE07F), LinkType::Pcap(0x07F));
        assert_eq!(link_type(0xE08B), LinkType::Pcap(0x08B));
    }

    #[test]
    fn converted_pcap_types_keep_their_linktype() {
        assert_eq!(link_type(0xE001), LinkType::ETHERNET);
        assert_eq!(link_type(0xE065), LinkType::RAW, "LINKTYPE_RAW 101");
        assert_eq!(link_type(0xE071), LinkType::LINUX_SLL, "113");
        assert_eq!(link_type(0xEFFF), LinkType::Pcap(0x0FFF));
        assert_eq!(
            link_type(0xD001),
            LinkType::NetMon(0xD001),
            "not in the 0xE000 block"
        );
    }

    #[test]
    fn metadata_types() {
        for v in [0xFFE0, 0xFFFB, 0xFFFF] {
            assert_eq!(link_type(v), LinkType::NetMon(v));
            assert!(!is_skipped_metadata(v), "{v:#06X} is numbered like a frame");
        }
        for v in [0xFFFC, 0xFFFD, 0xFFFE] {
            assert!(is_skipped_metadata(v), "{v:#06X}");
        }
        assert!(!is_skipped_metadata(ETHERNET));
    }
}
