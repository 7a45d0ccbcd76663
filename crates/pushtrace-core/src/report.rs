//! The analysis report: a typed, serde-serialisable value. Its JSON form is a contract that
//! scripts rely on (schema 1, documented in `docs/json-schema.md`); printers live in the CLI.

use crate::capture::{FormatInfo, Warning};
use serde::Serialize;

/// The JSON schema version of [`Report`].
pub const SCHEMA_VERSION: u32 = 1;

/// The judgement on one session, or on the whole report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Datagrams go to the registered callback and nothing shows them lost.
    Flowing,
    /// EMSMDB traffic, but the capture cannot decide (cut stubs, gaps, no logon seen...).
    Inconclusive,
    /// A registration that did not fail, but no datagram for it in the capture.
    NoDatagram,
    /// EMSMDB traffic between the two, but no registration call.
    NotRegistered,
    /// The callback address is not the client's address as the server sees it.
    AddressMismatch,
    /// The registration failed: non-zero return code, fault, or EMSMDB bind rejected.
    Refused,
    /// Datagrams reach the capture point but the client never reacts while it goes on
    /// calling the server: a firewall or filter dropped them without an ICMP error.
    Dropped,
    /// Datagrams are answered by ICMP destination-unreachable.
    Blocked,
    /// The capture holds no EMSMDB traffic at all (overall verdict only).
    NoEmsmdb,
    /// No input could be read, so nothing was judged (overall verdict only; each input's
    /// `error` says why).
    Unreadable,
}

impl Verdict {
    /// How bad the verdict is; the overall verdict is the most severe session verdict
    /// (blocked > dropped > refused > address_mismatch > not_registered > no_datagram >
    /// inconclusive > flowing).
    pub fn severity(self) -> u8 {
        match self {
            Verdict::NoEmsmdb | Verdict::Unreadable => 0,
            Verdict::Flowing => 1,
            Verdict::Inconclusive => 2,
            Verdict::NoDatagram => 3,
            Verdict::NotRegistered => 4,
            Verdict::AddressMismatch => 5,
            Verdict::Refused => 6,
            Verdict::Dropped => 7,
            Verdict::Blocked => 8,
        }
    }

    /// The exact spelling used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Flowing => "flowing",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NoDatagram => "no_datagram",
            Verdict::NotRegistered => "not_registered",
            Verdict::AddressMismatch => "address_mismatch",
            Verdict::Refused => "refused",
            Verdict::Dropped => "dropped",
            Verdict::Blocked => "blocked",
            Verdict::NoEmsmdb => "no_emsmdb",
            Verdict::Unreadable => "unreadable",
        }
    }

    /// The CLI exit code for this overall verdict: 0 flowing, 1 a problem, 2 nothing could
    /// be read, 3 nothing to judge.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Flowing => 0,
            Verdict::Unreadable => 2,
            Verdict::NoEmsmdb | Verdict::Inconclusive => 3,
            _ => 1,
        }
    }
}

/// The whole result of `analyze`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The most severe session verdict; `no_emsmdb` when the inputs read hold none,
    /// `unreadable` when no input could be read.
    pub verdict: Verdict,
    /// One entry per input file, in the order given (an input that could not be read has
    /// its `error`).
    pub inputs: Vec<InputSummary>,
    /// How the inputs form traces: each input alone, consecutive files of one capture (a
    /// chain), or simultaneous captures at several points (views).
    pub traces: Vec<TraceSummary>,
    /// Warnings from every input, as text (details per input in `inputs[].warning_details`).
    pub warnings: Vec<String>,
    /// One entry per (input, client IP, server IP).
    pub sessions: Vec<Session>,
    /// What the configuration artefacts given among the inputs (registry exports, EnumProt
    /// output, Outlook client logs) show to be wrong; a finding that explains a session's
    /// verdict is cited in its advice too.
    pub findings: Vec<crate::config::Finding>,
    /// What those artefacts could not decide, and what to export to decide it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_notes: Vec<crate::config::Note>,
    /// The configuration artefacts given among the inputs, in the order given (not in
    /// `inputs`, whose indexes name captures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artefacts: Vec<ArtefactInput>,
}

impl Report {
    /// The CLI exit code: the overall verdict's ([`Verdict::exit_code`]), except that a
    /// configuration finding is a problem (1) even when the traffic shows none.
    pub fn exit_code(&self) -> i32 {
        match self.verdict.exit_code() {
            0 | 3 if !self.findings.is_empty() => 1,
            code => code,
        }
    }
}

