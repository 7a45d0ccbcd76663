//! Writes a scenario's frames as a capture file in one of the formats pushtrace reads, with
//! the writers of `pushtrace-capture`, and derives the variants the samples show: a file
//! cut in the middle of a record, frames cut by a snap length.

use crate::net::SimFrame;
use anyhow::{anyhow, Result};
use pushtrace_capture::netmon::NetMonWriter;
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};

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
    let snap = snaplen.unwrap_or(262_144);
    match format {
        FileFormat::PcapMicros | FileFormat::PcapNanos => {
            let options = PcapOptions {
                nanos: format == FileFormat::PcapNanos,
                linktype: ETHERNET,
                snaplen: snap,
                ..PcapOptions::default()
            };
            let mut w = PcapWriter::new(Vec::new(), options)?;
            for f in frames {
                let (data, orig) = cut(f, snaplen);
                w.write_frame(f.ts_ns, data, orig)?;
            }
            Ok(w.into_inner())
        }
        FileFormat::PcapNg => {
            let mut w = PcapNgWriter::new(Vec::new());
            w.new_section(false)?;
            let iface = w.add_interface(ETHERNET, snap, Some(9), None)?;
            for f in frames {
                let (data, orig) = cut(f, snaplen);
                w.write_epb(iface, f.ts_ns, data, orig)?;
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
