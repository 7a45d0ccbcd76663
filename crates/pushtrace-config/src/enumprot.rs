//! EnumProt output (config.md §3): the Exchange support tool that calls Winsock's
//! `EnumProtocols()` as the store does when a client registers for push notifications. A
//! passing run lists the transports and ends with `PASSED!`; a failing one shows
//! `GetLastError() = 0x…` and `Returned 0x80040102`. Markers are matched whatever their case
//! and spacing.

use crate::text::{self, parse_u32, squeeze};
use serde::Serialize;

/// The first non-empty line of EnumProt output, squeezed (see [`text::squeeze`]).
const FIRST_LINE: &str = "testing\"tcpipsupport\"";
/// The call EnumProt announces, squeezed.
const ENUM_PROTOCOLS: &str = "enumprotocols()";

/// One `Protocol N: name  Family (n)  Protocol (0x..)` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protocol {
    /// N.
    pub number: u32,
    /// The transport's name (`TCP/IP`, `\Device\NetBT_Tcpip_{...}`).
    pub name: String,
    /// The address family, when given.
    pub family: Option<u32>,
    /// The protocol number, when given.
    pub protocol: Option<u32>,
    /// Its line.
    pub line: usize,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `PASSED!` at this line, and no failure.
    Passed {
        /// The line of `PASSED!`.
        line: usize,
    },
    /// A non-zero `Returned 0x…`, or `GetLastError()` without one.
    Failed {
        /// The line of `Returned 0x…` (else of `GetLastError()`).
        line: usize,
        /// The code after `Returned`.
        returned: Option<u32>,
        /// The code after `GetLastError() =`.
        last_error: Option<u32>,
    },
    /// Neither: the output stops early.
    Unfinished,
}

/// A parsed EnumProt run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumProtRun {
    /// Its number of lines.
    pub lines: usize,
    /// The transports listed.
    pub protocols: Vec<Protocol>,
    /// How it ended.
    pub outcome: Outcome,
}

/// Whether `text` is EnumProt output: its first non-empty line is `Testing "TCPIP Support"!`
/// and a line mentions `EnumProtocols()`.
pub fn looks_like(text: &str) -> bool {
    let mut lines = text::lines(text).map(squeeze).filter(|l| !l.is_empty());
    lines
        .next()
        .is_some_and(|first| first.starts_with(FIRST_LINE))
        && lines.any(|l| l.contains(ENUM_PROTOCOLS))
}

/// Parses EnumProt output (already decoded); `None` when it is not EnumProt output.
pub fn parse(text: &str) -> Option<EnumProtRun> {
    if !looks_like(text) {
        return None;
    }
    let mut run = EnumProtRun {
        lines: 0,
        protocols: Vec::new(),
        outcome: Outcome::Unfinished,
    };
    let mut passed = None;
    let mut last_error = None;
    let mut returned = None;
    for (index, raw) in text::lines(text).enumerate() {
        let line = index + 1;
        run.lines = line;
        let squeezed = squeeze(raw);
        if let Some(p) = protocol_line(raw.trim(), line) {
            run.protocols.push(p);
        } else if squeezed.starts_with("passed") {
            passed.get_or_insert(line);
        }
        if let Some(code) = number_after(&squeezed, "getlasterror()=") {
            last_error.get_or_insert((line, code));
        }
        if let Some(code) = number_after(&squeezed, "returned").filter(|&c| c != 0) {
            returned.get_or_insert((line, code));
        }
    }
    run.outcome = match (returned, last_error, passed) {
        (Some((line, code)), error, _) => Outcome::Failed {
            line,
            returned: Some(code),
            last_error: error.map(|(_, e)| e),
        },
        (None, Some((line, error)), _) if error != 0 => Outcome::Failed {
            line,
            returned: None,
            last_error: Some(error),
        },
        (None, _, Some(line)) => Outcome::Passed { line },
        _ => Outcome::Unfinished,
    };
    Some(run)
}

/// The number (`0x…` or decimal) right after the first `marker` in a squeezed line that is
/// followed by one.
pub(crate) fn number_after(squeezed: &str, marker: &str) -> Option<u32> {
    squeezed.match_indices(marker).find_map(|(at, _)| {
        let rest = &squeezed[at + marker.len()..];
        let end = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_hexdigit() || (i == 1 && c == 'x')))
            .map_or(rest.len(), |(i, _)| i);
        parse_u32(&rest[..end])
    })
}

