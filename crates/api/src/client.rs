//! A small blocking HTTP/1.1 client for the daemon (its UNIX socket, or TCP/TLS through
//! [`crate::transport`]): one request per
//! connection (`Connection: close`), request bodies sent chunked so files and stdin
//! stream without being held in memory, responses read by Content-Length, chunked
//! encoding or until close. Blocking on purpose: the CLI is a short-lived process that
//! makes one or two calls, and needs no async runtime for that.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use serde::de::DeserializeOwned;

use crate::error::ErrorBody;
use crate::host::Host;
use crate::message::JsonMessage;
use crate::transport::{Connection, TlsOptions, Transport};
use crate::version::API_VERSION;

/// Largest response head (status line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens there.
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")]
    Connect { host: String, source: io::Error },
    /// TLS set-up or handshake failed (bad certificate files, an untrusted daemon, our
    /// certificate refused).
    #[error("TLS: {0}")]
    Tls(String),
    /// The daemon answered with an error status and `{"message": ...}`.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    /// A streaming endpoint reported an error in its JSON messages.
    #[error("{0}")]
    Stream(String),
    #[error("talking to the daemon: {0}")]
    Io(#[from] io::Error),
    #[error("malformed response from the daemon: {0}")]
    Protocol(String),
    #[error("cannot decode the daemon's response: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a request sends.
pub enum Body<'a> {
    Empty,
    Json(Vec<u8>),
    /// Streamed with chunked transfer encoding.
    Stream { content_type: &'static str, reader: Box<dyn Read + 'a> },
    /// Written by the caller straight into the request (chunked): no pipe or thread
    /// between a producer such as a tar writer and the socket.
    Writer { content_type: &'static str, write: Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + 'a> },
}

/// A client for one daemon.
#[derive(Clone, Debug)]
pub struct Client {
    transport: Transport,
    /// The API version in request paths: ours, unless DOCKER_API_VERSION pins another
    /// (as docker's CLI honours it, e.g. to talk to an older daemon).
    version: String,
}

impl Client {
    /// A client without TLS (a UNIX socket, or plain TCP).
    pub fn new(host: &Host) -> Client {
        Client::with_tls(host, None).expect("no TLS settings to fail")
    }

