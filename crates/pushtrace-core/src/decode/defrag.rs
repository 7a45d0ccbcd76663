//! A bounded reassembler for fragmented IPv4/IPv6 UDP datagrams (RFC 791 §3.2, RFC 8200 §4.5).
//!
//! etherparse's `IpDefragPool` is not protected against memory exhaustion and hides how many
//! datagrams and bytes it holds (formats.md §5.3), so this small reassembler is used instead.
//! It keeps every datagram in flight in one buffer (at most 65 535 bytes) plus a bitmap of the
//! 8-byte blocks received, and enforces three limits ([`DefragLimits`]):
//!
//! * at most `max_datagrams` datagrams in flight: a new datagram evicts the oldest one;
//! * at most `max_bytes` of buffer capacity in flight: growing a datagram evicts the oldest
//!   others, and a datagram that alone needs more is dropped;
//! * a datagram whose first fragment is older than `timeout_ns` (capture time) is dropped
//!   when the next fragment arrives.
//!
//! Duplicate and overlapping fragments overwrite the same bytes (later data wins). A fragment
//! that contradicts the datagram's end, is misaligned or reaches past 65 535 bytes is refused.

use super::FragmentStats;
use serde::Serialize;
use std::net::IpAddr;

/// Largest reassembled payload: the IP length fields are 16 bits.
const MAX_DATAGRAM: usize = 65_535;
/// 8-byte blocks in the largest payload, rounded up.
const MAX_BLOCKS: usize = MAX_DATAGRAM.div_ceil(8);
/// u64 words in the block bitmap.
const BITMAP_WORDS: usize = MAX_BLOCKS.div_ceil(64);

/// Caps on IP fragment reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DefragLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Buffer bytes held by datagrams being reassembled.
    pub max_bytes: usize,
    /// A datagram still incomplete this long (capture time, ns) after its first fragment is dropped.
    pub timeout_ns: i64,
}

impl Default for DefragLimits {
    /// 1024 datagrams, 4 MiB, 30 s (the Linux `ipfrag_time`). Push notifications are never
    /// fragmented; the pool only serves the odd fragmented datagram or segment.
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 1024,
            max_bytes: 4 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Which fragments belong together: RFC 791's (source, destination, protocol, identification),
/// plus the VLAN tags so copies seen on two VLANs stay apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FragmentKey {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Protocol of the fragmented payload.
    pub protocol: u8,
    /// Outer and inner VLAN IDs (0 when absent).
    pub vlans: [u16; 2],
}

/// One fragment handed to the reassembler.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fragment<'a> {
    /// Byte offset of `data` in the datagram's payload.
    pub offset: u16,
    /// More fragments follow this one.
    pub more: bool,
    /// The fragment's payload bytes.
    pub data: &'a [u8],
    /// Capture time of the frame (ns).
    pub ts_ns: i64,
}

/// What adding a fragment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddOutcome {
    /// The fragment is held; the datagram is not complete yet.
    Held,
    /// The datagram is complete: read it with [`Reassembler::completed`].
    Completed,
    /// The fragment contradicts the rules or its datagram (the reason says why); its datagram
    /// may have been dropped.
    Refused(&'static str),
    /// The fragment's datagram was dropped because a cap bit.
    Dropped,
}

/// Which caps made the reassembler drop a datagram while adding one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct CapsHit {
    /// `max_datagrams` bit.
    pub datagrams: bool,
    /// `max_bytes` bit.
    pub bytes: bool,
}

/// One datagram being reassembled.
#[derive(Debug)]
struct InFlight {
    key: FragmentKey,
    first_ts_ns: i64,
    /// Payload bytes; its length is the highest fragment end seen so far.
    data: Vec<u8>,
    /// Bit n set when block n (bytes 8n..8n+8) was received.
    blocks: Box<[u64; BITMAP_WORDS]>,
    blocks_received: usize,
    /// The payload length, known once the last fragment (more = false) arrived.
    end: Option<usize>,
}

/// The reassembler: datagrams in flight, the last completed one, and the byte count.
#[derive(Debug)]
pub(super) struct Reassembler {
    limits: DefragLimits,
    in_flight: Vec<InFlight>,
    /// Sum of the buffer capacities of `in_flight`.
    bytes: usize,
    /// The last completed datagram's payload (the decoder lends it out until the next call).
    completed: Vec<u8>,
    /// One recycled payload buffer and bitmap, to avoid an allocation per datagram.
    spare: Option<(Vec<u8>, Box<[u64; BITMAP_WORDS]>)>,
}

