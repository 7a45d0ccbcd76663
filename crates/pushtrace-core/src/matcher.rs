//! Capture points: the packets two simultaneous captures share, and how far apart their
//! clocks are.
//!
//! Two captures taken at the same time at two places (on the Exchange server and on the
//! client, say) hold many of the same packets: the TCP segments of the client's calls, with
//! the same addresses, ports, sequence and acknowledgement numbers, IPv4 identification and
//! length, only with other TTLs, MACs and timestamps. A packet's [`fingerprint`] is that
//! identity.
//!
//! Each view keeps a [`FingerprintSample`]: the fingerprints below a threshold, the
//! threshold halved whenever the sample is full. The choice depends on the fingerprint
//! alone, so two views of the same traffic keep the same packets: below the lower of their
//! two thresholds, a packet both captured is in both samples, however many gigabytes each
//! view holds. Memory is bounded by [`SAMPLE_CAP`] entries per view (a hash map of 24-byte
//! entries: under 512 KiB).
//!
//! [`clock_offset`] estimates how far one view's clock is ahead of the other's from the
//! matched packets as NTP does: a packet going one way arrives `offset + delay` later by the
//! other clock, one going back `offset − delay`; per pair of hosts, the mean of the two
//! directions' medians is the offset and half their difference the one-way delay between
//! the capture points.

use crate::decode::{Packet, Transport};
use std::collections::HashMap;
use std::net::IpAddr;

/// Most fingerprints a view keeps: enough that a client capture and a server capture a
/// hundred times larger still share about 80 sampled packets (a dozen suffice).
pub const SAMPLE_CAP: usize = 8_192;
/// Fewest packets two views must share to be taken for views of one trace.
pub const MIN_SHARED: usize = 6;

/// The identity of a TCP segment or UDP datagram wherever it is captured: addresses, ports,
/// IPv4 identification, lengths, and the sequence and acknowledgement numbers and flags of
/// a segment or the first bytes of a datagram. `None` for other packets.
///
/// The fields are folded with a multiply-xorshift mix and finished with SplitMix64's
/// finaliser: the same packet gives the same value in every run and view, and the values
/// spread evenly, which the sample's threshold relies on. (A keyed hash is not needed: a
/// capture that forces collisions only merges its own packets.)
pub fn fingerprint(packet: &Packet<'_>) -> Option<u64> {
    let (src, dst) = (address_words(packet.src), address_words(packet.dst));
    let mut words = [src.0, src.1, dst.0, dst.1, 0, 0, 0, 0];
    match &packet.transport {
        Transport::Tcp(seg) => {
            let f = seg.flags;
            let flags = u64::from(f.syn)
                | u64::from(f.ack) << 1
                | u64::from(f.fin) << 2
                | u64::from(f.rst) << 3;
            words[4] =
                u64::from(seg.src_port) << 48 | u64::from(seg.dst_port) << 32 | u64::from(seg.seq);
            words[5] = u64::from(seg.ack) << 32 | u64::from(seg.wire_payload_len);
            words[6] = flags << 32 | 6;
        }
        Transport::Udp(udp) => {
            let mut head = [0u8; 16];
            let n = udp.payload.len().min(16);
            head[..n].copy_from_slice(&udp.payload[..n]);
            words[4] = u64::from(udp.src_port) << 48
                | u64::from(udp.dst_port) << 32
                | u64::from(udp.wire_payload_len);
            words[5] = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
            words[6] = u64::from_le_bytes(head[8..].try_into().unwrap_or_default()) ^ 17;
        }
        _ => return None,
    }
    words[7] = packet.ip_id.map_or(1 << 16, u64::from);
    let mut h = fold(&words);
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    Some(h ^ (h >> 31))
}

/// The multiply-xorshift fold of `words` (order matters).
fn fold(words: &[u64]) -> u64 {
    words.iter().fold(0, |h: u64, &w| {
        let h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    })
}

