//! The verdict of one session, decided on typed facts: the datagrams and what the client did
//! after each, the registrations and their outcome, ICMP errors, the calls.
//!
//! Within a session the most specific cause wins: ICMP errors quoting the datagrams
//! (`blocked`), a refused registration or bind (`refused`), a callback that is not the
//! client's address (`address_mismatch`); then the datagrams: more of them ignored than
//! answered, while the client went on calling the server, is `dropped`, otherwise `flowing`;
//! then a registration without datagrams (`no_datagram`), a logon without registration
//! (`not_registered`), and `inconclusive` when nothing decides. The [`Cause`] that decided is
//! kept, so the sentences and advice ([`super::advice`]) say exactly why.

use super::advice::{self, Finding};
use super::datagrams::{self, IcmpCandidate, UdpCandidate};
use super::facts::RegistrationFacts;
use super::session::{polling, SessionState};
use super::views::{Sightings, ViewIndex, ViewSpan};
use crate::emsmdb;
use crate::flow::frame_input;
use crate::report::{Datagram, IcmpError, Reaction, Session, Vantage, Verdict};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// How long a registration must be watched before a missing datagram means something,
/// unless the server handed out another poll interval: the client polls once a minute when
/// push does not work (MS-OXCRPC `pcmsPollsMax`), and the server repeats a notification every
/// minute while events wait (MS-OXCNOTIF 3.1.5.4), so less than a minute shows nothing.
const MIN_WATCH_NS: i64 = 60_000_000_000;

/// One capture point of the trace: what it covers and where it was taken.
pub(super) struct View<'a> {
    pub span: &'a ViewSpan,
    pub vantage: Vantage,
}

/// What the judge needs beyond the session's own facts.
pub(super) struct Context<'a> {
    /// Time of the last frame of any view.
    pub capture_end_ns: i64,
    /// The capture points (one, unless the trace is made of views).
    pub views: &'a [View<'a>],
    /// How far apart two captures of one packet may lie (views only).
    pub tolerance_ns: i64,
    /// Which view each input belongs to.
    pub index: &'a ViewIndex,
    /// The other captures of datagrams and ICMP errors seen at several views.
    pub sightings: &'a Sightings,
    /// Every ICMP error of the trace.
    pub icmp: &'a [IcmpCandidate],
}

/// Where the datagrams the client did not react to were last seen on their way to it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum DropPoint {
    /// The capture point nearest the client that saw them (for one view, the only one).
    SeenAt(Vantage),
    /// Seen at a capture point on the server's side (`left`: its vantage; `frames`: the
    /// datagrams there) and missing from a client-side view capturing at that moment (its
    /// first input).
    Lost {
        left: Vantage,
        frames: Vec<u64>,
        missing_input: usize,
    },
}

/// Why a session got its verdict.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cause {
    /// ICMP errors answer the datagrams: the first one's code name and sender.
    Icmp {
        code_name: &'static str,
        from: String,
    },
    /// The last registration failed (its response), or, with no registration, the bind was
    /// rejected (`None`).
    Refused(Option<super::facts::ResponseFacts>),
    /// The registered callback is not the client's address.
    AddressMismatch { callback: SocketAddr },
    /// Datagrams reached a capture point; the client reacted to fewer than half.
    Dropped {
        callback_port: Option<u16>,
        at: DropPoint,
    },
    /// The client reacted to the datagrams.
    Flowing,
    /// A registration that did not fail, no notification datagram for it in at least one
    /// poll interval.
    NoDatagram,
    /// A registration that did not fail, then less than one poll interval of it in the
    /// capture (it ended, or the client unregistered): too short to miss a datagram.
    RegistrationTooShort,
    /// The registration could not be read.
    RegistrationUnreadable,
    /// Datagrams, but none the capture lets judge (it ended, or the client fell silent).
    DatagramsNotJudged,
    /// A logon and further calls, no registration.
    NotRegistered { uses_async: bool },
    /// Nothing decides: no logon, registration or judgeable datagram was captured.
    NothingDecides { saw_logon: bool },
}

impl Cause {
    pub(super) fn verdict(&self) -> Verdict {
        match self {
            Cause::Icmp { .. } => Verdict::Blocked,
            Cause::Refused(_) => Verdict::Refused,
            Cause::AddressMismatch { .. } => Verdict::AddressMismatch,
            Cause::Dropped { .. } => Verdict::Dropped,
            Cause::Flowing => Verdict::Flowing,
            Cause::NoDatagram => Verdict::NoDatagram,
            Cause::NotRegistered { .. } => Verdict::NotRegistered,
            Cause::RegistrationUnreadable
            | Cause::RegistrationTooShort
            | Cause::DatagramsNotJudged
            | Cause::NothingDecides { .. } => Verdict::Inconclusive,
        }
    }
}

