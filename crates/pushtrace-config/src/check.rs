//! [`Checker`]: reads artefacts one by one (registry exports merged into one view), then
//! runs the checks of the troubleshooting procedure on all of them together.

use crate::clientlog::{self, ClientLog, REGISTER_CALL, RESULT_WINDOW};
use crate::codes::return_code_name;
use crate::enumprot::{self, EnumProtRun, Outcome};
use crate::error::{ConfigError, LineError};
use crate::registry::{self, KeyPath, RegValue, RegistryView, ViewKey, ViewValue};
use crate::report::{
    ArtefactDetails, ArtefactKind, ArtefactSummary, CheckReport, EnumProtResult, Finding,
    FindingCode, Note, NoteCode,
};
use crate::text;
use crate::{detect_text, read_artefact, Limits};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// `HKLM\SYSTEM\CurrentControlSet\Services`.
const SERVICES: &str = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services";
/// The key holding the Winsock transport list, below [`SERVICES`].
const WINSOCK_PARAMETERS: &str = r"Winsock\Parameters";
/// The key holding `EnablePushNotifications`, below [`SERVICES`].
const RPC_PARAMETERS_SYSTEM: &str = r"MSExchangeRPC\ParametersSystem";
/// The Transports value as the advice names it.
const TRANSPORTS_SHORT: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Services\Winsock\Parameters\Transports";
/// The subkey of a MAPI profile holding the Exchange provider's global section.
const EMSMDB_SECTION: &str = "13DBB0C8AA05101A9BB000AA002FC45A";
/// PR_DISABLE_WINSOCK as a profile value name.
const PR_DISABLE_WINSOCK: &str = "00036618";
/// ecNotSupported.
const EC_NOT_SUPPORTED: u32 = 0x8004_0102;
/// How many items a note lists before saying how many more there are.
const NOTE_ITEMS: usize = 10;

/// What was read from one input, kept until [`Checker::finish`].
#[derive(Debug)]
enum Parsed {
    Registry,
    EnumProt(EnumProtRun),
    ClientLog(ClientLog),
}

/// Reads artefacts and checks them together.
///
/// ```
/// use pushtrace_config::{ArtefactKind, Checker};
/// let mut checker = Checker::new();
/// let enumprot = b"Testing \"TCPIP Support\"!  AF_INET = Family (2)\r\n\
///     Calling EnumProtocols() with 2048 byte buffer.\r\n\
///     Error Returned!  GetLastError() = 0x2\r\n\
///     Failed update!  Returned 0x80040102\r\n";
/// assert_eq!(checker.add("enumprot.txt", enumprot).unwrap(), ArtefactKind::EnumProt);
/// let report = checker.finish();
/// assert_eq!(report.findings[0].code.as_str(), "enumprot_failed");
/// assert_eq!(report.findings[0].r#where, "line 4");
/// ```
#[derive(Debug, Default)]
pub struct Checker {
    limits: Limits,
    view: RegistryView,
    inputs: Vec<(ArtefactSummary, Parsed)>,
}

impl Checker {
    /// A checker with the default [`Limits`].
    pub fn new() -> Checker {
        Checker::default()
    }

    /// A checker with other limits.
    pub fn with_limits(limits: Limits) -> Checker {
        Checker {
            limits,
            ..Checker::default()
        }
    }

