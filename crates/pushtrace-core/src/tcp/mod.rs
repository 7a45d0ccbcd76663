//! TCP stream reassembly: captured segments in, each connection's two ordered byte streams out,
//! with an explicit gap wherever bytes were never captured.
//!
//! The stage is sans-IO. [`TcpReassembler::segment`] takes one decoded segment
//! ([`TcpSegment`]) and tells a [`StreamSink`] what it learnt: a connection opened, bytes in
//! sequence order, a gap, a close, a warning. [`TcpReassembler::finish`] flushes what is left
//! at the end of the capture. The DCE/RPC framer sits behind the sink.
//!
//! # Connections (RFC 9293 §3.5, §3.6)
//!
//! * One connection per 4-tuple, carrying both directions. Every connection gets a fresh
//!   [`ConnId`], never reused: a new opening SYN (SYN without ACK) on a 4-tuple whose
//!   connection closed, or on a live connection with a different initial sequence number,
//!   starts a new connection ([`CloseReason::Reopened`] for the old one).
//! * The *initiator* is the sender of the opening SYN. Without a captured SYN it is the
//!   receiver of a SYN-ACK when that is the first segment seen, otherwise the sender of the
//!   first segment seen; the DCE/RPC layer decides client and server by content.
//! * A connection closes when both directions have delivered everything up to their FIN
//!   ([`CloseReason::Fin`]), at the first RST ([`CloseReason::Rst`]), when it is evicted, or
//!   at [`TcpReassembler::finish`]. A closed connection is flushed first: its buffered bytes
//!   are delivered, with gaps for the holes between them.
//! * After a FIN or RST close the 4-tuple stays in a short *time-wait*
//!   ([`TcpLimits::time_wait_ns`]): segments that arrive for it then (retransmitted FINs,
//!   final ACKs) are ignored rather than opening a new connection; an opening SYN still opens
//!   one.
//!
//! # Sequence space (RFC 9293 §3.4, serial arithmetic as in RFC 1982)
//!
//! Sequence numbers are compared by their signed 32-bit distance to the next expected one, so
//! wraparound at 2^32 is invisible. Internally each direction counts stream positions as a
//! 64-bit offset from its first data byte. SYN and FIN each take one sequence number. Without
//! a captured SYN, the first segment of a direction that carries data or a FIN sets where its
//! stream starts (a bare ACK does not, so a keep-alive probe cannot misplace it). A segment
//! starting more than 2^30 (the largest window TCP can advertise, RFC 7323 §2.3) ahead of the
//! next expected byte is implausible and ignored.
//!
//! # Delivery and overlaps
//!
//! Each direction's bytes reach the sink in sequence order, each position once. In-order
//! payload is handed over straight from the segment (no copy, no allocation); out-of-order
//! segments are copied into a bounded per-direction buffer until the hole before them fills.
//! Duplicates and retransmitted bytes are dropped. When two segments disagree about the bytes
//! at a position, **the first one received wins**: bytes already delivered are never revised,
//! a buffered segment keeps its bytes when a later one overlaps it, and a later in-order
//! segment only fills the positions no earlier segment covered. A FIN fixes the end of its
//! direction: bytes beyond it are dropped, and a FIN that would cut bytes already buffered
//! beyond it is ignored.
//!
//! # Gaps
//!
//! A gap is a run of stream positions whose bytes will not be delivered. The sink learns its
//! length in stream order, then delivery goes on after it. Bytes released by a gap are cited
//! with the frames that carried them (a reader sees them there; the hole was lost to the
//! capture), bytes released by a frame that fills a hole with that frame. A segment's
//! acknowledgement is applied before its payload: the peer's bytes it covers were received
//! before it was sent, so a request held behind a hole reaches the sink before the response
//! that acknowledges it. Gaps are reported when:
//!
//! * a segment was cut by the snap length: its captured bytes are delivered and the missing
//!   tail is a gap at once;
//! * the peer acknowledges data beyond a hole while later data (or the FIN) waits behind it:
//!   the peer received those bytes, so no retransmission will bring them into the capture, and
//!   the hole (up to the acknowledged position) is skipped;
//! * the out-of-order buffer cannot take a segment ([`TcpLimits`]): the earliest hole is
//!   skipped and buffered bytes are delivered until the segment fits or becomes in order;
//! * a connection is closed (RST, eviction, end of capture): every hole before buffered bytes
//!   is skipped, and so is the tail up to the FIN, or up to the peer's highest acknowledgement
//!   when no FIN was seen.
//!
//! # Bounded memory
//!
//! Memory depends on the limits, not on the number of frames: per-direction caps on buffered
//! bytes and pieces, a global cap on all buffered bytes, a cap on live connections (the least
//! recently active are evicted when it is reached) and an idle timeout, checked every eighth of
//! the timeout in capture time. Closed connections are removed at once. Each cap that bites is
//! counted in [`TcpStats`] and reported by one warning on its first occurrence. Connections
//! are found through the standard library's randomly keyed hasher, so a crafted capture cannot
//! force hash collisions; the last connection looked up is remembered, so a train of segments
//! of one connection pays for the hash once. The in-order path costs at most one lookup and
//! no allocation per segment.
//!
//! # Declined connections
//!
//! The sink answers every `data` call with an [`Interest`]. Once it declines a connection
//! (the engine does so as soon as the first bytes show it is not DCE/RPC), the connection's
//! buffered pieces are dropped and their bytes returned to the shared budget, and nothing more
//! of it is delivered: no data, no gaps. The 4-tuple stays tracked, cheaply, so that its later
//! segments do not open a new connection; it closes at an RST, once both directions sent a
//! FIN, or by eviction, and `closed` is still called. Most of a busy capture is such traffic,
//! so it neither costs reassembly work nor takes the buffer space DCE/RPC connections need.
//!
//! Input is never trusted: every length is checked, nothing panics, and every loop advances
//! through a finite buffer.

