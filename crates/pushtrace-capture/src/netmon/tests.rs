//! Unit tests of the Network Monitor reader on hand-built bytes and writer output.

use super::*;
use crate::LinkType;

/// SYSTEMTIME 2023-11-14 (a Tuesday) 22:13:20.123, as eight LE u16s.
const START_2023: [u8; 16] = [
    0xE7, 0x07, // year 2023
    0x0B, 0x00, // month 11
    0x02, 0x00, // day of week 2
    0x0E, 0x00, // day 14
    0x16, 0x00, // hour 22
    0x0D, 0x00, // minute 13
    0x14, 0x00, // second 20
    0x7B, 0x00, // millisecond 123
];
/// START_2023 read as UTC, in ns.
const START_NS: i64 = 1_700_000_000_123_000_000;

/// A 128-byte header: signature, minor, major, media type, START_2023, table offset and
/// length, zero padding.
fn header(magic: &[u8; 4], major: u8, minor: u8, media: u16, table: (u32, u32)) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(magic);
    h.push(minor);
    h.push(major);
    h.extend_from_slice(&media.to_le_bytes());
    h.extend_from_slice(&START_2023);
    h.extend_from_slice(&table.0.to_le_bytes());
    h.extend_from_slice(&table.1.to_le_bytes());
    h.resize(HEADER_LEN, 0);
    h
}

/// A 2.x record: delta u64, orig_len u32, incl_len u32, data, trailer.
fn record_2x(raw_delta: u64, orig_len: u32, data: &[u8], trailer: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&raw_delta.to_le_bytes());
    r.extend_from_slice(&orig_len.to_le_bytes());
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(data);
    r.extend_from_slice(trailer);
    r
}

/// A frame as (number, ts_ns, link, data, orig_len).
type Row = (u64, i64, LinkType, Vec<u8>, u32);

/// Reads every frame as (number, ts_ns, link, data, orig_len), then the warnings.
fn read_all(file: &[u8], utc_offset_secs: i64) -> (Vec<Row>, Vec<Warning>) {
    let mut reader = NetMonReader::new(file, utc_offset_secs).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame(file) {
        frames.push((f.number, f.ts_ns, f.link, f.data.to_vec(), f.orig_len));
        assert!(frames.len() <= file.len(), "reader does not terminate");
    }
    (frames, reader.take_warnings())
}

fn codes(warnings: &[Warning]) -> Vec<&'static str> {
    warnings.iter().map(|w| w.code).collect()
}

