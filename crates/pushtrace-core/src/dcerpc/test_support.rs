//! Test-only helpers: a small PDU builder that encodes in either byte order, and the real
//! opnum-4 request from protocol.md §2.3.3 as a fixture.

use super::pdu::{
    InterfaceId, PacketType, PresentationResult, ProposedContext, TransferSyntax, NDR20_UUID,
    NDR64_UUID,
};
use uuid::Uuid;

/// TRACE frame 797 (protocol.md §2.3.3): EcRRegisterPushNotification request, call 6, ctx 0,
/// opnum 4, NTLMSSP at level 2 (connect), 66-byte stub, 14 bytes of auth padding.
#[rustfmt::skip]
pub(crate) const TRACE_797_OPNUM4_REQUEST: [u8; 128] = [
    // header: request, FIRST|LAST, drep LE, frag_length 128, auth_length 16, call_id 6
    0x05, 0x00, 0x00, 0x03, 0x10, 0x00, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, 0x06, 0x00, 0x00, 0x00,
    // alloc_hint 66, p_cont_id 0, opnum 4
    0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
    // stub: context handle (attributes 0 + UUID)
    0x00, 0x00, 0x00, 0x00, 0x96, 0x57, 0x70, 0x3b, 0x05, 0x09, 0x2b, 0x45, 0x8e, 0xb2, 0x2f, 0x53,
    0x83, 0x13, 0x30, 0x45,
    // iRpc 0 | max_count 8 | rgbContext (8)
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0xd0, 0x27, 0x3b, 0x02, 0x00, 0xe0, 0xfd, 0x7f,
    // cbContext 8 | pad a5 a5 | grbitAdviseBits | max_count 16
    0x08, 0x00, 0xa5, 0xa5, 0xff, 0xff, 0xff, 0xff, 0x10, 0x00, 0x00, 0x00,
    // SOCKADDR: AF_INET LE, port 1071 BE, 192.168.0.173, zero[8]
    0x02, 0x00, 0x04, 0x2f, 0xc0, 0xa8, 0x00, 0xad, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // cbCallbackAddress 16 (stub ends at 0x5a)
    0x10, 0x00,
    // 14 bytes of auth padding (junk)
    0x00, 0x16, 0xa8, 0x89, 0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // sec_trailer: NTLMSSP (10), level 2, pad 14, reserved, context 0x000b89a8
    0x0a, 0x02, 0x0e, 0x00, 0xa8, 0x89, 0x0b, 0x00,
    // auth_value (16)
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// One body field, encoded at build time in the chosen byte order.
#[derive(Debug, Clone)]
enum Field {
    U8(u8),
    U16(u16),
    U32(u32),
    Uuid(Uuid),
    Bytes(Vec<u8>),
    /// Junk bytes (0x73, as TRACE pads) up to a 4-byte boundary from the PDU start.
    Align4,
}

/// Builds one PDU; every integer and UUID follows the chosen drep.
#[derive(Debug, Clone)]
pub(crate) struct PduBuilder {
    packet_type: PacketType,
    flags: u8,
    little_endian: bool,
    call_id: u32,
    body: Vec<Field>,
    /// (auth_type, auth_level, pad_length, auth_value length)
    auth: Option<(u8, u8, u8, u16)>,
}

fn syntax_wire(ts: TransferSyntax) -> (Uuid, u32) {
    match ts {
        TransferSyntax::Ndr20 => (NDR20_UUID, 2),
        TransferSyntax::Ndr64 => (NDR64_UUID, 1),
        TransferSyntax::BindTimeFeatures { bitmask } => (
            Uuid::from_fields(0x6cb7_1c2c, 0x9812, 0x4540, &bitmask.to_le_bytes()),
            1,
        ),
        TransferSyntax::Other { uuid, version } => (uuid, version),
    }
}

impl PduBuilder {
    /// An empty little-endian PDU with FIRST|LAST.
    pub(crate) fn new(packet_type: PacketType, call_id: u32) -> Self {
        PduBuilder {
            packet_type,
            flags: 0x03,
            little_endian: true,
            call_id,
            body: vec![],
            auth: None,
        }
    }

    pub(crate) fn little_endian(mut self, little_endian: bool) -> Self {
        self.little_endian = little_endian;
        self
    }

    pub(crate) fn flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }

    /// Adds an auth trailer: `pad` junk bytes after the body, sec_trailer, zeroed auth_value.
    pub(crate) fn auth(mut self, auth_type: u8, level: u8, pad: u8, value_len: u16) -> Self {
        self.auth = Some((auth_type, level, pad, value_len));
        self
    }

    fn push(mut self, field: Field) -> Self {
        self.body.push(field);
        self
    }

    fn syntax(self, uuid: Uuid, version: u32) -> Self {
        self.push(Field::Uuid(uuid)).push(Field::U32(version))
    }

    fn context_list(mut self, contexts: &[ProposedContext]) -> Self {
        self = self
            .push(Field::U8(contexts.len() as u8))
            .push(Field::Bytes(vec![0; 3]));
        for c in contexts {
            let InterfaceId {
                uuid,
                version: (major, minor),
            } = c.interface;
            self = self
                .push(Field::U16(c.context_id))
                .push(Field::U8(c.transfer_syntaxes.len() as u8))
                .push(Field::U8(0))
                .syntax(uuid, u32::from(major) | (u32::from(minor) << 16));
            for &ts in &c.transfer_syntaxes {
                let (uuid, version) = syntax_wire(ts);
                self = self.syntax(uuid, version);
            }
        }
        self
    }

    /// A bind proposing `contexts` (max frags 5840, new association group).
    pub(crate) fn bind(call_id: u32, contexts: &[ProposedContext]) -> Self {
        Self::bind_like(PacketType::Bind, call_id, contexts)
    }

    /// An alter_context proposing `contexts`.
    pub(crate) fn alter_context(call_id: u32, contexts: &[ProposedContext]) -> Self {
        Self::bind_like(PacketType::AlterContext, call_id, contexts)
    }

    fn bind_like(packet_type: PacketType, call_id: u32, contexts: &[ProposedContext]) -> Self {
        PduBuilder::new(packet_type, call_id)
            .push(Field::U16(5840))
            .push(Field::U16(5840))
            .push(Field::U32(0))
            .context_list(contexts)
    }

    /// A bind_ack with the given sec_addr (NUL added unless empty) and results.
    pub(crate) fn bind_ack(call_id: u32, sec_addr: &str, results: &[PresentationResult]) -> Self {
        Self::ack_like(PacketType::BindAck, call_id, sec_addr, results)
    }

    /// An alter_context_resp (sec_addr empty, as Windows sends it).
    pub(crate) fn alter_context_resp(call_id: u32, results: &[PresentationResult]) -> Self {
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
            .push(Field::U16(5840))
            .push(Field::U16(5840))
            .push(Field::U32(0x1234))
            .push(Field::U16(addr.len() as u16))
            .push(Field::Bytes(addr))
            .push(Field::Align4)
            .push(Field::U8(results.len() as u8))
            .push(Field::Bytes(vec![0; 3]));
        for r in results {
            let code = match r.result {
                super::pdu::AckResult::Acceptance => 0,
                super::pdu::AckResult::UserRejection => 1,
                super::pdu::AckResult::ProviderRejection => 2,
                super::pdu::AckResult::NegotiateAck => 3,
                super::pdu::AckResult::Unknown(v) => v,
            };
            let (uuid, version) = syntax_wire(r.transfer_syntax);
            b = b
                .push(Field::U16(code))
                .push(Field::U16(r.reason))
                .syntax(uuid, version);
        }
        b
    }

    /// A bind_nak with the given reason and one supported version 5.0.
    pub(crate) fn bind_nak(call_id: u32, reason: u16) -> Self {
        PduBuilder::new(PacketType::BindNak, call_id)
            .push(Field::U16(reason))
            .push(Field::U8(1))
            .push(Field::Bytes(vec![5, 0]))
    }

    /// A request carrying `stub`.
    pub(crate) fn request(call_id: u32, context_id: u16, opnum: u16, stub: &[u8]) -> Self {
        PduBuilder::new(PacketType::Request, call_id)
            .push(Field::U32(stub.len() as u32))
            .push(Field::U16(context_id))
            .push(Field::U16(opnum))
            .push(Field::Bytes(stub.to_vec()))
    }

    /// A request with an object UUID (sets OBJECT_UUID in the flags).
    pub(crate) fn request_with_object(
        call_id: u32,
        context_id: u16,
        opnum: u16,
        object: Uuid,
        stub: &[u8],
    ) -> Self {
        PduBuilder::new(PacketType::Request, call_id)
            .flags(0x83)
            .push(Field::U32(stub.len() as u32))
            .push(Field::U16(context_id))
            .push(Field::U16(opnum))
            .push(Field::Uuid(object))
            .push(Field::Bytes(stub.to_vec()))
    }

    /// A response carrying `stub`.
    pub(crate) fn response(call_id: u32, context_id: u16, stub: &[u8]) -> Self {
        PduBuilder::new(PacketType::Response, call_id)
            .push(Field::U32(stub.len() as u32))
            .push(Field::U16(context_id))
            .push(Field::U8(0))
            .push(Field::U8(0))
            .push(Field::Bytes(stub.to_vec()))
    }

    /// A fault with `status` (32 bytes, as Windows sends it).
    pub(crate) fn fault(call_id: u32, context_id: u16, status: u32) -> Self {
        PduBuilder::new(PacketType::Fault, call_id)
            .flags(0x23)
            .push(Field::U32(0))
            .push(Field::U16(context_id))
            .push(Field::U8(0))
            .push(Field::U8(0))
            .push(Field::U32(status))
            .push(Field::U32(0))
    }

    /// Encodes the PDU, computing frag_length and auth_length.
    pub(crate) fn build(&self) -> Vec<u8> {
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
                Field::Align4 => {
                    while out.len() % 4 != 0 {
                        out.push(0x73);
                    }
                }
            }
        }
        let mut auth_length = 0;
        if let Some((auth_type, level, pad, value_len)) = self.auth {
            out.extend(std::iter::repeat_n(0xaa, usize::from(pad)));
            out.extend_from_slice(&[auth_type, level, pad, 0]);
            out.extend_from_slice(&u32b(0x0b89a8));
            out.extend(std::iter::repeat_n(0, usize::from(value_len)));
            auth_length = value_len;
        }
        let frag_length = out.len() as u16;
        out[8..10].copy_from_slice(&u16b(frag_length));
        out[10..12].copy_from_slice(&u16b(auth_length));
        out[12..16].copy_from_slice(&u32b(self.call_id));
        out
    }
}
