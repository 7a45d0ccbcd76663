//! Property tests: written captures read back exactly, the memory and stream paths agree
//! (also on damaged input), and arbitrary bytes never panic or loop.

mod common;

use common::{drain, Owned, ShortReads};
use proptest::prelude::*;
use pushtrace_capture::write::{PcapNgWriter, PcapOptions, PcapWriter};
use pushtrace_capture::{CaptureReader, LinkType, ReadOptions, Warning};

/// Frames read per input at most, so every case terminates.
const MAX_FRAMES: usize = 10_000;

/// One frame to write: time, bytes, extra wire length beyond the captured bytes.
#[derive(Debug, Clone)]
struct Spec {
    ts_ns: i64,
    data: Vec<u8>,
    extra: u32,
}

fn spec(unit_ns: i64) -> impl Strategy<Value = Spec> {
    (
        // At least a million seconds, so that an interface's `if_tsoffset` (below ±10^6 s)
        // never puts a stored time before the epoch, which no unsigned timestamp can hold.
        1_000_000i64..4_000_000_000,
        0i64..1_000_000_000,
        prop::collection::vec(any::<u8>(), 0..120),
        0u32..3,
    )
        .prop_map(move |(secs, frac, data, extra)| Spec {
            ts_ns: secs * 1_000_000_000 + frac / unit_ns * unit_ns,
            data,
            extra,
        })
}

/// Reads `bytes` from memory and as a stream with the given read sizes; both must agree.
fn read_both(bytes: &[u8], read_sizes: Vec<usize>) -> (Vec<Owned>, Vec<Warning>) {
    let options = ReadOptions::default();
    let whole =
        CaptureReader::from_bytes(bytes.to_vec(), &options).map(|mut r| drain(&mut r, MAX_FRAMES));
    let stream = CaptureReader::from_reader(ShortReads::new(bytes.to_vec(), read_sizes), &options)
        .map(|mut r| drain(&mut r, MAX_FRAMES));
    match (whole, stream) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "memory and stream paths differ");
            a
        }
        (Err(a), Err(b)) => {
            // The same error, each naming its own source (`<bytes>`, `<stream>`).
            let unnamed = |e: String| {
                e.replace("<bytes>", "<input>")
                    .replace("<stream>", "<input>")
            };
            assert_eq!(unnamed(a.to_string()), unnamed(b.to_string()));
            (Vec::new(), Vec::new())
        }
        (a, b) => panic!("one path failed: {:?} / {:?}", a.err(), b.err()),
    }
}

fn pcap_options() -> impl Strategy<Value = PcapOptions> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<u16>()).prop_map(
        |(nanos, big_endian, modified, linktype)| PcapOptions {
            nanos: nanos && !modified,
            big_endian,
            modified,
            linktype,
            snaplen: 65535,
        },
    )
}

/// A pcapng section: byte order, interfaces (resolution exponent 6 or 9, offset), packets
/// as (interface index, obsolete block?, frame).
#[derive(Debug, Clone)]
struct Section {
    big_endian: bool,
    interfaces: Vec<(u16, bool, i64)>,
    packets: Vec<(usize, bool, Spec)>,
}