    /// A client; `tls` applies to `tcp://` hosts (its files are read here).
    pub fn with_tls(host: &Host, tls: Option<&TlsOptions>) -> Result<Client, ClientError> {
        let version = std::env::var("DOCKER_API_VERSION").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| API_VERSION.to_owned());
        Ok(Client { transport: Transport::new(host, tls)?, version })
    }

    /// Where the daemon is, for messages.
    pub fn address(&self) -> String {
        self.transport.describe()
    }

    /// Sends `method path` (path with query, without the version prefix, which is added)
    /// and returns the response, whatever its status.
    pub fn request(&self, method: &str, path: &str, body: Body<'_>) -> Result<Response, ClientError> {
        self.request_with(method, path, &[], body)
    }

    /// [`Client::request`] with extra headers (e.g. `X-Registry-Auth` for pull and push).
    pub fn request_with(&self, method: &str, path: &str, headers: &[(&str, String)], body: Body<'_>) -> Result<Response, ClientError> {
        let Connection { mut stream, tls_error } = self.transport.connect()?;
        let mut head = format!("{method} /v{}{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nConnection: close\r\n", self.version, env!("CARGO_PKG_VERSION"));
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        match &body {
            Body::Empty => head.push_str("Content-Length: 0\r\n"),
            Body::Json(b) => head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len())),
            Body::Stream { content_type, .. } | Body::Writer { content_type, .. } => head.push_str(&format!("Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n")),
        }
        head.push_str("\r\n");
        // A daemon may answer (e.g. 400) before reading the whole body and close; its
        // answer is still readable, so a failed write is reported only if no answer is.
        let sent = send(&mut stream, head.as_bytes(), body);
        let read = Response::read(BufReader::with_capacity(64 * 1024, stream), method == "HEAD");
        match (sent, read) {
            (_, Ok(r)) => Ok(r),
            (_, Err(_)) if Connection::failure(&tls_error).is_some() => Err(ClientError::Tls(Connection::failure(&tls_error).unwrap_or_default())),
            (Err(e), Err(_)) => Err(ClientError::Io(e)),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// A request whose error statuses become [`ClientError::Api`].
    pub fn call(&self, method: &str, path: &str, body: Body<'_>) -> Result<Response, ClientError> {
        self.request(method, path, body)?.error_for_status()
    }

    /// [`Client::call`] with extra headers.
    pub fn call_with(&self, method: &str, path: &str, headers: &[(&str, String)], body: Body<'_>) -> Result<Response, ClientError> {
        self.request_with(method, path, headers, body)?.error_for_status()
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call("GET", path, Body::Empty)?.json()
    }

    /// Sends a request asking to take over the connection (`Connection: Upgrade`,
    /// `Upgrade: tcp`), as attach and exec start do. After a `101` (or a `200` from
    /// older daemons) the socket carries the raw stream both ways: the returned
    /// [`Hijacked`] reads the output (bytes already buffered after the head first) and
    /// writes stdin; [`Hijacked::close_write`] half-closes when stdin ends, so the
    /// daemon sees EOF while output keeps coming until it closes.
    pub fn hijack(&self, method: &str, path: &str, body: Body<'_>) -> Result<Hijacked, ClientError> {
        let Connection { mut stream, tls_error } = self.transport.connect()?;
        let mut head = format!(
            "{method} /v{}{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
            self.version,
            env!("CARGO_PKG_VERSION")
        );
        match &body {
            Body::Empty => head.push_str("Content-Length: 0\r\n"),
            Body::Json(b) => head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len())),
            Body::Stream { .. } | Body::Writer { .. } => return Err(ClientError::Protocol("a hijacked request cannot stream a body".into())),
        }
        head.push_str("\r\n");
        send(&mut stream, head.as_bytes(), body)?;
        let writer = stream.try_clone()?;
        let resp = match Response::read(BufReader::with_capacity(64 * 1024, stream), false) {
            Ok(r) => r,
            Err(e) => return Err(Connection::failure(&tls_error).map(ClientError::Tls).unwrap_or(e)),
        };
        if resp.status >= 400 {
            return Err(resp.error_for_status().err().unwrap_or_else(|| ClientError::Protocol("error status".into())));
        }
        if resp.status != 101 && resp.status != 200 {
            return Err(ClientError::Protocol(format!("unexpected status {} for an upgraded stream", resp.status)));
        }
        let tty_stream = resp.header("content-type").is_some_and(|v| v.contains("vnd.docker.raw-stream"));
        let multiplexed = resp.header("content-type").is_some_and(|v| v.contains("vnd.docker.multiplexed-stream"));
        let BodyReader { inner, .. } = resp.body;
        // A 200 answer with a length would end the stream at that length; an upgraded
        // stream is read until the daemon closes, whatever framing the head claims.
        Ok(Hijacked { reader: inner, writer, raw_content_type: tty_stream, multiplexed_content_type: multiplexed })
    }
}

fn send(stream: &mut UnixStream, head: &[u8], body: Body<'_>) -> io::Result<()> {
    stream.write_all(head)?;
    match body {
        Body::Empty => {}
        Body::Json(b) => stream.write_all(&b)?,
        Body::Stream { mut reader, .. } => {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                stream.write_all(format!("{n:x}\r\n").as_bytes())?;
                stream.write_all(&buf[..n])?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
        Body::Writer { write, .. } => {
            let mut chunked = Chunked { out: &mut *stream, buf: Vec::with_capacity(CHUNK) };
            write(&mut chunked)?;
            chunked.flush()?;
            stream.write_all(b"0\r\n\r\n")?;
        }
    }
    stream.flush()
}

const CHUNK: usize = 1 << 20;

/// Chunked transfer encoding over a writer, in chunks of up to [`CHUNK`] bytes.
struct Chunked<'a, W: Write> {
    out: &'a mut W,
    buf: Vec<u8>,
}

impl<W: Write> Write for Chunked<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > CHUNK {
            self.flush()?;
        }
        if data.len() >= CHUNK {
            self.out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
            self.out.write_all(data)?;
            self.out.write_all(b"\r\n")?;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(format!("{:x}\r\n", self.buf.len()).as_bytes())?;
            self.out.write_all(&self.buf)?;
            self.out.write_all(b"\r\n")?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// A response: status, headers, and the body as a reader.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: BodyReader,
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
}

struct BodyReader {
    inner: BufReader<UnixStream>,
    framing: Framing,
}

