//! Several inputs, one report: which inputs form one trace, reading them, and joining what
//! they show.
//!
//! Administrators rarely hand over one tidy file. Files that are consecutive pieces of one
//! capture (a ring buffer: `dumpcap -b`, Network Monitor chains, `netsh trace` with several
//! files) form a **chain**: their time ranges follow each other and their connections carry
//! on across the boundary (a TCP segment at the start of the later file continues, sequence
//! number for sequence number, one at the end of the earlier file). A chain is read as one
//! trace, file after file in time order (not name order), through one [`Analyzer`], so a
//! call whose request ends one file and whose response starts the next is one call. Every
//! frame keeps its file's own numbering ([`crate::flow::frame_ref`]).
//!
//! Which files chain is decided from their edges ([`crate::capture::edges`]): the first and
//! last frames of each, read without walking the files. Streams (standard input, compressed
//! files) have no readable end and are never chained automatically.
//!
//! Files (or chains) that captured the same traffic at the same time from different places
//! are **views** of one trace: they are matched packet by packet after reading and judged
//! together (see [`super::views`]). [`TraceMode`] forces either way. Inputs are read in
//! parallel, a chain being one job.

use super::views;
use super::{records, MAX_CALL_RECORDS, PROGRESS_STEP};
use super::{Analysis, AnalyzeOptions, Analyzer, InputFailure, ProgressUpdate, TraceAnalysis};
use crate::capture::{edges, CaptureError, CaptureReader, Frame, OwnedFrame, ReadOptions, Warning};
use crate::decode::{Decoded, Decoder, Transport};
use crate::flow::{frame_input, frame_number, MAX_INPUTS};
use crate::matcher::fingerprint;
use crate::report::{
    format_time, InputSummary, Report, TraceKind, TraceSummary, Verdict, SCHEMA_VERSION,
};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Whether several inputs may form one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// Decide from the files: consecutive pieces of one capture are chained, captures of
    /// the same traffic at several points are views of one trace.
    #[default]
    Auto,
    /// The inputs are one trace: files that do not overlap in time are chained in time
    /// order, whatever the gap between them or the connections at their edges (views are
    /// still found by their shared packets).
    OneTrace,
    /// Every input is judged alone.
    Separate,
}

/// Frames read at each edge of a file to decide whether it continues another.
const EDGE_FRAMES: usize = 256;
/// The most capture time between the end of a file and the start of the next one of a
/// chain when no connection shows whether the second continues the first: ring-buffer
/// writers switch files between two packets, and on a capture that is not filtered the
/// next packet comes within moments. Longer, the files may as well be two captures, and
/// chaining them would hide the hole between them (a reaction missed in it reads as none).
const MAX_CHAIN_GAP_NS: i64 = 2_000_000_000;
/// The most capture time between two files of a chain whatever else says they follow each
/// other (a connection carrying on, names numbered in turn): an Exchange client talks to its
/// server at least once a minute, and connections idle for longer are closed, so an hour
/// without a packet is two captures (test captures cut from different days reuse addresses,
/// ports and names).
const MAX_CHAIN_IDLE_NS: i64 = 3_600_000_000_000;
/// How much a chain's next file may start before the previous one ended (clock rounding).
const CHAIN_OVERLAP_NS: i64 = 1_000_000;

