//! Unpacking a layer while its blob is still streaming into the content store (a load, a
//! pull): the blob writer reads through a [`Tee`] that hands each chunk to a
//! [`ChannelReader`] the unpack thread consumes. The channel is bounded, so the slower
//! side sets the pace and memory stays at a few chunks; if the unpacker gives up (not a
//! tar after all), the writer carries on alone.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes handed over at once: large enough that the two threads rarely wake each other.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight.
const DEPTH: usize = 8;

/// A reader that also copies everything read into a channel.
pub struct Tee<R> {
    inner: R,
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

/// A tee over `inner` and the reader of its copy.
pub fn tee<R: Read>(inner: R) -> (Tee<R>, ChannelReader) {
    let (tx, rx) = sync_channel(DEPTH);
    (Tee { inner, tx: Some(tx), buf: Vec::with_capacity(CHUNK) }, ChannelReader { rx, cur: Vec::new(), pos: 0 })
}

impl<R> Tee<R> {
    fn send(&mut self) {
        if let Some(tx) = &self.tx {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            if tx.send(chunk).is_err() {
                // The reader side stopped: no more copies.
                self.tx = None;
            }
        }
    }

    /// Hands over what is buffered and closes the copy (its reader then sees the end).
    pub fn finish(mut self) {
        if !self.buf.is_empty() {
            self.send();
        }
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        if self.tx.is_some() {
            self.buf.extend_from_slice(&out[..n]);
            if self.buf.len() >= CHUNK {
                self.send();
            }
        }
        Ok(n)
    }
}

/// Reads what a [`Tee`] copied; the end of the stream is the tee's `finish` (or drop).
pub struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_the_stream_and_a_gone_reader_does_not_stop_the_writer() {
        let data: Vec<u8> = (0..3 * CHUNK + 77).map(|i| (i % 251) as u8).collect();
        let (mut t, mut r) = tee(&data[..]);
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        });
        let mut main = Vec::new();
        t.read_to_end(&mut main).unwrap();
        t.finish();
        assert_eq!(main, data);
        assert_eq!(reader.join().unwrap(), data);

        let (mut t, r) = tee(&data[..]);
        drop(r);
        let mut main = Vec::new();
        t.read_to_end(&mut main).unwrap();
        assert_eq!(main, data, "the writer reads everything without a reader");
    }
}