mod stream;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::decode::TcpSegment;
use crate::flow::{ConnEndpoints, ConnId, Direction};
use crate::Warning;
use stream::{HalfStream, SegmentView, MAX_SEQ_AHEAD};

/// Receives what the reassembler learns, in order.
///
/// For one connection, [`opened`](StreamSink::opened) comes first and
/// [`closed`](StreamSink::closed) last. Within one direction, `data` and `gap` calls together
/// cover the stream's positions from its start, in order, each position once: the byte offset
/// of a `data` call is the sum of the lengths of the `data` and `gap` calls before it.
pub trait StreamSink {
    /// A new connection was seen (before any other event about it).
    fn opened(&mut self, conn: ConnId, ends: &ConnEndpoints);
    /// The next bytes of one direction of a connection, captured in frame `frame` at
    /// `ts_ns`. The slice is only borrowed for the duration of the call. The answer says
    /// whether the sink wants more of this connection (see the module documentation).
    fn data(
        &mut self,
        conn: ConnId,
        dir: Direction,
        bytes: &[u8],
        frame: u64,
        ts_ns: i64,
    ) -> Interest;
    /// The next `missing` bytes of one direction were on the wire but are not in the capture;
    /// `frame` is the frame whose processing revealed it.
    fn gap(&mut self, conn: ConnId, dir: Direction, missing: u64, frame: u64);
    /// The connection ended; no further event will name it.
    fn closed(&mut self, conn: ConnId, reason: CloseReason);
    /// A cap bit or the input looked wrong (see [`TcpStats`] for the counts).
    fn warning(&mut self, warning: Warning);
}

/// Whether a sink wants more of a connection's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Keep delivering both directions.
    More,
    /// Deliver nothing more of this connection; drop what is buffered for it.
    Declined,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Both directions delivered everything up to their FIN.
    Fin,
    /// A RST was seen.
    Rst,
    /// A new opening SYN with a different initial sequence number arrived on the same 4-tuple.
    Reopened,
    /// The reassembler dropped it to bound its memory.
    Evicted(EvictionCause),
    /// The capture ended while the connection was open.
    EndOfCapture,
}

/// Which limit evicted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionCause {
    /// No segment for longer than [`TcpLimits::idle_timeout_ns`].
    Idle,
    /// [`TcpLimits::max_connections`] were live and a new one needed room.
    Capacity,
}

/// The caps that bound the reassembler's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLimits {
    /// Payload bytes one direction may hold while waiting for a hole to fill (default 1 MiB,
    /// a generous TCP window). Zero means no buffering: every hole is a gap at once.
    pub max_ooo_bytes_per_direction: usize,
    /// Out-of-order pieces one direction may hold (default 1024). A segment that straddles
    /// bytes already buffered is stored as one piece per uncovered run.
    pub max_ooo_segments_per_direction: usize,
    /// Buffered bytes for all connections together (default 8 MiB). Each piece is charged
    /// its payload plus 64 bytes of bookkeeping, so this bounds the buffers' real footprint.
    pub max_buffered_bytes_total: usize,
    /// Connections tracked at once (default 14,000; zero counts as one). When full, a
    /// sixteenth is evicted: declined connections first, then the least recently active.
    /// With every connection holding a partial DCE/RPC PDU the default costs about 19 MiB (`scripts/attack.sh`); the hash
    /// tables of this stage and the next double past 14,336 entries.
    pub max_connections: usize,
    /// A connection with no segment for this long (capture time, ns) is flushed and evicted
    /// (default 1 hour). Generous on purpose: an Outlook session waiting for push
    /// notifications can stay silent for many minutes, and evicting it would split it in two.
    pub idle_timeout_ns: i64,
    /// How long (ns) a 4-tuple closed by FIN or RST ignores stray segments instead of opening
    /// a new connection (default 60 s).
    pub time_wait_ns: i64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        const SECOND_NS: i64 = 1_000_000_000;
        TcpLimits {
            max_ooo_bytes_per_direction: 1 << 20,
            max_ooo_segments_per_direction: 1024,
            max_buffered_bytes_total: 8 << 20,
            max_connections: 14_000,
            idle_timeout_ns: 3600 * SECOND_NS,
            time_wait_ns: 60 * SECOND_NS,
        }
    }
}

