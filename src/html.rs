//! `analyze --format html`: the report as one self-contained HTML5 page (inline CSS and SVG,
//! no script, nothing fetched), to read offline or attach to a ticket. Every string from the
//! report goes through maud's escaping.

mod time;
mod timeline;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use pushtrace_core::report::{InputSummary, Reaction, Report, Session, Verdict};
use std::io::{self, Write};

/// The page's style sheet, inlined into its `<head>`.
const STYLE: &str = include_str!("html/style.css");

/// Writes the report as one self-contained HTML page.
pub fn report(out: &mut impl Write, r: &Report) -> io::Result<()> {
    out.write_all(page(r).into_string().as_bytes())
}

/// The whole page: verdict, inputs, one section per session, warnings.
fn page(r: &Report) -> Markup {
    let cite = Cite::new(r);
    let unread = r.inputs.iter().filter(|i| i.error.is_some()).count();
    let nothing_read = r.verdict == Verdict::Unreadable;
    let headline = if nothing_read {
        "inputs could not be read"
    } else {
        r.verdict.as_str()
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "pushtrace: " (headline) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Outlook push notifications: pushtrace report" }
                    div.banner.(severity_class(r.verdict)) {
                        @if nothing_read {
                            p.verdict { "The inputs could not be read." }
                        } @else {
                            p.verdict { "Overall verdict: " strong { (r.verdict.as_str()) } }
                        }
                        p { (meaning(r.verdict)) }
                        @if unread > 0 && !nothing_read {
                            p {
                                (unread) " of " (r.inputs.len())
                                " inputs could not be read: the verdict covers the others only."
                            }
                        }
                    }
                }
                (inputs(r))
                @if !nothing_read {
                    (summary(r))
                    @for (i, s) in r.sessions.iter().enumerate() {
                        (session(i, s, &cite))
                    }
                }
                @if !r.artefacts.is_empty() {
                    (findings(r))
                }
                @if !r.warnings.is_empty() {
                    section #warnings {
                        h2 { "Warnings" }
                        ul { @for w in &r.warnings { li { (w) } } }
                    }
                }
                footer { "Written by pushtrace " (env!("CARGO_PKG_VERSION")) "." }
            }
        }
    }
}

/// Names frames as a reader finds them in Wireshark: frame numbers are per file, so the file
/// is named too when the report has several inputs.
struct Cite<'a> {
    paths: Vec<&'a str>,
}

impl<'a> Cite<'a> {
    /// Citations for the inputs of `r`.
    fn new(r: &'a Report) -> Self {
        Cite {
            paths: r.inputs.iter().map(|i| i.path.as_str()).collect(),
        }
    }

    /// The path of `input`, when the report has several inputs.
    fn file(&self, input: usize) -> Option<&'a str> {
        self.paths
            .get(input)
            .copied()
            .filter(|_| self.paths.len() > 1)
    }

    /// `frame N`, or `frame N in FILE`.
    fn frame(&self, input: usize, frame: u64) -> String {
        self.frames(input, &[frame])
    }

    /// `frame N` or `frames N, M`, followed by ` in FILE` when the report has several inputs.
    fn frames(&self, input: usize, frames: &[u64]) -> String {
        let list: Vec<String> = frames.iter().map(u64::to_string).collect();
        let word = if frames.len() == 1 { "frame" } else { "frames" };
        match self.file(input) {
            Some(file) => format!("{word} {} in {file}", list.join(", ")),
            None => format!("{word} {}", list.join(", ")),
        }
    }
}

/// The CSS class colouring a verdict: green flowing, red push broken, amber push not in use
/// or unproven, grey nothing decided; an outlined error when nothing could be read.
fn severity_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Flowing => "sev-ok",
        Verdict::Blocked | Verdict::Dropped | Verdict::Refused | Verdict::AddressMismatch => {
            "sev-bad"
        }
        Verdict::NotRegistered | Verdict::NoDatagram => "sev-warn",
        Verdict::Inconclusive | Verdict::NoEmsmdb => "sev-unknown",
        Verdict::Unreadable => "sev-error",
    }
}

