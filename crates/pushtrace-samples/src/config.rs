//! The configuration artefacts of the troubleshooting procedure (KB 319572, config.md), for
//! `samples/config/`: registry exports of an Exchange server and of an Outlook profile,
//! EnumProt output and an Outlook client log, each with the findings and notes the checker
//! must give (ground truth written here, not computed by the checker).
//!
//! Each sample's text is kept below as the tool writes it (UTF-8 literals, the long `hex`
//! values built from their strings by [`hex_value`]), then encoded as that tool would:
//! regedit 5.00 / `reg export` as UTF-16LE with a byte order mark, REGEDIT4 in Windows-1252,
//! CR LF line ends. EnumProt's output and the client log are reconstructions of their shape
//! around the markers config.md quotes.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

/// How a sample file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// regedit 5.00 and `reg export`: UTF-16LE after FF FE; strings in `hex(N)` data too.
    Utf16,
    /// REGEDIT4, `cmd` redirection: Windows-1252; strings in `hex(N)` data too.
    Ansi,
}

impl Encoding {
    /// `text` in this encoding (no byte order mark).
    fn bytes(self, text: &str) -> Result<Vec<u8>> {
        match self {
            Encoding::Utf16 => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
            Encoding::Ansi => {
                let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
                ensure!(!unmappable, "{text:?} does not fit Windows-1252");
                Ok(bytes.into_owned())
            }
        }
    }

    /// The whole file: CR LF line ends, and FF FE before UTF-16LE.
    fn file(self, text: &str) -> Result<Vec<u8>> {
        let text = text.replace('\n', "\r\n");
        let mut out = match self {
            Encoding::Utf16 => vec![0xFF, 0xFE],
            Encoding::Ansi => Vec::new(),
        };
        out.extend(self.bytes(&text)?);
        Ok(out)
    }
}

/// `"name"=hex(kind):..` as regedit writes it: lowercase byte pairs separated by commas,
/// wrapped with `\` once a line passes column 76, continuation lines indented two spaces.
fn hex_value(name: &str, kind: &str, bytes: &[u8]) -> String {
    let mut out = format!("\"{name}\"={kind}:");
    let mut width = out.len();
    let mut rest = bytes.iter().peekable();
    while let Some(b) = rest.next() {
        out.push_str(&format!("{b:02x}"));
        if rest.peek().is_none() {
            break;
        }
        out.push(',');
        width += 3;
        if width > 76 {
            out.push_str("\\\n  ");
            width = 2;
        }
    }
    out
}

/// A REG_MULTI_SZ value: each string NUL-terminated, then one more NUL.
fn multi_sz(name: &str, items: &[&str], encoding: Encoding) -> Result<String> {
    let text: String = items.iter().map(|s| format!("{s}\0")).collect::<String>() + "\0";
    Ok(hex_value(name, "hex(7)", &encoding.bytes(&text)?))
}

/// A REG_EXPAND_SZ value, NUL-terminated.
fn expand_sz(name: &str, text: &str, encoding: Encoding) -> Result<String> {
    Ok(hex_value(
        name,
        "hex(2)",
        &encoding.bytes(&format!("{text}\0"))?,
    ))
}

/// A MAPI string property of a profile (`001e....`): REG_BINARY holding the ANSI string and
/// its NUL.
fn mapi_string(name: &str, text: &str) -> Result<String> {
    Ok(hex_value(
        name,
        "hex",
        &Encoding::Ansi.bytes(&format!("{text}\0"))?,
    ))
}

/// The Winsock transport list of the server in these samples.
const TRANSPORTS: [&str; 4] = ["Tcpip", "NetBT", "AppleTalk", "RasArp"];

/// The `Winsock\Parameters` key with `transports`.
fn winsock_parameters(transports: &[&str]) -> Result<String> {
    Ok(format!(
        r#"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters]
{}
"Ws2_32NumHandleBuckets"=dword:00000010
"Ws2_32SpinCount"=dword:00000fa0
"#,
        multi_sz("Transports", transports, Encoding::Utf16)?
    ))
}

