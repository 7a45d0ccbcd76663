//! DCE/RPC connection-oriented PDUs for the sample scenarios, written with the engine's own
//! encoder (`pushtrace_core::dcerpc::encode`, C706 ch. 12, MS-RPCE 2.2.2; protocol.md §1):
//! bind, alter_context and their answers, bind_nak, fragmented requests and responses, faults,
//! authentication trailers (a sealed stub is random bytes of the plaintext length, as packet
//! privacy would look on the wire), and the endpoint mapper's `ept_map` towers.

use crate::net::Rng;
use pushtrace_core::dcerpc::encode::{self, AuthTrailer, PduBuilder};
use pushtrace_core::dcerpc::pdu::{
    InterfaceId, PfcFlags, PresentationResult, ProposedContext, TransferSyntax, AUTH_LEVEL_PRIVACY,
};
use uuid::Uuid;

// The interface and transfer-syntax UUIDs and the flags are the engine's own constants, so
// the samples cannot drift from what the decoder recognises.
pub use pushtrace_core::dcerpc::interfaces::{
    ASYNC_EMSMDB_UUID as ASYNC_EMSMDB, EMSMDB_UUID as EMSMDB, EPM_UUID as EPM, NSPI_UUID as NSPI,
};
pub use pushtrace_core::dcerpc::pdu::{NDR20_UUID as NDR20, NDR64_UUID as NDR64};

const PFC_FIRST: u8 = PfcFlags::FIRST_FRAG;
const PFC_LAST: u8 = PfcFlags::LAST_FRAG;

/// One presentation context proposed in a bind.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// p_cont_id.
    pub id: u16,
    /// Abstract syntax (the interface).
    pub interface: Uuid,
    /// Interface version (major, minor).
    pub version: (u16, u16),
    /// Transfer syntax offered.
    pub transfer: Uuid,
}

impl Context {
    /// Context `id` proposing `interface` at `version` with NDR20.
    pub fn ndr20(id: u16, interface: Uuid, version: (u16, u16)) -> Context {
        Context {
            id,
            interface,
            version,
            transfer: NDR20,
        }
    }
}

/// The authentication a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    /// auth_type (10 = NTLMSSP, 9 = SPNEGO).
    pub auth_type: u8,
    /// auth_level (2 connect ... 6 privacy).
    pub level: u8,
}

/// Writes PDUs for one association in one integer byte order, with the engine's encoder
/// ([`PduBuilder`]).
#[derive(Debug, Clone)]
pub struct PduWriter {
    little_endian: bool,
    /// Authentication on requests/responses, if any.
    pub auth: Option<Auth>,
}

impl PduWriter {
    /// A writer for little-endian (Windows) or big-endian peers.
    pub fn new(little_endian: bool, auth: Option<Auth>) -> Self {
        PduWriter {
            little_endian,
            auth,
        }
    }

    /// A bind (or, with `alter`, an alter_context) proposing `contexts`.
    pub fn bind(&self, call_id: u32, contexts: &[Context], alter: bool) -> Vec<u8> {
        let proposed: Vec<ProposedContext> = contexts
            .iter()
            .map(|c| ProposedContext {
                context_id: c.id,
                interface: InterfaceId {
                    uuid: c.interface,
                    version: c.version,
                },
                transfer_syntaxes: vec![TransferSyntax::from_wire(
                    c.transfer,
                    if c.transfer == NDR64 { 1 } else { 2 },
                )],
            })
            .collect();
        let pdu = if alter {
            PduBuilder::alter_context(call_id, &proposed)
        } else {
            PduBuilder::bind(call_id, &proposed)
        };
        pdu.little_endian(self.little_endian).build()
    }

    /// A bind_ack (or alter_context_resp) with the port as `sec_addr` and one result per
    /// context: `Some(transfer)` accepted, `None` rejected (provider rejection, abstract
    /// syntax not supported). Pad bytes are junk, as on real wires.
    pub fn bind_ack(
        &self,
        call_id: u32,
        sec_addr: &str,
        results: &[Option<Uuid>],
        alter: bool,
    ) -> Vec<u8> {
        let results: Vec<PresentationResult> = results
            .iter()
            .map(|r| match *r {
                Some(t) => {
                    encode::accepted(TransferSyntax::from_wire(t, if t == NDR20 { 2 } else { 1 }))
                }
                None => encode::abstract_syntax_not_supported(),
            })
            .collect();
        let pdu = if alter {
            PduBuilder::alter_context_resp(call_id, &results)
        } else {
            PduBuilder::bind_ack(call_id, sec_addr, &results)
        };
        pdu.little_endian(self.little_endian).build()
    }

    /// A bind_nak with `reason` (e.g. 4 = protocol version not supported).
    pub fn bind_nak(&self, call_id: u32, reason: u16) -> Vec<u8> {
        PduBuilder::bind_nak(call_id, reason)
            .little_endian(self.little_endian)
            .build()
    }

    /// A request, cut into fragments of at most `max_frag_stub` stub bytes.
    pub fn request(
        &self,
        call_id: u32,
        ctx: u16,
        opnum: u16,
        stub: &[u8],
        max_frag_stub: usize,
        rng: &mut Rng,
    ) -> Vec<Vec<u8>> {
        self.fragments(stub, max_frag_stub, rng, |hint| {
            PduBuilder::request_fragment(call_id, ctx, opnum, hint)
        })
    }

