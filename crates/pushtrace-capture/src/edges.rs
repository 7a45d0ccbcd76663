//! The edges of a capture file: its first and last frames, read without walking the whole
//! file. Several captures handed over together are often consecutive pieces of one capture
//! (a ring buffer: `dumpcap -b`, Network Monitor chains, `netsh trace` with several
//! files); telling them apart from simultaneous captures needs each file's time range and
//! the packets at its ends.
//!
//! * pcapng blocks end with their length, so the last blocks are found by walking back from
//!   the end; they are parsed with the interfaces the file defined before its first frame.
//! * pcap records carry no back-pointers: the last records are the one chain of record
//!   headers, starting in the file's last [`PCAP_TAIL_WINDOW`] bytes, that the record parser
//!   accepts all the way to the exact end of the file, with plausible times.
//! * Network Monitor files list their frames in a table: the last ones are read from it.
//!
//! Streams (standard input, compressed files) have no end to read from: their tail is
//! unknown. Standard input, pipes and other inputs that are not regular files are not
//! opened at all: reading their first frames would consume them.

use crate::netmon::NetMonReader;
use crate::pcap::PcapParser;
use crate::pcapng::PcapNgParser;
use crate::record::{Diagnostics, FrameMeta, Step};
use crate::{CaptureError, CaptureReader, Frame, LinkType, ReadOptions};
use std::collections::VecDeque;
use std::path::Path;

/// How far back from the end of a pcap file a chain of records is looked for.
pub const PCAP_TAIL_WINDOW: usize = 256 << 10;
/// The most pcapng blocks walked back (non-packet blocks included).
const MAX_TAIL_BLOCKS: usize = 4096;
/// Times of a file's last frames are believed within this span after its first frame.
const MAX_FILE_SPAN_NS: i64 = 366 * 24 * 3600 * 1_000_000_000;
/// Network Monitor table entries read before the last `k` frames, for the metadata frames
/// among them.
const NETMON_TAIL_SLACK: usize = 16;

/// Whether `ts_ns` is believable for a frame near the end of a file whose first frame is at
/// `first_ts_ns`: from a second before it to a year after.
fn plausible_tail_time(first_ts_ns: i64, ts_ns: i64) -> bool {
    ts_ns >= first_ts_ns.saturating_sub(1_000_000_000)
        && ts_ns <= first_ts_ns.saturating_add(MAX_FILE_SPAN_NS)
}

/// A frame copied out of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link type.
    pub link: LinkType,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub orig_len: u32,
}

impl OwnedFrame {
    /// A copy of `frame`.
    pub fn of(frame: &Frame<'_>) -> Self {
        OwnedFrame {
            ts_ns: frame.ts_ns,
            link: frame.link,
            data: frame.data.to_vec(),
            orig_len: frame.orig_len,
        }
    }

    /// The frame, numbered `number`.
    pub fn as_frame(&self, number: u64) -> Frame<'_> {
        Frame {
            number,
            ts_ns: self.ts_ns,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
            interface: 0,
            options: crate::PacketOptions::NONE,
        }
    }

    fn from_meta(record: &[u8], meta: &FrameMeta) -> Option<Self> {
        let data = record.get(meta.data_offset..meta.data_offset + meta.data_len)?;
        Some(OwnedFrame {
            ts_ns: meta.ts_ns,
            link: meta.link,
            data: data.to_vec(),
            orig_len: meta.orig_len,
        })
    }
}

/// A capture file's first and last frames.
#[derive(Debug, Clone, Default)]
pub struct Edges {
    /// The first frames (all of them when the file holds fewer).
    pub head: Vec<OwnedFrame>,
    /// The last frames, when the end could be read without walking the file.
    pub tail: Option<Vec<OwnedFrame>>,
}

impl Edges {
    /// Time of the first frame.
    pub fn first_ts_ns(&self) -> Option<i64> {
        self.head.first().map(|f| f.ts_ns)
    }

    /// Time of the last frame, when the tail is known.
    pub fn last_ts_ns(&self) -> Option<i64> {
        self.tail.as_ref()?.last().map(|f| f.ts_ns)
    }
}

