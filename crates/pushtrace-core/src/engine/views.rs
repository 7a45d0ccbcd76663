//! Captures of the same traffic taken at several points (views): which views belong
//! together, how their clocks relate, and one judgement over all of them.
//!
//! Each view is analysed on its own first (its own reader, analyzer and memory budget, in
//! parallel with the others). What it collected is not judged yet: it is kept as a
//! [`View`], whose correlator holds bounded lists of facts and whose fingerprint sample
//! ([`crate::matcher`]) names a bounded set of the packets it captured. Views whose samples
//! share at least [`crate::matcher::MIN_SHARED`] packets saw the same traffic: the clock offset between them
//! is estimated from those packets, every fact of the later views is moved onto the
//! reference view's clock, and the facts are merged and judged once, so a registration
//! captured at the server and the datagrams captured at the client are one session, and a
//! datagram seen at both points is one datagram seen twice.

use super::{AnalyzeOptions, Analyzer, TraceAnalysis, ViewAnalysis, WarningLog};
use crate::capture::Frame;
use crate::correlate::{Correlator, MAX_VIEWS};
use crate::flow::MAX_INPUTS;
use crate::matcher::{clock_offset, ClockOffset, FingerprintSample};
use crate::report::{BindRecord, CallRecord, EndpointRecord, InputClock};
use crate::vantage::HostTable;

/// The largest tolerance, on the reference clock, between two captures of one packet:
/// beyond it the clock estimate is too loose to tell a packet's twin from its neighbour.
const MAX_TOLERANCE_NS: i64 = 500_000_000;
/// The smallest: timestamp resolution and rounding.
const MIN_TOLERANCE_NS: i64 = 1_000_000;
/// How far apart two captures' clocks may be for them to be compared as views of one
/// trace: a day covers any time zone read as UTC and any clock left wrong for hours.
/// Captures further apart are never matched, so many unrelated files cost no pairwise
/// matching.
const MAX_CLOCK_APART_NS: i64 = 24 * 3_600_000_000_000;

/// What one capture point's analysis collected, before judging.
pub(super) struct View {
    pub correlator: Correlator,
    pub hosts: HostTable,
    pub fingerprints: FingerprintSample,
    pub warnings: WarningLog,
    pub counters: serde_json::Value,
    pub calls: Vec<CallRecord>,
    pub binds: Vec<BindRecord>,
    pub endpoints: Vec<EndpointRecord>,
}

/// A view's place in a trace of views: the view its clock was compared with and how.
struct Placement {
    view: usize,
    /// How far its clock is ahead of the reference's.
    offset_ns: i64,
    /// The comparison that placed it (`None` for the reference).
    clock: Option<(usize, ClockOffset)>,
}

/// Groups `views` into traces (views sharing packets, when `merge`; otherwise each alone),
/// each placed against its first view, the reference.
fn group(views: &[View], merge: bool) -> Vec<Vec<Placement>> {
    let n = views.len();
    // The clock of every pair that shares packets (i < j: j's clock against i's).
    let mut pairs: Vec<(usize, usize, ClockOffset)> = Vec::new();
    if merge {
        let spans: Vec<Option<(i64, i64)>> =
            views.iter().map(|v| v.correlator.time_span()).collect();
        let near = |a: Option<(i64, i64)>, b: Option<(i64, i64)>| match (a, b) {
            (Some((a0, a1)), Some((b0, b1))) => {
                a0.saturating_sub(MAX_CLOCK_APART_NS) <= b1
                    && b0.saturating_sub(MAX_CLOCK_APART_NS) <= a1
            }
            _ => false,
        };
        for i in 0..n {
            for j in i + 1..n {
                if !near(spans[i], spans[j]) {
                    continue;
                }
                if let Some(c) = clock_offset(&views[i].fingerprints, &views[j].fingerprints) {
                    pairs.push((i, j, c));
                }
            }
        }
    }
    let mut placed = vec![false; n];
    let mut traces = Vec::new();
    for reference in 0..n {
        if placed[reference] {
            continue;
        }
        placed[reference] = true;
        let mut trace = vec![Placement {
            view: reference,
            offset_ns: 0,
            clock: None,
        }];
        // Walk out from the reference: each view joins through a pair with a placed one.
        let mut k = 0;
        while k < trace.len() && trace.len() < MAX_VIEWS {
            let (from, from_offset) = (trace[k].view, trace[k].offset_ns);
            for &(i, j, c) in &pairs {
                let (other, offset) = match (i == from, j == from) {
                    (true, _) => (j, c.offset_ns),
                    (_, true) => (i, c.offset_ns.saturating_neg()),
                    _ => continue,
                };
                if !placed[other] && trace.len() < MAX_VIEWS {
                    placed[other] = true;
                    trace.push(Placement {
                        view: other,
                        offset_ns: from_offset.saturating_add(offset),
                        clock: Some((from, c)),
                    });
                }
            }
            k += 1;
        }
        traces.push(trace);
    }
    traces
}

