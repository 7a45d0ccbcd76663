//! Writes a scenario's frames as a capture file in one of the formats pushtrace reads, with
//! the writers of `pushtrace-capture`, and derives the variants the samples show: a file
//! cut in the middle of a record, frames cut by a snap length. [`FrameWriter`] streams pcap
//! (formats.md §1) and pcapng (§2) frame by frame to any writer, for captures too large to
//! hold in memory.

use crate::net::SimFrame;
use anyhow::{anyhow, Result};
use pushtrace_capture::netmon::NetMonWriter;
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};
use std::io::{self, Write};

/// The container formats the samples come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic pcap, microsecond timestamps (`.pcap`).
    PcapMicros,
    /// Classic pcap, nanosecond timestamps.
    PcapNanos,
    /// pcapng with one Ethernet interface at nanosecond resolution (`.pcapng`).
    PcapNg,
    /// Network Monitor 2.3 with per-frame UTC times (`.cap`).
    NetMon,
    /// Network Monitor 1.1: millisecond times relative to a local-time header (`.cap`).
    NetMon1,
}

impl FileFormat {
    /// The file-name extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::PcapMicros | FileFormat::PcapNanos => "pcap",
            FileFormat::PcapNg => "pcapng",
            FileFormat::NetMon | FileFormat::NetMon1 => "cap",
        }
    }

    /// The `format` name the report gives it.
    pub fn report_name(self) -> &'static str {
        match self {
            FileFormat::PcapMicros | FileFormat::PcapNanos => "pcap",
            FileFormat::PcapNg => "pcapng",
            FileFormat::NetMon => "netmon2",
            FileFormat::NetMon1 => "netmon1",
        }
    }
}

const ETHERNET: u16 = 1;
const NETMON_ETHERNET: u16 = 1;

/// Serialises `frames` as `format`, each cut to `snaplen` bytes when given.
pub fn write(frames: &[SimFrame], format: FileFormat, snaplen: Option<u32>) -> Result<Vec<u8>> {
    fn cut(f: &SimFrame, snaplen: Option<u32>) -> (&[u8], u32) {
        let keep = snaplen.map_or(f.bytes.len(), |s| f.bytes.len().min(s as usize));
        (&f.bytes[..keep], f.bytes.len() as u32)
    }
    match format {
        FileFormat::PcapMicros | FileFormat::PcapNanos | FileFormat::PcapNg => {
            let mut w = FrameWriter::new(Vec::new(), format, snaplen)?;
            for f in frames {
                let (data, orig) = cut(f, snaplen);
                w.write(f.ts_ns, data, orig)?;
            }
            Ok(w.into_inner())
        }
        FileFormat::NetMon | FileFormat::NetMon1 => {
            let start = frames.first().map_or(0, |f| f.ts_ns);
            let version = if format == FileFormat::NetMon {
                (2, 3)
            } else {
                (1, 1)
            };
            let mut w =
                NetMonWriter::new(version, NETMON_ETHERNET, start).map_err(|e| anyhow!("{e}"))?;
            for f in frames {
                let (data, orig) = cut(f, snaplen);
                w.add_frame(f.ts_ns, NETMON_ETHERNET, data, orig)
                    .map_err(|e| anyhow!("{e}"))?;
            }
            Ok(w.to_bytes())
        }
    }
}

/// Snap length written into headers when frames are not cut.
const DEFAULT_SNAPLEN: u32 = 262_144;

/// Writes frames one at a time as pcap or pcapng to any writer; nothing is held back, so
/// memory does not grow with the capture. (Network Monitor files need their frame table at
/// the end and are written whole by [`write`].)
pub enum FrameWriter<W: Write> {
    /// Classic pcap.
    Pcap(PcapWriter<W>),
    /// pcapng with one Ethernet interface at nanosecond resolution.
    PcapNg(PcapNgWriter<W>),
}

impl<W: Write> FrameWriter<W> {
    /// Writes the file header (and, for pcapng, the section and interface blocks).
    /// `snaplen` is the snap length stated in the header (frames are not cut here).
    pub fn new(out: W, format: FileFormat, snaplen: Option<u32>) -> Result<Self> {
        let snap = snaplen.unwrap_or(DEFAULT_SNAPLEN);
        match format {
            FileFormat::PcapMicros | FileFormat::PcapNanos => {
                let options = PcapOptions {
                    nanos: format == FileFormat::PcapNanos,
                    linktype: ETHERNET,
                    snaplen: snap,
                    ..PcapOptions::default()
                };
                Ok(FrameWriter::Pcap(PcapWriter::new(out, options)?))
            }
            FileFormat::PcapNg => {
                let mut w = PcapNgWriter::new(out);
                w.new_section(false)?;
                // The first interface of the section: id 0.
                w.add_interface(ETHERNET, snap, Some(9), None)?;
                Ok(FrameWriter::PcapNg(w))
            }
            _ => Err(anyhow!(
                "{} files cannot be written frame by frame",
                format.report_name()
            )),
        }
    }

    /// Writes one Ethernet frame captured at `ts_ns` (`data` may be shorter than `orig_len`).
    pub fn write(&mut self, ts_ns: i64, data: &[u8], orig_len: u32) -> io::Result<()> {
        match self {
            FrameWriter::Pcap(w) => w.write_frame(ts_ns, data, orig_len),
            FrameWriter::PcapNg(w) => w.write_epb(0, ts_ns, data, orig_len),
        }
    }

    /// Finishes writing and returns the output.
    pub fn into_inner(self) -> W {
        match self {
            FrameWriter::Pcap(w) => w.into_inner(),
            FrameWriter::PcapNg(w) => w.into_inner(),
        }
    }
}
