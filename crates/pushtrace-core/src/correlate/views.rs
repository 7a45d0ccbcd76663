//! Several capture points, one trace: a correlator takes in what another view's correlator
//! collected (its times moved onto the reference clock), and the same call, registration,
//! datagram or ICMP error captured at two points becomes one fact that lists where it was
//! seen.
//!
//! Two captures of one packet agree on everything the packet carries, so a fact from one
//! view is the same as a fact from another when what identifies it agrees (a call: its
//! connection and opnum; a datagram: addresses, ports, payload and IPv4 identification) and
//! the two times, once on one clock, differ by no more than the trace's tolerance (the
//! one-way delay between the points plus the clock estimate's spread). Within one view
//! nothing is merged: a datagram sent twice is two datagrams.

use super::datagrams::{IcmpCandidate, UdpCandidate};
use super::facts::{RegistrationFacts, RequestFacts, ResponseFacts};
use super::session::{push_bounded, SessionState};
use super::Correlator;
use crate::flow::frame_input;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Most views whose facts are merged: one bit each in a fact's set of views.
pub const MAX_VIEWS: usize = 64;

/// One capture point's part of a trace: its inputs and the span of time it covers, on the
/// reference clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ViewSpan {
    /// The inputs read for this view (one file, or a chain).
    pub inputs: Vec<usize>,
    /// Time of its first frame (`i64::MAX` before any).
    pub first_ts_ns: i64,
    /// Time of its last frame (`i64::MIN` before any).
    pub last_ts_ns: i64,
}

impl ViewSpan {
    pub fn new(input: usize) -> Self {
        ViewSpan {
            inputs: vec![input],
            first_ts_ns: i64::MAX,
            last_ts_ns: i64::MIN,
        }
    }

    /// Whether the view was capturing from `ts_ns` until `margin_ns` later.
    pub fn covers(&self, ts_ns: i64, margin_ns: i64) -> bool {
        self.first_ts_ns <= ts_ns && ts_ns.saturating_add(margin_ns) <= self.last_ts_ns
    }
}

/// Which view each input belongs to.
pub(super) struct ViewIndex(HashMap<usize, usize>);

impl ViewIndex {
    pub fn new(views: &[ViewSpan]) -> Self {
        let mut map = HashMap::new();
        for (v, span) in views.iter().enumerate() {
            for &input in &span.inputs {
                map.insert(input, v);
            }
        }
        ViewIndex(map)
    }

    /// The view of frame reference `frame` (0 when unknown).
    pub fn of(&self, frame: u64) -> usize {
        self.0.get(&frame_input(frame)).copied().unwrap_or(0)
    }

    /// The view's bit in a set of views.
    fn bit(&self, frame: u64) -> u64 {
        1u64 << self.of(frame).min(MAX_VIEWS - 1)
    }
}

/// The other captures of datagrams and ICMP errors seen at several views: (frame, time on
/// the reference clock), by the frame of the capture the fact is kept as. Empty for one
/// view, so the facts themselves carry no list.
#[derive(Debug, Default)]
pub(super) struct Sightings(HashMap<u64, Vec<(u64, i64)>>);

impl Sightings {
    /// Every capture of the fact kept as `frame` at `ts_ns`: that one first.
    pub fn of(&self, frame: u64, ts_ns: i64) -> impl Iterator<Item = (u64, i64)> + '_ {
        let others = self.0.get(&frame).map(Vec::as_slice).unwrap_or_default();
        std::iter::once((frame, ts_ns)).chain(others.iter().copied())
    }

    /// The fact kept as `kept` was also captured as `other` (with that capture's own
    /// others).
    fn join(&mut self, kept: u64, (frame, ts_ns): (u64, i64)) {
        let mut others = self.0.remove(&frame).unwrap_or_default();
        others.push((frame, ts_ns));
        self.0.entry(kept).or_default().extend(others);
    }
}

