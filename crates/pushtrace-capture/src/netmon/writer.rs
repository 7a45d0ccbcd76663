//! A Network Monitor capture writer for tests and sample generation (formats.md §3).
//!
//! Writes 1.x (8-byte record headers, ms deltas), 2.0 (16-byte headers, µs deltas), 2.1
//! (+ 2-byte media-type trailer), 2.2 (+ 4-byte process index, written as 0) and 2.3 and
//! later (+ UTC FILETIME and a time-zone index 0) files. Records are buffered because the
//! frame table goes at the end: the output is the 128-byte header, the records in the order
//! added, then the table. The header time is the start time as UTC (ms precision), so a
//! file reads back with a UTC offset of 0. Output depends only on the calls made.
//!
//! Stored times are truncated toward the past to the version's precision: ms for 1.x,
//! µs for 2.0–2.2 deltas, 100 ns for the 2.3 FILETIME.

use std::io::{self, Write};

use super::time::{unix_ns_to_filetime, SystemTime};
use super::{Clock, RecordLayout, HEADER_LEN, MAGIC_V1, MAGIC_V2, MAX_FRAME_LEN};

/// Why a frame or file could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetMonWriteError {
    /// Only major versions 1 and 2 exist.
    #[error("cannot write Network Monitor version {major}.{minor} (only 1.x and 2.x)")]
    UnsupportedVersion {
        /// Requested major version.
        major: u8,
        /// Requested minor version.
        minor: u8,
    },
    /// Before 2.1 every frame has the header's media type.
    #[error(
        "media type {media_type:#06X} cannot be stored per frame before version 2.1; \
         this file's media type is {file_media_type:#06X}"
    )]
    MediaTypeNotStorable {
        /// The frame's media type.
        media_type: u16,
        /// The media type given to [`NetMonWriter::new`].
        file_media_type: u16,
    },
    /// A length does not fit the version's record header (or exceeds 262 144 bytes).
    #[error("{field} {value} exceeds this version's maximum of {max}")]
    LengthTooLarge {
        /// Which length: "captured length" or "original length".
        field: &'static str,
        /// The length given.
        value: u64,
        /// The largest length allowed.
        max: u64,
    },
    /// 1.x stores unsigned 32-bit millisecond deltas: the frame is before the start time
    /// or more than ~49.7 days after it.
    #[error("time {ts_ns} ns cannot be stored as a 1.x millisecond delta from the start time")]
    TimestampOutOfRange {
        /// The frame time given.
        ts_ns: i64,
    },
    /// Frame offsets and the table are addressed with 32 bits.
    #[error("the file would exceed the 4 GiB that 32-bit frame offsets can address")]
    FileTooLarge,
}

/// Builds a Network Monitor file in memory; see the module documentation.
#[derive(Debug, Clone)]
pub struct NetMonWriter {
    major: u8,
    minor: u8,
    layout: RecordLayout,
    file_media_type: u16,
    start_ts_ns: i64,
    /// Header start time, ms since the Unix epoch (floored).
    start_ms: i64,
    records: Vec<u8>,
    offsets: Vec<u32>,
}

impl NetMonWriter {
    /// A writer for version `(major, minor)`, e.g. `(2, 3)`. `media_type` goes into the
    /// header (NetMon 3 writes 1 there for 2.1+ files, and Wireshark refuses values outside
    /// 0..=11) and is every frame's type before 2.1. `start_ts_ns` (UTC) is the header time.
    pub fn new(
        version: (u8, u8),
        media_type: u16,
        start_ts_ns: i64,
    ) -> Result<NetMonWriter, NetMonWriteError> {
        let (major, minor) = version;
        let layout = RecordLayout::for_version(major, minor)
            .ok_or(NetMonWriteError::UnsupportedVersion { major, minor })?;
        Ok(NetMonWriter {
            major,
            minor,
            layout,
            file_media_type: media_type,
            start_ts_ns,
            start_ms: start_ts_ns.div_euclid(1_000_000),
            records: Vec::new(),
            offsets: Vec::new(),
        })
    }