impl Reassembler {
    /// An empty reassembler with these caps.
    pub(super) fn new(limits: DefragLimits) -> Self {
        Reassembler {
            limits,
            in_flight: Vec::new(),
            bytes: 0,
            completed: Vec::new(),
            spare: None,
        }
    }

    /// The payload of the datagram the last [`AddOutcome::Completed`] announced.
    pub(super) fn completed(&self) -> &[u8] {
        &self.completed
    }

    /// Adds one fragment. Counts drops in `stats`; returns the cap that made it drop a
    /// datagram, if one did.
    pub(super) fn add(
        &mut self,
        stats: &mut FragmentStats,
        key: FragmentKey,
        fragment: Fragment<'_>,
    ) -> (AddOutcome, CapsHit) {
        self.expire(stats, fragment.ts_ns);
        let outcome = self.add_unexpired(stats, key, fragment);
        stats.datagrams_in_flight = self.in_flight.len() as u64;
        outcome
    }

    fn add_unexpired(
        &mut self,
        stats: &mut FragmentStats,
        key: FragmentKey,
        fragment: Fragment<'_>,
    ) -> (AddOutcome, CapsHit) {
        let start = usize::from(fragment.offset);
        let end = start.saturating_add(fragment.data.len());
        if end > MAX_DATAGRAM {
            return (
                AddOutcome::Refused("ip fragment reaches past 65535 bytes"),
                CapsHit::default(),
            );
        }
        if fragment.more && !fragment.data.len().is_multiple_of(8) {
            return (
                AddOutcome::Refused("ip fragment length not a multiple of 8"),
                CapsHit::default(),
            );
        }

        let existing = self.take(&key);
        if end > self.limits.max_bytes {
            if let Some(entry) = existing {
                self.recycle(entry);
            }
            stats.datagrams_dropped_cap += 1;
            let caps = CapsHit {
                bytes: true,
                ..CapsHit::default()
            };
            return (AddOutcome::Dropped, caps);
        }
        let mut caps = CapsHit::default();
        let mut entry = match existing {
            Some(entry) => entry,
            None => {
                if self.limits.max_datagrams == 0 {
                    stats.datagrams_dropped_cap += 1;
                    let caps = CapsHit {
                        datagrams: true,
                        ..CapsHit::default()
                    };
                    return (AddOutcome::Dropped, caps);
                }
                while self.in_flight.len() >= self.limits.max_datagrams {
                    self.evict_oldest();
                    stats.datagrams_dropped_cap += 1;
                    caps.datagrams = true;
                }
                self.new_entry(key, fragment.ts_ns)
            }
        };

        let conflicting_end = match entry.end {
            Some(known) => end > known || (!fragment.more && end != known),
            None => !fragment.more && entry.data.len() > end,
        };
        if conflicting_end {
            self.recycle(entry);
            stats.datagrams_dropped_invalid += 1;
            return (
                AddOutcome::Refused("ip fragments disagree on the datagram end"),
                caps,
            );
        }

        // The entry's buffer after this fragment; both terms are at most `max_bytes` (checked
        // above; `recycle` keeps no bigger buffer). Make room among the others.
        let needed = end.max(entry.data.capacity());
        while self.bytes.saturating_add(needed) > self.limits.max_bytes
            && !self.in_flight.is_empty()
        {
            self.evict_oldest();
            stats.datagrams_dropped_cap += 1;
            caps.bytes = true;
        }
        if end > entry.data.len() {
            entry.data.reserve_exact(end - entry.data.len());
            entry.data.resize(end, 0);
        }
        if let Some(target) = entry.data.get_mut(start..end) {
            target.copy_from_slice(fragment.data);
        }
        for block in start / 8..end.div_ceil(8) {
            if let Some(word) = entry.blocks.get_mut(block / 64) {
                let bit = 1u64 << (block % 64);
                if *word & bit == 0 {
                    *word |= bit;
                    entry.blocks_received += 1;
                }
            }
        }
        if !fragment.more {
            entry.end = Some(end);
        }

        match entry.end {
            Some(known) if entry.blocks_received == known.div_ceil(8) => {
                std::mem::swap(&mut self.completed, &mut entry.data);
                self.recycle(entry);
                stats.datagrams_reassembled += 1;
                (AddOutcome::Completed, caps)
            }
            _ => {
                self.bytes = self.bytes.saturating_add(entry.data.capacity());
                self.in_flight.push(entry);
                (AddOutcome::Held, caps)
            }
        }
    }