/// Reads one input, handing every frame to `per_frame`; returns its summary.
fn read_input(
    input: usize,
    path: &Path,
    options: &AnalyzeOptions,
    mut per_frame: impl FnMut(&Frame<'_>),
) -> Result<InputSummary, CaptureError> {
    let mut reader = CaptureReader::open_with(path, &options.read)?;
    let len = reader.len_hint();
    let mut next_report = PROGRESS_STEP;
    while let Some(frame) = reader.next_frame() {
        per_frame(&frame);
        if let Some(progress) = &options.progress {
            let position = reader.position();
            if position >= next_report {
                next_report = position + PROGRESS_STEP;
                progress(ProgressUpdate {
                    input,
                    position,
                    len,
                });
            }
        }
    }
    Ok(summarize(path, &reader, &options.read))
}

fn summarize(path: &Path, reader: &CaptureReader, read: &ReadOptions) -> InputSummary {
    let stats = reader.stats();
    let mut warnings = reader.warnings().to_vec();
    if reader.info().times_are_local {
        warnings.push(Warning::new(
            "local_time_as_utc",
            format!(
                "frame times come from the capturing host's local clock, whose zone the file does not record; \
                 they were read as UTC{} (set --netmon-utc-offset to the host's offset)",
                match read.netmon_utc_offset_secs {
                    0 => String::new(),
                    s => format!(" shifted by {s} s"),
                }
            ),
        ));
    }
    let mut link_types: BTreeMap<String, u64> = BTreeMap::new();
    for (link, n) in &stats.frames_by_link {
        *link_types.entry(link.name()).or_default() += n;
    }
    InputSummary {
        path: path.display().to_string(),
        error: None,
        format: Some(reader.info().clone()),
        frames: stats.frames,
        bytes: stats.captured_bytes,
        link_types,
        first_time: stats.first_ts_ns.map(format_time),
        last_time: stats.last_ts_ns.map(format_time),
        warnings: warnings.iter().map(ToString::to_string).collect(),
        warning_details: warnings,
        counters: json!({ "read": stats }),
        trace: 0,
        vantage: Default::default(),
        capture_point: Default::default(),
        clock: None,
    }
}

/// The summary of an input that could not be read.
fn unreadable(path: &Path, error: &dyn std::fmt::Display) -> InputSummary {
    InputSummary {
        path: path.display().to_string(),
        error: Some(error.to_string()),
        format: None,
        frames: 0,
        bytes: 0,
        link_types: BTreeMap::new(),
        first_time: None,
        last_time: None,
        warnings: Vec::new(),
        warning_details: Vec::new(),
        counters: json!({}),
        trace: 0,
        vantage: Default::default(),
        capture_point: Default::default(),
        clock: None,
    }
}

/// Describes capture files without analysing them (`pushtrace info`).
pub fn inspect_paths<P: AsRef<Path> + Sync>(
    paths: &[P],
    read: &ReadOptions,
) -> (Vec<InputSummary>, Vec<InputFailure>) {
    let options = AnalyzeOptions {
        read: *read,
        ..AnalyzeOptions::default()
    };
    let results = run_parallel(paths.len(), options.threads, |i| {
        read_input(i, paths[i].as_ref(), &options, |_| {})
    });
    let mut inputs = Vec::new();
    let mut failures = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(summary) => inputs.push(summary),
            Err(e) => failures.push(InputFailure {
                input: i,
                path: paths[i].as_ref().display().to_string(),
                error: e.to_string(),
                artefact: false,
            }),
        }
    }
    (inputs, failures)
}

/// Analyses one capture file: path in, report out.
pub fn analyze_path(
    path: impl AsRef<Path>,
    options: &AnalyzeOptions,
) -> Result<Report, CaptureError> {
    let mut analyzer = Analyzer::new(0, options);
    let summary = read_input(0, path.as_ref(), options, |f| analyzer.feed(f))?;
    Ok(assemble(vec![summary], vec![analyzer.finish()], Vec::new()).report)
}

