//! Frames for the engine's integration tests: a DCE/RPC conversation over TCP in Ethernet
//! frames, built from the PDU layouts (C706 ch. 12; protocol.md §1–§2).

use etherparse::PacketBuilder;
use pushtrace_core::engine::{AnalyzeOptions, Analyzer, TraceAnalysis};
use pushtrace_core::{Frame, LinkType};

/// Feeds Ethernet frames, frame `i` at `times[i]`, through an analyzer and finishes it.
pub fn analyze(frames: &[Vec<u8>], times: &[i64]) -> TraceAnalysis {
    let mut analyzer = Analyzer::new(0, &AnalyzeOptions::default());
    for (i, (data, ts_ns)) in frames.iter().zip(times).enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: *ts_ns,
            link: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            options: Default::default(),
        });
    }
    analyzer.finish()
}

/// A little-endian DCE/RPC PDU: common header (FIRST|LAST) then `body`.
pub fn pdu(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    out.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&call_id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A bind proposing EMSMDB (a4f1db00-ca47-1067-b31f-00dd010662da v0.81) over NDR on
/// context 0, an opnum-4 request and a response: an EMSMDB registration in three PDUs.
pub fn conversation_payloads() -> Vec<(bool, Vec<u8>)> {
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

/// The client and the server of the test conversations.
const CLIENT: [u8; 4] = [10, 0, 0, 21];
const SERVER: [u8; 4] = [10, 0, 0, 5];

/// A TCP connection as Ethernet frames: the handshake, then one segment per payload, from
/// the client (`true`) or the server.
pub fn tcp_frames(payloads: &[(bool, Vec<u8>)]) -> Vec<Vec<u8>> {
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
    for (from_client, payload) in payloads {
        segment(*from_client, false, payload, &mut seq);
    }
    frames
}

/// The registration conversation as Ethernet frames and the notification datagram that
/// follows it.
pub fn conversation_frames() -> Vec<Vec<u8>> {
    let mut frames = tcp_frames(&conversation_payloads());
    let mut datagram = Vec::new();
    PacketBuilder::ethernet2([4; 6], [2; 6])
        .ipv4(SERVER, CLIENT, 128)
        .udp(3105, 3333)
        .write(&mut datagram, b"ctx-0001")
        .unwrap();
    frames.push(datagram);
    frames
}
