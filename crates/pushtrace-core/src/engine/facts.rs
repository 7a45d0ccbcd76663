//! From a DCE/RPC call known to be an Exchange store call to the correlator's facts: what
//! its stubs show of a registration, a logon, an unregistration (protocol.md §2.3–§2.7).

use crate::correlate::{CallDetail, RegistrationFacts, RequestFacts, ResponseFacts, StoreCall};
use crate::dcerpc::{RpcCall, Stub, TransferSyntax};
use crate::emsmdb::{self, NdrFormat, StoreInterface};
use std::net::SocketAddr;

/// How a stub of `call` is encoded: its sender's byte order and the context's transfer
/// syntax (NDR20 unless a captured bind negotiated NDR64).
pub(super) fn ndr_format(stub: &Stub, call: &RpcCall) -> NdrFormat {
    let ndr64 = call
        .interface
        .is_some_and(|i| i.transfer_syntax == TransferSyntax::Ndr64);
    NdrFormat {
        little_endian: stub.little_endian,
        ndr64,
    }
}

/// The fact a store call of `interface` gives the correlator.
pub(super) fn store_call(
    call: &RpcCall,
    client: SocketAddr,
    server: SocketAddr,
    interface: StoreInterface,
    inferred: bool,
) -> StoreCall {
    let detail = match (interface, call.opnum) {
        (StoreInterface::AsyncEmsmdb, _) => CallDetail::AsyncWait,
        (_, emsmdb::OP_REGISTER_PUSH) => CallDetail::Registration(registration(call)),
        (_, emsmdb::OP_DO_CONNECT | emsmdb::OP_DO_CONNECT_EX) => CallDetail::Logon {
            user: call.request.complete_bytes().and_then(|b| {
                emsmdb::decode_connect_request_user(b, ndr_format(&call.request, call)).ok()
            }),
            poll_interval_ms: call
                .response
                .as_ref()
                .and_then(|r| r.complete_bytes().map(|b| (b, ndr_format(r, call))))
                .and_then(|(b, f)| emsmdb::decode_connect_response(b, f).ok())
                .map(|r| r.poll_interval_ms),
        },
        (_, emsmdb::OP_UNREGISTER_PUSH) => CallDetail::Unregistration,
        (_, emsmdb::OP_DO_ASYNC_CONNECT_EX) => CallDetail::AsyncConnect,
        _ => CallDetail::Other,
    };
    StoreCall {
        client,
        server,
        inferred,
        opnum: call.opnum,
        request_frame: call.request_frame,
        request_ts_ns: call.request_ts_ns,
        response_ts_ns: call.response_ts_ns,
        detail,
    }
}

fn why_incomplete(stub: &Stub) -> String {
    if stub.cut_by_capture {
        format!(
            "the capture lost part of the stub (snap length or a missing segment; {} of {} \
             bytes captured)",
            stub.bytes.len(),
            stub.len
        )
    } else if stub.missing_fragment {
        "a fragment is missing".into()
    } else if stub.truncated {
        format!("the stub ({} bytes) exceeds the stub cap", stub.len)
    } else {
        "the stub is incomplete".into()
    }
}

fn registration(call: &RpcCall) -> RegistrationFacts {
    let request = if call.request.encrypted {
        RequestFacts::Encrypted
    } else {
        match call.request.complete_bytes() {
            Some(b) => {
                match emsmdb::decode_register_push_request(b, ndr_format(&call.request, call)) {
                    Ok(r) => RequestFacts::Decoded(r),
                    Err(e) => RequestFacts::Undecodable(e.to_string()),
                }
            }
            None => RequestFacts::Undecodable(why_incomplete(&call.request)),
        }
    };
    let response = match (call.fault_status, &call.response) {
        (Some(f), _) => ResponseFacts::Fault(f),
        (None, None) => ResponseFacts::Missing,
        (None, Some(r)) if r.encrypted => ResponseFacts::Encrypted,
        (None, Some(r)) => match r.complete_bytes() {
            Some(b) => match emsmdb::decode_register_push_response(b, ndr_format(r, call)) {
                Ok(resp) => ResponseFacts::Status(resp.return_code),
                Err(e) => ResponseFacts::Undecodable(e.to_string()),
            },
            None => ResponseFacts::Undecodable(why_incomplete(r)),
        },
    };
    RegistrationFacts {
        request_frame: call.request_frame,
        request_ts_ns: call.request_ts_ns,
        response_frame: call.response_frame,
        stub_len: call.request.len,
        request,
        response,
    }
}
