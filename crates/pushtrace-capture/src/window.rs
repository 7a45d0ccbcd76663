//! A bounded window over a byte stream (standard input, pipes, decompressed data), which
//! comes in chunks (`chunks.rs`): read ahead on a thread (decompression) or on the caller's.
//!
//! Records are parsed in place inside their chunk, without copying. A record that runs
//! past the end of its chunk is gathered into the *spill*, a buffer of its own: the chunk's
//! unconsumed tail and then, from the chunks after it, exactly the bytes the parser asks
//! for ([`Window::fill`]); once the record is consumed, parsing goes on in the chunk. The
//! spill grows only as far as a parser asks, at most [`MAX_WINDOW`], the largest record a
//! parser accepts (`record.rs`). Oversized records are skipped by stepping through the
//! chunks without keeping them, so memory never depends on the input.
//!
//! The stream's first bytes, read before the format was known, are the first spill.

use crate::chunks::{Chunk, Chunks};
use crate::record::MAX_PCAPNG_BLOCK;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest record the window gathers.
pub(crate) const MAX_WINDOW: usize = MAX_PCAPNG_BLOCK as usize;

/// A stream read chunk by chunk.
pub(crate) struct Window {
    chunks: Chunks,
    /// The chunk being parsed (empty before the first one arrives).
    chunk: Chunk,
    /// First unconsumed byte in `chunk`.
    start: usize,
    /// A record gathered across chunks; its bytes come before the chunk's.
    spill: Vec<u8>,
    /// First unconsumed byte in `spill`.
    spill_start: usize,
    /// Stream offset of the first unconsumed byte.
    offset: u64,
    eof: bool,
}

impl Window {
    /// A window over a stream whose first bytes, `prefix`, were read before its `chunks`.
    pub(crate) fn new(prefix: Vec<u8>, chunks: Chunks) -> Self {
        Window {
            chunks,
            chunk: Chunk::default(),
            start: 0,
            spill: prefix,
            spill_start: 0,
            offset: 0,
            eof: false,
        }
    }

    /// True while unconsumed bytes remain in the spill: they come first.
    fn in_spill(&self) -> bool {
        self.spill_start < self.spill.len()
    }

    /// The unconsumed bytes that lie together: the spill's, else the chunk's.
    pub(crate) fn available(&self) -> &[u8] {
        if self.in_spill() {
            self.spill.get(self.spill_start..).unwrap_or_default()
        } else {
            self.chunk.bytes().get(self.start..).unwrap_or_default()
        }
    }

