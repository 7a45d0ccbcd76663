//! The Windows `SOCKADDR` that `EcRRegisterPushNotification` carries as the callback address.
//!
//! Layout [protocol.md §3; Winsock `sockaddr_in` / `sockaddr_in6`]: family u16 in the client's
//! host order (little-endian on Windows), then port and address in network order. AF_INET is
//! 2 (16 bytes); Windows AF_INET6 is 23 (28 bytes, or 24 for the old `sockaddr_in6` without
//! scope id). Linux clients would send 10 for AF_INET6. Anything else is an unknown family.

use serde::Serialize;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A decoded callback address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackAddress {
    /// An IPv4 or IPv6 address and UDP port.
    Inet(SocketAddr),
    /// A family pushtrace does not know, or bytes too short for the family.
    Unknown {
        /// The family value as read (little-endian).
        family: u16,
        /// The raw bytes, at most 32 of them.
        raw: Vec<u8>,
    },
}

const AF_INET: u16 = 2;
const AF_INET6_WINDOWS: u16 = 23;
const AF_INET6_LINUX: u16 = 10;

impl CallbackAddress {
    /// Decodes a SOCKADDR leniently: a family that reads 0x0200 is taken as a big-endian 2.
    pub fn parse(raw: &[u8]) -> CallbackAddress {
        let unknown = |family| CallbackAddress::Unknown {
            family,
            raw: raw[..raw.len().min(32)].to_vec(),
        };
        let Some(fam) = raw.get(..2) else {
            return unknown(0);
        };
        let family = u16::from_le_bytes([fam[0], fam[1]]);
        let port = |r: &[u8]| u16::from_be_bytes([r[2], r[3]]);
        match family {
            AF_INET | 0x0200 if raw.len() >= 8 => {
                let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
                CallbackAddress::Inet(SocketAddr::V4(SocketAddrV4::new(ip, port(raw))))
            }
            AF_INET6_WINDOWS | AF_INET6_LINUX if raw.len() >= 24 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&raw[8..24]);
                let flowinfo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
                let scope = raw
                    .get(24..28)
                    .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
                let addr = SocketAddrV6::new(Ipv6Addr::from(octets), port(raw), flowinfo, scope);
                CallbackAddress::Inet(SocketAddr::V6(addr))
            }
            _ => unknown(family),
        }
    }

    /// Encodes a socket address the way a Windows client does (16 or 28 bytes).
    pub fn encode_windows(addr: SocketAddr) -> Vec<u8> {
        match addr {
            SocketAddr::V4(a) => {
                let mut out = AF_INET.to_le_bytes().to_vec();
                out.extend_from_slice(&a.port().to_be_bytes());
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&[0; 8]);
                out
            }
            SocketAddr::V6(a) => {
                let mut out = AF_INET6_WINDOWS.to_le_bytes().to_vec();
                out.extend_from_slice(&a.port().to_be_bytes());
                out.extend_from_slice(&a.flowinfo().to_be_bytes());
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.scope_id().to_le_bytes());
                out
            }
        }
    }

    /// The socket address, when the family is known.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            CallbackAddress::Inet(a) => Some(*a),
            CallbackAddress::Unknown { .. } => None,
        }
    }
}

impl fmt::Display for CallbackAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `[v6]:port` without flow info or scope, as the report prints endpoints.
            CallbackAddress::Inet(a) => write!(f, "{}", crate::emsmdb::endpoint(a.ip(), a.port())),
            CallbackAddress::Unknown { family, .. } => write!(f, "unknown family {family}"),
        }
    }
}

impl Serialize for CallbackAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_trace_ipv4_callback() {
        // AF_INET (LE) | port 1071 (BE) | 192.168.0.173 | 8 zero bytes — protocol.md §2.3.3.
        let raw = [
            2, 0, 0x04, 0x2f, 0xc0, 0xa8, 0x00, 0xad, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let a = CallbackAddress::parse(&raw);
        assert_eq!(a.socket_addr(), Some("192.168.0.173:1071".parse().unwrap()));
        assert_eq!(a.to_string(), "192.168.0.173:1071");
    }

    #[test]
    fn decodes_windows_ipv6_and_prints_brackets() {
        let addr: SocketAddr = "[2001:db8::21]:1088".parse().unwrap();
        let raw = CallbackAddress::encode_windows(addr);
        assert_eq!(raw.len(), 28);
        assert_eq!(&raw[..4], &[23, 0, 0x04, 0x40]);
        let a = CallbackAddress::parse(&raw);
        assert_eq!(a.socket_addr(), Some(addr));
        assert_eq!(a.to_string(), "[2001:db8::21]:1088");
    }

    #[test]
    fn big_endian_family_and_unknown_families() {
        let raw = [0, 2, 0x04, 0x40, 10, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(CallbackAddress::parse(&raw).to_string(), "10.0.0.21:1088");
        let ipx = [6, 0, 1, 2, 3, 4];
        assert_eq!(
            CallbackAddress::parse(&ipx),
            CallbackAddress::Unknown {
                family: 6,
                raw: ipx.to_vec()
            }
        );
        assert!(matches!(
            CallbackAddress::parse(&[2]),
            CallbackAddress::Unknown { family: 0, .. }
        ));
        // AF_INET6 too short for its address.
        assert!(matches!(
            CallbackAddress::parse(&[23, 0, 1, 2, 0, 0]),
            CallbackAddress::Unknown { family: 23, .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let parsed = CallbackAddress::parse(&raw);
            let _ = parsed.to_string();
            if let Some(addr) = parsed.socket_addr() {
                // Whatever decodes as an address re-encodes to the same address.
                let again = CallbackAddress::parse(&CallbackAddress::encode_windows(addr));
                proptest::prop_assert_eq!(again.socket_addr(), Some(addr));
            }
        }

        #[test]
        fn windows_encoding_round_trips(ip in proptest::prelude::any::<std::net::IpAddr>(), port: u16) {
            let addr = SocketAddr::new(ip, port);
            let parsed = CallbackAddress::parse(&CallbackAddress::encode_windows(addr));
            proptest::prop_assert_eq!(parsed.socket_addr(), Some(addr));
        }
    }
}
