//! The endpoint mapper's `ept_map` (EPM opnum 3): which interface a client asked for, and the
//! towers (interface, protocol, port, IPv4 address) the mapper answered (protocol.md §1.13;
//! C706 App. L and O).
//!
//! NDR20 layouts, offsets from the stub start, integers in the stub's drep order:
//!
//! ```text
//! request   object: referent u32 [+ UUID]   map_tower: referent u32 [+ twr_t]
//!           entry_handle (20)   max_towers u32
//! response  entry_handle (20)   num_towers u32
//!           towers: max_count u32, offset u32, actual_count u32, actual_count referents u32,
//!                   then one twr_t per non-null referent
//!           status u32
//! twr_t     max_count u32, tower_length u32, tower octets, realign to 4
//! ```
//!
//! Tower octets are little-endian whatever the drep: floor_count u16, then per floor
//! lhs_length u16, lhs (protocol id + data), rhs_length u16, rhs. Ports and IPv4 addresses
//! in the right-hand sides are big-endian.
//!
//! Every count is bounded by the bytes present; nothing here panics on any input.

use super::conn::RpcCall;
use super::interfaces::EPM_UUID;
use super::ndr::{NdrError, NdrFormat, NdrReader};
use super::pdu::{InterfaceId, Reader, TransferSyntax};
use std::net::Ipv4Addr;
use thiserror::Error;
use uuid::Uuid;

/// The ept_map opnum.
pub const EPT_MAP_OPNUM: u16 = 3;
/// Towers decoded at most from one response.
pub const MAX_TOWERS: usize = 64;
/// Floors decoded at most from one tower.
const MAX_FLOORS: usize = 16;
/// Length of an NDR context handle (attributes u32 + UUID).
pub(crate) const CONTEXT_HANDLE_LEN: usize = 20;

/// Why an ept_map stub could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EpmError {
    /// A field runs past the end of the stub or tower.
    #[error("{0} runs past the end of the ept_map stub")]
    Truncated(&'static str),
}

impl From<NdrError> for EpmError {
    fn from(e: NdrError) -> EpmError {
        EpmError::Truncated(e.field())
    }
}

/// The transport protocol a tower names (floor 4 of an ncacn_* tower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TowerProtocol {
    /// 0x07: TCP (ncacn_ip_tcp).
    Tcp,
    /// 0x08: UDP (ncadg_ip_udp).
    Udp,
    /// 0x1F: HTTP (ncacn_http).
    Http,
    /// 0x0F / 0x10: named pipe (ncacn_np) or local pipe.
    NamedPipe,
    /// Another protocol identifier.
    Other(u8),
}

/// What one protocol tower says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tower {
    /// Floor 1: the interface UUID and version.
    pub interface: Option<InterfaceId>,
    /// Floor 2: the transfer syntax.
    pub transfer_syntax: Option<TransferSyntax>,
    /// The transport protocol.
    pub protocol: Option<TowerProtocol>,
    /// The port (TCP, UDP or HTTP).
    pub port: Option<u16>,
    /// The IPv4 address (0.0.0.0 when the server leaves it for the client to fill).
    pub ipv4: Option<Ipv4Addr>,
}

/// An ept_map request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptMapRequest {
    /// The object UUID, when the pointer is not null.
    pub object: Option<Uuid>,
    /// The tower describing the wanted interface and protocol.
    pub tower: Option<Tower>,
    /// max_towers.
    pub max_towers: u32,
}

/// An ept_map response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EptMapResponse {
    /// num_towers as sent.
    pub num_towers: u32,
    /// The towers decoded (at most [`MAX_TOWERS`]).
    pub towers: Vec<Tower>,
    /// The status (0 = success; 0x16C9A0D6 = ept_s_not_registered).
    pub status: u32,
}

/// Decodes an NDR20 ept_map request stub.
pub fn parse_ept_map_request(stub: &[u8], little_endian: bool) -> Result<EptMapRequest, EpmError> {
    let mut r = ndr_reader(stub, little_endian);
    let object = if r.u32("object pointer")? != 0 {
        Some(r.uuid("object UUID")?)
    } else {
        None
    };
    let tower = if r.u32("map_tower pointer")? != 0 {
        Some(parse_tower(read_twr(&mut r)?)?)
    } else {
        None
    };
    r.align(4);
    r.bytes(CONTEXT_HANDLE_LEN, "entry_handle")?;
    let max_towers = r.u32("max_towers")?;
    Ok(EptMapRequest {
        object,
        tower,
        max_towers,
    })
}

