//! pcapng files (formats.md §2): block framing, sections, interfaces and packet blocks.
//!
//! Parsed by hand rather than with pcap-parser (§5.2): its EPB parser builds an options `Vec`
//! per packet, it reads `if_tsoffset` as little-endian in every section, returns no
//! resolution for 2^-n `if_tsresol` and does not parse obsolete Packet Blocks.
//!
//! - Every block is `type, length, body, length` in the section's byte order (§2.1). A bad
//!   length field leaves no way to find the next block, so it stops reading; a bad body
//!   only skips its block.
//! - A Section Header Block sets the byte order and empties the interface table (§2.1).
//! - Interface Description Blocks are numbered from 0 within their section; each has its own
//!   link type, snap length, `if_tsresol` (10^-n or 2^-n) and signed `if_tsoffset` (§2.3).
//! - Packets come from Enhanced (type 6), Simple (3) and obsolete Packet Blocks (2, with a
//!   16-bit interface id). Timestamps are computed exactly (§2.4). Other blocks are counted
//!   and skipped; custom and systemd journal blocks also take a frame number, because
//!   Wireshark 4.0 lists them as frames (checked with tshark), and so do skipped packets.

use crate::record::{
    corrupt, oversized, Diagnostics, Endian, FileHeader, FrameMeta, Step, MAX_PCAPNG_BLOCK,
};
use crate::{CaptureError, Format, LinkType, TimestampPrecision, Warning};

/// Block type of a Section Header Block; also the file's magic (a byte palindrome).
pub(crate) const SHB_TYPE: u32 = 0x0A0D_0D0A;
/// Block type of an Interface Description Block.
pub(crate) const IDB_TYPE: u32 = 1;
/// Block type of the obsolete Packet Block.
pub(crate) const PB_TYPE: u32 = 2;
/// Block type of a Simple Packet Block.
pub(crate) const SPB_TYPE: u32 = 3;
/// Block type of an Enhanced Packet Block.
pub(crate) const EPB_TYPE: u32 = 6;
/// Block type of a Custom Block whose contents may be copied.
pub(crate) const CUSTOM_COPYABLE_TYPE: u32 = 0x0000_0BAD;
/// Block type of a Custom Block whose contents should not be copied.
pub(crate) const CUSTOM_NO_COPY_TYPE: u32 = 0x4000_0BAD;
/// Block type of a systemd Journal Export Block.
const JOURNAL_TYPE: u32 = 9;
/// Byte-order magic of a section, as stored in a little-endian section.
const BOM_LE: [u8; 4] = [0x4D, 0x3C, 0x2B, 0x1A];
/// Byte-order magic of a section, as stored in a big-endian section.
const BOM_BE: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];
/// `if_tsresol` option code.
const OPT_TSRESOL: u16 = 9;
/// `if_tsoffset` option code.
const OPT_TSOFFSET: u16 = 14;
/// Interfaces kept per section; more are reported and ignored.
const MAX_INTERFACES: usize = 1 << 16;
/// Bytes from a block's start to the packet data of an EPB or obsolete PB.
const PACKET_DATA_OFFSET: usize = 28;
/// Bytes from a block's start to the packet data of an SPB.
const SPB_DATA_OFFSET: usize = 12;
/// Bytes needed to read a first section header's byte order and version.
pub(crate) const MIN_HEADER_LEN: usize = 16;

/// The byte order announced by a section's byte-order magic (bytes 8..12 of an SHB).
pub(crate) fn section_endian(bom: &[u8]) -> Option<Endian> {
    match bom {
        b if b == BOM_LE => Some(Endian::Little),
        b if b == BOM_BE => Some(Endian::Big),
        _ => None,
    }
}

/// True for the section versions Wireshark reads: 1.0 and 1.2.
fn version_supported(major: u16, minor: u16) -> bool {
    major == 1 && (minor == 0 || minor == 2)
}

/// What the first section header says. `bytes` must start with an SHB whose byte-order
/// magic is valid. The header is not consumed: the parser reads it again as a block.
pub(crate) fn parse_first_section(bytes: &[u8]) -> Result<FileHeader, CaptureError> {
    let truncated = || CaptureError::TruncatedHeader {
        format: Format::PcapNg,
        len: bytes.len(),
    };
    let endian = bytes
        .get(8..12)
        .and_then(section_endian)
        .ok_or_else(truncated)?;
    let (Some(major), Some(minor)) = (endian.u16(bytes, 12), endian.u16(bytes, 14)) else {
        return Err(truncated());
    };
    let version = format!("{major}.{minor}");
    if !version_supported(major, minor) {
        return Err(CaptureError::UnsupportedVersion {
            format: Format::PcapNg,
            version,
        });
    }
    Ok(FileHeader {
        version,
        byte_order: endian.byte_order(),
        precision: TimestampPrecision::PerInterface,
        len: 0,
    })
}

