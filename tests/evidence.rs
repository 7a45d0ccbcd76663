//! `pushtrace analyze --evidence FILE.pcapng`: the frames the report cites, with the TCP
//! handshakes and DCE/RPC binds that Wireshark needs, copied with their original times,
//! bytes and interfaces, each carrying comments that say what it shows. Every written file
//! is read back with the project's own reader and compared with the inputs.

mod common;

use common::{analyze_with_stdin, pushtrace, sample};
use pushtrace_core::capture::CaptureReader;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// One frame of a capture, as read back.
#[derive(Debug, Clone)]
struct ReadFrame {
    number: u64,
    ts_ns: i64,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
    comments: Vec<String>,
}

fn read_all(path: &Path) -> Vec<ReadFrame> {
    let mut reader = CaptureReader::open(path).expect("readable capture");
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame() {
        frames.push(ReadFrame {
            number: f.number,
            ts_ns: f.ts_ns,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface,
            comments: f.options.comments().map(|c| c.into_owned()).collect(),
        });
    }
    assert!(reader.warnings().is_empty(), "{:?}", reader.warnings());
    frames
}

/// The (input, frame number) of every input frame, by time and bytes.
type ByContent<'a> = HashMap<(i64, &'a [u8]), Vec<(usize, u64)>>;

/// What one run wrote: the report, the evidence frames, and for each of them the input
/// and original frame number it is a copy of.
struct Evidence {
    report: Value,
    status: Option<i32>,
    stderr: String,
    frames: Vec<ReadFrame>,
    origins: Vec<(usize, u64)>,
    /// The evidence file as written.
    bytes: Vec<u8>,
}

impl Evidence {
    /// The comments of the copy of `frame` of `input`.
    fn comments(&self, input: usize, frame: u64) -> &[String] {
        let at = self
            .origins
            .iter()
            .position(|&o| o == (input, frame))
            .unwrap_or_else(|| panic!("input {input} frame {frame} is not in the evidence"));
        &self.frames[at].comments
    }

    fn has(&self, input: usize, frame: u64) -> bool {
        self.origins.contains(&(input, frame))
    }

    fn comment_containing(&self, input: usize, frame: u64, text: &str) -> bool {
        self.comments(input, frame).iter().any(|c| c.contains(text))
    }
}

/// Runs `pushtrace analyze --format json --evidence OUT` on `samples` (plus `args`) and
/// reads the evidence back, checking what every evidence capture must satisfy: each frame
/// is an exact copy (time, bytes, length) of one input frame, names its input and original
/// frame number in its first comment and what it shows in the others, and comes in time
/// order.
fn run(samples: &[&str], args: &[&str]) -> Evidence {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("evidence.pcapng");
    let paths: Vec<String> = samples.iter().map(|s| sample(s)).collect();
    let mut argv = vec!["analyze", "--format", "json", "--evidence"];
    argv.push(out_path.to_str().expect("utf-8 path"));
    argv.extend(args);
    argv.extend(paths.iter().map(String::as_str));
    let out = pushtrace(&argv);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is printed");
    assert!(
        !stderr.contains("evidence:"),
        "no evidence error expected: {stderr}"
    );
    let frames = read_all(&out_path);
    let inputs: Vec<Vec<ReadFrame>> = paths.iter().map(|p| read_all(Path::new(p))).collect();
    let mut by_content: ByContent<'_> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        for f in input {
            by_content
                .entry((f.ts_ns, f.data.as_slice()))
                .or_default()
                .push((i, f.number));
        }
    }
    let mut origins = Vec::new();
    for f in &frames {
        let candidates = &by_content[&(f.ts_ns, f.data.as_slice())];
        assert_eq!(candidates.len(), 1, "one original for {f:?}");
        let (input, number) = candidates[0];
        let original = &inputs[input][number as usize - 1];
        assert_eq!(original.number, number);
        assert_eq!(f.orig_len, original.orig_len);
        assert!(!f.comments.is_empty(), "frame {} has no comment", f.number);
        origins.push((input, number));
    }
    let contributing: BTreeSet<usize> = origins.iter().map(|o| o.0).collect();
    // One interface per input (the samples have one each): inputs never share one.
    let interfaces: BTreeSet<(usize, u32)> = origins
        .iter()
        .zip(&frames)
        .map(|(o, f)| (o.0, f.interface))
        .collect();
    let ids: BTreeSet<u32> = interfaces.iter().map(|i| i.1).collect();
    assert_eq!(interfaces.len(), contributing.len(), "{interfaces:?}");
    assert_eq!(ids.len(), contributing.len(), "{interfaces:?}");
    for (f, &(input, number)) in frames.iter().zip(&origins) {
        let name = Path::new(&paths[input])
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        // The first comment gives the frame's place in its capture: the report's numbers.
        assert_eq!(f.comments[0], format!("{name} frame {number}"));
        assert!(f.comments.len() > 1, "{:?} says what it shows", f.comments);
    }
    assert!(
        frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "time order"
    );
    assert!(
        stderr.contains(&format!("wrote {} frame(s)", frames.len())),
        "{stderr}"
    );
    Evidence {
        report,
        status: out.status.code(),
        stderr,
        frames,
        origins,
        bytes: std::fs::read(&out_path).expect("evidence written"),
    }
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn idx(v: &Value) -> Option<usize> {
    v.as_u64().map(|n| n as usize)
}

