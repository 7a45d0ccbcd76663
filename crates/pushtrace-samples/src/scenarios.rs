//! The sample scenarios: one function per situation an Exchange administrator meets, each
//! returning the frames and the facts (ground truth known to the generator) that the
//! analysis must report.

use crate::net::{Host, Net, Rng, Segmenting, Side, SimFrame, TcpConn, MS, SEC};
use crate::outlook::{epm_lookup, notify, CallFrames, ConnectOptions, EmsmdbConnection};
use crate::rpc::{Auth, Context, PduWriter};
use crate::smb::PipeSession;
use serde_json::{json, Value};
use std::net::SocketAddr;
use uuid::Uuid;

/// 2025-11-03 09:00:00 UTC: when every sample capture starts.
pub(crate) const START_NS: i64 = 1_762_160_400 * SEC;
/// The Exchange server's EMSMDB port, as its endpoint mapper hands it out.
const EMSMDB_PORT: u16 = 1032;
/// The UDP port Outlook listens on for notifications.
pub(crate) const CALLBACK_PORT: u16 = 1088;
/// The poll interval Exchange hands out: one minute.
const POLL_MS: u32 = 60_000;
pub(crate) const USER: &str =
    "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jdoe";

/// A built scenario: the frames and the facts the report must show.
#[derive(Debug)]
pub struct Built {
    /// The frames in capture order.
    pub frames: Vec<SimFrame>,
    /// The subset of the JSON report that must match (see samples/README.md).
    pub expect: Value,
}

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// File stem of its samples, e.g. `udp-blocked-icmp`.
    pub name: &'static str,
    /// What it shows, for samples/README.md.
    pub shows: &'static str,
    /// Builds it.
    pub build: fn() -> Built,
}

/// Every scenario, in the order samples/README.md lists them.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario { name: "healthy-push", shows: "endpoint mapper, logon, registration, datagrams, client reacts", build: healthy_push },
        Scenario { name: "udp-blocked-icmp", shows: "every datagram answered by ICMP port unreachable; client polls each minute", build: udp_blocked_icmp },
        Scenario { name: "registration-refused", shows: "registration answered 0x80040102 ecNotSupported, then one-minute polling", build: registration_refused },
        Scenario { name: "registration-fault", shows: "registration answered by a DCE/RPC fault (nca_s_op_rng_error)", build: registration_fault },
        Scenario { name: "bind-rejected", shows: "the EMSMDB bind answered by bind_nak; Outlook retries and gives up", build: bind_rejected },
        Scenario { name: "not-registered-polling", shows: "logon but no registration; the client polls", build: not_registered },
        Scenario { name: "nat-address-mismatch", shows: "callback 192.168.1.21 behind NAT; the server sees 10.0.0.21", build: nat_mismatch },
        Scenario { name: "registered-no-datagram", shows: "registration succeeds, no datagram in five minutes", build: registered_no_datagram },
        Scenario { name: "unregistered", shows: "registration, then EcRUnregisterPushNotification 90 s later; no datagram", build: unregistered },
        Scenario { name: "async-notifications", shows: "Outlook 2007-style: EcDoAsyncConnectEx and EcDoAsyncWaitEx instead of UDP registration", build: async_notifications },
        Scenario { name: "encrypted-push", shows: "packet privacy: sealed registration, datagrams to the client", build: encrypted_push },
        Scenario { name: "encrypted-no-datagram", shows: "packet privacy: sealed registration, no datagram", build: encrypted_no_datagram },
        Scenario { name: "ipv6-push", shows: "healthy push over IPv6", build: ipv6_push },
        Scenario { name: "two-clients", shows: "one client flowing, one refused, in one file", build: two_clients },
        Scenario { name: "wrong-payload", shows: "datagrams whose payload differs from the registered context", build: wrong_payload },
        Scenario { name: "fragmented-reordered", shows: "NSPI then EMSMDB via alter_context, 3-fragment calls, awkward segments, retransmission, reordering", build: fragmented_reordered },
        Scenario { name: "mid-session", shows: "capture starts after the registration: only polls, datagrams and reactions", build: mid_session },
        Scenario { name: "host-firewall-dropped", shows: "taken on the client: datagrams arrive, the host firewall drops them silently, Outlook polls each minute", build: host_firewall_dropped },
        Scenario { name: "path-dropped-server-side", shows: "taken on the server: datagrams leave, the client never reacts and polls each minute", build: path_dropped_server_side },
        Scenario { name: "outlook2003-mid-session", shows: "Outlook 2003 (EcDoRpc) captured mid-session, starting inside a PDU: datagrams and reactions", build: outlook2003_mid_session },
        Scenario { name: "mid-session-unanswered", shows: "starts with a response, ends with a call unanswered: the client stays the client", build: mid_session_unanswered },
        Scenario { name: "late-endpoint-mapper", shows: "a sealed client mid-session; another client's endpoint-mapper lookup later shows the store port", build: late_endpoint_mapper },
        Scenario { name: "sealed-mid-session-dropped", shows: "Outlook 2007-style sealed RPC captured mid-session on the client; the host firewall drops the datagrams", build: sealed_mid_session_dropped },
        Scenario { name: "smb-background", shows: "a healthy session amid SMB named-pipe RPC and Active Directory RPC captured mid-session", build: smb_background },
    ]
}