/// Counters describing what the reassembler did; part of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TcpStats {
    /// TCP segments handed to [`TcpReassembler::segment`].
    pub segments: u64,
    /// Connections opened.
    pub connections: u64,
    /// Most connections live at once.
    pub peak_live_connections: u64,
    /// Connections closed by FIN from both sides.
    pub closed_fin: u64,
    /// Connections closed by RST.
    pub closed_rst: u64,
    /// Connections replaced by a new SYN on the same 4-tuple.
    pub closed_reopened: u64,
    /// Connections evicted after being idle.
    pub evicted_idle: u64,
    /// Connections evicted because the connection table was full.
    pub evicted_capacity: u64,
    /// Connections still open at the end of the capture.
    pub closed_end_of_capture: u64,
    /// Payload bytes delivered to the sink.
    pub bytes_delivered: u64,
    /// Captured payload bytes dropped because their positions were already delivered or
    /// buffered (retransmissions, duplicates, overlaps).
    pub retransmitted_bytes_dropped: u64,
    /// Segments that arrived ahead of a hole and were buffered.
    pub ooo_segments: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Bytes covered by the gaps.
    pub gap_bytes: u64,
    /// Holes skipped because the peer acknowledged data beyond them.
    pub holes_skipped_by_ack: u64,
    /// Segments whose payload was cut by the snap length.
    pub truncated_segments: u64,
    /// Times the out-of-order buffer (per direction or global) was full.
    pub ooo_cap_hits: u64,
    /// Times the connection table was full.
    pub connection_cap_hits: u64,
    /// Most bytes buffered at once (payload plus per-piece bookkeeping).
    pub peak_buffered_bytes: u64,
    /// Segments ignored because they started implausibly far ahead of their stream.
    pub out_of_window_segments: u64,
    /// Segments ignored because their 4-tuple had just closed (or a RST without connection).
    pub segments_after_close: u64,
    /// Payload bytes on the wire beyond a direction's FIN, dropped.
    pub bytes_after_fin: u64,
    /// FINs ignored because they contradicted an earlier FIN or buffered data.
    pub conflicting_fins: u64,
    /// Connections the sink declined (not DCE/RPC): followed until they close, their
    /// bytes neither buffered nor delivered.
    pub connections_declined: u64,
}

/// Turns TCP segments into ordered per-direction byte streams; see the module documentation
/// for the rules it follows.
#[derive(Debug)]
pub struct TcpReassembler {
    limits: TcpLimits,
    conns: ConnTable,
    /// 4-tuples recently closed by FIN or RST, with the capture time of the close.
    time_wait: HashMap<FlowKey, i64>,
    next_id: u64,
    shared: Shared,
    last_sweep_ns: Option<i64>,
    last_time_wait_sweep_ns: Option<i64>,
    last_frame: u64,
}

impl TcpReassembler {
    /// A reassembler with no connections, bounded by `limits`.
    pub fn new(limits: TcpLimits) -> Self {
        TcpReassembler {
            limits,
            conns: ConnTable::default(),
            time_wait: HashMap::new(),
            next_id: 0,
            shared: Shared::default(),
            last_sweep_ns: None,
            last_time_wait_sweep_ns: None,
            last_frame: 0,
        }
    }

    /// Feeds one TCP segment, captured in frame `frame` at `ts_ns`, sent from `src` to `dst`.
    /// Returns the connection it belongs to while the sink follows it (not declined).
    pub fn segment<S: StreamSink>(
        &mut self,
        frame: u64,
        ts_ns: i64,
        src: IpAddr,
        dst: IpAddr,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) -> Option<ConnId> {
        self.shared.stats.segments += 1;
        self.last_frame = frame;
        self.sweep_if_due(ts_ns, frame, sink);

        let (key, from_low) = FlowKey::oriented((src, seg.src_port), (dst, seg.dst_port));
        let opening_syn = seg.flags.syn && !seg.flags.ack;

        if let Some(conn) = self.conns.get_mut(&key) {
            if !opening_syn || conn.is_late_or_repeated_syn(from_low, seg.seq) {
                let outcome = conn.feed(
                    &mut self.shared,
                    &self.limits,
                    frame,
                    ts_ns,
                    from_low,
                    seg,
                    sink,
                );
                let followed = conn.declined.is_none().then_some(conn.id);
                self.after_feed(key, outcome, frame, ts_ns, sink);
                return followed;
            }
            // A different opening SYN: the old connection is over, a new one starts.
            self.close(key, CloseReason::Reopened, frame, ts_ns, sink);
        }

        if !self.admit(key, opening_syn, seg, ts_ns) {
            self.shared.stats.segments_after_close += 1;
            return None;
        }
        self.make_room(frame, sink);
        // A SYN-ACK seen first names its receiver as the initiator.
        let from = SocketAddr::new(src, seg.src_port);
        let to = SocketAddr::new(dst, seg.dst_port);
        let syn_ack = seg.flags.syn && seg.flags.ack && from != to;
        let (initiator, responder) = if syn_ack { (to, from) } else { (from, to) };
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let ends = ConnEndpoints {
            initiator,
            responder,
            saw_syn: opening_syn,
        };
        sink.opened(id, &ends);
        let mut conn = Connection {
            id,
            initiator_low: from_low != syn_ack,
            to_responder: HalfStream::default(),
            to_initiator: HalfStream::default(),
            last_seen_ns: ts_ns,
            declined: None,
        };
        let outcome = conn.feed(
            &mut self.shared,
            &self.limits,
            frame,
            ts_ns,
            from_low,
            seg,
            sink,
        );
        let followed = conn.declined.is_none().then_some(id);
        self.conns.insert(key, conn);
        let stats = &mut self.shared.stats;
        stats.connections += 1;
        stats.peak_live_connections = stats.peak_live_connections.max(self.conns.len() as u64);
        self.after_feed(key, outcome, frame, ts_ns, sink);
        followed
    }

