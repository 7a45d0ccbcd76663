//! Connection-oriented DCE/RPC PDUs (ncacn_ip_tcp): the common header, a sans-IO framer and
//! typed parsers for every connection-oriented packet type.
//!
//! Layouts follow C706 chapter 12 and MS-RPCE 2.2.2 (protocol.md §1.1–§1.11):
//!
//! ```text
//! common header (16)  rpc_vers 5 | minor | PTYPE | pfc_flags | drep[4] | frag_length u16
//!                     | auth_length u16 | call_id u32
//! body                depends on PTYPE (bind, bind_ack, request, ...)
//! auth trailer        [auth padding] sec_trailer (8) auth_value (auth_length)   if auth_length > 0
//! ```
//!
//! Every integer and UUID after the first eight bytes is read in the byte order `drep`
//! announces (byte 0, high nibble: 0 big-endian, 1 little-endian). UUIDs are NDR-encoded: the
//! first three fields in that order, the last eight bytes as they are.
//!
//! A PDU whose tail the capture lost (a snap length, or bytes missing from the TCP stream)
//! can still be read as far as its bytes go with [`parse_cut_pdu`]: fixed fields, the list
//! elements captured whole and the start of a stub, with a [`CutLoss`] saying what is gone.
//!
//! Panic contract: every function here accepts arbitrary bytes. Lengths read from the wire
//! are checked against the bytes present before they are used, and counts from the wire never
//! size an allocation beyond what the bytes present can hold. Problems come back as
//! [`PduError`].

use thiserror::Error;
use uuid::Uuid;

/// Length of the common header that starts every connection-oriented PDU.
pub const COMMON_HEADER_LEN: usize = 16;
/// Length of the sec_trailer that precedes the auth_value (MS-RPCE 2.2.2.11).
pub const SEC_TRAILER_LEN: usize = 8;
/// auth_level value of packet privacy (the stub is sealed).
pub const AUTH_LEVEL_PRIVACY: u8 = 6;

/// The NDR (NDR20, "32bit NDR") transfer syntax, version 2 (protocol.md §1.8).
pub const NDR20_UUID: Uuid = Uuid::from_u128(0x8a885d04_1ceb_11c9_9fe8_08002b104860);
/// The NDR64 transfer syntax, version 1 (MS-RPCE 2.2.5).
pub const NDR64_UUID: Uuid = Uuid::from_u128(0x71710533_beba_4937_8319_b5dbef9ccc36);
/// First three fields of the bind time feature negotiation marker 6CB71C2C-9812-4540-…
/// (MS-RPCE 3.3.1.5.3); its last eight bytes are the feature bitmask.
const BTFN_FIELDS: (u32, u16, u16) = (0x6cb7_1c2c, 0x9812, 0x4540);

/// The PTYPE byte (protocol.md §1.3). Values 1 and 4–10 belong to connectionless RPC and
/// never appear on a TCP stream; 20 (rts) belongs to RPC over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// request (0).
    Request = 0,
    /// ping (1, connectionless).
    Ping = 1,
    /// response (2).
    Response = 2,
    /// fault (3).
    Fault = 3,
    /// working (4, connectionless).
    Working = 4,
    /// nocall (5, connectionless).
    Nocall = 5,
    /// reject (6, connectionless).
    Reject = 6,
    /// ack (7, connectionless).
    Ack = 7,
    /// cl_cancel (8, connectionless).
    ClCancel = 8,
    /// fack (9, connectionless).
    Fack = 9,
    /// cancel_ack (10, connectionless).
    CancelAck = 10,
    /// bind (11).
    Bind = 11,
    /// bind_ack (12).
    BindAck = 12,
    /// bind_nak (13).
    BindNak = 13,
    /// alter_context (14).
    AlterContext = 14,
    /// alter_context_resp (15).
    AlterContextResp = 15,
    /// rpc_auth_3 (16, MS-RPCE).
    Auth3 = 16,
    /// shutdown (17).
    Shutdown = 17,
    /// co_cancel (18).
    CoCancel = 18,
    /// orphaned (19).
    Orphaned = 19,
    /// rts (20, RPC over HTTP only).
    Rts = 20,
}

impl PacketType {
    /// The packet type for a PTYPE byte, or `None` above 20.
    pub fn from_u8(value: u8) -> Option<PacketType> {
        use PacketType::*;
        const ALL: [PacketType; 21] = [
            Request,
            Ping,
            Response,
            Fault,
            Working,
            Nocall,
            Reject,
            Ack,
            ClCancel,
            Fack,
            CancelAck,
            Bind,
            BindAck,
            BindNak,
            AlterContext,
            AlterContextResp,
            Auth3,
            Shutdown,
            CoCancel,
            Orphaned,
            Rts,
        ];
        ALL.get(usize::from(value)).copied()
    }

    /// True for the packet types of connection-oriented RPC (0, 2, 3, 11–20).
    pub fn is_connection_oriented(self) -> bool {
        matches!(self as u8, 0 | 2 | 3 | 11..=20)
    }

    /// The smallest frag_length (without auth trailer) that holds this type's fixed fields.
    pub fn min_pdu_len(self) -> usize {
        use PacketType::*;
        match self {
            Request | Response => 24,
            Fault => 28,
            Bind | AlterContext => 28,
            BindAck | AlterContextResp => 26,
            BindNak => 18,
            Auth3 | Rts => 20,
            _ => COMMON_HEADER_LEN,
        }
    }
}

/// The pfc_flags byte (protocol.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PfcFlags(pub u8);

impl PfcFlags {
    /// First fragment of a call.
    pub const FIRST_FRAG: u8 = 0x01;
    /// Last fragment of a call.
    pub const LAST_FRAG: u8 = 0x02;
    /// Cancel pending (SUPPORT_HEADER_SIGN on bind/alter_context).
    pub const PENDING_CANCEL: u8 = 0x04;
    /// Concurrent multiplexing supported.
    pub const CONC_MPX: u8 = 0x10;
    /// The call did not execute (fault).
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    /// `maybe` call semantics: no response expected.
    pub const MAYBE: u8 = 0x40;
    /// The request carries an object UUID.
    pub const OBJECT_UUID: u8 = 0x80;

    /// FIRST_FRAG is set.
    pub fn first_frag(self) -> bool {
        self.0 & Self::FIRST_FRAG != 0
    }

    /// LAST_FRAG is set.
    pub fn last_frag(self) -> bool {
        self.0 & Self::LAST_FRAG != 0
    }

    /// OBJECT_UUID is set.
    pub fn object_uuid(self) -> bool {
        self.0 & Self::OBJECT_UUID != 0
    }
}

/// The four drep bytes: integer byte order and character set in byte 0, float format in
/// byte 1 (protocol.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRepresentation(pub [u8; 4]);

impl DataRepresentation {
    /// True when integers are little-endian (high nibble of byte 0 is 1).
    pub fn is_little_endian(self) -> bool {
        self.0[0] & 0x10 != 0
    }
}

/// The 16-byte common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// rpc_vers_minor (0, or 1 for some stacks).
    pub version_minor: u8,
    /// PTYPE.
    pub packet_type: PacketType,
    /// pfc_flags.
    pub flags: PfcFlags,
    /// drep.
    pub drep: DataRepresentation,
    /// Length of the whole PDU, header and auth trailer included.
    pub frag_length: u16,
    /// Length of the auth_value (the sec_trailer's 8 bytes not included).
    pub auth_length: u16,
    /// Call identifier shared by a request and its response, a bind and its ack.
    pub call_id: u32,
}

