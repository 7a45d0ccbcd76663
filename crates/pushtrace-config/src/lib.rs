//! Reads the text artefacts of Microsoft's push-notification troubleshooting procedure
//! (KB 319572 and its neighbours) and says what is wrong: registry exports from `regedit` or
//! `reg export` (server and Outlook profile keys), EnumProt output, and Outlook client logs
//! (DPMon) with their registration calls.
//!
//! Each input's kind is detected from its content, never from its name ([`detect`]). A
//! [`Checker`] reads several inputs as one view — registry exports are merged as importing
//! them in order would, and the subtrees each export covers are tracked, so that a key
//! missing from a covered subtree is known to be absent while one outside them is unknown —
//! and returns a [`CheckReport`]: [`Finding`]s (each with a code, severity, file, place,
//! sentence and fix), [`Note`]s for what could not be decided and what to export to decide
//! it, and an [`ArtefactSummary`] per input.
//!
//! The checks (config.md §2–§5):
//!
//! | code | severity | needs |
//! |---|---|---|
//! | `winsock_transport_without_service` | error | `Winsock\Parameters` `Transports` and an export covering `Services\<name>` (else a note) |
//! | `enumprot_failed` | error | EnumProt output with `Returned 0x…` (or `GetLastError()`) |
//! | `winsock_disabled_in_profile` | error | an Outlook profile export with `00036618` non-zero |
//! | `push_disabled_on_server` | warning | an export of `MSExchangeRPC\ParametersSystem` without `EnablePushNotifications` = 1 |
//! | `register_failed_in_client_log` | error | a client log with a failing `EC = …` after the registration call |
//!
//! Bad input is normal input: a malformed line of a registry export is skipped and reported
//! (as `regedit` skips it on import); only an input that is none of the three kinds, cannot
//! be read, or breaks a [`Limits`] bound is an error ([`ConfigError`]). Nothing panics on any
//! input.
//!
//! ```
//! use pushtrace_config::{detect, ArtefactKind, Checker};
//! let export = "Windows Registry Editor Version 5.00\r\n\r\n\
//!     [HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem]\r\n\
//!     \"EnablePushNotifications\"=dword:00000000\r\n";
//! assert_eq!(detect(export.as_bytes()), Some(ArtefactKind::RegistryExport));
//! let mut checker = Checker::new();
//! checker.add("rpc.reg", export.as_bytes()).unwrap();
//! let report = checker.finish();
//! assert_eq!(report.findings[0].code.as_str(), "push_disabled_on_server");
//! assert!(report.findings[0].r#where.ends_with(r"\ParametersSystem\EnablePushNotifications"));
//! ```

#![deny(unsafe_code)]

/// Implements `Display` for enums with an `as_str(self) -> &'static str` method.
macro_rules! display_as_str {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

mod check;
pub mod clientlog;
pub mod codes;
pub mod enumprot;
mod error;
pub mod registry;
mod report;
pub mod text;

pub use check::{check, Checker};
pub use error::{ConfigError, FormatError, LineError, LineErrorKind};
pub use report::{
    ArtefactDetails, ArtefactKind, ArtefactSummary, CheckReport, EnumProtResult, Finding,
    FindingCode, Note, NoteCode, Severity,
};
pub use text::TextEncoding;

use std::io::Read;
use std::path::Path;

/// Bounds on what one input may make the checker hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest input read, in bytes (default 128 MiB: a `reg export` of a whole
    /// `HKLM\SYSTEM` is tens of MiB).
    pub max_file_bytes: usize,
    /// The largest value data, in bytes (default 1 MiB); a larger value is skipped.
    pub max_value_bytes: usize,
    /// Key lines per export (default 1,000,000).
    pub max_keys: usize,
    /// Value lines per export (default 4,000,000).
    pub max_values: usize,
    /// Malformed lines skipped per export before the file is refused (default 1,000).
    pub max_skipped_lines: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 128 << 20,
            max_value_bytes: 1 << 20,
            max_keys: 1_000_000,
            max_values: 4_000_000,
            max_skipped_lines: 1_000,
        }
    }
}

/// What kind of artefact `bytes` hold, from their content: a registry export header, EnumProt's
/// first line and `EnumProtocols()` call, or a client log's registration call; `None` for
/// anything else.
pub fn detect(bytes: &[u8]) -> Option<ArtefactKind> {
    detect_text(&text::decode(bytes).0)
}

/// The bytes of the artefact file at `path`, at most `limits.max_file_bytes` of them
/// ([`ConfigError::TooLarge`] beyond); errors name the file as `path` displays.
pub fn read_artefact(path: &Path, limits: &Limits) -> Result<Vec<u8>, ConfigError> {
    let name = || path.display().to_string();
    let io = |source| ConfigError::Io {
        file: name(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    let limit = limits.max_file_bytes as u64;
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path).map_or(limit + 1, |m| m.len());
        return Err(ConfigError::TooLarge {
            file: name(),
            size,
            limit: limits.max_file_bytes,
        });
    }
    Ok(bytes)
}

/// [`detect`] on decoded text.
pub(crate) fn detect_text(text: &str) -> Option<ArtefactKind> {
    let first = text::lines(text).find(|l| !l.trim().is_empty())?;
    if registry::RegDialect::from_header(first).is_some() {
        Some(ArtefactKind::RegistryExport)
    } else if enumprot::looks_like(text) {
        Some(ArtefactKind::EnumProt)
    } else if clientlog::looks_like(text) {
        Some(ArtefactKind::ClientLog)
    } else {
        None
    }
}
