//! Classic libpcap files (formats.md §1): the 24-byte file header and the record parser.
//!
//! Parsed by hand rather than with pcap-parser, whose record functions are little-endian
//! only for the "modified" variant and do not know its big-endian magic (formats.md §5.2);
//! one generic parser covers every magic in both byte orders:
//!
//! | magic (file bytes)          | record header | fraction |
//! |-----------------------------|---------------|----------|
//! | `D4 C3 B2 A1` / `A1 B2 C3 D4` | 16 bytes    | µs       |
//! | `4D 3C B2 A1` / `A1 B2 3C 4D` | 16 bytes    | ns       |
//! | `34 CD B2 A1` / `A1 B2 CD 34` | 24 bytes    | µs       |
//!
//! Files of version 2.0–2.2 store `incl_len` and `orig_len` swapped, and 2.3 files are swapped
//! when `incl_len > orig_len`, as Wireshark does (§1.1). The link type is the low 16 bits of
//! the header's `network` field (§1.1, §5.2 item 8).

use crate::record::{oversized, Diagnostics, Endian, FileHeader, FrameMeta, Step, MAX_PCAP_CAPLEN};
use crate::{CaptureError, Format, LinkType, TimestampPrecision};

/// Length of the pcap file header.
pub(crate) const HEADER_LEN: usize = 24;

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
        [0xA1, 0xB2, 0xC3, 0xD4] => (Endian::Big, false, 16),
        [0x4D, 0x3C, 0xB2, 0xA1] => (Endian::Little, true, 16),
        [0xA1, 0xB2, 0x3C, 0x4D] => (Endian::Big, true, 16),
        [0x34, 0xCD, 0xB2, 0xA1] => (Endian::Little, false, 24),
        [0xA1, 0xB2, 0xCD, 0x34] => (Endian::Big, false, 24),
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

/// The record parser of one pcap file.
#[derive(Debug, Clone)]
pub(crate) struct PcapParser {
    variant: Variant,
    lengths: LengthOrder,
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
    if bytes.len() < HEADER_LEN {
        return Err(truncated());
    }
    let e = variant.endian;
    let (Some(major), Some(minor), Some(network)) =
        (e.u16(bytes, 4), e.u16(bytes, 6), e.u32(bytes, 20))
    else {
        return Err(truncated());
    };
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
    let header = FileHeader {
        version: format!("{major}.{minor}"),
        byte_order: e.byte_order(),
        precision: if variant.nanos {
            TimestampPrecision::Nanoseconds
        } else {
            TimestampPrecision::Microseconds
        },
        len: HEADER_LEN,
    };
    let link = LinkType::Pcap((network & 0xFFFF) as u16);
    Ok((
        header,
        PcapParser {
            variant,
            lengths,
            link,
        },
    ))
}

impl PcapParser {
    /// Judges the record at the start of `buf`, which sits at file offset `offset`.
    pub(crate) fn step(&self, buf: &[u8], offset: u64, diag: &mut Diagnostics) -> Step {
        let header_len = self.variant.record_header_len;
        let e = self.variant.endian;
        let (Some(ts_sec), Some(ts_frac), Some(first), Some(second)) =
            (e.u32(buf, 0), e.u32(buf, 4), e.u32(buf, 8), e.u32(buf, 12))
        else {
            return Step::NeedMore { total: header_len };
        };
        if buf.len() < header_len {
            return Step::NeedMore { total: header_len };
        }
        let swapped = match self.lengths {
            LengthOrder::Standard => false,
            LengthOrder::Swapped => true,
            LengthOrder::SwappedWhenInclLarger => first > second,
        };
        let (incl_len, orig_len) = if swapped {
            (second, first)
        } else {
            (first, second)
        };
        if incl_len > MAX_PCAP_CAPLEN {
            let record_len = header_len as u64 + u64::from(incl_len);
            let what = format!("a pcap record with {incl_len} captured bytes");
            let step = oversized(diag, &what, record_len, orig_len >= incl_len, offset);
            if let Step::Skip { .. } = step {
                diag.unyielded_frames += 1;
            }
            return step;
        }
        // Bounded by MAX_PCAP_CAPLEN, so the sum cannot overflow.
        let record_len = header_len + incl_len as usize;
        if buf.len() < record_len {
            return Step::NeedMore { total: record_len };
        }
        let frac_ns = if self.variant.nanos {
            i64::from(ts_frac)
        } else {
            i64::from(ts_frac) * 1_000
        };
        Step::Frame(FrameMeta {
            record_len,
            data_offset: header_len,
            data_len: incl_len as usize,
            // u32 seconds × 10⁹ plus a u32 fraction × 10³ stays below i64::MAX.
            ts_ns: i64::from(ts_sec) * 1_000_000_000 + frac_ns,
            link: self.link,
            orig_len,
        })
    }
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
}
