//! The stages behind TCP reassembly: recognise what a connection carries ([`super::probe`]),
//! run one [`RpcConnection`] per DCE/RPC connection, tell which calls are Exchange store
//! calls ([`super::identify`]) and hand them to the [`Correlator`] as facts
//! ([`super::facts`]). Also keeps `pushtrace rpc`'s records ([`super::records`]).
//!
//! Each [`RpcConnection`] bounds its own memory; the budgets shared by all connections
//! ([`RpcLimits::max_pending_calls_total`], [`RpcLimits::max_held_bytes_total`]) are kept
//! here: after each feed the connection's pending calls and held bytes are charged, and the
//! connection that grew beyond a budget sheds (warnings `dcerpc_pending_call_total_cap`,
//! `dcerpc_held_bytes_total_cap`; counters `peak_pending_calls`, `peak_held_bytes`).

use super::facts::{ndr_format, store_call};
use super::identify::{ConnStore, Identified, Identifier};
use super::probe::{at_stream_start, on_smb_port, Carries, Probe, Resume};
use super::records::{bind_record, call_record, interface_name, keep_record};
use super::WarningLog;
use crate::capture::Warning;
use crate::correlate::Correlator;
use crate::dcerpc::epm::{EptMap, TowerProtocol};
use crate::dcerpc::interfaces::{ASYNC_EMSMDB_UUID, EMSMDB_UUID};
use crate::dcerpc::pdu::AckResult;
use crate::dcerpc::{BindKind, RpcCall, RpcConnection, RpcEvent, RpcLimits};
use crate::flow::{frame_input, frame_number, ConnEndpoints, ConnId, ConnIdMap, Direction};
use crate::report::{BindRecord, CallRecord, EndpointRecord};
use crate::tcp::{CloseReason, Interest, StreamSink};
use serde::Serialize;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// Counters of the DCE/RPC and EMSMDB stages.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RpcStats {
    /// TCP connections recognised as DCE/RPC.
    pub connections: u64,
    /// TCP connections judged not to carry DCE/RPC (SMB not counted).
    pub other_connections: u64,
    /// TCP connections carrying SMB (ports 139 and 445, or SMB headers): not framed as raw
    /// DCE/RPC; the named-pipe RPC inside them is not decoded.
    pub smb_connections: u64,
    /// Calls completed (answered or not).
    pub calls: u64,
    /// Call records not kept beyond the cap.
    pub call_records_dropped: u64,
    /// Bind and endpoint-mapper records not kept beyond the same cap.
    pub other_records_dropped: u64,
    /// Most calls pending over all connections at once (after each segment).
    pub peak_pending_calls: u64,
    /// Most bytes (partial PDUs and kept stubs) held over all connections at once (after
    /// each segment).
    pub peak_held_bytes: u64,
    /// Calls emitted unanswered to stay within [`RpcLimits::max_pending_calls_total`] or
    /// [`RpcLimits::max_held_bytes_total`].
    pub calls_shed: u64,
    /// Partial-PDU bytes dropped to stay within [`RpcLimits::max_held_bytes_total`].
    pub partial_pdu_bytes_shed: u64,
}

enum ConnState {
    /// No byte seen yet. (A connection found not to be DCE/RPC is removed and declined to
    /// the reassembler.)
    Fresh,
    /// Bytes seen without a captured SYN, not decided yet.
    Probing(Box<Probe>),
    /// DCE/RPC.
    Rpc(Box<RpcState>),
}

struct RpcState {
    rpc: RpcConnection,
    /// This connection's share of [`Streams::pending_calls`] and [`Streams::held_bytes`].
    charged: (usize, usize),
    /// call_id of binds/alter_contexts that proposed EMSMDB, awaiting their answer (at most
    /// [`RpcLimits::max_pending_binds`], like the connection's own list).
    emsmdb_binds: VecDeque<u32>,
    /// What the connection showed of the Exchange store.
    store: ConnStore,
}

struct Conn {
    ends: ConnEndpoints,
    state: ConnState,
}