/// Decodes an NDR20 ept_map response stub.
pub fn parse_ept_map_response(
    stub: &[u8],
    little_endian: bool,
) -> Result<EptMapResponse, EpmError> {
    let mut r = ndr_reader(stub, little_endian);
    r.bytes(CONTEXT_HANDLE_LEN, "entry_handle")?;
    let num_towers = r.u32("num_towers")?;
    let _max_count = r.u32("tower array header")?;
    let _offset = r.u32("tower array header")?;
    let actual_count = r.u32("tower array header")? as usize;
    // Each referent takes 4 bytes: a count the stub cannot hold is an error, not a reservation.
    if actual_count > r.remaining() / 4 {
        return Err(EpmError::Truncated("tower referents"));
    }
    let mut non_null = 0usize;
    for _ in 0..actual_count {
        if r.u32("tower referents")? != 0 {
            non_null += 1;
        }
    }
    let mut towers = Vec::with_capacity(non_null.min(MAX_TOWERS));
    for _ in 0..non_null {
        let tower = parse_tower(read_twr(&mut r)?)?;
        if towers.len() < MAX_TOWERS {
            towers.push(tower);
        }
    }
    let status = r.u32("status")?;
    Ok(EptMapResponse {
        num_towers,
        towers,
        status,
    })
}

/// The NDR20 reader of an ept_map stub in the sender's byte order.
fn ndr_reader(stub: &[u8], little_endian: bool) -> NdrReader<'_> {
    NdrReader::new(
        stub,
        NdrFormat {
            little_endian,
            ndr64: false,
        },
    )
}

/// Reads a twr_t (aligned to 4: conformance, tower_length, octets); returns the octets. The
/// next field's read realigns.
fn read_twr<'a>(r: &mut NdrReader<'a>) -> Result<&'a [u8], EpmError> {
    let max_count = r.u32("tower length")?;
    let tower_length = r.u32("tower length")?;
    // Both counts should be equal; trust the smaller one.
    let len = max_count.min(tower_length) as usize;
    let octets = r.bytes(len, "tower octets")?;
    // The declared array is max_count long even if tower_length is shorter.
    r.bytes(max_count as usize - len, "tower octets")?;
    Ok(octets)
}

/// Decodes tower octets (always little-endian) into the facts a tower carries.
pub fn parse_tower(octets: &[u8]) -> Result<Tower, EpmError> {
    let mut r = Reader::new(octets, 0, true);
    let floor_count = r.u16().ok_or(EpmError::Truncated("floor count"))?;
    let mut tower = Tower::default();
    let mut uuid_floors = 0;
    for _ in 0..usize::from(floor_count).min(MAX_FLOORS) {
        let lhs_len = r.u16().ok_or(EpmError::Truncated("floor lhs length"))?;
        let lhs = r
            .take(usize::from(lhs_len))
            .ok_or(EpmError::Truncated("floor lhs"))?;
        let rhs_len = r.u16().ok_or(EpmError::Truncated("floor rhs length"))?;
        let rhs = r
            .take(usize::from(rhs_len))
            .ok_or(EpmError::Truncated("floor rhs"))?;
        let Some((&protocol, data)) = lhs.split_first() else {
            continue;
        };
        match protocol {
            0x0d => {
                // UUID floor: UUID (LE) + major u16 LE; rhs = minor u16 LE.
                let (Some(uuid), Some(major)) = (
                    data.get(..16)
                        .and_then(|b| b.try_into().ok())
                        .map(Uuid::from_bytes_le),
                    data.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]])),
                ) else {
                    continue;
                };
                let minor = rhs.get(..2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
                if uuid_floors == 0 {
                    tower.interface = Some(InterfaceId {
                        uuid,
                        version: (major, minor),
                    });
                } else if uuid_floors == 1 {
                    tower.transfer_syntax = Some(TransferSyntax::from_wire(uuid, major.into()));
                }
                uuid_floors += 1;
            }
            0x07 | 0x08 | 0x1f => {
                tower.protocol = Some(match protocol {
                    0x07 => TowerProtocol::Tcp,
                    0x08 => TowerProtocol::Udp,
                    _ => TowerProtocol::Http,
                });
                tower.port = rhs.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            }
            0x09 => {
                tower.ipv4 = rhs.get(..4).map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            }
            0x0f | 0x10 => tower.protocol = Some(TowerProtocol::NamedPipe),
            // 0x0B (RPC connection-oriented) and 0x0A (connectionless) name the RPC protocol
            // floor; other ids (NetBIOS 0x11, …) name transports this tool does not follow.
            0x0a | 0x0b => {}
            other => {
                if tower.protocol.is_none() {
                    tower.protocol = Some(TowerProtocol::Other(other));
                }
            }
        }
    }
    Ok(tower)
}

/// Both halves of an ept_map call, decoded from an [`RpcCall`] on the endpoint mapper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EptMap {
    /// The request, when its stub was complete and decodable.
    pub request: Option<EptMapRequest>,
    /// The response, when present, complete and decodable.
    pub response: Option<EptMapResponse>,
}

