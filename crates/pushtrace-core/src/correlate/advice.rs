//! Every sentence a session's report shows: evidence rendered from the judge's typed
//! findings, and advice rendered from the cause that decided the verdict. Nothing here
//! decides; the same facts always read the same way.

use super::datagrams::{other_input, REACTION_WINDOW_NS};
use super::facts::{RegistrationFacts, RequestFacts, ResponseFacts};
use super::judge::{Cause, DropPoint};
use crate::emsmdb::{self, CallbackAddress};
use crate::flow::{frame_input, frame_number, frame_ref};
use crate::report::{
    format_time, Datagram, Evidence, IcmpError, InputFilter, Polling, Reaction, Registration,
    Vantage,
};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// Frames cited from a long list (the first ones).
const CITED: usize = 4;

/// One statement the judge found, with what it needs to be told.
#[derive(Debug)]
pub(super) enum Finding<'a> {
    /// A registration call and its outcome.
    Registration(&'a RegistrationFacts),
    /// The server rejected a bind to EMSMDB.
    BindRejected { frame: u64, why: &'a str },
    /// ICMP errors answered the datagrams.
    IcmpErrors(&'a [IcmpError]),
    /// The registered callback is not the client's address.
    CallbackMismatch {
        callback: SocketAddr,
        client: IpAddr,
        frames: Vec<u64>,
    },
    /// No notification datagram in `seconds` after the registration.
    NoDatagram {
        seconds: f64,
        unregistration: Option<u64>,
    },
    /// Nothing but calls: no bind, logon, registration or datagram.
    NothingCaptured,
    /// The client logged on in `logon_frame` and went on working without registering.
    NeverRegistered { logon_frame: u64 },
    /// The client reacted to these datagrams (all of the session's given for context).
    Reactions {
        datagrams: &'a [Datagram],
        reacted: Vec<&'a Datagram>,
    },
    /// Datagrams the client did not react to, and its calls after the first of them.
    NoReaction {
        datagrams: Vec<&'a Datagram>,
        later_calls: Vec<u64>,
    },
    /// Datagrams that count neither way (capture ended, client silent).
    NotJudged { datagrams: &'a [Datagram] },
    /// Datagrams, but the registration is not in the capture.
    RegistrationNotCaptured,
    /// Where the datagrams the client ignored were last seen (or lost), for the `dropped`
    /// verdict, whose advice depends on it.
    DroppedAt {
        at: DropPoint,
        server: Option<IpAddr>,
        client: IpAddr,
    },
    /// Datagrams whose payload is not the registered context.
    WrongPayload(Vec<u64>),
    /// The one-minute polling rhythm, with the first polls.
    Polling(&'a Polling, Vec<u64>),
    /// The client uses AsyncEMSMDB.
    UsesAsync,
}

/// The evidence line of a finding.
pub(super) fn evidence(finding: &Finding<'_>) -> Evidence {
    let (frames, text) = match finding {
        Finding::Registration(r) => (r.frames(), describe_registration(r)),
        Finding::BindRejected { frame, why } => (
            vec![*frame],
            format!("the server rejected the bind to EMSMDB: {why}"),
        ),
        Finding::IcmpErrors(errors) => {
            let first = &errors[0];
            let frames = errors
                .iter()
                .flat_map(|e| {
                    let datagram = e
                        .datagram_frame
                        .map(|f| frame_ref(e.datagram_input.unwrap_or(e.input), f));
                    [datagram, Some(frame_ref(e.input, e.frame))]
                })
                .flatten()
                .collect();
            let text = format!(
                "{} ICMP destination-unreachable error(s) answer the notification datagrams ({} from {})",
                errors.len(),
                first.code_name,
                first.from
            );
            (frames, text)
        }
        Finding::CallbackMismatch {
            callback,
            client,
            frames,
        } => (
            frames.clone(),
            format!(
                "the client registered callback {} but the server sees the client as {client}",
                emsmdb::endpoint(callback.ip(), callback.port())
            ),
        ),
        Finding::NoDatagram {
            seconds,
            unregistration,
        } => {
            let until = if unregistration.is_some() {
                "until the client unregistered"
            } else {
                "the capture ran after the registration"
            };
            (
                unregistration.iter().copied().collect(),
                format!("no notification datagram in the {seconds:.0} s {until}"),
            )
        }
        Finding::NeverRegistered { logon_frame } => (
            vec![*logon_frame],
            "the client logged on and went on working, but never called EcRRegisterPushNotification".into(),
        ),
        Finding::NothingCaptured => (
            vec![],
            "the capture began after Outlook connected: no bind, logon, registration or notification datagram is in it, only the client's calls"
                .into(),
        ),
        Finding::Reactions { datagrams, reacted } => {
            let mut delays: Vec<f64> = reacted.iter().filter_map(|d| d.reaction_delay_ms).collect();
            delays.sort_by(f64::total_cmp);
            let median = delays.get(delays.len() / 2).copied().unwrap_or_default();
            let frames = reacted
                .iter()
                .flat_map(|d| [Some(datagram_ref(d)), reaction_ref(d)])
                .flatten()
                .collect();
            let text = format!(
                "{} notification datagram(s) from the server to the client; the client reacted to {} with an EMSMDB call within {} s (after {median:.0} ms, median)",
                datagrams.len(),
                reacted.len(),
                REACTION_WINDOW_NS / 1_000_000_000
            );
            (frames, text)
        }
        Finding::NoReaction {
            datagrams,
            later_calls,
        } => {
            let to = datagrams.first().map_or("", |d| d.to.as_str());
            let mut frames: Vec<u64> = datagrams.iter().map(|d| datagram_ref(d)).collect();
            frames.extend(later_calls.iter().take(CITED));
            frames.sort_unstable();
            let text = format!(
                "{} notification datagram(s) to {to} got no reaction: no EMSMDB call from the client within {} s of any of them, yet it made {} call(s) to the server after the first",
                datagrams.len(),
                REACTION_WINDOW_NS / 1_000_000_000,
                later_calls.len()
            );
            (frames, text)
        }
        Finding::NotJudged { datagrams } => {
            let count = |r: Reaction| datagrams.iter().filter(|d| d.reaction == r).count();
            let (ended, silent) = (count(Reaction::CaptureEnded), count(Reaction::ClientSilent));
            let frames = datagrams
                .iter()
                .filter(|d| matches!(d.reaction, Reaction::CaptureEnded | Reaction::ClientSilent))
                .map(datagram_ref)
                .collect();
            let mut parts = Vec::new();
            if ended > 0 {
                parts.push(format!(
                    "{ended} came less than {} s before the capture ended",
                    REACTION_WINDOW_NS / 1_000_000_000
                ));
            }
            if silent > 0 {
                parts.push(format!(
                    "after {silent} the client made no call at all (Outlook closed, or its traffic is not in the capture)"
                ));
            }
            let text = format!(
                "datagram(s) not counted either way: {}",
                parts.join("; ")
            );
            (frames, text)
        }
        Finding::RegistrationNotCaptured => (
            vec![],
            "the registration was not captured (the capture began after Outlook registered): datagrams are matched by their addresses"
                .into(),
        ),
        Finding::DroppedAt {
            at: DropPoint::SeenAt(vantage),
            ..
        } => (
            vec![],
            match vantage {
                Vantage::Client => "the capture was taken at the client: the datagrams reached its network interface",
                Vantage::Server => "the capture was taken at the server: the datagrams left it",
                Vantage::Between => "the capture was taken between the server and the client: the datagrams got that far",
                Vantage::Unknown => "where the capture was taken is not known (see the input's capture point)",
            }
            .into(),
        ),
        Finding::DroppedAt {
            at:
                DropPoint::Lost {
                    left,
                    frames,
                    missing_input,
                },
            server,
            client,
        } => (
            frames.clone(),
            format!(
                "{} datagram(s) left {} ({}, frame {}{}); never reached {client} (the client capture, input {missing_input}, covers that time)",
                frames.len(),
                server.map_or_else(|| "the server".to_string(), |s| s.to_string()),
                match left {
                    Vantage::Server => "server capture",
                    Vantage::Between => "capture between server and client",
                    _ => "the other capture",
                },
                frames.first().map_or(0, |&f| frame_number(f)),
                if frames.len() > 1 { " first" } else { "" }
            ),
        ),
        Finding::WrongPayload(frames) => (
            frames.clone(),
            format!(
                "{} datagram(s) carry a payload that differs from rgbContext: the client ignores them",
                frames.len()
            ),
        ),
        Finding::Polling(polling, frames) => (
            frames.clone(),
            format!(
                "the client polls the server about every {:.0} s ({} calls): the fallback used when push does not work",
                polling.median_interval_s.unwrap_or_default(),
                polling.calls
            ),
        ),
        Finding::UsesAsync => (
            vec![],
            "the client waits for notifications through AsyncEMSMDB (EcDoAsyncWaitEx) instead of UDP".into(),
        ),
    };
    Evidence {
        input: 0,
        frames,
        text,
    }
}

/// The frame reference of a reported datagram.
pub(super) fn datagram_ref(d: &Datagram) -> u64 {
    frame_ref(d.input, d.frame)
}

/// The frame reference of the client's reaction to a reported datagram.
fn reaction_ref(d: &Datagram) -> Option<u64> {
    d.reaction_frame
        .map(|f| frame_ref(d.reaction_input.unwrap_or(d.input), f))
}

/// Evidence whose `frames` are frame references, as one line per input they lie in (the
/// first with the text, the others saying they continue it), each with frame numbers; a
/// line that cites no frame belongs to `session_input`.
pub(super) fn per_input(evidence: Evidence, session_input: usize) -> Vec<Evidence> {
    let mut inputs: Vec<usize> = evidence.frames.iter().map(|&f| frame_input(f)).collect();
    inputs.sort_unstable();
    inputs.dedup();
    if inputs.is_empty() {
        return vec![Evidence {
            input: session_input,
            ..evidence
        }];
    }
    inputs
        .iter()
        .enumerate()
        .map(|(k, &input)| Evidence {
            input,
            frames: evidence
                .frames
                .iter()
                .filter(|&&f| frame_input(f) == input)
                .map(|&f| frame_number(f))
                .collect(),
            text: if k == 0 {
                evidence.text.clone()
            } else {
                format!("(continued) {}", evidence.text)
            },
        })
        .collect()
}

/// What to do about a session whose verdict `cause` decided.
pub(super) fn advice(cause: &Cause, server: IpAddr) -> Vec<String> {
    let text = match cause {
        Cause::Icmp { code_name, from } => format!(
            "UDP from {server} to the client's callback port is rejected ({code_name} from {from}). Allow UDP from the Exchange server to the client (ports 1024 and above) on the client's host firewall and on routers/firewalls between them."
        ),
        Cause::Refused(response) => refusal_advice(response.as_ref()),
        Cause::AddressMismatch { callback } => format!(
            "NAT or a VPN rewrites the client's address: the server sends notifications to {}, which it cannot reach through the translation. Use a connection without NAT, RPC over HTTP, or let Outlook poll (cached mode).",
            callback.ip()
        ),
        Cause::Dropped { callback_port, at } => dropped_advice(server, *callback_port, at),
        Cause::Flowing => "Push notifications reach the client; nothing to fix.".into(),
        Cause::NoDatagram => "The server accepted the registration but sent no datagram. It sends one only when new mail arrives: send a test message while capturing. Exchange 2010 RTM/SP1 and 2013 and later never send UDP; Exchange 2010 SP1 RU3 and later need EnablePushNotifications=1 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem on the Client Access server.".into(),
        Cause::RegistrationTooShort => "The registration succeeded, but it was in force for less than a minute of the capture: a datagram comes only when new mail arrives. Capture for a few minutes after Outlook registers and send a test message meanwhile.".into(),
        Cause::RegistrationUnreadable => "The registration could not be read completely (cut stub, missing response or capture gap): capture full packets (no snap length) from before Outlook starts.".into(),
        Cause::DatagramsNotJudged => format!(
            "Datagrams reached the capture point, but the capture does not show what the client did after them. Keep capturing for at least a minute after sending a test message, with the client's traffic to {server} in the capture (no capture filter on UDP only)."
        ),
        Cause::NotRegistered { uses_async: true } => "The client did not ask for UDP notifications because it waits for them through AsyncEMSMDB (EcDoAsyncWaitEx, Outlook 2007 and later with Exchange 2007 and later): new mail is announced without UDP. If mail still arrives late, look at whether the EcDoAsyncWaitEx calls complete promptly.".into(),
        Cause::NotRegistered { uses_async: false } => "The client did not ask for UDP notifications. VPN clients can disable them with PR_DISABLE_WINSOCK (property 0x66180003) in the MAPI profile; Outlook 2013 and later never register and use async or HTTP notifications instead.".into(),
        Cause::NothingDecides { saw_logon: true } => "The capture ended before the client did anything after logging on: capture for at least a minute after Outlook starts, and send a test message.".into(),
        Cause::NothingDecides { saw_logon: false } => format!(
            "Missing: the logon and registration (they happen when Outlook starts) and a notification datagram. Start the capture, then start Outlook (or restart it), send a test message to the mailbox and wait a minute, so the registration, the datagram from {server} and the client's reaction are all captured."
        ),
    };
    vec![text]
}

/// Advice for datagrams the client never reacted to, by where they were seen.
fn dropped_advice(server: IpAddr, callback_port: Option<u16>, at: &DropPoint) -> String {
    let exception = format!(
        "allow inbound UDP from {server} to Outlook on the client's host firewall: a program rule for OUTLOOK.EXE (netsh advfirewall firewall add rule name=\"Outlook new-mail notifications\" dir=in action=allow protocol=UDP program=\"<Office folder>\\OUTLOOK.EXE\" remoteip={server}; on Windows XP, Outlook in the Windows Firewall exceptions list){}, and in any third-party firewall or VPN client",
        callback_port.map_or(String::new(), |p| format!(" or, when Outlook pins its port (FixedUDPPort), UDP port {p}"))
    );
    let vantage = match at {
        DropPoint::SeenAt(vantage) => *vantage,
        DropPoint::Lost { left, .. } => {
            let from = match left {
                Vantage::Server => "the server",
                _ => "the capture point between the server and the client",
            };
            return format!(
                "The datagrams pass {from} but never reach the client's capture point, which was capturing at the time: a router or firewall between the two points drops them without an ICMP error (or NAT sends them elsewhere). Allow UDP from {server} to the client (ports 1024 and above) on the routers and firewalls between the two capture points."
            );
        }
    };
    match vantage {
        Vantage::Client => format!(
            "The datagrams reach the client's network interface but Outlook never sees them: the client's host firewall drops them without an ICMP error, as Windows Firewall does. To fix it, {exception}."
        ),
        Vantage::Server => format!(
            "The datagrams leave the server but the client never reacts: a router or firewall on the way drops them without an ICMP error, or the client's host firewall does. Capture at the client at the same time to tell which: if they arrive there, {exception}; if not, allow UDP from {server} to the client (ports 1024 and above) on the routers and firewalls between them."
        ),
        Vantage::Between | Vantage::Unknown => format!(
            "The datagrams get this far but the client never reacts: they are dropped without an ICMP error, beyond this capture point or by the client's host firewall. Capture at the client to tell which: if they arrive there, {exception}; if not, allow UDP from {server} to the client on the routers and firewalls between them."
        ),
    }
}

fn refusal_advice(response: Option<&ResponseFacts>) -> String {
    match response {
        Some(ResponseFacts::Status(0x8004_0102)) => "The server refused push registration with ecNotSupported (0x80040102). Exchange 2010 RTM/SP1 and 2013 and later always do; Exchange 2010 SP1 RU3 and later register only with EnablePushNotifications=1 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeRPC\\ParametersSystem. On Exchange 2000/2003 the server cannot register the client when a Winsock transport (HKLM\\SYSTEM\\CurrentControlSet\\Services\\Winsock\\Parameters\\Transports) has no matching service key: list the transports with EnumProt and remove the stale ones. Until then Outlook polls about once a minute.".into(),
        Some(ResponseFacts::Fault(_)) => "The server faulted the registration call: check the Exchange server's event log and version; Outlook falls back to polling about once a minute.".into(),
        Some(ResponseFacts::Status(_)) => "The server refused the registration (see the return code): the callback address or context may be invalid for it. Outlook falls back to polling about once a minute.".into(),
        _ => "The server rejected the client's bind to the EMSMDB interface: check the server's RPC configuration and authentication.".into(),
    }
}

/// A name for an ICMPv4 type-3 or ICMPv6 type-1 code (RFC 792, 1122, 1812, 4443).
pub(super) fn icmp_code_name(v6: bool, code: u8) -> &'static str {
    match (v6, code) {
        (false, 0) => "net unreachable",
        (false, 1) => "host unreachable",
        (false, 2) => "protocol unreachable",
        (false, 3) => "port unreachable",
        (false, 4) => "fragmentation needed",
        (false, 9) => "network administratively prohibited",
        (false, 10) => "host administratively prohibited",
        (false, 13) => "communication administratively prohibited",
        (false, _) => "destination unreachable",
        (true, 0) => "no route",
        (true, 1) => "administratively prohibited",
        (true, 3) => "address unreachable",
        (true, 4) => "port unreachable",
        (true, 5) => "source address failed policy",
        (true, 6) => "reject route",
        (true, _) => "destination unreachable",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe_registration(r: &RegistrationFacts) -> String {
    let what = match &r.request {
        RequestFacts::Decoded(q) => format!(
            "registration for callback {} (context {})",
            q.callback,
            hex(&q.context)
        ),
        RequestFacts::Encrypted => format!(
            "sealed registration ({} plaintext stub bytes; parameters unreadable)",
            r.stub_len
        ),
        RequestFacts::Undecodable(e) => {
            format!("registration whose stub could not be decoded ({e})")
        }
    };
    let outcome = match &r.response {
        ResponseFacts::Status(0) => "succeeded (ecNone)".to_string(),
        ResponseFacts::Status(c) => format!(
            "failed with 0x{c:08X} {}",
            emsmdb::return_code_name(*c).unwrap_or("")
        ),
        ResponseFacts::Fault(f) => format!("faulted with DCE/RPC status 0x{f:08X}"),
        ResponseFacts::Encrypted => "answered without a fault (return code sealed)".into(),
        ResponseFacts::Undecodable(e) => {
            format!("answered, but the response could not be decoded ({e})")
        }
        ResponseFacts::Missing => "has no captured response".into(),
    };
    format!("{what} {}", outcome.trim_end())
}

/// A registration as the report lists it.
pub(super) fn registration_report(r: &RegistrationFacts) -> Registration {
    let decoded = r.decoded();
    let (status, fault) = match r.response {
        ResponseFacts::Status(c) => (Some(c), None),
        ResponseFacts::Fault(f) => (None, Some(f)),
        _ => (None, None),
    };
    let decode_error = match (&r.request, &r.response) {
        (RequestFacts::Undecodable(e), _) | (_, ResponseFacts::Undecodable(e)) => Some(e.clone()),
        _ => None,
    };
    let input = frame_input(r.request_frame);
    Registration {
        input,
        request_frame: frame_number(r.request_frame),
        response_frame: r.response_frame.map(frame_number),
        response_input: r.response_frame.and_then(|f| other_input(f, input)),
        time: format_time(r.request_ts_ns),
        callback: decoded.and_then(|q| match &q.callback {
            CallbackAddress::Inet(_) => Some(q.callback.to_string()),
            CallbackAddress::Unknown { .. } => None,
        }),
        context: decoded.map(|q| hex(&q.context)),
        status,
        status_name: status
            .and_then(emsmdb::return_code_name)
            .map(str::to_string),
        fault,
        encrypted: matches!(r.request, RequestFacts::Encrypted),
        stub_len: r.stub_len,
        decode_error,
    }
}

/// Wireshark display filters showing exactly the `cited` frames (frame references), one per
/// input, in input order.
pub(super) fn wireshark_filters(cited: &BTreeSet<u64>) -> Vec<InputFilter> {
    let mut filters: Vec<(usize, Vec<String>)> = Vec::new();
    for &f in cited {
        let input = frame_input(f);
        match filters.last_mut() {
            Some((i, frames)) if *i == input => frames.push(frame_number(f).to_string()),
            _ => filters.push((input, vec![frame_number(f).to_string()])),
        }
    }
    filters
        .into_iter()
        .map(|(input, frames)| InputFilter {
            input,
            filter: format!("frame.number in {{{}}}", frames.join(" ")),
        })
        .collect()
}
