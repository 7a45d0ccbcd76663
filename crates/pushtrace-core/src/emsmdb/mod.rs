//! EMSMDB stubs: the push-notification registration (opnum 4) and the few other calls the
//! diagnosis reads (connect for the user and poll interval, unregister).
//!
//! Layouts come from MS-OXCRPC §3.1.4 and its IDL, cross-checked against a real capture
//! (protocol.md §2.3–§2.5). Decoders take the reassembled, clear stub and its [`NdrFormat`];
//! they never read padding, bound every count by the protocol's limits and the stub length,
//! and return [`NdrError`] when the stub does not fit the layout.

pub mod rop;
mod shape;
mod sockaddr;

pub use crate::dcerpc::ndr::{NdrError, NdrFormat, NdrReader, NdrWriter};
pub use shape::{recognise_request, RequestStub, Shape, StoreInterface};
pub use sockaddr::CallbackAddress;

use std::net::IpAddr;

/// Opnum of `EcDoConnect` (legacy).
pub const OP_DO_CONNECT: u16 = 0;
/// Opnum of `EcDoDisconnect`.
pub const OP_DO_DISCONNECT: u16 = 1;
/// Opnum of `EcDoRpc` (legacy).
pub const OP_DO_RPC: u16 = 2;
/// Opnum of `EcRRegisterPushNotification`.
pub const OP_REGISTER_PUSH: u16 = 4;
/// Opnum of the historic `EcRUnregisterPushNotification`.
pub const OP_UNREGISTER_PUSH: u16 = 5;
/// Opnum of `EcDoRpcExt`.
pub const OP_DO_RPC_EXT: u16 = 9;
/// Opnum of `EcDoConnectEx`.
pub const OP_DO_CONNECT_EX: u16 = 10;
/// Opnum of `EcDoRpcExt2`.
pub const OP_DO_RPC_EXT2: u16 = 11;
/// Opnum of `EcDummyRpc`.
pub const OP_DUMMY_RPC: u16 = 6;
/// Opnum of `EcDoAsyncConnectEx`.
pub const OP_DO_ASYNC_CONNECT_EX: u16 = 14;
/// Opnum of AsyncEMSMDB's only method, `EcDoAsyncWaitEx`.
pub const OP_ASYNC_WAIT_EX: u16 = 0;

/// True for the opnums that carry ROP traffic (the calls a polling client repeats).
pub fn is_rop_call(opnum: u16) -> bool {
    matches!(opnum, OP_DO_RPC | OP_DO_RPC_EXT | OP_DO_RPC_EXT2)
}

/// `cbContext` above this makes the server answer ecTooBig [MS-OXCRPC R437].
pub const MAX_CONTEXT_LEN: u64 = 16;
/// The largest SOCKADDR a client sends (Windows `sockaddr_in6`).
const MAX_CALLBACK_LEN: u64 = 28;
/// Longest user DN pushtrace keeps.
const MAX_USER_DN: u64 = 1024;

