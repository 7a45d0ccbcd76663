//! Streaming readers for packet capture files: classic pcap, pcapng and Microsoft Network
//! Monitor 1.x/2.x, optionally wrapped in gzip or zstd, from a file or standard input.
//!
//! The format is detected from the first bytes, never from the file name. Every reader
//! yields [`Frame`]s in file order with Wireshark's frame numbering, an absolute UTC
//! timestamp in nanoseconds, the link type, the interface and the captured bytes, borrowed
//! from the reader's buffer (no copy); a pcapng packet's options (comments) are parsed only
//! when asked for ([`PacketOptions`]). Memory use does not grow with the number of frames:
//! regular files are memory-mapped (on Linux, from 16 MiB on, a helper thread maps the
//! pages a little ahead of the reader and unmaps those it has passed, so that the reader
//! neither waits for the kernel nor keeps the whole file resident), pcap and pcapng streams
//! are read through a bounded window (decompressed data ahead, by a thread of their own, into a few recycled buffers,
//! so that decompression overlaps the caller's work), and Network Monitor streams (which
//! need random access) are spooled to a temporary file.
//!
//! Bad input is normal input: a damaged or truncated file yields every complete frame it
//! holds and a [`Warning`] saying where and why reading stopped or a record was skipped.
//! Only an input that is not a capture at all (or cannot be opened) is an error
//! ([`CaptureError`]).
//!
//! The [`write`](mod@write) module writes pcap and pcapng files, for tests and sample generation.
//!
//! ```no_run
//! use pushtrace_capture::CaptureReader;
//! let mut reader = CaptureReader::open("trace.pcapng").expect("a capture");
//! println!("{:?}", reader.info().format);
//! while let Some(frame) = reader.next_frame() {
//!     println!("{} {} {} bytes", frame.number, frame.ts_ns, frame.data.len());
//! }
//! for warning in reader.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! ```
//!
//! `unsafe` is denied everywhere except in one private module that memory-maps files,
//! unmaps the pages a reader has passed and hints the CPU to prefetch the next record.

#![deny(unsafe_code)]

mod chunks;
mod detect;
mod edges;
mod error;
mod frame;
mod info;
mod mmap;
pub mod netmon;
mod pcap;
mod pcapng;
mod reader;
mod record;
mod warning;
mod window;
pub mod write;

pub use detect::is_capture_prefix;
pub use edges::{edges, Edges, OwnedFrame};
pub use error::CaptureError;
pub use frame::{Frame, LinkType, PacketOptions, OPT_COMMENT};
pub use info::{
    ByteOrder, Compression, Format, FormatInfo, ReadOptions, ReadStats, TimestampPrecision,
};
pub use reader::CaptureReader;
pub use warning::Warning;
