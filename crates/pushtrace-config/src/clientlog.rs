//! Outlook client logs (DPMon client RPC logging, config.md §4): each registration for push
//! notifications appears as `CNCT::EcOpenSocketAndRegisterForNotifications`, and its result
//! as `EC = …` on the same line or one of the next few lines, e.g.
//! `EC = ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)`; success is `EC = 0`, `ecNone` or
//! `(0x00000000)`.

use crate::text::{self, parse_u32};
use serde::Serialize;

/// How the registration call appears in the log.
pub const REGISTER_CALL: &str = "CNCT::EcOpenSocketAndRegisterForNotifications";

/// How many lines after a call its `EC = …` result may stand.
pub const RESULT_WINDOW: usize = 5;

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcResult {
    /// Its line.
    pub line: usize,
    /// The code, given as a number (or known from its name).
    pub code: Option<u32>,
    /// The names the log gives (`ecNotSupported`, `MAPI_E_NO_SUPPORT`).
    pub names: Vec<String>,
}

impl EcResult {
    /// `Some(true)` for success (0, `ecNone`), `Some(false)` for a failure, `None` when the
    /// result names neither a code nor a known name.
    pub fn succeeded(&self) -> Option<bool> {
        match self.code {
            Some(code) => Some(code == 0),
            None if self.names.is_empty() => None,
            None => Some(self.names.iter().any(|n| is_success_name(n))),
        }
    }
}

/// One registration call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterCall {
    /// The line naming the call.
    pub line: usize,
    /// Its result, when one follows within [`RESULT_WINDOW`] lines.
    pub result: Option<EcResult>,
}

/// A parsed client log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLog {
    /// Its number of lines.
    pub lines: usize,
    /// The registration calls in it.
    pub calls: Vec<RegisterCall>,
}

/// Whether `text` mentions the registration call (in any case).
pub fn looks_like(text: &str) -> bool {
    contains_call(text)
}

/// Whether `line` holds [`REGISTER_CALL`] (ASCII case ignored).
fn contains_call(line: &str) -> bool {
    let needle = REGISTER_CALL.as_bytes();
    line.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Parses a client log (already decoded); `None` when it holds no registration call.
pub fn parse(text: &str) -> Option<ClientLog> {
    let lines: Vec<&str> = text::lines(text).collect();
    let mut calls = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(at) = find_ignore_case(line, REGISTER_CALL) else {
            continue;
        };
        let same_line = ec_result(&line[at + REGISTER_CALL.len()..], index + 1);
        let result = same_line.or_else(|| {
            lines
                .iter()
                .enumerate()
                .skip(index + 1)
                .take(RESULT_WINDOW)
                .take_while(|(_, l)| !contains_call(l))
                .find_map(|(i, l)| ec_result(l, i + 1))
        });
        calls.push(RegisterCall {
            line: index + 1,
            result,
        });
    }
    (!calls.is_empty()).then_some(ClientLog {
        lines: lines.len(),
        calls,
    })
}

/// The byte offset of `needle` (ASCII) in `haystack`, case ignored.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The `EC = …` result in `line`, if it holds one: `EC` as a word (any case), optional
/// spaces, `=`.
fn ec_result(line: &str, number: usize) -> Option<EcResult> {
    let bytes = line.as_bytes();
    let start = (0..bytes.len().saturating_sub(1)).find_map(|i| {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !word_start || !bytes[i..i + 2].eq_ignore_ascii_case(b"ec") {
            return None;
        }
        let rest = line[i + 2..].trim_start();
        let value = rest.strip_prefix('=')?;
        (!value.starts_with('=')).then_some(value)
    })?;
    let tokens: Vec<&str> = start
        .split(|c: char| c.is_whitespace() || "(),;:[]".contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    let hex = tokens
        .iter()
        .find(|t| t.len() > 2 && t.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x")));
    let code = hex
        .or(tokens
            .first()
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit())))
        .and_then(|t| parse_u32(t));
    let names: Vec<String> = tokens
        .iter()
        .filter(|t| is_code_name(t))
        .map(|t| t.to_string())
        .collect();
    let code = code.or_else(|| names.iter().find_map(|n| code_of_name(n)));
    Some(EcResult {
        line: number,
        code,
        names,
    })
}

