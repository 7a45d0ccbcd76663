//! Network Monitor files written by other tools, checked against tshark's reading of them
//! (formats.md §3 and §6).
//!
//! Provenance of `tests/data/`:
//! * `netmon1_1_editcap.cap`, `netmon2_0_editcap.cap`: a 5-frame Ethernet/IPv4/UDP pcap
//!   (frame 3 cut to 64 of 192 bytes, frame 4 earlier than frame 1) converted with
//!   `TZ=UTC editcap -F netmon1` / `-F netmon2` (Wireshark 4.0.17). Version 1.1 stores
//!   ms, and frame 4's negative delta wraps as an unsigned 32-bit ms count; 2.0 stores a
//!   signed µs delta.
//! * `netmon2_1_editcap.cap`: that pcap merged (`mergecap -F pcapng`) with a 2-frame
//!   Token Ring pcap, then `TZ=UTC editcap -F netmon2`, which writes 2.1 with per-frame
//!   media types.
//! * `netmon2_1_metadata_pushtrace.cap`, `netmon2_3_metadata_pushtrace.cap`: written by
//!   [`NetMonWriter`] (rebuilt byte for byte below) with skipped metadata records
//!   (0xFFFC, 0xFFFD, 0xFFFE), a 0xFFFF filter record, a negative delta, a converted-pcap
//!   media type and raw IP.
//!
//! The expected values are `TZ=UTC tshark -r FILE -T fields -e frame.number
//! -e frame.time_epoch -e frame.len -e frame.cap_len` (tshark 4.0.17); tshark is not needed
//! to run these tests.

use pushtrace_capture::netmon::{media, NetMonReader, NetMonWriter};
use pushtrace_capture::LinkType;

const NETMON_1_1: &[u8] = include_bytes!("data/netmon1_1_editcap.cap");
const NETMON_2_0: &[u8] = include_bytes!("data/netmon2_0_editcap.cap");
const NETMON_2_1: &[u8] = include_bytes!("data/netmon2_1_editcap.cap");
const METADATA_2_1: &[u8] = include_bytes!("data/netmon2_1_metadata_pushtrace.cap");
const METADATA_2_3: &[u8] = include_bytes!("data/netmon2_3_metadata_pushtrace.cap");

