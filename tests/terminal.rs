//! What a person sees in a terminal: the table and detail lines fit 80, 100 and 120 columns
//! without splitting an address, colours follow `--color` and `NO_COLOR`, and an input that
//! cannot be read is reported as an error, never as a verdict about traffic.
//!
//! Snapshots (`tests/snapshots/`) are reviewed with `cargo insta review` when the layout is
//! changed on purpose.

use std::process::{Command, Output};

/// Runs the binary from the workspace root (so sample paths in the output are relative and
/// the snapshots do not depend on the checkout's location), with the given environment.
fn pushtrace(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushtrace"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("COLUMNS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("pushtrace runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// The table of `samples` at `width` columns, without colour.
fn table_at(width: usize, samples: &[&str]) -> String {
    let columns = width.to_string();
    let mut args = vec!["analyze", "--color", "never"];
    args.extend_from_slice(samples);
    stdout(&pushtrace(&args, &[("COLUMNS", &columns)]))
}

/// Columns a line takes on a terminal.
fn width(line: &str) -> usize {
    textwrap::core::display_width(line)
}

const WIDTHS: [usize; 3] = [80, 100, 120];

/// Samples with long DNs, long advice, ICMP errors, several sessions and several inputs.
const CASES: &[(&str, &[&str])] = &[
    ("two-clients", &["samples/two-clients.pcapng"]),
    ("udp-blocked-icmp", &["samples/udp-blocked-icmp.pcapng"]),
    (
        "host-firewall-dropped",
        &["samples/host-firewall-dropped.pcapng"],
    ),
    (
        "two-points",
        &[
            "samples/two-points-healthy-client.pcapng",
            "samples/two-points-healthy-server.pcapng",
        ],
    ),
];

#[test]
fn tables_at_fixed_widths_match_their_snapshots() {
    for (name, samples) in CASES {
        for w in WIDTHS {
            insta::assert_snapshot!(format!("{name}-{w}"), table_at(w, samples));
        }
    }
}

#[test]
fn every_line_fits_and_no_address_is_split() {
    for (name, samples) in CASES {
        let json = pushtrace(&[&["analyze", "--format", "json"], *samples].concat(), &[]);
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        let sessions = report["sessions"].as_array().expect("sessions");
        for w in WIDTHS {
            let text = table_at(w, samples);
            for line in text.lines() {
                assert!(
                    width(line) <= w,
                    "{name} at {w}: {line:?} is {}",
                    width(line)
                );
            }
            for s in sessions {
                let client = s["client"].as_str().unwrap_or_default();
                let callback = s["registrations"][0]["callback"].as_str();
                // The session's row names the whole client and callback on one line.
                assert!(
                    text.lines()
                        .any(|l| l.split_whitespace().any(|c| c == client)
                            && callback.is_none_or(|c| w < 100 || l.contains(c))),
                    "{name} at {w}: no row for {client}\n{text}"
                );
                // The detail block gives the full DN; the table only its last cn=.
                if let Some(dn) = s["user"].as_str() {
                    let short = dn.rsplit("/cn=").next().unwrap_or(dn);
                    let rows = text.split("\n\n").next().unwrap_or_default();
                    assert!(rows.contains(short) && !rows.contains(dn), "{name} at {w}");
                    let joined: String = text.split_whitespace().collect();
                    assert!(joined.contains(&format!("user{dn}").replace(' ', "")));
                }
            }
            // Detail lines wrap at spaces: every word of the evidence and advice, every
            // file name, survives whole (a word longer than a line is the only exception).
            for s in sessions {
                let evidence = s["evidence"].as_array().into_iter().flatten();
                let texts = evidence
                    .map(|e| &e["text"])
                    .chain(s["advice"].as_array().into_iter().flatten());
                for t in texts {
                    for word in t.as_str().unwrap_or_default().split_whitespace() {
                        if width(word) < w - 4 {
                            assert!(text.contains(word), "{name} at {w}: {word:?} split");
                        }
                    }
                }
            }
            for sample in *samples {
                assert!(text.contains(sample), "{name} at {w}: {sample} split");
            }
        }
    }
}

#[test]
fn colour_follows_the_option_and_no_color() {
    let sample = "samples/udp-blocked-icmp.pcapng";
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let out = pushtrace(&[&["analyze"], args, &[sample]].concat(), env);
        assert_eq!(out.status.code(), Some(1));
        stdout(&out).contains('\x1b')
    };
    assert!(coloured(&["--color", "always"], &[]));
    // `always` is the user's explicit choice: NO_COLOR only changes `auto`.
    assert!(coloured(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!coloured(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    // Into a pipe, `auto` writes no colour unless forced.
    assert!(!coloured(&[], &[]));
    assert!(!coloured(&["--color", "auto"], &[("NO_COLOR", "1")]));
    assert!(coloured(&["--color", "auto"], &[("CLICOLOR_FORCE", "1")]));
    // The verdict is painted red, and colour does not change the layout.
    let plain = stdout(&pushtrace(&["analyze", "--color", "never", sample], &[]));
    let painted = stdout(&pushtrace(&["analyze", "--color", "always", sample], &[]));
    assert!(painted.contains("\x1b[31m") || painted.contains("\x1b[38;5;9m"));
    let stripped: String = strip_ansi(&painted);
    assert_eq!(stripped, plain);
}

/// `s` without its ANSI escape sequences (CSI ... final byte).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn an_unreadable_input_is_an_error_not_a_verdict() {
    let missing = "samples/no-such-capture.pcapng";
    let out = pushtrace(&["analyze", missing], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "", "nothing is claimed on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(missing), "{err}");

    let out = pushtrace(&["analyze", "--format", "json", missing], &[]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "unreadable");
    assert!(v["inputs"][0]["error"].is_string());
    assert_eq!(v["sessions"], serde_json::json!([]));

    // A readable input given alongside is still judged; the exit code stays 2.
    let readable = "samples/udp-blocked-icmp.pcapng";
    let out = pushtrace(&["analyze", missing, readable], &[]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.starts_with("overall verdict (1 of 2 inputs read): blocked"),
        "{text}"
    );
    assert!(text.contains(&format!("{missing}: not judged:")), "{text}");
    assert!(!text.contains("no_emsmdb"), "{text}");
    let out = pushtrace(&["analyze", "--format", "json", missing, readable], &[]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "blocked");
    assert!(v["inputs"][0]["error"].is_string());
    assert!(v["inputs"][1].get("error").is_none());
}
