//! Notification datagrams and what followed them: which registration a datagram answers,
//! whether the client reacted, and which ICMP errors quote it.
//!
//! **Delivery is proven by the client.** A datagram on the wire has not necessarily reached
//! Outlook: a host firewall drops it after the capture saw it (Windows Firewall does so
//! without an ICMP error). Outlook answers a datagram it received with an EMSMDB call at once
//! (MS-OXCNOTIF 3.2.5.4: on receipt the client calls `EcDoRpcExt2`, `EcDoRpc` for old
//! clients, to fetch the pending notifications), so the reaction follows within milliseconds
//! plus one round trip. [`REACTION_WINDOW_NS`] allows 2 s: a slow WAN or VPN round trip and
//! a client that finishes a call already in flight (the reaction waits for it, so the
//! window runs from that call's response) fit, while the one-minute polls of a client that
//! gets no datagram land in it by chance about once in 30 tries. A datagram after which the
//! capture ends within the window, or after which the client makes no call at all, counts
//! neither way.

use super::advice::icmp_code_name;
use super::facts::{RegistrationFacts, RequestFacts};
use super::session::ClientCall;
use super::views::Sightings;
use crate::decode::QuotedDatagram;
use crate::emsmdb::{self, MAX_CONTEXT_LEN};
use crate::flow::{frame_input, frame_number};
use crate::report::{format_time, Datagram, IcmpError, Reaction, SeenAt};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// How long after a datagram (or after the response of a call in flight when it came) a
/// client EMSMDB call counts as the client's reaction.
pub const REACTION_WINDOW_NS: i64 = 2_000_000_000;
/// Calls before a datagram looked at for one still in flight when it came.
const IN_FLIGHT_LOOKBACK: usize = 8;

/// A UDP datagram small enough to be a notification (1–16 bytes, exactly `rgbContext`).
#[derive(Debug, Clone)]
pub(super) struct UdpCandidate {
    pub frame: u64,
    pub ts_ns: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Its IPv4 identification: with addresses, ports and payload, what tells the same
    /// datagram seen at two capture points from a repeated notification.
    pub ip_id: Option<u16>,
    pub len: u8,
    pub payload: [u8; MAX_CONTEXT_LEN as usize],
}

