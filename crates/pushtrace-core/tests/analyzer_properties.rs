//! The whole engine on hostile frames: arbitrary bytes under arbitrary link types, and a
//! plausible DCE/RPC conversation with bytes flipped and frames cut, fed through
//! [`Analyzer`] must never panic, must count every frame, and must finish with a report that
//! serialises. The same holds for the fuzz targets in `fuzz/`; these are their fast,
//! deterministic form.

mod common;

use common::conversation_frames;
use proptest::prelude::*;
use pushtrace_core::engine::{AnalyzeOptions, Analyzer};
use pushtrace_core::{Frame, LinkType};

/// Link types the decoder reads, plus a few it does not.
fn link_type() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::ETHERNET),
        Just(LinkType::RAW),
        Just(LinkType::NULL),
        Just(LinkType::LOOP),
        Just(LinkType::LINUX_SLL),
        Just(LinkType::LINUX_SLL2),
        Just(LinkType::IPV4),
        Just(LinkType::IPV6),
        Just(LinkType::TOKEN_RING),
        Just(LinkType::FDDI),
        any::<u16>().prop_map(LinkType::Pcap),
        any::<u16>().prop_map(LinkType::NetMon),
    ]
}

/// Runs frames (link, time, bytes) through an analyzer; checks the counters and the report.
fn run(frames: &[(LinkType, i64, Vec<u8>)], collect_calls: bool) {
    let options = AnalyzeOptions {
        collect_calls,
        ..AnalyzeOptions::default()
    };
    let mut analyzer = Analyzer::new(0, &options);
    for (i, (link, ts_ns, data)) in frames.iter().enumerate() {
        analyzer.feed(&Frame {
            number: i as u64 + 1,
            ts_ns: *ts_ns,
            link: *link,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            options: Default::default(),
        });
    }
    let analysis = analyzer.finish();
    assert_eq!(
        analysis.views[0].counters["decode"]["frames"].as_u64(),
        Some(frames.len() as u64)
    );
    serde_json::to_string(&analysis.sessions).expect("sessions serialise");
    serde_json::to_string(&analysis.calls).expect("calls serialise");
}

#[test]
fn the_conversation_is_a_flowing_registration() {
    // The unmutated base of the property below must itself mean something.
    let frames = conversation_frames();
    let times: Vec<i64> = (0..frames.len() as i64).map(|i| i * 1_000_000).collect();
    let analysis = common::analyze(&frames, &times);
    assert_eq!(analysis.sessions.len(), 1);
    let session = &analysis.sessions[0];
    assert_eq!(session.registrations.len(), 1);
    assert_eq!(
        session.registrations[0].callback.as_deref(),
        Some("10.0.0.21:3333")
    );
    assert_eq!(session.datagrams.len(), 1);
    assert_eq!(session.datagrams[0].matches_context, Some(true));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_frames_with_arbitrary_link_types(
        frames in proptest::collection::vec(
            (link_type(), any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..40,
        ),
        collect_calls: bool,
    ) {
        run(&frames, collect_calls);
    }

    #[test]
    fn mutated_and_cut_conversations(
        flips in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()),
            0..12,
        ),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..3),
        order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
        times in proptest::collection::vec(any::<i64>(), 8),
    ) {
        let mut frames = conversation_frames();
        for (frame, at, value) in flips {
            let f = frame.get(&frames).len();
            let i = frame.index(frames.len());
            if f > 0 {
                frames[i][at.index(f)] = value;
            }
        }
        for (frame, at) in cuts {
            let i = frame.index(frames.len());
            let keep = at.index(frames[i].len() + 1);
            frames[i].truncate(keep);
        }
        // Swap two frames now and then: reordering is normal input too.
        if order % 3 == 0 {
            let (a, b) = ((order >> 8) as usize % frames.len(), (order >> 16) as usize % frames.len());
            frames.swap(a, b);
        }
        let frames: Vec<_> = frames
            .into_iter()
            .zip(times)
            .map(|(f, t)| (LinkType::ETHERNET, t, f))
            .collect();
        run(&frames, true);
    }
}
