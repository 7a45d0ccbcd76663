//! Why a capture could not be opened at all. Problems found later, while reading records,
//! are [`crate::Warning`]s instead: the frames before them are still good.

use crate::netmon::NetMonError;
use crate::{Compression, Format};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

/// A capture that cannot be read from its first bytes on.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Opening or reading the input failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file (`<stdin>` or `<stream>` for streams).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input holds no bytes at all (after decompression, if it was compressed).
    #[error("the input is empty{}", inside(*compression))]
    Empty {
        /// The compression the empty content was wrapped in.
        compression: Option<Compression>,
    },
    /// The first bytes match no format this crate reads.
    #[error(
        "not a capture file: expected pcap, pcapng or Network Monitor 1.x/2.x (optionally \
         gzip- or zstd-compressed), but the first bytes{} are {}",
        inside(*compression),
        hex(first_bytes)
    )]
    NotACapture {
        /// Up to the first 16 bytes of the input (after decompression).
        first_bytes: Vec<u8>,
        /// The compression those bytes came out of.
        compression: Option<Compression>,
    },
    /// A compression format that is recognised but not supported.
    #[error("{name}-compressed input is not supported; decompress it first")]
    UnsupportedCompression {
        /// The compression's name, e.g. `xz`.
        name: &'static str,
    },
    /// The file ends inside its file header.
    #[error("the {format} file header is cut short: the input holds only {len} bytes")]
    TruncatedHeader {
        /// The detected format.
        format: Format,
        /// Bytes present.
        len: usize,
    },
    /// The header announces a version this crate does not read.
    #[error("unsupported {format} version {version}")]
    UnsupportedVersion {
        /// The detected format.
        format: Format,
        /// The version found, e.g. `1.5`.
        version: String,
    },
    /// The Network Monitor reader rejected the file.
    #[error(transparent)]
    NetMon(#[from] NetMonError),
}

/// " after gzip decompression" or nothing.
fn inside(compression: Option<Compression>) -> String {
    compression
        .map(|c| format!(" after {c} decompression"))
        .unwrap_or_default()
}

/// Bytes as space-separated lowercase hex pairs, `(none)` when empty.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(none)".into();
    }
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_capture_names_the_formats_and_shows_hex() {
        let err = CaptureError::NotACapture {
            first_bytes: b"GIF89a".to_vec(),
            compression: None,
        };
        assert_eq!(
            err.to_string(),
            "not a capture file: expected pcap, pcapng or Network Monitor 1.x/2.x (optionally \
             gzip- or zstd-compressed), but the first bytes are 47 49 46 38 39 61"
        );
        let err = CaptureError::NotACapture {
            first_bytes: vec![0xff],
            compression: Some(Compression::Gzip),
        };
        assert!(
            err.to_string()
                .ends_with("the first bytes after gzip decompression are ff"),
            "{err}"
        );
    }

    #[test]
    fn io_error_names_the_path() {
        let err = CaptureError::Io {
            path: PathBuf::from("/no/such.pcap"),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(err.to_string(), "cannot read /no/such.pcap: gone");
    }
}
