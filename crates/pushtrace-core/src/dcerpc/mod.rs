//! DCE/RPC over TCP (ncacn_ip_tcp, connection-oriented): the stage between TCP reassembly and
//! the EMSMDB decoder (protocol.md §1).
//!
//! * [`pdu`]: the common header, a sans-IO framer ([`pdu::frame_pdu`]), Wireshark's header
//!   heuristic and typed parsers for every connection-oriented PDU, drep-aware, including
//!   PDUs the capture cut short ([`pdu::parse_cut_pdu`]).
//! * [`conn`]: [`RpcConnection`], the per-connection engine: framing with resync, presentation
//!   contexts, fragment reassembly, auth trailers, PDUs cut by a snap length and
//!   request/response pairing, emitting [`RpcEvent`]s.
//! * [`interfaces`]: the well-known interface, opnum and fault status tables.
//! * [`ndr`]: the bounded NDR reader (and writer) every stub decoder uses: the endpoint
//!   mapper's here, EMSMDB's in [`crate::emsmdb`].
//! * [`epm`]: the endpoint mapper's ept_map towers (which port serves which interface).
//! * [`encode`]: the other direction, PDUs written as the parser reads them, for tests and
//!   the sample generator.
//!
//! The stage knows nothing of Exchange semantics: it reports binds and calls; the EMSMDB stage
//! interprets the stubs.

pub mod conn;
pub mod encode;
pub mod epm;
pub mod interfaces;
pub mod ndr;
pub mod pdu;
#[cfg(test)]
mod test_support;

pub use conn::{
    BindKind, BoundInterface, ContextResult, RpcCall, RpcConnection, RpcEvent, RpcLimits, Stub,
};
pub use pdu::{InterfaceId, TransferSyntax};