/// What a verdict means, in one sentence.
fn meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::Flowing => {
            "The client answers the notification datagrams: push notifications reach it."
        }
        Verdict::Blocked => {
            "Notification datagrams are answered by ICMP destination-unreachable errors."
        }
        Verdict::Dropped => {
            "Notification datagrams get no reaction while the client goes on calling the \
             server: a firewall or filter drops them."
        }
        Verdict::Refused => "The push registration failed.",
        Verdict::AddressMismatch => {
            "The callback address is not the client's address as the server sees it (NAT, VPN)."
        }
        Verdict::NotRegistered => {
            "The client logged on and went on working, but never registered for push \
             notifications."
        }
        Verdict::NoDatagram => {
            "The registration did not fail, but no notification datagram for it came in at \
             least a poll interval."
        }
        Verdict::Inconclusive => {
            "Outlook traffic, but nothing decides: the advice says what is missing."
        }
        Verdict::NoEmsmdb => "No EMSMDB (Exchange MAPI over DCE/RPC on TCP) traffic was found.",
        Verdict::Unreadable => {
            "No traffic was analysed, so there is no verdict. The inputs below say why each \
             could not be read."
        }
    }
}

/// The table of inputs: what was read from each, where it was captured, its clock; or why
/// it could not be read.
fn inputs(r: &Report) -> Markup {
    html! {
        section #inputs {
            h2 { "Inputs" }
            table {
                (head(&["file", "format", "frames", "first frame", "last frame", "captured at"]))
                tbody {
                    @for input in &r.inputs {
                        tr.error[input.error.is_some()] {
                            td { code { (input.path) } }
                            @if let Some(error) = &input.error {
                                td colspan="5" { strong { "could not be read: " } (error) }
                            } @else {
                                (input_cells(r, input))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The cells of an input that was read.
fn input_cells(r: &Report, input: &InputSummary) -> Markup {
    let time = |t: &Option<String>| t.as_deref().map_or("–".into(), time::readable);
    html! {
        td {
            @if let Some(f) = &input.format {
                (f.format) " " (f.version)
                @if let Some(c) = f.compression { " (" (c) ")" }
                @if f.times_are_local { br; "local times read as UTC" }
            }
        }
        td { (input.frames) }
        td { (time(&input.first_time)) }
        td { (time(&input.last_time)) }
        td {
            strong { (input.vantage.as_str()) }
            @if let Some(basis) = input.capture_point.basis.first() { ": " (basis) }
            @if let Some(c) = &input.clock {
                @let reference = r.inputs.get(c.reference).map_or("?", |i| i.path.as_str());
                p.clock {
                    (format!(
                        "clock {:+.3} ms against {reference} (±{:.3} ms; {:.3} ms apart on the \
                         wire; {} packets matched): its times are shown on {reference}'s clock",
                        c.offset_ms, c.spread_ms, c.delay_ms, c.shared_packets
                    ))
                }
            }
        }
    }
}

/// One row per session, linking to its section; or a note that there is none.
fn summary(r: &Report) -> Markup {
    html! {
        section #sessions {
            h2 { "Sessions" }
            @if r.sessions.is_empty() {
                p { (meaning(Verdict::NoEmsmdb)) }
            } @else {
                table {
                    (head(&[
                        "client", "server", "user", "verdict", "datagrams (reacted)", "ICMP errors",
                    ]))
                    tbody {
                        @for (i, s) in r.sessions.iter().enumerate() {
                            @let reacted = s
                                .datagrams
                                .iter()
                                .filter(|d| d.reaction == Reaction::Reacted)
                                .count();
                            tr {
                                td { a href=(format!("#session-{}", i + 1)) { (s.client) } }
                                td { (s.server) }
                                td { (s.user_short_name().unwrap_or("–")) }
                                td {
                                    span.badge.(severity_class(s.verdict)) { (s.verdict.as_str()) }
                                }
                                td { (s.datagrams.len()) " (" (reacted) ")" }
                                td { (s.icmp_errors.len()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The configuration findings: what is wrong, where, and the fix; then what the artefacts
/// could not decide, and those that could not be read.
fn findings(r: &Report) -> Markup {
    html! {
        section #findings {
            h2 { "Configuration" }
            @if r.findings.is_empty() {
                p { "Nothing wrong found in the configuration artefacts." }
            }
            @for f in &r.findings {
                div.finding.(f.severity.as_str()) {
                    h3 { code { (f.code.as_str()) } " (" (f.severity.as_str()) ")" }
                    p.place { (f.file) ": " code { (f.r#where) } }
                    p.what { (f.text) }
                    p.fix { "Fix: " (f.advice) }
                }
            }
            @if !r.config_notes.is_empty() {
                ul.notes { @for n in &r.config_notes { li { (n.text) " (" (n.file) ")" } } }
            }
            @for a in r.artefacts.iter().filter(|a| a.error.is_some()) {
                p.error { (a.path) ": not checked: " (a.error.as_deref().unwrap_or_default()) }
            }
        }
    }
}

/// A table's header row.
fn head(columns: &[&str]) -> Markup {
    html! { thead { tr { @for c in columns { th { (c) } } } } }
}

/// A session's section: header, timeline, evidence, advice and Wireshark filters.
fn session(index: usize, s: &Session, cite: &Cite) -> Markup {
    let files: Vec<&str> = s.inputs.iter().filter_map(|&i| cite.file(i)).collect();
    html! {
        section.session id=(format!("session-{}", index + 1)) {
            h2 {
                span.client { (s.client) } " ↔ " span.server { (s.server) } " "
                span.badge.verdict.(severity_class(s.verdict)) { (s.verdict.as_str()) }
            }
            @if let (Some(dn), Some(short)) = (&s.user, s.user_short_name()) {
                p.user {
                    "user " strong.short { (short) }
                    " " code.dn { (dn) }
                }
            }
            ul.facts {
                @if !files.is_empty() { li { "seen in " (files.join(", ")) } }
                @if s.inferred {
                    li { "recognised without its bind: the capture began after Outlook connected" }
                }
                @if s.uses_async_notifications {
                    li { "the client waits for notifications through AsyncEMSMDB instead of UDP" }
                }
            }
            (timeline::figure(s, cite))
            h3 { "Evidence" }
            ul.evidence {
                @for e in &s.evidence {
                    li {
                        (e.text)
                        @if !e.frames.is_empty() {
                            " " span.frames { "[" (cite.frames(e.input, &e.frames)) "]" }
                        }
                    }
                }
            }
            @if !s.advice.is_empty() {
                h3 { "Advice" }
                ul.advice { @for a in &s.advice { li { (a) } } }
            }
            @if !s.wireshark_filters.is_empty() {
                h3 { "Wireshark display filter" }
                @for f in &s.wireshark_filters {
                    @if let Some(file) = cite.file(f.input) {
                        p.filter-file { "in " code { (file) } }
                    }
                    pre { code { (f.filter) } }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pushtrace_core::config::{Finding, FindingCode, Severity};
    use pushtrace_core::report::{
        ArtefactInput, CapturePoint, Datagram, Evidence, InputFilter, Polling, Registration,
        SeenAt, TraceKind, TraceSummary, Vantage,
    };
    use scraper::{Html, Selector};

    /// Markup that would run or break out if it were not escaped.
    const HOSTILE: &str = "<script>alert(1)</script>\"&'</title></svg><b onmouseover=x>";
    /// A user DN whose last `cn=` holds markup (no `/`, so it stays the last component).
    const HOSTILE_DN: &str = "/o=Contoso/cn=Recipients/cn=<b onmouseover=alert(1)>&\"'";

    /// An input that was read, with `path`.
    fn input(path: &str) -> InputSummary {
        InputSummary {
            path: path.into(),
            error: None,
            format: None,
            frames: 10,
            bytes: 1000,
            link_types: Default::default(),
            first_time: Some("2025-11-03T09:00:00.000000Z".into()),
            last_time: Some("2025-11-03T09:01:00.000000Z".into()),
            warnings: vec![],
            warning_details: vec![],
            counters: serde_json::Value::Null,
            trace: 0,
            vantage: Vantage::Client,
            capture_point: CapturePoint::default(),
            clock: None,
        }
    }

    /// A session with one registration at `t0`, one datagram from `from` at `t1` that the
    /// client reacted to, and one ROP call at `t0`.
    pub(crate) fn session(t0: &str, t1: &str, from: &str) -> Session {
        let at = |frame, time: &str| SeenAt {
            input: 0,
            frame,
            time: time.into(),
        };
        Session {
            client: "10.0.0.21".into(),
            server: "10.0.0.5".into(),
            input: 0,
            inputs: vec![0],
            verdict: Verdict::Flowing,
            user: Some(HOSTILE_DN.into()),
            inferred: false,
            connections: vec![],
            registrations: vec![Registration {
                input: 0,
                request_frame: 3,
                response_frame: Some(4),
                response_input: None,
                time: t0.into(),
                callback: Some("10.0.0.21:1088".into()),
                context: None,
                status: Some(0),
                status_name: Some("ecNone".into()),
                fault: None,
                encrypted: false,
                stub_len: 66,
                decode_error: None,
            }],
            unregistrations: vec![],
            datagrams: vec![Datagram {
                input: 0,
                frame: 7,
                time: t1.into(),
                from: from.into(),
                to: "10.0.0.21:1088".into(),
                len: 8,
                matches_context: Some(true),
                reaction: Reaction::Reacted,
                reaction_frame: Some(8),
                reaction_input: None,
                reaction_delay_ms: Some(70.0),
                seen_at: vec![at(7, t1)],
            }],
            icmp_errors: vec![],
            polling: Polling {
                calls: 1,
                shown: vec![at(2, t0)],
                ..Polling::default()
            },
            poll_interval_ms: None,
            uses_async_notifications: false,
            evidence: vec![Evidence {
                input: 0,
                frames: vec![3, 4],
                text: HOSTILE.into(),
            }],
            advice: vec![HOSTILE.into()],
            wireshark_filter: String::new(),
            wireshark_filters: vec![InputFilter {
                input: 0,
                filter: "frame.number in {3 4 7 8}".into(),
            }],
        }
    }

    /// A report of one input at `path` and one session with hostile strings throughout.
    fn hostile_report() -> Report {
        Report {
            schema: 1,
            verdict: Verdict::Flowing,
            inputs: vec![input(HOSTILE)],
            traces: vec![TraceSummary {
                kind: TraceKind::Single,
                inputs: vec![0],
                views: vec![],
            }],
            warnings: vec![HOSTILE.into()],
            sessions: vec![session(
                "2025-11-03T09:00:00.000000Z",
                "2025-11-03T09:00:30.000000Z",
                HOSTILE,
            )],
            findings: vec![Finding {
                code: FindingCode::EnumprotFailed,
                severity: Severity::Error,
                file: HOSTILE.into(),
                r#where: HOSTILE.into(),
                text: HOSTILE.into(),
                advice: HOSTILE.into(),
            }],
            config_notes: Vec::new(),
            artefacts: vec![ArtefactInput {
                path: HOSTILE.into(),
                error: Some(HOSTILE.into()),
                summary: None,
            }],
        }
    }

    /// The texts of the elements `selector` finds.
    fn texts(doc: &Html, selector: &str) -> Vec<String> {
        let sel = Selector::parse(selector).expect("selector");
        doc.select(&sel).map(|e| e.text().collect()).collect()
    }

    #[test]
    fn hostile_strings_are_text_not_markup() {
        let html = page(&hostile_report()).into_string();
        let doc = Html::parse_document(&html);
        assert!(texts(&doc, "script").is_empty(), "no script element");
        let any = Selector::parse("*").expect("selector");
        for e in doc.select(&any) {
            let name = e.value().name();
            assert!(name != "b", "no element from the report's strings");
            assert!(
                e.value().attrs().all(|(a, _)| !a.starts_with("on")),
                "no event handler on <{name}>"
            );
        }
        assert_eq!(texts(&doc, "code.dn"), [HOSTILE_DN]);
        assert_eq!(
            texts(&doc, "strong.short"),
            ["<b onmouseover=alert(1)>&\"'"]
        );
        assert_eq!(texts(&doc, "#inputs td code"), [HOSTILE]);
        assert_eq!(texts(&doc, "#warnings li"), [HOSTILE]);
        assert_eq!(texts(&doc, "ul.advice li"), [HOSTILE]);
        // The finding's file, place, text and fix, and the unreadable artefact.
        assert_eq!(
            texts(&doc, "#findings p.place"),
            [format!("{HOSTILE}: {HOSTILE}")]
        );
        assert_eq!(texts(&doc, "#findings p.what"), [HOSTILE]);
        assert_eq!(texts(&doc, "#findings p.fix"), [format!("Fix: {HOSTILE}")]);
        assert_eq!(
            texts(&doc, "#findings p.error"),
            [format!("{HOSTILE}: not checked: {HOSTILE}")]
        );
        assert_eq!(
            texts(&doc, "ul.evidence li"),
            [format!("{HOSTILE} [frames 3, 4]")]
        );
        let titles = texts(&doc, "svg g.mark > title");
        assert!(
            titles
                .iter()
                .any(|t| t.contains(&format!("{HOSTILE} → 10.0.0.21:1088"))),
            "{titles:?}"
        );
        assert_eq!(
            texts(&doc, "head title"),
            ["pushtrace: flowing"],
            "the page title is intact"
        );
    }

    #[test]
    fn unreadable_inputs_give_no_verdict() {
        let mut r = hostile_report();
        r.inputs[0].error = Some("cannot read it".into());
        r.verdict = Verdict::Unreadable;
        r.sessions.clear();
        let doc = Html::parse_document(&page(&r).into_string());
        let banner = texts(&doc, ".banner").concat();
        assert!(banner.contains("could not be read"), "{banner}");
        assert!(!banner.contains("Overall verdict"), "{banner}");
        assert!(texts(&doc, "#sessions").is_empty());
        assert_eq!(
            texts(&doc, "#inputs tr.error td"),
            [HOSTILE, "could not be read: cannot read it"]
        );
    }
}
