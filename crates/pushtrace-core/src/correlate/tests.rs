//! The correlator on hand-made facts: every verdict, the reaction rules, the caps.

use super::*;
use crate::emsmdb::{CallbackAddress, RegisterPushRequest};
use crate::report::{Reaction, Verdict};

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const CLIENT: &str = "10.0.0.21:1070";
const SERVER: &str = "10.0.0.5:1032";

fn request(callback: &str, context: &[u8]) -> RequestFacts {
    RequestFacts::Decoded(RegisterPushRequest {
        handle: [0; 20],
        context: context.to_vec(),
        advise_bits: u32::MAX,
        callback: CallbackAddress::Inet(sa(callback)),
        anomalies: vec![],
    })
}

fn reg(frame: u64, ts: i64, req: RequestFacts, resp: ResponseFacts) -> RegistrationFacts {
    RegistrationFacts {
        request_frame: frame,
        request_ts_ns: ts,
        response_frame: Some(frame + 1),
        stub_len: 66,
        request: req,
        response: resp,
    }
}

/// A call from `client` to the server, bound (not inferred), answered 5 ms later.
fn call_from(
    c: &mut Correlator,
    client: &str,
    opnum: u16,
    frame: u64,
    ts: i64,
    detail: CallDetail,
) {
    c.store_call(StoreCall {
        client: sa(client),
        server: sa(SERVER),
        inferred: false,
        opnum,
        request_frame: frame,
        request_ts_ns: ts,
        response_ts_ns: Some(ts.saturating_add(5 * MS)),
        detail,
    });
}

/// A ROP call (EcDoRpcExt2) from the standard client.
fn rop(c: &mut Correlator, frame: u64, ts: i64) {
    call_from(c, CLIENT, 11, frame, ts, CallDetail::Other);
}

/// A logged-on client 10.0.0.21 talking to server 10.0.0.5.
fn base() -> Correlator {
    let mut c = Correlator::new(0, CorrelateLimits::default());
    c.connection(sa(CLIENT), sa(SERVER), false, 10);
    let logon = CallDetail::Logon {
        user: Some("/o=Contoso/cn=jdoe".into()),
        poll_interval_ms: Some(60_000),
    };
    call_from(&mut c, CLIENT, 10, 12, 0, logon);
    rop(&mut c, 14, S);
    c
}

/// [`base`] plus a registration (frames 40/41, at 10 s) of `callback` with `context`.
fn registered(callback: &str, context: &[u8], response: ResponseFacts) -> Correlator {
    let mut c = base();
    let facts = reg(40, 10 * S, request(callback, context), response);
    call_from(
        &mut c,
        CLIENT,
        4,
        40,
        10 * S,
        CallDetail::Registration(facts),
    );
    c
}

/// A datagram from the server's port 3105 to `to`.
fn datagram(c: &mut Correlator, frame: u64, ts: i64, to: &str, payload: &[u8]) {
    c.udp(
        (frame, ts),
        (sa("10.0.0.5:3105"), sa(to)),
        None,
        payload,
        payload.len(),
    );
}

fn finish(c: Correlator) -> Correlation {
    c.finish(&[&HostTable::default()])
}

fn only(c: Correlator) -> Session {
    let mut sessions = finish(c).sessions;
    assert_eq!(sessions.len(), 1);
    sessions.remove(0)
}

#[test]
fn matching_datagram_with_reaction_is_flowing() {
    let mut c = registered("10.0.0.21:1088", b"ctx12345", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"ctx12345");
    rop(&mut c, 52, 100 * S + 60 * MS);
    c.observe_time(200 * S);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Flowing);
    assert_eq!(s.user.as_deref(), Some("/o=Contoso/cn=jdoe"));
    let d = &s.datagrams[0];
    assert_eq!(
        (d.matches_context, d.reaction),
        (Some(true), Reaction::Reacted)
    );
    assert_eq!(
        (d.reaction_frame, d.reaction_delay_ms),
        (Some(52), Some(60.0))
    );
    assert_eq!(
        s.registrations[0].callback.as_deref(),
        Some("10.0.0.21:1088")
    );
    assert_eq!(
        s.registrations[0].context.as_deref(),
        Some("6374783132333435")
    );
    assert_eq!(s.wireshark_filter, "frame.number in {40 41 50 52}");
}

