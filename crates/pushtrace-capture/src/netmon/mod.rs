//! Microsoft Network Monitor 1.x (`RTSS`) and 2.x (`GMBU`) capture files (formats.md §3).
//!
//! A file is a 128-byte header (§3.2), frame records, and a *frame table*: an array of u32
//! absolute file offsets, one per frame, in display order (§3.3). Frames are found only
//! through that table, never by walking the records: real files have holes between
//! records and records listed in a different order than they are stored.
//!
//! * 1.x records: an 8-byte header (ms delta u32, orig_len u16, incl_len u16), then data.
//! * 2.x records: a 16-byte header (µs delta u64, orig_len u32, incl_len u32), then data,
//!   then from 2.1 on a trailer: media type u16 (2.1); + process index u32 (2.2);
//!   + UTC FILETIME u64 + time-zone index u8 (2.3 and later, 15 bytes).
//!
//! Times (§3.4): the header holds the capture start as a `SYSTEMTIME` in the capturing
//! host's local time with no zone. It is read as UTC shifted by the caller's
//! `utc_offset_secs`, defined as *local − UTC* (e.g. `3600` for a capture taken on CET), so
//! `ts_utc = local − utc_offset_secs`. 1.x deltas are unsigned milliseconds; 2.0–2.2 deltas
//! are microseconds multiplied by ten and reinterpreted as a signed 100 ns count, as
//! Wireshark does, so frames can lie before the start. From 2.3 on the trailer's UTC
//! FILETIME replaces the computed time.
//!
//! Media types map onto [`LinkType`](crate::LinkType) as described in [`media`]; frames of
//! type 0xFFFC, 0xFFFD and 0xFFFE are skipped and not numbered, as in Wireshark.
//!
//! Damaged files: a record the table points at that cannot be read is skipped (it keeps its
//! frame number) and counted; one warning per kind of damage, with the count and the
//! first occurrence, comes out of [`NetMonReader::take_warnings`]. When the table is
//! missing (a file cut before its end, or a capture never closed) the records are
//! recovered by walking them from byte 128, and a cut record yields `file_truncated`.
//!
//! No crate reads this format (formats.md §5.1); the header, frame-table entries, record
//! headers and trailers are parsed here with nom's complete little-endian number parsers.

pub mod media;
mod time;
mod writer;

pub use writer::{NetMonWriteError, NetMonWriter};

use crate::{Frame, PacketOptions, Warning};
use nom::bytes::complete::take;
use nom::combinator::opt;
use nom::number::complete::{le_u16, le_u32, le_u64, le_u8};
use nom::{IResult, Parser};
use time::SystemTime;

/// Size of the file header, padded, and so the first offset a record can start at.
pub const HEADER_LEN: usize = 128;
/// Largest captured length accepted for one frame (Wireshark's limit for this format).
pub const MAX_FRAME_LEN: u32 = 262_144;
/// Signature of 1.x files.
const MAGIC_V1: [u8; 4] = *b"RTSS";
/// Signature of 2.x files.
const MAGIC_V2: [u8; 4] = *b"GMBU";
/// Size of one frame-table entry.
const TABLE_ENTRY_LEN: usize = 4;
/// Offset of the header's frame-table length field (for warnings about it).
const TABLE_LEN_FIELD_OFFSET: u64 = 28;
/// Offset of the header's SYSTEMTIME (for warnings about it).
const START_TIME_FIELD_OFFSET: u64 = 8;

/// What this module's nom parsers answer; the error carries nothing, as every caller maps
/// a failure to its own [`Problem`] or error.
type Parsed<'a, O> = IResult<&'a [u8], O, ()>;

/// Why a Network Monitor file could not be opened at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetMonError {
    /// The header is shorter than 128 bytes or its signature is wrong.
    #[error("not a Network Monitor file: {0}")]
    BadHeader(String),
    /// The header names a major version other than 1 or 2.
    #[error("Network Monitor file version {major}.{minor} is not supported (only 1.x and 2.x)")]
    UnsupportedVersion {
        /// Major version from the header.
        major: u8,
        /// Minor version from the header.
        minor: u8,
    },
}