/// When the session's registrations ended: its unregistrations, sorted by time.
struct Unregistrations(Vec<(i64, u64)>);

impl Unregistrations {
    fn new(calls: &[(u64, i64)]) -> Self {
        let mut sorted: Vec<(i64, u64)> = calls.iter().map(|&(f, ts)| (ts, f)).collect();
        sorted.sort_unstable();
        Unregistrations(sorted)
    }

    /// The first unregistration at or after `ts_ns`: (time, frame).
    fn after(&self, ts_ns: i64) -> Option<(i64, u64)> {
        let i = self.0.partition_point(|&(ts, _)| ts < ts_ns);
        self.0.get(i).copied()
    }
}

/// Judges one session.
pub(super) fn judge(
    (client, server): (IpAddr, IpAddr),
    mut s: SessionState,
    cx: &Context<'_>,
) -> Session {
    // Facts resolved late (held datagrams, calls classified at the end) arrive out of order.
    s.datagrams.sort_by_key(|d| (d.ts_ns, d.frame));
    s.calls.sort_by_key(|c| (c.ts_ns, c.frame));
    s.registrations
        .sort_by_key(|r| (r.request_ts_ns, r.request_frame));
    let unregistrations = Unregistrations::new(&s.unregistrations);
    let ends: Vec<Option<i64>> = s
        .registrations
        .iter()
        .map(|r| unregistrations.after(r.request_ts_ns).map(|(ts, _)| ts))
        .collect();
    let datagrams = datagrams::outcomes(
        &s.datagrams,
        (&s.registrations, &ends),
        client,
        &s.calls,
        (cx.capture_end_ns, cx.sightings),
    );
    let icmp_errors = datagrams::quoting_errors(
        cx.icmp,
        (client, server),
        &s.registrations,
        (&s.datagrams, cx.sightings),
    );
    let watch = Watch::of_last_registration(&s, &unregistrations, cx.capture_end_ns);
    let at = drop_point(&s.datagrams, &datagrams, cx);
    let cause = decide(&s, client, &datagrams, &icmp_errors, &watch, at);
    let findings = findings(&s, client, &cause, &datagrams, &icmp_errors, &watch);
    let polling = polling(&s.calls);
    let mut evidence: Vec<_> = findings.iter().map(advice::evidence).collect();
    if polling.steady_one_minute {
        let frames = s.calls.iter().filter(|c| c.rop).take(4).map(|c| c.frame);
        evidence.push(advice::evidence(&Finding::Polling(
            &polling,
            frames.collect(),
        )));
    }
    if s.uses_async {
        evidence.push(advice::evidence(&Finding::UsesAsync));
    }
    let mut cited: BTreeSet<u64> = evidence
        .iter()
        .flat_map(|e| e.frames.iter().copied())
        .collect();
    cited.extend(
        s.datagrams
            .iter()
            .flat_map(|d| cx.sightings.of(d.frame, d.ts_ns).map(|(f, _)| f)),
    );
    let inputs = inputs_of(&s, cx.views[0].span.inputs[0]);
    let evidence = evidence
        .into_iter()
        .flat_map(|e| advice::per_input(e, inputs[0]))
        .collect();
    let wireshark_filters = advice::wireshark_filters(&cited);
    Session {
        client: client.to_string(),
        server: server.to_string(),
        input: inputs[0],
        inputs,
        verdict: cause.verdict(),
        user: s.user,
        inferred: !s.bound,
        connections: s
            .connections
            .iter()
            .map(|(c, sv)| {
                format!(
                    "{} -> {}",
                    emsmdb::endpoint(c.ip(), c.port()),
                    emsmdb::endpoint(sv.ip(), sv.port())
                )
            })
            .collect(),
        registrations: s
            .registrations
            .iter()
            .map(advice::registration_report)
            .collect(),
        unregistrations: datagrams::seen_at(s.unregistrations.iter().copied()),
        datagrams,
        icmp_errors,
        polling,
        poll_interval_ms: s.poll_interval_ms,
        uses_async_notifications: s.uses_async,
        evidence,
        advice: advice::advice(&cause, server),
        wireshark_filter: wireshark_filters
            .first()
            .map(|f| f.filter.clone())
            .unwrap_or_default(),
        wireshark_filters,
    }
}

/// The inputs that show a session: those of its calls, datagrams, registrations,
/// unregistrations and bind rejections (before the views' captures were merged), in order
/// (`fallback` when it has none of them).
fn inputs_of(s: &SessionState, fallback: usize) -> Vec<usize> {
    let inputs = inputs_with_frames(s);
    if inputs.is_empty() {
        vec![fallback]
    } else {
        inputs.into_iter().collect()
    }
}

