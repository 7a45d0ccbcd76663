//! The evidence capture: the frames a [`Report`] cites, copied from its inputs into one
//! pcapng file that Wireshark opens with every frame explained.
//!
//! [`EvidenceCapture::collect`] turns the report into a bounded map from (input, frame
//! number) to comments saying what each frame shows (registrations, datagrams, ICMP errors,
//! the client's reactions, a few polls, unregistrations, every evidence line's frames),
//! then reads each input again with the project's reader and keeps those frames, plus what
//! Wireshark needs to dissect them on the sessions' EMSMDB connections: the TCP handshake
//! and the DCE/RPC bind, alter_context and their answers, and every segment of a cited
//! request or response spread over several. [`EvidenceCapture::write`] writes
//! them in time order, with their original times (nanosecond resolution), bytes, lengths and
//! interfaces (one Interface Description Block per input and interface, named after the
//! input), each with its comments as `opt_comment` options.
//!
//! Everything kept is bounded by the report: its cited frames, at most
//! [`MAX_CONTEXT_FRAMES`] more per connection, and the segments of cited calls (the latest
//! 64 KiB of each direction are held to find them).

use super::records::interface_name;
use crate::capture::write::{InterfaceOptions, PcapNgWriter};
use crate::capture::{CaptureError, CaptureReader, Frame, LinkType, ReadOptions};
use crate::dcerpc::pdu::{parse_cut_pdu, Body, Header, PacketType};
use crate::decode::{Decoded, Decoder, TcpSegment, Transport};
use crate::report::{Datagram, IcmpError, Reaction, Registration, Report, Session};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Polls kept by default: the first few of a session's listed client calls (any other the
/// report cites is kept too).
pub const DEFAULT_POLLS: usize = 4;
/// Most handshake and bind frames kept per connection and input (a connection reopened
/// with the same ports has one handshake per opening).
pub const MAX_CONTEXT_FRAMES: usize = 32;
/// Most comments on one frame.
const MAX_COMMENTS: usize = 16;
/// Longest comment, in bytes (longer ones are cut at a character boundary).
const MAX_COMMENT_LEN: usize = 4096;
/// `if_tsresol` of every interface written: nanoseconds, so that no time is rounded.
const TSRESOL_NANOSECONDS: u8 = 9;

/// What to put in the evidence capture.
#[derive(Debug, Clone)]
pub struct EvidenceOptions {
    /// Only the sessions of this client IP (all sessions when `None`).
    pub client: Option<String>,
    /// How to read the inputs again: as they were read for the report.
    pub read: ReadOptions,
    /// How many of each session's first polls to keep.
    pub polls: usize,
}

impl Default for EvidenceOptions {
    /// Every session, default read options, [`DEFAULT_POLLS`] polls.
    fn default() -> Self {
        EvidenceOptions {
            client: None,
            read: ReadOptions::default(),
            polls: DEFAULT_POLLS,
        }
    }
}

/// Why no evidence capture could be written.
#[derive(Debug, Error)]
pub enum EvidenceError {
    /// A needed input is standard input, which was consumed by the analysis.
    #[error("--evidence needs files it can read again; standard input cannot be")]
    StandardInput,
    /// A needed input is not a regular file (a pipe, a device) and cannot be read again.
    #[error("--evidence needs files it can read again; {path} is not a regular file")]
    NotAFile {
        /// The input's path.
        path: String,
    },
    /// No session of the report has the client asked for.
    #[error(
        "no session has the client {client}; the clients are: {}",
        list(clients)
    )]
    UnknownClient {
        /// The client asked for.
        client: String,
        /// The clients the report has.
        clients: Vec<String>,
    },
    /// The paths given are not the report's inputs.
    #[error("the report has {report} inputs but {given} paths were given")]
    InputCount {
        /// Inputs in the report.
        report: usize,
        /// Paths given.
        given: usize,
    },
    /// An input could not be opened again.
    #[error("reading {path} again: {source}")]
    Read {
        /// The input's path.
        path: String,
        /// Why.
        #[source]
        source: CaptureError,
    },
    /// The evidence file would replace one of the inputs.
    #[error("the evidence file {path} is one of the inputs")]
    OverwritesInput {
        /// The path.
        path: String,
    },
    /// Writing failed.
    #[error("writing the evidence capture: {0}")]
    Write(#[from] io::Error),
}

