//! The facts the engine hands the correlator: Exchange store calls, each with what its stubs
//! showed, already known to be EMSMDB or AsyncEMSMDB (by their bind, their shape or their
//! endpoint).

use crate::emsmdb::RegisterPushRequest;
use std::net::SocketAddr;

/// What the request of an `EcRRegisterPushNotification` call showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFacts {
    /// The stub decoded.
    Decoded(RegisterPushRequest),
    /// The stub is sealed (packet privacy); only its plaintext length is known.
    Encrypted,
    /// The stub did not fit the layout (cut, gap, fragment missing): why.
    Undecodable(String),
}

/// What the response of an `EcRRegisterPushNotification` call showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFacts {
    /// The return code.
    Status(u32),
    /// A DCE/RPC fault with this status.
    Fault(u32),
    /// A sealed response (no fault): the return code is unreadable.
    Encrypted,
    /// The response stub did not fit the layout: why.
    Undecodable(String),
    /// No response was captured.
    Missing,
}

/// One registration call as the DCE/RPC layer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFacts {
    /// Frame completing the request.
    pub request_frame: u64,
    /// Request time.
    pub request_ts_ns: i64,
    /// Frame completing the response or fault.
    pub response_frame: Option<u64>,
    /// Plaintext request stub length.
    pub stub_len: usize,
    /// The request.
    pub request: RequestFacts,
    /// The response.
    pub response: ResponseFacts,
}

impl RegistrationFacts {
    /// The server refused it: a fault or a non-zero return code.
    pub(super) fn failed(&self) -> bool {
        matches!(self.response, ResponseFacts::Fault(_))
            || matches!(self.response, ResponseFacts::Status(c) if c != 0)
    }

    /// The server accepted it (or answered without a fault, sealed).
    pub(super) fn succeeded(&self) -> bool {
        matches!(
            self.response,
            ResponseFacts::Status(0) | ResponseFacts::Encrypted
        )
    }

    /// The decoded request, when it decoded.
    pub(super) fn decoded(&self) -> Option<&RegisterPushRequest> {
        match &self.request {
            RequestFacts::Decoded(r) => Some(r),
            _ => None,
        }
    }

    /// The frames that show it: request, then response.
    pub(super) fn frames(&self) -> Vec<u64> {
        std::iter::once(self.request_frame)
            .chain(self.response_frame)
            .collect()
    }
}

/// What a store call is, beyond being a call from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallDetail {
    /// `EcRRegisterPushNotification`.
    Registration(RegistrationFacts),
    /// `EcDoConnect(Ex)`: the user DN and poll interval when readable.
    Logon {
        /// The mailbox owner's DN.
        user: Option<String>,
        /// `pcmsPollsMax` from the response.
        poll_interval_ms: Option<u32>,
    },
    /// `EcRUnregisterPushNotification`: the registration before it ends.
    Unregistration,
    /// `EcDoAsyncConnectEx`: the client sets up AsyncEMSMDB notifications.
    AsyncConnect,
    /// AsyncEMSMDB `EcDoAsyncWaitEx`: the client waits for notifications without UDP. Not a
    /// call that reacts to a datagram.
    AsyncWait,
    /// Any other EMSMDB call (ROP calls, disconnect, dummy).
    Other,
}

/// One call from an Outlook client to an Exchange store interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCall {
    /// The client's end of the TCP connection.
    pub client: SocketAddr,
    /// The server's end.
    pub server: SocketAddr,
    /// The connection's bind was not captured: the call was recognised by its shape or its
    /// endpoint.
    pub inferred: bool,
    /// Its opnum.
    pub opnum: u16,
    /// Frame completing the request.
    pub request_frame: u64,
    /// Request time.
    pub request_ts_ns: i64,
    /// Time of the response or fault, when captured.
    pub response_ts_ns: Option<i64>,
    /// What kind of call.
    pub detail: CallDetail,
}
