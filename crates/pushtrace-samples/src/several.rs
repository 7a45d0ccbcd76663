//! Several captures of one trace: the same simulated traffic seen from a second capture
//! point (on the client, with its own clock), and one capture cut into the files of a ring
//! buffer.
//!
//! **A second capture point** runs the scenario again with the hosts as that point sees
//! them (the other host behind the router: its MAC and a lower TTL; its own packets with
//! offload checksums). The simulation is deterministic, so every packet keeps its
//! addresses, ports, sequence numbers, IPv4 identification and payload, and only the
//! headers a router or a capture host changes differ. Then [`seen_further`] moves each
//! frame to the time it passes that point: packets from the client pass it `delay_ns`
//! before the server's capture point, all others `delay_ns` after, on a clock `clock_ns`
//! off; frames a router drops on the way never reach it.

use crate::files::{self, FileFormat};
use crate::net::{Net, SimFrame, MS};
use crate::outlook::CallFrames;
use crate::scenarios::{
    ignored_notifications, logon, poll_every_minute, routed_hosts, CALLBACK_PORT, ROUTED_SERVER,
    START_NS, USER,
};
use crate::{sample, Sample};
use anyhow::Result;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pushtrace_core::report::format_time;
use serde_json::{json, Value};
use std::net::IpAddr;

/// How far, in time on the wire, the client's capture point is from the server's (a LAN
/// away: less than half the quickest turn-around in the simulation, so no answer passes a
/// point before its question).
const PATH_DELAY_NS: i64 = 60_000;

/// A capture point nearer the client than the scenario's own.
#[derive(Debug, Clone, Copy)]
struct FurtherPoint {
    /// The client: its packets pass this point before the server's.
    pub client: IpAddr,
    /// Time on the wire between the two points.
    pub delay_ns: i64,
    /// How far this point's clock is ahead of the server's.
    pub clock_ns: i64,
}

/// The sender of an Ethernet frame, and whether it is a UDP datagram.
fn sender(frame: &SimFrame) -> Option<(IpAddr, bool)> {
    let sliced = SlicedPacket::from_ethernet(&frame.bytes).ok()?;
    let src = match sliced.net? {
        NetSlice::Ipv4(ip) => IpAddr::from(ip.header().source_addr()),
        NetSlice::Ipv6(ip) => IpAddr::from(ip.header().source_addr()),
        _ => return None,
    };
    Some((
        src,
        matches!(sliced.transport, Some(TransportSlice::Udp(_))),
    ))
}

/// Whether a frame is a UDP datagram from `from`.
fn is_udp_from(frame: &SimFrame, from: IpAddr) -> bool {
    sender(frame) == Some((from, true))
}

/// The frames as `point` captures them, from the same traffic captured on the server's
/// side (`frames`, with the hosts as `point` sees them), keeping those for which `reaches`
/// holds. Also returns, for each frame given, its number at the point (None when it did
/// not get there).
fn seen_further(
    frames: &[SimFrame],
    point: FurtherPoint,
    reaches: impl Fn(&SimFrame) -> bool,
) -> (Vec<SimFrame>, Vec<Option<u64>>) {
    let mut moved: Vec<(i64, usize)> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| reaches(f))
        .map(|(i, f)| {
            let from_client = sender(f).is_some_and(|(s, _)| s == point.client);
            let on_wire = if from_client {
                f.ts_ns - point.delay_ns
            } else {
                f.ts_ns + point.delay_ns
            };
            (on_wire + point.clock_ns, i)
        })
        .collect();
    moved.sort_by_key(|&(ts, i)| (ts, i));
    let mut numbers = vec![None; frames.len()];
    let out = moved
        .iter()
        .enumerate()
        .map(|(n, &(ts_ns, i))| {
            numbers[i] = Some(n as u64 + 1);
            SimFrame {
                ts_ns,
                bytes: frames[i].bytes.clone(),
            }
        })
        .collect();
    (out, numbers)
}

/// What the healthy two-point story produced: its frames and the frames the report cites.
struct Healthy {
    frames: Vec<SimFrame>,
    register: CallFrames,
    /// (datagram, the client's reaction) per notification.
    notified: Vec<(u64, CallFrames)>,
}