/// The inputs whose frames show the session (with those it showed before the views'
/// captures were merged).
pub(super) fn inputs_with_frames(s: &SessionState) -> BTreeSet<usize> {
    let frames = s
        .calls
        .iter()
        .map(|c| c.frame)
        .chain(s.datagrams.iter().map(|d| d.frame))
        .chain(s.registrations.iter().map(|r| r.request_frame))
        .chain(s.unregistrations.iter().map(|&(f, _)| f))
        .chain(s.bind_rejections.iter().map(|b| b.frame));
    let mut inputs: BTreeSet<usize> = frames.map(frame_input).collect();
    inputs.extend(&s.shown_in);
    inputs
}

/// How long the last registration was in force in the capture, and how long it takes to
/// mean something.
struct Watch {
    /// From the registration to its unregistration or the end of the capture.
    watched_ns: i64,
    /// The unregistration that ended it: (time, frame).
    until: Option<(i64, u64)>,
    /// One poll interval: `pcmsPollsMax` when the logon gave a sane one, else a minute.
    needed_ns: i64,
}

impl Watch {
    fn of_last_registration(s: &SessionState, unregistrations: &Unregistrations, end: i64) -> Self {
        let reg_ts = s.registrations.last().map_or(end, |r| r.request_ts_ns);
        let until = unregistrations.after(reg_ts);
        Watch {
            watched_ns: until.map_or(end, |(ts, _)| ts).saturating_sub(reg_ts),
            until,
            needed_ns: s
                .poll_interval_ms
                .map(|ms| i64::from(ms) * 1_000_000)
                .filter(|ns| (1_000_000_000..=600_000_000_000).contains(ns))
                .unwrap_or(MIN_WATCH_NS),
        }
    }
}

fn count(datagrams: &[Datagram], reactions: &[Reaction]) -> usize {
    datagrams
        .iter()
        .filter(|d| reactions.contains(&d.reaction))
        .count()
}

/// How near the client a capture point is: the server's side, somewhere between, the
/// client's side.
fn nearness(v: Vantage) -> u8 {
    match v {
        Vantage::Server => 0,
        Vantage::Between | Vantage::Unknown => 1,
        Vantage::Client => 2,
    }
}

/// Where the datagrams the client did not react to (`reported`, one per `candidates`) were
/// last seen: at a client-side view they reached the client; seen only nearer the server
/// and missing from a client-side view that was capturing, they were lost on the way.
fn drop_point(candidates: &[UdpCandidate], reported: &[Datagram], cx: &Context<'_>) -> DropPoint {
    let index = cx.index;
    let vantage = |view: usize| cx.views.get(view).map_or(Vantage::Unknown, |v| v.vantage);
    let mut nearest: Option<Vantage> = None;
    let mut lost: Option<(Vantage, Vec<u64>, usize)> = None;
    let unanswered = candidates
        .iter()
        .zip(reported)
        .filter(|(_, d)| d.reaction == Reaction::NoReaction)
        .map(|(c, _)| c);
    for c in unanswered {
        // Each capture of the datagram: its frame and view.
        let seen: Vec<(u64, usize)> = cx
            .sightings
            .of(c.frame, c.ts_ns)
            .map(|(f, _)| (f, index.of(f)))
            .collect();
        let Some((frame, near)) = seen
            .iter()
            .map(|&(f, v)| (f, vantage(v)))
            .max_by_key(|&(_, v)| nearness(v))
        else {
            continue;
        };
        if nearest.is_none_or(|n| nearness(near) > nearness(n)) {
            nearest = Some(near);
        }
        let seen_by: Vec<usize> = seen.iter().map(|&(_, v)| v).collect();
        let missing = cx.views.iter().enumerate().find(|(i, v)| {
            v.vantage == Vantage::Client
                && !seen_by.contains(i)
                && v.span.covers(c.ts_ns, cx.tolerance_ns.max(1_000_000))
        });
        if let Some((_, view)) = missing {
            let (_, frames, _) = lost.get_or_insert((near, Vec::new(), view.span.inputs[0]));
            frames.push(frame);
        }
    }
    match (nearest, lost) {
        (Some(Vantage::Client), _) | (_, None) => DropPoint::SeenAt(nearest.unwrap_or_default()),
        (_, Some((left, frames, missing_input))) => DropPoint::Lost {
            left,
            frames,
            missing_input,
        },
    }
}

