//! Printers: tables (comfy-table), JSON, and the progress bar. They take report values only.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pushtrace_core::capture::FormatInfo;
use pushtrace_core::engine::{Analysis, ProgressFn, ProgressUpdate};
use pushtrace_core::report::{InputSummary, Reaction, Report, Session};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// A table whose rows start with an `input` column when the report covers several inputs.
struct PerInputTable {
    table: Table,
    multi: bool,
}

impl PerInputTable {
    fn new(multi: bool, header: &[&str]) -> Self {
        let mut table = table();
        let input = multi.then_some("input");
        table.set_header(input.into_iter().chain(header.iter().copied()));
        PerInputTable { table, multi }
    }

    fn row(&mut self, input: usize, cells: Vec<String>) {
        let input = self.multi.then(|| input.to_string());
        self.table.add_row(input.into_iter().chain(cells));
    }
}

impl std::fmt::Display for PerInputTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.table.fmt(f)
    }
}

/// Prints any serialisable value as one pretty JSON document.
pub fn json<T: serde::Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    writeln!(out)
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn describe_format(f: &FormatInfo) -> String {
    let mut s = format!("{} {}", f.format, f.version);
    if let Some(c) = f.compression {
        s.push_str(&format!(" ({c})"));
    }
    if f.times_are_local {
        s.push_str("\nlocal times read as UTC");
    }
    s
}

/// `pushtrace info`: one row per input, then its warnings.
pub fn info_table(out: &mut impl Write, inputs: &[InputSummary]) -> io::Result<()> {
    let mut t = table();
    t.set_header([
        "file",
        "format",
        "link types",
        "frames",
        "bytes",
        "first frame",
        "last frame",
        "warnings",
    ]);
    for i in inputs {
        let links: Vec<String> = i
            .link_types
            .iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        t.add_row([
            i.path.clone(),
            i.format.as_ref().map_or_else(String::new, describe_format),
            links.join("\n"),
            i.frames.to_string(),
            i.bytes.to_string(),
            or_dash(i.first_time.as_ref()),
            or_dash(i.last_time.as_ref()),
            i.warnings.len().to_string(),
        ]);
    }
    writeln!(out, "{t}")?;
    print_input_warnings(out, inputs)
}