/// A configuration artefact given among the inputs.
#[derive(Debug, Clone, Serialize)]
pub struct ArtefactInput {
    /// The path as given.
    pub path: String,
    /// Why it could not be read (its summary is then absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was read: kind, encoding, lines and details.
    #[serde(flatten)]
    pub summary: Option<crate::config::ArtefactSummary>,
}

/// How inputs form one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    /// One input, judged alone.
    Single,
    /// Consecutive files of one capture, read as one: connections carry on across files.
    Chain,
    /// Captures taken at the same time at several points, matched packet by packet.
    Views,
}

/// One trace: the inputs it is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    /// What kind of trace.
    pub kind: TraceKind,
    /// Indexes into `inputs`: in time order for a chain; for views, the reference view's
    /// inputs first.
    pub inputs: Vec<usize>,
    /// For views: the inputs of each capture point (one input, or a chain of files), the
    /// reference first. Empty for the other kinds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<Vec<usize>>,
}

/// How an input's clock relates to the reference clock of its trace (views only), found by
/// matching the packets both captured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InputClock {
    /// The input whose clock the trace's times are given in.
    pub reference: usize,
    /// How far this input's clock is ahead of the reference's, in milliseconds (negative:
    /// behind). Times in the report are on the reference clock: a frame Wireshark shows at
    /// time t in this input is at t − offset there.
    pub offset_ms: f64,
    /// How far single packets stray from the offset (90th percentile), in milliseconds.
    pub spread_ms: f64,
    /// The one-way delay between this capture point and the reference's, in milliseconds
    /// (0 when packets were matched in one direction only).
    pub delay_ms: f64,
    /// Packets matched between the two.
    pub shared_packets: usize,
}

/// What was read from one input file.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// The path as given (`-` for standard input).
    pub path: String,
    /// Why the input could not be read at all (its other fields are then empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `pcap`, `pcapng`, `netmon1` or `netmon2`, plus version and clock details (absent
    /// when the input could not be read).
    #[serde(flatten)]
    pub format: Option<FormatInfo>,
    /// Frames read.
    pub frames: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Frames per link type.
    pub link_types: std::collections::BTreeMap<String, u64>,
    /// Time of the first frame (ISO 8601 UTC), when there is one.
    pub first_time: Option<String>,
    /// Time of the last frame.
    pub last_time: Option<String>,
    /// Warnings as text.
    pub warnings: Vec<String>,
    /// Warnings with code, frame and offset.
    pub warning_details: Vec<Warning>,
    /// Counters from each stage (decode, TCP, DCE/RPC) for "what was skipped and why".
    pub counters: serde_json::Value,
    /// Index into `traces` of the trace this input belongs to.
    pub trace: usize,
    /// Where the capture was taken, relative to the Outlook sessions in it.
    pub vantage: Vantage,
    /// Why: the facts behind [`InputSummary::vantage`], and what was seen of each host.
    pub capture_point: CapturePoint,
    /// For an input that is a view of a trace taken at several points: its clock against
    /// the reference view's (absent for the reference and for other traces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<InputClock>,
}

/// Where a capture was taken, relative to the Outlook clients and Exchange servers in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vantage {
    /// On the client or its network segment.
    Client,
    /// On the server or its network segment.
    Server,
    /// Between them: routers on both sides of the capture point.
    Between,
    /// The packets do not tell (or there is no session to place).
    #[default]
    Unknown,
}

impl Vantage {
    /// The exact spelling used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Vantage::Client => "client",
            Vantage::Server => "server",
            Vantage::Between => "between",
            Vantage::Unknown => "unknown",
        }
    }
}

/// The evidence for an input's [`Vantage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapturePoint {
    /// The vantage these facts give (copied to [`InputSummary::vantage`]).
    #[serde(skip)]
    pub vantage: Vantage,
    /// Sentences: offload artefacts, TTLs and hop counts, disagreements.
    pub basis: Vec<String>,
    /// What the capture shows of each session's client and server.
    pub hosts: Vec<HostReport>,
}

/// One client or server as the capture point saw its packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReport {
    /// Its IP address.
    pub ip: String,
    /// `client` or `server`.
    pub role: &'static str,
    /// The highest TTL / hop limit its packets arrived with.
    pub ttl: Option<u8>,
    /// Routers between it and the capture point, from that TTL.
    pub hops: Option<u8>,
    /// The source MAC addresses its frames carried (a router's, when it is remote).
    pub macs: Vec<String>,
    /// Whole packets whose TCP/UDP checksum was verified.
    pub checksums_checked: u32,
    /// Of them, with a wrong checksum.
    pub checksums_bad: u32,
    /// The capture ran on this host (most of its checksums show offload).
    pub capture_host: bool,
}

