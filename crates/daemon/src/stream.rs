//! Bridges between async HTTP bodies and the blocking image store, which reads and
//! writes std::io streams on a `spawn_blocking` thread.

use std::io::{self, Read, Write};

use axum::body::{Body, Bytes};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// The request body as a blocking reader; use it only inside `spawn_blocking`.
pub fn body_reader(body: Body) -> impl Read + Send + 'static {
    let stream = body.into_data_stream().map_err(io::Error::other);
    SyncIoBridge::new(StreamReader::new(stream))
}

/// A blocking writer whose bytes become a response body: written in 256 KiB pieces into
/// a bounded channel, so a slow client slows the writer instead of filling memory.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

const PIECE: usize = 256 * 1024;

impl ChannelWriter {
    pub fn new() -> (ChannelWriter, mpsc::Receiver<Result<Bytes, io::Error>>) {
        let (tx, rx) = mpsc::channel(8);
        (ChannelWriter { tx, buf: Vec::with_capacity(PIECE) }, rx)
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx.blocking_send(Ok(piece)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error (the client sees a cut-short response).
    pub fn fail(mut self, e: io::Error) {
        self.buf.clear();
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