fn print_input_warnings(out: &mut impl Write, inputs: &[InputSummary]) -> io::Result<()> {
    for i in inputs.iter().filter(|i| !i.warnings.is_empty()) {
        writeln!(out, "\nwarnings for {}:", i.path)?;
        for w in &i.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    Ok(())
}

/// `pushtrace rpc`: binds, the calls, then per-operation statistics and endpoint-mapper answers.
pub fn rpc_tables(out: &mut impl Write, a: &Analysis) -> io::Result<()> {
    let multi = a.report.inputs.len() > 1;
    let mut b = PerInputTable::new(
        multi,
        &["frame", "connection", "pdu", "interfaces", "results"],
    );
    for bind in &a.binds {
        let row = vec![
            bind.frame.to_string(),
            bind.connection.clone(),
            bind.pdu.to_string(),
            bind.interfaces.join(", "),
            bind.results.join(", "),
        ];
        b.row(bind.input, row);
    }
    writeln!(out, "{b}\n")?;
    let mut t = PerInputTable::new(
        multi,
        &[
            "request",
            "response",
            "time",
            "connection",
            "interface",
            "operation",
            "auth",
            "status",
        ],
    );
    for c in &a.calls {
        let row = vec![
            c.request_frame.to_string(),
            or_dash(c.response_frame),
            c.time.clone(),
            c.connection.clone(),
            c.interface.clone().unwrap_or_else(|| "unknown".into()),
            c.operation
                .clone()
                .unwrap_or_else(|| format!("opnum {}", c.opnum)),
            c.auth_level_name.clone(),
            c.status.clone(),
        ];
        t.row(c.input, row);
    }
    writeln!(out, "{t}")?;
    let mut s = table();
    s.set_header([
        "interface",
        "operation",
        "calls",
        "answered",
        "min SRT ms",
        "max SRT ms",
        "avg SRT ms",
    ]);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
    for st in &a.rpc_statistics {
        s.add_row([
            st.interface.clone(),
            st.operation.clone(),
            st.calls.to_string(),
            st.answered.to_string(),
            ms(st.min_srt_ms),
            ms(st.max_srt_ms),
            ms(st.avg_srt_ms),
        ]);
    }
    writeln!(out, "\n{s}")?;
    if !a.endpoints.is_empty() {
        let mut e = table();
        e.set_header(["frame", "server", "interface", "port"]);
        for ep in &a.endpoints {
            e.add_row([
                ep.frame.to_string(),
                ep.server.clone(),
                ep.interface.clone(),
                ep.port.to_string(),
            ]);
        }
        writeln!(out, "\nendpoint mapper answers:\n{e}")?;
    }
    print_input_warnings(out, &a.report.inputs)
}

/// `pushtrace analyze`: the verdict, one row per session, then each session's evidence,
/// advice and Wireshark filter.
pub fn analyze_table(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "overall verdict: {}", r.verdict.as_str())?;
    for trace in &r.traces {
        // A trace of views has a capture point per view; a chain or single input has one.
        let points = if trace.views.is_empty() {
            std::slice::from_ref(&trace.inputs)
        } else {
            trace.views.as_slice()
        };
        for inputs in points {
            print_capture_point(out, r, inputs)?;
        }
    }
    if r.sessions.is_empty() {
        writeln!(
            out,
            "no EMSMDB (Exchange MAPI over DCE/RPC on TCP) traffic found"
        )?;
    } else {
        let multi = r.inputs.len() > 1;
        let mut t = PerInputTable::new(
            multi,
            &[
                "client",
                "server",
                "user",
                "verdict",
                "registration",
                "callback",
                "datagrams",
                "ICMP errors",
            ],
        );
        for s in &r.sessions {
            let reg = s.registrations.last();
            let row = vec![
                s.client.clone(),
                s.server.clone(),
                or_dash(s.user.as_ref()),
                s.verdict.as_str().to_string(),
                reg.map_or_else(|| "-".into(), |r| format!("frame {}", r.request_frame)),
                reg.and_then(|r| r.callback.clone())
                    .or_else(|| reg.filter(|r| r.encrypted).map(|_| "(encrypted)".into()))
                    .unwrap_or_else(|| "-".into()),
                datagram_count(s),
                s.icmp_errors.len().to_string(),
            ];
            t.row(s.input, row);
        }
        writeln!(out, "{t}")?;
        for s in &r.sessions {
            print_session(out, r, s)?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for w in &r.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    Ok(())
}

/// Where the capture of `inputs` (one file, or a chain) was taken, and for a view of a
/// trace its clock against the reference.
fn print_capture_point(out: &mut impl Write, r: &Report, inputs: &[usize]) -> io::Result<()> {
    let Some(first) = inputs.first().and_then(|&i| r.inputs.get(i)) else {
        return Ok(());
    };
    if r.sessions.is_empty() && first.capture_point.basis.is_empty() {
        return Ok(());
    }
    let name = if r.inputs.len() > 1 {
        let files: Vec<&str> = inputs
            .iter()
            .filter_map(|&i| r.inputs.get(i).map(|s| s.path.as_str()))
            .collect();
        format!(" ({})", files.join(", "))
    } else {
        String::new()
    };
    let why = first
        .capture_point
        .basis
        .first()
        .map_or(String::new(), |b| format!(": {b}"));
    writeln!(out, "captured at{name}: {}{why}", first.vantage.as_str())?;
    if let Some(c) = &first.clock {
        let reference = r.inputs.get(c.reference).map_or("", |i| i.path.as_str());
        writeln!(
            out,
            "  clock {:+.3} ms against {reference} (±{:.3} ms; {:.3} ms apart on the wire; {} packets matched); times below are on {reference}'s clock",
            c.offset_ms, c.spread_ms, c.delay_ms, c.shared_packets
        )?;
    }
    Ok(())
}

/// How many datagrams a session has, and how many the client answered.
fn datagram_count(s: &Session) -> String {
    let answered = s
        .datagrams
        .iter()
        .filter(|d| d.reaction == Reaction::Reacted)
        .count();
    match s.datagrams.len() {
        0 => "0".into(),
        n => format!("{n} ({answered} answered)"),
    }
}

fn print_session(out: &mut impl Write, r: &Report, s: &Session) -> io::Result<()> {
    let path = |input: usize| r.inputs.get(input).map_or("", |i| i.path.as_str());
    let files: Vec<&str> = s.inputs.iter().map(|&i| path(i)).collect();
    let inferred = if s.inferred {
        ", recognised without its bind"
    } else {
        ""
    };
    writeln!(
        out,
        "\n{} ↔ {} — {} ({}{inferred})",
        s.client,
        s.server,
        s.verdict.as_str(),
        files.join(", ")
    )?;
    // Frames are numbered per file: name the file when the session spans several.
    let in_file = |input: usize| {
        if s.inputs.len() > 1 {
            format!("{} ", path(input))
        } else {
            String::new()
        }
    };
    for e in &s.evidence {
        if e.frames.is_empty() {
            writeln!(out, "  • {}", e.text)?;
        } else {
            let frames: Vec<String> = e.frames.iter().map(u64::to_string).collect();
            writeln!(
                out,
                "  • {} [{}frames {}]",
                e.text,
                in_file(e.input),
                frames.join(", ")
            )?;
        }
    }
    for a in &s.advice {
        writeln!(out, "  → {a}")?;
    }
    for f in &s.wireshark_filters {
        writeln!(
            out,
            "  Wireshark{}: {}",
            match in_file(f.input).trim_end() {
                "" => String::new(),
                file => format!(" ({file})"),
            },
            f.filter
        )?;
    }
    Ok(())
}

/// One progress bar per input on stderr, fed by the engine's progress callback.
pub struct ProgressBars {
    multi: MultiProgress,
    bars: Arc<Mutex<HashMap<usize, ProgressBar>>>,
}

impl ProgressBars {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
        ProgressBars {
            multi: MultiProgress::new(),
            bars: Arc::default(),
        }
    }

    /// The callback to hand to the engine.
    pub fn callback(&self) -> ProgressFn {
        let multi = self.multi.clone();
        let bars = Arc::clone(&self.bars);
        Arc::new(move |u: ProgressUpdate| {
            let Ok(mut bars) = bars.lock() else { return };
            let bar = bars.entry(u.input).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(u.len.unwrap_or(0)));
                let template = if u.len.is_some() {
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}"
                } else {
                    "{spinner} {bytes} {bytes_per_sec} {msg}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style);
                }
                bar
            });
            bar.set_position(u.position);
        })
    }

    /// Removes the bars.
    pub fn finish(self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                b.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}