/// How a version stores its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordLayout {
    /// Bytes before the frame data.
    header_len: usize,
    /// Bytes after the frame data (0 before 2.1).
    trailer_len: usize,
    /// Where a frame's time comes from.
    clock: Clock,
}

/// The time source of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// 1.x: unsigned milliseconds after the header time.
    MillisecondDelta,
    /// 2.0–2.2: microseconds ×10 read as a signed 100 ns count after the header time.
    SignedMicrosecondDelta,
    /// 2.3 and later: the trailer's UTC FILETIME.
    TrailerFiletime,
}

impl RecordLayout {
    /// The layout of `major.minor`, or `None` for majors other than 1 and 2.
    fn for_version(major: u8, minor: u8) -> Option<Self> {
        let (header_len, trailer_len, clock) = match (major, minor) {
            (1, _) => (8, 0, Clock::MillisecondDelta),
            (2, 0) => (16, 0, Clock::SignedMicrosecondDelta),
            (2, 1) => (16, 2, Clock::SignedMicrosecondDelta),
            (2, 2) => (16, 6, Clock::SignedMicrosecondDelta),
            (2, _) => (16, 15, Clock::TrailerFiletime),
            _ => return None,
        };
        Some(RecordLayout {
            header_len,
            trailer_len,
            clock,
        })
    }
}

/// The header fields the reader uses.
struct FileHeader {
    magic: [u8; 4],
    minor: u8,
    major: u8,
    media_type: u16,
    start: SystemTime,
    table_offset: u32,
    table_len: u32,
}

impl FileHeader {
    /// Reads the fields (§3.2); `None` when the file is shorter than the 128-byte header.
    fn parse(file: &[u8]) -> Option<Self> {
        let header = file.get(..HEADER_LEN)?;
        let fields: Parsed<'_, _> = (
            le_u32,      // signature
            le_u8,       // minor version
            le_u8,       // major version
            le_u16,      // media type of the frames (before 2.1)
            system_time, // capture start, local time
            le_u32,      // frame table offset
            le_u32,      // frame table length in bytes
        )
            .parse(header);
        let (_, (magic, minor, major, media_type, start, table_offset, table_len)) = fields.ok()?;
        Some(FileHeader {
            magic: magic.to_le_bytes(),
            minor,
            major,
            media_type,
            start,
            table_offset,
            table_len,
        })
    }
}

/// The fields of a record header.
struct RecordHeader {
    /// Time after the capture start, in the version's units (see [`Clock`]).
    raw_delta: u64,
    orig_len: u32,
    incl_len: u32,
}

impl RecordLayout {
    /// Reads a record header (§3.3): 1.x: ms delta u32, orig_len u16, incl_len u16;
    /// 2.x: µs delta u64, orig_len u32, incl_len u32.
    fn record_header<'a>(&self, input: &'a [u8]) -> Parsed<'a, RecordHeader> {
        match self.clock {
            Clock::MillisecondDelta => (le_u32, le_u16, le_u16)
                .map(|(delta, orig_len, incl_len)| RecordHeader {
                    raw_delta: u64::from(delta),
                    orig_len: u32::from(orig_len),
                    incl_len: u32::from(incl_len),
                })
                .parse(input),
            Clock::SignedMicrosecondDelta | Clock::TrailerFiletime => (le_u64, le_u32, le_u32)
                .map(|(raw_delta, orig_len, incl_len)| RecordHeader {
                    raw_delta,
                    orig_len,
                    incl_len,
                })
                .parse(input),
        }
    }
}

/// Reads a non-empty record trailer (§3.3): media type u16; from 2.2 a process index u32;
/// from 2.3 the UTC FILETIME u64 (returned when present) and a time-zone index u8.
fn trailer(input: &[u8]) -> Parsed<'_, (u16, Option<u64>)> {
    let process_and_utc_time = (le_u32, le_u64).map(|(_process, filetime)| filetime);
    (le_u16, opt(process_and_utc_time)).parse(input)
}

