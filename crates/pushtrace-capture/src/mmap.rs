//! The crate's only `unsafe`: memory-mapping a file read-only (formats.md §5.1, memmap2).
//!
//! `Mmap::map` is unsafe because the mapped bytes can change, or vanish, if another process
//! writes to or truncates the file while it is mapped; the compiler's assumption that a
//! `&[u8]` never changes then no longer holds. It is sound enough here because:
//! - we only read the map, never write it, and never hand out `&mut`;
//! - every parser treats the bytes as untrusted and bounds-checks every access, so bytes
//!   that change between two reads give wrong frames or warnings, not memory unsafety in our
//!   code;
//! - the one effect we cannot rule out is a `SIGBUS` if the file is truncated under the
//!   map, the same trade-off every mmap-based capture reader (Wireshark included) makes for
//!   reading multi-gigabyte files without copying them.

#![allow(unsafe_code)]

use memmap2::Mmap;
use std::fs::File;
use std::io;

/// Maps the whole of `file` read-only.
pub(crate) fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: read-only map; see the module documentation for why concurrent changes to the
    // file are accepted.
    unsafe { Mmap::map(file) }
}
