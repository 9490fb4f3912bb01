//! A blob download as one `Read` that survives broken connections: when the body ends
//! early or fails, it asks again with `Range: bytes=<received>-` and carries on, so the
//! content store's single hashing pass sees one continuous stream.

use std::io::{self, Read};
use std::sync::Mutex;

use berth_image::Digest;

use crate::error::Error;
use crate::remote::Repo;

pub(crate) struct ResumingReader<'a, 's, 'r> {
    repo: &'a Repo<'s, 'r>,
    digest: &'a Digest,
    /// The descriptor's size: a body that ends before it is a broken connection.
    size: u64,
    received: u64,
    body: Option<Box<dyn Read + Send + 'static>>,
    retries_left: u32,
    /// The registry error behind an I/O failure, so the caller reports it, not a
    /// wrapped "write <temp file>".
    pub failure: &'a Mutex<Option<Error>>,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl<'a, 's, 'r> ResumingReader<'a, 's, 'r> {
    pub fn new(
        repo: &'a Repo<'s, 'r>,
        digest: &'a Digest,
        size: u64,
        retries: u32,
        failure: &'a Mutex<Option<Error>>,
        on_bytes: &'a (dyn Fn(u64) + Sync),
    ) -> Self {
        ResumingReader { repo, digest, size, received: 0, body: None, retries_left: retries, failure, on_bytes }
    }

    fn open(&mut self) -> io::Result<()> {
        let (resp, start) = self.repo.get_blob(self.digest, self.received).map_err(|e| self.fail(e))?;
        let mut body: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        if start < self.received {
            // The registry ignored the Range: skip what we already have.
            let skip = self.received - start;
            let copied = io::copy(&mut (&mut body).take(skip), &mut io::sink())?;
            if copied != skip {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob ended while skipping to the resume offset"));
            }
        }
        self.body = Some(body);
        Ok(())
    }

    fn fail(&self, e: Error) -> io::Error {
        let msg = e.to_string();
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        io::Error::other(msg)
    }
}

impl Read for ResumingReader<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.open()?;
            }
            let body = self.body.as_mut().expect("opened above");
            let broken = match body.read(buf) {
                Ok(0) if self.received < self.size => io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the end of the blob"),
                Ok(n) => {
                    self.received += n as u64;
                    (self.on_bytes)(self.received);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.body = None;
            if self.retries_left == 0 {
                return Err(broken);
            }
            self.retries_left -= 1;
            tracing::info!(digest = %self.digest, offset = self.received, error = %broken, "blob download broke, resuming");
        }
    }
}
