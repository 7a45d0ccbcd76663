//! Several captures of one trace: a capture split into consecutive files judges as the whole
//! file did, and captures of the same minutes at two points find their clock offset and
//! where the datagrams died.

use pushtrace_core::capture::{CaptureReader, LinkType, OwnedFrame};
use pushtrace_core::engine::{analyze_paths, AnalyzeOptions, TraceAnalyzer, TraceMode};
use pushtrace_core::report::{Report, TraceKind};
use pushtrace_samples::files::{FileFormat, FrameWriter};
use pushtrace_samples::net::Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn frames_of(path: &Path) -> Vec<OwnedFrame> {
    let mut reader = CaptureReader::open(path).expect("sample readable");
    std::iter::from_fn(|| reader.next_frame().map(|f| OwnedFrame::of(&f))).collect()
}

/// Writes `frames` (Ethernet, as every sample is) as a pcapng file.
fn write_pcapng(path: &Path, frames: &[OwnedFrame]) {
    let mut w = FrameWriter::new(Vec::new(), FileFormat::PcapNg, None).unwrap();
    for f in frames {
        assert_eq!(f.link, LinkType::ETHERNET);
        w.write(f.ts_ns, &f.data, f.orig_len).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// What must not change when a capture is split: the overall verdict and, per session, its
/// verdict, registrations and what the client did after each datagram.
fn verdicts(report: &Report) -> Value {
    let sessions: Vec<Value> = report
        .sessions
        .iter()
        .map(|s| {
            json!({
                "client": s.client, "server": s.server, "verdict": s.verdict,
                "registrations": s.registrations.iter().map(|r| r.status).collect::<Vec<_>>(),
                "reactions": s.datagrams.iter().map(|d| d.reaction).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "verdict": report.verdict, "sessions": sessions })
}

/// The single-file samples the generator writes.
fn single_file_samples() -> Vec<PathBuf> {
    pushtrace_samples::render_all()
        .expect("scenarios build")
        .into_iter()
        .filter(|s| s.captures.len() == 1 && s.files.len() == 1)
        .map(|s| samples_dir().join(&s.captures[0]))
        .collect()
}

#[test]
fn splitting_any_sample_into_consecutive_files_gives_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cuts = Rng::new(11);
    let mut failures = Vec::new();
    let mut splits = 0;
    for sample in single_file_samples() {
        let frames = frames_of(&sample);
        let whole = analyze_paths(&[&sample], &AnalyzeOptions::default());
        let expected = verdicts(&whole.report);
        // Every cut into two files, and a few random cuts into three and four.
        let mut plans: Vec<Vec<usize>> = (1..frames.len()).map(|c| vec![c]).collect();
        for n in [3, 4] {
            for _ in 0..8 {
                let last = frames.len() as u64 - 1;
                let mut at: Vec<usize> = (1..n).map(|_| cuts.range(1, last) as usize).collect();
                at.sort_unstable();
                at.dedup();
                plans.push(at);
            }
        }
        for plan in plans {
            let mut paths = Vec::new();
            let bounds: Vec<usize> = std::iter::once(0)
                .chain(plan.iter().copied())
                .chain(std::iter::once(frames.len()))
                .collect();
            for (k, w) in bounds.windows(2).enumerate() {
                let path = dir.path().join(format!("part_{k:05}.pcapng"));
                write_pcapng(&path, &frames[w[0]..w[1]]);
                paths.push(path);
            }
            // Given newest first: the order of the files is found from their times.
            paths.reverse();
            let split = analyze_paths(&paths, &AnalyzeOptions::default());
            splits += 1;
            let got = verdicts(&split.report);
            let chained =
                split.report.traces.len() == 1 && split.report.traces[0].kind == TraceKind::Chain;
            if got != expected || !chained {
                failures.push(format!(
                    "{} cut at {plan:?}: {got} (traces {:?}), whole file {expected}",
                    sample.display(),
                    split.report.traces
                ));
            }
        }
    }
    assert!(splits > 1_000, "{splits} splits tried");
    assert!(
        failures.is_empty(),
        "{} of {splits} splits differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The report of the bundled two-point sample `stem` (server file, client file).
fn two_points(stem: &str, server: &str, client: &str) -> Report {
    let paths = [samples_dir().join(server), samples_dir().join(client)];
    let a = analyze_paths(&paths, &AnalyzeOptions::default());
    assert!(a.failures.is_empty(), "{stem}: {:?}", a.failures);
    a.report
}

#[test]
fn the_clock_offset_found_is_the_one_planted() {
    // Planted by the generator: the client clock 3.25 s ahead, 1.75 s behind; 60 µs apart.
    for (server, client, planted_ms) in [
        (
            "two-points-healthy-server.pcapng",
            "two-points-healthy-client.pcapng",
            3_250.0,
        ),
        (
            "path-dropped-server-side.pcapng",
            "path-dropped-client-side.pcapng",
            -1_750.0,
        ),
    ] {
        let r = two_points(server, server, client);
        let clock = r.inputs[1].clock.expect("the client view has a clock");
        assert_eq!(clock.reference, 0);
        assert!(
            (clock.offset_ms - planted_ms).abs() < 0.001,
            "{client}: {clock:?}"
        );
        assert!((clock.delay_ms - 0.060).abs() < 0.001, "{clock:?}");
        assert!(clock.spread_ms < 0.001 && clock.shared_packets >= 20);
        assert!(r.inputs[0].clock.is_none(), "the reference has none");
    }
}

#[test]
fn a_datagram_lost_between_the_points_is_named_with_both() {
    let r = two_points(
        "path-dropped-both-ends",
        "path-dropped-server-side.pcapng",
        "path-dropped-client-side.pcapng",
    );
    let s = &r.sessions[0];
    let lost = s
        .evidence
        .iter()
        .find(|e| e.text.contains("never reached"))
        .expect("evidence names where the datagrams died");
    assert!(
        lost.text
            .contains("left 10.1.0.5 (server capture, frame 38 first)")
            && lost
                .text
                .contains("never reached 10.0.0.21 (the client capture, input 1"),
        "{}",
        lost.text
    );
    assert_eq!((lost.input, lost.frames.len()), (0, 4));
    assert!(
        s.advice[0].contains("between the two capture points"),
        "{:?}",
        s.advice
    );
    // The client view alone has no datagram; the server view alone cannot tell where.
    let alone = analyze_paths(
        &[samples_dir().join("path-dropped-server-side.pcapng")],
        &AnalyzeOptions::default(),
    );
    assert!(alone.report.sessions[0].advice[0].contains("Capture at the client at the same time"));
}

#[test]
fn views_fed_side_by_side_equal_views_read_as_files() {
    let paths = [
        samples_dir().join("two-points-healthy-server.pcapng"),
        samples_dir().join("two-points-healthy-client.pcapng"),
    ];
    let from_files = analyze_paths(&paths, &AnalyzeOptions::default()).report;
    // Interleave the two files frame by frame, as a program reading both at once would.
    let frames: Vec<Vec<OwnedFrame>> = paths.iter().map(|p| frames_of(p)).collect();
    let mut trace = TraceAnalyzer::new(2, &AnalyzeOptions::default());
    for k in 0..frames[0].len().max(frames[1].len()) {
        for (input, list) in frames.iter().enumerate() {
            if let Some(f) = list.get(k) {
                trace.feed(input, &f.as_frame(k as u64 + 1));
            }
        }
    }
    let traces = trace.finish();
    assert_eq!(traces.len(), 1, "one trace of two views");
    assert_eq!(traces[0].views.len(), 2);
    let streamed = serde_json::to_value(&traces[0].sessions).unwrap();
    let read = serde_json::to_value(&from_files.sessions).unwrap();
    assert_eq!(streamed, read);
}

#[test]
fn separate_keeps_views_apart() {
    let paths = [
        samples_dir().join("two-points-healthy-server.pcapng"),
        samples_dir().join("two-points-healthy-client.pcapng"),
    ];
    let separate = AnalyzeOptions {
        traces: TraceMode::Separate,
        ..AnalyzeOptions::default()
    };
    let r = analyze_paths(&paths, &separate).report;
    assert_eq!(r.sessions.len(), 2, "one session per file");
    assert!(r.traces.iter().all(|t| t.kind == TraceKind::Single));
    assert!(r.inputs.iter().all(|i| i.clock.is_none()));
}
