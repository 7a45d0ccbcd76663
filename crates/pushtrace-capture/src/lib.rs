//! Streaming readers for packet capture files: classic pcap, pcapng and Microsoft Network
//! Monitor 1.x/2.x, optionally wrapped in gzip or zstd, from a file or standard input.
//!
//! The format is detected from the first bytes, never from the file name. Every reader
//! yields [`Frame`]s in file order with Wireshark's frame numbering, an absolute UTC
//! timestamp in nanoseconds, the link type and the captured bytes, borrowed from the
//! reader's buffer (no copy). Memory use does not grow with the number of frames: files are
//! memory-mapped, streams are read through a bounded window.
//!
//! Bad input is normal input: a damaged or truncated file yields every complete frame it
//! holds and a [`Warning`] saying where and why reading stopped or a record was skipped.
//! Only a file that is not a capture at all (or cannot be opened) is an error.
//!
//! ```no_run
//! use pushtrace_capture::CaptureReader;
//! let mut reader = CaptureReader::open("trace.pcapng").expect("a capture");
//! while let Some(frame) = reader.next_frame() {
//!     println!("{} {} {} bytes", frame.number, frame.ts_ns, frame.data.len());
//! }
//! for warning in reader.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! ```

#![forbid(unsafe_code)]

mod frame;
pub mod netmon;
mod warning;

pub use frame::{Frame, LinkType};
pub use warning::Warning;
/// TEMP
#[derive(Debug, Clone, serde::Serialize)]
pub struct FormatInfo {
    pub format: &'static str,
}
