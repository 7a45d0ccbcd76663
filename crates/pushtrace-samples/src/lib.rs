//! Builds pushtrace's sample captures. Each scenario drives a small deterministic network
//! simulation ([`net`]) with real DCE/RPC PDUs ([`rpc`]) and EMSMDB stubs ([`outlook`]), and
//! records the facts (ground truth known to the generator) that the analysis must report.
//! [`render_all`] turns every scenario into sample files and expectation files; [`attack`]
//! writes hostile captures for the bounded-memory checks.

pub mod attack;
pub mod bigcap;
pub mod config;
pub mod files;
pub mod net;
pub mod outlook;
pub mod rpc;
pub mod scenarios;
pub mod several;
pub mod smb;

use anyhow::Result;
use files::FileFormat;
use serde_json::{json, Value};

/// One sample: its capture files and its expectation file, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The capture files it writes (name, bytes): one for most samples, several for a ring
    /// buffer, none for a sample made of other samples' files.
    pub files: Vec<(String, Vec<u8>)>,
    /// The files analysed together for it, in the order given to pushtrace (its own file,
    /// for most samples). The expectation lists them as `captures` when there are several.
    pub captures: Vec<String>,
    /// e.g. `udp-blocked-icmp.expect.json`.
    pub expect_name: String,
    /// The expectation document (pretty JSON).
    pub expect: Vec<u8>,
    /// What the sample shows, for samples/README.md.
    pub shows: String,
    /// The overall verdict it must produce.
    pub verdict: String,
}

/// The exit code `pushtrace analyze` must give for an overall verdict.
fn exit_code(verdict: &str) -> i32 {
    match verdict {
        "flowing" => 0,
        "no_emsmdb" | "inconclusive" => 3,
        _ => 1,
    }
}

impl Sample {
    /// A sample writing `files`, analysed as `captures` (listed in the expectation when
    /// there are several), whose report must show `expect` with the exit code of its
    /// verdict.
    fn new(
        stem: &str,
        shows: &str,
        files: Vec<(String, Vec<u8>)>,
        captures: Vec<String>,
        mut expect: Value,
    ) -> Result<Sample> {
        let verdict = expect["verdict"].as_str().unwrap_or_default().to_string();
        expect["exit_code"] = json!(exit_code(&verdict));
        if captures.len() > 1 {
            expect["captures"] = json!(captures);
        }
        let mut text = serde_json::to_vec_pretty(&expect)?;
        text.push(b'\n');
        Ok(Sample {
            files,
            captures,
            expect_name: format!("{stem}.expect.json"),
            expect: text,
            shows: shows.to_string(),
            verdict,
        })
    }
}

/// A sample of one capture file in `format`.
fn sample(
    stem: &str,
    shows: &str,
    format: FileFormat,
    capture: Vec<u8>,
    mut expect: Value,
    warning_codes: &[&str],
) -> Result<Sample> {
    // The scenario may say what the input must show (its vantage, counters): the format
    // joins that.
    let mut input = match expect["inputs"].get(0) {
        Some(Value::Object(given)) => given.clone(),
        _ => serde_json::Map::new(),
    };
    input.insert("format".into(), json!(format.report_name()));
    expect["inputs"] = json!([input]);
    if !warning_codes.is_empty() {
        expect["warning_codes"] = json!(warning_codes);
    }
    let file_name = format!("{stem}.{}", format.extension());
    Sample::new(
        stem,
        shows,
        vec![(file_name.clone(), capture)],
        vec![file_name],
        expect,
    )
}

/// The healthy scenario with frames cut at 120 bytes (66 bytes of TCP payload): every
/// DCE/RPC header and the start of each body survive, so binds and calls are still seen, but
/// no stub longer than 42 bytes is whole. Facts read from a frame the snap length cut become
/// unknown: the registration request's callback and context (and so whether a datagram
/// carries that context), its status only if the response frame was cut too, and the user
/// (the logon's stub). The datagrams still reach the client and it still reacts to them, so
/// the verdict stays the healthy one.
fn snaplen_120(built: &scenarios::Built) -> Result<Sample> {
    const SNAPLEN: u32 = 120;
    let fits = |frame: &Value| {
        frame
            .as_u64()
            .and_then(|n| usize::try_from(n).ok()?.checked_sub(1))
            .and_then(|index| built.frames.get(index))
            .is_some_and(|f| f.bytes.len() <= SNAPLEN as usize)
    };
    let mut expect = built.expect.clone();
    let mut context_lost = false;
    if let Some(session) = expect["sessions"][0].as_object_mut() {
        session.remove("user");
        for r in session
            .get_mut("registrations")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if !fits(&r["request_frame"]) {
                r["callback"] = Value::Null;
                r["context"] = Value::Null;
                context_lost = true;
            }
            if !fits(&r["response_frame"]) {
                r["status"] = Value::Null;
            }
        }
        if context_lost {
            for d in session
                .get_mut("datagrams")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                d["matches_context"] = Value::Null;
            }
        }
    }
    anyhow::ensure!(
        context_lost,
        "snaplen-120 must cut the registration request to show a cut stub"
    );
    let snapped = files::write(&built.frames, FileFormat::PcapNg, Some(SNAPLEN))?;
    sample(
        "snaplen-120",
        "healthy-push captured with a 120-byte snap length: every PDU cut, headers kept",
        FileFormat::PcapNg,
        snapped,
        expect,
        &["dcerpc_pdu_cut"],
    )
}