impl Response {
    fn read(mut inner: BufReader<UnixStream>, head_only: bool) -> Result<Response, ClientError> {
        let mut line = String::new();
        let mut total = 0;
        let mut read_line = |inner: &mut BufReader<UnixStream>, line: &mut String| -> Result<(), ClientError> {
            line.clear();
            let n = inner.by_ref().take(MAX_HEAD as u64).read_line(line)?;
            total += n;
            if n == 0 {
                return Err(ClientError::Protocol("connection closed before the response head".into()));
            }
            if total > MAX_HEAD {
                return Err(ClientError::Protocol("response head too large".into()));
            }
            Ok(())
        };
        read_line(&mut inner, &mut line)?;
        if line.as_bytes().starts_with(&[0x15, 0x03]) {
            // A TLS alert record: a TLS port spoken to in plain HTTP.
            return Err(ClientError::Protocol("the daemon answered with TLS: connect with --tlsverify (or --tls)".into()));
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            return Err(ClientError::Protocol(format!("bad status line {line:?}")));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(ClientError::Protocol(format!("bad status line {line:?}")));
        }
        let status: u16 = code.parse().map_err(|_| ClientError::Protocol(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            read_line(&mut inner, &mut line)?;
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or_else(|| ClientError::Protocol(format!("bad header line {l:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.as_str());
        let framing = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            Framing::Length(0)
        } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Framing::Chunked { left: 0, done: false }
        } else if let Some(len) = header("content-length") {
            Framing::Length(len.parse().map_err(|_| ClientError::Protocol(format!("bad Content-Length {len:?}")))?)
        } else {
            Framing::Close
        };
        Ok(Response { status, headers, body: BodyReader { inner, framing } })
    }

    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(h, _)| *h == name).map(|(_, v)| v.as_str())
    }

    /// Turns 4xx/5xx into [`ClientError::Api`] with the daemon's message.
    pub fn error_for_status(self) -> Result<Response, ClientError> {
        if self.status < 400 {
            return Ok(self);
        }
        let status = self.status;
        let text = self.text()?;
        let message = serde_json::from_str::<ErrorBody>(&text).map(|b| b.message).unwrap_or_else(|_| text.trim().to_owned());
        Err(ClientError::Api { status, message })
    }

    pub fn bytes(mut self) -> Result<Vec<u8>, ClientError> {
        let mut v = Vec::new();
        self.body.read_to_end(&mut v)?;
        Ok(v)
    }

    pub fn text(self) -> Result<String, ClientError> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    pub fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        Ok(serde_json::from_slice(&self.bytes()?)?)
    }

    /// The body as a reader (for tars and long streams).
    pub fn into_reader(self) -> impl Read {
        self.body
    }

    /// Reads a stream of [`JsonMessage`]s, handing each to `each`; an error message in
    /// the stream ends it with [`ClientError::Stream`].
    pub fn json_messages(self, mut each: impl FnMut(&JsonMessage)) -> Result<(), ClientError> {
        for msg in serde_json::Deserializer::from_reader(self.body).into_iter::<JsonMessage>() {
            let msg = msg?;
            if let Some(e) = msg.error_message() {
                return Err(ClientError::Stream(e.to_owned()));
            }
            each(&msg);
        }
        Ok(())
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let want = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "response body cut short"));
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Close => self.inner.read(buf),
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    self.inner.by_ref().take(1024).read_line(&mut line)?;
                    let size = line.trim_end().split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
                    if size == 0 {
                        // Trailers, if any, end with an empty line.
                        loop {
                            line.clear();
                            let n = self.inner.by_ref().take(8192).read_line(&mut line)?;
                            if n == 0 || line.trim_end().is_empty() {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(*left as usize);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "response body cut short"));
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.inner.read_exact(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

/// A connection taken over after an upgrade: read output, write input.
pub struct Hijacked {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The daemon said `application/vnd.docker.raw-stream` (a TTY: no frames).
    pub raw_content_type: bool,
    /// The daemon said `application/vnd.docker.multiplexed-stream` (8-byte frames).
    pub multiplexed_content_type: bool,
}

impl Hijacked {
    /// A second handle for writing from another thread.
    pub fn writer(&self) -> io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Half-closes: the daemon sees our stdin end, output still flows.
    pub fn close_write(&self) -> io::Result<()> {
        self.writer.shutdown(std::net::Shutdown::Write)
    }

    /// Closes both directions (unblocks a reader in another thread).
    pub fn close(&self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Hijacked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for Hijacked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Percent-encodes a query value or path segment (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds a query string from pairs, skipping `None` values.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> String {
    let parts: Vec<String> = pairs.into_iter().filter_map(|(k, v)| v.map(|v| format!("{}={}", encode(k), encode(&v)))).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(encode("busybox:latest"), "busybox%3Alatest");
        assert_eq!(query([("a", Some("1 2".into())), ("b", None), ("c", Some("x".into()))]), "?a=1%202&c=x");
        assert_eq!(query([("b", None)]), "");
    }
}