/// Analyses several capture files into one report (in parallel, up to
/// [`AnalyzeOptions::threads`] jobs): consecutive pieces of one capture are read as one
/// trace, and captures of the same traffic at several points are judged together (see the
/// module documentation); every cited frame names its input. Inputs that cannot be read
/// keep their place in `inputs` with their error and are listed in [`Analysis::failures`].
pub fn analyze_paths<P: AsRef<Path> + Sync>(paths: &[P], options: &AnalyzeOptions) -> Analysis {
    let given: Vec<&Path> = paths.iter().map(AsRef::as_ref).collect();
    // Frame references name at most MAX_INPUTS inputs; any beyond are reported, not read.
    let (paths, beyond) = given.split_at(given.len().min(MAX_INPUTS));
    let groups = plan(paths, options);
    let results = run_parallel(groups.len(), options.threads, |g| {
        let group = &groups[g];
        let mut analyzer = Analyzer::new(group[0], options);
        let summaries: Vec<(usize, Result<InputSummary, CaptureError>)> = group
            .iter()
            .map(|&i| {
                analyzer.next_input(i);
                (i, read_input(i, paths[i], options, |f| analyzer.feed(f)))
            })
            .collect();
        (summaries, analyzer.into_view())
    });
    let mut inputs: Vec<Option<InputSummary>> = (0..paths.len()).map(|_| None).collect();
    let mut failures = Vec::new();
    let mut read = Vec::new();
    for (summaries, view) in results {
        let mut readable = Vec::new();
        for (i, summary) in summaries {
            match summary {
                Ok(summary) => {
                    readable.push(i);
                    inputs[i] = Some(summary);
                }
                Err(e) => {
                    inputs[i] = Some(unreadable(paths[i], &e));
                    failures.push(InputFailure {
                        input: i,
                        path: paths[i].display().to_string(),
                        error: e.to_string(),
                        artefact: false,
                    });
                }
            }
        }
        if !readable.is_empty() {
            read.push(view);
        }
    }
    let too_many = format!("more than {MAX_INPUTS} inputs: this one was not read");
    for (k, path) in beyond.iter().enumerate() {
        inputs.push(Some(unreadable(path, &too_many)));
        failures.push(InputFailure {
            input: paths.len() + k,
            path: path.display().to_string(),
            error: too_many.clone(),
            artefact: false,
        });
    }
    failures.sort_by_key(|f| f.input);
    let inputs = inputs.into_iter().flatten().collect();
    // The earliest-given input's view is the reference of a trace of views.
    read.sort_by_key(|v| v.correlator.inputs().iter().min().copied());
    let traces = views::judge(read, options.traces != TraceMode::Separate);
    assemble(inputs, traces, failures)
}

/// What the planner keeps of a file: its time range, its name cut into runs of digits, and
/// the TCP segments at its two ends reduced to what telling a continuation needs. The edge
/// frames are dropped as soon as they are read, so planning thousands of files holds a few
/// kilobytes for each.
#[derive(Default)]
struct Boundary {
    first_ts_ns: Option<i64>,
    last_ts_ns: Option<i64>,
    name: NameRuns,
    /// Where the file's connections stopped (unknown for inputs whose end cannot be read).
    tail: Option<TailSegments>,
    /// The segments at the start of the file, in capture order.
    head: Vec<EdgeSegment>,
}

impl Boundary {
    /// The boundary of the file at `path` (empty when it cannot be read: it is then left
    /// alone).
    fn read(path: &Path, options: &ReadOptions) -> Boundary {
        let name = NameRuns::of(path);
        let Ok(e) = edges(path, options, EDGE_FRAMES) else {
            return Boundary {
                name,
                ..Boundary::default()
            };
        };
        Boundary {
            first_ts_ns: e.first_ts_ns(),
            last_ts_ns: e.last_ts_ns(),
            name,
            tail: e.tail.as_deref().map(TailSegments::of),
            head: segments(&e.head),
        }
    }

    /// The capture time it spans, when both ends are known.
    fn span(&self) -> Option<(i64, i64)> {
        Some((self.first_ts_ns?, self.last_ts_ns?))
    }
}

/// Which inputs are read together, each group in order through one analyzer: chains of
/// consecutive files, and every other input alone.
fn plan(paths: &[&Path], options: &AnalyzeOptions) -> Vec<Vec<usize>> {
    let alone = || (0..paths.len()).map(|i| vec![i]).collect();
    if paths.len() < 2 || options.traces == TraceMode::Separate {
        return alone();
    }
    let files = run_parallel(paths.len(), options.threads, |i| {
        Boundary::read(paths[i], &options.read)
    });
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| {
        let f = &files[i];
        (f.first_ts_ns.is_none(), f.first_ts_ns, f.last_ts_ns, i)
    });
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let joins = groups.iter().position(|g| {
            let chain = g.iter().map(|&k| &files[k]);
            follows(chain, &files[i], options.traces)
        });
        match joins {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    if options.traces == TraceMode::Auto {
        fill_gaps(&mut groups, &files);
    }
    groups
}

