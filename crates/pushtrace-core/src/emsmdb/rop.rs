//! The ROP buffers the `EcDoRpc` family carries and the `RPC_HEADER_EXT` blocks that frame
//! them in `EcDoRpcExt2` [MS-OXCRPC 2.2.2.1, 3.1.4.2.1.1; MS-OXCROPS 2.2.1].
//!
//! pushtrace never decodes ROPs. It checks that a buffer's own length fields agree with each
//! other and with the NDR counts around them: that redundancy is what tells an EMSMDB call
//! from another interface's call with the same opnum when the bind was not captured
//! ([`super::shape`]). These structures are little-endian whatever the NDR `drep`.
//!
//! A ROP buffer is `RopSize` (u16, counting itself and the ROPs), the ROPs, then the server
//! object handle table (u32 each). Legacy `EcDoRpc` obfuscates the whole buffer by XOR with
//! 0xA5; `EcDoRpcExt2` does so when the block's `XorMagic` flag is set.

/// The byte every obfuscated byte is XORed with.
pub const XOR_MAGIC: u8 = 0xA5;
/// `RPC_HEADER_EXT.Flags`: the payload is compressed (MS-OXCRPC's LZ77 variant).
pub const FLAG_COMPRESSED: u16 = 0x0001;
/// `RPC_HEADER_EXT.Flags`: the payload is XORed with [`XOR_MAGIC`].
pub const FLAG_XOR_MAGIC: u16 = 0x0002;
/// `RPC_HEADER_EXT.Flags`: the last block of the buffer.
pub const FLAG_LAST: u16 = 0x0004;
/// The size of an `RPC_HEADER_EXT`.
const HEADER_EXT_LEN: usize = 8;
/// The size of `RopSize`.
const ROP_SIZE_LEN: usize = 2;

/// XORs every byte with [`XOR_MAGIC`] (its own inverse).
pub fn obfuscate(bytes: &mut [u8]) {
    for b in bytes {
        *b ^= XOR_MAGIC;
    }
}

