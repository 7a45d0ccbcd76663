//! The pipeline stages the benchmarks time, each one complete pass over a capture file, each
//! doing everything the previous one does plus one more stage:
//!
//! * `walk`: the bare record walk (`CaptureReader::next_frame` until the end): the floor;
//! * `decode`: + link/IP/transport decoding (`Decoder`);
//! * `tcp`: + TCP reassembly into a sink that only counts the delivered bytes;
//! * `engine`: the whole streaming engine (`Analyzer::feed` per frame, then `finish`):
//!   reassembly, DCE/RPC detection and framing, EMSMDB decoding and correlation;
//! * `analyze`: the one-call API the CLI uses (`analyze_path`), report included.
//!
//! Shared by `benches/pipeline.rs` and `examples/walk.rs` (included with `#[path]`).

use pushtrace_core::capture::{CaptureError, CaptureReader};
use pushtrace_core::decode::{Decoded, Decoder, Transport};
use pushtrace_core::engine::{analyze_path, AnalyzeOptions, Analyzer};
use pushtrace_core::flow::{ConnEndpoints, ConnId, Direction};
use pushtrace_core::tcp::{CloseReason, Interest, StreamSink, TcpLimits, TcpReassembler};
use pushtrace_core::Warning;
use std::path::Path;

/// One stage of the pipeline, cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Records only.
    Walk,
    /// Records and decoding.
    Decode,
    /// Records, decoding and TCP reassembly.
    Tcp,
    /// The streaming engine.
    Engine,
    /// The one-call analysis.
    Analyze,
}

impl Stage {
    /// Every stage, floor first.
    pub const ALL: [Stage; 5] = [
        Stage::Walk,
        Stage::Decode,
        Stage::Tcp,
        Stage::Engine,
        Stage::Analyze,
    ];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Walk => "walk",
            Stage::Decode => "decode",
            Stage::Tcp => "tcp",
            Stage::Engine => "engine",
            Stage::Analyze => "analyze",
        }
    }

    /// The stage called `name`.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What one pass saw; `check` depends on the work done so it cannot be optimised away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pass {
    /// Frames read.
    pub frames: u64,
    /// A value derived from the stage's results.
    pub check: u64,
}

/// Counts what TCP reassembly delivers.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
    events: u64,
}

impl StreamSink for CountingSink {
    fn opened(&mut self, _: ConnId, _: &ConnEndpoints) {
        self.events += 1;
    }
    fn data(&mut self, _: ConnId, _: Direction, bytes: &[u8], _: u64, _: i64) -> Interest {
        self.bytes += bytes.len() as u64;
        Interest::More
    }
    fn gap(&mut self, _: ConnId, _: Direction, missing: u64, _: u64) {
        self.bytes += missing;
    }
    fn closed(&mut self, _: ConnId, _: CloseReason) {
        self.events += 1;
    }
    fn warning(&mut self, _: Warning) {
        self.events += 1;
    }
}

/// Runs `stage` over the capture at `path`.
pub fn run(stage: Stage, path: &Path) -> Result<Pass, CaptureError> {
    let options = AnalyzeOptions::default();
    if stage == Stage::Analyze {
        let report = analyze_path(path, &options)?;
        let frames = report.inputs.iter().map(|i| i.frames).sum();
        return Ok(Pass {
            frames,
            check: report.sessions.len() as u64,
        });
    }
    let mut reader = CaptureReader::open_with(path, &options.read)?;
    let mut pass = Pass::default();
    match stage {
        Stage::Walk => {
            while let Some(frame) = reader.next_frame() {
                pass.frames += 1;
                pass.check = pass.check.wrapping_add(frame.data.len() as u64);
            }
        }
        Stage::Decode => {
            let mut decoder = Decoder::new(options.limits.defrag);
            while let Some(frame) = reader.next_frame() {
                pass.frames += 1;
                if let Decoded::Packet(p) = decoder.decode(&frame) {
                    pass.check += u64::from(matches!(p.transport, Transport::Tcp(_)));
                }
            }
        }
        Stage::Tcp => {
            let mut decoder = Decoder::new(options.limits.defrag);
            let mut tcp = TcpReassembler::new(TcpLimits::default());
            let mut sink = CountingSink::default();
            while let Some(frame) = reader.next_frame() {
                pass.frames += 1;
                if let Decoded::Packet(p) = decoder.decode(&frame) {
                    if let Transport::Tcp(seg) = &p.transport {
                        tcp.segment(frame.number, frame.ts_ns, p.src, p.dst, seg, &mut sink);
                    }
                }
            }
            tcp.finish(&mut sink);
            pass.check = sink.bytes ^ sink.events;
        }
        Stage::Engine => {
            let mut analyzer = Analyzer::new(0, &options);
            while let Some(frame) = reader.next_frame() {
                pass.frames += 1;
                analyzer.feed(&frame);
            }
            pass.check = analyzer.finish().sessions.len() as u64;
        }
        Stage::Analyze => {}
    }
    Ok(pass)
}
