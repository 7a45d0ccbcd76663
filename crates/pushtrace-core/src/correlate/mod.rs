//! Correlation: from Exchange store calls, UDP datagrams and ICMP errors to one judged
//! [`Session`] per (client IP, server IP).
//!
//! The rules follow MS-OXCNOTIF §3.1.5.4 / §3.2.5.4 (protocol.md §4, §6, §7): the server sends
//! a datagram holding exactly `rgbContext` to the registered callback; the client ignores a
//! payload that differs, reacts with an EMSMDB call, and keeps polling (about once a minute)
//! while push does not work.
//!
//! Facts first, judgement last: the [`Correlator`] only collects facts, in bounded lists, and
//! everything is judged at [`Correlator::finish`], so knowledge that arrives late (a datagram
//! before the bind that shows its sender is an Exchange server) applies to the whole
//! capture. The concerns are split:
//!
//! * [`facts`]: what the engine hands over ([`StoreCall`] and its details);
//! * `session`: what is kept per client and server, and the polling rhythm;
//! * `datagrams`: which registration a datagram answers, the client's reaction, ICMP quotes;
//! * `judge`: the verdict, decided on typed findings;
//! * `advice`: every sentence the report shows, rendered from those findings;
//! * `views`: the facts of several capture points of one trace, merged.

mod advice;
mod datagrams;
pub mod facts;
mod judge;
mod session;
#[cfg(test)]
mod tests;
mod views;

pub use datagrams::REACTION_WINDOW_NS;
pub use facts::{CallDetail, RegistrationFacts, RequestFacts, ResponseFacts, StoreCall};
pub use views::MAX_VIEWS;

use crate::capture::Warning;
use crate::decode::QuotedDatagram;
use crate::report::{CapturePoint, Session};
use crate::vantage::HostTable;
use datagrams::{IcmpCandidate, UdpCandidate};
use session::{push_bounded, BindRejection, ClientCall, SessionState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use views::{identity, ViewSpan};

/// Caps that keep the correlator's memory bounded whatever the capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelateLimits {
    /// Small datagrams from senders not (yet) known as Exchange servers kept for later
    /// (default 16,384).
    pub max_pending_datagrams: usize,
    /// ICMP errors kept for matching at the end (default 16,384).
    pub max_icmp_errors: usize,
    /// Sessions (client, server pairs; default 4,096). Each is judged and listed in the
    /// report, which takes about 1.5 KB of memory per session.
    pub max_sessions: usize,
    /// Datagrams, registrations and client calls kept per session (each; default 16,384).
    pub max_items_per_session: usize,
    /// Registrations, unregistrations, datagrams, connections and bind rejections kept over
    /// all sessions together (default 32,768; each is listed or cited in the report, so this
    /// also bounds the report's size).
    pub max_listed_items_total: usize,
    /// Client calls kept over all sessions together (a frame number and two times each;
    /// default 65,536).
    pub max_calls_total: usize,
    /// Calls of unknown interface kept until the capture shows whether their endpoint serves
    /// the Exchange store (default 32,768; see the engine's identification).
    pub max_unclassified_calls: usize,
}

impl Default for CorrelateLimits {
    fn default() -> Self {
        CorrelateLimits {
            max_pending_datagrams: 16_384,
            max_icmp_errors: 16_384,
            max_sessions: 4_096,
            max_items_per_session: 16_384,
            max_listed_items_total: 32_768,
            max_calls_total: 65_536,
            max_unclassified_calls: 32_768,
        }
    }
}

/// Items kept against a cap shared by all sessions.
#[derive(Debug, Clone, Copy)]
struct SharedCap {
    kept: usize,
    cap: usize,
}

impl SharedCap {
    fn new(cap: usize) -> Self {
        SharedCap { kept: 0, cap }
    }

    /// Takes one place; false when the cap is reached.
    fn take(&mut self) -> bool {
        let room = self.kept < self.cap;
        if room {
            self.kept += 1;
        }
        room
    }
}

/// What [`Correlator::finish`] returns.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// The judged sessions, sorted by client then server.
    pub sessions: Vec<Session>,
    /// Where each view was captured, in the order of the host tables given.
    pub capture_points: Vec<CapturePoint>,
    /// Caps that bit.
    pub warnings: Vec<Warning>,
}

