//! The stream paths (`chunks.rs`, `window.rs`: plain streams read inline, decompressed ones
//! read ahead on a thread) against the memory path, with chunks of a few bytes so that
//! records lie across chunk boundaries: the same capture read from memory, as a stream,
//! gzip- and zstd-compressed gives the same frames, numbers and warnings; a stream that
//! fails, or a compressed file cut anywhere, keeps every frame before the failure and says
//! where reading stopped; dropping a reader stops its thread.

use super::*;
use crate::write::{PcapNgWriter, PcapOptions, PcapWriter};
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{self, SyncSender};
use std::time::Duration;

/// What reading an input gave: each frame (number, interface and options included) and the
/// warnings, or the error that stopped it from opening.
type Outcome = Result<(Vec<Yielded>, Vec<Warning>), String>;

/// One frame read, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Yielded {
    number: u64,
    frame: OwnedFrame,
    interface: u32,
    options: Vec<(u16, Vec<u8>)>,
}

/// Frames read per input at most, so that every case ends.
const MAX_FRAMES: usize = 10_000;

/// Bytes a stream must hold for its file header to be read (see `record_engine`).
const HEAD_LEN: usize = if pcap::HEADER_LEN > pcapng::MIN_HEADER_LEN {
    pcap::HEADER_LEN
} else {
    pcapng::MIN_HEADER_LEN
};

fn outcome(reader: Result<CaptureReader, CaptureError>) -> Outcome {
    let mut reader = reader.map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    while frames.len() < MAX_FRAMES {
        let Some(f) = reader.next_frame() else { break };
        frames.push(Yielded {
            number: f.number,
            frame: OwnedFrame::of(&f),
            interface: f.interface,
            options: f.options.iter().map(|(c, v)| (c, v.to_vec())).collect(),
        });
    }
    Ok((frames, reader.warnings().to_vec()))
}

/// Reads `bytes` held in memory; compressed bytes are decompressed on the reading thread in
/// chunks of `chunk_len`.
fn from_memory(bytes: &[u8], chunk_len: usize) -> Outcome {
    let source = Source::Whole(Backing::Owned(bytes.to_vec()));
    let name = Path::new("<input>");
    outcome(CaptureReader::from_source(
        source,
        &ReadOptions::default(),
        name,
        chunk_len,
    ))
}

/// Reads `bytes` as a stream ([`Pieces`]).
fn from_stream(bytes: &[u8], reads: &[usize], chunk_len: usize, failure: Option<&str>) -> Outcome {
    let pieces = Pieces {
        data: bytes.to_vec(),
        pos: 0,
        reads: reads.to_vec(),
        turn: 0,
        failure: failure.map(str::to_string),
    };
    let name = Path::new("<input>");
    let source = Source::stream(Box::new(pieces)).map_err(io_error(name));
    outcome(source.and_then(|source| {
        CaptureReader::from_source(source, &ReadOptions::default(), name, chunk_len)
    }))
}

/// A stream whose reads return the next of `reads` bytes (cycled; every third read is
/// interrupted instead), then fails with `failure` or ends.
struct Pieces {
    data: Vec<u8>,
    pos: usize,
    reads: Vec<usize>,
    turn: usize,
    failure: Option<String>,
}

impl io::Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.turn += 1;
        if self.turn.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let size = self.reads[self.turn % self.reads.len()].max(1);
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        if n == 0 {
            if let Some(message) = &self.failure {
                return Err(io::Error::other(message.clone()));
            }
        }
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// zstd, with a block every 97 bytes so that a cut file still holds whole blocks.
fn zstd(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    for piece in bytes.chunks(97) {
        encoder.write_all(piece).unwrap();
        encoder.flush().unwrap();
    }
    encoder.finish().unwrap()
}

/// What a sequential decoder makes of `packed`: the bytes it gives, and the error it ends
/// with (none when the compressed stream simply ends).
fn decompress(packed: &[u8], kind: Compression) -> (Vec<u8>, Option<String>) {
    let mut decoder: Box<dyn io::Read> = match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(packed)),
        Compression::Zstd => match zstd::stream::read::Decoder::new(packed) {
            Ok(decoder) => Box::new(decoder),
            Err(e) => return (Vec::new(), Some(e.to_string())),
        },
    };
    let mut plain = Vec::new();
    let error = decoder.read_to_end(&mut plain).err();
    (plain, error.map(|e| e.to_string()))
}

/// A `Write` into a vector that the test can measure while a writer holds it.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// One record to write: its length, its byte (runs compress), and for pcapng whether it is
/// a custom block (skipped, no frame) or a packet with a comment.
type Record = (usize, u8, bool);