impl EptMap {
    /// Decodes an ept_map call: `None` unless the call is EPM opnum 3, or opnum 3 on an
    /// unknown context (bind not captured) whose request decodes as ept_map with a tower
    /// naming an interface. Sealed, cut or incomplete stubs give `None` halves.
    pub fn from_call(call: &RpcCall) -> Option<EptMap> {
        if call.opnum != EPT_MAP_OPNUM {
            return None;
        }
        let on_epm = call.interface.map(|i| i.uuid == EPM_UUID);
        if on_epm == Some(false) {
            return None;
        }
        let request = call
            .request
            .complete_bytes()
            .and_then(|b| parse_ept_map_request(b, call.request.little_endian).ok());
        // On an unknown context, only a request whose tower names an interface counts.
        let names_interface = request
            .and_then(|r| r.tower)
            .and_then(|t| t.interface)
            .is_some();
        if on_epm.is_none() && !names_interface {
            return None;
        }
        let response = call.response.as_ref().and_then(|stub| {
            stub.complete_bytes()
                .and_then(|b| parse_ept_map_response(b, stub.little_endian).ok())
        });
        Some(EptMap { request, response })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::interfaces::EMSMDB_UUID;
    use crate::dcerpc::pdu::NDR20_UUID;
    use proptest::prelude::*;

    /// The five-floor ncacn_ip_tcp tower for `interface` at `ip:port`.
    fn tcp_tower(interface: InterfaceId, port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut t = vec![5, 0]; // floor_count 5
                                // floor 1: UUID id 0x0d + interface UUID (LE) + major; rhs minor
        t.extend_from_slice(&[19, 0, 0x0d]);
        t.extend_from_slice(&interface.uuid.to_bytes_le());
        t.extend_from_slice(&interface.version.0.to_le_bytes());
        t.extend_from_slice(&[2, 0]);
        t.extend_from_slice(&interface.version.1.to_le_bytes());
        // floor 2: NDR v2
        t.extend_from_slice(&[19, 0, 0x0d]);
        t.extend_from_slice(&NDR20_UUID.to_bytes_le());
        t.extend_from_slice(&[2, 0, 2, 0, 0, 0]);
        // floor 3: RPC connection-oriented, rhs minor version 0
        t.extend_from_slice(&[1, 0, 0x0b, 2, 0, 0, 0]);
        // floor 4: TCP, port big-endian (TRACE 705: 01 00 07 | 02 00 04 08 = 1032)
        t.extend_from_slice(&[1, 0, 0x07, 2, 0]);
        t.extend_from_slice(&port.to_be_bytes());
        // floor 5: IPv4 (TRACE 705: 01 00 09 | 04 00 c0 a8 00 02)
        t.extend_from_slice(&[1, 0, 0x09, 4, 0]);
        t.extend_from_slice(&ip);
        t
    }

    fn u32b(v: u32, le: bool) -> [u8; 4] {
        if le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }

    fn twr(octets: &[u8], le: bool) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&u32b(octets.len() as u32, le)); // conformance
        v.extend_from_slice(&u32b(octets.len() as u32, le)); // tower_length
        v.extend_from_slice(octets);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    const EMSMDB: InterfaceId = InterfaceId {
        uuid: EMSMDB_UUID,
        version: (0, 81),
    };

    #[test]
    fn request_and_response_decode_in_both_byte_orders() {
        for le in [true, false] {
            let tower = tcp_tower(EMSMDB, 0, [0, 0, 0, 0]);
            // request: object referent 1 + nil UUID, map_tower referent 2 + twr_t,
            // entry_handle (20 zero bytes), max_towers 4
            let mut req = u32b(1, le).to_vec();
            req.extend_from_slice(&[0; 16]);
            req.extend_from_slice(&u32b(2, le));
            req.extend_from_slice(&twr(&tower, le));
            req.extend_from_slice(&[0; 20]);
            req.extend_from_slice(&u32b(4, le));
            let parsed = parse_ept_map_request(&req, le).unwrap();
            assert_eq!(parsed.object, Some(Uuid::nil()));
            assert_eq!(parsed.max_towers, 4);
            let t = parsed.tower.unwrap();
            assert_eq!(t.interface, Some(EMSMDB));
            assert_eq!(t.transfer_syntax, Some(TransferSyntax::Ndr20));
            assert_eq!(t.protocol, Some(TowerProtocol::Tcp));

            // response: handle, num_towers 1, array max 4 / offset 0 / actual 1,
            // referent 3, twr_t, status 0
            let answer = tcp_tower(EMSMDB, 1032, [192, 168, 0, 2]);
            let mut resp = vec![0; 20];
            resp.extend_from_slice(&u32b(1, le));
            for v in [4, 0, 1, 3] {
                resp.extend_from_slice(&u32b(v, le));
            }
            resp.extend_from_slice(&twr(&answer, le));
            resp.extend_from_slice(&u32b(0, le));
            let parsed = parse_ept_map_response(&resp, le).unwrap();
            assert_eq!(parsed.num_towers, 1);
            assert_eq!(parsed.status, 0);
            assert_eq!(
                parsed.towers,
                vec![Tower {
                    interface: Some(EMSMDB),
                    transfer_syntax: Some(TransferSyntax::Ndr20),
                    protocol: Some(TowerProtocol::Tcp),
                    port: Some(1032),
                    ipv4: Some(Ipv4Addr::new(192, 168, 0, 2)),
                }]
            );
        }
    }