fn list(clients: &[String]) -> String {
    if clients.is_empty() {
        "none".into()
    } else {
        clients.join(", ")
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceSummary {
    /// Frames written.
    pub frames: usize,
    /// Interface Description Blocks written (one per input and original interface).
    pub interfaces: usize,
    /// The inputs whose frames were written (indexes into the report's inputs).
    pub inputs: Vec<usize>,
    /// Frames the report cites that were not found when the inputs were read again (input,
    /// frame number): the file changed since the analysis.
    pub missing: Vec<(usize, u64)>,
    /// Frames left out because pcapng has no link type for them (Network Monitor media
    /// without a pcap equivalent).
    pub unwritable: usize,
}

/// The frames of an evidence capture, collected and ready to write.
#[derive(Debug, Clone)]
pub struct EvidenceCapture {
    frames: Vec<Picked>,
    /// Per input of the report: the name its comments use.
    names: Vec<String>,
    /// Per input: the path as given.
    paths: Vec<String>,
    missing: Vec<(usize, u64)>,
}

/// One frame kept, copied out of its input.
#[derive(Debug, Clone)]
struct Picked {
    input: usize,
    number: u64,
    ts_ns: i64,
    link: LinkType,
    interface: u32,
    data: Vec<u8>,
    orig_len: u32,
    notes: Notes,
}

/// Comments on one frame with their rank (what the frame is first, then the polls, then
/// the evidence lines citing it), deduplicated and bounded.
#[derive(Debug, Clone, Default)]
struct Notes(Vec<(Rank, String)>);

/// Where a comment goes among a frame's comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// What the frame is: a registration, a datagram, a handshake segment...
    What,
    /// One of the client's polls.
    Poll,
    /// An evidence line of the report that cites it.
    Evidence,
}

impl Notes {
    fn add(&mut self, rank: Rank, mut text: String) {
        if self.0.len() >= MAX_COMMENTS || self.0.iter().any(|(_, t)| *t == text) {
            return;
        }
        if text.len() > MAX_COMMENT_LEN {
            let mut end = MAX_COMMENT_LEN;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        self.0.push((rank, text));
    }

    fn merge(&mut self, other: Notes) {
        for (rank, text) in other.0 {
            self.add(rank, text);
        }
    }

    /// The comments in rank order.
    fn texts(&self) -> impl Iterator<Item = &str> {
        let mut ranked: Vec<_> = self.0.iter().collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        ranked.into_iter().map(|(_, text)| text.as_str())
    }
}

/// Writes the evidence capture of `report` to `out`: [`EvidenceCapture::collect`], then
/// [`EvidenceCapture::write`]. `paths` are the report's inputs, in its order.
pub fn write_evidence(
    report: &Report,
    paths: &[impl AsRef<Path>],
    options: &EvidenceOptions,
    out: impl Write,
) -> Result<EvidenceSummary, EvidenceError> {
    EvidenceCapture::collect(report, paths, options)?.write(out)
}

/// Writes the evidence capture of `report` to the file `dest`, which is created (or
/// replaced) only once every input was read again, and never when it is one of the inputs.
pub fn write_evidence_file(
    report: &Report,
    paths: &[impl AsRef<Path>],
    options: &EvidenceOptions,
    dest: impl AsRef<Path>,
) -> Result<EvidenceSummary, EvidenceError> {
    let dest = dest.as_ref();
    let capture = EvidenceCapture::collect(report, paths, options)?;
    if let Ok(canonical) = dest.canonicalize() {
        if paths
            .iter()
            .any(|p| p.as_ref().canonicalize().is_ok_and(|p| p == canonical))
        {
            return Err(EvidenceError::OverwritesInput {
                path: dest.display().to_string(),
            });
        }
    }
    let mut out = BufWriter::new(File::create(dest)?);
    let summary = capture.write(&mut out)?;
    out.flush()?;
    Ok(summary)
}

impl EvidenceCapture {
    /// Chooses the frames `report` cites (of the sessions of `options.client`, or all) and
    /// reads them, with the handshakes and binds of their connections, from `paths` (the
    /// report's inputs, in its order). Standard input and other inputs that cannot be read
    /// twice are refused when a frame is needed from them.
    pub fn collect(
        report: &Report,
        paths: &[impl AsRef<Path>],
        options: &EvidenceOptions,
    ) -> Result<Self, EvidenceError> {
        if paths.len() != report.inputs.len() {
            return Err(EvidenceError::InputCount {
                report: report.inputs.len(),
                given: paths.len(),
            });
        }
        let sessions = chosen_sessions(report, options.client.as_deref())?;
        let names = input_names(report);
        let mut plan = Plan::new(paths.len());
        for session in sessions {
            plan.session(session, &names, options.polls);
        }
        // Every input needed must be readable again before any is read.
        let mut needed = Vec::new();
        for (input, path) in paths.iter().enumerate() {
            let (cited, connections) = plan.take(input);
            if !cited.is_empty() || !connections.is_empty() {
                needed.push((input, rereadable(path.as_ref())?, cited, connections));
            }
        }
        let mut frames = Vec::new();
        let mut missing = Vec::new();
        for (input, path, cited, connections) in needed {
            let wanted: BTreeSet<u64> = cited.keys().copied().collect();
            let found = read_frames(input, &path, &options.read, cited, connections)?;
            let found_numbers: BTreeSet<u64> = found.iter().map(|f| f.number).collect();
            missing.extend(
                wanted
                    .difference(&found_numbers)
                    .map(|&number| (input, number)),
            );
            frames.extend(found);
        }
        frames.sort_by_key(|f| (f.ts_ns, f.input, f.number));
        Ok(EvidenceCapture {
            frames,
            names,
            paths: report.inputs.iter().map(|i| i.path.clone()).collect(),
            missing,
        })
    }

    /// Frames collected.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when no frame was collected.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Writes the capture: one little-endian section, an interface per (input, original
    /// interface, link type), then the frames in time order, each with a first comment
    /// naming its input and original frame number (the report's numbers) and then one
    /// comment per thing it shows.
    pub fn write(&self, out: impl Write) -> Result<EvidenceSummary, EvidenceError> {
        let writable = |f: &&Picked| matches!(f.link, LinkType::Pcap(_));
        let mut interfaces: BTreeMap<(usize, u32, LinkType), u32> = BTreeMap::new();
        for f in self.frames.iter().filter(writable) {
            interfaces.insert((f.input, f.interface, f.link), 0);
        }
        let inputs: BTreeSet<usize> = interfaces.keys().map(|k| k.0).collect();
        let mut w = PcapNgWriter::new(out);
        w.new_section(false)?;
        for (&(input, interface, link), id) in interfaces.iter_mut() {
            let LinkType::Pcap(linktype) = link else {
                continue;
            };
            let name = format!("{}/{interface}", self.names[input]);
            let description = format!("interface {interface} ({link}) of {}", self.paths[input]);
            let options = InterfaceOptions {
                tsresol: Some(TSRESOL_NANOSECONDS),
                name: Some(&name),
                description: Some(&description),
                ..InterfaceOptions::default()
            };
            *id = w.add_interface_with(linktype, 0, &options)?;
        }
        let mut written = 0;
        for f in self.frames.iter().filter(writable) {
            // The first comment says where the frame is in its capture, the numbers the
            // report cites; the others what it shows.
            let origin = format!("{} frame {}", self.names[f.input], f.number);
            let comments: Vec<String> = std::iter::once(origin)
                .chain(f.notes.texts().map(str::to_string))
                .collect();
            let id = interfaces[&(f.input, f.interface, f.link)];
            w.write_epb_with_comments(id, f.ts_ns, &f.data, f.orig_len, &comments)?;
            written += 1;
        }
        w.into_inner().flush()?;
        Ok(EvidenceSummary {
            frames: written,
            interfaces: interfaces.len(),
            inputs: inputs.into_iter().collect(),
            missing: self.missing.clone(),
            unwritable: self.frames.len() - written,
        })
    }
}

/// The sessions of `client` (every session when `None`); an error naming the clients when
/// none has it.
fn chosen_sessions<'r>(
    report: &'r Report,
    client: Option<&str>,
) -> Result<Vec<&'r Session>, EvidenceError> {
    let Some(client) = client else {
        return Ok(report.sessions.iter().collect());
    };
    let wanted: Option<IpAddr> = client.parse().ok();
    let chosen: Vec<_> = report
        .sessions
        .iter()
        .filter(|s| s.client == client || wanted.is_some_and(|ip| s.client.parse() == Ok(ip)))
        .collect();
    if chosen.is_empty() {
        let clients: BTreeSet<&str> = report.sessions.iter().map(|s| s.client.as_str()).collect();
        return Err(EvidenceError::UnknownClient {
            client: client.to_string(),
            clients: clients.into_iter().map(String::from).collect(),
        });
    }
    Ok(chosen)
}

