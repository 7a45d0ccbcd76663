//! [`CaptureReader`]: opens a file, standard input or any byte stream, detects the format
//! (formats.md §0.1, unwrapping gzip/zstd first) and yields its frames one by one.
//!
//! Inputs are held in one of two ways, so memory never grows with the number of frames:
//! - a whole file in memory: regular files are memory-mapped (`mmap.rs`); Network Monitor
//!   files, which need random access (§3.3), are spooled from streams into an anonymous
//!   temporary file which is then mapped; [`CaptureReader::from_bytes`] keeps its vector;
//! - pcap and pcapng streams (stdin, pipes, decompressed data) are read in chunks
//!   (`chunks.rs`), over which a bounded window (`window.rs`) gathers the records that span
//!   two chunks. Decompressed data is read ahead on a thread of its own into a small pool of
//!   buffers, so that decompression overlaps the analysis of what was decompressed before.
//!
//! pcap and pcapng records are judged by the sans-IO parsers of `pcap.rs` and `pcapng.rs`;
//! this module drives them over either holder, numbers the frames, keeps the statistics and
//! turns the end of a damaged input into a warning. Network Monitor files are handed to
//! [`crate::netmon::NetMonReader`].

use crate::chunks::{Chunks, CHUNK_LEN};
use crate::detect::{detect, Detected, PREFIX_LEN};
use crate::edges::{self, OwnedFrame};
use crate::mmap::{MappedFile, StreamPrefetch};
use crate::netmon::NetMonReader;
use crate::pcap::{self, PcapParser};
use crate::pcapng::{self, PcapNgParser};
use crate::record::{Diagnostics, FileHeader, FrameMeta, Step};
use crate::window::{Counted, Window, MAX_WINDOW};
use crate::{
    ByteOrder, CaptureError, Compression, Format, FormatInfo, Frame, PacketOptions, ReadOptions,
    ReadStats, TimestampPrecision, Warning,
};
use std::fs::File;
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Reads the frames of one capture, in file order.
///
/// `next_frame` is a lending iterator: each frame borrows the reader until the next call.
/// Problems found while reading end the iteration (or skip one record) and are reported by
/// [`CaptureReader::warnings`]; they are never errors.
pub struct CaptureReader {
    info: FormatInfo,
    options: ReadOptions,
    engine: Engine,
    diag: Diagnostics,
    stats: ReadStats,
    len_hint: Option<u64>,
    finished: bool,
}

/// How frames are produced.
enum Engine {
    /// pcap or pcapng records, judged by a record parser.
    Records { parser: RecordParser, input: Input },
    /// A Network Monitor file, whole in memory.
    NetMon {
        reader: Box<NetMonReader>,
        file: Backing,
        position: u64,
    },
}

/// The record parser of the detected format.
enum RecordParser {
    Pcap(PcapParser),
    PcapNg(PcapNgParser),
}

impl RecordParser {
    fn step(&mut self, buf: &[u8], offset: u64, diag: &mut Diagnostics) -> Step {
        match self {
            RecordParser::Pcap(p) => p.step(buf, offset, diag),
            RecordParser::PcapNg(p) => p.step(buf, offset, diag),
        }
    }
}

/// Where record bytes come from.
enum Input {
    /// The whole input in memory; `pos` is the next record's offset, and `ahead` prefetches
    /// the bytes that follow it.
    Whole {
        bytes: Backing,
        pos: usize,
        ahead: StreamPrefetch,
    },
    /// A stream through a window; `raw_read` counts compressed bytes read, if compressed.
    Stream {
        window: Window,
        raw_read: Option<Arc<AtomicU64>>,
    },
}

/// A whole input held in memory.
enum Backing {
    /// A memory-mapped file (the input itself or a spool file).
    Mapped(MappedFile),
    /// Bytes given by the caller.
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Backing {
    fn as_ref(&self) -> &[u8] {
        match self {
            Backing::Mapped(map) => map.bytes(),
            Backing::Owned(bytes) => bytes,
        }
    }
}

impl Backing {
    /// Has a mapped file read ahead of a reader that goes through it from its start.
    fn read_ahead(&mut self) {
        if let Backing::Mapped(map) = self {
            map.read_ahead();
        }
    }