fn section() -> impl Strategy<Value = Section> {
    (
        any::<bool>(),
        prop::collection::vec(
            (any::<u16>(), any::<bool>(), -1_000_000i64..1_000_000),
            1..4,
        ),
    )
        .prop_flat_map(|(big_endian, interfaces)| {
            let count = interfaces.len();
            let packets = prop::collection::vec((0..count, any::<bool>(), spec(1_000)), 0..12);
            (Just(big_endian), Just(interfaces), packets).prop_map(
                |(big_endian, interfaces, packets)| Section {
                    big_endian,
                    interfaces,
                    packets,
                },
            )
        })
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..300, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pcap_round_trip(options in pcap_options(), specs in prop::collection::vec(spec(1_000), 0..20), sizes in read_sizes()) {
        let mut w = PcapWriter::new(Vec::new(), options).unwrap();
        for s in &specs {
            w.write_frame(s.ts_ns, &s.data, s.data.len() as u32 + s.extra).unwrap();
        }
        let (frames, warnings) = read_both(&w.into_inner(), sizes);
        prop_assert!(warnings.is_empty());
        let expected: Vec<Owned> = specs.iter().enumerate().map(|(i, s)| Owned {
            number: i as u64 + 1,
            ts_ns: s.ts_ns,
            link: LinkType::Pcap(options.linktype),
            data: s.data.clone(),
            orig_len: s.data.len() as u32 + s.extra,
        }).collect();
        prop_assert_eq!(frames, expected);
    }

    #[test]
    fn pcapng_round_trip(sections in prop::collection::vec(section(), 1..4), sizes in read_sizes()) {
        let mut w = PcapNgWriter::new(Vec::new());
        let mut expected = Vec::new();
        for section in &sections {
            w.new_section(section.big_endian).unwrap();
            for &(linktype, nanos, offset) in &section.interfaces {
                w.add_interface(linktype, 0, nanos.then_some(9), Some(offset)).unwrap();
            }
            for (if_index, obsolete, s) in &section.packets {
                let orig_len = s.data.len() as u32 + s.extra;
                if *obsolete {
                    w.write_obsolete_packet(*if_index as u16, s.ts_ns, &s.data, orig_len).unwrap();
                } else {
                    w.write_epb(*if_index as u32, s.ts_ns, &s.data, orig_len).unwrap();
                }
                expected.push(Owned {
                    number: expected.len() as u64 + 1,
                    ts_ns: s.ts_ns,
                    link: LinkType::Pcap(section.interfaces[*if_index].0),
                    data: s.data.clone(),
                    orig_len,
                });
            }
        }
        let (frames, warnings) = read_both(&w.into_inner(), sizes);
        prop_assert!(warnings.is_empty(), "{:?}", warnings);
        prop_assert_eq!(frames, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), sizes in read_sizes()) {
        read_both(&bytes, sizes);
    }

    #[test]
    fn arbitrary_records_after_a_pcap_header(
        options in pcap_options(),
        tail in prop::collection::vec(any::<u8>(), 0..3000),
        sizes in read_sizes(),
    ) {
        let mut bytes = PcapWriter::new(Vec::new(), options).unwrap().into_inner();
        bytes.extend(tail);
        read_both(&bytes, sizes);
    }

    #[test]
    fn arbitrary_blocks_after_a_pcapng_header(
        big_endian in any::<bool>(),
        tail in prop::collection::vec(any::<u8>(), 0..3000),
        sizes in read_sizes(),
    ) {
        let mut w = PcapNgWriter::new(Vec::new());
        w.new_section(big_endian).unwrap();
        w.add_interface(1, 0, Some(0x80 | 20), Some(-5)).unwrap();
        let mut bytes = w.into_inner();
        bytes.extend(tail);
        read_both(&bytes, sizes);
    }

    #[test]
    fn damaged_captures_read_the_same_on_both_paths(
        options in pcap_options(),
        specs in prop::collection::vec(spec(1_000), 1..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        sizes in read_sizes(),
    ) {
        let mut w = PcapWriter::new(Vec::new(), options).unwrap();
        for s in &specs {
            w.write_frame(s.ts_ns, &s.data, s.data.len() as u32 + s.extra).unwrap();
        }
        let mut bytes = w.into_inner();
        for (at, value) in flips {
            let i = 24 + at.index(bytes.len() - 24);
            bytes[i] = value;
        }
        bytes.truncate(24 + cut.index(bytes.len() - 23));
        let (frames, warnings) = read_both(&bytes, sizes);
        // Every frame fits in the file and at most one warning says where reading stopped.
        prop_assert!(frames.iter().all(|f| f.data.len() < bytes.len()));
        let stops = warnings.iter().filter(|w| matches!(w.code, "file_truncated" | "corrupt_record")).count();
        prop_assert!(stops <= 1, "{:?}", warnings);
    }
}