/// One interface of the current section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interface {
    link: LinkType,
    /// Capture limit; 0 means none.
    snaplen: u32,
    /// Timestamp units per second (10^n or 2^n, at least 1).
    units_per_sec: u64,
    /// Nanoseconds per unit when the unit divides a second into whole nanoseconds.
    ns_per_unit: Option<u64>,
    /// `if_tsoffset`, seconds added to every timestamp.
    ts_offset: i64,
}

impl Interface {
    /// An interface with the defaults: microsecond units, no offset.
    fn new(link: LinkType, snaplen: u32) -> Self {
        let mut interface = Interface {
            link,
            snaplen,
            units_per_sec: 1,
            ns_per_unit: None,
            ts_offset: 0,
        };
        interface.set_units(1_000_000);
        interface
    }

    fn set_units(&mut self, units_per_sec: u64) {
        self.units_per_sec = units_per_sec;
        self.ns_per_unit =
            (1_000_000_000 % units_per_sec == 0).then(|| 1_000_000_000 / units_per_sec);
    }

    /// Nanoseconds since the epoch for a raw 64-bit timestamp (§2.4), not yet narrowed.
    fn ts_ns(&self, raw: u64) -> i128 {
        const NS: i128 = 1_000_000_000;
        let offset_ns = i128::from(self.ts_offset) * NS;
        if let Some(ns_per_unit) = self.ns_per_unit {
            return i128::from(raw) * i128::from(ns_per_unit) + offset_ns;
        }
        let units = self.units_per_sec;
        let (secs, rem) = (raw / units, raw % units);
        let frac_ns = match rem.checked_mul(1_000_000_000) {
            Some(scaled) => scaled / units,
            None => (u128::from(rem) * 1_000_000_000 / u128::from(units)) as u64,
        };
        i128::from(secs) * NS + i128::from(frac_ns) + offset_ns
    }
}

/// The block parser of one pcapng file: current byte order and interface table.
#[derive(Debug, Clone)]
pub(crate) struct PcapNgParser {
    /// Byte order of the current section; `None` before the first SHB.
    endian: Option<Endian>,
    interfaces: Vec<Interface>,
    /// Interfaces beyond [`MAX_INTERFACES`] in this section.
    ignored_interfaces: u64,
    warned_no_timestamp: bool,
    warned_ts_range: bool,
    /// Timestamp of the last timed packet, given to Simple Packet Blocks.
    last_ts_ns: i64,
}

/// The fixed fields of an EPB or obsolete PB, section byte order already applied.
struct PacketFields {
    if_id: u32,
    ts_raw: u64,
    caplen: u32,
    orig_len: u32,
}

impl PcapNgParser {
    /// A parser expecting a Section Header Block first.
    pub(crate) fn new() -> Self {
        PcapNgParser {
            endian: None,
            interfaces: Vec::new(),
            ignored_interfaces: 0,
            warned_no_timestamp: false,
            warned_ts_range: false,
            last_ts_ns: 0,
        }
    }

