//! Writers for classic pcap (formats.md §1) and pcapng (§2), used by tests, by sample
//! generators and for evidence captures (packet comments, named interfaces). They write
//! what they are told, byte-exactly and deterministically, in either byte order, including
//! the variants other tools cannot produce (big-endian files, "modified" records,
//! mixed-endian sections, 2^-n resolutions, negative `if_tsoffset`, obsolete Packet Blocks,
//! references to undefined interfaces).

use crate::frame::OPT_COMMENT;
use crate::pcapng::{
    units_per_sec, CUSTOM_COPYABLE_TYPE, CUSTOM_NO_COPY_TYPE, EPB_TYPE, IDB_TYPE, PB_TYPE,
    SHB_TYPE, SPB_TYPE,
};
use std::io::{self, Write};

/// Custom block type whose contents may be copied by rewriting tools.
pub const CUSTOM_BLOCK_COPYABLE: u32 = CUSTOM_COPYABLE_TYPE;
/// Custom block type whose contents should not be copied by rewriting tools.
pub const CUSTOM_BLOCK_NO_COPY: u32 = CUSTOM_NO_COPY_TYPE;

const NS_PER_SEC: i64 = 1_000_000_000;

/// Layout of a classic pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapOptions {
    /// Nanosecond timestamps (magic `A1B23C4D`) instead of microseconds.
    pub nanos: bool,
    /// Big-endian header and records.
    pub big_endian: bool,
    /// "Modified" format (magic `A1B2CD34`): 24-byte record headers, microseconds only.
    pub modified: bool,
    /// `LINKTYPE_*` of every record.
    pub linktype: u16,
    /// Snap length stored in the header.
    pub snaplen: u32,
}

impl Default for PcapOptions {
    /// Little-endian, microseconds, Ethernet, snap length 262 144.
    fn default() -> Self {
        PcapOptions {
            nanos: false,
            big_endian: false,
            modified: false,
            linktype: 1,
            snaplen: 262_144,
        }
    }
}

/// Writes a classic pcap file, version 2.4.
pub struct PcapWriter<W: Write> {
    out: W,
    options: PcapOptions,
    record: Encoder,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header. Fails for `modified` with `nanos` (no such magic).
    pub fn new(mut out: W, options: PcapOptions) -> io::Result<Self> {
        if options.modified && options.nanos {
            return Err(invalid(
                "the modified pcap format has no nanosecond variant",
            ));
        }
        let magic = match (options.modified, options.nanos) {
            (true, _) => 0xA1B2_CD34,
            (false, true) => 0xA1B2_3C4D,
            (false, false) => 0xA1B2_C3D4,
        };
        let mut header = Encoder::new(options.big_endian);
        header.u32(magic);
        header.u16(2);
        header.u16(4);
        header.u32(0); // thiszone
        header.u32(0); // sigfigs
        header.u32(options.snaplen);
        header.u32(u32::from(options.linktype));
        out.write_all(&header.buf)?;
        Ok(PcapWriter {
            out,
            options,
            record: header,
        })
    }

    /// Writes one record. `ts_ns` must fall in 1970–2106; microsecond files drop the
    /// sub-microsecond part.
    pub fn write_frame(&mut self, ts_ns: i64, data: &[u8], orig_len: u32) -> io::Result<()> {
        if ts_ns < 0 {
            return Err(invalid("pcap cannot store times before 1970"));
        }
        let secs = u32::try_from(ts_ns / NS_PER_SEC)
            .map_err(|_| invalid("pcap cannot store times after 2106"))?;
        let nanos = (ts_ns % NS_PER_SEC) as u32;
        let r = &mut self.record;
        r.buf.clear();
        r.u32(secs);
        r.u32(if self.options.nanos {
            nanos
        } else {
            nanos / 1_000
        });
        r.u32(length(data)?);
        r.u32(orig_len);
        if self.options.modified {
            r.u32(0); // interface index
            r.u16(0); // protocol
            r.u16(0); // packet type, padding
        }
        r.buf.extend_from_slice(data);
        self.out.write_all(&r.buf)
    }