/// The cause of the session's verdict, the most specific first.
fn decide(
    s: &SessionState,
    client: IpAddr,
    datagrams: &[Datagram],
    icmp_errors: &[IcmpError],
    watch: &Watch,
    at: DropPoint,
) -> Cause {
    let last_reg = s.registrations.last();
    let callback = last_reg
        .and_then(RegistrationFacts::decoded)
        .and_then(|r| r.callback.socket_addr());
    let reacted = count(datagrams, &[Reaction::Reacted]);
    let unanswered = count(datagrams, &[Reaction::NoReaction]);
    let not_judged = count(datagrams, &[Reaction::CaptureEnded, Reaction::ClientSilent]);
    let further_calls_after_logon = s
        .calls
        .iter()
        .rposition(|c| c.logon)
        .is_some_and(|i| i + 1 < s.calls.len());
    if let Some(first) = icmp_errors.first() {
        Cause::Icmp {
            code_name: first.code_name,
            from: first.from.clone(),
        }
    } else if last_reg.is_some_and(RegistrationFacts::failed) {
        Cause::Refused(last_reg.map(|r| r.response.clone()))
    } else if s.registrations.is_empty() && !s.bind_rejections.is_empty() {
        Cause::Refused(None)
    } else if let Some(callback) = callback.filter(|a| a.ip() != client) {
        Cause::AddressMismatch { callback }
    } else if unanswered > reacted {
        Cause::Dropped {
            callback_port: callback.map(|a| a.port()),
            at,
        }
    } else if reacted > 0 {
        Cause::Flowing
    } else if not_judged > 0 {
        Cause::DatagramsNotJudged
    } else if last_reg.is_some_and(RegistrationFacts::succeeded) {
        if watch.watched_ns >= watch.needed_ns {
            Cause::NoDatagram
        } else {
            Cause::RegistrationTooShort
        }
    } else if last_reg.is_some() {
        Cause::RegistrationUnreadable
    } else if s.saw_logon && further_calls_after_logon {
        Cause::NotRegistered {
            uses_async: s.uses_async,
        }
    } else {
        Cause::NothingDecides {
            saw_logon: s.saw_logon,
        }
    }
}

/// The findings the report cites for the session, in the order it shows them (the polling
/// rhythm and AsyncEMSMDB use follow).
fn findings<'a>(
    s: &'a SessionState,
    client: IpAddr,
    cause: &Cause,
    datagrams: &'a [Datagram],
    icmp_errors: &'a [IcmpError],
    watch: &Watch,
) -> Vec<Finding<'a>> {
    let mut findings: Vec<Finding<'a>> =
        s.registrations.iter().map(Finding::Registration).collect();
    findings.extend(s.bind_rejections.iter().map(|b| Finding::BindRejected {
        frame: b.frame,
        why: &b.why,
    }));
    match cause {
        Cause::Icmp { .. } => findings.push(Finding::IcmpErrors(icmp_errors)),
        Cause::AddressMismatch { callback } => findings.push(Finding::CallbackMismatch {
            callback: *callback,
            client,
            frames: s
                .registrations
                .last()
                .map(RegistrationFacts::frames)
                .unwrap_or_default(),
        }),
        Cause::NoDatagram | Cause::RegistrationTooShort => findings.push(Finding::NoDatagram {
            seconds: (watch.watched_ns as f64 / 1e9).max(0.0),
            unregistration: watch.until.map(|(_, frame)| frame),
        }),
        Cause::NothingDecides { saw_logon: false } if datagrams.is_empty() => {
            findings.push(Finding::NothingCaptured)
        }
        Cause::NotRegistered { .. } => {
            if let Some(logon) = s.calls.iter().rev().find(|c| c.logon) {
                findings.push(Finding::NeverRegistered {
                    logon_frame: logon.frame,
                });
            }
        }
        _ => {}
    }
    let with = |r: Reaction| datagrams.iter().filter(move |d| d.reaction == r);
    let reacted: Vec<&Datagram> = with(Reaction::Reacted).collect();
    if !reacted.is_empty() {
        findings.push(Finding::Reactions { datagrams, reacted });
    }
    let unanswered: Vec<&Datagram> = with(Reaction::NoReaction).collect();
    if let Some(first) = unanswered.first() {
        let first_ts = s
            .datagrams
            .iter()
            .find(|d| d.frame == advice::datagram_ref(first))
            .map_or(0, |d| d.ts_ns);
        let later_calls = s
            .calls
            .iter()
            .filter(|c| c.ts_ns > first_ts)
            .map(|c| c.frame)
            .collect();
        findings.push(Finding::NoReaction {
            datagrams: unanswered,
            later_calls,
        });
    }
    if count(datagrams, &[Reaction::CaptureEnded, Reaction::ClientSilent]) > 0 {
        findings.push(Finding::NotJudged { datagrams });
    }
    if s.registrations.is_empty() && !datagrams.is_empty() {
        findings.push(Finding::RegistrationNotCaptured);
    }
    if let Cause::Dropped { at, .. } = cause {
        findings.push(Finding::DroppedAt {
            at: at.clone(),
            server: s.datagrams.first().map(|d| d.src.ip()),
            client,
        });
    }
    let ignored: Vec<u64> = with(Reaction::Ignored).map(advice::datagram_ref).collect();
    if !ignored.is_empty() {
        findings.push(Finding::WrongPayload(ignored));
    }
    findings
}
