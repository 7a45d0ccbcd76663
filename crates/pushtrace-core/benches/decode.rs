//! Decoder throughput on typical frames, and etherparse's strict vs lax slicer on the same
//! bytes (the decoder uses the lax slicer for every frame; this bench is why).
//!
//! Run with `cargo bench -p pushtrace-core --bench decode`.

use criterion::{criterion_group, criterion_main, Criterion};
use etherparse::{LaxSlicedPacket, PacketBuilder, SlicedPacket};
use pushtrace_core::decode::{Decoded, Decoder};
use pushtrace_core::{Frame, LinkType};
use std::hint::black_box;

/// Ethernet + IPv4 + TCP (ACK) with a 1200-byte payload: the bulk of a DCE/RPC capture.
fn ethernet_tcp() -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11])
        .ipv4([192, 168, 0, 2], [192, 168, 0, 173], 128)
        .tcp(135, 49731, 1_000_000, 65535)
        .ack(2_000_000)
        .write(&mut bytes, &[0x5A; 1200])
        .expect("a valid packet");
    bytes
}

/// Ethernet + IPv4 + UDP notification datagram with a 16-byte payload.
fn ethernet_udp() -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11])
        .ipv4([192, 168, 0, 2], [192, 168, 0, 173], 128)
        .udp(1032, 1073)
        .write(&mut bytes, &[0xAB; 16])
        .expect("a valid packet");
    bytes
}

fn frame(data: &[u8], orig_len: usize) -> Frame<'_> {
    Frame {
        number: 1,
        ts_ns: 0,
        link: LinkType::ETHERNET,
        data,
        orig_len: orig_len as u32,
    }
}

fn count_packets(decoder: &mut Decoder, frame: &Frame<'_>) -> usize {
    usize::from(matches!(decoder.decode(frame), Decoded::Packet(_)))
}

fn bench_decoder(c: &mut Criterion) {
    let tcp = ethernet_tcp();
    let udp = ethernet_udp();
    let mut decoder = Decoder::default();
    c.bench_function("decoder/ethernet_tcp_1200", |b| {
        b.iter(|| count_packets(&mut decoder, &frame(black_box(&tcp), tcp.len())))
    });
    // The same whole frame, claimed one byte longer on the wire: it takes the lax-only path.
    c.bench_function("decoder/ethernet_tcp_1200_lax_path", |b| {
        b.iter(|| count_packets(&mut decoder, &frame(black_box(&tcp), tcp.len() + 1)))
    });
    c.bench_function("decoder/ethernet_tcp_snaplen_96", |b| {
        b.iter(|| count_packets(&mut decoder, &frame(black_box(&tcp[..96]), tcp.len())))
    });
    c.bench_function("decoder/ethernet_udp_16", |b| {
        b.iter(|| count_packets(&mut decoder, &frame(black_box(&udp), udp.len())))
    });
}

fn bench_slicers(c: &mut Criterion) {
    let tcp = ethernet_tcp();
    let ip = &tcp[14..];
    let cut = &tcp[14..96];
    c.bench_function("etherparse/strict_from_ip_tcp", |b| {
        b.iter(|| SlicedPacket::from_ip(black_box(ip)).map(|p| p.transport.is_some()))
    });
    c.bench_function("etherparse/lax_from_ip_tcp", |b| {
        b.iter(|| LaxSlicedPacket::from_ip(black_box(ip)).map(|p| p.transport.is_some()))
    });
    c.bench_function("etherparse/strict_then_lax_cut_tcp", |b| {
        b.iter(|| match SlicedPacket::from_ip(black_box(cut)) {
            Ok(p) => p.transport.is_some(),
            Err(_) => LaxSlicedPacket::from_ip(cut).is_ok_and(|p| p.transport.is_some()),
        })
    });
    c.bench_function("etherparse/lax_from_ip_cut_tcp", |b| {
        b.iter(|| LaxSlicedPacket::from_ip(black_box(cut)).is_ok_and(|p| p.transport.is_some()))
    });
}

criterion_group!(benches, bench_decoder, bench_slicers);
criterion_main!(benches);
