//! Where a capture was taken: on or beside the Outlook client, on or beside the Exchange
//! server, somewhere between them, or unknown. The packets themselves tell it:
//!
//! * **Offload artefacts.** A host's own outgoing packets are captured before its network
//!   adapter computes their TCP/UDP checksums (checksum offload, the default on Windows
//!   adapters), so most of them carry a wrong checksum; packets that crossed a wire never do.
//!   A host whose packets mostly fail the check is the capture host.
//! * **Hop counts.** Stacks start the IPv4 TTL / IPv6 hop limit at 32 (Windows 95/98), 64
//!   (Linux, macOS), 128 (Windows NT and later) or 255 (network devices), and every router
//!   takes one off. A host whose packets
//!   arrive with an initial value sent them from the capture point's own segment; one whose
//!   packets lost some crossed that many routers.
//! * **Link addresses.** Frames from hosts beyond a router carry the router's MAC; the MACs
//!   are reported with the hosts so a reader can see which side of a router each one is on.
//!
//! The observer samples: TTLs and MACs of every packet it is shown, checksums of the first
//! [`CHECKSUM_SAMPLE`] whole packets of each host. The engine shows it only packets of
//! DCE/RPC connections and candidate notification datagrams, and it keeps at most
//! [`MAX_HOSTS`] hosts, so its cost and memory are bounded whatever the capture holds.

use crate::capture::Frame;
use crate::decode::{source_mac, Packet, Transport};
use crate::report::{CapturePoint, HostReport, Vantage};
use etherparse::checksum::Sum16BitWords;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::IpAddr;

/// Whole packets per host whose transport checksum is verified.
pub const CHECKSUM_SAMPLE: u32 = 64;
/// Most hosts observed (enough for every session a report lists).
pub const MAX_HOSTS: usize = 8192;
/// Distinct source MACs kept per host.
const MAX_MACS: usize = 2;
/// Checked packets needed before a host can be taken for the capture host.
const MIN_CHECKED: u32 = 4;

/// What the capture shows of one host's packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct HostSeen {
    /// Highest TTL / hop limit seen (the shortest path's).
    max_ttl: u8,
    /// Its first source MACs.
    macs: Vec<[u8; 6]>,
    /// Whole packets whose checksum was verified.
    checked: u32,
    /// Of them, with a wrong checksum.
    bad: u32,
}

impl HostSeen {
    /// The capture ran on this host: most of its checked packets carry the checksums its
    /// adapter would have filled in later.
    fn is_capture_host(&self) -> bool {
        self.checked >= MIN_CHECKED && self.bad * 2 > self.checked
    }

    /// Routers between the host and the capture point, from its best TTL.
    fn hops(&self) -> Option<u8> {
        let initial = [32u8, 64, 128, 255]
            .into_iter()
            .find(|&i| i >= self.max_ttl)?;
        (self.max_ttl > 0).then(|| initial - self.max_ttl)
    }
}

/// The hosts seen in one input, bounded by [`MAX_HOSTS`].
#[derive(Debug, Clone, Default)]
pub struct HostTable {
    hosts: HashMap<IpAddr, HostSeen>,
    /// Packets of hosts not observed because the table was full.
    pub overflow: u64,
}

impl HostTable {
    /// Notes what `packet` (decoded from `frame`) shows of its sender.
    pub fn observe(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) {
        let full = self.hosts.len() >= MAX_HOSTS;
        let host = match self.hosts.entry(packet.src) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(_) if full => {
                self.overflow += 1;
                return;
            }
            Entry::Vacant(new) => new.insert(HostSeen::default()),
        };
        host.max_ttl = host.max_ttl.max(packet.hop_limit);
        if let Some(mac) = source_mac(frame.link, frame.data) {
            if host.macs.len() < MAX_MACS && !host.macs.contains(&mac) {
                host.macs.push(mac);
            }
        }
        if host.checked < CHECKSUM_SAMPLE && !packet.truncated {
            if let Some(ok) = checksum_ok(packet) {
                host.checked += 1;
                host.bad += u32::from(!ok);
            }
        }
    }

    /// Where the capture was taken, judged from the Outlook sessions it holds, each a
    /// (client, server) pair, with the facts that say so: the capture host's offload
    /// artefacts first, then each side's TTLs.
    pub fn capture_point(&self, pairs: &[(IpAddr, IpAddr)]) -> CapturePoint {
        let mut seen: Vec<(IpAddr, &'static str, &HostSeen)> = Vec::new();
        let mut vantage: Option<Vantage> = None;
        let mut mixed = false;
        for &(client, server) in pairs {
            let (c, s) = (self.hosts.get(&client), self.hosts.get(&server));
            for (ip, role, host) in [(client, "client", c), (server, "server", s)] {
                if let Some(host) = host.filter(|_| !seen.iter().any(|h| h.0 == ip)) {
                    seen.push((ip, role, host));
                }
            }
            let here = match (c, s) {
                (Some(c), Some(s)) => pair_vantage(c, s),
                _ => Vantage::Unknown,
            };
            match (here, vantage) {
                (Vantage::Unknown, _) => {}
                (v, None) => vantage = Some(v),
                (v, Some(w)) if v != w => mixed = true,
                _ => {}
            }
        }
        let mut basis: Vec<String> = seen
            .iter()
            .filter(|(_, _, h)| h.is_capture_host())
            .map(|(ip, role, h)| {
                format!(
                    "{} of {} checked packets from the {role} {ip} carry a wrong TCP/UDP checksum, as a host's own packets do when its adapter fills checksums in after the capture saw them: the capture ran on {ip}",
                    h.bad, h.checked
                )
            })
            .collect();
        if let Some(ttls) = ttl_sentence(&seen) {
            basis.push(ttls);
        }
        if mixed {
            basis.push("the sessions disagree about which side the capture point is on".into());
        }
        CapturePoint {
            vantage: if mixed {
                Vantage::Unknown
            } else {
                vantage.unwrap_or(Vantage::Unknown)
            },
            basis,
            hosts: seen
                .iter()
                .map(|&(ip, role, h)| host_report(ip, role, h))
                .collect(),
        }
    }
}