fn server() -> Host {
    Host::new(5, "10.0.0.5", 128)
}

fn client() -> Host {
    Host::new(21, "10.0.0.21", 127)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn registration(
    f: CallFrames,
    callback: Option<&str>,
    context: Option<&[u8]>,
    status: Option<u32>,
    encrypted: bool,
) -> Value {
    json!({
        "request_frame": f.request,
        "response_frame": f.response,
        "callback": callback,
        "context": context.map(hex),
        "status": status,
        "encrypted": encrypted,
    })
}

/// An Outlook session up to its registration: endpoint-mapper lookup, bind, logon, a few
/// ROP calls, then `EcRRegisterPushNotification`.
pub(crate) struct Logon {
    pub conn: EmsmdbConnection,
    pub register: Option<CallFrames>,
    pub context: Vec<u8>,
    pub callback: SocketAddr,
}

impl Logon {
    /// After each wait in `waits_s` the server sends the notification datagram and the
    /// client reacts 60 ms later with a ROP call: (datagram frame, reaction) per wait.
    pub(crate) fn notify_and_react(
        &mut self,
        net: &mut Net,
        server: Host,
        waits_s: &[i64],
    ) -> Vec<(u64, CallFrames)> {
        let client = self.conn.client;
        let mut out = Vec::with_capacity(waits_s.len());
        for &wait_s in waits_s {
            net.wait(wait_s * SEC);
            let frame = notify(net, server, 3105, self.callback, client, &self.context);
            net.wait(60 * MS);
            out.push((frame, self.conn.rop_call(net, 60)));
        }
        out
    }

    /// `n` notification datagrams, each refused by the client's host with ICMP port
    /// unreachable, while the client polls twice a minute: (datagram, ICMP error) frames.
    pub(crate) fn notify_blocked(
        &mut self,
        net: &mut Net,
        server: Host,
        n: usize,
    ) -> Vec<(u64, u64)> {
        let client = self.conn.client;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            net.wait(30 * SEC);
            let d = notify(net, server, 3105, self.callback, client, &self.context);
            net.wait(MS / 2);
            out.push((d, net.icmp_unreachable(client, server, 3, d)));
            net.wait(30 * SEC);
            self.conn.rop_call(net, 40);
        }
        out
    }

    /// `n` notification datagrams the client never reacts to (whatever drops them sends no
    /// ICMP error), while it polls once a minute: the datagram frames.
    fn notify_unanswered(&mut self, net: &mut Net, server: Host, n: usize) -> Vec<u64> {
        let client = self.conn.client;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            net.wait(25 * SEC);
            out.push(notify(
                net,
                server,
                3105,
                self.callback,
                client,
                &self.context,
            ));
            net.wait(35 * SEC);
            self.conn.rop_call(net, 40);
        }
        out
    }

    /// The registration as the report must show it (plain stub).
    pub(crate) fn expected_registration(
        &self,
        callback: Option<&str>,
        status: Option<u32>,
    ) -> Value {
        let frames = self.register.unwrap_or(CallFrames {
            request: 0,
            response: 0,
        });
        registration(frames, callback, Some(&self.context), status, false)
    }

    /// The registration as the report must show it when the stub is sealed.
    fn expected_sealed_registration(&self) -> Value {
        let frames = self.register.unwrap_or(CallFrames {
            request: 0,
            response: 0,
        });
        registration(frames, None, None, None, true)
    }
}

pub(crate) fn logon(
    net: &mut Net,
    client: Host,
    server: Host,
    opts: ConnectOptions,
    register: Option<(SocketAddr, u32)>,
) -> Logon {
    if server.ip.is_ipv4() {
        epm_lookup(net, client, opts.client_port - 1, server, EMSMDB_PORT);
        net.wait(5 * MS);
    }
    let (mut conn, _) = EmsmdbConnection::open(net, client, server, EMSMDB_PORT, opts);
    conn.logon(net, USER, POLL_MS);
    conn.rop_call(net, 120);
    let context: Vec<u8> = [&[0xd0, 0x27][..], &net.rng.bytes(6)].concat();
    let callback = register.map_or(client.at(CALLBACK_PORT), |r| r.0);
    let register = register.map(|(cb, status)| conn.register(net, cb, &context, status));
    conn.rop_call(net, 300);
    Logon {
        conn,
        register,
        context,
        callback,
    }
}