/// The name comments give each input: its file name, or its path as given when several
/// inputs share that file name.
fn input_names(report: &Report) -> Vec<String> {
    let file_name = |path: &str| {
        Path::new(path)
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
    };
    let names: Vec<String> = report.inputs.iter().map(|i| file_name(&i.path)).collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for name in &names {
        *uses.entry(name).or_default() += 1;
    }
    names
        .iter()
        .zip(&report.inputs)
        .map(|(name, input)| {
            if uses[name.as_str()] > 1 {
                input.path.clone()
            } else {
                name.clone()
            }
        })
        .collect()
}

/// The path of an input that can be read a second time.
fn rereadable(path: &Path) -> Result<PathBuf, EvidenceError> {
    if path == Path::new("-") {
        return Err(EvidenceError::StandardInput);
    }
    // A missing file is left to the reader, whose error says so.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(EvidenceError::NotAFile {
            path: path.display().to_string(),
        });
    }
    Ok(path.to_path_buf())
}

/// One of a session's EMSMDB connections, as the report names it.
#[derive(Debug, Clone)]
struct Connection {
    client: SocketAddr,
    server: SocketAddr,
    label: String,
}

/// What to take from each input: cited frames with their comments, and connections whose
/// handshakes and binds to keep.
struct Plan {
    cited: Vec<BTreeMap<u64, Notes>>,
    connections: Vec<Vec<Connection>>,
}

impl Plan {
    fn new(inputs: usize) -> Self {
        Plan {
            cited: vec![BTreeMap::new(); inputs],
            connections: vec![Vec::new(); inputs],
        }
    }

    /// Adds a comment to a frame (ignored for an input the report does not have).
    fn note(&mut self, (input, frame): (usize, u64), rank: Rank, text: String) {
        if let Some(cited) = self.cited.get_mut(input) {
            cited.entry(frame).or_default().add(rank, text);
        }
    }

    fn is_cited(&self, (input, frame): (usize, u64)) -> bool {
        self.cited
            .get(input)
            .is_some_and(|c| c.contains_key(&frame))
    }

    /// What one input contributes, taken out of the plan.
    fn take(&mut self, input: usize) -> (BTreeMap<u64, Notes>, Vec<Connection>) {
        (
            std::mem::take(&mut self.cited[input]),
            std::mem::take(&mut self.connections[input]),
        )
    }