/// The stream consumer: owns the per-connection DCE/RPC state and the correlator.
pub(super) struct Streams {
    limits: RpcLimits,
    conns: ConnIdMap<Conn>,
    events: Vec<RpcEvent>,
    /// Which calls are Exchange store calls.
    pub(super) identifier: Identifier,
    collect_calls: bool,
    pub(super) correlator: Correlator,
    pub(super) warnings: WarningLog,
    pub(super) stats: RpcStats,
    pub(super) calls: Vec<CallRecord>,
    pub(super) binds: Vec<BindRecord>,
    pub(super) endpoints: Vec<EndpointRecord>,
    /// Calls pending over all connections.
    pending_calls: usize,
    /// Bytes held over all connections ([`RpcConnection::held_bytes`]).
    held_bytes: usize,
    /// Which budget warnings were given: (pending calls, held bytes).
    budget_warned: (bool, bool),
}

impl Streams {
    pub(super) fn new(limits: RpcLimits, correlator: Correlator, collect_calls: bool) -> Self {
        Streams {
            limits,
            conns: ConnIdMap::default(),
            events: Vec::new(),
            identifier: Identifier::new(correlator.limits().max_unclassified_calls),
            collect_calls,
            correlator,
            warnings: WarningLog::default(),
            stats: RpcStats::default(),
            calls: Vec::new(),
            binds: Vec::new(),
            endpoints: Vec::new(),
            pending_calls: 0,
            held_bytes: 0,
            budget_warned: (false, false),
        }
    }

    /// Whether connection `id` was recognised as DCE/RPC.
    pub(super) fn carries_rpc(&self, id: ConnId) -> bool {
        matches!(
            self.conns.get(&id),
            Some(Conn {
                state: ConnState::Rpc(_),
                ..
            })
        )
    }

    /// The end of the input (after every connection closed): calls that waited for evidence
    /// about their endpoint are settled.
    pub(super) fn finish(&mut self) {
        self.identifier.finish(&mut self.correlator);
    }

