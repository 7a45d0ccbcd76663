//! The property that proves the reassembly: however the two TCP byte streams of a
//! conversation are cut into segments — random split points inside PDU headers, duplicated
//! segments, overlapping retransmissions, reordering within a window — and however calls are
//! fragmented, the engine finds exactly the same calls and reaches the same verdict.

mod common;

use proptest::prelude::*;
use pushtrace_core::engine::AnalyzeOptions;
use pushtrace_samples::net::{Host, Net, Segmenting, MS, SEC};
use pushtrace_samples::outlook::{notify, ConnectOptions, EmsmdbConnection};
use serde_json::{json, Value};

/// One Outlook conversation: bind (NSPI first or not), logon, ROP calls, registration, a
/// notification and the client's reaction, cut as `opts` says.
fn conversation(opts: ConnectOptions) -> Vec<pushtrace_samples::net::SimFrame> {
    let mut net = Net::new(1_762_160_400 * SEC, 77);
    let client = Host::new(21, "10.0.0.21", 128);
    let server = Host::new(5, "10.0.0.5", 128);
    let (mut conn, _) = EmsmdbConnection::open(&mut net, client, server, 1032, opts);
    conn.logon(&mut net, "/o=Contoso/cn=Recipients/cn=jdoe", 60_000);
    conn.rop_call(&mut net, 300);
    let context = [0xd0, 0x27, 1, 2, 3, 4, 5, 6];
    conn.register(&mut net, client.at(1088), &context, 0);
    conn.rop_call(&mut net, 90);
    net.wait(30 * SEC);
    notify(&mut net, server, 3105, client.at(1088), client, &context);
    net.wait(50 * MS);
    conn.rop_call(&mut net, 40);
    conn.close(&mut net);
    net.frames
}

/// What must not depend on segmentation: every call (interface, opnum, status, stub
/// length) and the judged sessions, without frame numbers or times.
fn essence(frames: &[pushtrace_samples::net::SimFrame]) -> Value {
    let options = AnalyzeOptions {
        collect_calls: true,
        ..AnalyzeOptions::default()
    };
    let result = common::analyze_frames(frames, &options);
    let calls: Vec<Value> = result
        .calls
        .iter()
        .map(|c| {
            json!([
                c.call_id,
                c.interface,
                c.opnum,
                c.status,
                c.request_stub_len
            ])
        })
        .collect();
    let sessions: Vec<Value> = result
        .sessions
        .iter()
        .map(|s| {
            let regs: Vec<Value> = s
                .registrations
                .iter()
                .map(|r| json!([r.callback, r.context, r.status]))
                .collect();
            json!([
                s.client,
                s.server,
                s.verdict,
                s.user,
                regs,
                s.datagrams.len()
            ])
        })
        .collect();
    json!({ "calls": calls, "sessions": sessions })
}

fn segmenting() -> impl Strategy<Value = Segmenting> {
    (
        1usize..200,
        prop::collection::vec(0usize..600, 0..8),
        prop::collection::vec(0usize..12, 0..3),
        prop::collection::vec((0usize..12, 0usize..12), 0..3),
        prop::collection::vec((0usize..12, 0usize..600, 1usize..120), 0..3),
    )
        .prop_map(|(mss, cuts, retransmit, swap, resend)| Segmenting {
            mss,
            cuts,
            retransmit,
            // Reordering stays within a small window, as on a real path.
            swap: swap
                .into_iter()
                .filter(|(a, b)| a.abs_diff(*b) <= 3)
                .collect(),
            resend: resend
                .into_iter()
                .map(|(after, start, len)| (after, start, start + len))
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn segmentation_and_fragmentation_do_not_change_the_calls(
        request_segmenting in segmenting(),
        response_segmenting in segmenting(),
        max_frag_stub in prop_oneof![Just(4280usize), 8usize..200],
        nspi_first: bool,
    ) {
        let plain = ConnectOptions { nspi_first, ..ConnectOptions::default() };
        let baseline = essence(&conversation(plain.clone()));
        let cut = ConnectOptions { request_segmenting, response_segmenting, max_frag_stub, ..plain };
        let observed = essence(&conversation(cut));
        prop_assert_eq!(&observed, &baseline);
        prop_assert!(baseline["calls"].as_array().map_or(0, Vec::len) == 5, "{}", baseline);
        // And the baseline itself is the healthy conversation it was built to be.
        prop_assert_eq!(&baseline["sessions"][0][2], &json!("flowing"));
    }
}