/// A client-side capture: the datagrams arrive, the client never reacts and goes on polling
/// once a minute. Delivery is proven by the client, not by the wire.
#[test]
fn datagrams_without_reaction_while_the_client_polls_are_dropped() {
    let mut c = registered("10.0.0.21:1088", b"ctx12345", ResponseFacts::Status(0));
    for k in 0..4u64 {
        let t = (30 + 60 * k as i64) * S;
        datagram(&mut c, 100 + 10 * k, t, "10.0.0.21:1088", b"ctx12345");
        rop(&mut c, 105 + 10 * k, t + 30 * S);
    }
    c.observe_time(300 * S);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Dropped);
    assert!(s
        .datagrams
        .iter()
        .all(|d| d.reaction == Reaction::NoReaction));
    let line = s
        .evidence
        .iter()
        .find(|e| e.text.contains("got no reaction"))
        .unwrap();
    assert!(
        line.text
            .starts_with("4 notification datagram(s) to 10.0.0.21:1088"),
        "{}",
        line.text
    );
    // The datagrams and the calls the client went on making, in frame order.
    assert_eq!(line.frames, [100, 105, 110, 115, 120, 125, 130, 135]);
    assert!(s.advice[0].contains("host firewall"), "{:?}", s.advice);
    assert_eq!(Verdict::Dropped.exit_code(), 1);
}

/// One datagram answered by chance by a poll does not outweigh three ignored ones; two
/// answered out of three is delivery with a loss.
#[test]
fn the_majority_of_judged_datagrams_decides() {
    let run = |reacting: &[bool]| {
        let mut c = registered("10.0.0.21:1088", b"k", ResponseFacts::Status(0));
        for (k, &reacts) in reacting.iter().enumerate() {
            let t = (30 + 60 * k as i64) * S;
            datagram(&mut c, 100 + 10 * k as u64, t, "10.0.0.21:1088", b"k");
            let delay = if reacts { 20 * MS } else { 40 * S };
            rop(&mut c, 105 + 10 * k as u64, t + delay);
        }
        c.observe_time(1000 * S);
        only(c).verdict
    };
    assert_eq!(run(&[true, false, false, false]), Verdict::Dropped);
    assert_eq!(run(&[true, true, false]), Verdict::Flowing);
    assert_eq!(run(&[true, false]), Verdict::Flowing);
}

#[test]
fn datagrams_the_capture_cannot_judge_count_neither_way() {
    // Near the end of the capture: less than the reaction window left.
    let mut c = registered("10.0.0.21:1088", b"k", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"k");
    c.observe_time(100 * S + 500 * MS);
    let s = only(c);
    assert_eq!(s.datagrams[0].reaction, Reaction::CaptureEnded);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s
        .evidence
        .iter()
        .any(|e| e.text.contains("before the capture ended")));
    // The client makes no call after it at all.
    let mut c = registered("10.0.0.21:1088", b"k", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"k");
    c.observe_time(400 * S);
    let s = only(c);
    assert_eq!(s.datagrams[0].reaction, Reaction::ClientSilent);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    // A judged datagram decides even when a later one cannot be judged.
    let mut c = registered("10.0.0.21:1088", b"k", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"k");
    rop(&mut c, 51, 100 * S + 30 * MS);
    datagram(&mut c, 60, 200 * S, "10.0.0.21:1088", b"k");
    c.observe_time(200 * S + MS);
    assert_eq!(only(c).verdict, Verdict::Flowing);
}

#[test]
fn icmp_quoting_the_datagram_is_blocked() {
    let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "10.0.0.21:1088", b"abcd");
    let quoted = QuotedDatagram {
        src: ip("10.0.0.5"),
        dst: ip("10.0.0.21"),
        protocol: 17,
        src_port: Some(3105),
        dst_port: Some(1088),
        ip_id: Some(7),
        payload_prefix: b"abcd".to_vec(),
    };
    c.icmp_unreachable(51, 100 * S + 1000, ip("10.0.0.21"), false, 3, &quoted);
    rop(&mut c, 60, 130 * S);
    let s = only(c);
    assert_eq!(
        s.verdict,
        Verdict::Blocked,
        "ICMP is more specific than a missing reaction"
    );
    assert_eq!(s.icmp_errors[0].datagram_frame, Some(50));
    assert_eq!(s.icmp_errors[0].code_name, "port unreachable");
}

