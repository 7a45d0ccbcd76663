//! `analyze --format html`: the page, parsed as a browser would, shows every session of the
//! JSON report with its verdict, and a timeline mark (whose `<title>` names the frame) for
//! every registration, unregistration, datagram, ICMP error, reaction and drawn ROP call; it
//! loads nothing from elsewhere and runs no script; an unreadable input is an error, never a
//! verdict about traffic.

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use std::process::{Command, Output};

/// Runs `pushtrace analyze --format FORMAT FILES...` from the workspace root.
fn analyze(format: &str, files: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushtrace"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["analyze", "--format", format])
        .args(files)
        .output()
        .expect("pushtrace runs")
}

/// The HTML page and the JSON report of the same inputs, after checking that both exit alike.
fn page_and_report(files: &[&str]) -> (Html, Value) {
    let html = analyze("html", files);
    let json = analyze("json", files);
    assert_eq!(html.status.code(), json.status.code(), "same exit code");
    let text = String::from_utf8(html.stdout).expect("UTF-8 page");
    assert!(
        text.starts_with("<!DOCTYPE html>"),
        "{}",
        &text[..40.min(text.len())]
    );
    let report = serde_json::from_slice(&json.stdout).expect("one JSON document");
    (Html::parse_document(&text), report)
}

/// The elements `selector` finds below `root`.
fn select<'a>(root: ElementRef<'a>, selector: &str) -> Vec<ElementRef<'a>> {
    let sel = Selector::parse(selector).expect("selector");
    root.select(&sel).collect()
}

/// The text of an element.
fn text(e: ElementRef) -> String {
    e.text().collect()
}

/// The texts of the elements `selector` finds below `root`.
fn texts(root: ElementRef, selector: &str) -> Vec<String> {
    select(root, selector).into_iter().map(text).collect()
}

/// How the page names a frame: `frame N`, and `in PATH` when the report has several inputs.
fn cite(report: &Value, input: &Value, frame: &Value) -> String {
    let inputs = report["inputs"].as_array().expect("inputs");
    let input = input.as_u64().expect("input") as usize;
    match inputs.len() {
        1 => format!("frame {frame}"),
        _ => format!(
            "frame {frame} in {}",
            inputs[input]["path"].as_str().expect("path")
        ),
    }
}

/// The mark titles a session's timeline must hold: `What: frame N [in FILE] at `.
fn expected_marks(report: &Value, s: &Value) -> Vec<String> {
    let items = |key: &str| s[key].as_array().cloned().unwrap_or_default();
    let mark = |what: &str, input: &Value, frame: &Value| {
        format!("{what}: {} at ", cite(report, input, frame))
    };
    let mut marks = Vec::new();
    for r in items("registrations") {
        marks.push(mark("Registration", &r["input"], &r["request_frame"]));
    }
    for u in items("unregistrations") {
        marks.push(mark("Unregistration", &u["input"], &u["frame"]));
    }
    for d in items("datagrams") {
        marks.push(mark("Datagram", &d["input"], &d["frame"]));
        if !d["reaction_frame"].is_null() {
            let input = match &d["reaction_input"] {
                Value::Null => &d["input"],
                other => other,
            };
            marks.push(mark("Client reaction", input, &d["reaction_frame"]));
        }
    }
    for e in items("icmp_errors") {
        marks.push(mark("ICMP error", &e["input"], &e["frame"]));
    }
    for c in s["polling"]["shown"].as_array().into_iter().flatten() {
        marks.push(mark("ROP call", &c["input"], &c["frame"]));
    }
    marks
}

/// The user's short name: the last `cn=` of the DN.
fn short_name(dn: &str) -> &str {
    let at = dn
        .to_ascii_lowercase()
        .rfind("/cn=")
        .expect("a cn= in the DN");
    dn[at + 4..].split('/').next().unwrap_or_default()
}

/// Every session of the report has its section: client, server, verdict, user, and one
/// titled timeline mark per event; the overall verdict is the banner's.
fn check_sessions(doc: &Html, report: &Value) {
    let root = doc.root_element();
    let verdict = report["verdict"].as_str().expect("verdict");
    assert_eq!(texts(root, ".banner .verdict strong"), [verdict]);
    let sessions = report["sessions"].as_array().expect("sessions");
    let sections = select(root, "section.session");
    assert_eq!(sections.len(), sessions.len(), "a section per session");
    assert!(!sessions.is_empty());
    for (section, s) in sections.into_iter().zip(sessions) {
        let field = |key: &str| s[key].as_str().unwrap_or_default();
        let who = format!("{} ↔ {}", field("client"), field("server"));
        assert_eq!(texts(section, "h2 .client"), [field("client")]);
        assert_eq!(texts(section, "h2 .server"), [field("server")]);
        assert_eq!(texts(section, "h2 .verdict"), [field("verdict")]);
        if let Some(dn) = s["user"].as_str() {
            assert_eq!(texts(section, ".user .dn"), [dn], "{who}");
            assert_eq!(texts(section, ".user .short"), [short_name(dn)], "{who}");
        }
        let titles = texts(section, "svg g.mark > title");
        let expected = expected_marks(report, s);
        assert_eq!(titles.len(), expected.len(), "{who}: one mark per event");
        for want in expected {
            assert!(
                titles.iter().any(|t| t.starts_with(&want)),
                "{who}: no mark titled {want:?} in {titles:#?}"
            );
        }
        for e in s["evidence"].as_array().expect("evidence") {
            let line = e["text"].as_str().unwrap();
            assert!(
                texts(section, "ul.evidence li")
                    .iter()
                    .any(|li| li.starts_with(line)),
                "{who}: evidence {line:?}"
            );
        }
        for f in s["wireshark_filters"].as_array().expect("filters") {
            let filter = f["filter"].as_str().unwrap().to_string();
            assert!(texts(section, "pre code").contains(&filter), "{who}");
        }
    }
}