    /// Appends a frame captured at `ts_ns` (UTC) with `data` as the captured bytes and
    /// `orig_len` as the length on the wire. Nothing is written when it fails.
    pub fn add_frame(
        &mut self,
        ts_ns: i64,
        media_type: u16,
        data: &[u8],
        orig_len: u32,
    ) -> Result<(), NetMonWriteError> {
        if self.layout.trailer_len == 0 && media_type != self.file_media_type {
            return Err(NetMonWriteError::MediaTypeNotStorable {
                media_type,
                file_media_type: self.file_media_type,
            });
        }
        let (max_captured, max_orig) = match self.layout.clock {
            Clock::MillisecondDelta => (u32::from(u16::MAX), u32::from(u16::MAX)),
            Clock::SignedMicrosecondDelta | Clock::TrailerFiletime => (MAX_FRAME_LEN, u32::MAX),
        };
        let captured = u32::try_from(data.len())
            .ok()
            .filter(|len| *len <= max_captured)
            .ok_or(NetMonWriteError::LengthTooLarge {
                field: "captured length",
                value: data.len() as u64,
                max: u64::from(max_captured),
            })?;
        if orig_len > max_orig {
            return Err(NetMonWriteError::LengthTooLarge {
                field: "original length",
                value: u64::from(orig_len),
                max: u64::from(max_orig),
            });
        }
        let header = self.record_header(ts_ns, orig_len, captured)?;
        let header = header.get(..self.layout.header_len).unwrap_or(&header);
        let trailer = record_trailer(media_type, ts_ns);
        let trailer = trailer.get(..self.layout.trailer_len).unwrap_or(&trailer);

        let offset = HEADER_LEN + self.records.len();
        let table_offset = offset + header.len() + data.len() + trailer.len();
        let table_len = (self.offsets.len() + 1) * 4;
        let record_offset = u32::try_from(offset).map_err(|_| NetMonWriteError::FileTooLarge)?;
        if u32::try_from(table_offset).is_err() || u32::try_from(table_len).is_err() {
            return Err(NetMonWriteError::FileTooLarge);
        }
        self.records.extend_from_slice(header);
        self.records.extend_from_slice(data);
        self.records.extend_from_slice(trailer);
        self.offsets.push(record_offset);
        Ok(())
    }

    /// Appends a metadata record (e.g. 0xFFFC..=0xFFFE, which readers skip, or a 0xFFFF
    /// filter) holding `bytes`, stamped with the start time.
    pub fn add_raw_metadata_frame(
        &mut self,
        media_type: u16,
        bytes: &[u8],
    ) -> Result<(), NetMonWriteError> {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.add_frame(self.start_ts_ns, media_type, bytes, len)
    }

    /// Writes the whole file: header, records, frame table.
    pub fn finish<W: Write>(&self, out: &mut W) -> io::Result<()> {
        out.write_all(&self.to_bytes())
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let table_len = self.offsets.len() * 4;
        let mut file = Vec::with_capacity(HEADER_LEN + self.records.len() + table_len);
        file.extend_from_slice(&self.file_header());
        file.extend_from_slice(&self.records);
        for offset in &self.offsets {
            file.extend_from_slice(&offset.to_le_bytes());
        }
        file
    }

    /// The 128-byte header; only the fields readers use are set, the rest is zero.
    fn file_header(&self) -> [u8; HEADER_LEN] {
        // `add_frame` keeps both values within u32.
        let table_offset = u32::try_from(HEADER_LEN + self.records.len()).unwrap_or(u32::MAX);
        let table_len = u32::try_from(self.offsets.len() * 4).unwrap_or(u32::MAX);
        let magic = if self.major == 1 { MAGIC_V1 } else { MAGIC_V2 };
        let mut header = [0u8; HEADER_LEN];
        let fields: [(usize, &[u8]); 7] = [
            (0, &magic),
            (4, &[self.minor]),
            (5, &[self.major]),
            (6, &self.file_media_type.to_le_bytes()),
            (8, &SystemTime::from_unix_ms(self.start_ms).to_le_bytes()),
            (24, &table_offset.to_le_bytes()),
            (28, &table_len.to_le_bytes()),
        ];
        for (at, bytes) in fields {
            if let Some(slot) = header.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        }
        header
    }

    /// The 16-byte 2.x record header, of which 1.x uses the first 8 bytes' layout.
    fn record_header(
        &self,
        ts_ns: i64,
        orig_len: u32,
        captured: u32,
    ) -> Result<[u8; 16], NetMonWriteError> {
        let delta_ns = i128::from(ts_ns) - i128::from(self.start_ms) * 1_000_000;
        let mut header = [0u8; 16];
        match self.layout.clock {
            Clock::MillisecondDelta => {
                let delta_ms = u32::try_from(delta_ns.div_euclid(1_000_000))
                    .map_err(|_| NetMonWriteError::TimestampOutOfRange { ts_ns })?;
                // Lengths were checked against u16::MAX by the caller.
                let orig = u16::try_from(orig_len).unwrap_or(u16::MAX);
                let incl = u16::try_from(captured).unwrap_or(u16::MAX);
                header[..4].copy_from_slice(&delta_ms.to_le_bytes());
                header[4..6].copy_from_slice(&orig.to_le_bytes());
                header[6..8].copy_from_slice(&incl.to_le_bytes());
            }
            Clock::SignedMicrosecondDelta | Clock::TrailerFiletime => {
                // |delta| < 2^64 ns, so the µs count fits an i64 and ×10 does not wrap.
                // Readers multiply the unsigned field by 10 and read it as signed, so a
                // negative delta is stored in two's complement.
                let delta_us = i64::try_from(delta_ns.div_euclid(1000))
                    .map_err(|_| NetMonWriteError::TimestampOutOfRange { ts_ns })?;
                header[..8].copy_from_slice(&delta_us.to_le_bytes());
                header[8..12].copy_from_slice(&orig_len.to_le_bytes());
                header[12..16].copy_from_slice(&captured.to_le_bytes());
            }
        }
        Ok(header)
    }
}