fn set_u32(file: &mut [u8], at: usize, value: u32) {
    file[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(file: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(file[at..at + 4].try_into().unwrap())
}

/// A 2.0 Ethernet file with frames of 10, 20, 30, ... bytes at START + n ms.
fn writer_file(version: (u8, u8), frames: usize) -> Vec<u8> {
    let mut w = NetMonWriter::new(version, media::ETHERNET, START_NS).unwrap();
    for n in 0..frames {
        let data = vec![n as u8; 10 * (n + 1)];
        w.add_frame(
            START_NS + n as i64 * 1_000_000,
            media::ETHERNET,
            &data,
            data.len() as u32,
        )
        .unwrap();
    }
    w.to_bytes()
}

#[test]
fn reads_a_hand_built_1x_file() {
    let mut file = header(b"RTSS", 1, 1, media::ETHERNET, (128 + 8 + 4, 4));
    file.extend_from_slice(&[
        0x05, 0x00, 0x00, 0x00, // record: ts_delta 5 ms
        0x06, 0x00, // orig_len 6
        0x04, 0x00, // incl_len 4
        0xDE, 0xAD, 0xBE, 0xEF, // frame data
        0x80, 0x00, 0x00, 0x00, // frame table: record at 128
    ]);
    let reader = NetMonReader::new(&file, 0).unwrap();
    assert_eq!(reader.version(), (1, 1));
    assert!(reader.times_are_local());
    assert_eq!(reader.frame_count(), 1);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(
        frames,
        vec![(
            1,
            START_NS + 5_000_000,
            LinkType::ETHERNET,
            vec![0xDE, 0xAD, 0xBE, 0xEF],
            6
        )]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn reads_a_hand_built_2_3_file_with_utc_trailer_time() {
    let mut file = header(b"GMBU", 2, 3, 1, (128 + 16 + 2 + 15, 4));
    file.extend_from_slice(&[
        0xE8, 0x03, 0, 0, 0, 0, 0, 0, // ts_delta 1000 µs (ignored: 2.3 uses the FILETIME)
        0x02, 0x00, 0x00, 0x00, // orig_len 2
        0x02, 0x00, 0x00, 0x00, // incl_len 2
        0x45, 0x00, // frame data
        0x65, 0xE0, // trailer: media type 0xE065 = converted pcap LINKTYPE_RAW
        0x07, 0x00, 0x00, 0x00, // process-info index 7
        // UTC FILETIME 0x01D8_82CB_9B20_8000 = 133 000 000 000 000 000 100-ns ticks
        0x00, 0x80, 0x20, 0x9B, 0xCB, 0x82, 0xD8, 0x01, //
        0x00, // time-zone index
        0x80, 0x00, 0x00, 0x00, // frame table: record at 128
    ]);
    let reader = NetMonReader::new(&file, 3600).unwrap();
    assert_eq!(reader.version(), (2, 3));
    assert!(!reader.times_are_local());
    // (133e15 - 116 444 736e9) × 100 ns; the UTC offset does not apply.
    let (frames, warnings) = read_all(&file, 3600);
    assert_eq!(
        frames,
        vec![(
            1,
            1_655_526_400_000_000_000,
            LinkType::RAW,
            vec![0x45, 0x00],
            2
        )]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn two_x_deltas_are_signed_after_multiplying_by_ten() {
    let records = [
        record_2x((-1_500_000i64) as u64, 1, &[1], &[]), // 1.5 s before the start
        // 0x1999_9999_9999_999A × 10 wraps to 4: +400 ns, as Wireshark computes it
        record_2x(0x1999_9999_9999_999A, 1, &[2], &[]),
        record_2x(0, 1, &[3], &[]),
    ];
    let body: Vec<u8> = records.concat();
    let mut file = header(
        b"GMBU",
        2,
        0,
        media::ETHERNET,
        ((128 + body.len()) as u32, 12),
    );
    file.extend_from_slice(&body);
    for n in 0..3u32 {
        file.extend_from_slice(&(128 + n * 17).to_le_bytes());
    }
    let (frames, warnings) = read_all(&file, 0);
    let times: Vec<i64> = frames.iter().map(|f| f.1).collect();
    assert_eq!(
        times,
        vec![START_NS - 1_500_000_000, START_NS + 400, START_NS]
    );
    assert!(warnings.is_empty());
}

#[test]
fn delta_beyond_the_i64_range_is_clamped_with_a_warning() {
    // 0x0CCC_CCCC_CCCC_CCCD × 10 = 0x8000_0000_0000_0002: about -2^63 × 100 ns.
    let body = record_2x(0x0CCC_CCCC_CCCC_CCCD, 1, &[9], &[]);
    let mut file = header(b"GMBU", 2, 0, media::ETHERNET, (128 + 17, 4));
    file.extend_from_slice(&body);
    file.extend_from_slice(&128u32.to_le_bytes());
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames[0].1, i64::MIN);
    assert_eq!(codes(&warnings), vec!["timestamp_out_of_range"]);
    assert_eq!(
        (warnings[0].frame, warnings[0].offset),
        (Some(1), Some(128))
    );
}

#[test]
fn invalid_2_3_utc_time_falls_back_to_the_delta() {
    let mut w = NetMonWriter::new((2, 3), 1, START_NS).unwrap();
    w.add_frame(START_NS + 7_000, media::ETHERNET, &[1, 2], 2)
        .unwrap();
    let mut file = w.to_bytes();
    // Zero the FILETIME (year 1601): record 128 + 16 header + 2 data + 6.
    file[128 + 16 + 2 + 6..128 + 16 + 2 + 14].fill(0);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames[0].1, START_NS + 7_000);
    assert_eq!(codes(&warnings), vec!["utc_time_invalid"]);
}

#[test]
fn metadata_frames_are_skipped_with_wireshark_numbering() {
    let mut w = NetMonWriter::new((2, 1), 1, START_NS).unwrap();
    w.add_frame(START_NS, media::ETHERNET, b"eth-1", 5).unwrap();
    w.add_raw_metadata_frame(media::PAYLOAD_HEADER, b"reassembly")
        .unwrap();
    w.add_frame(START_NS + 1_000, media::TOKEN_RING, b"tr-2", 4)
        .unwrap();
    w.add_raw_metadata_frame(media::NETWORK_INFO, b"adapters")
        .unwrap();
    w.add_raw_metadata_frame(media::DNS_CACHE, b"dns").unwrap();
    w.add_raw_metadata_frame(media::FILTER, b"filter").unwrap();
    w.add_raw_metadata_frame(media::NET_EVENT, b"etw").unwrap();
    w.add_raw_metadata_frame(media::NETWORK_INFO_EX, b"adapters-ex")
        .unwrap();
    w.add_frame(START_NS + 2_000, media::RAW_IP, b"raw", 3)
        .unwrap();
    let file = w.to_bytes();
    let (frames, warnings) = read_all(&file, 0);
    let summary: Vec<(u64, LinkType, &[u8])> =
        frames.iter().map(|f| (f.0, f.2, f.3.as_slice())).collect();
    assert_eq!(
        summary,
        vec![
            (1, LinkType::ETHERNET, &b"eth-1"[..]),
            (2, LinkType::TOKEN_RING, b"tr-2"),
            (3, LinkType::NetMon(0xFFFF), b"filter"),
            (4, LinkType::NetMon(0xFFE0), b"etw"),
            (5, LinkType::NetMon(0xFFFB), b"adapters-ex"),
            (6, LinkType::RAW, b"raw"),
        ]
    );
    assert!(warnings.is_empty());
}

#[test]
fn header_time_is_shifted_by_the_utc_offset() {
    for version in [(1, 1), (2, 0), (2, 2)] {
        let file = writer_file(version, 2);
        let (utc, _) = read_all(&file, 0);
        let (cet, _) = read_all(&file, 3600);
        let (pacific, _) = read_all(&file, -8 * 3600);
        assert_eq!(utc[1].1, START_NS + 1_000_000);
        assert_eq!(
            cet[1].1,
            START_NS + 1_000_000 - 3_600_000_000_000,
            "{version:?}"
        );
        assert_eq!(
            pacific[1].1,
            START_NS + 1_000_000 + 28_800_000_000_000,
            "{version:?}"
        );
    }
    let file = writer_file((2, 3), 2);
    assert_eq!(
        read_all(&file, 3600).0,
        read_all(&file, 0).0,
        "2.3 times are UTC already"
    );
}

#[test]
fn frame_table_order_wins_over_physical_order_and_holes_are_ignored() {
    let b = record_2x(2_000, 1, b"B", &[]); // stored first, listed second
    let hole = [0xEE; 7]; // bytes no table entry points at
    let a = record_2x(1_000, 1, b"A", &[]);
    let a_offset = 128 + b.len() + hole.len();
    let table_offset = a_offset + a.len();
    let mut file = header(b"GMBU", 2, 0, media::ETHERNET, (table_offset as u32, 8));
    file.extend_from_slice(&b);
    file.extend_from_slice(&hole);
    file.extend_from_slice(&a);
    file.extend_from_slice(&(a_offset as u32).to_le_bytes());
    file.extend_from_slice(&128u32.to_le_bytes());
    let (frames, warnings) = read_all(&file, 0);
    let got: Vec<(u64, i64, Vec<u8>)> = frames.into_iter().map(|f| (f.0, f.1, f.3)).collect();
    assert_eq!(
        got,
        vec![
            (1, START_NS + 1_000_000, b"A".to_vec()),
            (2, START_NS + 2_000_000, b"B".to_vec())
        ]
    );
    assert!(warnings.is_empty());
}

#[test]
fn not_a_netmon_file_is_an_error() {
    assert!(matches!(
        NetMonReader::new(&[], 0),
        Err(NetMonError::BadHeader(_))
    ));
    assert!(matches!(
        NetMonReader::new(&header(b"GMBU", 2, 0, 1, (0, 0))[..127], 0),
        Err(NetMonError::BadHeader(_))
    ));
    assert!(matches!(
        NetMonReader::new(&header(b"GMBV", 2, 0, 1, (0, 0)), 0),
        Err(NetMonError::BadHeader(_))
    ));
    assert_eq!(
        NetMonReader::new(&header(b"GMBU", 3, 0, 1, (0, 0)), 0).unwrap_err(),
        NetMonError::UnsupportedVersion { major: 3, minor: 0 }
    );
}

#[test]
fn empty_capture_has_no_frames_and_no_warnings() {
    let file = header(b"GMBU", 2, 1, 1, (128, 0));
    assert_eq!(read_all(&file, 0), (vec![], vec![]));
}

#[test]
fn bad_header_time_counts_from_the_epoch() {
    let mut file = writer_file((2, 0), 2);
    file[8 + 2..8 + 4].copy_from_slice(&13u16.to_le_bytes()); // month 13
    let (frames, warnings) = read_all(&file, 3600);
    assert_eq!(
        frames.iter().map(|f| f.1).collect::<Vec<_>>(),
        vec![0, 1_000_000]
    );
    assert_eq!(codes(&warnings), vec!["bad_header_time"]);
    assert_eq!(warnings[0].offset, Some(8));
    assert!(
        warnings[0].message.contains("2023-13-14 22:13:20.123"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn absurd_utc_offset_is_a_header_time_warning_not_a_panic() {
    let file = writer_file((2, 0), 1);
    let (frames, warnings) = read_all(&file, i64::MIN);
    assert_eq!(frames[0].1, 0);
    assert_eq!(codes(&warnings), vec!["bad_header_time"]);
}

#[test]
fn table_past_the_end_recovers_frames_by_walking() {
    // A file cut exactly after its last record: the table is gone.
    let full = writer_file((1, 1), 3);
    let table_offset = get_u32(&full, 24) as usize;
    let cut = &full[..table_offset];
    let (frames, warnings) = read_all(cut, 0);
    assert_eq!(frames, read_all(&full, 0).0);
    assert_eq!(codes(&warnings), vec!["frame_table_missing"]);
    assert_eq!(warnings[0].offset, Some(table_offset as u64));
}

#[test]
fn file_cut_inside_a_record_keeps_every_complete_frame() {
    let full = writer_file((2, 1), 3);
    let third = 128 + (16 + 10 + 2) + (16 + 20 + 2);
    let cut = &full[..third + 16 + 5]; // inside the third record's data
    let (frames, warnings) = read_all(cut, 0);
    assert_eq!(frames, read_all(&full, 0).0[..2]);
    assert_eq!(
        codes(&warnings),
        vec!["frame_table_missing", "file_truncated"]
    );
    assert_eq!(warnings[1].offset, Some(cut.len() as u64));
    assert_eq!(warnings[1].frame, Some(3));
    assert!(warnings[1]
        .message
        .contains(&format!("byte offset {third}")));
}

#[test]
fn truncated_table_uses_the_entries_present_and_recovers_the_rest() {
    let full = writer_file((2, 0), 4);
    let table_offset = get_u32(&full, 24) as usize;
    let cut = &full[..table_offset + 4 + 3]; // one whole entry and 3 bytes of the second
    let (frames, warnings) = read_all(cut, 0);
    assert_eq!(
        frames,
        read_all(&full, 0).0,
        "frames 2-4 recovered after the table entry"
    );
    assert_eq!(codes(&warnings), vec!["frame_table_truncated"]);
    assert_eq!(warnings[0].offset, Some((table_offset + 4) as u64));
}

#[test]
fn absurd_table_length_is_capped_by_the_file() {
    let mut file = writer_file((2, 0), 3);
    set_u32(&mut file, 28, 0xFFFF_FFFC);
    let reader = NetMonReader::new(&file, 0).unwrap();
    assert_eq!(reader.frame_count(), 3);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames.len(), 3);
    assert_eq!(codes(&warnings), vec!["frame_table_truncated"]);
}

#[test]
fn misaligned_table_length_ignores_the_partial_entry() {
    let mut file = writer_file((2, 0), 3);
    set_u32(&mut file, 28, 3 * 4 + 2);
    file.extend_from_slice(&[0x80, 0x00]);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames.len(), 3);
    assert_eq!(codes(&warnings), vec!["frame_table_misaligned"]);
    assert_eq!(warnings[0].offset, Some(28));
}

#[test]
fn empty_table_with_records_walks_them() {
    let mut file = writer_file((2, 2), 2);
    set_u32(&mut file, 28, 0);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(
        frames.len(),
        2,
        "walk stops at the (now unlisted) table offset"
    );
    assert_eq!(codes(&warnings), vec!["frame_table_empty"]);
}

#[test]
fn table_offset_inside_the_header_walks_the_records() {
    let mut file = writer_file((2, 0), 2);
    set_u32(&mut file, 24, 64);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames, read_all(&writer_file((2, 0), 2), 0).0);
    // The walk then meets the real table (8 bytes, shorter than a record header) and stops.
    assert_eq!(
        codes(&warnings),
        vec!["frame_table_invalid", "file_truncated"]
    );
}

/// Replaces the second of three table entries in a 2.0 file and returns the warnings.
fn with_second_entry(patch: impl Fn(&mut Vec<u8>, usize)) -> (Vec<Row>, Vec<Warning>) {
    let mut file = writer_file((2, 0), 3);
    let table_offset = get_u32(&file, 24) as usize;
    patch(&mut file, table_offset + 4);
    read_all(&file, 0)
}

#[test]
fn entry_past_the_end_is_skipped_but_keeps_its_number() {
    let (frames, warnings) = with_second_entry(|f, entry| set_u32(f, entry, 0x7FFF_FFFF));
    assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(codes(&warnings), vec!["frame_offset_past_end"]);
    assert_eq!(
        (warnings[0].frame, warnings[0].offset),
        (Some(2), Some(0x7FFF_FFFF))
    );
    assert!(warnings[0]
        .message
        .starts_with("1 Network Monitor frame(s) skipped"));
}

#[test]
fn entry_inside_the_header_is_skipped() {
    let (frames, warnings) = with_second_entry(|f, entry| set_u32(f, entry, 100));
    assert_eq!(frames.len(), 2);
    assert_eq!(codes(&warnings), vec!["frame_overlaps_header"]);
    assert_eq!(warnings[0].offset, Some(100));
}

#[test]
fn record_header_past_the_end_is_skipped() {
    let (frames, warnings) = with_second_entry(|f, entry| {
        let near_end = (f.len() - 3) as u32;
        set_u32(f, entry, near_end);
    });
    assert_eq!(frames.len(), 2);
    assert_eq!(codes(&warnings), vec!["frame_header_past_end"]);
}

#[test]
fn captured_length_past_the_end_is_skipped() {
    let (frames, warnings) = with_second_entry(|f, _| set_u32(f, 128 + 26 + 12, 10_000));
    assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(codes(&warnings), vec!["frame_data_past_end"]);
    assert_eq!(warnings[0].offset, Some(128 + 26));
}

#[test]
fn captured_length_above_262144_is_skipped() {
    let (frames, warnings) = with_second_entry(|f, _| set_u32(f, 128 + 26 + 12, MAX_FRAME_LEN + 1));
    assert_eq!(frames.len(), 2);
    assert_eq!(codes(&warnings), vec!["frame_too_large"]);
}

#[test]
fn many_bad_entries_make_one_warning_with_a_count() {
    let mut w = NetMonWriter::new((2, 0), 1, START_NS).unwrap();
    w.add_frame(START_NS, media::ETHERNET, b"ok", 2).unwrap();
    let mut file = w.to_bytes();
    // Replace the table with 1000 entries pointing past the end, then the good one.
    let table_offset = get_u32(&file, 24) as usize;
    file.truncate(table_offset);
    for _ in 0..1000 {
        file.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    file.extend_from_slice(&128u32.to_le_bytes());
    set_u32(&mut file, 28, 1001 * 4);
    let (frames, warnings) = read_all(&file, 0);
    assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1001]);
    assert_eq!(codes(&warnings), vec!["frame_offset_past_end"]);
    assert!(
        warnings[0].message.starts_with("1000 "),
        "{}",
        warnings[0].message
    );
    assert_eq!(
        (warnings[0].frame, warnings[0].offset),
        (Some(1), Some(u64::from(u32::MAX)))
    );
}

#[test]
fn taking_warnings_mid_stream_reports_the_counts_so_far() {
    let mut file = writer_file((2, 0), 4);
    let table_offset = get_u32(&file, 24) as usize;
    set_u32(&mut file, table_offset, 1); // entry 1 inside the header
    set_u32(&mut file, table_offset + 8, 2); // entry 3 inside the header
    let mut reader = NetMonReader::new(&file, 0).unwrap();
    assert_eq!(reader.next_frame(&file).map(|f| f.number), Some(2));
    let first = reader.take_warnings();
    assert_eq!((first.len(), first[0].frame), (1, Some(1)));
    assert_eq!(reader.next_frame(&file).map(|f| f.number), Some(4));
    assert_eq!(reader.next_frame(&file), None);
    let second = reader.take_warnings();
    assert_eq!((second.len(), second[0].frame), (1, Some(3)));
    assert!(reader.take_warnings().is_empty());
    assert_eq!(reader.next_frame(&file), None, "stays finished");
}

#[test]
fn media_type_comes_from_the_header_before_2_1() {
    for (version, media_type) in [((1, 1), media::TOKEN_RING), ((2, 0), media::FDDI)] {
        let mut w = NetMonWriter::new(version, media_type, START_NS).unwrap();
        w.add_frame(START_NS, media_type, b"x", 1).unwrap();
        let (frames, _) = read_all(&w.to_bytes(), 0);
        assert_eq!(frames[0].2, media::link_type(media_type));
    }
}