    /// Ends the capture: flushes every open connection (buffered bytes are delivered, holes
    /// and known missing tails become gaps) and closes it with [`CloseReason::EndOfCapture`],
    /// in [`ConnId`] order.
    pub fn finish<S: StreamSink>(&mut self, sink: &mut S) {
        let mut open: Vec<(ConnId, FlowKey)> = self.conns.iter().map(|(k, c)| (c.id, k)).collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in open {
            self.close(key, CloseReason::EndOfCapture, self.last_frame, 0, sink);
        }
        self.time_wait.clear();
        self.last_sweep_ns = None;
        self.last_time_wait_sweep_ns = None;
    }

    /// What the reassembler has done so far.
    pub fn stats(&self) -> &TcpStats {
        &self.shared.stats
    }

    /// The number of connections currently tracked.
    pub fn live_connections(&self) -> usize {
        self.conns.len()
    }

    /// Whether a segment with no live connection may open one. Stray RSTs and segments for a
    /// 4-tuple in time-wait may not (an opening SYN always may).
    fn admit(&mut self, key: FlowKey, opening_syn: bool, seg: &TcpSegment<'_>, ts_ns: i64) -> bool {
        if seg.flags.rst {
            return false;
        }
        match self.time_wait.get(&key) {
            Some(&closed_at)
                if !opening_syn && ts_ns.saturating_sub(closed_at) <= self.limits.time_wait_ns =>
            {
                false
            }
            Some(_) => {
                self.time_wait.remove(&key);
                true
            }
            None => true,
        }
    }

    /// Closes the connection if its last segment finished or reset it.
    fn after_feed<S: StreamSink>(
        &mut self,
        key: FlowKey,
        outcome: Outcome,
        frame: u64,
        ts_ns: i64,
        sink: &mut S,
    ) {
        match outcome {
            Outcome::Open => {}
            Outcome::Reset => self.close(key, CloseReason::Rst, frame, ts_ns, sink),
            Outcome::BothFinished => self.close(key, CloseReason::Fin, frame, ts_ns, sink),
        }
    }

    /// Removes a connection, flushes both directions, reports the close and, after FIN or RST,
    /// remembers the 4-tuple in time-wait (while that table has room).
    fn close<S: StreamSink>(
        &mut self,
        key: FlowKey,
        reason: CloseReason,
        frame: u64,
        ts_ns: i64,
        sink: &mut S,
    ) {
        let Some(mut conn) = self.conns.remove(&key) else {
            return;
        };
        conn.flush(&mut self.shared, &self.limits, frame, sink);
        let stats = &mut self.shared.stats;
        match reason {
            CloseReason::Fin => stats.closed_fin += 1,
            CloseReason::Rst => stats.closed_rst += 1,
            CloseReason::Reopened => stats.closed_reopened += 1,
            CloseReason::Evicted(EvictionCause::Idle) => stats.evicted_idle += 1,
            CloseReason::Evicted(EvictionCause::Capacity) => stats.evicted_capacity += 1,
            CloseReason::EndOfCapture => stats.closed_end_of_capture += 1,
        }
        sink.closed(conn.id, reason);
        if matches!(reason, CloseReason::Fin | CloseReason::Rst)
            && self.time_wait.len() < self.connection_cap()
        {
            self.time_wait.insert(key, ts_ns);
        }
    }

    /// The connection cap, never below one.
    fn connection_cap(&self) -> usize {
        self.limits.max_connections.max(1)
    }

    /// Evicts a sixteenth of the connections when the table is full, declined ones first,
    /// then the least recently active, so that the cost of a full table is paid once per many
    /// new connections.
    fn make_room<S: StreamSink>(&mut self, frame: u64, sink: &mut S) {
        let cap = self.connection_cap();
        if self.conns.len() < cap {
            return;
        }
        self.shared.stats.connection_cap_hits += 1;
        self.shared
            .warn(WarnKind::ConnectionTableFull, frame, sink, || {
                format!(
                    "more than {cap} TCP connections were open at once; declined (not DCE/RPC) \
                 connections, then the least recently active ones, were flushed and evicted (a \
                 later segment of one opens a new connection)"
                )
            });
        let count = (self.conns.len() / 16).max(1);
        // Declined connections go first: they cost nothing to lose.
        let mut victims: Vec<((bool, i64, ConnId), FlowKey)> = self
            .conns
            .iter()
            .map(|(k, c)| ((c.declined.is_none(), c.last_seen_ns, c.id), k))
            .collect();
        if count < victims.len() {
            victims.select_nth_unstable_by_key(count - 1, |(order, _)| *order);
            victims.truncate(count);
        }
        victims.sort_unstable_by_key(|(order, _)| *order);
        for (_, key) in victims {
            self.close(
                key,
                CloseReason::Evicted(EvictionCause::Capacity),
                frame,
                0,
                sink,
            );
        }
    }