    /// Everything a session cites, and its connections in each of its inputs.
    fn session(&mut self, s: &Session, names: &[String], polls: usize) {
        let refer = |own: usize, (input, frame): (usize, u64)| {
            if own == input {
                format!("frame {frame}")
            } else {
                let name = names.get(input).map_or("another input", String::as_str);
                format!("frame {frame} of {name}")
            }
        };
        for r in &s.registrations {
            self.registration(r, &refer);
        }
        for (i, d) in s.datagrams.iter().enumerate() {
            self.datagram(d, (i + 1, s.datagrams.len()), &refer);
        }
        for e in &s.icmp_errors {
            self.icmp_error(e, &refer);
        }
        for u in &s.unregistrations {
            let text =
                "EcRUnregisterPushNotification request: the client withdraws its registration";
            self.note((u.input, u.frame), Rank::What, text.into());
        }
        for e in &s.evidence {
            let text = format!("evidence ({}): {}", s.verdict.as_str(), e.text);
            for &frame in &e.frames {
                self.note((e.input, frame), Rank::Evidence, text.clone());
            }
        }
        let rhythm = s
            .polling
            .median_interval_s
            .map(|m| format!("; it calls about every {m:.0} s"))
            .unwrap_or_default();
        for (i, call) in s.polling.shown.iter().enumerate() {
            let at = (call.input, call.frame);
            if i < polls || self.is_cited(at) {
                let text = format!(
                    "EMSMDB call {} of {} from the client to the server{rhythm}",
                    i + 1,
                    s.polling.calls
                );
                self.note(at, Rank::Poll, text);
            }
        }
        for c in &s.connections {
            let Some((client, server)) = c.split_once(" -> ") else {
                continue;
            };
            let (Ok(client), Ok(server)) = (client.parse(), server.parse()) else {
                continue;
            };
            for &input in &s.inputs {
                if let Some(list) = self.connections.get_mut(input) {
                    if !list
                        .iter()
                        .any(|k| k.client == client && k.server == server)
                    {
                        list.push(Connection {
                            client,
                            server,
                            label: c.clone(),
                        });
                    }
                }
            }
        }
    }

    fn registration(&mut self, r: &Registration, refer: &impl Fn(usize, (usize, u64)) -> String) {
        let outcome = registration_outcome(r);
        let callback = match (&r.callback, r.encrypted) {
            (Some(callback), _) => callback.clone(),
            (None, true) => "unreadable (sealed)".into(),
            (None, false) => "undecoded".into(),
        };
        let context = r
            .context
            .as_deref()
            .map_or(String::new(), |c| format!(", context {c}"));
        let request = (r.input, r.request_frame);
        self.note(
            request,
            Rank::What,
            format!("EcRRegisterPushNotification request: callback {callback}{context}; {outcome}"),
        );
        if let Some(frame) = r.response_frame {
            let at = (r.response_input.unwrap_or(r.input), frame);
            let text = format!(
                "EcRRegisterPushNotification response: {outcome} (request in {})",
                refer(at.0, request)
            );
            self.note(at, Rank::What, text);
        }
    }

    fn datagram(
        &mut self,
        d: &Datagram,
        (n, of): (usize, usize),
        refer: &impl Fn(usize, (usize, u64)) -> String,
    ) {
        let payload = match d.matches_context {
            Some(true) => ", the registered context",
            Some(false) => ", not the registered context",
            None => "",
        };
        let reaction_at = d
            .reaction_frame
            .map(|f| (d.reaction_input.unwrap_or(d.input), f));
        let delay = d
            .reaction_delay_ms
            .map(|ms| format!(", {ms:.1} ms later"))
            .unwrap_or_default();
        let mut captures: Vec<(usize, u64)> =
            d.seen_at.iter().map(|s| (s.input, s.frame)).collect();
        captures.push((d.input, d.frame));
        for at in captures {
            let reaction = match (d.reaction, reaction_at) {
                (Reaction::Reacted, Some(r)) => {
                    format!("the client reacted in {}{delay}", refer(at.0, r))
                }
                (Reaction::Reacted, None) => "the client reacted".into(),
                (Reaction::NoReaction, _) => "no reaction from the client".into(),
                (Reaction::CaptureEnded, _) => {
                    "the capture ended within the reaction window (counts neither way)".into()
                }
                (Reaction::ClientSilent, _) => {
                    "the client made no call after it (counts neither way)".into()
                }
                (Reaction::Ignored, _) => {
                    "not the registered context: the client ignores it by design".into()
                }
                (Reaction::Unregistered, _) => "no registration in the capture covers it".into(),
            };
            let text = format!(
                "notification datagram {n} of {of}: {reaction} ({} -> {}, {} bytes{payload})",
                d.from, d.to, d.len
            );
            self.note(at, Rank::What, text);
        }
        if let Some(at) = reaction_at {
            let text = format!(
                "the client's reaction to notification datagram {n} of {of} in {}{delay}",
                refer(at.0, (d.input, d.frame))
            );
            self.note(at, Rank::What, text);
        }
    }