/// A capture of `records` and where its records end: after the file header (the pcapng
/// section header block), then after each record.
fn capture(pcapng: bool, records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    let out = Shared::default();
    let t0 = 1_700_000_000_000_000_000;
    let mut ends = Vec::new();
    if pcapng {
        let mut w = PcapNgWriter::new(out.clone());
        w.new_section(false).unwrap();
        ends.push(out.len());
        w.add_interface(1, 0, None, None).unwrap();
        ends.push(out.len());
        for (i, &(len, byte, odd)) in records.iter().enumerate() {
            let data = vec![byte; len];
            let ts = t0 + i as i64 * 1_000;
            match (odd, i % 2) {
                (true, 0) => w.write_custom_block(32473, &data, true).unwrap(),
                (true, _) => w
                    .write_epb_with_comments(0, ts, &data, len as u32, &["a comment"])
                    .unwrap(),
                (false, _) => w.write_epb(0, ts, &data, len as u32 + 4).unwrap(),
            }
            ends.push(out.len());
        }
    } else {
        let mut w = PcapWriter::new(out.clone(), PcapOptions::default()).unwrap();
        ends.push(out.len());
        for (i, &(len, byte, _)) in records.iter().enumerate() {
            w.write_frame(t0 + i as i64 * 1_000, &vec![byte; len], len as u32)
                .unwrap();
            ends.push(out.len());
        }
    }
    let bytes = out.0.borrow().clone();
    (bytes, ends)
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec((0usize..300, 0u8..4, any::<bool>()), 0..16)
}

/// What a stream of `bytes` failing with `failure` after its first `k` bytes must give:
/// the frames of the first `k` bytes read from memory, and instead of any warning about the
/// cut, the failure at the start of the record it cut (`ends` as [`capture`] gives them).
fn cut_by_failure(bytes: &[u8], ends: &[usize], k: usize, failure: &str) -> Outcome {
    let (frames, mut warnings) = from_memory(&bytes[..k], 1)?;
    warnings.retain(|w| w.code != "file_truncated");
    let at = ends
        .iter()
        .rev()
        .find(|&&end| end <= k)
        .copied()
        .unwrap_or(0);
    warnings.push(
        Warning::new("read_error", format!("reading stopped: {failure}")).at_offset(at as u64),
    );
    Ok((frames, warnings))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The same bytes, damaged or not, give the same frames and warnings from memory (no
    /// thread), as a stream and compressed, whatever the chunks and the read sizes.
    #[test]
    fn every_path_reads_the_same(
        pcapng in any::<bool>(),
        records in records(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        chunk_len in 1usize..80,
        reads in prop::collection::vec(1usize..200, 1..5),
    ) {
        let (mut bytes, ends) = capture(pcapng, &records);
        // Damage after the file header, which must stay readable for every path to open.
        let header = ends[0];
        for (at, value) in flips {
            if bytes.len() > header {
                let i = header + at.index(bytes.len() - header);
                bytes[i] = value;
            }
        }
        let reference = from_memory(&bytes, chunk_len);
        prop_assert!(reference.is_ok());
        prop_assert_eq!(&from_stream(&bytes, &reads, chunk_len, None), &reference, "stream");
        for (kind, packed) in [("gzip", gzip(&bytes)), ("zstd", zstd(&bytes))] {
            prop_assert_eq!(&from_memory(&packed, chunk_len), &reference, "{} from memory", kind);
            prop_assert_eq!(&from_stream(&packed, &reads, chunk_len, None), &reference, "{} stream", kind);
        }
    }

    /// A stream that fails after `k` bytes yields every frame before `k` and a read error
    /// where the record `k` cuts starts, whatever the chunks.
    #[test]
    fn a_failing_stream_keeps_every_frame_before_the_failure(
        pcapng in any::<bool>(),
        records in records(),
        cut in any::<prop::sample::Index>(),
        chunk_len in 1usize..80,
        reads in prop::collection::vec(1usize..200, 1..5),
    ) {
        let (bytes, ends) = capture(pcapng, &records);
        let k = cut.index(bytes.len() + 1);
        let read = from_stream(&bytes[..k], &reads, chunk_len, Some("disk on fire"));
        if k < HEAD_LEN {
            // The failure comes while the file header is read.
            prop_assert_eq!(read, Err("cannot read <input>: disk on fire".to_string()));
        } else {
            prop_assert_eq!(read, cut_by_failure(&bytes, &ends, k, "disk on fire"));
        }
    }

    /// A compressed file cut anywhere reads as its decompressed bytes followed by the
    /// decoder's error: every frame it holds, then a read error where reading stood.
    #[test]
    fn a_cut_compressed_file_keeps_every_frame_it_holds(
        pcapng in any::<bool>(),
        records in records(),
        zstd_wrapped in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        chunk_len in 1usize..80,
    ) {
        let (bytes, ends) = capture(pcapng, &records);
        let (kind, packed) = match zstd_wrapped {
            true => (Compression::Zstd, zstd(&bytes)),
            false => (Compression::Gzip, gzip(&bytes)),
        };
        let cut = &packed[..cut.index(packed.len())];
        check_cut(cut, kind, &bytes, &ends, chunk_len).map_err(TestCaseError::fail)?;
    }
}

/// Checks that the compressed `cut` of `bytes` reads as [`cut_by_failure`] says; returns
/// how many frames it gave.
fn check_cut(
    cut: &[u8],
    kind: Compression,
    bytes: &[u8],
    ends: &[usize],
    chunk_len: usize,
) -> Result<usize, String> {
    let (plain, error) = decompress(cut, kind);
    if !bytes.starts_with(&plain) {
        return Err(format!("{kind:?}: the decoder made up bytes"));
    }
    let read = from_memory(cut, chunk_len);
    let expected = match (&read, error) {
        // The header itself is cut: the input cannot be opened at all.
        (Err(_), _) if plain.len() < HEAD_LEN => return Ok(0),
        (_, Some(error)) => cut_by_failure(bytes, ends, plain.len(), &error),
        // The compressed stream ended cleanly, early: as a plain file cut there.
        (_, None) => from_memory(&plain, 1),
    };
    match read == expected {
        true => Ok(expected.map_or(0, |(frames, _)| frames.len())),
        false => Err(format!(
            "{kind:?} cut at {}: {read:?} != {expected:?}",
            cut.len()
        )),
    }
}

#[test]
fn compressed_files_cut_at_every_offset() {
    let records: Vec<Record> = (0..40)
        .map(|i| (i * 37 % 200, i as u8, i % 5 == 0))
        .collect();
    for pcapng in [false, true] {
        let (bytes, ends) = capture(pcapng, &records);
        for (kind, packed) in [
            (Compression::Gzip, gzip(&bytes)),
            (Compression::Zstd, zstd(&bytes)),
        ] {
            let mut frames = 0;
            for len in 0..packed.len() {
                frames += check_cut(&packed[..len], kind, &bytes, &ends, 1 + len % 61).unwrap();
            }
            // Most cuts keep frames: the check compared them.
            assert!(frames > packed.len() * 10, "{kind:?}: {frames} frames");
        }
    }
}

/// An endless gzip stream: `first`, then `more` again and again (gzip members, which
/// decompress one after the other). Tells how many bytes it gave when it is dropped.
struct Endless {
    first: Vec<u8>,
    more: Vec<u8>,
    given: usize,
    dropped: SyncSender<usize>,
}

impl io::Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for (i, byte) in buf.iter_mut().enumerate() {
            let at = self.given + i;
            *byte = match at.checked_sub(self.first.len()) {
                None => self.first[at],
                Some(at) => self.more[at % self.more.len()],
            };
        }
        self.given += buf.len();
        Ok(buf.len())
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        let _ = self.dropped.send(self.given);
    }
}