    /// Judges the block at the start of `buf`, which sits at file offset `offset`.
    pub(crate) fn step(&mut self, buf: &[u8], offset: u64, diag: &mut Diagnostics) -> Step {
        let Some(le_type) = Endian::Little.u32(buf, 0) else {
            return Step::NeedMore { total: 8 };
        };
        let endian = if le_type == SHB_TYPE {
            let Some(bom) = buf.get(8..12) else {
                return Step::NeedMore { total: 12 };
            };
            match section_endian(bom) {
                Some(e) => e,
                None => {
                    return corrupt(
                        diag,
                        "section header block with an invalid byte-order magic".into(),
                        offset,
                    )
                }
            }
        } else {
            match self.endian {
                Some(e) => e,
                None => {
                    return corrupt(
                        diag,
                        "block before the first section header block".into(),
                        offset,
                    )
                }
            }
        };
        let (Some(block_type), Some(len)) = (endian.u32(buf, 0), endian.u32(buf, 4)) else {
            return Step::NeedMore { total: 8 };
        };
        if len < 12 || len % 4 != 0 {
            return corrupt(
                diag,
                format!("pcapng block of type {block_type:#x} has an invalid length {len}"),
                offset,
            );
        }
        if len > MAX_PCAPNG_BLOCK {
            let what = format!("a pcapng block of type {block_type:#x}");
            let step = oversized(diag, &what, u64::from(len), block_type != SHB_TYPE, offset);
            if let (Step::Skip { .. }, true) = (step, takes_frame_number(block_type)) {
                diag.unyielded_frames += 1;
            }
            return step;
        }
        let total = len as usize;
        let Some(block) = buf.get(..total) else {
            return Step::NeedMore { total };
        };
        if endian.u32(block, total - 4) != Some(len) {
            return corrupt(
                diag,
                format!("pcapng block of type {block_type:#x}: its two length fields differ"),
                offset,
            );
        }
        let body = block.get(8..total - 4).unwrap_or_default();
        let skip = Step::Skip {
            len: u64::from(len),
        };
        match block_type {
            SHB_TYPE => self.section(body, endian, offset, diag).unwrap_or(skip),
            IDB_TYPE => {
                self.interface(body, endian, offset, diag);
                skip
            }
            EPB_TYPE | PB_TYPE => {
                let fields = if block_type == EPB_TYPE {
                    endian.u32(body, 0)
                } else {
                    endian.u16(body, 0).map(u32::from)
                }
                .zip(endian.u32(body, 4))
                .zip(endian.u32(body, 8))
                .zip(endian.u32(body, 12).zip(endian.u32(body, 16)))
                .map(|(((if_id, hi), lo), (caplen, orig_len))| PacketFields {
                    if_id,
                    ts_raw: (u64::from(hi) << 32) | u64::from(lo),
                    caplen,
                    orig_len,
                });
                match fields {
                    Some(fields) => self.packet(fields, body.len() - 20, total, offset, diag),
                    None => bad_record(diag, "packet block too short for its header", offset, skip),
                }
            }
            SPB_TYPE => self.simple_packet(body, endian, total, offset, diag),
            JOURNAL_TYPE | CUSTOM_COPYABLE_TYPE | CUSTOM_NO_COPY_TYPE => {
                diag.other_blocks += 1;
                diag.unyielded_frames += 1;
                skip
            }
            _ => {
                diag.other_blocks += 1;
                skip
            }
        }
    }