    /// Tells the read-ahead that the reader's next record starts at `offset`.
    #[inline]
    fn reached(&self, offset: usize) {
        if let Backing::Mapped(map) = self {
            map.reached(offset);
        }
    }

    /// Ends the read-ahead: the reader is done.
    fn done(&self) {
        if let Backing::Mapped(map) = self {
            map.done();
        }
    }
}

/// An input before its format is known.
enum Source {
    /// All bytes in memory.
    Whole(Backing),
    /// A stream whose first bytes were read into `prefix`.
    Stream {
        reader: Box<dyn Read + Send>,
        prefix: Vec<u8>,
    },
}

impl Source {
    /// Starts a stream source by reading its first bytes.
    fn stream(mut reader: Box<dyn Read + Send>) -> io::Result<Source> {
        let mut prefix = Vec::with_capacity(PREFIX_LEN);
        (&mut reader)
            .take(PREFIX_LEN as u64)
            .read_to_end(&mut prefix)?;
        Ok(Source::Stream { reader, prefix })
    }

    fn prefix(&self) -> &[u8] {
        match self {
            Source::Whole(bytes) => bytes.as_ref().get(..PREFIX_LEN).unwrap_or(bytes.as_ref()),
            Source::Stream { prefix, .. } => prefix,
        }
    }

    /// The whole input as a reader, from its first byte.
    fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            Source::Whole(bytes) => Box::new(Cursor::new(bytes)),
            Source::Stream { reader, prefix } => Box::new(Cursor::new(prefix).chain(reader)),
        }
    }

    /// The whole input in memory: streams are copied into an anonymous temporary file,
    /// which is then mapped.
    fn into_whole(self) -> io::Result<Backing> {
        match self {
            Source::Whole(bytes) => Ok(bytes),
            Source::Stream { mut reader, prefix } => {
                let mut spool = tempfile::tempfile()?;
                spool.write_all(&prefix)?;
                io::copy(&mut reader, &mut spool)?;
                spool.flush()?;
                Ok(Backing::Mapped(MappedFile::open(&spool)?))
            }
        }
    }
}