#[test]
fn dropping_a_reader_early_stops_its_thread() {
    let (one_frame, ends) = capture(false, &[(100, 7, false)]);
    let record = &one_frame[ends[0]..];
    for (frames, chunk_len) in [(0, 64), (3, 64), (1000, 1000), (10, CHUNK_LEN)] {
        let (dropped, was_dropped) = mpsc::sync_channel(1);
        let endless = Endless {
            first: gzip(&one_frame),
            more: gzip(&record.repeat(50)),
            given: 0,
            dropped,
        };
        let source = Source::stream(Box::new(endless)).unwrap();
        let mut reader =
            CaptureReader::from_source(source, &ReadOptions::default(), Path::new("-"), chunk_len)
                .unwrap();
        for _ in 0..frames {
            assert_eq!(reader.next_frame().unwrap().data, [7; 100]);
        }
        drop(reader);
        // The thread ends, dropping the stream, having decompressed at most its pool ahead
        // (the endless stream compresses 50 records into under 200 bytes).
        let given = was_dropped.recv_timeout(Duration::from_secs(10)).unwrap();
        let decompressed = ends[1] + frames * record.len() + (crate::chunks::POOL + 1) * chunk_len;
        let limit = (decompressed / (50 * record.len()) + 2) * 200 + (64 << 10);
        assert!(given <= limit, "{given} bytes read for {frames} frames");
    }
}

#[test]
fn a_large_record_spans_many_chunks() {
    let records = [
        (5000, 1, false),
        (3, 2, false),
        (70_000, 3, true),
        (1, 4, false),
    ];
    for pcapng in [false, true] {
        let (bytes, _) = capture(pcapng, &records);
        let reference = from_memory(&bytes, 1);
        // The pcapng custom block holds no frame.
        let frames = if pcapng { 3 } else { 4 };
        assert_eq!(reference.as_ref().map(|(f, _)| f.len()).ok(), Some(frames));
        for chunk_len in [1, 5, 4096, CHUNK_LEN] {
            assert_eq!(from_stream(&bytes, &[1000], chunk_len, None), reference);
            assert_eq!(from_memory(&zstd(&bytes), chunk_len), reference);
        }
    }
}