    /// Reads one artefact named `name` (used in findings and errors). Registry exports are
    /// merged into one view in the order added: later ones override earlier ones. On error
    /// nothing of the input is kept.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<ArtefactKind, ConfigError> {
        if bytes.len() > self.limits.max_file_bytes {
            return Err(ConfigError::TooLarge {
                file: name.to_string(),
                size: bytes.len() as u64,
                limit: self.limits.max_file_bytes,
            });
        }
        let (text, encoding) = text::decode(bytes);
        let not_recognised = || ConfigError::NotRecognised {
            file: name.to_string(),
        };
        let kind = detect_text(&text).ok_or_else(not_recognised)?;
        let index = self.inputs.len();
        let summary = |lines: usize, details: ArtefactDetails| ArtefactSummary {
            file: name.to_string(),
            encoding,
            lines,
            details,
        };
        let input = match kind {
            ArtefactKind::RegistryExport => {
                let export =
                    registry::parse_text(&text, encoding, &self.limits).map_err(|source| {
                        ConfigError::Malformed {
                            file: name.to_string(),
                            source,
                        }
                    })?;
                let details = ArtefactDetails::RegistryExport {
                    dialect: export.dialect,
                    keys: export.keys.iter().filter(|k| !k.deleted).count(),
                    deleted_keys: export.keys.iter().filter(|k| k.deleted).count(),
                    values: export.value_count(),
                    covers: export.covers().iter().map(|k| k.path.to_string()).collect(),
                    skipped: export.skipped.clone(),
                    control_set_as_current: None,
                };
                let lines = export.lines;
                self.view.apply(index, export);
                (summary(lines, details), Parsed::Registry)
            }
            ArtefactKind::EnumProt => {
                let run = enumprot::parse(&text).ok_or_else(not_recognised)?;
                let details = enumprot_details(&run);
                (summary(run.lines, details), Parsed::EnumProt(run))
            }
            ArtefactKind::ClientLog => {
                let log = clientlog::parse(&text).ok_or_else(not_recognised)?;
                let outcomes = log
                    .calls
                    .iter()
                    .filter_map(|c| c.result.as_ref()?.succeeded());
                let succeeded = outcomes.clone().filter(|&ok| ok).count();
                let details = ArtefactDetails::ClientLog {
                    registrations: log.calls.len(),
                    failed: outcomes.count() - succeeded,
                    succeeded,
                };
                (summary(log.lines, details), Parsed::ClientLog(log))
            }
        };
        self.inputs.push(input);
        Ok(kind)
    }

    /// Reads the file at `path` (at most [`Limits::max_file_bytes`]) and adds it under its
    /// path as given.
    pub fn add_file(&mut self, path: &Path) -> Result<ArtefactKind, ConfigError> {
        let bytes = read_artefact(path, &self.limits)?;
        self.add(&path.display().to_string(), &bytes)
    }

    /// Runs every check on everything added and returns the report.
    pub fn finish(mut self) -> CheckReport {
        let mut out = Out {
            report: CheckReport::default(),
            names: self.inputs.iter().map(|(s, _)| s.file.clone()).collect(),
        };
        if let Some(set) = self.view.settle().map(str::to_string) {
            mark_control_set(&mut self.inputs, &set);
        }
        check_winsock_transports(&self.view, &mut out);
        check_push_enabled(&self.view, &mut out);
        check_profiles(&self.view, &mut out);
        for (index, (summary, read)) in self.inputs.iter().enumerate() {
            match read {
                Parsed::Registry => skipped_lines(index, summary, &mut out),
                Parsed::EnumProt(run) => check_enumprot(index, run, &mut out),
                Parsed::ClientLog(log) => check_client_log(index, log, &mut out),
            }
        }
        out.report.inputs = self.inputs.into_iter().map(|(s, _)| s).collect();
        out.report
    }
}

/// Checks `inputs` (name, bytes) together: [`Checker::add`] each, then [`Checker::finish`].
pub fn check<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<CheckReport, ConfigError> {
    let mut checker = Checker::new();
    for (name, bytes) in inputs {
        checker.add(name, bytes)?;
    }
    Ok(checker.finish())
}

/// The report being built, and the input names findings cite.
struct Out {
    report: CheckReport,
    names: Vec<String>,
}

impl Out {
    fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("", String::as_str)
    }

    fn finding(
        &mut self,
        code: FindingCode,
        file: usize,
        r#where: String,
        text: String,
        advice: String,
    ) {
        let finding = Finding::new(code, self.name(file), r#where, text, advice);
        self.report.findings.push(finding);
    }

    fn note(&mut self, code: NoteCode, file: usize, text: String) {
        let file = self.name(file).to_string();
        self.report.notes.push(Note { code, file, text });
    }
}

/// Says in each registry summary covering `HKLM\SYSTEM\<set>` that it stands for
/// `CurrentControlSet`.
fn mark_control_set(inputs: &mut [(ArtefactSummary, Parsed)], set: &str) {
    let set_path = KeyPath::from_canonical(format!(r"HKEY_LOCAL_MACHINE\SYSTEM\{set}"));
    for (summary, _) in inputs {
        if let ArtefactDetails::RegistryExport {
            covers,
            control_set_as_current,
            ..
        } = &mut summary.details
        {
            let touches = covers
                .iter()
                .filter_map(|c| KeyPath::parse(c))
                .any(|c| c.is_within(&set_path) || set_path.is_within(&c));
            if touches {
                *control_set_as_current = Some(set.to_string());
            }
        }
    }
}

/// `where` for a value: the key as the export wrote it, then the value name.
fn value_where(key: &ViewKey, value_name: &str) -> String {
    format!("{}\\{value_name}", key.path)
}