/// Why bytes are not a usable DCE/RPC PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PduError {
    /// rpc_vers is not 5.
    #[error("rpc_vers {0} is not 5")]
    BadVersion(u8),
    /// rpc_vers_minor is neither 0 nor 1.
    #[error("rpc_vers_minor {0} is neither 0 nor 1")]
    BadMinorVersion(u8),
    /// PTYPE above 20.
    #[error("PTYPE {0} is not a DCE/RPC packet type")]
    BadPacketType(u8),
    /// drep bytes 0–1 are not a valid data representation.
    #[error("drep {0:02x} {1:02x} is not a valid data representation")]
    BadDataRepresentation(u8, u8),
    /// frag_length cannot hold the fixed fields and the auth trailer it announces.
    #[error("frag_length {frag_length} is below the {minimum} bytes this PDU needs")]
    FragLengthTooSmall {
        /// The frag_length read.
        frag_length: u16,
        /// The smallest acceptable value.
        minimum: usize,
    },
    /// Fewer bytes were given than frag_length (or than a header) says.
    #[error("{available} bytes given, the PDU needs {needed}")]
    Incomplete {
        /// Bytes given.
        available: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A connectionless packet type on a connection-oriented stream.
    #[error("PTYPE {0:?} is not used on connection-oriented transports")]
    NotConnectionOriented(PacketType),
    /// A field or count runs past the end of the PDU body.
    #[error("{0} runs past the end of the PDU")]
    Overrun(&'static str),
    /// auth_pad_length is longer than the space between body start and sec_trailer.
    #[error("auth padding of {0} bytes does not fit before the sec_trailer")]
    AuthPadding(u8),
}

/// Checks the header fields present in `buf` (which may be shorter than 16 bytes) against
/// Wireshark's `dcerpc_tcp` heuristic (protocol.md §1.12): rpc_vers 5, minor 0 or 1,
/// PTYPE ≤ 20 and connection-oriented (the connectionless types never travel over TCP),
/// `(drep[0] & 0xEE) == 0`, `drep[1] ≤ 3`; and, once frag_length and
/// auth_length are present, that frag_length can hold the type's fixed fields plus the
/// announced auth trailer (which implies frag_length ≥ 16).
pub fn check_header_prefix(buf: &[u8]) -> Result<(), PduError> {
    if let Some(&v) = buf.first() {
        if v != 5 {
            return Err(PduError::BadVersion(v));
        }
    }
    if let Some(&m) = buf.get(1) {
        if m > 1 {
            return Err(PduError::BadMinorVersion(m));
        }
    }
    let packet_type = match buf.get(2) {
        Some(&t) => Some(PacketType::from_u8(t).ok_or(PduError::BadPacketType(t))?),
        None => None,
    };
    // ncacn_ip_tcp carries connection-oriented PDUs only.
    if let Some(t) = packet_type.filter(|t| !t.is_connection_oriented()) {
        return Err(PduError::NotConnectionOriented(t));
    }
    if let Some(&d0) = buf.get(4) {
        let d1 = buf.get(5).copied().unwrap_or(0);
        if d0 & 0xEE != 0 || d1 > 3 {
            return Err(PduError::BadDataRepresentation(d0, d1));
        }
    }
    if let (Some(packet_type), Some(lengths)) = (packet_type, buf.get(8..12)) {
        let little_endian = buf.get(4).is_some_and(|d| d & 0x10 != 0);
        let frag_length = read_u16([lengths[0], lengths[1]], little_endian);
        let auth_length = read_u16([lengths[2], lengths[3]], little_endian);
        let trailer = if auth_length > 0 {
            SEC_TRAILER_LEN + usize::from(auth_length)
        } else {
            0
        };
        let minimum = packet_type.min_pdu_len() + trailer;
        if usize::from(frag_length) < minimum {
            return Err(PduError::FragLengthTooSmall {
                frag_length,
                minimum,
            });
        }
    }
    Ok(())
}

/// Wireshark's heuristic for "this is the start of a DCE/RPC PDU" (see
/// [`check_header_prefix`]) on at least 16 bytes, with frag_length checked against the
/// smallest PDU of its type. The ceiling on frag_length is the u16 field itself; the
/// connection engine applies its own, configurable cap.
pub fn looks_like_pdu_header(buf: &[u8]) -> bool {
    buf.len() >= COMMON_HEADER_LEN && check_header_prefix(buf).is_ok()
}

/// What the framer says about the start of a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A whole PDU of `len` bytes (its frag_length) starts the buffer.
    Complete {
        /// frag_length.
        len: usize,
    },
    /// The buffer starts like a PDU but `needed` more bytes are required: up to the end of
    /// the header when it is shorter than 16 bytes, else up to frag_length.
    NeedMore {
        /// How many bytes to add to the buffer.
        needed: usize,
    },
    /// The buffer does not start with a plausible header.
    Invalid(PduError),
}

/// Sans-IO framing: finds the length of the PDU that starts `buf`, without copying.
pub fn frame_pdu(buf: &[u8]) -> Framing {
    if let Err(e) = check_header_prefix(buf) {
        return Framing::Invalid(e);
    }
    if buf.len() < COMMON_HEADER_LEN {
        return Framing::NeedMore {
            needed: COMMON_HEADER_LEN - buf.len(),
        };
    }
    let little_endian = buf[4] & 0x10 != 0;
    let len = usize::from(read_u16([buf[8], buf[9]], little_endian));
    if buf.len() >= len {
        Framing::Complete { len }
    } else {
        Framing::NeedMore {
            needed: len - buf.len(),
        }
    }
}

fn read_u16(bytes: [u8; 2], little_endian: bool) -> u16 {
    if little_endian {
        u16::from_le_bytes(bytes)
    } else {
        u16::from_be_bytes(bytes)
    }
}

impl Header {
    /// Parses and checks the common header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Header, PduError> {
        check_header_prefix(buf)?;
        let fixed: &[u8; COMMON_HEADER_LEN] = buf
            .get(..COMMON_HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(PduError::Incomplete {
                available: buf.len(),
                needed: COMMON_HEADER_LEN,
            })?;
        let drep = DataRepresentation([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let le = drep.is_little_endian();
        let call_id = [fixed[12], fixed[13], fixed[14], fixed[15]];
        Ok(Header {
            version_minor: fixed[1],
            packet_type: PacketType::from_u8(fixed[2]).ok_or(PduError::BadPacketType(fixed[2]))?,
            flags: PfcFlags(fixed[3]),
            drep,
            frag_length: read_u16([fixed[8], fixed[9]], le),
            auth_length: read_u16([fixed[10], fixed[11]], le),
            call_id: if le {
                u32::from_le_bytes(call_id)
            } else {
                u32::from_be_bytes(call_id)
            },
        })
    }
}

/// A bounds-checked little cursor over NDR-encoded bytes in a given byte order. Alignment is
/// counted from the start of the slice it was built on.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    little_endian: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` starting at `pos`.
    pub(crate) fn new(buf: &'a [u8], pos: usize, little_endian: bool) -> Self {
        Reader {
            buf,
            pos,
            little_endian,
        }
    }

    /// Current offset from the start of the slice.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// Skips to the next multiple of `n` (a power of two), counted from the slice start.
    pub(crate) fn align(&mut self, n: usize) -> Option<()> {
        let rem = self.pos % n;
        if rem == 0 {
            Some(())
        } else {
            self.skip(n - rem)
        }
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    /// A 16-bit integer in the reader's byte order.
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(|b| read_u16(b, self.little_endian))
    }

    /// A 32-bit integer in the reader's byte order.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.array()?;
        Some(if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// An NDR-encoded UUID: Data1, Data2, Data3 in the reader's byte order, Data4 as is.
    pub(crate) fn uuid(&mut self) -> Option<Uuid> {
        let b: [u8; 16] = self.array()?;
        Some(if self.little_endian {
            Uuid::from_bytes_le(b)
        } else {
            Uuid::from_bytes(b)
        })
    }
}

/// The sec_trailer that precedes auth_value when auth_length > 0 (MS-RPCE 2.2.2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecTrailer {
    /// auth_type: 9 SPNEGO, 10 NTLMSSP, 14 Schannel, 16 Kerberos, 68 Netlogon…
    pub auth_type: u8,
    /// auth_level: 1 none … 5 integrity, 6 privacy.
    pub auth_level: u8,
    /// Bytes of padding between the stub and the sec_trailer.
    pub pad_length: u8,
    /// auth_context_id.
    pub context_id: u32,
}

/// An interface (abstract syntax) identifier: UUID and version major.minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceId {
    /// Interface UUID.
    pub uuid: Uuid,
    /// (major, minor).
    pub version: (u16, u16),
}

