//! The regression suite over `samples/config/`: every `NAME.expect.json` names what the
//! report of `NAME.*` (or of the files it lists as `files`, checked together) must hold, and
//! the generator (`crates/pushtrace-samples/src/config.rs`) must reproduce the committed
//! files byte for byte.
//!
//! To pin an artefact of your own, drop it into `samples/config/` with a `NAME.expect.json`.

use pushtrace_config::Checker;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/config")
}

/// The sorted file names of `samples/config/`.
fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config_dir())
        .expect("samples/config/ exists: run `cargo run -p pushtrace-samples`")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `actual` cut down to the keys `expected` lists (recursively; lists item by item), so that
/// comparing the two compares just what the expectation names.
fn project(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => Value::Object(
            e.keys()
                .filter_map(|k| Some((k.clone(), project(&e[k], a.get(k)?))))
                .collect::<Map<_, _>>(),
        ),
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            Value::Array(e.iter().zip(a).map(|(e, a)| project(e, a)).collect())
        }
        _ => actual.clone(),
    }
}

/// The files an expectation is about: its `files`, or the one other file with its stem.
fn files_of(expect_name: &str, expect: &Value, names: &[String]) -> Vec<String> {
    if let Some(files) = expect["files"].as_array() {
        return files
            .iter()
            .map(|f| f.as_str().expect("file names").to_string())
            .collect();
    }
    let stem = expect_name.trim_end_matches(".expect.json");
    let own: Vec<String> = names
        .iter()
        .filter(|n| {
            n.strip_prefix(stem)
                .is_some_and(|r| r.starts_with('.') && !r.ends_with(".expect.json"))
        })
        .cloned()
        .collect();
    assert_eq!(
        own.len(),
        1,
        "{expect_name} needs exactly one file named {stem}.*: {own:?}"
    );
    own
}

#[test]
fn every_config_sample_matches_its_expectation() {
    let names = names();
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for expect_name in names.iter().filter(|n| n.ends_with(".expect.json")) {
        let text = std::fs::read(config_dir().join(expect_name)).expect("readable");
        let mut expect: Value = serde_json::from_slice(&text).expect("valid JSON");
        let files = files_of(expect_name, &expect, &names);
        let mut checker = Checker::new();
        for file in &files {
            let bytes = std::fs::read(config_dir().join(file)).expect("readable sample");
            if let Err(e) = checker.add(file, &bytes) {
                failures.push(format!("{expect_name}: {e}"));
            }
        }
        let report = serde_json::to_value(checker.finish()).expect("serialisable");
        if let Some(doc) = expect.as_object_mut() {
            doc.remove("files");
        }
        let got = project(&expect, &report);
        if got != expect {
            failures.push(format!(
                "{expect_name}:\n expected {}\n got      {}\n report   {}",
                expect,
                got,
                serde_json::to_string_pretty(&report).unwrap_or_default()
            ));
        }
        checked.extend(files);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for name in names
        .iter()
        .filter(|n| !n.ends_with(".expect.json") && *n != "README.md")
    {
        assert!(checked.contains(name), "{name} has no expectation");
    }
    assert!(checked.len() >= 9, "the bundled samples: {checked:?}");
}

#[test]
fn the_generator_reproduces_the_committed_config_samples() {
    let files = pushtrace_samples::config::files().expect("the samples build");
    for (name, bytes) in &files {
        let committed = std::fs::read(config_dir().join(name)).unwrap_or_else(|e| {
            panic!("samples/config/{name}: {e}: run `cargo run -p pushtrace-samples`")
        });
        assert!(
            &committed == bytes,
            "samples/config/{name} differs from the generator's output: run `cargo run -p pushtrace-samples`"
        );
    }
}