/// `reg export HKLM\SYSTEM\CurrentControlSet\Services services.reg` on an Exchange 2003
/// server, cut to the keys that matter: the transports' service keys (AppleTalk's only when
/// `with_appletalk`), Winsock and its parameters, and `extra` keys.
fn services_export(with_appletalk: bool, extra: &str) -> Result<String> {
    let appletalk = if with_appletalk {
        format!(
            r#"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\AppleTalk]
"DisplayName"="AppleTalk Protocol"
{}
"Start"=dword:00000003
"Type"=dword:00000001

"#,
            expand_sz("ImagePath", r"system32\DRIVERS\atalk.sys", Encoding::Utf16)?
        )
    } else {
        String::new()
    };
    Ok(format!(
        r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services]

{appletalk}{extra}[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\NetBT]
"DisplayName"="NetBios over Tcpip"
{netbt}
"Start"=dword:00000001
"Type"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\NetBT\Parameters]
"NameServerPort"=dword:00000089

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\RasArp]
"DisplayName"="Remote Access IP ARP Driver"
{rasarp}
"Start"=dword:00000003
"Type"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip]
"DisplayName"="TCP/IP Protocol Driver"
{tcpip}
"Start"=dword:00000001
"Type"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters]
"Hostname"="EXCH01"
"Domain"="contoso.com"

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Winsock]
"UseDelayedAcceptance"=dword:00000000
"MinSockaddrLength"=dword:00000010
"MaxSockaddrLength"=dword:00000010

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock]

{winsock}
"#,
        netbt = expand_sz("ImagePath", r"system32\DRIVERS\netbt.sys", Encoding::Utf16)?,
        rasarp = expand_sz("ImagePath", r"system32\DRIVERS\rasarp.sys", Encoding::Utf16)?,
        tcpip = expand_sz("ImagePath", r"system32\DRIVERS\tcpip.sys", Encoding::Utf16)?,
        winsock = winsock_parameters(&TRANSPORTS)?,
    ))
}

/// `reg export HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeRPC` on Exchange 2010,
/// its `ParametersSystem` key holding `parameters`, and nothing else.
fn msexchangerpc(parameters: &str, header: bool) -> Result<String> {
    Ok(format!(
        r#"{}[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC]
"DisplayName"="Microsoft Exchange RPC Client Access"
{}
"ObjectName"="LocalSystem"
"Start"=dword:00000002
"Type"=dword:00000010

[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem]
{parameters}
"#,
        if header {
            "Windows Registry Editor Version 5.00\n\n"
        } else {
            ""
        },
        expand_sz(
            "ImagePath",
            r#""C:\Program Files\Microsoft\Exchange Server\V14\Bin\Microsoft.Exchange.RpcClientAccess.Service.exe""#,
            Encoding::Utf16
        )?,
    ))
}

/// A REGEDIT4 export (German Windows XP, Outlook 2003) of the Outlook profile
/// "Büro – Outlook" (Windows-1252: ü is FC, the en dash 96), whose Exchange provider section
/// has PR_DISABLE_WINSOCK (`00036618`) set by a Cisco VPN client 3.x.
fn profile_export() -> Result<String> {
    let profiles = r"HKEY_CURRENT_USER\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles";
    Ok(format!(
        r#"REGEDIT4

[{profiles}\Büro – Outlook]

[{profiles}\Büro – Outlook\13dbb0c8aa05101a9bb000aa002fc45a]
{server}
{user}
"00036601"=hex:04,00,00,00
"00036618"=hex:01,00,00,00

"#,
        server = mapi_string("001e6602", "EXCH01")?,
        user = mapi_string(
            "001e6603",
            "/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jbüttner"
        )?,
    ))
}

/// EnumProt on a healthy Exchange 2003 server.
const ENUMPROT_PASSED: &str = r#"Testing "TCPIP Support"!  AF_INET = Family (2)
Calling EnumProtocols() with 2048 byte buffer.
Enumerating available transports [8]