/// Reads a `SYSTEMTIME` (§3.2): 16 bytes.
fn system_time(input: &[u8]) -> Parsed<'_, SystemTime> {
    take(SystemTime::LEN)
        .map_opt(|raw: &[u8]| raw.try_into().ok().map(SystemTime::from_le_bytes))
        .parse(input)
}

/// The record offset in frame-table entry `index` of the table at `table_offset` (§3.3).
fn table_entry(file: &[u8], table_offset: usize, index: usize) -> Option<usize> {
    let at = table_offset.saturating_add(index.saturating_mul(TABLE_ENTRY_LEN));
    let (_, record_offset) = le_u32::<_, ()>(file.get(at..)?).ok()?;
    Some(usize::try_from(record_offset).unwrap_or(usize::MAX))
}

/// How many frame-table entries ahead of the record being read [`NetMonReader::next_frame`]
/// prefetches. Unlike pcap and pcapng, whose next record is known only once the current
/// header is read, the table gives every record's offset, so the hint can be given several
/// frames early and the load overlaps their analysis. Analyze against the bare walk on a
/// 1 GiB Network Monitor 2.3 copy, interleaved runs: one entry ahead 79 %, two 93 %, four
/// 97 % (90 % without the trailer hint), eight 91 %.
const PREFETCH_AHEAD: usize = 4;

/// A damage or oddity found in one record, tallied per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// The table entry points into the file header.
    OverlapsHeader,
    /// The table entry points at or past the end of the file.
    OffsetPastEnd,
    /// The record header does not fit in the file.
    HeaderPastEnd,
    /// incl_len is above [`MAX_FRAME_LEN`].
    TooLarge,
    /// The frame data or trailer does not fit in the file.
    DataPastEnd,
    /// A 2.3 UTC time outside the representable range; the delta time was used instead.
    UtcTimeInvalid,
    /// The computed time lies outside the years 1677–2262 and was clamped.
    TimestampOutOfRange,
}

impl Problem {
    /// Every kind, in the order warnings are reported.
    const ALL: [Problem; 7] = [
        Problem::OverlapsHeader,
        Problem::OffsetPastEnd,
        Problem::HeaderPastEnd,
        Problem::TooLarge,
        Problem::DataPastEnd,
        Problem::UtcTimeInvalid,
        Problem::TimestampOutOfRange,
    ];

    fn index(self) -> usize {
        match self {
            Problem::OverlapsHeader => 0,
            Problem::OffsetPastEnd => 1,
            Problem::HeaderPastEnd => 2,
            Problem::TooLarge => 3,
            Problem::DataPastEnd => 4,
            Problem::UtcTimeInvalid => 5,
            Problem::TimestampOutOfRange => 6,
        }
    }

    /// Stable warning code.
    fn code(self) -> &'static str {
        match self {
            Problem::OverlapsHeader => "frame_overlaps_header",
            Problem::OffsetPastEnd => "frame_offset_past_end",
            Problem::HeaderPastEnd => "frame_header_past_end",
            Problem::TooLarge => "frame_too_large",
            Problem::DataPastEnd => "frame_data_past_end",
            Problem::UtcTimeInvalid => "utc_time_invalid",
            Problem::TimestampOutOfRange => "timestamp_out_of_range",
        }
    }

    /// What is wrong with the record, as a clause.
    fn description(self) -> &'static str {
        match self {
            Problem::OverlapsHeader => "the record offset points into the 128-byte file header",
            Problem::OffsetPastEnd => "the record offset points past the end of the file",
            Problem::HeaderPastEnd => "the record header runs past the end of the readable bytes",
            Problem::TooLarge => "the captured length exceeds 262144 bytes",
            Problem::DataPastEnd => "the frame bytes run past the end of the readable bytes",
            Problem::UtcTimeInvalid => {
                "the UTC time stamp lies outside the years 1677-2262, so the time was computed \
                 from the header start time and the delta instead"
            }
            Problem::TimestampOutOfRange => {
                "the time lies outside the years 1677-2262 and was clamped to that range"
            }
        }
    }

    /// True when the record cannot be returned at all.
    fn skips_frame(self) -> bool {
        !matches!(self, Problem::UtcTimeInvalid | Problem::TimestampOutOfRange)
    }

    /// The summary warning for `tally` occurrences of this problem.
    fn warning(self, tally: Tally) -> Warning {
        let what = if self.skips_frame() {
            "skipped"
        } else {
            "affected"
        };
        Warning::new(
            self.code(),
            format!(
                "{} Network Monitor frame(s) {what}: {} (first occurrence shown)",
                tally.count,
                self.description()
            ),
        )
        .at_frame(tally.first_frame)
        .at_offset(tally.first_offset)
    }
}