/// One Outlook client and one Exchange server seen in one input.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// The client IP as the server sees it on the TCP connection.
    pub client: String,
    /// The Exchange server IP.
    pub server: String,
    /// Index into `inputs`: the first input that shows the session.
    pub input: usize,
    /// Every input that shows it (several for a chain of files or several capture points).
    pub inputs: Vec<usize>,
    /// The judgement.
    pub verdict: Verdict,
    /// The mailbox DN from EcDoConnect(Ex), when seen.
    pub user: Option<String>,
    /// True when no connection of the session showed its bind (the capture began after the
    /// client connected): its calls were recognised by their shape or their endpoint.
    pub inferred: bool,
    /// The EMSMDB and AsyncEMSMDB TCP connections (client and server endpoints).
    pub connections: Vec<String>,
    /// The `EcRRegisterPushNotification` calls.
    pub registrations: Vec<Registration>,
    /// The `EcRUnregisterPushNotification` calls (request frames), in time order.
    pub unregistrations: Vec<SeenAt>,
    /// Candidate notification datagrams from the server to the client.
    pub datagrams: Vec<Datagram>,
    /// ICMP destination-unreachable errors quoting those datagrams.
    pub icmp_errors: Vec<IcmpError>,
    /// The client's ROP calls (EcDoRpc/Ext/Ext2) and their rhythm.
    pub polling: Polling,
    /// Poll interval the server asked for in EcDoConnect(Ex), in milliseconds.
    pub poll_interval_ms: Option<u32>,
    /// True when the client uses AsyncEMSMDB (EcDoAsyncWaitEx) instead of UDP.
    pub uses_async_notifications: bool,
    /// Why the verdict: each line cites frames.
    pub evidence: Vec<Evidence>,
    /// What to do about it.
    pub advice: Vec<String>,
    /// A Wireshark display filter showing exactly the frames cited in `input`.
    pub wireshark_filter: String,
    /// One filter per input that has cited frames.
    pub wireshark_filters: Vec<InputFilter>,
}

impl Session {
    /// The user's short name ([`short_name`] of its DN), when the DN was captured.
    pub fn user_short_name(&self) -> Option<&str> {
        self.user.as_deref().map(short_name)
    }
}

/// A mailbox's short name: the value of the last `cn=` of its DN (`jdoe` of
/// `/o=Contoso/ou=…/cn=Recipients/cn=jdoe`), the DN itself when it has none.
pub fn short_name(dn: &str) -> &str {
    let short = dn.rsplit('/').find_map(|part| {
        part.get(..3)
            .filter(|key| key.eq_ignore_ascii_case("cn="))
            .map(|_| &part[3..])
    });
    short.filter(|name| !name.is_empty()).unwrap_or(dn)
}

/// A Wireshark display filter for the frames cited in one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFilter {
    /// Index into `inputs`.
    pub input: usize,
    /// `frame.number in {…}`.
    pub filter: String,
}

/// One registration call.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// The input of `request_frame`.
    pub input: usize,
    /// The frame completing the request.
    pub request_frame: u64,
    /// The frame completing the response or fault (null when none was captured).
    pub response_frame: Option<u64>,
    /// The input of `response_frame`, when another than `input` (the next file of a chain).
    pub response_input: Option<usize>,
    /// Request time.
    pub time: String,
    /// The callback address, `ip:port` (null when encrypted or undecodable).
    pub callback: Option<String>,
    /// rgbContext in hex (null when unreadable).
    pub context: Option<String>,
    /// The return code (null when unreadable or no response).
    pub status: Option<u32>,
    /// Its name, when known (e.g. `ecNotSupported (MAPI_E_NO_SUPPORT)`).
    pub status_name: Option<String>,
    /// The DCE/RPC fault status, when the call faulted.
    pub fault: Option<u32>,
    /// True when the stub was sealed (packet privacy) and parameters are unreadable.
    pub encrypted: bool,
    /// Plaintext stub length of the request.
    pub stub_len: usize,
    /// Why the stub could not be decoded, when it could not.
    pub decode_error: Option<String>,
}