    /// Drops datagrams whose first fragment is older than the timeout.
    fn expire(&mut self, stats: &mut FragmentStats, now_ns: i64) {
        let mut index = 0;
        while let Some(entry) = self.in_flight.get(index) {
            if now_ns.saturating_sub(entry.first_ts_ns) > self.limits.timeout_ns {
                // swap_remove moves the last entry here: look at this index again.
                let stale = self.remove(index);
                self.recycle(stale);
                stats.datagrams_dropped_timeout += 1;
            } else {
                index += 1;
            }
        }
    }

    /// Removes the in-flight datagram with this key, if any, from the list and the byte count.
    fn take(&mut self, key: &FragmentKey) -> Option<InFlight> {
        let index = self.in_flight.iter().position(|entry| entry.key == *key)?;
        Some(self.remove(index))
    }

    fn remove(&mut self, index: usize) -> InFlight {
        let entry = self.in_flight.swap_remove(index);
        self.bytes = self.bytes.saturating_sub(entry.data.capacity());
        entry
    }

    /// Drops the datagram whose first fragment is the oldest.
    fn evict_oldest(&mut self) {
        let oldest = self
            .in_flight
            .iter()
            .enumerate()
            .min_by_key(|(_, entry)| entry.first_ts_ns)
            .map(|(index, _)| index);
        if let Some(index) = oldest {
            let entry = self.remove(index);
            self.recycle(entry);
        }
    }

    fn new_entry(&mut self, key: FragmentKey, ts_ns: i64) -> InFlight {
        let (data, blocks) = self
            .spare
            .take()
            .unwrap_or_else(|| (Vec::new(), Box::new([0; BITMAP_WORDS])));
        InFlight {
            key,
            first_ts_ns: ts_ns,
            data,
            blocks,
            blocks_received: 0,
            end: None,
        }
    }

    /// Keeps a finished datagram's buffers for the next one, unless the payload buffer is
    /// larger than the byte cap allows.
    fn recycle(&mut self, entry: InFlight) {
        let InFlight {
            mut data,
            mut blocks,
            ..
        } = entry;
        if data.capacity() <= self.limits.max_bytes {
            data.clear();
            blocks.fill(0);
            self.spare = Some((data, blocks));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// Only `max_datagrams` bit.
    const DATAGRAM_CAP: CapsHit = CapsHit {
        datagrams: true,
        bytes: false,
    };
    /// Only `max_bytes` bit.
    const BYTE_CAP: CapsHit = CapsHit {
        datagrams: false,
        bytes: true,
    };

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            protocol: 17,
            vlans: [0, 0],
        }
    }

