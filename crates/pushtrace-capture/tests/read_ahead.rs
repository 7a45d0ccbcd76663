//! Files large enough to be read ahead by the reader's helper thread (16 MiB and more): the
//! helper maps pages ahead of the reader and unmaps those it has passed, which must never
//! change a frame, lose one, or keep the reader from being dropped mid-file.

mod common;

use common::{read_bytes, read_file, Owned};
use pushtrace_capture::netmon::NetMonWriter;
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};
use pushtrace_capture::{CaptureReader, ReadOptions};

const T0: i64 = 1_700_000_000_000_000_000;

/// The bytes of frame `i`: its number spread over every byte, so that a frame read from the
/// wrong page, or from a page of zeros, cannot pass for it.
fn frame_bytes(i: usize) -> Vec<u8> {
    const SIZES: [usize; 6] = [60, 1514, 4096, 9000, 333, 65_535];
    let len = SIZES[i % SIZES.len()];
    (0..len).map(|k| (i.wrapping_mul(31) ^ k) as u8).collect()
}

/// A pcap file of at least `size` bytes of frames.
fn pcap_of(size: usize) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
    let (mut written, mut i) = (0, 0);
    while written < size {
        let data = frame_bytes(i);
        w.write_frame(T0 + i as i64 * 1_000, &data, data.len() as u32)
            .unwrap();
        written += data.len() + 16;
        i += 1;
    }
    w.into_inner()
}

fn assert_same(
    name: &str,
    read: &(Vec<Owned>, Vec<pushtrace_capture::Warning>),
    expected: &(Vec<Owned>, Vec<pushtrace_capture::Warning>),
) {
    assert_eq!(read.0.len(), expected.0.len(), "{name}: frame count");
    for (got, want) in read.0.iter().zip(&expected.0) {
        assert!(got == want, "{name}: frame {} differs", want.number);
    }
    assert_eq!(read.1, expected.1, "{name}: warnings");
}

#[test]
fn large_files_read_the_same_as_bytes_in_memory() {
    // 40 MiB: the helper maps ahead and unmaps more than 8 MiB behind the reader, so frames
    // are read from pages it mapped, and the reader passes pages it has released.
    let plain = pcap_of(40 << 20);
    let expected = read_bytes(&plain);
    assert!(expected.0.len() > 2_000 && expected.1.is_empty());
    assert_same("pcap", &read_file(&plain), &expected);

    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    for frame in &expected.0 {
        w.write_epb(0, frame.ts_ns, &frame.data, frame.orig_len)
            .unwrap();
    }
    let ng = w.into_inner();
    assert_same("pcapng", &read_file(&ng), &read_bytes(&ng));

    let mut w = NetMonWriter::new((2, 3), 1, T0).unwrap();
    for frame in &expected.0 {
        w.add_frame(frame.ts_ns, 1, &frame.data, frame.orig_len)
            .unwrap();
    }
    let netmon = w.to_bytes();
    let from_file = read_file(&netmon);
    assert_eq!(from_file.0.len(), expected.0.len());
    assert_same("netmon", &from_file, &read_bytes(&netmon));
}

#[test]
fn a_reader_dropped_mid_file_stops_its_helper() {
    let plain = pcap_of(24 << 20);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &plain).unwrap();
    for frames in [0, 1, 500] {
        let mut reader = CaptureReader::open_with(file.path(), &ReadOptions::default()).unwrap();
        for _ in 0..frames {
            reader.next_frame().unwrap();
        }
        // Dropping joins the helper: a helper that did not stop would hang the test.
        drop(reader);
    }
}

/// Kilobytes of the file at `path` mapped into this process (Linux: the `Rss` of its
/// mappings in `/proc/self/smaps`; other tests' files do not count).
#[cfg(target_os = "linux")]
fn resident_kib_of(path: &std::path::Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut total = 0;
    let mut ours = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's first line: range, permissions, offset, device, inode, path.
            ours = line.ends_with(name);
        } else if ours && first == "Rss:" {
            total += line
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
    }
    total
}

#[cfg(target_os = "linux")]
#[test]
fn pages_the_reader_has_passed_are_released() {
    // 64 MiB read to about 56 MiB: without the release, 56 MiB of the file would be mapped;
    // with it, the 32 MiB block below 40 MiB (the reader less the 8 MiB kept behind) is
    // unmapped, leaving at most 32 MiB.
    let plain = pcap_of(64 << 20);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &plain).unwrap();
    let mut reader = CaptureReader::open(file.path()).unwrap();
    while reader.position() < 56 << 20 {
        reader.next_frame().unwrap();
    }
    // The helper works asynchronously: give it time (it needs milliseconds).
    let mut mapped = 0;
    for _ in 0..500 {
        mapped = resident_kib_of(file.path());
        if mapped < 36 << 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(mapped < 36 << 10, "{mapped} KiB of the file still mapped");
    assert!(mapped > 0, "the file's mapping was not found");
    assert!(reader.next_frame().is_some());
}
