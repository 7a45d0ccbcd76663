//! The engine: frames in, report out. [`Analyzer`] is the streaming form for one capture
//! (feed frames, then finish) and [`TraceAnalyzer`] for several captures of one trace fed
//! side by side; [`analyze_paths`] and [`analyze_path`] are the one-call forms over files,
//! which read several inputs in parallel with results identical to a sequential run.
//!
//! ```no_run
//! use pushtrace_core::engine::{analyze_path, AnalyzeOptions};
//! let report = analyze_path("trace.pcapng", &AnalyzeOptions::default()).expect("readable");
//! println!("{}", report.verdict.as_str());
//! ```

mod artefacts;
pub mod evidence;
mod facts;
mod identify;
mod probe;
mod records;
mod streams;
mod trace;
mod views;
mod warnings;

use crate::capture::{Frame, ReadOptions};
use crate::correlate::{CorrelateLimits, Correlator};
use crate::dcerpc::RpcLimits;
use crate::decode::{Decoded, Decoder, DefragLimits, Transport};
use crate::flow::frame_ref;
use crate::matcher::{fingerprint, FingerprintSample};
use crate::report::{
    BindRecord, CallRecord, CapturePoint, EndpointRecord, InputClock, OperationStats, Report,
    Session,
};
use crate::tcp::{TcpLimits, TcpReassembler};
use crate::vantage::HostTable;
pub use artefacts::{analyze_inputs, check_paths, Checked};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use streams::Streams;
pub use trace::{analyze_path, analyze_paths, inspect_paths, TraceMode};
pub use views::TraceAnalyzer;
pub use warnings::WarningLog;

/// Every cap the engine applies; each one that bites is reported in the warnings.
///
/// The defaults are one memory budget: a capture built to fill every cap at once (the
/// `combined` attack of `scripts/attack.sh`: 14,000 connections holding partial PDUs, 8 MiB
/// of out-of-order TCP data, 8 MiB of DCE/RPC bytes, 4 MiB of IP fragments, full correlation
/// pools, 32,768 calls waiting for evidence that they are store calls and 4,096 sessions to
/// report) peaks at about 59 MiB of anonymous memory per input, under the 64 MiB target
/// (63 MiB resident reading standard input). Several inputs analysed in parallel each have
/// their own, plus the matcher's sample of at most 8,192 packet fingerprints (under 512 KiB).
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
    /// Whether several inputs may form one trace (consecutive files of one capture, or
    /// simultaneous captures at several points).
    pub traces: TraceMode,
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
            .field("traces", &self.traces)
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
    /// Index of the input in `report.inputs`, or in `report.artefacts` when `artefact`.
    pub input: usize,
    /// Its path as given.
    pub path: String,
    /// Why.
    pub error: String,
    /// The input is a configuration artefact, not a capture.
    pub artefact: bool,
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

/// What the analysis of one trace produced: one capture (a file or a chain of files), or
/// several captures of the same traffic taken at different points (views).
#[derive(Debug, Clone)]
pub struct TraceAnalysis {
    /// Judged sessions.
    pub sessions: Vec<Session>,
    /// The capture points, the reference (whose clock the times are on) first.
    pub views: Vec<ViewAnalysis>,
    /// Call records (empty unless collected).
    pub calls: Vec<CallRecord>,
    /// Bind records (empty unless collected).
    pub binds: Vec<BindRecord>,
    /// Endpoint-mapper answers.
    pub endpoints: Vec<EndpointRecord>,
}

/// One capture point of a trace.
#[derive(Debug, Clone)]
pub struct ViewAnalysis {
    /// Its inputs: one, or the files of a chain in time order.
    pub inputs: Vec<usize>,
    /// Where it was taken, relative to the trace's sessions.
    pub capture_point: CapturePoint,
    /// Its clock against the reference view's (`None` for the reference).
    pub clock: Option<InputClock>,
    /// Warnings of every stage after reading (decode, TCP, DCE/RPC; correlation for the
    /// reference).
    pub warnings: WarningLog,
    /// Counters of every stage.
    pub counters: serde_json::Value,
}

/// Keeps `packet` in `sample` (if it falls below the sample's threshold).
fn note_fingerprint(
    sample: &mut FingerprintSample,
    ts_ns: i64,
    packet: &crate::decode::Packet<'_>,
) {
    if let Some(f) = fingerprint(packet) {
        sample.observe(f, ts_ns, (packet.src, packet.dst));
    }
}

/// The streaming engine for one input: feed every frame in order, then [`Analyzer::finish`].
pub struct Analyzer {
    /// The input whose frames are being fed: packed into every frame number
    /// ([`crate::flow::frame_ref`]).
    input: usize,
    decoder: Decoder,
    tcp: TcpReassembler,
    streams: Streams,
    /// What the capture shows of the hosts of DCE/RPC connections and notification
    /// datagrams (TTLs, MACs, offload artefacts).
    hosts: HostTable,
    /// A sample of those packets, to match them with another capture point's.
    fingerprints: FingerprintSample,
}

impl Analyzer {
    /// An analyzer for input number `input` of a report.
    pub fn new(input: usize, options: &AnalyzeOptions) -> Self {
        let limits = &options.limits;
        Analyzer {
            input,
            decoder: Decoder::new(limits.defrag),
            tcp: TcpReassembler::new(limits.tcp.clone()),
            streams: Streams::new(
                limits.rpc,
                Correlator::new(input, limits.correlate),
                options.collect_calls,
            ),
            hosts: HostTable::default(),
            fingerprints: FingerprintSample::default(),
        }
    }

    /// The frames fed from now on are those of input `input` (the next file of a chain, whose
    /// connections carry on from the file before).
    pub fn next_input(&mut self, input: usize) {
        self.input = input;
        self.streams.correlator.next_input(input);
    }

    /// Takes one frame of the current input.
    pub fn feed(&mut self, frame: &Frame<'_>) {
        let frame = &Frame {
            number: frame_ref(self.input, frame.number),
            ..*frame
        };
        self.streams.correlator.observe_time(frame.ts_ns);
        // Matched by reference: moving the packet out of the enum copies it while its fields
        // are still being written, and stalls on store forwarding.
        let decoded = self.decoder.decode(frame);
        let Decoded::Packet(packet) = &decoded else {
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
                    self.hosts.observe(frame, packet);
                    note_fingerprint(&mut self.fingerprints, frame.ts_ns, packet);
                }
            }
            Transport::Udp(udp) => {
                let candidate = self.streams.correlator.udp(
                    (frame.number, frame.ts_ns),
                    (
                        SocketAddr::new(packet.src, udp.src_port),
                        SocketAddr::new(packet.dst, udp.dst_port),
                    ),
                    packet.ip_id,
                    udp.payload,
                    udp.wire_payload_len as usize,
                );
                if candidate {
                    self.hosts.observe(frame, packet);
                    note_fingerprint(&mut self.fingerprints, frame.ts_ns, packet);
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
    pub fn finish(self) -> TraceAnalysis {
        let mut traces = views::judge(vec![self.into_view()], false);
        traces.remove(0)
    }

    /// Flushes every stage: the facts collected, not yet judged.
    fn into_view(mut self) -> views::View {
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
        views::View {
            correlator: self.streams.correlator,
            hosts: self.hosts,
            fingerprints: self.fingerprints,
            warnings,
            counters,
            calls: self.streams.calls,
            binds: self.streams.binds,
            endpoints: self.streams.endpoints,
        }
    }
}