Protocol 1: TCP/IP  Family (2)  Protocol (0x6)
Protocol 2: UDP/IP  Family (2)  Protocol (0x11)
Protocol 3: RSVP TCP Service Provider  Family (2)  Protocol (0x6)
Protocol 4: RSVP UDP Service Provider  Family (2)  Protocol (0x11)
Protocol 5: \Device\NetBT_Tcpip_{EBDFB267-726B-44D0-8151-991AADA9CC48}  Family (17)  Protocol (0x80000000)
Protocol 6: \Device\NetBT_Tcpip_{EBDFB267-726B-44D0-8151-991AADA9CC48}  Family (17)  Protocol (0x80000000)
Protocol 7: \Device\NetBT_Tcpip_{5F7A4E21-0B4C-4F43-9E0D-21C8A1D1B0F3}  Family (17)  Protocol (0x80000001)
Protocol 8: \Device\NetBT_Tcpip_{5F7A4E21-0B4C-4F43-9E0D-21C8A1D1B0F3}  Family (17)  Protocol (0x80000001)
PASSED!
"#;

/// EnumProt on the server with the stale AppleTalk transport.
const ENUMPROT_FAILED: &str = r#"Testing "TCPIP Support"!  AF_INET = Family (2)
Calling EnumProtocols() with 2048 byte buffer.
Error Returned!  GetLastError() = 0x2
Failed update!  Returned 0x80040102
"#;

/// An Outlook 2003 client's RPC log (DPMon) against that server: both registrations for push
/// notifications fail with ecNotSupported, and Outlook polls.
const OUTLOOK_CLIENT_LOG: &str = r#"DPMon client RPC log: OUTLOOK.EXE (3412), started 2024-03-04 09:12:01
09:12:01.311 [3412:5184] CNCT::EcConnect server=EXCH01 user=/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jdoe
09:12:01.398 [3412:5184] CNCT::EcConnect EC = ecNone (0x00000000)
09:12:01.402 [3412:5184] CNCT::EcOpenSocketAndRegisterForNotifications
09:12:01.402 [3412:5184]     callback = 10.0.0.21:1088
09:12:01.409 [3412:5184]     EC = ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)
09:12:01.411 [3412:5184] CNCT::EcDoRpc cbIn=212 cbOut=1840 EC = ecNone (0x00000000)
09:13:01.420 [3412:5184] CNCT::EcDoRpc cbIn=96 cbOut=512 EC = ecNone (0x00000000)
09:14:01.433 [3412:5184] CNCT::EcDoRpc cbIn=96 cbOut=512 EC = ecNone (0x00000000)
09:15:02.001 [3412:5184] CNCT::EcConnect server=EXCH01 user=/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=jdoe
09:15:02.090 [3412:5184] CNCT::EcConnect EC = ecNone (0x00000000)
09:15:02.093 [3412:5184] CNCT::EcOpenSocketAndRegisterForNotifications
09:15:02.093 [3412:5184]     callback = 10.0.0.21:1091
09:15:02.101 [3412:5184]     EC = ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)
09:16:02.110 [3412:5184] CNCT::EcDoRpc cbIn=96 cbOut=512 EC = ecNone (0x00000000)
"#;

/// `where` of the server's Transports value.
const TRANSPORTS_WHERE: &str =
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters\Transports";

/// One file of `samples/config/`, with its own expectation when it has one.
struct File {
    name: &'static str,
    bytes: Vec<u8>,
    /// What it shows, for the README.
    shows: &'static str,
    /// Its summary as the report gives it.
    input: Value,
    findings: Vec<Value>,
    notes: Vec<&'static str>,
}

