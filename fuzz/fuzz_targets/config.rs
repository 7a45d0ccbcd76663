//! The configuration artefacts (`pushtrace-config`): detection, the registry export parser,
//! its writer, EnumProt output and client logs, and the checker over several inputs merged
//! into one view. Input: files split on `FUZZ` (`pushtrace_fuzz::split_chunks`). Asserted:
//! what the checker accepts, `detect` recognises as the same kind; a parsed export, written
//! and read again, reads back to itself from then on (regedit 5.00), and judged in either
//! dialect gives the same findings and notes (where Windows-1252 holds its text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_config::registry::{self, RegDialect, RegExport};
use pushtrace_config::{detect, CheckReport, Checker, Limits};

/// Tight limits, so that the bounds are reached too.
const LIMITS: Limits = Limits {
    max_file_bytes: 1 << 20,
    max_value_bytes: 4096,
    max_keys: 256,
    max_values: 1024,
    max_skipped_lines: 64,
};

/// An export without its line numbers and skipped lines.
fn content(export: &RegExport) -> String {
    let keys: Vec<String> = export
        .keys
        .iter()
        .map(|k| {
            format!(
                "{}|{}|{:?}",
                k.path,
                k.deleted,
                k.values
                    .iter()
                    .map(|v| (&v.name, &v.value))
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    keys.join("\n")
}

/// Writes `export` in `dialect` and reads it back with the default limits.
fn reread(export: &RegExport, dialect: RegDialect) -> Option<(Vec<u8>, RegExport)> {
    let bytes = registry::write(export, dialect)?;
    let back = registry::parse(&bytes, &Limits::default()).expect("a written export reads");
    assert!(
        back.skipped.is_empty(),
        "written lines skipped: {:?}",
        back.skipped
    );
    assert_eq!(back.dialect, dialect);
    Some((bytes, back))
}

/// The findings and notes of one export, as JSON.
fn judged(bytes: &[u8]) -> String {
    let mut checker = Checker::new();
    checker
        .add("export.reg", bytes)
        .expect("a written export is accepted");
    let report: CheckReport = checker.finish();
    serde_json::to_string(&(&report.findings, &report.notes)).expect("serialises")
}

fuzz_target!(|data: &[u8]| {
    let chunks = pushtrace_fuzz::split_chunks(data);
    let names: Vec<String> = (0..chunks.len()).map(|i| format!("file{i}")).collect();
    let mut checker = Checker::with_limits(LIMITS);
    for (chunk, name) in chunks.iter().zip(&names) {
        let detected = detect(chunk);
        if let Ok(kind) = checker.add(name, chunk) {
            assert_eq!(detected, Some(kind), "add and detect disagree");
        }
        let Ok(export) = registry::parse(chunk, &LIMITS) else {
            continue;
        };
        // One write normalises (a REG_SZ holding NUL is written as hex(1), which ends at the
        // NUL); from then on writing and reading is the identity.
        let Some((_, once)) = reread(&export, RegDialect::Regedit5) else {
            continue;
        };
        let Some((five, twice)) = reread(&once, RegDialect::Regedit5) else {
            panic!("a read-back export cannot be written");
        };
        assert_eq!(content(&once), content(&twice), "write/read is not stable");
        if let Some((four, back)) = reread(&once, RegDialect::Regedit4) {
            assert_eq!(
                content(&back),
                content(&once),
                "REGEDIT4 reads back differently"
            );
            assert_eq!(
                judged(&four),
                judged(&five),
                "the dialects are judged differently"
            );
        }
    }
    let report = checker.finish();
    for finding in &report.findings {
        assert_eq!(finding.severity, finding.code.severity());
        assert!(
            names.contains(&finding.file),
            "finding about an unknown file"
        );
    }
    for summary in &report.inputs {
        assert!(names.contains(&summary.file));
    }
    let _ = serde_json::to_string(&report).expect("reports serialise");
});