/// Nothing is loaded from elsewhere and nothing runs: no script, frame, object or style
/// sheet link; every `src` is a data: URI and every `href` a `#` anchor of this page (or
/// a data: URI); no event handler attributes; the style sheet imports nothing.
fn check_self_contained(doc: &Html) {
    let root = doc.root_element();
    for tag in ["script", "link", "iframe", "object", "embed", "base"] {
        assert!(select(root, tag).is_empty(), "no <{tag}>");
    }
    for e in select(root, "*") {
        for (name, value) in e.value().attrs() {
            let local = name.rsplit(':').next().unwrap_or(name);
            assert!(!local.starts_with("on"), "event handler {name}");
            match local {
                "src" => assert!(value.starts_with("data:"), "src={value}"),
                "href" => {
                    if let Some(id) = value.strip_prefix('#') {
                        let target = format!("[id=\"{id}\"]");
                        assert_eq!(select(root, &target).len(), 1, "href={value}");
                    } else {
                        assert!(value.starts_with("data:"), "href={value}");
                    }
                }
                _ => {}
            }
        }
    }
    let style = texts(root, "style").concat();
    assert!(
        !style.contains("@import") && !style.contains("url("),
        "{style}"
    );
}

/// Checks the page of `samples` (names under samples/) against their JSON report.
fn check_samples(samples: &[&str]) -> (Html, Value) {
    let files: Vec<String> = samples.iter().map(|s| format!("samples/{s}")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let (doc, report) = page_and_report(&files);
    check_self_contained(&doc);
    check_sessions(&doc, &report);
    (doc, report)
}

#[test]
fn two_clients_each_get_a_section_and_a_timeline() {
    let (doc, _) = check_samples(&["two-clients.pcapng"]);
    let root = doc.root_element();
    assert_eq!(
        texts(root, "section.session h2 .verdict"),
        ["flowing", "refused"]
    );
    let links = select(root, "svg.chart line.link");
    assert_eq!(links.len(), 1, "the datagram is linked to its reaction");
}

#[test]
fn icmp_errors_are_marked_and_linked_to_their_datagrams() {
    let (doc, report) = check_samples(&["udp-blocked-icmp.pcapng"]);
    let root = doc.root_element();
    let icmp = report["sessions"][0]["icmp_errors"]
        .as_array()
        .expect("icmp errors");
    assert_eq!(icmp.len(), 4);
    let titles = texts(root, "svg g.mark > title");
    for e in icmp {
        let quoting = format!("quoting datagram frame {}", e["datagram_frame"]);
        assert!(
            titles.iter().any(
                |t| t.starts_with(&format!("ICMP error: frame {}", e["frame"]))
                    && t.contains(&quoting)
            ),
            "{titles:#?}"
        );
    }
    assert_eq!(select(root, "svg.chart line.link.c-bad").len(), 4);
}

#[test]
fn dropped_datagrams_are_drawn() {
    let (doc, _) = check_samples(&["host-firewall-dropped.pcapng"]);
    let marks = select(doc.root_element(), "svg g.mark.c-bad > title");
    assert!(
        marks.iter().any(|m| text(*m).starts_with("Datagram: ")),
        "a datagram with no reaction is drawn red"
    );
}

#[test]
fn views_name_the_file_of_each_frame_and_the_clock() {
    let (doc, report) = check_samples(&[
        "two-points-healthy-client.pcapng",
        "two-points-healthy-server.pcapng",
    ]);
    let root = doc.root_element();
    assert_eq!(report["traces"][0]["kind"], "views");
    let clock = texts(root, "#inputs .clock").concat();
    assert!(clock.contains("ms against"), "{clock}");
    let titles = texts(root, "svg g.mark > title");
    assert!(
        titles
            .iter()
            .any(|t| t.contains("seen at") && t.contains("two-points-healthy-server.pcapng")),
        "a datagram seen at both points lists both: {titles:#?}"
    );
}

#[test]
fn an_unreadable_input_is_an_error_beside_the_verdict_of_the_others() {
    let (doc, report) = page_and_report(&["/nonexistent/trace.pcap", "samples/two-clients.pcapng"]);
    check_self_contained(&doc);
    check_sessions(&doc, &report);
    let root = doc.root_element();
    let errors = texts(root, "#inputs tr.error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("/nonexistent/trace.pcap") && errors[0].contains("could not be read")
    );
    let banner = texts(root, ".banner").concat();
    assert!(
        banner.contains("1 of 2 inputs could not be read"),
        "{banner}"
    );
}

#[test]
fn only_unreadable_inputs_give_no_verdict() {
    let (doc, report) = page_and_report(&["/nonexistent/trace.pcap"]);
    check_self_contained(&doc);
    assert_eq!(report["sessions"], Value::Array(vec![]));
    let root = doc.root_element();
    let banner = texts(root, ".banner").concat();
    assert!(banner.contains("could not be read"), "{banner}");
    assert!(!banner.contains("Overall verdict"), "{banner}");
    assert!(select(root, "#sessions, section.session, svg").is_empty());
    assert_eq!(texts(root, "#inputs tr.error").len(), 1);
}