/// Outlook logs on to a server two routers away and registers; three notifications come
/// and the client reacts to each. `at_server` says which point's view of the hosts to use.
fn healthy_story(seed: u64, at_server: bool) -> Healthy {
    let (c, s) = routed_hosts(at_server);
    let mut net = Net::new(START_NS, seed);
    let mut l = logon(
        &mut net,
        c,
        s,
        Default::default(),
        Some((c.at(CALLBACK_PORT), 0)),
    );
    let notified = l.notify_and_react(&mut net, s, &[41, 95, 187]);
    let register = l.register.unwrap_or(CallFrames {
        request: 0,
        response: 0,
    });
    l.conn.close(&mut net);
    Healthy {
        frames: net.frames,
        register,
        notified,
    }
}

/// Frame `n` (1-based) of the server's view as numbered at the other point.
fn renumber(numbers: &[Option<u64>], n: u64) -> Option<u64> {
    numbers
        .get(usize::try_from(n).ok()?.checked_sub(1)?)
        .copied()
        .flatten()
}

fn pcapng(frames: &[SimFrame]) -> Result<Vec<u8>> {
    files::write(frames, FileFormat::PcapNg, None)
}

/// A sample made of other samples' files, analysed together.
fn together(stem: &str, shows: &str, captures: &[&str], expect: Value) -> Result<Sample> {
    let captures = captures.iter().map(|c| c.to_string()).collect();
    Sample::new(stem, shows, Vec::new(), captures, expect)
}

/// A healthy session captured at the server and at the client at the same time; the
/// client's clock is 3.25 s ahead. Each alone is `flowing`; together they are one session
/// whose datagrams are each seen twice.
fn two_points_healthy() -> Result<Vec<Sample>> {
    const SEED: u64 = 31;
    const CLIENT_CLOCK_NS: i64 = 3_250 * MS;
    let server = healthy_story(SEED, true);
    let client = healthy_story(SEED, false);
    let point = FurtherPoint {
        client: "10.0.0.21".parse()?,
        delay_ns: PATH_DELAY_NS,
        clock_ns: CLIENT_CLOCK_NS,
    };
    let (client_frames, numbers) = seen_further(&client.frames, point, |_| true);
    let at_client = |n: u64| renumber(&numbers, n);
    let registration = |at: &dyn Fn(u64) -> Option<u64>| {
        json!({ "request_frame": at(server.register.request), "response_frame": at(server.register.response),
                "callback": "10.0.0.21:1088", "status": 0 })
    };
    let alone = |vantage: &str, at: &dyn Fn(u64) -> Option<u64>| {
        let datagrams: Vec<Value> = server
            .notified
            .iter()
            .map(|(d, r)| json!({ "frame": at(*d), "reaction": "reacted", "reaction_frame": at(r.request) }))
            .collect();
        json!({ "verdict": "flowing", "inputs": [{ "vantage": vantage }], "sessions": [
            { "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "flowing", "user": USER,
              "registrations": [registration(at)], "datagrams": datagrams, "icmp_errors": [] } ] })
    };
    let same = |n: u64| Some(n);
    let server_name = "two-points-healthy-server.pcapng";
    let client_name = "two-points-healthy-client.pcapng";
    let mut out = vec![
        sample(
            "two-points-healthy-server",
            "a healthy session captured on the server (two routers from the client)",
            FileFormat::PcapNg,
            pcapng(&server.frames)?,
            alone("server", &same),
            &[],
        )?,
        sample(
            "two-points-healthy-client",
            "the same minutes captured on the client, whose clock is 3.25 s ahead",
            FileFormat::PcapNg,
            pcapng(&client_frames)?,
            alone("client", &at_client),
            &[],
        )?,
    ];
    let datagrams: Vec<Value> = server
        .notified
        .iter()
        .map(|(d, r)| {
            json!({ "input": 0, "frame": d, "reaction": "reacted", "reaction_frame": r.request,
                    "seen_at": [{ "input": 0, "frame": d }, { "input": 1, "frame": at_client(*d) }] })
        })
        .collect();
    let expect = json!({
        "verdict": "flowing",
        "traces": [{ "kind": "views", "inputs": [0, 1], "views": [[0], [1]] }],
        "inputs": [{ "format": "pcapng", "vantage": "server", "trace": 0 },
                   { "format": "pcapng", "vantage": "client", "trace": 0 }],
        "sessions": [{ "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "flowing", "inputs": [0, 1],
                       "registrations": [registration(&same)], "datagrams": datagrams }],
    });
    out.push(together(
        "two-points-healthy",
        "both captures together: one session, each datagram seen at both points, the client clock's offset found",
        &[server_name, client_name],
        expect,
    )?);
    Ok(out)
}

