//! Correlation: from EMSMDB facts, UDP datagrams and ICMP errors to one judged [`Session`]
//! per (client IP, server IP).
//!
//! The rules follow MS-OXCNOTIF §3.1.5.4 / §3.2.5.4 (protocol.md §4, §6, §7): the server sends
//! a datagram holding exactly `rgbContext` to the registered callback; the client ignores a
//! payload that differs, reacts with an EMSMDB call, and keeps polling (about once a minute)
//! while push does not work. Knowledge arrives late (a datagram can precede the bind that
//! tells us its sender is an Exchange server), so small datagrams and ICMP errors wait in
//! bounded pools and everything is judged at [`Correlator::finish`].

use crate::capture::Warning;
use crate::decode::QuotedDatagram;
use crate::emsmdb::{self, CallbackAddress, RegisterPushRequest, MAX_CONTEXT_LEN};
use crate::report::{
    format_time, Datagram, Evidence, IcmpError, Polling, Registration, Session, Verdict,
};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// A client EMSMDB call within this long after a datagram counts as the client's reaction.
const REACTION_WINDOW_NS: i64 = 5_000_000_000;
const NS_PER_S: f64 = 1e9;

/// Caps that keep the correlator's memory bounded whatever the capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelateLimits {
    /// Small datagrams from senders not (yet) known as EMSMDB servers kept for later
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
    /// Client calls kept over all sessions together (a frame number and a time each;
    /// default 65,536).
    pub max_calls_total: usize,
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
        }
    }
}

/// What the request of an `EcRRegisterPushNotification` call showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFacts {
    /// The stub decoded.
    Decoded(RegisterPushRequest),
    /// The stub is sealed (packet privacy); only its plaintext length is known.
    Encrypted,
    /// The stub did not fit the layout (cut, gap, fragment missing): why.
    Undecodable(String),
}

/// What the response of an `EcRRegisterPushNotification` call showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFacts {
    /// The return code.
    Status(u32),
    /// A DCE/RPC fault with this status.
    Fault(u32),
    /// A sealed response (no fault): the return code is unreadable.
    Encrypted,
    /// The response stub did not fit the layout: why.
    Undecodable(String),
    /// No response was captured.
    Missing,
}

/// One registration call as the DCE/RPC layer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFacts {
    /// Frame completing the request.
    pub request_frame: u64,
    /// Request time.
    pub request_ts_ns: i64,
    /// Frame completing the response or fault.
    pub response_frame: Option<u64>,
    /// Plaintext request stub length.
    pub stub_len: usize,
    /// The request.
    pub request: RequestFacts,
    /// The response.
    pub response: ResponseFacts,
}

impl RegistrationFacts {
    fn failed(&self) -> bool {
        matches!(self.response, ResponseFacts::Fault(_))
            || matches!(self.response, ResponseFacts::Status(c) if c != 0)
    }

    fn succeeded(&self) -> bool {
        matches!(
            self.response,
            ResponseFacts::Status(0) | ResponseFacts::Encrypted
        )
    }

    fn decoded(&self) -> Option<&RegisterPushRequest> {
        match &self.request {
            RequestFacts::Decoded(r) => Some(r),
            _ => None,
        }
    }