    /// Starts a new section. Answers `Some(Stop)` for an unreadable one.
    fn section(
        &mut self,
        body: &[u8],
        endian: Endian,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Option<Step> {
        let (Some(major), Some(minor)) = (endian.u16(body, 4), endian.u16(body, 6)) else {
            return Some(corrupt(
                diag,
                "section header block too short".into(),
                offset,
            ));
        };
        if !version_supported(major, minor) {
            let message =
                format!("section with unsupported pcapng version {major}.{minor}; reading stops");
            diag.warn(Warning::new("unsupported_version", message).at_offset(offset));
            return Some(Step::Stop);
        }
        self.endian = Some(endian);
        self.interfaces.clear();
        self.ignored_interfaces = 0;
        None
    }

    /// Adds an interface from an IDB body.
    fn interface(&mut self, body: &[u8], endian: Endian, offset: u64, diag: &mut Diagnostics) {
        let (Some(link), Some(snaplen)) = (endian.u16(body, 0), endian.u32(body, 4)) else {
            // Keep the numbering of the interfaces after it.
            diag.warn(
                Warning::new("bad_record", "interface description block too short")
                    .at_offset(offset),
            );
            self.push_interface(Interface::new(LinkType::Pcap(0), 0), offset, diag);
            return;
        };
        let mut interface = Interface::new(LinkType::Pcap(link), snaplen);
        let mut options = body.get(8..).unwrap_or_default();
        while let (Some(code), Some(len)) = (endian.u16(options, 0), endian.u16(options, 2)) {
            let len = usize::from(len);
            let Some(value) = options.get(4..4 + len) else {
                let message =
                    "interface description block options run past the block; the rest are ignored";
                diag.warn(Warning::new("bad_option", message).at_offset(offset));
                break;
            };
            match (code, value) {
                (0, _) => break,
                (OPT_TSRESOL, &[resol]) => match units_per_sec(resol) {
                    Some(units) => interface.set_units(units),
                    None => {
                        let message = format!("interface has an unusable if_tsresol {resol:#04x}; microseconds assumed");
                        diag.warn(Warning::new("bad_option", message).at_offset(offset));
                    }
                },
                (OPT_TSOFFSET, _) => match endian.u64(value, 0) {
                    Some(raw) if len == 8 => interface.ts_offset = raw as i64,
                    _ => diag.warn(
                        Warning::new("bad_option", "if_tsoffset is not 8 bytes; ignored")
                            .at_offset(offset),
                    ),
                },
                _ => {}
            }
            // Values are padded to 4 bytes.
            let next = 4 + len.next_multiple_of(4);
            options = options.get(next..).unwrap_or_default();
        }
        self.push_interface(interface, offset, diag);
    }

    fn push_interface(&mut self, interface: Interface, offset: u64, diag: &mut Diagnostics) {
        if self.interfaces.len() < MAX_INTERFACES {
            self.interfaces.push(interface);
        } else {
            self.ignored_interfaces += 1;
            if self.ignored_interfaces == 1 {
                let message = format!(
                    "more than {MAX_INTERFACES} interfaces in one section; the rest are ignored"
                );
                diag.warn(Warning::new("too_many_interfaces", message).at_offset(offset));
            }
        }
    }

    /// An EPB or obsolete PB whose fixed fields are read; `room` is the body after them.
    fn packet(
        &mut self,
        p: PacketFields,
        room: usize,
        block_len: usize,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        let skip = Step::Skip {
            len: block_len as u64,
        };
        let Some(&interface) = self.interfaces.get(p.if_id as usize) else {
            return undefined_interface(diag, p.if_id, offset, skip);
        };
        let data_len = p.caplen as usize;
        if data_len > room {
            let message = format!(
                "packet block claims {} captured bytes but holds only {room}",
                p.caplen
            );
            return bad_record(diag, &message, offset, skip);
        }
        let ts_ns = self.narrow(interface.ts_ns(p.ts_raw), offset, diag);
        self.last_ts_ns = ts_ns;
        Step::Frame(FrameMeta {
            record_len: block_len,
            data_offset: PACKET_DATA_OFFSET,
            data_len,
            ts_ns,
            link: interface.link,
            orig_len: p.orig_len,
        })
    }

    /// A Simple Packet Block: interface 0, no timestamp, data cut to the snap length.
    fn simple_packet(
        &mut self,
        body: &[u8],
        endian: Endian,
        block_len: usize,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        let skip = Step::Skip {
            len: block_len as u64,
        };
        let Some(orig_len) = endian.u32(body, 0) else {
            return bad_record(diag, "simple packet block too short", offset, skip);
        };
        let Some(&interface) = self.interfaces.first() else {
            return undefined_interface(diag, 0, offset, skip);
        };
        let room = body.len() - 4;
        let snaplen = if interface.snaplen == 0 {
            u32::MAX
        } else {
            interface.snaplen
        };
        let data_len = (orig_len.min(snaplen) as usize).min(room);
        if !self.warned_no_timestamp {
            self.warned_no_timestamp = true;
            let message = "simple packet blocks carry no timestamp; they get the time of the packet before them";
            diag.warn(Warning::new("no_timestamp", message).at_offset(offset));
        }
        Step::Frame(FrameMeta {
            record_len: block_len,
            data_offset: SPB_DATA_OFFSET,
            data_len,
            ts_ns: self.last_ts_ns,
            link: interface.link,
            orig_len,
        })
    }

    /// Narrows a computed timestamp to `i64` nanoseconds, clamping (with one warning) when
    /// it falls outside years 1677–2262.
    fn narrow(&mut self, ts_ns: i128, offset: u64, diag: &mut Diagnostics) -> i64 {
        i64::try_from(ts_ns).unwrap_or_else(|_| {
            if !self.warned_ts_range {
                self.warned_ts_range = true;
                let message = "packet timestamp outside the years 1677-2262; clamped";
                diag.warn(Warning::new("timestamp_out_of_range", message).at_offset(offset));
            }
            if ts_ns < 0 {
                i64::MIN
            } else {
                i64::MAX
            }
        })
    }
}

/// Units per second for an `if_tsresol` value: 10^n, or 2^n when the top bit is set
/// (Wireshark's limits: n ≤ 19 and n ≤ 63).
pub(crate) fn units_per_sec(resol: u8) -> Option<u64> {
    let n = u32::from(resol & 0x7F);
    if resol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n <= 63)
    }
}

