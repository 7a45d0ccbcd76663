//! The per-connection DCE/RPC engine: cuts each direction's reassembled TCP byte stream into
//! PDUs, tracks the association's presentation contexts, reassembles fragmented calls and
//! pairs requests with their responses or faults (protocol.md §1.4–§1.12).
//!
//! It knows nothing of Exchange: it reports binds, bind results and calls, each with the
//! frame and time where it completed, and a [`Warning`] for everything it had to skip.
//!
//! * **Framing** (§1.12): a direction is in sync once a plausible header is seen (Wireshark's
//!   heuristic, a connection-oriented PTYPE, frag_length within [`RpcLimits::max_pdu_len`]);
//!   from there frag_length is trusted. A stream that starts mid-PDU, an implausible header
//!   or a TCP gap puts the direction into search mode: it scans forward for the next plausible
//!   header, as Suricata does, and reports how many bytes it skipped. PDUs may straddle feeds
//!   and one feed may hold many; only an unfinished PDU is buffered (at most `max_pdu_len`).
//! * **Cut PDUs**: a capture with a snap length keeps only the start of each segment, and the
//!   TCP stage reports the rest as a gap; a lost segment is a gap too. When a gap falls
//!   within the buffered PDU (its header complete and plausible), the PDU is decoded as far
//!   as the bytes before it go ([`pdu::parse_cut_pdu`]): whole context elements and results,
//!   fault and bind_nak fields, request and response headers with the captured start of the
//!   stub, flagged [`Stub::cut_by_capture`]. When the gap ends inside the PDU, the PDU's
//!   captured end is skipped when it arrives; when it ends exactly at the PDU's end (the
//!   usual snap length case) the direction stays in sync at once; when it runs past the end,
//!   the direction searches from the next fed byte.
//! * **Contexts** (§1.4–§1.8): a context proposed in a bind or alter_context becomes usable
//!   only when the i-th result of the ack with the same call_id accepts the i-th element. The
//!   accepted transfer syntax is kept (NDR20 or NDR64); bind time feature negotiation elements
//!   are recognised and never bound. A request on an unknown context is still reported, with
//!   `interface: None`.
//! * **Calls** (§1.9–§1.11): fragments are joined per (request direction, call_id); stubs are
//!   capped ([`Stub::truncated`]) and a fragment known or suspected lost is flagged
//!   ([`Stub::missing_fragment`]), never guessed. At auth level 6 the stub is sealed: only its
//!   length is kept. Responses and faults match by call_id whatever the delay (async calls).
//!
//! Memory is bounded per connection: the partial-PDU buffers, the number of pending calls,
//! bound contexts and unanswered binds, and the stub bytes held for pending calls.
//!
//! Warning codes ([`RpcEvent::Warning`], each with the frame where it arose):
//!
//! | code | meaning |
//! |---|---|
//! | `dcerpc_stream_starts_mid_pdu` | bytes skipped before a direction's first plausible header |
//! | `dcerpc_gap` | the TCP stage reported missing bytes: inside a PDU (decoded up to them, its end skipped), before a PDU's header was whole (the partial PDU dropped), or beyond the end of a cut PDU |
//! | `dcerpc_pdu_cut` | a PDU's tail was not captured; what its captured bytes hold was used |
//! | `dcerpc_bad_header` | an implausible header where a PDU should start |
//! | `dcerpc_pdu_too_long` | a frag_length above [`RpcLimits::max_pdu_len`] |
//! | `dcerpc_resync` | bytes skipped after a gap or bad header before the next header |
//! | `dcerpc_malformed_pdu` | a framed PDU whose body does not parse; skipped |
//! | `dcerpc_missing_fragment` | a fragment without its first, or a first before the last |
//! | `dcerpc_stub_truncated` | a stub exceeded a stub cap; the rest is only counted |
//! | `dcerpc_response_without_request` | a response or fault for an unknown call_id |
//! | `dcerpc_pending_call_cap` | too many pending calls; the oldest emitted unanswered |
//! | `dcerpc_context_cap` | too many presentation contexts; a new one not tracked |
//! | `dcerpc_bind_unanswered` | a bind never answered (or forgotten beyond the cap) |
//! | `dcerpc_client_direction_conflict` | binds or requests seen in both directions |
//! | `dcerpc_unfinished_pdu` | the stream ended inside a PDU |
//! | `dcerpc_no_pdu_found` | trailing bytes never formed a plausible header |
//! | `dcerpc_partial_pdu_dropped` | a partial PDU dropped by [`RpcConnection::drop_partial_pdus`] |

use super::interfaces;
use super::pdu::{
    self, AckResult, Body, CutLoss, CutPdu, Framing, Header, InterfaceId, PduError,
    ProposedContext, SecTrailer, TransferSyntax, AUTH_LEVEL_PRIVACY, COMMON_HEADER_LEN,
};
use crate::flow::Direction;
use pushtrace_capture::Warning;
use std::collections::HashMap;
use uuid::Uuid;

/// Caps that bound one connection's memory. A cap that bites emits a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest frag_length accepted; a larger header is treated as noise and resynced.
    /// Default 65 535 (the field's own maximum).
    pub max_pdu_len: usize,
    /// Largest stub kept per call and direction; beyond it bytes are counted, not kept.
    /// Default 1 MiB (Suricata's cap).
    pub max_stub_len: usize,
    /// Stub bytes held at once for all pending calls of the connection. Default 4 MiB.
    pub max_held_stub_bytes: usize,
    /// Calls waiting for their response; the oldest is emitted unanswered beyond it.
    /// Default 1024 (Suricata's cap).
    pub max_pending_calls: usize,
    /// Bound presentation contexts. Default 256.
    pub max_contexts: usize,
    /// Binds and alter_contexts waiting for their ack. Default 16.
    pub max_pending_binds: usize,
    /// Calls pending over all connections together. Default 16 384. Not applied by
    /// [`RpcConnection`] itself but by its owner, the engine: a connection that takes a call
    /// beyond it emits its own oldest pending call unanswered
    /// ([`RpcConnection::emit_oldest_pending`]).
    pub max_pending_calls_total: usize,
    /// Bytes held over all connections together ([`RpcConnection::held_bytes`]: partial PDUs
    /// and kept stub bytes). Default 8 MiB. Applied by the engine like
    /// [`RpcLimits::max_pending_calls_total`]: the connection that goes beyond it emits its
    /// pending calls, then drops its partial PDUs ([`RpcConnection::drop_partial_pdus`]).
    pub max_held_bytes_total: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_pdu_len: usize::from(u16::MAX),
            max_stub_len: 1 << 20,
            max_held_stub_bytes: 4 << 20,
            max_pending_calls: 1024,
            max_contexts: 256,
            max_pending_binds: 16,
            max_pending_calls_total: 16_384,
            max_held_bytes_total: 8 << 20,
        }
    }
}

/// Which PDU opened a context negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindKind {
    /// bind / bind_ack.
    Bind,
    /// alter_context / alter_context_resp.
    AlterContext,
}

/// The interface bound to a presentation context by an accepted bind or alter_context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoundInterface {
    /// Interface UUID.
    pub uuid: Uuid,
    /// (major, minor).
    pub version: (u16, u16),
    /// The transfer syntax the server accepted (NDR64 changes the stub layout).
    pub transfer_syntax: TransferSyntax,
    /// Its name when it is a well-known interface ([`interfaces::KNOWN_INTERFACES`]).
    pub name: Option<&'static str>,
}

/// One result of a bind_ack / alter_context_resp, joined with the element it answers when
/// that bind or alter_context was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextResult {
    /// p_cont_id of the answered element, if the proposal was captured.
    pub context_id: Option<u16>,
    /// Interface of the answered element, if the proposal was captured.
    pub interface: Option<InterfaceId>,
    /// The result.
    pub result: AckResult,
    /// The reason (for negotiate_ack: the accepted feature bitmask).
    pub reason: u16,
    /// The transfer syntax chosen.
    pub transfer_syntax: TransferSyntax,
}

/// A call's stub in one direction, joined from its fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stub {
    /// The clear stub bytes kept (empty when sealed; at most [`RpcLimits::max_stub_len`]).
    pub bytes: Vec<u8>,
    /// The plaintext stub length on the wire, all captured fragments counted, kept or not. A
    /// fragment cut by the capture counts with the stub length its frag_length implies when
    /// it has no auth trailer, and with its captured stub bytes only when it has one (the
    /// pad length was in the lost sec_trailer).
    pub len: usize,
    /// Sealed at auth level 6 (packet privacy): `bytes` is empty, `len` is still exact.
    pub encrypted: bool,
    /// A cap cut `bytes` short of `len`.
    pub truncated: bool,
    /// Integers in the stub are little-endian (drep of the first fragment seen).
    pub little_endian: bool,
    /// A fragment is known or suspected missing: no FIRST, no LAST, a gap in the stream
    /// during reassembly, or a new FIRST for the same call_id.
    pub missing_fragment: bool,
    /// The capture cut a fragment short (a snap length, or bytes lost at the end of the
    /// PDU): `bytes` holds only the captured start of that fragment's stub, which may run
    /// into auth padding when the sec_trailer was lost. The auth level is then unknown, so
    /// such bytes may even be sealed: never decode them ([`Stub::complete_bytes`] is `None`).
    pub cut_by_capture: bool,
    /// Fragments joined.
    pub fragments: u32,
}

impl Stub {
    fn new(little_endian: bool) -> Stub {
        Stub {
            bytes: Vec::new(),
            len: 0,
            encrypted: false,
            truncated: false,
            little_endian,
            missing_fragment: false,
            cut_by_capture: false,
            fragments: 0,
        }
    }

    /// Whether `len` is the stub's whole plaintext length: not when a fragment is missing,
    /// or when the capture cut one (its length then counts only what was captured, or
    /// cannot tell its auth padding).
    pub fn len_is_exact(&self) -> bool {
        !self.missing_fragment && !self.cut_by_capture
    }

    /// The stub bytes when they are the whole plaintext stub (not sealed, not capped, no
    /// fragment missing or cut by the capture); what an NDR decoder can trust.
    pub fn complete_bytes(&self) -> Option<&[u8]> {
        let whole = !self.encrypted && !self.truncated && self.len_is_exact();
        whole.then_some(&self.bytes[..])
    }
}

/// A request and, when seen, its response or fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcCall {
    /// call_id.
    pub call_id: u32,
    /// p_cont_id of the request.
    pub context_id: u16,
    /// opnum.
    pub opnum: u16,
    /// The interface bound to `context_id` when the request arrived; `None` when its bind
    /// was not captured or not accepted.
    pub interface: Option<BoundInterface>,
    /// Object UUID of the request, if any.
    pub object: Option<Uuid>,
    /// Direction the request travelled (from the client).
    pub request_direction: Direction,
    /// Frame where the request's last fragment completed (Wireshark's convention); the last
    /// fragment seen when the request never completed.
    pub request_frame: u64,
    /// Time of `request_frame`, ns since the Unix epoch.
    pub request_ts_ns: i64,
    /// The request stub.
    pub request: Stub,
    /// Frame where the response's last fragment or the fault completed.
    pub response_frame: Option<u64>,
    /// Time of `response_frame`.
    pub response_ts_ns: Option<i64>,
    /// The response stub (`None` when unanswered or answered by a fault).
    pub response: Option<Stub>,
    /// The fault status when a fault answered the call (see
    /// [`interfaces::fault_status_name`]).
    pub fault_status: Option<u32>,
    /// auth_type of the call's sec_trailer, if it had one.
    pub auth_type: Option<u8>,
    /// auth_level of the call's sec_trailer (6 = packet privacy), if it had one.
    pub auth_level: Option<u8>,
    /// The call's PDUs announce an auth trailer (auth_length > 0) but none was captured (the
    /// snap length or a lost segment cut it): `auth_type` and `auth_level` are unknown, not
    /// absent. False once any fragment's trailer was captured.
    pub auth_not_captured: bool,
}

impl RpcCall {
    /// The operation's name when the interface is a well-known one.
    pub fn operation_name(&self) -> Option<&'static str> {
        interfaces::operation_name(&self.interface?.uuid, self.opnum)
    }

    /// True once a response or fault was matched.
    pub fn answered(&self) -> bool {
        self.response_frame.is_some()
    }
}

/// What the engine reports, in the order it learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEvent {
    /// A bind or alter_context.
    Bind {
        /// Which of the two.
        kind: BindKind,
        /// The direction it travelled (from the client).
        direction: Direction,
        /// Frame where the PDU completed.
        frame: u64,
        /// Its time.
        ts_ns: i64,
        /// call_id.
        call_id: u32,
        /// The proposed context elements, in order (BTFN elements included). For a PDU cut
        /// by the capture, the elements captured up to their abstract syntax; the last may
        /// lack transfer syntaxes (see `dcerpc_pdu_cut`).
        contexts: Vec<ProposedContext>,
    },
    /// A bind_ack or alter_context_resp.
    BindAck {
        /// Which of the two.
        kind: BindKind,
        /// The direction it travelled (from the server).
        direction: Direction,
        /// Frame where the PDU completed.
        frame: u64,
        /// Its time.
        ts_ns: i64,
        /// call_id.
        call_id: u32,
        /// The secondary address (the server's port on ncacn_ip_tcp), if not empty.
        sec_addr: Option<String>,
        /// Results, joined with the proposal when it was captured. For a PDU cut by the
        /// capture, the results captured whole.
        results: Vec<ContextResult>,
    },
    /// A bind_nak.
    BindNak {
        /// The direction it travelled (from the server).
        direction: Direction,
        /// Frame where the PDU completed.
        frame: u64,
        /// Its time.
        ts_ns: i64,
        /// call_id.
        call_id: u32,
        /// provider_reject_reason (protocol.md §1.6).
        reason: u16,
    },
    /// A call, emitted when its response or fault completes, or unanswered when it is
    /// evicted, its call_id is reused, or at [`RpcConnection::finish`].
    Call(RpcCall),
    /// Something skipped or capped.
    Warning(Warning),
}

