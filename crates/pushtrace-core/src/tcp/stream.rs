//! One direction of a TCP connection: sequence numbers in, ordered bytes and gaps out.
//!
//! Positions are counted as `i64` offsets from the direction's first data byte (position 0
//! is the byte after the SYN, or the first byte of the first segment seen). A sequence
//! number is turned into a position through its signed 32-bit distance to the next
//! expected sequence number (RFC 9293 §3.4; serial arithmetic as in RFC 1982), so the
//! stored positions never wrap.
//!
//! Invariants between calls: buffered pieces are disjoint, all start after `next`, and all
//! end at or before the FIN when one is known.

use std::collections::BTreeMap;

use super::{Out, StreamSink};

/// How far ahead of the next expected byte a segment may start and still be believed: 2^30
/// bytes, the largest window TCP can advertise (RFC 7323 §2.3).
pub(super) const MAX_SEQ_AHEAD: i64 = 1 << 30;

/// Bookkeeping bytes charged against the global buffer cap for each buffered piece.
const PIECE_OVERHEAD: usize = 64;

/// The parts of a segment one direction needs, checked by the caller: `payload` is at most
/// `wire_len` bytes and `wire_len` is at most [`MAX_SEQ_AHEAD`].
pub(super) struct SegmentView<'p> {
    pub(super) seq: u32,
    pub(super) syn: bool,
    pub(super) fin: bool,
    pub(super) payload: &'p [u8],
    pub(super) wire_len: u64,
}

/// Out-of-order stream positions `[start, end)` (start is the map key): `bytes` holds the
/// captured prefix; the rest was cut by the snap length. `frame` and `ts_ns` are the frame
/// that carried it.
#[derive(Debug)]
struct Piece {
    end: i64,
    bytes: Vec<u8>,
    frame: u64,
    ts_ns: i64,
}

/// Which frame buffered bytes are cited with when they are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cite {
    /// The frame being processed, which filled the hole before them (a reader of the
    /// reassembled stream gets them there).
    Current,
    /// The frame that carried each piece, when the hole before it was lost to the capture.
    Carrier,
}

/// The reassembly state of one direction.
#[derive(Debug, Default)]
pub(super) struct HalfStream {
    /// Sequence number of position 0; unknown until a SYN, FIN or data segment is seen.
    base_seq: Option<u32>,
    /// Position of the next byte to deliver.
    next: i64,
    /// Sequence number of the SYN, when one was seen.
    syn_seq: Option<u32>,
    /// Position of the FIN (the stream's end), when known.
    fin: Option<i64>,
    /// Everything up to the FIN was delivered or reported as a gap.
    finished: bool,
    /// Highest acknowledgement number the other side sent, while it may still be ahead.
    peer_ack: Option<u32>,
    /// Out-of-order pieces by start position.
    pieces: BTreeMap<i64, Piece>,
    /// Payload bytes held in `pieces`.
    buffered_bytes: usize,
}

impl HalfStream {
    /// Whether everything up to this direction's FIN has been handed on.
    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a SYN with sequence number `seq` belongs to this direction's stream: it
    /// repeats the SYN already seen, or the stream is not anchored yet and the other side
    /// acknowledged `seq + 1` (its SYN-ACK was captured before this SYN).
    pub(super) fn accepts_syn(&self, seq: u32) -> bool {
        match (self.syn_seq, self.base_seq) {
            (Some(syn), _) => syn == seq,
            (None, None) => self.peer_ack == Some(seq.wrapping_add(1)),
            (None, Some(_)) => false,
        }
    }