/// The session of `path-dropped-server-side` captured on the client at the same time (its
/// clock 1.75 s behind): a router between them drops the datagrams, so the client capture
/// shows the registration and the polls, and no datagram.
fn path_dropped_client_side() -> Result<Vec<Sample>> {
    // The story and seed of `path-dropped-server-side`, seen from the client.
    const SEED: u64 = 22;
    let (c, s) = routed_hosts(false);
    let story = ignored_notifications(SEED, c, s, "client");
    let point = FurtherPoint {
        client: c.ip,
        delay_ns: PATH_DELAY_NS,
        clock_ns: -1_750 * MS,
    };
    let (frames, numbers) = seen_further(&story.frames, point, |f| !is_udp_from(f, s.ip));
    let reg = &story.expect["sessions"][0]["registrations"][0];
    let at = |key: &str| reg[key].as_u64().and_then(|n| renumber(&numbers, n));
    let registration = json!({ "request_frame": at("request_frame"), "response_frame": at("response_frame"),
                               "callback": "10.0.0.21:1088", "status": 0 });
    let alone = json!({ "verdict": "no_datagram", "inputs": [{ "vantage": "client" }], "sessions": [
        { "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "no_datagram",
          "registrations": [registration], "datagrams": [], "icmp_errors": [] } ] });
    let datagrams: Vec<Value> = story.expect["sessions"][0]["datagrams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| json!({ "input": 0, "frame": d["frame"], "reaction": "no_reaction", "seen_at": [{ "input": 0, "frame": d["frame"] }] }))
        .collect();
    let both = json!({
        "verdict": "dropped",
        "traces": [{ "kind": "views", "inputs": [0, 1] }],
        "inputs": [{ "format": "pcapng", "vantage": "server" }, { "format": "pcapng", "vantage": "client" }],
        "sessions": [{ "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "dropped", "inputs": [0, 1],
                       "datagrams": datagrams, "polling": { "steady_one_minute": true } }],
    });
    Ok(vec![
        sample(
            "path-dropped-client-side",
            "path-dropped-server-side's minutes captured on the client: registration and polls, no datagram arrives",
            FileFormat::PcapNg,
            pcapng(&frames)?,
            alone,
            &[],
        )?,
        together(
            "path-dropped-both-ends",
            "both captures together: the datagrams leave the server and never reach the client's capture point",
            &["path-dropped-server-side.pcapng", "path-dropped-client-side.pcapng"],
            both,
        )?,
    ])
}

/// The name `dumpcap -b` gives the `n`th file of a ring buffer whose first frame is at
/// `ts_ns` (the capture host's clock on UTC): `STEM_NNNNN_YYYYmmddHHMMSS.pcapng`.
fn ring_file_name(stem: &str, n: usize, ts_ns: i64) -> String {
    // format_time gives `2025-11-03T09:00:41.943566Z`: its digits up to the seconds.
    let stamp: String = format_time(ts_ns)
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    format!("{stem}_{n:05}_{stamp}.pcapng")
}

/// A healthy session captured as a three-file ring buffer: the registration in the first
/// file, a call cut by each file switch, the datagrams and reactions in the second and
/// third. Given newest first, they are read in time order as one trace: `flowing`.
fn ring_buffer() -> Result<Vec<Sample>> {
    let (c, s) = routed_hosts(true);
    let mut net = Net::new(START_NS, 33);
    let mut l = logon(
        &mut net,
        c,
        s,
        Default::default(),
        Some((c.at(CALLBACK_PORT), 0)),
    );
    let notified = l.notify_and_react(&mut net, s, &[41, 55]);
    poll_every_minute(&mut net, &mut l.conn, 1);
    let notified_late = l.notify_and_react(&mut net, s, &[20]);
    l.conn.close(&mut net);
    let register = l.register.unwrap_or(CallFrames {
        request: 0,
        response: 0,
    });
    // Switch files inside the call after the registration, and inside the reaction to the
    // first datagram.
    let cuts = [
        register.response as usize + 2,
        notified[0].1.request as usize,
    ];
    let pieces = [
        &net.frames[..cuts[0]],
        &net.frames[cuts[0]..cuts[1]],
        &net.frames[cuts[1]..],
    ];
    let mut out = Vec::new();
    let mut names = Vec::new();
    for (k, piece) in pieces.iter().enumerate() {
        let name = ring_file_name("ring-buffer", k + 1, piece[0].ts_ns);
        out.push((name.clone(), pcapng(piece)?));
        names.push(name);
    }
    // Given newest first: inputs 0, 1, 2 are files 3, 2, 1.
    let place = |frame: u64| {
        let i = usize::try_from(frame).unwrap_or(0) - 1;
        let file = cuts.iter().filter(|&&c| i >= c).count();
        let first = if file == 0 { 0 } else { cuts[file - 1] };
        (2 - file, (i - first) as u64 + 1)
    };
    let datagrams: Vec<Value> = notified
        .iter()
        .chain(&notified_late)
        .map(|(d, r)| {
            let ((input, frame), (r_input, r_frame)) = (place(*d), place(r.request));
            json!({ "input": input, "frame": frame, "reaction": "reacted", "reaction_frame": r_frame,
                    "reaction_input": (r_input != input).then_some(r_input) })
        })
        .collect();
    let (reg_input, reg_frame) = place(register.request);
    let (resp_input, resp_frame) = place(register.response);
    let expect = json!({
        "verdict": "flowing",
        "traces": [{ "kind": "chain", "inputs": [2, 1, 0] }],
        "inputs": [{ "format": "pcapng", "trace": 0 }, { "format": "pcapng", "trace": 0 }, { "format": "pcapng", "trace": 0 }],
        "sessions": [{ "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "flowing", "inputs": [0, 1, 2],
            "registrations": [{ "input": reg_input, "request_frame": reg_frame, "response_frame": resp_frame,
                                "response_input": (resp_input != reg_input).then_some(resp_input), "status": 0 }],
            "datagrams": datagrams }],
    });
    let captures = names.into_iter().rev().collect();
    let ring = Sample::new(
        "ring-buffer",
        "a three-file ring buffer (dumpcap -b), given newest first: registration in the first file, datagrams in the others",
        out,
        captures,
        expect,
    )?;
    Ok(vec![ring])
}

/// Every sample of several captures.
pub fn samples() -> Result<Vec<Sample>> {
    let mut out = two_points_healthy()?;
    out.extend(path_dropped_client_side()?);
    out.extend(ring_buffer()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SEC;

    #[test]
    fn ring_files_are_named_as_dumpcap_names_them() {
        // 2025-11-03 09:00:00 UTC.
        assert_eq!(
            ring_file_name("trace", 2, 1_762_160_400 * SEC + 999 * MS),
            "trace_00002_20251103090000.pcapng"
        );
        assert_eq!(ring_file_name("t", 1, 0), "t_00001_19700101000000.pcapng");
    }

    #[test]
    fn a_further_point_sees_the_client_earlier_and_the_server_later() {
        let story = healthy_story(31, false);
        let point = FurtherPoint {
            client: "10.0.0.21".parse().unwrap(),
            delay_ns: PATH_DELAY_NS,
            clock_ns: 0,
        };
        let (frames, numbers) = seen_further(&story.frames, point, |_| true);
        assert_eq!(frames.len(), story.frames.len());
        // Every frame moved by exactly the delay, one way or the other, and no answer
        // overtook its question (the frame order is unchanged).
        for (i, f) in story.frames.iter().enumerate() {
            let at = renumber(&numbers, i as u64 + 1).unwrap();
            assert_eq!(at, i as u64 + 1);
            let moved = frames[at as usize - 1].ts_ns - f.ts_ns;
            assert_eq!(moved.abs(), PATH_DELAY_NS);
        }
        let server: IpAddr = ROUTED_SERVER.parse().unwrap();
        let (kept, _) = seen_further(&story.frames, point, |f| !is_udp_from(f, server));
        assert_eq!(
            kept.len(),
            story.frames.len() - 3,
            "three datagrams dropped"
        );
    }
}
