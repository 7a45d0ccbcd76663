//! End-to-end behaviour of `CaptureReader` on real bytes: detection, compression, damaged
//! and hostile input, progress and statistics, through every input path.

mod common;

use common::{drain, read_bytes, read_file, read_stream, ShortReads};
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};
use pushtrace_capture::{
    ByteOrder, CaptureError, CaptureReader, Compression, Format, LinkType, ReadOptions,
    TimestampPrecision,
};
use std::io::Write;

const T0: i64 = 1_700_000_000_000_000_000;

fn pcap(options: PcapOptions, frames: &[(i64, &[u8], u32)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), options).unwrap();
    for &(ts, data, orig) in frames {
        w.write_frame(ts, data, orig).unwrap();
    }
    w.into_inner()
}

/// Three Ethernet frames of 10, 20 and 30 bytes, little-endian µs pcap (24 + 3×16 + 60 bytes).
fn three_frames() -> Vec<u8> {
    pcap(
        PcapOptions::default(),
        &[
            (T0, &[1; 10], 10),
            (T0 + 1_000, &[2; 20], 20),
            (T0 + 2_000, &[3; 30], 64),
        ],
    )
}

/// A little-endian pcapng: SHB (28), IDB (20), EPBs for 10, 20 and 30 bytes (44, 52, 64).
fn three_blocks() -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    for (i, len) in [10usize, 20, 30].into_iter().enumerate() {
        w.write_epb(0, T0 + i as i64 * 1_000, &vec![i as u8; len], len as u32)
            .unwrap();
    }
    w.into_inner()
}

