//! Recognising EMSMDB calls whose bind the capture does not hold, by the shape of their
//! request stubs [MS-OXCRPC 3.1.4; protocol.md §2.2–§2.7].
//!
//! Most captures start while Outlook is running: the endpoint-mapper lookup and the bind
//! happened before, and every call arrives on a presentation context of unknown interface.
//! A stub alone can settle it when its layout repeats itself: a ROP buffer whose `RopSize`
//! and handle table fill exactly the NDR byte count (`EcDoRpc`, `EcDoRpcExt(2)`), a legacy DN
//! (`EcDoConnect(Ex)`), a registration whose counts and SOCKADDR agree. Other calls are too
//! plain to tell from another interface's (a bare context handle, an empty stub): they count
//! as EMSMDB only where other evidence says the endpoint serves it ([`Shape::Consistent`]).
//! Sealed or cut stubs are judged by their length alone ([`Shape::Unreadable`]).

use super::rop::{header_ext_chain_fits, rop_buffer_fits};
use super::{
    decode_connect_request_user, decode_register_push_request, NdrError, NdrFormat, NdrReader,
    OP_ASYNC_WAIT_EX, OP_DO_ASYNC_CONNECT_EX, OP_DO_CONNECT, OP_DO_CONNECT_EX, OP_DO_DISCONNECT,
    OP_DO_RPC, OP_DO_RPC_EXT, OP_DO_RPC_EXT2, OP_DUMMY_RPC, OP_REGISTER_PUSH, OP_UNREGISTER_PUSH,
};

/// `rgbIn` and `pcbOut` of the `EcDoRpc` family are at most 0x40000 bytes [MS-OXCRPC R632].
const MAX_ROP_BYTES: u64 = 0x4_0000;
/// `rgbAuxIn` is at most 0x1008 bytes [MS-OXCRPC R645].
const MAX_AUX_BYTES: u64 = 0x1008;
/// `Reserved0` of `EcDoRpcExt` (a buffer Outlook leaves small).
const MAX_RESERVED_BYTES: u64 = 0x1008;
/// A context handle's wire size: 4 attribute bytes and a UUID.
const HANDLE_LEN: usize = crate::dcerpc::epm::CONTEXT_HANDLE_LEN;
/// The plaintext length range of an opnum-4 request stub (protocol.md §2.3.1): handle, iRpc
/// and a count (28), 0–16 context bytes, cbContext and padding (2–4), grbit and a count (8),
/// a 16–28-byte SOCKADDR and cbCallbackAddress (18–30).
const REGISTER_STUB_LEN: std::ops::RangeInclusive<usize> = 56..=88;
/// The shortest connect request: a DN's counts (12), `/o=` and a NUL, and the fixed fields.
const MIN_CONNECT_STUB_LEN: usize = 48;

/// Which of the two Exchange store interfaces a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreInterface {
    /// EMSMDB (A4F1DB00-CA47-1067-B31F-00DD010662DA).
    Emsmdb,
    /// AsyncEMSMDB (5261574A-4572-206E-B268-6B199213B4E4), whose one method waits for events.
    AsyncEmsmdb,
}

/// How much a request stub says about the call being the EMSMDB operation its opnum names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Sealed or cut: only its length was checked, and it fits.
    Unreadable,
    /// Fits the layout, which is too plain to tell it from another interface's call.
    Consistent,
    /// Fits a layout whose fields repeat each other: no other interface's call looks so.
    Decisive,
}

/// A request stub as the capture holds it.
#[derive(Debug, Clone, Copy)]
pub struct RequestStub<'a> {
    /// The whole clear stub, or `None` when sealed or not wholly captured.
    pub bytes: Option<&'a [u8]>,
    /// Its plaintext length: exact when `len_exact`, otherwise only a lower bound (a
    /// fragment missing, or cut by the capture with its sec_trailer).
    pub len: usize,
    /// Whether `len` is the stub's whole length.
    pub len_exact: bool,
    /// How it is encoded.
    pub format: NdrFormat,
}

