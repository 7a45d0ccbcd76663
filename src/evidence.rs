//! `pushtrace analyze --evidence FILE.pcapng`: hands the report to the core library's
//! evidence writer and says on stderr what came of it.

use crate::args::AnalyzeArgs;
use pushtrace_core::capture::ReadOptions;
use pushtrace_core::engine::evidence::{write_evidence_file, EvidenceOptions};
use pushtrace_core::report::Report;
use std::path::Path;

/// Writes the evidence capture of `report` to `dest`; false, after saying why on stderr,
/// when it could not be written.
pub fn write(dest: &Path, args: &AnalyzeArgs, read: ReadOptions, report: &Report) -> bool {
    let options = EvidenceOptions {
        client: args.session.clone(),
        read,
        ..EvidenceOptions::default()
    };
    // The captures among the inputs, in the report's order (artefacts are not in it).
    let captures: Vec<&str> = report.inputs.iter().map(|i| i.path.as_str()).collect();
    match write_evidence_file(report, &captures, &options, dest) {
        Ok(summary) => {
            eprintln!(
                "pushtrace: wrote {} frame(s) to {}",
                summary.frames,
                dest.display()
            );
            if !summary.missing.is_empty() {
                eprintln!(
                    "pushtrace: evidence: {} cited frame(s) were not found when the inputs were read again (did a file change?)",
                    summary.missing.len()
                );
            }
            if summary.unwritable > 0 {
                eprintln!(
                    "pushtrace: evidence: {} frame(s) left out: pcapng has no link type for them",
                    summary.unwritable
                );
            }
            true
        }
        Err(e) => {
            eprintln!("pushtrace: evidence: {e}");
            false
        }
    }
}
