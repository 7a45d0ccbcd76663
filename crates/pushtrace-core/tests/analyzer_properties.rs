//! The whole engine on hostile frames: arbitrary bytes under arbitrary link types, and a
//! plausible DCE/RPC conversation with bytes flipped and frames cut, fed through
//! [`Analyzer`] must never panic, must count every frame, and must finish with a report that
//! serialises. The same holds for the fuzz targets in `fuzz/`; these are their fast,
//! deterministic form.

use etherparse::PacketBuilder;
use proptest::prelude::*;
use pushtrace_core::engine::{AnalyzeOptions, Analyzer};
use pushtrace_core::{Frame, LinkType};

/// Link types the decoder reads, plus a few it does not.
fn link_type() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::ETHERNET),
        Just(LinkType::RAW),
        Just(LinkType::NULL),
        Just(LinkType::LOOP),
        Just(LinkType::LINUX_SLL),
        Just(LinkType::LINUX_SLL2),
        Just(LinkType::IPV4),
        Just(LinkType::IPV6),
        Just(LinkType::TOKEN_RING),
        Just(LinkType::FDDI),
        any::<u16>().prop_map(LinkType::Pcap),
        any::<u16>().prop_map(LinkType::NetMon),
    ]
}

/// Runs frames (link, time, bytes) through an analyzer; checks the counters and the report.
fn run(frames: &[(LinkType, i64, Vec<u8>)], collect_calls: bool) {
    let options = AnalyzeOptions {
        collect_calls,
        ..AnalyzeOptions::default()
    };
    let mut analyzer = Analyzer::new(0, &options);
    for (i, (link, ts_ns, data)) in frames.iter().enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: *ts_ns,
            link: *link,
            data,
            orig_len: data.len() as u32,
        });
    }
    let analysis = analyzer.finish();
    assert_eq!(
        analysis.counters["decode"]["frames"].as_u64(),
        Some(frames.len() as u64)
    );
    serde_json::to_string(&analysis.sessions).expect("sessions serialise");
    serde_json::to_string(&analysis.calls).expect("calls serialise");
}

/// A little-endian DCE/RPC PDU: common header (FIRST|LAST) then `body`.
fn pdu(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    out.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&call_id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A bind proposing EMSMDB (a4f1db00-ca47-1067-b31f-00dd010662da v0.81) over NDR on
/// context 0, an opnum-4 request and a response: an EMSMDB registration in three PDUs.
fn conversation_payloads() -> Vec<(bool, Vec<u8>)> {
    let mut bind = vec![0xd0, 0x16, 0xd0, 0x16, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0];
    bind.extend_from_slice(&[
        0x00, 0xdb, 0xf1, 0xa4, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1f, 0x00, 0xdd, 0x01, 0x06, 0x62,
        0xda,
    ]);
    bind.extend_from_slice(&[0, 0, 81, 0]);
    bind.extend_from_slice(&[
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60, 2, 0, 0, 0,
    ]);
    let mut ack = vec![0xd0, 0x16, 0xd0, 0x16, 0x45, 0x23, 0, 0, 5, 0];
    ack.extend_from_slice(b"6001\0");
    ack.push(0); // pads the secondary address to a 4-byte boundary
    ack.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    ack.extend_from_slice(&[
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60, 2, 0, 0, 0,
    ]);
    // Context handle, iRpc, rgbContext [8], cbContext, grbitAdviseBits, SOCKADDR_IN [16].
    let mut stub = vec![0; 20];
    stub.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0]);
    stub.extend_from_slice(b"ctx-0001");
    stub.extend_from_slice(&[8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 16, 0, 0, 0]);
    stub.extend_from_slice(&[2, 0, 0x0d, 0x05, 10, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0]);
    stub.extend_from_slice(&[16, 0]);
    let mut request = (stub.len() as u32).to_le_bytes().to_vec();
    request.extend_from_slice(&[0, 0, 4, 0]);
    request.extend_from_slice(&stub);
    let mut response = 28u32.to_le_bytes().to_vec();
    response.extend_from_slice(&[0, 0, 0, 0]);
    response.extend_from_slice(&[0; 28]);
    vec![
        (true, pdu(11, 1, &bind)),
        (false, pdu(12, 1, &ack)),
        (true, pdu(0, 2, &request)),
        (false, pdu(2, 2, &response)),
    ]
}