/// An address as two 64-bit words.
fn address_words(ip: IpAddr) -> (u64, u64) {
    match ip {
        IpAddr::V4(a) => (u64::from(u32::from(a)), 4),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            (bits as u64, (bits >> 64) as u64)
        }
    }
}

/// When a sampled packet was seen, and between which hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sighting {
    ts_ns: i64,
    /// The pair of hosts and the direction: a hash of the two addresses in order, its lowest
    /// bit set when the packet goes from the higher address to the lower (so the packets
    /// going back have `link ^ 1`). Eight bytes instead of two addresses keep the sample
    /// small.
    link: u64,
}

/// The [`Sighting::link`] of a packet from `src` to `dst`.
fn link(src: IpAddr, dst: IpAddr) -> u64 {
    let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
    let (a, b) = (address_words(lo), address_words(hi));
    (fold(&[a.0, a.1, b.0, b.1]) & !1) | u64::from(src > dst)
}

/// A view's bounded sample of packet fingerprints (see the module documentation).
#[derive(Debug, Clone)]
pub struct FingerprintSample {
    /// Fingerprints at or above it are not kept.
    threshold: u64,
    /// The fingerprints kept; a fingerprint seen again in this view (the same packet
    /// captured twice) keeps its first sighting.
    seen: HashMap<u64, Sighting>,
    /// Most fingerprints kept.
    cap: usize,
}

impl Default for FingerprintSample {
    fn default() -> Self {
        FingerprintSample::with_cap(SAMPLE_CAP)
    }
}

impl FingerprintSample {
    /// A sample of at most `cap` fingerprints.
    pub fn with_cap(cap: usize) -> Self {
        FingerprintSample {
            threshold: u64::MAX,
            seen: HashMap::new(),
            cap: cap.max(2),
        }
    }

    /// Notes a packet from `src` to `dst` captured at `ts_ns`.
    pub fn observe(&mut self, fingerprint: u64, ts_ns: i64, (src, dst): (IpAddr, IpAddr)) {
        if fingerprint >= self.threshold {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.seen.entry(fingerprint) {
            slot.insert(Sighting {
                ts_ns,
                link: link(src, dst),
            });
        } else {
            return;
        }
        while self.seen.len() > self.cap {
            self.threshold /= 2;
            let threshold = self.threshold;
            self.seen.retain(|&f, _| f < threshold);
        }
    }

    /// Fingerprints kept.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// How a view's clock relates to a reference view's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// How far the view's clock is ahead of the reference's (negative: behind).
    pub offset_ns: i64,
    /// How far single packets stray from it (the 90th percentile of the residuals).
    pub spread_ns: i64,
    /// The one-way delay between the two capture points (0 when packets were matched in
    /// one direction only, and it could not be told from the offset).
    pub delay_ns: i64,
    /// Packets matched.
    pub shared: usize,
}

/// How far `other`'s clock is ahead of `reference`'s, from the packets both samples hold;
/// `None` when they share fewer than [`MIN_SHARED`].
pub fn clock_offset(
    reference: &FingerprintSample,
    other: &FingerprintSample,
) -> Option<ClockOffset> {
    let threshold = reference.threshold.min(other.threshold);
    // Per pair of hosts and direction: the differences `other − reference`.
    let mut deltas: HashMap<u64, Vec<i64>> = HashMap::new();
    let mut shared = 0;
    for (fp, r) in reference.seen.iter().filter(|(&f, _)| f < threshold) {
        if let Some(o) = other.seen.get(fp) {
            shared += 1;
            deltas
                .entry(r.link)
                .or_default()
                .push(o.ts_ns.saturating_sub(r.ts_ns));
        }
    }
    if shared < MIN_SHARED {
        return None;
    }
    // Each pair of hosts seen both ways gives an offset and a delay.
    let medians: HashMap<u64, i64> = deltas
        .iter_mut()
        .map(|(&hosts, d)| (hosts, median(d)))
        .collect();
    let mut offsets = Vec::new();
    let mut delays = Vec::new();
    for (&forward_link, &forward) in &medians {
        if forward_link & 1 == 0 {
            if let Some(&back) = medians.get(&(forward_link ^ 1)) {
                // Halves first: capture times are untrusted, the sums must not overflow.
                offsets.push(forward / 2 + back / 2);
                delays.push((forward / 2 - back / 2).saturating_abs());
            }
        }
    }
    let (offset_ns, delay_ns) = if offsets.is_empty() {
        // One direction only: offset and delay cannot be told apart.
        let mut all: Vec<i64> = deltas.values().flatten().copied().collect();
        (median(&mut all), 0)
    } else {
        (median(&mut offsets), median(&mut delays))
    };
    let mut residuals: Vec<i64> = deltas
        .values()
        .flatten()
        .map(|&d| {
            let off = d.saturating_sub(offset_ns).unsigned_abs();
            i64::try_from(off.abs_diff(delay_ns.unsigned_abs())).unwrap_or(i64::MAX)
        })
        .collect();
    residuals.sort_unstable();
    let spread_ns = residuals[(residuals.len() * 9 / 10).min(residuals.len() - 1)];
    Some(ClockOffset {
        offset_ns,
        spread_ns,
        delay_ns,
        shared,
    })
}

/// The median of `values` (sorted in place); 0 when empty.
fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{Hash, Hasher};