    /// Finishes writing and returns the output.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Option code of an IDB's `if_name`.
const IF_NAME: u16 = 2;
/// Option code of an IDB's `if_description`.
const IF_DESCRIPTION: u16 = 3;
/// Option code of an IDB's `if_tsresol`.
const IF_TSRESOL: u16 = 9;
/// Option code of an IDB's `if_tsoffset`.
const IF_TSOFFSET: u16 = 14;

/// The options [`PcapNgWriter::add_interface_with`] can write into an Interface Description
/// Block; `None` leaves an option out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceOptions<'a> {
    /// The raw `if_tsresol` byte: n for 10^-n s, 0x80 | n for 2^-n s (microseconds when absent).
    pub tsresol: Option<u8>,
    /// `if_tsoffset`: seconds added to every timestamp of the interface.
    pub tsoffset: Option<i64>,
    /// `if_name` (UTF-8).
    pub name: Option<&'a str>,
    /// `if_description` (UTF-8).
    pub description: Option<&'a str>,
}

/// Timestamp units of an interface written so far.
#[derive(Debug, Clone, Copy)]
struct Units {
    per_sec: u64,
    offset_secs: i64,
}

/// Writes a pcapng file block by block. Start each section with
/// [`PcapNgWriter::new_section`]; blocks before the first section are refused.
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Byte order of the current section; `None` before the first.
    big_endian: Option<bool>,
    interfaces: Vec<Units>,
    block: Encoder,
}

impl<W: Write> PcapNgWriter<W> {
    /// A writer that has written nothing yet.
    pub fn new(out: W) -> Self {
        PcapNgWriter {
            out,
            big_endian: None,
            interfaces: Vec::new(),
            block: Encoder::new(false),
        }
    }

    /// Writes a Section Header Block (version 1.0, unknown section length) and starts a new
    /// interface numbering.
    pub fn new_section(&mut self, big_endian: bool) -> io::Result<()> {
        self.big_endian = Some(big_endian);
        self.interfaces.clear();
        self.write_block_with(SHB_TYPE, |b| {
            b.u32(0x1A2B_3C4D); // byte-order magic
            b.u16(1);
            b.u16(0);
            b.u64(u64::MAX); // section length: -1, not given
        })
    }

    /// Writes an Interface Description Block and returns the interface's id. `tsresol` is
    /// the raw `if_tsresol` byte (0x80 | n for 2^-n), `tsoffset` the `if_tsoffset` seconds.
    pub fn add_interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> io::Result<u32> {
        let options = InterfaceOptions {
            tsresol,
            tsoffset,
            ..InterfaceOptions::default()
        };
        self.add_interface_with(linktype, snaplen, &options)
    }

    /// Writes an Interface Description Block with any of the options of
    /// [`InterfaceOptions`] and returns the interface's id. Fails for a name or description
    /// longer than an option holds (65,535 bytes).
    pub fn add_interface_with(
        &mut self,
        linktype: u16,
        snaplen: u32,
        options: &InterfaceOptions<'_>,
    ) -> io::Result<u32> {
        let texts = [
            (IF_NAME, options.name),
            (IF_DESCRIPTION, options.description),
        ];
        for text in texts.iter().filter_map(|(_, t)| *t) {
            option_len(text.as_bytes())?;
        }
        let (tsresol, tsoffset) = (options.tsresol, options.tsoffset);
        self.write_block_with(IDB_TYPE, |b| {
            b.u16(linktype);
            b.u16(0);
            b.u32(snaplen);
            let mut any = false;
            for (code, text) in texts {
                if let Some(text) = text {
                    b.option(code, text.as_bytes());
                    any = true;
                }
            }
            if let Some(resol) = tsresol {
                b.option(IF_TSRESOL, &[resol]);
                any = true;
            }
            if let Some(offset) = tsoffset {
                let raw = if b.big_endian {
                    offset.to_be_bytes()
                } else {
                    offset.to_le_bytes()
                };
                b.option(IF_TSOFFSET, &raw);
                any = true;
            }
            if any {
                b.u32(0); // opt_endofopt
            }
        })?;
        let per_sec = tsresol.and_then(units_per_sec).unwrap_or(1_000_000);
        self.interfaces.push(Units {
            per_sec,
            offset_secs: tsoffset.unwrap_or(0),
        });
        u32::try_from(self.interfaces.len() - 1).map_err(|_| invalid("too many interfaces"))
    }