impl CaptureReader {
    /// Opens a capture file, or standard input for `-`, with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        Self::open_with(path, &ReadOptions::default())
    }

    /// Opens a capture file, or standard input for `-`. Regular files are memory-mapped (and,
    /// from 16 MiB on, read ahead by a helper thread that the reader stops when it ends or is
    /// dropped); anything else (pipes, devices) is read as a stream.
    pub fn open_with(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        if path == Path::new("-") {
            let stdin = Source::stream(Box::new(io::stdin())).map_err(io_error("<stdin>"))?;
            return Self::from_source(stdin, options, Path::new("<stdin>"), CHUNK_LEN);
        }
        let file = File::open(path).map_err(io_error(path))?;
        let is_regular = file.metadata().map_err(io_error(path))?.is_file();
        let source = if is_regular {
            Source::Whole(Backing::Mapped(
                MappedFile::open(&file).map_err(io_error(path))?,
            ))
        } else {
            Source::stream(Box::new(file)).map_err(io_error(path))?
        };
        Self::from_source(source, options, path, CHUNK_LEN)
    }

    /// Reads a capture from any byte stream (named `<stream>` in errors).
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        options: &ReadOptions,
    ) -> Result<Self, CaptureError> {
        let name = Path::new("<stream>");
        let source = Source::stream(Box::new(reader)).map_err(io_error(name))?;
        Self::from_source(source, options, name, CHUNK_LEN)
    }

    /// Reads a capture held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>, options: &ReadOptions) -> Result<Self, CaptureError> {
        Self::from_source(
            Source::Whole(Backing::Owned(bytes)),
            options,
            Path::new("<bytes>"),
            CHUNK_LEN,
        )
    }

    /// Reads `source`, named `name` in errors; streams are read in chunks of `chunk_len`
    /// bytes (small ones in tests put records across chunk boundaries).
    fn from_source(
        source: Source,
        options: &ReadOptions,
        name: &Path,
        chunk_len: usize,
    ) -> Result<Self, CaptureError> {
        let input_len = match &source {
            Source::Whole(bytes) => Some(bytes.as_ref().len() as u64),
            Source::Stream { .. } => None,
        };
        let unwrapped = unwrap(source, name)?;
        let compression = unwrapped.compression;
        let (engine, info) = match unwrapped.format {
            format @ (Format::NetMon1 | Format::NetMon2) => {
                let mut file = unwrapped.source.into_whole().map_err(io_error(name))?;
                file.read_ahead();
                let reader = NetMonReader::new(file.as_ref(), options.netmon_utc_offset_secs)?;
                let info = netmon_info(format, &reader, compression);
                (
                    Engine::NetMon {
                        reader: Box::new(reader),
                        file,
                        position: 0,
                    },
                    info,
                )
            }
            format => {
                let (parser, input, header) = record_engine(unwrapped, name, chunk_len)?;
                let info = FormatInfo {
                    format,
                    version: header.version,
                    byte_order: header.byte_order,
                    timestamp_precision: header.precision,
                    compression,
                    times_are_local: false,
                };
                (Engine::Records { parser, input }, info)
            }
        };
        let len_hint = match &engine {
            Engine::NetMon { file, .. } => Some(file.as_ref().len() as u64),
            Engine::Records {
                input: Input::Whole { bytes, .. },
                ..
            } => Some(bytes.as_ref().len() as u64),
            // Compressed: progress counts input bytes.
            Engine::Records {
                input: Input::Stream {
                    raw_read: Some(_), ..
                },
                ..
            } => input_len,
            Engine::Records {
                input: Input::Stream { raw_read: None, .. },
                ..
            } => None,
        };
        Ok(CaptureReader {
            info,
            options: *options,
            engine,
            diag: Diagnostics::default(),
            stats: ReadStats::default(),
            len_hint,
            finished: false,
        })
    }

    /// What was detected: format, version, byte order, compression.
    pub fn info(&self) -> &FormatInfo {
        &self.info
    }

    /// The next frame, or `None` at the end of the input or when reading had to stop (see
    /// [`CaptureReader::warnings`]).
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.finished {
            return None;
        }
        let next = match &mut self.engine {
            Engine::Records { parser, input } => {
                let frame = next_record(parser, input, &mut self.diag);
                let number = self.stats.frames + self.diag.unyielded_frames + 1;
                frame.map(|frame| Frame { number, ..frame })
            }
            Engine::NetMon {
                reader,
                file,
                position,
            } => {
                let bytes: &[u8] = Backing::as_ref(file);
                let frame = reader.next_frame(bytes);
                self.diag.skipped_records = reader.skipped_records();
                if frame.is_none() {
                    file.done();
                    // Taken once, at the end: the reader sums each kind of damage into one
                    // warning with its count and first occurrence.
                    for warning in reader.take_warnings() {
                        self.diag.warn(warning);
                    }
                }
                if let Some(frame) = &frame {
                    // Progress: the end of this frame's bytes within the file.
                    let start =
                        (frame.data.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
                    *position =
                        (start.saturating_add(frame.data.len()) as u64).min(bytes.len() as u64);
                    file.reached(*position as usize);
                }
                frame
            }
        };
        self.stats.skipped_records = self.diag.skipped_records;
        self.stats.other_blocks = self.diag.other_blocks;
        match next {
            Some(frame) => {
                self.stats.count(
                    frame.ts_ns,
                    frame.link,
                    frame.data.len(),
                    frame.is_truncated(),
                );
                Some(frame)
            }
            None => {
                self.finished = true;
                self.diag.finish();
                None
            }
        }
    }

    /// The last `k` frames of a whole input (memory-mapped or in memory), found from its end
    /// without reading it all (see [`crate::edges`]); `None` for streams (standard input,
    /// compressed files), before the first frame was read, and when the end cannot be read
    /// so: a pcapng file's tail is read with the interfaces defined before its first frames,
    /// and times must lie within a year of the first frame's.
    pub fn tail_frames(&self, k: usize) -> Option<Vec<OwnedFrame>> {
        match &self.engine {
            Engine::NetMon { file, .. } => {
                edges::netmon_tail(file.as_ref(), self.options.netmon_utc_offset_secs, k)
            }
            Engine::Records {
                parser,
                input: Input::Whole { bytes, .. },
            } => {
                let bytes = bytes.as_ref();
                let first = self.stats.first_ts_ns?;
                match parser {
                    RecordParser::PcapNg(p) => edges::pcapng_tail(p.clone(), bytes, first, k),
                    RecordParser::Pcap(p) => edges::pcap_tail(p, bytes, pcap::HEADER_LEN, first, k),
                }
            }
            Engine::Records {
                input: Input::Stream { .. },
                ..
            } => None,
        }
    }

    /// Warnings so far: truncation, skipped records, read errors, in the order they arose.
    pub fn warnings(&self) -> &[Warning] {
        self.diag.warnings()
    }

    /// Input bytes consumed so far, for progress; the same unit as [`Self::len_hint`]
    /// (compressed bytes for compressed files).
    pub fn position(&self) -> u64 {
        match &self.engine {
            Engine::NetMon { position, .. } => *position,
            Engine::Records {
                input: Input::Whole { pos, .. },
                ..
            } => *pos as u64,
            Engine::Records {
                input:
                    Input::Stream {
                        raw_read: Some(count),
                        ..
                    },
                ..
            } => count.load(Ordering::Relaxed),
            Engine::Records {
                input:
                    Input::Stream {
                        window,
                        raw_read: None,
                    },
                ..
            } => window.offset(),
        }
    }

    /// Total input size when known (files and in-memory inputs; not plain streams).
    pub fn len_hint(&self) -> Option<u64> {
        self.len_hint
    }

    /// Totals over the frames yielded so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }
}

