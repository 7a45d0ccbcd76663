//! Microsoft Network Monitor 1.x (`RTSS`) and 2.x (`GMBU`) capture files.
//!
//! (Placeholder with the agreed interface; the real reader replaces it.)

use crate::{Frame, Warning};

/// Why a Network Monitor file could not be opened at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetMonError {
    /// The header is shorter than 128 bytes or its signature is wrong.
    #[error("not a Network Monitor file: {0}")]
    BadHeader(String),
}

/// Frame-table driven reader state over a whole Network Monitor file held in memory
/// (memory-mapped or spooled). Holds no borrowed data: pass the same bytes to every call.
#[derive(Debug)]
pub struct NetMonReader {
    warnings: Vec<Warning>,
}

impl NetMonReader {
    /// Parses the file header and locates the frame table.
    pub fn new(file: &[u8], utc_offset_secs: i64) -> Result<NetMonReader, NetMonError> {
        let _ = (file, utc_offset_secs);
        Err(NetMonError::BadHeader("Network Monitor reader not written yet".into()))
    }

    /// `(major, minor)` from the header, e.g. `(2, 3)`.
    pub fn version(&self) -> (u8, u8) {
        (0, 0)
    }

    /// True when frame times come from the header's local-time SYSTEMTIME (1.x, 2.0–2.2),
    /// i.e. they are local time of the capturing host with no zone.
    pub fn times_are_local(&self) -> bool {
        true
    }

    /// The next frame, in frame-table order, skipping the metadata frames Wireshark skips.
    /// `file` must be the bytes given to [`NetMonReader::new`].
    pub fn next_frame<'a>(&mut self, file: &'a [u8]) -> Option<Frame<'a>> {
        let _ = file;
        None
    }

    /// Warnings gathered so far (frame table past the end, bad records, ...), drained.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }
}