#[test]
fn not_supported_is_refused_with_advice() {
    let mut c = registered(
        "10.0.0.21:1088",
        b"abcd",
        ResponseFacts::Status(0x8004_0102),
    );
    for i in 0..5 {
        rop(&mut c, 60 + i, (20 + 60 * i as i64) * S);
    }
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Refused);
    assert!(s.advice[0].contains("EnumProt"));
    assert!(s.polling.steady_one_minute);
    assert_eq!(
        s.registrations[0].status_name.as_deref(),
        Some("ecNotSupported (MAPI_E_NO_SUPPORT)")
    );
}

#[test]
fn nat_callback_is_address_mismatch_even_without_reactions() {
    let mut c = registered("192.168.1.7:1088", b"abcd", ResponseFacts::Status(0));
    datagram(&mut c, 50, 100 * S, "192.168.1.7:1088", b"abcd");
    rop(&mut c, 60, 150 * S);
    c.observe_time(300 * S);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::AddressMismatch);
    assert!(s
        .evidence
        .iter()
        .any(|e| e.text.contains("192.168.1.7:1088")));
}

#[test]
fn registered_without_datagram_and_wrong_payload() {
    let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
    datagram(&mut c, 50, 70 * S, "10.0.0.21:1088", b"zzzz");
    rop(&mut c, 60, 100 * S);
    c.observe_time(310 * S);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::NoDatagram);
    assert_eq!(s.datagrams[0].matches_context, Some(false));
    assert_eq!(s.datagrams[0].reaction, Reaction::Ignored);
    assert!(s.evidence.iter().any(|e| e.text.contains("300 s")));
}

#[test]
fn not_registered_needs_a_captured_logon_and_calls_after_it() {
    let s = only(base());
    assert_eq!(s.verdict, Verdict::NotRegistered);
    let line = s
        .evidence
        .iter()
        .find(|e| e.text.contains("logged on"))
        .unwrap();
    assert_eq!(line.frames, [12], "the logon that was captured");
    // The logon is the last thing captured: the capture ended too early to tell.
    let mut c = Correlator::new(0, CorrelateLimits::default());
    let logon = CallDetail::Logon {
        user: None,
        poll_interval_ms: None,
    };
    call_from(&mut c, CLIENT, 10, 12, 0, logon);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s.advice[0].contains("capture ended"), "{:?}", s.advice);
    // Calls recognised without their bind and no logon: "logged on" is never claimed.
    let mut c = Correlator::new(0, CorrelateLimits::default());
    c.store_call(StoreCall {
        client: sa(CLIENT),
        server: sa(SERVER),
        inferred: true,
        opnum: 11,
        request_frame: 3,
        request_ts_ns: S,
        response_ts_ns: None,
        detail: CallDetail::Other,
    });
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s.inferred);
    assert!(
        s.evidence.iter().all(|e| !e.text.contains("logged on")),
        "{:?}",
        s.evidence
    );
    assert!(s.advice[0].starts_with("Missing: the logon and registration"));
}

#[test]
fn datagram_before_the_server_is_known_still_forms_a_session() {
    let mut c = Correlator::new(0, CorrelateLimits::default());
    datagram(&mut c, 5, S, "10.0.0.30:1090", b"12345678");
    // Another client's connection later shows 10.0.0.5 to be an Exchange server.
    rop(&mut c, 9, 2 * S);
    c.observe_time(100 * S);
    let sessions = finish(c).sessions;
    let s = sessions.iter().find(|s| s.client == "10.0.0.30").unwrap();
    assert_eq!(s.datagrams[0].matches_context, None);
    // 10.0.0.30 made no call in the capture: nothing shows whether Outlook got it.
    assert_eq!(s.datagrams[0].reaction, Reaction::ClientSilent);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s
        .evidence
        .iter()
        .any(|e| e.text.contains("registration was not captured")));
}

/// Mid-session (no registration captured): datagrams to the client that it reacts to are
/// delivery, ones it ignores while it goes on polling are drops.
#[test]
fn mid_session_datagrams_are_judged_by_the_client_too() {
    for (delay, expected) in [(15 * MS, Verdict::Flowing), (25 * S, Verdict::Dropped)] {
        let mut c = Correlator::new(0, CorrelateLimits::default());
        for k in 0..3i64 {
            let t = (10 + 60 * k) * S;
            datagram(&mut c, 10 + k as u64, t, "10.0.0.21:1088", b"12345678");
            rop(&mut c, 20 + k as u64, t + delay);
        }
        c.observe_time(300 * S);
        let s = only(c);
        assert_eq!(s.verdict, expected);
    }
}