/// Occurrences of one [`Problem`] since the warnings were last taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    count: u64,
    first_frame: u64,
    first_offset: u64,
}

/// Where the reader is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading frame-table entry `next` (of `table_entries`).
    Table { next: usize },
    /// No usable table: reading records one after another from `pos` until `limit`.
    Walk { pos: usize, limit: usize },
    /// Nothing more to read.
    Done,
}

/// One readable record.
struct Record<'a> {
    media_type: u16,
    data: &'a [u8],
    orig_len: u32,
    /// Offset just past the record (data and trailer).
    end: usize,
    ts_ns: i64,
    time_problem: Option<Problem>,
}

/// Frame-table driven reader state over a whole Network Monitor file held in memory
/// (memory-mapped or spooled). Holds no borrowed data: pass the same bytes to every call.
#[derive(Debug)]
pub struct NetMonReader {
    version: (u8, u8),
    layout: RecordLayout,
    /// The header's media type, used for every frame before 2.1.
    file_media_type: u16,
    /// The header start time as UTC nanoseconds (after the caller's offset).
    start_ns: i64,
    table_offset: usize,
    /// Complete table entries present in the file.
    table_entries: usize,
    /// Set when the table is cut short: walk records up to this offset after the table.
    recover_until: Option<usize>,
    phase: Phase,
    /// End of the furthest record read through the table (where recovery resumes).
    furthest_end: usize,
    /// Number given to the last frame (returned or skipped as damaged).
    last_number: u64,
    tallies: [Option<Tally>; Problem::ALL.len()],
    /// Records that could not be returned, over the whole file.
    skipped_records: u64,
    warnings: Vec<Warning>,
}

impl NetMonReader {
    /// Parses the file header and locates the frame table.
    ///
    /// `utc_offset_secs` is the capturing host's offset *local − UTC* in seconds (0 when
    /// unknown); header times are shifted by it, 2.3 UTC frame times are not. Fails only
    /// when the file is not a Network Monitor file (short header, wrong signature) or its
    /// major version is not 1 or 2; everything else becomes a warning.
    pub fn new(file: &[u8], utc_offset_secs: i64) -> Result<NetMonReader, NetMonError> {
        let header = FileHeader::parse(file).ok_or_else(|| {
            NetMonError::BadHeader(format!(
                "the file is {} bytes long, shorter than the {HEADER_LEN}-byte header",
                file.len()
            ))
        })?;
        if header.magic != MAGIC_V1 && header.magic != MAGIC_V2 {
            return Err(NetMonError::BadHeader(format!(
                "the signature is {:02X?}, not \"RTSS\" or \"GMBU\"",
                header.magic
            )));
        }
        let layout = RecordLayout::for_version(header.major, header.minor).ok_or(
            NetMonError::UnsupportedVersion {
                major: header.major,
                minor: header.minor,
            },
        )?;
        let mut warnings = Vec::new();
        let start_ns = header_start_ns(header.start, utc_offset_secs, &mut warnings);
        let table_offset = usize::try_from(header.table_offset).unwrap_or(usize::MAX);
        let table_len = usize::try_from(header.table_len).unwrap_or(usize::MAX);
        let plan = plan_table(table_offset, table_len, file.len(), &mut warnings);
        Ok(NetMonReader {
            version: (header.major, header.minor),
            layout,
            file_media_type: header.media_type,
            start_ns,
            table_offset,
            table_entries: plan.entries,
            recover_until: plan.recover_until,
            phase: plan.phase,
            furthest_end: HEADER_LEN,
            last_number: 0,
            tallies: [None; Problem::ALL.len()],
            skipped_records: 0,
            warnings,
        })
    }

