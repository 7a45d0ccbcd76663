//! What the command-line tests share: running the built binary and finding the samples.
// Every test crate compiles this module and uses only part of it.
#![allow(dead_code)]

use pushtrace_core::capture::{Frame, LinkType};
use pushtrace_core::engine::{AnalyzeOptions, Analyzer, TraceAnalysis};
use pushtrace_samples::net::SimFrame;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the built `pushtrace` with `args`.
pub fn pushtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushtrace"))
        .args(args)
        .output()
        .expect("pushtrace runs")
}

/// The path of a bundled sample.
pub fn sample(name: &str) -> String {
    format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `pushtrace analyze --format json` with `args`, the bytes of `sample_name` on standard
/// input; stdout and stderr are captured.
pub fn analyze_with_stdin(sample_name: &str, args: &[&str]) -> Output {
    let bytes = std::fs::read(sample(sample_name)).expect("sample");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushtrace"))
        .args(["analyze", "--format", "json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Analyses simulated Ethernet frames (numbered from 1) as one capture.
pub fn analyze_frames(frames: &[SimFrame], options: &AnalyzeOptions) -> TraceAnalysis {
    let mut analyzer = Analyzer::new(0, options);
    for (i, f) in frames.iter().enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: f.ts_ns,
            link: LinkType::ETHERNET,
            data: &f.bytes,
            orig_len: f.bytes.len() as u32,
            interface: 0,
            options: Default::default(),
        });
    }
    analyzer.finish()
}