/// What a request of unknown interface would be in the Exchange store interfaces, judged by
/// its opnum and stub: `None` when it fits no store call.
pub fn recognise_request(opnum: u16, stub: RequestStub<'_>) -> Option<(StoreInterface, Shape)> {
    let f = stub.format;
    let emsmdb = |shape| Some((StoreInterface::Emsmdb, shape));
    let Some(bytes) = stub.bytes else {
        return unreadable(opnum, stub.len, stub.len_exact);
    };
    match opnum {
        OP_DO_CONNECT | OP_DO_CONNECT_EX if legacy_dn(bytes, f) => emsmdb(Shape::Decisive),
        OP_ASYNC_WAIT_EX if async_wait_fits(bytes, f) => {
            Some((StoreInterface::AsyncEmsmdb, Shape::Consistent))
        }
        OP_DO_DISCONNECT | OP_DO_ASYNC_CONNECT_EX if bare_handle(bytes, 0, f) => {
            emsmdb(Shape::Consistent)
        }
        OP_UNREGISTER_PUSH if bare_handle(bytes, 8, f) => emsmdb(Shape::Consistent),
        OP_DUMMY_RPC if bytes.is_empty() => emsmdb(Shape::Consistent),
        OP_REGISTER_PUSH if registration_fits(bytes, f) => emsmdb(Shape::Decisive),
        OP_DO_RPC if do_rpc_fits(bytes, f).unwrap_or(false) => emsmdb(Shape::Decisive),
        OP_DO_RPC_EXT | OP_DO_RPC_EXT2 => {
            let shape = if opnum == OP_DO_RPC_EXT {
                do_rpc_ext_fits(bytes, f)
            } else {
                do_rpc_ext2_fits(bytes, f)
            };
            shape.ok().flatten().and_then(emsmdb)
        }
        _ => None,
    }
}

/// A sealed or cut request: the length must fit the operation's layout.
fn unreadable(opnum: u16, len: usize, exact: bool) -> Option<(StoreInterface, Shape)> {
    use StoreInterface::{AsyncEmsmdb, Emsmdb};
    // The stub lengths each call can have.
    let (interface, lengths) = match opnum {
        // Opnum 0 is EcDoAsyncWaitEx in AsyncEMSMDB and EcDoConnect in EMSMDB: exactly 24
        // bytes is the wait's handle and flags; a connect carries a DN.
        OP_ASYNC_WAIT_EX if exact && len == HANDLE_LEN + 4 => {
            (AsyncEmsmdb, HANDLE_LEN + 4..=HANDLE_LEN + 4)
        }
        OP_DO_CONNECT | OP_DO_CONNECT_EX => (Emsmdb, MIN_CONNECT_STUB_LEN..=usize::MAX),
        OP_DO_DISCONNECT | OP_DO_ASYNC_CONNECT_EX => (Emsmdb, HANDLE_LEN..=HANDLE_LEN),
        OP_UNREGISTER_PUSH => (Emsmdb, HANDLE_LEN + 8..=HANDLE_LEN + 8),
        OP_DUMMY_RPC => (Emsmdb, 0..=0),
        OP_REGISTER_PUSH => (Emsmdb, REGISTER_STUB_LEN),
        OP_DO_RPC | OP_DO_RPC_EXT | OP_DO_RPC_EXT2 => (Emsmdb, HANDLE_LEN + 16..=usize::MAX),
        _ => return None,
    };
    // A length known only as a lower bound fits any call at least that long.
    let fits = if exact {
        lengths.contains(&len)
    } else {
        len <= *lengths.end()
    };
    fits.then_some((interface, Shape::Unreadable))
}

/// A session context handle: attributes 0 and a UUID that is not nil (a handle the server
/// handed out; an all-zero handle is a closed one).
fn live_handle(r: &mut NdrReader<'_>) -> Result<bool, NdrError> {
    let handle = r.context_handle()?;
    Ok(handle[..4] == [0; 4] && handle[4..] != [0; 16])
}

/// Exactly a live context handle followed by `extra` bytes of fixed fields.
fn bare_handle(bytes: &[u8], extra: usize, f: NdrFormat) -> bool {
    let mut r = NdrReader::new(bytes, f);
    bytes.len() == HANDLE_LEN + extra && live_handle(&mut r).unwrap_or(false)
}