    /// Every half time-wait (capture time), forgets expired time-wait entries, so that the
    /// table, which stops taking entries when full, keeps room on a busy capture; every
    /// eighth of the idle timeout, evicts idle connections.
    fn sweep_if_due<S: StreamSink>(&mut self, ts_ns: i64, frame: u64, sink: &mut S) {
        let time_wait_ns = self.limits.time_wait_ns;
        if period_elapsed(&mut self.last_time_wait_sweep_ns, ts_ns, time_wait_ns / 2) {
            self.time_wait
                .retain(|_, closed_at| ts_ns.saturating_sub(*closed_at) <= time_wait_ns);
        }
        if !period_elapsed(
            &mut self.last_sweep_ns,
            ts_ns,
            self.limits.idle_timeout_ns / 8,
        ) {
            return;
        }
        let timeout = self.limits.idle_timeout_ns;
        let mut idle: Vec<(ConnId, FlowKey)> = self
            .conns
            .iter()
            .filter(|(_, c)| ts_ns.saturating_sub(c.last_seen_ns) > timeout)
            .map(|(k, c)| (c.id, k))
            .collect();
        if idle.is_empty() {
            return;
        }
        idle.sort_unstable_by_key(|(id, _)| *id);
        self.shared.warn(WarnKind::IdleEviction, frame, sink, || {
            format!(
                "a TCP connection was silent for more than {} s of capture time and was flushed \
                 and evicted (a later segment of it opens a new connection)",
                timeout / 1_000_000_000
            )
        });
        for (_, key) in idle {
            self.close(
                key,
                CloseReason::Evicted(EvictionCause::Idle),
                frame,
                ts_ns,
                sink,
            );
        }
    }
}

/// Whether `period` (ns of capture time, at least 1) has passed since `*last`, which then
/// moves to `ts_ns`. The first call, and a call whose clock stepped back, only start the
/// period (again), so a capture whose clock jitters back and forth is not swept at every
/// segment.
fn period_elapsed(last: &mut Option<i64>, ts_ns: i64, period: i64) -> bool {
    match *last {
        Some(at) if ts_ns >= at && ts_ns.saturating_sub(at) < period.max(1) => false,
        Some(at) if ts_ns >= at => {
            *last = Some(ts_ns);
            true
        }
        _ => {
            *last = Some(ts_ns);
            false
        }
    }
}

/// Entries of [`ConnTable`]'s cache of recent lookups (a power of two): 64 KiB of slot
/// numbers, more than the default connection cap, so that each live connection mostly keeps
/// its own entry.
const RECENT_ENTRIES: usize = 1 << 14;

/// The live connections: a slab of slots, each holding its key, found through a map from
/// 4-tuple to slot — keyed by the standard library's randomly keyed hasher, so that a
/// crafted capture cannot force collisions — with a cache of recent lookups in front of it.
///
/// The cache is direct-mapped: a cheap multiplicative hash of the key picks an entry, which
/// holds the slot of the last connection looked up there. A hit is confirmed by the key in
/// the slot (which also rejects a slot freed and reused since), so the cache can never give
/// a wrong answer, and keys that collide in it (by chance or by design) only fall back to
/// the map. On a busy capture, whose segments interleave thousands of connections, most
/// lookups hit and skip the keyed hash (about a fifth of the reassembler's time otherwise).
#[derive(Debug, Default)]
struct ConnTable {
    index: HashMap<FlowKey, usize>,
    slots: Vec<Option<Slot>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<usize>,
    /// Slot + 1 per cache entry (0: empty); allocated with the first connection.
    recent: Vec<u32>,
}

impl ConnTable {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Connection> {
        let entry = key.cache_entry();
        let cached = self
            .recent
            .get(entry)
            .and_then(|&s| (s as usize).checked_sub(1));
        let slot = match cached {
            Some(slot) if matches!(self.slots.get(slot), Some(Some(s)) if s.key == *key) => slot,
            _ => {
                let slot = *self.index.get(key)?;
                self.remember(entry, slot);
                slot
            }
        };
        self.slots.get_mut(slot)?.as_mut().map(|s| &mut s.conn)
    }

    /// Points cache entry `entry` at `slot`.
    fn remember(&mut self, entry: usize, slot: usize) {
        if let (Some(e), Ok(s)) = (self.recent.get_mut(entry), u32::try_from(slot + 1)) {
            *e = s;
        }
    }

