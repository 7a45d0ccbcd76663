//! The regression suite over `samples/`: every `NAME.expect.json` names the facts the report
//! of the sample `NAME.*` (or of the files it lists as `captures`, analysed together) must
//! show. Each sample is replayed through the library API and through the `pushtrace analyze
//! --format json` command line, and the expectation must be a subset of the report
//! (objects: the listed keys; lists: same length, element by element). Also checks that the
//! generator reproduces the committed samples byte for byte.
//!
//! To add a regression case, drop a capture and its `.expect.json` into `samples/`.

use pushtrace_core::engine::{analyze_paths, AnalyzeOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every (captures, expectation) pair in `samples/`: `NAME.expect.json` goes with the files
/// it lists as `captures`, or else with the one other file named `NAME.<extension>` (such as
/// `.pcapng` or `.pcapng.gz`).
fn cases() -> Vec<(Vec<PathBuf>, Value)> {
    let entries = std::fs::read_dir(samples_dir()).expect("samples/ exists");
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for expect in names.iter().filter(|n| n.ends_with(".expect.json")) {
        let text = std::fs::read(samples_dir().join(expect)).expect("readable");
        let value: Value = serde_json::from_slice(&text).expect("valid JSON");
        if let Some(captures) = value["captures"].as_array() {
            let paths = captures
                .iter()
                .map(|c| samples_dir().join(c.as_str().expect("a file name")))
                .collect();
            out.push((paths, value));
            continue;
        }
        let stem = &expect[..expect.len() - ".expect.json".len()];
        let capture = names
            .iter()
            .find(|n| {
                n.strip_prefix(stem)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|ext| !ext.is_empty() && ext != "expect.json")
            })
            .unwrap_or_else(|| panic!("no capture for {expect}"));
        out.push((vec![samples_dir().join(capture)], value));
    }
    assert!(
        out.len() >= 18,
        "expected the bundled samples, found {}",
        out.len()
    );
    out
}

/// Differences between `expected` (a subset) and `actual`, as `path: message` lines.
fn subset_errors(expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                if k == "exit_code" || k == "captures" || k.ends_with("warning_codes") {
                    continue;
                }
                match a.get(k) {
                    Some(av) => subset_errors(v, av, &format!("{path}.{k}"), errors),
                    None => errors.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset_errors(ev, av, &format!("{path}[{i}]"), errors);
            }
        }
        (Value::Array(e), Value::Array(a)) => errors.push(format!(
            "{path}: expected {} items, got {}: {a:?}",
            e.len(),
            a.len()
        )),
        (e, a) if e == a => {}
        (e, a) => errors.push(format!("{path}: expected {e}, got {a}")),
    }
}

fn check(
    captures: &[PathBuf],
    expect: &Value,
    report: &Value,
    exit_code: Option<i32>,
) -> Vec<String> {
    let mut errors = Vec::new();
    subset_errors(expect, report, "", &mut errors);
    if exit_code.map(i64::from) != expect["exit_code"].as_i64() {
        errors.push(format!(
            "exit code {exit_code:?}, expected {}",
            expect["exit_code"]
        ));
    }
    let codes: Vec<&str> = report["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["warning_details"].as_array().into_iter().flatten())
        .filter_map(|w| w["code"].as_str())
        .collect();
    for code in expect["warning_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !codes.contains(&code) {
            errors.push(format!("no `{code}` warning; got {codes:?}"));
        }
    }
    for code in expect["absent_warning_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if codes.contains(&code) {
            errors.push(format!(
                "a `{code}` warning, which must not appear: {codes:?}"
            ));
        }
    }
    let names: Vec<String> = captures.iter().map(|c| c.display().to_string()).collect();
    errors
        .into_iter()
        .map(|e| format!("{}: {e}", names.join(" + ")))
        .collect()
}

#[test]
fn every_sample_matches_its_expectation_through_the_library() {
    let mut failures = Vec::new();
    for (captures, expect) in cases() {
        let analysis = analyze_paths(&captures, &AnalyzeOptions::default());
        assert!(analysis.failures.is_empty(), "{:?}", analysis.failures);
        let json = serde_json::to_value(&analysis.report).expect("serialisable");
        failures.extend(check(
            &captures,
            &expect,
            &json,
            Some(analysis.report.verdict.exit_code()),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_sample_matches_its_expectation_through_the_cli() {
    let mut failures = Vec::new();
    for (captures, expect) in cases() {
        let out = Command::new(env!("CARGO_BIN_EXE_pushtrace"))
            .args(["analyze", "--format", "json"])
            .args(&captures)
            .output()
            .expect("pushtrace runs");
        let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
        failures.extend(check(&captures, &expect, &json, out.status.code()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_generator_reproduces_the_committed_samples() {
    let dir = samples_dir();
    let samples = pushtrace_samples::render_all().expect("scenarios build");
    let readme =
        std::fs::read_to_string(dir.join("README.md")).expect("samples/README.md committed");
    assert_eq!(
        readme,
        pushtrace_samples::readme(&samples),
        "samples/README.md differs from the generator's"
    );
    for sample in samples {
        for (name, bytes) in &sample.files {
            let committed = std::fs::read(dir.join(name)).expect("sample committed");
            assert!(
                &committed == bytes,
                "{name} differs from the generator's output: run `cargo run -p pushtrace-samples`"
            );
        }
        let expect = std::fs::read(dir.join(&sample.expect_name)).expect("expectation committed");
        assert!(
            expect == sample.expect,
            "{} differs from the generator's output",
            sample.expect_name
        );
    }
}