/// One datagram from the server to the client.
#[derive(Debug, Clone, Serialize)]
pub struct Datagram {
    /// The input of `frame`.
    pub input: usize,
    /// Its frame.
    pub frame: u64,
    /// Its time.
    pub time: String,
    /// Server endpoint.
    pub from: String,
    /// Client endpoint.
    pub to: String,
    /// Payload length.
    pub len: usize,
    /// True when the payload equals rgbContext; null when the context is unknown.
    pub matches_context: Option<bool>,
    /// What the client did after it (see [`Reaction`]).
    pub reaction: Reaction,
    /// The client's reacting EMSMDB call, when it reacted.
    pub reaction_frame: Option<u64>,
    /// The input of `reaction_frame`, when another than `input`.
    pub reaction_input: Option<usize>,
    /// How long after the datagram that call came, in milliseconds.
    pub reaction_delay_ms: Option<f64>,
    /// Every capture of it, in order of time on the reference clock: one, or one per
    /// capture point that saw it when the trace is made of views (`input`/`frame` is the
    /// capture in the earliest-given view).
    pub seen_at: Vec<SeenAt>,
}

/// One capture of a packet: where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenAt {
    /// The input.
    pub input: usize,
    /// Its frame number there.
    pub frame: u64,
    /// Its time, on the trace's reference clock.
    pub time: String,
}

/// What the client did after a datagram: Outlook answers a notification it received with an
/// EMSMDB call within milliseconds (see `docs/json-schema.md` for the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    /// The client called the server within the reaction window.
    Reacted,
    /// No call within the window, though the client called the server later.
    NoReaction,
    /// The capture ended before the window did: counts neither way.
    CaptureEnded,
    /// The client made no call at all after it: counts neither way.
    ClientSilent,
    /// Its payload is not the registered context: the client ignores it by design.
    Ignored,
    /// No registration in the capture covers it (sent after an unregistration, or to
    /// another address): not counted.
    Unregistered,
}

/// An ICMP error quoting a datagram.
#[derive(Debug, Clone, Serialize)]
pub struct IcmpError {
    /// The input of `frame`.
    pub input: usize,
    /// The ICMP frame.
    pub frame: u64,
    /// The datagram it quotes, when that datagram was captured (in `input`, or in
    /// `datagram_input` when given).
    pub datagram_frame: Option<u64>,
    /// The input of `datagram_frame`, when another than `input`.
    pub datagram_input: Option<usize>,
    /// Its time.
    pub time: String,
    /// Who sent the ICMP error (the client, or a router/firewall).
    pub from: String,
    /// `icmp` or `icmpv6`.
    pub protocol: &'static str,
    /// ICMP code (3 = port unreachable for v4, 13 = administratively prohibited, ...).
    pub code: u8,
    /// A name for the code.
    pub code_name: &'static str,
    /// Every capture of it, in order of time (see [`Datagram::seen_at`]).
    pub seen_at: Vec<SeenAt>,
}

/// The client's ROP calls over the session.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Polling {
    /// How many ROP calls the client made.
    pub calls: u64,
    /// Median interval between consecutive calls, in seconds.
    pub median_interval_s: Option<f64>,
    /// True when the calls keep a steady rhythm of about a minute (push not in use).
    pub steady_one_minute: bool,
    /// The first [`Polling::MAX_SHOWN`] of those calls, in time order: what a timeline
    /// draws and an evidence capture keeps.
    pub shown: Vec<SeenAt>,
}

impl Polling {
    /// Most ROP calls listed in [`Polling::shown`] (an hour of one-minute polls and more).
    pub const MAX_SHOWN: usize = 100;
}

/// One line of evidence: a statement and the frames that show it, all in one input (a
/// statement whose frames lie in several inputs has a line per input).
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The input of `frames`.
    pub input: usize,
    /// The frames cited.
    pub frames: Vec<u64>,
    /// What they show.
    pub text: String,
}