fn open_err(bytes: Vec<u8>) -> CaptureError {
    match CaptureReader::from_bytes(bytes, &ReadOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn format_info_for_each_pcap_variant() {
    let cases = [
        (
            PcapOptions::default(),
            ByteOrder::Little,
            TimestampPrecision::Microseconds,
        ),
        (
            PcapOptions {
                big_endian: true,
                ..Default::default()
            },
            ByteOrder::Big,
            TimestampPrecision::Microseconds,
        ),
        (
            PcapOptions {
                nanos: true,
                ..Default::default()
            },
            ByteOrder::Little,
            TimestampPrecision::Nanoseconds,
        ),
        (
            PcapOptions {
                modified: true,
                ..Default::default()
            },
            ByteOrder::Little,
            TimestampPrecision::Microseconds,
        ),
    ];
    for (options, order, precision) in cases {
        let reader =
            CaptureReader::from_bytes(pcap(options, &[]), &ReadOptions::default()).unwrap();
        let info = reader.info();
        assert_eq!((info.format, info.version.as_str()), (Format::Pcap, "2.4"));
        assert_eq!(
            (info.byte_order, info.timestamp_precision),
            (order, precision),
            "{options:?}"
        );
        assert_eq!((info.compression, info.times_are_local), (None, false));
    }
}

#[test]
fn pcap_variants_yield_the_written_frames() {
    let frames: [(i64, &[u8], u32); 2] = [
        (T0 + 5_000, &[0xAA, 0xBB], 2),
        (T0 + 7_000, &[0xCC; 9], 1500),
    ];
    for options in [
        PcapOptions::default(),
        PcapOptions {
            big_endian: true,
            linktype: 113,
            ..Default::default()
        },
        PcapOptions {
            nanos: true,
            big_endian: true,
            ..Default::default()
        },
        PcapOptions {
            modified: true,
            ..Default::default()
        },
        PcapOptions {
            modified: true,
            big_endian: true,
            ..Default::default()
        },
    ] {
        let (got, warnings) = read_bytes(&pcap(options, &frames));
        assert!(warnings.is_empty());
        let summary: Vec<_> = got
            .iter()
            .map(|f| (f.number, f.ts_ns, f.link, f.data.clone(), f.orig_len))
            .collect();
        let link = LinkType::Pcap(options.linktype);
        assert_eq!(
            summary,
            [
                (1, T0 + 5_000, link, vec![0xAA, 0xBB], 2),
                (2, T0 + 7_000, link, vec![0xCC; 9], 1500)
            ],
            "{options:?}"
        );
    }
}

#[test]
fn pcapng_reports_first_section_and_per_interface_precision() {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(true).unwrap();
    w.add_interface(1, 0, Some(9), None).unwrap();
    w.new_section(false).unwrap();
    let reader = CaptureReader::from_bytes(w.into_inner(), &ReadOptions::default()).unwrap();
    let info = reader.info();
    assert_eq!(
        (info.format, info.version.as_str(), info.byte_order),
        (Format::PcapNg, "1.0", ByteOrder::Big)
    );
    assert_eq!(info.timestamp_precision, TimestampPrecision::PerInterface);
}

#[test]
fn stats_count_links_truncation_and_times() {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    w.add_interface(101, 0, Some(9), Some(-1)).unwrap();
    w.write_epb(0, T0 + 3_000, &[1; 14], 60).unwrap();
    w.write_epb(1, T0, &[0x45; 20], 20).unwrap();
    w.write_epb(0, T0 + 1_000, &[1; 14], 14).unwrap();
    w.write_custom_block(1, b"x", true).unwrap();
    let mut reader = CaptureReader::from_bytes(w.into_inner(), &ReadOptions::default()).unwrap();
    while reader.next_frame().is_some() {}
    let stats = reader.stats();
    assert_eq!(
        (stats.frames, stats.captured_bytes, stats.truncated_frames),
        (3, 48, 1)
    );
    assert_eq!(stats.frames_by_link.get(&LinkType::ETHERNET), Some(&2));
    assert_eq!(stats.frames_by_link.get(&LinkType::RAW), Some(&1));
    assert_eq!(
        (stats.first_ts_ns, stats.last_ts_ns),
        (Some(T0 + 3_000), Some(T0 + 1_000))
    );
    assert_eq!((stats.skipped_records, stats.other_blocks), (0, 1));
}

#[test]
fn gzip_and_zstd_wrapped_captures() {
    let plain = three_blocks();
    let zstd = zstd::encode_all(&plain[..], 3).unwrap();
    // Two gzip members, as `cat a.gz b.gz` makes: the split is inside a block.
    let mut two_members = gzip(&plain[..50]);
    two_members.extend(gzip(&plain[50..]));
    let expected = read_bytes(&plain).0;
    assert_eq!(expected.len(), 3);
    for (name, packed, compression) in [
        ("gzip", gzip(&plain), Compression::Gzip),
        ("zstd", zstd, Compression::Zstd),
        ("gzip members", two_members, Compression::Gzip),
    ] {
        assert_eq!(read_bytes(&packed), (expected.clone(), vec![]), "{name}");
        assert_eq!(read_file(&packed), (expected.clone(), vec![]), "{name}");
        assert_eq!(
            read_stream(&packed, 5),
            (expected.clone(), vec![]),
            "{name}"
        );
        let mut reader =
            CaptureReader::from_bytes(packed.clone(), &ReadOptions::default()).unwrap();
        assert_eq!(reader.info().compression, Some(compression));
        assert_eq!(reader.info().format, Format::PcapNg);
        assert_eq!(reader.len_hint(), Some(packed.len() as u64));
        while reader.next_frame().is_some() {}
        // Progress counts compressed bytes, the unit of len_hint.
        assert_eq!(reader.position(), packed.len() as u64, "{name}");
    }
}

#[test]
fn large_captures_read_the_same_plain_compressed_and_as_streams() {
    // 3 MiB of frames of many sizes and a 2 MiB block: records lie across the 1 MiB buffers
    // that streams and decompressed data are read in.
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    let sizes = [60usize, 1514, 9000, 65_535, 3, 0, 777];
    let (mut written, mut frames) = (0, 0);
    while written < 3 << 20 {
        let len = sizes[frames % sizes.len()];
        let data = vec![frames as u8; len];
        w.write_epb(0, T0 + frames as i64 * 1_000, &data, len as u32)
            .unwrap();
        written += len;
        frames += 1;
        if frames == 100 {
            w.write_custom_block(32473, &vec![0xCC; 2 << 20], true)
                .unwrap();
        }
    }
    let plain = w.into_inner();
    let expected = read_bytes(&plain);
    assert_eq!((expected.0.len(), expected.1.len()), (frames, 0));
    let packed = zstd::encode_all(&plain[..], 1).unwrap();
    for (name, read) in [
        ("file", read_file(&plain)),
        ("stream", read_stream(&plain, 65_536)),
        ("gzip", read_bytes(&gzip(&plain))),
        ("zstd", read_bytes(&packed)),
        ("zstd file", read_file(&packed)),
        ("zstd stream", read_stream(&packed, 4_096)),
    ] {
        assert!(read == expected, "{name}");
    }
}

#[test]
fn position_and_len_hint_for_files_and_streams() {
    let bytes = three_frames();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let mut reader = CaptureReader::open(file.path()).unwrap();
    assert_eq!(
        (reader.position(), reader.len_hint()),
        (24, Some(bytes.len() as u64))
    );
    reader.next_frame().unwrap();
    assert_eq!(reader.position(), 24 + 16 + 10);
    while reader.next_frame().is_some() {}
    assert_eq!(reader.position(), bytes.len() as u64);

    let mut reader = CaptureReader::from_reader(
        ShortReads::new(bytes.clone(), vec![3]),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(reader.len_hint(), None);
    reader.next_frame().unwrap();
    assert_eq!(reader.position(), 24 + 16 + 10);
}

#[test]
fn pcap_truncated_mid_record_header_keeps_complete_frames() {
    let bytes = three_frames();
    // Cut 8 bytes into the third record's header, which starts at 24 + 26 + 36 = 86.
    let cut = &bytes[..94];
    for (path, (frames, warnings)) in [
        ("bytes", read_bytes(cut)),
        ("file", read_file(cut)),
        ("stream", read_stream(cut, 4)),
    ] {
        assert_eq!(frames.len(), 2, "{path}");
        assert_eq!(warnings.len(), 1, "{path}");
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("file_truncated", Some(94)),
            "{path}"
        );
        assert!(
            warnings[0].message.contains("starts at byte 86"),
            "{}",
            warnings[0].message
        );
    }
}

#[test]
fn pcap_truncated_mid_data_keeps_complete_frames() {
    let bytes = three_frames();
    let cut = &bytes[..bytes.len() - 1];
    for (frames, warnings) in [read_bytes(cut), read_file(cut), read_stream(cut, 1)] {
        assert_eq!(frames.len(), 2);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("file_truncated", Some(cut.len() as u64))
        );
    }
    // Also through gzip, whose stream then simply ends early.
    let (frames, warnings) = read_bytes(&gzip(cut));
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (warnings[0].code, warnings[0].offset),
        ("file_truncated", Some(cut.len() as u64))
    );
}