    fn frag(offset: u16, more: bool, data: &[u8], ts_ns: i64) -> Fragment<'_> {
        Fragment {
            offset,
            more,
            data,
            ts_ns,
        }
    }

    #[test]
    fn in_order_and_out_of_order() {
        let payload: Vec<u8> = (0..40u8).collect();
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut r = Reassembler::new(DefragLimits::default());
            let mut stats = FragmentStats::default();
            let pieces = [
                frag(0, true, &payload[..16], 0),
                frag(16, true, &payload[16..32], 1),
                frag(32, false, &payload[32..], 2),
            ];
            let outcomes: Vec<_> = order
                .iter()
                .map(|&i| r.add(&mut stats, key(1), pieces[i]).0)
                .collect();
            assert_eq!(
                outcomes,
                [AddOutcome::Held, AddOutcome::Held, AddOutcome::Completed]
            );
            assert_eq!(r.completed(), &payload[..]);
            assert_eq!(
                (stats.datagrams_reassembled, stats.datagrams_in_flight),
                (1, 0)
            );
        }
    }

    #[test]
    fn duplicates_and_overlaps() {
        let payload: Vec<u8> = (0..24u8).collect();
        let mut r = Reassembler::new(DefragLimits::default());
        let mut stats = FragmentStats::default();
        assert_eq!(
            r.add(&mut stats, key(1), frag(0, true, &payload[..16], 0))
                .0,
            AddOutcome::Held
        );
        assert_eq!(
            r.add(&mut stats, key(1), frag(0, true, &payload[..16], 0))
                .0,
            AddOutcome::Held
        );
        // Overlapping 8..16 again, with the tail.
        assert_eq!(
            r.add(&mut stats, key(1), frag(8, false, &payload[8..], 0))
                .0,
            AddOutcome::Completed
        );
        assert_eq!(r.completed(), &payload[..]);
    }

    #[test]
    fn conflicting_ends_drop_the_datagram() {
        let mut r = Reassembler::new(DefragLimits::default());
        let mut stats = FragmentStats::default();
        r.add(&mut stats, key(1), frag(8, false, &[1; 8], 0));
        let (outcome, _) = r.add(&mut stats, key(1), frag(16, true, &[2; 8], 0));
        assert_eq!(
            outcome,
            AddOutcome::Refused("ip fragments disagree on the datagram end")
        );
        assert_eq!(
            (stats.datagrams_dropped_invalid, stats.datagrams_in_flight),
            (1, 0)
        );
    }

    #[test]
    fn misaligned_and_oversized_fragments_are_refused() {
        let mut r = Reassembler::new(DefragLimits::default());
        let mut stats = FragmentStats::default();
        assert_eq!(
            r.add(&mut stats, key(1), frag(0, true, &[0; 7], 0)).0,
            AddOutcome::Refused("ip fragment length not a multiple of 8")
        );
        assert_eq!(
            r.add(&mut stats, key(1), frag(65528, false, &[0; 16], 0)).0,
            AddOutcome::Refused("ip fragment reaches past 65535 bytes")
        );
        assert!(r.in_flight.is_empty());
    }

    #[test]
    fn timeout_drops_incomplete_datagrams() {
        let limits = DefragLimits {
            timeout_ns: 1_000,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        r.add(&mut stats, key(1), frag(0, true, &[0; 8], 0));
        r.add(&mut stats, key(2), frag(0, true, &[0; 8], 900));
        // At t = 1001 the first one is stale; its tail starts a new, incomplete datagram.
        assert_eq!(
            r.add(&mut stats, key(1), frag(8, false, &[0; 8], 1_001)).0,
            AddOutcome::Held
        );
        assert_eq!(
            (stats.datagrams_dropped_timeout, stats.datagrams_in_flight),
            (1, 2)
        );
        // Time going backwards expires nothing.
        r.add(&mut stats, key(3), frag(0, true, &[0; 8], -5));
        assert_eq!(stats.datagrams_dropped_timeout, 1);
    }

    #[test]
    fn datagram_cap_evicts_the_oldest() {
        let limits = DefragLimits {
            max_datagrams: 2,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        assert_eq!(
            r.add(&mut stats, key(1), frag(0, true, &[1; 8], 10)).1,
            CapsHit::default()
        );
        assert_eq!(
            r.add(&mut stats, key(2), frag(0, true, &[2; 8], 20)).1,
            CapsHit::default()
        );
        assert_eq!(
            r.add(&mut stats, key(3), frag(0, true, &[3; 8], 30)).1,
            DATAGRAM_CAP
        );
        assert_eq!(
            (stats.datagrams_dropped_cap, stats.datagrams_in_flight),
            (1, 2)
        );
        // Datagram 1 was the oldest: its tail no longer completes it; 2 still completes.
        assert_eq!(
            r.add(&mut stats, key(2), frag(8, false, &[2; 4], 40)).0,
            AddOutcome::Completed
        );
        assert_eq!(r.completed(), &[2; 12]);
        assert!(r.in_flight.iter().all(|entry| entry.key.id != 1));
    }

    #[test]
    fn byte_cap_evicts_others_then_refuses() {
        let limits = DefragLimits {
            max_bytes: 64,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        assert_eq!(
            r.add(&mut stats, key(1), frag(0, true, &[1; 40], 0)).0,
            AddOutcome::Held
        );
        // 40 + 40 > 64: datagram 1 goes.
        assert_eq!(
            r.add(&mut stats, key(2), frag(0, true, &[2; 40], 1)),
            (AddOutcome::Held, BYTE_CAP)
        );
        assert_eq!(stats.datagrams_dropped_cap, 1);
        assert!(r.bytes <= 64);
        // A datagram that alone needs more than 64 bytes is refused.
        let (outcome, cap) = r.add(&mut stats, key(3), frag(64, true, &[3; 8], 2));
        assert_eq!((outcome, cap), (AddOutcome::Dropped, BYTE_CAP));
        assert_eq!(
            stats.datagrams_dropped_cap, 2,
            "datagram 3 refused without evicting datagram 2"
        );
        assert_eq!(r.in_flight.len(), 1);
    }

    #[test]
    fn both_caps_can_bite_on_one_fragment() {
        let limits = DefragLimits {
            max_datagrams: 2,
            max_bytes: 32,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        r.add(&mut stats, key(1), frag(0, true, &[1; 16], 0));
        r.add(&mut stats, key(2), frag(0, true, &[2; 16], 1));
        // Datagram 1 goes for the datagram cap, then datagram 2 for the byte cap (16 + 24 > 32).
        let (outcome, caps) = r.add(&mut stats, key(3), frag(0, true, &[3; 24], 2));
        assert_eq!(
            (outcome, caps),
            (
                AddOutcome::Held,
                CapsHit {
                    datagrams: true,
                    bytes: true
                }
            )
        );
        assert_eq!(
            (stats.datagrams_dropped_cap, r.in_flight.len(), r.bytes),
            (2, 1, 24)
        );
    }

    #[test]
    fn recycled_buffer_counts_against_the_byte_cap() {
        let limits = DefragLimits {
            max_bytes: 64,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        // Datagram 1 (56 bytes) completes and becomes the completed buffer.
        r.add(&mut stats, key(1), frag(0, true, &[1; 48], 0));
        assert_eq!(
            r.add(&mut stats, key(1), frag(48, false, &[1; 8], 0)).0,
            AddOutcome::Completed
        );
        r.add(&mut stats, key(5), frag(0, true, &[5; 16], 1));
        // Datagram 3 completes: datagram 1's 56-byte buffer becomes the spare.
        r.add(&mut stats, key(3), frag(0, true, &[3; 8], 2));
        assert_eq!(
            r.add(&mut stats, key(3), frag(8, false, &[3; 8], 2)).0,
            AddOutcome::Completed
        );
        // An empty fragment of a new datagram takes the spare: 16 + 56 > 64, datagram 5 goes.
        let (outcome, caps) = r.add(&mut stats, key(4), frag(0, true, &[], 3));
        assert_eq!((outcome, caps), (AddOutcome::Held, BYTE_CAP));
        assert_eq!((r.bytes, r.in_flight.len()), (56, 1));
    }

    #[test]
    fn zero_datagram_cap_holds_nothing() {
        let limits = DefragLimits {
            max_datagrams: 0,
            ..DefragLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let mut stats = FragmentStats::default();
        let (outcome, cap) = r.add(&mut stats, key(1), frag(0, true, &[1; 8], 0));
        assert_eq!((outcome, cap), (AddOutcome::Dropped, DATAGRAM_CAP));
        assert!(r.in_flight.is_empty());
    }

    proptest! {
        #[test]
        fn random_fragment_streams_stay_within_caps(
            pieces in proptest::collection::vec((0u32..4, 0u16..80, any::<bool>(), 0usize..40, 0i64..5), 0..40),
        ) {
            let limits = DefragLimits { max_datagrams: 3, max_bytes: 512, timeout_ns: 3 };
            let mut r = Reassembler::new(limits);
            let mut stats = FragmentStats::default();
            let payload = [0x5A; 40];
            for (id, offset_blocks, more, len, ts) in pieces {
                let (outcome, _) = r.add(&mut stats, key(id), frag(offset_blocks * 8, more, &payload[..len], ts));
                prop_assert!(r.in_flight.len() <= 3);
                prop_assert!(r.bytes <= 512);
                prop_assert_eq!(r.bytes, r.in_flight.iter().map(|entry| entry.data.capacity()).sum::<usize>());
                prop_assert_eq!(stats.datagrams_in_flight, r.in_flight.len() as u64);
                if outcome == AddOutcome::Completed {
                    prop_assert!(r.completed().iter().all(|&byte| byte == 0x5A));
                }
            }
        }
    }
}