/// Moves every file left alone into a chain when it lies in the gap between two
/// consecutive files of that chain and next to one of them (within [`MAX_CHAIN_GAP_NS`], or
/// numbered between them): a ring-buffer file that holds no TCP segment to prove where it
/// belongs, between two files whose connections carry on across it.
fn fill_gaps(groups: &mut Vec<Vec<usize>>, files: &[Boundary]) {
    // Whether `file` belongs between `before` and `after`.
    let between = |file: &Boundary, before: &Boundary, after: &Boundary| {
        let (Some((start, end)), Some((_, b_end)), Some((a_start, _))) =
            (file.span(), before.span(), after.span())
        else {
            return false;
        };
        let fits = start >= b_end.saturating_sub(CHAIN_OVERLAP_NS)
            && end <= a_start.saturating_add(CHAIN_OVERLAP_NS);
        let near = start.saturating_sub(b_end) <= MAX_CHAIN_GAP_NS
            || a_start.saturating_sub(end) <= MAX_CHAIN_GAP_NS;
        let numbered = before.name.numbers_next(&file.name) && file.name.numbers_next(&after.name);
        fits && (near || numbered)
    };
    let mut k = 0;
    while k < groups.len() {
        let place = match groups[k].as_slice() {
            &[file] => groups.iter().enumerate().find_map(|(g, chain)| {
                let at = chain
                    .windows(2)
                    .position(|w| between(&files[file], &files[w[0]], &files[w[1]]))?;
                Some((g, at + 1))
            }),
            _ => None,
        };
        match place {
            Some((g, at)) => {
                let file = groups.remove(k)[0];
                let g = if g > k { g - 1 } else { g };
                groups[g].insert(at, file);
            }
            None => k += 1,
        }
    }
}

/// Whether `next` is the file that comes after `chain` (files of one capture, in time
/// order). It must start when the chain's last file ends (not overlap it). Unless the mode
/// says the inputs are one trace, the TCP connections at the boundary decide, looking back
/// through the chain to the last file that shares a connection with `next`: one carrying
/// on, sequence number for sequence number, proves it whatever the gap (a quiet, filtered
/// capture can wait minutes for its next packet); connections in both that do not carry on
/// disprove it; when no connection is in both, the gap must be short ([`MAX_CHAIN_GAP_NS`])
/// or the names must say that `next` is the chain's next file.
fn follows<'a>(
    chain: impl DoubleEndedIterator<Item = &'a Boundary> + Clone,
    next: &Boundary,
    mode: TraceMode,
) -> bool {
    let Some(before) = chain.clone().next_back() else {
        return false;
    };
    let (Some(end), Some(start)) = (before.last_ts_ns, next.first_ts_ns) else {
        return false;
    };
    let after = start >= end.saturating_sub(CHAIN_OVERLAP_NS);
    match mode {
        TraceMode::OneTrace => after,
        TraceMode::Auto if after => {
            let decided = chain.rev().find_map(|file| {
                match file.tail.as_ref().map(|tail| continuity(tail, &next.head)) {
                    Some(Continuity::CarriesOn) => Some(true),
                    Some(Continuity::Breaks) => Some(false),
                    _ => None,
                }
            });
            let gap = start.saturating_sub(end);
            let numbered = before.name.numbers_next(&next.name);
            gap <= MAX_CHAIN_IDLE_NS && decided.unwrap_or(numbered || gap <= MAX_CHAIN_GAP_NS)
        }
        TraceMode::Auto | TraceMode::Separate => false,
    }
}

/// A file name as alternating runs of digits and of other characters.
#[derive(Debug, Default, PartialEq, Eq)]
struct NameRuns(Vec<(bool, String)>);

impl NameRuns {
    fn of(path: &Path) -> Self {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut runs: Vec<(bool, String)> = Vec::new();
        for c in name.unwrap_or_default().chars() {
            let digit = c.is_ascii_digit();
            match runs.last_mut() {
                Some((d, run)) if *d == digit => run.push(c),
                _ => runs.push((digit, c.to_string())),
            }
        }
        NameRuns(runs)
    }

