//! Reading a `.reg` file. A malformed line is skipped and recorded (as `regedit` skips it on
//! import); only a file with no header, more malformed lines than the limit, or more keys or
//! values than the limits is an error. Every loop is bounded by the input's length and every
//! value by [`Limits::max_value_bytes`].

use super::{ExportKey, ExportValue, KeyPath, RegDialect, RegExport, RegValue, MAX_KEY_PATH_CHARS};
use crate::error::{quote, FormatError, LineError, LineErrorKind};
use crate::text::{self, decode_ansi, decode_utf16le, TextEncoding};
use crate::Limits;
use std::iter::{Enumerate, Peekable};

/// The longest value name Windows allows, in characters.
const MAX_NAME_CHARS: usize = 16_383;

type LineIter<'a> = Peekable<Enumerate<text::Lines<'a>>>;

/// Parses a registry export from its bytes (any encoding [`text::decode`] knows).
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<RegExport, FormatError> {
    let (text, encoding) = text::decode(bytes);
    parse_text(&text, encoding, limits)
}

/// Parses a registry export already decoded from `encoding`.
pub(crate) fn parse_text(
    text: &str,
    encoding: TextEncoding,
    limits: &Limits,
) -> Result<RegExport, FormatError> {
    let mut lines: LineIter<'_> = text::lines(text).enumerate().peekable();
    let dialect = header(&mut lines).ok_or(FormatError::NoHeader)?;
    let mut out = RegExport {
        dialect,
        encoding,
        lines: 0,
        keys: Vec::new(),
        skipped: Vec::new(),
    };
    let mut state = Under::Nothing;
    let mut values = 0usize;
    while let Some((index, raw)) = lines.next() {
        let line = index + 1;
        let trimmed = raw.trim();
        let result = if trimmed.is_empty() || trimmed.starts_with(';') {
            Ok(())
        } else if trimmed.starts_with('[') {
            key_line(trimmed, line, &mut out, &mut state, limits)?
        } else if trimmed.starts_with('"') || trimmed.starts_with('@') {
            let parsed = value_line(trimmed, &mut lines, dialect, limits);
            match (&state, parsed) {
                (_, Err(kind)) => Err(kind),
                (Under::Nothing, Ok(_)) => Err(LineErrorKind::ValueOutsideKey),
                (Under::Deleted, Ok(_)) => Err(LineErrorKind::ValueUnderDeletedKey),
                (Under::Unreadable, Ok(_)) => Ok(()),
                (Under::Key(k), Ok((name, value))) => {
                    values += 1;
                    if values > limits.max_values {
                        return Err(FormatError::TooManyValues {
                            line,
                            limit: limits.max_values,
                        });
                    }
                    if let Some(key) = out.keys.get_mut(*k) {
                        key.values.push(ExportValue { name, value, line });
                    }
                    Ok(())
                }
            }
        } else {
            Err(LineErrorKind::Unrecognised)
        };
        if let Err(kind) = result {
            skip(&mut out.skipped, LineError { line, kind }, limits)?;
        }
    }
    out.lines = text::lines(text).count();
    Ok(out)
}

/// What the value lines being read belong to.
enum Under {
    /// No key line yet.
    Nothing,
    /// The key at this index of [`RegExport::keys`].
    Key(usize),
    /// A key the file deletes.
    Deleted,
    /// A key line that was skipped: its values go with it, unrecorded.
    Unreadable,
}

/// Records a skipped line, or fails when there are too many.
fn skip(
    skipped: &mut Vec<LineError>,
    error: LineError,
    limits: &Limits,
) -> Result<(), FormatError> {
    if skipped.len() >= limits.max_skipped_lines {
        return Err(FormatError::TooManyMalformedLines {
            limit: limits.max_skipped_lines,
            first: skipped.first().cloned().unwrap_or(error),
        });
    }
    skipped.push(error);
    Ok(())
}

/// The dialect named by the first non-empty line, which it consumes.
fn header(lines: &mut LineIter<'_>) -> Option<RegDialect> {
    let (_, first) = lines.find(|(_, l)| !l.trim().is_empty())?;
    RegDialect::from_header(first)
}

