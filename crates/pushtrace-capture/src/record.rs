//! The shared vocabulary of the sans-IO record parsers (pcap, pcapng).
//!
//! A record parser looks at the bytes that start at the current record and answers with one
//! [`Step`]: a frame, a record to skip, "I need more bytes", or "stop, the file is corrupt".
//! It never does I/O and never keeps a borrow, so the same parser runs over a memory-mapped
//! file and over the sliding window of a stream (see `reader.rs`). Warnings and counters go
//! to a [`Diagnostics`] value, which also bounds how many warnings are kept.
//!
//! The caps below follow formats.md §1.3 (Wireshark refuses packets above 262 144 bytes) and
//! §2.1 (pcapng block framing).

use crate::{ByteOrder, LinkType, TimestampPrecision, Warning};

/// Largest pcap record data (`incl_len`) read as a frame: 4 × Wireshark's 262 144.
pub(crate) const MAX_PCAP_CAPLEN: u32 = 1 << 20;
/// Largest pcapng block read into memory.
pub(crate) const MAX_PCAPNG_BLOCK: u32 = 16 << 20;
/// Records longer than this are not skipped but taken as proof the file is corrupt.
pub(crate) const ABSURD_RECORD_LEN: u32 = 256 << 20;
/// How many warnings of one code are kept; the rest are only counted.
const MAX_WARNINGS_PER_CODE: u64 = 100;

/// Byte order of a file or of a pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl Endian {
    /// The `u16` at `at`, or `None` past the end.
    pub(crate) fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    /// The `u32` at `at`, or `None` past the end.
    pub(crate) fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    /// The `u64` at `at`, or `None` past the end.
    pub(crate) fn u64(self, bytes: &[u8], at: usize) -> Option<u64> {
        let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }
}

/// What a pcap or pcapng file header says, for [`crate::FormatInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// `major.minor`, e.g. `2.4`.
    pub version: String,
    /// Byte order of the header.
    pub byte_order: ByteOrder,
    /// Resolution of the record timestamps.
    pub precision: TimestampPrecision,
    /// Bytes before the first record (0 when the header is itself a record, as in pcapng).
    pub len: usize,
}

impl Endian {
    /// The same byte order, for nom's number parsers.
    pub(crate) fn nom(self) -> nom::number::Endianness {
        match self {
            Endian::Little => nom::number::Endianness::Little,
            Endian::Big => nom::number::Endianness::Big,
        }
    }

    /// The public name of this byte order.
    pub(crate) fn byte_order(self) -> ByteOrder {
        match self {
            Endian::Little => ByteOrder::Little,
            Endian::Big => ByteOrder::Big,
        }
    }
}

/// Where a frame lies inside its record, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameMeta {
    /// Length of the whole record (header, data, padding, trailer); at least 1.
    pub record_len: usize,
    /// Offset of the frame bytes from the record start.
    pub data_offset: usize,
    /// Number of frame bytes; `data_offset + data_len <= record_len`.
    pub data_len: usize,
    /// Capture time, nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Link type of the frame.
    pub link: LinkType,
    /// Length on the wire.
    pub orig_len: u32,
    /// The pcapng interface number (0 for pcap).
    pub interface: u32,
    /// Where the packet block's options lie in the record (pcapng EPBs with options).
    pub options: OptionsSpan,
}

/// The options of a record: `len` bytes from `offset` of the record start, in a section of
/// the given byte order. Empty (`len` 0) for records without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OptionsSpan {
    pub offset: usize,
    pub len: usize,
    pub big_endian: bool,
}

/// A record parser's answer for the record at the start of the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A frame, whose record is fully present.
    Frame(FrameMeta),
    /// A record that yields no frame; `len` (at least 1) may exceed the bytes given, in
    /// which case the caller skips the rest without buffering it.
    Skip { len: u64 },
    /// The record needs `total` bytes from its start (more than were given) to be judged.
    NeedMore { total: usize },
    /// Reading cannot go on; the reason is already in the diagnostics.
    Stop,
}

/// Warnings and counters gathered while reading, with a cap on stored warnings.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    warnings: Vec<Warning>,
    /// Per code: warnings seen so far (kept or not).
    seen: Vec<(&'static str, u64)>,
    /// Records skipped because they were damaged, too large or unusable.
    pub skipped_records: u64,
    /// Blocks skipped because they carry no packet (pcapng NRB, ISB, DSB, custom, unknown).
    pub other_blocks: u64,
    /// Records that would be frames in Wireshark but were not yielded: pcapng custom and
    /// systemd journal blocks (not packets), and packet records skipped as damaged or too
    /// large. They take a frame number, so the frames after them keep Wireshark's numbers
    /// and a gap marks each skipped packet.
    pub unyielded_frames: u64,
}