/// A list of at most [`NOTE_ITEMS`] items, then how many more.
fn listing(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NOTE_ITEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NOTE_ITEMS {
        text.push_str(&format!(" and {} more", items.len() - NOTE_ITEMS));
    }
    text
}

/// config.md §2: every name in `Winsock\Parameters\Transports` needs a `Services\<name>`
/// key. Decided only where the exports cover that key's place.
fn check_winsock_transports(view: &RegistryView, out: &mut Out) {
    let services = KeyPath::from_canonical(SERVICES);
    let Some(key) = view.key(&services.join(WINSOCK_PARAMETERS)) else {
        return;
    };
    let Some(value) = key.value("Transports") else {
        return;
    };
    let file = value.source.file;
    let names = match &value.value {
        RegValue::MultiSz(names) => names,
        other => {
            let text = format!(
                "{} is a {}, not the REG_MULTI_SZ Winsock reads, so its transports cannot be checked.",
                value_where(key, &value.name),
                other.type_name()
            );
            out.note(NoteCode::TransportsNotMultiSz, file, text);
            return;
        }
    };
    let mut seen = HashSet::new();
    let mut undecided = Vec::new();
    for name in names.iter().filter(|n| !n.is_empty()) {
        if !seen.insert(registry::fold(name)) {
            continue;
        }
        let service = services.join(name);
        if view.exists(&service) {
            continue;
        }
        match view.covered_by(&service) {
            Some((root, source)) => {
                let text = format!(
                    "The Winsock transport \"{name}\" in Transports has no service key \
                     HKLM\\SYSTEM\\CurrentControlSet\\Services\\{name}, although {} exports {root} \
                     whole: Winsock cannot list its transports, and an Exchange 2000/2003 server \
                     then refuses push-notification registrations with ecNotSupported \
                     (0x80040102), so Outlook polls instead.",
                    out.name(source.file)
                );
                let advice = format!(
                    "Remove {name} from {TRANSPORTS_SHORT} and restart the server (Transports is \
                     a REG_MULTI_SZ: delete the line \"{name}\" and keep the others); then check \
                     that clients receive new-mail notifications. Event log warnings may follow \
                     the edit."
                );
                out.finding(
                    FindingCode::WinsockTransportWithoutService,
                    file,
                    value_where(key, &value.name),
                    text,
                    advice,
                );
            }
            None => undecided.push(name.clone()),
        }
    }
    if !undecided.is_empty() {
        let text = format!(
            "The exports do not contain HKLM\\SYSTEM\\CurrentControlSet\\Services (or the keys \
             of the transports {}), so whether each Winsock transport in {} has its service key \
             cannot be decided. Export it with `reg export \
             HKLM\\SYSTEM\\CurrentControlSet\\Services services.reg` and add that file.",
            listing(&undecided),
            value_where(key, &value.name)
        );
        out.note(NoteCode::TransportServiceNotExported, file, text);
    }
}