/// Formats nanoseconds since the Unix epoch as ISO 8601 UTC with microseconds.
pub fn format_time(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let micros = ts_ns.rem_euclid(1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's civil algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_time(1_764_190_800_123_456_789),
            "2025-11-26T21:00:00.123456Z"
        );
        assert_eq!(format_time(-1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_time(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn short_name_is_the_last_cn() {
        let dn =
            "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jdoe";
        assert_eq!(short_name(dn), "jdoe");
        assert_eq!(
            short_name("/O=CONTOSO/OU=SITE/CN=RECIPIENTS/CN=JDOE"),
            "JDOE"
        );
        assert_eq!(short_name("/o=Contoso/cn=jdoe/ou=x"), "jdoe");
        assert_eq!(short_name("/o=Contoso/cn="), "/o=Contoso/cn=");
        assert_eq!(short_name("jdoe@contoso.com"), "jdoe@contoso.com");
    }

    #[test]
    fn verdict_spellings_and_order() {
        let json = serde_json::to_string(&Verdict::AddressMismatch).unwrap();
        assert_eq!(json, "\"address_mismatch\"");
        let mut all = [
            Verdict::Flowing,
            Verdict::Blocked,
            Verdict::Inconclusive,
            Verdict::Refused,
            Verdict::NotRegistered,
            Verdict::NoDatagram,
            Verdict::AddressMismatch,
            Verdict::Dropped,
        ];
        all.sort_by_key(|v| std::cmp::Reverse(v.severity()));
        let names: Vec<_> = all.iter().map(|v| v.as_str()).collect();
        assert_eq!(
            names,
            [
                "blocked",
                "dropped",
                "refused",
                "address_mismatch",
                "not_registered",
                "no_datagram",
                "inconclusive",
                "flowing"
            ]
        );
        for v in all {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
    }
}

/// One DCE/RPC call, as `pushtrace rpc` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Index into `inputs`.
    pub input: usize,
    /// Frame completing the request.
    pub request_frame: u64,
    /// Frame completing the response or fault.
    pub response_frame: Option<u64>,
    /// The input of `response_frame`, when another than `input` (the next file of a chain).
    pub response_input: Option<usize>,
    /// Request time.
    pub time: String,
    /// `client -> server`.
    pub connection: String,
    /// Interface name (e.g. `EMSMDB`), null when unknown.
    pub interface: Option<String>,
    /// Interface UUID, null when the bind was not captured.
    pub interface_uuid: Option<String>,
    /// True when the interface was recognised without its bind.
    pub interface_inferred: bool,
    /// p_cont_id.
    pub context_id: u16,
    /// call_id.
    pub call_id: u32,
    /// opnum.
    pub opnum: u16,
    /// Operation name, when known.
    pub operation: Option<String>,
    /// auth_level (1 none … 6 privacy), null without an auth trailer.
    pub auth_level: Option<u8>,
    /// Its name (`none`, `connect`, `call`, `packet`, `integrity`, `privacy`), or
    /// `not captured` when the PDUs announce an auth trailer that the snap length cut off.
    pub auth_level_name: String,
    /// `ok`, `fault 0x…`, `no response`, or the EMSMDB return code for EMSMDB calls.
    pub status: String,
    /// Response time in milliseconds.
    pub response_time_ms: Option<f64>,
    /// Request stub length (plaintext).
    pub request_stub_len: usize,
}

/// A bind, alter_context, their answers or a bind_nak, as `pushtrace rpc` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct BindRecord {
    /// Index into `inputs`.
    pub input: usize,
    /// The frame completing the PDU.
    pub frame: u64,
    /// `client -> server`.
    pub connection: String,
    /// `bind`, `bind_ack`, `alter_context`, `alter_context_resp` or `bind_nak`.
    pub pdu: &'static str,
    /// Interfaces proposed (or answered), by name or UUID.
    pub interfaces: Vec<String>,
    /// For answers: `acceptance`, `providerrejection`, ... per context; for bind_nak the reason.
    pub results: Vec<String>,
}

/// Per (interface, operation) counts and server response times, like `tshark -z dcerpc,srt`.
#[derive(Debug, Clone, Serialize)]
pub struct OperationStats {
    /// Interface name (or UUID, or `unknown`).
    pub interface: String,
    /// Operation name (or `opnum N`).
    pub operation: String,
    /// opnum.
    pub opnum: u16,
    /// Calls seen.
    pub calls: u64,
    /// Calls answered by a response or fault.
    pub answered: u64,
    /// Smallest response time, ms.
    pub min_srt_ms: Option<f64>,
    /// Largest response time, ms.
    pub max_srt_ms: Option<f64>,
    /// Mean response time, ms.
    pub avg_srt_ms: Option<f64>,
}

/// What an endpoint-mapper answer said: this interface listens on this port.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRecord {
    /// Index into `inputs`.
    pub input: usize,
    /// Frame of the ept_map response.
    pub frame: u64,
    /// The server that answered.
    pub server: String,
    /// The interface (name or UUID).
    pub interface: String,
    /// `tcp`, `udp`, `http`, ...
    pub protocol: String,
    /// The port.
    pub port: u16,
}