/// Reads the first and last `k` frames of the capture at `path`. An input that is not a
/// regular file (`-` for standard input, a pipe, a device) has no edges: it is not opened,
/// so its frames are still there for the one reading that analyses it.
pub fn edges(
    path: impl AsRef<Path>,
    options: &ReadOptions,
    k: usize,
) -> Result<Edges, CaptureError> {
    let path = path.as_ref();
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(Edges::default());
    }
    let mut reader = CaptureReader::open_with(path, options)?;
    let mut head = Vec::new();
    let mut ended = false;
    while head.len() < k {
        match reader.next_frame() {
            Some(frame) => head.push(OwnedFrame::of(&frame)),
            None => {
                ended = true;
                break;
            }
        }
    }
    let tail = if ended {
        Some(head.clone())
    } else {
        reader.tail_frames(k)
    };
    Ok(Edges { head, tail })
}

/// The last `k` frames of a Network Monitor file, read from the end of its frame table
/// (`None` when the table is damaged and frames would have to be recovered by walking).
pub(crate) fn netmon_tail(file: &[u8], utc_offset_secs: i64, k: usize) -> Option<Vec<OwnedFrame>> {
    let mut reader = NetMonReader::new(file, utc_offset_secs).ok()?;
    let first = reader
        .frame_count()
        .saturating_sub(k.saturating_add(NETMON_TAIL_SLACK));
    if !reader.start_table_at(first) {
        return None;
    }
    let mut last = VecDeque::new();
    while let Some(frame) = reader.next_frame(file) {
        if last.len() == k {
            last.pop_front();
        }
        last.push_back(OwnedFrame::of(&frame));
    }
    (!last.is_empty()).then(|| last.into())
}

/// The last `k` frames of a pcapng file, its blocks walked back from the end; `parser` has
/// read the file's first frames (so it knows its section and interfaces). The blocks walked
/// back may belong to a later section whose interfaces were defined before them: a packet
/// block of an interface the parser does not know, a Simple Packet Block (its time is not
/// its own) or a time beyond belief (another resolution) makes the tail unknown rather than
/// wrong.
pub(crate) fn pcapng_tail(
    mut parser: PcapNgParser,
    file: &[u8],
    first_ts_ns: i64,
    k: usize,
) -> Option<Vec<OwnedFrame>> {
    let endian = parser.section_endian()?;
    let mut start = file.len();
    let mut blocks = 0;
    let mut packets = 0;
    while packets < k && blocks < MAX_TAIL_BLOCKS && start >= 12 {
        let len = usize::try_from(endian.u32(file, start - 4)?).ok()?;
        if len < 12 || len % 4 != 0 || len > start {
            break;
        }
        let block = start - len;
        if usize::try_from(endian.u32(file, block + 4)?).ok()? != len {
            break;
        }
        packets += usize::from(PcapNgParser::is_packet_block(endian.u32(file, block)?));
        blocks += 1;
        start = block;
    }
    let mut diag = Diagnostics::default();
    let mut frames = Vec::new();
    let mut pos = start;
    while pos < file.len() {
        let rest = file.get(pos..)?;
        let block_type = endian.u32(file, pos)?;
        if block_type == crate::pcapng::SPB_TYPE {
            return None;
        }
        match parser.step(rest, pos as u64, &mut diag) {
            Step::Frame(meta) if plausible_tail_time(first_ts_ns, meta.ts_ns) => {
                frames.push(OwnedFrame::from_meta(rest, &meta)?);
                pos += meta.record_len;
            }
            Step::Skip { len }
                if len <= rest.len() as u64 && !PcapNgParser::is_packet_block(block_type) =>
            {
                pos += len as usize
            }
            _ => return None,
        }
    }
    (!frames.is_empty()).then_some(frames)
}