/// `EcDoAsyncWaitEx`: the async handle and `ulFlagsIn`, which MUST be 0.
fn async_wait_fits(bytes: &[u8], f: NdrFormat) -> bool {
    let mut r = NdrReader::new(bytes, f);
    bytes.len() == HANDLE_LEN + 4
        && live_handle(&mut r).unwrap_or(false)
        && r.u32("ulFlagsIn").is_ok_and(|flags| flags == 0)
}

/// `EcDoConnect(Ex)`: the user's legacy DN (`/o=...`) opens the stub.
fn legacy_dn(bytes: &[u8], f: NdrFormat) -> bool {
    decode_connect_request_user(bytes, f)
        .is_ok_and(|dn| dn.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("/o=")))
}

/// `EcRRegisterPushNotification` that decodes without anomalies to an IP callback.
fn registration_fits(bytes: &[u8], f: NdrFormat) -> bool {
    decode_register_push_request(bytes, f)
        .is_ok_and(|r| r.anomalies.is_empty() && r.callback.socket_addr().is_some())
}

/// Legacy `EcDoRpc` (protocol.md §2.6, OpenChange `ndr_mapi.c`): a live handle, a
/// conformant varying byte array (`max_count`, offset 0, `actual_count`) holding an
/// obfuscated ROP buffer, `*pcbIn` repeating `actual_count`, then `cbMax`; nothing after.
fn do_rpc_fits(bytes: &[u8], f: NdrFormat) -> Result<bool, NdrError> {
    let mut r = NdrReader::new(bytes, f);
    if !live_handle(&mut r)? {
        return Ok(false);
    }
    let max = r.count("rgb max_count")?;
    let offset = r.count("rgb offset")?;
    let actual = r.count("rgb actual_count")?;
    if offset != 0 || actual > max || actual > MAX_ROP_BYTES {
        return Ok(false);
    }
    let buffer = r.bytes(actual as usize, "rgb")?;
    let length = r.u16("pcbIn")?;
    r.u16("cbMax")?;
    Ok(u64::from(length) == actual && r.remaining() == 0 && rop_buffer_fits(buffer, true))
}

/// The fields `EcDoRpcExt` and `EcDoRpcExt2` open with: a live handle, `pulFlags` (0x1
/// NoCompression, 0x2 NoXorMagic, 0x4 Chain), `rgbIn` with its count, `cbIn` repeating the
/// count and `pcbOut` within the protocol's limit. Returns `rgbIn` when they fit.
fn ext_prefix<'a>(r: &mut NdrReader<'a>) -> Result<Option<&'a [u8]>, NdrError> {
    if !live_handle(r)? {
        return Ok(None);
    }
    let flags = r.u32("pulFlags")?;
    let rgb_in = r.conformant_bytes(MAX_ROP_BYTES, "rgbIn")?;
    let cb_in = r.u32("cbIn")?;
    let cb_out = r.u32("pcbOut")?;
    let fits = flags <= 0x7 && cb_in as usize == rgb_in.len() && u64::from(cb_out) <= MAX_ROP_BYTES;
    Ok(fits.then_some(rgb_in))
}

/// How strongly `rgbIn` shows ROP traffic: framed ROP buffers are decisive, an empty buffer
/// only consistent, anything else not EMSMDB.
fn rgb_in_shape(rgb_in: &[u8], raw_rops_too: bool) -> Option<Shape> {
    if rgb_in.is_empty() {
        Some(Shape::Consistent)
    } else if header_ext_chain_fits(rgb_in, true) || (raw_rops_too && rop_buffer_fits(rgb_in, true))
    {
        Some(Shape::Decisive)
    } else {
        None
    }
}

