//! EMSMDB stubs: the opnum-4 `EcRRegisterPushNotification` request and response, the
//! SOCKADDR callback address inside it, the other stubs the diagnosis reads, the shape
//! recogniser for calls without their bind and the ROP buffer / `RPC_HEADER_EXT` checks, on
//! arbitrary bytes in every NDR format (protocol.md §2.2–§2.7).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_core::emsmdb::{
    decode_connect_request_user, decode_connect_response, decode_register_push_request,
    decode_register_push_response, recognise_request, rop, sealed_context_len_range,
    trailing_return_code, CallbackAddress, NdrFormat, RequestStub, MAX_CONTEXT_LEN,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stub)) = data.split_first() else {
        return;
    };
    let format = NdrFormat {
        little_endian: selector & 1 != 0,
        ndr64: selector & 2 != 0,
    };
    if let Ok(request) = decode_register_push_request(stub, format) {
        assert!(request.context.len() as u64 <= MAX_CONTEXT_LEN);
        if let Some(addr) = request.callback.socket_addr() {
            let again = CallbackAddress::parse(&CallbackAddress::encode_windows(addr));
            assert_eq!(again.socket_addr(), Some(addr), "SOCKADDR round trip");
        }
        let _ = request.callback.to_string();
    }
    let _ = decode_register_push_response(stub, format);
    let _ = decode_connect_request_user(stub, format);
    let _ = decode_connect_response(stub, format);
    let _ = trailing_return_code(stub, format);
    let _ = sealed_context_len_range(stub.len());
    for opnum in (0..16).chain([u16::from(selector)]) {
        let whole = RequestStub {
            bytes: Some(stub),
            len: stub.len(),
            len_exact: selector & 16 == 0,
            format,
        };
        let _ = recognise_request(opnum, whole);
        let _ = recognise_request(
            opnum,
            RequestStub {
                bytes: None,
                ..whole
            },
        );
    }
    let _ = rop::header_ext_chain_fits(stub, selector & 4 != 0);
    let _ = rop::rop_buffer_fits(stub, selector & 8 != 0);
    let callback = CallbackAddress::parse(stub);
    let _ = callback.to_string();
    if let Some(addr) = callback.socket_addr() {
        let again = CallbackAddress::parse(&CallbackAddress::encode_windows(addr));
        assert_eq!(again.socket_addr(), Some(addr), "SOCKADDR round trip");
    }
});
