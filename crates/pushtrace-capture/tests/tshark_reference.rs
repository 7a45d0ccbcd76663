//! Cross-check against Wireshark: the sample files built here were written to disk and read
//! with `tshark -r FILE -T fields -e frame.number -e frame.time_epoch -e frame.len
//! -e frame.cap_len` (TShark 4.0.17); its output is recorded below as constants, so the
//! tests do not need tshark. Set `PUSHTRACE_WRITE_SAMPLES=/some/dir` to write the files again.

mod common;

use common::{read_bytes, read_file, read_stream, Owned};
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};

/// `count` bytes counting up from `seed`.
fn payload(seed: u8, count: usize) -> Vec<u8> {
    (0..count).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn pcap_le_micro() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
    w.write_frame(1_700_000_000_123_456_000, &payload(1, 60), 60)
        .unwrap();
    w.write_frame(1_700_000_000_999_999_000, &payload(2, 64), 1514)
        .unwrap();
    w.write_frame(1_700_000_001_000_000_000, &payload(3, 42), 42)
        .unwrap();
    w.into_inner()
}

fn pcap_be_nano() -> Vec<u8> {
    let options = PcapOptions {
        nanos: true,
        big_endian: true,
        linktype: 101,
        ..Default::default()
    };
    let mut w = PcapWriter::new(Vec::new(), options).unwrap();
    w.write_frame(1_700_000_000_000_000_001, &payload(4, 20), 20)
        .unwrap();
    w.write_frame(1_700_000_002_500_000_000, &payload(5, 28), 40)
        .unwrap();
    w.into_inner()
}

fn pcap_modified_be() -> Vec<u8> {
    let options = PcapOptions {
        modified: true,
        big_endian: true,
        ..Default::default()
    };
    let mut w = PcapWriter::new(Vec::new(), options).unwrap();
    w.write_frame(1_000_000_000_000_001_000, &payload(6, 14), 14)
        .unwrap();
    w.write_frame(1_000_000_001_000_002_000, &payload(7, 100), 100)
        .unwrap();
    w.into_inner()
}

/// Two sections (little-, then big-endian); interfaces with 10^-9 and 2^-20 resolutions,
/// negative and positive `if_tsoffset`; EPB, obsolete PB, SPB; custom and unknown blocks.
fn pcapng_mixed() -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    let nano = w.add_interface(1, 0, Some(9), None).unwrap();
    let pow2 = w
        .add_interface(101, 65535, Some(0x80 | 20), Some(-3600))
        .unwrap();
    w.write_epb(nano, 1_700_000_000_123_456_789, &payload(8, 60), 60)
        .unwrap();
    w.write_custom_block(32473, b"custom data", true).unwrap();
    w.write_epb(pow2, 1_700_000_000_500_000_000, &payload(9, 40), 40)
        .unwrap();
    w.write_block(0x0000_0004, &[0, 0, 0, 0]).unwrap(); // empty name resolution block
    w.write_epb(pow2, 1_700_000_001_000_001_000, &payload(10, 20), 1500)
        .unwrap();
    w.new_section(true).unwrap();
    let eth = w.add_interface(1, 128, None, Some(100)).unwrap();
    w.write_epb(eth, 1_700_000_100_000_001_000, &payload(11, 60), 60)
        .unwrap();
    w.write_obsolete_packet(0, 1_700_000_101_000_000_000, &payload(12, 70), 70)
        .unwrap();
    w.write_spb(&payload(13, 128), 200).unwrap(); // cut to the snap length
    w.into_inner()
}

/// tshark's `frame.number, frame.time_epoch (as ns), frame.len, frame.cap_len` for a file.
type Reference = [(u64, i64, u32, usize)];

/// Reads `bytes` from memory, from a mapped file and as a trickling stream, and compares
/// every path with the tshark reference.
fn check(bytes: &[u8], reference: &Reference) {
    for (path, (frames, warnings)) in [
        ("bytes", read_bytes(bytes)),
        ("file", read_file(bytes)),
        ("stream", read_stream(bytes, 7)),
    ] {
        let got: Vec<_> = frames
            .iter()
            .map(|f: &Owned| (f.number, f.ts_ns, f.orig_len, f.data.len()))
            .collect();
        assert_eq!(got, reference, "{path}");
        assert!(
            warnings.iter().all(|w| w.code == "no_timestamp"),
            "{path}: {warnings:?}"
        );
    }
}

#[test]
fn pcap_little_endian_microseconds_matches_tshark() {
    check(
        &pcap_le_micro(),
        &[
            (1, 1_700_000_000_123_456_000, 60, 60),
            (2, 1_700_000_000_999_999_000, 1514, 64),
            (3, 1_700_000_001_000_000_000, 42, 42),
        ],
    );
}