/// The 15-byte 2.3 trailer, of which 2.1 and 2.2 use the first 2 and 6 bytes: media type,
/// process index 0, UTC FILETIME, time-zone index 0.
fn record_trailer(media_type: u16, ts_ns: i64) -> [u8; 15] {
    let mut trailer = [0u8; 15];
    trailer[..2].copy_from_slice(&media_type.to_le_bytes());
    trailer[6..14].copy_from_slice(&unix_ns_to_filetime(ts_ns).to_le_bytes());
    trailer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netmon::{media, NetMonReader};
    use crate::LinkType;
    use proptest::prelude::*;

    /// 2023-11-14 22:13:20.123 UTC.
    const START_NS: i64 = 1_700_000_000_123_000_000;

    #[test]
    fn writes_a_2_1_file_byte_for_byte() {
        // Start 456 789 ns after a whole ms: the header keeps .123, the delta keeps 456 µs.
        let mut w = NetMonWriter::new((2, 1), media::ETHERNET, START_NS + 456_789).unwrap();
        w.add_frame(START_NS + 456_789, media::TOKEN_RING, &[0xAA, 0xBB], 60)
            .unwrap();
        let mut expected = vec![
            b'G', b'M', b'B', b'U', // signature
            0x01, 0x02, // version 2.1 (minor first)
            0x01, 0x00, // header media type 1
            0xE7, 0x07, 0x0B, 0x00, 0x02, 0x00, 0x0E, 0x00, // 2023-11 (Tuesday) 14
            0x16, 0x00, 0x0D, 0x00, 0x14, 0x00, 0x7B, 0x00, // 22:13:20.123
            0x94, 0x00, 0x00, 0x00, // frame table at 148
            0x04, 0x00, 0x00, 0x00, // 4 bytes: one entry
        ];
        expected.resize(128, 0);
        expected.extend_from_slice(&[
            0xC8, 0x01, 0, 0, 0, 0, 0, 0, // ts_delta 456 µs
            0x3C, 0x00, 0x00, 0x00, // orig_len 60
            0x02, 0x00, 0x00, 0x00, // incl_len 2
            0xAA, 0xBB, // data
            0x02, 0x00, // trailer: media type 2 (Token Ring)
            0x80, 0x00, 0x00, 0x00, // frame table: record at 128
        ]);
        assert_eq!(w.to_bytes(), expected);
        let mut out = Vec::new();
        w.finish(&mut out).unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn writes_1x_records_with_8_byte_headers() {
        let mut w = NetMonWriter::new((1, 1), media::ETHERNET, START_NS).unwrap();
        w.add_frame(START_NS + 2_999_999, media::ETHERNET, &[0x11], 64)
            .unwrap();
        let file = w.to_bytes();
        assert_eq!(&file[..8], b"RTSS\x01\x01\x01\x00");
        assert_eq!(
            &file[128..],
            &[
                0x02, 0x00, 0x00, 0x00, // ts_delta 2 ms (truncated)
                0x40, 0x00, // orig_len 64
                0x01, 0x00, // incl_len 1
                0x11, // data
                0x80, 0x00, 0x00, 0x00, // frame table
            ]
        );
    }

    #[test]
    fn trailers_grow_with_the_version() {
        let ts = START_NS + 1_234_567; // the FILETIME drops the last 67 ns
        for (minor, trailer_len) in [(0u8, 0usize), (1, 2), (2, 6), (3, 15)] {
            let mut w = NetMonWriter::new((2, minor), media::ETHERNET, START_NS).unwrap();
            w.add_frame(ts, media::ETHERNET, &[0x42], 1).unwrap();
            let file = w.to_bytes();
            assert_eq!(file.len(), 128 + 16 + 1 + trailer_len + 4, "2.{minor}");
            if minor == 3 {
                let filetime =
                    u64::from_le_bytes(file[128 + 17 + 6..128 + 17 + 14].try_into().unwrap());
                assert_eq!(filetime, 116_444_736_000_000_000 + 17_000_000_001_242_345);
                assert_eq!(file[128 + 17 + 14], 0, "time-zone index");
            }
        }
    }

    #[test]
    fn rejects_what_the_version_cannot_hold() {
        assert_eq!(
            NetMonWriter::new((3, 0), 1, 0).unwrap_err(),
            NetMonWriteError::UnsupportedVersion { major: 3, minor: 0 }
        );
        let mut v20 = NetMonWriter::new((2, 0), media::ETHERNET, START_NS).unwrap();
        assert_eq!(
            v20.add_raw_metadata_frame(media::FILTER, b"f").unwrap_err(),
            NetMonWriteError::MediaTypeNotStorable {
                media_type: 0xFFFF,
                file_media_type: 1
            }
        );
        assert!(matches!(
            v20.add_frame(START_NS, 1, &vec![0; MAX_FRAME_LEN as usize + 1], 1),
            Err(NetMonWriteError::LengthTooLarge {
                field: "captured length",
                ..
            })
        ));
        let mut v11 = NetMonWriter::new((1, 1), media::ETHERNET, START_NS).unwrap();
        assert!(matches!(
            v11.add_frame(START_NS, 1, &[0; 10], 70_000),
            Err(NetMonWriteError::LengthTooLarge {
                field: "original length",
                ..
            })
        ));
        assert_eq!(
            v11.add_frame(START_NS - 1_000_000, 1, &[0], 1).unwrap_err(),
            NetMonWriteError::TimestampOutOfRange {
                ts_ns: START_NS - 1_000_000
            }
        );
        assert_eq!(
            v11.to_bytes().len(),
            128,
            "failed frames leave nothing behind"
        );
        assert_eq!(v20.to_bytes().len(), 128);
    }

    /// Precision of the times each version stores, in ns.
    fn precision_ns(version: (u8, u8)) -> i64 {
        match version {
            (1, _) => 1_000_000,
            (2, 3) => 100,
            _ => 1_000,
        }
    }

    fn any_version() -> impl Strategy<Value = (u8, u8)> {
        prop_oneof![
            Just((1, 1)),
            Just((2, 0)),
            Just((2, 1)),
            Just((2, 2)),
            Just((2, 3))
        ]
    }

    fn any_media() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(media::ETHERNET),
            Just(media::TOKEN_RING),
            Just(media::RAW_IP),
            Just(media::NETMON_802_11),
            Just(0xE071),
            Just(media::FILTER),
            Just(media::PAYLOAD_HEADER),
        ]
    }

    proptest! {
        #[test]
        fn every_version_round_trips(
            version in any_version(),
            start_ms in -1_000_000_000_000i64..4_000_000_000_000,
            frames in proptest::collection::vec(
                (0i64..4_000_000_000, any_media(), proptest::collection::vec(any::<u8>(), 0..40), 0u32..100),
                0..12,
            ),
        ) {
            let start = start_ms * 1_000_000;
            let unit = precision_ns(version);
            let per_frame_media = version >= (2, 1);
            let mut w = NetMonWriter::new(version, media::ETHERNET, start).unwrap();
            let mut expected = Vec::new();
            for (ticks, media_type, data, extra) in &frames {
                // 1.x deltas are unsigned; 2.x deltas may be negative.
                let signed = if version.0 == 1 { *ticks } else { ticks - 2_000_000_000 };
                let ts = start + signed * unit;
                let media_type = if per_frame_media { *media_type } else { media::ETHERNET };
                let orig_len = data.len() as u32 + extra;
                w.add_frame(ts, media_type, data, orig_len).unwrap();
                if !media::is_skipped_metadata(media_type) {
                    let number = expected.len() as u64 + 1;
                    expected.push((number, ts, media::link_type(media_type), data.clone(), orig_len));
                }
            }
            let file = w.to_bytes();
            let mut reader = NetMonReader::new(&file, 0).unwrap();
            prop_assert_eq!(reader.version(), version);
            let mut got = Vec::new();
            while let Some(f) = reader.next_frame(&file) {
                got.push((f.number, f.ts_ns, f.link, f.data.to_vec(), f.orig_len));
            }
            prop_assert_eq!(got, expected);
            prop_assert!(reader.take_warnings().is_empty());
        }

        #[test]
        fn times_are_truncated_to_the_version_precision(version in any_version(), sub in 0i64..1_000_000) {
            let mut w = NetMonWriter::new(version, media::ETHERNET, START_NS).unwrap();
            w.add_frame(START_NS + sub, media::ETHERNET, &[], 0).unwrap();
            let file = w.to_bytes();
            let mut reader = NetMonReader::new(&file, 0).unwrap();
            let frame = reader.next_frame(&file).unwrap();
            let unit = precision_ns(version);
            prop_assert_eq!(frame.ts_ns, START_NS + sub / unit * unit);
            prop_assert_eq!(frame.link, LinkType::ETHERNET);
        }
    }
}
