//! Turning an artefact's bytes into text: the encodings Windows tools write (UTF-16LE with a
//! byte order mark from `regedit`, `reg export` and PowerShell; the ANSI code page from
//! `REGEDIT4` and `cmd` redirection; UTF-8 from other tools), and lines ending in CR LF, LF or
//! a lone CR.

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use serde::Serialize;
use std::borrow::Cow;

/// How an artefact's bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TextEncoding {
    /// UTF-16 little-endian after a byte order mark `FF FE` (regedit 5.00, `reg export`).
    #[serde(rename = "utf-16le")]
    Utf16Le,
    /// UTF-16 little-endian without a byte order mark, recognised by the zero high bytes of
    /// its first characters.
    #[serde(rename = "utf-16le-no-bom")]
    Utf16LeNoBom,
    /// UTF-16 big-endian after a byte order mark `FE FF`.
    #[serde(rename = "utf-16be")]
    Utf16Be,
    /// UTF-8 after a byte order mark `EF BB BF`.
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    /// UTF-8 without a byte order mark, with at least one non-ASCII character.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Only ASCII bytes (the same text in UTF-8 and every ANSI code page).
    #[serde(rename = "ascii")]
    Ascii,
    /// Not valid UTF-8: read as the ANSI code page Windows-1252 (`REGEDIT4` files, `cmd`
    /// output on Western European systems).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl TextEncoding {
    /// The name used in reports (`utf-16le`, `windows-1252`...).
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16LeNoBom => "utf-16le-no-bom",
            TextEncoding::Utf16Be => "utf-16be",
            TextEncoding::Utf8Bom => "utf-8-bom",
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Ascii => "ascii",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

display_as_str!(TextEncoding);

/// How many leading UTF-16 code units must look like ASCII for a file without a byte order
/// mark to be read as UTF-16LE.
const UTF16_SNIFF_UNITS: usize = 8;

/// Decodes `bytes` (never fails: undecodable sequences become U+FFFD). A byte order mark
/// decides; without one, UTF-16LE is recognised by zero high bytes in the first characters,
/// a `REGEDIT4` export is Windows-1252 (regedit writes that dialect in the ANSI code page
/// only, and its bytes can happen to be valid UTF-8: `ä––` is `E4 96 96`), other valid UTF-8
/// is UTF-8, and anything else is Windows-1252.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, TextEncoding) {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return (
            UTF_16LE.decode_without_bom_handling(rest).0,
            TextEncoding::Utf16Le,
        );
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return (
            UTF_16BE.decode_without_bom_handling(rest).0,
            TextEncoding::Utf16Be,
        );
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (String::from_utf8_lossy(rest), TextEncoding::Utf8Bom);
    }
    if looks_like_utf16le(bytes) {
        return (
            UTF_16LE.decode_without_bom_handling(bytes).0,
            TextEncoding::Utf16LeNoBom,
        );
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => (Cow::Borrowed(text), TextEncoding::Ascii),
        Ok(text) if !text.trim_start().starts_with("REGEDIT4") => {
            (Cow::Borrowed(text), TextEncoding::Utf8)
        }
        _ => (
            WINDOWS_1252.decode_without_bom_handling(bytes).0,
            TextEncoding::Windows1252,
        ),
    }
}

/// Whether the first code units of a file without a byte order mark are printable ASCII
/// characters in UTF-16LE (low byte set, high byte zero).
fn looks_like_utf16le(bytes: &[u8]) -> bool {
    let units = (bytes.len() / 2).min(UTF16_SNIFF_UNITS);
    units >= 2
        && bytes.chunks_exact(2).take(units).all(|u| {
            u[1] == 0
                && (u[0] == b'\t' || u[0] == b'\r' || u[0] == b'\n' || (0x20..0x7F).contains(&u[0]))
        })
}

/// Decodes bytes in the ANSI code page of `REGEDIT4` files (Windows-1252).
pub fn decode_ansi(bytes: &[u8]) -> String {
    WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// Decodes UTF-16LE bytes (an odd last byte becomes U+FFFD).
pub fn decode_utf16le(bytes: &[u8]) -> String {
    UTF_16LE.decode_without_bom_handling(bytes).0.into_owned()
}

/// Encodes text in Windows-1252, or `None` when a character has no place in that code page.
pub fn encode_ansi(text: &str) -> Option<Vec<u8>> {
    let (bytes, _, unmappable) = WINDOWS_1252.encode(text);
    (!unmappable).then(|| bytes.into_owned())
}

/// Encodes text as UTF-16LE code units, low byte first.
pub fn encode_utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The lines of `text`, each without its line ending (CR LF, LF or a lone CR). A final line
/// ending does not start another line.
pub fn lines(text: &str) -> Lines<'_> {
    Lines { rest: text }
}

/// Iterator of [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.find(['\r', '\n']) {
            Some(end) => {
                let line = &self.rest[..end];
                let ending = if self.rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                self.rest = &self.rest[end + ending..];
                Some(line)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

/// The text with ASCII letters lowered and all white space removed: how the markers of
/// EnumProt output and client logs are compared, whatever their spacing and case.
pub fn squeeze(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Parses `0x1F`-style hexadecimal or plain decimal numbers (at most 32 bits).
pub fn parse_u32(token: &str) -> Option<u32> {
    let token = token.trim();
    match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.len() <= 8 => u32::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
            token.parse().ok()
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_marks_decide() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(encode_utf16le("REGEDIT4\r\n"))
            .collect();
        assert_eq!(
            decode(&utf16),
            (Cow::Borrowed("REGEDIT4\r\n"), TextEncoding::Utf16Le)
        );
        assert_eq!(
            decode(&encode_utf16le("Testing")).1,
            TextEncoding::Utf16LeNoBom
        );
        assert_eq!(
            decode(b"\xEF\xBB\xBFabc"),
            (Cow::Borrowed("abc"), TextEncoding::Utf8Bom)
        );
        assert_eq!(decode("Büro".as_bytes()).1, TextEncoding::Utf8);
        assert_eq!(decode(b"plain").1, TextEncoding::Ascii);
        // 0x96 is an en dash and 0xFC a u with umlaut in Windows-1252 (not Latin-1).
        assert_eq!(
            decode(b"B\xFCro \x96 Outlook"),
            (Cow::Borrowed("Büro – Outlook"), TextEncoding::Windows1252)
        );
    }

    /// A REGEDIT4 export is in the ANSI code page even when its bytes are valid UTF-8: the
    /// value `ä––` is `E4 96 96` in Windows-1252, which UTF-8 reads as `䖖` (found by the
    /// dialect round-trip property test).
    #[test]
    fn regedit4_is_ansi_even_when_it_reads_as_utf8() {
        let export = b"REGEDIT4\r\n\r\n[HKEY_CURRENT_USER\\X]\r\n\"v\"=\"\xE4\x96\x96\"\r\n";
        assert!(std::str::from_utf8(export).is_ok());
        let (text, encoding) = decode(export);
        assert_eq!(encoding, TextEncoding::Windows1252);
        assert!(text.contains("\"ä––\""), "{text}");
    }

    #[test]
    fn every_line_ending_splits() {
        let got: Vec<&str> = lines("a\r\nb\nc\rd\r\n\r\ne").collect();
        assert_eq!(got, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(lines("a\n").count(), 1);
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn numbers_in_both_notations() {
        assert_eq!(parse_u32("0x80040102"), Some(0x8004_0102));
        assert_eq!(parse_u32("0X2"), Some(2));
        assert_eq!(parse_u32("17"), Some(17));
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("0x123456789"), None);
        assert_eq!(parse_u32("-1"), None);
    }
}