/// A transfer syntax, classified by UUID (protocol.md §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferSyntax {
    /// NDR 2.0 (8A885D04-1CEB-11C9-9FE8-08002B104860).
    Ndr20,
    /// NDR64 (71710533-BEBA-4937-8319-B5DBEF9CCC36).
    Ndr64,
    /// The bind time feature negotiation marker 6CB71C2C-9812-4540-…; `bitmask` is its last
    /// eight bytes read little-endian (bit 0x01 security context multiplexing, 0x02 keep
    /// connection on orphan).
    BindTimeFeatures {
        /// Proposed features.
        bitmask: u64,
    },
    /// Any other syntax (a nil UUID in a rejected or negotiate_ack result, for instance).
    Other {
        /// Its UUID.
        uuid: Uuid,
        /// Its version.
        version: u32,
    },
}

impl TransferSyntax {
    /// Classifies a transfer syntax UUID (the version does not change the class).
    pub fn from_wire(uuid: Uuid, version: u32) -> TransferSyntax {
        let (d1, d2, d3, d4) = uuid.as_fields();
        if uuid == NDR20_UUID {
            TransferSyntax::Ndr20
        } else if uuid == NDR64_UUID {
            TransferSyntax::Ndr64
        } else if (d1, d2, d3) == BTFN_FIELDS {
            TransferSyntax::BindTimeFeatures {
                bitmask: u64::from_le_bytes(*d4),
            }
        } else {
            TransferSyntax::Other { uuid, version }
        }
    }

    /// The UUID and version it is written with: NDR20 version 2, NDR64 and the bind time
    /// feature marker (its bitmask in the UUID's last eight bytes) version 1, any other as
    /// read.
    pub fn to_wire(self) -> (Uuid, u32) {
        match self {
            TransferSyntax::Ndr20 => (NDR20_UUID, 2),
            TransferSyntax::Ndr64 => (NDR64_UUID, 1),
            TransferSyntax::BindTimeFeatures { bitmask } => {
                let (d1, d2, d3) = BTFN_FIELDS;
                (Uuid::from_fields(d1, d2, d3, &bitmask.to_le_bytes()), 1)
            }
            TransferSyntax::Other { uuid, version } => (uuid, version),
        }
    }
}

/// One presentation context element of a bind or alter_context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedContext {
    /// p_cont_id.
    pub context_id: u16,
    /// The abstract syntax (interface).
    pub interface: InterfaceId,
    /// Transfer syntaxes offered, in order.
    pub transfer_syntaxes: Vec<TransferSyntax>,
}

impl ProposedContext {
    /// True for the bind time feature negotiation element (its only transfer syntax is the
    /// BTFN marker); it never becomes a usable context.
    pub fn is_bind_time_feature_negotiation(&self) -> bool {
        matches!(
            self.transfer_syntaxes.as_slice(),
            [TransferSyntax::BindTimeFeatures { .. }]
        )
    }
}

/// bind (11) and alter_context (14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// max_xmit_frag.
    pub max_xmit_frag: u16,
    /// max_recv_frag.
    pub max_recv_frag: u16,
    /// assoc_group_id (0 = new group).
    pub assoc_group_id: u32,
    /// Context elements, in order.
    pub contexts: Vec<ProposedContext>,
    /// The auth trailer, if any.
    pub auth: Option<SecTrailer>,
}

/// Result of one presentation context negotiation (protocol.md §1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckResult {
    /// 0: the context is usable.
    Acceptance,
    /// 1: user rejection.
    UserRejection,
    /// 2: provider rejection.
    ProviderRejection,
    /// 3: negotiate_ack, the answer to a bind time feature negotiation element.
    NegotiateAck,
    /// Any other value.
    Unknown(u16),
}

impl AckResult {
    /// Maps the wire value.
    pub fn from_u16(value: u16) -> AckResult {
        match value {
            0 => AckResult::Acceptance,
            1 => AckResult::UserRejection,
            2 => AckResult::ProviderRejection,
            3 => AckResult::NegotiateAck,
            other => AckResult::Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            AckResult::Acceptance => 0,
            AckResult::UserRejection => 1,
            AckResult::ProviderRejection => 2,
            AckResult::NegotiateAck => 3,
            AckResult::Unknown(value) => value,
        }
    }
}

/// One result of a bind_ack / alter_context_resp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentationResult {
    /// result.
    pub result: AckResult,
    /// reason (for negotiate_ack: the accepted bind-time feature bitmask).
    pub reason: u16,
    /// The transfer syntax the server chose.
    pub transfer_syntax: TransferSyntax,
}

/// bind_ack (12) and alter_context_resp (15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAck {
    /// max_xmit_frag.
    pub max_xmit_frag: u16,
    /// max_recv_frag.
    pub max_recv_frag: u16,
    /// assoc_group_id.
    pub assoc_group_id: u32,
    /// The secondary address (the server's TCP port in decimal on ncacn_ip_tcp), without
    /// its NUL; `None` when empty.
    pub sec_addr: Option<String>,
    /// Results, the i-th answering the i-th context element of the bind.
    pub results: Vec<PresentationResult>,
    /// The auth trailer, if any.
    pub auth: Option<SecTrailer>,
}

/// bind_nak (13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindNak {
    /// provider_reject_reason (protocol.md §1.6).
    pub reason: u16,
    /// Supported protocol versions (major, minor), as many as the PDU holds.
    pub versions: Vec<(u8, u8)>,
}

/// request (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// alloc_hint (a size hint only, may be 0).
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// opnum.
    pub opnum: u16,
    /// Object UUID, when pfc_flags has OBJECT_UUID.
    pub object: Option<Uuid>,
    /// This fragment's stub bytes, auth padding and trailer removed (sealed at level 6).
    pub stub: &'a [u8],
    /// The auth trailer, if any.
    pub auth: Option<SecTrailer>,
}

/// response (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// alloc_hint.
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// cancel_count.
    pub cancel_count: u8,
    /// This fragment's stub bytes, auth padding and trailer removed (sealed at level 6).
    pub stub: &'a [u8],
    /// The auth trailer, if any.
    pub auth: Option<SecTrailer>,
}