/// Every (input, frame) the report cites for the sessions of `client` (all when `None`):
/// registrations, datagrams and their captures, ICMP errors, reactions, unregistrations,
/// evidence lines, and the first four polls.
fn cited(report: &Value, client: Option<&str>) -> BTreeSet<(usize, u64)> {
    let mut out = BTreeSet::new();
    let empty = Vec::new();
    let list = |v: &Value| v.as_array().unwrap_or(&empty).clone();
    for s in list(&report["sessions"]) {
        if client.is_some_and(|c| s["client"] != c) {
            continue;
        }
        for r in list(&s["registrations"]) {
            let input = idx(&r["input"]).expect("input");
            out.insert((input, num(&r["request_frame"]).expect("request")));
            if let Some(f) = num(&r["response_frame"]) {
                out.insert((idx(&r["response_input"]).unwrap_or(input), f));
            }
        }
        for d in list(&s["datagrams"]).iter().chain(&list(&s["icmp_errors"])) {
            let input = idx(&d["input"]).expect("input");
            out.insert((input, num(&d["frame"]).expect("frame")));
            for seen in list(&d["seen_at"]) {
                out.insert((
                    idx(&seen["input"]).expect("input"),
                    num(&seen["frame"]).expect("frame"),
                ));
            }
            if let Some(f) = num(&d["reaction_frame"]) {
                out.insert((idx(&d["reaction_input"]).unwrap_or(input), f));
            }
        }
        for u in list(&s["unregistrations"]) {
            out.insert((
                idx(&u["input"]).expect("input"),
                num(&u["frame"]).expect("frame"),
            ));
        }
        for e in list(&s["evidence"]) {
            let input = idx(&e["input"]).expect("input");
            out.extend(
                list(&e["frames"])
                    .iter()
                    .filter_map(num)
                    .map(|f| (input, f)),
            );
        }
        for p in list(&s["polling"]["shown"]).iter().take(4) {
            out.insert((
                idx(&p["input"]).expect("input"),
                num(&p["frame"]).expect("frame"),
            ));
        }
    }
    out
}

fn assert_all_cited_present(ev: &Evidence, client: Option<&str>) {
    let cited = cited(&ev.report, client);
    assert!(!cited.is_empty());
    for &(input, frame) in &cited {
        assert!(ev.has(input, frame), "input {input} frame {frame} missing");
    }
}