    /// Writes an Enhanced Packet Block. The time is converted to the interface's units,
    /// rounding down (up for units finer than a nanosecond, so it reads back exactly). An
    /// undefined `if_id` is written as given, with microsecond units.
    pub fn write_epb(
        &mut self,
        if_id: u32,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        self.write_epb_with_comments::<&str>(if_id, ts_ns, data, orig_len, &[])
    }

    /// Writes an Enhanced Packet Block as [`Self::write_epb`] does, with one `opt_comment`
    /// option (UTF-8) per comment, in order. Fails for a comment longer than an option
    /// holds (65,535 bytes).
    pub fn write_epb_with_comments<S: AsRef<str>>(
        &mut self,
        if_id: u32,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
        comments: &[S],
    ) -> io::Result<()> {
        let raw = self.raw_time(if_id, ts_ns)?;
        let caplen = length(data)?;
        for comment in comments {
            option_len(comment.as_ref().as_bytes())?;
        }
        self.write_block_with(EPB_TYPE, |b| {
            b.u32(if_id);
            b.u32((raw >> 32) as u32);
            b.u32(raw as u32);
            b.u32(caplen);
            b.u32(orig_len);
            b.buf.extend_from_slice(data);
            b.buf.resize(b.buf.len().next_multiple_of(4), 0);
            for comment in comments {
                b.option(OPT_COMMENT, comment.as_ref().as_bytes());
            }
            if !comments.is_empty() {
                b.u32(0); // opt_endofopt
            }
        })
    }

    /// Writes a Simple Packet Block (interface 0, no timestamp).
    pub fn write_spb(&mut self, data: &[u8], orig_len: u32) -> io::Result<()> {
        self.write_block_with(SPB_TYPE, |b| {
            b.u32(orig_len);
            b.buf.extend_from_slice(data);
        })
    }

    /// Writes an obsolete Packet Block (type 2: 16-bit interface id, drops count 0).
    pub fn write_obsolete_packet(
        &mut self,
        if_id: u16,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let raw = self.raw_time(u32::from(if_id), ts_ns)?;
        let caplen = length(data)?;
        self.write_block_with(PB_TYPE, |b| {
            b.u16(if_id);
            b.u16(0);
            b.u32((raw >> 32) as u32);
            b.u32(raw as u32);
            b.u32(caplen);
            b.u32(orig_len);
            b.buf.extend_from_slice(data);
        })
    }

    /// Writes a Custom Block: the Private Enterprise Number, then `data`.
    pub fn write_custom_block(&mut self, pen: u32, data: &[u8], copyable: bool) -> io::Result<()> {
        let block_type = if copyable {
            CUSTOM_BLOCK_COPYABLE
        } else {
            CUSTOM_BLOCK_NO_COPY
        };
        self.write_block_with(block_type, |b| {
            b.u32(pen);
            b.buf.extend_from_slice(data);
        })
    }

    /// Writes any block: `body` (already in the section's byte order) padded to 4 bytes.
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.write_block_with(block_type, |b| b.buf.extend_from_slice(body))
    }

    /// Finishes writing and returns the output.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Frames a block: type, length, the body `fill` writes, padding, length.
    fn write_block_with(
        &mut self,
        block_type: u32,
        fill: impl FnOnce(&mut Encoder),
    ) -> io::Result<()> {
        let big_endian = self
            .big_endian
            .ok_or_else(|| invalid("write a section header first"))?;
        let b = &mut self.block;
        b.big_endian = big_endian;
        b.buf.clear();
        b.u32(block_type);
        b.u32(0); // length, set below
        fill(b);
        b.buf.resize(b.buf.len().next_multiple_of(4), 0);
        let len = u32::try_from(b.buf.len() + 4).map_err(|_| invalid("block longer than 4 GiB"))?;
        b.u32(len);
        let len_bytes = if big_endian {
            len.to_be_bytes()
        } else {
            len.to_le_bytes()
        };
        b.buf[4..8].copy_from_slice(&len_bytes);
        self.out.write_all(&b.buf)
    }

    /// `ts_ns` as a raw 64-bit count of `if_id`'s units.
    fn raw_time(&self, if_id: u32, ts_ns: i64) -> io::Result<u64> {
        let units = self
            .interfaces
            .get(if_id as usize)
            .copied()
            .unwrap_or(Units {
                per_sec: 1_000_000,
                offset_secs: 0,
            });
        let per_sec = i128::from(units.per_sec);
        let ns = i128::from(NS_PER_SEC);
        let secs = i128::from(ts_ns.div_euclid(NS_PER_SEC)) - i128::from(units.offset_secs);
        let nanos = i128::from(ts_ns.rem_euclid(NS_PER_SEC));
        let frac = if per_sec > ns {
            (nanos * per_sec + ns - 1) / ns
        } else {
            nanos * per_sec / ns
        };
        u64::try_from(secs * per_sec + frac)
            .map_err(|_| invalid("time not representable with this interface's units"))
    }
}