/// fault (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// alloc_hint.
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// cancel_count.
    pub cancel_count: u8,
    /// flags (0x01 = extended error information present, MS-RPCE).
    pub flags: u8,
    /// The fault status (protocol.md §5.2).
    pub status: u32,
    /// The auth trailer, if any.
    pub auth: Option<SecTrailer>,
}

/// The body of a PDU, by packet type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// request.
    Request(Request<'a>),
    /// response.
    Response(Response<'a>),
    /// fault.
    Fault(Fault),
    /// bind.
    Bind(Bind),
    /// bind_ack.
    BindAck(BindAck),
    /// bind_nak.
    BindNak(BindNak),
    /// alter_context (same layout as bind).
    AlterContext(Bind),
    /// alter_context_resp (same layout as bind_ack).
    AlterContextResp(BindAck),
    /// rpc_auth_3 (MS-RPCE 2.2.2.10): only its trailer matters here.
    Auth3(Option<SecTrailer>),
    /// shutdown.
    Shutdown,
    /// co_cancel.
    CoCancel(Option<SecTrailer>),
    /// orphaned.
    Orphaned(Option<SecTrailer>),
    /// rts (RPC over HTTP); not decoded.
    Rts,
}

/// A parsed PDU: header and typed body, borrowing the stub from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu<'a> {
    /// Common header.
    pub header: Header,
    /// Body.
    pub body: Body<'a>,
}

/// Parses the PDU at the start of `buf` (which must hold at least frag_length bytes; bytes
/// after frag_length are ignored).
pub fn parse_pdu(buf: &[u8]) -> Result<Pdu<'_>, PduError> {
    let header = Header::parse(buf)?;
    let frag_length = usize::from(header.frag_length);
    let pdu = buf.get(..frag_length).ok_or(PduError::Incomplete {
        available: buf.len(),
        needed: frag_length,
    })?;
    let (body_end, auth) = parse_auth_trailer(pdu, &header)?;
    // The body reader stops where the auth padding or sec_trailer region begins.
    let body = pdu
        .get(..body_end)
        .ok_or(PduError::Overrun("auth trailer"))?;
    let body = parse_body(body, &header, auth, None)?;
    Ok(Pdu { header, body })
}

/// A PDU whose tail the capture lost (a snap length cut its segment, or TCP bytes went
/// missing): its common header is complete and announces more bytes than were captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutPdu<'a> {
    /// Common header.
    pub header: Header,
    /// Bytes of the PDU that were captured (frag_length when nothing was cut).
    pub captured: usize,
    /// The body as far as its bytes go: fixed fields, whole list elements, the captured start
    /// of a stub (see [`CutLoss`]).
    pub body: Body<'a>,
    /// What the lost tail took from the body.
    pub loss: CutLoss,
}

/// What the lost tail of a [`CutPdu`] took from its body. All fields are at their default
/// when the body itself was wholly captured (only the auth_value, or nothing, was cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutLoss {
    /// The body was not captured up to the end of its sec_trailer (or, without one, its
    /// end): the fields below say what is missing. False when only the auth_value was cut.
    pub body_cut: bool,
    /// bind, alter_context and their acks: the number of context elements or results the
    /// PDU announces, when that count was captured. The body keeps those captured whole
    /// (a context element: at least up to the end of its abstract syntax).
    pub announced_elements: Option<usize>,
    /// bind, alter_context: the last context element kept lacks transfer syntaxes that its
    /// count announces (its context id and abstract syntax were captured; the answer to it,
    /// which names the accepted transfer syntax, is in the ack).
    pub transfer_syntaxes_cut: bool,
    /// request, response: the body's stub is only the captured start of the fragment's stub.
    /// The sec_trailer was lost with it, so the stub may run into the auth padding; it never
    /// runs past frag_length − auth_length − 8, where the trailer starts.
    pub stub_cut: bool,
    /// request, response with a cut stub: the fragment's whole stub length, implied by
    /// frag_length when the PDU has no auth trailer. `None` with one: the lost sec_trailer
    /// held the pad length.
    pub stub_len_on_wire: Option<usize>,
}

/// Parses a PDU of which `buf` holds the complete common header but fewer than frag_length
/// bytes, decoding the body as far as its bytes go. The sec_trailer is read when it was
/// captured (then only the auth_value is missing and the body is whole); otherwise the auth
/// level is unknown and the stub is cut where the bytes or the trailer position end. A
/// body whose fixed fields were not all captured is an error, as a malformed one is. When
/// `buf` holds the whole PDU this is [`parse_pdu`] with nothing lost.
pub fn parse_cut_pdu(buf: &[u8]) -> Result<CutPdu<'_>, PduError> {
    let header = Header::parse(buf)?;
    let frag_length = usize::from(header.frag_length);
    if buf.len() >= frag_length {
        let pdu = parse_pdu(buf)?;
        return Ok(CutPdu {
            header,
            captured: frag_length,
            body: pdu.body,
            loss: CutLoss::default(),
        });
    }
    let body_limit = trailer_start(&header)?;
    let mut loss = CutLoss::default();
    let body = if header.auth_length > 0 && buf.len() >= body_limit + SEC_TRAILER_LEN {
        let auth = read_sec_trailer(buf, body_limit, header.drep.is_little_endian())?;
        let body = buf
            .get(..body_limit)
            .ok_or(PduError::Overrun("auth trailer"))?;
        parse_body(body, &header, Some(auth), None)?
    } else {
        loss.body_cut = true;
        let body = buf.get(..body_limit.min(buf.len())).unwrap_or_default();
        parse_body(body, &header, None, Some(&mut loss))?
    };
    Ok(CutPdu {
        header,
        captured: buf.len(),
        body,
        loss,
    })
}

/// Parses the body (the PDU up to its auth padding or sec_trailer). `cut` is `Some` for the
/// body of a cut PDU whose sec_trailer was not captured (`auth` is then `None`): lists end
/// at the last whole element and the stub at the body end, and the loss is recorded there.
fn parse_body<'a>(
    body: &'a [u8],
    header: &Header,
    auth: Option<SecTrailer>,
    cut: Option<&mut CutLoss>,
) -> Result<Body<'a>, PduError> {
    let le = header.drep.is_little_endian();
    Ok(match header.packet_type {
        PacketType::Request => {
            let request = parse_request(body, header, auth)?;
            note_stub_cut(cut, header, body, request.stub);
            Body::Request(request)
        }
        PacketType::Response => {
            let response = parse_response(body, le, auth)?;
            note_stub_cut(cut, header, body, response.stub);
            Body::Response(response)
        }
        PacketType::Fault => Body::Fault(parse_fault(body, le, auth)?),
        PacketType::Bind => Body::Bind(parse_bind(body, le, auth, cut)?),
        PacketType::AlterContext => Body::AlterContext(parse_bind(body, le, auth, cut)?),
        PacketType::BindAck => Body::BindAck(parse_bind_ack(body, le, auth, cut)?),
        PacketType::AlterContextResp => {
            Body::AlterContextResp(parse_bind_ack(body, le, auth, cut)?)
        }
        PacketType::BindNak => Body::BindNak(parse_bind_nak(body, le)?),
        PacketType::Auth3 => Body::Auth3(auth),
        PacketType::Shutdown => Body::Shutdown,
        PacketType::CoCancel => Body::CoCancel(auth),
        PacketType::Orphaned => Body::Orphaned(auth),
        PacketType::Rts => Body::Rts,
        connectionless => return Err(PduError::NotConnectionOriented(connectionless)),
    })
}