impl Input {
    /// Consumes `n` bytes (the file header).
    fn advance(&mut self, n: usize) {
        match self {
            Input::Whole { bytes, pos, .. } => *pos = (*pos + n).min(bytes.as_ref().len()),
            Input::Stream { window, .. } => {
                window.take(n);
            }
        }
    }
}

/// An input whose format is known, after removing at most one compression layer.
struct Unwrapped {
    format: Format,
    source: Source,
    compression: Option<Compression>,
    /// Compressed bytes read so far, when compressed.
    raw_read: Option<Arc<AtomicU64>>,
}

/// Detects the format, decompressing first when the input is gzip or zstd.
fn unwrap(mut source: Source, name: &Path) -> Result<Unwrapped, CaptureError> {
    let mut compression = None;
    let mut raw_read = None;
    loop {
        let prefix = source.prefix();
        if prefix.is_empty() {
            return Err(CaptureError::Empty { compression });
        }
        match detect(prefix) {
            Detected::Capture(format) => {
                return Ok(Unwrapped {
                    format,
                    source,
                    compression,
                    raw_read,
                })
            }
            Detected::Compressed(kind) if compression.is_none() => {
                let count = Arc::new(AtomicU64::new(0));
                let raw = Counted::new(source.into_reader(), Arc::clone(&count));
                let decoder: Box<dyn Read + Send> = match kind {
                    Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
                    Compression::Zstd => {
                        Box::new(zstd::stream::read::Decoder::new(raw).map_err(io_error(name))?)
                    }
                };
                source = Source::stream(decoder).map_err(io_error(name))?;
                compression = Some(kind);
                raw_read = Some(count);
            }
            Detected::UnsupportedCompression(name) => {
                return Err(CaptureError::UnsupportedCompression { name })
            }
            Detected::Compressed(_) | Detected::Unknown => {
                return Err(CaptureError::NotACapture {
                    first_bytes: prefix.to_vec(),
                    compression,
                });
            }
        }
    }
}