#[test]
fn pcap_big_endian_nanoseconds_matches_tshark() {
    check(
        &pcap_be_nano(),
        &[
            (1, 1_700_000_000_000_000_001, 20, 20),
            (2, 1_700_000_002_500_000_000, 40, 28),
        ],
    );
}

#[test]
fn pcap_modified_big_endian_matches_tshark() {
    check(
        &pcap_modified_be(),
        &[
            (1, 1_000_000_000_000_001_000, 14, 14),
            (2, 1_000_000_001_000_002_000, 100, 100),
        ],
    );
}

#[test]
fn pcapng_mixed_sections_match_tshark() {
    // tshark lists the custom block as frame 2 (not a packet: we skip it but keep the
    // numbering) and shows no time for the simple packet block (7), which gets the time of
    // the packet before it here.
    check(
        &pcapng_mixed(),
        &[
            (1, 1_700_000_000_123_456_789, 60, 60),
            (3, 1_700_000_000_500_000_000, 40, 40),
            (4, 1_700_000_001_000_000_953, 1500, 20),
            (5, 1_700_000_100_000_001_000, 60, 60),
            (6, 1_700_000_101_000_000_000, 70, 70),
            (7, 1_700_000_101_000_000_000, 200, 128),
        ],
    );
}

#[test]
fn pcapng_metadata_blocks_match_tshark_numbering() {
    // tshark: 1 EPB, 2 custom (copy), 3 EPB, 4 custom (no copy), 5 EPB, 6 systemd journal,
    // 7–10 EPBs; the ISB, DSB, unknown and local-use blocks are not frames.
    let second = 1_000_000_000;
    let start = 1_700_000_000 * second;
    check(
        &pcapng_blocks(),
        &[
            (1, start, 60, 60),
            (3, start + second, 60, 60),
            (5, start + 2 * second, 60, 60),
            (7, start + 3 * second, 60, 60),
            (8, start + 4 * second, 60, 60),
            (9, start + 5 * second, 60, 60),
            (10, start + 6 * second, 60, 60),
        ],
    );
    let mut reader =
        pushtrace_capture::CaptureReader::from_bytes(pcapng_blocks(), &Default::default()).unwrap();
    while reader.next_frame().is_some() {}
    assert_eq!(reader.stats().other_blocks, 7);
    assert_eq!(reader.stats().frames, 7);
}

/// Writes the samples when `PUSHTRACE_WRITE_SAMPLES` names a directory.
#[test]
fn write_samples_for_tshark() {
    let Some(dir) = std::env::var_os("PUSHTRACE_WRITE_SAMPLES") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, bytes) in [
        ("le_micro.pcap", pcap_le_micro()),
        ("be_nano.pcap", pcap_be_nano()),
        ("modified_be.pcap", pcap_modified_be()),
        ("mixed.pcapng", pcapng_mixed()),
        ("blocks.pcapng", pcapng_blocks()),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn pcapng_blocks() -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new());
    w.new_section(false).unwrap();
    w.add_interface(1, 0, None, None).unwrap();
    w.write_epb(0, 1_700_000_000_000_000_000, &payload(1, 60), 60)
        .unwrap();
    w.write_custom_block(32473, b"copy", true).unwrap();
    w.write_epb(0, 1_700_000_001_000_000_000, &payload(1, 60), 60)
        .unwrap();
    w.write_custom_block(32473, b"nocopy", false).unwrap();
    w.write_epb(0, 1_700_000_002_000_000_000, &payload(1, 60), 60)
        .unwrap();
    w.write_block(9, b"MESSAGE=hello\n__REALTIME_TIMESTAMP=1700000002500000\n")
        .unwrap();
    w.write_epb(0, 1_700_000_003_000_000_000, &payload(1, 60), 60)
        .unwrap();
    // ISB for interface 0: ts high, ts low, no options
    w.write_block(5, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    w.write_epb(0, 1_700_000_004_000_000_000, &payload(1, 60), 60)
        .unwrap();
    // DSB: TLS key log, 4 bytes
    w.write_block(
        10,
        &[0x4B, 0x53, 0x4C, 0x54, 4, 0, 0, 0, b'a', b'b', b'c', b'd'],
    )
    .unwrap();
    w.write_epb(0, 1_700_000_005_000_000_000, &payload(1, 60), 60)
        .unwrap();
    w.write_block(0x1234_5678, &[1, 2, 3, 4]).unwrap();
    w.write_block(0x8000_0001, &[1, 2, 3, 4]).unwrap();
    w.write_epb(0, 1_700_000_006_000_000_000, &payload(1, 60), 60)
        .unwrap();
    w.into_inner()
}
