//! Builds the seed corpora of every fuzz target from the bundled samples (`../samples`):
//!
//! * `pcap`, `pcapng`, `netmon`: each sample file of that format, re-laid as the target reads
//!   it (selector byte or stripped magic, see the crate documentation);
//! * `frames`: the frames of each pcap and pcapng sample (Ethernet selector);
//! * `views`: the same frames as two captures 250 ms apart, every fifth frame captured at the
//!   first point only;
//! * `conversation`: each TCP connection of each sample, reassembled with pushtrace's own
//!   reassembler, as alternating client/server chunks, once as captured and once with a
//!   hostile clock;
//! * `dcerpc_pdu`: every PDU framed from those streams;
//! * `register_push`: the stub of every request with an EMSMDB opnum (0–14, up to 4 KiB:
//!   connects, ROP calls in their `EcDoRpc` and `RPC_HEADER_EXT` framings, registrations) and
//!   of every 28-byte response (the size of an opnum-4 response), with its NDR format byte;
//! * `config`: each file of `samples/config/`, and the files checked together joined with the
//!   delimiter.
//!
//! Usage (from the repository root): `cargo run --manifest-path fuzz/Cargo.toml --example
//! seed_corpora`. Writes `fuzz/corpus/<target>/`; identical files are written once.

use pushtrace_capture::{CaptureReader, Format, ReadOptions};
use pushtrace_core::dcerpc::pdu::{frame_pdu, parse_pdu, Body, Framing};
use pushtrace_core::decode::{Decoded, Decoder, Transport};
use pushtrace_core::flow::{ConnEndpoints, ConnId, Direction};
use pushtrace_core::tcp::{CloseReason, Interest, StreamSink, TcpLimits, TcpReassembler};
use pushtrace_core::Warning;
use pushtrace_fuzz::{join_chunks, CLOCK_MARGIN, NETMON_MAGICS, PCAPNG_SHB, PCAP_MAGICS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One connection's stream as runs of same-direction bytes.
type Conversation = Vec<(Direction, Vec<u8>)>;

/// Collects each connection's stream as runs of same-direction bytes.
#[derive(Default)]
struct Conversations {
    runs: BTreeMap<ConnId, Conversation>,
}

impl StreamSink for Conversations {
    fn opened(&mut self, conn: ConnId, _ends: &ConnEndpoints) {
        self.runs.entry(conn).or_default();
    }

    fn data(
        &mut self,
        conn: ConnId,
        dir: Direction,
        bytes: &[u8],
        _frame: u64,
        _ts_ns: i64,
    ) -> Interest {
        let runs = self.runs.entry(conn).or_default();
        match runs.last_mut() {
            Some((last, run)) if *last == dir => run.extend_from_slice(bytes),
            _ => runs.push((dir, bytes.to_vec())),
        }
        Interest::More
    }

    fn gap(&mut self, _conn: ConnId, _dir: Direction, _missing: u64, _frame: u64) {}

    fn closed(&mut self, _conn: ConnId, _reason: CloseReason) {}

    fn warning(&mut self, _warning: Warning) {}
}

/// Writes corpus files, each once.
struct Corpus {
    root: PathBuf,
    written: BTreeSet<(String, Vec<u8>)>,
}

impl Corpus {
    fn add(&mut self, target: &str, name: &str, bytes: Vec<u8>) {
        if !self.written.insert((target.to_string(), bytes.clone())) {
            return;
        }
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        let count = self.written.iter().filter(|(t, _)| t == target).count();
        std::fs::write(dir.join(format!("seed-{name}-{count:04}")), bytes).expect("corpus file");
    }
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = here.join("../samples");
    let mut corpus = Corpus {
        root: here.join("corpus"),
        written: BTreeSet::new(),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&samples)
        .expect("samples/ exists")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "json" && e != "md"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sample")
            .to_string();
        let bytes = std::fs::read(&path).expect("readable sample");
        add_file_seed(&mut corpus, &name, &bytes);
        if let Some((frames, views, conversations)) = frames_and_conversations(&bytes) {
            corpus.add("frames", &name, frames);
            corpus.add("views", &name, views);
            for conversation in conversations {
                add_stream_seeds(&mut corpus, &name, &conversation);
            }
        }
    }
    add_config_seeds(&mut corpus, &samples.join("config"));
    for (target, files) in
        corpus
            .written
            .iter()
            .fold(BTreeMap::<&str, usize>::new(), |mut m, (t, _)| {
                *m.entry(t).or_default() += 1;
                m
            })
    {
        println!("{target}: {files} seeds");
    }
}

/// `config`: each file of `samples/config/` alone, and the files of each expectation that
/// lists several joined with the delimiter.
fn add_config_seeds(corpus: &mut Corpus, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".json") && !n.ends_with(".md"))
        .collect();
    names.sort();
    let read = |n: &str| std::fs::read(dir.join(n)).expect("readable config sample");
    for name in &names {
        corpus.add("config", name, read(name));
    }
    let expectations = std::fs::read_dir(dir)
        .expect("samples/config/")
        .filter_map(|e| {
            let text = std::fs::read(e.ok()?.path()).ok()?;
            serde_json::from_slice::<serde_json::Value>(&text).ok()
        });
    for expect in expectations {
        let files: Vec<Vec<u8>> = expect["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some(read(f.as_str()?)))
            .collect();
        if files.len() > 1 {
            corpus.add("config", "several", join_chunks(&files));
        }
    }
}

