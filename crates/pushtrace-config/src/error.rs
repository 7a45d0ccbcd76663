//! Errors: [`ConfigError`] for an input that cannot be used at all, [`LineError`] for one
//! malformed line of a registry export (skipped and reported, like `regedit` skips it).

use serde::{Serialize, Serializer};
use std::fmt;

/// Why an artefact could not be read. The command line exits with status 2 for these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read it: {source}")]
    Io {
        /// The file as named to the checker.
        file: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`Limits::max_file_bytes`](crate::Limits::max_file_bytes).
    #[error("{file}: {size} bytes, more than the {limit} bytes read from one artefact")]
    TooLarge {
        /// The file as named to the checker.
        file: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in force.
        limit: usize,
    },
    /// Neither a registry export, nor EnumProt output, nor a client log.
    #[error(
        "{file}: not a registry export (first line `Windows Registry Editor Version 5.00` or \
         `REGEDIT4`), EnumProt output (first line `Testing \"TCPIP Support\"!`) or an Outlook \
         client log (with `CNCT::EcOpenSocketAndRegisterForNotifications`)"
    )]
    NotRecognised {
        /// The file as named to the checker.
        file: String,
    },
    /// A registry export too damaged or too large to read.
    #[error("{file}: {source}")]
    Malformed {
        /// The file as named to the checker.
        file: String,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
}

impl ConfigError {
    /// The file the error is about, as named to the checker.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Io { file, .. }
            | ConfigError::TooLarge { file, .. }
            | ConfigError::NotRecognised { file }
            | ConfigError::Malformed { file, .. } => file,
        }
    }

    /// What is wrong, without the file name that starts the message: for places that show
    /// the file beside it.
    pub fn reason(&self) -> String {
        let message = self.to_string();
        match message
            .strip_prefix(self.file())
            .and_then(|rest| rest.strip_prefix(": "))
        {
            Some(reason) => reason.to_string(),
            None => message,
        }
    }
}

/// Why a registry export as a whole cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The first non-empty line is not a registry export header.
    #[error("the first line is not `Windows Registry Editor Version 5.00` or `REGEDIT4`")]
    NoHeader,
    /// More malformed lines than [`Limits::max_skipped_lines`](crate::Limits::max_skipped_lines):
    /// not a registry export that is damaged here and there, but something else.
    #[error("more than {limit} malformed lines; the first: {first}")]
    TooManyMalformedLines {
        /// The limit in force.
        limit: usize,
        /// The first malformed line.
        first: LineError,
    },
    /// More keys than [`Limits::max_keys`](crate::Limits::max_keys).
    #[error("line {line}: more than {limit} keys")]
    TooManyKeys {
        /// The line of the first key over the limit.
        line: usize,
        /// The limit in force.
        limit: usize,
    },
    /// More values than [`Limits::max_values`](crate::Limits::max_values).
    #[error("line {line}: more than {limit} values")]
    TooManyValues {
        /// The line of the first value over the limit.
        line: usize,
        /// The limit in force.
        limit: usize,
    },
}

/// A malformed line of a registry export, skipped like `regedit` skips it. Serialised as
/// `{"line": N, "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct LineError {
    /// The line (1-based; the first line of a value continued over several).
    pub line: usize,
    /// What is wrong with it.
    pub kind: LineErrorKind,
}

impl Serialize for LineError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("LineError", 2)?;
        s.serialize_field("line", &self.line)?;
        s.serialize_field("reason", &self.kind.to_string())?;
        s.end()
    }
}

/// What is wrong with a [`LineError`]'s line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineErrorKind {
    /// Neither a key, a value, a comment nor an empty line.
    Unrecognised,
    /// `[` without a closing `]`.
    KeyWithoutBracket,
    /// The key does not start with a known hive (`HKEY_LOCAL_MACHINE`, `HKLM`...).
    UnknownHive(String),
    /// A key path longer than any Windows allows.
    KeyTooLong,
    /// A quoted name or string without its closing quote.
    UnterminatedString,
    /// A value name longer than Windows allows (16,383 characters).
    NameTooLong,
    /// No `=` after the value name.
    MissingEquals,
    /// Text after a complete value.
    TrailingText,
    /// The data is none of `"..."`, `-`, `dword:`, `hex:`, `hex(N):`.
    UnknownType(String),
    /// `dword:` not followed by 1 to 8 hexadecimal digits.
    BadDword,
    /// `hex(N)` with N not 1 to 8 hexadecimal digits.
    BadHexType,
    /// An item of a `hex` list that is not 1 or 2 hexadecimal digits.
    BadHexByte,
    /// A line ending in `\` not followed by a continuation line.
    BrokenContinuation,
    /// A value longer than [`Limits::max_value_bytes`](crate::Limits::max_value_bytes).
    ValueTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// A value before the first key.
    ValueOutsideKey,
    /// A value under a key the same file deletes (`[-...]`).
    ValueUnderDeletedKey,
}

/// At most this many characters of the input are quoted in a message.
const QUOTE_CHARS: usize = 40;

/// `text` cut to [`QUOTE_CHARS`] characters for a message.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

impl fmt::Display for LineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineErrorKind::Unrecognised => f.write_str("neither a key, a value nor a comment"),
            LineErrorKind::KeyWithoutBracket => {
                f.write_str("a key without its closing `]` (its values are skipped too)")
            }
            LineErrorKind::UnknownHive(hive) => {
                write!(f, "unknown root key `{hive}` (its values are skipped too)")
            }
            LineErrorKind::KeyTooLong => {
                f.write_str("a key path too long for Windows (its values are skipped too)")
            }
            LineErrorKind::UnterminatedString => {
                f.write_str("a quoted string without its closing quote")
            }
            LineErrorKind::NameTooLong => f.write_str("a value name longer than 16,383 characters"),
            LineErrorKind::MissingEquals => f.write_str("no `=` after the value name"),
            LineErrorKind::TrailingText => f.write_str("text after the value's data"),
            LineErrorKind::UnknownType(t) => write!(f, "unknown value type `{t}`"),
            LineErrorKind::BadDword => f.write_str("`dword:` needs 1 to 8 hexadecimal digits"),
            LineErrorKind::BadHexType => f.write_str("`hex(N)` needs N in hexadecimal"),
            LineErrorKind::BadHexByte => {
                f.write_str("a `hex` list item that is not a byte in hexadecimal")
            }
            LineErrorKind::BrokenContinuation => {
                f.write_str("the line ends in `\\` but no continuation line follows")
            }
            LineErrorKind::ValueTooLarge { limit } => {
                write!(f, "a value of more than {limit} bytes")
            }
            LineErrorKind::ValueOutsideKey => f.write_str("a value before the first key"),
            LineErrorKind::ValueUnderDeletedKey => {
                f.write_str("a value under a key this file deletes")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_the_message_without_the_file() {
        let file = "C:\\exports\\a: b.reg".to_string();
        let errors = [
            ConfigError::Io {
                file: file.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
            },
            ConfigError::TooLarge {
                file: file.clone(),
                size: 10,
                limit: 5,
            },
            ConfigError::NotRecognised { file: file.clone() },
            ConfigError::Malformed {
                file: file.clone(),
                source: FormatError::NoHeader,
            },
        ];
        for error in errors {
            let reason = error.reason();
            assert_eq!(error.to_string(), format!("{file}: {reason}"));
            assert!(!reason.contains("b.reg"), "{reason}");
        }
    }
}
