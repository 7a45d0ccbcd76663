//! The engine: frames in, report out. [`Analyzer`] is the streaming form (feed frames, then
//! finish); [`analyze_paths`] and [`analyze_path`] are the one-call forms over files, which
//! read several inputs in parallel with results identical to a sequential run.
//!
//! ```no_run
//! use pushtrace_core::engine::{analyze_path, AnalyzeOptions};
//! let report = analyze_path("trace.pcapng", &AnalyzeOptions::default()).expect("readable");
//! println!("{}", report.verdict.as_str());
//! ```

mod facts;
mod identify;
mod probe;
mod records;
mod streams;
mod warnings;

use crate::capture::{CaptureError, CaptureReader, Frame, ReadOptions, Warning};
use crate::correlate::{CorrelateLimits, Correlator};
use crate::dcerpc::RpcLimits;
use crate::decode::{Decoded, Decoder, DefragLimits, Transport};
use crate::report::{
    format_time, BindRecord, CallRecord, CapturePoint, EndpointRecord, InputSummary,
    OperationStats, Report, Session, Verdict, SCHEMA_VERSION,
};
use crate::tcp::{TcpLimits, TcpReassembler};
use crate::vantage::HostTable;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use streams::Streams;
pub use warnings::WarningLog;

/// Every cap the engine applies; each one that bites is reported in the warnings.
///
/// The defaults are one memory budget: a capture built to fill every cap at once (the
/// `combined` attack of `scripts/attack.sh`: 14,000 connections holding partial PDUs, 8 MiB
/// of out-of-order TCP data, 8 MiB of DCE/RPC bytes, 4 MiB of IP fragments, full correlation
/// pools, 32,768 calls waiting for evidence that they are store calls and 4,096 sessions to
/// report) peaks at about 58 MiB of anonymous memory per input, under the 64 MiB target. Several inputs analysed in parallel each have their own.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// TCP reassembly caps.
    pub tcp: TcpLimits,
    /// DCE/RPC caps per connection.
    pub rpc: RpcLimits,
    /// Correlation caps.
    pub correlate: CorrelateLimits,
    /// IP fragment reassembly caps.
    pub defrag: DefragLimits,
}

/// A progress report: how far the reader is into one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressUpdate {
    /// Index of the input.
    pub input: usize,
    /// Bytes consumed so far.
    pub position: u64,
    /// Total bytes, when known.
    pub len: Option<u64>,
}

/// A progress callback; called from the worker threads every few megabytes.
pub type ProgressFn = Arc<dyn Fn(ProgressUpdate) + Send + Sync>;

/// How to analyse.
#[derive(Clone, Default)]
pub struct AnalyzeOptions {
    /// How to read the capture files.
    pub read: ReadOptions,
    /// The caps.
    pub limits: Limits,
    /// Also list every DCE/RPC call (for `pushtrace rpc`; bounded by [`MAX_CALL_RECORDS`]).
    pub collect_calls: bool,
    /// Inputs analysed at once; 0 = the number of cores.
    pub threads: usize,
    /// Called as reading progresses.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for AnalyzeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzeOptions")
            .field("read", &self.read)
            .field("limits", &self.limits)
            .field("collect_calls", &self.collect_calls)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Most call records kept per input for `pushtrace rpc` (and as many bind and endpoint records).
pub const MAX_CALL_RECORDS: usize = 1_000_000;
/// Progress is reported each time this many more bytes were read.
const PROGRESS_STEP: u64 = 8 << 20;

/// An input that could not be read at all.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputFailure {
    /// Index of the input.
    pub input: usize,
    /// Its path as given.
    pub path: String,
    /// Why.
    pub error: String,
}

/// Everything the one-call API returns.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The report (the JSON contract).
    pub report: Report,
    /// The DCE/RPC calls, when [`AnalyzeOptions::collect_calls`] was set.
    pub calls: Vec<CallRecord>,
    /// Binds, alter_contexts and their answers, when calls are collected.
    pub binds: Vec<BindRecord>,
    /// Per-operation counts and response times over `calls`.
    pub rpc_statistics: Vec<OperationStats>,
    /// What endpoint-mapper answers said.
    pub endpoints: Vec<EndpointRecord>,
    /// Inputs that could not be read at all (exit code 2).
    pub failures: Vec<InputFailure>,
}