/// Handles a key line: a new key, a deletion, or a skipped line (`Ok(Err(..))`).
fn key_line(
    trimmed: &str,
    line: usize,
    out: &mut RegExport,
    state: &mut Under,
    limits: &Limits,
) -> Result<Result<(), LineErrorKind>, FormatError> {
    let parsed = parse_key(trimmed);
    let (path, deleted) = match parsed {
        Ok(p) => p,
        Err(kind) => {
            *state = Under::Unreadable;
            return Ok(Err(kind));
        }
    };
    if out.keys.len() >= limits.max_keys {
        return Err(FormatError::TooManyKeys {
            line,
            limit: limits.max_keys,
        });
    }
    *state = if deleted {
        Under::Deleted
    } else {
        Under::Key(out.keys.len())
    };
    out.keys.push(ExportKey {
        path,
        deleted,
        line,
        values: Vec::new(),
    });
    Ok(Ok(()))
}

/// `[path]` or `[-path]`. Text after the last `]` is ignored, as regedit ignores it (key
/// names may themselves hold `]`).
fn parse_key(trimmed: &str) -> Result<(KeyPath, bool), LineErrorKind> {
    let inner = trimmed.strip_prefix('[').unwrap_or(trimmed);
    let end = inner.rfind(']').ok_or(LineErrorKind::KeyWithoutBracket)?;
    let inner = &inner[..end];
    let (deleted, path) = match inner.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    if path.len() > MAX_KEY_PATH_CHARS * 4 {
        return Err(LineErrorKind::KeyTooLong);
    }
    KeyPath::parse(path).map(|p| (p, deleted)).ok_or_else(|| {
        let hive = path.trim().split('\\').next().unwrap_or_default();
        if path.chars().count() > MAX_KEY_PATH_CHARS {
            LineErrorKind::KeyTooLong
        } else {
            LineErrorKind::UnknownHive(quote(hive))
        }
    })
}

/// A value line (and its continuation lines): the name and the data, `None` for a deletion.
fn value_line(
    trimmed: &str,
    lines: &mut LineIter<'_>,
    dialect: RegDialect,
    limits: &Limits,
) -> Result<(String, Option<RegValue>), LineErrorKind> {
    let (name, rest) = match trimmed.strip_prefix('@') {
        Some(rest) => (String::new(), rest),
        None => quoted(trimmed, MAX_NAME_CHARS).map_err(|e| match e {
            QuotedError::Unterminated => LineErrorKind::UnterminatedString,
            QuotedError::TooLong => LineErrorKind::NameTooLong,
        })?,
    };
    let data = rest
        .trim_start()
        .strip_prefix('=')
        .ok_or(LineErrorKind::MissingEquals)?
        .trim_start();
    if starts_with_ignore_case(data, "hex") {
        // Read the whole continuation chain even when the data is bad, so that its lines
        // are not taken for lines of their own.
        let hex = hex_data(data, lines, limits);
        return hex.map(|(kind, bytes)| (name, Some(typed(kind, bytes, dialect))));
    }
    if data.trim_end() == "-" {
        return Ok((name, None));
    }
    if data.starts_with('"') {
        let (value, rest) = quoted(data, limits.max_value_bytes / 2).map_err(|e| match e {
            QuotedError::Unterminated => LineErrorKind::UnterminatedString,
            QuotedError::TooLong => LineErrorKind::ValueTooLarge {
                limit: limits.max_value_bytes,
            },
        })?;
        return if rest.trim().is_empty() {
            Ok((name, Some(RegValue::Sz(value))))
        } else {
            Err(LineErrorKind::TrailingText)
        };
    }
    if starts_with_ignore_case(data, "dword:") {
        let digits = data["dword:".len()..].trim();
        let ok = (1..=8).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_hexdigit());
        return match u32::from_str_radix(digits, 16) {
            Ok(n) if ok => Ok((name, Some(RegValue::Dword(n)))),
            _ => Err(LineErrorKind::BadDword),
        };
    }
    let kind: String = data.chars().take_while(|&c| c != ':').collect();
    Err(LineErrorKind::UnknownType(quote(&kind)))
}

/// Whether `s` starts with the ASCII `prefix`, in any case.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Why a quoted string could not be read.
enum QuotedError {
    Unterminated,
    TooLong,
}

/// The string quoted at the start of `s` (`\\` is a backslash, `\"` a quote; any other
/// backslash stays as written), and the text after its closing quote.
fn quoted(s: &str, max_chars: usize) -> Result<(String, &str), QuotedError> {
    let body = s.strip_prefix('"').unwrap_or(s);
    let mut out = String::new();
    let mut chars = body.char_indices();
    let mut count = 0usize;
    while let Some((i, c)) = chars.next() {
        let c = match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match body[i + 1..].chars().next() {
                Some(next @ ('\\' | '"')) => {
                    chars.next();
                    next
                }
                _ => '\\',
            },
            c => c,
        };
        count += 1;
        if count > max_chars {
            return Err(QuotedError::TooLong);
        }
        out.push(c);
    }
    Err(QuotedError::Unterminated)
}

