//! DCE/RPC connection-oriented PDUs built from their layouts (C706 ch. 12, MS-RPCE 2.2.2;
//! protocol.md §1), for the sample scenarios: bind, alter_context and their answers, bind_nak,
//! fragmented requests and responses, faults, authentication trailers (a sealed stub is random
//! bytes of the plaintext length, as packet privacy would look on the wire) and the endpoint
//! mapper's `ept_map` towers.

use crate::net::Rng;
use uuid::Uuid;

// The interface and transfer-syntax UUIDs, PTYPEs and flags are the engine's own constants,
// so the samples cannot drift from what the decoder recognises.
pub use pushtrace_core::dcerpc::interfaces::{
    ASYNC_EMSMDB_UUID as ASYNC_EMSMDB, EMSMDB_UUID as EMSMDB, EPM_UUID as EPM, NSPI_UUID as NSPI,
};
use pushtrace_core::dcerpc::pdu::{PacketType, PfcFlags};
pub use pushtrace_core::dcerpc::pdu::{NDR20_UUID as NDR20, NDR64_UUID as NDR64};

const PTYPE_REQUEST: u8 = PacketType::Request as u8;
const PTYPE_RESPONSE: u8 = PacketType::Response as u8;
const PTYPE_FAULT: u8 = PacketType::Fault as u8;
const PTYPE_BIND: u8 = PacketType::Bind as u8;
const PTYPE_BIND_ACK: u8 = PacketType::BindAck as u8;
const PTYPE_BIND_NAK: u8 = PacketType::BindNak as u8;
const PTYPE_ALTER_CONTEXT: u8 = PacketType::AlterContext as u8;
const PTYPE_ALTER_CONTEXT_RESP: u8 = PacketType::AlterContextResp as u8;
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