impl RpcEvent {
    /// The direction the client's bytes travel, as this event shows it: binds and requests
    /// come from the client, their answers from the server. Each event carries its own
    /// direction, so the roles hold however the capture began or ended (a connection whose
    /// first captured PDU is a response, or whose last call was never answered).
    pub fn client_direction(&self) -> Option<Direction> {
        match self {
            RpcEvent::Bind { direction, .. } => Some(*direction),
            RpcEvent::BindAck { direction, .. } | RpcEvent::BindNak { direction, .. } => {
                Some(direction.reverse())
            }
            RpcEvent::Call(call) => Some(call.request_direction),
            RpcEvent::Warning(_) => None,
        }
    }
}

/// Where and when a PDU completed.
#[derive(Debug, Clone, Copy, Default)]
struct At {
    frame: u64,
    ts_ns: i64,
}

/// Why a direction is looking for a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchCause {
    /// No header seen yet in this direction.
    StreamStart,
    /// Bytes were lost.
    Gap,
    /// An implausible header appeared where one was expected.
    BadHeader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    /// The buffer, if any, holds the start of the next PDU.
    InSync,
    /// The next `remaining` bytes are the captured end of a PDU whose middle the capture
    /// lost (it was decoded as far as the bytes before the hole went); the next PDU starts
    /// right after them.
    SkipTail { remaining: usize },
    /// Scanning for a plausible header; `skipped` bytes discarded so far.
    Searching { cause: SearchCause, skipped: u64 },
}

#[derive(Debug)]
struct DirState {
    /// In sync: the start of an unfinished PDU. Searching: a tail too short to judge.
    buf: Vec<u8>,
    sync: SyncState,
    /// The frame and time of the last bytes fed: where a PDU cut by a gap ends.
    last_fed: At,
}

impl DirState {
    fn new() -> DirState {
        DirState {
            buf: Vec::new(),
            sync: SyncState::Searching {
                cause: SearchCause::StreamStart,
                skipped: 0,
            },
            last_fed: At::default(),
        }
    }

    fn add_skipped(&mut self, n: usize) {
        if let SyncState::Searching { skipped, .. } = &mut self.sync {
            *skipped = skipped.saturating_add(n as u64);
        }
    }
}

/// How the bytes at a position look as the start of a PDU.
enum Start {
    /// A plausible header announcing a PDU of this length.
    Pdu(usize),
    /// Fewer than 16 bytes, all plausible so far.
    Partial,
    /// Not a plausible header.
    Bad(BadStart),
}

enum BadStart {
    Header(PduError),
    TooLong(usize),
}

impl std::fmt::Display for BadStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadStart::Header(e) => write!(f, "{e}"),
            BadStart::TooLong(len) => write!(f, "frag_length {len} is above the PDU size cap"),
        }
    }
}

/// The one test for "a PDU starts here", used both in sync and when searching.
fn classify_start(buf: &[u8], max_pdu_len: usize) -> Start {
    let len = match pdu::frame_pdu(buf) {
        Framing::Invalid(e) => return Start::Bad(BadStart::Header(e)),
        Framing::NeedMore { .. } if buf.len() < COMMON_HEADER_LEN => return Start::Partial,
        Framing::NeedMore { needed } => buf.len() + needed,
        Framing::Complete { len } => len,
    };
    if len > max_pdu_len {
        Start::Bad(BadStart::TooLong(len))
    } else {
        Start::Pdu(len)
    }
}

#[derive(Debug)]
struct PendingCall {
    /// Arrival order, for eviction and for a stable order at finish.
    seq: u64,
    call: RpcCall,
    request_complete: bool,
    response_complete: bool,
}

#[derive(Debug)]
struct PendingBind {
    call_id: u32,
    frame: u64,
    /// (p_cont_id, interface, is a BTFN element) per element, in order.
    contexts: Vec<(u16, InterfaceId, bool)>,
}

/// The DCE/RPC state of one TCP connection. Feed it each direction's reassembled bytes in
/// capture order, report gaps, and call [`RpcConnection::finish`] when the connection ends.
#[derive(Debug)]
pub struct RpcConnection {
    limits: RpcLimits,
    dirs: [DirState; 2],
    client: Option<Direction>,
    client_conflict_warned: bool,
    contexts: HashMap<u16, BoundInterface>,
    context_cap_warned: bool,
    pending_binds: Vec<PendingBind>,
    calls: HashMap<(usize, u32), PendingCall>,
    next_seq: u64,
    held_stub_bytes: usize,
    evicted_calls: u64,
    last_frame: u64,
}

fn warning(code: &'static str, message: String, frame: u64) -> RpcEvent {
    RpcEvent::Warning(Warning::new(code, message).at_frame(frame))
}

fn dir_name(dir: Direction) -> &'static str {
    match dir {
        Direction::ToResponder => "initiator→responder",
        Direction::ToInitiator => "responder→initiator",
    }
}

/// Appends one fragment's stub within the caps; returns true when this append was the
/// first to be cut by a cap.
fn append_stub(
    stub: &mut Stub,
    fragment: &Fragment<'_>,
    limits: &RpcLimits,
    held: &mut usize,
) -> bool {
    let part = fragment.stub;
    let on_wire = fragment.loss.stub_len_on_wire.unwrap_or(part.len());
    stub.len = stub.len.saturating_add(on_wire);
    stub.fragments = stub.fragments.saturating_add(1);
    stub.cut_by_capture |= fragment.loss.stub_cut;
    if fragment.is_sealed() && !stub.encrypted {
        // Never expose sealed bytes; drop any clear bytes of earlier fragments too.
        *held = held.saturating_sub(stub.bytes.len());
        stub.bytes = Vec::new();
        stub.encrypted = true;
    }
    if stub.encrypted {
        return false;
    }
    let room = limits
        .max_stub_len
        .saturating_sub(stub.bytes.len())
        .min(limits.max_held_stub_bytes.saturating_sub(*held));
    let kept = part.len().min(room);
    stub.bytes.extend_from_slice(&part[..kept]);
    *held += kept;
    let newly_cut = kept < part.len() && !stub.truncated;
    stub.truncated |= kept < part.len();
    newly_cut
}

/// What a PDU is, for a warning: its type and call_id when its header parses.
fn describe(bytes: &[u8]) -> String {
    Header::parse(bytes).map_or_else(
        |_| String::from("PDU"),
        |h| format!("{:?} call_id {}", h.packet_type, h.call_id),
    )
}

/// What was kept of a cut PDU, for its `dcerpc_pdu_cut` warning.
fn cut_summary(cut: &CutPdu<'_>) -> String {
    let loss = cut.loss;
    if !loss.body_cut {
        return "only the auth verifier was lost; the body is whole".into();
    }
    match &cut.body {
        Body::Bind(bind) | Body::AlterContext(bind) => {
            let kept = bind.contexts.len();
            let announced = loss.announced_elements.unwrap_or(kept);
            let mut text = format!("{kept} of {announced} context elements kept");
            if loss.transfer_syntaxes_cut {
                text.push_str(", the last without all its transfer syntaxes");
            }
            if announced > kept {
                text.push_str(&format!(
                    "; {} not captured up to their abstract syntax, dropped",
                    announced - kept
                ));
            }
            text
        }
        Body::BindAck(ack) | Body::AlterContextResp(ack) => match loss.announced_elements {
            Some(announced) => format!("{} of {announced} results kept", ack.results.len()),
            None => "its results were not captured".into(),
        },
        Body::Request(pdu::Request { stub, .. }) | Body::Response(pdu::Response { stub, .. }) => {
            format!(
                "header and the first {} stub bytes kept, the stub marked incomplete",
                stub.len()
            )
        }
        Body::Fault(fault) => format!("status {:#010x} kept", fault.status),
        Body::BindNak(nak) => format!("reject reason {} kept", nak.reason),
        Body::Auth3(_) | Body::Shutdown | Body::CoCancel(_) | Body::Orphaned(_) | Body::Rts => {
            "nothing in it is used".into()
        }
    }
}