/// Builds judged sessions from the facts of one input, a chain of inputs, or several views
/// of one trace ([`Correlator::absorb`]).
#[derive(Debug)]
pub struct Correlator {
    limits: CorrelateLimits,
    /// The capture points whose facts are here: this correlator's own first.
    views: Vec<ViewSpan>,
    /// How far apart two captures of one packet at two views may lie on the reference clock.
    tolerance_ns: i64,
    sessions: HashMap<(IpAddr, IpAddr), SessionState>,
    servers: HashSet<IpAddr>,
    /// Registered callback addresses → the session that registered them.
    callbacks: HashMap<SocketAddr, (IpAddr, IpAddr)>,
    pending: VecDeque<UdpCandidate>,
    icmp: Vec<IcmpCandidate>,
    /// The other captures of datagrams and ICMP errors seen at several views.
    sightings: views::Sightings,
    warnings: Vec<Warning>,
    cap_warned: HashSet<&'static str>,
    /// Registrations and datagrams kept in all sessions.
    listed: SharedCap,
    /// Client calls kept in all sessions.
    kept_calls: SharedCap,
}

impl Correlator {
    /// A correlator for input number `input` of the report.
    pub fn new(input: usize, limits: CorrelateLimits) -> Self {
        Correlator {
            limits,
            views: vec![ViewSpan::new(input)],
            tolerance_ns: 0,
            sessions: HashMap::new(),
            servers: HashSet::new(),
            callbacks: HashMap::new(),
            pending: VecDeque::new(),
            icmp: Vec::new(),
            sightings: Default::default(),
            warnings: Vec::new(),
            cap_warned: HashSet::new(),
            listed: SharedCap::new(limits.max_listed_items_total),
            kept_calls: SharedCap::new(limits.max_calls_total),
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> &CorrelateLimits {
        &self.limits
    }

    /// Takes a place in a cap shared by all sessions, warning (once per cap) when there is
    /// none.
    fn take_shared(&mut self, calls: bool, frame: u64) -> bool {
        let (cap, code, what) = if calls {
            (&mut self.kept_calls, "correlation_call_cap", "client calls")
        } else {
            (
                &mut self.listed,
                "correlation_item_cap",
                "registrations, unregistrations, datagrams, connections and bind rejections",
            )
        };
        if cap.take() {
            return true;
        }
        let message = format!(
            "more than {} {what} in all sessions: later ones are not kept",
            cap.cap
        );
        self.cap_hit(code, &message, frame);
        false
    }

    /// Raises warning `code` the first time a cap bites.
    fn cap_hit(&mut self, code: &'static str, message: &str, frame: u64) {
        if self.cap_warned.insert(code) {
            self.warnings
                .push(Warning::new(code, message).at_frame(frame));
        }
    }

    fn session(&mut self, client: IpAddr, server: IpAddr, frame: u64) -> Option<&mut SessionState> {
        if !self.sessions.contains_key(&(client, server))
            && self.sessions.len() >= self.limits.max_sessions
        {
            self.cap_hit(
                "session_cap",
                "too many client/server pairs: later ones are not judged",
                frame,
            );
            return None;
        }
        self.servers.insert(server);
        Some(self.sessions.entry((client, server)).or_default())
    }

    /// The inputs of this correlator's own view (one, or the files of a chain).
    pub fn inputs(&self) -> &[usize] {
        &self.views[0].inputs
    }

    /// The capture time this correlator's own view spans (none before any frame).
    pub fn time_span(&self) -> Option<(i64, i64)> {
        let own = &self.views[0];
        (own.first_ts_ns <= own.last_ts_ns).then_some((own.first_ts_ns, own.last_ts_ns))
    }

    /// The frames from now on are those of input `input` (the next file of a chain).
    pub fn next_input(&mut self, input: usize) {
        let own = &mut self.views[0].inputs;
        if !own.contains(&input) {
            own.push(input);
        }
    }

    /// Notes the time of every frame (how long the capture ran after a registration or a
    /// datagram).
    pub fn observe_time(&mut self, ts_ns: i64) {
        let own = &mut self.views[0];
        own.first_ts_ns = own.first_ts_ns.min(ts_ns);
        own.last_ts_ns = own.last_ts_ns.max(ts_ns);
    }

    /// The time of the last frame of any view.
    fn capture_end_ns(&self) -> i64 {
        self.views
            .iter()
            .map(|v| v.last_ts_ns)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// An Exchange store connection between `client` and `server`; `inferred` when its bind
    /// was not captured and it was recognised from its calls.
    pub fn connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        inferred: bool,
        frame: u64,
    ) {
        if let Some(s) = self.session_with_connection(client, server, frame) {
            s.bound |= !inferred;
        }
    }

    /// The server rejected the client's bind to EMSMDB (bind_nak or a rejected context).
    pub fn bind_rejected(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        (frame, ts_ns): (u64, i64),
        why: String,
    ) {
        let cap = self.limits.max_items_per_session;
        if self
            .session_with_connection(client, server, frame)
            .is_none()
            || !self.take_shared(false, frame)
        {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&(client.ip(), server.ip())) {
            s.bound = true;
            push_bounded(
                &mut s.bind_rejections,
                BindRejection { frame, ts_ns, why },
                cap,
                &mut s.dropped_items,
            );
        }
    }

    /// The session of `client` and `server` (created if there is room), with the connection
    /// between them noted when it is new and the shared cap on listed items allows.
    fn session_with_connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        frame: u64,
    ) -> Option<&mut SessionState> {
        let key = (client.ip(), server.ip());
        let known = self
            .session(key.0, key.1, frame)?
            .connections
            .contains(&(client, server));
        if !known && self.take_shared(false, frame) {
            self.sessions
                .get_mut(&key)?
                .connections
                .insert((client, server));
        }
        self.sessions.get_mut(&key)
    }

    /// One call from a client to an Exchange store interface.
    pub fn store_call(&mut self, call: StoreCall) {
        let frame = call.request_frame;
        let (client, server) = (call.client.ip(), call.server.ip());
        self.connection(call.client, call.server, call.inferred, frame);
        if call.detail == CallDetail::AsyncWait {
            if let Some(s) = self.sessions.get_mut(&(client, server)) {
                s.uses_async = true;
            }
            return;
        }
        let cap = self.limits.max_items_per_session;
        let logon = matches!(call.detail, CallDetail::Logon { .. });
        if self.sessions.contains_key(&(client, server)) && self.take_shared(true, frame) {
            if let Some(s) = self.sessions.get_mut(&(client, server)) {
                let c = ClientCall {
                    key: identity((call.client, call.server, call.opnum)) as u32,
                    frame,
                    ts_ns: call.request_ts_ns,
                    response_ts_ns: call.response_ts_ns,
                    rop: crate::emsmdb::is_rop_call(call.opnum),
                    logon,
                };
                push_bounded(&mut s.calls, c, cap, &mut s.dropped_items);
            }
        }
        match call.detail {
            CallDetail::Registration(facts) => self.registration(client, server, facts),
            CallDetail::Logon {
                user,
                poll_interval_ms,
            } => {
                if let Some(s) = self.sessions.get_mut(&(client, server)) {
                    s.saw_logon = true;
                    s.user = user.or(s.user.take());
                    s.poll_interval_ms = poll_interval_ms.or(s.poll_interval_ms);
                }
            }
            CallDetail::Unregistration => {
                if self.sessions.contains_key(&(client, server)) && self.take_shared(false, frame) {
                    if let Some(s) = self.sessions.get_mut(&(client, server)) {
                        let item = (frame, call.request_ts_ns);
                        push_bounded(&mut s.unregistrations, item, cap, &mut s.dropped_items);
                    }
                }
            }
            CallDetail::AsyncConnect => {
                if let Some(s) = self.sessions.get_mut(&(client, server)) {
                    s.uses_async = true;
                }
            }
            CallDetail::AsyncWait | CallDetail::Other => {}
        }
    }

    /// A registration call.
    fn registration(&mut self, client: IpAddr, server: IpAddr, facts: RegistrationFacts) {
        let cap = self.limits.max_items_per_session;
        if let Some(cb) = facts.decoded().and_then(|r| r.callback.socket_addr()) {
            if self.callbacks.len() < self.limits.max_sessions {
                self.callbacks.insert(cb, (client, server));
            }
        }
        let frame = facts.request_frame;
        if !self.sessions.contains_key(&(client, server)) || !self.take_shared(false, frame) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&(client, server)) {
            push_bounded(&mut s.registrations, facts, cap, &mut s.dropped_items);
        }
    }

