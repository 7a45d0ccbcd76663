//! Format detection from the first bytes of the input, never from a file name
//! (formats.md §0.1). Compression wrappers are detected here too; the caller decompresses
//! and detects again on the decompressed bytes.

use crate::{pcap, pcapng, Compression, Format};

/// Bytes to look at: enough for every magic (the pcapng byte-order magic ends at 12).
pub(crate) const PREFIX_LEN: usize = 16;

/// What the first bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detected {
    /// A capture format this crate reads.
    Capture(Format),
    /// A supported compression wrapper.
    Compressed(Compression),
    /// A compression wrapper that is recognised but not supported (e.g. `xz`).
    UnsupportedCompression(&'static str),
    /// Nothing known.
    Unknown,
}

/// True when `prefix`, the first bytes of an input (16 are enough), start a capture format
/// or a compression wrapper this crate knows: what tells a capture from a text artefact
/// given beside it without reading further.
pub fn is_capture_prefix(prefix: &[u8]) -> bool {
    detect(prefix) != Detected::Unknown
}

/// Classifies `prefix`, the first (up to [`PREFIX_LEN`]) bytes of the input.
pub(crate) fn detect(prefix: &[u8]) -> Detected {
    if let Some(magic) = prefix.get(..4).and_then(|m| <[u8; 4]>::try_from(m).ok()) {
        if pcap::variant(magic).is_some() {
            return Detected::Capture(Format::Pcap);
        }
        if u32::from_le_bytes(magic) == pcapng::SHB_TYPE {
            // The block type alone is "\n\r\r\n", which text could start with: require a
            // valid byte-order magic as well.
            return match prefix.get(8..12).and_then(pcapng::section_endian) {
                Some(_) => Detected::Capture(Format::PcapNg),
                None => Detected::Unknown,
            };
        }
        match &magic {
            b"RTSS" => return Detected::Capture(Format::NetMon1),
            b"GMBU" => return Detected::Capture(Format::NetMon2),
            [0x28, 0xB5, 0x2F, 0xFD] => return Detected::Compressed(Compression::Zstd),
            _ => {}
        }
    }
    if prefix.starts_with(&[0x1F, 0x8B]) {
        return Detected::Compressed(Compression::Gzip);
    }
    if prefix.starts_with(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
        return Detected::UnsupportedCompression("xz");
    }
    Detected::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_table() {
        let cases: [(&[u8], Detected); 14] = [
            (&[0xD4, 0xC3, 0xB2, 0xA1], Detected::Capture(Format::Pcap)),
            (&[0xA1, 0xB2, 0xC3, 0xD4], Detected::Capture(Format::Pcap)),
            (&[0x4D, 0x3C, 0xB2, 0xA1], Detected::Capture(Format::Pcap)),
            (&[0xA1, 0xB2, 0x3C, 0x4D], Detected::Capture(Format::Pcap)),
            (&[0x34, 0xCD, 0xB2, 0xA1], Detected::Capture(Format::Pcap)),
            (&[0xA1, 0xB2, 0xCD, 0x34], Detected::Capture(Format::Pcap)),
            (
                &[0x0A, 0x0D, 0x0D, 0x0A, 0, 0, 0, 28, 0x1A, 0x2B, 0x3C, 0x4D],
                Detected::Capture(Format::PcapNg),
            ),
            (
                &[0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A],
                Detected::Capture(Format::PcapNg),
            ),
            (
                &[0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, b'h', b'i', 0, 0],
                Detected::Unknown,
            ),
            (b"RTSS\x01\x01", Detected::Capture(Format::NetMon1)),
            (b"GMBU\x03\x02", Detected::Capture(Format::NetMon2)),
            (&[0x1F, 0x8B, 0x08], Detected::Compressed(Compression::Gzip)),
            (
                &[0x28, 0xB5, 0x2F, 0xFD, 0x04],
                Detected::Compressed(Compression::Zstd),
            ),
            (
                &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00],
                Detected::UnsupportedCompression("xz"),
            ),
        ];
        for (prefix, expected) in cases {
            assert_eq!(detect(prefix), expected, "{prefix:02x?}");
        }
        assert_eq!(detect(b""), Detected::Unknown);
        assert_eq!(detect(&[0xD4, 0xC3, 0xB2]), Detected::Unknown);
        assert_eq!(detect(b"GET / HTTP/1.1"), Detected::Unknown);
    }
}
