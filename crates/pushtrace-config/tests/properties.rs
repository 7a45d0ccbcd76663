//! Properties: no input makes the checker panic; an export written in either dialect reads
//! back to the same keys and values and gives the same findings (where REGEDIT4's code page
//! can hold its text); adding the same export twice changes nothing.

use proptest::prelude::*;
use pushtrace_config::registry::{
    self, ExportKey, ExportValue, KeyPath, RegDialect, RegExport, RegValue,
};
use pushtrace_config::text::encode_utf16le;
use pushtrace_config::{check, detect, CheckReport, Checker, Limits};

/// Beginnings that route arbitrary bytes into each reader.
fn prefixes() -> Vec<Vec<u8>> {
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(encode_utf16le("Windows Registry Editor Version 5.00\r\n"));
    vec![
        Vec::new(),
        b"REGEDIT4\r\n".to_vec(),
        utf16,
        b"Testing \"TCPIP Support\"!\nCalling EnumProtocols()\n".to_vec(),
        b"CNCT::EcOpenSocketAndRegisterForNotifications ".to_vec(),
    ]
}

/// Runs everything on one input; must not panic.
fn exercise(name: &str, bytes: &[u8]) {
    let _ = detect(bytes);
    let _ = registry::parse(bytes, &Limits::default());
    let mut checker = Checker::with_limits(Limits {
        max_value_bytes: 64,
        max_skipped_lines: 8,
        ..Limits::default()
    });
    let _ = checker.add(name, bytes);
    let _ = checker.add("again", bytes);
    let report = checker.finish();
    let _ = serde_json::to_string(&report).expect("reports serialise");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(prefix in 0..5usize, body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = prefixes()[prefix].clone();
        bytes.extend(&body);
        exercise("bytes", &bytes);
    }

    #[test]
    fn arbitrary_registry_like_text_never_panics(
        prefix in 0..5usize,
        body in "([\\[\\]\"@=\\\\,:;()hexdwordHKLMCU0-9a-fA-F\\- \t\u{e9}\u{2013}\u{65e5}]{0,40}[\r\n]{1,2}){0,20}",
    ) {
        let mut bytes = prefixes()[prefix].clone();
        bytes.extend(body.as_bytes());
        exercise("text", &bytes);
        let mut utf16 = prefixes()[2].clone();
        utf16.extend(encode_utf16le(&body));
        exercise("utf16", &utf16);
    }
}

/// The keys the checks look at, and some they do not.
const PATHS: &[&str] = &[
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services",
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters",
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip",
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\AppleTalk",
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Bü",
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem",
    r"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Winsock\Parameters",
    r"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services",
    r"HKEY_CURRENT_USER\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles\Büro – Outlook\13dbb0c8aa05101a9bb000aa002fc45a",
    r"HKEY_CURRENT_USER\Software\Microsoft\Office\16.0\Outlook\Profiles\Outlook\13dbb0c8aa05101a9bb000aa002fc45a",
    r"HKEY_USERS\S-1-5-21-1\Software\Other \ Key",
];

/// Value names: the ones the checks read, and others with characters that need escaping.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Transports".to_string()),
        Just("EnablePushNotifications".to_string()),
        Just("00036618".to_string()),
        Just(String::new()),
        "[A-Za-z0-9 _.\"\\\\äü€]{1,10}",
    ]
}

/// Text without NUL or line breaks (both change how a value is written), sometimes with a
/// character Windows-1252 cannot hold.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[ -~äöüß€–]{0,12}", 1 => "[a-z]{1,3}\u{65e5}"]
}

/// Transport names: present in [`PATHS`] or not, in other cases.
fn transport() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Tcpip".to_string()),
        Just("APPLETALK".to_string()),
        Just("Bü".to_string()),
        Just("NetBT".to_string()),
        "[a-zA-Z]{1,6}",
    ]
}

