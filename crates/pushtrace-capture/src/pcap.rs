//! Classic libpcap files (formats.md §1): the 24-byte file header and the record parser.
//!
//! The file header and the common record layouts are read with pcap-parser 0.17 (formats.md
//! §5.2), over borrowed bytes, one record at a time:
//!
//! | magic (file bytes)            | record header | fraction | record parser                 |
//! |-------------------------------|---------------|----------|-------------------------------|
//! | `D4 C3 B2 A1` / `A1 B2 C3 D4` | 16 bytes      | µs       | `parse_pcap_frame` / `_be`    |
//! | `4D 3C B2 A1` / `A1 B2 3C 4D` | 16 bytes      | ns       | `parse_pcap_frame` / `_be`    |
//! | `34 CD B2 A1`                 | 24 bytes      | µs       | `parse_pcap_frame_modified`   |
//! | `A1 B2 CD 34`                 | 24 bytes      | µs       | ours (§5.2 item 2)            |
//!
//! Our own code covers what pcap-parser lacks: the big-endian "modified" magic, which nothing
//! in pcap-parser recognises, and files of version 2.0–2.3, whose two length fields may be
//! stored swapped (2.0–2.2 always, 2.3 when `incl_len > orig_len`, as Wireshark does, §1.1)
//! while pcap-parser always takes the first one as the captured length (§5.2 item 2). It
//! also judges records above [`MAX_PCAP_CAPLEN`]: pcap-parser only says how many bytes are
//! missing. Timestamps are computed here (pcap-parser leaves the fraction raw), and the link
//! type is the low 16 bits of the header's `network` field (§1.1, §5.2 item 8).

use crate::record::{
    corrupt, oversized, Diagnostics, Endian, FileHeader, FrameMeta, OptionsSpan, Step,
    MAX_PCAP_CAPLEN,
};
use crate::{CaptureError, Format, LinkType, TimestampPrecision};
use nom::bytes::streaming::take;
use nom::number::streaming::u32 as field_u32;
use nom::{IResult, Needed, Parser};
use pcap_parser::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, PcapError,
};

/// Length of the pcap file header.
pub(crate) const HEADER_LEN: usize = 24;
/// The fields every record header starts with: seconds, fraction, two lengths.
const COMMON_RECORD_FIELDS_LEN: usize = 16;
/// Magic of big-endian microsecond files, as stored.
const MAGIC_MICROS_BE: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];
/// Magic of big-endian "modified" files, as stored.
const MAGIC_MODIFIED_BE: [u8; 4] = [0xA1, 0xB2, 0xCD, 0x34];

/// What a record parser answers: the rest of the input and the record, or a nom error.
type RecordResult<'a> = IResult<&'a [u8], LegacyPcapBlock<'a>, PcapError<&'a [u8]>>;

/// The layout a pcap magic announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Variant {
    /// Byte order of every header field.
    pub endian: Endian,
    /// True when the record fraction counts nanoseconds (else microseconds).
    pub nanos: bool,
    /// Record header length: 16, or 24 for the "modified" format.
    pub record_header_len: usize,
}

/// The variant announced by the first four bytes of a file, if they are a pcap magic.
pub(crate) fn variant(magic: [u8; 4]) -> Option<Variant> {
    let (endian, nanos, record_header_len) = match magic {
        [0xD4, 0xC3, 0xB2, 0xA1] => (Endian::Little, false, 16),
        MAGIC_MICROS_BE => (Endian::Big, false, 16),
        [0x4D, 0x3C, 0xB2, 0xA1] => (Endian::Little, true, 16),
        [0xA1, 0xB2, 0x3C, 0x4D] => (Endian::Big, true, 16),
        [0x34, 0xCD, 0xB2, 0xA1] => (Endian::Little, false, 24),
        MAGIC_MODIFIED_BE => (Endian::Big, false, 24),
        _ => return None,
    };
    Some(Variant {
        endian,
        nanos,
        record_header_len,
    })
}

/// When a record's two length fields are stored the other way round (§1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthOrder {
    /// `incl_len`, then `orig_len` (2.4 and later).
    Standard,
    /// Always swapped (2.0–2.2).
    Swapped,
    /// Swapped when the first is larger than the second (2.3).
    SwappedWhenInclLarger,
}