/// Every sample: each scenario as pcapng, the healthy one also in the other formats, cut in
/// the middle of a record and cut by a snap length.
pub fn render_all() -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for scenario in scenarios::all() {
        let built = (scenario.build)();
        let capture = files::write(&built.frames, FileFormat::PcapNg, None)?;
        let expect = built.expect.clone();
        out.push(sample(
            scenario.name,
            scenario.shows,
            FileFormat::PcapNg,
            capture,
            expect,
            &[],
        )?);
        if scenario.name == "healthy-push" {
            // Network Monitor 1.x keeps the start time as the capturing host's local time.
            for (stem, shows, format, warnings) in [
                (
                    "healthy-push-us",
                    "healthy-push as pcap, µs",
                    FileFormat::PcapMicros,
                    &[][..],
                ),
                (
                    "healthy-push-ns",
                    "healthy-push as pcap, ns",
                    FileFormat::PcapNanos,
                    &[],
                ),
                (
                    "healthy-push-netmon",
                    "healthy-push as Network Monitor 2.3",
                    FileFormat::NetMon,
                    &[],
                ),
                (
                    "healthy-push-netmon1",
                    "healthy-push as Network Monitor 1.1 (local-time header)",
                    FileFormat::NetMon1,
                    &["local_time_as_utc"],
                ),
            ] {
                let capture = files::write(&built.frames, format, None)?;
                out.push(sample(
                    stem,
                    shows,
                    format,
                    capture,
                    built.expect.clone(),
                    warnings,
                )?);
            }
            // gzip-wrapped: detected by its magic, decompressed while streaming.
            let pcapng = files::write(&built.frames, FileFormat::PcapNg, None)?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, &pcapng)?;
            let mut gzipped = sample(
                "healthy-push-gzip",
                "healthy-push as gzip-compressed pcapng",
                FileFormat::PcapNg,
                gz.finish()?,
                built.expect.clone(),
                &[],
            )?;
            for name in gzipped
                .captures
                .iter_mut()
                .chain(gzipped.files.iter_mut().map(|f| &mut f.0))
            {
                name.push_str(".gz");
            }
            out.push(gzipped);
            // The file stops 20 bytes into the last record (a FIN of the closing handshake):
            // every earlier frame, and so the verdict, must survive.
            let mut cut = files::write(&built.frames, FileFormat::PcapMicros, None)?;
            let last_len = built.frames.last().map_or(0, |f| f.bytes.len());
            cut.truncate(cut.len() - last_len - 16 + 20);
            let shows = "healthy-push cut in the middle of its last record";
            let expect = built.expect.clone();
            out.push(sample(
                "truncated-file",
                shows,
                FileFormat::PcapMicros,
                cut,
                expect,
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
            let shows = "healthy-push captured with a 200-byte snap length";
            out.push(sample(
                "snaplen-cut",
                shows,
                FileFormat::PcapNg,
                snapped,
                expect,
                &[],
            )?);
            out.push(snaplen_120(&built)?);
        }
    }
    out.extend(several::samples()?);
    Ok(out)
}

/// samples/README.md: how the samples are made and checked, and the table of samples.
pub fn readme(samples: &[Sample]) -> String {
    let mut text = String::from(README_HEAD);
    for s in samples {
        let files: Vec<String> = s.captures.iter().map(|c| format!("`{c}`")).collect();
        text.push_str(&format!(
            "| {} | {} | `{}` |\n",
            files.join(" + "),
            s.shows,
            s.verdict
        ));
    }
    text
}

const README_HEAD: &str = "# Sample captures

Small captures, one per situation an Exchange administrator meets, each with the facts its
report must show. They are the first thing to run (`cargo run --release -- analyze
samples/udp-blocked-icmp.pcapng`) and the regression suite: `tests/samples.rs` replays every
sample through the library and through `pushtrace analyze --format json` on every test run.

**Made, not recorded.** `cargo run -p pushtrace-samples` writes every file here (this README
too) from the scenarios in `crates/pushtrace-samples`: a deterministic simulation with real
TCP handshakes, sequence and acknowledgement numbers, believable timing, DCE/RPC PDUs and
EMSMDB stubs built from their layouts. Regenerating reproduces the committed files byte for
byte, and a test checks that it does. `scripts/tshark-check-samples.py` cross-checks the frame
numbers pushtrace cites against tshark's dissectors (not part of CI).

**Expectations.** `NAME.expect.json` lists a subset of the JSON report that `NAME.<ext>` must
produce: the overall `verdict`, the `exit_code`, the input `format`, the sessions with their
verdicts, registrations (frames, callback, context, status), datagrams and ICMP errors, and
`warning_codes` that must appear (and `absent_warning_codes` that must not), and the input's
`vantage`. Objects are matched on the keys listed; lists must have the same length and match
element by element. Volatile fields (times) are not listed, and counters only where a sample
is about them.

**Several captures.** A sample made of several files (a ring buffer, or captures taken at the
server and at the client at the same time) lists them, in the order they are given to
pushtrace, as `captures` in its expectation, and `inputs` has one entry per file. Two-point
samples use the files of their one-point samples, so each file is also checked alone.

**Pinning your own capture.** Copy it here as `NAME.pcapng` (or `.pcap`, `.cap`, `.gz`...),
run `pushtrace analyze --format json NAME.pcapng`, and write `NAME.expect.json` with the facts
that must not change — at least `verdict` and `exit_code`. `cargo test --test samples` then
checks it on every change. (Files not written by the generator are not checked for
reproduction.)

| sample | what it shows | verdict |
|---|---|---|
";