/// The sample file itself, laid out for the reader target of its format.
fn add_file_seed(corpus: &mut Corpus, name: &str, bytes: &[u8]) {
    let Some(head) = bytes.get(..4) else {
        return;
    };
    let rest = bytes[4..].to_vec();
    if let Some(i) = PCAP_MAGICS.iter().position(|m| m == head) {
        let mut seed = vec![i as u8];
        seed.extend_from_slice(&rest);
        corpus.add("pcap", name, seed);
    } else if head == PCAPNG_SHB {
        corpus.add("pcapng", name, rest);
    } else if let Some(i) = NETMON_MAGICS.iter().position(|m| m == head) {
        let mut seed = vec![i as u8];
        seed.extend_from_slice(&rest);
        corpus.add("netmon", name, seed);
    }
}

/// A capture's frames as a `frames` input and as a `views` input, and every TCP connection
/// of it as same-direction runs, client first.
fn frames_and_conversations(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<Conversation>)> {
    let mut reader = CaptureReader::from_bytes(bytes.to_vec(), &ReadOptions::default()).ok()?;
    if matches!(reader.info().format, Format::NetMon1 | Format::NetMon2) {
        // The same frames are in the pcapng samples; one copy of each stream is enough.
        return None;
    }
    let mut decoder = Decoder::default();
    let mut tcp = TcpReassembler::new(TcpLimits::default());
    let mut sink = Conversations::default();
    let mut frames = Vec::new();
    let mut views = Vec::new();
    let mut last_ts = None;
    while let Some(frame) = reader.next_frame() {
        let mut chunk = vec![0]; // FRAME_LINKS[0]: Ethernet
        chunk.extend_from_slice(frame.data);
        frames.push(chunk);
        // Seen at both points (bit 6) but every fifth; the time step in 100 µs units.
        let step = last_ts.map_or(0, |t: i64| {
            (frame.ts_ns.saturating_sub(t) / 100_000).clamp(0, 255)
        });
        last_ts = Some(frame.ts_ns);
        let selector = if frame.number % 5 == 0 { 0 } else { 0x40 };
        let mut chunk = vec![selector, step as u8];
        chunk.extend_from_slice(frame.data);
        views.push(chunk);
        if let Decoded::Packet(packet) = decoder.decode(&frame) {
            if let Transport::Tcp(seg) = &packet.transport {
                tcp.segment(
                    frame.number,
                    frame.ts_ns,
                    packet.src,
                    packet.dst,
                    seg,
                    &mut sink,
                );
            }
        }
    }
    tcp.finish(&mut sink);
    let conversations = sink.runs.into_values().filter(|r| !r.is_empty()).collect();
    let mut views_input = vec![25]; // the second capture's clock 250 ms ahead
    views_input.extend(join_chunks(&views));
    Some((join_chunks(&frames), views_input, conversations))
}

/// The conversation seed and the PDU and stub seeds found in its streams.
fn add_stream_seeds(corpus: &mut Corpus, name: &str, runs: &[(Direction, Vec<u8>)]) {
    let mut chunks = Vec::new();
    if runs
        .first()
        .is_some_and(|(d, _)| *d == Direction::ToInitiator)
    {
        chunks.push(Vec::new());
    }
    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (dir, run) in runs {
        chunks.push(run.clone());
        streams[dir.index()].extend_from_slice(run);
    }
    // Control bytes: a capture with the handshake, closed with FIN, default caps.
    let mut seed = vec![0x40, 0x00];
    seed.extend_from_slice(&join_chunks(&chunks));
    corpus.add("conversation", name, seed);
    // The same with a hostile clock: each chunk prefixed with its time, jumping between the
    // ends of the range (two consecutive calls are more than i64::MAX ns apart).
    let timed: Vec<Vec<u8>> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let time = if i % 4 < 2 {
                i64::MIN + CLOCK_MARGIN
            } else {
                i64::MAX - CLOCK_MARGIN
            };
            let mut out = time.to_le_bytes().to_vec();
            out.extend_from_slice(chunk);
            out
        })
        .collect();
    let mut seed = vec![0x40, 0x02];
    seed.extend_from_slice(&join_chunks(&timed));
    corpus.add("conversation", name, seed);

    for stream in &streams {
        let mut rest = &stream[..];
        while let Framing::Complete { len } = frame_pdu(rest) {
            let pdu = &rest[..len];
            corpus.add("dcerpc_pdu", name, pdu.to_vec());
            if let Ok(parsed) = parse_pdu(pdu) {
                let stub = match parsed.body {
                    Body::Request(r) if r.opnum <= 14 && r.stub.len() <= 4096 => Some(r.stub),
                    Body::Response(r) if r.stub.len() == 28 => Some(r.stub),
                    _ => None,
                };
                if let Some(stub) = stub {
                    let selector = u8::from(parsed.header.drep.is_little_endian());
                    let mut seed = vec![selector];
                    seed.extend_from_slice(stub);
                    corpus.add("register_push", name, seed);
                }
            }
            rest = &rest[len..];
        }
    }
}