/// What the views of one trace bring besides their facts, gathered in order.
#[derive(Default)]
struct Gathered {
    reports: Vec<ViewAnalysis>,
    hosts: Vec<HostTable>,
    calls: Vec<CallRecord>,
    binds: Vec<BindRecord>,
    endpoints: Vec<EndpointRecord>,
}

impl Gathered {
    /// Keeps what `view` brings (its clock against the reference's when it is not the
    /// reference) and hands back its facts.
    fn add(&mut self, view: View, clock: Option<InputClock>) -> Correlator {
        self.reports.push(ViewAnalysis {
            inputs: view.correlator.inputs().to_vec(),
            capture_point: Default::default(),
            clock,
            warnings: view.warnings,
            counters: view.counters,
        });
        self.hosts.push(view.hosts);
        self.calls.extend(view.calls);
        self.binds.extend(view.binds);
        self.endpoints.extend(view.endpoints);
        view.correlator
    }
}

/// Judges `views` (each one capture: a file or a chain): those that share packets are merged
/// into one trace when `merge` is set. Traces come in the order of their first view.
pub(super) fn judge(views: Vec<View>, merge: bool) -> Vec<TraceAnalysis> {
    let traces = group(&views, merge);
    let mut slots: Vec<Option<View>> = views.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(traces.len());
    for trace in traces {
        let tolerance = trace
            .iter()
            .filter_map(|p| p.clock)
            .map(|(_, c)| c.delay_ns.saturating_add(c.spread_ns.saturating_mul(3)))
            .max()
            .unwrap_or(0)
            .clamp(MIN_TOLERANCE_NS, MAX_TOLERANCE_NS);
        let mut members = trace
            .iter()
            .filter_map(|p| Some((slots[p.view].take()?, p)));
        let Some((reference, _)) = members.next() else {
            continue;
        };
        // A correlator's own view always has the input it was made for.
        let reference_input = reference.correlator.inputs()[0];
        let mut gathered = Gathered::default();
        let mut correlator = gathered.add(reference, None);
        for (view, placement) in members {
            let clock = placement.clock.map(|(_, c)| InputClock {
                reference: reference_input,
                offset_ms: placement.offset_ns as f64 / 1e6,
                spread_ms: c.spread_ns as f64 / 1e6,
                delay_ms: c.delay_ns as f64 / 1e6,
                shared_packets: c.shared,
            });
            let facts = gathered.add(view, clock);
            correlator.absorb(facts, placement.offset_ns, tolerance);
        }
        let Gathered {
            mut reports,
            hosts,
            calls,
            binds,
            endpoints,
        } = gathered;
        let tables: Vec<&HostTable> = hosts.iter().collect();
        let correlation = correlator.finish(&tables);
        for (report, point) in reports.iter_mut().zip(correlation.capture_points) {
            report.capture_point = point;
        }
        for w in correlation.warnings {
            reports[0].warnings.push(w);
        }
        out.push(TraceAnalysis {
            sessions: correlation.sessions,
            views: reports,
            calls,
            binds,
            endpoints,
        });
    }
    out
}

/// The streaming engine for several captures of one trace fed side by side (say, one taken
/// on the Exchange server and one on the client, read at the same time): feed each input's
/// frames in its own order, then [`TraceAnalyzer::finish`]. Inputs whose packets match are
/// judged as views of one trace; others alone.
///
/// ```
/// use pushtrace_core::engine::{AnalyzeOptions, TraceAnalyzer};
/// let mut trace = TraceAnalyzer::new(2, &AnalyzeOptions::default());
/// // trace.feed(0, &frame_from_the_server_capture);
/// // trace.feed(1, &frame_from_the_client_capture);
/// let traces = trace.finish();
/// assert_eq!(traces.len(), 2, "nothing fed: nothing matched, each input alone");
/// ```
pub struct TraceAnalyzer {
    analyzers: Vec<Analyzer>,
}

impl TraceAnalyzer {
    /// An analyzer for `inputs` inputs, numbered from 0 (at most [`MAX_INPUTS`]: frames
    /// of inputs beyond are ignored, as frame references cannot name them).
    pub fn new(inputs: usize, options: &AnalyzeOptions) -> Self {
        TraceAnalyzer {
            analyzers: (0..inputs.min(MAX_INPUTS))
                .map(|i| Analyzer::new(i, options))
                .collect(),
        }
    }

    /// Takes the next frame of input `input` (ignored when there is no such input).
    pub fn feed(&mut self, input: usize, frame: &Frame<'_>) {
        if let Some(a) = self.analyzers.get_mut(input) {
            a.feed(frame);
        }
    }

    /// Flushes every input and judges: one [`TraceAnalysis`] per trace, views of the same
    /// traffic merged, in the order of their first input.
    pub fn finish(self) -> Vec<TraceAnalysis> {
        judge(
            self.analyzers
                .into_iter()
                .map(Analyzer::into_view)
                .collect(),
            true,
        )
    }
}