    /// Applies one segment sent in this direction.
    pub(super) fn on_segment<S: StreamSink>(
        &mut self,
        seg: &SegmentView<'_>,
        out: &mut Out<'_, S>,
    ) {
        if self.base_seq.is_none() {
            self.base_seq = if seg.syn {
                Some(seg.seq.wrapping_add(1))
            } else if seg.wire_len > 0 || seg.fin {
                Some(seg.seq)
            } else {
                // A bare ACK says nothing about where this direction's stream starts.
                return;
            };
        }
        if seg.syn && self.syn_seq.is_none() {
            self.syn_seq = Some(seg.seq);
        }
        let Some(offset) = self.offset_from_next(seg.seq.wrapping_add(u32::from(seg.syn))) else {
            return;
        };
        if offset > MAX_SEQ_AHEAD {
            out.out_of_window();
            return;
        }
        let start = self.next + offset;
        let end = start + i64::try_from(seg.wire_len).unwrap_or(MAX_SEQ_AHEAD);
        if seg.fin {
            self.note_fin(end, out);
        }
        self.on_data(start, end, seg.payload, out);
        self.settle(out);
    }

    /// Takes note of an acknowledgement number sent by the other side, and skips holes the
    /// other side has thereby shown to be lost to the capture.
    pub(super) fn on_peer_ack<S: StreamSink>(&mut self, ack: u32, out: &mut Out<'_, S>) {
        let keep_old = self.peer_ack.is_some_and(|old| {
            ack.wrapping_sub(old) as i32 <= 0 && self.acked_position(old).is_some()
        });
        if !keep_old {
            self.peer_ack = Some(ack);
        }
        if !self.pieces.is_empty() || (self.fin.is_some() && !self.finished) {
            self.settle(out);
        }
    }

    /// Drops the buffered pieces; returns the bytes they were charged against the shared
    /// budget and whether this direction's FIN was seen.
    pub(super) fn discard(&mut self) -> (usize, bool) {
        let freed = self.buffered_bytes + self.pieces.len() * PIECE_OVERHEAD;
        self.pieces = BTreeMap::new();
        self.buffered_bytes = 0;
        (freed, self.fin.is_some())
    }

    /// Hands on everything left: buffered pieces with gaps for the holes between them, then a
    /// gap up to the FIN, or up to the other side's acknowledgement when no FIN was seen.
    pub(super) fn flush<S: StreamSink>(&mut self, out: &mut Out<'_, S>) {
        self.drain_contiguous(out);
        while let Some(&first) = self.pieces.keys().next() {
            self.skip_to(first, out);
        }
        if self.finished || self.base_seq.is_none() {
            return;
        }
        // Without a FIN, an acknowledgement that covers an uncaptured FIN makes this last gap
        // one byte longer than the missing data.
        if let Some(end) = self.fin.or_else(|| self.acked_position_of_peer()) {
            self.skip_to(end, out);
        }
    }

    /// The signed distance from the next expected sequence number to `seq`, once the
    /// direction is anchored.
    fn offset_from_next(&self, seq: u32) -> Option<i64> {
        let base = self.base_seq?;
        // Truncation to 32 bits is the point: sequence numbers live modulo 2^32.
        let next_seq = base.wrapping_add(self.next as u32);
        Some(i64::from(seq.wrapping_sub(next_seq) as i32))
    }

    /// The stream position acknowledged by `ack`, when it lies plausibly ahead of `next`.
    fn acked_position(&self, ack: u32) -> Option<i64> {
        match self.offset_from_next(ack)? {
            offset @ 1..=MAX_SEQ_AHEAD => Some(self.next + offset),
            _ => None,
        }
    }

    fn acked_position_of_peer(&self) -> Option<i64> {
        self.acked_position(self.peer_ack?)
    }

    /// Records the FIN at position `end`, unless it is old, repeats or contradicts the FIN
    /// already known, or would cut bytes already buffered beyond it (first received wins).
    fn note_fin<S: StreamSink>(&mut self, end: i64, out: &mut Out<'_, S>) {
        if self.finished || end < self.next || self.fin == Some(end) {
            return;
        }
        let buffered_end = self.pieces.values().next_back().map_or(end, |p| p.end);
        if self.fin.is_some() || buffered_end > end {
            out.stats().conflicting_fins += 1;
            return;
        }
        self.fin = Some(end);
    }

