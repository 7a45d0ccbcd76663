//! The checks through the public API, on inputs shaped like what the tools write: regedit
//! 5.00 exports in UTF-16LE with a byte order mark and CR LF, `hex(7)` values wrapped over
//! continuation lines, REGEDIT4 in Windows-1252, EnumProt runs and DPMon logs; coverage
//! (finding or note), several exports merged, and hostile inputs.

use pushtrace_config::text::encode_utf16le;
use pushtrace_config::{
    check, detect, ArtefactDetails, ArtefactKind, CheckReport, Checker, ConfigError, FindingCode,
    FormatError, Limits, NoteCode, Severity, TextEncoding,
};

/// A regedit 5.00 file: UTF-16LE after FF FE, CR LF line ends.
fn utf16(text: &str) -> Vec<u8> {
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut out = vec![0xFF, 0xFE];
    out.extend(encode_utf16le(&text));
    out
}

fn codes(report: &CheckReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

fn note_codes(report: &CheckReport) -> Vec<&str> {
    report.notes.iter().map(|n| n.code.as_str()).collect()
}

/// `reg export HKLM\SYSTEM\CurrentControlSet\Services\Winsock\Parameters`: Transports =
/// Tcpip, NetBT, AppleTalk, RasArp, wrapped as regedit wraps it.
const WINSOCK_ONLY: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters]
"Transports"=hex(7):54,00,63,00,70,00,69,00,70,00,00,00,4e,00,65,00,74,00,42,\
  00,54,00,00,00,41,00,70,00,70,00,6c,00,65,00,54,00,61,00,6c,00,6b,00,00,00,\
  52,00,61,00,73,00,41,00,72,00,70,00,00,00,00,00
"Ws2_32NumHandleBuckets"=dword:00000010

"#;

/// `reg export HKLM\SYSTEM\CurrentControlSet\Services`, cut to the keys that matter: the
/// whole Services subtree, Tcpip, NetBT and RasArp present, no AppleTalk.
const SERVICES: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\NetBT]
"DisplayName"="NetBios over Tcpip"
"ImagePath"=hex(2):53,00,79,00,73,00,74,00,65,00,6d,00,33,00,32,00,5c,00,44,00,\
  52,00,49,00,56,00,45,00,52,00,53,00,5c,00,6e,00,65,00,74,00,62,00,74,00,2e,\
  00,73,00,79,00,73,00,00,00

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\RasArp]
"DisplayName"="Remote Access IP ARP Driver"

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip]
"DisplayName"="TCP/IP Protocol Driver"

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters]
"Hostname"="exch01"

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Winsock]
"UseDelayedAcceptance"=dword:00000000

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock]

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters]
"Transports"=hex(7):54,00,63,00,70,00,69,00,70,00,00,00,4e,00,65,00,74,00,42,\
  00,54,00,00,00,41,00,70,00,70,00,6c,00,65,00,54,00,61,00,6c,00,6b,00,00,00,\
  52,00,61,00,73,00,41,00,72,00,70,00,00,00,00,00

"#;