    /// `(major, minor)` from the header, e.g. `(2, 3)`.
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// True when frame times come from the header's local-time SYSTEMTIME (1.x, 2.0–2.2),
    /// i.e. they are local time of the capturing host with no zone.
    pub fn times_are_local(&self) -> bool {
        self.layout.clock != Clock::TrailerFiletime
    }

    /// Number of frame-table entries present in the file: an upper bound on the frames
    /// the table yields (metadata records are among them). 0 when the table is missing and
    /// frames are recovered by walking the records.
    pub fn frame_count(&self) -> usize {
        self.table_entries
    }

    /// Reads from table entry `first` on (the last frames of a file, without reading the
    /// others); false, and nothing changes, when the table is damaged (frames would have to
    /// be recovered by walking the records) or reading has begun.
    pub(crate) fn start_table_at(&mut self, first: usize) -> bool {
        match self.phase {
            Phase::Table { next: 0 } if self.recover_until.is_none() => {
                self.phase = Phase::Table {
                    next: first.min(self.table_entries),
                };
                true
            }
            _ => false,
        }
    }

    /// The next frame, in frame-table order, skipping the metadata frames Wireshark skips.
    /// `file` must be the bytes given to [`NetMonReader::new`].
    pub fn next_frame<'a>(&mut self, file: &'a [u8]) -> Option<Frame<'a>> {
        // Every iteration consumes a table entry or moves `pos` forward, so this ends.
        loop {
            match self.phase {
                Phase::Table { next } if next < self.table_entries => {
                    self.phase = Phase::Table { next: next + 1 };
                    let Some(record_offset) = table_entry(file, self.table_offset, next) else {
                        // Only reachable when `file` is not the buffer given to `new`.
                        self.phase = Phase::Done;
                        continue;
                    };
                    self.prefetch_entry(file, next + PREFETCH_AHEAD);
                    match self.parse_record(file, record_offset, file.len()) {
                        Ok(record) => {
                            self.furthest_end = self.furthest_end.max(record.end);
                            if let Some(frame) = self.number_frame(record, record_offset) {
                                return Some(frame);
                            }
                        }
                        Err(problem) => {
                            self.last_number += 1;
                            self.tally(problem, record_offset);
                        }
                    }
                }
                Phase::Table { .. } => {
                    self.phase = match self.recover_until {
                        Some(limit) => Phase::Walk {
                            pos: self.furthest_end,
                            limit,
                        },
                        None => Phase::Done,
                    };
                }
                Phase::Walk { pos, limit } if pos < limit => {
                    match self.parse_record(file, pos, limit) {
                        Ok(record) => {
                            self.phase = Phase::Walk {
                                pos: record.end,
                                limit,
                            };
                            if let Some(frame) = self.number_frame(record, pos) {
                                return Some(frame);
                            }
                        }
                        Err(problem) => {
                            self.stop_walk(problem, pos, limit, file.len());
                            self.phase = Phase::Done;
                        }
                    }
                }
                Phase::Walk { .. } | Phase::Done => {
                    self.phase = Phase::Done;
                    return None;
                }
            }
        }
    }

    /// Hints the CPU to load what [`Self::parse_record`] will read of the record at table
    /// entry `index` while the caller processes the frames before it: its first cache lines
    /// and its trailer (2.1 and later), which follows the frame data, often several cache
    /// lines on. Records are stored back to back, so the trailer is guessed to end where the
    /// next entry's record starts; a wrong guess (a damaged or reordered table) only wastes
    /// the hint.
    fn prefetch_entry(&self, file: &[u8], index: usize) {
        if index >= self.table_entries {
            return;
        }
        let Some(start) = table_entry(file, self.table_offset, index) else {
            return;
        };
        crate::mmap::prefetch(
            file.get(start..).unwrap_or_default(),
            crate::mmap::RECORD_START_LINES,
        );
        if self.layout.trailer_len == 0 {
            return;
        }
        let trailer = table_entry(file, self.table_offset, index + 1)
            .and_then(|end| end.checked_sub(self.layout.trailer_len))
            .filter(|&at| at > start);
        if let Some(at) = trailer {
            // The trailer (at most 15 bytes) spans at most two cache lines.
            crate::mmap::prefetch(file.get(at..).unwrap_or_default(), 2);
        }
    }

    /// Records that could not be returned (damaged or out of the file) so far.
    pub fn skipped_records(&self) -> u64 {
        self.skipped_records
    }

    /// Warnings gathered so far (frame table past the end, bad records, ...), drained.
    ///
    /// Damaged records are reported as one warning per kind, carrying the count and the
    /// first occurrence since the previous call; call this after the last frame for a
    /// complete summary.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        let mut out = std::mem::take(&mut self.warnings);
        for (problem, tally) in Problem::ALL.iter().zip(self.tallies.iter_mut()) {
            if let Some(tally) = tally.take() {
                out.push(problem.warning(tally));
            }
        }
        out
    }

    /// Gives a readable record its frame number, or drops it if it is a skipped
    /// metadata record.
    fn number_frame<'a>(&mut self, record: Record<'a>, record_offset: usize) -> Option<Frame<'a>> {
        if media::is_skipped_metadata(record.media_type) {
            return None;
        }
        self.last_number += 1;
        if let Some(problem) = record.time_problem {
            self.tally(problem, record_offset);
        }
        Some(Frame {
            number: self.last_number,
            ts_ns: record.ts_ns,
            link: media::link_type(record.media_type),
            data: record.data,
            orig_len: record.orig_len,
            interface: 0,
            options: PacketOptions::NONE,
        })
    }

    /// Counts one occurrence of `problem` for the frame numbered `last_number`.
    fn tally(&mut self, problem: Problem, record_offset: usize) {
        if problem.skips_frame() {
            self.skipped_records += 1;
        }
        let frame = self.last_number;
        if let Some(slot) = self.tallies.get_mut(problem.index()) {
            match slot {
                Some(tally) => tally.count += 1,
                None => {
                    *slot = Some(Tally {
                        count: 1,
                        first_frame: frame,
                        first_offset: record_offset as u64,
                    })
                }
            }
        }
    }

    /// Ends a table-less walk at the record at `pos` that could not be read.
    fn stop_walk(&mut self, problem: Problem, pos: usize, limit: usize, file_len: usize) {
        let cut = matches!(problem, Problem::HeaderPastEnd | Problem::DataPastEnd);
        let warning = if cut && limit >= file_len {
            Warning::new(
                "file_truncated",
                format!(
                    "the file ends inside the Network Monitor record that starts at byte \
                     offset {pos}; every complete frame before it was kept"
                ),
            )
            .at_offset(file_len as u64)
        } else {
            Warning::new(
                "frame_recovery_stopped",
                format!(
                    "stopped recovering Network Monitor frames without a frame table: {}",
                    problem.description()
                ),
            )
            .at_offset(pos as u64)
        };
        self.warnings.push(warning.at_frame(self.last_number + 1));
    }

    /// Reads the record at `offset`, using no byte at or past `limit`.
    fn parse_record<'a>(
        &self,
        file: &'a [u8],
        offset: usize,
        limit: usize,
    ) -> Result<Record<'a>, Problem> {
        let readable = file.get(..limit).unwrap_or(file);
        if offset < HEADER_LEN {
            return Err(Problem::OverlapsHeader);
        }
        let rest = readable
            .get(offset..)
            .filter(|rest| !rest.is_empty())
            .ok_or(Problem::OffsetPastEnd)?;
        let (rest, header) = self
            .layout
            .record_header(rest)
            .map_err(|_| Problem::HeaderPastEnd)?;
        if header.incl_len > MAX_FRAME_LEN {
            return Err(Problem::TooLarge);
        }
        let (rest, data) = take::<_, _, ()>(header.incl_len)
            .parse(rest)
            .map_err(|_| Problem::DataPastEnd)?;
        let (rest, trailer_bytes) = take::<_, _, ()>(self.layout.trailer_len)
            .parse(rest)
            .map_err(|_| Problem::DataPastEnd)?;
        let (media_type, utc_filetime) = if trailer_bytes.is_empty() {
            (self.file_media_type, None)
        } else {
            trailer(trailer_bytes).map_err(|_| Problem::DataPastEnd)?.1
        };
        let (ts_ns, time_problem) = self.frame_time(header.raw_delta, utc_filetime);
        Ok(Record {
            media_type,
            data,
            orig_len: header.orig_len,
            // `rest` is what follows the record within `readable`.
            end: readable.len() - rest.len(),
            ts_ns,
            time_problem,
        })
    }

    /// A record's time: the 2.3 trailer's UTC FILETIME, else header start + delta.
    fn frame_time(&self, raw_delta: u64, utc_filetime: Option<u64>) -> (i64, Option<Problem>) {
        if self.layout.clock != Clock::TrailerFiletime {
            return self.delta_time(raw_delta);
        }
        match utc_filetime.and_then(time::filetime_to_unix_ns) {
            Some(ts_ns) => (ts_ns, None),
            None => (self.delta_time(raw_delta).0, Some(Problem::UtcTimeInvalid)),
        }
    }

    /// Header start plus the record's delta, clamped to the `i64` nanosecond range.
    fn delta_time(&self, raw_delta: u64) -> (i64, Option<Problem>) {
        let delta_ns = match self.layout.clock {
            Clock::MillisecondDelta => i128::from(raw_delta) * 1_000_000,
            // Microseconds ×10 as unsigned, then read as a signed count of 100 ns: the
            // `as` reinterprets the bits on purpose (Wireshark does the same).
            Clock::SignedMicrosecondDelta | Clock::TrailerFiletime => {
                i128::from(raw_delta.wrapping_mul(10) as i64) * 100
            }
        };
        let ts = i128::from(self.start_ns) + delta_ns;
        match i64::try_from(ts) {
            Ok(ts) => (ts, None),
            Err(_) if ts < 0 => (i64::MIN, Some(Problem::TimestampOutOfRange)),
            Err(_) => (i64::MAX, Some(Problem::TimestampOutOfRange)),
        }
    }
}