    /// Adds a connection (replacing one with the same key, which callers never have).
    fn insert(&mut self, key: FlowKey, conn: Connection) {
        if self.recent.is_empty() {
            self.recent = vec![0; RECENT_ENTRIES];
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if let Some(slot) = self.slots.get_mut(slot) {
            *slot = Some(Slot { key, conn });
        }
        if let Some(old) = self.index.insert(key, slot) {
            self.release(old);
        }
        self.remember(key.cache_entry(), slot);
    }

    fn remove(&mut self, key: &FlowKey) -> Option<Connection> {
        let slot = self.index.remove(key)?;
        if let Some(e) = self.recent.get_mut(key.cache_entry()) {
            if *e as usize == slot + 1 {
                *e = 0;
            }
        }
        self.release(slot)
    }

    fn release(&mut self, slot: usize) -> Option<Connection> {
        let Slot { conn, .. } = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(conn)
    }

    /// Every live connection with its key, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (FlowKey, &Connection)> + '_ {
        self.slots.iter().flatten().map(|s| (s.key, &s.conn))
    }
}

/// A connection with its key, which confirms a hit of the cache of recent lookups.
#[derive(Debug)]
struct Slot {
    key: FlowKey,
    conn: Connection,
}

/// A connection's 4-tuple with its two endpoints in a fixed order, so both directions find
/// it. Addresses are kept as integers, so that building and comparing keys reads each field
/// of the segment's addresses once, in registers (copying `SocketAddr`s whole, just written
/// field by field, stalled every segment on store forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    low: Endpoint,
    high: Endpoint,
}

/// One end of a connection: its address (IPv4 in the low 32 bits) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    v6: bool,
    ip: [u64; 2],
    port: u16,
}

impl Endpoint {
    #[inline]
    fn of(ip: IpAddr, port: u16) -> Endpoint {
        match ip {
            IpAddr::V4(v4) => Endpoint {
                v6: false,
                ip: [0, u64::from(v4.to_bits())],
                port,
            },
            IpAddr::V6(v6) => {
                let bits = v6.to_bits();
                Endpoint {
                    v6: true,
                    ip: [(bits >> 64) as u64, bits as u64],
                    port,
                }
            }
        }
    }
}

impl Hash for FlowKey {
    /// Feeds the keyed hasher one short buffer (both addresses, then both ports: 12 bytes for
    /// IPv4, 37 otherwise) instead of the derived field-by-field writes: the same protection
    /// against crafted collisions, at a fraction of the cost. Equal keys give equal buffers.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (a, b) = (&self.low, &self.high);
        let ports = [a.port.to_be_bytes(), b.port.to_be_bytes()];
        if !a.v6 && !b.v6 {
            let mut buf = [0u8; 12];
            buf[..4].copy_from_slice(&(a.ip[1] as u32).to_be_bytes());
            buf[4..8].copy_from_slice(&(b.ip[1] as u32).to_be_bytes());
            buf[8..10].copy_from_slice(&ports[0]);
            buf[10..].copy_from_slice(&ports[1]);
            state.write(&buf);
        } else {
            let mut buf = [0u8; 37];
            for (at, word) in [a.ip[0], a.ip[1], b.ip[0], b.ip[1]].into_iter().enumerate() {
                buf[at * 8..at * 8 + 8].copy_from_slice(&word.to_be_bytes());
            }
            buf[32..34].copy_from_slice(&ports[0]);
            buf[34..36].copy_from_slice(&ports[1]);
            buf[36] = u8::from(a.v6) | u8::from(b.v6) << 1;
            state.write(&buf);
        }
    }
}

impl FlowKey {
    #[cfg(test)]
    fn new(a: SocketAddr, b: SocketAddr) -> Self {
        FlowKey::of((a.ip(), a.port()), (b.ip(), b.port()))
    }

    /// The key of the connection between `a` and `b`, either way round.
    #[cfg(test)]
    fn of(a: (IpAddr, u16), b: (IpAddr, u16)) -> Self {
        FlowKey::oriented(a, b).0
    }

    /// The key of the connection between `from` and `to`, and whether `from` is the end it
    /// sorts first.
    #[inline]
    fn oriented(from: (IpAddr, u16), to: (IpAddr, u16)) -> (Self, bool) {
        let (a, b) = (Endpoint::of(from.0, from.1), Endpoint::of(to.0, to.1));
        if a <= b {
            (FlowKey { low: a, high: b }, true)
        } else {
            (FlowKey { low: b, high: a }, false)
        }
    }

    /// This key's entry in [`ConnTable`]'s cache of recent lookups: a multiplicative hash of
    /// the addresses and ports. Not keyed: a collision only sends a lookup to the map.
    #[inline]
    fn cache_entry(&self) -> usize {
        const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
        let fold = |end: &Endpoint| (end.ip[0] ^ end.ip[1]).rotate_left(16) ^ u64::from(end.port);
        let h = (fold(&self.low).wrapping_mul(MIX) ^ fold(&self.high)).wrapping_mul(MIX);
        (h >> (u64::BITS - RECENT_ENTRIES.trailing_zeros())) as usize
    }
}

