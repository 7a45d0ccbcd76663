//! Writing connection-oriented DCE/RPC PDUs: the inverse of [`super::pdu`], laid out as the
//! parser reads them (C706 chapter 12, MS-RPCE 2.2.2). The one encoder of the project: the
//! engine's tests and the sample generator (`pushtrace-samples`) both build their PDUs here,
//! so a sample cannot be written in a layout the parser does not read.
//!
//! ```
//! use pushtrace_core::dcerpc::encode::PduBuilder;
//! use pushtrace_core::dcerpc::pdu::{parse_pdu, Body};
//! let bytes = PduBuilder::request(7, 0, 4, &[1, 2, 3, 4]).build();
//! let pdu = parse_pdu(&bytes).unwrap();
//! assert_eq!(pdu.header.call_id, 7);
//! assert!(matches!(pdu.body, Body::Request(r) if r.opnum == 4 && r.stub == [1, 2, 3, 4]));
//! ```

use super::pdu::{AckResult, InterfaceId, PacketType, PresentationResult, ProposedContext};
use uuid::Uuid;

/// The fragment sizes bind, bind_ack and their alter_context twins announce (what Windows
/// negotiates on ncacn_ip_tcp).
pub const MAX_FRAG: u16 = 5840;
/// The assoc_group_id of the bind_ack and alter_context_resp written here.
pub const ASSOC_GROUP: u32 = 0x0001_2345;
/// The byte that pads a bind_ack's sec_addr to a 4-byte boundary (junk on real wires).
pub const ALIGN_JUNK: u8 = 0x73;

/// One body field, encoded at build time in the PDU's byte order.
#[derive(Debug, Clone)]
enum Field {
    U8(u8),
    U16(u16),
    U32(u32),
    Uuid(Uuid),
    Bytes(Vec<u8>),
    /// Bytes of the given value up to a 4-byte boundary from the PDU's start.
    Align4(u8),
}

/// The authentication trailer after a PDU's body: `pad` bytes of `pad_byte`, the 8-byte
/// sec_trailer (auth_type, auth_level, auth_pad_length, reserved, auth_context_id) and the
/// auth_value, whose length becomes the header's auth_length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTrailer {
    /// auth_type (10 NTLMSSP, 9 SPNEGO, 16 Kerberos...).
    pub auth_type: u8,
    /// auth_level (2 connect ... 6 packet privacy).
    pub level: u8,
    /// auth_pad_length: padding bytes between the stub and the sec_trailer.
    pub pad: u8,
    /// The value of the padding bytes.
    pub pad_byte: u8,
    /// auth_context_id.
    pub context_id: u32,
    /// auth_value (a signature or token).
    pub value: Vec<u8>,
}

/// Builds one PDU: a packet type, flags, a byte order, a call_id and the body's fields, then
/// [`PduBuilder::build`] writes the common header with frag_length and auth_length computed.
/// The constructors write each packet type's fixed fields as Windows does; the field methods
/// write anything else, in the byte order chosen at build time.
#[derive(Debug, Clone)]
pub struct PduBuilder {
    packet_type: PacketType,
    flags: u8,
    little_endian: bool,
    call_id: u32,
    body: Vec<Field>,
    auth: Option<AuthTrailer>,
}

impl PduBuilder {
    /// An empty little-endian PDU with PFC_FIRST_FRAG | PFC_LAST_FRAG.
    pub fn new(packet_type: PacketType, call_id: u32) -> Self {
        PduBuilder {
            packet_type,
            flags: 0x03,
            little_endian: true,
            call_id,
            body: vec![],
            auth: None,
        }
    }

    /// Writes integers and UUIDs little-endian (drep 0x10, Windows) or big-endian.
    pub fn little_endian(mut self, little_endian: bool) -> Self {
        self.little_endian = little_endian;
        self
    }