fn value() -> impl Strategy<Value = RegValue> {
    prop_oneof![
        proptest::collection::vec(transport(), 0..5).prop_map(RegValue::MultiSz),
        proptest::collection::vec("[ -~€]{1,6}", 0..4).prop_map(RegValue::MultiSz),
        text().prop_map(RegValue::Sz),
        "[ -~]{0,6}\r\n[ -~]{0,6}".prop_map(RegValue::Sz),
        text().prop_map(RegValue::ExpandSz),
        prop_oneof![Just(0u32), Just(1), any::<u32>()].prop_map(RegValue::Dword),
        any::<u64>().prop_map(RegValue::Qword),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(RegValue::Binary),
        (
            prop_oneof![Just(0u32), Just(5), Just(8), Just(0x20), Just(0xFFFF)],
            proptest::collection::vec(any::<u8>(), 0..10)
        )
            .prop_map(|(kind, bytes)| RegValue::Other { kind, bytes }),
    ]
}

/// Random keys of [`PATHS`] with random values, often after a Winsock transport list (so
/// that the transport check has something to judge).
fn export() -> impl Strategy<Value = RegExport> {
    let key = (
        0..PATHS.len(),
        prop::bool::weighted(0.1),
        proptest::collection::vec((name(), proptest::option::weighted(0.9, value())), 0..5),
    );
    let transports = proptest::option::weighted(0.6, proptest::collection::vec(transport(), 1..5));
    (transports, proptest::collection::vec(key, 0..8)).prop_map(|(transports, keys)| {
        let winsock = transports.map(|names| ExportKey {
            path: KeyPath::parse(PATHS[1]).expect("a valid path"),
            deleted: false,
            line: 0,
            values: vec![ExportValue {
                name: "Transports".to_string(),
                value: Some(RegValue::MultiSz(names)),
                line: 0,
            }],
        });
        let random = keys.into_iter().map(|(path, deleted, values)| ExportKey {
            path: KeyPath::parse(PATHS[path]).expect("a valid path"),
            deleted,
            line: 0,
            values: if deleted {
                Vec::new()
            } else {
                values
                    .into_iter()
                    .map(|(name, value)| ExportValue {
                        name,
                        value,
                        line: 0,
                    })
                    .collect()
            },
        });
        RegExport::new(winsock.into_iter().chain(random).collect())
    })
}

/// A key (path, deleted) and its values (name, data) without line numbers.
type Content = (String, bool, Vec<(String, Option<RegValue>)>);

/// The keys and values without line numbers.
fn content(export: &RegExport) -> Vec<Content> {
    export
        .keys
        .iter()
        .map(|k| {
            let values = k
                .values
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect();
            (k.path.as_str().to_string(), k.deleted, values)
        })
        .collect()
}

fn findings_and_notes(report: &CheckReport) -> (String, String) {
    (
        serde_json::to_string(&report.findings).expect("serialises"),
        serde_json::to_string(&report.notes).expect("serialises"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn both_dialects_read_back_the_same_and_judge_the_same(model in export()) {
        let five = registry::write(&model, RegDialect::Regedit5).expect("5.00 holds any text");
        let parsed = registry::parse(&five, &Limits::default()).expect("what was written reads");
        prop_assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        prop_assert_eq!(content(&parsed), content(&model));
        let report5 = check([("export.reg", five.as_slice())]).expect("reads");
        // Re-encode what was parsed as REGEDIT4, where its code page can hold the text.
        if let Some(four) = registry::write(&parsed, RegDialect::Regedit4) {
            let parsed4 = registry::parse(&four, &Limits::default()).expect("reads");
            prop_assert_eq!(parsed4.dialect, RegDialect::Regedit4);
            prop_assert!(parsed4.skipped.is_empty(), "{:?}", parsed4.skipped);
            prop_assert_eq!(content(&parsed4), content(&model));
            let report4 = check([("export.reg", four.as_slice())]).expect("reads");
            prop_assert_eq!(findings_and_notes(&report4), findings_and_notes(&report5));
        }
        // Adding the same export twice is the same view.
        let twice = check([("export.reg", five.as_slice()), ("export.reg", five.as_slice())]).expect("reads");
        prop_assert_eq!(&twice.findings, &report5.findings);
    }
}