    /// Brings connection `id`'s share of the budgets shared by all connections up to date
    /// (after it was fed in `frame`) and, while a budget is exceeded, makes it emit its oldest
    /// pending calls unanswered, then drop its partial PDUs. Only the connection that grew
    /// sheds, so the totals stay within the caps plus what one step of one connection adds.
    /// Then handles the connection's events (those of the feed first).
    fn charge(&mut self, id: ConnId, frame: u64) {
        let Some(Conn {
            state: ConnState::Rpc(state),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        let (max_calls, max_bytes) = (
            self.limits.max_pending_calls_total,
            self.limits.max_held_bytes_total,
        );
        loop {
            let now = (state.rpc.pending_calls(), state.rpc.held_bytes());
            self.pending_calls = (self.pending_calls + now.0).saturating_sub(state.charged.0);
            self.held_bytes = (self.held_bytes + now.1).saturating_sub(state.charged.1);
            state.charged = now;
            let over_calls = self.pending_calls > max_calls;
            let over_bytes = self.held_bytes > max_bytes;
            if over_calls && !self.budget_warned.0 {
                self.budget_warned.0 = true;
                self.warnings.push(
                    Warning::new(
                        "dcerpc_pending_call_total_cap",
                        format!(
                            "more than {max_calls} DCE/RPC calls pending over all connections; \
                             the connection adding one reports its oldest unanswered"
                        ),
                    )
                    .at_frame(frame),
                );
            }
            if over_bytes && !over_calls && !self.budget_warned.1 {
                self.budget_warned.1 = true;
                self.warnings.push(
                    Warning::new(
                        "dcerpc_held_bytes_total_cap",
                        format!(
                            "DCE/RPC connections held more than {max_bytes} bytes of partial \
                             PDUs and stubs; the connection that grew reports its pending \
                             calls unanswered and drops its partial PDUs"
                        ),
                    )
                    .at_frame(frame),
                );
            }
            if !(over_calls || over_bytes) {
                break;
            }
            if state.rpc.emit_oldest_pending(&mut self.events) {
                self.stats.calls_shed += 1;
                continue;
            }
            let dropped = if over_bytes {
                state.rpc.drop_partial_pdus(frame, &mut self.events)
            } else {
                0
            };
            if dropped == 0 {
                break;
            }
            self.stats.partial_pdu_bytes_shed += dropped as u64;
        }
        let stats = &mut self.stats;
        stats.peak_pending_calls = stats.peak_pending_calls.max(self.pending_calls as u64);
        stats.peak_held_bytes = stats.peak_held_bytes.max(self.held_bytes as u64);
        self.drain(id);
    }

    /// Handles the events one connection produced.
    fn drain(&mut self, id: ConnId) {
        let events = std::mem::take(&mut self.events);
        for event in &events {
            self.handle(id, event);
        }
        self.events = events;
        self.events.clear();
    }

    fn handle(&mut self, id: ConnId, event: &RpcEvent) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ends = conn.ends;
        let ConnState::Rpc(state) = &mut conn.state else {
            return;
        };
        let (client, server) = roles(&ends, event.client_direction());
        if self.collect_calls {
            if let Some(record) = bind_record(event, client, server) {
                keep_record(
                    &mut self.binds,
                    record,
                    &mut self.stats.other_records_dropped,
                );
            }
        }
        match event {
            RpcEvent::Bind {
                call_id, contexts, ..
            } => {
                if contexts.iter().any(|c| c.interface.uuid == EMSMDB_UUID) {
                    // As many as the connection keeps waiting for an answer, oldest out first.
                    if state.emsmdb_binds.len() >= self.limits.max_pending_binds.max(1) {
                        state.emsmdb_binds.pop_front();
                    }
                    state.emsmdb_binds.push_back(*call_id);
                }
            }
            RpcEvent::BindAck {
                frame,
                ts_ns,
                call_id,
                results,
                kind,
                ..
            } => {
                forget_bind(&mut state.emsmdb_binds, *call_id);
                for r in results.iter().filter(|r| {
                    r.interface
                        .is_some_and(|i| i.uuid == EMSMDB_UUID || i.uuid == ASYNC_EMSMDB_UUID)
                }) {
                    let emsmdb = r.interface.is_some_and(|i| i.uuid == EMSMDB_UUID);
                    if r.result == AckResult::Acceptance {
                        self.identifier.learn_endpoint(server);
                        self.correlator.connection(client, server, false, *frame);
                    } else if emsmdb {
                        let what = if *kind == BindKind::Bind {
                            "bind"
                        } else {
                            "alter_context"
                        };
                        let why = format!("{what} result {:?}, reason {}", r.result, r.reason);
                        self.correlator
                            .bind_rejected(client, server, (*frame, *ts_ns), why);
                    }
                }
            }
            RpcEvent::BindNak {
                frame,
                ts_ns,
                call_id,
                reason,
                ..
            } => {
                if forget_bind(&mut state.emsmdb_binds, *call_id) {
                    self.correlator.bind_rejected(
                        client,
                        server,
                        (*frame, *ts_ns),
                        format!("bind_nak, reason {reason}"),
                    );
                }
            }
            RpcEvent::Call(call) => {
                self.stats.calls += 1;
                let format = ndr_format(&call.request, call);
                let identified = self.identifier.identify(
                    &mut state.store,
                    call,
                    server,
                    format,
                    &mut self.correlator,
                );
                match identified {
                    Identified::Store {
                        interface,
                        inferred,
                    } => {
                        let fact = store_call(call, client, server, interface, inferred);
                        self.correlator.store_call(fact);
                    }
                    Identified::Later(interface) => {
                        let fact = store_call(call, client, server, interface, true);
                        let context = call.context_id;
                        self.identifier
                            .wait(&mut state.store, context, fact, &mut self.warnings);
                    }
                    Identified::Other => {}
                }
                if let Some(map) = EptMap::from_call(call) {
                    self.learn_endpoints(call, &map, server);
                }
                if self.collect_calls {
                    let inferred = matches!(identified, Identified::Store { inferred: true, .. });
                    let record = call_record(call, client, server, inferred);
                    keep_record(
                        &mut self.calls,
                        record,
                        &mut self.stats.call_records_dropped,
                    );
                }
            }
            RpcEvent::Warning(w) => self.warnings.push(w.clone()),
        }
    }

    fn learn_endpoints(&mut self, call: &RpcCall, map: &EptMap, server: SocketAddr) {
        let Some(response) = &map.response else {
            return;
        };
        for tower in &response.towers {
            let (Some(iface), Some(port)) = (tower.interface, tower.port) else {
                continue;
            };
            let ip = match tower.ipv4 {
                Some(ip) if !ip.is_unspecified() => IpAddr::V4(ip),
                _ => server.ip(),
            };
            let store = iface.uuid == EMSMDB_UUID || iface.uuid == ASYNC_EMSMDB_UUID;
            if store && tower.protocol == Some(TowerProtocol::Tcp) {
                self.identifier.learn_endpoint(SocketAddr::new(ip, port));
            }
            if !self.collect_calls {
                continue;
            }
            let frame = call.response_frame.unwrap_or(call.request_frame);
            let record = EndpointRecord {
                input: frame_input(frame),
                frame: frame_number(frame),
                server: ip.to_string(),
                interface: interface_name(&iface.uuid),
                protocol: match tower.protocol {
                    Some(TowerProtocol::Tcp) => "tcp".into(),
                    Some(TowerProtocol::Udp) => "udp".into(),
                    Some(TowerProtocol::Http) => "http".into(),
                    Some(TowerProtocol::NamedPipe) => "named pipe".into(),
                    Some(TowerProtocol::Other(p)) => format!("protocol 0x{p:02x}"),
                    None => "unknown".into(),
                },
                port,
            };
            keep_record(
                &mut self.endpoints,
                record,
                &mut self.stats.other_records_dropped,
            );
        }
    }
}

/// Starts a connection just recognised as DCE/RPC by `bytes` of direction `dir`: tells it
/// what the probe passed over in each direction, feeds the other direction's bytes the probe
/// had not judged yet, then this direction's from where `resume` says.
fn start_feeding(
    rpc: &mut RpcConnection,
    probe: Option<&Probe>,
    dir: Direction,
    bytes: &[u8],
    resume: &Resume,
    (frame, ts_ns): (u64, i64),
    events: &mut Vec<RpcEvent>,
) {
    if let Some(probe) = probe {
        let other = dir.reverse();
        rpc.passed_over(other, probe.passed_over(other));
        rpc.feed(other, probe.carried(other), frame, ts_ns, events);
    }
    rpc.passed_over(dir, resume.skipped);
    rpc.feed(dir, resume.carried.as_slice(), frame, ts_ns, events);
    let rest = bytes.get(resume.at..).unwrap_or_default();
    rpc.feed(dir, rest, frame, ts_ns, events);
}

/// Forgets a bind that was answered; true when it was one proposing EMSMDB.
fn forget_bind(binds: &mut VecDeque<u32>, call_id: u32) -> bool {
    match binds.iter().position(|&id| id == call_id) {
        Some(at) => {
            binds.remove(at);
            true
        }
        None => false,
    }
}

/// (client, server) of a connection as an event shows them (see
/// [`RpcEvent::client_direction`]); the initiator is taken for the client only for events
/// that do not tell.
fn roles(ends: &ConnEndpoints, client_dir: Option<Direction>) -> (SocketAddr, SocketAddr) {
    match client_dir {
        Some(Direction::ToInitiator) => (ends.responder, ends.initiator),
        _ => (ends.initiator, ends.responder),
    }
}

impl StreamSink for Streams {
    fn opened(&mut self, conn: ConnId, ends: &ConnEndpoints) {
        self.conns.insert(
            conn,
            Conn {
                ends: *ends,
                state: ConnState::Fresh,
            },
        );
    }