    /// Places the segment's positions `[start, end)`, of which `captured` holds a prefix.
    fn on_data<S: StreamSink>(
        &mut self,
        start: i64,
        end: i64,
        captured: &[u8],
        out: &mut Out<'_, S>,
    ) {
        let mut end = end;
        if let Some(fin) = self.fin {
            if end > fin {
                out.stats().bytes_after_fin += (end - start.max(fin)) as u64;
                end = fin;
            }
        }
        if end <= start {
            return;
        }
        let keep = usize::try_from(end - start)
            .unwrap_or(usize::MAX)
            .min(captured.len());
        let captured = captured.get(..keep).unwrap_or_default();
        loop {
            if out.declined {
                // The sink gave the connection up: its bytes are not placed any more.
                return;
            }
            if end <= self.next {
                out.stats().retransmitted_bytes_dropped += captured.len() as u64;
                return;
            }
            if start <= self.next {
                self.deliver_in_order(start, end, captured, out);
                return;
            }
            if self.try_buffer(start, end, captured, out) {
                return;
            }
            // No room: give up the earliest hole, which lies before the first buffered piece
            // or before this segment, and try again.
            out.reorder_buffer_full();
            let target = self
                .pieces
                .keys()
                .next()
                .map_or(start, |&first| first.min(start));
            self.skip_to(target, out);
        }
    }

    /// Delivers a segment that starts at or before `next`, borrowing its bytes, and the
    /// buffered pieces it joins up with. Buffered pieces keep their bytes where they overlap
    /// the segment (first received wins); captured bytes that add nothing are counted as
    /// retransmitted.
    fn deliver_in_order<S: StreamSink>(
        &mut self,
        start: i64,
        end: i64,
        captured: &[u8],
        out: &mut Out<'_, S>,
    ) {
        let captured_end = start + captured.len() as i64;
        let mut delivered = 0usize;
        while self.next < end && !out.declined {
            let boundary = self
                .pieces
                .keys()
                .next()
                .map_or(end, |&first| first.min(end));
            let upto = boundary.min(captured_end);
            if self.next < upto {
                let bytes = slice_positions(captured, self.next - start, upto - start);
                out.data(bytes);
                delivered += bytes.len();
                self.next = upto;
            }
            if self.next < boundary {
                // On the wire, but cut from the capture by the snap length.
                out.gap((boundary - self.next) as u64, out.frame);
                self.next = boundary;
            }
            self.drain_contiguous(out);
        }
        if !out.declined {
            out.stats().retransmitted_bytes_dropped += (captured.len() - delivered) as u64;
        }
    }

    /// Copies the parts of an out-of-order segment that no buffered piece covers into the
    /// buffer. Returns false, changing nothing, when the caps leave no room for them.
    fn try_buffer<S: StreamSink>(
        &mut self,
        start: i64,
        end: i64,
        captured: &[u8],
        out: &mut Out<'_, S>,
    ) -> bool {
        let runs = self.uncovered(start, end);
        let captured_end = start + captured.len() as i64;
        let bytes_of = |from: i64, to: i64| {
            slice_positions(captured, from - start, to.min(captured_end) - start)
        };
        let needed: usize = runs
            .iter()
            .map(|&(from, to)| bytes_of(from, to).len())
            .sum();
        let charge = needed + runs.len() * PIECE_OVERHEAD;
        let limits = out.limits;
        if !runs.is_empty()
            && (self.buffered_bytes + needed > limits.max_ooo_bytes_per_direction
                || self.pieces.len() + runs.len() > limits.max_ooo_segments_per_direction
                || out.shared.buffered_total + charge > limits.max_buffered_bytes_total)
        {
            return false;
        }
        for &(from, to) in &runs {
            let piece = Piece {
                end: to,
                bytes: bytes_of(from, to).to_vec(),
                frame: out.frame,
                ts_ns: out.ts_ns,
            };
            self.pieces.insert(from, piece);
        }
        self.buffered_bytes += needed;
        let shared = &mut *out.shared;
        shared.buffered_total += charge;
        let stats = &mut shared.stats;
        stats.peak_buffered_bytes = stats.peak_buffered_bytes.max(shared.buffered_total as u64);
        stats.retransmitted_bytes_dropped += (captured.len() - needed) as u64;
        if !runs.is_empty() {
            stats.ooo_segments += 1;
        }
        true
    }

