//! `pushtrace-bigcap --size 1G -o big.pcap`: writes a large synthetic capture for benchmarks
//! (busy-network background traffic with planted EMSMDB sessions; see
//! `pushtrace_samples::bigcap`), streaming to disk in bounded memory. Prints a JSON summary
//! (bytes, frames, the planted sessions and their expected verdicts) to stdout, or to the
//! `--summary` file.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use pushtrace_samples::bigcap::{generate, parse_size, BigcapOptions, Mix};
use pushtrace_samples::files::FileFormat;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Writes a large synthetic capture (background traffic with planted Outlook/Exchange
/// sessions), deterministic by seed.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Size of the file: bytes, or with a binary suffix K, M, G (e.g. 250M, 0.25G, 2G).
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Output file (`-` for standard output).
    #[arg(short, long)]
    output: PathBuf,
    /// Container format.
    #[arg(long, value_enum, default_value_t = Format::Pcap)]
    format: Format,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// EMSMDB sessions to plant (default: one per 32 MiB, at least 3).
    #[arg(long)]
    sessions: Option<usize>,
    /// Background traffic per second of capture time (bytes, suffixes as for --size).
    #[arg(long, value_parser = parse_size, default_value = "4M")]
    rate: u64,
    /// Write the JSON summary here instead of standard output.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// How TCP connections begin: with their handshake inside the capture, or before it
    /// (thousands open at its start, no SYN, many in the middle of a message).
    #[arg(long, value_enum, default_value_t = MixArg::Handshakes)]
    mix: MixArg,
}

/// The traffic mixes (see `pushtrace_samples::bigcap::Mix`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum MixArg {
    /// Connections start with their handshake inside the capture.
    Handshakes,
    /// Every connection began before the capture.
    Midstream,
}

/// Container formats the generator streams.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Classic pcap, microsecond timestamps.
    Pcap,
    /// Classic pcap, nanosecond timestamps.
    PcapNs,
    /// pcapng, one Ethernet interface, nanosecond timestamps.
    Pcapng,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.size == 0 {
        bail!("--size must be above zero");
    }
    let mut opts = BigcapOptions::with_size(args.size);
    opts.seed = args.seed;
    opts.rate = args.rate.max(1);
    opts.format = match args.format {
        Format::Pcap => FileFormat::PcapMicros,
        Format::PcapNs => FileFormat::PcapNanos,
        Format::Pcapng => FileFormat::PcapNg,
    };
    opts.mix = match args.mix {
        MixArg::Handshakes => Mix::Handshakes,
        MixArg::Midstream => Mix::Midstream,
    };
    if let Some(n) = args.sessions {
        opts.sessions = n;
    }
    let started = Instant::now();
    let to_stdout = args.output.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(io::stdout().lock())
    } else {
        let file = File::create(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?;
        Box::new(file)
    };
    let (summary, out) = generate(BufWriter::with_capacity(1 << 20, sink), &opts)?;
    out.into_inner().map_err(|e| e.into_error())?.flush()?;
    let secs = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "file": args.output.display().to_string(),
        "seconds": secs,
        "mb_per_s": summary.bytes as f64 / 1e6 / secs.max(1e-9),
        "mix": opts.mix.name(),
        "summary": summary,
    });
    let text = serde_json::to_string_pretty(&report)?;
    match &args.summary {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None if to_stdout => eprintln!("{text}"),
        None => println!("{text}"),
    }
    Ok(())
}