/// The last `k` frames of a pcap file: the records of the first chain of record headers,
/// starting in the last [`PCAP_TAIL_WINDOW`] bytes, that the parser accepts up to the exact
/// end of the file with times within a year after `first_ts_ns` (at least two records, or
/// one that starts right after the file header: one record alone could be a coincidence).
///
/// Each offset is parsed as a record header at most once: walking a chain notes, for every
/// offset on it, how many records follow it to the end of the file (or that none reach
/// it), so a later start that meets the chain stops there. Linear in the window however
/// many false starts hostile bytes hold, and a clean file costs one walk from its first
/// record boundary in the window.
pub(crate) fn pcap_tail(
    parser: &PcapParser,
    file: &[u8],
    header_len: usize,
    first_ts_ns: i64,
    k: usize,
) -> Option<Vec<OwnedFrame>> {
    /// Offsets known not to chain to the end.
    const NONE: u32 = u32::MAX;
    let plausible = |ts: i64| plausible_tail_time(first_ts_ns, ts);
    let from = file.len().saturating_sub(PCAP_TAIL_WINDOW).max(header_len);
    let n = file.len().checked_sub(from)?;
    let mut diag = Diagnostics::default();
    let record_at = |pos: usize, diag: &mut Diagnostics| {
        let rest = file.get(pos..)?;
        match parser.step(rest, pos as u64, diag) {
            Step::Frame(meta)
                if plausible(meta.ts_ns)
                    && meta.record_len > 0
                    && meta.record_len <= rest.len() =>
            {
                Some(meta)
            }
            _ => None,
        }
    };
    // known[i]: records from offset `from + i` to the end (0: not known yet; NONE: none).
    let mut known = vec![0u32; n];
    let mut walked: Vec<usize> = Vec::new();
    let mut start = None;
    for candidate in 0..n {
        // Walk until the end of the file, a failure, or an offset already known.
        let mut i = candidate;
        walked.clear();
        let mut tail = loop {
            if i == n {
                break 0;
            }
            if known[i] != 0 {
                break known[i];
            }
            match record_at(from + i, &mut diag) {
                Some(meta) => {
                    // `record_at` keeps the record within the file: `i` stays at most `n`.
                    walked.push(i);
                    i += meta.record_len;
                }
                None => {
                    known[i] = NONE;
                    break NONE;
                }
            }
        };
        for &w in walked.iter().rev() {
            tail = if tail == NONE {
                NONE
            } else {
                tail.saturating_add(1)
            };
            known[w] = tail;
        }
        let records = known[candidate];
        if records != NONE && (records >= 2 || (records == 1 && from + candidate == header_len)) {
            start = Some(candidate);
            break;
        }
    }
    let start = start?;
    // Walk the chain, copying only its last `k` records.
    let records = known[start] as usize;
    let skip = records.saturating_sub(k);
    let mut frames = Vec::with_capacity(k.min(records));
    let mut pos = from + start;
    for r in 0..records {
        let meta = record_at(pos, &mut diag)?;
        if r >= skip {
            frames.push(OwnedFrame::from_meta(file.get(pos..)?, &meta)?);
        }
        pos += meta.record_len;
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{PcapNgWriter, PcapOptions, PcapWriter};

    /// Frames 0..n, each `i` bytes of `i`, one millisecond apart.
    fn frames(n: u8) -> Vec<(i64, Vec<u8>)> {
        (1..=n)
            .map(|i| {
                (
                    1_700_000_000_000_000_000 + i64::from(i) * 1_000_000,
                    vec![i; usize::from(i) * 7],
                )
            })
            .collect()
    }

    fn pcap(n: u8) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
        for (ts, data) in frames(n) {
            w.write_frame(ts, &data, data.len() as u32).unwrap();
        }
        w.into_inner()
    }

    fn tail_of(bytes: Vec<u8>, k: usize) -> Option<Vec<OwnedFrame>> {
        let mut reader = CaptureReader::from_bytes(bytes, &ReadOptions::default()).unwrap();
        reader.next_frame();
        reader.tail_frames(k)
    }

    #[test]
    fn pcap_tail_is_the_record_chain_that_ends_the_file() {
        let tail = tail_of(pcap(200), 3).unwrap();
        let expected: Vec<u8> = tail.iter().map(|f| f.data[0]).collect();
        assert_eq!(expected, [198, 199, 200]);
        assert_eq!(tail[2].ts_ns, frames(200)[199].0);
        // A file cut inside its last record has no chain to its end.
        let mut cut = pcap(200);
        cut.truncate(cut.len() - 5);
        assert_eq!(tail_of(cut, 3), None);
    }

    #[test]
    fn a_window_of_chains_that_miss_the_end_is_searched_in_linear_time() {
        // 15,000 one-byte records, then a header whose record runs past the end: every
        // record boundary starts a chain that fails only at the last record. Trying each
        // start by walking its chain took quadratic time (about 10^8 steps here).
        let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
        for i in 0..15_000i64 {
            w.write_frame(1_700_000_000_000_000_000 + i * 1_000, &[7], 1)
                .unwrap();
        }
        let mut file = w.into_inner();
        let mut bad = Vec::new();
        let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
        w.write_frame(1_700_000_000_000_000_000, &[0; 64], 64)
            .unwrap();
        bad.extend_from_slice(&w.into_inner()[24..24 + 16]);
        file.extend_from_slice(&bad);
        let started = std::time::Instant::now();
        assert_eq!(tail_of(file, 3), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn pcapng_tail_walks_back_by_block_lengths() {
        let mut w = PcapNgWriter::new(Vec::new());
        w.new_section(false).unwrap();
        let interface = w.add_interface(1, 65_535, Some(9), None).unwrap();
        for (ts, data) in frames(50) {
            w.write_epb(interface, ts, &data, data.len() as u32)
                .unwrap();
        }
        let bytes = w.into_inner();
        let tail = tail_of(bytes, 4).unwrap();
        let last: Vec<u8> = tail.iter().map(|f| f.data[0]).collect();
        assert_eq!(last, [47, 48, 49, 50]);
    }

    #[test]
    fn netmon_tail_comes_from_the_frame_table() {
        let mut w = crate::netmon::NetMonWriter::new((2, 3), 1, frames(1)[0].0).unwrap();
        for (ts, data) in frames(30) {
            w.add_frame(ts, 1, &data, data.len() as u32).unwrap();
        }
        let bytes = w.to_bytes();
        let tail = tail_of(bytes.clone(), 2).unwrap();
        assert_eq!(tail.iter().map(|f| f.data[0]).collect::<Vec<_>>(), [29, 30]);
        assert_eq!(tail[1].ts_ns, frames(30)[29].0);
        // A count asked for by a caller is not trusted with an allocation.
        assert_eq!(tail_of(bytes, usize::MAX).map(|t| t.len()), Some(30));
    }

    #[test]
    fn a_later_section_whose_interfaces_were_not_read_leaves_the_tail_unknown() {
        // Section 1 in microseconds; section 2 defines its interface in nanoseconds, then
        // more packets than are walked back: read with section 1's interface they would
        // come out a thousand times later.
        let mut w = PcapNgWriter::new(Vec::new());
        w.new_section(false).unwrap();
        let micro = w.add_interface(1, 65_535, None, None).unwrap();
        for (ts, data) in frames(5) {
            w.write_epb(micro, ts, &data, data.len() as u32).unwrap();
        }
        w.new_section(false).unwrap();
        let nano = w.add_interface(1, 65_535, Some(9), None).unwrap();
        for (ts, data) in frames(40) {
            w.write_epb(nano, ts, &data, data.len() as u32).unwrap();
        }
        let tail = tail_of(w.into_inner(), 4);
        assert!(
            tail.as_ref()
                .is_none_or(|t| t.last().map(|f| f.ts_ns) == Some(frames(40)[39].0)),
            "{tail:?}"
        );
    }

    #[test]
    fn edges_of_a_short_file_are_its_frames() {
        let dir = std::env::temp_dir().join(format!("pushtrace-edges-{}", std::process::id()));
        std::fs::write(&dir, pcap(5)).unwrap();
        let e = edges(&dir, &ReadOptions::default(), 8).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(e.head.len(), 5);
        assert_eq!(e.tail.as_ref().map(Vec::len), Some(5));
        assert_eq!(e.last_ts_ns(), Some(frames(5)[4].0));
    }
}