    /// Whether `next` is numbered as the file after this one, as capture tools name the
    /// files of a ring buffer (`trace_00001_20241205093000.pcapng` then `trace_00002_…`,
    /// `capture(1).cap` then `capture(2).cap`, `trace1.pcap` then `trace2.pcap`): the same
    /// name but for runs of digits, the first run that differs one higher.
    fn numbers_next(&self, next: &NameRuns) -> bool {
        let (a, b) = (&self.0, &next.0);
        if a.len() != b.len() {
            return false;
        }
        let same_but_digits = a
            .iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && (x.0 || x.1 == y.1));
        let Some(((_, x), (_, y))) = a.iter().zip(b).find(|(x, y)| x != y) else {
            return false;
        };
        let (Ok(x), Ok(y)) = (x.parse::<u64>(), y.parse::<u64>()) else {
            return false;
        };
        same_but_digits && x.checked_add(1) == Some(y)
    }
}

/// What the TCP connections at the boundary of two files say about whether the second
/// continues the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continuity {
    /// More connections carry on than break: the first segment of the second file starts
    /// where its connection's highest segment in the first ended (or repeats bytes before
    /// it and reaches it: a retransmission at the boundary).
    CarriesOn,
    /// A connection of the first file skips bytes in the second, or starts over (a SYN on
    /// the same addresses and ports), and no more connections carry on; or the second file
    /// holds a packet of the first (the same IPv4 packet, identification included: the files
    /// overlap, as copies or views of one capture do, where a retransmission would carry a
    /// new identification).
    Breaks,
    /// No connection sends data in both, or the second file only repeats older bytes.
    Unknown,
}

/// One TCP segment at a file's edge: the direction, and the sequence space it takes.
struct EdgeSegment {
    ends: (SocketAddr, SocketAddr),
    seq: u32,
    /// Payload bytes, plus one for SYN and FIN.
    len: u32,
    syn: bool,
    /// The packet's fingerprint when it is IPv4 (its identification names it).
    ipv4_packet: Option<u64>,
}

/// Where the connections at the end of a file stopped.
#[derive(Default)]
struct TailSegments {
    /// Direction → the next sequence number after its highest segment (segments arrive
    /// reordered: the last one captured need not be the highest).
    expected: BTreeMap<(SocketAddr, SocketAddr), u32>,
    /// The IPv4 packets among them.
    packets: HashSet<u64>,
}

impl TailSegments {
    fn of(frames: &[OwnedFrame]) -> Self {
        let mut tail = TailSegments::default();
        for seg in segments(frames) {
            tail.packets.extend(seg.ipv4_packet);
            let end = seg.seq.wrapping_add(seg.len);
            let highest = tail.expected.entry(seg.ends).or_insert(end);
            // Serial-number order (RFC 1982): `end` is after `highest` when less than half
            // the sequence space ahead.
            if end.wrapping_sub(*highest) < 1 << 31 {
                *highest = end;
            }
        }
        tail
    }
}

/// The [`Continuity`] of the segments of `head` after `tail`: each direction of a
/// connection in both is judged on its segments in `head`.
fn continuity(tail: &TailSegments, head: &[EdgeSegment]) -> Continuity {
    // Per direction in both files: whether it starts over (a SYN first), carries on (some
    // segment reaches the expected byte: reordering may put a later one first) or skips
    // bytes (segments only beyond it).
    // Direction → (what it says so far, whether that is settled).
    let mut seen: BTreeMap<(SocketAddr, SocketAddr), (Continuity, bool)> = BTreeMap::new();
    let mut overlap = false;
    for seg in head {
        overlap |= seg.ipv4_packet.is_some_and(|p| tail.packets.contains(&p));
        let Some(&next) = tail.expected.get(&seg.ends) else {
            continue;
        };
        let first = !seen.contains_key(&seg.ends);
        let (state, settled) = seen.entry(seg.ends).or_insert((Continuity::Unknown, false));
        if *settled {
            continue;
        }
        let behind = next.wrapping_sub(seg.seq);
        if first && seg.syn {
            (*state, *settled) = (Continuity::Breaks, true);
        } else if behind < seg.len {
            (*state, *settled) = (Continuity::CarriesOn, true);
        } else if behind >= 1 << 31 {
            *state = Continuity::Breaks;
        }
    }
    let count = |c: Continuity| seen.values().filter(|(s, _)| *s == c).count();
    let (carries, breaks) = (count(Continuity::CarriesOn), count(Continuity::Breaks));
    if overlap {
        Continuity::Breaks
    } else if carries > breaks {
        Continuity::CarriesOn
    } else if breaks > 0 {
        Continuity::Breaks
    } else {
        Continuity::Unknown
    }
}

