//! The unit every reader produces: one captured frame.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// One captured frame, borrowed from the reader that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based position in the file, equal to Wireshark's `frame.number` for the same file.
    pub number: u64,
    /// Capture time in nanoseconds since the Unix epoch, UTC (see
    /// [`crate::Warning`]s and the format info for files whose clock has no zone).
    pub ts_ns: i64,
    /// How to interpret `data`.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than `orig_len` when cut by the snap length).
    pub data: &'a [u8],
    /// The length of the frame on the wire.
    pub orig_len: u32,
    /// The interface the frame was captured on: the pcapng Interface Description Block's
    /// number within its section; 0 for pcap and Network Monitor files.
    pub interface: u32,
    /// The options of the frame's pcapng Enhanced Packet Block (comments, flags...), left
    /// unparsed until asked for; empty for every other kind of record.
    pub options: PacketOptions<'a>,
}

impl Frame<'_> {
    /// True when the capture holds fewer bytes than were on the wire (snap length).
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// The raw options of a pcapng packet block, in their section's byte order, parsed only when
/// asked for (reading a frame never allocates for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketOptions<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

/// Option code of `opt_comment`: a UTF-8 comment (pcapng §3.5).
pub const OPT_COMMENT: u16 = 1;
/// Option code of `opt_endofopt`, which ends an option list.
const OPT_END: u16 = 0;

impl<'a> PacketOptions<'a> {
    /// No options.
    pub const NONE: PacketOptions<'static> = PacketOptions {
        bytes: &[],
        big_endian: false,
    };

    /// Options stored as `bytes` (from the first option's code up to the block's trailing
    /// length), in a section of the given byte order.
    pub fn new(bytes: &'a [u8], big_endian: bool) -> Self {
        PacketOptions { bytes, big_endian }
    }

    /// True when the block holds no option bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Every option as (code, value), up to `opt_endofopt` or the first option that runs
    /// past the block (the rest is ignored, as Wireshark does).
    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let big_endian = self.big_endian;
        let mut rest = self.bytes;
        std::iter::from_fn(move || {
            let header: [u8; 4] = rest.get(..4)?.try_into().ok()?;
            let (code, len) = if big_endian {
                (
                    u16::from_be_bytes([header[0], header[1]]),
                    u16::from_be_bytes([header[2], header[3]]),
                )
            } else {
                (
                    u16::from_le_bytes([header[0], header[1]]),
                    u16::from_le_bytes([header[2], header[3]]),
                )
            };
            if code == OPT_END {
                return None;
            }
            let len = usize::from(len);
            let value = rest.get(4..4 + len)?;
            rest = rest.get(4 + len.next_multiple_of(4)..).unwrap_or_default();
            Some((code, value))
        })
    }

    /// The `opt_comment` values, in order; invalid UTF-8 is replaced (without a copy when
    /// the comment is valid).
    pub fn comments(&self) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        self.iter()
            .filter(|&(code, _)| code == OPT_COMMENT)
            .map(|(_, value)| String::from_utf8_lossy(value))
    }
}

/// The link-layer framing of a frame's bytes.
///
/// pcap and pcapng carry a `LINKTYPE_*` value; Network Monitor media types are mapped onto
/// the same numbers where one exists (Ethernet, Token Ring, FDDI, raw IP, converted pcap) and
/// kept as [`LinkType::NetMon`] otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkType {
    /// A pcap `LINKTYPE_*` / DLT value (low 16 bits of the pcap header's network field).
    Pcap(u16),
    /// A Network Monitor media type with no pcap equivalent (802.11, WFP, NetEvent, ...).
    NetMon(u16),
}

impl LinkType {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: LinkType = LinkType::Pcap(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType::Pcap(1);
    /// IEEE 802.5 Token Ring.
    pub const TOKEN_RING: LinkType = LinkType::Pcap(6);
    /// FDDI.
    pub const FDDI: LinkType = LinkType::Pcap(10);
    /// Raw IP, old DLT value used by most systems.
    pub const RAW_DLT12: LinkType = LinkType::Pcap(12);
    /// Raw IP, old DLT value used by OpenBSD and BSD/OS.
    pub const RAW_DLT14: LinkType = LinkType::Pcap(14);
    /// Raw IPv4 or IPv6 (version nibble decides).
    pub const RAW: LinkType = LinkType::Pcap(101);
    /// OpenBSD loopback: 4-byte big-endian address family.
    pub const LOOP: LinkType = LinkType::Pcap(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType::Pcap(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType::Pcap(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType::Pcap(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType::Pcap(276);

    /// A short human name, e.g. `ETHERNET`, `RAW`, `LINKTYPE_147`, `NETMON_0xFFE0`.
    pub fn name(self) -> String {
        let known = match self {
            LinkType::Pcap(0) => "NULL",
            LinkType::Pcap(1) => "ETHERNET",
            LinkType::Pcap(6) => "IEEE802_5",
            LinkType::Pcap(9) => "PPP",
            LinkType::Pcap(10) => "FDDI",
            LinkType::Pcap(12) | LinkType::Pcap(14) | LinkType::Pcap(101) => "RAW",
            LinkType::Pcap(105) => "IEEE802_11",
            LinkType::Pcap(108) => "LOOP",
            LinkType::Pcap(113) => "LINUX_SLL",
            LinkType::Pcap(127) => "IEEE802_11_RADIOTAP",
            LinkType::Pcap(228) => "IPV4",
            LinkType::Pcap(229) => "IPV6",
            LinkType::Pcap(276) => "LINUX_SLL2",
            LinkType::Pcap(n) => return format!("LINKTYPE_{n}"),
            LinkType::NetMon(6) => "NETMON_802_11",
            LinkType::NetMon(m) => return format!("NETMON_0x{m:04X}"),
        };
        known.to_string()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for LinkType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}