    fn icmp_error(&mut self, e: &IcmpError, refer: &impl Fn(usize, (usize, u64)) -> String) {
        let protocol = if e.protocol == "icmpv6" {
            "ICMPv6"
        } else {
            "ICMP"
        };
        let datagram = e
            .datagram_frame
            .map(|f| (e.datagram_input.unwrap_or(e.input), f));
        let mut captures: Vec<(usize, u64)> =
            e.seen_at.iter().map(|s| (s.input, s.frame)).collect();
        captures.push((e.input, e.frame));
        for at in captures {
            let quoted = match datagram {
                Some(d) => format!("the datagram in {}", refer(at.0, d)),
                None => "a notification datagram the capture does not hold".into(),
            };
            let text = format!(
                "{protocol} {} for {quoted} (sent by {})",
                e.code_name, e.from
            );
            self.note(at, Rank::What, text);
        }
    }
}

/// How a registration ended, in words.
fn registration_outcome(r: &Registration) -> String {
    let name = |n: &Option<String>| n.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    match (r.fault, r.status) {
        (Some(fault), _) => {
            let fault_name = crate::dcerpc::interfaces::fault_status_name(fault)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("failed: DCE/RPC fault 0x{fault:08x}{fault_name}")
        }
        (None, Some(0)) => format!("succeeded{}", name(&r.status_name)),
        (None, Some(code)) => format!("failed: 0x{code:08x}{}", name(&r.status_name)),
        (None, None) if r.response_frame.is_none() => "no response captured".into(),
        (None, None) if r.encrypted => "outcome sealed (packet privacy)".into(),
        (None, None) => "outcome not decoded".into(),
    }
}

