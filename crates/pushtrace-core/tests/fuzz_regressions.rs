//! Inputs the fuzz targets (`fuzz/`) and the property tests crashed on, replayed through the
//! engine, one named test per crash: `<target or property>_<what it found>`. Each failed
//! before its fix.

mod common;

use common::{analyze, pdu, tcp_frames};
use pushtrace_core::emsmdb::{self, rop, NdrFormat};

/// Hex of a PDU from a crash input.
fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// `conversation`, hostile clock (minimized, before the fix in `correlate`): two
/// `EcDoRpcExt2` requests (opnum 11, EMSMDB recognised by the stub's shape, no bind) at the
/// two ends of the time range, the first one answered by the start of a response. The
/// polling interval between them overflowed i64. (The crash input's stubs carried random
/// bytes where a real `EcDoRpcExt2` frames its ROP buffer, which the shape check now
/// refuses; the requests are rebuilt with real framing around the same ROP bytes.)
#[test]
fn conversation_rop_calls_at_both_ends_of_time_overflowed_the_polling_interval() {
    let request = |call_id: u32, rops: &[u8]| {
        let handle: [u8; 20] = bytes("000000007cee418014e1bb656d29970d19add285")
            .try_into()
            .unwrap();
        let buffer = rop::encode_rop_buffer(rops, &[1]);
        let stub = emsmdb::encode_rpc_ext2_request(NdrFormat::NDR20_LE, &handle, &buffer);
        let mut body = (stub.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0, 11, 0]);
        body.extend_from_slice(&stub);
        pdu(0, call_id, &body)
    };
    let first = request(
        7,
        &bytes("0f0a0a198314b067757ba0876ba78913264e835fa31d372d9ae8e812e3"),
    );
    // The first 24 bytes of a response to call_id 7 (frag_length 268).
    let response_start = bytes("05000203100000000c01000007003fe09f23000000000000");
    let second = request(
        8,
        &bytes("45fa5ac7c12dccceca6d1834e67d7f0f79d7eab3c106facffe8351"),
    );
    let frames = tcp_frames(&[(true, first), (false, response_start), (true, second)]);
    // The fuzz target keeps hostile times 2^40 ns inside the range.
    let (early, late) = (i64::MIN + (1 << 40), i64::MAX - (1 << 40));
    // SYN, SYN-ACK, the first request, the response's start, the second request.
    assert_eq!(frames.len(), 5);
    let times = [early, early, early, early, late];
    let analysis = analyze(&frames, &times);
    assert_eq!(analysis.sessions.len(), 1);
    let session = &analysis.sessions[0];
    assert!(session.inferred, "EMSMDB recognised without a bind");
    assert_eq!(session.polling.calls, 2);
    assert!(!session.polling.steady_one_minute);
    assert!(session.polling.median_interval_s.unwrap() > 1e9);
}

/// The crash input itself, byte for byte: its stubs no longer pass for EMSMDB, so it makes no
/// session, but it must still go through at both ends of time.
#[test]
fn conversation_crash_input_as_found_still_goes_through() {
    // Request call_id 7, opnum 11: handle, flags, a 60-byte buffer, max out 0x8007...
    let first = bytes(
        "050000031000000084000000070000006c01000014000b00000000007cee418014e1bb656d29970d\
         19add285000000003c0000000f0a0a198314b067757ba0876ba78913264e835fa31d372d9ae8e812e3\
         ebd17c0e6c838f32ca3a3879f33632ee68e3434ae5fa1bb729c6a7e9d8b4f43c000000078000000000\
         00000000000008100000",
    );
    let response_start = bytes("05000203100000000c01000007003fe09f23000000000000");
    let second = bytes(
        "050000031000000084000000080000006c00000000000b00000000007cee418014e1bb656d29970d\
         19add285000000003c00000045fa5ac7c12dccceca6d1834e67d7f0f79d7eab3c106facffe83517\
         27ac476434b8d52f9f3ffffff380aa317480f7f3530bfdb4fa51d7c57da42a3ec3c00000007800000\
         000000000f00000000000000",
    );
    assert_eq!((first.len(), second.len()), (132, 132));
    let frames = tcp_frames(&[(true, first), (false, response_start), (true, second)]);
    let (early, late) = (i64::MIN + (1 << 40), i64::MAX - (1 << 40));
    let analysis = analyze(&frames, &[early, early, early, early, late]);
    assert!(analysis.sessions.iter().all(|s| s.polling.calls <= 2));
}

/// `mutated_and_cut_conversations` (analyzer_properties.rs), the same overflow through the
/// datagram's reaction window: a registration, then a notification datagram at the start of
/// time and the client's next call at its end.
#[test]
fn analyzer_properties_reaction_window_across_the_whole_time_range_overflowed() {
    let mut payloads = common::conversation_payloads();
    // An EcDoRpcExt2-shaped request after the registration: call_id 3, opnum 11.
    let mut rop = 0u32.to_le_bytes().to_vec();
    rop.extend_from_slice(&[0, 0, 11, 0]);
    rop.extend_from_slice(&[0; 20]);
    payloads.push((true, pdu(0, 3, &rop)));
    let mut frames = tcp_frames(&payloads);
    let datagram = common::conversation_frames().pop().unwrap();
    frames.insert(frames.len() - 1, datagram);
    let mut times = vec![0; frames.len()];
    let n = times.len();
    times[n - 2] = i64::MIN; // the datagram
    times[n - 1] = i64::MAX; // the client's call
    let analysis = analyze(&frames, &times);
    let session = &analysis.sessions[0];
    assert_eq!(session.datagrams.len(), 1);
    assert_eq!(
        session.datagrams[0].reaction_frame, None,
        "far outside the reaction window"
    );
}
