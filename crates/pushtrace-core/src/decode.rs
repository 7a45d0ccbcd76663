//! Link layer → IPv4/IPv6 → TCP | UDP | ICMP, decoded as far as the captured bytes go.
//!
//! (Skeleton: types are fixed here; the implementation is being written.)

use std::net::IpAddr;

/// TCP control flags pushtrace cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN
    pub syn: bool,
    /// ACK
    pub ack: bool,
    /// FIN
    pub fin: bool,
    /// RST
    pub rst: bool,
}

/// A TCP segment's header fields and payload (payload may be cut by the snap length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length on the wire according to the IP length (≥ `payload.len()`).
    pub wire_payload_len: u32,
}

/// A UDP datagram (payload may be cut by the snap length, or reassembled from fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length according to the UDP header (≥ `payload.len()` when cut).
    pub wire_payload_len: u32,
}

/// The datagram an ICMP error quotes (IP header + at least the UDP/TCP ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedDatagram {
    /// Source address of the datagram that failed.
    pub src: IpAddr,
    /// Destination address of the datagram that failed.
    pub dst: IpAddr,
    /// IP protocol number of the quoted datagram (17 = UDP).
    pub protocol: u8,
    /// Quoted source port, when the quote reaches it.
    pub src_port: Option<u16>,
    /// Quoted destination port, when the quote reaches it.
    pub dst_port: Option<u16>,
    /// IPv4 identification of the quoted datagram (None for IPv6).
    pub ip_id: Option<u16>,
    /// Quoted transport payload bytes after the UDP header, at most 64 of them.
    pub payload_prefix: Vec<u8>,
}

/// An ICMPv4 type 3 or ICMPv6 type 1 destination-unreachable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpUnreachable {
    /// True for ICMPv6.
    pub v6: bool,
    /// The code (3 = port unreachable for v4, 4 for v6; 13 / 1 = administratively prohibited).
    pub code: u8,
    /// The quoted datagram, when it could be decoded.
    pub quoted: Option<QuotedDatagram>,
}

/// The transport part of a decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// An ICMP/ICMPv6 destination-unreachable error.
    IcmpUnreachable(IcmpUnreachable),
    /// Any other ICMP/ICMPv6 message (echo, neighbour discovery, ...).
    OtherIcmp,
    /// Another IP protocol (number given), or a transport header cut before its end.
    Other(u8),
}

/// An IP packet with its transport layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// The transport layer.
    pub transport: Transport<'a>,
    /// True when the frame was cut by the snap length before the end of the IP packet.
    pub truncated: bool,
}