    /// Whether a datagram from the server is addressed to this registration, which lasts
    /// until `ended_ns` (an unregistration) when given.
    fn covers(&self, d: &UdpCandidate, client: IpAddr, ended_ns: Option<i64>) -> bool {
        if d.ts_ns < self.request_ts_ns || ended_ns.is_some_and(|end| d.ts_ns > end) {
            return false;
        }
        match &self.request {
            RequestFacts::Decoded(r) => r.callback.socket_addr() == Some(d.dst),
            RequestFacts::Encrypted => {
                let fits = emsmdb::sealed_context_len_range(self.stub_len)
                    .is_none_or(|(lo, hi)| (lo..=hi).contains(&usize::from(d.len)));
                d.dst.ip() == client && fits
            }
            RequestFacts::Undecodable(_) => d.dst.ip() == client,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct UdpCandidate {
    frame: u64,
    ts_ns: i64,
    src: SocketAddr,
    dst: SocketAddr,
    len: u8,
    payload: [u8; MAX_CONTEXT_LEN as usize],
}

impl UdpCandidate {
    fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

#[derive(Debug, Clone)]
struct IcmpCandidate {
    frame: u64,
    ts_ns: i64,
    from: IpAddr,
    v6: bool,
    code: u8,
    quoted: QuotedDatagram,
}

#[derive(Debug, Clone, Copy)]
struct ClientCall {
    frame: u64,
    ts_ns: i64,
    rop: bool,
}

#[derive(Debug, Default)]
struct SessionState {
    user: Option<String>,
    poll_interval_ms: Option<u32>,
    inferred: bool,
    saw_logon: bool,
    uses_async: bool,
    connections: BTreeSet<(SocketAddr, SocketAddr)>,
    bind_rejections: Vec<(u64, String)>,
    registrations: Vec<RegistrationFacts>,
    /// `EcRUnregisterPushNotification` calls: (frame, time).
    unregistrations: Vec<(u64, i64)>,
    datagrams: Vec<UdpCandidate>,
    calls: Vec<ClientCall>,
    dropped_items: u64,
}

impl SessionState {
    fn push_bounded<T>(list: &mut Vec<T>, item: T, cap: usize, dropped: &mut u64) {
        if list.len() < cap {
            list.push(item);
        } else {
            *dropped += 1;
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

/// Builds judged sessions from the facts of one input.
#[derive(Debug)]
pub struct Correlator {
    input: usize,
    limits: CorrelateLimits,
    sessions: HashMap<(IpAddr, IpAddr), SessionState>,
    servers: HashSet<IpAddr>,
    /// Registered callback addresses → the session that registered them.
    callbacks: HashMap<SocketAddr, (IpAddr, IpAddr)>,
    pending: VecDeque<UdpCandidate>,
    icmp: Vec<IcmpCandidate>,
    last_ts_ns: i64,
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
            input,
            limits,
            sessions: HashMap::new(),
            servers: HashSet::new(),
            callbacks: HashMap::new(),
            pending: VecDeque::new(),
            icmp: Vec::new(),
            last_ts_ns: i64::MIN,
            warnings: Vec::new(),
            cap_warned: HashSet::new(),
            listed: SharedCap::new(limits.max_listed_items_total),
            kept_calls: SharedCap::new(limits.max_calls_total),
        }
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

    /// Notes the time of every frame (how long the capture ran after a registration).
    pub fn observe_time(&mut self, ts_ns: i64) {
        self.last_ts_ns = self.last_ts_ns.max(ts_ns);
    }

    /// An EMSMDB connection between `client` and `server`; `inferred` when its bind was not
    /// captured and it was recognised from its calls.
    pub fn connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        inferred: bool,
        frame: u64,
    ) {
        if let Some(s) = self.session_with_connection(client, server, frame) {
            // A session is inferred only if none of its connections showed a bind.
            s.inferred = if s.connections.len() == 1 {
                inferred
            } else {
                s.inferred && inferred
            };
        }
    }

    /// The server rejected the client's bind to EMSMDB (bind_nak or a rejected context).
    pub fn bind_rejected(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        frame: u64,
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
            SessionState::push_bounded(
                &mut s.bind_rejections,
                (frame, why),
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

    /// An `EcDoConnect(Ex)` call: the user DN and the poll interval when readable.
    pub fn logon(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        frame: u64,
        user: Option<String>,
        poll_ms: Option<u32>,
    ) {
        if let Some(s) = self.session(client, server, frame) {
            s.saw_logon = true;
            s.user = user.or(s.user.take());
            s.poll_interval_ms = poll_ms.or(s.poll_interval_ms);
        }
    }

    /// A registration call.
    pub fn registration(&mut self, client: IpAddr, server: IpAddr, facts: RegistrationFacts) {
        let cap = self.limits.max_items_per_session;
        if let Some(cb) = facts.decoded().and_then(|r| r.callback.socket_addr()) {
            if self.callbacks.len() < self.limits.max_sessions {
                self.callbacks.insert(cb, (client, server));
            }
        }
        let frame = facts.request_frame;
        if self.session(client, server, frame).is_none() || !self.take_shared(false, frame) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&(client, server)) {
            SessionState::push_bounded(&mut s.registrations, facts, cap, &mut s.dropped_items);
        }
    }

    /// An `EcRUnregisterPushNotification` call: the registration before it ends.
    pub fn unregistration(&mut self, client: IpAddr, server: IpAddr, frame: u64, ts_ns: i64) {
        let cap = self.limits.max_items_per_session;
        if self.session(client, server, frame).is_none() || !self.take_shared(false, frame) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&(client, server)) {
            SessionState::push_bounded(
                &mut s.unregistrations,
                (frame, ts_ns),
                cap,
                &mut s.dropped_items,
            );
        }
    }

    /// Any EMSMDB request from the client (`opnum` for polling analysis).
    pub fn client_call(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        opnum: u16,
        frame: u64,
        ts_ns: i64,
    ) {
        let cap = self.limits.max_items_per_session;
        if self.session(client, server, frame).is_none() || !self.take_shared(true, frame) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&(client, server)) {
            let call = ClientCall {
                frame,
                ts_ns,
                rop: emsmdb::is_rop_call(opnum),
            };
            SessionState::push_bounded(&mut s.calls, call, cap, &mut s.dropped_items);
        }
    }

    /// The client waits for notifications through AsyncEMSMDB (`EcDoAsyncWaitEx`).
    pub fn async_wait(&mut self, client: IpAddr, server: IpAddr, frame: u64) {
        if let Some(s) = self.session(client, server, frame) {
            s.uses_async = true;
        }
    }

    /// A UDP datagram. Only payloads of 1–16 bytes can be notifications (they hold exactly
    /// `rgbContext`, at most 16 bytes); others are ignored.
    pub fn udp(
        &mut self,
        frame: u64,
        ts_ns: i64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        wire_len: usize,
    ) {
        if wire_len == 0 || wire_len > MAX_CONTEXT_LEN as usize || payload.len() != wire_len {
            return;
        }
        let mut buf = [0u8; MAX_CONTEXT_LEN as usize];
        buf[..payload.len()].copy_from_slice(payload);
        let cand = UdpCandidate {
            frame,
            ts_ns,
            src,
            dst,
            len: payload.len() as u8,
            payload: buf,
        };
        if let Some(key) = self.session_key_for(&cand) {
            self.keep_datagram(key, cand);
            return;
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
            SessionState::push_bounded(&mut s.datagrams, d, cap, &mut s.dropped_items);
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

    /// Judges every session; returns them sorted by client then server, and the warnings.
    pub fn finish(mut self) -> (Vec<Session>, Vec<Warning>) {
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
        let icmp = std::mem::take(&mut self.icmp);
        let mut keys: Vec<_> = self.sessions.keys().copied().collect();
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
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
            out.push(judge(self.input, key, state, &icmp, self.last_ts_ns));
        }
        (out, self.warnings)
    }
}

fn icmp_code_name(v6: bool, code: u8) -> &'static str {
    match (v6, code) {
        (false, 0) => "net unreachable",
        (false, 1) => "host unreachable",
        (false, 2) => "protocol unreachable",
        (false, 3) => "port unreachable",
        (false, 4) => "fragmentation needed",
        (false, 9) => "network administratively prohibited",
        (false, 10) => "host administratively prohibited",
        (false, 13) => "communication administratively prohibited",
        (false, _) => "destination unreachable",
        (true, 0) => "no route",
        (true, 1) => "administratively prohibited",
        (true, 3) => "address unreachable",
        (true, 4) => "port unreachable",
        (true, 5) => "source address failed policy",
        (true, 6) => "reject route",
        (true, _) => "destination unreachable",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / NS_PER_S
}

/// Median interval and whether the client's ROP calls keep a steady ~60 s rhythm.
fn polling(calls: &[ClientCall]) -> Polling {
    let times: Vec<i64> = calls.iter().filter(|c| c.rop).map(|c| c.ts_ns).collect();
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
            .filter(|&&i| i.abs_diff(m) <= 10_000_000_000)
            .count();
        intervals.len() >= 3
            && (50_000_000_000..=70_000_000_000).contains(&m)
            && near * 3 >= intervals.len() * 2
    });
    Polling {
        calls: times.len() as u64,
        median_interval_s: median.map(seconds),
        steady_one_minute: steady,
    }
}

fn judge(
    input: usize,
    (client, server): (IpAddr, IpAddr),
    mut s: SessionState,
    icmp: &[IcmpCandidate],
    last_ts_ns: i64,
) -> Session {
    // Datagrams held back until their sender was known arrive here out of capture order.
    s.datagrams.sort_by_key(|d| d.frame);
    // Searched by time below (binary search: the lists can hold thousands of items each).
    s.calls.sort_by_key(|c| c.ts_ns);
    let mut unregistrations: Vec<(i64, u64)> = s
        .unregistrations
        .iter()
        .map(|&(frame, ts)| (ts, frame))
        .collect();
    unregistrations.sort_unstable();
    // The first unregistration at or after `ts_ns`: (time, frame).
    let unregistration_after = |ts_ns: i64| {
        let i = unregistrations.partition_point(|&(ts, _)| ts < ts_ns);
        unregistrations.get(i).copied()
    };
    // When each registration ended, if it did.
    let ends: Vec<Option<i64>> = s
        .registrations
        .iter()
        .map(|r| unregistration_after(r.request_ts_ns).map(|(ts, _)| ts))
        .collect();
    let mut evidence = Vec::new();
    let mut advice = Vec::new();
    let last_reg = s.registrations.last();

    // Datagrams: which registration they answer, whether the payload is the context, and
    // whether the client reacted.
    let mut datagrams = Vec::with_capacity(s.datagrams.len());
    let mut useful = 0usize;
    let mut wrong_payload = Vec::new();
    for d in &s.datagrams {
        let reg = s
            .registrations
            .iter()
            .zip(&ends)
            .rev()
            .find(|(r, end)| r.covers(d, client, **end))
            .map(|(r, _)| r);
        let matches_context = reg
            .and_then(|r| r.decoded())
            .map(|r| r.context == d.payload());
        let counts = match reg {
            Some(_) => matches_context != Some(false),
            None => s.registrations.is_empty(),
        };
        if counts {
            useful += 1;
        }
        if matches_context == Some(false) {
            wrong_payload.push(d.frame);
        }
        let first_after = s.calls.partition_point(|c| c.ts_ns < d.ts_ns);
        let reaction = s
            .calls
            .get(first_after)
            .filter(|c| c.ts_ns.abs_diff(d.ts_ns) <= REACTION_WINDOW_NS as u64);
        datagrams.push(Datagram {
            frame: d.frame,
            time: format_time(d.ts_ns),
            from: emsmdb::endpoint(d.src.ip(), d.src.port()),
            to: emsmdb::endpoint(d.dst.ip(), d.dst.port()),
            len: d.payload().len(),
            matches_context,
            reaction_frame: reaction.map(|c| c.frame),
        });
    }

    // ICMP errors quoting a datagram from this server to this client (or to a callback it
    // registered, which differs behind NAT).
    let callback_ips: HashSet<IpAddr> = s
        .registrations
        .iter()
        .filter_map(|r| r.decoded()?.callback.socket_addr())
        .map(|a| a.ip())
        .collect();
    let mut icmp_errors = Vec::new();
    for e in icmp.iter().filter(|e| {
        e.quoted.src == server && (e.quoted.dst == client || callback_ips.contains(&e.quoted.dst))
    }) {
        let datagram = s.datagrams.iter().rev().find(|d| {
            d.ts_ns <= e.ts_ns
                && Some(d.dst.port()) == e.quoted.dst_port
                && e.quoted.src_port.is_none_or(|p| p == d.src.port())
        });
        icmp_errors.push(IcmpError {
            frame: e.frame,
            datagram_frame: datagram.map(|d| d.frame),
            time: format_time(e.ts_ns),
            from: e.from.to_string(),
            protocol: if e.v6 { "icmpv6" } else { "icmp" },
            code: e.code,
            code_name: icmp_code_name(e.v6, e.code),
        });
    }

    let registrations: Vec<Registration> =
        s.registrations.iter().map(registration_report).collect();
    let polling = polling(&s.calls);
    let mismatch = last_reg
        .and_then(|r| r.decoded())
        .and_then(|r| r.callback.socket_addr())
        .filter(|a| a.ip() != client);

    for r in &s.registrations {
        evidence.push(Evidence {
            frames: reg_frames(r),
            text: describe_registration(r),
        });
    }
    for (frame, why) in &s.bind_rejections {
        evidence.push(Evidence {
            frames: vec![*frame],
            text: format!("the server rejected the bind to EMSMDB: {why}"),
        });
    }

    let verdict = if !icmp_errors.is_empty() {
        let first = &icmp_errors[0];
        evidence.push(Evidence {
            frames: icmp_errors.iter().flat_map(|e| [e.datagram_frame, Some(e.frame)]).flatten().collect(),
            text: format!(
                "{} ICMP destination-unreachable error(s) answer the notification datagrams ({} from {})",
                icmp_errors.len(),
                first.code_name,
                first.from
            ),
        });
        advice.push(format!(
            "UDP from {server} to the client's callback port is rejected ({} from {}). Allow UDP from the Exchange server to the client (ports 1024 and above) on the client's host firewall and on routers/firewalls between them.",
            first.code_name, first.from
        ));
        Verdict::Blocked
    } else if last_reg.is_some_and(RegistrationFacts::failed)
        || (s.registrations.is_empty() && !s.bind_rejections.is_empty())
    {
        advice.push(refusal_advice(last_reg));
        Verdict::Refused
    } else if let Some(cb) = mismatch {
        evidence.push(Evidence {
            frames: last_reg.map(reg_frames).unwrap_or_default(),
            text: format!(
                "the client registered callback {} but the server sees the client as {client}",
                emsmdb::endpoint(cb.ip(), cb.port())
            ),
        });
        advice.push(format!(
            "NAT or a VPN rewrites the client's address: the server sends notifications to {}, which it cannot reach through the translation. Use a connection without NAT, RPC over HTTP, or let Outlook poll (cached mode).",
            cb.ip()
        ));
        Verdict::AddressMismatch
    } else if useful > 0 {
        let reacted = datagrams
            .iter()
            .filter(|d| d.reaction_frame.is_some())
            .count();
        evidence.push(Evidence {
            frames: datagrams.iter().map(|d| d.frame).collect(),
            text: format!(
                "{} notification datagram(s) from {server} to the client; the client reacted to {reacted} with an EMSMDB call within {} s",
                datagrams.len(),
                REACTION_WINDOW_NS / 1_000_000_000
            ),
        });
        if s.registrations.is_empty() {
            evidence.push(Evidence {
                frames: vec![],
                text:
                    "the registration was not captured (the capture began after Outlook logged on)"
                        .into(),
            });
        }
        advice.push("Push notifications reach the client; nothing to fix.".into());
        Verdict::Flowing
    } else if let Some(reg) = last_reg.filter(|r| r.succeeded()) {
        let (end, frames, until) = match unregistration_after(reg.request_ts_ns) {
            Some((ts, frame)) => (ts, vec![frame], "until the client unregistered"),
            None => (last_ts_ns, vec![], "the capture ran after the registration"),
        };
        evidence.push(Evidence {
            frames,
            text: format!(
                "no notification datagram in the {:.0} s {until}",
                seconds(end.saturating_sub(reg.request_ts_ns)).max(0.0)
            ),
        });
        advice.push("The server accepted the registration but sent no datagram. It sends one only when new mail arrives: send a test message while capturing. Exchange 2010 RTM/SP1 and 2013 and later never send UDP; Exchange 2010 SP1 RU3 and later need EnablePushNotifications=1 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem on the Client Access server.".into());
        Verdict::NoDatagram
    } else if last_reg.is_some() {
        advice.push("The registration could not be read completely (cut stub, missing response or capture gap): capture full packets (no snap length) from before Outlook starts.".into());
        Verdict::Inconclusive
    } else if s.inferred && !s.saw_logon {
        evidence.push(Evidence {
            frames: vec![],
            text:
                "the capture began after Outlook logged on: no bind, logon or registration is in it"
                    .into(),
        });
        advice.push(
            "Start the capture before Outlook starts so the logon and registration are captured."
                .into(),
        );
        Verdict::Inconclusive
    } else {
        evidence.push(Evidence {
            frames: vec![],
            text: "the client logged on but never called EcRRegisterPushNotification".into(),
        });
        if s.uses_async {
            advice.push("The client did not ask for UDP notifications because it waits for them through AsyncEMSMDB (EcDoAsyncWaitEx, Outlook 2007 and later with Exchange 2007 and later): new mail is announced without UDP. If mail still arrives late, look at whether the EcDoAsyncWaitEx calls complete promptly.".into());
        } else {
            advice.push("The client did not ask for UDP notifications. VPN clients can disable them with PR_DISABLE_WINSOCK (property 0x66180003) in the MAPI profile; Outlook 2013 and later never register and use async or HTTP notifications instead.".into());
        }
        Verdict::NotRegistered
    };

    if !wrong_payload.is_empty() {
        evidence.push(Evidence {
            frames: wrong_payload.clone(),
            text: format!("{} datagram(s) carry a payload that differs from rgbContext: the client ignores them", wrong_payload.len()),
        });
    }
    if polling.steady_one_minute {
        let frames: Vec<u64> = s
            .calls
            .iter()
            .filter(|c| c.rop)
            .take(4)
            .map(|c| c.frame)
            .collect();
        evidence.push(Evidence {
            frames,
            text: format!(
                "the client polls the server about every {:.0} s ({} calls): the fallback used when push does not work",
                polling.median_interval_s.unwrap_or_default(),
                polling.calls
            ),
        });
    }
    if s.uses_async {
        evidence.push(Evidence { frames: vec![], text: "the client waits for notifications through AsyncEMSMDB (EcDoAsyncWaitEx) instead of UDP".into() });
    }

    let mut cited: BTreeSet<u64> = evidence
        .iter()
        .flat_map(|e| e.frames.iter().copied())
        .collect();
    cited.extend(datagrams.iter().map(|d| d.frame));
    let wireshark_filter = if cited.is_empty() {
        String::new()
    } else {
        format!(
            "frame.number in {{{}}}",
            cited
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let mut connections: Vec<String> = s
        .connections
        .iter()
        .map(|(c, sv)| {
            format!(
                "{} -> {}",
                emsmdb::endpoint(c.ip(), c.port()),
                emsmdb::endpoint(sv.ip(), sv.port())
            )
        })
        .collect();
    connections.dedup();

    Session {
        client: client.to_string(),
        server: server.to_string(),
        input,
        verdict,
        user: s.user,
        inferred: s.inferred,
        connections,
        registrations,
        datagrams,
        icmp_errors,
        polling,
        poll_interval_ms: s.poll_interval_ms,
        uses_async_notifications: s.uses_async,
        evidence,
        advice,
        wireshark_filter,
    }
}

fn reg_frames(r: &RegistrationFacts) -> Vec<u64> {
    std::iter::once(r.request_frame)
        .chain(r.response_frame)
        .collect()
}

fn describe_registration(r: &RegistrationFacts) -> String {
    let what = match &r.request {
        RequestFacts::Decoded(q) => format!(
            "registration for callback {} (context {})",
            q.callback,
            hex(&q.context)
        ),
        RequestFacts::Encrypted => format!(
            "sealed registration ({} plaintext stub bytes; parameters unreadable)",
            r.stub_len
        ),
        RequestFacts::Undecodable(e) => {
            format!("registration whose stub could not be decoded ({e})")
        }
    };
    let outcome = match &r.response {
        ResponseFacts::Status(0) => "succeeded (ecNone)".to_string(),
        ResponseFacts::Status(c) => format!(
            "failed with 0x{c:08X} {}",
            emsmdb::return_code_name(*c).unwrap_or("")
        ),
        ResponseFacts::Fault(f) => format!("faulted with DCE/RPC status 0x{f:08X}"),
        ResponseFacts::Encrypted => "answered without a fault (return code sealed)".into(),
        ResponseFacts::Undecodable(e) => {
            format!("answered, but the response could not be decoded ({e})")
        }
        ResponseFacts::Missing => "has no captured response".into(),
    };
    format!("{what} {}", outcome.trim_end())
}

fn refusal_advice(last: Option<&RegistrationFacts>) -> String {
    match last.map(|r| &r.response) {
        Some(ResponseFacts::Status(0x8004_0102)) => "The server refused push registration with ecNotSupported (0x80040102). Exchange 2010 RTM/SP1 and 2013 and later always do; Exchange 2010 SP1 RU3 and later register only with EnablePushNotifications=1 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem. On Exchange 2000/2003 the server cannot register the client when a Winsock transport (HKLM\\SYSTEM\\CurrentControlSet\\Services\\Winsock\\Parameters\\Transports) has no matching service key: list the transports with EnumProt and remove the stale ones. Until then Outlook polls about once a minute.".into(),
        Some(ResponseFacts::Fault(_)) => "The server faulted the registration call: check the Exchange server's event log and version; Outlook falls back to polling about once a minute.".into(),
        Some(ResponseFacts::Status(_)) => "The server refused the registration (see the return code): the callback address or context may be invalid for it. Outlook falls back to polling about once a minute.".into(),
        _ => "The server rejected the client's bind to the EMSMDB interface: check the server's RPC configuration and authentication.".into(),
    }
}

fn registration_report(r: &RegistrationFacts) -> Registration {
    let decoded = r.decoded();
    let (status, fault) = match r.response {
        ResponseFacts::Status(c) => (Some(c), None),
        ResponseFacts::Fault(f) => (None, Some(f)),
        _ => (None, None),
    };
    let decode_error = match (&r.request, &r.response) {
        (RequestFacts::Undecodable(e), _) | (_, ResponseFacts::Undecodable(e)) => Some(e.clone()),
        _ => None,
    };
    Registration {
        request_frame: r.request_frame,
        response_frame: r.response_frame,
        time: format_time(r.request_ts_ns),
        callback: decoded.and_then(|q| match &q.callback {
            CallbackAddress::Inet(_) => Some(q.callback.to_string()),
            CallbackAddress::Unknown { .. } => None,
        }),
        context: decoded.map(|q| hex(&q.context)),
        status,
        status_name: status
            .and_then(emsmdb::return_code_name)
            .map(str::to_string),
        fault,
        encrypted: matches!(r.request, RequestFacts::Encrypted),
        stub_len: r.stub_len,
        decode_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn request(callback: &str, context: &[u8]) -> RequestFacts {
        RequestFacts::Decoded(RegisterPushRequest {
            handle: [0; 20],
            context: context.to_vec(),
            advise_bits: u32::MAX,
            callback: CallbackAddress::Inet(sa(callback)),
            anomalies: vec![],
        })
    }

    fn reg(frame: u64, ts: i64, req: RequestFacts, resp: ResponseFacts) -> RegistrationFacts {
        RegistrationFacts {
            request_frame: frame,
            request_ts_ns: ts,
            response_frame: Some(frame + 1),
            stub_len: 66,
            request: req,
            response: resp,
        }
    }

    /// A logged-on client 10.0.0.21 talking to server 10.0.0.5.
    fn base() -> Correlator {
        let mut c = Correlator::new(0, CorrelateLimits::default());
        c.connection(sa("10.0.0.21:1070"), sa("10.0.0.5:1032"), false, 10);
        c.logon(
            ip("10.0.0.21"),
            ip("10.0.0.5"),
            12,
            Some("/o=Contoso/cn=jdoe".into()),
            Some(60_000),
        );
        c
    }

    /// [`base`] plus a registration (frames 40/41, at 10 s) of `callback` with `context`.
    fn registered(callback: &str, context: &[u8], response: ResponseFacts) -> Correlator {
        let mut c = base();
        let facts = reg(40, 10 * S, request(callback, context), response);
        c.registration(ip("10.0.0.21"), ip("10.0.0.5"), facts);
        c
    }

    /// A datagram from the server's port 3105 to `to`.
    fn datagram(c: &mut Correlator, frame: u64, ts: i64, to: &str, payload: &[u8]) {
        c.udp(
            frame,
            ts,
            sa("10.0.0.5:3105"),
            sa(to),
            payload,
            payload.len(),
        );
    }

    fn only(c: Correlator) -> Session {
        let (mut sessions, _) = c.finish();
        assert_eq!(sessions.len(), 1);
        sessions.remove(0)
    }

    #[test]
    fn matching_datagram_with_reaction_is_flowing() {
        let mut c = registered("10.0.0.21:1088", b"ctx12345", ResponseFacts::Status(0));
        datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"ctx12345");
        c.client_call(ip("10.0.0.21"), ip("10.0.0.5"), 11, 52, 100 * S + S / 10);
        let s = only(c);
        assert_eq!(s.verdict, Verdict::Flowing);
        assert_eq!(s.user.as_deref(), Some("/o=Contoso/cn=jdoe"));
        assert_eq!(s.datagrams[0].matches_context, Some(true));
        assert_eq!(s.datagrams[0].reaction_frame, Some(52));
        assert_eq!(
            s.registrations[0].callback.as_deref(),
            Some("10.0.0.21:1088")
        );
        assert_eq!(
            s.registrations[0].context.as_deref(),
            Some("6374783132333435")
        );
        assert_eq!(s.wireshark_filter, "frame.number in {40 41 50}");
    }

    #[test]
    fn icmp_quoting_the_datagram_is_blocked() {
        let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
        datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"abcd");
        let quoted = QuotedDatagram {
            src: ip("10.0.0.5"),
            dst: ip("10.0.0.21"),
            protocol: 17,
            src_port: Some(3105),
            dst_port: Some(1088),
            ip_id: Some(7),
            payload_prefix: b"abcd".to_vec(),
        };
        c.icmp_unreachable(51, 100 * S + 1000, ip("10.0.0.21"), false, 3, &quoted);
        let s = only(c);
        assert_eq!(s.verdict, Verdict::Blocked);
        assert_eq!(s.icmp_errors[0].datagram_frame, Some(50));
        assert_eq!(s.icmp_errors[0].code_name, "port unreachable");
    }

    #[test]
    fn not_supported_is_refused_with_advice() {
        let mut c = registered(
            "10.0.0.21:1088",
            b"abcd",
            ResponseFacts::Status(0x8004_0102),
        );
        for i in 0..5 {
            c.client_call(
                ip("10.0.0.21"),
                ip("10.0.0.5"),
                11,
                60 + i,
                (20 + 60 * i as i64) * S,
            );
        }
        let s = only(c);
        assert_eq!(s.verdict, Verdict::Refused);
        assert!(s.advice[0].contains("EnumProt"));
        assert!(s.polling.steady_one_minute);
        assert_eq!(
            s.registrations[0].status_name.as_deref(),
            Some("ecNotSupported (MAPI_E_NO_SUPPORT)")
        );
    }

    #[test]
    fn nat_callback_is_address_mismatch() {
        let c = registered("192.168.1.7:1088", b"abcd", ResponseFacts::Status(0));
        let s = only(c);
        assert_eq!(s.verdict, Verdict::AddressMismatch);
        assert!(s
            .evidence
            .iter()
            .any(|e| e.text.contains("192.168.1.7:1088")));
    }

    #[test]
    fn registered_without_datagram_and_wrong_payload() {
        let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
        datagram(&mut c, 50, 70 * S, "10.0.0.21:1088", b"zzzz");
        c.observe_time(310 * S);
        let s = only(c);
        assert_eq!(s.verdict, Verdict::NoDatagram);
        assert_eq!(s.datagrams[0].matches_context, Some(false));
        assert!(s.evidence.iter().any(|e| e.text.contains("300 s")));
    }

    #[test]
    fn logon_without_registration_is_not_registered_but_mid_session_is_inconclusive() {
        let s = only(base());
        assert_eq!(s.verdict, Verdict::NotRegistered);
        let mut c = Correlator::new(0, CorrelateLimits::default());
        c.connection(sa("10.0.0.21:1070"), sa("10.0.0.5:1032"), true, 3);
        c.client_call(ip("10.0.0.21"), ip("10.0.0.5"), 11, 3, S);
        assert_eq!(only(c).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn datagram_before_the_server_is_known_still_forms_a_session() {
        let mut c = Correlator::new(0, CorrelateLimits::default());
        datagram(&mut c, 5, S, "10.0.0.30:1090", b"12345678");
        // Another client's connection later reveals 10.0.0.5 as an EMSMDB server.
        c.connection(sa("10.0.0.21:1070"), sa("10.0.0.5:1032"), true, 9);
        let (sessions, _) = c.finish();
        let s = sessions.iter().find(|s| s.client == "10.0.0.30").unwrap();
        assert_eq!(s.verdict, Verdict::Flowing);
        assert_eq!(s.datagrams[0].matches_context, None);
    }

    #[test]
    fn sealed_registration_matches_by_client_ip_and_length() {
        let mut c = base();
        let mut r = reg(
            40,
            10 * S,
            RequestFacts::Encrypted,
            ResponseFacts::Encrypted,
        );
        r.stub_len = 66;
        c.registration(ip("10.0.0.21"), ip("10.0.0.5"), r);
        datagram(&mut c, 50, 20 * S, "10.0.0.21:2000", b"12345678");
        let s = only(c);
        assert_eq!(s.verdict, Verdict::Flowing);
        assert!(s.registrations[0].encrypted);
        assert_eq!(s.registrations[0].callback, None);
    }

    #[test]
    fn unregistration_ends_the_registration() {
        let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
        c.unregistration(ip("10.0.0.21"), ip("10.0.0.5"), 60, 40 * S);
        datagram(&mut c, 70, 100 * S, "10.0.0.21:1088", b"abcd");
        c.observe_time(400 * S);
        let s = only(c);
        // The datagram came after the client unregistered: it answers no registration.
        assert_eq!(s.datagrams[0].matches_context, None);
        assert_eq!(s.verdict, Verdict::NoDatagram);
        let note = s
            .evidence
            .iter()
            .find(|e| e.text.contains("until the client unregistered"))
            .unwrap();
        assert_eq!(note.frames, [60]);
        assert!(note.text.contains(" 30 s "), "{}", note.text);
    }

    #[test]
    fn pools_are_bounded_and_say_so() {
        let limits = CorrelateLimits {
            max_pending_datagrams: 4,
            ..CorrelateLimits::default()
        };
        let mut c = Correlator::new(0, limits);
        for i in 0..100u16 {
            c.udp(
                u64::from(i),
                0,
                sa("10.9.9.9:53"),
                SocketAddr::from(([10, 0, 1, (i % 200) as u8], 1000 + i)),
                b"x",
                1,
            );
        }
        assert_eq!(c.pending.len(), 4);
        let (_, warnings) = c.finish();
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.code == "datagram_pool_cap")
                .count(),
            1
        );
    }

    /// Found by the analyzer property test (arbitrary capture times): the reaction window
    /// and the polling intervals subtracted times and overflowed on extreme ones.
    #[test]
    fn extreme_capture_times_do_not_overflow() {
        let mut c = base();
        c.udp(
            50,
            i64::MIN,
            sa("10.0.0.5:3105"),
            sa("10.0.0.21:1088"),
            b"ctx12345",
            8,
        );
        for (frame, ts) in [(60, i64::MIN), (61, i64::MAX), (62, -1), (63, i64::MAX)] {
            c.client_call(ip("10.0.0.21"), ip("10.0.0.5"), 11, frame, ts);
        }
        let s = only(c);
        assert_eq!(s.datagrams.len(), 1);
        // Only the call at the datagram's own time is within the reaction window.
        assert_eq!(s.datagrams[0].reaction_frame, Some(60));
        assert_eq!(s.polling.calls, 4);
        assert!(!s.polling.steady_one_minute);
    }

    #[test]
    fn caps_shared_by_all_sessions_bound_what_many_sessions_keep() {
        let limits = CorrelateLimits {
            max_listed_items_total: 5,
            max_calls_total: 3,
            ..CorrelateLimits::default()
        };
        let mut c = Correlator::new(0, limits);
        // Four clients, each registering twice and making one call: 8 registrations, 4 calls.
        for n in 1..=4u8 {
            let client = IpAddr::from([10, 0, 0, 20 + n]);
            for k in 0..2u64 {
                let frame = u64::from(n) * 10 + k * 2;
                let callback = format!("{client}:3333");
                let facts = reg(
                    frame,
                    0,
                    request(&callback, b"ctx"),
                    ResponseFacts::Status(0),
                );
                c.registration(client, ip("10.0.0.5"), facts);
            }
            c.client_call(client, ip("10.0.0.5"), 11, u64::from(n) * 10 + 5, 0);
        }
        // A datagram to the first client: the registrations took every listed place.
        c.udp(99, S, sa("10.0.0.5:3105"), sa("10.0.0.21:3333"), b"ctx", 3);
        let (sessions, warnings) = c.finish();
        let kept: usize = sessions.iter().map(|s| s.registrations.len()).sum();
        assert_eq!(kept, 5);
        assert_eq!(
            sessions
                .iter()
                .map(|s| s.registrations.len())
                .collect::<Vec<_>>(),
            vec![2, 2, 1, 0],
            "the first registrations are kept, in capture order"
        );
        assert!(sessions.iter().all(|s| s.datagrams.is_empty()));
        let polled: u64 = sessions.iter().map(|s| s.polling.calls).sum();
        assert_eq!(polled, 3);
        let item_cap = warnings
            .iter()
            .find(|w| w.code == "correlation_item_cap")
            .unwrap();
        assert_eq!(
            item_cap.frame,
            Some(32),
            "the third client's second registration"
        );
        let call_cap = warnings
            .iter()
            .find(|w| w.code == "correlation_call_cap")
            .unwrap();
        assert_eq!(call_cap.frame, Some(45));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn thousands_of_registrations_unregistrations_and_datagrams_are_judged_quickly() {
        // Each datagram is matched against the registrations and their ends: with
        // unregistrations searched per pair this took minutes (cubic); now it is a sort and
        // binary searches.
        let mut c = base();
        let (client, server) = (ip("10.0.0.21"), ip("10.0.0.5"));
        let n = 3_000u64;
        for k in 0..n {
            c.unregistration(client, server, 100 + k, k as i64);
        }
        for k in 0..n {
            let facts = reg(
                10_000 + 2 * k,
                (n + k) as i64 * S,
                request("10.0.0.21:1088", &[1, 2, 3, 4]),
                ResponseFacts::Status(0),
            );
            c.registration(client, server, facts);
        }
        for k in 0..n {
            datagram(
                &mut c,
                20_000 + k,
                (3 * n + k) as i64 * S,
                "10.0.0.21:2000",
                &[9],
            );
        }
        let started = std::time::Instant::now();
        let (sessions, _) = c.finish();
        assert!(started.elapsed().as_secs() < 30);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].datagrams.len(), n as usize);
        assert_eq!(sessions[0].registrations.len(), n as usize);
    }

    #[test]
    fn unregistrations_and_bind_rejections_count_against_the_shared_cap() {
        let limits = CorrelateLimits {
            max_listed_items_total: 10,
            ..CorrelateLimits::default()
        };
        let mut c = Correlator::new(0, limits);
        let (client, server) = (sa("10.0.0.21:1070"), sa("10.0.0.5:1032"));
        for k in 0..1_000 {
            c.unregistration(client.ip(), server.ip(), k, k as i64);
            c.bind_rejected(client, server, k, "reason".into());
        }
        let (sessions, warnings) = c.finish();
        assert!(warnings.iter().any(|w| w.code == "correlation_item_cap"));
        let cited = sessions[0]
            .evidence
            .iter()
            .filter(|e| e.text.contains("rejected the bind"))
            .count();
        assert!(cited < 10, "{cited}");
    }
}