/// The usual set-up: a capture started at [`START_NS`] with `seed`, the client 10.0.0.21
/// logging on to the server 10.0.0.5 and, when `status` is given, registering its own
/// address, answered with `status`.
fn standard_session(seed: u64, status: Option<u32>) -> (Net, Host, Host, Logon) {
    let mut net = Net::new(START_NS, seed);
    let (c, s) = (client(), server());
    let register = status.map(|status| (c.at(CALLBACK_PORT), status));
    let l = logon(&mut net, c, s, ConnectOptions::default(), register);
    (net, c, s, l)
}

/// `n` polls one minute apart.
pub(crate) fn poll_every_minute(net: &mut Net, conn: &mut EmsmdbConnection, n: usize) {
    for _ in 0..n {
        net.wait(60 * SEC - 200 * MS);
        conn.rop_call(net, 40);
    }
}

/// The expectation for one session in a capture taken at `vantage`.
fn expect_one(verdict: &str, vantage: &str, session: Value) -> Value {
    json!({ "verdict": verdict, "inputs": [{ "vantage": vantage }], "sessions": [session] })
}

/// Where the standard scenarios are captured: on the server's segment (the server's packets
/// arrive with Windows' initial TTL, the client's one router away).
const AT_SERVER: &str = "server";

fn healthy_push() -> Built {
    let (mut net, _, s, mut l) = standard_session(1, Some(0));
    let datagrams: Vec<Value> = l
        .notify_and_react(&mut net, s, &[41, 187])
        .into_iter()
        .map(|(frame, reaction)| json!({ "frame": frame, "from": "10.0.0.5:3105", "to": "10.0.0.21:1088", "matches_context": true, "reaction_frame": reaction.request }))
        .collect();
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    l.conn.close(&mut net);
    let expect = expect_one(
        "flowing",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "input": 0, "verdict": "flowing", "user": USER, "inferred": false,
                "registrations": [reg], "datagrams": datagrams, "icmp_errors": [] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn udp_blocked_icmp() -> Built {
    let (mut net, _, s, mut l) = standard_session(2, Some(0));
    let mut datagrams = Vec::new();
    let mut errors = Vec::new();
    for (d, e) in l.notify_blocked(&mut net, s, 4) {
        datagrams.push(json!({ "frame": d, "matches_context": true }));
        errors.push(json!({ "frame": e, "datagram_frame": d, "code": 3 }));
    }
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let expect = expect_one(
        "blocked",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "blocked", "registrations": [reg], "datagrams": datagrams, "icmp_errors": errors }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn registration_refused() -> Built {
    let (mut net, _, _, mut l) = standard_session(3, Some(0x8004_0102));
    poll_every_minute(&mut net, &mut l.conn, 5);
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0x8004_0102));
    let expect = expect_one(
        "refused",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "refused", "registrations": [reg], "datagrams": [],
                "polling": { "steady_one_minute": true } }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn registration_fault() -> Built {
    let (mut net, c, _, mut l) = standard_session(14, None);
    let frames = l
        .conn
        .register_faulted(&mut net, c.at(CALLBACK_PORT), &l.context, 0x1c01_0002);
    poll_every_minute(&mut net, &mut l.conn, 3);
    let mut reg = registration(
        frames,
        Some("10.0.0.21:1088"),
        Some(&l.context),
        None,
        false,
    );
    reg["fault"] = json!(0x1c01_0002);
    let expect = expect_one(
        "refused",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "refused", "registrations": [reg] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn bind_rejected() -> Built {
    let mut net = Net::new(START_NS, 15);
    let (c, s) = (client(), server());
    epm_lookup(&mut net, c, 1070, s, EMSMDB_PORT);
    let mut naks = Vec::new();
    for attempt in 0..2u16 {
        net.wait(2 * SEC);
        naks.push(EmsmdbConnection::bind_refused(
            &mut net,
            c,
            s,
            EMSMDB_PORT,
            1071 + attempt,
            2,
        ));
    }
    let expect = expect_one(
        "refused",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "refused", "registrations": [],
                "evidence": naks.iter().map(|f| json!({ "frames": [f] })).collect::<Vec<_>>() }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn not_registered() -> Built {
    let (mut net, _, _, mut l) = standard_session(4, None);
    poll_every_minute(&mut net, &mut l.conn, 5);
    let expect = expect_one(
        "not_registered",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "not_registered", "registrations": [], "polling": { "steady_one_minute": true } }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn nat_mismatch() -> Built {
    let mut net = Net::new(START_NS, 5);
    let (c, s) = (client(), server());
    let private: SocketAddr = "192.168.1.21:1088".parse().unwrap_or(c.at(CALLBACK_PORT));
    let mut l = logon(
        &mut net,
        c,
        s,
        ConnectOptions::default(),
        Some((private, 0)),
    );
    net.wait(50 * SEC);
    let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
    poll_every_minute(&mut net, &mut l.conn, 3);
    let reg = l.expected_registration(Some("192.168.1.21:1088"), Some(0));
    let expect = expect_one(
        "address_mismatch",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "address_mismatch", "registrations": [reg], "datagrams": [{ "frame": d, "to": "192.168.1.21:1088" }] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn registered_no_datagram() -> Built {
    let (mut net, _, _, mut l) = standard_session(6, Some(0));
    poll_every_minute(&mut net, &mut l.conn, 5);
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let expect = expect_one(
        "no_datagram",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "no_datagram", "registrations": [reg], "datagrams": [] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn unregistered() -> Built {
    let (mut net, _, _, mut l) = standard_session(16, Some(0));
    net.wait(90 * SEC);
    let unregister = l.conn.unregister(&mut net);
    poll_every_minute(&mut net, &mut l.conn, 3);
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let expect = expect_one(
        "no_datagram",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "no_datagram", "registrations": [reg], "datagrams": [],
                "evidence": [{}, { "frames": [unregister.request] }] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn async_notifications() -> Built {
    let (mut net, c, s, mut l) = standard_session(17, None);
    l.conn.async_connect(&mut net);
    let opts = ConnectOptions {
        client_port: 1075,
        interface: (crate::rpc::ASYNC_EMSMDB, (0, 1)),
        ..ConnectOptions::default()
    };
    let (mut waiter, _) = EmsmdbConnection::open(&mut net, c, s, EMSMDB_PORT, opts);
    for wait_s in [95, 140] {
        waiter.async_wait(&mut net, wait_s);
        net.wait(30 * MS);
        l.conn.rop_call(&mut net, 80);
    }
    let expect = expect_one(
        "not_registered",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "not_registered", "registrations": [], "uses_async_notifications": true }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn sealed() -> ConnectOptions {
    ConnectOptions {
        auth: Some(Auth {
            auth_type: 9,
            level: 6,
        }),
        ..ConnectOptions::default()
    }
}

fn encrypted(with_datagrams: bool, seed: u64) -> Built {
    let mut net = Net::new(START_NS, seed);
    let (c, s) = (client(), server());
    let mut l = logon(&mut net, c, s, sealed(), Some((c.at(CALLBACK_PORT), 0)));
    let mut datagrams = Vec::new();
    if with_datagrams {
        for _ in 0..2 {
            net.wait(70 * SEC);
            let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
            net.wait(80 * MS);
            let r = l.conn.rop_call(&mut net, 60);
            datagrams
                .push(json!({ "frame": d, "matches_context": null, "reaction_frame": r.request }));
        }
    } else {
        poll_every_minute(&mut net, &mut l.conn, 4);
    }
    let verdict = if with_datagrams {
        "flowing"
    } else {
        "no_datagram"
    };
    let reg = l.expected_sealed_registration();
    let expect = expect_one(
        verdict,
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": verdict, "registrations": [reg], "datagrams": datagrams }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn encrypted_push() -> Built {
    encrypted(true, 7)
}

fn encrypted_no_datagram() -> Built {
    encrypted(false, 8)
}

fn ipv6_push() -> Built {
    let mut net = Net::new(START_NS, 9);
    let c = Host::new(21, "2001:db8::21", 64);
    let s = Host::new(5, "2001:db8::5", 64);
    let mut l = logon(
        &mut net,
        c,
        s,
        ConnectOptions::default(),
        Some((c.at(CALLBACK_PORT), 0)),
    );
    net.wait(33 * SEC);
    let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
    net.wait(50 * MS);
    let r = l.conn.rop_call(&mut net, 60);
    let reg = l.expected_registration(Some("[2001:db8::21]:1088"), Some(0));
    // Both hosts on the capture's segment with Linux-like hop limits: nothing places it.
    let expect = expect_one(
        "flowing",
        "unknown",
        json!({ "client": "2001:db8::21", "server": "2001:db8::5", "verdict": "flowing", "registrations": [reg],
                "datagrams": [{ "frame": d, "from": "[2001:db8::5]:3105", "to": "[2001:db8::21]:1088", "matches_context": true, "reaction_frame": r.request }] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn two_clients() -> Built {
    let mut net = Net::new(START_NS, 10);
    let s = server();
    let (a, b) = (client(), Host::new(22, "10.0.0.22", 127));
    let mut la = logon(
        &mut net,
        a,
        s,
        ConnectOptions::default(),
        Some((a.at(CALLBACK_PORT), 0)),
    );
    let opts_b = ConnectOptions {
        client_port: 1201,
        ..ConnectOptions::default()
    };
    let mut lb = logon(
        &mut net,
        b,
        s,
        opts_b,
        Some((b.at(CALLBACK_PORT), 0x8004_0102)),
    );
    net.wait(20 * SEC);
    let d = notify(&mut net, s, 3105, la.callback, a, &la.context);
    net.wait(70 * MS);
    la.conn.rop_call(&mut net, 60);
    poll_every_minute(&mut net, &mut lb.conn, 3);
    let reg_a = la.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let reg_b = lb.expected_registration(Some("10.0.0.22:1088"), Some(0x8004_0102));
    let expect = json!({ "verdict": "refused", "inputs": [{ "vantage": AT_SERVER }], "sessions": [
        { "client": "10.0.0.21", "verdict": "flowing", "registrations": [reg_a], "datagrams": [{ "frame": d, "matches_context": true }] },
        { "client": "10.0.0.22", "verdict": "refused", "registrations": [reg_b], "datagrams": [] },
    ]});
    Built {
        frames: net.frames,
        expect,
    }
}

fn wrong_payload() -> Built {
    let (mut net, c, s, mut l) = standard_session(11, Some(0));
    let other = Rng::new(99).bytes(8);
    let mut datagrams = Vec::new();
    for _ in 0..2 {
        net.wait(60 * SEC);
        let d = notify(&mut net, s, 3105, l.callback, c, &other);
        datagrams.push(json!({ "frame": d, "matches_context": false }));
        net.wait(2 * SEC);
        l.conn.rop_call(&mut net, 40);
    }
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let expect = expect_one(
        "no_datagram",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "no_datagram", "registrations": [reg], "datagrams": datagrams }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn fragmented_reordered() -> Built {
    let mut net = Net::new(START_NS, 12);
    let (c, s) = (client(), server());
    let opts = ConnectOptions {
        nspi_first: true,
        max_frag_stub: 24,
        // Cuts inside PDU headers (offsets 5, 30 and 61), a retransmitted segment, two
        // segments swapped on the wire and a retransmission overlapping three segments.
        request_segmenting: Segmenting {
            mss: 70,
            cuts: vec![5, 30, 61],
            retransmit: vec![1],
            swap: vec![(2, 3)],
            resend: vec![(3, 20, 90)],
        },
        response_segmenting: Segmenting {
            mss: 33,
            cuts: vec![9],
            retransmit: vec![2],
            swap: vec![(0, 1)],
            resend: vec![],
        },
        ..ConnectOptions::default()
    };
    let mut l = logon(&mut net, c, s, opts, None);
    // An NSPI call with opnum 4 on context 0 must not be taken for a registration.
    l.conn.call_on(&mut net, 0, 4, &[0u8; 40], &[0u8; 8], 2);
    let register = l
        .conn
        .register(&mut net, c.at(CALLBACK_PORT), &l.context, 0);
    net.wait(45 * SEC);
    let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
    net.wait(40 * MS);
    let r = l.conn.rop_call(&mut net, 200);
    let reg = registration(
        register,
        Some("10.0.0.21:1088"),
        Some(&l.context),
        Some(0),
        false,
    );
    let expect = expect_one(
        "flowing",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "verdict": "flowing", "registrations": [reg], "datagrams": [{ "frame": d, "matches_context": true, "reaction_frame": r.request }] }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

fn mid_session() -> Built {
    let (mut net, c, s, mut l) = standard_session(13, Some(0));
    // The capture starts here: everything before is dropped.
    let first_kept = net.frames.len();
    let mut datagrams = Vec::new();
    for wait_s in [12, 95] {
        net.wait(wait_s * SEC);
        let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
        net.wait(70 * MS);
        let r = l.conn.rop_call(&mut net, 60);
        datagrams.push(json!({ "frame": d as usize - first_kept, "matches_context": null, "reaction_frame": r.request as usize - first_kept }));
    }
    let frames = net.frames.split_off(first_kept);
    let expect = expect_one(
        "flowing",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "flowing", "inferred": true, "registrations": [], "datagrams": datagrams }),
    );
    Built { frames, expect }
}

/// The MAC of the router between the client's and the server's subnets, as frames that
/// crossed it carry it.
pub(crate) const ROUTER_MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x01, 0x00, 0x01];
/// The Exchange server of the routed scenarios, in its own subnet.
pub(crate) const ROUTED_SERVER: &str = "10.1.0.5";

/// A registered client that gets four notifications over four minutes and never reacts
/// (whatever drops them sends no ICMP error), polling once a minute meanwhile; `c` and `s`
/// are the client and server as the capture point sees them.
pub(crate) fn ignored_notifications(seed: u64, c: Host, s: Host, vantage: &str) -> Built {
    let mut net = Net::new(START_NS, seed);
    let mut l = logon(
        &mut net,
        c,
        s,
        ConnectOptions::default(),
        Some((c.at(CALLBACK_PORT), 0)),
    );
    let datagrams: Vec<Value> = l
        .notify_unanswered(&mut net, s, 4)
        .into_iter()
        .map(|d| json!({ "frame": d, "matches_context": true, "reaction": "no_reaction", "reaction_frame": null }))
        .collect();
    let reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    let expect = expect_one(
        "dropped",
        vantage,
        json!({ "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "dropped", "registrations": [reg],
                "datagrams": datagrams, "icmp_errors": [], "polling": { "steady_one_minute": true } }),
    );
    Built {
        frames: net.frames,
        expect,
    }
}

/// Symptom: a capture on the client shows the datagrams arriving; Windows Firewall drops them
/// without an ICMP error and Outlook keeps polling. The client is the capture host (its own
/// packets carry offload checksums); the server is two routers away.
fn host_firewall_dropped() -> Built {
    let (c, s) = routed_hosts(false);
    ignored_notifications(21, c, s, "client")
}

/// The client 10.0.0.21 and the server of the routed scenarios as a capture point on the
/// server's side (`at_server`) or on the client's sees them: the capture host's own packets
/// carry offload checksums, the other host is two routers away.
pub(crate) fn routed_hosts(at_server: bool) -> (Host, Host) {
    let c = Host::new(21, "10.0.0.21", 128);
    let s = Host::new(5, ROUTED_SERVER, 128);
    if at_server {
        (c.behind(ROUTER_MAC, 2), s.capturing())
    } else {
        (c.capturing(), s.behind(ROUTER_MAC, 2))
    }
}

/// The same drop seen on the server (the capture host): the datagrams leave, nothing comes
/// back; the client is two routers away.
fn path_dropped_server_side() -> Built {
    let (c, s) = routed_hosts(true);
    ignored_notifications(22, c, s, "server")
}

/// Outlook 2007 and 2010 seal their RPC by default (packet privacy): captured mid-session on
/// the client, its calls fit EMSMDB by length only, no bind or endpoint-mapper answer is in
/// the capture, and the server's datagrams to the client are what show the store. Windows
/// Firewall drops them; the client polls once a minute.
fn sealed_mid_session_dropped() -> Built {
    let mut net = Net::new(START_NS, 27);
    let (c, s) = routed_hosts(false);
    let mut l = logon(&mut net, c, s, sealed(), Some((c.at(CALLBACK_PORT), 0)));
    net.wait(20 * SEC);
    let dropped = net.frames.len();
    let datagrams: Vec<Value> = l
        .notify_unanswered(&mut net, s, 3)
        .into_iter()
        .map(|d| json!({ "frame": d as usize - dropped, "matches_context": null, "reaction": "no_reaction" }))
        .collect();
    let frames = net.frames.split_off(dropped);
    let input =
        json!({ "vantage": "client", "counters": { "identify": { "anchored_by_datagrams": 1 } } });
    let expect = json!({ "verdict": "dropped", "inputs": [input], "sessions": [
        { "client": "10.0.0.21", "server": ROUTED_SERVER, "verdict": "dropped", "inferred": true, "registrations": [], "datagrams": datagrams },
    ]});
    Built { frames, expect }
}

/// Outlook 2003 against Exchange 2003 (EcDoConnect, EcDoRpc) captured mid-session: the
/// endpoint-mapper lookup, bind, logon and registration came before, and the capture starts
/// inside an EcDoRpc response (its second segment). The client answers each datagram with
/// an EcDoRpc call.
fn outlook2003_mid_session() -> Built {
    let mut net = Net::new(START_NS, 23);
    let (c, s) = (client(), server());
    let opts = ConnectOptions {
        legacy: true,
        ..ConnectOptions::default()
    };
    let mut l = logon(&mut net, c, s, opts, Some((c.at(CALLBACK_PORT), 0)));
    net.wait(20 * SEC);
    // A 4.5 KB response in four segments: the capture starts at the second.
    let big = l.conn.rop_call(&mut net, 1500);
    let dropped = big.response as usize - 3;
    let mut datagrams = Vec::new();
    for wait_s in [35, 110] {
        net.wait(wait_s * SEC);
        let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
        net.wait(30 * MS);
        let r = l.conn.rop_call(&mut net, 60);
        datagrams.push(json!({ "frame": d as usize - dropped, "matches_context": null, "reaction": "reacted", "reaction_frame": r.request as usize - dropped }));
    }
    let frames = net.frames.split_off(dropped);
    let expect = expect_one(
        "flowing",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "flowing", "inferred": true, "user": null, "registrations": [], "datagrams": datagrams }),
    );
    Built { frames, expect }
}

/// A capture that starts with a response (its request came before) and ends with a request
/// whose response it does not hold; in between the client polls once a minute. Nothing
/// decides (no logon, registration or datagram), and the client is the client throughout.
fn mid_session_unanswered() -> Built {
    let (mut net, _, _, mut l) = standard_session(24, Some(0));
    net.wait(30 * SEC);
    let first = l.conn.rop_call(&mut net, 40);
    let dropped = first.response as usize - 1;
    poll_every_minute(&mut net, &mut l.conn, 3);
    let last = l.conn.rop_call(&mut net, 40);
    // The request and the server's acknowledgement of it are the last frames.
    net.frames.truncate(last.request as usize + 1);
    let frames = net.frames.split_off(dropped);
    let expect = expect_one(
        "inconclusive",
        AT_SERVER,
        json!({ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "inconclusive", "inferred": true, "registrations": [], "datagrams": [] }),
    );
    Built { frames, expect }
}

/// Client A uses packet privacy and was set up before the capture: its sealed calls fit
/// EMSMDB only by length, and it answers a datagram 1 ms later. Minutes on, client B starts
/// Outlook: its endpoint-mapper answer and bind show that 10.0.0.5:1032 is the store, which
/// makes A's earlier calls store calls, and A's sealed call the reaction.
fn late_endpoint_mapper() -> Built {
    let mut net = Net::new(START_NS, 25);
    let s = server();
    let (a, b) = (client(), Host::new(22, "10.0.0.22", 127));
    let mut la = logon(&mut net, a, s, sealed(), Some((a.at(CALLBACK_PORT), 0)));
    net.wait(10 * SEC);
    let dropped = net.frames.len();
    la.conn.rop_call(&mut net, 80);
    net.wait(40 * SEC);
    let d = notify(&mut net, s, 3105, la.callback, a, &la.context);
    net.wait(MS);
    let r = la.conn.rop_call(&mut net, 60);
    net.wait(70 * SEC);
    la.conn.rop_call(&mut net, 60);
    net.wait(30 * SEC);
    let opts_b = ConnectOptions {
        client_port: 1201,
        ..ConnectOptions::default()
    };
    let mut lb = logon(&mut net, b, s, opts_b, Some((b.at(CALLBACK_PORT), 0)));
    let b_datagrams: Vec<Value> = lb
        .notify_and_react(&mut net, s, &[25, 90])
        .into_iter()
        .map(|(frame, reaction)| json!({ "frame": frame as usize - dropped, "reaction": "reacted", "reaction_frame": reaction.request as usize - dropped }))
        .collect();
    let mut reg_b = lb.expected_registration(Some("10.0.0.22:1088"), Some(0));
    for key in ["request_frame", "response_frame"] {
        reg_b[key] = json!(reg_b[key].as_u64().unwrap_or_default() as usize - dropped);
    }
    let frames = net.frames.split_off(dropped);
    let expect = json!({ "verdict": "flowing", "inputs": [{ "vantage": AT_SERVER }], "sessions": [
        { "client": "10.0.0.21", "verdict": "flowing", "inferred": true, "registrations": [],
          "connections": ["10.0.0.21:1071 -> 10.0.0.5:1032"], "polling": { "calls": 3 },
          "datagrams": [{ "frame": d as usize - dropped, "matches_context": null, "reaction": "reacted", "reaction_frame": r.request as usize - dropped }] },
        { "client": "10.0.0.22", "verdict": "flowing", "inferred": false, "registrations": [reg_b], "datagrams": b_datagrams },
    ]});
    Built { frames, expect }
}

/// SRVSVC (named-pipe RPC over SMB) and DRSUAPI (Active Directory over TCP).
const SRVSVC: &str = "4b324fc8-1670-01d3-1278-5a47bf6ee188";
const DRSUAPI: &str = "e3514235-4b06-11d1-ab04-00c04fc2dcd2";

/// One named-pipe round trip on `smb`: a DCE/RPC request of `stub_len` bytes and its
/// response, each carried in an SMB2 ioctl. Returns the frame completing the response.
fn pipe_call(
    net: &mut Net,
    conn: &mut TcpConn,
    smb: &mut PipeSession,
    call_id: u32,
    stub_len: usize,
    answer_len: usize,
) -> u64 {
    let pdu = PduWriter::new(true, None);
    let request = pdu
        .request(call_id, 0, 15, &net.rng.bytes(stub_len), 4280, &mut net.rng)
        .concat();
    let response = pdu
        .response(call_id, 0, &net.rng.bytes(answer_len), 4280, &mut net.rng)
        .concat();
    let (to_server, to_client) = smb.transceive(&request, &response);
    net.wait(MS);
    net.tcp_send(conn, Side::Client, &to_server, &Segmenting::default());
    net.wait(3 * MS);
    net.tcp_send(conn, Side::Server, &to_client, &Segmenting::default())
}

/// A healthy Outlook session in an ordinary office capture, started mid-session for
/// everything else: a file-server SMB2 session (its handshake and tree connect before the
/// capture, which starts inside a 6 KB named-pipe answer), a second SMB2 session captured
/// from its SYN, and a domain controller's DRSUAPI connection over TCP whose bind came
/// before the capture (its DsUnbind fits EcDoDisconnect, but nothing shows its endpoint
/// to be the store's). None of it may be framed as raw DCE/RPC or taken for EMSMDB.
fn smb_background() -> Built {
    let mut net = Net::new(START_NS, 26);
    let (c, s) = (client(), server());
    let file_server = Host::new(8, "10.0.0.8", 128);
    let dc = Host::new(10, "10.0.0.10", 128);
    let srvsvc = Uuid::parse_str(SRVSVC).unwrap_or_default();
    let drsuapi = Uuid::parse_str(DRSUAPI).unwrap_or_default();
    let mut share = net.tcp_connect(c, 49_710, file_server, 445);
    let mut pipe = PipeSession::new(0x0000_4400_0000_0011, 1, [0x3c; 16], 7);
    let bind = PduWriter::new(true, None);
    let (to_server, to_client) = pipe.transceive(
        &bind.bind(1, &[Context::ndr20(0, srvsvc, (3, 0))], false),
        &bind.bind_ack(1, "\\PIPE\\srvsvc", &[Some(crate::rpc::NDR20)], false),
    );
    net.tcp_send(&mut share, Side::Client, &to_server, &Segmenting::default());
    net.tcp_send(&mut share, Side::Server, &to_client, &Segmenting::default());
    let drs_opts = ConnectOptions {
        client_port: 49_711,
        interface: (drsuapi, (4, 0)),
        ..ConnectOptions::default()
    };
    let (mut drs, _) = EmsmdbConnection::open(&mut net, c, dc, 49_155, drs_opts);
    // The capture starts at the second segment of a 6 KB share-enumeration answer.
    let big = pipe_call(&mut net, &mut share, &mut pipe, 2, 80, 6000);
    let dropped = big as usize - 4;
    let mut l = logon(
        &mut net,
        c,
        s,
        ConnectOptions::default(),
        Some((c.at(CALLBACK_PORT), 0)),
    );
    let mut other_share = net.tcp_connect(c, 49_712, file_server, 445);
    let mut other_pipe = PipeSession::new(0x0000_4400_0000_0019, 2, [0x5e; 16], 3);
    let mut datagrams = Vec::new();
    for (k, wait_s) in [30i64, 75].into_iter().enumerate() {
        let call_id = 3 + k as u32;
        pipe_call(&mut net, &mut share, &mut pipe, call_id, 120, 900);
        pipe_call(
            &mut net,
            &mut other_share,
            &mut other_pipe,
            call_id,
            64,
            300,
        );
        // DRSCrackNames (opnum 12) with a handle and a name request.
        let handle: Vec<u8> = [&[0u8; 4][..], &net.rng.bytes(16)].concat();
        let crack = [&handle[..], &net.rng.bytes(72)].concat();
        let names = net.rng.bytes(96);
        drs.call_on(&mut net, 0, 12, &crack, &names, 2);
        net.wait(wait_s * SEC);
        let d = notify(&mut net, s, 3105, l.callback, c, &l.context);
        net.wait(50 * MS);
        let r = l.conn.rop_call(&mut net, 60);
        datagrams.push(json!({ "frame": d as usize - dropped, "matches_context": true, "reaction": "reacted", "reaction_frame": r.request as usize - dropped }));
    }
    // DsUnbind (opnum 1): the bare context handle.
    let handle: Vec<u8> = [&[0u8; 4][..], &net.rng.bytes(16)].concat();
    drs.call_on(&mut net, 0, 1, &handle, &[0; 24], 1);
    let mut reg = l.expected_registration(Some("10.0.0.21:1088"), Some(0));
    for key in ["request_frame", "response_frame"] {
        reg[key] = json!(reg[key].as_u64().unwrap_or_default() as usize - dropped);
    }
    let frames = net.frames.split_off(dropped);
    let input = json!({ "vantage": AT_SERVER, "counters": { "dcerpc": { "smb_connections": 2 }, "identify": { "unconfirmed": 1 } } });
    let expect = json!({ "verdict": "flowing", "inputs": [input],
        "absent_warning_codes": ["dcerpc_bad_header", "dcerpc_resync", "dcerpc_stream_starts_mid_pdu", "dcerpc_no_pdu_found"],
        "sessions": [{ "client": "10.0.0.21", "server": "10.0.0.5", "verdict": "flowing", "registrations": [reg], "datagrams": datagrams }] });
    Built { frames, expect }
}

/// The sessions the large-capture generator ([`crate::bigcap`]) plants in background traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Story {
    /// Registration succeeds; two notifications arrive and the client reacts to each.
    Healthy,
    /// Registration succeeds; four notifications are refused by ICMP port unreachable.
    Blocked,
    /// Registration answered 0x80040102 ecNotSupported; the client polls each minute.
    Refused,
}

impl Story {
    /// The verdict `pushtrace analyze` must give the session.
    pub fn verdict(self) -> &'static str {
        match self {
            Story::Healthy => "flowing",
            Story::Blocked => "blocked",
            Story::Refused => "refused",
        }
    }
}

/// Plays `story` between `client` and `server` on `net`, from the endpoint-mapper lookup to
/// the last notification or poll (healthy sessions also close their connection).
pub fn play(net: &mut Net, story: Story, client: Host, server: Host) {
    let status = if story == Story::Refused {
        0x8004_0102
    } else {
        0
    };
    let callback = client.at(CALLBACK_PORT);
    let opts = ConnectOptions::default();
    let mut l = logon(net, client, server, opts, Some((callback, status)));
    match story {
        Story::Healthy => {
            let waits = [net.rng.range(20, 150) as i64, net.rng.range(20, 150) as i64];
            l.notify_and_react(net, server, &waits);
            l.conn.close(net);
        }
        Story::Blocked => {
            l.notify_blocked(net, server, 4);
        }
        Story::Refused => poll_every_minute(net, &mut l.conn, 5),
    }
}
