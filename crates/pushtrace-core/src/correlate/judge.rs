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
use super::datagrams::{self, IcmpCandidate};
use super::facts::RegistrationFacts;
use super::session::{polling, SessionState};
use crate::emsmdb;
use crate::report::{format_time, Datagram, IcmpError, Reaction, Session, Vantage, Verdict};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// How long a registration must be watched before a missing datagram means something,
/// unless the server handed out another poll interval: the client polls once a minute when
/// push does not work (MS-OXCRPC `pcmsPollsMax`), and the server repeats a notification every
/// minute while events wait (MS-OXCNOTIF 3.1.5.4), so less than a minute shows nothing.
const MIN_WATCH_NS: i64 = 60_000_000_000;

/// What the judge needs beyond the session's own facts.
pub(super) struct Context<'a> {
    /// Index of the input.
    pub input: usize,
    /// Time of the capture's last frame.
    pub capture_end_ns: i64,
    /// Where the capture was taken.
    pub vantage: Vantage,
    /// Every ICMP error of the input.
    pub icmp: &'a [IcmpCandidate],
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
    /// Datagrams reached the capture point; the client reacted to fewer than half.
    Dropped { callback_port: Option<u16> },
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
    let mut unregistrations: Vec<(i64, u64)> =
        s.unregistrations.iter().map(|&(f, ts)| (ts, f)).collect();
    unregistrations.sort_unstable();
    // The first unregistration at or after `ts_ns`: (time, frame).
    let unregistration_after = |ts_ns: i64| {
        let i = unregistrations.partition_point(|&(ts, _)| ts < ts_ns);
        unregistrations.get(i).copied()
    };
    let ends: Vec<Option<i64>> = s
        .registrations
        .iter()
        .map(|r| unregistration_after(r.request_ts_ns).map(|(ts, _)| ts))
        .collect();
    let last_reg = s.registrations.last();

    // Each datagram: the registration it answers, its payload, what the client did.
    let mut datagrams = Vec::with_capacity(s.datagrams.len());
    for d in &s.datagrams {
        let reg = s
            .registrations
            .iter()
            .zip(&ends)
            .rev()
            .find(|(r, end)| datagrams::covers(r, d, client, **end))
            .map(|(r, _)| r);
        let matches_context = reg
            .and_then(RegistrationFacts::decoded)
            .map(|r| r.context == d.payload());
        let (reaction, reacting) = if reg.is_none() && !s.registrations.is_empty() {
            (Reaction::Unregistered, None)
        } else if matches_context == Some(false) {
            (Reaction::Ignored, None)
        } else {
            datagrams::reaction(d.ts_ns, &s.calls, cx.capture_end_ns)
        };
        datagrams.push(Datagram {
            frame: d.frame,
            time: format_time(d.ts_ns),
            from: emsmdb::endpoint(d.src.ip(), d.src.port()),
            to: emsmdb::endpoint(d.dst.ip(), d.dst.port()),
            len: d.payload().len(),
            matches_context,
            reaction,
            reaction_frame: reacting.map(|(frame, _)| frame),
            reaction_delay_ms: reacting.map(|(_, ns)| ns as f64 / 1e6),
        });
    }
    let with =
        |r: Reaction| -> Vec<&Datagram> { datagrams.iter().filter(|d| d.reaction == r).collect() };
    let (reacted, unanswered) = (with(Reaction::Reacted), with(Reaction::NoReaction));
    let not_judged: Vec<u64> = datagrams
        .iter()
        .filter(|d| matches!(d.reaction, Reaction::CaptureEnded | Reaction::ClientSilent))
        .map(|d| d.frame)
        .collect();

    // ICMP errors quoting a datagram from this server to this client (or to a callback it
    // registered, which differs behind NAT).
    let callback_ips: BTreeSet<IpAddr> = s
        .registrations
        .iter()
        .filter_map(|r| r.decoded()?.callback.socket_addr())
        .map(|a| a.ip())
        .collect();
    let icmp_errors: Vec<IcmpError> = cx
        .icmp
        .iter()
        .filter(|e| {
            e.quoted.src == server
                && (e.quoted.dst == client || callback_ips.contains(&e.quoted.dst))
        })
        .map(|e| IcmpError {
            frame: e.frame,
            datagram_frame: datagrams::quoted_datagram(e, &s.datagrams).map(|d| d.frame),
            time: format_time(e.ts_ns),
            from: e.from.to_string(),
            protocol: if e.v6 { "icmpv6" } else { "icmp" },
            code: e.code,
            code_name: advice::icmp_code_name(e.v6, e.code),
        })
        .collect();

    let mismatch = last_reg
        .and_then(RegistrationFacts::decoded)
        .and_then(|r| r.callback.socket_addr())
        .filter(|a| a.ip() != client);
    let callback_port = last_reg
        .and_then(RegistrationFacts::decoded)
        .and_then(|r| r.callback.socket_addr())
        .map(|a| a.port());
    // How long the last registration was in force in the capture.
    let reg_ts = last_reg.map_or(cx.capture_end_ns, |r| r.request_ts_ns);
    let watched_until = unregistration_after(reg_ts);
    let watched_ns = watched_until
        .map_or(cx.capture_end_ns, |(ts, _)| ts)
        .saturating_sub(reg_ts);
    let min_watch_ns = s
        .poll_interval_ms
        .map(|ms| i64::from(ms) * 1_000_000)
        .filter(|ns| (1_000_000_000..=600_000_000_000).contains(ns))
        .unwrap_or(MIN_WATCH_NS);
    let further_calls_after_logon = s
        .calls
        .iter()
        .rposition(|c| c.logon)
        .is_some_and(|i| i + 1 < s.calls.len());

    let cause = if let Some(first) = icmp_errors.first() {
        Cause::Icmp {
            code_name: first.code_name,
            from: first.from.clone(),
        }
    } else if last_reg.is_some_and(RegistrationFacts::failed) {
        Cause::Refused(last_reg.map(|r| r.response.clone()))
    } else if s.registrations.is_empty() && !s.bind_rejections.is_empty() {
        Cause::Refused(None)
    } else if let Some(callback) = mismatch {
        Cause::AddressMismatch { callback }
    } else if unanswered.len() > reacted.len() {
        Cause::Dropped { callback_port }
    } else if !reacted.is_empty() {
        Cause::Flowing
    } else if !not_judged.is_empty() {
        Cause::DatagramsNotJudged
    } else if last_reg.is_some_and(RegistrationFacts::succeeded) {
        if watched_ns >= min_watch_ns {
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
    };

    // The findings the report cites, in the order it shows them.
    let mut findings: Vec<Finding<'_>> =
        s.registrations.iter().map(Finding::Registration).collect();
    findings.extend(
        s.bind_rejections
            .iter()
            .map(|(frame, why)| Finding::BindRejected { frame: *frame, why }),
    );
    match &cause {
        Cause::Icmp { .. } => findings.push(Finding::IcmpErrors(&icmp_errors)),
        Cause::AddressMismatch { callback } => findings.push(Finding::CallbackMismatch {
            callback: *callback,
            client,
            frames: last_reg.map(RegistrationFacts::frames).unwrap_or_default(),
        }),
        Cause::NoDatagram | Cause::RegistrationTooShort => findings.push(Finding::NoDatagram {
            seconds: (watched_ns as f64 / 1e9).max(0.0),
            unregistration: watched_until.map(|(_, frame)| frame),
        }),
        Cause::NothingDecides { saw_logon: false } if s.datagrams.is_empty() => {
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
    if !reacted.is_empty() {
        findings.push(Finding::Reactions {
            datagrams: &datagrams,
            reacted: &reacted,
        });
    }
    if !unanswered.is_empty() {
        let first = unanswered[0];
        let first_ts = s
            .datagrams
            .iter()
            .find(|d| d.frame == first.frame)
            .map_or(0, |d| d.ts_ns);
        let later: Vec<u64> = s
            .calls
            .iter()
            .filter(|c| c.ts_ns > first_ts)
            .map(|c| c.frame)
            .collect();
        findings.push(Finding::NoReaction {
            datagrams: &unanswered,
            later_calls: later,
        });
    }
    if !not_judged.is_empty() {
        findings.push(Finding::NotJudged {
            datagrams: &datagrams,
        });
    }
    if s.registrations.is_empty() && !datagrams.is_empty() {
        findings.push(Finding::RegistrationNotCaptured);
    }
    if matches!(cause, Cause::Dropped { .. }) {
        findings.push(Finding::CapturedAt(cx.vantage));
    }
    let ignored: Vec<u64> = with(Reaction::Ignored).iter().map(|d| d.frame).collect();
    if !ignored.is_empty() {
        findings.push(Finding::WrongPayload(ignored));
    }
    let polling = polling(&s.calls);
    if polling.steady_one_minute {
        let frames = s.calls.iter().filter(|c| c.rop).take(4).map(|c| c.frame);
        findings.push(Finding::Polling(&polling, frames.collect()));
    }
    if s.uses_async {
        findings.push(Finding::UsesAsync);
    }

    let evidence: Vec<_> = findings.iter().map(advice::evidence).collect();
    let advice = advice::advice(&cause, server, cx.vantage);
    let mut cited: BTreeSet<u64> = evidence
        .iter()
        .flat_map(|e| e.frames.iter().copied())
        .collect();
    cited.extend(datagrams.iter().map(|d| d.frame));
    let wireshark_filter = advice::wireshark_filter(&cited);
    let connections: Vec<String> = s
        .connections
        .iter()
        .map(|(c, sv)| {
            format!(
                "{} -> {}",
                emsmdb::endpoint(c.ip(), c.port()),
                emsmdb::endpoint(sv.ip(), sv.port())
            )
        })
        .collect();
    let registrations = s
        .registrations
        .iter()
        .map(advice::registration_report)
        .collect();

    Session {
        client: client.to_string(),
        server: server.to_string(),
        input: cx.input,
        verdict: cause.verdict(),
        user: s.user,
        inferred: !s.bound,
        connections,
        registrations,
        datagrams,
        icmp_errors,
        polling,
        poll_interval_ms: s.poll_interval_ms,
        uses_async_notifications: s.uses_async,
        evidence,
        advice,
        wireshark_filter,
    }
}