#[test]
fn pcapng_truncated_mid_block() {
    let bytes = three_blocks();
    // SHB 28 + IDB 20 + EPB 44 + EPB 52 = 144: the third EPB starts there.
    for cut in [146, 150, bytes.len() - 4] {
        let part = &bytes[..cut];
        for (frames, warnings) in [read_bytes(part), read_stream(part, 3)] {
            assert_eq!(frames.len(), 2, "cut at {cut}");
            assert_eq!(
                (warnings[0].code, warnings[0].offset),
                ("file_truncated", Some(cut as u64))
            );
            assert!(warnings[0].message.contains("starts at byte 144"));
        }
    }
}

#[test]
fn compressed_stream_cut_short_reports_read_error_and_truncation() {
    let packed = gzip(&three_frames());
    let cut = &packed[..packed.len() - 12]; // drop part of the deflate data and the trailer
    let mut reader = CaptureReader::from_bytes(cut.to_vec(), &ReadOptions::default()).unwrap();
    let (frames, warnings) = drain(&mut reader, usize::MAX);
    assert!(frames.len() < 3);
    assert!(
        warnings.iter().any(|w| w.code == "read_error"),
        "{warnings:?}"
    );
}

#[test]
fn garbage_is_not_a_capture() {
    let err = open_err(b"<html><body>hello</body></html>".to_vec());
    assert_eq!(
        err.to_string(),
        "not a capture file: expected pcap, pcapng or Network Monitor 1.x/2.x (optionally gzip- or \
         zstd-compressed), but the first bytes are 3c 68 74 6d 6c 3e 3c 62 6f 64 79 3e 68 65 6c 6c"
    );
    let err = open_err(gzip(b"plain text"));
    assert!(
        err.to_string()
            .ends_with("first bytes after gzip decompression are 70 6c 61 69 6e 20 74 65 78 74"),
        "{err}"
    );
    // Compressed twice is not followed.
    let err = open_err(gzip(&gzip(&three_frames())));
    assert!(
        matches!(
            err,
            CaptureError::NotACapture {
                compression: Some(Compression::Gzip),
                ..
            }
        ),
        "{err}"
    );
    let err = open_err(vec![0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0, 0]);
    assert_eq!(
        err.to_string(),
        "xz-compressed input is not supported; decompress it first"
    );
}

