//! pcapng files (formats.md §2): block framing, sections, interfaces and packet blocks.
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
//!
//! Section headers, interface descriptions, enhanced and simple packet blocks are parsed
//! with pcap-parser 0.17's per-block functions, over the complete block. Our own code does
//! what pcap-parser gets wrong or lacks (formats.md §5.2):
//!
//! - the framing check before a block is parsed: pcap-parser does not require lengths to be
//!   multiples of 4, compares the trailing length only in EPBs and IDBs, and would ask a
//!   stream reader to buffer a block of any claimed size, so the length is judged here;
//! - `if_tsresol` and `if_tsoffset`, read from the IDB's raw options: pcap-parser has no
//!   resolution for 2^-n (item 4) and reads the offset as little-endian in every section
//!   (item 5);
//! - timestamps (item 6), and the Simple Packet Block's data length, the smaller of its
//!   original length and the interface's snap length (item 7);
//! - the obsolete Packet Block, which pcap-parser returns as an unknown block (item 9).
//!
//! Blocks that carry no packet are skipped by their type without parsing their contents.

use crate::record::{
    corrupt, oversized, Diagnostics, Endian, FileHeader, FrameMeta, OptionsSpan, Step,
    MAX_PCAPNG_BLOCK,
};
use crate::{CaptureError, Format, LinkType, TimestampPrecision, Warning};
use nom::IResult;
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le, InterfaceDescriptionBlock, OptionCode,
};
use pcap_parser::{
    PcapError, CB_MAGIC, DCB_MAGIC, EPB_MAGIC, IDB_MAGIC, SHB_MAGIC, SJE_MAGIC, SPB_MAGIC,
};

/// Block type of a Section Header Block; also the file's magic (a byte palindrome).
pub(crate) const SHB_TYPE: u32 = SHB_MAGIC;
/// Block type of an Interface Description Block.
pub(crate) const IDB_TYPE: u32 = IDB_MAGIC;
/// Block type of the obsolete Packet Block.
pub(crate) const PB_TYPE: u32 = 2;
/// Block type of a Simple Packet Block.
pub(crate) const SPB_TYPE: u32 = SPB_MAGIC;
/// Block type of an Enhanced Packet Block.
pub(crate) const EPB_TYPE: u32 = EPB_MAGIC;
/// Block type of a Custom Block whose contents may be copied.
pub(crate) const CUSTOM_COPYABLE_TYPE: u32 = CB_MAGIC;
/// Block type of a Custom Block whose contents should not be copied.
pub(crate) const CUSTOM_NO_COPY_TYPE: u32 = DCB_MAGIC;
/// Block type of a systemd Journal Export Block.
const JOURNAL_TYPE: u32 = SJE_MAGIC;
/// Byte-order magic of a section, as stored in a little-endian section.
const BOM_LE: [u8; 4] = [0x4D, 0x3C, 0x2B, 0x1A];
/// Byte-order magic of a section, as stored in a big-endian section.
const BOM_BE: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];
/// Interfaces kept per section; more are reported and ignored.
const MAX_INTERFACES: usize = 1 << 16;
/// Bytes from a block's start to the captured length of an EPB or obsolete PB.
const CAPLEN_OFFSET: usize = 20;
/// Bytes from a block's start to the packet data of an EPB or obsolete PB.
const PACKET_DATA_OFFSET: usize = 28;
/// Bytes from a block's start to the packet data of an SPB.
const SPB_DATA_OFFSET: usize = 12;
/// Bytes from a block's start to the options of an IDB.
const IDB_OPTIONS_OFFSET: usize = 16;
/// Length of the trailing block length.
const TRAILER_LEN: usize = 4;
/// Length of an option's code and length fields.
const OPTION_HEADER_LEN: usize = 4;
/// Bytes needed to read a first section header's byte order and version.
pub(crate) const MIN_HEADER_LEN: usize = 16;

/// What pcap-parser's block functions answer.
type Parsed<'a, T> = IResult<&'a [u8], T, PcapError<&'a [u8]>>;

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
///
/// Only the first 16 bytes are read, so a stream reader need not buffer the whole block
/// (with its options) to learn the file's version; pcap-parser needs the complete block.
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

