//! The command line's contracts: subcommands, JSON keys, exit codes, standard input, and the
//! error for a file that is not a capture.

mod common;

use common::{analyze_with_stdin, pushtrace, sample};
use serde_json::Value;
use std::process::Output;

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

#[test]
fn info_reports_format_frames_and_warnings() {
    let out = pushtrace(&[
        "info",
        "--format",
        "json",
        &sample("truncated-file.pcap"),
        &sample("healthy-push-netmon.cap"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let inputs = v["inputs"].as_array().expect("inputs");
    assert_eq!(inputs[0]["format"], "pcap");
    assert_eq!(inputs[0]["frames"], 49);
    assert!(inputs[0]["warnings"][0]
        .as_str()
        .unwrap_or_default()
        .contains("byte offset"));
    assert_eq!(inputs[1]["format"], "netmon2");
    assert_eq!(inputs[1]["frames"], 50);
    assert_eq!(inputs[1]["warnings"], Value::Array(vec![]));
}

#[test]
fn a_file_that_is_not_a_capture_exits_2_and_names_the_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.pcap");
    std::fs::write(&path, b"hello, this is not a capture file at all").expect("write");
    for cmd in ["info", "analyze", "rpc"] {
        let out = pushtrace(&[cmd, path.to_str().unwrap_or_default()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("pcapng") && err.contains("Network Monitor"),
            "{err}"
        );
        assert!(
            err.contains("68 65 6c 6c") || err.contains("68656c6c"),
            "first bytes shown: {err}"
        );
    }
    let out = pushtrace(&["analyze", "/nonexistent/file.pcap"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(pushtrace(&["analyze"]).status.code(), Some(2));
    assert_eq!(
        pushtrace(&["analyze", "--format", "xml", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn standard_input_beside_files_is_read_once_whole() {
    // Deciding which inputs form one trace must not consume standard input.
    let refused = sample("registration-refused.pcapng");
    let out = analyze_with_stdin("healthy-push.pcapng", &["-", &refused]);
    let v = json(&out);
    assert_eq!(v["inputs"][0]["path"], "-");
    assert_eq!(v["inputs"][0]["frames"], 50);
    let verdicts: Vec<&str> = v["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["verdict"].as_str())
        .collect();
    assert_eq!(verdicts, ["flowing", "refused"]);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let out = analyze_with_stdin("healthy-push-gzip.pcapng.gz", &["-"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["inputs"][0]["path"], "-");
    assert_eq!(v["verdict"], "flowing");
}

#[test]
fn several_inputs_give_per_input_sessions_and_the_worst_verdict() {
    let out = pushtrace(&[
        "analyze",
        "--format",
        "json",
        &sample("healthy-push.pcapng"),
        &sample("udp-blocked-icmp.pcapng"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["verdict"], "blocked");
    let verdicts: Vec<(i64, &str)> = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["input"].as_i64().unwrap_or(-1),
                s["verdict"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(verdicts, [(0, "flowing"), (1, "blocked")]);
}

#[test]
fn no_emsmdb_and_inconclusive_exit_3() {
    // The NetMon 2.1 fixture holds Ethernet and Token Ring frames but no EMSMDB.
    let fixture = format!(
        "{}/crates/pushtrace-capture/tests/data/netmon2_1_editcap.cap",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = pushtrace(&["analyze", "--format", "json", &fixture]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json(&out)["verdict"], "no_emsmdb");
}

#[test]
fn rpc_lists_calls_with_the_contract_keys() {
    let out = pushtrace(&["rpc", "--format", "json", &sample("healthy-push.pcapng")]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let register = v["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|c| c["opnum"] == 4 && c["interface"] == "EMSMDB")
        .expect("the registration");
    assert_eq!(register["request_frame"], 30);
    assert_eq!(register["response_frame"], 32);
    assert_eq!(
        register["interface_uuid"],
        "a4f1db00-ca47-1067-b31f-00dd010662da"
    );
    assert_eq!(register["operation"], "EcRRegisterPushNotification");
    assert_eq!(register["auth_level"], Value::Null);
    assert_eq!(register["status"], "ok");
    let stats = v["statistics"].as_array().expect("statistics");
    assert!(stats
        .iter()
        .any(|s| s["operation"] == "EcDoRpcExt2" && s["calls"] == 4));
    assert_eq!(v["endpoints"][0]["port"], 1032);
}

#[test]
fn table_output_cites_frames_and_a_wireshark_filter() {
    let out = pushtrace(&["analyze", &sample("udp-blocked-icmp.pcapng")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("overall verdict: blocked"), "{text}");
    assert!(text.contains("frame.number in {"), "{text}");
    assert!(text.contains("port unreachable"), "{text}");
}

#[test]
fn one_trace_and_separate_force_how_inputs_are_joined() {
    let (server, client) = (
        sample("two-points-healthy-server.pcapng"),
        sample("two-points-healthy-client.pcapng"),
    );
    let kinds = |args: &[&str]| {
        let v = json(&pushtrace(args));
        let kinds: Vec<String> = v["traces"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        (kinds, v["sessions"].as_array().map_or(0, Vec::len))
    };
    // Found by their shared packets: one trace of two views, one session.
    let found = kinds(&["analyze", "--format", "json", &server, &client]);
    assert_eq!(found, (vec!["views".to_string()], 1));
    let apart = kinds(&[
        "analyze",
        "--separate",
        "--format",
        "json",
        &server,
        &client,
    ]);
    assert_eq!(apart, (vec!["single".to_string(), "single".to_string()], 2));
    // Two files that overlap in time cannot be one chain: --one-trace still finds the views.
    let forced = kinds(&[
        "analyze",
        "--one-trace",
        "--format",
        "json",
        &server,
        &client,
    ]);
    assert_eq!(forced, found);
    // A ring buffer's files, whatever the order given: one chain.
    let mut ring: Vec<String> =
        std::fs::read_dir(format!("{}/samples", env!("CARGO_MANIFEST_DIR")))
            .expect("samples")
            .filter_map(|e| Some(e.ok()?.path().to_str()?.to_string()))
            .filter(|p| p.contains("ring-buffer_"))
            .collect();
    ring.sort();
    ring.swap(0, 2);
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(ring.iter().map(String::as_str));
    assert_eq!(kinds(&args), (vec!["chain".to_string()], 1));
    let out = pushtrace(&["analyze", "--one-trace", "--separate", &server]);
    assert_eq!(out.status.code(), Some(2), "the two options conflict");
}