    /// A response, cut into fragments of at most `max_frag_stub` stub bytes.
    pub fn response(
        &self,
        call_id: u32,
        ctx: u16,
        stub: &[u8],
        max_frag_stub: usize,
        rng: &mut Rng,
    ) -> Vec<Vec<u8>> {
        self.fragments(stub, max_frag_stub, rng, |hint| {
            PduBuilder::response_fragment(call_id, ctx, hint)
        })
    }

    /// A fault with `status` (e.g. 0x1c010002 nca_s_op_rng_error).
    pub fn fault(&self, call_id: u32, ctx: u16, status: u32) -> Vec<u8> {
        PduBuilder::fault(call_id, ctx, status)
            .little_endian(self.little_endian)
            .build()
    }

    /// `stub` in fragments of at most `max_frag_stub` bytes, each started by `head` (given
    /// the stub bytes left from it on) and, with authentication, sealed at packet privacy
    /// (random bytes of the same length) and followed by a 16-byte signature.
    fn fragments(
        &self,
        stub: &[u8],
        max_frag_stub: usize,
        rng: &mut Rng,
        head: impl Fn(u32) -> PduBuilder,
    ) -> Vec<Vec<u8>> {
        let chunk = max_frag_stub.max(8);
        let pieces: Vec<&[u8]> = if stub.is_empty() {
            vec![stub]
        } else {
            stub.chunks(chunk).collect()
        };
        let n = pieces.len();
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut flags = 0;
                if i == 0 {
                    flags |= PFC_FIRST;
                }
                if i + 1 == n {
                    flags |= PFC_LAST;
                }
                let pdu = head((stub.len() - i * chunk) as u32)
                    .flags(flags)
                    .little_endian(self.little_endian);
                let pdu = match self.auth {
                    Some(a) => {
                        let body = if a.level == AUTH_LEVEL_PRIVACY {
                            rng.bytes(piece.len())
                        } else {
                            piece.to_vec()
                        };
                        let mut value = vec![1, 0, 0, 0];
                        value.extend_from_slice(&rng.bytes(12));
                        pdu.bytes(&body).auth_trailer(AuthTrailer {
                            auth_type: a.auth_type,
                            level: a.level,
                            pad: ((16 - piece.len() % 16) % 16) as u8,
                            pad_byte: 0,
                            context_id: 0x0002_0000,
                            value,
                        })
                    }
                    None => pdu.bytes(piece),
                };
                pdu.build()
            })
            .collect()
    }
}

/// The octets of an ncacn_ip_tcp tower: interface, NDR, RPC CO, TCP port, IPv4 address.
pub fn tcp_tower(interface: Uuid, version: (u16, u16), port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut t = Vec::new();
    let floor = |t: &mut Vec<u8>, lhs: &[u8], rhs: &[u8]| {
        t.extend_from_slice(&(lhs.len() as u16).to_le_bytes());
        t.extend_from_slice(lhs);
        t.extend_from_slice(&(rhs.len() as u16).to_le_bytes());
        t.extend_from_slice(rhs);
    };
    t.extend_from_slice(&5u16.to_le_bytes());
    let mut iface = vec![0x0d];
    iface.extend_from_slice(&interface.to_bytes_le());
    iface.extend_from_slice(&version.0.to_le_bytes());
    floor(&mut t, &iface, &version.1.to_le_bytes());
    let mut ndr = vec![0x0d];
    ndr.extend_from_slice(&NDR20.to_bytes_le());
    ndr.extend_from_slice(&2u16.to_le_bytes());
    floor(&mut t, &ndr, &0u16.to_le_bytes());
    floor(&mut t, &[0x0b], &0u16.to_le_bytes());
    floor(&mut t, &[0x07], &port.to_be_bytes());
    floor(&mut t, &[0x09], &ip);
    t
}

fn push_tower(out: &mut Vec<u8>, tower: &[u8]) {
    out.extend_from_slice(&(tower.len() as u32).to_le_bytes());
    out.extend_from_slice(&(tower.len() as u32).to_le_bytes());
    out.extend_from_slice(tower);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The stub of an `ept_map` request asking where `tower`'s interface listens (NDR20 LE).
pub fn ept_map_request(tower: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&1u32.to_le_bytes()); // object: unique pointer referent
    s.extend_from_slice(&[0; 16]); // nil object UUID
    s.extend_from_slice(&2u32.to_le_bytes()); // map_tower referent
    push_tower(&mut s, tower);
    s.extend_from_slice(&[0; 20]); // entry_handle
    s.extend_from_slice(&4u32.to_le_bytes()); // max_towers
    s
}

/// The stub of an `ept_map` response holding one tower (NDR20 LE).
pub fn ept_map_response(tower: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; 20]; // entry_handle
    s.extend_from_slice(&1u32.to_le_bytes()); // num_towers
    s.extend_from_slice(&4u32.to_le_bytes()); // max_count
    s.extend_from_slice(&0u32.to_le_bytes()); // offset
    s.extend_from_slice(&1u32.to_le_bytes()); // actual_count
    s.extend_from_slice(&3u32.to_le_bytes()); // tower referent
    push_tower(&mut s, tower);
    s.extend_from_slice(&0u32.to_le_bytes()); // status
    s
}
