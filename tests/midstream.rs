//! A capture may start anywhere inside an Outlook connection: in the middle of a PDU, of a
//! header, of a 36 KB `EcDoRpcExt2` response in fragments of any size up to the 5840 bytes
//! Windows negotiates, in either direction. Wherever it starts, the engine must still find
//! the connection (without its SYN, the engine decides from the bytes whether it is DCE/RPC,
//! see `engine::probe`), recognise every call made after that point, and judge the session
//! as it would the whole conversation: `flowing`, the client reacting to both notifications.

mod common;

use proptest::prelude::*;
use pushtrace_core::engine::AnalyzeOptions;
use pushtrace_samples::net::{Host, Net, Segmenting, SimFrame, MS, SEC};
use pushtrace_samples::outlook::{notify, ConnectOptions, EmsmdbConnection};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const CLIENT: &str = "10.0.0.21";
const SERVER: &str = "10.0.0.5";

/// One Outlook conversation, as captured from its SYN.
struct Conversation {
    frames: Vec<SimFrame>,
    /// Frames before this index are the set-up and the large call; the capture may start
    /// anywhere in them. Calls after it must all be recognised.
    later: usize,
}

/// Bind, logon (its request carries the user's DN as text), registration, a large ROP call
/// (12 KB in, 36 KB out) and a small one; then, after 20 s, another ROP call, two
/// notifications each answered by a ROP call, and the close. Fragments carry at most
/// `max_frag_stub` stub bytes; segments at most `mss` bytes.
fn conversation(max_frag_stub: usize, mss: usize) -> Conversation {
    let mut net = Net::new(1_762_160_400 * SEC, 91);
    let client = Host::new(21, CLIENT, 128);
    let server = Host::new(5, SERVER, 128);
    let segmenting = Segmenting {
        mss,
        ..Segmenting::default()
    };
    let opts = ConnectOptions {
        max_frag_stub,
        request_segmenting: segmenting.clone(),
        response_segmenting: segmenting,
        ..ConnectOptions::default()
    };
    let (mut conn, _) = EmsmdbConnection::open(&mut net, client, server, 1032, opts);
    conn.logon(
        &mut net,
        "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jdoe",
        60_000,
    );
    let context = [0xd0, 0x27, 1, 2, 3, 4, 5, 6];
    conn.register(&mut net, client.at(1088), &context, 0);
    conn.rop_call(&mut net, 12_000);
    conn.rop_call(&mut net, 300);
    let later = net.frames.len();
    net.wait(20 * SEC);
    conn.rop_call(&mut net, 2_500);
    for wait_s in [30, 70] {
        net.wait(wait_s * SEC);
        notify(&mut net, server, 3105, client.at(1088), client, &context);
        net.wait(40 * MS);
        conn.rop_call(&mut net, 60);
    }
    conn.close(&mut net);
    Conversation {
        frames: net.frames,
        later,
    }
}

/// Where a TCP segment's payload sits in an Ethernet/IPv4 frame, its direction (from the
/// client) and sequence number; `None` for other frames.
fn tcp_payload(frame: &[u8]) -> Option<(usize, bool, u32)> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 6 {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let tcp = 14 + ihl;
    let data_offset = usize::from(frame.get(tcp + 12)? >> 4) * 4;
    let from_client = frame.get(26..30)? == [10, 0, 0, 21];
    let seq = u32::from_be_bytes(frame.get(tcp + 4..tcp + 8)?.try_into().ok()?);
    Some((tcp + data_offset, from_client, seq))
}

