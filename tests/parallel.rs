//! Several inputs analysed in parallel give exactly what a sequential run gives: the same
//! report, call records, statistics and endpoints (compared as JSON), whatever the number
//! of threads.

use pushtrace_core::engine::{analyze_paths, AnalyzeOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Every bundled capture, in name order.
fn sample_captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("samples/ exists")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pcap" | "pcapng" | "cap"))
        })
        .collect();
    paths.sort();
    paths
}

/// Everything the one-call API returns, as JSON, analysed on `threads` threads.
fn analysis(paths: &[PathBuf], threads: usize) -> Value {
    let options = AnalyzeOptions {
        threads,
        collect_calls: true,
        ..AnalyzeOptions::default()
    };
    let a = analyze_paths(paths, &options);
    json!({
        "report": a.report,
        "calls": a.calls,
        "statistics": a.rpc_statistics,
        "endpoints": a.endpoints,
        "failures": a.failures,
    })
}

#[test]
fn parallel_runs_equal_the_sequential_one() {
    let mut paths = sample_captures();
    assert!(paths.len() >= 10, "expected the bundled samples");
    // An unreadable input in the middle keeps its place (with its error) and shifts nothing.
    paths.insert(3, PathBuf::from("samples/does-not-exist.pcap"));
    let sequential = analysis(&paths, 1);
    assert_eq!(sequential["failures"].as_array().map(Vec::len), Some(1));
    let inputs = &sequential["report"]["inputs"];
    assert_eq!(inputs.as_array().map(Vec::len), Some(paths.len()));
    assert!(inputs[3]["error"].is_string());
    assert!(inputs[4]["error"].is_null());
    // The copies of healthy-push (other formats, cut, snapped) hold the same packets: one
    // trace seen eight times, its session and datagrams counted once.
    let report = &sequential["report"];
    let views = report["traces"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["kind"] == "views"))
        .expect("the healthy-push copies are views of one trace");
    assert_eq!(views["inputs"].as_array().map(Vec::len), Some(8));
    let healthy: Vec<&Value> = report["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["inputs"].as_array().is_some_and(|i| i.len() == 8))
        .collect();
    assert_eq!(healthy.len(), 1);
    assert_eq!(healthy[0]["datagrams"].as_array().map(Vec::len), Some(2));
    assert!(
        report["sessions"].as_array().is_some_and(|s| s.len() >= 25),
        "the other samples hold their own sessions"
    );
    for threads in [2, 3, 8] {
        assert_eq!(
            analysis(&paths, threads),
            sequential,
            "{threads} threads differ from one"
        );
    }
}

#[test]
fn input_order_not_completion_order_numbers_the_inputs() {
    let paths = sample_captures();
    let forward = analysis(&paths, 4);
    let mut reversed_paths = paths.clone();
    reversed_paths.reverse();
    let reversed = analysis(&reversed_paths, 4);
    let inputs = |v: &Value| -> Vec<String> {
        v["report"]["inputs"]
            .as_array()
            .map(|a| a.iter().map(|i| i["path"].to_string()).collect())
            .unwrap_or_default()
    };
    let mut expected = inputs(&forward);
    expected.reverse();
    assert_eq!(inputs(&reversed), expected);
}
