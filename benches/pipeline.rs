//! The whole pipeline on one large generated capture, stage by stage, in the same run: the
//! bare record walk (the floor), + decode, + TCP reassembly, the whole engine, and the
//! one-call analysis (see `support/stages.rs`). A custom harness: each round runs every
//! stage once, in turn, so that a noisy machine slows them alike; the table gives the median
//! over the rounds of wall time and of CPU time, as MB/s and frames/s, and each stage's
//! throughput as a fraction of the walk's.
//!
//! The capture (pcap, `pushtrace-bigcap`'s traffic) is generated once into
//! `target/bench-captures/` and reused. Environment:
//! * `PUSHTRACE_BENCH_SIZE`: its size (default `256M`; suffixes K, M, G);
//! * `PUSHTRACE_BENCH_ROUNDS`: rounds (default 5).
//!
//! Run with `cargo bench --bench pipeline`, or `cargo bench --bench pipeline -- decode engine`
//! for some stages only (the walk always runs: it is the floor).

#[path = "support/stages.rs"]
mod stages;

use pushtrace_samples::bigcap::{
    generate, parse_size, BigcapOptions, BigcapSummary, MODEL_VERSION,
};
use stages::Stage;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); `cargo test --benches` passes
    // nothing that asks for a benchmark: then only check that the harness starts.
    if !std::env::args().any(|a| a == "--bench") {
        println!("pipeline: run with `cargo bench --bench pipeline`");
        return;
    }
    let size = std::env::var("PUSHTRACE_BENCH_SIZE")
        .ok()
        .map(|s| parse_size(&s).expect("PUSHTRACE_BENCH_SIZE: a size like 256M or 1G"))
        .unwrap_or(256 << 20);
    let rounds: usize = std::env::var("PUSHTRACE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    // Stage names after `--` pick stages (the walk, the floor, always runs).
    let mut chosen: Vec<Stage> = std::env::args()
        .skip(1)
        .filter_map(|a| Stage::from_name(&a))
        .collect();
    if chosen.is_empty() {
        chosen = Stage::ALL.to_vec();
    }
    if !chosen.contains(&Stage::Walk) {
        chosen.insert(0, Stage::Walk);
    }
    let (path, planted) = capture(size);
    let bytes = std::fs::metadata(&path).expect("the capture exists").len();

    let mut wall: Vec<Vec<Duration>> = vec![Vec::new(); chosen.len()];
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); chosen.len()];
    let mut frames = 0;
    for round in 0..rounds {
        for (i, &stage) in chosen.iter().enumerate() {
            let cpu_before = thread_cpu_time();
            let started = Instant::now();
            let pass = stages::run(stage, &path).expect("the capture reads");
            wall[i].push(started.elapsed());
            if let (Some(before), Some(after)) = (cpu_before, thread_cpu_time()) {
                cpu[i].push(after.saturating_sub(before));
            }
            frames = pass.frames;
            if matches!(stage, Stage::Engine | Stage::Analyze) {
                assert_eq!(
                    pass.check,
                    planted,
                    "{} must find every planted session",
                    stage.name()
                );
            }
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }

    println!(
        "\npipeline on {} ({:.1} MB, {frames} frames), median of {rounds} rounds",
        path.display(),
        bytes as f64 / 1e6
    );
    println!(
        "{:<8} {:>10} {:>12} {:>14} {:>9} {:>12} {:>9}",
        "stage", "wall ms", "MB/s", "frames/s", "vs walk", "cpu MB/s", "vs walk"
    );
    let walk_wall = median(&wall[0]);
    let walk_cpu = median(&cpu[0]);
    for (i, stage) in chosen.iter().enumerate() {
        let w = median(&wall[i]);
        let c = median(&cpu[i]);
        let rate = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9);
        let ratio = |floor: Duration, d: Duration| floor.as_secs_f64() / d.as_secs_f64().max(1e-9);
        let (cpu_rate, cpu_ratio) = if cpu[i].is_empty() {
            ("n/a".to_string(), "n/a".to_string())
        } else {
            (
                format!("{:.0}", rate(c)),
                format!("{:.0}%", 100.0 * ratio(walk_cpu, c)),
            )
        };
        println!(
            "{:<8} {:>10.1} {:>12.0} {:>14.0} {:>8.0}% {:>12} {:>9}",
            stage.name(),
            w.as_secs_f64() * 1e3,
            rate(w),
            frames as f64 / w.as_secs_f64().max(1e-9),
            100.0 * ratio(walk_wall, w),
            cpu_rate,
            cpu_ratio,
        );
    }
}

/// The capture of `size` bytes (generated on first use) and the number of sessions planted.
fn capture(size: u64) -> (PathBuf, u64) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target.join("bench-captures");
    std::fs::create_dir_all(&dir).expect("target/bench-captures is writable");
    let path = dir.join(format!("pipeline-{size}-v{MODEL_VERSION}.pcap"));
    let summary_path = path.with_extension("json");
    if let Some(planted) = std::fs::read(&summary_path)
        .ok()
        .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        .and_then(|v| v["sessions"].as_array().map(|s| s.len() as u64))
        .filter(|_| path.exists())
    {
        return (path, planted);
    }
    eprintln!("generating {} ...", path.display());
    let started = Instant::now();
    let file = File::create(&path).expect("the capture can be created");
    let (summary, out): (BigcapSummary, _) = generate(
        BufWriter::with_capacity(1 << 20, file),
        &BigcapOptions::with_size(size),
    )
    .expect("the capture is written");
    out.into_inner().expect("the capture is flushed");
    eprintln!(
        "generated {:.1} MB in {:.1} s",
        summary.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let text = serde_json::to_vec_pretty(&summary).expect("serialisable");
    std::fs::write(&summary_path, text).expect("the summary is written");
    (path, summary.sessions.len() as u64)
}

/// CPU time of this thread so far (Linux: `/proc/thread-self/schedstat`), if known.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