/// A connection's handshake and bind state while an input is read again.
struct ConnectionState {
    label: String,
    /// The server's initial sequence number, from its SYN/ACK, until the client's ACK.
    server_isn: Option<u32>,
    /// Per direction (client to server, server to client): the next sequence number and
    /// the bytes still to come of a bind-type PDU longer than its first segment.
    pending: [Option<(u32, u32, &'static str)>; 2],
    /// Per direction: the latest data segments, to find every segment of a cited call.
    recent: [RecentSegments; 2],
    kept: usize,
}

/// Reads input `input` at `path` again and copies out the `cited` frames and the handshake
/// and bind segments of `connections`.
fn read_frames(
    input: usize,
    path: &Path,
    read: &ReadOptions,
    mut cited: BTreeMap<u64, Notes>,
    connections: Vec<Connection>,
) -> Result<Vec<Picked>, EvidenceError> {
    let mut reader =
        CaptureReader::open_with(path, read).map_err(|source| EvidenceError::Read {
            path: path.display().to_string(),
            source,
        })?;
    let mut index: HashMap<(SocketAddr, SocketAddr), (usize, usize)> = HashMap::new();
    let mut states: Vec<ConnectionState> = Vec::with_capacity(connections.len());
    for (i, c) in connections.into_iter().enumerate() {
        index.insert((c.client, c.server), (i, 0));
        index.insert((c.server, c.client), (i, 1));
        states.push(ConnectionState {
            label: c.label,
            server_isn: None,
            pending: [None, None],
            recent: Default::default(),
            kept: 0,
        });
    }
    let mut decoder = Decoder::default();
    let mut picked = Vec::new();
    let mut held_total = 0usize;
    while let Some(frame) = reader.next_frame() {
        let mut notes = Notes::default();
        if !index.is_empty() {
            if let Decoded::Packet(p) = decoder.decode(&frame) {
                if let Transport::Tcp(seg) = &p.transport {
                    let ends = (
                        SocketAddr::new(p.src, seg.src_port),
                        SocketAddr::new(p.dst, seg.dst_port),
                    );
                    if let Some(&(i, direction)) = index.get(&ends) {
                        let state = &mut states[i];
                        if state.kept < MAX_CONTEXT_FRAMES {
                            context_notes(state, direction, seg, &mut notes);
                            state.kept += usize::from(!notes.0.is_empty());
                        }
                        let is_cited = cited.contains_key(&frame.number);
                        let recent = &mut state.recent[direction];
                        let call = is_cited.then(|| recent.take_call_of(seg)).flatten();
                        if let Some((kind, parts)) = call {
                            let text = format!(
                                "DCE/RPC {kind}, part of the call of frame {} ({})",
                                frame.number, state.label
                            );
                            for mut part in parts {
                                part.notes.add(Rank::What, text.clone());
                                picked.push(part);
                            }
                        }
                        let kept = is_cited || !notes.0.is_empty();
                        // The payload's place in the frame (it is a slice of the frame's bytes).
                        let payload_at = (seg.payload.as_ptr() as usize)
                            .wrapping_sub(frame.data.as_ptr() as usize);
                        let copy = Picked::copy(input, &frame, Notes::default());
                        recent.push(seg, (copy, payload_at), kept, &mut held_total);
                    }
                }
            }
        }
        if let Some(cited_notes) = cited.remove(&frame.number) {
            notes.merge(cited_notes);
        } else if notes.0.is_empty() {
            continue;
        }
        picked.push(Picked::copy(input, &frame, notes));
        if cited.is_empty() && index.is_empty() {
            break;
        }
    }
    Ok(picked)
}

impl Picked {
    /// A copy of `frame` of input `input` with `notes`.
    fn copy(input: usize, frame: &Frame<'_>, notes: Notes) -> Picked {
        Picked {
            input,
            number: frame.number,
            ts_ns: frame.ts_ns,
            link: frame.link,
            interface: frame.interface,
            data: frame.data.to_vec(),
            orig_len: frame.orig_len,
            notes,
        }
    }
}

/// Bytes of frames [`RecentSegments`] holds per direction: far more than a registration or
/// a poll takes.
const RECENT_BYTES: usize = 64 << 10;
/// Segments it holds per direction.
const RECENT_SEGMENTS: usize = 256;
/// Bytes all directions hold together (a report of thousands of sessions stays bounded).
const RECENT_BYTES_TOTAL: usize = 16 << 20;
/// Fragments of one call followed at most when looking for its start, and positions that
/// open a call tried at most: crafted bytes cannot make the search long.
const MAX_CALL_FRAGMENTS: usize = 64;
/// See [`MAX_CALL_FRAGMENTS`].
const MAX_CALL_STARTS_TRIED: usize = 256;

/// One data segment [`RecentSegments`] holds: the frame's copy and where its TCP payload
/// lies in it.
struct Held {
    seq: u32,
    payload: std::ops::Range<usize>,
    frame: Picked,
    /// The frame is kept for another reason already.
    kept: bool,
}

impl Held {
    fn payload(&self) -> &[u8] {
        self.frame
            .data
            .get(self.payload.clone())
            .unwrap_or_default()
    }
}

/// The latest data segments of one direction, so that a cited request or response spread
/// over several (several fragments, or a fragment longer than a segment) is kept whole:
/// Wireshark needs every segment to read it.
#[derive(Default)]
struct RecentSegments {
    /// Oldest first.
    segments: std::collections::VecDeque<Held>,
    bytes: usize,
}

impl RecentSegments {
    /// Remembers a data segment, `frame` being the copy of the frame that carries its
    /// payload at `payload_at` (already kept for another reason when `kept`), forgetting the
    /// oldest beyond the bounds; `total` counts the bytes every direction holds.
    fn push(
        &mut self,
        seg: &TcpSegment<'_>,
        (frame, payload_at): (Picked, usize),
        kept: bool,
        total: &mut usize,
    ) {
        let payload = payload_at..payload_at.saturating_add(seg.payload.len());
        let in_frame = frame.data.get(payload.clone()) == Some(seg.payload);
        if seg.payload.is_empty() || !in_frame || frame.data.len() > RECENT_BYTES {
            return;
        }
        let size = frame.data.len();
        self.bytes += size;
        *total += size;
        self.segments.push_back(Held {
            seq: seg.seq,
            payload,
            frame,
            kept,
        });
        while self.bytes > RECENT_BYTES
            || self.segments.len() > RECENT_SEGMENTS
            || (*total > RECENT_BYTES_TOTAL && self.bytes > 0)
        {
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            self.bytes -= old.frame.data.len();
            *total -= old.frame.data.len();
        }
    }

    /// The kind of the call `seg` belongs to and the copies of its other segments held here
    /// and not kept yet. The held bytes within [`RECENT_BYTES`] of `seg` are laid out by
    /// sequence number (reordered and retransmitted segments fall into place, the first copy
    /// of a byte winning); the call starts at the latest position, up to `seg`'s start, where
    /// a request's or response's first fragment begins whose fragments, chained by their
    /// lengths, end after `seg`'s start within the bytes known around it. The call may go on
    /// past `seg` (a retransmission that fills a hole before segments captured earlier).
    /// Nothing for a segment without payload. The copies returned are marked kept.
    fn take_call_of(&mut self, seg: &TcpSegment<'_>) -> Option<(&'static str, Vec<Picked>)> {
        if seg.payload.is_empty() {
            return None;
        }
        // Positions relative to the start of `seg`; only those within RECENT_BYTES of it are
        // laid out (a wild sequence number must not size the layout).
        let at = |seq: u32| i64::from(seq.wrapping_sub(seg.seq) as i32);
        let reach = RECENT_BYTES as i64;
        let near = |p: i64| (-reach..reach).contains(&p);
        let pieces: Vec<(i64, &[u8])> = self
            .segments
            .iter()
            .map(|h| (at(h.seq), h.payload()))
            .filter(|&(p, _)| near(p))
            .chain(std::iter::once((0, seg.payload)))
            .collect();
        let first = pieces.iter().map(|&(p, _)| p).min()?;
        let last = pieces.iter().map(|&(p, b)| p + b.len() as i64).max()?;
        let len = usize::try_from(last - first).ok()?;
        let mut bytes = vec![0u8; len];
        let mut known = vec![false; len];
        for (p, payload) in pieces {
            let from = usize::try_from(p - first).unwrap_or(usize::MAX);
            for (k, &b) in payload.iter().enumerate() {
                if let (Some(slot), Some(seen)) = (bytes.get_mut(from + k), known.get_mut(from + k))
                {
                    if !*seen {
                        *slot = b;
                        *seen = true;
                    }
                }
            }
        }
        // The run of known bytes around `seg`, in layout offsets.
        let origin = usize::try_from(-first).ok()?;
        let seg_end = origin + seg.payload.len();
        let lo = known[..origin]
            .iter()
            .rposition(|k| !k)
            .map_or(0, |g| g + 1);
        let hi = known[seg_end..]
            .iter()
            .position(|k| !k)
            .map_or(len, |g| seg_end + g);
        let (start, kind, end) = (lo..=origin)
            .rev()
            .filter(|&o| opened_call(&bytes[o..hi]).is_some())
            .take(MAX_CALL_STARTS_TRIED)
            .find_map(|o| {
                let (kind, length) = chain(&bytes[o..hi])?;
                (o + length > origin).then_some((o, kind, o + length))
            })?;
        let (start, end) = (first + start as i64, first + end as i64);
        let own = 0..seg.payload.len() as i64;
        let mut parts = Vec::new();
        for held in &mut self.segments {
            let p = at(held.seq);
            let range = p..p + held.payload.len() as i64;
            let inside_seg = own.contains(&range.start) && range.end <= own.end;
            if held.kept || !near(p) || inside_seg || range.end <= start || range.start >= end {
                continue;
            }
            held.kept = true;
            parts.push(held.frame.clone());
        }
        Some((kind, parts))
    }
}

/// The kind of call whose fragments (at most [`MAX_CALL_FRAGMENTS`]), starting with its
/// first at the start of `bytes`, chain by their lengths to its last one within `bytes`, and
/// the call's length.
fn chain(bytes: &[u8]) -> Option<(&'static str, usize)> {
    let kind = opened_call(bytes)?;
    let mut at = 0usize;
    for _ in 0..MAX_CALL_FRAGMENTS {
        let header = Header::parse(bytes.get(at..)?).ok()?;
        at += usize::from(header.frag_length).max(1);
        if at > bytes.len() {
            return None;
        }
        if header.flags.last_frag() {
            return Some((kind, at));
        }
    }
    None
}

/// The kind of call `payload` opens: "request" or "response" when it starts with the header
/// of a request's or response's first fragment.
fn opened_call(payload: &[u8]) -> Option<&'static str> {
    let header = Header::parse(payload).ok()?;
    if !header.flags.first_frag() {
        return None;
    }
    match header.packet_type {
        PacketType::Request => Some("request"),
        PacketType::Response => Some("response"),
        _ => None,
    }
}

/// The comments a segment of a session's connection gets when it belongs to the TCP
/// handshake or carries a DCE/RPC bind, alter_context or their answers. `direction` is 0
/// from the client to the server, 1 back.
fn context_notes(
    state: &mut ConnectionState,
    direction: usize,
    seg: &TcpSegment<'_>,
    notes: &mut Notes,
) {
    let label = &state.label;
    let flags = seg.flags;
    let handshake = match (direction, flags.syn, flags.ack) {
        (0, true, false) => Some("SYN"),
        (1, true, true) => {
            state.server_isn = Some(seg.seq);
            Some("SYN/ACK")
        }
        (0, false, true)
            if state
                .server_isn
                .is_some_and(|isn| seg.ack == isn.wrapping_add(1)) =>
        {
            state.server_isn = None;
            Some("ACK")
        }
        _ => None,
    };
    if let Some(step) = handshake {
        notes.add(Rank::What, format!("TCP handshake of {label}: {step}"));
    }
    let next_seq = seg.seq.wrapping_add(seg.wire_payload_len);
    if let Some(kind) = bind_kind(seg.payload) {
        let text = bind_comment(seg.payload, kind);
        notes.add(Rank::What, format!("{text} ({label})"));
        let frag_length = Header::parse(seg.payload).map_or(0, |h| u32::from(h.frag_length));
        state.pending[direction] = frag_length
            .checked_sub(seg.wire_payload_len)
            .filter(|&rest| rest > 0)
            .map(|rest| (next_seq, rest, kind));
    } else if let Some((seq, rest, kind)) = state.pending[direction] {
        if seg.seq == seq && seg.wire_payload_len > 0 {
            notes.add(Rank::What, format!("DCE/RPC {kind}, continued ({label})"));
            state.pending[direction] = rest
                .checked_sub(seg.wire_payload_len)
                .filter(|&r| r > 0)
                .map(|r| (next_seq, r, kind));
        }
    }
}

/// The PDU name when `payload` starts with the header of a DCE/RPC bind, bind_ack,
/// bind_nak, alter_context or alter_context_resp.
fn bind_kind(payload: &[u8]) -> Option<&'static str> {
    let header = Header::parse(payload).ok()?;
    Some(match header.packet_type {
        PacketType::Bind => "bind",
        PacketType::BindAck => "bind_ack",
        PacketType::BindNak => "bind_nak",
        PacketType::AlterContext => "alter_context",
        PacketType::AlterContextResp => "alter_context_resp",
        _ => return None,
    })
}

