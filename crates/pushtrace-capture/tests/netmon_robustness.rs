//! The Network Monitor reader on hostile input (formats.md §3): arbitrary bytes, arbitrary
//! bytes behind a valid header, mutated and truncated writer output. It must never panic,
//! always terminate, never return more frames than the file can hold, and never return a
//! frame whose bytes lie outside the file.

use proptest::prelude::*;
use pushtrace_capture::netmon::{media, NetMonReader, NetMonWriter, HEADER_LEN};
use pushtrace_capture::Warning;

/// Smallest record: a 1.x header with no data.
const MIN_RECORD_LEN: usize = 8;

/// Reads to the end, checking the invariants; returns (frame data, warnings).
fn drain(file: &[u8], utc_offset_secs: i64) -> Option<(Vec<Vec<u8>>, Vec<Warning>)> {
    let mut reader = NetMonReader::new(file, utc_offset_secs).ok()?;
    assert!(reader.frame_count() <= file.len() / 4);
    let mut frames = Vec::new();
    let mut last_number = 0;
    while let Some(frame) = reader.next_frame(file) {
        assert!(frame.number > last_number, "numbers increase");
        last_number = frame.number;
        let start = frame.data.as_ptr() as usize - file.as_ptr() as usize;
        assert!(start >= HEADER_LEN && start + frame.data.len() <= file.len());
        frames.push(frame.data.to_vec());
        assert!(
            frames.len() <= file.len() / MIN_RECORD_LEN,
            "more frames than records fit"
        );
    }
    assert_eq!(reader.next_frame(file), None, "stays finished");
    let warnings = reader.take_warnings();
    let mut codes: Vec<&str> = warnings.iter().map(|w| w.code).collect();
    codes.dedup();
    assert_eq!(
        codes.len(),
        warnings.len(),
        "one warning per code: {warnings:?}"
    );
    Some((frames, warnings))
}

/// A header with the given signature, version and frame-table fields, then `rest`.
fn with_header(magic: &[u8; 4], version: (u8, u8), table: (u32, u32), rest: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(magic);
    file.extend_from_slice(&[version.1, version.0, 1, 0]);
    // SYSTEMTIME 2024-02-29 (Thursday) 12:00:00.000
    for field in [2024u16, 2, 4, 29, 12, 0, 0, 0] {
        file.extend_from_slice(&field.to_le_bytes());
    }
    file.extend_from_slice(&table.0.to_le_bytes());
    file.extend_from_slice(&table.1.to_le_bytes());
    file.resize(HEADER_LEN, 0);
    file.extend_from_slice(rest);
    file
}

fn sample_file(version: (u8, u8)) -> Vec<u8> {
    let start = 1_709_208_000_000_000_000;
    let mut w = NetMonWriter::new(version, media::ETHERNET, start).unwrap();
    for n in 0..6u8 {
        let data = vec![n; usize::from(n) * 7];
        let media_type = if version >= (2, 1) && n == 2 {
            media::DNS_CACHE
        } else {
            media::ETHERNET
        };
        w.add_frame(
            start + i64::from(n) * 1_000_000,
            media_type,
            &data,
            data.len() as u32 + 3,
        )
        .unwrap();
    }
    w.to_bytes()
}

fn any_version() -> impl Strategy<Value = (u8, u8)> {
    prop_oneof![
        Just((1, 1)),
        Just((2, 0)),
        Just((2, 1)),
        Just((2, 2)),
        Just((2, 3)),
        Just((2, 9))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        drain(&bytes, 0);
    }

    #[test]
    fn arbitrary_records_behind_a_valid_header_never_panic(
        magic in prop_oneof![Just(*b"RTSS"), Just(*b"GMBU")],
        version in any_version(),
        table_offset in prop_oneof![0u32..1200, any::<u32>()],
        table_len in prop_oneof![0u32..600, any::<u32>()],
        utc_offset_secs in prop_oneof![Just(0i64), -50_000i64..50_000, any::<i64>()],
        rest in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let file = with_header(&magic, version, (table_offset, table_len), &rest);
        prop_assert!(drain(&file, utc_offset_secs).is_some(), "a valid header always opens");
    }

    #[test]
    fn mutated_writer_output_never_panics(
        version in any_version(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
    ) {
        let mut file = sample_file(version);
        for (at, value) in flips {
            let i = at.index(file.len());
            file[i] = value;
        }
        drain(&file, 0);
    }

    /// Cutting a file anywhere after its header keeps exactly the frames that are complete,
    /// in order, and says so when a record was cut.
    #[test]
    fn truncated_writer_output_keeps_a_prefix_of_the_frames(version in any_version(), cut in any::<prop::sample::Index>()) {
        let full = sample_file(version);
        let (all, _) = drain(&full, 0).unwrap();
        let cut_at = HEADER_LEN + cut.index(full.len() - HEADER_LEN + 1);
        let (kept, warnings) = drain(&full[..cut_at], 0).unwrap();
        prop_assert!(kept.len() <= all.len());
        prop_assert_eq!(&kept[..], &all[..kept.len()]);
        let table_offset = u32::from_le_bytes(full[24..28].try_into().unwrap()) as usize;
        if cut_at >= table_offset {
            prop_assert_eq!(kept.len(), all.len(), "all records precede the table");
        }
        let cut_inside_record = warnings.iter().any(|w| w.code == "file_truncated");
        if cut_inside_record {
            prop_assert_eq!(warnings.iter().find(|w| w.code == "file_truncated").unwrap().offset, Some(cut_at as u64));
        }
        if cut_at < full.len() {
            prop_assert!(!warnings.is_empty(), "a cut file is never silent");
        }
    }
}

#[test]
fn scattered_bad_table_entries_make_one_warning_and_count_as_skipped_records() {
    use pushtrace_capture::{CaptureReader, ReadOptions};
    let start = 1_709_208_000_000_000_000;
    let mut w = NetMonWriter::new((2, 0), media::ETHERNET, start).unwrap();
    for n in 0..10u8 {
        w.add_frame(start + i64::from(n), media::ETHERNET, &[n; 20], 20)
            .unwrap();
    }
    let mut file = w.to_bytes();
    let table = u32::from_le_bytes(file[24..28].try_into().unwrap()) as usize;
    for entry in [1, 3, 5, 7] {
        file[table + 4 * entry..table + 4 * entry + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    let mut reader = CaptureReader::from_bytes(file, &ReadOptions::default()).unwrap();
    let mut numbers = Vec::new();
    while let Some(frame) = reader.next_frame() {
        numbers.push(frame.number);
    }
    assert_eq!(numbers, [1, 3, 5, 7, 9, 10]);
    let past_end: Vec<_> = reader
        .warnings()
        .iter()
        .filter(|w| w.code == "frame_offset_past_end")
        .collect();
    assert_eq!(past_end.len(), 1, "{:?}", reader.warnings());
    assert!(past_end[0].message.contains('4'), "{}", past_end[0].message);
    assert_eq!(reader.stats().skipped_records, 4);
}
