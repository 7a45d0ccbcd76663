//! The streaming API: feed frames from any source, then finish. Here the frames come from
//! pushtrace's own reader, but a program can build `Frame`s from live capture or its own
//! buffers; memory stays bounded however many frames it feeds.
//!
//! `cargo run -p pushtrace-core --example stream_frames -- samples/registration-refused.pcapng`

use pushtrace_core::capture::CaptureReader;
use pushtrace_core::engine::{AnalyzeOptions, Analyzer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "samples/healthy-push.pcapng".into());
    let mut reader = CaptureReader::open(&path)?;
    let mut analyzer = Analyzer::new(0, &AnalyzeOptions::default());
    while let Some(frame) = reader.next_frame() {
        analyzer.feed(&frame);
    }
    let result = analyzer.finish();
    for s in &result.sessions {
        let json = serde_json::to_string_pretty(s)?;
        println!("{json}");
    }
    Ok(())
}