/// The TCP segments among `frames` that take sequence space.
fn segments(frames: &[OwnedFrame]) -> Vec<EdgeSegment> {
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        if let Decoded::Packet(p) = decoder.decode(&frame.as_frame(n as u64 + 1)) {
            if let Transport::Tcp(seg) = &p.transport {
                let len =
                    seg.wire_payload_len + u32::from(seg.flags.syn) + u32::from(seg.flags.fin);
                if len > 0 {
                    out.push(EdgeSegment {
                        ends: (
                            SocketAddr::new(p.src, seg.src_port),
                            SocketAddr::new(p.dst, seg.dst_port),
                        ),
                        seq: seg.seq,
                        len,
                        syn: seg.flags.syn,
                        ipv4_packet: p.ip_id.and(fingerprint(&p)),
                    });
                }
            }
        }
    }
    out
}

/// Runs `job(i)` for every i in 0..n on up to `threads` threads; results in index order.
pub(super) fn run_parallel<T: Send>(
    n: usize,
    threads: usize,
    job: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |p| p.get()),
        t => t,
    }
    .min(n.max(1));
    if threads <= 1 {
        return (0..n).map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let result = job(i);
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(result);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Joins the analyses of the traces into one report over `inputs` (one summary per input
/// given).
fn assemble(
    mut inputs: Vec<InputSummary>,
    analyses: Vec<TraceAnalysis>,
    failures: Vec<InputFailure>,
) -> Analysis {
    let mut sessions = Vec::new();
    let mut calls = Vec::new();
    let mut binds = Vec::new();
    let mut endpoints = Vec::new();
    let mut traces = Vec::new();
    for analysis in analyses {
        let trace = traces.len();
        let all: Vec<usize> = analysis
            .views
            .iter()
            .flat_map(|v| v.inputs.clone())
            .collect();
        traces.push(TraceSummary {
            kind: match (analysis.views.len(), all.len()) {
                (2.., _) => TraceKind::Views,
                (_, 2..) => TraceKind::Chain,
                _ => TraceKind::Single,
            },
            views: if analysis.views.len() > 1 {
                analysis.views.iter().map(|v| v.inputs.clone()).collect()
            } else {
                Vec::new()
            },
            inputs: all,
        });
        for view in analysis.views {
            let first = view.inputs[0];
            for &i in &view.inputs {
                inputs[i].trace = trace;
                inputs[i].vantage = view.capture_point.vantage;
                inputs[i].capture_point = view.capture_point.clone();
                inputs[i].clock = view.clock;
            }
            // Each warning goes to the input of its frame (the view's first when it has none).
            for mut w in view.warnings.into_vec() {
                let input = w.frame.map_or(first, frame_input);
                w.frame = w.frame.map(frame_number);
                inputs[input].warnings.push(w.to_string());
                inputs[input].warning_details.push(w);
            }
            if let (serde_json::Value::Object(map), serde_json::Value::Object(more)) =
                (&mut inputs[first].counters, view.counters)
            {
                map.extend(more);
            }
        }
        sessions.extend(analysis.sessions);
        calls.extend(analysis.calls);
        binds.extend(analysis.binds);
        endpoints.extend(analysis.endpoints);
    }
    let warnings = inputs
        .iter()
        .flat_map(|i| i.warnings.iter().map(move |w| format!("{}: {w}", i.path)))
        .collect();
    let verdict = sessions
        .iter()
        .map(|s| s.verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(
            if !inputs.is_empty() && inputs.iter().all(|i| i.error.is_some()) {
                Verdict::Unreadable
            } else {
                Verdict::NoEmsmdb
            },
        );
    calls.truncate(MAX_CALL_RECORDS);
    let rpc_statistics = records::operation_stats(&calls);
    Analysis {
        report: Report {
            schema: SCHEMA_VERSION,
            verdict,
            inputs,
            traces,
            warnings,
            sessions,
            findings: Vec::new(),
            config_notes: Vec::new(),
            artefacts: Vec::new(),
        },
        calls,
        binds,
        rpc_statistics,
        endpoints,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// What the segments of `head` say after those of `tail`.
    fn continuity_of(tail: &[OwnedFrame], head: &[OwnedFrame]) -> Continuity {
        continuity(&TailSegments::of(tail), &segments(head))
    }

    /// A TCP segment 10.0.0.21:1071 → 10.0.0.5:1032 with `seq` and `len` payload bytes
    /// (its IPv4 identification taken from them: the same arguments, the same packet).
    fn segment(seq: u32, len: usize) -> OwnedFrame {
        tcp(seq, len, false)
    }

    /// The segment `segment(seq, len)` sent again: another IPv4 identification.
    fn retransmission(seq: u32, len: usize) -> OwnedFrame {
        let mut frame = tcp(seq, len, false);
        frame.data[18] ^= 0x80;
        frame
    }

    /// A TCP segment 10.0.0.21:1071 → 10.0.0.5:1032 with `seq`, `len` payload bytes and
    /// the SYN flag when `syn`.
    fn tcp(seq: u32, len: usize, syn: bool) -> OwnedFrame {
        let mut data = Vec::new();
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 21], [10, 0, 0, 5], 128)
            .tcp(1071, 1032, seq, 64_000);
        let b = if syn { b.syn() } else { b.ack(1) };
        b.write(&mut data, &vec![0x41; len]).unwrap();
        // IPv4 identification (Ethernet 14 + 4).
        let id = (seq as u16) ^ ((len as u16) << 8);
        data[18..20].copy_from_slice(&id.to_be_bytes());
        OwnedFrame {
            ts_ns: 0,
            link: crate::LinkType::ETHERNET,
            orig_len: data.len() as u32,
            data,
        }
    }

    #[test]
    fn ring_buffer_names_number_their_files() {
        let next =
            |a: &str, b: &str| NameRuns::of(Path::new(a)).numbers_next(&NameRuns::of(Path::new(b)));
        assert!(next(
            "/tmp/trace_00001_20241205093000.pcapng",
            "trace_00002_20241205093512.pcapng"
        ));
        assert!(next("capture(9).cap", "capture(10).cap"));
        assert!(next("trace1.pcap", "trace2.pcap"));
        assert!(!next("trace_00002_1.pcapng", "trace_00001_2.pcapng"));
        assert!(!next("trace1.pcap", "trace3.pcap"));
        assert!(!next("server.pcap", "client.pcap"));
        assert!(!next("a1.pcap", "b2.pcap"));
        assert!(!next("trace.pcap", "trace1.pcap"));
    }

    #[test]
    fn a_connection_carries_on_when_the_next_segment_starts_where_the_last_ended() {
        let tail = [segment(1000, 100), segment(1100, 50)];
        assert_eq!(
            continuity_of(&tail, &[segment(1150, 10)]),
            Continuity::CarriesOn
        );
        // A retransmission straddling the boundary.
        assert_eq!(
            continuity_of(&tail, &[segment(1140, 30)]),
            Continuity::CarriesOn
        );
        // A gap breaks; a segment already seen whole (a retransmission) says nothing.
        assert_eq!(
            continuity_of(&tail, &[segment(1200, 10)]),
            Continuity::Breaks
        );
        assert_eq!(
            continuity_of(&tail, &[retransmission(1000, 100)]),
            Continuity::Unknown
        );
        // The connection starts over on the same ports (its first segment decides).
        let syn = tcp(1000, 0, true);
        assert_eq!(
            continuity_of(&tail, &[syn, segment(1150, 10)]),
            Continuity::Breaks
        );
        // Reordered at the end of the first file: the highest segment counts.
        let reordered = [segment(1100, 50), segment(1000, 100)];
        assert_eq!(
            continuity_of(&reordered, &[segment(1150, 10)]),
            Continuity::CarriesOn
        );
        // Sequence numbers wrap.
        let wrap = [segment(u32::MAX - 9, 10)];
        assert_eq!(
            continuity_of(&wrap, &[segment(0, 5)]),
            Continuity::CarriesOn
        );
        // Nothing in common.
        assert_eq!(continuity_of(&tail, &[]), Continuity::Unknown);
        // The same packet in both (a copy of the file, or a view of it): they overlap.
        assert_eq!(
            continuity_of(&tail, &[segment(1100, 50), segment(1150, 10)]),
            Continuity::Breaks
        );
    }
}