/// A stable 64-bit name for `value` (the same in every view and run).
pub(super) fn identity(value: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Moves every time of `s` from its view's clock to the reference clock (`shift_ns`: how
/// far the view's clock is ahead).
fn shift_session(s: &mut SessionState, shift_ns: i64) {
    let at = |ts: i64| ts.saturating_sub(shift_ns);
    for c in &mut s.calls {
        c.ts_ns = at(c.ts_ns);
        c.response_ts_ns = c.response_ts_ns.map(at);
    }
    for r in &mut s.registrations {
        r.request_ts_ns = at(r.request_ts_ns);
    }
    for u in &mut s.unregistrations {
        u.1 = at(u.1);
    }
    for d in &mut s.datagrams {
        d.ts_ns = at(d.ts_ns);
    }
    for b in &mut s.bind_rejections {
        b.ts_ns = at(b.ts_ns);
    }
}

/// Adds the facts of `other` (the same client and server seen at another point) to `s`,
/// each list within `cap`.
fn absorb_session(s: &mut SessionState, other: SessionState, cap: usize) {
    s.user = s.user.take().or(other.user);
    s.poll_interval_ms = s.poll_interval_ms.or(other.poll_interval_ms);
    s.bound |= other.bound;
    s.saw_logon |= other.saw_logon;
    s.uses_async |= other.uses_async;
    s.connections.extend(other.connections);
    s.dropped_items += other.dropped_items;
    let dropped = &mut s.dropped_items;
    for b in other.bind_rejections {
        push_bounded(&mut s.bind_rejections, b, cap, dropped);
    }
    for r in other.registrations {
        push_bounded(&mut s.registrations, r, cap, dropped);
    }
    for u in other.unregistrations {
        push_bounded(&mut s.unregistrations, u, cap, dropped);
    }
    for d in other.datagrams {
        push_bounded(&mut s.datagrams, d, cap, dropped);
    }
    for c in other.calls {
        push_bounded(&mut s.calls, c, cap, dropped);
    }
}

/// Collapses the captures of one fact at several views into one: `what(item)` gives what
/// identifies it, its time and its frame; an item joins the one before it when both have
/// the same identity, come from different views and lie within `tolerance_ns`; `merge`
/// folds it in. The capture kept in front is the one of the earliest view (the reference
/// first), so the report cites the reference input's frames where it can.
fn collapse<T>(
    items: &mut Vec<T>,
    views: &ViewIndex,
    tolerance_ns: i64,
    what: impl Fn(&T) -> (u64, i64, u64),
    mut merge: impl FnMut(&mut T, T),
) {
    let mut all = std::mem::take(items);
    all.sort_by_cached_key(|t| what(t));
    // The views each kept item was seen at.
    let mut seen_by: Vec<u64> = Vec::with_capacity(all.len());
    for t in all {
        let (identity, ts, frame) = what(&t);
        let bit = views.bit(frame);
        if let (Some(kept), Some(mask)) = (items.last_mut(), seen_by.last_mut()) {
            let (kept_identity, kept_ts, kept_frame) = what(kept);
            if kept_identity == identity
                && *mask & bit == 0
                && ts.saturating_sub(kept_ts) <= tolerance_ns
            {
                *mask |= bit;
                let mut t = t;
                if views.of(frame) < views.of(kept_frame) {
                    std::mem::swap(kept, &mut t);
                }
                merge(kept, t);
                continue;
            }
        }
        seen_by.push(bit);
        items.push(t);
    }
}

/// Keeps the better reading of a registration captured twice: a decoded stub over a cut or
/// sealed one, a captured response over a missing one.
fn merge_registration(kept: &mut RegistrationFacts, other: RegistrationFacts) {
    if !matches!(kept.request, RequestFacts::Decoded(_))
        && matches!(other.request, RequestFacts::Decoded(_))
    {
        kept.request = other.request;
    }
    let informative =
        |r: &ResponseFacts| !matches!(r, ResponseFacts::Missing | ResponseFacts::Undecodable(_));
    if !informative(&kept.response) && informative(&other.response) {
        kept.response = other.response;
        kept.response_frame = other.response_frame;
    }
    kept.response_frame = kept.response_frame.or(other.response_frame);
}

/// What identifies a registration wherever it is captured (however much of its stub each
/// capture holds): its length.
fn registration_identity(r: &RegistrationFacts) -> u64 {
    identity(r.stub_len)
}

/// What identifies a datagram wherever it is captured.
fn datagram_identity(d: &UdpCandidate) -> u64 {
    identity((d.src, d.dst, d.ip_id, d.payload()))
}

impl Correlator {
    /// Takes in the facts another view of the same trace collected, its clock `shift_ns`
    /// ahead of this one's; `tolerance_ns` is how far apart two captures of one packet may
    /// lie once on one clock. Facts seen at both views are merged when judged.
    pub fn absorb(&mut self, other: Correlator, shift_ns: i64, tolerance_ns: i64) {
        let at = |ts: i64| ts.saturating_sub(shift_ns);
        for mut view in other.views {
            if view.first_ts_ns != i64::MAX {
                view.first_ts_ns = at(view.first_ts_ns);
                view.last_ts_ns = at(view.last_ts_ns);
            }
            self.views.push(view);
        }
        self.tolerance_ns = self.tolerance_ns.max(tolerance_ns);
        self.servers.extend(other.servers);
        for (callback, key) in other.callbacks {
            self.callbacks.entry(callback).or_insert(key);
        }
        self.pending.extend(other.pending.into_iter().map(|mut d| {
            d.ts_ns = at(d.ts_ns);
            d
        }));
        self.icmp.extend(other.icmp.into_iter().map(|mut e| {
            e.ts_ns = at(e.ts_ns);
            e
        }));
        self.warnings.extend(other.warnings);
        let cap = self.limits.max_items_per_session;
        for (key, mut state) in other.sessions {
            shift_session(&mut state, shift_ns);
            // A session the cap turns away is cited by its earliest frame.
            let frame = state.earliest_frame().unwrap_or_default();
            if let Some(s) = self.session(key.0, key.1, frame) {
                absorb_session(s, state, cap);
            }
        }
    }

    /// Merges, in every session and among the ICMP errors, the facts captured at several
    /// views (nothing to do for one view).
    pub(super) fn merge_views(&mut self, views: &ViewIndex) {
        if self.views.len() < 2 {
            return;
        }
        let tolerance = self.tolerance_ns;
        let sightings = &mut self.sightings;
        for s in self.sessions.values_mut() {
            s.shown_in = super::judge::inputs_with_frames(s);
            collapse(
                &mut s.calls,
                views,
                tolerance,
                |c| (u64::from(c.key), c.ts_ns, c.frame),
                |kept, other| {
                    kept.response_ts_ns = kept.response_ts_ns.or(other.response_ts_ns);
                },
            );
            collapse(
                &mut s.registrations,
                views,
                tolerance,
                |r| (registration_identity(r), r.request_ts_ns, r.request_frame),
                merge_registration,
            );
            collapse(
                &mut s.unregistrations,
                views,
                tolerance,
                |&(frame, ts)| (0, ts, frame),
                |_, _| {},
            );
            collapse(
                &mut s.bind_rejections,
                views,
                tolerance,
                |b| (identity(&b.why), b.ts_ns, b.frame),
                |_, _| {},
            );
            collapse(
                &mut s.datagrams,
                views,
                tolerance,
                |d| (datagram_identity(d), d.ts_ns, d.frame),
                |kept, other| sightings.join(kept.frame, (other.frame, other.ts_ns)),
            );
        }
        collapse(
            &mut self.icmp,
            views,
            tolerance,
            |e: &IcmpCandidate| {
                let q = &e.quoted;
                let what = (e.from, e.code, q.src, q.dst, q.src_port, q.dst_port);
                (identity(what), e.ts_ns, e.frame)
            },
            |kept, other| sightings.join(kept.frame, (other.frame, other.ts_ns)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(inputs: &[usize]) -> ViewSpan {
        ViewSpan {
            inputs: inputs.to_vec(),
            first_ts_ns: 0,
            last_ts_ns: 100,
        }
    }

    /// (identity, time, frame): frames of input 0 and 1 are two views.
    fn item(identity: u64, ts: i64, input: usize, number: u64) -> (u64, i64, u64, Vec<u64>) {
        let frame = crate::flow::frame_ref(input, number);
        (identity, ts, frame, vec![frame])
    }

    fn collapsed(items: &mut Vec<(u64, i64, u64, Vec<u64>)>, tolerance: i64) {
        let views = ViewIndex::new(&[view(&[0]), view(&[1, 2])]);
        collapse(
            items,
            &views,
            tolerance,
            |t| (t.0, t.1, t.2),
            |kept, other| kept.3.extend(other.3),
        );
    }

    #[test]
    fn one_packet_at_two_views_is_one_fact() {
        let mut items = vec![item(7, 1_000, 0, 5), item(7, 1_004, 1, 9)];
        collapsed(&mut items, 10);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].3.len(), 2);
        // The reference view's capture is kept in front, even when it came later.
        let mut items = vec![item(7, 1_000, 1, 9), item(7, 1_004, 0, 5)];
        collapsed(&mut items, 10);
        assert_eq!(items[0].2, crate::flow::frame_ref(0, 5));
    }

    #[test]
    fn a_repeat_within_one_view_stays_two_facts() {
        // Two captures in one view (a chain's two files are one view) are two packets.
        let mut items = vec![item(7, 1_000, 1, 5), item(7, 1_001, 2, 1)];
        collapsed(&mut items, 10);
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn different_packets_or_times_beyond_the_tolerance_stay_apart() {
        let mut items = vec![
            item(7, 1_000, 0, 5),
            item(8, 1_000, 1, 9),
            item(7, 1_020, 1, 10),
        ];
        collapsed(&mut items, 10);
        assert_eq!(items.len(), 3);
        // Pairs pair up in time order: each of two repeats finds its own twin.
        let mut items = vec![
            item(7, 1_000, 0, 5),
            item(7, 1_002, 1, 9),
            item(7, 2_000, 0, 6),
            item(7, 2_003, 1, 10),
        ];
        collapsed(&mut items, 10);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|t| t.3.len() == 2));
    }

    #[test]
    fn a_span_covers_what_it_captured_through() {
        let v = view(&[0]);
        assert!(v.covers(10, 50));
        assert!(!v.covers(60, 50));
        assert!(!v.covers(-1, 0));
    }
}