/// What a segment did to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Open,
    Reset,
    BothFinished,
}

/// One tracked connection.
#[derive(Debug)]
struct Connection {
    id: ConnId,
    /// Whether the initiator is the end its [`FlowKey`] sorts first: a segment's direction
    /// follows from the key, without comparing addresses.
    initiator_low: bool,
    to_responder: HalfStream,
    to_initiator: HalfStream,
    last_seen_ns: i64,
    /// Declined by the sink: which directions have sent a FIN, else `None`.
    declined: Option<[bool; 2]>,
}

impl Connection {
    /// The direction of a segment sent by the end its key sorts first (`from_low`) or not.
    fn direction_of(&self, from_low: bool) -> Direction {
        if from_low == self.initiator_low {
            Direction::ToResponder
        } else {
            Direction::ToInitiator
        }
    }

    fn half_mut(&mut self, dir: Direction) -> &mut HalfStream {
        match dir {
            Direction::ToResponder => &mut self.to_responder,
            Direction::ToInitiator => &mut self.to_initiator,
        }
    }

    /// Whether an opening SYN from `from` belongs to this connection: a retransmission of the
    /// SYN already seen, or the SYN of a connection first seen by its SYN-ACK (which
    /// acknowledged `seq + 1`).
    fn is_late_or_repeated_syn(&self, from_low: bool, seq: u32) -> bool {
        self.direction_of(from_low) == Direction::ToResponder && self.to_responder.accepts_syn(seq)
    }

    /// Applies one segment from `from`: its ACK to the other direction, then its data and
    /// FIN to its own.
    #[allow(clippy::too_many_arguments)]
    fn feed<S: StreamSink>(
        &mut self,
        shared: &mut Shared,
        limits: &TcpLimits,
        frame: u64,
        ts_ns: i64,
        from_low: bool,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) -> Outcome {
        self.last_seen_ns = ts_ns;
        if seg.flags.rst {
            return Outcome::Reset;
        }
        if self.declined.is_some() {
            let dir = self.direction_of(from_low).index();
            if let (Some(fins), true) = (&mut self.declined, seg.flags.fin) {
                fins[dir] = true;
            }
            return self.outcome();
        }
        let wire_len = u64::from(seg.wire_payload_len)
            .max(seg.payload.len() as u64)
            .min(MAX_SEQ_AHEAD as u64);
        let captured_len = usize::try_from(wire_len)
            .unwrap_or(usize::MAX)
            .min(seg.payload.len());
        let payload = seg.payload.get(..captured_len).unwrap_or_default();
        if (payload.len() as u64) < wire_len {
            shared.stats.truncated_segments += 1;
        }
        let view = SegmentView {
            seq: seg.seq,
            syn: seg.flags.syn,
            fin: seg.flags.fin,
            payload,
            wire_len,
        };
        let dir = self.direction_of(from_low);
        let mut out = Out {
            sink,
            shared,
            limits,
            conn: self.id,
            dir,
            frame,
            ts_ns,
            declined: false,
        };
        // The acknowledgement first: the other side's bytes it covers were received before
        // this segment was sent, so they come before its payload (a response after the
        // request it answers, even when a hole lost to the capture held the request back).
        if seg.flags.ack {
            out.dir = dir.reverse();
            self.half_mut(dir.reverse()).on_peer_ack(seg.ack, &mut out);
            out.dir = dir;
        }
        if !out.declined {
            self.half_mut(dir).on_segment(&view, &mut out);
        }
        if out.declined {
            self.decline(shared);
            // Declined by what its acknowledgement released, the segment's own data was not
            // placed: its FIN still ends its direction.
            if let (Some(fins), true) = (&mut self.declined, seg.flags.fin) {
                fins[dir.index()] = true;
            }
        }
        self.outcome()
    }

    /// Whether both directions are over: delivered up to their FIN, or, once declined,
    /// each sent one.
    fn outcome(&self) -> Outcome {
        let finished = match self.declined {
            Some(fins) => fins == [true, true],
            None => self.to_responder.is_finished() && self.to_initiator.is_finished(),
        };
        if finished {
            Outcome::BothFinished
        } else {
            Outcome::Open
        }
    }

    /// Stops reassembling: drops both directions' buffered pieces (returning their bytes to
    /// the shared budget) and from now on only watches for RST and FINs.
    fn decline(&mut self, shared: &mut Shared) {
        // In Direction::index order.
        let fins = [self.to_responder.discard(), self.to_initiator.discard()];
        shared.buffered_total -= fins.iter().map(|(freed, _)| freed).sum::<usize>();
        shared.stats.connections_declined += 1;
        self.declined = Some(fins.map(|(_, fin)| fin));
    }

    /// Delivers everything both directions still hold (see [`HalfStream::flush`]); nothing
    /// for a declined connection.
    fn flush<S: StreamSink>(
        &mut self,
        shared: &mut Shared,
        limits: &TcpLimits,
        frame: u64,
        sink: &mut S,
    ) {
        if self.declined.is_some() {
            return;
        }
        for dir in [Direction::ToResponder, Direction::ToInitiator] {
            let mut out = Out {
                sink: &mut *sink,
                shared: &mut *shared,
                limits,
                conn: self.id,
                dir,
                frame,
                ts_ns: self.last_seen_ns,
                declined: false,
            };
            self.half_mut(dir).flush(&mut out);
            if out.declined {
                // Declined during the flush: the rest is not wanted.
                self.decline(shared);
                return;
            }
        }
    }
}