/// A finding the report must hold.
fn finding(code: &str, severity: &str, r#where: &str) -> Value {
    json!({"code": code, "severity": severity, "where": r#where})
}

/// A registry export's summary.
fn registry_input(dialect: &str, encoding: &str, covers: &[&str]) -> Value {
    json!({"kind": "registry_export", "dialect": dialect, "encoding": encoding, "covers": covers})
}

/// The subtree `reg export HKLM\SYSTEM\CurrentControlSet\Services` covers.
const SERVICES: &str = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services";
/// The subtree of `reg export ...\Winsock\Parameters`.
const WINSOCK_PARAMETERS: &str =
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Winsock\Parameters";

/// `reg export HKLM\SYSTEM\CurrentControlSet\Services\Winsock\Parameters` alone: the
/// transports cannot be judged without the Services key.
fn winsock_only(name: &'static str, transports: &[&str], shows: &'static str) -> Result<File> {
    let text = format!(
        "Windows Registry Editor Version 5.00\n\n{}\n",
        winsock_parameters(transports)?
    );
    Ok(File {
        name,
        bytes: Encoding::Utf16.file(&text)?,
        shows,
        input: registry_input("regedit5", "utf-16le", &[WINSOCK_PARAMETERS]),
        findings: vec![],
        notes: vec!["transport_service_not_exported"],
    })
}

/// Every sample file with its expectation.
fn sample_files() -> Result<Vec<File>> {
    let rpc_enabled = msexchangerpc("\"EnablePushNotifications\"=dword:00000001\n", false)?;
    let profiles = r"HKEY_CURRENT_USER\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles";
    Ok(vec![
        File {
            name: "server-stale-transport.reg",
            bytes: Encoding::Utf16.file(&services_export(false, "")?)?,
            shows: "`reg export` of Services on an Exchange 2003 server: Transports names AppleTalk, which has no service key",
            input: registry_input("regedit5", "utf-16le", &[SERVICES]),
            findings: vec![finding("winsock_transport_without_service", "error", TRANSPORTS_WHERE)],
            notes: vec![],
        },
        File {
            name: "server-healthy.reg",
            bytes: Encoding::Utf16.file(&services_export(true, &rpc_enabled)?)?,
            shows: "the same with every transport's service key, and EnablePushNotifications = 1",
            input: registry_input("regedit5", "utf-16le", &[SERVICES]),
            findings: vec![],
            notes: vec![],
        },
        File {
            name: "server-2010-push-disabled.reg",
            bytes: Encoding::Utf16.file(&msexchangerpc(
                "\"EnablePushNotifications\"=dword:00000000\n",
                true,
            )?)?,
            shows: "`reg export` of MSExchangeRPC on Exchange 2010 SP1 RU3 with EnablePushNotifications = 0",
            input: registry_input(
                "regedit5",
                "utf-16le",
                &[r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC"],
            ),
            findings: vec![finding(
                "push_disabled_on_server",
                "warning",
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem\EnablePushNotifications",
            )],
            notes: vec![],
        },
        winsock_only(
            "server-winsock-only.reg",
            &TRANSPORTS,
            "only Winsock\\Parameters exported: whether the transports have service keys cannot be decided",
        )?,
        winsock_only(
            "server-winsock-fixed.reg",
            &["Tcpip", "NetBT", "RasArp"],
            "Winsock\\Parameters exported again after AppleTalk was removed from Transports",
        )?,
        File {
            name: "profile-winsock-disabled.reg",
            bytes: Encoding::Ansi.file(&profile_export()?)?,
            shows: "REGEDIT4 (Windows-1252) export of an Outlook profile with PR_DISABLE_WINSOCK set",
            input: registry_input(
                "regedit4",
                "windows-1252",
                &[&format!(r"{profiles}\Büro – Outlook")],
            ),
            findings: vec![finding(
                "winsock_disabled_in_profile",
                "error",
                &format!(r"{profiles}\Büro – Outlook\13dbb0c8aa05101a9bb000aa002fc45a\00036618"),
            )],
            notes: vec![],
        },
        File {
            name: "enumprot-passed.txt",
            bytes: Encoding::Ansi.file(ENUMPROT_PASSED)?,
            shows: "EnumProt listing 8 transports and PASSED!",
            input: json!({"kind": "enumprot", "encoding": "ascii", "result": "passed", "lines": 13}),
            findings: vec![],
            notes: vec![],
        },
        File {
            name: "enumprot-failed.txt",
            bytes: Encoding::Ansi.file(ENUMPROT_FAILED)?,
            shows: "EnumProt failing with 0x80040102 (ecNotSupported)",
            input: json!({"kind": "enumprot", "encoding": "ascii", "result": "failed", "returned": "0x80040102", "last_error": "0x00000002"}),
            findings: vec![finding("enumprot_failed", "error", "line 4")],
            notes: vec![],
        },
        File {
            name: "outlook-client.log",
            bytes: Encoding::Ansi.file(OUTLOOK_CLIENT_LOG)?,
            shows: "DPMon log of Outlook whose two registrations fail with ecNotSupported",
            input: json!({"kind": "client_log", "encoding": "ascii", "registrations": 2, "failed": 2, "succeeded": 0}),
            findings: vec![finding("register_failed_in_client_log", "error", "line 6")],
            notes: vec![],
        },
    ])
}

/// `NAME.expect.json` for a sample of several files read together.
struct Combined {
    name: &'static str,
    files: [&'static str; 2],
    shows: &'static str,
    findings: Vec<Value>,
    notes: Vec<&'static str>,
}

fn combined() -> Vec<Combined> {
    vec![Combined {
        name: "server-after-fix",
        files: ["server-stale-transport.reg", "server-winsock-fixed.reg"],
        shows: "the Services export, then Winsock\\Parameters after the fix: the later export overrides Transports, the earlier one's Services decide",
        findings: vec![],
        notes: vec![],
    }]
}

/// An expectation document (pretty JSON and a final newline).
fn expectation(
    files: Option<&[&str]>,
    inputs: Vec<Value>,
    findings: &[Value],
    notes: &[&str],
) -> Result<Vec<u8>> {
    let mut doc = json!({
        "inputs": inputs,
        "findings": findings,
        "notes": notes.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
    });
    if let Some(files) = files {
        doc["files"] = json!(files);
    }
    let mut text = serde_json::to_vec_pretty(&doc)?;
    text.push(b'\n');
    Ok(text)
}

/// Every file of `samples/config/` (name, bytes): the samples, their expectations and the
/// README.
pub fn files() -> Result<Vec<(String, Vec<u8>)>> {
    let samples = sample_files()?;
    let mut readme = String::from(README_HEAD);
    let mut out = Vec::new();
    for s in &samples {
        let mut input = s.input.clone();
        input["file"] = json!(s.name);
        let stem = s.name.rsplit_once('.').map_or(s.name, |(stem, _)| stem);
        out.push((
            format!("{stem}.expect.json"),
            expectation(None, vec![input], &s.findings, &s.notes)?,
        ));
        out.push((s.name.to_string(), s.bytes.clone()));
        readme.push_str(&readme_row(&[s.name], s.shows, &s.findings, &s.notes));
    }
    for c in combined() {
        let inputs = c
            .files
            .iter()
            .map(|f| json!({"file": f}))
            .collect::<Vec<_>>();
        out.push((
            format!("{}.expect.json", c.name),
            expectation(Some(&c.files), inputs, &c.findings, &c.notes)?,
        ));
        readme.push_str(&readme_row(&c.files, c.shows, &c.findings, &c.notes));
    }
    out.push(("README.md".to_string(), readme.into_bytes()));
    Ok(out)
}

/// A row of the README's table.
fn readme_row(files: &[&str], shows: &str, findings: &[Value], notes: &[&str]) -> String {
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "—".to_string()
        } else {
            items
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let codes = findings.iter().filter_map(|f| f["code"].as_str()).collect();
    let files = files
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(" + ");
    format!(
        "| {files} | {shows} | {} | {} |\n",
        list(codes),
        list(notes.to_vec())
    )
}

const README_HEAD: &str = "# Configuration samples

The text artefacts of Microsoft's push-notification troubleshooting procedure (KB 319572):
registry exports from `regedit` / `reg export` (UTF-16LE with a byte order mark) and REGEDIT4
(Windows-1252), EnumProt output and an Outlook client log (DPMon). `pushtrace-config` reads
them; `crates/pushtrace-config/tests/samples.rs` checks every file here against its
expectation on every test run.

**Made, not recorded.** `cargo run -p pushtrace-samples` writes every file here (this README
too) from `crates/pushtrace-samples/src/config.rs`, where each file's text stands as the tool
writes it; a test checks that the committed files equal the generator's output. EnumProt's
output and the client log are reconstructions of their shape around the markers the
knowledge base quotes.

**Expectations.** `NAME.expect.json` lists what the report for `NAME.*` must hold: `inputs`
(kind, encoding, dialect, covered subtrees...), `findings` (code, severity, where) and `notes`
(code). Objects are matched on the keys listed; lists must have the same length and match
item by item. An expectation of several files lists them as `files`, in the order they are
given to the checker. To pin an artefact of your own, drop it here with a `NAME.expect.json`.

| files | what it shows | findings | notes |
|---|---|---|---|
";