/// What the analysis of one input produced.
#[derive(Debug, Clone)]
pub struct InputAnalysis {
    /// Judged sessions.
    pub sessions: Vec<Session>,
    /// Warnings of every stage after reading (decode, TCP, DCE/RPC, correlation).
    pub warnings: WarningLog,
    /// Counters of every stage.
    pub counters: serde_json::Value,
    /// Call records (empty unless collected).
    pub calls: Vec<CallRecord>,
    /// Bind records (empty unless collected).
    pub binds: Vec<BindRecord>,
    /// Endpoint-mapper answers.
    pub endpoints: Vec<EndpointRecord>,
    /// Where the capture was taken, relative to its sessions.
    pub capture_point: CapturePoint,
}

/// The streaming engine for one input: feed every frame in order, then [`Analyzer::finish`].
pub struct Analyzer {
    decoder: Decoder,
    tcp: TcpReassembler,
    streams: Streams,
    /// What the capture shows of the hosts of DCE/RPC connections and notification
    /// datagrams (TTLs, MACs, offload artefacts).
    hosts: HostTable,
}

impl Analyzer {
    /// An analyzer for input number `input` of a report.
    pub fn new(input: usize, options: &AnalyzeOptions) -> Self {
        let limits = &options.limits;
        Analyzer {
            decoder: Decoder::new(limits.defrag),
            tcp: TcpReassembler::new(limits.tcp.clone()),
            streams: Streams::new(
                input,
                limits.rpc,
                Correlator::new(input, limits.correlate),
                options.collect_calls,
            ),
            hosts: HostTable::default(),
        }
    }

    /// Takes one frame.
    pub fn feed(&mut self, frame: &Frame<'_>) {
        self.streams.correlator.observe_time(frame.ts_ns);
        let Decoded::Packet(packet) = self.decoder.decode(frame) else {
            return;
        };
        match &packet.transport {
            Transport::Tcp(seg) => {
                let followed = self.tcp.segment(
                    frame.number,
                    frame.ts_ns,
                    packet.src,
                    packet.dst,
                    seg,
                    &mut self.streams,
                );
                if followed.is_some_and(|id| self.streams.carries_rpc(id)) {
                    self.hosts.observe(frame, &packet);
                }
            }
            Transport::Udp(udp) => {
                let candidate = self.streams.correlator.udp(
                    frame.number,
                    frame.ts_ns,
                    SocketAddr::new(packet.src, udp.src_port),
                    SocketAddr::new(packet.dst, udp.dst_port),
                    udp.payload,
                    udp.wire_payload_len as usize,
                );
                if candidate {
                    self.hosts.observe(frame, &packet);
                    self.streams
                        .identifier
                        .notification_sized(packet.src, packet.dst);
                }
            }
            Transport::IcmpUnreachable(icmp) => {
                if let Some(q) = &icmp.quoted {
                    self.streams.correlator.icmp_unreachable(
                        frame.number,
                        frame.ts_ns,
                        packet.src,
                        icmp.v6,
                        icmp.code,
                        q,
                    );
                }
            }
            Transport::OtherIcmp | Transport::Other(_) => {}
        }
    }

    /// Flushes every stage and judges the sessions.
    pub fn finish(mut self) -> InputAnalysis {
        self.tcp.finish(&mut self.streams);
        self.streams.finish();
        let mut warnings = std::mem::take(&mut self.streams.warnings);
        for w in self.decoder.take_warnings() {
            warnings.push(w);
        }
        let counters = json!({
            "decode": self.decoder.stats(),
            "tcp": self.tcp.stats(),
            "dcerpc": self.streams.stats,
            "identify": self.streams.identifier.stats,
            "hosts_not_observed": self.hosts.overflow,
        });
        let correlation = self.streams.correlator.finish(&self.hosts);
        for w in correlation.warnings {
            warnings.push(w);
        }
        InputAnalysis {
            sessions: correlation.sessions,
            warnings,
            counters,
            calls: self.streams.calls,
            binds: self.streams.binds,
            endpoints: self.streams.endpoints,
            capture_point: correlation.capture_point,
        }
    }
}

