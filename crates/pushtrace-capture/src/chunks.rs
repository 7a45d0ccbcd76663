//! Where a stream's bytes come from, chunk by chunk: read ahead on a thread of their own
//! (decompressed data), or on the caller's thread (standard input, pipes).
//!
//! **Read ahead.** Decompression runs on one core while the caller parses and analyses the
//! bytes decompressed before on another: the wall time approaches the larger of the two
//! rather than their sum. The thread fills a small pool of large buffers, which go round two
//! channels: filled ones to the parser ([`Chunks::next`]), read ones back to the thread
//! ([`Chunks::recycle`]). It allocates at most [`POOL`] buffers and waits for one to come
//! back when all are in use, so memory stays at `POOL` × the chunk length whatever the
//! stream's size or speed. The stream's end, or the error it ended with, follows its last
//! bytes: the parser sees every byte decompressed before a failure, as when reading the
//! decoder directly. Dropping [`Chunks`] stops the thread at its next hand-over (a read
//! already blocked on a pipe ends first), and the thread drops the stream as it ends.
//!
//! **Inline.** A plain stream is only copied from the kernel; a thread buys nothing there
//! and costs a core: on 2 cores, `cat f.pcap | pushtrace analyze -` (1 GiB) took 1.11 s
//! read ahead against 0.68 s inline, `zstdcat f.pcap.zst | pushtrace analyze -` 0.52 s
//! against 0.51 s, and reading a file from standard input the same wall time for twice the
//! CPU time (the bytes cross from one core's cache to the other's). One buffer is read
//! into, one read per chunk, so bytes are parsed as soon as they arrive.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::thread;

/// Bytes per buffer: large enough that handing a buffer over costs nothing per byte
/// (256 KiB buffers made zstd input 12 % slower), small enough that the pool stays in the
/// shared cache, where the parser finds what the thread has just written.
pub(crate) const CHUNK_LEN: usize = 1 << 20;

/// Buffers in a read-ahead pool: one being filled, one being parsed, and two more so that
/// neither side waits for the other when their speeds vary from chunk to chunk (with two,
/// zstd input was 15 % slower).
pub(crate) const POOL: usize = 4;

/// Bytes of a stream: the first `len` of a buffer.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    buffer: Vec<u8>,
    len: usize,
}

impl Chunk {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buffer.get(..self.len).unwrap_or_default()
    }

    /// The whole buffer, `len` bytes, to read into. A new one is allocated zeroed, which
    /// the system gives as untouched pages: a short stream costs what it holds.
    fn sized(&mut self, len: usize) -> &mut [u8] {
        if self.buffer.len() != len {
            self.buffer = vec![0; len];
        }
        &mut self.buffer
    }
}

/// What the thread hands over.
pub(crate) enum Message {
    /// The next bytes of the stream (never empty).
    Data(Chunk),
    /// The stream ended normally after the bytes sent before.
    End,
    /// The stream failed after the bytes sent before.
    Failed(io::Error),
}

/// A stream's source of chunks.
pub(crate) enum Chunks {
    /// Read ahead by a thread.
    Ahead {
        filled: Receiver<Message>,
        free: Sender<Chunk>,
    },
    /// Read on the caller's thread into one buffer, `spare` while the caller does not hold
    /// it.
    Inline {
        reader: Box<dyn Read + Send>,
        spare: Chunk,
        chunk_len: usize,
    },
}

impl Chunks {
    /// Starts a thread reading `reader` ahead in chunks of `chunk_len` bytes (at least 1).
    pub(crate) fn read_ahead(reader: Box<dyn Read + Send>, chunk_len: usize) -> io::Result<Self> {
        // At most POOL buffers exist, so neither channel ever holds more than POOL of them
        // (plus the final message).
        let (filled_tx, filled) = mpsc::sync_channel(POOL);
        let (free, free_rx) = mpsc::channel();
        thread::Builder::new()
            .name("pushtrace-read".into())
            .spawn(move || pump(reader, chunk_len.max(1), &filled_tx, &free_rx))?;
        Ok(Chunks::Ahead { filled, free })
    }

    /// Reads `reader` on the caller's thread, at most `chunk_len` bytes (at least 1) a chunk.
    pub(crate) fn inline(reader: Box<dyn Read + Send>, chunk_len: usize) -> Self {
        Chunks::Inline {
            reader,
            spare: Chunk::default(),
            chunk_len: chunk_len.max(1),
        }
    }