/// Reads the pcap or pcapng file header and sets up the record parser after it; a stream
/// is read in chunks of `chunk_len` bytes, ahead on a thread when it is decompressed.
fn record_engine(
    unwrapped: Unwrapped,
    name: &Path,
    chunk_len: usize,
) -> Result<(RecordParser, Input, FileHeader), CaptureError> {
    let mut input = match unwrapped.source {
        Source::Whole(mut bytes) => {
            bytes.read_ahead();
            Input::Whole {
                bytes,
                pos: 0,
                ahead: StreamPrefetch::default(),
            }
        }
        Source::Stream { reader, prefix } => {
            let chunks = match unwrapped.compression {
                Some(_) => Chunks::read_ahead(reader, chunk_len).map_err(io_error(name))?,
                None => Chunks::inline(reader, chunk_len),
            };
            let mut window = Window::new(prefix, chunks);
            window
                .fill(pcap::HEADER_LEN.max(pcapng::MIN_HEADER_LEN))
                .map_err(io_error(name))?;
            Input::Stream {
                window,
                raw_read: unwrapped.raw_read,
            }
        }
    };
    let head = match &input {
        Input::Whole { bytes, .. } => bytes.as_ref(),
        Input::Stream { window, .. } => window.available(),
    };
    let (parser, header) = match unwrapped.format {
        Format::Pcap => {
            let (header, parser) = pcap::parse_header(head)?;
            (RecordParser::Pcap(parser), header)
        }
        _ => (
            RecordParser::PcapNg(PcapNgParser::new()),
            pcapng::parse_first_section(head)?,
        ),
    };
    input.advance(header.len);
    Ok((parser, input, header))
}

/// The format info of a Network Monitor file.
fn netmon_info(
    format: Format,
    reader: &NetMonReader,
    compression: Option<Compression>,
) -> FormatInfo {
    let (major, minor) = reader.version();
    let timestamp_precision = match (major, minor) {
        (1, _) => TimestampPrecision::Milliseconds,
        (_, 0..=2) => TimestampPrecision::Microseconds,
        _ => TimestampPrecision::HundredNanoseconds,
    };
    FormatInfo {
        format,
        version: format!("{major}.{minor}"),
        byte_order: ByteOrder::Little,
        timestamp_precision,
        compression,
        times_are_local: reader.times_are_local(),
    }
}

/// The next pcap/pcapng frame of `input` (numbered 0; the caller numbers it).
fn next_record<'a>(
    parser: &mut RecordParser,
    input: &'a mut Input,
    diag: &mut Diagnostics,
) -> Option<Frame<'a>> {
    match input {
        Input::Whole { bytes, pos, ahead } => {
            let bytes: &'a Backing = bytes;
            let frame = next_in_memory(parser, bytes, pos, ahead, diag);
            if frame.is_none() {
                bytes.done();
            }
            frame
        }
        Input::Stream { window, .. } => loop {
            if window.available().is_empty() {
                if window.at_eof() {
                    return None;
                }
                if let Err(e) = window.fill(1) {
                    read_error(diag, &e, window.offset());
                    return None;
                }
                continue;
            }
            let offset = window.offset();
            let available = window.available().len();
            match checked(
                parser.step(window.available(), offset, diag),
                available,
                offset,
                diag,
            ) {
                Step::Frame(meta) => return frame_in(window.take(meta.record_len), &meta),
                Step::Skip { len } => match window.discard(len) {
                    Ok(skipped) if skipped == len => {}
                    Ok(skipped) => {
                        truncated(diag, offset, offset + skipped);
                        return None;
                    }
                    Err(e) => {
                        read_error(diag, &e, window.offset());
                        return None;
                    }
                },
                Step::NeedMore { total } => {
                    if window.at_eof() {
                        truncated(diag, offset, offset + available as u64);
                        return None;
                    }
                    if let Err(e) = window.fill(total) {
                        read_error(diag, &e, window.offset());
                        return None;
                    }
                }
                Step::Stop => return None,
            }
        },
    }
}

/// The next frame of an input held whole in memory, whose next record starts at `pos`.
fn next_in_memory<'a>(
    parser: &mut RecordParser,
    backing: &'a Backing,
    pos: &mut usize,
    ahead: &mut StreamPrefetch,
    diag: &mut Diagnostics,
) -> Option<Frame<'a>> {
    let bytes = backing.as_ref();
    loop {
        let rest = bytes.get(*pos..).unwrap_or_default();
        if rest.is_empty() {
            return None;
        }
        let offset = *pos as u64;
        match checked(parser.step(rest, offset, diag), rest.len(), offset, diag) {
            Step::Frame(meta) => {
                let start = *pos;
                *pos += meta.record_len;
                backing.reached(*pos);
                ahead.advance(bytes, *pos);
                return frame_in(bytes.get(start..)?, &meta);
            }
            Step::Skip { len } if len <= rest.len() as u64 => *pos += len as usize,
            Step::Skip { .. } | Step::NeedMore { .. } => {
                truncated(diag, offset, bytes.len() as u64);
                *pos = bytes.len();
                return None;
            }
            Step::Stop => return None,
        }
    }
}

