//! The crate's only `unsafe`: memory-mapping a file read-only (formats.md §5.1, memmap2),
//! releasing the pages a reader has left behind, and a prefetch hint for the bytes of the
//! next record.
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
//!
//! A large mapped input is also read ahead on a helper thread ([`MappedFile`]): on a file in
//! the page cache, entering the kernel to map its pages one fault at a time takes about half
//! of a bare walk over the records, and on a file not yet in memory each fault also waits for
//! the disk. The helper maps the pages a little ahead of the reader and unmaps those it has
//! passed, so the reader finds its pages mapped and the resident set stays a few tens of
//! megabytes whatever the file's size.

#![allow(unsafe_code)]

use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Maps the whole of `file` read-only.
fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: read-only map; see the module documentation for why concurrent changes to the
    // file are accepted.
    unsafe { Mmap::map(file) }
}

/// A file mapped read-only, optionally read ahead of its reader by a helper thread.
pub(crate) struct MappedFile {
    map: Arc<Mmap>,
    readahead: Option<Readahead>,
}

/// Inputs smaller than this are not worth a thread.
const READAHEAD_MIN_LEN: usize = 16 << 20;
/// The helper maps pages in steps of this many bytes...
const READAHEAD_STEP: usize = 2 << 20;
/// ...up to this far past the reader...
const READAHEAD_WINDOW: usize = 32 << 20;
/// ...and unmaps what lies further than this behind it...
const READAHEAD_KEEP_BEHIND: usize = 8 << 20;
/// ...in blocks of this many bytes: each unmapping interrupts the reader's core to flush its
/// TLB, so fewer, larger ones cost less (1 GiB pcap written in 4 KiB writes, CPU time of
/// analyze: 0.246 s unmapping by 2 MiB, 0.236 s by 32 MiB, 0.237 s not unmapping at all,
/// which leaves the whole unmapping to the reader's exit and takes 0.176 s of wall time
/// instead of 0.155 s).
const READAHEAD_RELEASE_STEP: usize = 32 << 20;
/// How long the helper sleeps when it is far enough ahead.
const READAHEAD_NAP: Duration = Duration::from_micros(500);

/// The helper thread of a [`MappedFile`] and what it shares with the reader.
struct Readahead {
    shared: Arc<ReadaheadState>,
    thread: Option<JoinHandle<()>>,
}

/// What the reader tells the helper.
struct ReadaheadState {
    /// The reader's offset in the file: where its next record starts.
    position: AtomicUsize,
    /// Set when the reader is done with the file.
    stop: AtomicBool,
}

impl MappedFile {
    /// Maps the whole of `file` read-only.
    pub(crate) fn open(file: &File) -> io::Result<MappedFile> {
        Ok(MappedFile {
            map: Arc::new(map_readonly(file)?),
            readahead: None,
        })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Starts reading ahead of a reader that goes through the file from its start and
    /// reports its progress with [`Self::reached`]; nothing for small files, where a thread
    /// costs more than it saves, or when the thread cannot be started.
    pub(crate) fn read_ahead(&mut self) {
        let useful = cfg!(target_os = "linux") && self.map.len() >= READAHEAD_MIN_LEN;
        if self.readahead.is_some() || !useful {
            return;
        }
        let shared = Arc::new(ReadaheadState {
            position: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let (map, state) = (Arc::clone(&self.map), Arc::clone(&shared));
        let thread = thread::Builder::new()
            .name("pushtrace-readahead".into())
            .spawn(move || follow_reader(&map, &state))
            .ok();
        self.readahead = thread.map(|thread| Readahead {
            shared,
            thread: Some(thread),
        });
    }

    /// Tells the helper, if any, that the reader's next record starts at `offset`.
    #[inline]
    pub(crate) fn reached(&self, offset: usize) {
        if let Some(readahead) = &self.readahead {
            readahead.shared.position.store(offset, Ordering::Relaxed);
        }
    }

    /// Stops the helper, if any: the reader is done.
    pub(crate) fn done(&self) {
        if let Some(readahead) = &self.readahead {
            readahead.stop();
        }
    }
}

impl Readahead {
    /// Tells the helper to stop (it ends within one step).
    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }
}

impl Drop for Readahead {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            // The helper stops within one step; a panic in it (there is none to expect)
            // changes nothing for the reader.
            let _ = thread.join();
        }
    }
}

