//! Builds pushtrace's sample captures. Each scenario drives a small deterministic network
//! simulation ([`net`]) with real DCE/RPC PDUs ([`rpc`]) and EMSMDB stubs ([`outlook`]), and
//! records the facts (ground truth known to the generator) that the analysis must report.
//! [`render_all`] turns every scenario into sample files and expectation files.

pub mod bigcap;
pub mod files;
pub mod net;
pub mod outlook;
pub mod rpc;
pub mod scenarios;

use anyhow::Result;
use files::FileFormat;
use serde_json::{json, Value};

/// One sample file and its expectation file, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// e.g. `udp-blocked-icmp.pcapng`.
    pub file_name: String,
    /// The capture bytes.
    pub capture: Vec<u8>,
    /// e.g. `udp-blocked-icmp.expect.json`.
    pub expect_name: String,
    /// The expectation document (pretty JSON).
    pub expect: Vec<u8>,
}

/// The exit code `pushtrace analyze` must give for an overall verdict.
fn exit_code(verdict: &str) -> i32 {
    match verdict {
        "flowing" => 0,
        "no_emsmdb" | "inconclusive" => 3,
        _ => 1,
    }
}

fn sample(
    stem: &str,
    format: FileFormat,
    capture: Vec<u8>,
    mut expect: Value,
    warning_codes: &[&str],
) -> Result<Sample> {
    let verdict = expect["verdict"].as_str().unwrap_or_default().to_string();
    expect["exit_code"] = json!(exit_code(&verdict));
    expect["inputs"] = json!([{ "format": format.report_name() }]);
    if !warning_codes.is_empty() {
        expect["warning_codes"] = json!(warning_codes);
    }
    let mut text = serde_json::to_vec_pretty(&expect)?;
    text.push(b'\n');
    Ok(Sample {
        file_name: format!("{stem}.{}", format.extension()),
        capture,
        expect_name: format!("{stem}.expect.json"),
        expect: text,
    })
}

/// Every sample: each scenario as pcapng, the healthy one also in the other formats, cut in
/// the middle of a record and cut by a snap length.
pub fn render_all() -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for scenario in scenarios::all() {
        let built = (scenario.build)();
        let capture = files::write(&built.frames, FileFormat::PcapNg, None)?;
        out.push(sample(
            scenario.name,
            FileFormat::PcapNg,
            capture,
            built.expect.clone(),
            &[],
        )?);
        if scenario.name == "healthy-push" {
            for (stem, format) in [
                ("healthy-push-us", FileFormat::PcapMicros),
                ("healthy-push-ns", FileFormat::PcapNanos),
                ("healthy-push-netmon", FileFormat::NetMon),
            ] {
                let capture = files::write(&built.frames, format, None)?;
                out.push(sample(stem, format, capture, built.expect.clone(), &[])?);
            }
            // The file stops 20 bytes into the last record (a FIN of the closing handshake):
            // every earlier frame, and so the verdict, must survive.
            let mut cut = files::write(&built.frames, FileFormat::PcapMicros, None)?;
            let last_len = built.frames.last().map_or(0, |f| f.bytes.len());
            cut.truncate(cut.len() - last_len - 16 + 20);
            out.push(sample(
                "truncated-file",
                FileFormat::PcapMicros,
                cut,
                built.expect.clone(),
                &["file_truncated"],
            )?);
            // Frames cut at 200 bytes: binds and the registration fit; the logon (its user DN)
            // and the large ROP calls do not. The registration and the datagrams must still
            // be judged; the user is unknown.
            let snapped = files::write(&built.frames, FileFormat::PcapNg, Some(200))?;
            let mut expect = built.expect.clone();
            if let Some(s) = expect["sessions"][0].as_object_mut() {
                s.remove("datagrams");
                s.remove("user");
            }
            out.push(sample(
                "snaplen-cut",
                FileFormat::PcapNg,
                snapped,
                expect,
                &[],
            )?);
        }
    }
    Ok(out)
}
