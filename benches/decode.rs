//! Decoder throughput on typical frames (the common case the decoder reads itself, and the
//! paths through etherparse's slicers), and etherparse's strict vs lax slicer on the same
//! bytes (why whole frames try the strict one first).
//!
//! Run with `cargo bench --bench decode`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        interface: 0,
        options: Default::default(),
    }
}

fn count_packets(decoder: &mut Decoder, frame: &Frame<'_>) -> usize {
    usize::from(matches!(decoder.decode(frame), Decoded::Packet(_)))
}

/// Ethernet + IPv4 with a 4-byte option (IHL 6) + TCP: not the common case, so it takes
/// etherparse's strict slicer.
fn ethernet_ipv4_options_tcp() -> Vec<u8> {
    let mut bytes = ethernet_tcp();
    // IHL 6, total length + 4, then a NOP-NOP-NOP-EOL option after the 20-byte header.
    bytes[14] = 0x46;
    let total = u16::from_be_bytes([bytes[16], bytes[17]]) + 4;
    bytes[16..18].copy_from_slice(&total.to_be_bytes());
    bytes.splice(34..34, [1, 1, 1, 0]);
    bytes
}

fn bench_decoder(c: &mut Criterion) {
    let tcp = ethernet_tcp();
    let udp = ethernet_udp();
    let options = ethernet_ipv4_options_tcp();
    let mut decoder = Decoder::default();
    let mut group = c.benchmark_group("decoder");
    let cases: [(&str, &[u8], usize); 5] = [
        // The common case: read without etherparse's packet slicer.
        ("ethernet_tcp_1200", &tcp, tcp.len()),
        ("ethernet_udp_16", &udp, udp.len()),
        // IPv4 options: the strict slicer.
        ("ethernet_ipv4_options_tcp_1200", &options, options.len()),
        // The same whole frame, claimed one byte longer on the wire: the lax-only path.
        ("ethernet_tcp_1200_lax_path", &tcp, tcp.len() + 1),
        ("ethernet_tcp_snaplen_96", &tcp[..96], tcp.len()),
    ];
    for (name, data, orig_len) in cases {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| count_packets(&mut decoder, &frame(black_box(data), orig_len)))
        });
    }
    group.finish();
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