    const MS: i64 = 1_000_000;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// A stand-in fingerprint for a packet described by `fields`.
    fn fp(fields: impl Hash) -> u64 {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        fields.hash(&mut h);
        h.finish()
    }

    /// The fingerprint of a TCP segment 10.0.0.21 → 10.0.0.5 as captured with `ttl` and
    /// source MAC `mac`.
    fn captured(ttl: u8, mac: u8, seq: u32) -> Option<u64> {
        let mut bytes = Vec::new();
        etherparse::PacketBuilder::ethernet2([mac; 6], [2; 6])
            .ipv4([10, 0, 0, 21], [10, 0, 0, 5], ttl)
            .tcp(1071, 1032, seq, 64_000)
            .ack(99)
            .write(&mut bytes, b"payload")
            .unwrap();
        let frame = crate::capture::Frame {
            number: 1,
            ts_ns: 0,
            link: crate::LinkType::ETHERNET,
            orig_len: bytes.len() as u32,
            interface: 0,
            options: Default::default(),
            data: &bytes,
        };
        match crate::decode::Decoder::default().decode(&frame) {
            crate::decode::Decoded::Packet(p) => fingerprint(&p),
            _ => None,
        }
    }

    #[test]
    fn a_full_sample_stays_under_half_a_mebibyte() {
        // At most SAMPLE_CAP + 1 entries before the threshold halves: hashbrown holds them
        // in 16,384 buckets of one entry and one control byte each.
        let entry = std::mem::size_of::<(u64, Sighting)>();
        assert!(entry <= 24, "{entry}");
        let buckets = ((SAMPLE_CAP + 1) * 8 / 7).next_power_of_two();
        assert!(buckets * (entry + 1) < 1 << 19);
    }

    #[test]
    fn fingerprints_of_neighbouring_packets_spread_evenly() {
        // The sample keeps the fingerprints below a threshold: for it to keep a fair share
        // of every connection, packets that differ in one sequence number must spread.
        let n = 20_000u32;
        let below = |threshold: u64| {
            (0..n)
                .filter(|&i| captured(128, 1, i * 1460).is_some_and(|f| f < threshold))
                .count() as f64
                / f64::from(n)
        };
        assert!((below(u64::MAX / 2) - 0.5).abs() < 0.02);
        assert!((below(u64::MAX / 16) - 1.0 / 16.0).abs() < 0.01);
    }

    #[test]
    fn a_packet_has_one_fingerprint_wherever_it_is_captured() {
        // Another TTL and MAC (a router between the points): the same packet.
        assert_eq!(captured(128, 1, 5), captured(126, 7, 5));
        assert!(captured(128, 1, 5).is_some());
        // Another sequence number: another packet.
        assert_ne!(captured(128, 1, 5), captured(128, 1, 6));
    }