/// How frames will be found, decided from the header's frame-table fields.
struct TablePlan {
    entries: usize,
    recover_until: Option<usize>,
    phase: Phase,
}

/// Checks the frame table against the file size; warns about, and plans around, a table
/// that is misaligned, empty, outside the file or cut short.
fn plan_table(
    table_offset: usize,
    table_len: usize,
    file_len: usize,
    warnings: &mut Vec<Warning>,
) -> TablePlan {
    let walk_all = |limit: usize| TablePlan {
        entries: 0,
        recover_until: None,
        phase: Phase::Walk {
            pos: HEADER_LEN,
            limit,
        },
    };
    if !table_len.is_multiple_of(TABLE_ENTRY_LEN) {
        warnings.push(
            Warning::new(
                "frame_table_misaligned",
                format!(
                    "the Network Monitor frame table length {table_len} is not a multiple of 4; \
                     the last {} byte(s) are ignored",
                    table_len % TABLE_ENTRY_LEN
                ),
            )
            .at_offset(TABLE_LEN_FIELD_OFFSET),
        );
    }
    let declared = table_len / TABLE_ENTRY_LEN;
    if declared == 0 {
        if file_len <= HEADER_LEN {
            return TablePlan {
                entries: 0,
                recover_until: None,
                phase: Phase::Done,
            };
        }
        warnings.push(
            Warning::new(
                "frame_table_empty",
                "the Network Monitor frame table is empty although the file holds data after \
                 its header; frames were recovered by walking the records from byte 128",
            )
            .at_offset(TABLE_LEN_FIELD_OFFSET),
        );
        let ends_at_table = table_offset > HEADER_LEN && table_offset <= file_len;
        return walk_all(if ends_at_table {
            table_offset
        } else {
            file_len
        });
    }
    if table_offset < HEADER_LEN {
        warnings.push(
            Warning::new(
                "frame_table_invalid",
                format!(
                    "the Network Monitor frame table offset {table_offset} lies inside the file \
                     header; frames were recovered by walking the records from byte 128"
                ),
            )
            .at_offset(table_offset as u64),
        );
        return walk_all(file_len);
    }
    if table_offset >= file_len {
        warnings.push(
            Warning::new(
                "frame_table_missing",
                format!(
                    "the Network Monitor frame table ({declared} entries at byte offset \
                     {table_offset}) lies past the end of the {file_len}-byte file, which is \
                     probably truncated; frames were recovered by walking the records from \
                     byte 128"
                ),
            )
            .at_offset(table_offset as u64),
        );
        return walk_all(file_len);
    }
    let present = (file_len - table_offset) / TABLE_ENTRY_LEN;
    if present >= declared {
        return TablePlan {
            entries: declared,
            recover_until: None,
            phase: Phase::Table { next: 0 },
        };
    }
    warnings.push(
        Warning::new(
            "frame_table_truncated",
            format!(
                "the Network Monitor frame table declares {declared} entries but the file holds \
                 only {present}; frames stored after the last listed one were recovered by \
                 walking the records up to the table"
            ),
        )
        .at_offset((table_offset + present * TABLE_ENTRY_LEN) as u64),
    );
    TablePlan {
        entries: present,
        recover_until: Some(table_offset),
        phase: Phase::Table { next: 0 },
    }
}