/// One tshark output line: frame.number, frame.time_epoch (as "s.ns"), frame.len,
/// frame.cap_len, plus the link type tshark's frame.encap_type stands for.
type Expected = (u64, &'static str, u32, usize, LinkType);

const TSHARK_1_1: [Expected; 5] = [
    (1, "1700000000.123000000", 60, 60, LinkType::ETHERNET),
    (2, "1700000000.125000000", 60, 60, LinkType::ETHERNET),
    (3, "1700000001.500000000", 192, 64, LinkType::ETHERNET),
    (4, "1704294967.196000000", 60, 60, LinkType::ETHERNET),
    (5, "1700000100.000000000", 60, 60, LinkType::ETHERNET),
];

const TSHARK_2_0: [Expected; 5] = [
    (1, "1700000000.123456000", 60, 60, LinkType::ETHERNET),
    (2, "1700000000.124999000", 60, 60, LinkType::ETHERNET),
    (3, "1700000001.500000000", 192, 64, LinkType::ETHERNET),
    (4, "1699999999.900000000", 60, 60, LinkType::ETHERNET),
    (5, "1700000100.000001000", 60, 60, LinkType::ETHERNET),
];

/// frame.encap_type 1 = Ethernet, 2 = Token Ring.
const TSHARK_2_1: [Expected; 7] = [
    (1, "1700000000.123456000", 60, 60, LinkType::ETHERNET),
    (2, "1700000000.124999000", 60, 60, LinkType::ETHERNET),
    (3, "1700000000.300000000", 54, 54, LinkType::TOKEN_RING),
    (4, "1700000001.500000000", 192, 64, LinkType::ETHERNET),
    (5, "1699999999.900000000", 60, 60, LinkType::ETHERNET),
    (6, "1700000002.000250000", 54, 54, LinkType::TOKEN_RING),
    (7, "1700000100.000001000", 60, 60, LinkType::ETHERNET),
];

/// frame.encap_type 189 = NetMon filter, 7 = raw IP.
const TSHARK_METADATA_2_1: [Expected; 5] = [
    (1, "1700000000.124234000", 60, 60, LinkType::ETHERNET),
    (2, "1699999997.622999000", 60, 60, LinkType::ETHERNET),
    (3, "1700000000.123000000", 4, 4, LinkType::NetMon(0xFFFF)),
    (4, "1700000005.123000000", 60, 60, LinkType::ETHERNET),
    (5, "1700000006.123000000", 20, 20, LinkType::RAW),
];

/// 2.3: the trailer's FILETIME keeps 100 ns.
const TSHARK_METADATA_2_3: [Expected; 5] = [
    (1, "1700000000.124234500", 60, 60, LinkType::ETHERNET),
    (2, "1699999997.622999700", 60, 60, LinkType::ETHERNET),
    (3, "1700000000.123000000", 4, 4, LinkType::NetMon(0xFFFF)),
    (4, "1700000005.123000000", 60, 60, LinkType::ETHERNET),
    (5, "1700000006.123000100", 20, 20, LinkType::RAW),
];

/// [`Expected`] with an owned time string.
type Row = (u64, String, u32, usize, LinkType);

/// What the reader yields, in the shape of [`Expected`], plus the frame bytes.
fn read(file: &[u8]) -> (Vec<Row>, Vec<Vec<u8>>) {
    let mut reader = NetMonReader::new(file, 0).expect("a Network Monitor file");
    let mut rows = Vec::new();
    let mut data = Vec::new();
    while let Some(f) = reader.next_frame(file) {
        let epoch = format!(
            "{}.{:09}",
            f.ts_ns.div_euclid(1_000_000_000),
            f.ts_ns.rem_euclid(1_000_000_000)
        );
        rows.push((f.number, epoch, f.orig_len, f.data.len(), f.link));
        data.push(f.data.to_vec());
    }
    assert_eq!(reader.take_warnings(), vec![]);
    (rows, data)
}

fn owned(expected: &[Expected]) -> Vec<Row> {
    expected
        .iter()
        .map(|&(n, t, len, cap, link)| (n, t.to_string(), len, cap, link))
        .collect()
}

#[test]
fn editcap_netmon_1_1_matches_tshark() {
    let reader = NetMonReader::new(NETMON_1_1, 0).unwrap();
    assert_eq!(reader.version(), (1, 1));
    assert!(reader.times_are_local());
    assert_eq!(read(NETMON_1_1).0, owned(&TSHARK_1_1));
}

#[test]
fn editcap_netmon_2_0_matches_tshark() {
    assert_eq!(NetMonReader::new(NETMON_2_0, 0).unwrap().version(), (2, 0));
    assert_eq!(read(NETMON_2_0).0, owned(&TSHARK_2_0));
}

#[test]
fn editcap_netmon_2_1_with_per_frame_media_matches_tshark() {
    assert_eq!(NetMonReader::new(NETMON_2_1, 0).unwrap().version(), (2, 1));
    assert_eq!(read(NETMON_2_1).0, owned(&TSHARK_2_1));
}

#[test]
fn the_three_editcap_files_hold_the_same_ethernet_bytes() {
    let (_, v11) = read(NETMON_1_1);
    let (_, v20) = read(NETMON_2_0);
    let (rows21, v21) = read(NETMON_2_1);
    let ethernet_21: Vec<Vec<u8>> = rows21
        .iter()
        .zip(v21)
        .filter(|(row, _)| row.4 == LinkType::ETHERNET)
        .map(|(_, data)| data)
        .collect();
    assert_eq!(v11, v20);
    assert_eq!(v20, ethernet_21);
    // Ethernet destination 00:11:22:33:44:55, EtherType IPv4.
    assert_eq!(&v20[0][..6], &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
    assert_eq!(&v20[0][12..14], &[0x08, 0x00]);
}

#[test]
fn writer_reproduces_editcap_output_byte_for_byte() {
    for (file, version) in [
        (NETMON_1_1, (1, 1)),
        (NETMON_2_0, (2, 0)),
        (NETMON_2_1, (2, 1)),
    ] {
        let mut reader = NetMonReader::new(file, 0).unwrap();
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame(file) {
            let media_type = if f.link == LinkType::TOKEN_RING {
                media::TOKEN_RING
            } else {
                media::ETHERNET
            };
            frames.push((f.ts_ns, media_type, f.data, f.orig_len));
        }
        // editcap takes the first frame's time, cut to ms, as the header time.
        let mut writer = NetMonWriter::new(version, media::ETHERNET, frames[0].0).unwrap();
        for (ts_ns, media_type, data, orig_len) in frames {
            writer.add_frame(ts_ns, media_type, data, orig_len).unwrap();
        }
        assert_eq!(writer.to_bytes(), file, "version {version:?}");
    }
}

/// Rebuilds the two metadata fixtures: what was written and handed to tshark.
fn metadata_file(version: (u8, u8)) -> Vec<u8> {
    let start: i64 = 1_700_000_000_123_000_000;
    // Ethernet: dst 00:11:22:33:44:55, src 66:77:88:99:aa:bb, IPv4, 46 filler bytes.
    let ethernet = |fill: u8| {
        let mut frame = vec![
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00,
        ];
        frame.resize(60, fill);
        frame
    };
    // IPv4 header only: 10.0.0.1 -> 10.0.0.2, UDP, total length 20.
    let raw_ip = [
        0x45, 0, 0, 20, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let mut w = NetMonWriter::new(version, media::ETHERNET, start).unwrap();
    w.add_frame(start + 1_234_567, media::ETHERNET, &ethernet(1), 60)
        .unwrap();
    w.add_raw_metadata_frame(media::PAYLOAD_HEADER, b"reassembly")
        .unwrap();
    w.add_frame(start - 2_500_000_300, media::ETHERNET, &ethernet(2), 60)
        .unwrap();
    w.add_raw_metadata_frame(media::NETWORK_INFO, b"adapters")
        .unwrap();
    w.add_raw_metadata_frame(media::DNS_CACHE, b"dns").unwrap();
    w.add_raw_metadata_frame(media::FILTER, &[0x00, 0x01, 0x00, 0x00])
        .unwrap();
    w.add_frame(
        start + 5_000_000_000,
        media::PCAP_BASE | 1,
        &ethernet(3),
        60,
    )
    .unwrap();
    w.add_frame(start + 6_000_000_100, media::RAW_IP, &raw_ip, 20)
        .unwrap();
    w.to_bytes()
}

#[test]
fn writer_metadata_files_match_tshark() {
    assert_eq!(metadata_file((2, 1)), METADATA_2_1);
    assert_eq!(metadata_file((2, 3)), METADATA_2_3);
    assert_eq!(read(METADATA_2_1).0, owned(&TSHARK_METADATA_2_1));
    assert_eq!(read(METADATA_2_3).0, owned(&TSHARK_METADATA_2_3));
    assert!(!NetMonReader::new(METADATA_2_3, 0)
        .unwrap()
        .times_are_local());
}
