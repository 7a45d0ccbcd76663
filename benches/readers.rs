//! Reader throughput from memory: the same frames (a slice of `pushtrace-bigcap`'s busy
//! network) as classic pcap (µs and ns), pcapng and Network Monitor 2.3, each walked frame
//! by frame with `CaptureReader::from_bytes`.
//!
//! Run with `cargo bench --bench readers`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pushtrace_core::capture::{CaptureReader, ReadOptions};
use pushtrace_samples::bigcap::{generate, BigcapOptions};
use pushtrace_samples::files::{self, FileFormat};
use pushtrace_samples::net::SimFrame;
use std::hint::black_box;

/// Bytes of traffic each file holds (about 16 MB).
const SIZE: u64 = 16 << 20;

/// The generated frames, read back from a pcap written in memory.
fn frames() -> Vec<SimFrame> {
    let (_, pcap) = generate(Vec::new(), &BigcapOptions::with_size(SIZE)).expect("generated");
    let mut reader = CaptureReader::from_bytes(pcap, &ReadOptions::default()).expect("a capture");
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame() {
        frames.push(SimFrame {
            ts_ns: frame.ts_ns,
            bytes: frame.data.to_vec(),
        });
    }
    frames
}

/// Walks every frame; returns the captured bytes (so the walk is not optimised away).
fn walk(bytes: Vec<u8>) -> usize {
    let mut reader = CaptureReader::from_bytes(bytes, &ReadOptions::default()).expect("a capture");
    let mut total = 0;
    while let Some(frame) = reader.next_frame() {
        total += frame.data.len();
    }
    total
}

fn bench_readers(c: &mut Criterion) {
    let frames = frames();
    let mut group = c.benchmark_group("readers");
    group.sample_size(20);
    for (name, format) in [
        ("pcap_us", FileFormat::PcapMicros),
        ("pcap_ns", FileFormat::PcapNanos),
        ("pcapng", FileFormat::PcapNg),
        ("netmon2", FileFormat::NetMon),
    ] {
        let file = files::write(&frames, format, None).expect("written");
        group.throughput(Throughput::Bytes(file.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || file.clone(),
                |v| black_box(walk(v)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_readers);
criterion_main!(benches);
