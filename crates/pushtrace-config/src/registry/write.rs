//! Writing a registry export the way `regedit` does: the header, each key in brackets followed
//! by its values and an empty line, long `hex` data wrapped before 80 columns with `\` and
//! two-space continuation lines, CR LF line ends; UTF-16LE with a byte order mark for 5.00,
//! Windows-1252 for `REGEDIT4`.

use super::{ExportKey, RegDialect, RegExport, RegValue};
use crate::text::{encode_ansi, encode_utf16le};

/// The column `regedit` keeps wrapped `hex` lines within.
const WRAP_COLUMN: usize = 78;

/// Writes `export` in `dialect`. `None` when something cannot be written in it: a name with
/// a line break, or (`REGEDIT4`) a character outside Windows-1252.
pub fn write(export: &RegExport, dialect: RegDialect) -> Option<Vec<u8>> {
    let mut text = String::new();
    text.push_str(dialect.header());
    text.push_str("\r\n\r\n");
    for key in &export.keys {
        write_key(&mut text, key, dialect)?;
    }
    match dialect {
        RegDialect::Regedit5 => {
            let mut out = vec![0xFF, 0xFE];
            out.extend(encode_utf16le(&text));
            Some(out)
        }
        RegDialect::Regedit4 => encode_ansi(&text),
    }
}

/// Appends one key and its values.
fn write_key(text: &mut String, key: &ExportKey, dialect: RegDialect) -> Option<()> {
    let path = key.path.as_str();
    if has_line_break(path) {
        return None;
    }
    text.push('[');
    if key.deleted {
        text.push('-');
    }
    text.push_str(path);
    text.push_str("]\r\n");
    for v in &key.values {
        if has_line_break(&v.name) {
            return None;
        }
        let mut line = if v.name.is_empty() {
            String::from("@=")
        } else {
            format!("{}=", quote(&v.name))
        };
        match &v.value {
            None => line.push('-'),
            Some(RegValue::Sz(s)) if !has_line_break(s) && !s.contains('\0') => {
                line.push_str(&quote(s));
            }
            Some(RegValue::Dword(n)) => line.push_str(&format!("dword:{n:08x}")),
            Some(value) => {
                let (kind, bytes) = value_bytes(value, dialect)?;
                hex(&mut line, kind, &bytes);
            }
        }
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    Some(())
}

/// Whether `s` holds a character that would end a line.
fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

/// `s` in quotes, `\` and `"` escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The `hex(N)` type number and bytes of a value.
fn value_bytes(value: &RegValue, dialect: RegDialect) -> Option<(u32, Vec<u8>)> {
    let string = |s: &str| -> Option<Vec<u8>> {
        match dialect {
            RegDialect::Regedit5 => Some(encode_utf16le(s)),
            RegDialect::Regedit4 => encode_ansi(s),
        }
    };
    Some(match value {
        RegValue::Sz(s) => (1, string(&format!("{s}\0"))?),
        RegValue::ExpandSz(s) => (2, string(&format!("{s}\0"))?),
        RegValue::MultiSz(list) => {
            let mut joined: String = list.iter().map(|s| format!("{s}\0")).collect();
            joined.push('\0');
            (7, string(&joined)?)
        }
        RegValue::Binary(b) => (3, b.clone()),
        RegValue::Dword(n) => (4, n.to_le_bytes().to_vec()),
        RegValue::Qword(n) => (11, n.to_le_bytes().to_vec()),
        RegValue::Other { kind, bytes } => (*kind, bytes.clone()),
    })
}

/// Appends `hex:` (type 3) or `hex(N):` and the bytes, wrapped as regedit wraps them.
fn hex(line: &mut String, kind: u32, bytes: &[u8]) {
    if kind == 3 {
        line.push_str("hex:");
    } else {
        line.push_str(&format!("hex({kind:x}):"));
    }
    let mut column = line.chars().count();
    for (i, b) in bytes.iter().enumerate() {
        let last = i + 1 == bytes.len();
        let width = if last { 2 } else { 3 };
        if column + width > WRAP_COLUMN {
            line.push_str("\\\r\n  ");
            column = 2;
        }
        line.push_str(&format!("{b:02x}"));
        if !last {
            line.push(',');
        }
        column += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{parse, ExportValue, KeyPath};
    use crate::Limits;

    #[test]
    fn written_exports_read_back_in_both_dialects() {
        let export = RegExport::new(vec![ExportKey {
            path: KeyPath::parse(r"HKCU\Software\Büro \ Test").unwrap(),
            deleted: false,
            line: 3,
            values: [
                RegValue::Sz(r#"a "quoted" \path\"#.into()),
                RegValue::Sz("two\r\nlines".into()),
                RegValue::MultiSz(vec![
                    "Tcpip".into(),
                    "NetBT".into(),
                    "AppleTalk".into(),
                    "RasArp".into(),
                    "€".into(),
                ]),
                RegValue::ExpandSz("%SystemRoot%".into()),
                RegValue::Dword(7),
                RegValue::Qword(1 << 40),
                RegValue::Binary((0..=255).collect()),
                RegValue::Other {
                    kind: 0x20,
                    bytes: vec![1],
                },
            ]
            .into_iter()
            .enumerate()
            .map(|(i, value)| ExportValue {
                name: if i == 0 {
                    String::new()
                } else {
                    format!("v{i}")
                },
                value: Some(value),
                line: 0,
            })
            .collect(),
        }]);
        for dialect in [RegDialect::Regedit5, RegDialect::Regedit4] {
            let bytes = write(&export, dialect).unwrap();
            let back = parse(&bytes, &Limits::default()).unwrap();
            assert!(back.skipped.is_empty(), "{dialect:?}: {:?}", back.skipped);
            assert_eq!(back.dialect, dialect);
            let values: Vec<_> = back.keys[0].values.iter().map(|v| &v.value).collect();
            let expected: Vec<_> = export.keys[0].values.iter().map(|v| &v.value).collect();
            assert_eq!(values, expected, "{dialect:?}");
            assert_eq!(
                back.keys[0].path.as_str(),
                r"HKEY_CURRENT_USER\Software\Büro \ Test"
            );
        }
        let text = String::from_utf8(
            write(&export, RegDialect::Regedit4)
                .unwrap()
                .iter()
                .map(|&b| if b < 0x80 { b } else { b'?' })
                .collect(),
        )
        .unwrap();
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert!(text.contains("\"v3\"=hex(2):25,53,79,73,"), "{text}");
    }

    #[test]
    fn regedit4_cannot_hold_every_character() {
        let export = RegExport::new(vec![ExportKey {
            path: KeyPath::parse(r"HKCU\日本").unwrap(),
            deleted: true,
            line: 1,
            values: vec![],
        }]);
        assert!(write(&export, RegDialect::Regedit4).is_none());
        assert!(write(&export, RegDialect::Regedit5).is_some());
    }
}