impl RpcConnection {
    /// A connection with no state yet; both directions will start at their first plausible
    /// header.
    pub fn new(limits: RpcLimits) -> Self {
        RpcConnection {
            limits,
            dirs: [DirState::new(), DirState::new()],
            client: None,
            client_conflict_warned: false,
            contexts: HashMap::new(),
            context_cap_warned: false,
            pending_binds: Vec::new(),
            calls: HashMap::new(),
            next_seq: 0,
            held_stub_bytes: 0,
            evicted_calls: 0,
            last_frame: 0,
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> &RpcLimits {
        &self.limits
    }

    /// The interface bound to a presentation context, if any.
    pub fn bound_interface(&self, context_id: u16) -> Option<&BoundInterface> {
        self.contexts.get(&context_id)
    }

    /// Calls waiting for their response (or their last request fragment).
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    /// Bytes the connection holds for later: both directions' partial PDUs and the stub
    /// bytes kept for pending calls.
    pub fn held_bytes(&self) -> usize {
        self.held_stub_bytes
            .saturating_add(self.dirs[0].buf.len())
            .saturating_add(self.dirs[1].buf.len())
    }

    /// Emits the oldest pending call unanswered, releasing its stub bytes (for a budget
    /// shared with other connections). Returns false when no call was pending.
    pub fn emit_oldest_pending(&mut self, out: &mut Vec<RpcEvent>) -> bool {
        match self.take_oldest_pending() {
            Some(oldest) => {
                self.emit_call(oldest, out);
                true
            }
            None => false,
        }
    }

    /// Drops both directions' partial PDUs (for a budget shared with other connections),
    /// as if their bytes had been lost in frame `frame`: each direction that held some
    /// searches for the next header, and calls being joined in it are flagged. Returns the
    /// bytes dropped.
    pub fn drop_partial_pdus(&mut self, frame: u64, out: &mut Vec<RpcEvent>) -> usize {
        let mut dropped = 0;
        for dir in [Direction::ToResponder, Direction::ToInitiator] {
            let held = self.dirs[dir.index()].buf.len();
            if held > 0 {
                dropped += held;
                self.lose_position(dir);
                out.push(warning(
                    "dcerpc_partial_pdu_dropped",
                    format!(
                        "{held} buffered bytes of an unfinished PDU in the {} stream dropped \
                         to stay within the memory budget of all connections",
                        dir_name(dir)
                    ),
                    frame,
                ));
            }
        }
        dropped
    }

    /// Counts `bytes` of direction `dir` that went by before the first bytes fed (its owner
    /// judged them while deciding what the connection carries) as skipped at the stream's
    /// start: the `dcerpc_stream_starts_mid_pdu` warning then tells them. Nothing changes
    /// once the direction found its first header.
    pub fn passed_over(&mut self, dir: Direction, bytes: u64) {
        if let SyncState::Searching {
            cause: SearchCause::StreamStart,
            skipped,
        } = &mut self.dirs[dir.index()].sync
        {
            *skipped = skipped.saturating_add(bytes);
        }
    }

    /// Consumes the next bytes of direction `dir`, captured in `frame` at `ts_ns`, and
    /// appends what they complete to `out`.
    pub fn feed(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        frame: u64,
        ts_ns: i64,
        out: &mut Vec<RpcEvent>,
    ) {
        self.last_frame = frame;
        let at = At { frame, ts_ns };
        self.dirs[dir.index()].last_fed = at;
        let mut input = bytes;
        while !input.is_empty() {
            let used = match self.dirs[dir.index()].sync {
                SyncState::InSync => self.step_in_sync(dir, input, at, out),
                SyncState::Searching { .. } => self.step_searching(dir, input, at, out),
                SyncState::SkipTail { remaining } => {
                    let skipped = remaining.min(input.len());
                    self.dirs[dir.index()].sync = match remaining - skipped {
                        0 => SyncState::InSync,
                        remaining => SyncState::SkipTail { remaining },
                    };
                    skipped
                }
            };
            input = input.get(used..).unwrap_or_default();
        }
    }

    /// Reports that `missing` bytes of direction `dir` were not captured before the next
    /// fed bytes. When they lie within the buffered PDU (its header complete and
    /// plausible), that PDU is decoded as far as the bytes before the gap go; if the gap ends
    /// inside the PDU, the rest of it is skipped when it arrives, and if it ends exactly
    /// where the PDU ends, the direction stays in sync either way. A gap within the captured
    /// end of such a PDU, still being skipped, only shortens what is left to skip.
    /// Otherwise the partial PDU is dropped, fragments being joined in that direction are
    /// flagged, and the direction searches for the next plausible header.
    pub fn gap(&mut self, dir: Direction, missing: u64, frame: u64, out: &mut Vec<RpcEvent>) {
        self.last_frame = frame;
        let i = dir.index();
        let buffered = self.dirs[i].buf.len();
        let through = (buffered as u64).saturating_add(missing);
        if let SyncState::SkipTail { remaining } = self.dirs[i].sync {
            self.gap_in_skipped_tail(dir, remaining, missing, frame, out);
            return;
        }
        let cut_len = match (
            self.dirs[i].sync,
            classify_start(&self.dirs[i].buf, self.limits.max_pdu_len),
        ) {
            (SyncState::InSync, Start::Pdu(len)) if buffered < len => Some(len),
            _ => None,
        };
        let mut lost_beyond_cut = None;
        if let Some(len) = cut_len {
            let bytes = std::mem::take(&mut self.dirs[i].buf);
            let at = self.dirs[i].last_fed;
            self.handle_cut_pdu(dir, &bytes, at, out);
            let mut reuse = bytes;
            reuse.clear();
            self.dirs[i].buf = reuse;
            if let Some(tail) = (len as u64).checked_sub(through).filter(|t| *t > 0) {
                // The gap ends inside the PDU: its captured end is skipped when it comes.
                self.dirs[i].sync = SyncState::SkipTail {
                    remaining: tail as usize,
                };
                out.push(warning(
                    "dcerpc_gap",
                    format!(
                        "{missing} bytes missing from the {} stream inside a PDU of {len} \
                         bytes: decoded as far as the {buffered} bytes before the gap, its \
                         last {tail} bytes skipped",
                        dir_name(dir)
                    ),
                    frame,
                ));
                return;
            }
            let beyond = through - len as u64;
            if beyond == 0 {
                // The next fed byte starts the next PDU; no fragment was lost.
                return;
            }
            lost_beyond_cut = Some(beyond);
        }
        let dropped = self.dirs[i].buf.len();
        self.lose_position(dir);
        let what = match lost_beyond_cut {
            Some(beyond) => format!("{beyond} of them lie beyond the end of the cut PDU"),
            None => format!("{dropped} buffered bytes of an unfinished PDU dropped"),
        };
        out.push(warning(
            "dcerpc_gap",
            format!(
                "{missing} bytes missing from the {} stream; {what}",
                dir_name(dir)
            ),
            frame,
        ));
    }

    /// A gap while the captured end of a holed PDU is being skipped: within that end it only
    /// shortens what is left to skip; past it, the position is lost.
    fn gap_in_skipped_tail(
        &mut self,
        dir: Direction,
        remaining: usize,
        missing: u64,
        frame: u64,
        out: &mut Vec<RpcEvent>,
    ) {
        match (remaining as u64).checked_sub(missing) {
            Some(0) => self.dirs[dir.index()].sync = SyncState::InSync,
            Some(left) => {
                self.dirs[dir.index()].sync = SyncState::SkipTail {
                    remaining: left as usize,
                }
            }
            None => {
                self.lose_position(dir);
                out.push(warning(
                    "dcerpc_gap",
                    format!(
                        "{missing} bytes missing from the {} stream, {} of them beyond the end \
                         of a PDU already cut by an earlier gap",
                        dir_name(dir),
                        missing - remaining as u64
                    ),
                    frame,
                ));
            }
        }
    }

    /// Bytes of direction `dir` were lost: the partial PDU is dropped, the direction searches
    /// for the next plausible header, and fragments being joined in it are flagged.
    fn lose_position(&mut self, dir: Direction) {
        let state = &mut self.dirs[dir.index()];
        state.buf.clear();
        state.sync = match state.sync {
            // Still looking for the first header: keep counting what was skipped.
            SyncState::Searching {
                cause: SearchCause::StreamStart,
                skipped,
            } => SyncState::Searching {
                cause: SearchCause::StreamStart,
                skipped,
            },
            _ => SyncState::Searching {
                cause: SearchCause::Gap,
                skipped: 0,
            },
        };
        for pending in self.calls.values_mut() {
            if pending.call.request_direction == dir {
                if !pending.request_complete {
                    pending.call.request.missing_fragment = true;
                }
            } else if let Some(response) = &mut pending.call.response {
                if !pending.response_complete {
                    response.missing_fragment = true;
                }
            }
        }
    }

    /// Ends the connection: reports bytes that never formed a PDU, unanswered binds, and
    /// emits every pending call (unanswered, or with an unfinished stub flagged). The
    /// connection is empty afterwards.
    pub fn finish(&mut self, out: &mut Vec<RpcEvent>) {
        let frame = self.last_frame;
        for dir in [Direction::ToResponder, Direction::ToInitiator] {
            let state = std::mem::replace(&mut self.dirs[dir.index()], DirState::new());
            let buffered = state.buf.len();
            match state.sync {
                SyncState::Searching { skipped, .. } if skipped > 0 || buffered > 0 => {
                    out.push(warning(
                        "dcerpc_no_pdu_found",
                        format!(
                            "{} bytes at the end of the {} stream never formed a plausible \
                             DCE/RPC header",
                            skipped.saturating_add(buffered as u64),
                            dir_name(dir)
                        ),
                        frame,
                    ));
                }
                SyncState::SkipTail { remaining } => out.push(warning(
                    "dcerpc_unfinished_pdu",
                    format!(
                        "the {} stream ended {remaining} bytes before the end of a PDU whose \
                         middle was not captured",
                        dir_name(dir)
                    ),
                    frame,
                )),
                SyncState::InSync if buffered > 0 => out.push(warning(
                    "dcerpc_unfinished_pdu",
                    format!(
                        "the {} stream ended {buffered} bytes into a PDU that never completed",
                        dir_name(dir)
                    ),
                    frame,
                )),
                _ => {}
            }
        }
        for bind in std::mem::take(&mut self.pending_binds) {
            out.push(warning(
                "dcerpc_bind_unanswered",
                format!(
                    "no bind_ack or bind_nak for the bind with call_id {}",
                    bind.call_id
                ),
                bind.frame,
            ));
        }
        let mut pending: Vec<PendingCall> = self.calls.drain().map(|(_, call)| call).collect();
        pending.sort_by_key(|call| call.seq);
        for call in pending {
            self.emit_call(call, out);
        }
        if self.evicted_calls > 0 {
            out.push(warning(
                "dcerpc_pending_call_cap",
                format!(
                    "{} calls were emitted unanswered because more than {} were pending",
                    self.evicted_calls, self.limits.max_pending_calls
                ),
                frame,
            ));
        }
        *self = RpcConnection::new(self.limits);
    }

    /// In sync: completes the buffered PDU or frames PDUs straight from `input`. Returns the
    /// bytes of `input` used.
    fn step_in_sync(
        &mut self,
        dir: Direction,
        input: &[u8],
        at: At,
        out: &mut Vec<RpcEvent>,
    ) -> usize {
        let i = dir.index();
        let max = self.limits.max_pdu_len;
        if self.dirs[i].buf.is_empty() {
            return match classify_start(input, max) {
                Start::Pdu(len) if len <= input.len() => {
                    self.handle_pdu(dir, &input[..len], at, out);
                    len
                }
                Start::Pdu(_) | Start::Partial => {
                    self.dirs[i].buf.extend_from_slice(input);
                    input.len()
                }
                Start::Bad(bad) => {
                    self.lose_sync(dir, &bad, at, out);
                    // The byte that failed as a header start is skipped.
                    self.dirs[i].add_skipped(1);
                    1
                }
            };
        }
        let mut used = 0;
        loop {
            let target = match classify_start(&self.dirs[i].buf, max) {
                Start::Partial => COMMON_HEADER_LEN,
                Start::Pdu(len) => len,
                Start::Bad(bad) => {
                    self.lose_sync(dir, &bad, at, out);
                    // Rescan the buffered bytes after the failed start.
                    let state = &mut self.dirs[i];
                    state.buf.drain(..1);
                    state.add_skipped(1);
                    return used;
                }
            };
            if self.dirs[i].buf.len() >= target {
                let pdu_bytes = std::mem::take(&mut self.dirs[i].buf);
                self.handle_pdu(dir, &pdu_bytes, at, out);
                let mut reuse = pdu_bytes;
                reuse.clear();
                self.dirs[i].buf = reuse;
                return used;
            }
            let rest = &input[used..];
            if rest.is_empty() {
                return used;
            }
            let take = (target - self.dirs[i].buf.len()).min(rest.len());
            self.dirs[i].buf.extend_from_slice(&rest[..take]);
            used += take;
        }
    }

    fn lose_sync(&mut self, dir: Direction, bad: &BadStart, at: At, out: &mut Vec<RpcEvent>) {
        let code = match bad {
            BadStart::Header(_) => "dcerpc_bad_header",
            BadStart::TooLong(_) => "dcerpc_pdu_too_long",
        };
        out.push(warning(
            code,
            format!(
                "{} stream: {bad}; searching for the next header",
                dir_name(dir)
            ),
            at.frame,
        ));
        self.dirs[dir.index()].sync = SyncState::Searching {
            cause: SearchCause::BadHeader,
            skipped: 0,
        };
    }

    /// Searching: scans the carried tail and `input` for a plausible header. Returns the
    /// bytes of `input` used (0 when the header starts in the carried tail).
    fn step_searching(
        &mut self,
        dir: Direction,
        input: &[u8],
        at: At,
        out: &mut Vec<RpcEvent>,
    ) -> usize {
        let max = self.limits.max_pdu_len;
        let state = &mut self.dirs[dir.index()];
        if !state.buf.is_empty() {
            // Positions in the carried tail are judged with the first bytes of `input`.
            let carried = state.buf.len();
            let mut window = state.buf.clone();
            window.extend_from_slice(&input[..input.len().min(COMMON_HEADER_LEN)]);
            for start in 0..carried {
                match classify_start(&window[start..], max) {
                    Start::Bad(_) => continue,
                    Start::Pdu(_) => {
                        state.buf.drain(..start);
                        state.add_skipped(start);
                        self.found_header(dir, at, out);
                        return 0;
                    }
                    Start::Partial => {
                        state.buf.drain(..start);
                        state.add_skipped(start);
                        state.buf.extend_from_slice(input);
                        return input.len();
                    }
                }
            }
            state.add_skipped(carried);
            state.buf.clear();
            return 0;
        }
        let mut pos = 0;
        while let Some(offset) = input[pos..].iter().position(|&b| b == 5) {
            pos += offset;
            match classify_start(&input[pos..], max) {
                Start::Bad(_) => pos += 1,
                Start::Pdu(_) => {
                    state.add_skipped(pos);
                    self.found_header(dir, at, out);
                    return pos;
                }
                Start::Partial => {
                    state.add_skipped(pos);
                    state.buf.extend_from_slice(&input[pos..]);
                    return input.len();
                }
            }
        }
        state.add_skipped(input.len());
        input.len()
    }

    fn found_header(&mut self, dir: Direction, at: At, out: &mut Vec<RpcEvent>) {
        let state = &mut self.dirs[dir.index()];
        if let SyncState::Searching { cause, skipped } = state.sync {
            if skipped > 0 {
                let (code, what) = match cause {
                    SearchCause::StreamStart => (
                        "dcerpc_stream_starts_mid_pdu",
                        "the capture starts inside the stream: skipped",
                    ),
                    SearchCause::Gap | SearchCause::BadHeader => {
                        ("dcerpc_resync", "resynchronised after skipping")
                    }
                };
                out.push(warning(
                    code,
                    format!(
                        "{} stream: {what} {skipped} bytes before a plausible header",
                        dir_name(dir)
                    ),
                    at.frame,
                ));
            }
        }
        state.sync = SyncState::InSync;
    }

    /// Parses one framed PDU and updates the association.
    fn handle_pdu(&mut self, dir: Direction, bytes: &[u8], at: At, out: &mut Vec<RpcEvent>) {
        match pdu::parse_pdu(bytes) {
            Ok(pdu) => self.dispatch(dir, pdu.header, pdu.body, CutLoss::default(), at, out),
            Err(e) => out.push(warning(
                "dcerpc_malformed_pdu",
                format!("{} stream: {} skipped: {e}", dir_name(dir), describe(bytes)),
                at.frame,
            )),
        }
    }

    /// Decodes a PDU whose tail the capture lost as far as its captured bytes go, and
    /// updates the association with what they hold.
    fn handle_cut_pdu(&mut self, dir: Direction, bytes: &[u8], at: At, out: &mut Vec<RpcEvent>) {
        match pdu::parse_cut_pdu(bytes) {
            Ok(cut) => {
                out.push(warning(
                    "dcerpc_pdu_cut",
                    format!(
                        "{} stream: {:?} call_id {} cut by the capture after {} of its {} \
                         bytes; {}",
                        dir_name(dir),
                        cut.header.packet_type,
                        cut.header.call_id,
                        cut.captured,
                        cut.header.frag_length,
                        cut_summary(&cut)
                    ),
                    at.frame,
                ));
                self.dispatch(dir, cut.header, cut.body, cut.loss, at, out);
            }
            Err(e) => out.push(warning(
                "dcerpc_pdu_cut",
                format!(
                    "{} stream: {} cut by the capture after {} bytes; nothing usable: {e}",
                    dir_name(dir),
                    describe(bytes),
                    bytes.len()
                ),
                at.frame,
            )),
        }
    }

    /// Updates the association with one PDU's body; `loss` says what the capture cut from it.
    fn dispatch(
        &mut self,
        dir: Direction,
        header: Header,
        body: Body<'_>,
        loss: CutLoss,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        let call_id = header.call_id;
        match body {
            Body::Bind(bind) => self.on_bind(dir, BindKind::Bind, call_id, bind.contexts, at, out),
            Body::AlterContext(bind) => {
                self.on_bind(dir, BindKind::AlterContext, call_id, bind.contexts, at, out)
            }
            Body::BindAck(ack) => self.on_bind_ack(dir, BindKind::Bind, call_id, ack, at, out),
            Body::AlterContextResp(ack) => {
                self.on_bind_ack(dir, BindKind::AlterContext, call_id, ack, at, out)
            }
            Body::BindNak(nak) => {
                self.pending_binds.retain(|bind| bind.call_id != call_id);
                out.push(RpcEvent::BindNak {
                    direction: dir,
                    frame: at.frame,
                    ts_ns: at.ts_ns,
                    call_id,
                    reason: nak.reason,
                });
            }
            Body::Request(request) => {
                let fragment = Fragment {
                    header,
                    context_id: request.context_id,
                    stub: request.stub,
                    auth: request.auth,
                    loss,
                };
                self.on_request(dir, fragment, request.opnum, request.object, at, out)
            }
            Body::Response(response) => {
                let fragment = Fragment {
                    header,
                    context_id: response.context_id,
                    stub: response.stub,
                    auth: response.auth,
                    loss,
                };
                self.on_response(dir, fragment, at, out)
            }
            Body::Fault(fault) => self.on_fault(dir, call_id, fault.status, at, out),
            Body::Auth3(_) | Body::Shutdown | Body::CoCancel(_) | Body::Orphaned(_) | Body::Rts => {
            }
        }
    }

    fn note_client(&mut self, dir: Direction, at: At, out: &mut Vec<RpcEvent>) {
        match self.client {
            None => self.client = Some(dir),
            Some(client) if client != dir && !self.client_conflict_warned => {
                self.client_conflict_warned = true;
                out.push(warning(
                    "dcerpc_client_direction_conflict",
                    format!(
                        "binds or requests travel both ways; the client was the {} side",
                        dir_name(client)
                    ),
                    at.frame,
                ));
            }
            Some(_) => {}
        }
    }

    fn on_bind(
        &mut self,
        dir: Direction,
        kind: BindKind,
        call_id: u32,
        contexts: Vec<ProposedContext>,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        self.note_client(dir, at, out);
        self.pending_binds.retain(|bind| bind.call_id != call_id);
        if self.pending_binds.len() >= self.limits.max_pending_binds.max(1) {
            let oldest = self.pending_binds.remove(0);
            out.push(warning(
                "dcerpc_bind_unanswered",
                format!(
                    "no answer to the bind with call_id {} before {} more binds; forgotten",
                    oldest.call_id, self.limits.max_pending_binds
                ),
                oldest.frame,
            ));
        }
        self.pending_binds.push(PendingBind {
            call_id,
            frame: at.frame,
            contexts: contexts
                .iter()
                .map(|c| {
                    (
                        c.context_id,
                        c.interface,
                        c.is_bind_time_feature_negotiation(),
                    )
                })
                .collect(),
        });
        out.push(RpcEvent::Bind {
            kind,
            direction: dir,
            frame: at.frame,
            ts_ns: at.ts_ns,
            call_id,
            contexts,
        });
    }

    fn on_bind_ack(
        &mut self,
        dir: Direction,
        kind: BindKind,
        call_id: u32,
        ack: pdu::BindAck,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        let wire_results = &ack.results;
        let proposal = self
            .pending_binds
            .iter()
            .position(|bind| bind.call_id == call_id)
            .map(|index| self.pending_binds.remove(index));
        let mut results = Vec::with_capacity(wire_results.len());
        for (index, wire) in wire_results.iter().enumerate() {
            let proposed = proposal
                .as_ref()
                .and_then(|p| p.contexts.get(index))
                .copied();
            if let Some((context_id, interface, is_btfn)) = proposed {
                let usable = wire.result == AckResult::Acceptance
                    && !is_btfn
                    && !matches!(
                        wire.transfer_syntax,
                        TransferSyntax::BindTimeFeatures { .. }
                    );
                if usable {
                    self.bind_context(context_id, interface, wire.transfer_syntax, at, out);
                }
            }
            results.push(ContextResult {
                context_id: proposed.map(|p| p.0),
                interface: proposed.map(|p| p.1),
                result: wire.result,
                reason: wire.reason,
                transfer_syntax: wire.transfer_syntax,
            });
        }
        out.push(RpcEvent::BindAck {
            kind,
            direction: dir,
            frame: at.frame,
            ts_ns: at.ts_ns,
            call_id,
            sec_addr: ack.sec_addr,
            results,
        });
    }

    fn bind_context(
        &mut self,
        context_id: u16,
        interface: InterfaceId,
        transfer_syntax: TransferSyntax,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        if self.contexts.len() >= self.limits.max_contexts
            && !self.contexts.contains_key(&context_id)
        {
            if !self.context_cap_warned {
                self.context_cap_warned = true;
                out.push(warning(
                    "dcerpc_context_cap",
                    format!(
                        "more than {} presentation contexts; context {context_id} not tracked",
                        self.limits.max_contexts
                    ),
                    at.frame,
                ));
            }
            return;
        }
        let bound = BoundInterface {
            uuid: interface.uuid,
            version: interface.version,
            transfer_syntax,
            name: interfaces::interface_by_uuid(&interface.uuid).map(|known| known.name),
        };
        self.contexts.insert(context_id, bound);
    }

    fn on_request(
        &mut self,
        dir: Direction,
        fragment: Fragment<'_>,
        opnum: u16,
        object: Option<Uuid>,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        self.note_client(dir, at, out);
        let flags = fragment.header.flags;
        let call_id = fragment.header.call_id;
        let key = (dir.index(), call_id);
        let continues = !flags.first_frag()
            && self
                .calls
                .get(&key)
                .is_some_and(|pending| !pending.request_complete);
        if !continues {
            if let Some(mut previous) = self.calls.remove(&key) {
                if !previous.request_complete {
                    out.push(warning(
                        "dcerpc_missing_fragment",
                        format!(
                            "request call_id {call_id}: a new first fragment arrived before the \
                             last fragment of the previous one"
                        ),
                        at.frame,
                    ));
                    previous.call.request.missing_fragment = true;
                }
                // Otherwise the call_id is reused: the earlier call went unanswered.
                self.emit_call(previous, out);
            }
            let mut request = Stub::new(fragment.header.drep.is_little_endian());
            if !flags.first_frag() {
                request.missing_fragment = true;
                out.push(warning(
                    "dcerpc_missing_fragment",
                    format!(
                        "request call_id {call_id}: fragment without the first fragment \
                         (earlier fragments not captured)"
                    ),
                    at.frame,
                ));
            }
            let call = RpcCall {
                call_id,
                context_id: fragment.context_id,
                opnum,
                interface: self.contexts.get(&fragment.context_id).copied(),
                object,
                request_direction: dir,
                request_frame: at.frame,
                request_ts_ns: at.ts_ns,
                request,
                response_frame: None,
                response_ts_ns: None,
                response: None,
                fault_status: None,
                auth_type: None,
                auth_level: None,
                auth_not_captured: false,
            };
            self.insert_call(key, call, at, out);
        }
        let Some(pending) = self.calls.get_mut(&key) else {
            return;
        };
        fragment.note_auth(&mut pending.call);
        pending.call.request_frame = at.frame;
        pending.call.request_ts_ns = at.ts_ns;
        pending.request_complete = flags.last_frag();
        let cut = append_stub(
            &mut pending.call.request,
            &fragment,
            &self.limits,
            &mut self.held_stub_bytes,
        );
        if cut {
            out.push(stub_cut_warning("request", call_id, at));
        }
    }

    fn insert_call(&mut self, key: (usize, u32), call: RpcCall, at: At, out: &mut Vec<RpcEvent>) {
        if self.calls.len() >= self.limits.max_pending_calls.max(1) {
            if let Some(evicted) = self.take_oldest_pending() {
                if self.evicted_calls == 0 {
                    out.push(warning(
                        "dcerpc_pending_call_cap",
                        format!(
                            "more than {} calls pending; the oldest (call_id {}) is reported \
                             unanswered",
                            self.limits.max_pending_calls, evicted.call.call_id
                        ),
                        at.frame,
                    ));
                }
                self.evicted_calls += 1;
                self.emit_call(evicted, out);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.calls.insert(
            key,
            PendingCall {
                seq,
                call,
                request_complete: false,
                response_complete: false,
            },
        );
    }

    /// Removes the pending call that arrived first.
    fn take_oldest_pending(&mut self) -> Option<PendingCall> {
        let oldest = self
            .calls
            .iter()
            .min_by_key(|(_, pending)| pending.seq)
            .map(|(k, _)| *k)?;
        self.calls.remove(&oldest)
    }

    fn on_response(
        &mut self,
        dir: Direction,
        fragment: Fragment<'_>,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        let flags = fragment.header.flags;
        let call_id = fragment.header.call_id;
        let key = (dir.reverse().index(), call_id);
        let Some(pending) = self.calls.get_mut(&key) else {
            if flags.last_frag() {
                out.push(warning(
                    "dcerpc_response_without_request",
                    format!("response call_id {call_id}: its request was not captured"),
                    at.frame,
                ));
            }
            return;
        };
        if flags.first_frag() || pending.call.response.is_none() {
            if let Some(previous) = &pending.call.response {
                // A new first fragment: the earlier response never got its last fragment.
                self.held_stub_bytes = self.held_stub_bytes.saturating_sub(previous.bytes.len());
                out.push(warning(
                    "dcerpc_missing_fragment",
                    format!(
                        "response call_id {call_id}: a new first fragment arrived before the \
                         last fragment of the previous one"
                    ),
                    at.frame,
                ));
            }
            let mut response = Stub::new(fragment.header.drep.is_little_endian());
            // A response whose first fragment was not captured.
            response.missing_fragment = !flags.first_frag();
            pending.call.response = Some(response);
        }
        fragment.note_auth(&mut pending.call);
        let mut cut = false;
        if let Some(response) = &mut pending.call.response {
            cut = append_stub(response, &fragment, &self.limits, &mut self.held_stub_bytes);
        }
        if cut {
            out.push(stub_cut_warning("response", call_id, at));
        }
        if flags.last_frag() {
            pending.response_complete = true;
            pending.call.response_frame = Some(at.frame);
            pending.call.response_ts_ns = Some(at.ts_ns);
            if let Some(done) = self.calls.remove(&key) {
                self.emit_call(done, out);
            }
        }
    }

    fn on_fault(
        &mut self,
        dir: Direction,
        call_id: u32,
        status: u32,
        at: At,
        out: &mut Vec<RpcEvent>,
    ) {
        let key = (dir.reverse().index(), call_id);
        let Some(mut pending) = self.calls.remove(&key) else {
            let name = interfaces::fault_status_name(status).unwrap_or("unknown status");
            out.push(warning(
                "dcerpc_response_without_request",
                format!(
                    "fault {status:#010x} ({name}) for call_id {call_id}: its request was not \
                     captured"
                ),
                at.frame,
            ));
            return;
        };
        pending.call.fault_status = Some(status);
        pending.call.response_frame = Some(at.frame);
        pending.call.response_ts_ns = Some(at.ts_ns);
        self.emit_call(pending, out);
    }

    /// Releases the call's held bytes, flags unfinished stubs and emits it.
    fn emit_call(&mut self, mut pending: PendingCall, out: &mut Vec<RpcEvent>) {
        let call = &mut pending.call;
        self.held_stub_bytes = self
            .held_stub_bytes
            .saturating_sub(call.request.bytes.len());
        if !pending.request_complete {
            call.request.missing_fragment = true;
        }
        if let Some(response) = &mut call.response {
            self.held_stub_bytes = self.held_stub_bytes.saturating_sub(response.bytes.len());
            if !pending.response_complete {
                response.missing_fragment = true;
            }
        }
        out.push(RpcEvent::Call(pending.call));
    }
}

/// The parts of a request or response fragment the call assembly needs.
struct Fragment<'a> {
    header: Header,
    context_id: u16,
    stub: &'a [u8],
    auth: Option<SecTrailer>,
    /// What the capture cut from the fragment (nothing for a whole PDU).
    loss: CutLoss,
}

impl Fragment<'_> {
    fn is_sealed(&self) -> bool {
        self.auth
            .is_some_and(|a| a.auth_level == AUTH_LEVEL_PRIVACY)
    }

    /// Records what this fragment, of the request or the response, shows of the call's
    /// authentication, until a captured sec_trailer gives the level: then the level is
    /// known and no longer "not captured".
    fn note_auth(&self, call: &mut RpcCall) {
        if call.auth_level.is_some() {
            return;
        }
        match self.auth {
            Some(trailer) => {
                call.auth_type = Some(trailer.auth_type);
                call.auth_level = Some(trailer.auth_level);
                call.auth_not_captured = false;
            }
            None => call.auth_not_captured |= self.header.auth_length > 0,
        }
    }
}

fn stub_cut_warning(side: &str, call_id: u32, at: At) -> RpcEvent {
    warning(
        "dcerpc_stub_truncated",
        format!("{side} stub of call_id {call_id} exceeds the stub cap; the rest is counted only"),
        at.frame,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::encode::PduBuilder;
    use crate::dcerpc::interfaces::{ASYNC_EMSMDB_UUID, EMSMDB_UUID, NSPI_UUID};
    use crate::dcerpc::pdu::PresentationResult;
    use crate::dcerpc::test_support::TRACE_797_OPNUM4_REQUEST;
    use proptest::prelude::*;

    const CLIENT: Direction = Direction::ToResponder;
    const SERVER: Direction = Direction::ToInitiator;
    const EMSMDB: InterfaceId = InterfaceId {
        uuid: EMSMDB_UUID,
        version: (0, 81),
    };
    const NSPI: InterfaceId = InterfaceId {
        uuid: NSPI_UUID,
        version: (56, 0),
    };
    const ASYNC: InterfaceId = InterfaceId {
        uuid: ASYNC_EMSMDB_UUID,
        version: (0, 1),
    };

    fn ctx(
        context_id: u16,
        interface: InterfaceId,
        syntaxes: &[TransferSyntax],
    ) -> ProposedContext {
        ProposedContext {
            context_id,
            interface,
            transfer_syntaxes: syntaxes.to_vec(),
        }
    }

    fn result(
        result: AckResult,
        reason: u16,
        transfer_syntax: TransferSyntax,
    ) -> PresentationResult {
        PresentationResult {
            result,
            reason,
            transfer_syntax,
        }
    }

    fn accept(transfer_syntax: TransferSyntax) -> PresentationResult {
        result(AckResult::Acceptance, 0, transfer_syntax)
    }

    /// bind of `interface` on context 0 (call 1), accepted with NDR20 (sec_addr "1032").
    fn bound(interface: InterfaceId) -> Vec<(Direction, Vec<u8>)> {
        vec![
            (
                CLIENT,
                PduBuilder::bind(1, &[ctx(0, interface, &[TransferSyntax::Ndr20])]).build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(1, "1032", &[accept(TransferSyntax::Ndr20)]).build(),
            ),
        ]
    }

    /// Feeds each step as its own frame (frame = 1-based index, ts = index µs), then
    /// finishes the connection.
    fn run_with(limits: RpcLimits, steps: &[(Direction, Vec<u8>)]) -> Vec<RpcEvent> {
        let mut conn = RpcConnection::new(limits);
        let mut out = Vec::new();
        for (index, (dir, bytes)) in steps.iter().enumerate() {
            let frame = index as u64 + 1;
            conn.feed(*dir, bytes, frame, frame as i64 * 1000, &mut out);
        }
        conn.finish(&mut out);
        out
    }

    fn run(steps: &[(Direction, Vec<u8>)]) -> Vec<RpcEvent> {
        run_with(RpcLimits::default(), steps)
    }

    fn calls(events: &[RpcEvent]) -> Vec<&RpcCall> {
        events
            .iter()
            .filter_map(|e| match e {
                RpcEvent::Call(call) => Some(call),
                _ => None,
            })
            .collect()
    }

    fn warnings(events: &[RpcEvent]) -> Vec<&Warning> {
        events
            .iter()
            .filter_map(|e| match e {
                RpcEvent::Warning(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    fn codes(events: &[RpcEvent]) -> Vec<&'static str> {
        warnings(events).iter().map(|w| w.code).collect()
    }

    #[test]
    fn trace_opnum4_request_on_bound_emsmdb_context() {
        let mut steps = bound(EMSMDB);
        steps.push((CLIENT, TRACE_797_OPNUM4_REQUEST.to_vec()));
        // Response stub: handle (20) | hNotification 0 | return 0, NTLMSSP level 2, pad 4.
        let stub = [0u8; 28];
        steps.push((
            SERVER,
            PduBuilder::response(6, 0, &stub).auth(10, 2, 4, 16).build(),
        ));
        let events = run(&steps);
        assert_eq!(codes(&events), Vec::<&str>::new());
        let RpcEvent::BindAck {
            sec_addr, results, ..
        } = &events[1]
        else {
            panic!("no ack")
        };
        // sec_addr "1032\0" is 5 bytes long: one junk pad byte follows it.
        assert_eq!(sec_addr.as_deref(), Some("1032"));
        assert_eq!(results[0].context_id, Some(0));
        assert_eq!(results[0].interface, Some(EMSMDB));
        let calls = calls(&events);
        assert_eq!(calls.len(), 1);
        let call = calls[0];
        assert_eq!((call.call_id, call.context_id, call.opnum), (6, 0, 4));
        assert_eq!(call.operation_name(), Some("EcRRegisterPushNotification"));
        let interface = call.interface.unwrap();
        assert_eq!(interface.name, Some("EMSMDB"));
        assert_eq!(interface.version, (0, 81));
        assert_eq!(interface.transfer_syntax, TransferSyntax::Ndr20);
        assert_eq!(
            call.request.complete_bytes(),
            Some(&TRACE_797_OPNUM4_REQUEST[24..90])
        );
        assert_eq!((call.request.len, call.request.fragments), (66, 1));
        assert!(call.request.little_endian);
        assert_eq!((call.auth_type, call.auth_level), (Some(10), Some(2)));
        assert_eq!((call.request_frame, call.request_ts_ns), (3, 3000));
        assert_eq!(
            (call.response_frame, call.response_ts_ns),
            (Some(4), Some(4000))
        );
        assert_eq!(
            call.response.as_ref().and_then(Stub::complete_bytes),
            Some(&stub[..])
        );
        assert_eq!(call.request_direction, CLIENT);
    }

    #[test]
    fn big_endian_conversation_reads_every_field_by_drep() {
        let steps = vec![
            (
                CLIENT,
                PduBuilder::bind(
                    0x0102_0304,
                    &[ctx(0x0102, EMSMDB, &[TransferSyntax::Ndr20])],
                )
                .little_endian(false)
                .build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(0x0102_0304, "135", &[accept(TransferSyntax::Ndr20)])
                    .little_endian(false)
                    .build(),
            ),
            (
                CLIENT,
                PduBuilder::request(0x0a0b_0c0d, 0x0102, 0x000b, &[9; 12])
                    .little_endian(false)
                    .auth(10, 5, 4, 16)
                    .build(),
            ),
            (
                SERVER,
                PduBuilder::response(0x0a0b_0c0d, 0x0102, &[7; 8])
                    .little_endian(false)
                    .build(),
            ),
        ];
        let events = run(&steps);
        assert_eq!(codes(&events), Vec::<&str>::new());
        let RpcEvent::Bind {
            call_id, contexts, ..
        } = &events[0]
        else {
            panic!("no bind")
        };
        assert_eq!(*call_id, 0x0102_0304);
        assert_eq!(contexts[0].interface, EMSMDB);
        let RpcEvent::BindAck { sec_addr, .. } = &events[1] else {
            panic!("no ack")
        };
        assert_eq!(sec_addr.as_deref(), Some("135"));
        let call = calls(&events)[0];
        assert_eq!(
            (call.call_id, call.context_id, call.opnum),
            (0x0a0b_0c0d, 0x0102, 11)
        );
        assert_eq!(call.interface.map(|i| i.uuid), Some(EMSMDB_UUID));
        assert_eq!(call.request.complete_bytes(), Some(&[9u8; 12][..]));
        assert!(!call.request.little_endian);
        assert_eq!(call.auth_level, Some(5));
        assert_eq!(
            call.response.as_ref().map(|s| s.bytes.clone()),
            Some(vec![7; 8])
        );
    }

    #[test]
    fn three_fragment_request_with_headers_straddling_feeds() {
        let mut stream = Vec::new();
        for (flags, part) in [(0x01, 1u8..=10), (0x00, 11..=20), (0x02, 21..=25)] {
            let stub: Vec<u8> = part.collect();
            stream.extend(PduBuilder::request(7, 0, 11, &stub).flags(flags).build());
        }
        // Fragments are 34, 34 and 29 bytes: cut inside each of the three headers.
        let cuts = [0, 5, 44, 71, stream.len()];
        let mut steps = bound(EMSMDB);
        for pair in cuts.windows(2) {
            steps.push((CLIENT, stream[pair[0]..pair[1]].to_vec()));
        }
        steps.push((SERVER, PduBuilder::response(7, 0, &[0xaa; 4]).build()));
        let events = run(&steps);
        assert_eq!(codes(&events), Vec::<&str>::new());
        let call = calls(&events)[0];
        let expected: Vec<u8> = (1..=25).collect();
        assert_eq!(call.request.complete_bytes(), Some(&expected[..]));
        assert_eq!(call.request.fragments, 3);
        // Steps 3..=6 are the chunks: the last fragment completes in the 4th chunk (frame 6).
        assert_eq!(call.request_frame, 6);
        assert_eq!(call.response_frame, Some(7));
        assert_eq!(call.operation_name(), Some("EcDoRpcExt2"));
    }

    #[test]
    fn two_pdus_in_one_feed_and_a_late_async_answer() {
        let mut requests = PduBuilder::request(1, 0, 0, &[1; 24]).build();
        requests.extend(PduBuilder::request(2, 0, 0, &[2; 24]).build());
        let mut steps = vec![
            (
                CLIENT,
                PduBuilder::bind(9, &[ctx(0, ASYNC, &[TransferSyntax::Ndr20])]).build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(9, "", &[accept(TransferSyntax::Ndr20)]).build(),
            ),
            (CLIENT, requests),
        ];
        steps.push((SERVER, PduBuilder::response(2, 0, &[0; 8]).build()));
        steps.push((SERVER, PduBuilder::response(1, 0, &[1; 8]).build()));
        let events = run(&steps);
        let RpcEvent::BindAck { sec_addr, .. } = &events[1] else {
            panic!("no ack")
        };
        assert_eq!(*sec_addr, None);
        let calls = calls(&events);
        assert_eq!(
            calls.iter().map(|c| c.call_id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert!(calls.iter().all(|c| c.request_frame == 3));
        assert_eq!(calls[1].operation_name(), Some("EcDoAsyncWaitEx"));
        assert_eq!(calls[1].response_frame, Some(5));
        assert!(calls.iter().all(|c| c.answered()));
    }

    #[test]
    fn alter_context_adds_emsmdb_without_rebinding_the_nspi_context() {
        let mut steps = bound(NSPI);
        steps.push((
            CLIENT,
            PduBuilder::alter_context(2, &[ctx(1, EMSMDB, &[TransferSyntax::Ndr20])]).build(),
        ));
        steps.push((
            SERVER,
            PduBuilder::alter_context_resp(2, &[accept(TransferSyntax::Ndr20)]).build(),
        ));
        steps.push((CLIENT, PduBuilder::request(3, 0, 4, &[0; 8]).build()));
        steps.push((SERVER, PduBuilder::response(3, 0, &[0; 8]).build()));
        steps.push((CLIENT, PduBuilder::request(4, 1, 4, &[0; 8]).build()));
        steps.push((SERVER, PduBuilder::response(4, 1, &[0; 8]).build()));
        let events = run(&steps);
        let RpcEvent::BindAck { kind, results, .. } = &events[3] else {
            panic!("no resp")
        };
        assert_eq!(*kind, BindKind::AlterContext);
        assert_eq!(results[0].context_id, Some(1));
        let calls = calls(&events);
        assert_eq!(calls[0].interface.and_then(|i| i.name), Some("NSPI"));
        assert_eq!(calls[0].operation_name(), Some("NspiSeekEntries"));
        assert_eq!(calls[1].interface.and_then(|i| i.name), Some("EMSMDB"));
        assert_eq!(
            calls[1].operation_name(),
            Some("EcRRegisterPushNotification")
        );
    }

    #[test]
    fn bind_nak_leaves_the_context_unbound() {
        let steps = vec![
            (
                CLIENT,
                PduBuilder::bind(1, &[ctx(0, EMSMDB, &[TransferSyntax::Ndr20])]).build(),
            ),
            (SERVER, PduBuilder::bind_nak(1, 4).build()),
            (CLIENT, PduBuilder::request(2, 0, 4, &[0; 8]).build()),
        ];
        let events = run(&steps);
        assert_eq!(
            events[1],
            RpcEvent::BindNak {
                direction: SERVER,
                frame: 2,
                ts_ns: 2000,
                call_id: 1,
                reason: 4
            }
        );
        let call = calls(&events)[0];
        assert_eq!(call.interface, None);
        assert!(!call.answered());
        // The bind was answered (by the nak): no unanswered-bind warning at finish.
        assert_eq!(codes(&events), Vec::<&str>::new());
    }

    #[test]
    fn fault_answers_the_call_with_its_status() {
        let mut steps = bound(EMSMDB);
        steps.push((CLIENT, PduBuilder::request(5, 0, 5, &[0; 28]).build()));
        steps.push((SERVER, PduBuilder::fault(5, 0, 0x1c01_0002).build()));
        let events = run(&steps);
        let call = calls(&events)[0];
        assert_eq!(call.fault_status, Some(0x1c01_0002));
        assert_eq!(call.response, None);
        assert_eq!(call.response_frame, Some(4));
        assert_eq!(
            interfaces::fault_status_name(call.fault_status.unwrap()),
            Some("nca_s_op_rng_error")
        );
    }

    /// A capture that starts inside a connection (its first PDU, sent by the side that is
    /// the TCP "initiator" for want of a SYN, is a response) and ends with a request never
    /// answered: every event still names the side that sent the requests as the client,
    /// including the unanswered call emitted when the connection ends.
    #[test]
    fn roles_come_from_each_event_however_the_capture_begins_and_ends() {
        let events = run(&[
            (SERVER, PduBuilder::response(5, 0, &[0; 24]).build()),
            (CLIENT, PduBuilder::request(6, 0, 11, &[1; 40]).build()),
            (SERVER, PduBuilder::response(6, 0, &[2; 24]).build()),
            (CLIENT, PduBuilder::request(7, 0, 11, &[3; 40]).build()),
        ]);
        let found = calls(&events);
        assert_eq!(found.len(), 2);
        assert!(!found[1].answered(), "the last call is emitted by finish");
        for event in events.iter().filter(|e| !matches!(e, RpcEvent::Warning(_))) {
            assert_eq!(event.client_direction(), Some(CLIENT), "{event:?}");
        }
        assert_eq!(codes(&events), ["dcerpc_response_without_request"]);
        // A bind's answer names the side it was sent to as the client.
        let events = run(&bound(EMSMDB));
        let directions: Vec<_> = events.iter().map(RpcEvent::client_direction).collect();
        assert_eq!(directions, [Some(CLIENT), Some(CLIENT)]);
    }

    /// Request 2 of [`calls_around_a_gap`]: 24 header bytes and a 60-byte stub 0, 1, … 59.
    fn request_two() -> Vec<u8> {
        PduBuilder::request(2, 0, 11, &(0..60).collect::<Vec<u8>>()).build()
    }

    /// Binds EMSMDB, then sends request 1 whole, the first `before` bytes of
    /// [`request_two`], then for each of `gaps` a gap of that many bytes and the bytes that
    /// survived after it, then request 3, and answers calls 1 to 3.
    fn calls_around_a_gap(before: usize, gaps: &[(u64, &[u8])]) -> Vec<RpcEvent> {
        let lost = request_two();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        for (frame, (dir, bytes)) in bound(EMSMDB).into_iter().enumerate() {
            conn.feed(dir, &bytes, frame as u64 + 1, 0, &mut out);
        }
        let first = PduBuilder::request(1, 0, 11, &[1; 8]).build();
        conn.feed(CLIENT, &first, 3, 0, &mut out);
        conn.feed(CLIENT, &lost[..before], 4, 0, &mut out);
        for (i, (missing, after)) in gaps.iter().enumerate() {
            let frame = 5 + 2 * i as u64;
            conn.gap(CLIENT, *missing, frame, &mut out);
            conn.feed(CLIENT, after, frame + 1, 0, &mut out);
        }
        let next = PduBuilder::request(3, 0, 11, &[0xee; 8]).build();
        conn.feed(CLIENT, &next, 20, 0, &mut out);
        for call_id in 1..=3 {
            let response = PduBuilder::response(call_id, 0, &[0; 8]).build();
            conn.feed(SERVER, &response, 21, 0, &mut out);
        }
        conn.finish(&mut out);
        out
    }

    #[test]
    fn a_gap_inside_a_pdu_keeps_its_start_and_skips_its_end() {
        // Request 2: 24 header bytes and 16 stub bytes captured, 30 lost, 14 captured.
        let lost = request_two();
        let out = calls_around_a_gap(40, &[(30, &lost[70..])]);
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut", "dcerpc_gap"]);
        let w = warnings(&out);
        assert!(
            w[1].message.contains("30 bytes missing")
                && w[1].message.contains("its last 14 bytes skipped"),
            "{}",
            w[1].message
        );
        let calls = calls(&out);
        let ids: Vec<u32> = calls.iter().map(|c| c.call_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(calls.iter().all(|c| c.answered()));
        let cut = &calls[1].request;
        assert_eq!(cut.bytes, (0..16).collect::<Vec<u8>>());
        assert!(cut.cut_by_capture);
        assert_eq!(cut.complete_bytes(), None);
    }

    #[test]
    fn gaps_within_the_skipped_end_keep_the_stream_in_sync() {
        let lost = request_two();
        // 40 captured, 10 lost, 10 captured, 10 lost, the last 14 captured.
        let out = calls_around_a_gap(40, &[(10, &lost[50..60]), (10, &lost[70..])]);
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut", "dcerpc_gap"]);
        let ids: Vec<u32> = calls(&out).iter().map(|c| c.call_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn a_gap_running_past_the_end_of_a_holed_pdu_resyncs() {
        let lost = request_two();
        // 40 captured, 10 lost, 10 captured, then 34 lost: the last 24 bytes of request 2
        // and 10 more (of a PDU that never shows).
        let out = calls_around_a_gap(40, &[(10, &lost[50..60]), (34, &[])]);
        assert_eq!(
            codes(&out),
            vec!["dcerpc_pdu_cut", "dcerpc_gap", "dcerpc_gap"]
        );
        let w = warnings(&out);
        assert!(
            w[2].message.contains("10 of them beyond"),
            "{}",
            w[2].message
        );
        // The direction searched and found request 3.
        let ids: Vec<u32> = calls(&out).iter().map(|c| c.call_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn a_gap_before_a_whole_header_drops_the_partial_pdu_and_resyncs() {
        let lost = request_two();
        // Only 10 bytes of request 2's header, 40 lost, then its last 34 bytes.
        let out = calls_around_a_gap(10, &[(40, &lost[50..])]);
        assert_eq!(
            codes(&out),
            vec![
                "dcerpc_gap",
                "dcerpc_resync",
                "dcerpc_response_without_request"
            ]
        );
        let w = warnings(&out);
        assert!(
            w[0].message.contains("40 bytes missing") && w[0].message.contains("10 buffered bytes"),
            "{}",
            w[0].message
        );
        assert!(w[1].message.contains("34 bytes"), "{}", w[1].message);
        let ids: Vec<u32> = calls(&out).iter().map(|c| c.call_id).collect();
        assert_eq!(ids, vec![1, 3]);
    }

    /// Feeds the first `captured` bytes of `pdu` in `frame` (time `frame` µs) and reports the
    /// rest as a gap plus `extra_lost` bytes beyond it, as the TCP stage does for a segment
    /// cut by the snap length.
    fn feed_cut(
        conn: &mut RpcConnection,
        dir: Direction,
        pdu: &[u8],
        captured: usize,
        extra_lost: u64,
        frame: u64,
        out: &mut Vec<RpcEvent>,
    ) {
        conn.feed(dir, &pdu[..captured], frame, frame as i64 * 1000, out);
        conn.gap(dir, (pdu.len() - captured) as u64 + extra_lost, frame, out);
    }

    /// Feeds whole PDUs, one frame each from `first_frame` on.
    fn feed_all(
        conn: &mut RpcConnection,
        first_frame: u64,
        steps: &[(Direction, Vec<u8>)],
        out: &mut Vec<RpcEvent>,
    ) {
        for (index, (dir, bytes)) in steps.iter().enumerate() {
            let frame = first_frame + index as u64;
            conn.feed(*dir, bytes, frame, frame as i64 * 1000, out);
        }
    }

    #[test]
    fn bind_cut_after_its_first_element_still_binds_that_interface() {
        // Element 0 (EMSMDB, NDR20) 28..72, element 1 (NSPI) 72..116: a snap length keeps
        // 80 bytes, 8 into element 1's abstract syntax.
        let bind = PduBuilder::bind(
            1,
            &[
                ctx(0, EMSMDB, &[TransferSyntax::Ndr20]),
                ctx(1, NSPI, &[TransferSyntax::Ndr20]),
            ],
        )
        .build();
        assert_eq!(bind.len(), 116);
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_cut(&mut conn, CLIENT, &bind, 80, 0, 1, &mut out);
        let ack = PduBuilder::bind_ack(
            1,
            "1032",
            &[accept(TransferSyntax::Ndr20), accept(TransferSyntax::Ndr20)],
        );
        let steps = [
            (SERVER, ack.build()),
            (CLIENT, PduBuilder::request(2, 0, 4, &[0; 8]).build()),
            (SERVER, PduBuilder::response(2, 0, &[0; 8]).build()),
        ];
        feed_all(&mut conn, 2, &steps, &mut out);
        conn.finish(&mut out);
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut"]);
        let message = &warnings(&out)[0].message;
        assert!(
            message.contains("after 80 of its 116 bytes")
                && message.contains("1 of 2 context elements kept")
                && message.contains("1 not captured up to their abstract syntax, dropped"),
            "{message}"
        );
        let RpcEvent::Bind {
            frame,
            ts_ns,
            contexts,
            ..
        } = &out[1]
        else {
            panic!("no bind: {out:?}")
        };
        assert_eq!((*frame, *ts_ns), (1, 1000));
        assert_eq!(contexts, &vec![ctx(0, EMSMDB, &[TransferSyntax::Ndr20])]);
        // The second result answers an element that was not captured: it binds nothing.
        let RpcEvent::BindAck { results, .. } = &out[2] else {
            panic!("no ack")
        };
        assert_eq!(results[0].interface, Some(EMSMDB));
        assert_eq!((results[1].context_id, results[1].interface), (None, None));
        assert_eq!(conn.bound_interface(1), None);
        let call = calls(&out)[0];
        assert_eq!(call.operation_name(), Some("EcRRegisterPushNotification"));
        assert_eq!(call.request.complete_bytes(), Some(&[0u8; 8][..]));
    }

    #[test]
    fn bind_cut_inside_its_transfer_syntax_binds_with_the_accepted_syntax() {
        // The snap length case of the samples: a 72-byte bind with 66 bytes captured, its
        // only element cut 14 bytes into the transfer syntax.
        let bind = PduBuilder::bind(1, &[ctx(0, EMSMDB, &[TransferSyntax::Ndr20])]).build();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_cut(&mut conn, CLIENT, &bind, 66, 0, 1, &mut out);
        let ack = PduBuilder::bind_ack(1, "1032", &[accept(TransferSyntax::Ndr20)]).build();
        conn.feed(SERVER, &ack, 2, 2000, &mut out);
        let RpcEvent::Bind { contexts, .. } = &out[1] else {
            panic!("no bind")
        };
        assert_eq!(contexts, &vec![ctx(0, EMSMDB, &[])]);
        assert!(warnings(&out)[0]
            .message
            .contains("the last without all its transfer syntaxes"));
        let bound = conn.bound_interface(0).unwrap();
        assert_eq!(
            (bound.name, bound.transfer_syntax),
            (Some("EMSMDB"), TransferSyntax::Ndr20)
        );
    }

    #[test]
    fn request_cut_mid_stub_stays_in_sync_for_the_next_pdu() {
        let stub: Vec<u8> = (0..100).collect();
        let cut = PduBuilder::request(2, 0, 4, &stub).build(); // 124 bytes
        let next_stub = [0x5a; 16];
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
        feed_cut(&mut conn, CLIENT, &cut, 66, 0, 3, &mut out);
        let steps = [
            (CLIENT, PduBuilder::request(3, 0, 11, &next_stub).build()),
            (SERVER, PduBuilder::response(2, 0, &[0; 8]).build()),
            (SERVER, PduBuilder::response(3, 0, &[1; 8]).build()),
        ];
        feed_all(&mut conn, 4, &steps, &mut out);
        conn.finish(&mut out);
        // No gap, no resync: the byte after the gap started the next PDU.
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut"]);
        assert_eq!(warnings(&out)[0].frame, Some(3));
        let calls = calls(&out);
        assert_eq!(calls.len(), 2);
        let cut_call = calls[0];
        assert_eq!(
            (cut_call.call_id, cut_call.opnum, cut_call.request_frame),
            (2, 4, 3)
        );
        assert_eq!(cut_call.interface.and_then(|i| i.name), Some("EMSMDB"));
        let request = &cut_call.request;
        assert!(request.cut_by_capture && !request.missing_fragment);
        assert_eq!(request.complete_bytes(), None);
        assert_eq!(request.bytes, &stub[..42]);
        // No auth trailer: the whole stub length follows from frag_length.
        assert_eq!((request.len, request.fragments), (100, 1));
        assert_eq!(cut_call.response_frame, Some(5));
        let next = calls[1];
        assert_eq!(next.call_id, 3);
        assert_eq!(next.request.complete_bytes(), Some(&next_stub[..]));
        assert_eq!(
            next.response.as_ref().and_then(Stub::complete_bytes),
            Some(&[1u8; 8][..])
        );
    }

    #[test]
    fn response_with_auth_cut_keeps_bytes_before_the_trailer_position() {
        // Response stub 28 bytes, pad 4, sec_trailer at 56, auth_value 64..80.
        let stub: Vec<u8> = (100..128).collect();
        let response = PduBuilder::response(6, 0, &stub).auth(10, 2, 4, 16).build();
        assert_eq!(response.len(), 80);
        let run_cut = |captured: usize| {
            let mut conn = RpcConnection::new(RpcLimits::default());
            let mut out = Vec::new();
            feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
            let request = PduBuilder::request(6, 0, 4, &[0; 8])
                .auth(10, 2, 0, 16)
                .build();
            conn.feed(CLIENT, &request, 3, 3000, &mut out);
            feed_cut(&mut conn, SERVER, &response, captured, 0, 4, &mut out);
            conn.finish(&mut out);
            assert_eq!(codes(&out), vec!["dcerpc_pdu_cut"], "cut at {captured}");
            let call = calls(&out)[0].clone();
            assert_eq!(call.response_frame, Some(4));
            (call.response.unwrap(), warnings(&out)[0].message.clone())
        };
        // Cut in the stub: the captured part, counted as such (the pad length was lost).
        let (cut, _) = run_cut(40);
        assert_eq!(cut.bytes, &stub[..16]);
        assert_eq!(
            (cut.len, cut.cut_by_capture, cut.encrypted),
            (16, true, false)
        );
        assert_eq!(cut.complete_bytes(), None);
        // Cut in the sec_trailer: the bytes stop at its position, padding included.
        let (cut, _) = run_cut(60);
        assert_eq!(cut.bytes.len(), 32);
        assert_eq!(&cut.bytes[..28], &stub[..]);
        assert!(cut.cut_by_capture);
        // Only the auth_value lost: the stub is whole and trusted.
        let (whole, message) = run_cut(70);
        assert_eq!(whole.complete_bytes(), Some(&stub[..]));
        assert!(
            message.contains("only the auth verifier was lost"),
            "{message}"
        );
    }

    #[test]
    fn sealed_pdu_cut_after_its_trailer_stays_sealed() {
        // Level 6, stub 24, pad 0: sec_trailer at 48..56, auth_value 56..72.
        let sealed = PduBuilder::request(5, 0, 0, &[0x55; 24])
            .auth(10, 6, 0, 16)
            .build();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_cut(&mut conn, CLIENT, &sealed, 60, 0, 1, &mut out);
        conn.finish(&mut out);
        let call = calls(&out)[0];
        assert_eq!(call.auth_level, Some(6));
        assert!(call.request.encrypted && call.request.bytes.is_empty());
        assert_eq!(call.request.len, 24);
    }

    #[test]
    fn a_request_cut_before_its_trailer_has_an_unknown_not_an_absent_auth_level() {
        // Level 5 (integrity), stub 24, pad 0: sec_trailer at 48..56, auth_value 56..72.
        let signed = PduBuilder::request(5, 0, 0, &[0x55; 24])
            .auth(10, 5, 0, 16)
            .build();
        let run = |response: Option<Vec<u8>>| {
            let mut conn = RpcConnection::new(RpcLimits::default());
            let mut out = Vec::new();
            feed_cut(&mut conn, CLIENT, &signed, 40, 0, 1, &mut out);
            if let Some(response) = response {
                conn.feed(SERVER, &response, 2, 2000, &mut out);
            }
            conn.finish(&mut out);
            calls(&out)[0].clone()
        };
        let call = run(None);
        assert_eq!((call.auth_type, call.auth_level), (None, None));
        assert!(call.auth_not_captured);
        // The response's trailer, captured whole, tells the level.
        let response = PduBuilder::response(5, 0, &[0; 8])
            .auth(10, 5, 0, 16)
            .build();
        let call = run(Some(response));
        assert_eq!(call.auth_level, Some(5));
        assert!(!call.auth_not_captured);
        // So does a later request fragment of the call whose trailer was captured.
        let first = PduBuilder::request(7, 0, 0, &[0x55; 24])
            .auth(10, 5, 0, 16)
            .flags(0x01)
            .build();
        let last = PduBuilder::request(7, 0, 0, &[0x66; 8])
            .auth(10, 5, 0, 16)
            .flags(0x02)
            .build();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_cut(&mut conn, CLIENT, &first, 40, 0, 1, &mut out);
        conn.feed(CLIENT, &last, 2, 2000, &mut out);
        conn.finish(&mut out);
        let call = calls(&out)[0];
        assert_eq!((call.auth_level, call.auth_not_captured), (Some(5), false));
        // A PDU without an auth trailer is not "not captured".
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        let plain = PduBuilder::request(6, 0, 0, &[0x55; 24]).build();
        feed_cut(&mut conn, CLIENT, &plain, 40, 0, 1, &mut out);
        conn.finish(&mut out);
        assert!(!calls(&out)[0].auth_not_captured);
    }

    #[test]
    fn gap_beyond_the_cut_pdu_decodes_it_then_resyncs() {
        let cut = PduBuilder::request(2, 0, 11, &[0xee; 60]).build(); // 84 bytes
        let lost_start = PduBuilder::request(3, 0, 11, &[0xdd; 20]).build(); // 44 bytes
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
        // The gap takes the last 18 bytes of call 2 and the first 10 bytes of call 3.
        feed_cut(&mut conn, CLIENT, &cut, 66, 10, 3, &mut out);
        let mut after = lost_start[10..].to_vec();
        after.extend(PduBuilder::request(4, 0, 11, &[1; 8]).build());
        conn.feed(CLIENT, &after, 4, 4000, &mut out);
        for call_id in 2..=4 {
            let response = PduBuilder::response(call_id, 0, &[0; 8]).build();
            conn.feed(SERVER, &response, 5, 5000, &mut out);
        }
        conn.finish(&mut out);
        assert_eq!(
            codes(&out),
            vec![
                "dcerpc_pdu_cut",
                "dcerpc_gap",
                "dcerpc_resync",
                "dcerpc_response_without_request"
            ]
        );
        let gap = &warnings(&out)[1].message;
        assert!(
            gap.contains("28 bytes missing") && gap.contains("10 of them lie beyond"),
            "{gap}"
        );
        assert!(warnings(&out)[2].message.contains("34 bytes"));
        let ids: Vec<(u32, bool)> = calls(&out)
            .iter()
            .map(|c| (c.call_id, c.request.cut_by_capture))
            .collect();
        assert_eq!(ids, vec![(2, true), (4, false)]);
        assert_eq!(calls(&out)[0].request.bytes, vec![0xee; 42]);
    }

    #[test]
    fn cut_pdu_with_an_incomplete_header_is_dropped() {
        let cut = PduBuilder::request(2, 0, 11, &[0xee; 60]).build();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
        feed_cut(&mut conn, CLIENT, &cut, 12, 0, 3, &mut out);
        let steps = [
            (CLIENT, PduBuilder::request(3, 0, 11, &[1; 8]).build()),
            (SERVER, PduBuilder::response(3, 0, &[0; 8]).build()),
        ];
        feed_all(&mut conn, 4, &steps, &mut out);
        conn.finish(&mut out);
        // Searching from the byte after the gap finds the next header at once: no resync.
        assert_eq!(codes(&out), vec!["dcerpc_gap"]);
        assert!(warnings(&out)[0].message.contains("12 buffered bytes"));
        assert_eq!(
            calls(&out).iter().map(|c| c.call_id).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn cut_body_without_its_fixed_fields_keeps_sync_but_nothing_else() {
        // 20 bytes of a request: the header, half of alloc_hint/p_cont_id/opnum.
        let cut = PduBuilder::request(2, 0, 11, &[0xee; 60]).build();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_cut(&mut conn, CLIENT, &cut, 20, 0, 1, &mut out);
        conn.feed(
            CLIENT,
            &PduBuilder::request(3, 0, 11, &[1; 8]).build(),
            2,
            2000,
            &mut out,
        );
        conn.finish(&mut out);
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut"]);
        let message = &warnings(&out)[0].message;
        assert!(
            message.contains("Request call_id 2") && message.contains("nothing usable"),
            "{message}"
        );
        assert_eq!(
            calls(&out).iter().map(|c| c.call_id).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn cut_fragments_keep_the_call_going_and_a_cut_last_fragment_completes_it() {
        let frags: Vec<Vec<u8>> = [(0x01, [1u8; 40]), (0x00, [2; 40]), (0x02, [3; 40])]
            .iter()
            .map(|(flags, stub)| PduBuilder::request(7, 0, 11, stub).flags(*flags).build())
            .collect();
        let responses: Vec<Vec<u8>> = [(0x01, [4u8; 40]), (0x02, [5; 40])]
            .iter()
            .map(|(flags, stub)| PduBuilder::response(7, 0, stub).flags(*flags).build())
            .collect();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
        // Every fragment is 64 bytes; each is cut to 34 (10 stub bytes) but the middle one.
        feed_cut(&mut conn, CLIENT, &frags[0], 34, 0, 3, &mut out);
        conn.feed(CLIENT, &frags[1], 4, 4000, &mut out);
        feed_cut(&mut conn, CLIENT, &frags[2], 34, 0, 5, &mut out);
        feed_cut(&mut conn, SERVER, &responses[0], 34, 0, 6, &mut out);
        feed_cut(&mut conn, SERVER, &responses[1], 34, 0, 7, &mut out);
        // Emitted when the cut last response fragment completed, before finish.
        let call = calls(&out)[0].clone();
        conn.finish(&mut out);
        assert_eq!(codes(&out), vec!["dcerpc_pdu_cut"; 4]);
        assert_eq!((call.request_frame, call.response_frame), (5, Some(7)));
        let request = &call.request;
        assert_eq!(request.bytes, [&[1u8; 10][..], &[2; 40], &[3; 10]].concat());
        assert_eq!((request.len, request.fragments), (120, 3));
        assert!(request.cut_by_capture && !request.missing_fragment);
        assert_eq!(request.complete_bytes(), None);
        let response = call.response.as_ref().unwrap();
        assert_eq!(response.bytes, [[4u8; 10], [5; 10]].concat());
        assert_eq!((response.len, response.fragments), (80, 2));
        assert!(response.cut_by_capture && !response.missing_fragment);
    }

    #[test]
    fn cut_fault_answers_its_call() {
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        feed_all(&mut conn, 1, &bound(EMSMDB), &mut out);
        conn.feed(
            CLIENT,
            &PduBuilder::request(5, 0, 4, &[0; 8]).build(),
            3,
            3000,
            &mut out,
        );
        // 28 of the fault's 32 bytes: the status is there.
        let fault = PduBuilder::fault(5, 0, 0x1c01_0002).build();
        feed_cut(&mut conn, SERVER, &fault, 28, 0, 4, &mut out);
        let call = calls(&out)[0];
        assert_eq!(
            (call.fault_status, call.response_frame),
            (Some(0x1c01_0002), Some(4))
        );
        assert!(warnings(&out)[0].message.contains("status 0x1c010002 kept"));
    }

    #[test]
    fn middle_fragment_lost_in_a_gap_is_reported_not_guessed() {
        let frags: Vec<Vec<u8>> = [(0x01, [1u8; 8]), (0x00, [2; 8]), (0x02, [3; 8])]
            .iter()
            .map(|(flags, stub)| PduBuilder::request(7, 0, 11, stub).flags(*flags).build())
            .collect();
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        conn.feed(CLIENT, &frags[0], 1, 0, &mut out);
        conn.gap(CLIENT, frags[1].len() as u64, 2, &mut out);
        conn.feed(CLIENT, &frags[2], 3, 0, &mut out);
        conn.feed(
            SERVER,
            &PduBuilder::response(7, 0, &[0; 4]).build(),
            4,
            0,
            &mut out,
        );
        assert_eq!(codes(&out), vec!["dcerpc_gap"]);
        let call = calls(&out)[0];
        assert!(call.request.missing_fragment);
        assert_eq!(call.request.complete_bytes(), None);
        assert_eq!(call.request.bytes, [[1u8; 8], [3; 8]].concat());
        assert_eq!(call.request.fragments, 2);
        assert_eq!(call.request_frame, 3);
    }

    #[test]
    fn new_first_fragment_mid_assembly_reports_the_broken_call() {
        let steps = vec![
            (
                CLIENT,
                PduBuilder::request(5, 0, 11, &[1; 8]).flags(0x01).build(),
            ),
            (CLIENT, PduBuilder::request(5, 0, 11, &[2; 8]).build()),
            (SERVER, PduBuilder::response(5, 0, &[0; 4]).build()),
        ];
        let events = run(&steps);
        assert_eq!(codes(&events), vec!["dcerpc_missing_fragment"]);
        let calls = calls(&events);
        assert_eq!(calls.len(), 2);
        assert!(calls[0].request.missing_fragment && !calls[0].answered());
        assert_eq!(calls[0].request.bytes, vec![1; 8]);
        assert_eq!(calls[1].request.complete_bytes(), Some(&[2u8; 8][..]));
        assert!(calls[1].answered());
    }

    #[test]
    fn restarted_response_keeps_the_new_one_and_warns() {
        let steps = vec![
            (CLIENT, PduBuilder::request(5, 0, 11, &[1; 8]).build()),
            (
                SERVER,
                PduBuilder::response(5, 0, &[2; 8]).flags(0x01).build(),
            ),
            (SERVER, PduBuilder::response(5, 0, &[3; 8]).build()),
            // A bind from the server side: roles conflict.
            (SERVER, PduBuilder::bind(9, &[]).build()),
        ];
        let events = run(&steps);
        assert_eq!(
            codes(&events),
            vec![
                "dcerpc_missing_fragment",
                "dcerpc_client_direction_conflict",
                "dcerpc_bind_unanswered"
            ]
        );
        let call = calls(&events)[0];
        assert_eq!(
            call.response.as_ref().and_then(Stub::complete_bytes),
            Some(&[3u8; 8][..])
        );
    }

    #[test]
    fn fragment_without_first_is_a_call_with_a_missing_fragment() {
        let steps = vec![(
            CLIENT,
            PduBuilder::request(8, 0, 2, &[4; 8]).flags(0x02).build(),
        )];
        let events = run(&steps);
        assert_eq!(codes(&events), vec!["dcerpc_missing_fragment"]);
        assert!(calls(&events)[0].request.missing_fragment);
    }

    #[test]
    fn stream_starting_mid_pdu_begins_at_the_first_plausible_header() {
        let cut_off = PduBuilder::request(1, 0, 11, &[0x33; 40]).build(); // 64 bytes
        let mut first = cut_off[30..].to_vec();
        first.extend(PduBuilder::request(9, 0, 11, &[1; 8]).build());
        let steps = vec![
            (CLIENT, first),
            (SERVER, PduBuilder::response(9, 0, &[0; 8]).build()),
        ];
        let events = run(&steps);
        assert_eq!(codes(&events), vec!["dcerpc_stream_starts_mid_pdu"]);
        let w = warnings(&events)[0];
        assert!(w.message.contains("skipped 34 bytes"), "{}", w.message);
        assert_eq!(calls(&events)[0].call_id, 9);
        assert!(calls(&events)[0].answered());
    }

    #[test]
    fn packet_privacy_hides_the_stub_but_keeps_its_length() {
        let mut steps = bound(EMSMDB);
        // Level 6: the 66-byte "stub" and its 14 pad bytes are ciphertext.
        steps.push((
            CLIENT,
            PduBuilder::request(6, 0, 4, &[0x5a; 66])
                .auth(10, 6, 14, 16)
                .build(),
        ));
        steps.push((
            SERVER,
            PduBuilder::response(6, 0, &[0x5b; 28])
                .auth(10, 6, 4, 16)
                .build(),
        ));
        let events = run(&steps);
        let call = calls(&events)[0];
        assert_eq!((call.call_id, call.opnum), (6, 4));
        assert_eq!(call.auth_level, Some(6));
        assert!(call.request.encrypted);
        assert!(call.request.bytes.is_empty());
        assert_eq!(call.request.len, 66);
        assert_eq!(call.request.complete_bytes(), None);
        let response = call.response.as_ref().unwrap();
        assert!(response.encrypted && response.bytes.is_empty());
        assert_eq!(response.len, 28);
    }

    #[test]
    fn object_uuid_request_reports_the_object() {
        let object = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        let mut steps = bound(EMSMDB);
        steps.push((
            CLIENT,
            PduBuilder::request_with_object(3, 0, 6, object, &[0; 4]).build(),
        ));
        let events = run(&steps);
        let call = calls(&events)[0];
        assert_eq!(call.object, Some(object));
        assert_eq!(call.request.complete_bytes(), Some(&[0u8; 4][..]));
    }

    #[test]
    fn btfn_element_is_answered_but_never_bound() {
        let btfn = TransferSyntax::BindTimeFeatures { bitmask: 0x03 };
        let nil = TransferSyntax::Other {
            uuid: Uuid::nil(),
            version: 0,
        };
        let steps = vec![
            (
                CLIENT,
                PduBuilder::bind(
                    1,
                    &[
                        ctx(0, EMSMDB, &[TransferSyntax::Ndr20]),
                        ctx(1, EMSMDB, &[btfn]),
                    ],
                )
                .build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(
                    1,
                    "1032",
                    &[
                        accept(TransferSyntax::Ndr20),
                        result(AckResult::NegotiateAck, 3, nil),
                    ],
                )
                .build(),
            ),
            (CLIENT, PduBuilder::request(2, 1, 4, &[0; 4]).build()),
        ];
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        for (dir, bytes) in &steps {
            conn.feed(*dir, bytes, 1, 0, &mut out);
        }
        assert!(conn.bound_interface(0).is_some());
        assert_eq!(conn.bound_interface(1), None);
        let RpcEvent::Bind { contexts, .. } = &out[0] else {
            panic!("no bind")
        };
        assert!(contexts[1].is_bind_time_feature_negotiation());
        let RpcEvent::BindAck { results, .. } = &out[1] else {
            panic!("no ack")
        };
        assert_eq!(
            (results[1].result, results[1].reason),
            (AckResult::NegotiateAck, 3)
        );
        conn.finish(&mut out);
        assert_eq!(calls(&out)[0].interface, None);
    }

    #[test]
    fn ndr64_acceptance_is_recorded_on_the_context() {
        let steps = vec![
            (
                CLIENT,
                PduBuilder::bind(
                    1,
                    &[ctx(
                        0,
                        EMSMDB,
                        &[TransferSyntax::Ndr20, TransferSyntax::Ndr64],
                    )],
                )
                .build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(1, "1032", &[accept(TransferSyntax::Ndr64)]).build(),
            ),
            (CLIENT, PduBuilder::request(2, 0, 4, &[0; 8]).build()),
        ];
        let events = run(&steps);
        let interface = calls(&events)[0].interface.unwrap();
        assert_eq!(interface.transfer_syntax, TransferSyntax::Ndr64);
    }

    #[test]
    fn pending_call_cap_emits_the_oldest_unanswered() {
        let limits = RpcLimits {
            max_pending_calls: 4,
            ..RpcLimits::default()
        };
        let mut steps: Vec<_> = (1..=6)
            .map(|id| (CLIENT, PduBuilder::request(id, 0, 2, &[0; 4]).build()))
            .collect();
        steps.push((SERVER, PduBuilder::response(1, 0, &[0; 4]).build()));
        steps.push((SERVER, PduBuilder::response(6, 0, &[0; 4]).build()));
        let events = run_with(limits, &steps);
        let order: Vec<(u32, bool)> = calls(&events)
            .iter()
            .map(|c| (c.call_id, c.answered()))
            .collect();
        // 1 and 2 evicted while feeding; 6 answered; 3, 4, 5 emitted at finish.
        assert_eq!(
            order,
            vec![
                (1, false),
                (2, false),
                (6, true),
                (3, false),
                (4, false),
                (5, false)
            ]
        );
        assert_eq!(
            codes(&events),
            vec![
                "dcerpc_pending_call_cap",
                "dcerpc_response_without_request",
                "dcerpc_pending_call_cap"
            ]
        );
        assert!(warnings(&events)[2].message.starts_with("2 calls"));
    }

    #[test]
    fn budget_hooks_report_and_release_what_the_connection_holds() {
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        // Two unanswered requests (4-byte stubs), then the first 30 bytes of a third one.
        for id in 1..=2 {
            let request = PduBuilder::request(id, 0, 2, &[id as u8; 4]).build();
            conn.feed(CLIENT, &request, u64::from(id), 0, &mut out);
        }
        let third = PduBuilder::request(3, 0, 2, &[3; 40]).build();
        conn.feed(CLIENT, &third[..30], 3, 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(conn.pending_calls(), 2);
        assert_eq!(conn.held_bytes(), 4 + 4 + 30);

        assert!(conn.emit_oldest_pending(&mut out));
        assert_eq!(calls(&out).len(), 1);
        assert_eq!(
            (calls(&out)[0].call_id, calls(&out)[0].answered()),
            (1, false)
        );
        assert_eq!((conn.pending_calls(), conn.held_bytes()), (1, 4 + 30));

        assert_eq!(conn.drop_partial_pdus(4, &mut out), 30);
        assert_eq!(codes(&out), vec!["dcerpc_partial_pdu_dropped"]);
        assert_eq!(warnings(&out)[0].frame, Some(4));
        assert_eq!(conn.held_bytes(), 4);
        assert_eq!(
            conn.drop_partial_pdus(5, &mut out),
            0,
            "nothing left to drop"
        );

        // The rest of the dropped PDU is skipped; the next whole request is framed again.
        out.clear();
        conn.feed(CLIENT, &third[30..], 6, 0, &mut out);
        conn.feed(
            CLIENT,
            &PduBuilder::request(4, 0, 2, &[4; 4]).build(),
            7,
            0,
            &mut out,
        );
        assert_eq!(codes(&out), vec!["dcerpc_resync"]);
        assert_eq!(conn.pending_calls(), 2);

        assert!(conn.emit_oldest_pending(&mut out));
        assert!(conn.emit_oldest_pending(&mut out));
        assert!(!conn.emit_oldest_pending(&mut out));
        let ids: Vec<u32> = calls(&out).iter().map(|c| c.call_id).collect();
        assert_eq!(ids, vec![2, 4]);
        assert_eq!(conn.held_bytes(), 0);
    }

    #[test]
    fn stub_cap_keeps_counting_beyond_the_kept_bytes() {
        let limits = RpcLimits {
            max_stub_len: 10,
            ..RpcLimits::default()
        };
        let steps = vec![(CLIENT, PduBuilder::request(1, 0, 2, &[7; 25]).build())];
        let events = run_with(limits, &steps);
        assert_eq!(codes(&events), vec!["dcerpc_stub_truncated"]);
        let stub = &calls(&events)[0].request;
        assert_eq!((stub.bytes.len(), stub.len, stub.truncated), (10, 25, true));
    }

    #[test]
    fn oversized_pdu_is_skipped_and_the_stream_resyncs() {
        let limits = RpcLimits {
            max_pdu_len: 100,
            ..RpcLimits::default()
        };
        let mut stream = PduBuilder::request(1, 0, 2, &[0; 4]).build();
        stream.extend(PduBuilder::request(2, 0, 2, &[0xee; 200]).build()); // 224 bytes
        stream.extend(PduBuilder::request(3, 0, 2, &[0; 4]).build());
        let events = run_with(limits, &[(CLIENT, stream)]);
        assert_eq!(codes(&events), vec!["dcerpc_pdu_too_long", "dcerpc_resync"]);
        assert!(warnings(&events)[1].message.contains("224 bytes"));
        assert_eq!(
            calls(&events).iter().map(|c| c.call_id).collect::<Vec<_>>(),
            vec![1, 3]
        );
        // At the very start of a stream the same header is just not a plausible start.
        let first = PduBuilder::request(2, 0, 2, &[0xee; 200]).build();
        let events = run_with(limits, &[(CLIENT, first)]);
        assert_eq!(codes(&events), vec!["dcerpc_no_pdu_found"]);
    }

    #[test]
    fn finish_reports_leftovers() {
        let request = PduBuilder::request(1, 0, 2, &[0; 40]).build();
        let steps = vec![
            (
                CLIENT,
                PduBuilder::bind(4, &[ctx(0, EMSMDB, &[TransferSyntax::Ndr20])]).build(),
            ),
            (CLIENT, request[..30].to_vec()),
            (SERVER, b"HTTP/1.1 200 OK\r\n".to_vec()),
        ];
        let events = run(&steps);
        assert_eq!(
            codes(&events),
            vec![
                "dcerpc_unfinished_pdu",
                "dcerpc_no_pdu_found",
                "dcerpc_bind_unanswered"
            ]
        );
        assert!(calls(&events).is_empty());
    }

    /// A conversation touching every engine path: contexts with NDR64 and BTFN, auth
    /// trailers, fragments both ways, a fault, an alter_context and a sealed call.
    fn conversation() -> Vec<(Direction, Vec<u8>)> {
        let btfn = TransferSyntax::BindTimeFeatures { bitmask: 1 };
        let nil = TransferSyntax::Other {
            uuid: Uuid::nil(),
            version: 0,
        };
        let mut steps = vec![
            (
                CLIENT,
                PduBuilder::bind(
                    1,
                    &[
                        ctx(0, NSPI, &[TransferSyntax::Ndr20]),
                        ctx(1, EMSMDB, &[TransferSyntax::Ndr20, TransferSyntax::Ndr64]),
                        ctx(2, EMSMDB, &[btfn]),
                    ],
                )
                .auth(10, 2, 0, 32)
                .build(),
            ),
            (
                SERVER,
                PduBuilder::bind_ack(
                    1,
                    "4997",
                    &[
                        accept(TransferSyntax::Ndr20),
                        accept(TransferSyntax::Ndr20),
                        result(AckResult::NegotiateAck, 1, nil),
                    ],
                )
                .build(),
            ),
            (
                CLIENT,
                PduBuilder::request(2, 1, 10, &[0x11; 40])
                    .auth(10, 2, 8, 16)
                    .build(),
            ),
            (
                SERVER,
                PduBuilder::response(2, 1, &[0x22; 60])
                    .auth(10, 2, 4, 16)
                    .build(),
            ),
        ];
        for (flags, byte) in [(0x01, 0x31), (0x00, 0x32), (0x02, 0x33)] {
            steps.push((
                CLIENT,
                PduBuilder::request(3, 1, 11, &[byte; 20])
                    .flags(flags)
                    .build(),
            ));
        }
        steps.push((CLIENT, TRACE_797_OPNUM4_REQUEST.to_vec()));
        for (flags, byte) in [(0x01, 0x41), (0x02, 0x42)] {
            steps.push((
                SERVER,
                PduBuilder::response(3, 1, &[byte; 30]).flags(flags).build(),
            ));
        }
        steps.push((SERVER, PduBuilder::fault(6, 0, 0x1c01_0002).build()));
        steps.push((
            CLIENT,
            PduBuilder::alter_context(4, &[ctx(3, ASYNC, &[TransferSyntax::Ndr20])]).build(),
        ));
        steps.push((
            SERVER,
            PduBuilder::alter_context_resp(4, &[accept(TransferSyntax::Ndr20)]).build(),
        ));
        steps.push((
            CLIENT,
            PduBuilder::request(5, 3, 0, &[0x55; 24])
                .auth(10, 6, 8, 16)
                .build(),
        ));
        steps
    }

    /// Feeds the conversation with every PDU whole, all in frame 1 at time 0.
    fn whole_events() -> Vec<RpcEvent> {
        let mut conn = RpcConnection::new(RpcLimits::default());
        let mut out = Vec::new();
        for (dir, bytes) in conversation() {
            conn.feed(dir, &bytes, 1, 0, &mut out);
        }
        conn.finish(&mut out);
        out
    }

    #[test]
    fn conversation_yields_the_expected_calls() {
        let events = whole_events();
        assert_eq!(codes(&events), Vec::<&str>::new());
        let summary: Vec<(u32, Option<&str>, bool, Option<u32>)> = calls(&events)
            .iter()
            .map(|c| {
                (
                    c.call_id,
                    c.operation_name(),
                    c.request.encrypted,
                    c.fault_status,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (2, Some("EcDoConnectEx"), false, None),
                (3, Some("EcDoRpcExt2"), false, None),
                (6, Some("NspiSeekEntries"), false, Some(0x1c01_0002)),
                (5, Some("EcDoAsyncWaitEx"), true, None),
            ]
        );
        let rpc_ext2 = calls(&events)[1];
        assert_eq!(
            rpc_ext2.request.bytes,
            [[0x31; 20], [0x32; 20], [0x33; 20]].concat()
        );
        assert_eq!(
            rpc_ext2.response.as_ref().unwrap().bytes,
            [[0x41; 30], [0x42; 30]].concat()
        );
    }

    proptest! {
        #[test]
        fn random_bytes_in_random_chunks_never_panic(
            steps in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..80), 0u8..8),
                0..40,
            ),
        ) {
            let limits = RpcLimits { max_pdu_len: 200, ..RpcLimits::default() };
            let mut conn = RpcConnection::new(limits);
            let mut out = Vec::new();
            for (frame, (to_server, bytes, gap)) in steps.iter().enumerate() {
                let dir = if *to_server { CLIENT } else { SERVER };
                if *gap == 0 {
                    conn.gap(dir, 10, frame as u64, &mut out);
                }
                conn.feed(dir, bytes, frame as u64, 0, &mut out);
            }
            conn.finish(&mut out);
        }

        #[test]
        fn mutated_conversations_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            chunk in 1usize..64,
        ) {
            let mut streams = conversation();
            let total = streams.len();
            for (index, value) in &flips {
                let step = &mut streams[index.index(total)].1;
                let at = index.index(step.len());
                step[at] = *value;
            }
            let limits = RpcLimits { max_stub_len: 50, ..RpcLimits::default() };
            let mut conn = RpcConnection::new(limits);
            let mut out = Vec::new();
            for (frame, (dir, bytes)) in streams.iter().enumerate() {
                for piece in bytes.chunks(chunk) {
                    conn.feed(*dir, piece, frame as u64, 0, &mut out);
                }
            }
            conn.finish(&mut out);
        }

        #[test]
        fn snap_length_cuts_keep_every_call_and_never_fake_a_stub(snap in 28usize..140) {
            // Each PDU in its own segment, cut to `snap` bytes, the rest reported as a gap.
            let mut conn = RpcConnection::new(RpcLimits::default());
            let mut out = Vec::new();
            for (dir, bytes) in conversation() {
                let captured = snap.min(bytes.len());
                conn.feed(dir, &bytes[..captured], 1, 0, &mut out);
                if captured < bytes.len() {
                    conn.gap(dir, (bytes.len() - captured) as u64, 1, &mut out);
                }
            }
            conn.finish(&mut out);
            prop_assert!(codes(&out).iter().all(|code| *code == "dcerpc_pdu_cut"));
            let whole = whole_events();
            let (cut_calls, whole_calls) = (calls(&out), calls(&whole));
            prop_assert_eq!(cut_calls.len(), whole_calls.len());
            for (cut, whole) in cut_calls.iter().zip(&whole_calls) {
                let key = |c: &RpcCall| (c.call_id, c.context_id, c.opnum, c.fault_status, c.answered());
                prop_assert_eq!(key(cut), key(whole));
                // A stub called complete is the true stub, whatever the cut.
                if let Some(bytes) = cut.request.complete_bytes() {
                    prop_assert_eq!(Some(bytes), whole.request.complete_bytes());
                }
                if let Some(bytes) = cut.response.as_ref().and_then(Stub::complete_bytes) {
                    prop_assert_eq!(
                        Some(bytes),
                        whole.response.as_ref().and_then(Stub::complete_bytes)
                    );
                }
            }
        }

        #[test]
        fn any_chunking_yields_identical_events(
            sizes in proptest::collection::vec(1usize..48, 1..16),
        ) {
            // Consecutive PDUs of one direction form one run of bytes, cut anywhere.
            let mut runs: Vec<(Direction, Vec<u8>)> = Vec::new();
            for (dir, bytes) in conversation() {
                match runs.last_mut() {
                    Some((last, run)) if *last == dir => run.extend(bytes),
                    _ => runs.push((dir, bytes)),
                }
            }
            let mut conn = RpcConnection::new(RpcLimits::default());
            let mut out = Vec::new();
            let mut next_size = sizes.iter().cycle();
            for (dir, run) in &runs {
                let mut rest = &run[..];
                while !rest.is_empty() {
                    let take = (*next_size.next().unwrap_or(&1)).min(rest.len());
                    conn.feed(*dir, &rest[..take], 1, 0, &mut out);
                    rest = &rest[take..];
                }
            }
            conn.finish(&mut out);
            prop_assert_eq!(out, whole_events());
        }
    }
}
