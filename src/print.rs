//! Printers: tables (comfy-table), JSON, and the progress bar. They take report values only.

use crate::terminal::{verdict_style, Terminal, ERROR, HEADING, WARNING};
use anstyle::AnsiColor;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, LineStyle, Table, TableStyle};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pushtrace_core::capture::FormatInfo;
use pushtrace_core::config::{Finding, Note, Severity};
use pushtrace_core::engine::{Analysis, Checked, ProgressFn, ProgressUpdate};
use pushtrace_core::report::{ArtefactInput, InputSummary, Reaction, Report, Session, Verdict};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// A bordered table that wraps its cells to fit `term`.
fn table(term: &Terminal) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(term.width).unwrap_or(u16::MAX));
    t
}

/// A table whose rows start with an `input` column when the report covers several inputs.
struct PerInputTable {
    table: Table,
    multi: bool,
}

impl PerInputTable {
    fn new(multi: bool, header: &[&str], term: &Terminal) -> Self {
        let mut table = table(term);
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
pub fn info_table(
    out: &mut impl Write,
    inputs: &[InputSummary],
    term: &Terminal,
) -> io::Result<()> {
    let mut t = table(term);
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
pub fn rpc_tables(out: &mut impl Write, a: &Analysis, term: &Terminal) -> io::Result<()> {
    let multi = a.report.inputs.len() > 1;
    let mut b = PerInputTable::new(
        multi,
        &["frame", "connection", "pdu", "interfaces", "results"],
        term,
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
        term,
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
    let mut s = table(term);
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
        let mut e = table(term);
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
/// advice and Wireshark filter, laid out for `term`. Nothing is claimed about traffic when
/// no input could be read (the errors are on stderr).
pub fn analyze_table(out: &mut impl Write, r: &Report, term: &Terminal) -> io::Result<()> {
    if r.verdict == Verdict::Unreadable {
        return Ok(());
    }
    let unread: Vec<&InputSummary> = r.inputs.iter().filter(|i| i.error.is_some()).collect();
    let of = if unread.is_empty() {
        String::new()
    } else {
        format!(
            " ({} of {} inputs read)",
            r.inputs.len() - unread.len(),
            r.inputs.len()
        )
    };
    writeln!(
        out,
        "{}{of}: {}",
        term.paint(HEADING, "overall verdict"),
        term.verdict(r.verdict)
    )?;
    for i in unread {
        let line = format!(
            "{}: not judged: {}",
            i.path,
            i.error.as_deref().unwrap_or_default()
        );
        writeln!(out, "{}", term.paint(ERROR, &term.wrap(&line, "", "  ")))?;
    }
    for trace in &r.traces {
        // A trace of views has a capture point per view; a chain or single input has one.
        let points = if trace.views.is_empty() {
            std::slice::from_ref(&trace.inputs)
        } else {
            trace.views.as_slice()
        };
        for inputs in points {
            print_capture_point(out, r, inputs, term)?;
        }
    }
    if r.inputs.is_empty() {
        writeln!(out, "no capture among the inputs")?;
    } else if r.sessions.is_empty() {
        writeln!(
            out,
            "no EMSMDB (Exchange MAPI over DCE/RPC on TCP) traffic found"
        )?;
    } else {
        writeln!(out, "{}", sessions_table(r, term))?;
        for s in &r.sessions {
            print_session(out, r, s, term)?;
        }
    }
    if !r.artefacts.is_empty() {
        writeln!(out)?;
        print_findings(out, &r.findings, &r.config_notes, &r.artefacts, term)?;
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\n{}", term.paint(WARNING, "warnings:"))?;
        for w in &r.warnings {
            writeln!(out, "{}", term.wrap(w, "  - ", "    "))?;
        }
    }
    Ok(())
}

/// `pushtrace check`: the findings, what could not be decided, and the inputs read.
pub fn check_table(out: &mut impl Write, c: &Checked, term: &Terminal) -> io::Result<()> {
    if c.inputs.iter().all(|i| i.error.is_some()) {
        return Ok(());
    }
    print_findings(out, &c.findings, &c.notes, &c.inputs, term)?;
    let mut t = table(term);
    t.set_header(["file", "kind", "encoding", "lines"]);
    for i in &c.inputs {
        let Some(summary) = &i.summary else {
            continue;
        };
        t.add_row([
            i.path.clone(),
            summary.kind().as_str().to_string(),
            summary.encoding.as_str().to_string(),
            summary.lines.to_string(),
        ]);
    }
    writeln!(out, "\n{t}")
}

/// The configuration findings (each with where it is and its fix), the notes on what could
/// not be decided, and the artefacts that could not be read.
fn print_findings(
    out: &mut impl Write,
    findings: &[Finding],
    notes: &[Note],
    inputs: &[ArtefactInput],
    term: &Terminal,
) -> io::Result<()> {
    let heading = match findings.len() {
        0 => "configuration: nothing wrong found".to_string(),
        n => format!("configuration: {n} finding(s)"),
    };
    writeln!(out, "{}", term.paint(HEADING, &heading))?;
    for f in findings {
        let style = match f.severity {
            Severity::Error => ERROR,
            Severity::Warning => WARNING,
        };
        let code = format!("{} ({})", f.code.as_str(), f.severity.as_str());
        let line = format!("{} in {}, {}", term.paint(style, &code), f.file, f.r#where);
        writeln!(out, "{}", term.wrap(&line, "  ✗ ", "    "))?;
        writeln!(out, "{}", term.wrap(&f.text, "    ", "    "))?;
        writeln!(out, "{}", term.wrap(&f.advice, "    → ", "      "))?;
    }
    for n in notes {
        let line = format!("{} ({})", n.text, n.file);
        writeln!(out, "{}", term.wrap(&line, "  ? ", "    "))?;
    }
    for i in inputs {
        if let Some(error) = &i.error {
            let line = format!("{}: not checked: {error}", i.path);
            writeln!(
                out,
                "{}",
                term.paint(ERROR, &term.wrap(&line, "  ", "    "))
            )?;
        }
    }
    Ok(())
}

/// A column of the sessions table. The table drops columns, least needed first, until it
/// fits the width: what they show is in each session's detail block too.
struct SessionColumn {
    header: &'static str,
    /// Dropped before columns with a higher rank.
    rank: u8,
    /// The cell's text for a session.
    cell: fn(&Report, &Session, &Terminal) -> String,
}

/// The columns, in the order shown.
const SESSION_COLUMNS: &[SessionColumn] = &[
    SessionColumn {
        header: "input",
        rank: 6,
        cell: |_, s, _| s.input.to_string(),
    },
    SessionColumn {
        header: "client",
        rank: 9,
        cell: |_, s, _| s.client.clone(),
    },
    SessionColumn {
        header: "server",
        rank: 8,
        cell: |_, s, _| s.server.clone(),
    },
    SessionColumn {
        header: "user",
        rank: 3,
        cell: |_, s, _| s.user_short_name().unwrap_or("-").to_string(),
    },
    SessionColumn {
        header: "verdict",
        rank: 9,
        cell: |_, s, _| s.verdict.as_str().into(),
    },
    SessionColumn {
        header: "callback",
        rank: 5,
        cell: |_, s, _| callback(s),
    },
    SessionColumn {
        header: "datagrams",
        rank: 4,
        cell: |_, s, _| datagram_count(s),
    },
    SessionColumn {
        header: "ICMP",
        rank: 2,
        cell: |_, s, _| s.icmp_errors.len().to_string(),
    },
    SessionColumn {
        header: "registration",
        rank: 1,
        cell: |_, s, _| {
            s.registrations
                .last()
                .map_or_else(|| "-".into(), |r| format!("frame {}", r.request_frame))
        },
    },
];

/// One row per session, with as many columns as fit the width; no cell is wrapped (an
/// address split over two lines cannot be copied).
fn sessions_table(r: &Report, term: &Terminal) -> String {
    let multi = r.inputs.len() > 1;
    let mut shown: Vec<&SessionColumn> = SESSION_COLUMNS
        .iter()
        .filter(|c| multi || c.header != "input")
        .collect();
    let plain = Terminal {
        colour: false,
        ..*term
    };
    loop {
        let table = sessions_table_with(r, &shown, &plain);
        let widest = table.lines().map(|l| display_width(&l)).max().unwrap_or(0);
        let least = shown
            .iter()
            .enumerate()
            .filter(|(_, c)| c.rank < 8)
            .min_by_key(|(_, c)| c.rank)
            .map(|(i, _)| i);
        match least {
            Some(i) if widest > term.width => {
                shown.remove(i);
            }
            _ => return sessions_table_with(r, &shown, term).trim_fmt(),
        }
    }
}

fn sessions_table_with(r: &Report, columns: &[&SessionColumn], term: &Terminal) -> Table {
    let mut t = Table::new();
    t.load_style(SESSIONS_STYLE)
        .set_content_arrangement(ContentArrangement::Disabled);
    if term.colour {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    // comfy-table styles the cells itself so that it measures them without the colours.
    t.set_header(
        columns
            .iter()
            .map(|c| Cell::new(c.header).add_attribute(Attribute::Bold)),
    );
    // Two spaces between columns, none after the last (a coloured cell keeps its padding).
    let last = columns.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    for s in &r.sessions {
        t.add_row(columns.iter().map(|c| {
            let cell = Cell::new((c.cell)(r, s, term));
            if c.header == "verdict" {
                verdict_cell(cell, s.verdict)
            } else {
                cell
            }
        }));
    }
    t
}

/// A verdict cell in the colours of [`verdict_style`].
fn verdict_cell(cell: Cell, v: Verdict) -> Cell {
    let style = verdict_style(v);
    let cell = match style.get_fg_color() {
        Some(anstyle::Color::Ansi(AnsiColor::Green)) => cell.fg(Color::Green),
        Some(anstyle::Color::Ansi(AnsiColor::Yellow)) => cell.fg(Color::Yellow),
        Some(_) => cell.fg(Color::Red),
        None => cell,
    };
    if style.get_effects().contains(anstyle::Effects::BOLD) {
        cell.add_attribute(Attribute::Bold)
    } else {
        cell
    }
}

/// A line under the header and nothing else: the columns are aligned by spaces.
const SESSIONS_STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

/// Columns a string takes on a terminal, ANSI colours excluded.
fn display_width(s: &str) -> usize {
    textwrap::core::display_width(s)
}

/// The last registration's callback, `(encrypted)` when sealed, `-` when none.
fn callback(s: &Session) -> String {
    let reg = s.registrations.last();
    reg.and_then(|r| r.callback.clone())
        .or_else(|| reg.filter(|r| r.encrypted).map(|_| "(encrypted)".into()))
        .unwrap_or_else(|| "-".into())
}

/// Where the capture of `inputs` (one file, or a chain) was taken, and for a view of a
/// trace its clock against the reference.
fn print_capture_point(
    out: &mut impl Write,
    r: &Report,
    inputs: &[usize],
    term: &Terminal,
) -> io::Result<()> {
    let Some(first) = inputs.first().and_then(|&i| r.inputs.get(i)) else {
        return Ok(());
    };
    if first.error.is_some() || r.sessions.is_empty() && first.capture_point.basis.is_empty() {
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
    let line = format!("captured at{name}: {}{why}", first.vantage.as_str());
    writeln!(out, "{}", term.wrap(&line, "", "  "))?;
    if let Some(c) = &first.clock {
        let reference = r.inputs.get(c.reference).map_or("", |i| i.path.as_str());
        let line = format!(
            "clock {:+.3} ms against {reference} (±{:.3} ms; {:.3} ms apart on the wire; {} packets matched); times below are on {reference}'s clock",
            c.offset_ms, c.spread_ms, c.delay_ms, c.shared_packets
        );
        writeln!(out, "{}", term.wrap(&line, "  ", "    "))?;
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

/// A session's detail block: heading, user, evidence, advice and filters, each line
/// wrapped with a hanging indent.
fn print_session(out: &mut impl Write, r: &Report, s: &Session, term: &Terminal) -> io::Result<()> {
    let path = |input: usize| r.inputs.get(input).map_or("", |i| i.path.as_str());
    let files: Vec<&str> = s.inputs.iter().map(|&i| path(i)).collect();
    let inferred = if s.inferred {
        ", recognised without its bind"
    } else {
        ""
    };
    let heading = format!(
        "{} — {} ({}{inferred})",
        term.paint(HEADING, &format!("{} ↔ {}", s.client, s.server)),
        term.verdict(s.verdict),
        files.join(", ")
    );
    writeln!(out, "\n{}", term.wrap(&heading, "", "  "))?;
    if let Some(user) = &s.user {
        writeln!(out, "{}", term.wrap(&format!("user {user}"), "  ", "    "))?;
    }
    // Frames are numbered per file: name the file when the session spans several.
    let in_file = |input: usize| {
        if s.inputs.len() > 1 {
            format!("{} ", path(input))
        } else {
            String::new()
        }
    };
    for e in &s.evidence {
        let line = if e.frames.is_empty() {
            e.text.clone()
        } else {
            let frames: Vec<String> = e.frames.iter().map(u64::to_string).collect();
            format!(
                "{} [{}frames {}]",
                e.text,
                in_file(e.input),
                frames.join(", ")
            )
        };
        writeln!(out, "{}", term.wrap(&line, "  • ", "    "))?;
    }
    for a in &s.advice {
        writeln!(out, "{}", term.wrap(a, "  → ", "    "))?;
    }
    for f in &s.wireshark_filters {
        let line = format!(
            "Wireshark{}: {}",
            match in_file(f.input).trim_end() {
                "" => String::new(),
                file => format!(" ({file})"),
            },
            f.filter
        );
        writeln!(out, "{}", term.wrap(&line, "  ", "    "))?;
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