/// How a packet block stores its interface id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InterfaceIdField {
    /// Obsolete Packet Block: a u16 id, then a u16 drops count.
    Narrow,
    /// Enhanced Packet Block: a u32 id.
    Wide,
}

/// The fields of an EPB or obsolete PB, section byte order already applied.
struct PacketFields {
    if_id: u32,
    ts_raw: u64,
    /// Captured length, already checked to fit in the block.
    caplen: u32,
    orig_len: u32,
    /// The options after the padded data (empty when there are none).
    options: OptionsSpan,
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

    /// The byte order of the current section, once a Section Header Block was read.
    pub(crate) fn section_endian(&self) -> Option<Endian> {
        self.endian
    }

    /// Whether a block of this type carries a packet (EPB, SPB, obsolete PB).
    pub(crate) fn is_packet_block(block_type: u32) -> bool {
        matches!(block_type, EPB_TYPE | PB_TYPE | SPB_TYPE)
    }

    /// Judges the block at the start of `buf`, which sits at file offset `offset`.
    ///
    /// The framing (type, length, trailing length) is checked here before pcap-parser sees
    /// the block, for the reasons given in the module documentation.
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
        if endian.u32(block, total - TRAILER_LEN) != Some(len) {
            return corrupt(
                diag,
                format!("pcapng block of type {block_type:#x}: its two length fields differ"),
                offset,
            );
        }
        let skip = Step::Skip {
            len: u64::from(len),
        };
        match block_type {
            SHB_TYPE => self.section(block, endian, offset, diag).unwrap_or(skip),
            IDB_TYPE => {
                self.interface(block, endian, offset, diag);
                skip
            }
            EPB_TYPE => self.enhanced_packet(block, endian, offset, diag),
            PB_TYPE => self.own_packet(block, endian, InterfaceIdField::Narrow, offset, diag),
            SPB_TYPE => self.simple_packet(block, endian, offset, diag),
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
        block: &[u8],
        endian: Endian,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Option<Step> {
        // pcap-parser requires the 28 bytes up to the section length, as Wireshark does.
        let Ok((_, shb)) = parse_sectionheaderblock(block) else {
            return Some(corrupt(
                diag,
                "section header block too short".into(),
                offset,
            ));
        };
        let (major, minor) = (shb.major_version, shb.minor_version);
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

    /// Adds an interface from an IDB.
    fn interface(&mut self, block: &[u8], endian: Endian, offset: u64, diag: &mut Diagnostics) {
        let parsed = in_order(
            endian,
            block,
            parse_interfacedescriptionblock_le,
            parse_interfacedescriptionblock_be,
        );
        let Ok((_, idb)) = parsed else {
            // Keep the numbering of the interfaces after it.
            diag.warn(
                Warning::new("bad_record", "interface description block too short")
                    .at_offset(offset),
            );
            self.push_interface(Interface::new(LinkType::Pcap(0), 0), offset, diag);
            return;
        };
        // The IDB holds the link type as a u16; pcap-parser widens it to i32.
        let link = LinkType::Pcap(idb.linktype.0 as u16);
        let mut interface = Interface::new(link, idb.snaplen);
        apply_time_options(&mut interface, &idb, block.len(), endian, offset, diag);
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

    /// An Enhanced Packet Block, parsed by pcap-parser unless it has options.
    fn enhanced_packet(
        &mut self,
        block: &[u8],
        endian: Endian,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        if has_options(block, endian) {
            // pcap-parser collects the options into a `Vec`: one heap allocation per packet,
            // which made the bare walk about 3.5 times slower. Such blocks are read here.
            return self.own_packet(block, endian, InterfaceIdField::Wide, offset, diag);
        }
        let parsed = in_order(
            endian,
            block,
            parse_enhancedpacketblock_le,
            parse_enhancedpacketblock_be,
        );
        match parsed {
            Ok((_, epb)) => {
                let fields = PacketFields {
                    if_id: epb.if_id,
                    ts_raw: (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low),
                    caplen: epb.caplen,
                    orig_len: epb.origlen,
                    options: OptionsSpan::default(),
                };
                self.packet(fields, block.len(), offset, diag)
            }
            // A complete block whose captured data would run past its end (`Incomplete`),
            // or that is too short for its fixed fields (`Error`).
            Err(_) => bad_packet(diag, block, endian, offset),
        }
    }

    /// A packet block read by our own code: an obsolete Packet Block, which pcap-parser
    /// returns as an unknown block (formats.md §5.2 item 9), or an EPB with options.
    fn own_packet(
        &mut self,
        block: &[u8],
        endian: Endian,
        id_field: InterfaceIdField,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        match own_packet_fields(block, endian, id_field) {
            Some(fields) => self.packet(fields, block.len(), offset, diag),
            None => bad_packet(diag, block, endian, offset),
        }
    }

    /// An EPB or obsolete PB whose fields are read and whose data fits in the block.
    fn packet(
        &mut self,
        p: PacketFields,
        block_len: usize,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        let Some(&interface) = self.interfaces.get(p.if_id as usize) else {
            let skip = Step::Skip {
                len: block_len as u64,
            };
            return undefined_interface(diag, p.if_id, offset, skip);
        };
        let ts_ns = self.narrow(interface.ts_ns(p.ts_raw), offset, diag);
        self.last_ts_ns = ts_ns;
        Step::Frame(FrameMeta {
            record_len: block_len,
            data_offset: PACKET_DATA_OFFSET,
            data_len: p.caplen as usize,
            ts_ns,
            link: interface.link,
            orig_len: p.orig_len,
            interface: p.if_id,
            options: p.options,
        })
    }

    /// A Simple Packet Block: interface 0, no timestamp, data cut to the snap length.
    fn simple_packet(
        &mut self,
        block: &[u8],
        endian: Endian,
        offset: u64,
        diag: &mut Diagnostics,
    ) -> Step {
        let skip = Step::Skip {
            len: block.len() as u64,
        };
        let parsed = in_order(
            endian,
            block,
            parse_simplepacketblock_le,
            parse_simplepacketblock_be,
        );
        let Ok((_, spb)) = parsed else {
            return bad_record(diag, "simple packet block too short", offset, skip);
        };
        let Some(&interface) = self.interfaces.first() else {
            return undefined_interface(diag, 0, offset, skip);
        };
        let snaplen = if interface.snaplen == 0 {
            u32::MAX
        } else {
            interface.snaplen
        };
        // pcap-parser's `packet_data()` ignores the snap length (formats.md §5.2 item 7).
        let data_len = (spb.origlen.min(snaplen) as usize).min(spb.data.len());
        if !self.warned_no_timestamp {
            self.warned_no_timestamp = true;
            let message = "simple packet blocks carry no timestamp; they get the time of the packet before them";
            diag.warn(Warning::new("no_timestamp", message).at_offset(offset));
        }
        Step::Frame(FrameMeta {
            record_len: block.len(),
            data_offset: SPB_DATA_OFFSET,
            data_len,
            ts_ns: self.last_ts_ns,
            link: interface.link,
            orig_len: spb.origlen,
            interface: 0,
            options: OptionsSpan::default(),
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

/// True when the complete EPB `block` holds options after its padded packet data.
fn has_options(block: &[u8], endian: Endian) -> bool {
    endian.u32(block, CAPLEN_OFFSET).is_some_and(|caplen| {
        let padded = u64::from(caplen).next_multiple_of(4);
        block.len() as u64 > (PACKET_DATA_OFFSET + TRAILER_LEN) as u64 + padded
    })
}

/// The fields of a complete EPB or obsolete PB `block`, or `None` when it is too short for
/// them or its captured length runs past the block.
fn own_packet_fields(
    block: &[u8],
    endian: Endian,
    id_field: InterfaceIdField,
) -> Option<PacketFields> {
    let if_id = match id_field {
        InterfaceIdField::Narrow => u32::from(endian.u16(block, 8)?),
        InterfaceIdField::Wide => endian.u32(block, 8)?,
    };
    let ts_high = endian.u32(block, 12)?;
    let ts_low = endian.u32(block, 16)?;
    let caplen = endian.u32(block, CAPLEN_OFFSET)?;
    let orig_len = endian.u32(block, 24)?;
    // The data, options and trailing length follow the fixed fields.
    let room = block.len().checked_sub(PACKET_DATA_OFFSET + TRAILER_LEN)?;
    let padded = (caplen as usize).checked_next_multiple_of(4)?;
    let options = OptionsSpan {
        offset: PACKET_DATA_OFFSET + padded.min(room),
        len: room.saturating_sub(padded),
        big_endian: endian == Endian::Big,
    };
    (caplen as usize <= room).then_some(PacketFields {
        if_id,
        ts_raw: (u64::from(ts_high) << 32) | u64::from(ts_low),
        caplen,
        orig_len,
        options,
    })
}

/// Parses a complete block with pcap-parser's function for the section's byte order.
fn in_order<'a, T>(
    endian: Endian,
    block: &'a [u8],
    little: fn(&'a [u8]) -> Parsed<'a, T>,
    big: fn(&'a [u8]) -> Parsed<'a, T>,
) -> Parsed<'a, T> {
    match endian {
        Endian::Little => little(block),
        Endian::Big => big(block),
    }
}

/// Sets an interface's units and offset from the raw `if_tsresol` and `if_tsoffset`
/// options of its IDB (`block_len` bytes long), read in the section's byte order.
///
/// pcap-parser's own `if_tsresol`/`if_tsoffset` fields are not used: it has no resolution
/// for 2^-n (formats.md §5.2 item 4) and reads the offset little-endian in every section
/// (item 5). Its option list stops silently at an option that runs past the block; that
/// is reported here.
fn apply_time_options(
    interface: &mut Interface,
    idb: &InterfaceDescriptionBlock,
    block_len: usize,
    endian: Endian,
    offset: u64,
    diag: &mut Diagnostics,
) {
    let mut parsed_len = 0;
    for option in &idb.options {
        // The value as declared; pcap-parser keeps the padding.
        let value = option
            .value
            .get(..usize::from(option.len))
            .unwrap_or_default();
        match (option.code, value) {
            (OptionCode::EndOfOpt, _) => return,
            (OptionCode::IfTsresol, &[resol]) => match units_per_sec(resol) {
                Some(units) => interface.set_units(units),
                None => {
                    let message = format!(
                        "interface has an unusable if_tsresol {resol:#04x}; microseconds assumed"
                    );
                    diag.warn(Warning::new("bad_option", message).at_offset(offset));
                }
            },
            (OptionCode::IfTsoffset, _) => match endian.u64(value, 0) {
                Some(raw) if value.len() == 8 => interface.ts_offset = raw as i64,
                _ => diag.warn(
                    Warning::new("bad_option", "if_tsoffset is not 8 bytes; ignored")
                        .at_offset(offset),
                ),
            },
            _ => {}
        }
        parsed_len += OPTION_HEADER_LEN + option.value.len();
    }
    let options_len = block_len.saturating_sub(IDB_OPTIONS_OFFSET + TRAILER_LEN);
    if options_len.saturating_sub(parsed_len) >= OPTION_HEADER_LEN {
        let message =
            "interface description block options run past the block; the rest are ignored";
        diag.warn(Warning::new("bad_option", message).at_offset(offset));
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

/// Skips a complete EPB or obsolete PB that is too short for its fixed fields or whose
/// captured length runs past the block.
fn bad_packet(diag: &mut Diagnostics, block: &[u8], endian: Endian, offset: u64) -> Step {
    let room = block.len().checked_sub(PACKET_DATA_OFFSET + TRAILER_LEN);
    let message = match (room, endian.u32(block, CAPLEN_OFFSET)) {
        (Some(room), Some(caplen)) => {
            format!("packet block claims {caplen} captured bytes but holds only {room}")
        }
        _ => "packet block too short for its header".to_string(),
    };
    let skip = Step::Skip {
        len: block.len() as u64,
    };
    bad_record(diag, &message, offset, skip)
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

    /// An EPB on interface 0: ts 5 µs, caplen 2, orig 2, data AA BB, then `options`.
    fn epb_le(options: &[u8]) -> Vec<u8> {
        let len = (32 + 4 + options.len()) as u32;
        let mut block = vec![6, 0, 0, 0];
        block.extend(len.to_le_bytes());
        block.extend([0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0]); // interface 0, ts high, ts low
        block.extend([2, 0, 0, 0, 2, 0, 0, 0, 0xAA, 0xBB, 0, 0]); // caplen, orig, data + pad
        block.extend(options);
        block.extend(len.to_le_bytes());
        block
    }

    /// IDB, Ethernet, snaplen 0, no options.
    const IDB_LE: [u8; 20] = [1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0];

    #[test]
    fn enhanced_packets_with_and_without_options_read_alike() {
        let mut file = SHB_LE.to_vec();
        file.extend(IDB_LE);
        file.extend(epb_le(&[]));
        // epb_flags = 1 (inbound), opt_endofopt: read by our own code, not pcap-parser
        file.extend(epb_le(&[2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]));
        let (frames, diag) = walk(&file);
        assert!(diag.warnings().is_empty(), "{:?}", diag.warnings());
        let frame = (5_000, LinkType::ETHERNET, vec![0xAA, 0xBB]);
        assert_eq!(frames, [frame.clone(), frame]);
    }

    #[test]
    fn interface_options_in_section_order_until_the_end_option() {
        let mut file = SHB_LE.to_vec();
        // IDB: if_tsresol 3 (ms), opt_endofopt, then an if_tsresol 9 that must be ignored
        file.extend([1, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        file.extend([9, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0]);
        file.extend([40, 0, 0, 0]);
        file.extend(epb_le(&[]));
        let (frames, diag) = walk(&file);
        assert!(diag.warnings().is_empty(), "{:?}", diag.warnings());
        assert_eq!(frames[0].0, 5_000_000);
    }

    #[test]
    fn bad_interface_options_are_reported() {
        let mut file = SHB_LE.to_vec();
        // IDB: if_tsoffset of 4 bytes, then an option claiming 64 bytes in a 12-byte rest
        file.extend([1, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        file.extend([14, 0, 4, 0, 1, 0, 0, 0, 2, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        file.extend([40, 0, 0, 0]);
        file.extend(epb_le(&[]));
        let (frames, diag) = walk(&file);
        assert_eq!(frames, [(5_000, LinkType::ETHERNET, vec![0xAA, 0xBB])]);
        let messages: Vec<_> = diag.warnings().iter().map(|w| (w.code, w.offset)).collect();
        assert_eq!(
            messages,
            [("bad_option", Some(28)), ("bad_option", Some(28))]
        );
        assert!(diag.warnings()[0].message.contains("not 8 bytes"));
        assert!(diag.warnings()[1].message.contains("run past the block"));
    }

    #[test]
    fn packet_blocks_too_short_for_their_fields_are_skipped() {
        let mut file = SHB_LE.to_vec();
        file.extend(IDB_LE);
        // EPB of 28 bytes: no room for the original length
        file.extend([6, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        file.extend([0, 0, 0, 0, 28, 0, 0, 0]);
        // SPB of 12 bytes: no original length
        file.extend([3, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0]);
        // obsolete PB whose caplen (5) exceeds its 4 data bytes
        file.extend([2, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]);
        file.extend([5, 0, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 36, 0, 0, 0]);
        file.extend(epb_le(&[]));
        let (frames, diag) = walk(&file);
        assert_eq!(frames.len(), 1);
        let messages: Vec<_> = diag.warnings().iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "packet block too short for its header; block skipped",
                "simple packet block too short; block skipped",
                "packet block claims 5 captured bytes but holds only 4; block skipped",
            ]
        );
        assert_eq!((diag.skipped_records, diag.unyielded_frames), (3, 3));
    }

    #[test]
    fn section_header_shorter_than_28_bytes_stops_reading() {
        // Version 1.0, but no section length: pcap-parser (like Wireshark) rejects it.
        let mut file = SHB_LE.to_vec();
        file.extend([0x0A, 0x0D, 0x0D, 0x0A, 20, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A]);
        file.extend([1, 0, 0, 0, 20, 0, 0, 0]);
        let (_, diag) = walk(&file);
        let codes: Vec<_> = diag.warnings().iter().map(|w| (w.code, w.offset)).collect();
        assert_eq!(codes, [("corrupt_record", Some(28))]);
    }
}