    fn data(
        &mut self,
        id: ConnId,
        dir: Direction,
        bytes: &[u8],
        frame: u64,
        ts_ns: i64,
    ) -> Interest {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Interest::Declined;
        };
        let carries = match &mut conn.state {
            ConnState::Rpc(_) => None,
            _ if on_smb_port(&conn.ends) => Some(Carries::Smb),
            ConnState::Probing(probe) => Some(probe.feed(dir, bytes)),
            // With the SYN captured, the first bytes decide.
            _ if conn.ends.saw_syn => Some(at_stream_start(bytes)),
            ConnState::Fresh => {
                let mut probe = Box::<Probe>::default();
                let carries = probe.feed(dir, bytes);
                conn.state = ConnState::Probing(probe);
                Some(carries)
            }
        };
        match carries {
            None => {}
            Some(Carries::Undecided) => return Interest::More,
            Some(Carries::DceRpc(resume)) => {
                self.stats.connections += 1;
                let mut rpc = RpcConnection::new(self.limits);
                let probe = match std::mem::replace(&mut conn.state, ConnState::Fresh) {
                    ConnState::Probing(probe) => Some(probe),
                    _ => None,
                };
                start_feeding(
                    &mut rpc,
                    probe.as_deref(),
                    dir,
                    bytes,
                    &resume,
                    (frame, ts_ns),
                    &mut self.events,
                );
                conn.state = ConnState::Rpc(Box::new(RpcState {
                    rpc,
                    charged: (0, 0),
                    emsmdb_binds: VecDeque::new(),
                    store: ConnStore::default(),
                }));
                self.charge(id, frame);
                return Interest::More;
            }
            // Not raw DCE/RPC: forget it, and let the reassembler stop following it.
            Some(carries @ (Carries::Smb | Carries::Other)) => {
                if carries == Carries::Smb {
                    self.stats.smb_connections += 1;
                } else {
                    self.stats.other_connections += 1;
                }
                self.conns.remove(&id);
                return Interest::Declined;
            }
        }
        if let ConnState::Rpc(state) = &mut conn.state {
            state.rpc.feed(dir, bytes, frame, ts_ns, &mut self.events);
            self.charge(id, frame);
        }
        Interest::More
    }