    /// A UDP datagram. Only payloads of 1–16 bytes can be notifications (they hold exactly
    /// `rgbContext`, at most 16 bytes); others are ignored. Returns whether it was kept as a
    /// candidate.
    pub fn udp(
        &mut self,
        (frame, ts_ns): (u64, i64),
        (src, dst): (SocketAddr, SocketAddr),
        ip_id: Option<u16>,
        payload: &[u8],
        wire_len: usize,
    ) -> bool {
        let Some(cand) = UdpCandidate::new((frame, ts_ns), (src, dst), ip_id, payload, wire_len)
        else {
            return false;
        };
        if let Some(key) = self.session_key_for(&cand) {
            self.keep_datagram(key, cand);
            return true;
        }
        if self.pending.len() >= self.limits.max_pending_datagrams {
            self.pending.pop_front();
            self.cap_hit(
                "datagram_pool_cap",
                "too many small UDP datagrams from hosts not known as Exchange servers: the oldest were forgotten",
                frame,
            );
        }
        self.pending.push_back(cand);
        true
    }

    /// The session a datagram belongs to: the one whose registered callback it is addressed to
    /// (NAT: not the client's own address), else the one of its destination and source;
    /// None when that session does not exist.
    fn session_key_for(&self, d: &UdpCandidate) -> Option<(IpAddr, IpAddr)> {
        let key = match self.callbacks.get(&d.dst) {
            Some(&(client, server)) if server == d.src.ip() => (client, server),
            _ => (d.dst.ip(), d.src.ip()),
        };
        self.sessions.contains_key(&key).then_some(key)
    }

