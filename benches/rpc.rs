//! DCE/RPC and EMSMDB throughput: the framer (`frame_pdu`) over a stream of PDUs, the
//! per-connection engine (`RpcConnection`) fed that stream in TCP-sized pieces (binds,
//! fragmented requests and responses, call pairing and stub reassembly), and the EMSMDB NDR
//! decoder on an `EcRRegisterPushNotification` request stub.
//!
//! Run with `cargo bench --bench rpc`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushtrace_core::dcerpc::pdu::{frame_pdu, Framing};
use pushtrace_core::dcerpc::{RpcConnection, RpcLimits};
use pushtrace_core::emsmdb::{self, CallbackAddress, NdrFormat};
use pushtrace_core::flow::Direction;
use pushtrace_samples::net::Rng;
use pushtrace_samples::rpc::{Context, PduWriter, EMSMDB, NDR20};
use std::hint::black_box;
use std::net::SocketAddr;

/// Calls in the stream.
const CALLS: u32 = 200;
/// Bytes per TCP delivery.
const MSS: usize = 1460;

/// An EMSMDB association as the messages each side sends, in order: the bind and its ack,
/// then `CALLS` `EcDoRpcExt2` calls with ROP buffers of 100 bytes to 12 KB each way
/// (fragmented at 4280 stub bytes, as Outlook does). Each message is its PDUs back to back.
fn association() -> Vec<(Direction, Vec<u8>)> {
    let mut rng = Rng::new(7);
    let w = PduWriter::new(true, None);
    let context = Context {
        id: 0,
        interface: EMSMDB,
        version: (0, 81),
        transfer: NDR20,
    };
    let mut messages = vec![
        (Direction::ToResponder, w.bind(1, &[context], false)),
        (
            Direction::ToInitiator,
            w.bind_ack(1, "1032", &[Some(NDR20)], false),
        ),
    ];
    let handle = [7u8; 20];
    let format = NdrFormat::NDR20_LE;
    for call_id in 2..2 + CALLS {
        let len = rng.range(100, 12_000) as usize;
        let rops = rng.bytes(len);
        let request = emsmdb::encode_rpc_ext2_request(format, &handle, &rops);
        let response = emsmdb::encode_rpc_ext2_response(format, &handle, &rops);
        let request = w.request(call_id, 0, emsmdb::OP_DO_RPC_EXT2, &request, 4280, &mut rng);
        let response = w.response(call_id, 0, &response, 4280, &mut rng);
        messages.push((Direction::ToResponder, request.concat()));
        messages.push((Direction::ToInitiator, response.concat()));
    }
    messages
}

fn bench_framer(c: &mut Criterion) {
    let stream: Vec<u8> = association()
        .into_iter()
        .filter(|(dir, _)| *dir == Direction::ToResponder)
        .flat_map(|(_, bytes)| bytes)
        .collect();
    let mut group = c.benchmark_group("dcerpc");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("frame_pdu", |b| {
        b.iter(|| {
            let mut rest = black_box(&stream[..]);
            let mut pdus = 0;
            while let Framing::Complete { len } = frame_pdu(rest) {
                rest = rest.get(len..).unwrap_or_default();
                pdus += 1;
            }
            pdus
        })
    });
    group.finish();
}

fn bench_connection(c: &mut Criterion) {
    let messages = association();
    let total: usize = messages.iter().map(|(_, m)| m.len()).sum();
    let mut group = c.benchmark_group("dcerpc");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("rpc_connection", |b| {
        b.iter(|| {
            let mut conn = RpcConnection::new(RpcLimits::default());
            let mut events = Vec::new();
            let mut seen = 0;
            let mut frame = 0;
            for (dir, message) in &messages {
                // Delivered as TCP would: MSS-sized pieces, one frame each.
                for piece in message.chunks(MSS) {
                    frame += 1;
                    conn.feed(*dir, black_box(piece), frame, 0, &mut events);
                }
                seen += events.len();
                events.clear();
            }
            conn.finish(&mut events);
            seen + events.len()
        })
    });
    group.finish();
}

fn bench_ndr(c: &mut Criterion) {
    let handle = [0x11u8; 20];
    let context = [0xd0, 0x27, 1, 2, 3, 4, 5, 6];
    let callback = "10.0.0.21:1088".parse::<SocketAddr>().expect("an address");
    let stub = emsmdb::encode_register_push_request(
        NdrFormat::NDR20_LE,
        &handle,
        &context,
        &CallbackAddress::encode_windows(callback),
        0xa5,
    );
    let mut group = c.benchmark_group("emsmdb");
    group.throughput(Throughput::Bytes(stub.len() as u64));
    group.bench_function("decode_register_push_request", |b| {
        b.iter(|| emsmdb::decode_register_push_request(black_box(&stub), NdrFormat::NDR20_LE))
    });
    group.finish();
}

criterion_group!(benches, bench_framer, bench_connection, bench_ndr);
criterion_main!(benches);