/// Appends integers in a chosen byte order.
#[derive(Debug, Clone)]
struct Encoder {
    buf: Vec<u8>,
    big_endian: bool,
}

impl Encoder {
    fn new(big_endian: bool) -> Self {
        Encoder {
            buf: Vec::new(),
            big_endian,
        }
    }

    fn u16(&mut self, v: u16) {
        let bytes = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&bytes);
    }

    fn u32(&mut self, v: u32) {
        let bytes = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&bytes);
    }

    fn u64(&mut self, v: u64) {
        let bytes = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&bytes);
    }

    /// A pcapng option: code, length, value padded to 4 bytes. The caller has checked the
    /// value's length with [`option_len`].
    fn option(&mut self, code: u16, value: &[u8]) {
        self.u16(code);
        self.u16(u16::try_from(value.len()).unwrap_or(u16::MAX));
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
    }
}

/// The length field of an option holding `value`, or an error when it does not fit.
fn option_len(value: &[u8]) -> io::Result<u16> {
    u16::try_from(value.len()).map_err(|_| invalid("option value longer than 65,535 bytes"))
}

fn length(data: &[u8]) -> io::Result<u32> {
    u32::try_from(data.len()).map_err(|_| invalid("frame longer than 4 GiB"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_big_endian_nanosecond_bytes() {
        let options = PcapOptions {
            nanos: true,
            big_endian: true,
            linktype: 101,
            snaplen: 100,
            ..Default::default()
        };
        let mut w = PcapWriter::new(Vec::new(), options).unwrap();
        w.write_frame(3_000_000_005, &[0x45, 0x00], 40).unwrap();
        let bytes = w.into_inner();
        #[rustfmt::skip]
        let expected = [
            0xA1, 0xB2, 0x3C, 0x4D, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 101, // header
            0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 40, // ts 3 s + 5 ns, incl 2, orig 40
            0x45, 0x00,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn pcap_refuses_what_it_cannot_store() {
        let modified_nanos = PcapOptions {
            modified: true,
            nanos: true,
            ..Default::default()
        };
        assert!(PcapWriter::new(Vec::new(), modified_nanos).is_err());
        let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).unwrap();
        assert!(w.write_frame(-1, &[], 0).is_err());
        assert!(w.write_frame(1 << 62, &[], 0).is_err());
    }

    #[test]
    fn pcapng_little_endian_blocks() {
        let mut w = PcapNgWriter::new(Vec::new());
        assert!(w.write_spb(&[1], 1).is_err(), "no section yet");
        w.new_section(false).unwrap();
        assert_eq!(w.add_interface(1, 0, Some(9), Some(-2)).unwrap(), 0);
        w.write_epb(0, 5_000_000_007, &[0xAB], 60).unwrap();
        w.write_custom_block(32473, &[1, 2], false).unwrap();
        let bytes = w.into_inner();
        #[rustfmt::skip]
        let expected = [
            // SHB
            0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 28, 0, 0, 0,
            // IDB: Ethernet, snaplen 0, if_tsresol 9, if_tsoffset -2, end of options
            1, 0, 0, 0, 44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
            9, 0, 1, 0, 9, 0, 0, 0,
            14, 0, 8, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0, 0, 0, 0, 44, 0, 0, 0,
            // EPB: (5 s + 2 s offset) in ns = 7_000_000_007 = 0x1_A13B_8607
            6, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x07, 0x86, 0x3B, 0xA1,
            1, 0, 0, 0, 60, 0, 0, 0, 0xAB, 0, 0, 0, 36, 0, 0, 0,
            // custom block, not to be copied: PEN 32473, data, padding
            0xAD, 0x0B, 0, 0x40, 20, 0, 0, 0, 0xD9, 0x7E, 0, 0, 1, 2, 0, 0, 20, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn epb_comments_and_interface_names_read_back_in_both_byte_orders() {
        use crate::{CaptureReader, LinkType, ReadOptions};
        for big_endian in [false, true] {
            let mut w = PcapNgWriter::new(Vec::new());
            w.new_section(big_endian).unwrap();
            let named = InterfaceOptions {
                tsresol: Some(9),
                name: Some("a.pcapng/0"),
                description: Some("interface 0 of a.pcapng"),
                ..InterfaceOptions::default()
            };
            assert_eq!(w.add_interface_with(101, 0, &named).unwrap(), 0);
            assert_eq!(w.add_interface_with(1, 0, &named).unwrap(), 1);
            w.write_epb_with_comments(1, 7_000_000_001, &[1, 2, 3], 9, &["één", "two"])
                .unwrap();
            w.write_epb(0, 8_000_000_002, &[0x45], 1).unwrap();
            let too_long = "x".repeat(65_536);
            assert!(w
                .write_epb_with_comments(0, 0, &[], 0, &[too_long])
                .is_err());
            let bytes = w.into_inner();
            let mut reader = CaptureReader::from_bytes(bytes, &ReadOptions::default()).unwrap();
            let first = reader.next_frame().unwrap();
            assert_eq!(
                (
                    first.interface,
                    first.link,
                    first.ts_ns,
                    first.data,
                    first.orig_len
                ),
                (1, LinkType::ETHERNET, 7_000_000_001, &[1u8, 2, 3][..], 9)
            );
            let comments: Vec<_> = first.options.comments().collect();
            assert_eq!(comments, ["één", "two"], "big endian: {big_endian}");
            let second = reader.next_frame().unwrap();
            assert_eq!((second.interface, second.link), (0, LinkType::RAW));
            assert!(second.options.is_empty());
            assert_eq!(second.options.comments().count(), 0);
            assert!(reader.next_frame().is_none());
            assert!(reader.warnings().is_empty(), "{:?}", reader.warnings());
        }
    }

    #[test]
    fn epb_comment_option_bytes() {
        let mut w = PcapNgWriter::new(Vec::new());
        w.new_section(false).unwrap();
        w.add_interface(1, 0, Some(9), None).unwrap();
        w.write_epb_with_comments(0, 1, &[0xAB], 1, &["hi"])
            .unwrap();
        let bytes = w.into_inner();
        #[rustfmt::skip]
        let epb = [
            6, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, // if 0, ts 1 ns
            1, 0, 0, 0, 1, 0, 0, 0, 0xAB, 0, 0, 0, // caplen, orig_len, data + pad
            1, 0, 2, 0, b'h', b'i', 0, 0, // opt_comment "hi" + pad
            0, 0, 0, 0, 48, 0, 0, 0, // opt_endofopt, length
        ];
        assert_eq!(bytes[bytes.len() - epb.len()..], epb);
        let options = crate::PacketOptions::new(&epb[32..44], false);
        assert_eq!(options.iter().collect::<Vec<_>>(), [(1, &b"hi"[..])]);
        // An option that claims more bytes than are left ends the list.
        let cut = crate::PacketOptions::new(&[1, 0, 9, 0, b'h', b'i', 0, 0], false);
        assert_eq!(cut.iter().count(), 0);
    }

    #[test]
    fn pcapng_units_round_down_or_up() {
        let mut w = PcapNgWriter::new(Vec::new());
        w.new_section(true).unwrap();
        w.add_interface(1, 0, Some(0x80 | 20), None).unwrap();
        w.add_interface(1, 0, Some(12), Some(10)).unwrap();
        // 2^-20 units: 1 µs = 1.048576 units, rounded down to 1.
        assert_eq!(w.raw_time(0, 1_000).unwrap(), 1);
        // picoseconds: exact; the offset is subtracted first.
        assert_eq!(w.raw_time(1, 11_000_000_001).unwrap(), 1_000_000_001_000);
        assert!(w.raw_time(1, 0).is_err(), "before the interface offset");
        // undefined interface: microseconds
        assert_eq!(w.raw_time(7, 2_000_999).unwrap(), 2_000);
    }
}