/// What a bind-type PDU says, as far as its captured bytes go: the interfaces a bind or
/// alter_context proposes, the results of an answer, the reason of a bind_nak.
fn bind_comment(payload: &[u8], kind: &str) -> String {
    let detail = match parse_cut_pdu(payload).map(|p| p.body) {
        Ok(Body::Bind(b) | Body::AlterContext(b)) => {
            let names: Vec<String> = b
                .contexts
                .iter()
                .filter(|c| !c.is_bind_time_feature_negotiation())
                .map(|c| interface_name(&c.interface.uuid))
                .collect();
            (!names.is_empty()).then(|| format!(" to {}", names.join(", ")))
        }
        Ok(Body::BindAck(a) | Body::AlterContextResp(a)) => {
            let results: Vec<String> = a
                .results
                .iter()
                .map(|r| format!("{:?}", r.result).to_lowercase())
                .collect();
            (!results.is_empty()).then(|| format!(": {}", results.join(", ")))
        }
        Ok(Body::BindNak(n)) => Some(format!(": reason {}", n.reason)),
        _ => None,
    };
    format!("DCE/RPC {kind}{}", detail.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_deduplicated_bounded_and_ranked() {
        let mut notes = Notes::default();
        notes.add(Rank::Evidence, "why".into());
        notes.add(Rank::What, "what".into());
        notes.add(Rank::What, "what".into());
        notes.add(Rank::Poll, "é".repeat(MAX_COMMENT_LEN));
        assert_eq!(notes.0.len(), 3);
        let texts: Vec<_> = notes.texts().collect();
        assert_eq!(texts[0], "what");
        assert!(texts[1].len() <= MAX_COMMENT_LEN && texts[1].starts_with('é'));
        assert_eq!(texts[2], "why");
        for i in 0..2 * MAX_COMMENTS {
            notes.add(Rank::What, i.to_string());
        }
        assert_eq!(notes.0.len(), MAX_COMMENTS);
    }

    /// A data segment at `seq` carrying `payload`.
    fn segment(seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src_port: 1071,
            dst_port: 1032,
            seq,
            ack: 0,
            flags: Default::default(),
            payload,
            wire_payload_len: payload.len() as u32,
        }
    }

    /// A copy of a frame numbered `number` whose bytes are its payload.
    fn copy(number: u64, payload: &[u8]) -> (Picked, usize) {
        let frame = Picked {
            input: 0,
            number,
            ts_ns: 0,
            link: LinkType::ETHERNET,
            interface: 0,
            data: payload.to_vec(),
            orig_len: payload.len() as u32,
            notes: Notes::default(),
        };
        (frame, 0)
    }

    /// A three-fragment request with 16-byte stubs (120 bytes).
    fn three_fragments() -> Vec<u8> {
        use crate::dcerpc::encode::PduBuilder;
        [0x01u8, 0x00, 0x02]
            .iter()
            .flat_map(|&flags| {
                PduBuilder::request(7, 0, 4, &[0xA5; 16])
                    .flags(flags)
                    .build()
            })
            .collect()
    }

    /// Pushes the pieces `order` of `call` cut at `cut` (copies numbered from 1 in that
    /// order), then finds the call of piece `cited`; the numbers of the copies returned.
    fn call_of(call: &[u8], cut: &[usize], order: &[usize], cited: usize) -> Option<Vec<u64>> {
        let base = 1_000u32;
        let mut recent = RecentSegments::default();
        let mut total = 0;
        for (k, &i) in order.iter().enumerate() {
            let piece = &call[cut[i]..cut[i + 1]];
            let seg = segment(base + cut[i] as u32, piece);
            recent.push(&seg, copy(k as u64 + 1, piece), false, &mut total);
        }
        let piece = &call[cut[cited]..cut[cited + 1]];
        let (kind, parts) = recent.take_call_of(&segment(base + cut[cited] as u32, piece))?;
        assert_eq!(kind, "request");
        let mut numbers: Vec<u64> = parts.iter().map(|p| p.number).collect();
        numbers.sort();
        Some(numbers)
    }

    #[test]
    fn a_call_spread_over_reordered_segments_is_found_from_any_of_its_segments() {
        let call = three_fragments();
        let cut = [0usize, 5, 30, 41, 77, 96, 120];
        // Delivered out of order, one piece twice; the last piece is cited.
        assert_eq!(
            call_of(&call, &cut, &[0, 2, 1, 3, 3, 4], 5),
            Some(vec![1, 2, 3, 4, 5, 6])
        );
        // A retransmission fills the hole before pieces captured earlier: the call is cited
        // at the retransmission and goes on past it.
        assert_eq!(
            call_of(&call, &cut, &[0, 1, 3, 4, 5], 2),
            Some(vec![1, 2, 3, 4, 5])
        );
        // Nothing else held: the first piece alone holds no whole call.
        assert_eq!(call_of(&call, &cut, &[], 0), None);
    }

    #[test]
    fn no_call_is_found_for_an_empty_segment_or_far_away_bytes() {
        let call = three_fragments();
        let mut recent = RecentSegments::default();
        let mut total = 0;
        recent.push(&segment(1_000, &call), copy(1, &call), false, &mut total);
        // A pure ACK or FIN right after the call does not collect it.
        assert!(recent.take_call_of(&segment(1_120, &[])).is_none());
        // A segment whose sequence number lies 2 GiB away is never laid out.
        let far = 1_000u32.wrapping_add(0x7fff_fff0);
        assert!(recent.take_call_of(&segment(far, &call[80..])).is_none());
    }

    #[test]
    fn bind_type_pdus_are_recognised_by_their_header() {
        // bind, DCE/RPC 5.0, little-endian, frag_length 72 (cut after the header).
        let mut bind = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(bind_kind(&bind), Some("bind"));
        assert_eq!(bind_comment(&bind, "bind"), "DCE/RPC bind");
        bind[2] = 0; // request
        assert_eq!(bind_kind(&bind), None);
        bind[0] = 4;
        assert_eq!(bind_kind(&bind), None);
        assert_eq!(bind_kind(&[5, 0, 11]), None);
    }
}