#[test]
fn blocked_datagrams_come_with_their_icmp_errors_handshake_and_bind() {
    let ev = run(&["udp-blocked-icmp.pcapng"], &[]);
    assert_eq!(ev.status, Some(1), "the verdict's exit code: {}", ev.stderr);
    assert_eq!(ev.report["verdict"], "blocked");
    assert_all_cited_present(&ev, None);
    // The cited frames, the connection's handshake (15-17) and its bind and bind_ack (18,
    // 20), and nothing else (Wireshark numbers checked with tshark).
    let numbers: Vec<u64> = ev.origins.iter().map(|o| o.1).collect();
    assert_eq!(
        numbers,
        [15, 16, 17, 18, 20, 26, 30, 32, 34, 38, 39, 40, 44, 45, 46, 50, 51, 52, 56, 57, 58]
    );
    assert!(ev.frames.iter().all(|f| f.interface == 0));
    let conn = "10.0.0.21:1071 -> 10.0.0.5:1032";
    assert!(ev.comment_containing(0, 15, &format!("TCP handshake of {conn}: SYN")));
    assert!(ev.comment_containing(0, 16, &format!("TCP handshake of {conn}: SYN/ACK")));
    assert!(ev.comment_containing(0, 17, &format!("TCP handshake of {conn}: ACK")));
    assert!(ev.comment_containing(0, 18, "DCE/RPC bind to EMSMDB"));
    assert!(ev.comment_containing(0, 20, "DCE/RPC bind_ack: acceptance"));
    assert!(ev.comment_containing(
        0,
        30,
        "EcRRegisterPushNotification request: callback 10.0.0.21:1088, context d027209567d3a7a7; succeeded (ecNone)"
    ));
    assert!(ev.comment_containing(0, 32, "EcRRegisterPushNotification response: succeeded"));
    for (n, frame) in [(1, 38), (2, 44), (3, 50), (4, 56)] {
        let text = format!("notification datagram {n} of 4: no reaction from the client");
        assert!(ev.comment_containing(0, frame, &text), "{frame}");
        let icmp = format!("ICMP port unreachable for the datagram in frame {frame}");
        assert!(ev.comment_containing(0, frame + 1, &icmp), "{frame}");
    }
    // A frame cited for several reasons carries every one after its origin: frame 38 is a
    // datagram and is cited by two evidence lines.
    assert_eq!(ev.comments(0, 38).len(), 4);
    assert!(ev.comment_containing(0, 38, "evidence (blocked): 4 ICMP destination-unreachable"));
    assert!(ev.comment_containing(0, 26, "EMSMDB call 1 of 6 from the client"));
}

#[test]
fn two_clients_and_one_of_them() {
    let both = run(&["two-clients.pcapng"], &[]);
    assert_all_cited_present(&both, None);
    assert!(both.comment_containing(
        0,
        75,
        "notification datagram 1 of 1: the client reacted in frame 76"
    ));
    assert!(both.comment_containing(
        0,
        76,
        "the client's reaction to notification datagram 1 of 1 in frame 75"
    ));
    assert!(both.comment_containing(0, 67, "callback 10.0.0.22:1088"));

    let one = run(&["two-clients.pcapng"], &["--session", "10.0.0.22"]);
    assert_all_cited_present(&one, Some("10.0.0.22"));
    assert!(one.comment_containing(
        0,
        67,
        "EcRRegisterPushNotification request: callback 10.0.0.22:1088"
    ));
    assert!(one.comment_containing(0, 69, "failed"));
    // Nothing of the other client: not its registration, datagram, or connection.
    for frame in [30, 32, 75, 76] {
        assert!(!one.has(0, frame), "frame {frame} belongs to 10.0.0.21");
    }
    assert!(one
        .frames
        .iter()
        .flat_map(|f| &f.comments)
        .all(|c| !c.contains("10.0.0.21")));
    assert!(one
        .frames
        .iter()
        .flat_map(|f| &f.comments)
        .any(|c| c.contains("TCP handshake of 10.0.0.22:")));
    assert!(one.frames.len() < both.frames.len());
}