    /// The next bytes of the stream, in a chunk to hand back with [`Chunks::recycle`] once
    /// read; `Ok(None)` at the end of the stream; the error it failed with. Call no more
    /// after `Ok(None)` or an error.
    pub(crate) fn next(&mut self) -> io::Result<Option<Chunk>> {
        let message = match self {
            Chunks::Ahead { filled, .. } => match filled.recv() {
                Ok(message) => message,
                // The thread ended without a word: the stream's reader panicked.
                Err(mpsc::RecvError) => {
                    return Err(io::Error::other("the reading thread stopped"));
                }
            },
            Chunks::Inline {
                reader,
                spare,
                chunk_len,
            } => {
                let mut chunk = std::mem::take(spare);
                let (len, end) = fill(&mut **reader, chunk.sized(*chunk_len), true);
                chunk.len = len;
                // Reading once, the stream ends only on a read that gave nothing.
                match (len, end) {
                    (0, Some(end)) => end,
                    _ => Message::Data(chunk),
                }
            }
        };
        match message {
            Message::Data(chunk) => Ok(Some(chunk)),
            Message::End => Ok(None),
            Message::Failed(error) => Err(error),
        }
    }

    /// Gives a chunk returned by [`Chunks::next`] back for reuse.
    pub(crate) fn recycle(&mut self, chunk: Chunk) {
        match self {
            // Fails only when the thread has ended, which then needs no buffer.
            Chunks::Ahead { free, .. } => drop(free.send(chunk)),
            Chunks::Inline { spare, .. } => *spare = chunk,
        }
    }
}

/// The thread's loop: fills buffers from `reader` and sends them until the stream ends or
/// the parser's side is dropped.
fn pump(
    mut reader: Box<dyn Read + Send>,
    chunk_len: usize,
    filled: &SyncSender<Message>,
    free: &Receiver<Chunk>,
) {
    let mut allocated = 0;
    loop {
        let mut chunk = match free.try_recv() {
            Ok(chunk) => chunk,
            Err(TryRecvError::Empty) if allocated < POOL => {
                allocated += 1;
                Chunk::default()
            }
            Err(TryRecvError::Empty) => match free.recv() {
                Ok(chunk) => chunk,
                Err(mpsc::RecvError) => return,
            },
            Err(TryRecvError::Disconnected) => return,
        };
        let (len, end) = fill(&mut *reader, chunk.sized(chunk_len), false);
        chunk.len = len;
        if len > 0 && filled.send(Message::Data(chunk)).is_err() {
            return;
        }
        if let Some(end) = end {
            // Nothing is left to do whether or not the parser is still there.
            let _ = filled.send(end);
            return;
        }
    }
}