/// Where one client/server pair places the capture point.
fn pair_vantage(c: &HostSeen, s: &HostSeen) -> Vantage {
    match (c.is_capture_host(), s.is_capture_host(), c.hops(), s.hops()) {
        (true, false, ..) => Vantage::Client,
        (false, true, ..) => Vantage::Server,
        (_, _, Some(0), Some(0)) | (_, _, None, _) | (_, _, _, None) => Vantage::Unknown,
        (_, _, Some(0), Some(_)) => Vantage::Client,
        (_, _, Some(_), Some(0)) => Vantage::Server,
        _ => Vantage::Between,
    }
}

/// "the client 10.0.0.21: TTL 128 (unrouted); the server 10.1.0.5: TTL 126 (2 routers
/// away)": hosts grouped by role, TTL and hop count.
fn ttl_sentence(seen: &[(IpAddr, &'static str, &HostSeen)]) -> Option<String> {
    // (role, TTL, hops) and the addresses that share them.
    type Group<'a> = ((&'a str, u8, u8), Vec<String>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (ip, role, h) in seen {
        let Some(hops) = h.hops() else {
            continue;
        };
        let key = (*role, h.max_ttl, hops);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ips)) => ips.push(ip.to_string()),
            None => groups.push((key, vec![ip.to_string()])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|((role, ttl, hops), ips)| {
            let path = match hops {
                0 => "unrouted".to_string(),
                1 => "1 router away".to_string(),
                n => format!("{n} routers away"),
            };
            let who = if ips.len() == 1 {
                format!("the {role} {}", ips[0])
            } else {
                format!("the {role}s {}", ips.join(", "))
            };
            format!("{who}: TTL {ttl} ({path})")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn host_report(ip: IpAddr, role: &'static str, seen: &HostSeen) -> HostReport {
    HostReport {
        ip: ip.to_string(),
        role,
        ttl: (seen.max_ttl > 0).then_some(seen.max_ttl),
        hops: seen.hops(),
        macs: seen
            .macs
            .iter()
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect(),
        checksums_checked: seen.checked,
        checksums_bad: seen.bad,
        capture_host: seen.is_capture_host(),
    }
}

/// Whether the TCP or UDP checksum of a whole packet is right (RFC 793 §3.1, RFC 768, RFC
/// 8200 §8.1); `None` for other transports and for UDP over IPv4 without a checksum.
fn checksum_ok(packet: &Packet<'_>) -> Option<bool> {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    let protocol = match packet.transport {
        Transport::Tcp(_) => TCP,
        Transport::Udp(_) => UDP,
        _ => return None,
    };
    let segment = packet.transport_bytes;
    let len = u32::try_from(segment.len()).ok()?;
    if segment.is_empty() {
        return None;
    }
    let mut sum = Sum16BitWords::new();
    match (packet.src, packet.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            if protocol == UDP && segment.get(6..8) == Some(&[0, 0]) {
                return None;
            }
            sum = sum
                .add_4bytes(src.octets())
                .add_4bytes(dst.octets())
                .add_2bytes([0, protocol])
                .add_2bytes(u16::try_from(len).ok()?.to_be_bytes());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            sum = sum
                .add_16bytes(src.octets())
                .add_16bytes(dst.octets())
                .add_4bytes(len.to_be_bytes())
                .add_4bytes([0, 0, 0, protocol]);
        }
        _ => return None,
    }
    Some(sum.add_slice(segment).ones_complement() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, Decoder};
    use crate::LinkType;
    use etherparse::PacketBuilder;

    const CLIENT_MAC: [u8; 6] = [0, 0x15, 0x5d, 1, 0, 21];
    const ROUTER_MAC: [u8; 6] = [0, 0x15, 0x5d, 1, 0, 1];

    /// An Ethernet TCP segment from `src` with `ttl`; its checksum spoilt when `offloaded`.
    fn segment(mac: [u8; 6], src: [u8; 4], dst: [u8; 4], ttl: u8, offloaded: bool) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(mac, [2; 6])
            .ipv4(src, dst, ttl)
            .tcp(1071, 1032, 7, 1000)
            .write(&mut out, b"0123456789")
            .unwrap();
        if offloaded {
            // The TCP checksum (bytes 16-17 of the TCP header), as offload leaves it.
            out[14 + 20 + 16] ^= 0x5a;
        }
        out
    }

    /// Decodes `bytes` as one frame of `link` and hands it and its packet to `f`.
    fn with_packet<T>(link: LinkType, bytes: &[u8], f: impl FnOnce(&Frame, &Packet) -> T) -> T {
        let frame = Frame {
            number: 1,
            ts_ns: 0,
            link,
            data: bytes,
            orig_len: bytes.len() as u32,
            interface: 0,
            options: Default::default(),
        };
        let mut decoder = Decoder::default();
        match decoder.decode(&frame) {
            Decoded::Packet(packet) => f(&frame, &packet),
            other => panic!("not a packet: {other:?}"),
        }
    }

    fn observe(table: &mut HostTable, bytes: &[u8]) {
        with_packet(LinkType::ETHERNET, bytes, |frame, packet| {
            table.observe(frame, packet)
        });
    }

    const C: [u8; 4] = [10, 0, 0, 21];
    const S: [u8; 4] = [10, 0, 1, 5];

    fn pair() -> (IpAddr, IpAddr) {
        (IpAddr::from(C), IpAddr::from(S))
    }

    #[test]
    fn offloaded_checksums_name_the_capture_host() {
        let mut t = HostTable::default();
        for _ in 0..6 {
            observe(&mut t, &segment(CLIENT_MAC, C, S, 128, true));
            observe(&mut t, &segment(ROUTER_MAC, S, C, 126, false));
        }
        let point = t.capture_point(&[pair()]);
        assert_eq!(point.vantage, Vantage::Client);
        assert!(point.basis[0].contains("6 of 6"), "{:?}", point.basis);
        let client = &point.hosts[0];
        assert_eq!((client.checksums_checked, client.checksums_bad), (6, 6));
        assert!(client.capture_host);
        assert_eq!(point.hosts[1].hops, Some(2));
        assert_eq!(point.hosts[1].macs, ["00:15:5d:01:00:01"]);
    }

    #[test]
    fn ttls_place_the_capture_point_when_checksums_are_right() {
        let cases = [
            ((128, 126), Vantage::Client),
            ((125, 128), Vantage::Server),
            ((127, 63), Vantage::Between),
            // Windows 95/98 start at 32: two routers away, not thirty-four.
            ((30, 128), Vantage::Server),
            ((128, 64), Vantage::Unknown),
        ];
        for ((client_ttl, server_ttl), expected) in cases {
            let mut t = HostTable::default();
            observe(&mut t, &segment(CLIENT_MAC, C, S, client_ttl, false));
            observe(&mut t, &segment(ROUTER_MAC, S, C, server_ttl, false));
            let point = t.capture_point(&[pair()]);
            assert_eq!(
                point.vantage, expected,
                "{client_ttl}/{server_ttl}: {:?}",
                point.basis
            );
        }
        // A host never seen leaves it unknown.
        assert_eq!(
            HostTable::default().capture_point(&[pair()]).vantage,
            Vantage::Unknown
        );
    }

    #[test]
    fn udp_checksums_are_verified_and_a_missing_one_is_not_counted() {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(S, C, 128)
            .udp(3105, 1088)
            .write(&mut bytes, b"ctx")
            .unwrap();
        let frame = |b: &[u8]| with_packet(LinkType::RAW, b, |_, packet| checksum_ok(packet));
        assert_eq!(frame(&bytes), Some(true));
        let mut spoilt = bytes.clone();
        spoilt[20 + 6] ^= 1;
        assert_eq!(frame(&spoilt), Some(false));
        let mut none = bytes.clone();
        none[26] = 0;
        none[27] = 0;
        assert_eq!(frame(&none), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = HostTable::default();
        for i in 0..(MAX_HOSTS as u32 + 10) {
            let src = (0x0a00_0000 + i).to_be_bytes();
            observe(&mut t, &segment(CLIENT_MAC, src, S, 128, false));
        }
        assert_eq!((t.hosts.len(), t.overflow), (MAX_HOSTS, 10));
    }
}
