//! What a check returns: [`CheckReport`] with its [`Finding`]s, [`Note`]s and one
//! [`ArtefactSummary`] per input. Everything serialises to the JSON the command line prints.

use crate::error::LineError;
use crate::registry::RegDialect;
use crate::text::TextEncoding;
use serde::Serialize;

display_as_str!(ArtefactKind, Severity, FindingCode, NoteCode);

/// What kind of artefact a file is, detected by content (never by extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ArtefactKind {
    /// A `.reg` file from `regedit` or `reg export`.
    #[serde(rename = "registry_export")]
    RegistryExport,
    /// EnumProt output.
    #[serde(rename = "enumprot")]
    EnumProt,
    /// An Outlook client log (DPMon) with push-notification registrations.
    #[serde(rename = "client_log")]
    ClientLog,
}

impl ArtefactKind {
    /// The name in reports: `registry_export`, `enumprot`, `client_log`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtefactKind::RegistryExport => "registry_export",
            ArtefactKind::EnumProt => "enumprot",
            ArtefactKind::ClientLog => "client_log",
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// May stop push notifications where it applies (the server version decides).
    Warning,
    /// Stops push notifications.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What a finding is about. Serialised as its snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// A name in `Winsock\Parameters\Transports` without its `Services\<name>` key, in
    /// exports that cover that key's place (config.md §2).
    WinsockTransportWithoutService,
    /// EnumProt output ending in a failure (config.md §3).
    EnumprotFailed,
    /// PR_DISABLE_WINSOCK (`00036618`) non-zero in an Outlook profile (config.md §4).
    WinsockDisabledInProfile,
    /// `MSExchangeRPC\ParametersSystem` exported without `EnablePushNotifications` = 1
    /// (config.md §5).
    PushDisabledOnServer,
    /// A client log showing a failed registration (config.md §4).
    RegisterFailedInClientLog,
}

impl FindingCode {
    /// Every code.
    pub const ALL: [FindingCode; 5] = [
        FindingCode::WinsockTransportWithoutService,
        FindingCode::EnumprotFailed,
        FindingCode::WinsockDisabledInProfile,
        FindingCode::PushDisabledOnServer,
        FindingCode::RegisterFailedInClientLog,
    ];

    /// The code as serialised (`winsock_transport_without_service`...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::WinsockTransportWithoutService => "winsock_transport_without_service",
            FindingCode::EnumprotFailed => "enumprot_failed",
            FindingCode::WinsockDisabledInProfile => "winsock_disabled_in_profile",
            FindingCode::PushDisabledOnServer => "push_disabled_on_server",
            FindingCode::RegisterFailedInClientLog => "register_failed_in_client_log",
        }
    }

    /// Its severity: a warning only where the server version decides whether it matters.
    pub fn severity(self) -> Severity {
        match self {
            FindingCode::PushDisabledOnServer => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// Something wrong, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is.
    pub code: FindingCode,
    /// How bad it is (the code's [`FindingCode::severity`]).
    pub severity: Severity,
    /// The file it was found in, as named to the checker.
    pub file: String,
    /// The registry key and value name (`HKEY_LOCAL_MACHINE\...\Transports`), or `line N`.
    #[serde(rename = "where")]
    pub r#where: String,
    /// One or two sentences saying what is wrong and what it causes.
    pub text: String,
    /// The fix.
    pub advice: String,
}

impl Finding {
    /// A finding with the severity of its code.
    pub(crate) fn new(
        code: FindingCode,
        file: &str,
        r#where: String,
        text: String,
        advice: String,
    ) -> Finding {
        Finding {
            code,
            severity: code.severity(),
            file: file.to_string(),
            r#where,
            text,
            advice,
        }
    }
}

/// What a note is about. Serialised as its snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteCode {
    /// Transports are listed, but the exports do not cover `Services\<name>`: whether the
    /// key exists cannot be decided.
    TransportServiceNotExported,
    /// `Transports` is not a REG_MULTI_SZ, so its names cannot be read.
    TransportsNotMultiSz,
    /// Malformed lines of a registry export were skipped.
    LinesSkipped,
    /// EnumProt output that ends before `PASSED!` or an error.
    EnumprotUnfinished,
    /// A registration call in a client log without a readable `EC = …` result nearby.
    RegistrationWithoutResult,
}