/// Formats an endpoint the way the report prints them: `10.0.0.21:1088`, `[2001:db8::21]:1088`.
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The decoded request of `EcRRegisterPushNotification` (opnum 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterPushRequest {
    /// The session context handle (attributes + UUID).
    pub handle: [u8; 20],
    /// `rgbContext`: the opaque bytes the server echoes in every notification datagram.
    pub context: Vec<u8>,
    /// `grbitAdviseBits` (MUST be 0xFFFFFFFF).
    pub advise_bits: u32,
    /// `rgbCallbackAddress` decoded.
    pub callback: CallbackAddress,
    /// Deviations from the spec that did not stop decoding (e.g. `iRpc` not 0).
    pub anomalies: Vec<&'static str>,
}

/// Decodes an opnum-4 request stub [MS-OXCRPC 3.1.4.5; protocol.md §2.3.1, §2.3.4].
pub fn decode_register_push_request(
    stub: &[u8],
    format: NdrFormat,
) -> Result<RegisterPushRequest, NdrError> {
    let mut r = NdrReader::new(stub, format);
    let handle = r.context_handle()?;
    let irpc = r.u32("iRpc")?;
    let context = r.conformant_bytes(MAX_CONTEXT_LEN, "rgbContext")?.to_vec();
    let cb_context = r.u16("cbContext")?;
    let advise_bits = r.u32("grbitAdviseBits")?;
    let raw_callback = r.conformant_bytes(MAX_CALLBACK_LEN, "rgbCallbackAddress")?;
    let cb_callback = r.u16("cbCallbackAddress")?;
    let mut anomalies = Vec::new();
    if irpc != 0 {
        anomalies.push("iRpc is not 0");
    }
    if usize::from(cb_context) != context.len() {
        anomalies.push("cbContext differs from the array's max_count");
    }
    if advise_bits != u32::MAX {
        anomalies.push("grbitAdviseBits is not 0xFFFFFFFF");
    }
    if usize::from(cb_callback) != raw_callback.len() {
        anomalies.push("cbCallbackAddress differs from the array's max_count");
    }
    Ok(RegisterPushRequest {
        handle,
        context,
        advise_bits,
        callback: CallbackAddress::parse(raw_callback),
        anomalies,
    })
}

/// Builds an opnum-4 request stub (for tests and sample captures), padding with `pad_byte`.
pub fn encode_register_push_request(
    format: NdrFormat,
    handle: &[u8; 20],
    context: &[u8],
    callback: &[u8],
    pad_byte: u8,
) -> Vec<u8> {
    let mut w = NdrWriter::new(format, pad_byte);
    w.bytes(handle);
    w.u32(0);
    w.conformant_bytes(context);
    w.u16(context.len() as u16);
    w.u32(u32::MAX);
    w.conformant_bytes(callback);
    w.u16(callback.len() as u16);
    w.into_bytes()
}

/// The decoded response of `EcRRegisterPushNotification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterPushResponse {
    /// The context handle returned (all zero when the server destroyed the session).
    pub handle: [u8; 20],
    /// `hNotification`, the registration handle (0 is valid).
    pub notification_handle: u32,
    /// The return code (0 = success).
    pub return_code: u32,
}

/// Decodes an opnum-4 response stub [protocol.md §2.3.2].
pub fn decode_register_push_response(
    stub: &[u8],
    format: NdrFormat,
) -> Result<RegisterPushResponse, NdrError> {
    let mut r = NdrReader::new(stub, format);
    Ok(RegisterPushResponse {
        handle: r.context_handle()?,
        notification_handle: r.u32("hNotification")?,
        return_code: r.u32("return value")?,
    })
}

/// Builds an opnum-4 response stub (for tests and sample captures).
pub fn encode_register_push_response(
    format: NdrFormat,
    handle: &[u8; 20],
    notification: u32,
    code: u32,
) -> Vec<u8> {
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    w.u32(notification);
    w.u32(code);
    w.into_bytes()
}

/// The range of `cbContext` values a sealed opnum-4 request of `stub_len` plaintext bytes can
/// hold, assuming an IPv4 callback (16 bytes): the stub is 40 + n + 16 + 0–3 padding bytes
/// [protocol.md §2.3.5]. None when no n in 0..=16 fits.
pub fn sealed_context_len_range(stub_len: usize) -> Option<(usize, usize)> {
    let fixed = 40 + 16;
    let hi = stub_len.checked_sub(fixed)?.min(MAX_CONTEXT_LEN as usize);
    let lo = stub_len.saturating_sub(fixed + 3);
    (lo <= hi).then_some((lo, hi))
}

/// The return value every EMSMDB response stub ends with (the last 4 bytes).
pub fn trailing_return_code(stub: &[u8], format: NdrFormat) -> Option<u32> {
    let tail: [u8; 4] = stub.get(stub.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(if format.little_endian {
        u32::from_le_bytes(tail)
    } else {
        u32::from_be_bytes(tail)
    })
}

/// What the client sent in `EcDoConnect` / `EcDoConnectEx`: the mailbox owner's DN.
pub fn decode_connect_request_user(stub: &[u8], format: NdrFormat) -> Result<String, NdrError> {
    let mut r = NdrReader::new(stub, format);
    let dn = r.conformant_varying_string(MAX_USER_DN, "szUserDN")?;
    Ok(String::from_utf8_lossy(dn).into_owned())
}

/// Builds the start of an `EcDoConnect(Ex)` request stub: the user DN and zeroed fixed fields.
pub fn encode_connect_request(format: NdrFormat, user_dn: &str) -> Vec<u8> {
    let mut w = NdrWriter::new(format, 0);
    w.conformant_varying_string(user_dn);
    // ulFlags, ulConMod, cbLimit, ulCpid, ulLcidString, ulLcidSort, ulIcxrLink.
    for v in [0u32, 0, 0, 1252, 1033, 1033, 0xFFFF_FFFF] {
        w.u32(v);
    }
    w.u16(1); // usFCanConvertCodePages
    for v in [0x000Bu16, 0x8000, 0x1F40] {
        w.u16(v); // rgwClientVersion
    }
    w.u32(0); // pulTimeStamp
    w.into_bytes()
}

/// The parts of an `EcDoConnect(Ex)` response the diagnosis uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectResponse {
    /// The new session context handle.
    pub handle: [u8; 20],
    /// `pcmsPollsMax`: how often the client should poll, in milliseconds.
    pub poll_interval_ms: u32,
    /// The return code (last 4 bytes of the stub).
    pub return_code: u32,
}