/// Writes PDUs for one association in one integer byte order.
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

    fn u16(&self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&if self.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }

    fn u32(&self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&if self.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }

    fn uuid(&self, out: &mut Vec<u8>, u: &Uuid) {
        let (d1, d2, d3, d4) = u.as_fields();
        self.u32(out, d1);
        self.u16(out, d2);
        self.u16(out, d3);
        out.extend_from_slice(d4);
    }

    /// Wraps a PDU body with the 16-byte common header, fixing frag_length.
    fn pdu(&self, ptype: u8, flags: u8, call_id: u32, auth_len: u16, body: &[u8]) -> Vec<u8> {
        let mut out = vec![
            5,
            0,
            ptype,
            flags,
            if self.little_endian { 0x10 } else { 0 },
            0,
            0,
            0,
        ];
        self.u16(&mut out, (16 + body.len()) as u16);
        self.u16(&mut out, auth_len);
        self.u32(&mut out, call_id);
        out.extend_from_slice(body);
        out
    }

    fn contexts_body(&self, assoc_group: u32, contexts: &[Context]) -> Vec<u8> {
        let mut b = Vec::new();
        self.u16(&mut b, 5840);
        self.u16(&mut b, 5840);
        self.u32(&mut b, assoc_group);
        b.extend_from_slice(&[contexts.len() as u8, 0, 0, 0]);
        for c in contexts {
            self.u16(&mut b, c.id);
            b.extend_from_slice(&[1, 0]);
            self.uuid(&mut b, &c.interface);
            self.u16(&mut b, c.version.0);
            self.u16(&mut b, c.version.1);
            self.uuid(&mut b, &c.transfer);
            self.u32(&mut b, if c.transfer == NDR64 { 1 } else { 2 });
        }
        b
    }

    /// A bind (or, with `alter`, an alter_context) proposing `contexts`.
    pub fn bind(&self, call_id: u32, contexts: &[Context], alter: bool) -> Vec<u8> {
        let body = self.contexts_body(0, contexts);
        let ptype = if alter {
            PTYPE_ALTER_CONTEXT
        } else {
            PTYPE_BIND
        };
        self.pdu(ptype, PFC_FIRST | PFC_LAST, call_id, 0, &body)
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
        let mut b = Vec::new();
        self.u16(&mut b, 5840);
        self.u16(&mut b, 5840);
        self.u32(&mut b, 0x0001_2345);
        let addr_len = if sec_addr.is_empty() {
            0
        } else {
            sec_addr.len() + 1
        };
        self.u16(&mut b, addr_len as u16);
        b.extend_from_slice(sec_addr.as_bytes());
        if addr_len > 0 {
            b.push(0);
        }
        while (16 + b.len()) % 4 != 0 {
            b.push(0x73);
        }
        b.extend_from_slice(&[results.len() as u8, 0, 0, 0]);
        for r in results {
            let (result, reason, syntax) = match r {
                Some(t) => (0u16, 0u16, *t),
                None => (2, 1, Uuid::nil()),
            };
            self.u16(&mut b, result);
            self.u16(&mut b, reason);
            self.uuid(&mut b, &syntax);
            self.u32(
                &mut b,
                if syntax == NDR20 {
                    2
                } else if syntax.is_nil() {
                    0
                } else {
                    1
                },
            );
        }
        let ptype = if alter {
            PTYPE_ALTER_CONTEXT_RESP
        } else {
            PTYPE_BIND_ACK
        };
        self.pdu(ptype, PFC_FIRST | PFC_LAST, call_id, 0, &b)
    }

    /// A bind_nak with `reason` (e.g. 4 = protocol version not supported).
    pub fn bind_nak(&self, call_id: u32, reason: u16) -> Vec<u8> {
        let mut b = Vec::new();
        self.u16(&mut b, reason);
        b.extend_from_slice(&[1, 5, 0]);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        self.pdu(PTYPE_BIND_NAK, PFC_FIRST | PFC_LAST, call_id, 0, &b)
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
        self.fragments(
            PTYPE_REQUEST,
            call_id,
            stub,
            max_frag_stub,
            rng,
            |w, b, hint| {
                w.u32(b, hint);
                w.u16(b, ctx);
                w.u16(b, opnum);
            },
        )
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
        self.fragments(
            PTYPE_RESPONSE,
            call_id,
            stub,
            max_frag_stub,
            rng,
            |w, b, hint| {
                w.u32(b, hint);
                w.u16(b, ctx);
                b.extend_from_slice(&[0, 0]);
            },
        )
    }

    /// A fault with `status` (e.g. 0x1c010002 nca_s_op_rng_error).
    pub fn fault(&self, call_id: u32, ctx: u16, status: u32) -> Vec<u8> {
        let mut b = Vec::new();
        self.u32(&mut b, 0);
        self.u16(&mut b, ctx);
        b.extend_from_slice(&[0, 0]);
        self.u32(&mut b, status);
        self.u32(&mut b, 0);
        self.pdu(PTYPE_FAULT, PFC_FIRST | PFC_LAST | 0x20, call_id, 0, &b)
    }

    #[allow(clippy::too_many_arguments)]
    fn fragments(
        &self,
        ptype: u8,
        call_id: u32,
        stub: &[u8],
        max_frag_stub: usize,
        rng: &mut Rng,
        head: impl Fn(&Self, &mut Vec<u8>, u32),
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
                let mut b = Vec::new();
                head(self, &mut b, (stub.len() - i * chunk) as u32);
                let mut auth_len = 0;
                match self.auth {
                    Some(a) => {
                        // Packet privacy seals the stub: random bytes of the same length.
                        let body = if a.level == 6 {
                            rng.bytes(piece.len())
                        } else {
                            piece.to_vec()
                        };
                        b.extend_from_slice(&body);
                        let pad = (16 - piece.len() % 16) % 16;
                        b.extend(std::iter::repeat_n(0u8, pad));
                        b.extend_from_slice(&[a.auth_type, a.level, pad as u8, 0]);
                        self.u32(&mut b, 0x0002_0000);
                        b.extend_from_slice(&[1, 0, 0, 0]);
                        b.extend_from_slice(&rng.bytes(12));
                        auth_len = 16;
                    }
                    None => b.extend_from_slice(piece),
                }
                self.pdu(ptype, flags, call_id, auth_len, &b)
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
