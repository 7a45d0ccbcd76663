//! A bounded sliding window over a byte stream (standard input, decompressed data).
//!
//! Records are parsed in place inside one buffer. When the record at the window start needs
//! more bytes than the buffer holds past it, the unconsumed tail is moved to the front
//! (compaction) and the buffer is refilled. The buffer starts small ([`FIRST_WINDOW`], so a
//! short input costs little) and doubles at each refill up to [`READ_WINDOW`], the size
//! that keeps reads large on long streams; beyond that only a record longer than the buffer
//! grows it, up to [`MAX_WINDOW`], the largest record a parser accepts (`record.rs`).
//! Oversized records are skipped by reading them through the buffer without keeping them,
//! so memory never depends on the input.

use crate::record::MAX_PCAPNG_BLOCK;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Initial buffer size.
const FIRST_WINDOW: usize = 64 << 10;
/// The size refills grow the buffer to; also the largest single read while no record needs
/// more.
const READ_WINDOW: usize = 1 << 20;
/// The buffer never grows beyond this.
pub(crate) const MAX_WINDOW: usize = MAX_PCAPNG_BLOCK as usize;

/// A stream read through a reusable buffer.
pub(crate) struct Window {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl Window {
    /// A window over `reader` whose first bytes, `prefix`, were already read from it.
    pub(crate) fn new(reader: Box<dyn Read + Send>, mut prefix: Vec<u8>) -> Self {
        let end = prefix.len();
        prefix.resize(FIRST_WINDOW.max(end), 0);
        Window {
            reader,
            buf: prefix,
            start: 0,
            end,
            offset: 0,
            eof: false,
        }
    }

    /// The unconsumed bytes.
    pub(crate) fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Stream offset of the first unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the stream has ended (or failed): no more bytes will come.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Consumes `n` available bytes and returns their index in the buffer, valid for
    /// [`Window::slice`] until the next fill.
    pub(crate) fn consume(&mut self, n: usize) -> usize {
        let taken = n.min(self.end - self.start);
        let at = self.start;
        self.start += taken;
        self.offset += taken as u64;
        at
    }

    /// `len` buffer bytes from index `at` (as returned by [`Window::consume`]).
    pub(crate) fn slice(&self, at: usize, len: usize) -> Option<&[u8]> {
        self.buf.get(at..at.checked_add(len)?)
    }

    /// Reads until at least `total` bytes are available or the stream ends. `total` must
    /// not exceed [`MAX_WINDOW`]. An error ends the stream.
    pub(crate) fn fill(&mut self, total: usize) -> io::Result<()> {
        if self.end - self.start >= total {
            return Ok(());
        }
        if total > MAX_WINDOW {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record larger than the stream window",
            ));
        }
        if self.start + total > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Double up to READ_WINDOW at each refill, and always hold `total` (≤ MAX_WINDOW).
        let wanted = self.buf.len().saturating_mul(2).min(READ_WINDOW).max(total);
        if wanted > self.buf.len() {
            self.buf.resize(wanted, 0);
        }
        while self.end - self.start < total && !self.eof {
            let free = self.buf.get_mut(self.end..).unwrap_or_default();
            let room = free.len();
            match self.reader.read(free) {
                // A reader that answers 0 with room to spare has ended.
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n.min(room),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Skips `n` bytes, reading past the buffer without keeping them. Returns how many were
    /// skipped: fewer than `n` only when the stream ended first.
    pub(crate) fn discard(&mut self, n: u64) -> io::Result<u64> {
        let in_buffer = (self.end - self.start) as u64;
        if n <= in_buffer {
            self.consume(n as usize);
            return Ok(n);
        }
        self.offset += in_buffer;
        self.start = 0;
        self.end = 0;
        let mut skipped = in_buffer;
        while skipped < n && !self.eof {
            let want = (n - skipped).min(self.buf.len() as u64) as usize;
            let scratch = self.buf.get_mut(..want).unwrap_or_default();
            match self.reader.read(scratch) {
                Ok(0) => self.eof = true,
                Ok(got) => {
                    let got = got.min(want) as u64;
                    skipped += got;
                    self.offset += got;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            }
        }
        Ok(skipped)
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

    /// Hands out at most `step` bytes per read.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn trickle(len: usize, step: usize) -> Box<dyn Read + Send> {
        Box::new(Trickle {
            data: (0..len).map(|i| i as u8).collect(),
            pos: 0,
            step,
        })
    }

    #[test]
    fn fill_gathers_short_reads_and_keeps_the_prefix() {
        let mut w = Window::new(trickle(100, 3), vec![0xAA, 0xBB]);
        w.fill(10).unwrap();
        assert!(w.available().len() >= 10);
        assert_eq!(&w.available()[..5], &[0xAA, 0xBB, 0, 1, 2]);
        let at = w.consume(4);
        assert_eq!(w.slice(at, 4), Some(&[0xAA, 0xBB, 0, 1][..]));
        assert_eq!(w.offset(), 4);
        w.fill(1000).unwrap();
        assert!(w.at_eof());
        assert_eq!(w.available().len(), 98);
        assert_eq!(w.available()[0], 2);
    }

    #[test]
    fn the_buffer_starts_small_and_doubles_at_each_refill_up_to_the_read_size() {
        let mut w = Window::new(trickle(4 * READ_WINDOW, 1 << 20), Vec::new());
        assert_eq!(w.buf.len(), FIRST_WINDOW);
        let mut sizes = Vec::new();
        while !w.at_eof() {
            let n = w.available().len();
            w.consume(n);
            w.fill(1).unwrap();
            sizes.push(w.buf.len());
        }
        assert_eq!(
            &sizes[..6],
            &[128 << 10, 256 << 10, 512 << 10, 1 << 20, 1 << 20, 1 << 20]
        );
        assert_eq!(w.offset(), 4 * READ_WINDOW as u64);
    }

    #[test]
    fn fill_compacts_and_grows_up_to_the_cap() {
        let total = READ_WINDOW + 10;
        let mut w = Window::new(trickle(3 * READ_WINDOW, 1 << 16), Vec::new());
        w.fill(100).unwrap();
        w.consume(50);
        w.fill(total).unwrap();
        assert!(w.buf.len() > READ_WINDOW && w.buf.len() <= MAX_WINDOW);
        assert!(w.available().len() >= total);
        assert_eq!(w.available()[0], 50);
        assert!(w.fill(MAX_WINDOW + 1).is_err());
    }

    #[test]
    fn discard_skips_past_the_buffer() {
        let mut w = Window::new(trickle(5000, 7), Vec::new());
        w.fill(10).unwrap();
        assert_eq!(w.discard(3000).unwrap(), 3000);
        assert_eq!(w.offset(), 3000);
        w.fill(1).unwrap();
        assert_eq!(w.available()[0], (3000 % 256) as u8);
        assert_eq!(w.discard(10_000).unwrap(), 2000);
        assert!(w.at_eof());
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