/// The kinds of warning, each reported once (later occurrences are only counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WarnKind {
    ReorderBufferFull,
    ConnectionTableFull,
    IdleEviction,
    OutOfWindow,
}

impl WarnKind {
    fn code(self) -> &'static str {
        match self {
            WarnKind::ReorderBufferFull => "tcp_reorder_buffer_full",
            WarnKind::ConnectionTableFull => "tcp_connection_table_full",
            WarnKind::IdleEviction => "tcp_idle_eviction",
            WarnKind::OutOfWindow => "tcp_segment_out_of_window",
        }
    }

    fn bit(self) -> u8 {
        match self {
            WarnKind::ReorderBufferFull => 1,
            WarnKind::ConnectionTableFull => 2,
            WarnKind::IdleEviction => 4,
            WarnKind::OutOfWindow => 8,
        }
    }
}

/// State shared by all connections: counters, warnings already given, buffered bytes.
#[derive(Debug, Default)]
struct Shared {
    stats: TcpStats,
    warned: u8,
    /// Bytes charged against [`TcpLimits::max_buffered_bytes_total`].
    buffered_total: usize,
}

impl Shared {
    /// Sends the warning of this kind unless one was already sent.
    fn warn<S: StreamSink>(
        &mut self,
        kind: WarnKind,
        frame: u64,
        sink: &mut S,
        message: impl FnOnce() -> String,
    ) {
        if self.warned & kind.bit() == 0 {
            self.warned |= kind.bit();
            let text = format!(
                "{}; later occurrences are only counted in the TCP statistics",
                message()
            );
            sink.warning(Warning::new(kind.code(), text).at_frame(frame));
        }
    }
}

/// Where one direction reports to while a segment is processed: the sink, the shared state,
/// the limits, and which connection, direction and frame the events concern.
struct Out<'a, S> {
    sink: &'a mut S,
    shared: &'a mut Shared,
    limits: &'a TcpLimits,
    conn: ConnId,
    dir: Direction,
    /// The frame being processed: bytes it makes deliverable by filling a hole are cited
    /// with it, even when they were captured earlier out of order (the frame where a reader
    /// gets them); bytes behind a hole lost to the capture are cited with their own frame.
    frame: u64,
    /// That frame's time.
    ts_ns: i64,
    /// The sink declined the connection during this call: nothing more is delivered.
    declined: bool,
}

impl<S: StreamSink> Out<'_, S> {
    /// Delivers bytes made available by the current frame (nothing for an empty slice, or
    /// once the sink declined the connection).
    fn data(&mut self, bytes: &[u8]) {
        self.data_from(bytes, self.frame, self.ts_ns);
    }

    /// Delivers `bytes` cited with `frame`, captured at `ts_ns` (nothing once the sink
    /// declined the connection).
    fn data_from(&mut self, bytes: &[u8], frame: u64, ts_ns: i64) {
        if bytes.is_empty() || self.declined {
            return;
        }
        self.shared.stats.bytes_delivered += bytes.len() as u64;
        let interest = self.sink.data(self.conn, self.dir, bytes, frame, ts_ns);
        self.declined = interest == Interest::Declined;
    }

    /// Reports `missing` bytes as a gap revealed by `frame` (nothing for zero, or once the
    /// sink declined the connection).
    fn gap(&mut self, missing: u64, frame: u64) {
        if missing == 0 || self.declined {
            return;
        }
        self.shared.stats.gaps += 1;
        self.shared.stats.gap_bytes += missing;
        self.sink.gap(self.conn, self.dir, missing, frame);
    }

    fn stats(&mut self) -> &mut TcpStats {
        &mut self.shared.stats
    }

    /// Counts a full out-of-order buffer and warns the first time.
    fn reorder_buffer_full(&mut self) {
        self.shared.stats.ooo_cap_hits += 1;
        let limits = self.limits;
        self.shared
            .warn(WarnKind::ReorderBufferFull, self.frame, self.sink, || {
                format!(
                    "a TCP direction had more out-of-order data than the reassembly buffer holds \
                 ({} bytes or {} pieces per direction, {} bytes in all); the missing bytes before \
                 it were reported as a gap",
                    limits.max_ooo_bytes_per_direction,
                    limits.max_ooo_segments_per_direction,
                    limits.max_buffered_bytes_total
                )
            });
    }

    /// Counts an implausibly distant segment and warns the first time.
    fn out_of_window(&mut self) {
        self.shared.stats.out_of_window_segments += 1;
        self.shared.warn(WarnKind::OutOfWindow, self.frame, self.sink, || {
            "a TCP segment started more than 1 GiB of sequence space ahead of its stream and was \
             ignored"
                .to_string()
        });
    }
}