#[test]
fn empty_inputs() {
    assert!(matches!(
        open_err(Vec::new()),
        CaptureError::Empty { compression: None }
    ));
    assert_eq!(
        open_err(gzip(b"")).to_string(),
        "the input is empty after gzip decompression"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        CaptureReader::open(file.path()),
        Err(CaptureError::Empty { .. })
    ));
    let stream = CaptureReader::from_reader(std::io::empty(), &ReadOptions::default());
    assert!(matches!(stream, Err(CaptureError::Empty { .. })));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = CaptureReader::open("/nonexistent/dir/trace.pcap")
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/dir/trace.pcap: "),
        "{err}"
    );
}

#[test]
fn truncated_file_headers_are_errors() {
    let pcap_header = three_frames();
    let err = open_err(pcap_header[..20].to_vec());
    assert_eq!(
        err.to_string(),
        "the pcap file header is cut short: the input holds only 20 bytes"
    );
    let ng = three_blocks();
    assert!(matches!(
        open_err(ng[..14].to_vec()),
        CaptureError::TruncatedHeader {
            format: Format::PcapNg,
            len: 14
        }
    ));
    let stream = CaptureReader::from_reader(
        ShortReads::new(pcap_header[..23].to_vec(), vec![2]),
        &ReadOptions::default(),
    );
    assert!(matches!(
        stream,
        Err(CaptureError::TruncatedHeader {
            format: Format::Pcap,
            len: 23
        })
    ));
}

#[test]
fn hostile_pcap_caplen_stops_reading() {
    let mut bytes = three_frames();
    // Second record's incl_len (at 24 + 26 + 8) := 0xFFFFFFFF.
    bytes[58..62].copy_from_slice(&[0xFF; 4]);
    for (frames, warnings) in [read_bytes(&bytes), read_stream(&bytes, 9)] {
        assert_eq!(frames.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("corrupt_record", Some(50))
        );
    }
}

#[test]
fn hostile_pcapng_block_length_stops_reading() {
    let mut bytes = three_blocks();
    // The second EPB (at 92) claims 0xFFFFFFF0 bytes.
    bytes[96..100].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    for (frames, warnings) in [read_bytes(&bytes), read_stream(&bytes, 9)] {
        assert_eq!(frames.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("corrupt_record", Some(92))
        );
    }
}

