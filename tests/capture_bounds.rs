//! Captures begin and end anywhere: inside a connection, inside a PDU, with a response
//! first and a request unanswered last. Whatever two frames a sample scenario is cut at,
//! the report of the cut invents nothing: no session makes an Exchange server the client of
//! its own store traffic, and each session whose client made calls in the cut is a
//! client/server pair the whole capture's report holds too. (A session may hold only
//! datagrams: a cut without the registration cannot know that a NAT-ed client's private
//! callback address belongs to it, and says that the server notifies an address that never
//! called it.)

mod common;

use proptest::prelude::*;
use pushtrace_core::engine::AnalyzeOptions;
use pushtrace_samples::net::SimFrame;
use pushtrace_samples::scenarios;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// (client, server) of every session the frames give, and whether it has connections.
fn pairs(frames: &[SimFrame]) -> BTreeSet<(String, String, bool)> {
    common::analyze_frames(frames, &AnalyzeOptions::default())
        .sessions
        .into_iter()
        .map(|s| (s.client, s.server, !s.connections.is_empty()))
        .collect()
}

/// Every scenario's frames and its whole capture's sessions, built once.
type Sessions = BTreeSet<(String, String, bool)>;

fn built() -> &'static [(Vec<SimFrame>, Sessions)] {
    static BUILT: OnceLock<Vec<(Vec<SimFrame>, Sessions)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        scenarios::all()
            .iter()
            .map(|s| {
                let frames = (s.build)().frames;
                let whole = pairs(&frames);
                (frames, whole)
            })
            .collect()
    })
}

#[test]
fn every_scenario_has_sessions_to_lose() {
    for (i, (_, whole)) in built().iter().enumerate() {
        assert!(!whole.is_empty(), "scenario {i} reports no session");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_cut_capture_reports_only_sessions_the_whole_capture_has(
        scenario in 0usize..64,
        start in 0.0f64..1.0,
        length in 0.0f64..1.0,
    ) {
        let (frames, whole) = &built()[scenario % built().len()];
        let from = (start * frames.len() as f64) as usize;
        let to = from + (length * (frames.len() - from) as f64) as usize;
        let cut = pairs(&frames[from..to.max(from)]);
        let servers: BTreeSet<&String> = whole.iter().map(|(_, s, _)| s).collect();
        for (client, server, called) in &cut {
            prop_assert!(!servers.contains(client), "a server as client: {} (frames {}..{})", client, from, to);
            if *called {
                let known = whole.iter().any(|(c, s, _)| c == client && s == server);
                prop_assert!(known, "invented {} ↔ {} (frames {}..{}); whole: {:?}", client, server, from, to, whole);
            }
        }
    }
}