impl LengthOrder {
    /// `(incl_len, orig_len)` from the two length fields as stored.
    fn incl_orig(self, first: u32, second: u32) -> (u32, u32) {
        let swapped = match self {
            LengthOrder::Standard => false,
            LengthOrder::Swapped => true,
            LengthOrder::SwappedWhenInclLarger => first > second,
        };
        if swapped {
            (second, first)
        } else {
            (first, second)
        }
    }
}

/// Which function reads the records of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordFunction {
    /// pcap-parser's `parse_pcap_frame`: little-endian, 16-byte headers.
    LittleEndian,
    /// pcap-parser's `parse_pcap_frame_be`: big-endian, 16-byte headers.
    BigEndian,
    /// pcap-parser's `parse_pcap_frame_modified`: little-endian, 24-byte headers.
    LittleEndianModified,
    /// Ours, for the big-endian "modified" layout and for swapped lengths (§5.2 item 2).
    Own,
}

/// A record header's fields, lengths in `incl_len`, `orig_len` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordHeader {
    ts_sec: u32,
    ts_frac: u32,
    incl_len: u32,
    orig_len: u32,
}

/// The record parser of one pcap file.
#[derive(Debug, Clone)]
pub(crate) struct PcapParser {
    variant: Variant,
    lengths: LengthOrder,
    function: RecordFunction,
    link: LinkType,
}

/// Reads the file header. `bytes` must start with a pcap magic.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<(FileHeader, PcapParser), CaptureError> {
    let truncated = || CaptureError::TruncatedHeader {
        format: Format::Pcap,
        len: bytes.len(),
    };
    let magic: [u8; 4] = bytes
        .get(..4)
        .and_then(|m| m.try_into().ok())
        .ok_or_else(truncated)?;
    let variant = variant(magic).ok_or_else(|| CaptureError::NotACapture {
        first_bytes: magic.to_vec(),
        compression: None,
    })?;
    let mut raw: [u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(truncated)?;
    if magic == MAGIC_MODIFIED_BE {
        // pcap-parser does not recognise this magic (formats.md §5.2 item 2). The rest of
        // the header is laid out as in a big-endian microsecond file, so read it as one.
        raw[..4].copy_from_slice(&MAGIC_MICROS_BE);
    }
    // Cannot fail: 24 bytes that start with a magic pcap-parser knows.
    let (_, parsed) = parse_pcap_header(&raw).map_err(|_| truncated())?;
    let (major, minor) = (parsed.version_major, parsed.version_minor);
    if major < 2 {
        return Err(CaptureError::UnsupportedVersion {
            format: Format::Pcap,
            version: format!("{major}.{minor}"),
        });
    }
    let lengths = match (major, minor) {
        (2, 0..=2) => LengthOrder::Swapped,
        (2, 3) => LengthOrder::SwappedWhenInclLarger,
        _ => LengthOrder::Standard,
    };
    let function = match (lengths, variant.endian, variant.record_header_len) {
        (LengthOrder::Standard, Endian::Little, 16) => RecordFunction::LittleEndian,
        (LengthOrder::Standard, Endian::Big, 16) => RecordFunction::BigEndian,
        (LengthOrder::Standard, Endian::Little, _) => RecordFunction::LittleEndianModified,
        _ => RecordFunction::Own,
    };
    let header = FileHeader {
        version: format!("{major}.{minor}"),
        byte_order: variant.endian.byte_order(),
        precision: if variant.nanos {
            TimestampPrecision::Nanoseconds
        } else {
            TimestampPrecision::Microseconds
        },
        len: HEADER_LEN,
    };
    // `network` is the raw 32-bit field; the link type is its low 16 bits (§5.2 item 8).
    let link = LinkType::Pcap((parsed.network.0 as u32 & 0xFFFF) as u16);
    Ok((
        header,
        PcapParser {
            variant,
            lengths,
            function,
            link,
        },
    ))
}