impl NoteCode {
    /// The code as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteCode::TransportServiceNotExported => "transport_service_not_exported",
            NoteCode::TransportsNotMultiSz => "transports_not_multi_sz",
            NoteCode::LinesSkipped => "lines_skipped",
            NoteCode::EnumprotUnfinished => "enumprot_unfinished",
            NoteCode::RegistrationWithoutResult => "registration_without_result",
        }
    }
}

/// Something the checker could not decide, and what would let it. Not a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// What it is about.
    pub code: NoteCode,
    /// The file it concerns, as named to the checker.
    pub file: String,
    /// What could not be decided and what to provide.
    pub text: String,
}

/// How an EnumProt run ended, in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumProtResult {
    /// `PASSED!`.
    Passed,
    /// An error.
    Failed,
    /// Neither.
    Unfinished,
}

/// What was read from one artefact, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum ArtefactDetails {
    /// A registry export.
    #[serde(rename = "registry_export")]
    RegistryExport {
        /// Its dialect.
        dialect: RegDialect,
        /// Key lines (not deletions).
        keys: usize,
        /// Key deletions (`[-...]`).
        deleted_keys: usize,
        /// Value lines, deletions included.
        values: usize,
        /// The subtrees it covers (see [`RegExport::covers`](crate::registry::RegExport::covers)).
        covers: Vec<String>,
        /// Malformed lines skipped.
        skipped: Vec<LineError>,
        /// The `ControlSetNNN` of this file read as `CurrentControlSet`, when the exports
        /// have no `CurrentControlSet` keys.
        #[serde(skip_serializing_if = "Option::is_none")]
        control_set_as_current: Option<String>,
    },
    /// EnumProt output.
    #[serde(rename = "enumprot")]
    EnumProt {
        /// How it ended.
        result: EnumProtResult,
        /// The transports it lists.
        protocols: Vec<String>,
        /// The code after `Returned` (`0x80040102`), when it failed with one.
        #[serde(skip_serializing_if = "Option::is_none")]
        returned: Option<String>,
        /// The code after `GetLastError() =`, when given.
        #[serde(skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
    },
    /// A client log.
    #[serde(rename = "client_log")]
    ClientLog {
        /// Registration calls.
        registrations: usize,
        /// Those with a failing result.
        failed: usize,
        /// Those with a successful result.
        succeeded: usize,
    },
}

/// One input: its name, encoding and size, and what was read from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtefactSummary {
    /// The file as named to the checker.
    pub file: String,
    /// How its bytes were decoded.
    pub encoding: TextEncoding,
    /// Its number of lines.
    pub lines: usize,
    /// Its kind (serialised as `kind`) and what was read from it.
    #[serde(flatten)]
    pub details: ArtefactDetails,
}

impl ArtefactSummary {
    /// Its kind.
    pub fn kind(&self) -> ArtefactKind {
        match self.details {
            ArtefactDetails::RegistryExport { .. } => ArtefactKind::RegistryExport,
            ArtefactDetails::EnumProt { .. } => ArtefactKind::EnumProt,
            ArtefactDetails::ClientLog { .. } => ArtefactKind::ClientLog,
        }
    }
}

/// The result of checking a set of artefacts together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// What is wrong, in a fixed order: registry checks, EnumProt, client logs.
    pub findings: Vec<Finding>,
    /// What could not be decided.
    pub notes: Vec<Note>,
    /// One summary per input, in the order given.
    pub inputs: Vec<ArtefactSummary>,
}

impl CheckReport {
    /// The worst severity among the findings, `None` when there are none.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