/// The conversation as Ethernet frames (handshake, then one segment per PDU) and the
/// notification datagram that follows it.
fn conversation_frames() -> Vec<Vec<u8>> {
    const CLIENT: [u8; 4] = [10, 0, 0, 21];
    const SERVER: [u8; 4] = [10, 0, 0, 5];
    let mut seq = [1000u32, 5000u32];
    let mut frames = Vec::new();
    let mut segment = |from_client: bool, syn: bool, payload: &[u8], seq: &mut [u32; 2]| {
        let (src, dst, sport, dport, i) = if from_client {
            (CLIENT, SERVER, 50_000, 6001, 0)
        } else {
            (SERVER, CLIENT, 6001, 50_000, 1)
        };
        let mut b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 128)
            .tcp(sport, dport, seq[i], 64_000);
        if syn {
            b = b.syn();
        }
        if !(syn && from_client) {
            b = b.ack(seq[1 - i]);
        }
        let mut bytes = Vec::new();
        b.write(&mut bytes, payload).unwrap();
        seq[i] = seq[i].wrapping_add(payload.len() as u32 + u32::from(syn));
        frames.push(bytes);
    };
    segment(true, true, &[], &mut seq);
    segment(false, true, &[], &mut seq);
    for (from_client, payload) in conversation_payloads() {
        segment(from_client, false, &payload, &mut seq);
    }
    let mut datagram = Vec::new();
    PacketBuilder::ethernet2([4; 6], [2; 6])
        .ipv4(SERVER, CLIENT, 128)
        .udp(3105, 3333)
        .write(&mut datagram, b"ctx-0001")
        .unwrap();
    frames.push(datagram);
    frames
}

#[test]
fn the_conversation_is_a_flowing_registration() {
    // The unmutated base of the property below must itself mean something.
    let frames: Vec<_> = conversation_frames()
        .into_iter()
        .enumerate()
        .map(|(i, f)| (LinkType::ETHERNET, i as i64 * 1_000_000, f))
        .collect();
    let mut analyzer = Analyzer::new(0, &AnalyzeOptions::default());
    for (i, (link, ts_ns, data)) in frames.iter().enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: *ts_ns,
            link: *link,
            data,
            orig_len: data.len() as u32,
        });
    }
    let analysis = analyzer.finish();
    assert_eq!(analysis.sessions.len(), 1);
    let session = &analysis.sessions[0];
    assert_eq!(session.registrations.len(), 1);
    assert_eq!(
        session.registrations[0].callback.as_deref(),
        Some("10.0.0.21:3333")
    );
    assert_eq!(session.datagrams.len(), 1);
    assert_eq!(session.datagrams[0].matches_context, Some(true));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_frames_with_arbitrary_link_types(
        frames in proptest::collection::vec(
            (link_type(), any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..40,
        ),
        collect_calls: bool,
    ) {
        run(&frames, collect_calls);
    }

    #[test]
    fn mutated_and_cut_conversations(
        flips in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()),
            0..12,
        ),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..3),
        order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
        times in proptest::collection::vec(any::<i64>(), 8),
    ) {
        let mut frames = conversation_frames();
        for (frame, at, value) in flips {
            let f = frame.get(&frames).len();
            let i = frame.index(frames.len());
            if f > 0 {
                frames[i][at.index(f)] = value;
            }
        }
        for (frame, at) in cuts {
            let i = frame.index(frames.len());
            let keep = at.index(frames[i].len() + 1);
            frames[i].truncate(keep);
        }
        // Swap two frames now and then: reordering is normal input too.
        if order % 3 == 0 {
            let (a, b) = ((order >> 8) as usize % frames.len(), (order >> 16) as usize % frames.len());
            frames.swap(a, b);
        }
        let frames: Vec<_> = frames
            .into_iter()
            .zip(times)
            .map(|(f, t)| (LinkType::ETHERNET, t, f))
            .collect();
        run(&frames, true);
    }
}
