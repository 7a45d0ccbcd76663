//! Bounded memory under attack, scaled down for the normal test suite: every hostile capture
//! of `pushtrace_samples::attack` is generated at a small scale into a temporary directory,
//! analysed with caps small enough to bite at that scale, and the report must name each cap
//! that bit in its warnings and show the bounded state in `inputs[].counters`.
//!
//! Full scale (a million connections, registrations, datagrams; release build; peak memory
//! measured) is `scripts/attack.sh`.

use pushtrace_core::engine::{analyze_path, AnalyzeOptions, Limits};
use pushtrace_samples::attack::Attack;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::BufWriter;
use std::process::Command;

/// Writes `attack` at scale `n` and analyses it with `limits`; returns the report as JSON.
fn analyze(attack: Attack, n: u64, limits: Limits) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.pcap", attack.name()));
    let file = std::fs::File::create(&path).unwrap();
    attack.write(n, BufWriter::new(file)).unwrap();
    let options = AnalyzeOptions {
        limits,
        ..AnalyzeOptions::default()
    };
    let report = analyze_path(&path, &options).unwrap();
    serde_json::to_value(&report).unwrap()
}

fn codes(report: &Value) -> BTreeSet<String> {
    report["inputs"][0]["warning_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

fn assert_codes(report: &Value, expected: &[&str]) {
    let codes = codes(report);
    for code in expected {
        assert!(codes.contains(*code), "no `{code}` warning in {codes:?}");
    }
}

fn counter(report: &Value, stage: &str, name: &str) -> u64 {
    report["inputs"][0]["counters"][stage][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {stage}.{name}"))
}

/// Registrations and datagrams listed over all sessions.
fn listed(report: &Value, what: &str) -> usize {
    report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[what].as_array().unwrap().len())
        .sum()
}

#[test]
fn half_pdus_on_many_connections_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half-pdus.pcap");
    let file = std::fs::File::create(&path).unwrap();
    Attack::HalfPdus
        .write(20_000, BufWriter::new(file))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pushtrace"))
        .args(["analyze", "--format", "json", "--no-progress"])
        .args(["--max-connections", "500"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "nothing to judge");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_codes(
        &report,
        &["tcp_connection_table_full", "dcerpc_unfinished_pdu"],
    );
    assert_eq!(counter(&report, "tcp", "connections"), 20_000);
    assert!(counter(&report, "tcp", "peak_live_connections") <= 500);
    assert!(counter(&report, "tcp", "evicted_capacity") >= 19_500);
    assert_eq!(counter(&report, "dcerpc", "connections"), 20_000);
    // Each live connection holds 200 bytes of its PDU.
    assert!(counter(&report, "dcerpc", "peak_held_bytes") <= 500 * 200);
}

#[test]
fn half_pdus_beyond_the_shared_byte_budget_are_dropped() {
    let mut limits = Limits::default();
    limits.rpc.max_held_bytes_total = 100_000;
    let report = analyze(Attack::HalfPdus, 5_000, limits);
    assert_codes(
        &report,
        &["dcerpc_held_bytes_total_cap", "dcerpc_partial_pdu_dropped"],
    );
    assert!(counter(&report, "dcerpc", "peak_held_bytes") <= 100_000);
    // 500 connections fit the budget; the 4,500 others dropped their 200 bytes.
    assert_eq!(
        counter(&report, "dcerpc", "partial_pdu_bytes_shed"),
        4_500 * 200
    );
}

#[test]
fn endless_out_of_order_segments_stay_within_the_reorder_buffers() {
    let mut limits = Limits::default();
    limits.tcp.max_ooo_bytes_per_direction = 16 << 10;
    limits.tcp.max_buffered_bytes_total = 256 << 10;
    let report = analyze(Attack::OutOfOrder, 5_000, limits);
    assert_codes(&report, &["tcp_reorder_buffer_full", "dcerpc_gap"]);
    assert_eq!(counter(&report, "tcp", "peak_live_connections"), 64);
    // 64 directions of 16 KiB would hold 1 MiB: the shared budget bites first. It counts
    // 64 bytes of bookkeeping per 1000-byte piece.
    let peak = counter(&report, "tcp", "peak_buffered_bytes");
    assert!((250 << 10..=256 << 10).contains(&peak), "{peak}");
    assert!(counter(&report, "tcp", "ooo_cap_hits") >= 4_000);
}

#[test]
fn a_fragmented_call_that_never_ends_is_cut_at_the_stub_cap() {
    let mut limits = Limits::default();
    limits.rpc.max_stub_len = 16 << 10;
    let report = analyze(Attack::EndlessFragments, 2_000, limits);
    assert_codes(&report, &["dcerpc_stub_truncated"]);
    // 64 connections, each with its kept stub plus at most one partial fragment.
    let peak = counter(&report, "dcerpc", "peak_held_bytes");
    assert!(peak <= 64 * ((16 << 10) + 1024), "{peak}");
    assert!(peak >= 64 * (16 << 10), "{peak}");
}

#[test]
fn fragmented_calls_that_never_end_share_one_byte_budget() {
    let mut limits = Limits::default();
    limits.rpc.max_held_bytes_total = 256 << 10;
    let report = analyze(Attack::EndlessFragments, 2_000, limits);
    assert_codes(&report, &["dcerpc_held_bytes_total_cap"]);
    // 64 calls of up to 1 MiB each would hold 2 MB here: the shared budget bites first.
    let peak = counter(&report, "dcerpc", "peak_held_bytes");
    assert!(peak <= (256 << 10) + 1024, "{peak}");
}

#[test]
fn many_registrations_stay_within_the_pending_and_listed_caps() {
    let mut limits = Limits::default();
    limits.rpc.max_pending_calls_total = 1_000;
    limits.rpc.max_pending_calls = 64;
    limits.correlate.max_listed_items_total = 2_000;
    limits.correlate.max_items_per_session = 40;
    let report = analyze(Attack::Registrations, 20_000, limits);
    assert_codes(
        &report,
        &[
            "dcerpc_pending_call_total_cap",
            "correlation_item_cap",
            "session_item_cap",
        ],
    );
    assert!(counter(&report, "dcerpc", "peak_pending_calls") <= 1_000);
    assert!(counter(&report, "dcerpc", "calls_shed") > 0);
    assert_eq!(report["sessions"].as_array().unwrap().len(), 64);
    assert!(listed(&report, "registrations") <= 64 * 40);
}

#[test]
fn a_udp_flood_from_a_known_server_stays_within_the_pools() {
    let mut limits = Limits::default();
    limits.correlate.max_pending_datagrams = 1_000;
    limits.correlate.max_sessions = 100;
    limits.correlate.max_listed_items_total = 50;
    let report = analyze(Attack::UdpFlood, 20_000, limits);
    assert_codes(
        &report,
        &["datagram_pool_cap", "session_cap", "correlation_item_cap"],
    );
    assert_eq!(report["sessions"].as_array().unwrap().len(), 100);
    // The registered client's connection and its registration, then datagrams up to the
    // shared cap.
    assert_eq!(listed(&report, "datagrams"), 48);
}

#[test]
fn an_icmp_flood_stays_within_the_error_pool() {
    let mut limits = Limits::default();
    limits.correlate.max_icmp_errors = 1_000;
    let report = analyze(Attack::IcmpFlood, 5_000, limits);
    assert_codes(&report, &["icmp_cap"]);
    assert_eq!(report["sessions"].as_array().unwrap().len(), 1);
    let errors = report["sessions"][0]["icmp_errors"].as_array().unwrap();
    assert!(errors.len() <= 1_000);
}

#[test]
fn calls_waiting_for_evidence_stay_within_their_cap() {
    let mut limits = Limits::default();
    limits.correlate.max_unclassified_calls = 1_000;
    let report = analyze(Attack::UnknownCalls, 5_000, limits);
    assert_codes(&report, &["store_identification_cap"]);
    assert_eq!(counter(&report, "identify", "dropped_at_cap"), 4_000);
    // Nothing showed their endpoint to serve the store: none became a store call.
    assert_eq!(counter(&report, "identify", "unconfirmed"), 1_000);
    assert!(report["sessions"].as_array().unwrap().is_empty());
}

#[test]
fn every_attack_in_one_capture_bites_every_shared_cap() {
    let mut limits = Limits::default();
    limits.tcp.max_connections = 500;
    limits.tcp.max_buffered_bytes_total = 256 << 10;
    limits.rpc.max_held_bytes_total = 256 << 10;
    limits.defrag.max_bytes = 256 << 10;
    limits.correlate.max_pending_datagrams = 1_000;
    limits.correlate.max_icmp_errors = 1_000;
    limits.correlate.max_sessions = 100;
    limits.correlate.max_unclassified_calls = 1_000;
    let report = analyze(Attack::Combined, 3_000, limits);
    assert_codes(
        &report,
        &[
            "tcp_connection_table_full",
            "tcp_reorder_buffer_full",
            "dcerpc_held_bytes_total_cap",
            "ip_defrag_byte_cap",
            "datagram_pool_cap",
            "session_cap",
            "icmp_cap",
            "store_identification_cap",
        ],
    );
    assert!(counter(&report, "tcp", "peak_live_connections") <= 500);
    assert!(counter(&report, "tcp", "peak_buffered_bytes") <= 256 << 10);
    assert!(counter(&report, "dcerpc", "peak_held_bytes") <= (256 << 10) + 1024);
    assert_eq!(report["sessions"].as_array().unwrap().len(), 100);
}