/// A ROP buffer holding `rops` and a server object handle table of `handles`.
pub fn encode_rop_buffer(rops: &[u8], handles: &[u32]) -> Vec<u8> {
    let rop_size = (ROP_SIZE_LEN + rops.len()) as u16;
    let mut out = rop_size.to_le_bytes().to_vec();
    out.extend_from_slice(rops);
    for h in handles {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

/// Whether `buffer` (XORed with [`XOR_MAGIC`] when `obfuscated`) holds a ROP buffer: its
/// `RopSize` lies within it and what follows is a whole number of 4-byte handles.
pub fn rop_buffer_fits(buffer: &[u8], obfuscated: bool) -> bool {
    let Some(&[a, b]) = buffer.get(..ROP_SIZE_LEN) else {
        return false;
    };
    let key = if obfuscated { XOR_MAGIC } else { 0 };
    let rop_size = usize::from(u16::from_le_bytes([a ^ key, b ^ key]));
    (ROP_SIZE_LEN..=buffer.len()).contains(&rop_size) && (buffer.len() - rop_size).is_multiple_of(4)
}

/// One `RPC_HEADER_EXT` block (Version 0, `Last`) around `payload`, obfuscated when `xor`.
pub fn encode_header_ext(payload: &[u8], xor: bool) -> Vec<u8> {
    let flags = FLAG_LAST | if xor { FLAG_XOR_MAGIC } else { 0 };
    let size = payload.len() as u16;
    let mut out = Vec::with_capacity(HEADER_EXT_LEN + payload.len());
    for field in [0u16, flags, size, size] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if xor {
        obfuscate(&mut out[start..]);
    }
    out
}

/// Whether `bytes` is a chain of `RPC_HEADER_EXT` blocks: each of Version 0 with known flags,
/// holding exactly `Size` bytes, uncompressed blocks with `SizeActual == Size`; the block
/// flagged `Last` ends the bytes. When `rop_payloads`, every uncompressed payload must also be
/// a ROP buffer ([`rop_buffer_fits`]); compressed ones cannot be checked further.
pub fn header_ext_chain_fits(mut bytes: &[u8], rop_payloads: bool) -> bool {
    const KNOWN_FLAGS: u16 = FLAG_COMPRESSED | FLAG_XOR_MAGIC | FLAG_LAST;
    let field = |h: &[u8], i: usize| u16::from_le_bytes([h[2 * i], h[2 * i + 1]]);
    // Each block takes at least its header, so the loop ends.
    while let Some(header) = bytes.get(..HEADER_EXT_LEN) {
        let (version, flags, size, actual) = (
            field(header, 0),
            field(header, 1),
            usize::from(field(header, 2)),
            usize::from(field(header, 3)),
        );
        let Some(payload) = bytes.get(HEADER_EXT_LEN..HEADER_EXT_LEN + size) else {
            return false;
        };
        let compressed = flags & FLAG_COMPRESSED != 0;
        let fits = version == 0
            && flags & !KNOWN_FLAGS == 0
            && if compressed {
                actual > 0
            } else {
                actual == size
                    && (!rop_payloads || rop_buffer_fits(payload, flags & FLAG_XOR_MAGIC != 0))
            };
        if !fits {
            return false;
        }
        bytes = &bytes[HEADER_EXT_LEN + size..];
        if flags & FLAG_LAST != 0 {
            return bytes.is_empty();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rop_buffers_fit_only_when_their_sizes_agree() {
        let buffer = encode_rop_buffer(&[0xfe, 0, 0, 1, 2, 3], &[7, 0xffff_ffff]);
        assert_eq!(buffer.len(), 2 + 6 + 8);
        assert!(rop_buffer_fits(&buffer, false));
        let mut hidden = buffer.clone();
        obfuscate(&mut hidden);
        assert!(rop_buffer_fits(&hidden, true));
        assert!(!rop_buffer_fits(&hidden, false));
        // One byte more or less breaks the whole-handles rule; an empty poll (RopSize 2) fits.
        assert!(!rop_buffer_fits(&buffer[..buffer.len() - 1], false));
        assert!(rop_buffer_fits(&encode_rop_buffer(&[], &[]), false));
        assert!(!rop_buffer_fits(&[1], false));
        assert!(!rop_buffer_fits(&[0, 0], false), "RopSize counts itself");
    }

    #[test]
    fn header_chains_must_end_with_their_last_block() {
        let rops = encode_rop_buffer(&[0x2a, 9, 9], &[1]);
        let one = encode_header_ext(&rops, true);
        assert!(header_ext_chain_fits(&one, true));
        assert!(!header_ext_chain_fits(&one[..one.len() - 1], true));
        // Two blocks: the first without Last.
        let mut first = encode_header_ext(&rops, false);
        first[2] = 0; // flags: neither Last nor XorMagic
        let chained = [first, one.clone()].concat();
        assert!(header_ext_chain_fits(&chained, true));
        // Trailing bytes after the Last block, a non-zero version, unknown flags.
        assert!(!header_ext_chain_fits(&[&one[..], &[0]].concat(), true));
        let mut v1 = one.clone();
        v1[0] = 1;
        assert!(!header_ext_chain_fits(&v1, true));
        let mut odd = one.clone();
        odd[3] = 0x80;
        assert!(!header_ext_chain_fits(&odd, true));
        // A compressed block is taken on its framing alone.
        let mut packed = encode_header_ext(&[0x33; 5], false);
        packed[2] |= FLAG_COMPRESSED as u8;
        packed[6] = 40; // SizeActual: the uncompressed size
        assert!(header_ext_chain_fits(&packed, true));
        assert!(!header_ext_chain_fits(&[], true));
    }

    proptest::proptest! {
        #[test]
        fn checks_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), rops: bool, xor: bool) {
            let _ = header_ext_chain_fits(&bytes, rops);
            let _ = rop_buffer_fits(&bytes, xor);
        }
    }
}