    #[test]
    fn not_registered_answer_has_no_towers() {
        // handle, num_towers 0, array 4/0/0, status ept_s_not_registered
        let mut resp = vec![0; 20];
        for v in [0u32, 4, 0, 0, 0x16c9_a0d6] {
            resp.extend_from_slice(&v.to_le_bytes());
        }
        let parsed = parse_ept_map_response(&resp, true).unwrap();
        assert!(parsed.towers.is_empty());
        assert_eq!(parsed.status, 0x16c9_a0d6);
    }

    #[test]
    fn huge_counts_are_errors() {
        let mut resp = vec![0; 20];
        for v in [1u32, 4, 0, 0xffff_ffff] {
            resp.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            parse_ept_map_response(&resp, true),
            Err(EpmError::Truncated("tower referents"))
        );
        assert_eq!(
            parse_tower(&[0xff, 0xff, 5, 0]),
            Err(EpmError::Truncated("floor lhs"))
        );
    }

    #[test]
    fn ept_map_call_through_the_engine_names_the_emsmdb_port() {
        use crate::dcerpc::conn::{RpcConnection, RpcEvent, RpcLimits};
        use crate::dcerpc::encode::PduBuilder;
        use crate::dcerpc::pdu::ProposedContext;
        use crate::flow::Direction;

        let epm = InterfaceId {
            uuid: EPM_UUID,
            version: (3, 0),
        };
        let bind = [ProposedContext {
            context_id: 0,
            interface: epm,
            transfer_syntaxes: vec![TransferSyntax::Ndr20],
        }];
        let accept = [crate::dcerpc::pdu::PresentationResult {
            result: crate::dcerpc::pdu::AckResult::Acceptance,
            reason: 0,
            transfer_syntax: TransferSyntax::Ndr20,
        }];
        // ept_map request: null object, map_tower (EMSMDB over TCP), handle, max_towers 1.
        let mut request = vec![0, 0, 0, 0, 1, 0, 0, 0];
        request.extend(twr(&tcp_tower(EMSMDB, 0, [0; 4]), true));
        request.extend_from_slice(&[0; 20]);
        request.extend_from_slice(&1u32.to_le_bytes());
        let mut response = vec![0; 20];
        for v in [1u32, 1, 0, 1, 3] {
            response.extend_from_slice(&v.to_le_bytes());
        }
        response.extend(twr(&tcp_tower(EMSMDB, 1032, [192, 168, 0, 2]), true));
        response.extend_from_slice(&0u32.to_le_bytes());

        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        let client = Direction::ToResponder;
        let server = Direction::ToInitiator;
        conn.feed(
            client,
            &PduBuilder::bind(1, &bind).build(),
            702,
            0,
            &mut out,
        );
        conn.feed(
            server,
            &PduBuilder::bind_ack(1, "135", &accept).build(),
            703,
            0,
            &mut out,
        );
        conn.feed(
            client,
            &PduBuilder::request(2, 0, 3, &request).build(),
            704,
            0,
            &mut out,
        );
        conn.feed(
            server,
            &PduBuilder::response(2, 0, &response).build(),
            705,
            0,
            &mut out,
        );
        let Some(RpcEvent::Call(call)) = out.last() else {
            panic!("no call")
        };
        let map = EptMap::from_call(call).unwrap();
        let asked = map.request.and_then(|r| r.tower).and_then(|t| t.interface);
        assert_eq!(asked, Some(EMSMDB));
        let answer = map.response.unwrap();
        assert_eq!(answer.towers[0].port, Some(1032));
        assert_eq!(answer.towers[0].ipv4, Some(Ipv4Addr::new(192, 168, 0, 2)));
        // Opnum 3 of another interface is not ept_map.
        let mut other = call.clone();
        other.interface = other.interface.map(|mut i| {
            i.uuid = EMSMDB_UUID;
            i
        });
        assert_eq!(EptMap::from_call(&other), None);
    }

    proptest! {
        #[test]
        fn arbitrary_stubs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                       le in any::<bool>()) {
            let _ = parse_ept_map_request(&bytes, le);
            let _ = parse_ept_map_response(&bytes, le);
            let _ = parse_tower(&bytes);
        }
    }
}