/// `Protocol N: name  Family (n)  Protocol (0x..)`, in any case and spacing.
fn protocol_line(trimmed: &str, line: usize) -> Option<Protocol> {
    let head = trimmed.get(..8)?;
    if !head.eq_ignore_ascii_case("protocol") {
        return None;
    }
    let rest = trimmed[8..].trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = rest[..digits].parse().ok()?;
    let rest = rest[digits..].trim_start().strip_prefix(':')?.trim();
    let lower = rest.to_ascii_lowercase();
    let family_at = lower.rfind("family");
    let name = family_at.map_or(rest, |at| &rest[..at]).trim().to_string();
    let in_parens = |from: usize| -> Option<u32> {
        let open = lower[from..].find('(')? + from + 1;
        let close = lower[open..].find(')')? + open;
        parse_u32(&lower[open..close])
    };
    let family = family_at.and_then(&in_parens);
    let protocol = family_at
        .and_then(|at| lower[at..].find("protocol").map(|p| p + at))
        .and_then(in_parens);
    Some(Protocol {
        number,
        name,
        family,
        protocol,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The passing run of KB 319572 (config.md §3), CR LF.
    const PASSED: &str = "Testing \"TCPIP Support\"!  AF_INET = Family (2)\r\n\
Calling EnumProtocols() with 2048 byte buffer.\r\n\
Enumerating available transports [3]\r\n\
\r\n\
Protocol 1: TCP/IP  Family (2)  Protocol (0x6)\r\n\
Protocol 2: UDP/IP  Family (2)  Protocol (0x11)\r\n\
Protocol 3: \\Device\\NetBT_Tcpip_{EBDFB267-726B-44D0-8151-991AADA9CC48}  Family (17)  Protocol (0x80000000)\r\n\
PASSED!\r\n";

    #[test]
    fn a_passing_run_lists_its_transports() {
        let run = parse(PASSED).unwrap();
        assert_eq!(run.outcome, Outcome::Passed { line: 8 });
        assert_eq!(run.lines, 8);
        let names: Vec<_> = run.protocols.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "TCP/IP",
                "UDP/IP",
                r"\Device\NetBT_Tcpip_{EBDFB267-726B-44D0-8151-991AADA9CC48}"
            ]
        );
        assert_eq!(run.protocols[2].family, Some(17));
        assert_eq!(run.protocols[2].protocol, Some(0x8000_0000));
        assert_eq!(run.protocols[1].line, 6);
    }

    #[test]
    fn a_failing_run_in_other_spacing_case_and_line_ends() {
        let text = "\n\n  testing \"TCPIP support\" !   AF_INET = Family (2)\r\
calling enumprotocols( ) with 2048 byte buffer.\r\
ERROR RETURNED!\tGetLastError()=0x2\r\
Failed update!   returned   0x80040102\r";
        let run = parse(text).unwrap();
        assert_eq!(
            run.outcome,
            Outcome::Failed {
                line: 6,
                returned: Some(0x8004_0102),
                last_error: Some(2)
            }
        );
        assert!(run.protocols.is_empty());
    }

    #[test]
    fn get_last_error_alone_is_a_failure_and_nothing_is_unfinished() {
        let text = "Testing \"TCPIP Support\"!\nCalling EnumProtocols()\nError Returned!  GetLastError() = 0x2714\n";
        assert_eq!(
            parse(text).unwrap().outcome,
            Outcome::Failed {
                line: 3,
                returned: None,
                last_error: Some(0x2714)
            }
        );
        let text = "Testing \"TCPIP Support\"!\nCalling EnumProtocols() with 2048 byte buffer.\n";
        assert_eq!(parse(text).unwrap().outcome, Outcome::Unfinished);
    }

    #[test]
    fn other_text_is_not_enumprot() {
        assert!(parse("Calling EnumProtocols()\nTesting \"TCPIP Support\"!\n").is_none());
        assert!(parse("Testing \"TCPIP Support\"!\nno call here\n").is_none());
        assert!(parse("").is_none());
    }
}
