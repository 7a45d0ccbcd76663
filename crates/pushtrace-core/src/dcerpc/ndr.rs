//! A bounded NDR reader and writer for the few stubs pushtrace decodes (EMSMDB's and the
//! endpoint mapper's ept_map).
//!
//! NDR aligns every primitive to its size, counted from the start of the (reassembled) stub
//! [C706 ch. 14; MS-RPCE 2.2.5 for NDR64]. Alignment padding carries junk on real wires
//! (protocol.md §2.3.1: `a5 a5`), so the reader skips it and never checks it. Integers follow
//! the sender's `drep`; NDR64 widens conformance counts to 8 bytes.

/// How a stub is encoded: the sender's integer byte order and the transfer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdrFormat {
    /// Integers are little-endian (`drep[0] & 0x10`), as every Windows sender uses.
    pub little_endian: bool,
    /// The NDR64 transfer syntax was negotiated for the context.
    pub ndr64: bool,
}

impl NdrFormat {
    /// Little-endian NDR20, what Outlook and Exchange send.
    pub const NDR20_LE: NdrFormat = NdrFormat {
        little_endian: true,
        ndr64: false,
    };
}

/// Why a stub could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdrError {
    /// The stub ends before the field.
    #[error("stub ends at byte {len} but {field} needs {needed} bytes at offset {offset}")]
    Short {
        /// The field being read.
        field: &'static str,
        /// Where it starts in the stub.
        offset: usize,
        /// How many bytes it needs.
        needed: usize,
        /// The stub length.
        len: usize,
    },
    /// A count or size is outside what the protocol allows.
    #[error("{field} = {value} is out of range")]
    OutOfRange {
        /// The field being read.
        field: &'static str,
        /// The value found.
        value: u64,
    },
}

impl NdrError {
    /// The field that could not be read.
    pub fn field(&self) -> &'static str {
        match self {
            NdrError::Short { field, .. } | NdrError::OutOfRange { field, .. } => field,
        }
    }
}

/// Reads NDR primitives from a stub with bounds checks.
#[derive(Debug, Clone)]
pub struct NdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    format: NdrFormat,
}

impl<'a> NdrReader<'a> {
    /// Starts reading at the beginning of the stub.
    pub fn new(buf: &'a [u8], format: NdrFormat) -> Self {
        NdrReader {
            buf,
            pos: 0,
            format,
        }
    }

    /// Current offset from the stub start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Skips junk padding up to the next multiple of `to` (a power of two).
    pub fn align(&mut self, to: usize) {
        let misalign = self.pos % to;
        if misalign != 0 {
            self.pos += to - misalign;
        }
    }

    /// A UUID: a 32-bit and two 16-bit fields in the stub's byte order, then eight bytes as
    /// they are (aligned to 4).
    pub fn uuid(&mut self, field: &'static str) -> Result<uuid::Uuid, NdrError> {
        let d1 = self.u32(field)?;
        let d2 = self.u16(field)?;
        let d3 = self.u16(field)?;
        let d4: [u8; 8] = self.bytes(8, field)?.try_into().unwrap_or_default();
        Ok(uuid::Uuid::from_fields(d1, d2, d3, &d4))
    }

    /// Takes `n` raw bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], NdrError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(NdrError::Short {
                field,
                offset: self.pos,
                needed: n,
                len: self.buf.len(),
            }),
        }
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], NdrError> {
        self.align(N);
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, field)?);
        if !self.format.little_endian {
            out.reverse();
        }
        Ok(out)
    }

    /// An aligned 16-bit integer.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, NdrError> {
        self.fixed::<2>(field).map(u16::from_le_bytes)
    }

    /// An aligned 32-bit integer.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, NdrError> {
        self.fixed::<4>(field).map(u32::from_le_bytes)
    }

    /// An aligned 64-bit integer.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, NdrError> {
        self.fixed::<8>(field).map(u64::from_le_bytes)
    }

    /// A conformance or variance count: u32 in NDR20, u64 in NDR64.
    pub fn count(&mut self, field: &'static str) -> Result<u64, NdrError> {
        if self.format.ndr64 {
            self.u64(field)
        } else {
            self.u32(field).map(u64::from)
        }
    }

    /// A context handle: 4 attribute bytes and a 16-byte UUID, kept as raw bytes.
    pub fn context_handle(&mut self) -> Result<[u8; 20], NdrError> {
        self.align(4);
        let mut out = [0u8; 20];
        out.copy_from_slice(self.bytes(20, "context handle")?);
        Ok(out)
    }

    /// A conformant byte array (`max_count` then the bytes) of at most `max` bytes.
    pub fn conformant_bytes(
        &mut self,
        max: u64,
        field: &'static str,
    ) -> Result<&'a [u8], NdrError> {
        let n = self.count(field)?;
        if n > max {
            return Err(NdrError::OutOfRange { field, value: n });
        }
        self.bytes(n as usize, field)
    }

    /// A conformant varying string (`max_count`, `offset`, `actual_count`, bytes) of at most
    /// `max` bytes, returned without its terminating NUL.
    pub fn conformant_varying_string(
        &mut self,
        max: u64,
        field: &'static str,
    ) -> Result<&'a [u8], NdrError> {
        let _max_count = self.count(field)?;
        let offset = self.count(field)?;
        let actual = self.count(field)?;
        if actual > max || offset > max {
            return Err(NdrError::OutOfRange {
                field,
                value: actual.max(offset),
            });
        }
        let text = self.bytes(actual as usize, field)?;
        Ok(text.strip_suffix(&[0]).unwrap_or(text))
    }
}