/// `EcDoRpcExt2` [MS-OXCRPC 3.1.4.2]: the common prefix, then `rgbAuxIn` framed like
/// `rgbIn`, `cbAuxIn` repeating its count, `pcbAuxOut` within 0x1008; nothing after.
fn do_rpc_ext2_fits(bytes: &[u8], f: NdrFormat) -> Result<Option<Shape>, NdrError> {
    let mut r = NdrReader::new(bytes, f);
    let Some(rgb_in) = ext_prefix(&mut r)? else {
        return Ok(None);
    };
    let aux = r.conformant_bytes(MAX_AUX_BYTES, "rgbAuxIn")?;
    let cb_aux = r.u32("cbAuxIn")?;
    let cb_aux_out = r.u32("pcbAuxOut")?;
    let aux_fits = aux.is_empty() || header_ext_chain_fits(aux, false);
    let fits = cb_aux as usize == aux.len()
        && u64::from(cb_aux_out) <= MAX_AUX_BYTES
        && aux_fits
        && r.remaining() == 0;
    Ok(if fits {
        rgb_in_shape(rgb_in, false)
    } else {
        None
    })
}

/// `EcDoRpcExt` (historic, OpenChange's IDL): the common prefix, then `Reserved0` as a
/// conformant varying array whose counts `Reserved1` repeats; nothing after. Its `rgbIn` is
/// taken either framed or as a bare obfuscated ROP buffer (no specification says which).
fn do_rpc_ext_fits(bytes: &[u8], f: NdrFormat) -> Result<Option<Shape>, NdrError> {
    let mut r = NdrReader::new(bytes, f);
    let Some(rgb_in) = ext_prefix(&mut r)? else {
        return Ok(None);
    };
    let max = r.count("Reserved0 max_count")?;
    let offset = r.count("Reserved0 offset")?;
    let actual = r.count("Reserved0 actual_count")?;
    if offset != 0 || actual != max || max > MAX_RESERVED_BYTES {
        return Ok(None);
    }
    r.bytes(actual as usize, "Reserved0")?;
    let reserved1 = r.u32("Reserved1")?;
    let fits = u64::from(reserved1) == max && r.remaining() == 0;
    Ok(if fits {
        rgb_in_shape(rgb_in, true)
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::super::{
        encode_connect_request, encode_do_rpc_request, encode_register_push_request,
        encode_rpc_ext2_request, rop, CallbackAddress, NdrWriter,
    };
    use super::*;

    const F: NdrFormat = NdrFormat::NDR20_LE;
    const HANDLE: [u8; 20] = [
        0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    ];

    fn whole(bytes: &[u8]) -> RequestStub<'_> {
        RequestStub {
            bytes: Some(bytes),
            len: bytes.len(),
            len_exact: true,
            format: F,
        }
    }

    fn sealed(len: usize) -> RequestStub<'static> {
        RequestStub {
            bytes: None,
            len,
            len_exact: true,
            format: F,
        }
    }

    fn emsmdb(shape: Shape) -> Option<(StoreInterface, Shape)> {
        Some((StoreInterface::Emsmdb, shape))
    }

    fn rops() -> Vec<u8> {
        rop::encode_rop_buffer(&[0x0e, 0, 0, 0x22, 0x33], &[0x11, 0x22])
    }

    #[test]
    fn ext2_and_legacy_rpc_are_decisive_by_their_rop_buffers() {
        let ext2 = encode_rpc_ext2_request(F, &HANDLE, &rops());
        assert_eq!(
            recognise_request(OP_DO_RPC_EXT2, whole(&ext2)),
            emsmdb(Shape::Decisive)
        );
        let legacy = encode_do_rpc_request(F, &HANDLE, &rops(), 0x8000);
        assert_eq!(
            recognise_request(OP_DO_RPC, whole(&legacy)),
            emsmdb(Shape::Decisive)
        );
        // An empty poll (RopSize 2, no handles) is a ROP buffer too.
        let poll = encode_do_rpc_request(F, &HANDLE, &rop::encode_rop_buffer(&[], &[]), 0x8000);
        assert_eq!(
            recognise_request(OP_DO_RPC, whole(&poll)),
            emsmdb(Shape::Decisive)
        );
        // The same bytes under the other opnum, or cut by one byte, are not.
        assert_eq!(recognise_request(OP_DO_RPC, whole(&ext2)), None);
        assert_eq!(recognise_request(OP_DO_RPC_EXT2, whole(&legacy)), None);
        assert_eq!(
            recognise_request(OP_DO_RPC, whole(&legacy[..legacy.len() - 1])),
            None
        );
        // A ROP buffer that does not fill its count.
        let mut broken = legacy.clone();
        broken[32] ^= 0x01; // RopSize's low byte
        assert_eq!(recognise_request(OP_DO_RPC, whole(&broken)), None);
    }

    #[test]
    fn plain_calls_are_only_consistent() {
        let handle_only = HANDLE.to_vec();
        for opnum in [OP_DO_DISCONNECT, OP_DO_ASYNC_CONNECT_EX] {
            assert_eq!(
                recognise_request(opnum, whole(&handle_only)),
                emsmdb(Shape::Consistent)
            );
        }
        let unregister = [&HANDLE[..], &[0; 8]].concat();
        assert_eq!(
            recognise_request(OP_UNREGISTER_PUSH, whole(&unregister)),
            emsmdb(Shape::Consistent)
        );
        assert_eq!(
            recognise_request(OP_DUMMY_RPC, whole(&[])),
            emsmdb(Shape::Consistent)
        );
        let wait = [&HANDLE[..], &[0; 4]].concat();
        assert_eq!(
            recognise_request(OP_ASYNC_WAIT_EX, whole(&wait)),
            Some((StoreInterface::AsyncEmsmdb, Shape::Consistent))
        );
        // A nil or attributed handle is not a live session's.
        assert_eq!(recognise_request(OP_DO_DISCONNECT, whole(&[0; 20])), None);
        let mut attributed = HANDLE;
        attributed[0] = 1;
        assert_eq!(
            recognise_request(OP_DO_DISCONNECT, whole(&attributed)),
            None
        );
        // Opnums never sent on the wire.
        for opnum in [3, 7, 8, 12, 13, 15, 40] {
            assert_eq!(recognise_request(opnum, whole(&handle_only)), None);
        }
    }

    #[test]
    fn connect_and_registration_are_decisive() {
        let connect = encode_connect_request(F, "/o=Contoso/ou=First/cn=Recipients/cn=jdoe");
        for opnum in [OP_DO_CONNECT, OP_DO_CONNECT_EX] {
            assert_eq!(
                recognise_request(opnum, whole(&connect)),
                emsmdb(Shape::Decisive)
            );
        }
        let cb = CallbackAddress::encode_windows("10.0.0.21:1088".parse().unwrap());
        let reg = encode_register_push_request(F, &HANDLE, &[1; 8], &cb, 0xa5);
        assert_eq!(
            recognise_request(OP_REGISTER_PUSH, whole(&reg)),
            emsmdb(Shape::Decisive)
        );
    }

    #[test]
    fn sealed_stubs_are_judged_by_length() {
        assert_eq!(
            recognise_request(OP_DO_DISCONNECT, sealed(20)),
            emsmdb(Shape::Unreadable)
        );
        assert_eq!(recognise_request(OP_DO_DISCONNECT, sealed(24)), None);
        assert_eq!(
            recognise_request(OP_ASYNC_WAIT_EX, sealed(24)),
            Some((StoreInterface::AsyncEmsmdb, Shape::Unreadable))
        );
        assert_eq!(
            recognise_request(OP_DO_CONNECT, sealed(120)),
            emsmdb(Shape::Unreadable)
        );
        assert_eq!(
            recognise_request(OP_REGISTER_PUSH, sealed(66)),
            emsmdb(Shape::Unreadable)
        );
        assert_eq!(recognise_request(OP_REGISTER_PUSH, sealed(20)), None);
        assert_eq!(
            recognise_request(OP_DO_RPC_EXT2, sealed(200)),
            emsmdb(Shape::Unreadable)
        );
        // A stub cut by the capture, or missing a fragment, is at least that long: a
        // registration seen as 42 bytes may be one of 66.
        let cut = |len| RequestStub {
            len_exact: false,
            ..sealed(len)
        };
        assert_eq!(
            recognise_request(OP_REGISTER_PUSH, cut(42)),
            emsmdb(Shape::Unreadable)
        );
        assert_eq!(recognise_request(OP_REGISTER_PUSH, cut(100)), None);
        assert_eq!(
            recognise_request(OP_DO_DISCONNECT, cut(12)),
            emsmdb(Shape::Unreadable)
        );
    }

    /// Opnum-2 (and -1, -11) calls of the interfaces that share Windows captures with Outlook,
    /// laid out as their IDLs say: none is taken for EMSMDB.
    #[test]
    fn other_interfaces_calls_are_not_taken() {
        let mut foreign: Vec<(u16, Vec<u8>)> = Vec::new();
        // LSA LsarEnumeratePrivileges (opnum 2): policy handle, enumeration context, max length.
        let mut w = NdrWriter::new(F, 0);
        w.bytes(&HANDLE);
        w.u32(0);
        w.u32(0x1000);
        foreign.push((2, w.into_bytes()));
        // EPM ept_lookup (opnum 2): inquiry type, object (null), interface (null), vers
        // option, entry handle, max entries.
        let mut w = NdrWriter::new(F, 0);
        for v in [0u32, 0, 0, 1] {
            w.u32(v);
        }
        w.bytes(&[0; 20]);
        w.u32(500);
        foreign.push((2, w.into_bytes()));
        // NSPI NspiUpdateStat (opnum 2): handle, reserved, STAT (9 u32), delta pointer.
        let mut w = NdrWriter::new(F, 0);
        w.bytes(&HANDLE);
        for v in [0u32, 0, 0, 0, 0, 0, 0, 0, 1252, 1033, 1033, 0x0002_0000] {
            w.u32(v);
        }
        foreign.push((2, w.into_bytes()));
        // DRSUAPI IDL_DRSReplicaSync (opnum 2): handle, version 1, a DRS_MSG_REPSYNC_V1 with
        // a DSNAME (structLen, SidLen, Guid, Sid, NameLen, name) and an options word.
        let mut w = NdrWriter::new(F, 0);
        w.bytes(&HANDLE);
        w.u32(1);
        w.u32(1);
        w.u32(0x0002_0000);
        w.bytes(&[7; 16]);
        w.u32(0);
        w.u32(0x0002_0004);
        w.u32(0x11);
        w.u32(58);
        w.u32(0);
        w.bytes(&[0x41; 58]);
        foreign.push((2, w.into_bytes()));
        // SAMR SamrSetSecurityObject (opnum 2): handle, security information, a
        // SAMPR_SR_SECURITY_DESCRIPTOR (length and a pointer to its bytes).
        let mut w = NdrWriter::new(F, 0);
        w.bytes(&HANDLE);
        w.u32(4);
        w.u32(20);
        w.u32(0x0002_0000);
        w.conformant_bytes(&[
            1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0,
        ]);
        foreign.push((2, w.into_bytes()));
        // NSPI NspiGetMatches-like and DRSUAPI IDL_DRSGetNCChanges-like (opnum 11? no: 3):
        // large calls with a handle and a conformant array whose count is not repeated.
        let mut w = NdrWriter::new(F, 0);
        w.bytes(&HANDLE);
        w.u32(0);
        w.conformant_bytes(&[0x5a; 40]);
        w.u32(7);
        w.u32(0x8000);
        foreign.push((11, w.into_bytes()));
        for (opnum, stub) in &foreign {
            assert_eq!(
                recognise_request(*opnum, whole(stub)),
                None,
                "opnum {opnum}: {stub:02x?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(opnum in 0u16..20, bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160), ndr64: bool) {
            let format = NdrFormat { little_endian: true, ndr64 };
            let _ = recognise_request(opnum, RequestStub { bytes: Some(&bytes), len: bytes.len(), len_exact: true, format });
        }

        /// Random bytes of the right size are never decisive for the ROP calls: the chance
        /// that every length field agrees by accident is negligible.
        #[test]
        fn random_stubs_are_not_decisive(opnum in proptest::sample::select(vec![2u16, 9, 11]), bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 40..200)) {
            let stub = [&HANDLE[..], &bytes].concat();
            let shape = recognise_request(opnum, whole(&stub)).map(|(_, s)| s);
            proptest::prop_assert_ne!(shape, Some(Shape::Decisive));
        }
    }
}