/// Records that a request's or response's stub is cut, and its whole length when the
/// header implies it.
fn note_stub_cut(cut: Option<&mut CutLoss>, header: &Header, body: &[u8], stub: &[u8]) {
    if let Some(loss) = cut {
        // Without a sec_trailer no padding is removed: the stub runs to the body end.
        let stub_start = body.len().saturating_sub(stub.len());
        loss.stub_cut = true;
        loss.stub_len_on_wire = (header.auth_length == 0)
            .then(|| usize::from(header.frag_length).saturating_sub(stub_start));
    }
}

/// Where the sec_trailer starts: frag_length − auth_length − 8, or frag_length when the PDU
/// has no auth trailer.
fn trailer_start(header: &Header) -> Result<usize, PduError> {
    let frag_length = usize::from(header.frag_length);
    if header.auth_length == 0 {
        return Ok(frag_length);
    }
    frag_length
        .checked_sub(usize::from(header.auth_length) + SEC_TRAILER_LEN)
        .filter(|&start| start >= COMMON_HEADER_LEN)
        .ok_or(PduError::Overrun("auth trailer"))
}

/// Reads the 8-byte sec_trailer at `start`.
fn read_sec_trailer(pdu: &[u8], start: usize, le: bool) -> Result<SecTrailer, PduError> {
    let mut r = Reader::new(pdu, start, le);
    let overrun = PduError::Overrun("sec_trailer");
    let auth_type = r.u8().ok_or(overrun)?;
    let auth_level = r.u8().ok_or(overrun)?;
    let pad_length = r.u8().ok_or(overrun)?;
    r.skip(1).ok_or(overrun)?;
    let context_id = r.u32().ok_or(overrun)?;
    Ok(SecTrailer {
        auth_type,
        auth_level,
        pad_length,
        context_id,
    })
}

/// Finds the sec_trailer (at frag_length − auth_length − 8) of a whole PDU and returns where
/// the body ends (the trailer start, auth padding still included) and the trailer.
fn parse_auth_trailer(
    pdu: &[u8],
    header: &Header,
) -> Result<(usize, Option<SecTrailer>), PduError> {
    let start = trailer_start(header)?;
    if header.auth_length == 0 {
        return Ok((start, None));
    }
    let auth = read_sec_trailer(pdu, start, header.drep.is_little_endian())?;
    Ok((start, Some(auth)))
}

/// The stub between `start` and the body end, minus the auth padding the trailer announces.
fn stub_slice(body: &[u8], start: usize, auth: Option<SecTrailer>) -> Result<&[u8], PduError> {
    let pad = auth.map_or(0, |a| usize::from(a.pad_length));
    let available = body
        .len()
        .checked_sub(start)
        .ok_or(PduError::Overrun("stub"))?;
    let stub_len = available
        .checked_sub(pad)
        .ok_or(PduError::AuthPadding(auth.map_or(0, |a| a.pad_length)))?;
    body.get(start..start + stub_len)
        .ok_or(PduError::Overrun("stub"))
}

fn parse_request<'a>(
    body: &'a [u8],
    header: &Header,
    auth: Option<SecTrailer>,
) -> Result<Request<'a>, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, header.drep.is_little_endian());
    let overrun = PduError::Overrun("request header");
    let alloc_hint = r.u32().ok_or(overrun)?;
    let context_id = r.u16().ok_or(overrun)?;
    let opnum = r.u16().ok_or(overrun)?;
    let object = if header.flags.object_uuid() {
        Some(r.uuid().ok_or(PduError::Overrun("object UUID"))?)
    } else {
        None
    };
    let stub = stub_slice(body, r.pos(), auth)?;
    Ok(Request {
        alloc_hint,
        context_id,
        opnum,
        object,
        stub,
        auth,
    })
}

fn parse_response(
    body: &[u8],
    le: bool,
    auth: Option<SecTrailer>,
) -> Result<Response<'_>, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, le);
    let overrun = PduError::Overrun("response header");
    let alloc_hint = r.u32().ok_or(overrun)?;
    let context_id = r.u16().ok_or(overrun)?;
    let cancel_count = r.u8().ok_or(overrun)?;
    r.skip(1).ok_or(overrun)?;
    let stub = stub_slice(body, r.pos(), auth)?;
    Ok(Response {
        alloc_hint,
        context_id,
        cancel_count,
        stub,
        auth,
    })
}

fn parse_fault(body: &[u8], le: bool, auth: Option<SecTrailer>) -> Result<Fault, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, le);
    let overrun = PduError::Overrun("fault header");
    let alloc_hint = r.u32().ok_or(overrun)?;
    let context_id = r.u16().ok_or(overrun)?;
    let cancel_count = r.u8().ok_or(overrun)?;
    let flags = r.u8().ok_or(overrun)?;
    let status = r.u32().ok_or(PduError::Overrun("fault status"))?;
    Ok(Fault {
        alloc_hint,
        context_id,
        cancel_count,
        flags,
        status,
        auth,
    })
}

/// A p_syntax_id_t: UUID then a u32 version whose low 16 bits are the major version
/// (Wireshark reads major/minor swapped for big-endian drep, which is the same thing).
fn read_syntax(r: &mut Reader<'_>) -> Option<(Uuid, u32)> {
    Some((r.uuid()?, r.u32()?))
}

/// In a cut PDU's body, what was read before the bytes ran out is the result; in a whole
/// PDU, running out is an error.
fn partial<T>(cut: bool, so_far: T, what: &'static str) -> Result<T, PduError> {
    if cut {
        Ok(so_far)
    } else {
        Err(PduError::Overrun(what))
    }
}

fn parse_bind(
    body: &[u8],
    le: bool,
    auth: Option<SecTrailer>,
    mut cut: Option<&mut CutLoss>,
) -> Result<Bind, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, le);
    let overrun = PduError::Overrun("bind header");
    let max_xmit_frag = r.u16().ok_or(overrun)?;
    let max_recv_frag = r.u16().ok_or(overrun)?;
    let assoc_group_id = r.u32().ok_or(overrun)?;
    let count = r.u8().ok_or(overrun)?;
    r.skip(3).ok_or(overrun)?;
    if let Some(loss) = cut.as_deref_mut() {
        loss.announced_elements = Some(usize::from(count));
    }
    // Each element takes at least 24 bytes: never reserve more than the body can hold.
    let mut contexts = Vec::with_capacity(usize::from(count).min(r.remaining() / 24));
    for _ in 0..count {
        match read_context(&mut r) {
            Ok(element) => contexts.push(element),
            Err(partial_element) => {
                let Some(loss) = cut.as_deref_mut() else {
                    return Err(PduError::Overrun("presentation context list"));
                };
                loss.transfer_syntaxes_cut = partial_element.is_some();
                contexts.extend(partial_element);
                break;
            }
        }
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        contexts,
        auth,
    })
}

/// Reads one presentation context element. When the bytes run out, the error holds the
/// element with the transfer syntaxes read so far if its abstract syntax was read whole,
/// else `None`.
fn read_context(r: &mut Reader<'_>) -> Result<ProposedContext, Option<ProposedContext>> {
    let (context_id, n_transfer, interface) = read_context_head(r).ok_or(None)?;
    let mut element = ProposedContext {
        context_id,
        interface,
        transfer_syntaxes: Vec::with_capacity(usize::from(n_transfer).min(r.remaining() / 20)),
    };
    for _ in 0..n_transfer {
        let Some((uuid, version)) = read_syntax(r) else {
            return Err(Some(element));
        };
        element
            .transfer_syntaxes
            .push(TransferSyntax::from_wire(uuid, version));
    }
    Ok(element)
}