    /// Stream offset of the first unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the stream has ended (or failed): no more bytes will come.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Consumes up to `n` of the [available](Window::available) bytes and returns them,
    /// valid until the next fill.
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let (buffer, start) = if self.in_spill() {
            (&self.spill[..], &mut self.spill_start)
        } else {
            (self.chunk.bytes(), &mut self.start)
        };
        let at = *start;
        let taken = n.min(buffer.len().saturating_sub(at));
        *start = at + taken;
        self.offset += taken as u64;
        buffer.get(at..at + taken).unwrap_or_default()
    }

    /// Waits until at least `total` bytes are available together or the stream ends.
    /// `total` must not exceed [`MAX_WINDOW`]. The error the stream failed with is returned
    /// once, when the bytes before it are not enough; the stream has then ended.
    pub(crate) fn fill(&mut self, total: usize) -> io::Result<()> {
        if total > MAX_WINDOW {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record larger than the stream window",
            ));
        }
        loop {
            let available = self.available().len();
            if available >= total || self.eof {
                return Ok(());
            }
            let in_chunk = self.chunk.bytes().get(self.start..).unwrap_or_default();
            if self.in_spill() && !in_chunk.is_empty() {
                // Gather the record's next bytes from the chunk.
                let wanted = in_chunk.get(..total - available).unwrap_or(in_chunk);
                let moved = wanted.len();
                self.spill.drain(..self.spill_start);
                self.spill_start = 0;
                self.spill.extend_from_slice(wanted);
                self.start += moved;
            } else if !in_chunk.is_empty() {
                // The record runs past the chunk: start gathering it.
                self.spill.clear();
                self.spill.extend_from_slice(in_chunk);
                self.spill_start = 0;
                self.start = self.chunk.bytes().len();
            } else {
                self.next_chunk()?;
            }
        }
    }

    /// Skips `n` bytes without keeping them. Returns how many were skipped: fewer than `n`
    /// only when the stream ended first.
    pub(crate) fn discard(&mut self, n: u64) -> io::Result<u64> {
        let mut skipped = 0;
        loop {
            let step = (n - skipped).min(self.available().len() as u64);
            self.take(step as usize);
            skipped += step;
            if skipped == n || self.eof {
                return Ok(skipped);
            }
            if self.available().is_empty() {
                self.next_chunk()?;
            }
        }
    }

    /// Replaces the chunk, once consumed, by the next one. The consumed one is handed back
    /// first, so that it is the buffer read into next (inline, one buffer in all).
    fn next_chunk(&mut self) -> io::Result<()> {
        let done = std::mem::take(&mut self.chunk);
        self.start = 0;
        // Chunks are never empty but the one before the first, which came from no pool.
        if !done.bytes().is_empty() {
            self.chunks.recycle(done);
        }
        match self.chunks.next() {
            Ok(Some(next)) => self.chunk = next,
            Ok(None) => self.eof = true,
            Err(e) => {
                self.eof = true;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// A reader that counts the bytes it passes on, for progress through compressed input.
pub(crate) struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Counted<R> {
    /// Wraps `inner`, adding every byte read to `count`.
    pub(crate) fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, then fails if `error` is set.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        error: Option<&'static str>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            if n == 0 {
                if let Some(message) = self.error {
                    return Err(io::Error::other(message));
                }
            }
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// The bytes 0, 1, 2, … (mod 256).
    fn counting(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    fn trickle(len: usize, step: usize, error: Option<&'static str>) -> Box<dyn Read + Send> {
        Box::new(Trickle {
            data: counting(len),
            pos: 0,
            step,
            error,
        })
    }

    /// A window over `len` counting bytes, read `step` bytes at a time into chunks of
    /// `chunk_len` bytes on a thread.
    fn window(len: usize, step: usize, chunk_len: usize, error: Option<&'static str>) -> Window {
        let chunks = Chunks::read_ahead(trickle(len, step, error), chunk_len).unwrap();
        Window::new(Vec::new(), chunks)
    }

    #[test]
    fn fill_gathers_short_reads_and_keeps_the_prefix() {
        let chunks = Chunks::inline(trickle(100, 3, None), 7);
        let mut w = Window::new(vec![0xAA, 0xBB], chunks);
        w.fill(10).unwrap();
        assert!(w.available().len() >= 10);
        assert_eq!(&w.available()[..5], &[0xAA, 0xBB, 0, 1, 2]);
        assert_eq!(w.take(4), &[0xAA, 0xBB, 0, 1]);
        assert_eq!(w.offset(), 4);
        w.fill(1000).unwrap();
        assert!(w.at_eof());
        assert_eq!(w.available().len(), 98);
        assert_eq!(w.available()[0], 2);
    }

    #[test]
    fn records_inside_a_chunk_are_read_in_place_and_only_a_spanning_one_is_gathered() {
        let mut w = window(100, 100, 10, None);
        w.fill(1).unwrap();
        assert_eq!(w.available(), &counting(10)[..]);
        assert_eq!(w.take(8), &[0, 1, 2, 3, 4, 5, 6, 7]);
        // A 5-byte record from offset 8 spans two chunks: the spill holds exactly it.
        w.fill(5).unwrap();
        assert_eq!(w.available(), &[8, 9, 10, 11, 12]);
        assert_eq!(w.spill.len(), 5);
        assert_eq!(w.take(5), &[8, 9, 10, 11, 12]);
        // Then the rest of the second chunk, in place.
        assert_eq!(w.available(), &[13, 14, 15, 16, 17, 18, 19]);
        assert_eq!(w.offset(), 13);
    }

    #[test]
    fn a_record_longer_than_many_chunks_is_gathered_whole() {
        let mut w = window(10_000, 7, 16, None);
        w.fill(3).unwrap();
        w.take(3);
        w.fill(5000).unwrap();
        assert_eq!(w.available(), &counting(5003)[3..]);
        assert_eq!(w.take(5000).len(), 5000);
        assert_eq!(w.offset(), 5003);
        // The spill never holds more than the record asked for.
        assert_eq!(w.spill.len(), 5000);
        w.fill(1).unwrap();
        assert_eq!(w.available()[0], (5003 % 256) as u8);
        assert!(w.fill(MAX_WINDOW + 1).is_err());
    }

    #[test]
    fn the_end_leaves_what_was_read_available() {
        let mut w = window(50, 50, 16, None);
        w.fill(40).unwrap();
        w.take(40);
        w.fill(20).unwrap();
        assert!(w.at_eof());
        assert_eq!(w.available(), &counting(50)[40..]);
        assert_eq!(w.take(20).len(), 10);
        assert_eq!(w.offset(), 50);
    }

    #[test]
    fn an_error_comes_once_after_the_bytes_before_it() {
        let mut w = window(30, 4, 8, Some("disk on fire"));
        // Enough bytes: no error yet.
        w.fill(30).unwrap();
        assert_eq!(w.take(30), &counting(30)[..]);
        let error = w.fill(1).unwrap_err();
        assert_eq!(error.to_string(), "disk on fire");
        assert!(w.at_eof());
        assert_eq!(w.offset(), 30);
        w.fill(1).unwrap();
        assert!(w.available().is_empty());
    }

    #[test]
    fn discard_skips_through_the_spill_and_the_chunks() {
        let mut w = window(5000, 7, 64, None);
        w.fill(10).unwrap();
        assert_eq!(w.discard(3000).unwrap(), 3000);
        assert_eq!(w.offset(), 3000);
        w.fill(1).unwrap();
        assert_eq!(w.available()[0], (3000 % 256) as u8);
        // From inside a gathered record: the chunk ends at 3008 (47 × 64).
        assert_eq!(w.take(4).len(), 4);
        w.fill(10).unwrap();
        assert!(w.in_spill());
        assert_eq!(w.discard(100).unwrap(), 100);
        assert_eq!(w.offset(), 3104);
        w.fill(1).unwrap();
        assert_eq!(w.available()[0], (3104 % 256) as u8);
        assert_eq!(w.discard(10_000).unwrap(), 1896);
        assert!(w.at_eof());
        let mut w = window(100, 7, 16, Some("gone"));
        assert_eq!(w.discard(50).unwrap(), 50);
        assert_eq!(w.discard(80).unwrap_err().to_string(), "gone");
        assert_eq!(w.offset(), 100);
    }

    #[test]
    fn inline_reading_reuses_one_buffer() {
        let chunks = Chunks::inline(trickle(1000, 100, None), 64);
        let mut w = Window::new(Vec::new(), chunks);
        let mut buffers = std::collections::HashSet::new();
        loop {
            w.fill(1).unwrap();
            let chunk = w.take(64);
            if chunk.is_empty() {
                break;
            }
            buffers.insert(chunk.as_ptr());
        }
        assert_eq!(w.offset(), 1000);
        assert_eq!(buffers.len(), 1, "{buffers:?}");
    }

    #[test]
    fn counted_reader_counts() {
        let count = Arc::new(AtomicU64::new(0));
        let mut r = Counted::new(&b"hello world"[..], Arc::clone(&count));
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 4);
    }
}