impl UdpCandidate {
    /// A candidate for `payload`, when its length fits a context and the frame holds it all.
    pub fn new(
        (frame, ts_ns): (u64, i64),
        (src, dst): (SocketAddr, SocketAddr),
        ip_id: Option<u16>,
        payload: &[u8],
        wire_len: usize,
    ) -> Option<UdpCandidate> {
        if wire_len == 0 || wire_len > MAX_CONTEXT_LEN as usize || payload.len() != wire_len {
            return None;
        }
        let mut buf = [0u8; MAX_CONTEXT_LEN as usize];
        buf[..payload.len()].copy_from_slice(payload);
        Some(UdpCandidate {
            frame,
            ts_ns,
            src,
            dst,
            ip_id,
            len: payload.len() as u8,
            payload: buf,
        })
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// An ICMP destination-unreachable error quoting a UDP datagram.
#[derive(Debug, Clone)]
pub(super) struct IcmpCandidate {
    pub frame: u64,
    pub ts_ns: i64,
    pub from: IpAddr,
    pub v6: bool,
    pub code: u8,
    pub quoted: QuotedDatagram,
}

/// Where and when each capture of a packet was made, as the report lists it.
pub(super) fn seen_at(sightings: impl Iterator<Item = (u64, i64)>) -> Vec<SeenAt> {
    let mut seen: Vec<SeenAt> = Vec::new();
    let mut sorted: Vec<(u64, i64)> = sightings.collect();
    sorted.sort_by_key(|&(frame, ts)| (ts, frame));
    for (frame, ts) in sorted {
        seen.push(SeenAt {
            input: frame_input(frame),
            frame: frame_number(frame),
            time: format_time(ts),
        });
    }
    seen
}

/// Whether a datagram from the server is addressed to registration `r` of `client`, which
/// lasts until `ended_ns` (an unregistration) when given.
fn covers(r: &RegistrationFacts, d: &UdpCandidate, client: IpAddr, ended_ns: Option<i64>) -> bool {
    if d.ts_ns < r.request_ts_ns || ended_ns.is_some_and(|end| d.ts_ns > end) {
        return false;
    }
    match &r.request {
        RequestFacts::Decoded(q) => q.callback.socket_addr() == Some(d.dst),
        RequestFacts::Encrypted => {
            let fits = emsmdb::sealed_context_len_range(r.stub_len)
                .is_none_or(|(lo, hi)| (lo..=hi).contains(&usize::from(d.len)));
            d.dst.ip() == client && fits
        }
        RequestFacts::Undecodable(_) => d.dst.ip() == client,
    }
}

/// What the client did after a datagram at `ts_ns`, given its calls sorted by request time
/// and the time of the capture's last frame: the reacting call and its delay, or why there
/// is none.
fn reaction(
    ts_ns: i64,
    calls: &[ClientCall],
    capture_end_ns: i64,
) -> (Reaction, Option<(u64, i64)>) {
    let first_after = calls.partition_point(|c| c.ts_ns < ts_ns);
    // A call in flight when the datagram came holds the client's reaction back until its
    // response.
    let busy_until = calls[..first_after]
        .iter()
        .rev()
        .take(IN_FLIGHT_LOOKBACK)
        .filter_map(|c| c.response_ts_ns)
        .filter(|&end| end >= ts_ns)
        .max()
        .unwrap_or(ts_ns);
    let window_end = busy_until.saturating_add(REACTION_WINDOW_NS);
    match calls.get(first_after) {
        Some(c) if c.ts_ns <= window_end => (
            Reaction::Reacted,
            Some((c.frame, c.ts_ns.saturating_sub(ts_ns))),
        ),
        _ if capture_end_ns < window_end => (Reaction::CaptureEnded, None),
        None => (Reaction::ClientSilent, None),
        Some(_) => (Reaction::NoReaction, None),
    }
}

/// Each datagram as the report lists it: the registration it answers (the latest one
/// covering it; `registrations` sorted by time, with when each ended), whether its payload
/// is the registered context, and what the client did after it.
pub(super) fn outcomes(
    datagrams: &[UdpCandidate],
    (registrations, ends): (&[RegistrationFacts], &[Option<i64>]),
    client: IpAddr,
    calls: &[ClientCall],
    (capture_end_ns, sightings): (i64, &Sightings),
) -> Vec<Datagram> {
    datagrams
        .iter()
        .map(|d| {
            let reg = registrations
                .iter()
                .zip(ends)
                .rev()
                .find(|(r, end)| covers(r, d, client, **end))
                .map(|(r, _)| r);
            let matches_context = reg
                .and_then(RegistrationFacts::decoded)
                .map(|r| r.context == d.payload());
            let (reaction, reacting) = if reg.is_none() && !registrations.is_empty() {
                (Reaction::Unregistered, None)
            } else if matches_context == Some(false) {
                (Reaction::Ignored, None)
            } else {
                reaction(d.ts_ns, calls, capture_end_ns)
            };
            let input = frame_input(d.frame);
            Datagram {
                input,
                frame: frame_number(d.frame),
                time: format_time(d.ts_ns),
                from: emsmdb::endpoint(d.src.ip(), d.src.port()),
                to: emsmdb::endpoint(d.dst.ip(), d.dst.port()),
                len: d.payload().len(),
                matches_context,
                reaction,
                reaction_frame: reacting.map(|(frame, _)| frame_number(frame)),
                reaction_input: reacting.and_then(|(frame, _)| other_input(frame, input)),
                reaction_delay_ms: reacting.map(|(_, ns)| ns as f64 / 1e6),
                seen_at: seen_at(sightings.of(d.frame, d.ts_ns)),
            }
        })
        .collect()
}

/// The ICMP errors quoting a datagram from `server` to `client`, or to a callback address
/// the client registered (which differs behind NAT), each with the datagram it quotes.
pub(super) fn quoting_errors(
    icmp: &[IcmpCandidate],
    (client, server): (IpAddr, IpAddr),
    registrations: &[RegistrationFacts],
    (datagrams, sightings): (&[UdpCandidate], &Sightings),
) -> Vec<IcmpError> {
    let callback_ips: BTreeSet<IpAddr> = registrations
        .iter()
        .filter_map(|r| r.decoded()?.callback.socket_addr())
        .map(|a| a.ip())
        .collect();
    icmp.iter()
        .filter(|e| {
            e.quoted.src == server
                && (e.quoted.dst == client || callback_ips.contains(&e.quoted.dst))
        })
        .map(|e| (e, quoted_datagram(e, datagrams)))
        .map(|(e, quoted)| IcmpError {
            input: frame_input(e.frame),
            frame: frame_number(e.frame),
            datagram_frame: quoted.map(|d| frame_number(d.frame)),
            datagram_input: quoted.and_then(|d| other_input(d.frame, frame_input(e.frame))),
            time: format_time(e.ts_ns),
            from: e.from.to_string(),
            protocol: if e.v6 { "icmpv6" } else { "icmp" },
            code: e.code,
            code_name: icmp_code_name(e.v6, e.code),
            seen_at: seen_at(sightings.of(e.frame, e.ts_ns)),
        })
        .collect()
}

/// The input of frame reference `frame` when it is not `input`.
pub(super) fn other_input(frame: u64, input: usize) -> Option<usize> {
    Some(frame_input(frame)).filter(|&i| i != input)
}

/// The datagram an ICMP error quotes: the last one before it to the quoted callback port
/// (and from the quoted source port, when quoted).
fn quoted_datagram<'a>(
    e: &IcmpCandidate,
    datagrams: &'a [UdpCandidate],
) -> Option<&'a UdpCandidate> {
    datagrams.iter().rev().find(|d| {
        d.ts_ns <= e.ts_ns
            && Some(d.dst.port()) == e.quoted.dst_port
            && e.quoted.src_port.is_none_or(|p| p == d.src.port())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;

    fn call(frame: u64, ts_ns: i64, response_ts_ns: Option<i64>) -> ClientCall {
        ClientCall {
            key: 0,
            frame,
            ts_ns,
            response_ts_ns,
            rop: true,
            logon: false,
        }
    }

    #[test]
    fn a_call_within_the_window_is_the_reaction() {
        let calls = [call(1, 0, Some(5 * MS)), call(7, 100 * S + 40 * MS, None)];
        assert_eq!(
            reaction(100 * S, &calls, 500 * S),
            (Reaction::Reacted, Some((7, 40 * MS)))
        );
    }

    #[test]
    fn a_poll_a_minute_later_is_not_a_reaction_but_shows_the_client_alive() {
        let calls = [call(1, 0, Some(5 * MS)), call(9, 55 * S, Some(56 * S))];
        assert_eq!(
            reaction(10 * S, &calls, 500 * S),
            (Reaction::NoReaction, None)
        );
        // Nothing after the datagram: the client went silent.
        assert_eq!(
            reaction(60 * S, &calls, 500 * S),
            (Reaction::ClientSilent, None)
        );
        // The capture ended before the window closed: neither way.
        assert_eq!(
            reaction(60 * S, &calls, 61 * S),
            (Reaction::CaptureEnded, None)
        );
    }

    #[test]
    fn a_call_in_flight_holds_the_reaction_back() {
        // A 10-second call started before the datagram; the client reacts 300 ms after its
        // response, 9.3 s after the datagram.
        let calls = [call(3, 0, Some(10 * S)), call(8, 10 * S + 300 * MS, None)];
        assert_eq!(
            reaction(S, &calls, 500 * S),
            (Reaction::Reacted, Some((8, 9 * S + 300 * MS)))
        );
    }
}