    /// The runs of `[start, end)` that no buffered piece covers, in order.
    fn uncovered(&self, start: i64, end: i64) -> Vec<(i64, i64)> {
        let mut runs = Vec::new();
        // A piece that begins before `start` may reach into the range.
        let mut cursor = self
            .pieces
            .range(..start)
            .next_back()
            .map_or(start, |(_, p)| p.end.max(start));
        for (&from, piece) in self.pieces.range(start..end) {
            if from > cursor {
                runs.push((cursor, from));
            }
            cursor = cursor.max(piece.end);
        }
        if cursor < end {
            runs.push((cursor, end));
        }
        runs
    }

    /// Reports the positions up to `target` as a gap, then delivers the pieces that follow,
    /// each cited with the frame that carried it: the hole was lost to the capture, so the
    /// bytes behind it were readable where they were captured (as Wireshark shows them).
    fn skip_to<S: StreamSink>(&mut self, target: i64, out: &mut Out<'_, S>) {
        if target > self.next {
            out.gap((target - self.next) as u64, out.frame);
            self.next = target;
        }
        self.drain(out, Cite::Carrier);
    }

    /// Delivers the buffered pieces the frame being processed joined up with the stream.
    fn drain_contiguous<S: StreamSink>(&mut self, out: &mut Out<'_, S>) {
        self.drain(out, Cite::Current);
    }

    /// Delivers buffered pieces while they continue the stream, and notes reaching the FIN.
    fn drain<S: StreamSink>(&mut self, out: &mut Out<'_, S>, cite: Cite) {
        while let Some(entry) = self.pieces.first_entry() {
            let from = *entry.key();
            if from > self.next {
                break;
            }
            let piece = entry.remove();
            self.buffered_bytes -= piece.bytes.len();
            out.shared.buffered_total -= piece.bytes.len() + PIECE_OVERHEAD;
            let skip = usize::try_from(self.next - from).unwrap_or(usize::MAX);
            let fresh = piece.bytes.get(skip..).unwrap_or_default();
            out.stats().retransmitted_bytes_dropped += (piece.bytes.len() - fresh.len()) as u64;
            match cite {
                Cite::Current => out.data(fresh),
                Cite::Carrier => out.data_from(fresh, piece.frame, piece.ts_ns),
            }
            self.next = self.next.max(from + piece.bytes.len() as i64);
            if self.next < piece.end {
                // This piece's own snap-length cut.
                out.gap((piece.end - self.next) as u64, out.frame);
                self.next = piece.end;
            }
        }
        if self.fin == Some(self.next) {
            self.finished = true;
        }
    }

    /// Delivers what has become contiguous, and while the other side has acknowledged
    /// positions beyond a hole that has buffered bytes or the FIN behind it, skips the hole
    /// up to the acknowledged position.
    fn settle<S: StreamSink>(&mut self, out: &mut Out<'_, S>) {
        loop {
            self.drain_contiguous(out);
            if self.finished || out.declined {
                return;
            }
            let Some(acked) = self.acked_position_of_peer() else {
                if self.base_seq.is_some() {
                    // Nothing new acknowledged (or nonsense): forget it, so that a stale
                    // value can never look ahead once sequence numbers wrap.
                    self.peer_ack = None;
                }
                return;
            };
            let first_piece = self.pieces.keys().next().copied();
            let Some(waiting) = first_piece.into_iter().chain(self.fin).min() else {
                return;
            };
            out.stats().holes_skipped_by_ack += 1;
            self.skip_to(acked.min(waiting), out);
        }
    }
}

/// The bytes of `captured` between relative positions `from` and `to` (empty when the range
/// is empty or outside the slice).
fn slice_positions(captured: &[u8], from: i64, to: i64) -> &[u8] {
    match (usize::try_from(from), usize::try_from(to)) {
        (Ok(from), Ok(to)) => captured.get(from..to).unwrap_or_default(),
        _ => &[],
    }
}
