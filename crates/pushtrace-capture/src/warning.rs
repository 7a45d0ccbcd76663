//! Warnings: problems that did not stop the work, carried as data to the report.

use serde::Serialize;
use std::fmt;

/// Something the input showed that could not be used as it was: a truncated file, a
/// skipped record, an unsupported link type, a cap that bit. Warnings flow to the report;
/// nothing is printed by the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable machine-readable code, e.g. `file_truncated`, `record_skipped`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The frame it concerns, when there is one (1-based, as Wireshark numbers them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// The byte offset in the (decompressed) file it concerns, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Warning {
    /// A warning with no frame or offset attached.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
            frame: None,
            offset: None,
        }
    }

    /// Attaches the frame number the warning concerns.
    pub fn at_frame(mut self, frame: u64) -> Self {
        self.frame = Some(frame);
        self
    }

    /// Attaches the byte offset the warning concerns.
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.frame, self.offset) {
            (Some(n), Some(o)) => write!(f, " (frame {n}, byte offset {o})"),
            (Some(n), None) => write!(f, " (frame {n})"),
            (None, Some(o)) => write!(f, " (byte offset {o})"),
            (None, None) => Ok(()),
        }
    }
}