/// `hex:...` or `hex(N):...` with its continuation lines: the type number and the bytes.
fn hex_data(
    data: &str,
    lines: &mut LineIter<'_>,
    limits: &Limits,
) -> Result<(u32, Vec<u8>), LineErrorKind> {
    let after = &data["hex".len()..];
    let (kind, list) = match after.strip_prefix(':') {
        Some(list) => (Ok(3), list),
        None => match after.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((n, rest)) => {
                let valid = (1..=8).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_hexdigit());
                let kind = u32::from_str_radix(n, 16)
                    .ok()
                    .filter(|_| valid)
                    .ok_or(LineErrorKind::BadHexType);
                match rest.strip_prefix(':') {
                    Some(list) => (kind, list),
                    None => (Err(LineErrorKind::BadHexType), rest),
                }
            }
            None => (Err(LineErrorKind::BadHexType), after),
        },
    };
    let (mut error, kind) = match kind {
        Ok(kind) => (None, kind),
        Err(e) => (Some(e), 0),
    };
    let mut bytes = Vec::new();
    let mut segment = list;
    loop {
        let s = segment.trim_end();
        let (body, continued) = match s.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (s, false),
        };
        if error.is_none() {
            if let Err(e) = hex_list(body, &mut bytes, limits.max_value_bytes) {
                error = Some(e);
            }
        }
        if !continued {
            break;
        }
        match lines.peek() {
            Some((_, next)) if is_continuation(next) => {
                segment = next.trim_start();
                lines.next();
            }
            _ => {
                error.get_or_insert(LineErrorKind::BrokenContinuation);
                break;
            }
        }
    }
    match error {
        None => Ok((kind, bytes)),
        Some(e) => Err(e),
    }
}

/// Whether a line can continue a `hex` list: not empty, not a key, value or comment.
fn is_continuation(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with(['[', '"', '@', ';'])
}

/// Appends the bytes of a comma-separated list (`01,ab,` — a trailing comma allowed).
fn hex_list(body: &str, bytes: &mut Vec<u8>, max: usize) -> Result<(), LineErrorKind> {
    let body = body.trim();
    if body.is_empty() {
        return Ok(());
    }
    let body = body.strip_suffix(',').unwrap_or(body);
    for item in body.split(',') {
        let item = item.trim();
        let valid = (1..=2).contains(&item.len()) && item.bytes().all(|b| b.is_ascii_hexdigit());
        let byte = u8::from_str_radix(item, 16)
            .ok()
            .filter(|_| valid)
            .ok_or(LineErrorKind::BadHexByte)?;
        if bytes.len() >= max {
            return Err(LineErrorKind::ValueTooLarge { limit: max });
        }
        bytes.push(byte);
    }
    Ok(())
}