/// The header start time in UTC nanoseconds: the SYSTEMTIME read as UTC, minus
/// `utc_offset_secs`. An invalid date (or an offset pushing it out of range) gives the Unix
/// epoch and a `bad_header_time` warning, so frames keep their relative times.
fn header_start_ns(start: SystemTime, utc_offset_secs: i64, warnings: &mut Vec<Warning>) -> i64 {
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        start.year,
        start.month,
        start.day,
        start.hour,
        start.minute,
        start.second,
        start.millisecond
    );
    let Some(local_ms) = start.to_unix_ms() else {
        warnings.push(
            Warning::new(
                "bad_header_time",
                format!(
                    "the capture start time in the Network Monitor header ({shown}) is not a \
                     valid date; frame times count from 1970-01-01 00:00:00 UTC instead"
                ),
            )
            .at_offset(START_TIME_FIELD_OFFSET),
        );
        return 0;
    };
    let utc_ns = i128::from(local_ms) * 1_000_000 - i128::from(utc_offset_secs) * 1_000_000_000;
    i64::try_from(utc_ns).unwrap_or_else(|_| {
        warnings.push(
            Warning::new(
                "bad_header_time",
                format!(
                    "the capture start time in the Network Monitor header ({shown}) shifted by \
                     the UTC offset of {utc_offset_secs} s leaves the years 1677-2262; frame \
                     times count from 1970-01-01 00:00:00 UTC instead"
                ),
            )
            .at_offset(START_TIME_FIELD_OFFSET),
        );
        0
    })
}

#[cfg(test)]
mod tests;