/// config.md §5: `EnablePushNotifications` = 1 under `MSExchangeRPC\ParametersSystem`, when
/// that key was exported.
fn check_push_enabled(view: &RegistryView, out: &mut Out) {
    let path = KeyPath::from_canonical(SERVICES).join(RPC_PARAMETERS_SYSTEM);
    let Some(key) = view.key(&path) else {
        return;
    };
    let value = key.value("EnablePushNotifications");
    let (file, state) = match value {
        None => (key.source.file, "is not set".to_string()),
        Some(ViewValue {
            value: RegValue::Dword(0),
            source,
            ..
        }) => (source.file, "is 0".to_string()),
        Some(ViewValue {
            value: RegValue::Dword(_),
            ..
        }) => return,
        Some(ViewValue { value, source, .. }) => (
            source.file,
            format!("is a {}, not a DWORD", value.type_name()),
        ),
    };
    let name = value.map_or("EnablePushNotifications", |v| v.name.as_str());
    let text = format!(
        "EnablePushNotifications {state} under {}: Exchange 2010 SP1 RU3 and later refuse \
         push-notification registrations with ecNotSupported (0x80040102) unless it is the \
         DWORD 1, and Outlook polls instead.",
        key.path
    );
    let advice = format!(
        "On Exchange 2010 SP1 RU3 or later: `reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\\
         {RPC_PARAMETERS_SYSTEM} /v EnablePushNotifications /t REG_DWORD /d 1`, then restart the \
         Microsoft Exchange RPC Client Access service (MSExchangeRPC). Exchange 2010 RTM/SP1 and \
         Exchange 2013 and later do not send push notifications at all."
    );
    out.finding(
        FindingCode::PushDisabledOnServer,
        file,
        value_where(key, name),
        text,
        advice,
    );
}

/// The profile name when `key` is the Exchange provider section of an Outlook profile:
/// `...\Windows Messaging Subsystem\Profiles\<profile>\13dbb0c8...` or
/// `...\Office\<version>\Outlook\Profiles\<profile>\13dbb0c8...`, in a user hive.
fn profile_of(key: &ViewKey) -> Option<&str> {
    let parts: Vec<&str> = key.path.components().collect();
    let from_end = |n: usize| {
        parts
            .len()
            .checked_sub(n + 1)
            .and_then(|i| parts.get(i))
            .copied()
    };
    let is = |n: usize, name: &str| from_end(n).is_some_and(|p| p.eq_ignore_ascii_case(name));
    let user_hive = matches!(
        key.path.hive(),
        Some(registry::Hive::CurrentUser | registry::Hive::Users)
    );
    let profiles = is(0, EMSMDB_SECTION) && is(2, "Profiles");
    let messaging = is(3, "Windows Messaging Subsystem");
    let outlook = is(3, "Outlook") && is(5, "Office");
    (user_hive && profiles && (messaging || outlook))
        .then(|| from_end(1))
        .flatten()
}

/// config.md §4: PR_DISABLE_WINSOCK set in an Outlook profile.
fn check_profiles(view: &RegistryView, out: &mut Out) {
    for key in view.keys() {
        let Some(profile) = profile_of(key) else {
            continue;
        };
        let Some(value) = key
            .value(PR_DISABLE_WINSOCK)
            .filter(|v| v.value.is_nonzero())
        else {
            continue;
        };
        let data = match &value.value {
            RegValue::Binary(bytes) | RegValue::Other { bytes, .. } => bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(","),
            RegValue::Dword(n) => format!("dword:{n:08x}"),
            other => other.type_name().to_string(),
        };
        let text = format!(
            "PR_DISABLE_WINSOCK (0x66180003) is set ({data}) in the Outlook profile \"{profile}\": \
             Outlook never registers for push notifications and polls the server about once a \
             minute instead."
        );
        let advice = format!(
            "Set {PR_DISABLE_WINSOCK} to 00,00,00,00 or delete the value (or recreate the \
             profile), and update or remove the old Cisco VPN client (before 4.0) that sets it, \
             or it will set it again."
        );
        out.finding(
            FindingCode::WinsockDisabledInProfile,
            value.source.file,
            value_where(key, &value.name),
            text,
            advice,
        );
    }
}

/// A note listing the malformed lines an export skipped.
fn skipped_lines(index: usize, summary: &ArtefactSummary, out: &mut Out) {
    let ArtefactDetails::RegistryExport { skipped, .. } = &summary.details else {
        return;
    };
    if skipped.is_empty() {
        return;
    }
    let items: Vec<String> = skipped.iter().map(LineError::to_string).collect();
    let text = format!(
        "{} malformed line(s) skipped, as regedit would skip them; whatever they held was not \
         checked: {}.",
        skipped.len(),
        listing(&items)
    );
    out.note(NoteCode::LinesSkipped, index, text);
}

/// `0x80040102 (ecNotSupported (MAPI_E_NO_SUPPORT))`, or the code alone when unknown.
fn code_text(code: u32) -> String {
    match return_code_name(code) {
        Some(name) => format!("{code:#010x} ({name})"),
        None => format!("{code:#010x}"),
    }
}

/// The summary of an EnumProt run.
fn enumprot_details(run: &EnumProtRun) -> ArtefactDetails {
    let hex = |c: Option<u32>| c.map(|c| format!("{c:#010x}"));
    let (result, returned, last_error) = match run.outcome {
        Outcome::Passed { .. } => (EnumProtResult::Passed, None, None),
        Outcome::Failed {
            returned,
            last_error,
            ..
        } => (EnumProtResult::Failed, hex(returned), hex(last_error)),
        Outcome::Unfinished => (EnumProtResult::Unfinished, None, None),
    };
    ArtefactDetails::EnumProt {
        result,
        protocols: run.protocols.iter().map(|p| p.name.clone()).collect(),
        returned,
        last_error,
    }
}

/// config.md §3: EnumProt's failure.
fn check_enumprot(index: usize, run: &EnumProtRun, out: &mut Out) {
    match run.outcome {
        Outcome::Passed { .. } => {}
        Outcome::Unfinished => out.note(
            NoteCode::EnumprotUnfinished,
            index,
            "The EnumProt output ends before `PASSED!` or an error, so whether Winsock can list \
             its transports cannot be decided: run EnumProt again and save all of its output."
                .to_string(),
        ),
        Outcome::Failed {
            line,
            returned,
            last_error,
        } => {
            let what = match (returned, last_error) {
                (Some(code), Some(error)) => format!(
                    "EnumProtocols() returned {} after GetLastError() = {error:#x}",
                    code_text(code)
                ),
                (Some(code), None) => format!("EnumProtocols() returned {}", code_text(code)),
                (None, error) => format!(
                    "EnumProtocols() failed with GetLastError() = {:#x}",
                    error.unwrap_or(0)
                ),
            };
            let text = format!(
                "EnumProt failed: {what}. Winsock on this server cannot list its transports, and \
                 the Exchange 2000/2003 store then refuses every push-notification registration \
                 with ecNotSupported (0x80040102)."
            );
            let advice = format!(
                "Check the Winsock transports: every name in {TRANSPORTS_SHORT} needs a key \
                 HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>. Export them (`reg export \
                 HKLM\\SYSTEM\\CurrentControlSet\\Services services.reg`) and run pushtrace check \
                 on the export; remove each name without a key from Transports and restart the \
                 server."
            );
            out.finding(
                FindingCode::EnumprotFailed,
                index,
                format!("line {line}"),
                text,
                advice,
            );
        }
    }
}

/// The advice for a failed registration with `code`.
fn register_advice(code: Option<u32>) -> String {
    if code == Some(EC_NOT_SUPPORTED) {
        format!(
            "The server refused the registration. On Exchange 2000/2003, check its Winsock \
             transports (run EnumProt on the server; every name in {TRANSPORTS_SHORT} needs a \
             service key). On Exchange 2010 SP1 RU3 and later, set the DWORD \
             EnablePushNotifications = 1 under \
             HKLM\\SYSTEM\\CurrentControlSet\\Services\\{RPC_PARAMETERS_SYSTEM}. Exchange 2010 \
             RTM/SP1 and Exchange 2013 and later never accept it: Outlook polls."
        )
    } else {
        "Capture the traffic between this client and the server (pushtrace analyze) to see the \
         server's answer to the registration (EcRRegisterPushNotification) and whether anything \
         between them blocks it."
            .to_string()
    }
}

/// config.md §4: failed registrations in a client log, one finding per result code.
fn check_client_log(index: usize, log: &ClientLog, out: &mut Out) {
    // Failures grouped by what the log says (code, or names when no code), in order of
    // first appearance.
    let mut groups: BTreeMap<(usize, String), Vec<(usize, &clientlog::EcResult)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut without_result = Vec::new();
    for call in &log.calls {
        match &call.result {
            Some(r) if r.succeeded() == Some(false) => {
                let key = match r.code {
                    Some(code) => format!("{code:#010x}"),
                    None => r.names.join(" "),
                };
                let rank = order.iter().position(|k| *k == key).unwrap_or_else(|| {
                    order.push(key.clone());
                    order.len() - 1
                });
                groups.entry((rank, key)).or_default().push((call.line, r));
            }
            Some(r) if r.succeeded() == Some(true) => {}
            _ => without_result.push(call.line),
        }
    }
    for ((_, _), failures) in groups {
        let Some(&(call_line, first)) = failures.first() else {
            continue;
        };
        let names = if first.names.is_empty() {
            first
                .code
                .and_then(return_code_name)
                .unwrap_or("an unknown code")
                .to_string()
        } else {
            first.names.join(" ")
        };
        let code = first
            .code
            .map_or(String::new(), |c| format!(" ({c:#010x})"));
        let more = if failures.len() > 1 {
            format!(
                " {} of the log's {} registrations failed the same way.",
                failures.len(),
                log.calls.len()
            )
        } else {
            String::new()
        };
        let text = format!(
            "Outlook's push-notification registration ({REGISTER_CALL}, line {call_line}) failed \
             with EC = {names}{code}: the server will not send new-mail notifications to this \
             client, which polls instead.{more}"
        );
        out.finding(
            FindingCode::RegisterFailedInClientLog,
            index,
            format!("line {}", first.line),
            text,
            register_advice(first.code),
        );
    }
    if let Some(first) = without_result.first() {
        let text = format!(
            "{} registration call(s) ({REGISTER_CALL}, first at line {first}) have no readable \
             `EC = …` result within {RESULT_WINDOW} lines, so their outcome is unknown.",
            without_result.len()
        );
        out.note(NoteCode::RegistrationWithoutResult, index, text);
    }
}