/// The capture as it would be had it started at byte `offset` of the set-up's stream from
/// the client (`from_client`) or from the server: the frame holding that byte, cut to start
/// there (sequence number and IP length adjusted), and every frame after it. `None` when the
/// set-up's stream in that direction is shorter.
fn starting_at(c: &Conversation, from_client: bool, offset: u32) -> Option<Vec<SimFrame>> {
    let mut first_seq = None;
    for (i, f) in c.frames[..c.later].iter().enumerate() {
        let Some((at, client, seq)) = tcp_payload(&f.bytes) else {
            continue;
        };
        let len = f.bytes.len().saturating_sub(at) as u32;
        if client != from_client || len == 0 {
            continue;
        }
        let start = seq.wrapping_sub(*first_seq.get_or_insert(seq));
        if !(start..start + len).contains(&offset) {
            continue;
        }
        let skip = (offset - start) as usize;
        let mut bytes = f.bytes.clone();
        bytes.drain(at..at + skip);
        let total = u16::from_be_bytes([bytes[16], bytes[17]]) - skip as u16;
        bytes[16..18].copy_from_slice(&total.to_be_bytes());
        let tcp = 14 + usize::from(bytes[14] & 0x0f) * 4;
        bytes[tcp + 4..tcp + 8].copy_from_slice(&seq.wrapping_add(skip as u32).to_be_bytes());
        let mut out = vec![SimFrame {
            ts_ns: f.ts_ns,
            bytes,
        }];
        out.extend_from_slice(&c.frames[i + 1..]);
        return Some(out);
    }
    None
}

/// The set-up's stream in one direction (its segments are sent in order, once).
fn setup_stream(c: &Conversation, from_client: bool) -> Vec<u8> {
    c.frames[..c.later]
        .iter()
        .filter_map(|f| tcp_payload(&f.bytes).map(|(at, client, _)| (client, &f.bytes[at..])))
        .filter(|&(client, _)| client == from_client)
        .flat_map(|(_, payload)| payload.iter().copied())
        .collect()
}

/// Where the PDUs of a stream start (each frag_length, little-endian, leads to the next).
fn pdu_starts(stream: &[u8]) -> Vec<u32> {
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(len) = stream.get(at + 8..at + 10) {
        starts.push(at as u32);
        at += usize::from(u16::from_le_bytes([len[0], len[1]])).max(1);
    }
    starts
}

/// The calls found (call_id, opnum) and the sessions (client, server, verdict, reactions).
fn analyse(frames: &[SimFrame]) -> (BTreeSet<(u32, u16)>, Vec<Value>) {
    let result = common::analyze_frames(frames, &with_calls());
    let calls = result.calls.iter().map(|c| (c.call_id, c.opnum)).collect();
    let sessions = result
        .sessions
        .iter()
        .map(|s| {
            let reactions: Vec<Value> = s
                .datagrams
                .iter()
                .map(|d| serde_json::to_value(d.reaction).unwrap_or_default())
                .collect();
            let verdict = serde_json::to_value(s.verdict).unwrap_or_default();
            json!([s.client, s.server, verdict, reactions])
        })
        .collect();
    (calls, sessions)
}

/// Options that keep every call.
fn with_calls() -> AnalyzeOptions {
    AnalyzeOptions {
        collect_calls: true,
        ..AnalyzeOptions::default()
    }
}

/// The calls of the whole conversation made after the set-up.
fn later_calls(c: &Conversation) -> BTreeSet<(u32, u16)> {
    let later = c.later as u64;
    common::analyze_frames(&c.frames, &with_calls())
        .calls
        .iter()
        .filter(|call| call.request_frame > later)
        .map(|call| (call.call_id, call.opnum))
        .collect()
}

/// Checks the capture started at `offset` of one direction of `c`.
fn check_start(c: &Conversation, expected: &BTreeSet<(u32, u16)>, from_client: bool, offset: u32) {
    let Some(frames) = starting_at(c, from_client, offset) else {
        panic!("offset {offset} beyond the set-up");
    };
    let (calls, sessions) = analyse(&frames);
    let whole = json!([[CLIENT, SERVER, "flowing", ["reacted", "reacted"]]]);
    assert_eq!(
        json!(sessions),
        whole,
        "capture from byte {offset} of the {} stream",
        if from_client { "client's" } else { "server's" }
    );
    let missing: Vec<_> = expected.difference(&calls).collect();
    assert!(
        missing.is_empty(),
        "capture from byte {offset} of the {} stream: calls {missing:?} not found",
        if from_client { "client's" } else { "server's" }
    );
}