    /// `n` packets each way between a client (.21, near view B) and a server (.5, near view
    /// A): view B's clock is `offset` ahead, packets take `delay` from one point to the
    /// other, and every fifth one each way is lost before B.
    fn views(n: u32, offset: i64, delay: i64) -> (FingerprintSample, FingerprintSample) {
        let (mut a, mut b) = (FingerprintSample::default(), FingerprintSample::default());
        for i in 0..n {
            let t = i64::from(i) * 10 * MS;
            let up = fp(((ip(21), ip(5)), (1071, 1032), (i, 7), Some(i as u16), 40));
            let down = fp(((ip(5), ip(21)), (1032, 1071), (7, i), Some(i as u16), 90));
            // Client → server: B sees it first, A `delay` later.
            b.observe(up, t + offset, (ip(21), ip(5)));
            a.observe(up, t + delay, (ip(21), ip(5)));
            // Server → client: A sees it first, B `delay` later (unless lost on the way).
            a.observe(down, t, (ip(5), ip(21)));
            if i % 5 != 0 {
                b.observe(down, t + delay + offset, (ip(5), ip(21)));
            }
        }
        (a, b)
    }

    #[test]
    fn the_offset_and_the_delay_come_apart_with_both_directions() {
        let (a, b) = views(500, 3_250 * MS, 12 * MS);
        let c = clock_offset(&a, &b).unwrap();
        assert_eq!(c.offset_ns, 3_250 * MS);
        assert_eq!(c.delay_ns, 12 * MS);
        assert_eq!(c.spread_ns, 0);
        assert_eq!(c.shared, 900);
        // Seen from the other side, the offset is the opposite.
        assert_eq!(clock_offset(&b, &a).unwrap().offset_ns, -3_250 * MS);
    }

    #[test]
    fn thinned_samples_of_the_same_traffic_still_meet() {
        let (mut a, mut b) = (
            FingerprintSample::with_cap(64),
            FingerprintSample::with_cap(256),
        );
        for i in 0..20_000u32 {
            let f = fp(((ip(21), ip(5)), (1071, 1032), (i, 1), Some(i as u16), 40));
            a.observe(f, i64::from(i), (ip(21), ip(5)));
            b.observe(f, i64::from(i) + 5 * MS, (ip(21), ip(5)));
        }
        assert!(a.len() <= 64 && b.len() <= 256);
        let c = clock_offset(&a, &b).unwrap();
        assert!(c.shared >= 32, "{}", c.shared);
        assert_eq!(
            c.offset_ns,
            5 * MS,
            "one direction: the offset includes the delay"
        );
    }

    #[test]
    fn hostile_clocks_do_not_overflow() {
        let (mut a, mut b) = (FingerprintSample::default(), FingerprintSample::default());
        for i in 0..20u32 {
            let up = fp(((ip(21), ip(5)), i, 1));
            let down = fp(((ip(5), ip(21)), i, 2));
            a.observe(up, i64::MIN, (ip(21), ip(5)));
            b.observe(up, i64::MAX, (ip(21), ip(5)));
            a.observe(down, i64::MAX, (ip(5), ip(21)));
            b.observe(down, i64::MIN + i64::from(i), (ip(5), ip(21)));
        }
        let c = clock_offset(&a, &b).expect("they share packets");
        assert!(c.spread_ns >= 0 && c.delay_ns >= 0);
    }

    #[test]
    fn different_traffic_shares_nothing() {
        let (a, _) = views(200, 0, 0);
        let (_, mut other) = views(200, 0, 0);
        other.seen.clear();
        for i in 0..200u32 {
            let f = fp(((ip(22), ip(5)), (1071, 1032), (i, 7), Some(i as u16), 40));
            other.observe(f, i64::from(i), (ip(22), ip(5)));
        }
        assert_eq!(clock_offset(&a, &other), None);
    }
}