/// p_cont_id, n_transfer_syn, reserved and the abstract syntax of a context element.
fn read_context_head(r: &mut Reader<'_>) -> Option<(u16, u8, InterfaceId)> {
    let context_id = r.u16()?;
    let n_transfer = r.u8()?;
    r.skip(1)?;
    let (uuid, version) = read_syntax(r)?;
    let interface = InterfaceId {
        uuid,
        version: (version as u16, (version >> 16) as u16),
    };
    Some((context_id, n_transfer, interface))
}

fn parse_bind_ack(
    body: &[u8],
    le: bool,
    auth: Option<SecTrailer>,
    mut cut: Option<&mut CutLoss>,
) -> Result<BindAck, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, le);
    let overrun = PduError::Overrun("bind_ack header");
    let max_xmit_frag = r.u16().ok_or(overrun)?;
    let max_recv_frag = r.u16().ok_or(overrun)?;
    let assoc_group_id = r.u32().ok_or(overrun)?;
    let sec_addr_len = r.u16().ok_or(overrun)?;
    let mut ack = BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        sec_addr: None,
        results: Vec::new(),
        auth,
    };
    let Some(raw) = r.take(usize::from(sec_addr_len)) else {
        return partial(cut.is_some(), ack, "sec_addr");
    };
    let text = raw.split(|&b| b == 0).next().unwrap_or_default();
    ack.sec_addr = (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned());
    // Pad to a 4-byte boundary from the PDU start; the pad bytes are junk, never checked.
    if r.align(4).is_none() {
        return partial(cut.is_some(), ack, "sec_addr padding");
    }
    let (Some(count), Some(())) = (r.u8(), r.skip(3)) else {
        return partial(cut.is_some(), ack, "result list");
    };
    if let Some(loss) = cut.as_deref_mut() {
        loss.announced_elements = Some(usize::from(count));
    }
    ack.results
        .reserve(usize::from(count).min(r.remaining() / 24));
    for _ in 0..count {
        let Some(result) = read_result(&mut r) else {
            return partial(cut.is_some(), ack, "result list");
        };
        ack.results.push(result);
    }
    Ok(ack)
}

/// One p_result_t: result, reason and the transfer syntax.
fn read_result(r: &mut Reader<'_>) -> Option<PresentationResult> {
    let result = AckResult::from_u16(r.u16()?);
    let reason = r.u16()?;
    let (uuid, version) = read_syntax(r)?;
    Some(PresentationResult {
        result,
        reason,
        transfer_syntax: TransferSyntax::from_wire(uuid, version),
    })
}