    fn gap(&mut self, id: ConnId, dir: Direction, missing: u64, frame: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match &mut conn.state {
            ConnState::Rpc(state) => {
                state.rpc.gap(dir, missing, frame, &mut self.events);
                self.charge(id, frame);
            }
            ConnState::Probing(probe) => probe.gap(dir),
            // Bytes lost before the first ones delivered (the bind, say): even with the SYN
            // captured, the stream no longer starts at a PDU boundary, so it is probed as one
            // that began before the capture.
            ConnState::Fresh => {
                let mut probe = Box::<Probe>::default();
                probe.gap(dir);
                conn.state = ConnState::Probing(probe);
            }
        }
    }

    fn closed(&mut self, id: ConnId, _reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if let ConnState::Rpc(state) = &mut conn.state {
                state.rpc.finish(&mut self.events);
                self.drain(id);
            }
        }
        if let Some(Conn {
            state: ConnState::Rpc(state),
            ..
        }) = self.conns.remove(&id)
        {
            self.pending_calls = self.pending_calls.saturating_sub(state.charged.0);
            self.held_bytes = self.held_bytes.saturating_sub(state.charged.1);
            self.identifier.connection_closed(state.store);
        }
    }

    fn warning(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::CorrelateLimits;

    /// A little-endian request PDU (FIRST|LAST) on context 0: common header, alloc_hint,
    /// p_cont_id, opnum, then `stub`.
    fn request(call_id: u32, stub: &[u8]) -> Vec<u8> {
        let len = (24 + stub.len()) as u16;
        let mut pdu = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
        pdu.extend_from_slice(&len.to_le_bytes());
        pdu.extend_from_slice(&[0, 0]);
        pdu.extend_from_slice(&call_id.to_le_bytes());
        pdu.extend_from_slice(&(stub.len() as u32).to_le_bytes());
        pdu.extend_from_slice(&[0, 0, 2, 0]);
        pdu.extend_from_slice(stub);
        pdu
    }

    fn streams(limits: RpcLimits) -> Streams {
        let correlator = Correlator::new(0, CorrelateLimits::default());
        Streams::new(limits, correlator, false)
    }

    fn open(s: &mut Streams, n: u64) -> ConnId {
        let id = ConnId(n);
        let ends = ConnEndpoints {
            initiator: SocketAddr::from(([10, 0, 0, n as u8], 50_000)),
            responder: SocketAddr::from(([10, 0, 0, 5], 6001)),
            saw_syn: true,
        };
        s.opened(id, &ends);
        id
    }

    fn codes(s: &Streams) -> Vec<&'static str> {
        s.warnings
            .clone()
            .into_vec()
            .iter()
            .map(|w| w.code)
            .collect()
    }

    /// Named-pipe RPC inside SMB, captured mid-session on 445 and on another port: each
    /// connection is counted as SMB and declined, the RPC in it never reaches the framer
    /// (no bad-header or resync warnings).
    #[test]
    fn smb_connections_are_counted_and_never_framed() {
        let mut s = streams(RpcLimits::default());
        let bind = request(1, &[0; 8]);
        // An SMB2 message (NetBIOS header, 64-byte SMB2 header) with the PDU in its body,
        // cut at the start as a capture that begins mid-message would be.
        let mut smb2 = vec![0xFE, b'S', b'M', b'B', 64, 0];
        smb2.resize(64 + 48, 0);
        let message = [
            &((smb2.len() + bind.len()) as u32).to_be_bytes()[..],
            &smb2,
            &bind,
        ]
        .concat();
        let stream = [&bind[4..], &message, &bind].concat();
        for (n, port) in [(1, 445), (2, 7000)] {
            let id = ConnId(n);
            s.opened(
                id,
                &ConnEndpoints {
                    initiator: SocketAddr::from(([10, 0, 0, 21], 50_000)),
                    responder: SocketAddr::from(([10, 0, 0, 5], port)),
                    saw_syn: false,
                },
            );
            let interest = s.data(id, Direction::ToResponder, &stream, n, 0);
            assert_eq!(interest, Interest::Declined);
        }
        assert_eq!((s.stats.smb_connections, s.stats.connections), (2, 0));
        assert_eq!(codes(&s), Vec::<&str>::new());
    }

    #[test]
    fn pending_calls_of_all_connections_stay_within_the_shared_cap() {
        let mut s = streams(RpcLimits {
            max_pending_calls_total: 3,
            ..RpcLimits::default()
        });
        let (a, b) = (open(&mut s, 1), open(&mut s, 2));
        let to_server = Direction::ToResponder;
        s.data(a, to_server, &request(1, &[1; 8]), 1, 0);
        s.data(a, to_server, &request(2, &[2; 8]), 2, 0);
        s.data(b, to_server, &request(1, &[3; 8]), 3, 0);
        assert_eq!((s.pending_calls, s.stats.calls), (3, 0));
        // A fourth pending call: its own connection reports its oldest call unanswered.
        s.data(b, to_server, &request(2, &[4; 8]), 4, 0);
        assert_eq!(
            (s.pending_calls, s.stats.calls, s.stats.calls_shed),
            (3, 1, 1)
        );
        assert_eq!(s.stats.peak_pending_calls, 3);
        assert_eq!(s.held_bytes, 3 * 8);
        assert_eq!(codes(&s), vec!["dcerpc_pending_call_total_cap"]);
        // Closing a connection gives its share back.
        s.closed(a, CloseReason::Fin);
        assert_eq!((s.pending_calls, s.held_bytes), (1, 8));
    }

    #[test]
    fn held_bytes_of_all_connections_stay_within_the_shared_budget() {
        let mut s = streams(RpcLimits {
            max_held_bytes_total: 100,
            ..RpcLimits::default()
        });
        let (a, b) = (open(&mut s, 1), open(&mut s, 2));
        let to_server = Direction::ToResponder;
        // Connection a: a pending call with a 40-byte stub and 30 bytes of the next PDU.
        s.data(a, to_server, &request(1, &[1; 40]), 1, 0);
        s.data(a, to_server, &request(2, &[2; 60])[..30], 2, 0);
        assert_eq!(s.held_bytes, 70);
        // Connection b goes beyond the budget with 40 bytes of a partial PDU: nothing of b is
        // pending, so b drops its partial PDU; a keeps what it holds.
        s.data(b, to_server, &request(1, &[3; 60])[..40], 3, 0);
        assert_eq!(s.held_bytes, 70);
        assert_eq!(s.stats.partial_pdu_bytes_shed, 40);
        assert_eq!(s.stats.peak_held_bytes, 70);
        // Connection b adds a call with a 50-byte stub: b reports it at once.
        s.data(b, to_server, &request(2, &[4; 50]), 4, 0);
        assert_eq!(
            (s.held_bytes, s.stats.calls_shed, s.stats.calls),
            (70, 1, 1)
        );
        assert_eq!(
            codes(&s),
            vec!["dcerpc_held_bytes_total_cap", "dcerpc_partial_pdu_dropped"]
        );
    }
}