    /// Sets pfc_flags.
    pub fn flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }

    /// Adds an authentication trailer as a test wants one: `pad` bytes of 0xAA, context id
    /// 0x000B89A8 and a zeroed auth_value of `value_len` bytes.
    pub fn auth(self, auth_type: u8, level: u8, pad: u8, value_len: u16) -> Self {
        self.auth_trailer(AuthTrailer {
            auth_type,
            level,
            pad,
            pad_byte: 0xAA,
            context_id: 0x000B_89A8,
            value: vec![0; usize::from(value_len)],
        })
    }

    /// Adds an authentication trailer.
    pub fn auth_trailer(mut self, trailer: AuthTrailer) -> Self {
        self.auth = Some(trailer);
        self
    }

    fn push(mut self, field: Field) -> Self {
        self.body.push(field);
        self
    }

    /// Appends one byte to the body.
    pub fn u8(self, value: u8) -> Self {
        self.push(Field::U8(value))
    }

    /// Appends a 16-bit integer in the PDU's byte order.
    pub fn u16(self, value: u16) -> Self {
        self.push(Field::U16(value))
    }

    /// Appends a 32-bit integer in the PDU's byte order.
    pub fn u32(self, value: u32) -> Self {
        self.push(Field::U32(value))
    }

    /// Appends a UUID, NDR-encoded in the PDU's byte order.
    pub fn uuid(self, value: Uuid) -> Self {
        self.push(Field::Uuid(value))
    }

    /// Appends bytes as they are.
    pub fn bytes(self, bytes: &[u8]) -> Self {
        self.push(Field::Bytes(bytes.to_vec()))
    }

    /// Pads the body with `byte` up to a 4-byte boundary from the PDU's start.
    pub fn align4(self, byte: u8) -> Self {
        self.push(Field::Align4(byte))
    }

    /// A p_syntax_id_t: a UUID and a 32-bit version.
    fn syntax(self, uuid: Uuid, version: u32) -> Self {
        self.uuid(uuid).u32(version)
    }

    fn context_list(mut self, contexts: &[ProposedContext]) -> Self {
        self = self.u8(contexts.len() as u8).bytes(&[0; 3]);
        for c in contexts {
            let InterfaceId {
                uuid,
                version: (major, minor),
            } = c.interface;
            // if_version: the major version in the low 16 bits (C706 12.6.3.1).
            self = self
                .u16(c.context_id)
                .u8(c.transfer_syntaxes.len() as u8)
                .u8(0)
                .syntax(uuid, u32::from(major) | (u32::from(minor) << 16));
            for &syntax in &c.transfer_syntaxes {
                let (uuid, version) = syntax.to_wire();
                self = self.syntax(uuid, version);
            }
        }
        self
    }

    /// A bind proposing `contexts` (fragments of [`MAX_FRAG`], a new association group).
    pub fn bind(call_id: u32, contexts: &[ProposedContext]) -> Self {
        Self::bind_like(PacketType::Bind, call_id, contexts)
    }

    /// An alter_context proposing `contexts`.
    pub fn alter_context(call_id: u32, contexts: &[ProposedContext]) -> Self {
        Self::bind_like(PacketType::AlterContext, call_id, contexts)
    }

    fn bind_like(packet_type: PacketType, call_id: u32, contexts: &[ProposedContext]) -> Self {
        PduBuilder::new(packet_type, call_id)
            .u16(MAX_FRAG)
            .u16(MAX_FRAG)
            .u32(0)
            .context_list(contexts)
    }

    /// A bind_ack with the given sec_addr (the server's port as text; a NUL is added unless
    /// it is empty) and one result per proposed context.
    pub fn bind_ack(call_id: u32, sec_addr: &str, results: &[PresentationResult]) -> Self {
        Self::ack_like(PacketType::BindAck, call_id, sec_addr, results)
    }

    /// An alter_context_resp (sec_addr empty, as Windows sends it).
    pub fn alter_context_resp(call_id: u32, results: &[PresentationResult]) -> Self {
        Self::ack_like(PacketType::AlterContextResp, call_id, "", results)
    }

    fn ack_like(
        packet_type: PacketType,
        call_id: u32,
        sec_addr: &str,
        results: &[PresentationResult],
    ) -> Self {
        let mut addr = sec_addr.as_bytes().to_vec();
        if !addr.is_empty() {
            addr.push(0);
        }
        let mut b = PduBuilder::new(packet_type, call_id)
            .u16(MAX_FRAG)
            .u16(MAX_FRAG)
            .u32(ASSOC_GROUP)
            .u16(addr.len() as u16)
            .bytes(&addr)
            .align4(ALIGN_JUNK)
            .u8(results.len() as u8)
            .bytes(&[0; 3]);
        for r in results {
            let (uuid, version) = r.transfer_syntax.to_wire();
            b = b.u16(r.result.to_u16()).u16(r.reason).syntax(uuid, version);
        }
        b
    }

    /// A bind_nak with `reason` (4: protocol version not supported) offering version 5.0,
    /// padded to a 4-byte boundary.
    pub fn bind_nak(call_id: u32, reason: u16) -> Self {
        PduBuilder::new(PacketType::BindNak, call_id)
            .u16(reason)
            .u8(1)
            .bytes(&[5, 0])
            .align4(0)
    }

    /// A request carrying `stub` whole (alloc_hint = its length).
    pub fn request(call_id: u32, context_id: u16, opnum: u16, stub: &[u8]) -> Self {
        Self::request_fragment(call_id, context_id, opnum, stub.len() as u32).bytes(stub)
    }

    /// The fixed fields of a request fragment, before its stub: alloc_hint (the stub bytes
    /// left from this fragment on), the context and the opnum.
    pub fn request_fragment(call_id: u32, context_id: u16, opnum: u16, alloc_hint: u32) -> Self {
        PduBuilder::new(PacketType::Request, call_id)
            .u32(alloc_hint)
            .u16(context_id)
            .u16(opnum)
    }

    /// A request with an object UUID (sets PFC_OBJECT_UUID in the flags).
    pub fn request_with_object(
        call_id: u32,
        context_id: u16,
        opnum: u16,
        object: Uuid,
        stub: &[u8],
    ) -> Self {
        PduBuilder::new(PacketType::Request, call_id)
            .flags(0x83)
            .u32(stub.len() as u32)
            .u16(context_id)
            .u16(opnum)
            .uuid(object)
            .bytes(stub)
    }

    /// A response carrying `stub` whole.
    pub fn response(call_id: u32, context_id: u16, stub: &[u8]) -> Self {
        Self::response_fragment(call_id, context_id, stub.len() as u32).bytes(stub)
    }

    /// The fixed fields of a response fragment, before its stub: alloc_hint, the context,
    /// cancel_count 0 and a reserved byte.
    pub fn response_fragment(call_id: u32, context_id: u16, alloc_hint: u32) -> Self {
        PduBuilder::new(PacketType::Response, call_id)
            .u32(alloc_hint)
            .u16(context_id)
            .u8(0)
            .u8(0)
    }

    /// A fault with `status` (32 bytes, PFC_DID_NOT_EXECUTE set, as Windows sends it).
    pub fn fault(call_id: u32, context_id: u16, status: u32) -> Self {
        PduBuilder::new(PacketType::Fault, call_id)
            .flags(0x23)
            .u32(0)
            .u16(context_id)
            .u8(0)
            .u8(0)
            .u32(status)
            .u32(0)
    }

    /// Encodes the PDU, computing frag_length and auth_length.
    pub fn build(&self) -> Vec<u8> {
        let le = self.little_endian;
        let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let drep0 = if le { 0x10 } else { 0x00 };
        let mut out = vec![5, 0, self.packet_type as u8, self.flags, drep0, 0, 0, 0];
        out.extend_from_slice(&[0; 8]); // lengths and call_id, filled below
        for field in &self.body {
            match field {
                Field::U8(v) => out.push(*v),
                Field::U16(v) => out.extend_from_slice(&u16b(*v)),
                Field::U32(v) => out.extend_from_slice(&u32b(*v)),
                Field::Uuid(u) => {
                    out.extend_from_slice(&if le { u.to_bytes_le() } else { *u.as_bytes() })
                }
                Field::Bytes(b) => out.extend_from_slice(b),
                Field::Align4(byte) => {
                    while out.len() % 4 != 0 {
                        out.push(*byte);
                    }
                }
            }
        }
        let mut auth_length = 0;
        if let Some(a) = &self.auth {
            out.extend(std::iter::repeat_n(a.pad_byte, usize::from(a.pad)));
            out.extend_from_slice(&[a.auth_type, a.level, a.pad, 0]);
            out.extend_from_slice(&u32b(a.context_id));
            out.extend_from_slice(&a.value);
            auth_length = a.value.len() as u16;
        }
        let frag_length = out.len() as u16;
        out[8..10].copy_from_slice(&u16b(frag_length));
        out[10..12].copy_from_slice(&u16b(auth_length));
        out[12..16].copy_from_slice(&u32b(self.call_id));
        out
    }
}

/// A presentation result accepting `syntax`.
pub fn accepted(syntax: super::pdu::TransferSyntax) -> PresentationResult {
    PresentationResult {
        result: AckResult::Acceptance,
        reason: 0,
        transfer_syntax: syntax,
    }
}

/// A presentation result refusing a context: provider rejection, abstract syntax not
/// supported (reason 1), a nil transfer syntax.
pub fn abstract_syntax_not_supported() -> PresentationResult {
    PresentationResult {
        result: AckResult::ProviderRejection,
        reason: 1,
        transfer_syntax: super::pdu::TransferSyntax::Other {
            uuid: Uuid::nil(),
            version: 0,
        },
    }
}