fn parse_bind_nak(body: &[u8], le: bool) -> Result<BindNak, PduError> {
    let mut r = Reader::new(body, COMMON_HEADER_LEN, le);
    let reason = r.u16().ok_or(PduError::Overrun("provider_reject_reason"))?;
    // The version list is optional in practice: keep the versions that are present.
    let count = r.u8().unwrap_or(0);
    let mut versions = Vec::with_capacity(usize::from(count).min(r.remaining() / 2));
    for _ in 0..count {
        match (r.u8(), r.u8()) {
            (Some(major), Some(minor)) => versions.push((major, minor)),
            _ => break,
        }
    }
    Ok(BindNak { reason, versions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::encode::PduBuilder;
    use crate::dcerpc::test_support::TRACE_797_OPNUM4_REQUEST;
    use proptest::prelude::*;

    const EMSMDB: Uuid = Uuid::from_u128(0xa4f1db00_ca47_1067_b31f_00dd010662da);

    #[test]
    fn trace_797_opnum4_request_parses() {
        let bytes = TRACE_797_OPNUM4_REQUEST;
        assert_eq!(frame_pdu(&bytes), Framing::Complete { len: 128 });
        let pdu = parse_pdu(&bytes).unwrap();
        assert_eq!(pdu.header.packet_type, PacketType::Request);
        assert_eq!(pdu.header.flags, PfcFlags(0x03));
        assert_eq!(pdu.header.frag_length, 128);
        assert_eq!(pdu.header.auth_length, 16);
        assert_eq!(pdu.header.call_id, 6);
        let Body::Request(req) = pdu.body else {
            panic!("not a request")
        };
        assert_eq!((req.alloc_hint, req.context_id, req.opnum), (66, 0, 4));
        assert_eq!(req.object, None);
        assert_eq!(
            req.auth,
            Some(SecTrailer {
                auth_type: 10,
                auth_level: 2,
                pad_length: 14,
                context_id: 0x000b_89a8
            })
        );
        // 128 − 24 − (16 + 8 + 14) = 66 stub bytes: handle … cbCallbackAddress.
        assert_eq!(req.stub.len(), 66);
        assert_eq!(&req.stub[..4], &[0, 0, 0, 0]);
        assert_eq!(&req.stub[64..], &[0x10, 0x00]);
        assert_eq!(
            &req.stub[28..36],
            &[0xd0, 0x27, 0x3b, 0x02, 0x00, 0xe0, 0xfd, 0x7f]
        );
    }

    #[test]
    fn big_endian_drep_reads_every_integer_and_uuid_in_network_order() {
        // Hand-written BE request with an object UUID:
        // 05 00 00 83 | 00 00 00 00 (drep BE/ASCII/IEEE) | frag 0x0030 | auth 0 | call 0x01020304
        // alloc_hint 0x0A0B0C0D | ctx 0x0102 | opnum 0x0304 | object UUID (BE fields) | stub 8
        let mut b = vec![
            5, 0, 0, 0x83, 0, 0, 0, 0, 0x00, 0x30, 0x00, 0x00, 1, 2, 3, 4,
        ];
        b.extend_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04]);
        b.extend_from_slice(EMSMDB.as_bytes());
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b.len(), 0x30);
        let pdu = parse_pdu(&b).unwrap();
        assert!(!pdu.header.drep.is_little_endian());
        assert_eq!(pdu.header.frag_length, 0x30);
        assert_eq!(pdu.header.call_id, 0x0102_0304);
        let Body::Request(req) = pdu.body else {
            panic!("not a request")
        };
        assert_eq!(req.alloc_hint, 0x0a0b_0c0d);
        assert_eq!(req.context_id, 0x0102);
        assert_eq!(req.opnum, 0x0304);
        assert_eq!(req.object, Some(EMSMDB));
        assert_eq!(req.stub, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn big_endian_bind_and_bind_ack_read_uuid_and_version_by_drep() {
        let ctx = ProposedContext {
            context_id: 0x0102,
            interface: InterfaceId {
                uuid: EMSMDB,
                version: (0, 81),
            },
            transfer_syntaxes: vec![TransferSyntax::Ndr20],
        };
        for le in [true, false] {
            let bytes = PduBuilder::bind(7, std::slice::from_ref(&ctx))
                .little_endian(le)
                .build();
            if !le {
                // Abstract syntax at 32: Data1 a4f1db00 in network order, then the version
                // u32 0x00510000 big-endian: minor 81 in the high half.
                assert_eq!(&bytes[32..36], &[0xa4, 0xf1, 0xdb, 0x00]);
                assert_eq!(&bytes[48..52], &[0x00, 0x51, 0x00, 0x00]);
            }
            let Body::Bind(bind) = parse_pdu(&bytes).unwrap().body else {
                panic!("not a bind")
            };
            assert_eq!(bind.contexts, vec![ctx.clone()]);
            assert_eq!((bind.max_xmit_frag, bind.max_recv_frag), (5840, 5840));

            let results = [PresentationResult {
                result: AckResult::Acceptance,
                reason: 0,
                transfer_syntax: TransferSyntax::Ndr20,
            }];
            let ack = PduBuilder::bind_ack(7, "1032", &results)
                .little_endian(le)
                .build();
            let Body::BindAck(ack) = parse_pdu(&ack).unwrap().body else {
                panic!("no ack")
            };
            assert_eq!(ack.sec_addr.as_deref(), Some("1032"));
            assert_eq!(ack.results, results);
        }
    }

    #[test]
    fn bind_ack_with_odd_sec_addr_length_skips_junk_padding() {
        // bind_ack LE, sec_addr "1032\0" (L = 5): 26 + 5 = 31, one junk pad byte (0x73 as in
        // TRACE) to reach 32, then n_results 1 at 32, reserved, result at 36.
        let mut b = vec![5, 0, 12, 3, 0x10, 0, 0, 0, 60, 0, 0, 0, 9, 0, 0, 0];
        b.extend_from_slice(&[0xd0, 0x16, 0xd0, 0x16, 0x78, 0x56, 0x34, 0x12]); // frags, group
        b.extend_from_slice(&[5, 0, b'1', b'0', b'3', b'2', 0, 0x73]); // L, "1032\0", pad
        b.extend_from_slice(&[1, 0x73, 0x73, 0x73]); // n_results, junk reserved
        b.extend_from_slice(&[0, 0, 0, 0]); // acceptance, reason 0
        b.extend_from_slice(&NDR20_UUID.to_bytes_le());
        b.extend_from_slice(&[2, 0, 0, 0]);
        assert_eq!(b.len(), 60);
        let Body::BindAck(ack) = parse_pdu(&b).unwrap().body else {
            panic!("not an ack")
        };
        assert_eq!(ack.assoc_group_id, 0x1234_5678);
        assert_eq!(ack.sec_addr.as_deref(), Some("1032"));
        assert_eq!(ack.results.len(), 1);
        assert_eq!(ack.results[0].result, AckResult::Acceptance);
        assert_eq!(ack.results[0].transfer_syntax, TransferSyntax::Ndr20);
    }

    #[test]
    fn bind_nak_and_fault_parse() {
        let nak = [
            5, 0, 13, 3, 0x10, 0, 0, 0, 21, 0, 0, 0, 2, 0, 0, 0, 4, 0, 1, 5, 0,
        ];
        let Body::BindNak(nak) = parse_pdu(&nak).unwrap().body else {
            panic!("not a nak")
        };
        assert_eq!(
            nak,
            BindNak {
                reason: 4,
                versions: vec![(5, 0)]
            }
        );

        let fault = PduBuilder::fault(9, 0, 0x1c01_0002).build();
        let Body::Fault(f) = parse_pdu(&fault).unwrap().body else {
            panic!("not a fault")
        };
        assert_eq!(f.status, 0x1c01_0002);
    }

    #[test]
    fn btfn_marker_is_recognised_with_its_bitmask() {
        let marker = Uuid::from_u128(0x6cb71c2c_9812_4540_0300_000000000000);
        assert_eq!(
            TransferSyntax::from_wire(marker, 1),
            TransferSyntax::BindTimeFeatures { bitmask: 0x03 }
        );
        assert_eq!(
            TransferSyntax::from_wire(NDR64_UUID, 1),
            TransferSyntax::Ndr64
        );
        assert_eq!(
            TransferSyntax::from_wire(Uuid::nil(), 0),
            TransferSyntax::Other {
                uuid: Uuid::nil(),
                version: 0
            }
        );
    }

    #[test]
    fn heuristic_follows_wireshark_and_checks_lengths() {
        let good = TRACE_797_OPNUM4_REQUEST;
        assert!(looks_like_pdu_header(&good));
        assert!(!looks_like_pdu_header(&good[..15]));
        let mutate = |i: usize, v: u8| {
            let mut b = good;
            b[i] = v;
            b
        };
        assert!(!looks_like_pdu_header(&mutate(0, 4))); // rpc_vers
        assert!(looks_like_pdu_header(&mutate(1, 1))); // minor 1 accepted
        assert!(!looks_like_pdu_header(&mutate(1, 2)));
        assert!(!looks_like_pdu_header(&mutate(2, 21))); // PTYPE
        assert!(!looks_like_pdu_header(&mutate(2, 1))); // ping: connectionless
        assert!(!looks_like_pdu_header(&mutate(4, 0x20))); // drep[0] & 0xEE
        assert!(!looks_like_pdu_header(&mutate(5, 4))); // drep[1]

        // frag_length 40 cannot hold a 24-byte request header plus 8 + 16 trailer bytes.
        assert!(!looks_like_pdu_header(&mutate(8, 40)));
        assert_eq!(frame_pdu(&good[..10]), Framing::NeedMore { needed: 6 });
        assert_eq!(frame_pdu(&good[..100]), Framing::NeedMore { needed: 28 });
        assert!(matches!(
            frame_pdu(&[6]),
            Framing::Invalid(PduError::BadVersion(6))
        ));
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        // auth padding longer than the stub region.
        let mut b = TRACE_797_OPNUM4_REQUEST;
        b[0x6a] = 200;
        assert_eq!(parse_pdu(&b), Err(PduError::AuthPadding(200)));
        // A bind announcing more context elements than it holds.
        let mut bind = PduBuilder::bind(1, &[]).build();
        bind[24] = 3;
        assert_eq!(
            parse_pdu(&bind),
            Err(PduError::Overrun("presentation context list"))
        );
        // A connectionless type framed on a CO stream.
        let ping = [5, 0, 1, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_pdu(&ping),
            Err(PduError::NotConnectionOriented(PacketType::Ping))
        );
    }

    fn cut_request(bytes: &[u8], captured: usize) -> (Request<'_>, CutLoss) {
        let cut = parse_cut_pdu(&bytes[..captured]).unwrap();
        assert_eq!(cut.captured, captured);
        let Body::Request(request) = cut.body else {
            panic!("not a request")
        };
        (request, cut.loss)
    }

    #[test]
    fn cut_request_keeps_its_header_and_the_captured_stub() {
        // request call 2, ctx 1, opnum 11, no auth: 24 header bytes + 40 stub bytes.
        let stub: Vec<u8> = (0..40).collect();
        let bytes = PduBuilder::request(2, 1, 11, &stub).build();
        let (request, loss) = cut_request(&bytes, 30);
        assert_eq!((request.context_id, request.opnum), (1, 11));
        assert_eq!(request.stub, &stub[..6]);
        assert_eq!(request.auth, None);
        assert_eq!(
            loss,
            CutLoss {
                body_cut: true,
                announced_elements: None,
                transfer_syntaxes_cut: false,
                stub_cut: true,
                stub_len_on_wire: Some(40),
            }
        );
        // Cut inside alloc_hint/p_cont_id/opnum: the fixed fields are missing.
        assert_eq!(
            parse_cut_pdu(&bytes[..20]),
            Err(PduError::Overrun("request header"))
        );
        // A cut header is not a PDU at all.
        assert!(matches!(
            parse_cut_pdu(&bytes[..12]),
            Err(PduError::Incomplete { .. })
        ));
        // The whole PDU is parse_pdu with nothing lost.
        let whole = parse_cut_pdu(&bytes).unwrap();
        assert_eq!(whole.loss, CutLoss::default());
        assert_eq!(whole.body, parse_pdu(&bytes).unwrap().body);
    }

    #[test]
    fn cut_request_with_auth_never_reaches_past_the_trailer_position() {
        // TRACE 797: stub 24..90, auth padding 90..104, sec_trailer 104..112, auth_value.
        let bytes = TRACE_797_OPNUM4_REQUEST;
        let (request, loss) = cut_request(&bytes, 100);
        assert_eq!(request.stub, &bytes[24..100]);
        // The pad length was in the lost sec_trailer: no whole length is implied.
        assert!(loss.stub_cut && loss.body_cut);
        assert_eq!(loss.stub_len_on_wire, None);
        // Half a sec_trailer: the stub stops where the trailer starts, padding included.
        let (request, loss) = cut_request(&bytes, 110);
        assert_eq!(request.stub, &bytes[24..104]);
        assert_eq!((request.auth, loss.stub_cut), (None, true));
        // The sec_trailer whole, the auth_value cut: the stub is exact and whole.
        let (request, loss) = cut_request(&bytes, 112);
        assert_eq!(request.stub, &bytes[24..90]);
        assert_eq!(
            request.auth.map(|a| (a.auth_level, a.pad_length)),
            Some((2, 14))
        );
        assert_eq!(loss, CutLoss::default());
    }

    #[test]
    fn cut_request_stub_is_a_prefix_of_the_whole_stub_and_padding() {
        let bytes = TRACE_797_OPNUM4_REQUEST;
        for captured in 24..bytes.len() {
            let (request, loss) = cut_request(&bytes, captured);
            if captured >= 112 {
                assert_eq!(request.stub, &bytes[24..90], "cut at {captured}");
            } else {
                assert_eq!(
                    request.stub,
                    &bytes[24..captured.min(104)],
                    "cut at {captured}"
                );
                assert!(loss.stub_cut);
            }
        }
    }

    #[test]
    fn cut_bind_keeps_the_elements_captured_up_to_their_abstract_syntax() {
        let nspi = InterfaceId {
            uuid: Uuid::from_u128(0xf5cc5a18_4264_101a_8c59_08002b2f8426),
            version: (56, 0),
        };
        let first = ProposedContext {
            context_id: 0,
            interface: InterfaceId {
                uuid: EMSMDB,
                version: (0, 81),
            },
            transfer_syntaxes: vec![TransferSyntax::Ndr20, TransferSyntax::Ndr64],
        };
        let second = ProposedContext {
            context_id: 1,
            interface: nspi,
            transfer_syntaxes: vec![TransferSyntax::Ndr20],
        };
        // Fixed fields 16..28; element 0 at 28 (head 24 + 2 × 20 = 64 bytes); element 1 at 92
        // (head 24 + 20); 136 bytes in all.
        let bytes = PduBuilder::bind(1, &[first.clone(), second.clone()]).build();
        assert_eq!(bytes.len(), 136);
        let contexts_at = |captured: usize| {
            let cut = parse_cut_pdu(&bytes[..captured]).unwrap();
            let Body::Bind(bind) = cut.body else {
                panic!("not a bind")
            };
            assert_eq!(cut.loss.announced_elements, Some(2));
            (bind.contexts, cut.loss.transfer_syntaxes_cut)
        };
        // Element 1 stops 8 bytes into its abstract syntax: dropped.
        assert_eq!(contexts_at(108), (vec![first.clone()], false));
        // Element 1's head is whole, its transfer syntax cut: kept without it.
        let head_only = ProposedContext {
            transfer_syntaxes: vec![],
            ..second
        };
        assert_eq!(contexts_at(120), (vec![first.clone(), head_only], true));
        // Element 0 cut inside its second transfer syntax.
        let ndr20_only = ProposedContext {
            transfer_syntaxes: vec![TransferSyntax::Ndr20],
            ..first.clone()
        };
        assert_eq!(contexts_at(80), (vec![ndr20_only], true));
        // Element 0 cut inside its abstract syntax: nothing kept.
        assert_eq!(contexts_at(40), (vec![], false));
        // The count itself not captured: nothing usable.
        assert_eq!(
            parse_cut_pdu(&bytes[..26]),
            Err(PduError::Overrun("bind header"))
        );
    }

    #[test]
    fn cut_bind_ack_keeps_whole_results_and_a_whole_sec_addr() {
        let accept = PresentationResult {
            result: AckResult::Acceptance,
            reason: 0,
            transfer_syntax: TransferSyntax::Ndr20,
        };
        let reject = PresentationResult {
            result: AckResult::ProviderRejection,
            reason: 2,
            transfer_syntax: TransferSyntax::Other {
                uuid: Uuid::nil(),
                version: 0,
            },
        };
        // sec_addr "1032\0" 26..31, pad to 32, n_results 32, results at 36 and 60 (84 bytes).
        let bytes = PduBuilder::bind_ack(3, "1032", &[accept, reject]).build();
        assert_eq!(bytes.len(), 84);
        let ack_at = |captured: usize| {
            let cut = parse_cut_pdu(&bytes[..captured]).unwrap();
            let Body::BindAck(ack) = cut.body else {
                panic!("not an ack")
            };
            (ack.sec_addr, ack.results, cut.loss.announced_elements)
        };
        assert_eq!(ack_at(30), (None, vec![], None));
        assert_eq!(ack_at(33), (Some("1032".into()), vec![], None));
        assert_eq!(ack_at(59), (Some("1032".into()), vec![], Some(2)));
        assert_eq!(ack_at(70), (Some("1032".into()), vec![accept], Some(2)));
    }

    #[test]
    fn cut_fault_and_bind_nak_need_their_fixed_fields() {
        // fault: status at 24..28, then 4 reserved bytes.
        let fault = PduBuilder::fault(9, 0, 0x1c01_0002).build();
        let cut = parse_cut_pdu(&fault[..28]).unwrap();
        assert!(matches!(
            cut.body,
            Body::Fault(Fault {
                status: 0x1c01_0002,
                ..
            })
        ));
        assert_eq!(
            parse_cut_pdu(&fault[..27]),
            Err(PduError::Overrun("fault status"))
        );
        // bind_nak: reason at 16..18, then the version list.
        let nak = PduBuilder::bind_nak(1, 4).build();
        let cut = parse_cut_pdu(&nak[..19]).unwrap();
        assert_eq!(
            cut.body,
            Body::BindNak(BindNak {
                reason: 4,
                versions: vec![]
            })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = frame_pdu(&bytes);
            let _ = looks_like_pdu_header(&bytes);
            let _ = parse_pdu(&bytes);
            let _ = parse_cut_pdu(&bytes);
        }

        #[test]
        fn mutated_trace_pdu_never_panics(
            i in 0usize..128,
            v in any::<u8>(),
            cut in 0usize..=128,
        ) {
            let mut b = TRACE_797_OPNUM4_REQUEST;
            b[i] = v;
            let _ = parse_pdu(&b[..cut]);
            let _ = parse_cut_pdu(&b[..cut]);
            let _ = frame_pdu(&b[..cut]);
        }
    }
}