/// Decodes the handle, poll interval and return code of a connect response [protocol.md §2.5].
pub fn decode_connect_response(
    stub: &[u8],
    format: NdrFormat,
) -> Result<ConnectResponse, NdrError> {
    let mut r = NdrReader::new(stub, format);
    let handle = r.context_handle()?;
    let poll_interval_ms = r.u32("pcmsPollsMax")?;
    let return_code = trailing_return_code(stub, format).ok_or(NdrError::Short {
        field: "return value",
        offset: 0,
        needed: 4,
        len: stub.len(),
    })?;
    Ok(ConnectResponse {
        handle,
        poll_interval_ms,
        return_code,
    })
}

/// Builds an `EcDoConnectEx`-shaped response stub: handle, poll interval, retry fields, empty
/// strings and versions, return code.
pub fn encode_connect_response(
    format: NdrFormat,
    handle: &[u8; 20],
    poll_ms: u32,
    code: u32,
) -> Vec<u8> {
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    w.u32(poll_ms);
    w.u32(6); // pcRetry
    w.u32(10_000); // pcmsRetryDelay
    w.u16(0); // picxr
    w.u32(0); // szDNPrefix: null unique pointer
    w.u32(0); // szDisplayName: null unique pointer
    for v in [0x000Eu16, 0, 0x0C4D, 0x000E, 0, 0x0C4D] {
        w.u16(v); // rgwServerVersion, rgwBestVersion
    }
    w.u32(0); // pulTimeStamp
    w.count(0); // rgbAuxOut max_count
    w.count(0); // offset
    w.count(0); // actual_count
    w.u32(0); // pcbAuxOut
    w.u32(code);
    w.into_bytes()
}

/// Builds an `EcDoRpcExt2` request stub carrying `rop_buffer` in one obfuscated
/// `RPC_HEADER_EXT` block [MS-OXCRPC 3.1.4.2] (for tests and sample captures).
pub fn encode_rpc_ext2_request(format: NdrFormat, handle: &[u8; 20], rop_buffer: &[u8]) -> Vec<u8> {
    let rgb_in = rop::encode_header_ext(rop_buffer, true);
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    w.u32(0); // pulFlags
    w.conformant_bytes(&rgb_in);
    w.u32(rgb_in.len() as u32); // cbIn
    w.u32(0x8007); // pcbOut
    w.conformant_bytes(&[]); // rgbAuxIn
    w.u32(0); // cbAuxIn
    w.u32(0x1008); // pcbAuxOut
    w.into_bytes()
}

/// Builds an `EcDoRpcExt2` response stub carrying `rop_buffer` in one obfuscated
/// `RPC_HEADER_EXT` block (for tests and sample captures).
pub fn encode_rpc_ext2_response(
    format: NdrFormat,
    handle: &[u8; 20],
    rop_buffer: &[u8],
) -> Vec<u8> {
    let rgb_out = rop::encode_header_ext(rop_buffer, true);
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    w.u32(0); // pulFlags
    w.count(rgb_out.len() as u64); // rgbOut max_count
    w.count(0); // offset
    w.count(rgb_out.len() as u64); // actual_count
    w.bytes(&rgb_out);
    w.u32(rgb_out.len() as u32); // pcbOut
    w.count(0); // rgbAuxOut max_count
    w.count(0); // offset
    w.count(0); // actual_count
    w.u32(0); // pcbAuxOut
    w.u32(15); // pulTransTime
    w.u32(0); // return value
    w.into_bytes()
}