/// True for the blocks Wireshark (4.0, checked with tshark) lists as frames: packets, and
/// custom and systemd journal blocks.
fn takes_frame_number(block_type: u32) -> bool {
    matches!(
        block_type,
        EPB_TYPE | PB_TYPE | SPB_TYPE | JOURNAL_TYPE | CUSTOM_COPYABLE_TYPE | CUSTOM_NO_COPY_TYPE
    )
}

/// Skips a damaged packet block, which keeps its frame number.
fn bad_record(diag: &mut Diagnostics, message: &str, offset: u64, skip: Step) -> Step {
    diag.unyielded_frames += 1;
    diag.skip_record(
        Warning::new("bad_record", format!("{message}; block skipped")).at_offset(offset),
    );
    skip
}

/// Skips a packet on an interface its section lacks; it keeps its frame number.
fn undefined_interface(diag: &mut Diagnostics, if_id: u32, offset: u64, skip: Step) -> Step {
    diag.unyielded_frames += 1;
    let message =
        format!("packet refers to interface {if_id}, which its section does not define; skipped");
    diag.skip_record(Warning::new("undefined_interface", message).at_offset(offset));
    skip
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps through a whole in-memory file, collecting frames as (ts_ns, link, data).
    fn walk(file: &[u8]) -> (Vec<(i64, LinkType, Vec<u8>)>, Diagnostics) {
        let mut parser = PcapNgParser::new();
        let mut diag = Diagnostics::default();
        let mut frames = Vec::new();
        let mut pos = 0usize;
        while pos < file.len() {
            match parser.step(&file[pos..], pos as u64, &mut diag) {
                Step::Frame(m) => {
                    frames.push((
                        m.ts_ns,
                        m.link,
                        file[pos + m.data_offset..][..m.data_len].to_vec(),
                    ));
                    pos += m.record_len;
                }
                Step::Skip { len } => pos += len as usize,
                Step::NeedMore { .. } | Step::Stop => break,
            }
        }
        (frames, diag)
    }

    /// Little-endian section header block, version 1.0, no options (28 bytes).
    const SHB_LE: [u8; 28] = [
        0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, // type, length
        0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, // BOM, version 1.0
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // section length -1
        28, 0, 0, 0,
    ];

    #[test]
    fn big_endian_epb_with_power_of_two_resolution_and_negative_offset() {
        let file = [
            // SHB, big-endian
            0x0A, 0x0D, 0x0D, 0x0A, 0, 0, 0, 28, 0x1A, 0x2B, 0x3C, 0x4D, 0, 1, 0, 0, //
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, //
            // IDB: linktype 101, snaplen 0, if_tsresol 2^-20, if_tsoffset -10, end
            0, 0, 0, 1, 0, 0, 0, 40, 0, 101, 0, 0, 0, 0, 0, 0, //
            0, 9, 0, 1, 0x94, 0, 0, 0, // if_tsresol = 0x80 | 20
            0, 14, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF6, // if_tsoffset -10
            0, 0, 0, 40, //
            // EPB: interface 0, ts = 2^20 * 100 + 2^19 (100.5 s), caplen 1, orig 4, data 0x45 + pad
            0, 0, 0, 6, 0, 0, 0, 36, 0, 0, 0, 0, //
            0, 0, 0, 0, 0x06, 0x48, 0, 0, // ts high, ts low (0x06480000 = 105381888)
            0, 0, 0, 1, 0, 0, 0, 4, 0x45, 0, 0, 0, 0, 0, 0, 36,
        ];
        let (frames, diag) = walk(&file);
        assert!(diag.warnings().is_empty(), "{:?}", diag.warnings());
        assert_eq!(frames, [(90_500_000_000, LinkType::RAW, vec![0x45])]);
    }

    #[test]
    fn power_of_two_fraction_is_floored_to_nanoseconds() {
        let mut interface = Interface::new(LinkType::ETHERNET, 0);
        interface.set_units(1 << 20);
        // 1 unit of 2^-20 s = 953.674… ns.
        assert_eq!(interface.ts_ns(1), 953);
        assert_eq!(interface.ts_ns((5 << 20) + 3), 5_000_002_861);
        interface.set_units(10u64.pow(19));
        assert_eq!(interface.ts_ns(u64::MAX), 1_844_674_407);
        interface.set_units(1_000);
        interface.ts_offset = -3;
        assert_eq!(interface.ts_ns(1_500), -1_500_000_000);
    }

    #[test]
    fn timestamps_beyond_i64_nanoseconds_are_clamped_with_one_warning() {
        let mut file = SHB_LE.to_vec();
        // IDB: Ethernet, if_tsresol 9 (ns)
        file.extend([
            1, 0, 0, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 28, 0, 0, 0,
        ]);
        // two EPBs at raw time u64::MAX ns (year 2554), no data
        for _ in 0..2 {
            file.extend([
                6, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            file.extend([0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0]);
        }
        let (frames, diag) = walk(&file);
        assert_eq!(
            frames.iter().map(|f| f.0).collect::<Vec<_>>(),
            [i64::MAX, i64::MAX]
        );
        let codes: Vec<_> = diag.warnings().iter().map(|w| w.code).collect();
        assert_eq!(codes, ["timestamp_out_of_range"]);
    }

    #[test]
    fn tsresol_values() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(9), Some(1_000_000_000));
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        assert_eq!(units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(units_per_sec(0x80 | 64), None);
    }

    #[test]
    fn simple_packet_uses_interface_zero_snaplen() {
        let mut file = SHB_LE.to_vec();
        // IDB: Ethernet, snaplen 2, no options
        file.extend([1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0]);
        // SPB: orig_len 5, 4 data bytes present (the block holds more than the snaplen)
        file.extend([
            3, 0, 0, 0, 20, 0, 0, 0, 5, 0, 0, 0, 0xA, 0xB, 0xC, 0xD, 20, 0, 0, 0,
        ]);
        let (frames, diag) = walk(&file);
        assert_eq!(frames, [(0, LinkType::ETHERNET, vec![0xA, 0xB])]);
        assert_eq!(diag.warnings()[0].code, "no_timestamp");
    }

    #[test]
    fn obsolete_packet_block_has_a_16_bit_interface_id() {
        let mut file = SHB_LE.to_vec();
        file.extend([1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
        // PB: interface 0, drops 0xFFFF, ts 7 µs, caplen 2, orig 2, data + pad
        file.extend([
            2, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 7, 0, 0, 0,
        ]);
        file.extend([2, 0, 0, 0, 2, 0, 0, 0, 0x11, 0x22, 0, 0, 36, 0, 0, 0]);
        let (frames, diag) = walk(&file);
        assert!(diag.warnings().is_empty());
        assert_eq!(frames, [(7_000, LinkType::ETHERNET, vec![0x11, 0x22])]);
    }

    #[test]
    fn damaged_blocks() {
        let mut file = SHB_LE.to_vec();
        // EPB for interface 0, which no IDB defined
        file.extend([
            6, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            32, 0, 0, 0,
        ]);
        // IDB, then an EPB whose caplen (9) exceeds its block
        file.extend([1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
        file.extend([
            6, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0,
            32, 0, 0, 0,
        ]);
        // custom block (0xBAD): counted, skipped silently
        file.extend([0xAD, 0x0B, 0, 0, 16, 0, 0, 0, 1, 2, 3, 4, 16, 0, 0, 0]);
        // a block whose trailing length disagrees: reading stops there
        let stop_at = file.len() as u64;
        file.extend([6, 0, 0, 0, 12, 0, 0, 0, 16, 0, 0, 0]);
        let (frames, diag) = walk(&file);
        assert!(frames.is_empty());
        let codes: Vec<_> = diag.warnings().iter().map(|w| w.code).collect();
        assert_eq!(
            codes,
            ["undefined_interface", "bad_record", "corrupt_record"]
        );
        assert_eq!(diag.warnings()[2].offset, Some(stop_at));
        assert_eq!((diag.skipped_records, diag.other_blocks), (2, 1));
    }

    #[test]
    fn new_section_resets_interfaces_and_rejects_bad_versions() {
        let mut file = SHB_LE.to_vec();
        file.extend([1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
        file.extend(SHB_LE);
        // EPB for interface 0 of the second section, which has none
        file.extend([
            6, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            32, 0, 0, 0,
        ]);
        let mut v2 = SHB_LE;
        v2[12] = 2;
        file.extend(v2);
        let (_, diag) = walk(&file);
        let codes: Vec<_> = diag.warnings().iter().map(|w| w.code).collect();
        assert_eq!(codes, ["undefined_interface", "unsupported_version"]);
        assert!(matches!(
            parse_first_section(&v2),
            Err(CaptureError::UnsupportedVersion { version, .. }) if version == "2.0"
        ));
        let header = parse_first_section(&SHB_LE).unwrap();
        assert_eq!(
            (header.version.as_str(), header.byte_order),
            ("1.0", crate::ByteOrder::Little)
        );
    }
}