/// The conversation itself: three `EcDoRpcExt2` calls after the set-up.
#[test]
fn the_whole_conversation_is_flowing() {
    let c = conversation(5816, 1460);
    let (_, sessions) = analyse(&c.frames);
    assert_eq!(
        json!(sessions),
        json!([[CLIENT, SERVER, "flowing", ["reacted", "reacted"]]])
    );
    assert_eq!(later_calls(&c).len(), 3);
}

/// Every byte within 20 of a PDU header, every byte of the bind and logon requests (the
/// user's DN is text: a capture starting inside it opens with printable text), and every
/// 61st byte elsewhere, in both directions, with 5840-byte fragments over 1460-byte segments
/// (fragments end with segments) and over 1380-byte ones (they do not).
#[test]
fn a_capture_starting_anywhere_in_the_set_up_finds_the_session() {
    for mss in [1460, 1380] {
        let c = conversation(5816, mss);
        let expected = later_calls(&c);
        for from_client in [true, false] {
            let stream = setup_stream(&c, from_client);
            let len = stream.len() as u32;
            let mut offsets: BTreeSet<u32> = (0..len).step_by(61).collect();
            for start in pdu_starts(&stream) {
                offsets.extend(start.saturating_sub(20)..(start + 21).min(len));
            }
            if from_client {
                offsets.extend(0..400.min(len));
            }
            for offset in offsets {
                check_start(&c, &expected, from_client, offset);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any fragment size up to the largest Windows negotiates, any segment size, either
    /// direction, any byte of the set-up.
    #[test]
    fn any_fragment_size_any_start(
        max_frag_stub in prop_oneof![Just(5816usize), Just(4280), 8usize..5816],
        mss in prop_oneof![Just(1460usize), Just(1440), 100usize..1460],
        from_client: bool,
        at in 0.0f64..1.0,
    ) {
        let c = conversation(max_frag_stub, mss);
        let expected = later_calls(&c);
        prop_assert_eq!(expected.len(), 3);
        let offset = (setup_stream(&c, from_client).len() as f64 * at) as u32;
        check_start(&c, &expected, from_client, offset);
    }
}

/// Whether `frame` goes to or comes from the store's port (1032), not the endpoint mapper.
fn on_store_port(frame: &SimFrame) -> bool {
    let tcp = 14 + usize::from(frame.bytes[14] & 0x0f) * 4;
    let port = 1032u16.to_be_bytes();
    frame.bytes.get(tcp..tcp + 2) == Some(&port[..])
        || frame.bytes.get(tcp + 2..tcp + 4) == Some(&port[..])
}

/// The SYN is captured but the capture lost the first data segment(s) of both directions,
/// so neither stream starts at a PDU boundary (60-byte segments: the bind and its bind_ack
/// go on in the next ones): the connection is probed as one that began before the
/// capture, not declined because its first bytes are not a header.
#[test]
fn a_capture_that_lost_bytes_right_after_the_syn_finds_the_session() {
    let c = conversation(5816, 60);
    let expected = later_calls(&c);
    for lost in 1..=3 {
        let mut dropped = [0; 2];
        let frames: Vec<SimFrame> = c
            .frames
            .iter()
            .filter(|f| match tcp_payload(&f.bytes) {
                Some((at, client, _)) if f.bytes.len() > at && on_store_port(f) => {
                    let n = &mut dropped[usize::from(client)];
                    *n += 1;
                    *n > lost
                }
                _ => true,
            })
            .cloned()
            .collect();
        let (calls, sessions) = analyse(&frames);
        assert_eq!(
            json!(sessions),
            json!([[CLIENT, SERVER, "flowing", ["reacted", "reacted"]]]),
            "{lost} segment(s) lost each way"
        );
        let missing: Vec<_> = expected.difference(&calls).collect();
        assert!(
            missing.is_empty(),
            "{lost} lost: calls {missing:?} not found"
        );
    }
}