/// Reads one input through `analyzer`-like processing; `per_frame` sees every frame.
fn read_input(
    input: usize,
    path: &Path,
    options: &AnalyzeOptions,
    mut per_frame: impl FnMut(&Frame<'_>),
) -> Result<(InputSummary, CaptureReader), CaptureError> {
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
    Ok((summarize(path, &reader, &options.read), reader))
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
    InputSummary {
        path: path.display().to_string(),
        format: reader.info().clone(),
        frames: stats.frames,
        bytes: stats.captured_bytes,
        link_types: stats
            .frames_by_link
            .iter()
            .map(|(l, n)| (l.name(), *n))
            .fold(
                Default::default(),
                |mut m: std::collections::BTreeMap<String, u64>, (k, n)| {
                    *m.entry(k).or_default() += n;
                    m
                },
            ),
        first_time: stats.first_ts_ns.map(format_time),
        last_time: stats.last_ts_ns.map(format_time),
        warnings: warnings.iter().map(ToString::to_string).collect(),
        warning_details: warnings,
        counters: json!({ "read": stats }),
        vantage: Default::default(),
        capture_point: CapturePoint::default(),
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
            Ok((summary, _)) => inputs.push(summary),
            Err(e) => failures.push(InputFailure {
                input: i,
                path: paths[i].as_ref().display().to_string(),
                error: e.to_string(),
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
    let (summary, _) = read_input(0, path.as_ref(), options, |f| analyzer.feed(f))?;
    Ok(assemble(vec![(summary, analyzer.finish())]).report)
}

/// Analyses several capture files (in parallel, up to [`AnalyzeOptions::threads`]) into one
/// report; sessions cite frames per input. Inputs that cannot be read are listed in
/// [`Analysis::failures`] and left out of the report.
pub fn analyze_paths<P: AsRef<Path> + Sync>(paths: &[P], options: &AnalyzeOptions) -> Analysis {
    let results = run_parallel(paths.len(), options.threads, |i| {
        let mut analyzer = Analyzer::new(i, options);
        read_input(i, paths[i].as_ref(), options, |f| analyzer.feed(f))
            .map(|(summary, _)| (summary, analyzer.finish()))
    });
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(pair) => ok.push(pair),
            Err(e) => failures.push(InputFailure {
                input: i,
                path: paths[i].as_ref().display().to_string(),
                error: e.to_string(),
            }),
        }
    }
    let mut analysis = assemble(ok);
    analysis.failures = failures;
    analysis
}

/// Runs `job(i)` for every i in 0..n on up to `threads` threads; results in index order.
fn run_parallel<T: Send>(n: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
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

/// Joins per-input results into one report (inputs renumbered in order).
fn assemble(results: Vec<(InputSummary, InputAnalysis)>) -> Analysis {
    let mut inputs = Vec::new();
    let mut sessions = Vec::new();
    let mut warnings = Vec::new();
    let mut calls = Vec::new();
    let mut binds = Vec::new();
    let mut endpoints = Vec::new();
    for (index, (mut summary, analysis)) in results.into_iter().enumerate() {
        let renumber = |i: &mut usize| *i = index;
        for w in analysis.warnings.into_vec() {
            summary.warnings.push(w.to_string());
            summary.warning_details.push(w);
        }
        warnings.extend(
            summary
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", summary.path)),
        );
        if let serde_json::Value::Object(map) = &mut summary.counters {
            if let serde_json::Value::Object(more) = analysis.counters {
                map.extend(more);
            }
        }
        summary.vantage = analysis.capture_point.vantage;
        summary.capture_point = analysis.capture_point;
        sessions.extend(analysis.sessions.into_iter().map(|mut s| {
            renumber(&mut s.input);
            s
        }));
        calls.extend(analysis.calls.into_iter().map(|mut c| {
            renumber(&mut c.input);
            c
        }));
        binds.extend(analysis.binds.into_iter().map(|mut b| {
            renumber(&mut b.input);
            b
        }));
        endpoints.extend(analysis.endpoints.into_iter().map(|mut e| {
            renumber(&mut e.input);
            e
        }));
        inputs.push(summary);
    }
    let verdict = sessions
        .iter()
        .map(|s| s.verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(Verdict::NoEmsmdb);
    let rpc_statistics = records::operation_stats(&calls);
    Analysis {
        report: Report {
            schema: SCHEMA_VERSION,
            verdict,
            inputs,
            warnings,
            sessions,
        },
        calls,
        binds,
        rpc_statistics,
        endpoints,
        failures: Vec::new(),
    }
}