impl PcapParser {
    /// Judges the record at the start of `buf`, which sits at file offset `offset`.
    pub(crate) fn step(&self, buf: &[u8], offset: u64, diag: &mut Diagnostics) -> Step {
        let header_len = self.variant.record_header_len;
        let record = match self.parse_record(buf) {
            Ok((_, record)) if record.caplen <= MAX_PCAP_CAPLEN => record,
            Ok((_, record)) => return self.too_large(record.caplen, record.origlen, offset, diag),
            Err(nom::Err::Incomplete(needed)) => {
                let missing = match needed {
                    Needed::Size(n) => n.get(),
                    Needed::Unknown => 1,
                };
                let total = buf.len().saturating_add(missing);
                // A header length plus MAX_PCAP_CAPLEN cannot overflow.
                if total <= header_len + MAX_PCAP_CAPLEN as usize {
                    return Step::NeedMore { total };
                }
                // Beyond the cap, so the header is complete (it is far smaller).
                return match self.record_header(buf) {
                    Ok((_, h)) => self.too_large(h.incl_len, h.orig_len, offset, diag),
                    Err(_) => unreadable(diag, offset),
                };
            }
            // The record parsers only ever ask for more bytes.
            Err(_) => return unreadable(diag, offset),
        };
        let frac_ns = if self.variant.nanos {
            i64::from(record.ts_usec)
        } else {
            i64::from(record.ts_usec) * 1_000
        };
        Step::Frame(FrameMeta {
            record_len: header_len + record.data.len(),
            data_offset: header_len,
            data_len: record.data.len(),
            // u32 seconds × 10⁹ plus a u32 fraction × 10³ stays below i64::MAX.
            ts_ns: i64::from(record.ts_sec) * 1_000_000_000 + frac_ns,
            link: self.link,
            orig_len: record.origlen,
            interface: 0,
            options: OptionsSpan::default(),
        })
    }

    /// Reads the record at the start of `buf` with the function for this file's layout.
    fn parse_record<'a>(&self, buf: &'a [u8]) -> RecordResult<'a> {
        match self.function {
            RecordFunction::LittleEndian => parse_pcap_frame(buf),
            RecordFunction::BigEndian => parse_pcap_frame_be(buf),
            RecordFunction::LittleEndianModified => parse_pcap_frame_modified(buf),
            RecordFunction::Own => self.parse_own_record(buf),
        }
    }

    /// Reads a record the way pcap-parser's functions do (same result, same `Incomplete`
    /// sizes), for the layouts they lack (formats.md §5.2 item 2): big-endian "modified"
    /// records, and files before 2.4 whose length fields may be swapped.
    fn parse_own_record<'a>(&self, buf: &'a [u8]) -> RecordResult<'a> {
        let (rest, header) = self.record_header(buf)?;
        let (rest, data) = take(header.incl_len).parse(rest)?;
        let record = LegacyPcapBlock {
            ts_sec: header.ts_sec,
            ts_usec: header.ts_frac,
            caplen: header.incl_len,
            origlen: header.orig_len,
            data,
        };
        Ok((rest, record))
    }

    /// Reads the record header at the start of `buf`, in any layout, with its two lengths
    /// put in `incl_len`, `orig_len` order.
    fn record_header<'a>(
        &self,
        buf: &'a [u8],
    ) -> IResult<&'a [u8], RecordHeader, PcapError<&'a [u8]>> {
        let header_len = self.variant.record_header_len;
        if buf.len() < header_len {
            return Err(nom::Err::Incomplete(Needed::new(header_len - buf.len())));
        }
        let field = || field_u32(self.variant.endian.nom());
        let (rest, (ts_sec, ts_frac, first, second)) =
            (field(), field(), field(), field()).parse(buf)?;
        // "Modified" headers go on with interface index, protocol, packet type and padding.
        let (rest, _) = take(header_len - COMMON_RECORD_FIELDS_LEN).parse(rest)?;
        let (incl_len, orig_len) = self.lengths.incl_orig(first, second);
        let header = RecordHeader {
            ts_sec,
            ts_frac,
            incl_len,
            orig_len,
        };
        Ok((rest, header))
    }

    /// Judges a record whose captured length is above [`MAX_PCAP_CAPLEN`]: skipped when
    /// plausible, else the file is taken as corrupt.
    fn too_large(&self, incl_len: u32, orig_len: u32, offset: u64, diag: &mut Diagnostics) -> Step {
        let record_len = self.variant.record_header_len as u64 + u64::from(incl_len);
        let what = format!("a pcap record with {incl_len} captured bytes");
        let step = oversized(diag, &what, record_len, orig_len >= incl_len, offset);
        if let Step::Skip { .. } = step {
            diag.unyielded_frames += 1;
        }
        step
    }
}

