//! What the capture shows of one client and one server: the facts kept for judging, each list
//! bounded.

use super::datagrams::{seen_at, UdpCandidate};
use super::facts::RegistrationFacts;
use crate::report::Polling;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// One EMSMDB call from the client: when it was made and when it was answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientCall {
    /// Names the call's connection and operation (a hash of the client and server endpoints
    /// and the opnum, 32 bits so the call stays 40 bytes): with the time, what tells the
    /// same call seen at two capture points.
    pub key: u32,
    /// Frame completing the request.
    pub frame: u64,
    /// Request time.
    pub ts_ns: i64,
    /// Response time, when captured.
    pub response_ts_ns: Option<i64>,
    /// A ROP call (what a polling client repeats).
    pub rop: bool,
    /// `EcDoConnect(Ex)`.
    pub logon: bool,
}

/// The server rejected a bind to EMSMDB.
#[derive(Debug, Clone)]
pub(super) struct BindRejection {
    /// The bind_nak or the answer that rejected the context.
    pub frame: u64,
    pub ts_ns: i64,
    pub why: String,
}

/// The facts of one (client IP, server IP) pair.
#[derive(Debug, Default, Clone)]
pub(super) struct SessionState {
    pub user: Option<String>,
    pub poll_interval_ms: Option<u32>,
    /// Some connection of the session showed its bind.
    pub bound: bool,
    /// A connect call was captured.
    pub saw_logon: bool,
    /// The client uses AsyncEMSMDB.
    pub uses_async: bool,
    pub connections: BTreeSet<(SocketAddr, SocketAddr)>,
    pub bind_rejections: Vec<BindRejection>,
    pub registrations: Vec<RegistrationFacts>,
    /// `EcRUnregisterPushNotification` calls: (frame, time).
    pub unregistrations: Vec<(u64, i64)>,
    pub datagrams: Vec<UdpCandidate>,
    pub calls: Vec<ClientCall>,
    /// Items not kept beyond the per-session cap.
    pub dropped_items: u64,
    /// The inputs whose frames showed the session before the captures of one fact at
    /// several views were merged (empty for one view).
    pub shown_in: BTreeSet<usize>,
}

impl SessionState {
    /// The lowest frame reference among its calls, registrations and datagrams.
    pub(super) fn earliest_frame(&self) -> Option<u64> {
        let calls = self.calls.iter().map(|c| c.frame);
        let registrations = self.registrations.iter().map(|r| r.request_frame);
        let datagrams = self.datagrams.iter().map(|d| d.frame);
        calls.chain(registrations).chain(datagrams).min()
    }
}

/// Appends `item` when `list` holds fewer than `cap`; counts it in `dropped` otherwise.
pub(super) fn push_bounded<T>(list: &mut Vec<T>, item: T, cap: usize, dropped: &mut u64) {
    if list.len() < cap {
        list.push(item);
    } else {
        *dropped += 1;
    }
}

/// The client's ROP calls: how many, their median interval, and whether they keep the
/// one-minute rhythm of a client that polls because push does not work (`calls` sorted by
/// time).
pub(super) fn polling(calls: &[ClientCall]) -> Polling {
    const NEAR_NS: u64 = 10_000_000_000;
    const MINUTE_NS: std::ops::RangeInclusive<i64> = 50_000_000_000..=70_000_000_000;
    let rop: Vec<&ClientCall> = calls.iter().filter(|c| c.rop).collect();
    let times: Vec<i64> = rop.iter().map(|c| c.ts_ns).collect();
    // Capture times are untrusted: differences saturate rather than overflow.
    let mut intervals: Vec<i64> = times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    intervals.sort_unstable();
    let median = intervals.get(intervals.len() / 2).copied();
    let steady = median.is_some_and(|m| {
        let near = intervals
            .iter()
            .filter(|&&i| i.abs_diff(m) <= NEAR_NS)
            .count();
        intervals.len() >= 3 && MINUTE_NS.contains(&m) && near * 3 >= intervals.len() * 2
    });
    Polling {
        calls: times.len() as u64,
        median_interval_s: median.map(|ns| ns as f64 / 1e9),
        steady_one_minute: steady,
        shown: seen_at(
            rop.iter()
                .take(Polling::MAX_SHOWN)
                .map(|c| (c.frame, c.ts_ns)),
        ),
    }
}
