//! Configuration artefacts given among the captures: registry exports, EnumProt output and
//! Outlook client logs are told from captures by their content, checked together
//! ([`crate::config::Checker`]), and joined to the verdict: a finding that explains a
//! session's verdict is cited first in its advice.

use super::{analyze_paths, Analysis, AnalyzeOptions, InputFailure};
use crate::capture::is_capture_prefix;
use crate::config::{self, Checker, Finding, FindingCode};
use crate::report::{ArtefactInput, Report, Verdict};
use std::io::Read;
use std::path::Path;

/// Bytes read from the start of an input to tell a capture (or a compressed capture) by its
/// magic number.
const MAGIC_LEN: u64 = 16;

/// Analyses `paths` as [`analyze_paths`] does, except that configuration artefacts among them
/// are checked instead of read as captures, and their findings joined to the report
/// (`report.findings`, `report.artefacts`, and the advice of the sessions they explain).
/// Standard input (`-`) is always a capture. An artefact that cannot be read is listed in
/// [`Analysis::failures`] with [`InputFailure::artefact`] set.
pub fn analyze_inputs<P: AsRef<Path> + Sync>(paths: &[P], options: &AnalyzeOptions) -> Analysis {
    let mut captures = Vec::new();
    let mut artefacts = Vec::new();
    for path in paths.iter().map(AsRef::as_ref) {
        match artefact_bytes(path) {
            Some(read) => artefacts.push((path, read)),
            None => captures.push(path),
        }
    }
    // Checked first, so that their bytes are not held while the captures are analysed.
    let checked = (!artefacts.is_empty()).then(|| check_read(artefacts));
    let mut analysis = analyze_paths(&captures, options);
    let Some(checked) = checked else {
        return analysis;
    };
    analysis.failures.extend(checked.failures);
    analysis.report.artefacts = checked.inputs;
    analysis.report.findings = checked.findings;
    analysis.report.config_notes = checked.notes;
    cite_findings(&mut analysis.report);
    analysis
}

/// What `pushtrace check` reports: the artefacts checked together.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    /// What is wrong.
    pub findings: Vec<Finding>,
    /// What could not be decided.
    pub notes: Vec<config::Note>,
    /// Every input in the order given, with its summary or its error.
    pub inputs: Vec<ArtefactInput>,
    /// The inputs that could not be read or are not artefacts (exit code 2).
    #[serde(skip)]
    pub failures: Vec<InputFailure>,
}

/// Checks `paths` as configuration artefacts, together (registry exports form one view).
pub fn check_paths<P: AsRef<Path>>(paths: &[P]) -> Checked {
    let limits = config::Limits::default();
    check_read(
        paths
            .iter()
            .map(|p| (p.as_ref(), config::read_artefact(p.as_ref(), &limits))),
    )
}

/// Checks artefacts already read (or that could not be read), in order.
fn check_read<'p>(
    inputs: impl IntoIterator<Item = (&'p Path, Result<Vec<u8>, config::ConfigError>)>,
) -> Checked {
    let mut checker = Checker::new();
    let mut checked = Checked::default();
    for (k, (path, bytes)) in inputs.into_iter().enumerate() {
        let name = path.display().to_string();
        // The path is named beside the error wherever it is shown: keep the reason alone.
        let error = bytes
            .and_then(|bytes| checker.add(&name, &bytes))
            .err()
            .map(|e| e.reason());
        if let Some(error) = &error {
            checked.failures.push(InputFailure {
                input: k,
                path: name.clone(),
                error: error.clone(),
                artefact: true,
            });
        }
        checked.inputs.push(ArtefactInput {
            path: name,
            error,
            summary: None,
        });
    }
    let report = checker.finish();
    // The checker lists the inputs it read, in order: they fill the slots without an error.
    let mut read = report.inputs.into_iter();
    for slot in checked.inputs.iter_mut().filter(|s| s.error.is_none()) {
        slot.summary = read.next();
    }
    checked.findings = report.findings;
    checked.notes = report.notes;
    checked
}

/// The bytes of `path` when it is a configuration artefact: not standard input, a regular
/// file, not a capture by its first bytes, and a kind the checker recognises (a file over
/// the checker's size limit is judged by its first bytes, and is an artefact too large to
/// check). Anything else (`None`) is left to the capture reader, whose error names the
/// formats. The bytes are read once, here, and checked from memory.
fn artefact_bytes(path: &Path) -> Option<Result<Vec<u8>, config::ConfigError>> {
    if path.as_os_str() == "-" || !file_is_regular(path) {
        return None;
    }
    let mut magic = Vec::new();
    let file = std::fs::File::open(path).ok()?;
    file.take(MAGIC_LEN).read_to_end(&mut magic).ok()?;
    if is_capture_prefix(&magic) {
        return None;
    }
    let limits = config::Limits::default();
    match config::read_artefact(path, &limits) {
        Ok(bytes) => config::detect(&bytes).map(|_| Ok(bytes)),
        Err(too_large @ config::ConfigError::TooLarge { .. }) => {
            let mut head = Vec::new();
            let file = std::fs::File::open(path).ok()?;
            file.take(limits.max_file_bytes as u64)
                .read_to_end(&mut head)
                .ok()?;
            config::detect(&head).map(|_| Err(too_large))
        }
        Err(_) => None,
    }
}

/// Pipes and devices are read once, by the capture reader.
fn file_is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Which verdicts a finding can explain: server-side causes of a failed registration explain
/// `refused`; a profile that disables Winsock explains a client that never registers; every
/// finding may explain what a capture could not decide.
fn explains(code: FindingCode, verdict: Verdict) -> bool {
    match code {
        FindingCode::WinsockDisabledInProfile => {
            matches!(verdict, Verdict::NotRegistered | Verdict::Inconclusive)
        }
        FindingCode::WinsockTransportWithoutService
        | FindingCode::EnumprotFailed
        | FindingCode::PushDisabledOnServer
        | FindingCode::RegisterFailedInClientLog => {
            matches!(verdict, Verdict::Refused | Verdict::Inconclusive)
        }
    }
}

/// Puts the fix of every finding that explains a session's verdict first in its advice,
/// naming the file and place it comes from.
fn cite_findings(report: &mut Report) {
    for session in &mut report.sessions {
        let cited: Vec<String> = report
            .findings
            .iter()
            .filter(|f| explains(f.code, session.verdict))
            .map(citation)
            .collect();
        session.advice.splice(0..0, cited);
    }
}

/// A finding as a line of a session's advice.
fn citation(f: &Finding) -> String {
    format!(
        "{} ({}: {}, {})",
        f.advice,
        f.code.as_str(),
        f.file,
        f.r#where
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_explains_some_verdict_and_never_flowing() {
        for code in FindingCode::ALL {
            assert!(!explains(code, Verdict::Flowing), "{code:?}");
            assert!(
                explains(code, Verdict::Refused) || explains(code, Verdict::NotRegistered),
                "{code:?}"
            );
        }
    }
}