#[test]
fn sealed_registration_matches_by_client_ip_and_length() {
    let mut c = base();
    let r = reg(
        40,
        10 * S,
        RequestFacts::Encrypted,
        ResponseFacts::Encrypted,
    );
    call_from(&mut c, CLIENT, 4, 40, 10 * S, CallDetail::Registration(r));
    datagram(&mut c, 50, 20 * S, "10.0.0.21:2000", b"12345678");
    rop(&mut c, 51, 20 * S + 80 * MS);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Flowing);
    assert!(s.registrations[0].encrypted);
    assert_eq!(s.registrations[0].callback, None);
}

#[test]
fn unregistration_ends_the_registration() {
    let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
    call_from(&mut c, CLIENT, 5, 60, 100 * S, CallDetail::Unregistration);
    datagram(&mut c, 70, 150 * S, "10.0.0.21:1088", b"abcd");
    c.observe_time(400 * S);
    let s = only(c);
    // The datagram came after the client unregistered: it answers no registration.
    assert_eq!(s.datagrams[0].matches_context, None);
    assert_eq!(s.datagrams[0].reaction, Reaction::Unregistered);
    assert_eq!(s.verdict, Verdict::NoDatagram);
    let note = s
        .evidence
        .iter()
        .find(|e| e.text.contains("until the client unregistered"))
        .unwrap();
    assert_eq!(note.frames, [60]);
    assert!(note.text.contains(" 90 s "), "{}", note.text);
}

/// Less than a poll interval of a registration in the capture shows nothing about datagrams
/// (a real 2003 trace ends two frames after its registration).
#[test]
fn a_registration_watched_for_less_than_a_poll_interval_is_inconclusive() {
    let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
    c.observe_time(10 * S + 2 * MS);
    let s = only(c);
    assert_eq!(s.verdict, Verdict::Inconclusive);
    assert!(s
        .evidence
        .iter()
        .any(|e| e.text.contains("in the 0 s the capture ran")));
    assert!(s.advice[0].contains("less than a minute"), "{:?}", s.advice);
    // Unregistered 30 s after registering: too short as well.
    let mut c = registered("10.0.0.21:1088", b"abcd", ResponseFacts::Status(0));
    call_from(&mut c, CLIENT, 5, 60, 40 * S, CallDetail::Unregistration);
    c.observe_time(400 * S);
    assert_eq!(only(c).verdict, Verdict::Inconclusive);
}

#[test]
fn pools_are_bounded_and_say_so() {
    let limits = CorrelateLimits {
        max_pending_datagrams: 4,
        ..CorrelateLimits::default()
    };
    let mut c = Correlator::new(0, limits);
    for i in 0..100u16 {
        c.udp(
            (u64::from(i), 0),
            (
                sa("10.9.9.9:53"),
                SocketAddr::from(([10, 0, 1, (i % 200) as u8], 1000 + i)),
            ),
            None,
            b"x",
            1,
        );
    }
    assert_eq!(c.pending.len(), 4);
    let warnings = finish(c).warnings;
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.code == "datagram_pool_cap")
            .count(),
        1
    );
}

/// Found by the analyzer property test (arbitrary capture times): the reaction window and
/// the polling intervals subtracted times and overflowed on extreme ones.
#[test]
fn extreme_capture_times_do_not_overflow() {
    let mut c = base();
    c.udp(
        (50, i64::MIN),
        (sa("10.0.0.5:3105"), sa("10.0.0.21:1088")),
        None,
        b"ctx12345",
        8,
    );
    for (frame, ts) in [(60, i64::MIN), (61, i64::MAX), (62, -1), (63, i64::MAX)] {
        rop(&mut c, frame, ts);
    }
    c.observe_time(i64::MAX);
    let s = only(c);
    assert_eq!(s.datagrams.len(), 1);
    // Only the call at the datagram's own time is within the reaction window.
    assert_eq!(s.datagrams[0].reaction_frame, Some(60));
    assert_eq!(s.polling.calls, 5);
    assert!(!s.polling.steady_one_minute);
}

