//! Helpers shared by the integration tests: owned copies of frames, a reader that returns
//! short reads, and ways to read a capture through every input path.

#![allow(dead_code)] // each test binary uses a different subset

use pushtrace_capture::{CaptureReader, LinkType, ReadOptions, Warning};
use std::io::{self, Read};

/// A frame copied out of the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub number: u64,
    pub ts_ns: i64,
    pub link: LinkType,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Reads every frame (at most `limit`), returning them with the warnings.
pub fn drain(reader: &mut CaptureReader, limit: usize) -> (Vec<Owned>, Vec<Warning>) {
    let mut frames = Vec::new();
    while frames.len() < limit {
        let Some(f) = reader.next_frame() else { break };
        frames.push(Owned {
            number: f.number,
            ts_ns: f.ts_ns,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    (frames, reader.warnings().to_vec())
}

/// Reads `bytes` held in memory.
pub fn read_bytes(bytes: &[u8]) -> (Vec<Owned>, Vec<Warning>) {
    let mut reader =
        CaptureReader::from_bytes(bytes.to_vec(), &ReadOptions::default()).expect("opens");
    drain(&mut reader, usize::MAX)
}

/// Reads `bytes` as a stream that hands out at most `max_read` bytes per read.
pub fn read_stream(bytes: &[u8], max_read: usize) -> (Vec<Owned>, Vec<Warning>) {
    let source = ShortReads::new(bytes.to_vec(), vec![max_read]);
    let mut reader = CaptureReader::from_reader(source, &ReadOptions::default()).expect("opens");
    drain(&mut reader, usize::MAX)
}

/// Writes `bytes` to a temporary file and reads it through `open` (memory-mapped).
pub fn read_file(bytes: &[u8]) -> (Vec<Owned>, Vec<Warning>) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let mut reader = CaptureReader::open(file.path()).expect("opens");
    drain(&mut reader, usize::MAX)
}

/// A reader whose reads return at most the next of `sizes` (cycled) bytes, never 0 early.
pub struct ShortReads {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl ShortReads {
    pub fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        ShortReads {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self
            .sizes
            .get(self.turn % self.sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