/// Stops at a record the parsers reject outright (they never do: they only ask for more).
fn unreadable(diag: &mut Diagnostics, offset: u64) -> Step {
    corrupt(diag, "unreadable pcap record header".into(), offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file header: magic as given, then the rest in `e` order.
    fn header(magic: [u8; 4], e: Endian, version: (u16, u16), network: u32) -> Vec<u8> {
        let mut h = magic.to_vec();
        let (major, minor) = version;
        let put16 = |v: u16| {
            if e == Endian::Big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let put32 = |v: u32| {
            if e == Endian::Big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        h.extend(put16(major));
        h.extend(put16(minor));
        h.extend(put32(0)); // thiszone
        h.extend(put32(0)); // sigfigs
        h.extend(put32(65535)); // snaplen
        h.extend(put32(network));
        h
    }

    #[test]
    fn big_endian_nanosecond_header_and_record() {
        let file = header([0xA1, 0xB2, 0x3C, 0x4D], Endian::Big, (2, 4), 0x1000_0065);
        let (info, parser) = parse_header(&file).unwrap();
        assert_eq!(info.version, "2.4");
        assert_eq!(info.byte_order, crate::ByteOrder::Big);
        assert_eq!(info.precision, TimestampPrecision::Nanoseconds);
        let record = [
            0x00, 0x00, 0x00, 0x02, // ts_sec 2
            0x00, 0x00, 0x00, 0x07, // ts_nsec 7
            0x00, 0x00, 0x00, 0x03, // incl_len 3
            0x00, 0x00, 0x00, 0x09, // orig_len 9
            0xAA, 0xBB, 0xCC, // data
            0xEE, // next record
        ];
        let mut diag = Diagnostics::default();
        let Step::Frame(meta) = parser.step(&record, 24, &mut diag) else {
            panic!("no frame")
        };
        assert_eq!(meta.ts_ns, 2_000_000_007);
        assert_eq!(
            (
                meta.record_len,
                meta.data_offset,
                meta.data_len,
                meta.orig_len
            ),
            (19, 16, 3, 9)
        );
        // Link type: only the low 16 bits of `network` (the FCS bits are masked off).
        assert_eq!(meta.link, LinkType::RAW);
    }

    #[test]
    fn modified_big_endian_records_are_24_bytes() {
        let file = header([0xA1, 0xB2, 0xCD, 0x34], Endian::Big, (2, 4), 1);
        let (info, parser) = parse_header(&file).unwrap();
        assert_eq!(info.precision, TimestampPrecision::Microseconds);
        let mut record = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1];
        record.extend([0, 0, 0, 2, 0x08, 0x00, 0, 0]); // ifindex, protocol, pkt_type, pad
        assert_eq!(
            parser.step(&record, 24, &mut Diagnostics::default()),
            Step::NeedMore { total: 25 }
        );
        record.push(0x42);
        let Step::Frame(meta) = parser.step(&record, 24, &mut Diagnostics::default()) else {
            panic!()
        };
        assert_eq!(
            (meta.data_offset, meta.data_len, meta.ts_ns),
            (24, 1, 1_000_005_000)
        );
    }

    #[test]
    fn old_versions_store_the_lengths_swapped() {
        // Version 2.2: orig_len comes first.
        let (_, parser) =
            parse_header(&header([0xD4, 0xC3, 0xB2, 0xA1], Endian::Little, (2, 2), 1)).unwrap();
        let record = [0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 2, 0, 0, 0, 0xAB, 0xCD];
        let Step::Frame(meta) = parser.step(&record, 24, &mut Diagnostics::default()) else {
            panic!()
        };
        assert_eq!((meta.data_len, meta.orig_len), (2, 60));
        // Version 2.3: swapped only when the first length is the larger.
        let (_, parser) =
            parse_header(&header([0xD4, 0xC3, 0xB2, 0xA1], Endian::Little, (2, 3), 1)).unwrap();
        let Step::Frame(meta) = parser.step(&record, 24, &mut Diagnostics::default()) else {
            panic!()
        };
        assert_eq!((meta.data_len, meta.orig_len), (2, 60));
        let record = [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xAB];
        let Step::Frame(meta) = parser.step(&record, 24, &mut Diagnostics::default()) else {
            panic!()
        };
        assert_eq!((meta.data_len, meta.orig_len), (1, 2));
    }

    #[test]
    fn hostile_caplen_stops_and_large_plausible_record_is_skipped() {
        let (_, parser) =
            parse_header(&header([0xD4, 0xC3, 0xB2, 0xA1], Endian::Little, (2, 4), 1)).unwrap();
        let mut diag = Diagnostics::default();
        let hostile = [
            0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(parser.step(&hostile, 100, &mut diag), Step::Stop);
        let big = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x20, 0]; // 2 MiB, orig 2 MiB
        assert_eq!(
            parser.step(&big, 200, &mut diag),
            Step::Skip {
                len: 16 + (2 << 20)
            }
        );
        let codes: Vec<_> = diag.warnings().iter().map(|w| (w.code, w.offset)).collect();
        assert_eq!(
            codes,
            [
                ("corrupt_record", Some(100)),
                ("record_too_large", Some(200))
            ]
        );
    }

    #[test]
    fn header_errors() {
        let short = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0];
        assert!(matches!(
            parse_header(&short),
            Err(CaptureError::TruncatedHeader { len: 6, .. })
        ));
        let v1 = header([0xD4, 0xC3, 0xB2, 0xA1], Endian::Little, (1, 0), 1);
        let err = parse_header(&v1).unwrap_err();
        assert_eq!(err.to_string(), "unsupported pcap version 1.0");
    }

    #[test]
    fn incomplete_records_ask_for_the_whole_record() {
        // 2.4 (pcap-parser's `parse_pcap_frame`) and 2.2 (our own reader, swapped lengths)
        for (version, lengths) in [((2, 4), [5u8, 9]), ((2, 2), [9, 5])] {
            let (_, parser) = parse_header(&header(
                [0xD4, 0xC3, 0xB2, 0xA1],
                Endian::Little,
                version,
                1,
            ))
            .unwrap();
            let mut record = vec![
                0, 0, 0, 0, 0, 0, 0, 0, lengths[0], 0, 0, 0, lengths[1], 0, 0, 0,
            ];
            record.extend([1, 2]);
            let mut diag = Diagnostics::default();
            assert_eq!(
                parser.step(&record[..7], 24, &mut diag),
                Step::NeedMore { total: 16 }
            );
            assert_eq!(
                parser.step(&record, 24, &mut diag),
                Step::NeedMore { total: 21 }
            );
            record.extend([3, 4, 5]);
            let Step::Frame(meta) = parser.step(&record, 24, &mut diag) else {
                panic!("{version:?}: no frame")
            };
            assert_eq!((meta.record_len, meta.data_len, meta.orig_len), (21, 5, 9));
        }
    }

    #[test]
    fn oversized_record_is_judged_from_its_header_alone() {
        let (_, parser) =
            parse_header(&header([0xD4, 0xC3, 0xB2, 0xA1], Endian::Little, (2, 4), 1)).unwrap();
        let mut diag = Diagnostics::default();
        // incl_len 2 MiB, orig_len 2 MiB; only the header is at hand (a stream window)
        let big = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x20, 0, 0xAB];
        assert_eq!(
            parser.step(&big, 24, &mut diag),
            Step::Skip {
                len: 16 + (2 << 20)
            }
        );
        assert_eq!(diag.unyielded_frames, 1);
    }

    #[test]
    fn modified_little_endian_records_are_24_bytes() {
        let file = header([0x34, 0xCD, 0xB2, 0xA1], Endian::Little, (2, 4), 1);
        let (_, parser) = parse_header(&file).unwrap();
        let mut record = vec![3, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0];
        record.extend([2, 0, 0, 0, 0x00, 0x08, 0, 0]); // ifindex, protocol, pkt_type, pad
        record.push(0x42);
        let Step::Frame(meta) = parser.step(&record, 24, &mut Diagnostics::default()) else {
            panic!("no frame")
        };
        assert_eq!(
            (meta.data_offset, meta.data_len, meta.orig_len, meta.ts_ns),
            (24, 1, 4, 3_000_009_000)
        );
    }
}