/// Writes NDR primitives; used to build stubs for tests and sample captures.
#[derive(Debug, Clone)]
pub struct NdrWriter {
    buf: Vec<u8>,
    format: NdrFormat,
    pad_byte: u8,
}

impl NdrWriter {
    /// An empty stub whose alignment padding is filled with `pad_byte` (real senders leave junk).
    pub fn new(format: NdrFormat, pad_byte: u8) -> Self {
        NdrWriter {
            buf: Vec::new(),
            format,
            pad_byte,
        }
    }

    /// Pads to the next multiple of `to`.
    pub fn align(&mut self, to: usize) {
        while !self.buf.len().is_multiple_of(to) {
            self.buf.push(self.pad_byte);
        }
    }

    fn fixed<const N: usize>(&mut self, mut le: [u8; N]) {
        self.align(N);
        if !self.format.little_endian {
            le.reverse();
        }
        self.buf.extend_from_slice(&le);
    }

    /// An aligned 16-bit integer.
    pub fn u16(&mut self, v: u16) {
        self.fixed(v.to_le_bytes());
    }

    /// An aligned 32-bit integer.
    pub fn u32(&mut self, v: u32) {
        self.fixed(v.to_le_bytes());
    }

    /// A conformance count (u32 in NDR20, u64 in NDR64).
    pub fn count(&mut self, v: u64) {
        if self.format.ndr64 {
            self.fixed(v.to_le_bytes());
        } else {
            self.u32(v as u32);
        }
    }

    /// Raw bytes, unaligned.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A conformant byte array.
    pub fn conformant_bytes(&mut self, b: &[u8]) {
        self.count(b.len() as u64);
        self.bytes(b);
    }

    /// A conformant varying string with its terminating NUL.
    pub fn conformant_varying_string(&mut self, s: &str) {
        let n = s.len() as u64 + 1;
        self.count(n);
        self.count(0);
        self.count(n);
        self.bytes(s.as_bytes());
        self.bytes(&[0]);
    }

    /// The finished stub.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_skips_junk_padding() {
        // u16 0x0102, two junk bytes, u32 0x03040506 — big-endian drep.
        let stub = [0x01, 0x02, 0xa5, 0xa5, 0x03, 0x04, 0x05, 0x06];
        let mut r = NdrReader::new(
            &stub,
            NdrFormat {
                little_endian: false,
                ndr64: false,
            },
        );
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(r.u32("b").unwrap(), 0x0304_0506);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn short_stub_is_an_error_not_a_panic() {
        let mut r = NdrReader::new(&[1, 0, 0], NdrFormat::NDR20_LE);
        assert!(matches!(
            r.u32("x"),
            Err(NdrError::Short {
                needed: 4,
                len: 3,
                ..
            })
        ));
        let mut r = NdrReader::new(&[0xff, 0xff, 0xff, 0xff, 1], NdrFormat::NDR20_LE);
        assert!(matches!(
            r.conformant_bytes(16, "ctx"),
            Err(NdrError::OutOfRange {
                value: 0xffff_ffff,
                ..
            })
        ));
    }

    #[test]
    fn ndr64_counts_are_eight_bytes_aligned() {
        let f = NdrFormat {
            little_endian: true,
            ndr64: true,
        };
        let mut w = NdrWriter::new(f, 0xee);
        w.u16(7);
        w.conformant_bytes(b"abc");
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..8], &[7, 0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
        let mut r = NdrReader::new(&bytes, f);
        assert_eq!(r.u16("a").unwrap(), 7);
        assert_eq!(r.conformant_bytes(16, "b").unwrap(), b"abc");
    }
}
