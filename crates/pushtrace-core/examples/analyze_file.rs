//! The one-call API: a capture file in, the report out.
//!
//! `cargo run -p pushtrace-core --example analyze_file -- samples/udp-blocked-icmp.pcapng`

use pushtrace_core::engine::{analyze_path, AnalyzeOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "samples/healthy-push.pcapng".into());
    let report = analyze_path(&path, &AnalyzeOptions::default())?;
    println!("overall: {}", report.verdict.as_str());
    for s in &report.sessions {
        println!("{} -> {}: {}", s.client, s.server, s.verdict.as_str());
        for e in &s.evidence {
            println!("  {} {:?}", e.text, e.frames);
        }
    }
    Ok(())
}