/// Builds a legacy `EcDoRpc` request stub (protocol.md §2.6): the handle, `rop_buffer`
/// obfuscated in a conformant varying array of capacity `cb_max`, its length, `cb_max`
/// (for tests and sample captures).
pub fn encode_do_rpc_request(
    format: NdrFormat,
    handle: &[u8; 20],
    rop_buffer: &[u8],
    cb_max: u16,
) -> Vec<u8> {
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    do_rpc_buffer(&mut w, rop_buffer, u64::from(cb_max));
    w.u16(cb_max);
    w.into_bytes()
}

/// Builds a legacy `EcDoRpc` response stub: the handle, `rop_buffer` obfuscated, its
/// length and the return code (for tests and sample captures).
pub fn encode_do_rpc_response(
    format: NdrFormat,
    handle: &[u8; 20],
    rop_buffer: &[u8],
    code: u32,
) -> Vec<u8> {
    let mut w = NdrWriter::new(format, 0);
    w.bytes(handle);
    do_rpc_buffer(&mut w, rop_buffer, rop_buffer.len() as u64);
    w.u32(code);
    w.into_bytes()
}

/// `EcDoRpc`'s in/out buffer: a conformant varying array (capacity `max`, offset 0) holding
/// the obfuscated ROP buffer, then its length as a u16.
fn do_rpc_buffer(w: &mut NdrWriter, rop_buffer: &[u8], max: u64) {
    let mut hidden = rop_buffer.to_vec();
    rop::obfuscate(&mut hidden);
    w.count(max);
    w.count(0);
    w.count(hidden.len() as u64);
    w.bytes(&hidden);
    w.u16(hidden.len() as u16);
}

pub use crate::config::codes::return_code_name;

#[cfg(test)]
mod tests {
    use super::*;

    /// The opnum-4 request stub from a real 2003 capture (protocol.md §2.3.3, frame 797):
    /// handle, iRpc 0, rgbContext (8), cbContext 8, junk pad `a5 a5`, grbit, SOCKADDR, cb 16.
    const TRACE_REQUEST_STUB: [u8; 66] = [
        0x00, 0x00, 0x00, 0x00, 0x96, 0x57, 0x70, 0x3b, 0x05, 0x09, 0x2b, 0x45, 0x8e, 0xb2, 0x2f,
        0x53, // handle
        0x83, 0x13, 0x30, 0x45, // handle (end)
        0x00, 0x00, 0x00, 0x00, // iRpc
        0x08, 0x00, 0x00, 0x00, // max_count 8
        0xd0, 0x27, 0x3b, 0x02, 0x00, 0xe0, 0xfd, 0x7f, // rgbContext
        0x08, 0x00, // cbContext
        0xa5, 0xa5, // junk alignment padding
        0xff, 0xff, 0xff, 0xff, // grbitAdviseBits
        0x10, 0x00, 0x00, 0x00, // max_count 16
        0x02, 0x00, 0x04, 0x2f, 0xc0, 0xa8, 0x00, 0xad, 0, 0, 0, 0, 0, 0, 0, 0, // SOCKADDR_IN
        0x10, 0x00, // cbCallbackAddress
    ];

    #[test]
    fn decodes_the_real_registration() {
        let req = decode_register_push_request(&TRACE_REQUEST_STUB, NdrFormat::NDR20_LE).unwrap();
        assert_eq!(
            req.context,
            [0xd0, 0x27, 0x3b, 0x02, 0x00, 0xe0, 0xfd, 0x7f]
        );
        assert_eq!(req.callback.to_string(), "192.168.0.173:1071");
        assert_eq!(req.advise_bits, u32::MAX);
        assert!(req.anomalies.is_empty(), "{:?}", req.anomalies);
    }

    #[test]
    fn encoder_reproduces_the_real_stub() {
        let handle: [u8; 20] = TRACE_REQUEST_STUB[..20].try_into().unwrap();
        let stub = encode_register_push_request(
            NdrFormat::NDR20_LE,
            &handle,
            &TRACE_REQUEST_STUB[28..36],
            &TRACE_REQUEST_STUB[48..64],
            0xa5,
        );
        assert_eq!(stub, TRACE_REQUEST_STUB);
    }