    /// Keeps a datagram in an existing session, within the per-session and shared caps.
    fn keep_datagram(&mut self, key: (IpAddr, IpAddr), d: UdpCandidate) {
        if !self.take_shared(false, d.frame) {
            return;
        }
        let cap = self.limits.max_items_per_session;
        if let Some(s) = self.sessions.get_mut(&key) {
            push_bounded(&mut s.datagrams, d, cap, &mut s.dropped_items);
        }
    }

    /// An ICMP/ICMPv6 destination-unreachable error quoting a UDP datagram.
    pub fn icmp_unreachable(
        &mut self,
        frame: u64,
        ts_ns: i64,
        from: IpAddr,
        v6: bool,
        code: u8,
        quoted: &QuotedDatagram,
    ) {
        if quoted.protocol != 17 {
            return;
        }
        if self.icmp.len() >= self.limits.max_icmp_errors {
            self.cap_hit(
                "icmp_cap",
                "too many ICMP errors: later ones are not matched",
                frame,
            );
            return;
        }
        self.icmp.push(IcmpCandidate {
            frame,
            ts_ns,
            from,
            v6,
            code,
            quoted: quoted.clone(),
        });
    }

    /// Judges every session, placing each view's capture point with what its `hosts` (one
    /// table per view, this correlator's own first, then those absorbed in order) saw of
    /// their clients and servers.
    pub fn finish(mut self, hosts: &[&HostTable]) -> Correlation {
        for d in std::mem::take(&mut self.pending) {
            if !self.servers.contains(&d.src.ip()) {
                continue;
            }
            let key = match self.session_key_for(&d) {
                Some(key) => key,
                None => {
                    let key = (d.dst.ip(), d.src.ip());
                    if self.session(key.0, key.1, d.frame).is_none() {
                        continue;
                    }
                    key
                }
            };
            self.keep_datagram(key, d);
        }
        let index = views::ViewIndex::new(&self.views);
        self.merge_views(&index);
        let mut keys: Vec<_> = self.sessions.keys().copied().collect();
        keys.sort();
        let capture_points: Vec<CapturePoint> =
            hosts.iter().map(|h| h.capture_point(&keys)).collect();
        let views: Vec<judge::View<'_>> = self
            .views
            .iter()
            .enumerate()
            .map(|(i, span)| judge::View {
                span,
                vantage: capture_points.get(i).map(|p| p.vantage).unwrap_or_default(),
            })
            .collect();
        let capture_end_ns = self.capture_end_ns();
        let icmp = std::mem::take(&mut self.icmp);
        let mut sessions = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(state) = self.sessions.remove(&key) else {
                continue;
            };
            if state.dropped_items > 0 {
                self.warnings.push(Warning::new(
                    "session_item_cap",
                    format!("session {} ↔ {}: {} calls/datagrams beyond the per-session cap were not kept", key.0, key.1, state.dropped_items),
                ));
            }
            let context = judge::Context {
                capture_end_ns,
                views: &views,
                index: &index,
                sightings: &self.sightings,
                tolerance_ns: self.tolerance_ns,
                icmp: &icmp,
            };
            sessions.push(judge::judge(key, state, &context));
        }
        drop(views);
        Correlation {
            sessions,
            capture_points,
            warnings: self.warnings,
        }
    }
}