#[test]
fn a_stale_transport_in_a_services_export_is_an_error_naming_what_to_remove() {
    let report = check([("services.reg", utf16(SERVICES).as_slice())]).unwrap();
    assert_eq!(codes(&report), ["winsock_transport_without_service"]);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let f = &report.findings[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.file, "services.reg");
    assert_eq!(
        f.r#where,
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters\Transports"
    );
    assert!(f.text.contains("\"AppleTalk\""), "{}", f.text);
    assert!(
        f.advice.starts_with(
            r"Remove AppleTalk from HKLM\SYSTEM\CurrentControlSet\Services\Winsock\Parameters\Transports and restart the server"
        ),
        "{}",
        f.advice
    );
    let summary = &report.inputs[0];
    assert_eq!(summary.encoding, TextEncoding::Utf16Le);
    assert_eq!(summary.kind(), ArtefactKind::RegistryExport);
    match &summary.details {
        ArtefactDetails::RegistryExport {
            keys,
            values,
            covers,
            skipped,
            ..
        } => {
            assert_eq!((*keys, *values), (8, 7));
            assert_eq!(
                covers,
                &[r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services"]
            );
            assert!(skipped.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_the_services_key_it_is_a_note_saying_what_to_export() {
    let report = check([("winsock.reg", utf16(WINSOCK_ONLY).as_slice())]).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(note_codes(&report), ["transport_service_not_exported"]);
    let note = &report.notes[0];
    assert_eq!(note.file, "winsock.reg");
    assert!(
        note.text
            .contains(r"reg export HKLM\SYSTEM\CurrentControlSet\Services services.reg"),
        "{}",
        note.text
    );
    // Every transport is undecided: none has its key in this file.
    assert!(
        note.text.contains("Tcpip, NetBT, AppleTalk, RasArp"),
        "{}",
        note.text
    );
}

#[test]
fn several_exports_are_one_registry() {
    // The transport list from one file, the services from another: decided together.
    let services_without_winsock: String = SERVICES
        .split("\n\n")
        .filter(|block| !block.contains("Winsock"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let a = utf16(WINSOCK_ONLY);
    let b = utf16(&services_without_winsock);
    let report = check([
        ("winsock.reg", a.as_slice()),
        ("services.reg", b.as_slice()),
    ])
    .unwrap();
    assert_eq!(codes(&report), ["winsock_transport_without_service"]);
    assert_eq!(
        report.findings[0].file, "winsock.reg",
        "the file holding Transports"
    );
    assert!(
        report.findings[0].text.contains("services.reg exports"),
        "{}",
        report.findings[0].text
    );
    // A later export fixing Transports overrides the earlier one.
    let fixed = WINSOCK_ONLY.replace(
        "41,00,70,00,70,00,6c,00,65,00,54,00,61,00,6c,00,6b,00,00,00,",
        "",
    );
    let c = utf16(&fixed);
    let report = check([
        ("winsock.reg", a.as_slice()),
        ("services.reg", b.as_slice()),
        ("fixed.reg", c.as_slice()),
    ])
    .unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // A later file adding the AppleTalk key settles it too; one deleting Tcpip's key makes
    // Tcpip stale.
    let patch = "REGEDIT4\n\n[HKLM\\SYSTEM\\CurrentControlSet\\Services\\AppleTalk]\n\n[-HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip]\n";
    let report = check([
        ("winsock.reg", a.as_slice()),
        ("services.reg", b.as_slice()),
        ("patch.reg", patch.as_bytes()),
    ])
    .unwrap();
    assert_eq!(codes(&report), ["winsock_transport_without_service"]);
    assert!(report.findings[0].advice.starts_with("Remove Tcpip from"));
}

#[test]
fn control_set_001_stands_for_current_control_set_and_the_summary_says_so() {
    let text = SERVICES.replace("CurrentControlSet", "ControlSet001");
    let report = check([("system.reg", utf16(&text).as_slice())]).unwrap();
    assert_eq!(codes(&report), ["winsock_transport_without_service"]);
    assert_eq!(
        report.findings[0].r#where,
        r"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Winsock\Parameters\Transports",
        "the key as the file has it"
    );
    match &report.inputs[0].details {
        ArtefactDetails::RegistryExport {
            control_set_as_current,
            ..
        } => assert_eq!(control_set_as_current.as_deref(), Some("ControlSet001")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn push_notifications_on_exchange_2010() {
    let key = "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem]";
    let case = |values: &str| {
        let text = format!("Windows Registry Editor Version 5.00\n\n{key}\n{values}\n");
        check([("rpc.reg", utf16(&text).as_slice())]).unwrap()
    };
    let missing = case("\"MaxRpcThreads\"=dword:00000050");
    assert_eq!(codes(&missing), ["push_disabled_on_server"]);
    assert_eq!(missing.findings[0].severity, Severity::Warning);
    assert_eq!(
        missing.findings[0].r#where,
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem\EnablePushNotifications"
    );
    assert!(missing.findings[0].text.contains("is not set"));
    let zero = case("\"EnablePushNotifications\"=dword:00000000");
    assert_eq!(codes(&zero), ["push_disabled_on_server"]);
    assert!(zero.findings[0].text.contains("is 0"));
    let string = case("\"EnablePushNotifications\"=\"1\"");
    assert!(string.findings[0].text.contains("is a REG_SZ, not a DWORD"));
    assert!(case("\"EnablePushNotifications\"=dword:00000001")
        .findings
        .is_empty());
    // Without the key, nothing is said.
    let other = "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC]\n\"Start\"=dword:00000002\n";
    let report = check([("rpc.reg", other.as_bytes())]).unwrap();
    assert!(report.findings.is_empty() && report.notes.is_empty());
}

/// A REGEDIT4 export of an Outlook profile made on a German system: the profile name has a
/// Windows-1252 en dash (0x96) and umlaut (0xFC); PR_DISABLE_WINSOCK is 01,00,00,00.
fn profile_regedit4(root: &str, value: &str) -> Vec<u8> {
    let mut bytes = b"REGEDIT4\r\n\r\n".to_vec();
    for (i, tail) in ["", "\\13dbb0c8aa05101a9bb000aa002fc45a"]
        .iter()
        .enumerate()
    {
        bytes.extend(format!("[{root}\\Profiles\\").as_bytes());
        bytes.extend(b"B\xFCro \x96 Outlook");
        bytes.extend(format!("{tail}]\r\n").as_bytes());
        if i == 1 {
            bytes.extend(b"\"001e6600\"=\"Exchange\"\r\n");
            bytes.extend(format!("\"00036618\"={value}\r\n").as_bytes());
        }
        bytes.extend(b"\r\n");
    }
    bytes
}

#[test]
fn pr_disable_winsock_in_either_profile_location() {
    for root in [
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem",
        r"HKCU\Software\Microsoft\Office\15.0\Outlook",
    ] {
        let report = check([(
            "profile.reg",
            profile_regedit4(root, "hex:01,00,00,00").as_slice(),
        )])
        .unwrap();
        assert_eq!(codes(&report), ["winsock_disabled_in_profile"], "{root}");
        let f = &report.findings[0];
        assert!(f.text.contains("\"Büro – Outlook\""), "{}", f.text);
        assert!(
            f.r#where
                .ends_with(r"\Profiles\Büro – Outlook\13dbb0c8aa05101a9bb000aa002fc45a\00036618"),
            "{}",
            f.r#where
        );
        assert!(f.advice.contains("00,00,00,00") && f.advice.contains("Cisco VPN"));
        assert_eq!(report.inputs[0].encoding, TextEncoding::Windows1252);
        let zero = check([(
            "profile.reg",
            profile_regedit4(root, "hex:00,00,00,00").as_slice(),
        )])
        .unwrap();
        assert!(zero.findings.is_empty(), "{root}");
    }
    // The same value elsewhere is not a profile's.
    let elsewhere = profile_regedit4(r"HKLM\Software\Something", "hex:01,00,00,00");
    assert!(check([("x.reg", elsewhere.as_slice())])
        .unwrap()
        .findings
        .is_empty());
    // A later export deleting the value clears it.
    let root = r"HKEY_CURRENT_USER\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem";
    let mut fix = b"REGEDIT4\r\n\r\n[".to_vec();
    fix.extend(format!("{root}\\Profiles\\").as_bytes());
    fix.extend(b"B\xFCro \x96 Outlook\\13DBB0C8AA05101A9BB000AA002FC45A]\r\n\"00036618\"=-\r\n");
    let set = profile_regedit4(root, "hex:01,00,00,00");
    let report = check([("profile.reg", set.as_slice()), ("fix.reg", fix.as_slice())]).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

const ENUMPROT_FAILED: &str = "Testing \"TCPIP Support\"!  AF_INET = Family (2)\r\n\
Calling EnumProtocols() with 2048 byte buffer.\r\n\
Error Returned!  GetLastError() = 0x2\r\n\
Failed update!  Returned 0x80040102\r\n";

const ENUMPROT_PASSED: &str = "Testing \"TCPIP Support\"!  AF_INET = Family (2)\n\
Calling EnumProtocols() with 2048 byte buffer.\n\
Enumerating available transports [2]\n\
\n\
Protocol 1: TCP/IP  Family (2)  Protocol (0x6)\n\
Protocol 2: UDP/IP  Family (2)  Protocol (0x11)\n\
PASSED!\n";

#[test]
fn enumprot_runs() {
    let report = check([("enumprot.txt", ENUMPROT_FAILED.as_bytes())]).unwrap();
    assert_eq!(codes(&report), ["enumprot_failed"]);
    let f = &report.findings[0];
    assert_eq!(f.r#where, "line 4");
    assert!(
        f.text.contains("0x80040102")
            && f.text.contains("ecNotSupported")
            && f.text.contains("MAPI_E_NO_SUPPORT"),
        "{}",
        f.text
    );
    assert!(
        f.advice.contains(r"Winsock\Parameters\Transports"),
        "{}",
        f.advice
    );
    // The same output saved by PowerShell (UTF-16LE) with other spacing and LF.
    let spaced = ENUMPROT_FAILED
        .replace("\r\n", "\n")
        .replace("  ", "    ")
        .to_lowercase();
    let report = check([("enumprot.txt", utf16(&spaced).as_slice())]).unwrap();
    assert_eq!(codes(&report), ["enumprot_failed"]);
    let passed = check([("ok.txt", ENUMPROT_PASSED.as_bytes())]).unwrap();
    assert!(passed.findings.is_empty() && passed.notes.is_empty());
    let json = serde_json::to_value(&passed.inputs[0]).unwrap();
    assert_eq!(json["kind"], "enumprot");
    assert_eq!(json["result"], "passed");
    assert_eq!(json["protocols"], serde_json::json!(["TCP/IP", "UDP/IP"]));
    let cut: String = ENUMPROT_PASSED.split_inclusive('\n').take(3).collect();
    let cut = check([("cut.txt", cut.as_bytes())]).unwrap();
    assert_eq!(note_codes(&cut), ["enumprot_unfinished"]);
}

const CLIENT_LOG: &str = "\
2024/03/04 09:12:01.311 [5184] CNCT::EcConnect: connecting to exch01\r\n\
2024/03/04 09:12:01.402 [5184] CNCT::EcOpenSocketAndRegisterForNotifications\r\n\
2024/03/04 09:12:01.403 [5184]     port = 1088\r\n\
2024/03/04 09:12:01.409 [5184]     EC = ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)\r\n\
2024/03/04 09:13:01.402 [5184] CNCT::EcOpenSocketAndRegisterForNotifications EC = 0x80040102\r\n\
2024/03/04 09:14:01.402 [5184] CNCT::EcOpenSocketAndRegisterForNotifications\r\n";

#[test]
fn client_logs_group_failures_by_code_and_note_calls_without_results() {
    let report = check([("outlook.log", CLIENT_LOG.as_bytes())]).unwrap();
    assert_eq!(codes(&report), ["register_failed_in_client_log"]);
    let f = &report.findings[0];
    assert_eq!(f.r#where, "line 4");
    assert!(
        f.text
            .contains("ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)"),
        "{}",
        f.text
    );
    assert!(
        f.text.contains("line 2") && f.text.contains("2 of the log's 3"),
        "{}",
        f.text
    );
    assert!(f.advice.contains("EnablePushNotifications"));
    assert_eq!(note_codes(&report), ["registration_without_result"]);
    match report.inputs[0].details {
        ArtefactDetails::ClientLog {
            registrations,
            failed,
            succeeded,
        } => assert_eq!((registrations, failed, succeeded), (3, 2, 0)),
        ref other => panic!("{other:?}"),
    }
    let ok = "CNCT::EcOpenSocketAndRegisterForNotifications\nEC = ecNone (0x00000000)\n";
    assert!(check([("ok.log", ok.as_bytes())])
        .unwrap()
        .findings
        .is_empty());
}

#[test]
fn findings_serialise_with_the_agreed_field_names() {
    let report = check([("enumprot.txt", ENUMPROT_FAILED.as_bytes())]).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let finding = json["findings"][0].as_object().unwrap();
    let keys: Vec<&str> = finding.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6);
    for key in ["code", "severity", "file", "where", "text", "advice"] {
        assert!(finding.contains_key(key), "{key} in {keys:?}");
    }
    assert_eq!(finding["code"], "enumprot_failed");
    assert_eq!(finding["severity"], "error");
    for code in FindingCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
    assert_eq!(
        serde_json::to_value(NoteCode::LinesSkipped).unwrap(),
        "lines_skipped"
    );
    let registry = check([("s.reg", utf16(SERVICES).as_slice())]).unwrap();
    let input = serde_json::to_value(&registry.inputs[0]).unwrap();
    assert_eq!(input["kind"], "registry_export");
    assert_eq!(input["dialect"], "regedit5");
    assert_eq!(input["encoding"], "utf-16le");
}

#[test]
fn detection_is_by_content() {
    assert_eq!(detect(&utf16(SERVICES)), Some(ArtefactKind::RegistryExport));
    assert_eq!(
        detect(b"\r\n  REGEDIT4\r\n"),
        Some(ArtefactKind::RegistryExport)
    );
    assert_eq!(
        detect(b"\xEF\xBB\xBFWindows Registry Editor Version 5.00\n"),
        Some(ArtefactKind::RegistryExport)
    );
    assert_eq!(
        detect(ENUMPROT_FAILED.as_bytes()),
        Some(ArtefactKind::EnumProt)
    );
    assert_eq!(detect(CLIENT_LOG.as_bytes()), Some(ArtefactKind::ClientLog));
    assert_eq!(detect(b"Windows Registry Editor Version 4.00\n"), None);
    assert_eq!(detect(b""), None);
    assert_eq!(detect(&[0u8, 159, 146, 150, 0xFF, 0x00, 0x13]), None);
}

#[test]
fn hostile_inputs_are_errors_or_skips_never_panics() {
    // Binary garbage: not recognised.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut checker = Checker::new();
    let err = checker.add("garbage.bin", &garbage).unwrap_err();
    assert!(matches!(err, ConfigError::NotRecognised { .. }), "{err}");
    assert_eq!(err.file(), "garbage.bin");
    // A header then garbage: too many malformed lines.
    let mut bytes = b"REGEDIT4\n".to_vec();
    for i in 0..2000 {
        bytes.extend(format!("\x01junk {i} \"unterminated\n").as_bytes());
    }
    let err = checker.add("junk.reg", &bytes).unwrap_err();
    match &err {
        ConfigError::Malformed {
            source: FormatError::TooManyMalformedLines { first, .. },
            ..
        } => assert_eq!(first.line, 2),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with("junk.reg: more than 1000 malformed lines; the first: line 2:"),
        "{err}"
    );
    // A continuation chain of 8 MiB: one skipped value, reported as a note.
    let mut chain = String::from("REGEDIT4\n[HKLM\\SYSTEM\\CurrentControlSet\\Services\\Winsock\\Parameters]\n\"Transports\"=hex(7):41,00,\\\n");
    for _ in 0..(8 << 20) / 64 {
        chain.push_str("  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\n");
    }
    chain.push_str("  00\n");
    assert_eq!(
        checker.add("chain.reg", chain.as_bytes()).unwrap(),
        ArtefactKind::RegistryExport
    );
    // Unterminated quotes: skipped lines.
    let quotes = "Windows Registry Editor Version 5.00\n[HKLM\\Software\\X]\n\"Name=\"value\n\"A\"=\"b\n@=\"c\n";
    checker.add("quotes.reg", &utf16(quotes)).unwrap();
    let report = checker.finish();
    assert_eq!(report.inputs.len(), 2, "failed inputs are not kept");
    assert_eq!(note_codes(&report), ["lines_skipped", "lines_skipped"]);
    assert!(
        report.notes[0]
            .text
            .contains("line 3: a value of more than 1048576 bytes"),
        "{}",
        report.notes[0].text
    );
    assert!(
        report.notes[1]
            .text
            .starts_with("3 malformed line(s) skipped"),
        "{}",
        report.notes[1].text
    );
    // Too large.
    let mut small = Checker::with_limits(Limits {
        max_file_bytes: 10,
        ..Limits::default()
    });
    assert!(matches!(
        small.add("big.reg", b"REGEDIT4\n\n\n"),
        Err(ConfigError::TooLarge { size: 11, .. })
    ));
}

#[test]
fn files_are_read_from_disk_with_their_errors() {
    let dir = std::env::temp_dir().join(format!("pushtrace-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("enumprot.txt");
    std::fs::write(&path, ENUMPROT_FAILED).unwrap();
    let mut checker = Checker::new();
    assert_eq!(checker.add_file(&path).unwrap(), ArtefactKind::EnumProt);
    let missing = dir.join("missing.reg");
    assert!(matches!(
        checker.add_file(&missing),
        Err(ConfigError::Io { .. })
    ));
    let report = checker.finish();
    assert_eq!(report.findings[0].file, path.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}