    #[test]
    fn big_endian_and_ndr64_round_trip() {
        let cb = CallbackAddress::encode_windows("[2001:db8::21]:1088".parse().unwrap());
        for format in [
            NdrFormat {
                little_endian: false,
                ndr64: false,
            },
            NdrFormat {
                little_endian: true,
                ndr64: true,
            },
        ] {
            let stub =
                encode_register_push_request(format, &[7; 20], b"0123456789abcdef", &cb, 0x5a);
            let req = decode_register_push_request(&stub, format).unwrap();
            assert_eq!(req.context, b"0123456789abcdef");
            assert_eq!(req.callback.to_string(), "[2001:db8::21]:1088");
            assert!(req.anomalies.is_empty());
        }
    }

    #[test]
    fn oversized_context_and_short_stub_are_errors() {
        let stub =
            encode_register_push_request(NdrFormat::NDR20_LE, &[0; 20], &[1; 17], &[2, 0], 0);
        assert!(matches!(
            decode_register_push_request(&stub, NdrFormat::NDR20_LE),
            Err(NdrError::OutOfRange {
                field: "rgbContext",
                value: 17
            })
        ));
        for cut in 0..TRACE_REQUEST_STUB.len() {
            assert!(
                decode_register_push_request(&TRACE_REQUEST_STUB[..cut], NdrFormat::NDR20_LE)
                    .is_err()
            );
        }
    }

    #[test]
    fn mismatched_lengths_are_reported_as_anomalies() {
        let mut stub = TRACE_REQUEST_STUB;
        stub[36] = 9; // cbContext 9 but max_count 8
        stub[20] = 1; // iRpc 1
        let req = decode_register_push_request(&stub, NdrFormat::NDR20_LE).unwrap();
        assert_eq!(
            req.anomalies,
            [
                "iRpc is not 0",
                "cbContext differs from the array's max_count"
            ]
        );
    }

    #[test]
    fn response_and_return_codes() {
        let stub = encode_register_push_response(NdrFormat::NDR20_LE, &[1; 20], 0, 0x8004_0102);
        let resp = decode_register_push_response(&stub, NdrFormat::NDR20_LE).unwrap();
        assert_eq!(resp.return_code, 0x8004_0102);
        assert_eq!(
            return_code_name(resp.return_code),
            Some("ecNotSupported (MAPI_E_NO_SUPPORT)")
        );
        assert_eq!(
            trailing_return_code(&stub, NdrFormat::NDR20_LE),
            Some(0x8004_0102)
        );
        assert!(decode_register_push_response(&stub[..27], NdrFormat::NDR20_LE).is_err());
    }

    #[test]
    fn connect_round_trip() {
        let dn = "/o=Contoso/ou=Exchange Administrative Group/cn=Recipients/cn=jdoe";
        let req = encode_connect_request(NdrFormat::NDR20_LE, dn);
        assert_eq!(
            decode_connect_request_user(&req, NdrFormat::NDR20_LE).unwrap(),
            dn
        );
        let resp = encode_connect_response(NdrFormat::NDR20_LE, &[3; 20], 60_000, 0);
        let d = decode_connect_response(&resp, NdrFormat::NDR20_LE).unwrap();
        assert_eq!((d.poll_interval_ms, d.return_code), (60_000, 0));
    }

    #[test]
    fn sealed_length_bounds_the_context() {
        // 66-byte stub with an 8-byte context and 2 pad bytes (the real trace).
        assert_eq!(sealed_context_len_range(66), Some((7, 10)));
        assert_eq!(sealed_context_len_range(50), None);
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), le: bool, ndr64: bool) {
            let f = NdrFormat { little_endian: le, ndr64 };
            let _ = decode_register_push_request(&bytes, f);
            let _ = decode_register_push_response(&bytes, f);
            let _ = decode_connect_request_user(&bytes, f);
            let _ = decode_connect_response(&bytes, f);
        }

        #[test]
        fn request_round_trips(ctx in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=16), port: u16, ip: [u8; 4], pad: u8, le: bool) {
            let f = NdrFormat { little_endian: le, ndr64: false };
            let addr = std::net::SocketAddr::from((ip, port));
            let stub = encode_register_push_request(f, &[9; 20], &ctx, &CallbackAddress::encode_windows(addr), pad);
            let req = decode_register_push_request(&stub, f).unwrap();
            proptest::prop_assert_eq!(req.context, ctx);
            proptest::prop_assert_eq!(req.callback.socket_addr(), Some(addr));
        }
    }
}