#[test]
fn caps_shared_by_all_sessions_bound_what_many_sessions_keep() {
    let limits = CorrelateLimits {
        max_listed_items_total: 8,
        max_calls_total: 11,
        ..CorrelateLimits::default()
    };
    let mut c = Correlator::new(0, limits);
    // Four clients, each with a connection, two registrations and one more call: 4
    // connections and 8 registrations to list, 12 calls.
    for n in 1..=4u8 {
        let client = format!("10.0.0.{}:1070", 20 + n);
        for k in 0..2u64 {
            let frame = u64::from(n) * 10 + k * 2;
            let callback = format!("10.0.0.{}:3333", 20 + n);
            let facts = reg(
                frame,
                0,
                request(&callback, b"ctx"),
                ResponseFacts::Status(0),
            );
            call_from(
                &mut c,
                &client,
                4,
                frame,
                0,
                CallDetail::Registration(facts),
            );
        }
        call_from(
            &mut c,
            &client,
            11,
            u64::from(n) * 10 + 5,
            0,
            CallDetail::Other,
        );
    }
    // A datagram to the first client: the registrations took every listed place.
    c.udp(
        (99, S),
        (sa("10.0.0.5:3105"), sa("10.0.0.21:3333")),
        None,
        b"ctx",
        3,
    );
    let Correlation {
        sessions, warnings, ..
    } = finish(c);
    let kept: Vec<usize> = sessions.iter().map(|s| s.registrations.len()).collect();
    assert_eq!(
        kept,
        vec![2, 2, 1, 0],
        "the first ones are kept, in capture order"
    );
    assert!(sessions.iter().all(|s| s.datagrams.is_empty()));
    let polled: u64 = sessions.iter().map(|s| s.polling.calls).sum();
    assert_eq!(polled, 3, "11 calls kept: 8 registrations and 3 ROP calls");
    let item_cap = warnings
        .iter()
        .find(|w| w.code == "correlation_item_cap")
        .unwrap();
    assert_eq!(
        item_cap.frame,
        Some(32),
        "the third client's second registration"
    );
    let call_cap = warnings
        .iter()
        .find(|w| w.code == "correlation_call_cap")
        .unwrap();
    assert_eq!(call_cap.frame, Some(45));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn thousands_of_registrations_unregistrations_and_datagrams_are_judged_quickly() {
    // Each datagram is matched against the registrations and their ends: with
    // unregistrations searched per pair this took minutes (cubic); it is a sort and binary
    // searches.
    let mut c = base();
    let n = 3_000u64;
    for k in 0..n {
        call_from(
            &mut c,
            CLIENT,
            5,
            100 + k,
            k as i64,
            CallDetail::Unregistration,
        );
    }
    for k in 0..n {
        let ts = (n + k) as i64 * S;
        let facts = reg(
            10_000 + 2 * k,
            ts,
            request("10.0.0.21:1088", &[1, 2, 3, 4]),
            ResponseFacts::Status(0),
        );
        call_from(
            &mut c,
            CLIENT,
            4,
            10_000 + 2 * k,
            ts,
            CallDetail::Registration(facts),
        );
    }
    for k in 0..n {
        datagram(
            &mut c,
            20_000 + k,
            (3 * n + k) as i64 * S,
            "10.0.0.21:2000",
            &[9],
        );
    }
    let started = std::time::Instant::now();
    let sessions = finish(c).sessions;
    assert!(started.elapsed().as_secs() < 30);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].datagrams.len(), n as usize);
    assert_eq!(sessions[0].registrations.len(), n as usize);
}

#[test]
fn unregistrations_and_bind_rejections_count_against_the_shared_cap() {
    let limits = CorrelateLimits {
        max_listed_items_total: 10,
        ..CorrelateLimits::default()
    };
    let mut c = Correlator::new(0, limits);
    for k in 0..1_000 {
        call_from(&mut c, CLIENT, 5, k, k as i64, CallDetail::Unregistration);
        c.bind_rejected(sa(CLIENT), sa(SERVER), (k, 0), "reason".into());
    }
    let Correlation {
        sessions, warnings, ..
    } = finish(c);
    assert!(warnings.iter().any(|w| w.code == "correlation_item_cap"));
    let cited = sessions[0]
        .evidence
        .iter()
        .filter(|e| e.text.contains("rejected the bind"))
        .count();
    assert!(cited < 10, "{cited}");
}