/// `ecSomething`, or an upper-case constant with an underscore (`MAPI_E_NO_SUPPORT`, `S_OK`).
fn is_code_name(token: &str) -> bool {
    let ec = token.len() > 2
        && token.starts_with("ec")
        && token[2..].starts_with(|c: char| c.is_ascii_uppercase())
        && token.bytes().all(|b| b.is_ascii_alphanumeric());
    let constant = token.contains('_')
        && token.starts_with(|c: char| c.is_ascii_uppercase())
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    ec || constant
}

/// Names that mean success.
fn is_success_name(name: &str) -> bool {
    ["ecNone", "S_OK", "SUCCESS_SUCCESS", "ERROR_SUCCESS"].contains(&name)
}

/// The code of a name a log may give without its number.
fn code_of_name(name: &str) -> Option<u32> {
    match name {
        "ecNone" | "S_OK" | "SUCCESS_SUCCESS" | "ERROR_SUCCESS" => Some(0),
        "ecNotSupported" | "MAPI_E_NO_SUPPORT" => Some(0x8004_0102),
        "MAPI_E_CALL_FAILED" => Some(0x8000_4005),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_on_the_same_or_a_following_line() {
        let log = "12:00:01.100 CNCT::EcOpenSocketAndRegisterForNotifications EC = ecNotSupported MAPI_E_NO_SUPPORT (0x80040102)\r\n\
12:00:05.000 RPC call\r\n\
12:01:01.100 CNCT::EcOpenSocketAndRegisterForNotifications\r\n\
12:01:01.101     cb = 28\r\n\
12:01:01.102     EC = 0\r\n\
12:02:01.100 cnct::ecopensocketandregisterfornotifications\r\n\
12:02:01.105 EC=ecNone\r\n";
        let parsed = parse(log).unwrap();
        assert_eq!(parsed.lines, 7);
        let results: Vec<_> = parsed
            .calls
            .iter()
            .map(|c| {
                c.result
                    .as_ref()
                    .map(|r| (c.line, r.line, r.code, r.succeeded()))
            })
            .collect();
        assert_eq!(
            results,
            [
                Some((1, 1, Some(0x8004_0102), Some(false))),
                Some((3, 5, Some(0), Some(true))),
                Some((6, 7, Some(0), Some(true))),
            ]
        );
        assert_eq!(
            parsed.calls[0].result.as_ref().unwrap().names,
            ["ecNotSupported", "MAPI_E_NO_SUPPORT"]
        );
    }

    #[test]
    fn a_result_too_far_or_after_the_next_call_is_not_taken() {
        let log = "CNCT::EcOpenSocketAndRegisterForNotifications\n1\n2\n3\n4\n5\nEC = 0x80040102\n\
CNCT::EcOpenSocketAndRegisterForNotifications\nCNCT::EcOpenSocketAndRegisterForNotifications\nEC = (0x00000000)\n";
        let parsed = parse(log).unwrap();
        let lines: Vec<_> = parsed
            .calls
            .iter()
            .map(|c| (c.line, c.result.as_ref().map(|r| r.line)))
            .collect();
        assert_eq!(lines, [(1, None), (8, None), (9, Some(10))]);
        assert_eq!(parsed.calls[2].result.as_ref().unwrap().code, Some(0));
    }

    #[test]
    fn names_without_numbers_and_words_that_only_end_in_ec() {
        let r = ec_result("  EC = ecNotSupported", 4).unwrap();
        assert_eq!(r.code, Some(0x8004_0102));
        assert!(ec_result("spec = 5", 1).is_none());
        assert!(ec_result("ec == 5", 1).is_none());
        let unknown = ec_result("EC = ???", 2).unwrap();
        assert_eq!(unknown.succeeded(), None);
        let named = ec_result("EC = ecWeird", 2).unwrap();
        assert_eq!((named.code, named.succeeded()), (None, Some(false)));
    }

    #[test]
    fn logs_without_the_call_are_not_client_logs() {
        assert!(parse("EC = 0\n").is_none());
        assert!(!looks_like("EcOpenSocket"));
    }
}