impl Diagnostics {
    /// Records a warning; beyond [`MAX_WARNINGS_PER_CODE`] of one code it is only counted.
    pub(crate) fn warn(&mut self, warning: Warning) {
        let seen = match self.seen.iter_mut().find(|(code, _)| *code == warning.code) {
            Some((_, count)) => count,
            None => {
                self.seen.push((warning.code, 0));
                match self.seen.last_mut() {
                    Some((_, count)) => count,
                    None => return,
                }
            }
        };
        *seen += 1;
        if *seen <= MAX_WARNINGS_PER_CODE {
            self.warnings.push(warning);
        }
    }

    /// Records a skipped record and the warning that explains it.
    pub(crate) fn skip_record(&mut self, warning: Warning) {
        self.skipped_records += 1;
        self.warn(warning);
    }

    /// Appends one `warnings_suppressed` summary per code that went over the cap. Call once,
    /// when reading ends.
    pub(crate) fn finish(&mut self) {
        for &(code, count) in &self.seen {
            if count > MAX_WARNINGS_PER_CODE {
                let dropped = count - MAX_WARNINGS_PER_CODE;
                self.warnings.push(Warning::new(
                    "warnings_suppressed",
                    format!("{dropped} more `{code}` warnings were not kept"),
                ));
            }
        }
    }

    /// The warnings kept so far, in the order they happened.
    pub(crate) fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// Judges a record longer than its cap: skip its `len` bytes when its header is otherwise
/// `plausible` and the length is not absurd, else stop. `what` describes the record.
pub(crate) fn oversized(
    diag: &mut Diagnostics,
    what: &str,
    len: u64,
    plausible: bool,
    offset: u64,
) -> Step {
    if plausible && len <= u64::from(ABSURD_RECORD_LEN) {
        diag.skip_record(
            Warning::new(
                "record_too_large",
                format!("skipped {what} of {len} bytes, over the size limit"),
            )
            .at_offset(offset),
        );
        Step::Skip { len }
    } else {
        corrupt(
            diag,
            format!("{what} claims {len} bytes; the file is corrupt here, reading stops"),
            offset,
        )
    }
}

/// Records a `corrupt_record` warning and answers [`Step::Stop`].
pub(crate) fn corrupt(diag: &mut Diagnostics, message: String, offset: u64) -> Step {
    diag.warn(Warning::new("corrupt_record", message).at_offset(offset));
    Step::Stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endian_reads_are_bounded_and_ordered() {
        let bytes = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        assert_eq!(Endian::Little.u16(&bytes, 0), Some(0x0201));
        assert_eq!(Endian::Big.u16(&bytes, 0), Some(0x0102));
        assert_eq!(Endian::Little.u32(&bytes, 4), Some(0x0807_0605));
        assert_eq!(Endian::Big.u64(&bytes, 0), Some(0x0102_0304_0506_0708));
        assert_eq!(Endian::Big.u32(&bytes, 5), None);
        assert_eq!(Endian::Big.u16(&bytes, usize::MAX), None);
    }

    #[test]
    fn warnings_over_the_cap_are_counted_not_kept() {
        let mut diag = Diagnostics::default();
        for i in 0..MAX_WARNINGS_PER_CODE + 5 {
            diag.skip_record(Warning::new("bad_record", "x").at_offset(i));
        }
        diag.warn(Warning::new("other", "y"));
        diag.finish();
        let kept = diag.warnings();
        assert_eq!(diag.skipped_records, MAX_WARNINGS_PER_CODE + 5);
        assert_eq!(
            kept.iter().filter(|w| w.code == "bad_record").count() as u64,
            MAX_WARNINGS_PER_CODE
        );
        let summary = kept.last().unwrap();
        assert_eq!(summary.code, "warnings_suppressed");
        assert!(
            summary.message.contains("5 more `bad_record`"),
            "{}",
            summary.message
        );
    }

    #[test]
    fn oversized_record_is_skipped_when_plausible_and_stops_otherwise() {
        let mut diag = Diagnostics::default();
        assert_eq!(
            oversized(&mut diag, "a record", 2 << 20, true, 40),
            Step::Skip { len: 2 << 20 }
        );
        assert_eq!(
            oversized(&mut diag, "a record", 2 << 20, false, 80),
            Step::Stop
        );
        assert_eq!(
            oversized(&mut diag, "a record", u64::from(u32::MAX), true, 90),
            Step::Stop
        );
        let codes: Vec<_> = diag.warnings().iter().map(|w| (w.code, w.offset)).collect();
        assert_eq!(
            codes,
            [
                ("record_too_large", Some(40)),
                ("corrupt_record", Some(80)),
                ("corrupt_record", Some(90))
            ]
        );
        assert_eq!(diag.skipped_records, 1);
    }
}