#[test]
fn oversized_block_is_skipped_without_buffering_it() {
    // A 20 MiB custom block (over the 16 MiB cap) between two packets.
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    w.write_epb(0, T0, &[1; 10], 10).unwrap();
    w.write_custom_block(1, &vec![0x55; 20 << 20], true)
        .unwrap();
    w.write_epb(0, T0 + 1, &[2; 10], 10).unwrap();
    let bytes = w.into_inner();
    for (frames, warnings) in [read_bytes(&bytes), read_stream(&bytes, 1 << 16)] {
        let numbers: Vec<_> = frames.iter().map(|f| f.number).collect();
        assert_eq!(
            numbers,
            [1, 3],
            "the skipped custom block keeps its frame number"
        );
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("record_too_large", Some(28 + 20 + 44))
        );
    }
}

#[test]
fn pcap_record_over_the_caplen_cap_is_skipped() {
    let big = vec![7u8; 2 << 20];
    let bytes = pcap(
        PcapOptions::default(),
        &[(T0, &[1; 4], 4), (T0, &big, 3 << 20), (T0, &[2; 4], 4)],
    );
    for (frames, warnings) in [read_bytes(&bytes), read_stream(&bytes, 1 << 15)] {
        assert_eq!(
            frames
                .iter()
                .map(|f| (f.number, f.data[0]))
                .collect::<Vec<_>>(),
            [(1, 1), (3, 2)]
        );
        assert_eq!(
            (warnings[0].code, warnings[0].offset),
            ("record_too_large", Some(24 + 20))
        );
    }
}

#[test]
fn packet_on_an_undefined_interface_is_skipped() {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    w.write_epb(3, T0, &[1; 4], 4).unwrap();
    w.write_epb(0, T0, &[2; 4], 4).unwrap();
    let mut reader = CaptureReader::from_bytes(w.into_inner(), &ReadOptions::default()).unwrap();
    let (frames, warnings) = drain(&mut reader, usize::MAX);
    assert_eq!(frames.len(), 1);
    // The skipped packet keeps its number: a gap marks it.
    assert_eq!((frames[0].number, frames[0].data[0]), (2, 2));
    assert_eq!(
        (warnings[0].code, warnings[0].offset),
        ("undefined_interface", Some(48))
    );
    assert_eq!(reader.stats().skipped_records, 1);
}

#[test]
fn network_monitor_files_go_to_the_netmon_reader() {
    // Far shorter than the 128-byte Network Monitor header: whatever the reader's version,
    // it must refuse it, so the error proves the routing (directly and via a spooled stream).
    for magic in [&b"RTSS"[..], b"GMBU"] {
        let mut bytes = magic.to_vec();
        bytes.extend([0, 2, 1, 0]);
        assert!(matches!(open_err(bytes.clone()), CaptureError::NetMon(_)));
        assert!(matches!(open_err(gzip(&bytes)), CaptureError::NetMon(_)));
        let stream =
            CaptureReader::from_reader(ShortReads::new(bytes, vec![1]), &ReadOptions::default());
        assert!(matches!(stream, Err(CaptureError::NetMon(_))));
    }
}

#[test]
fn frames_stay_valid_until_the_next_call_on_a_stream() {
    // Records bigger than one read, through a stream: every frame's bytes are exact.
    let frames: Vec<Vec<u8>> = (0..40u8)
        .map(|i| vec![i; 1000 + usize::from(i) * 997])
        .collect();
    let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
    for f in &frames {
        w.write_frame(T0, f, f.len() as u32).unwrap();
    }
    let (got, warnings) = read_stream(&w.into_inner(), 4093);
    assert!(warnings.is_empty());
    assert_eq!(got.into_iter().map(|f| f.data).collect::<Vec<_>>(), frames);
}

#[cfg(unix)]
#[test]
fn named_pipe_is_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let bytes = three_blocks();
    let writer = {
        let (fifo, bytes) = (fifo.clone(), bytes.clone());
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let mut reader = CaptureReader::open(&fifo).unwrap();
    assert_eq!(reader.len_hint(), None, "a pipe has no known length");
    let (frames, warnings) = drain(&mut reader, usize::MAX);
    writer.join().unwrap();
    assert_eq!((frames, warnings), read_bytes(&bytes));
}