/// The helper's loop: keeps `[position, position + READAHEAD_WINDOW)` mapped and unmaps
/// what lies more than `READAHEAD_KEEP_BEHIND` before `position` (by whole release steps),
/// until told to stop. It stops mapping ahead at the first error (a kernel without
/// `MADV_POPULATE_READ`, before Linux 5.14, or a file truncated under the map); the reader
/// then maps its pages itself, as it would without the helper.
fn follow_reader(map: &Mmap, state: &ReadaheadState) {
    let len = map.len();
    let mut mapped_to = 0;
    let mut released_to = 0;
    let mut mapping = true;
    while !state.stop.load(Ordering::Acquire) {
        let reader = state.position.load(Ordering::Relaxed).min(len);
        let behind = reader.saturating_sub(READAHEAD_KEEP_BEHIND);
        let release_to = behind - behind % READAHEAD_RELEASE_STEP;
        if release_to > released_to {
            release(map, released_to, release_to - released_to);
            released_to = release_to;
            continue;
        }
        mapped_to = mapped_to.max(align_down(reader));
        if mapping && mapped_to < len && mapped_to < reader.saturating_add(READAHEAD_WINDOW) {
            let step = READAHEAD_STEP.min(len - mapped_to);
            mapping = populate(map, mapped_to, step);
            mapped_to += step;
            continue;
        }
        thread::park_timeout(READAHEAD_NAP);
    }
}

/// `offset` rounded down to a multiple of the step (itself a multiple of every page size).
fn align_down(offset: usize) -> usize {
    offset - offset % READAHEAD_STEP
}

/// Maps `len` bytes of `map` from `offset` into the page tables (reading them from disk if
/// they are not in memory); false when the kernel refuses.
#[cfg(target_os = "linux")]
fn populate(map: &Mmap, offset: usize, len: usize) -> bool {
    map.advise_range(memmap2::Advice::PopulateRead, offset, len)
        .is_ok()
}

#[cfg(not(target_os = "linux"))]
fn populate(_: &Mmap, _: usize, _: usize) -> bool {
    false
}

/// Unmaps `len` bytes of `map` from `offset` (the file's pages stay in the page cache).
#[cfg(target_os = "linux")]
fn release(map: &Mmap, offset: usize, len: usize) {
    // SAFETY: `MADV_DONTNEED` on a read-only shared file mapping only drops page-table
    // entries: a later access faults the page in again from the file, with the same bytes
    // (madvise(2)), so every `&[u8]` into the map stays valid and unchanged. The range lies
    // within the map. A failure only leaves the pages mapped.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
}

#[cfg(not(target_os = "linux"))]
fn release(_: &Mmap, _: usize, _: usize) {}

/// Cache lines prefetched at the start of a Network Monitor record: its header, the link,
/// IP and TCP/UDP headers after it and the first payload bytes.
pub(crate) const RECORD_START_LINES: usize = 3;

/// The size of a cache line.
const LINE: usize = 64;

/// How far past the start of the next record the bytes of a pcap or pcapng input held in
/// memory are prefetched. Their next record is known only once the current one is read, so
/// prefetching record by record gives the memory one frame's time at most; loading the file
/// ahead as a stream does not depend on the records at all. 1 GiB generated captures,
/// interleaved runs, medians, analyze (bare walk) in seconds, record by record → 4 KiB
/// ahead: pcap 0.154 (0.132) → 0.107 (0.087); pcap, midstream mix 0.156 (0.122) → 0.115
/// (0.087), where 1 KiB ahead gave 0.134 (0.100) and 16 KiB 0.112 (0.088); pcapng 0.138
/// (0.111) → 0.119 (0.097).
pub(crate) const STREAM_AHEAD: usize = 4096;

/// Prefetches an input held in memory as a stream, [`STREAM_AHEAD`] bytes ahead of its
/// reader, each cache line once.
#[derive(Debug, Default)]
pub(crate) struct StreamPrefetch {
    /// Offset up to which lines were prefetched.
    done: usize,
}

impl StreamPrefetch {
    /// The reader's next record starts at `pos` in `bytes`: prefetch what lies ahead of it.
    #[inline]
    pub(crate) fn advance(&mut self, bytes: &[u8], pos: usize) {
        let from = self.done.max(pos) / LINE * LINE;
        let to = pos.saturating_add(STREAM_AHEAD).min(bytes.len());
        if to > from {
            prefetch(
                bytes.get(from..).unwrap_or_default(),
                (to - from).div_ceil(LINE),
            );
            self.done = to;
        }
    }
}

/// Asks the CPU to start loading the first `lines` cache lines (64 bytes each) from the start
/// of `bytes` while the caller processes the current frame, so that the engine finds the
/// frames to come in cache instead of waiting for memory. A hint only: it never faults,
/// reads nothing and changes nothing.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = bytes.as_ptr().cast::<i8>();
        for line in 0..lines {
            // SAFETY: prefetch instructions never fault and have no architectural effect,
            // so addresses past the end of the slice (computed with wrapping_add) are
            // harmless.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(LINE * line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, lines);
}