/// Turns a parser answer that would break the driver's progress guarantees into a stop.
/// The parsers never give such answers; this keeps a future bug from looping or panicking.
fn checked(step: Step, available: usize, offset: u64, diag: &mut Diagnostics) -> Step {
    let valid = match step {
        Step::Frame(m) => {
            m.record_len > 0
                && m.record_len <= available
                && m.data_offset
                    .checked_add(m.data_len)
                    .is_some_and(|end| end <= m.record_len)
                && m.options
                    .offset
                    .checked_add(m.options.len)
                    .is_some_and(|end| end <= m.record_len)
        }
        Step::Skip { len } => len > 0,
        Step::NeedMore { total } => total > available && total <= MAX_WINDOW,
        Step::Stop => true,
    };
    if valid {
        return step;
    }
    let message = format!("record parser gave an inconsistent answer {step:?}; reading stops");
    diag.warn(Warning::new("internal_error", message).at_offset(offset));
    Step::Stop
}

/// The frame described by `meta` in `record` (numbered 0).
fn frame_in<'a>(record: &'a [u8], meta: &FrameMeta) -> Option<Frame<'a>> {
    let data = record.get(meta.data_offset..)?.get(..meta.data_len)?;
    let span = meta.options;
    let options = record.get(span.offset..)?.get(..span.len)?;
    Some(Frame {
        number: 0,
        ts_ns: meta.ts_ns,
        link: meta.link,
        data,
        orig_len: meta.orig_len,
        interface: meta.interface,
        options: PacketOptions::new(options, span.big_endian),
    })
}

/// Records that the input ends inside the record starting at `record_start`.
fn truncated(diag: &mut Diagnostics, record_start: u64, end: u64) {
    let message =
        format!("the file ends in the middle of the record that starts at byte {record_start}");
    diag.warn(Warning::new("file_truncated", message).at_offset(end));
}

/// Records that reading failed at `offset`.
fn read_error(diag: &mut Diagnostics, error: &io::Error, offset: u64) {
    diag.warn(Warning::new("read_error", format!("reading stopped: {error}")).at_offset(offset));
}

/// Maps an I/O error to [`CaptureError::Io`] for `path`.
fn io_error(path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> CaptureError {
    let path = PathBuf::from(path.as_ref());
    move |source| CaptureError::Io { path, source }
}

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkType;

    fn meta(record_len: usize, data_offset: usize, data_len: usize) -> FrameMeta {
        FrameMeta {
            record_len,
            data_offset,
            data_len,
            ts_ns: 0,
            link: LinkType::ETHERNET,
            orig_len: 0,
            interface: 0,
            options: Default::default(),
        }
    }

    #[test]
    fn checked_turns_answers_that_cannot_progress_into_a_stop() {
        let mut diag = Diagnostics::default();
        let good = Step::Frame(meta(20, 16, 4));
        assert_eq!(checked(good, 20, 0, &mut diag), good);
        assert_eq!(
            checked(Step::NeedMore { total: 21 }, 20, 0, &mut diag),
            Step::NeedMore { total: 21 }
        );
        for bad in [
            Step::Frame(meta(0, 0, 0)),
            Step::Frame(meta(21, 16, 4)),
            Step::Frame(meta(20, 16, 5)),
            Step::Frame(meta(20, usize::MAX, 2)),
            Step::Skip { len: 0 },
            Step::NeedMore { total: 20 },
            Step::NeedMore {
                total: MAX_WINDOW + 1,
            },
        ] {
            assert_eq!(checked(bad, 20, 7, &mut diag), Step::Stop, "{bad:?}");
        }
        assert_eq!(diag.warnings().len(), 7);
        assert!(diag
            .warnings()
            .iter()
            .all(|w| w.code == "internal_error" && w.offset == Some(7)));
    }

    #[test]
    fn reader_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<CaptureReader>();
    }
}