#[test]
fn an_unknown_session_client_exits_2_and_lists_the_clients() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("e.pcapng");
    let out = pushtrace(&[
        "analyze",
        "--evidence",
        out_path.to_str().expect("utf-8"),
        "--session",
        "10.9.9.9",
        &sample("two-clients.pcapng"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pushtrace: evidence:") && err.contains("10.9.9.9"),
        "{err}"
    );
    assert!(err.contains("10.0.0.21, 10.0.0.22"), "{err}");
    assert!(!out.stdout.is_empty(), "the report is still printed");
    assert!(!out_path.exists());
}

#[test]
fn standard_input_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("e.pcapng");
    let out_arg = out_path.to_str().expect("utf-8 path");
    let out = analyze_with_stdin("udp-blocked-icmp.pcapng", &["--evidence", out_arg, "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pushtrace: evidence: --evidence needs files it can read again; standard input cannot be"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is still printed");
    assert_eq!(report["verdict"], "blocked");
    assert!(!out_path.exists());
}

#[test]
fn views_keep_each_input_on_its_own_interface_and_name_the_origin() {
    let ev = run(
        &[
            "two-points-healthy-client.pcapng",
            "two-points-healthy-server.pcapng",
        ],
        &[],
    );
    assert_eq!(ev.report["traces"][0]["kind"], "views");
    assert_all_cited_present(&ev, None);
    let interfaces: BTreeSet<(usize, u32)> = ev
        .origins
        .iter()
        .zip(&ev.frames)
        .map(|(o, f)| (o.0, f.interface))
        .collect();
    assert_eq!(interfaces.len(), 2, "{interfaces:?}");
    // The server's capture of the first datagram, and the handshake in both captures.
    assert!(ev.comment_containing(
        1,
        38,
        "notification datagram 1 of 3: the client reacted in frame 39 of two-points-healthy-client.pcapng"
    ));
    assert!(ev.comment_containing(1, 38, "two-points-healthy-server.pcapng frame 38"));
    for input in [0, 1] {
        assert!(ev.comment_containing(
            input,
            15,
            "TCP handshake of 10.0.0.21:1071 -> 10.1.0.5:1032: SYN"
        ));
        assert!(ev.comment_containing(input, 18, "DCE/RPC bind to EMSMDB"));
    }
}

#[test]
fn a_ring_buffer_gives_one_evidence_file_across_its_pieces() {
    let ev = run(
        &[
            "ring-buffer_00003_20251103090042.pcapng",
            "ring-buffer_00001_20251103090000.pcapng",
            "ring-buffer_00002_20251103090000.pcapng",
        ],
        &[],
    );
    assert_eq!(ev.report["traces"][0]["kind"], "chain");
    assert_all_cited_present(&ev, None);
    let inputs: BTreeSet<usize> = ev.origins.iter().map(|o| o.0).collect();
    assert_eq!(inputs.len(), 3);
    // The registration is in the first piece (input 1), the last datagram in the third
    // (input 0), and the file is in time order across them.
    assert!(ev.comment_containing(
        1,
        30,
        "callback 10.0.0.21:1088, context d027e4f2cbbcc982; succeeded (ecNone)"
    ));
    assert!(ev.comment_containing(1, 30, "ring-buffer_00001_20251103090000.pcapng frame 30"));
    assert!(ev.comment_containing(
        0,
        13,
        "notification datagram 3 of 3: the client reacted in frame 14"
    ));
    assert_eq!(ev.origins[0], (1, 15), "the handshake comes first");
}

#[test]
fn every_cited_frame_of_other_samples_is_copied() {
    for name in [
        "healthy-push.pcapng",
        "healthy-push-gzip.pcapng.gz",
        "healthy-push-netmon.cap",
        "ipv6-push.pcapng",
        "registration-fault.pcapng",
        "unregistered.pcapng",
        "host-firewall-dropped.pcapng",
    ] {
        let ev = run(&[name], &[]);
        assert_all_cited_present(&ev, None);
        assert!(
            ev.frames
                .iter()
                .flat_map(|f| &f.comments)
                .any(|c| c.starts_with("EcRRegisterPushNotification request")),
            "{name}"
        );
    }
    let unregistered = run(&["unregistered.pcapng"], &[]);
    assert!(unregistered
        .frames
        .iter()
        .flat_map(|f| &f.comments)
        .any(|c| c.starts_with("EcRUnregisterPushNotification request")));
    let ipv6 = run(&["ipv6-push.pcapng"], &[]);
    assert!(ipv6
        .frames
        .iter()
        .flat_map(|f| &f.comments)
        .any(|c| c.starts_with("TCP handshake of [")));
}

#[test]
fn the_library_writes_to_any_writer_and_never_over_an_input() {
    use pushtrace_core::capture::ReadOptions;
    use pushtrace_core::engine::evidence::{
        write_evidence, write_evidence_file, EvidenceError, EvidenceOptions,
    };
    use pushtrace_core::engine::{analyze_paths, AnalyzeOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("capture.pcapng");
    std::fs::copy(sample("udp-blocked-icmp.pcapng"), &input).expect("copy");
    let paths = [input.as_path()];
    let report = analyze_paths(&paths, &AnalyzeOptions::default()).report;
    let options = EvidenceOptions::default();

    let mut bytes = Vec::new();
    let summary = write_evidence(&report, &paths, &options, &mut bytes).expect("written");
    assert_eq!(
        (
            summary.frames,
            summary.interfaces,
            summary.inputs.as_slice()
        ),
        (21, 1, &[0][..])
    );
    assert!(summary.missing.is_empty() && summary.unwritable == 0);
    let mut reader = CaptureReader::from_bytes(bytes, &ReadOptions::default()).expect("pcapng");
    let mut frames = 0;
    while reader.next_frame().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 21);

    let no_paths: [&Path; 0] = [];
    assert!(matches!(
        write_evidence(&report, &no_paths, &options, Vec::new()),
        Err(EvidenceError::InputCount {
            report: 1,
            given: 0
        })
    ));
    let before = std::fs::read(&input).expect("input");
    assert!(matches!(
        write_evidence_file(&report, &paths, &options, &input),
        Err(EvidenceError::OverwritesInput { .. })
    ));
    assert_eq!(std::fs::read(&input).expect("input"), before);
}

/// Each session's client, verdict and registrations (callback, context, status) with the
/// registration's request and response as (input, frame) pairs, mapped by `frame_of`.
fn judged(
    report: &Value,
    frame_of: impl Fn(usize, u64) -> (usize, u64),
) -> Vec<(String, String, Vec<Value>)> {
    let sessions = report["sessions"].as_array().expect("sessions");
    sessions
        .iter()
        .map(|s| {
            let registrations = s["registrations"].as_array().expect("registrations");
            let regs = registrations
                .iter()
                .map(|r| {
                    let input = idx(&r["input"]).unwrap_or(0);
                    let at = |key: &str| num(&r[key]).map(|f| frame_of(input, f));
                    serde_json::json!([
                        r["callback"],
                        r["context"],
                        r["status"],
                        at("request_frame"),
                        at("response_frame")
                    ])
                })
                .collect();
            (s["client"].to_string(), s["verdict"].to_string(), regs)
        })
        .collect()
}

#[test]
fn the_evidence_capture_analysed_alone_gives_the_same_judgement() {
    // The evidence leaves out most of each connection's segments, so the capture it makes
    // holes in both directions of the EMSMDB connection: the reassembler must deliver the
    // request held behind the client's hole before the response that acknowledges it, and
    // cite it with its own frame. `fragmented-reordered` needs every segment of its
    // three-fragment calls.
    for name in [
        "fragmented-reordered.pcapng",
        "healthy-push.pcapng",
        "udp-blocked-icmp.pcapng",
        "registration-refused.pcapng",
        "two-clients.pcapng",
        "nat-address-mismatch.pcapng",
        "host-firewall-dropped.pcapng",
        "encrypted-push.pcapng",
    ] {
        let ev = run(&[name], &[]);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("evidence.pcapng");
        std::fs::write(&path, &ev.bytes).expect("written");
        let out = pushtrace(&["analyze", "--format", "json", path.to_str().expect("utf-8")]);
        let again: Value = serde_json::from_slice(&out.stdout).expect("a report");
        let original = judged(&ev.report, |input, frame| (input, frame));
        // Evidence frame k is the copy of the input frame origins[k - 1].
        let from_evidence = judged(&again, |_, frame| ev.origins[frame as usize - 1]);
        assert_eq!(from_evidence, original, "{name}");
        assert!(!original.is_empty(), "{name}");
    }
}
