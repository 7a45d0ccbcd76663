//! What a reader tells about its input: the detected format ([`FormatInfo`]), the options
//! that change how it is read ([`ReadOptions`]) and the running totals ([`ReadStats`]).
//!
//! `FormatInfo` and `ReadStats` are part of the JSON contract: their serialized names are
//! stable (formats.md §0.1 for the formats, §3.4 for Network Monitor local times).

use crate::LinkType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Format {
    /// Classic libpcap, any magic (µs, ns, modified), either byte order.
    #[serde(rename = "pcap")]
    Pcap,
    /// pcapng, one or more sections.
    #[serde(rename = "pcapng")]
    PcapNg,
    /// Microsoft Network Monitor 1.x (`RTSS`).
    #[serde(rename = "netmon1")]
    NetMon1,
    /// Microsoft Network Monitor 2.x (`GMBU`).
    #[serde(rename = "netmon2")]
    NetMon2,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
            Format::NetMon1 => "Network Monitor 1.x",
            Format::NetMon2 => "Network Monitor 2.x",
        })
    }
}

/// The compression wrapped around the capture, detected by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (one or more members).
    Gzip,
    /// Zstandard (one or more frames).
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Byte order of the file's integers (for pcapng: of its first section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

/// The resolution of the timestamps stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampPrecision {
    /// Milliseconds (Network Monitor 1.x).
    Milliseconds,
    /// Microseconds (pcap, Network Monitor 2.0–2.2).
    Microseconds,
    /// 100-nanosecond FILETIME units (Network Monitor 2.3).
    HundredNanoseconds,
    /// Nanoseconds (pcap with the nanosecond magic).
    Nanoseconds,
    /// Set per interface (pcapng `if_tsresol`).
    PerInterface,
}

/// What the reader detected about its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatInfo {
    /// The container format.
    pub format: Format,
    /// The format's version from its header, e.g. `2.4` (pcap), `1.0` (pcapng), `2.3`.
    pub version: String,
    /// Byte order of the header (pcapng: of the first section; later sections may differ).
    pub byte_order: ByteOrder,
    /// Resolution of the stored timestamps.
    pub timestamp_precision: TimestampPrecision,
    /// The compression the capture was wrapped in, if any.
    pub compression: Option<Compression>,
    /// True when frame times derive from a local clock with no zone (Network Monitor before
    /// 2.3): they were read as UTC and shifted by [`ReadOptions::netmon_utc_offset_secs`].
    pub times_are_local: bool,
}

/// Options that change how a capture is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// The capturing host's offset from UTC, in seconds, used for Network Monitor files
    /// whose header time is local time (before 2.3). 0 reads those times as UTC.
    pub netmon_utc_offset_secs: i64,
}

/// Running totals over the frames yielded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Frames yielded.
    pub frames: u64,
    /// Sum of the captured bytes of those frames.
    pub captured_bytes: u64,
    /// Frames holding fewer bytes than were on the wire.
    pub truncated_frames: u64,
    /// Frames per link type. Serialized as a list of `{"link", "frames"}` objects, because
    /// several link types share a display name (12, 14 and 101 are all `RAW`).
    #[serde(serialize_with = "serialize_link_counts")]
    pub frames_by_link: BTreeMap<LinkType, u64>,
    /// Timestamp of the first frame, in file order.
    pub first_ts_ns: Option<i64>,
    /// Timestamp of the last frame, in file order.
    pub last_ts_ns: Option<i64>,
    /// Records skipped because they were damaged, too large or unusable (each has a warning).
    pub skipped_records: u64,
    /// pcapng blocks that carry no packet (name resolution, statistics, secrets, custom,
    /// unknown types), skipped without a warning.
    pub other_blocks: u64,
}

impl ReadStats {
    /// Adds one yielded frame to the totals.
    pub(crate) fn count(&mut self, ts_ns: i64, link: LinkType, captured: usize, truncated: bool) {
        self.frames += 1;
        self.captured_bytes += captured as u64;
        self.truncated_frames += u64::from(truncated);
        *self.frames_by_link.entry(link).or_insert(0) += 1;
        self.first_ts_ns.get_or_insert(ts_ns);
        self.last_ts_ns = Some(ts_ns);
    }
}

/// One entry of the serialized `frames_by_link` list.
#[derive(Serialize)]
struct LinkCount {
    link: LinkType,
    frames: u64,
}

fn serialize_link_counts<S: serde::Serializer>(
    counts: &BTreeMap<LinkType, u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        counts
            .iter()
            .map(|(&link, &frames)| LinkCount { link, frames }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_follow_the_json_contract() {
        let names: Vec<String> = [
            Format::Pcap,
            Format::PcapNg,
            Format::NetMon1,
            Format::NetMon2,
        ]
        .iter()
        .map(|f| serde_json::to_string(f).unwrap())
        .collect();
        assert_eq!(
            names,
            [r#""pcap""#, r#""pcapng""#, r#""netmon1""#, r#""netmon2""#]
        );
    }

    #[test]
    fn format_info_serializes_with_stable_names() {
        let info = FormatInfo {
            format: Format::NetMon2,
            version: "2.3".into(),
            byte_order: ByteOrder::Little,
            timestamp_precision: TimestampPrecision::HundredNanoseconds,
            compression: Some(Compression::Zstd),
            times_are_local: false,
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"format":"netmon2","version":"2.3","byte_order":"little","timestamp_precision":"hundred_nanoseconds","compression":"zstd","times_are_local":false}"#
        );
    }

    #[test]
    fn stats_count_frames_per_link_and_keep_first_and_last_times() {
        let mut stats = ReadStats::default();
        stats.count(30, LinkType::ETHERNET, 60, false);
        stats.count(10, LinkType::RAW, 40, true);
        stats.count(20, LinkType::ETHERNET, 1, false);
        assert_eq!(stats.frames, 3);
        assert_eq!(stats.captured_bytes, 101);
        assert_eq!(stats.truncated_frames, 1);
        assert_eq!(stats.frames_by_link[&LinkType::ETHERNET], 2);
        assert_eq!(stats.frames_by_link[&LinkType::RAW], 1);
        assert_eq!((stats.first_ts_ns, stats.last_ts_ns), (Some(30), Some(20)));
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(
            json["frames_by_link"],
            serde_json::json!([{"link": "ETHERNET", "frames": 2}, {"link": "RAW", "frames": 1}])
        );
    }
}