/// Reads into `buffer` until it is full, or after the first bytes when `once`, or until
/// the stream ends; returns how many bytes were read and, when the stream ended, how
/// ([`Message::End`] or [`Message::Failed`]).
fn fill(reader: &mut dyn Read, buffer: &mut [u8], once: bool) -> (usize, Option<Message>) {
    let mut len = 0;
    while let Some(free) = buffer.get_mut(len..).filter(|free| !free.is_empty()) {
        let room = free.len();
        match reader.read(free) {
            // A reader that answers 0 with room to spare has ended.
            Ok(0) => return (len, Some(Message::End)),
            Ok(n) => len += n.min(room),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (len, Some(Message::Failed(e))),
        }
        if once && len > 0 {
            break;
        }
    }
    (len, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Duration;

    /// An endless stream of `byte`s that reports on `dropped` when it is dropped.
    struct Endless {
        byte: u8,
        dropped: SyncSender<()>,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(self.byte);
            Ok(buf.len())
        }
    }

    impl Drop for Endless {
        fn drop(&mut self) {
            let _ = self.dropped.send(());
        }
    }

    /// Hands out at most 5 bytes a read (every third read is interrupted), then fails.
    struct FailsAfter(io::Cursor<Vec<u8>>, usize);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 += 1;
            if self.1.is_multiple_of(3) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            match self.0.read(buf.chunks_mut(5).next().unwrap_or_default())? {
                0 => Err(io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }

    /// Both kinds of chunks over `reader`.
    fn both(reader: impl Fn() -> Box<dyn Read + Send>, chunk_len: usize) -> [Chunks; 2] {
        [
            Chunks::read_ahead(reader(), chunk_len).unwrap(),
            Chunks::inline(reader(), chunk_len),
        ]
    }

    /// Every chunk's length, the bytes, and the error the stream ended with.
    fn collect(chunks: &mut Chunks) -> (Vec<usize>, Vec<u8>, Option<io::Error>) {
        let (mut lens, mut all) = (Vec::new(), Vec::new());
        loop {
            match chunks.next() {
                Ok(Some(chunk)) => {
                    lens.push(chunk.bytes().len());
                    all.extend_from_slice(chunk.bytes());
                    chunks.recycle(chunk);
                }
                Ok(None) => return (lens, all, None),
                Err(e) => return (lens, all, Some(e)),
            }
        }
    }

    #[test]
    fn chunks_carry_the_stream_in_order_then_its_end() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for chunk_len in [1, 3, 1000, 10_000, 20_000] {
            let cursor = || Box::new(io::Cursor::new(data.clone())) as Box<dyn Read + Send>;
            for mut chunks in both(cursor, chunk_len) {
                let (lens, all, error) = collect(&mut chunks);
                assert_eq!(all, data, "chunk {chunk_len}");
                assert!(lens.iter().all(|&len| len > 0 && len <= chunk_len));
                assert!(error.is_none());
            }
        }
        for mut chunks in both(|| Box::new(io::empty()), 16) {
            assert!(matches!(chunks.next(), Ok(None)));
        }
    }

    #[test]
    fn a_failure_follows_every_byte_read_before_it() {
        let data = vec![9u8; 123];
        let reader = || Box::new(FailsAfter(io::Cursor::new(data.clone()), 0)) as _;
        let [mut ahead, mut inline] = both(reader, 50);
        // Read ahead, chunks are filled; inline, a chunk is what one read gave.
        let (lens, all, error) = collect(&mut ahead);
        assert_eq!((lens, all), (vec![50, 50, 23], data.clone()));
        assert_eq!(error.unwrap().to_string(), "disk on fire");
        let (lens, all, error) = collect(&mut inline);
        assert_eq!((lens.len(), all), (25, data));
        assert_eq!(error.unwrap().to_string(), "disk on fire");
    }

    #[test]
    fn a_panicking_reader_is_an_error() {
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("decoder bug (expected by the test)")
            }
        }
        let mut chunks = Chunks::read_ahead(Box::new(Panics), 16).unwrap();
        let error = chunks.next().unwrap_err();
        assert_eq!(error.to_string(), "the reading thread stopped");
    }

    #[test]
    fn the_pool_bounds_what_is_read_ahead() {
        let (dropped, was_dropped) = mpsc::sync_channel(1);
        let mut chunks = Chunks::read_ahead(Box::new(Endless { byte: 1, dropped }), 64).unwrap();
        // Without recycling, the thread fills its POOL buffers and waits.
        let held: Vec<Chunk> = (0..POOL).map(|_| chunks.next().unwrap().unwrap()).collect();
        assert!(held.iter().all(|chunk| chunk.bytes() == [1; 64]));
        let Chunks::Ahead { filled, .. } = &chunks else {
            unreachable!()
        };
        assert!(matches!(
            filled.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        ));
        // A returned buffer is filled again.
        chunks.recycle(held.into_iter().next().unwrap());
        assert_eq!(chunks.next().unwrap().unwrap().bytes(), [1; 64]);
        drop(chunks);
        was_dropped.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn dropping_the_parser_side_stops_the_thread() {
        for taken in [0, 1, POOL + 3] {
            let (dropped, was_dropped) = mpsc::sync_channel(1);
            let endless = Box::new(Endless { byte: 2, dropped });
            let mut chunks = Chunks::read_ahead(endless, 1 << 10).unwrap();
            for _ in 0..taken {
                let chunk = chunks.next().unwrap().unwrap();
                chunks.recycle(chunk);
            }
            drop(chunks);
            // The thread drops the stream as it ends.
            was_dropped.recv_timeout(Duration::from_secs(10)).unwrap();
        }
    }
}