/// The value a `hex(kind)` list stands for, strings decoded as the dialect stores them.
fn typed(kind: u32, bytes: Vec<u8>, dialect: RegDialect) -> RegValue {
    let string = |bytes: &[u8]| match dialect {
        RegDialect::Regedit5 => decode_utf16le(bytes),
        RegDialect::Regedit4 => decode_ansi(bytes),
    };
    let until_nul = |s: String| match s.find('\0') {
        Some(end) => s[..end].to_string(),
        None => s,
    };
    match kind {
        1 => RegValue::Sz(until_nul(string(&bytes))),
        2 => RegValue::ExpandSz(until_nul(string(&bytes))),
        3 => RegValue::Binary(bytes),
        4 if bytes.len() == 4 => {
            RegValue::Dword(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        7 => RegValue::MultiSz(
            string(&bytes)
                .split('\0')
                .take_while(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        11 => match <[u8; 8]>::try_from(bytes.as_slice()) {
            Ok(b) => RegValue::Qword(u64::from_le_bytes(b)),
            Err(_) => RegValue::Other { kind, bytes },
        },
        _ => RegValue::Other { kind, bytes },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::encode_utf16le;

    fn utf16(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(encode_utf16le(text));
        out
    }

    fn parse_ok(bytes: &[u8]) -> RegExport {
        parse(bytes, &Limits::default()).expect("a registry export")
    }

    /// What regedit on Windows Server 2003 writes for `reg export
    /// HKLM\SYSTEM\CurrentControlSet\Services\Winsock\Parameters`: UTF-16LE with a byte order
    /// mark, CR LF, `hex(7)` wrapped at 80 columns with two-space continuation lines.
    const WINSOCK_PARAMETERS: &str = "Windows Registry Editor Version 5.00\r\n\
\r\n\
[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Winsock\\Parameters]\r\n\
\"Transports\"=hex(7):54,00,63,00,70,00,69,00,70,00,00,00,4e,00,65,00,74,00,42,\\\r\n\
  00,54,00,00,00,41,00,70,00,70,00,6c,00,65,00,54,00,61,00,6c,00,6b,00,00,00,\\\r\n\
  52,00,61,00,73,00,41,00,72,00,70,00,00,00,00,00\r\n\
\"Ws2_32NumHandleBuckets\"=dword:00000010\r\n\
\"Ws2_32SpinCount\"=dword:00000fa0\r\n\
\r\n";

    #[test]
    fn regedit5_utf16_with_a_continued_multi_sz() {
        let export = parse_ok(&utf16(WINSOCK_PARAMETERS));
        assert_eq!(export.dialect, RegDialect::Regedit5);
        assert_eq!(export.encoding, TextEncoding::Utf16Le);
        assert_eq!(export.lines, 9);
        assert!(export.skipped.is_empty(), "{:?}", export.skipped);
        assert_eq!(export.keys.len(), 1);
        let key = &export.keys[0];
        assert_eq!(key.line, 3);
        assert_eq!(
            key.values[0],
            ExportValue {
                name: "Transports".into(),
                value: Some(RegValue::MultiSz(vec![
                    "Tcpip".into(),
                    "NetBT".into(),
                    "AppleTalk".into(),
                    "RasArp".into()
                ])),
                line: 4,
            }
        );
        assert_eq!(key.values[1].line, 7, "continuation lines are counted");
        assert_eq!(key.values[2].value, Some(RegValue::Dword(4000)));
    }

    #[test]
    fn regedit4_ansi_with_windows_1252_strings() {
        // REGEDIT4 from a German Windows: "Büro – Outlook" in Windows-1252 (0xFC, 0x96), LF
        // line endings, a hex(2) string in ANSI bytes.
        let mut bytes =
            b"REGEDIT4\n\n[HKEY_CURRENT_USER\\Software\\Test]\n\"Profile\"=\"B".to_vec();
        bytes.extend(b"\xFCro \x96 Outlook\"\n\"Path\"=hex(2):25,54,45,4d,50,25,5c,78,00\n");
        bytes.extend(b"\"List\"=hex(7):61,00,62,00,00\n");
        let export = parse_ok(&bytes);
        assert_eq!(export.dialect, RegDialect::Regedit4);
        assert_eq!(export.encoding, TextEncoding::Windows1252);
        let values: Vec<_> = export.keys[0]
            .values
            .iter()
            .map(|v| v.value.clone().unwrap())
            .collect();
        assert_eq!(
            values,
            [
                RegValue::Sz("Büro – Outlook".into()),
                RegValue::ExpandSz("%TEMP%\\x".into()),
                RegValue::MultiSz(vec!["a".into(), "b".into()]),
            ]
        );
    }

    #[test]
    fn escapes_defaults_deletions_and_abbreviations() {
        let text = "Windows Registry Editor Version 5.00\n\
; a comment\n\
[HKLM\\Software\\Test]\n\
@=\"default \\\"quoted\\\" C:\\\\dir\\\\\"\n\
\"Gone\"=-\n\
\"Q\"=hex(b):01,00,00,00,00,00,00,00\n\
\"D\"=hex(4):02,00,00,00\n\
\"Odd\"=hex(4):02,00\n\
\"None\"=hex(0):\n\
[-HKCU\\Software\\Old]\n";
        let export = parse_ok(text.as_bytes());
        assert!(export.skipped.is_empty(), "{:?}", export.skipped);
        assert_eq!(
            export.keys[0].path.as_str(),
            r"HKEY_LOCAL_MACHINE\Software\Test"
        );
        let v = &export.keys[0].values;
        assert_eq!(v[0].name, "");
        assert_eq!(
            v[0].value,
            Some(RegValue::Sz(r#"default "quoted" C:\dir\"#.into()))
        );
        assert_eq!(v[1].value, None);
        assert_eq!(v[2].value, Some(RegValue::Qword(1)));
        assert_eq!(v[3].value, Some(RegValue::Dword(2)));
        assert_eq!(
            v[4].value,
            Some(RegValue::Other {
                kind: 4,
                bytes: vec![2, 0]
            })
        );
        assert_eq!(
            v[5].value,
            Some(RegValue::Other {
                kind: 0,
                bytes: vec![]
            })
        );
        assert!(export.keys[1].deleted);
        assert_eq!(
            export.keys[1].path.as_str(),
            r"HKEY_CURRENT_USER\Software\Old"
        );
    }

    #[test]
    fn malformed_lines_are_skipped_with_their_line() {
        let text = "REGEDIT4\r\n\
\"Early\"=dword:1\r\n\
[HKLM\\Software\\Test]\r\n\
\"Open=\"oops\r\n\
\"Bad\"=dword:xyz\r\n\
\"Hex\"=hex:1,2,zz\r\n\
\"What\"=qword:1\r\n\
garbage\r\n\
\"Cont\"=hex:01,\\\r\n\
[HKEY_NOWHERE\\x]\r\n\
\"Lost\"=dword:1\r\n\
[HKLM\\Software\\Unclosed\r\n\
\"Fine\"=dword:00000001\r\n";
        let export = parse_ok(text.as_bytes());
        let got: Vec<(usize, LineErrorKind)> = export
            .skipped
            .iter()
            .map(|e| (e.line, e.kind.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (2, LineErrorKind::ValueOutsideKey),
                (4, LineErrorKind::MissingEquals),
                (5, LineErrorKind::BadDword),
                (6, LineErrorKind::BadHexByte),
                (7, LineErrorKind::UnknownType("qword".into())),
                (8, LineErrorKind::Unrecognised),
                (9, LineErrorKind::BrokenContinuation),
                (10, LineErrorKind::UnknownHive("HKEY_NOWHERE".into())),
                (12, LineErrorKind::KeyWithoutBracket),
            ]
        );
        // The value under the unreadable key is dropped with it, not recorded again; the
        // value after the unclosed key too.
        assert_eq!(export.keys.len(), 1);
        assert_eq!(export.keys[0].values.len(), 0);
        assert_eq!(
            export.skipped[1].to_string(),
            "line 4: no `=` after the value name"
        );
    }

    #[test]
    fn unterminated_quotes_are_skipped() {
        let export = parse_ok(b"REGEDIT4\n[HKLM\\S]\n\"Name\n\"N\"=\"never closed\n");
        let kinds: Vec<_> = export.skipped.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                LineErrorKind::UnterminatedString,
                LineErrorKind::UnterminatedString
            ]
        );
    }

    #[test]
    fn no_header_is_an_error() {
        assert_eq!(
            parse(b"[HKLM\\S]\n", &Limits::default()),
            Err(FormatError::NoHeader)
        );
        assert_eq!(parse(b"", &Limits::default()), Err(FormatError::NoHeader));
    }

    #[test]
    fn a_huge_continuation_chain_is_one_skipped_value() {
        let limits = Limits {
            max_value_bytes: 1000,
            ..Limits::default()
        };
        let mut text = String::from("REGEDIT4\n[HKLM\\S]\n\"Big\"=hex:00,\\\n");
        for _ in 0..10_000 {
            text.push_str("  00,00,00,00,\\\n");
        }
        text.push_str("  00\n\"After\"=dword:00000001\n");
        let export = parse(text.as_bytes(), &limits).unwrap();
        assert_eq!(
            export.skipped,
            [LineError {
                line: 3,
                kind: LineErrorKind::ValueTooLarge { limit: 1000 }
            }]
        );
        assert_eq!(
            export.keys[0].values.len(),
            1,
            "the value after the chain is read"
        );
        assert_eq!(export.keys[0].values[0].line, 10_005);
    }

    #[test]
    fn too_many_malformed_lines_is_an_error() {
        let limits = Limits {
            max_skipped_lines: 3,
            ..Limits::default()
        };
        let text = "REGEDIT4\nx\ny\nz\nw\n";
        assert_eq!(
            parse(text.as_bytes(), &limits),
            Err(FormatError::TooManyMalformedLines {
                limit: 3,
                first: LineError {
                    line: 2,
                    kind: LineErrorKind::Unrecognised
                }
            })
        );
    }

    #[test]
    fn key_and_value_limits_are_errors() {
        let limits = Limits {
            max_keys: 2,
            max_values: 2,
            ..Limits::default()
        };
        let keys = "REGEDIT4\n[HKLM\\A]\n[HKLM\\B]\n[HKLM\\C]\n";
        assert_eq!(
            parse(keys.as_bytes(), &limits),
            Err(FormatError::TooManyKeys { line: 4, limit: 2 })
        );
        let values = "REGEDIT4\n[HKLM\\A]\n@=\"1\"\n@=\"2\"\n@=\"3\"\n";
        assert_eq!(
            parse(values.as_bytes(), &limits),
            Err(FormatError::TooManyValues { line: 5, limit: 2 })
        );
    }
}
