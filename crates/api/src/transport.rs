//! How the client reaches berthd: a UNIX socket, TCP, or TCP with TLS (docker's `--tls` /
//! `--tlsverify`, with a client certificate for mutual TLS). Whatever the transport, the
//! rest of the client reads and writes a `UnixStream`: a TCP or TLS connection is pumped
//! through a socketpair by a thread of its own. That keeps one code path, and keeps the
//! two independent halves hijacked streams need (attach reads output in one thread while
//! another writes stdin and half-closes) — a rustls session cannot be split that way.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::client::ClientError;
use crate::host::Host;

/// TLS settings as docker's CLI takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// Verify the daemon's certificate against `ca` (`--tlsverify`); otherwise it is
    /// accepted unchecked (`--tls` alone, as in docker).
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `cert`/`key` were named explicitly: missing files are then an error, while
    /// missing default files just mean no client certificate.
    pub explicit_client_cert: bool,
}

impl TlsOptions {
    /// docker's rules: `--tlsverify` or a non-empty `DOCKER_TLS_VERIFY` means TLS verifying
    /// the daemon; `--tls` TLS without; the files come from the flags, else
    /// `$DOCKER_CERT_PATH/{ca,cert,key}.pem`, else `~/.docker/`. None: plain.
    pub fn select(tls: bool, tlsverify: bool, ca: Option<PathBuf>, cert: Option<PathBuf>, key: Option<PathBuf>) -> Option<TlsOptions> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let verify = tlsverify || env("DOCKER_TLS_VERIFY").is_some();
        if !tls && !verify {
            return None;
        }
        let dir = env("DOCKER_CERT_PATH").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker"));
        let explicit_client_cert = cert.is_some() || key.is_some();
        Some(TlsOptions {
            verify,
            ca: ca.unwrap_or_else(|| dir.join("ca.pem")),
            cert: cert.unwrap_or_else(|| dir.join("cert.pem")),
            key: key.unwrap_or_else(|| dir.join("key.pem")),
            explicit_client_cert,
        })
    }

    fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
        let builder = if self.verify {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(&self.ca)? {
                roots.add(cert).map_err(|e| format!("CA certificate {}: {e}", self.ca.display()))?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider)))
        };
        let have_client_cert = self.explicit_client_cert || (self.cert.exists() && self.key.exists());
        if !have_client_cert {
            return Ok(builder.with_no_client_auth());
        }
        let certs = read_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| format!("could not load the TLS key {}: {e}", self.key.display()))?;
        builder.with_client_auth_cert(certs, key).map_err(|e| format!("client certificate {}: {e}", self.cert.display()))
    }
}

/// The certificates of a PEM file (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("could not read the certificate file {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("certificate file {}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// `--tls` without `--tlsverify`: docker accepts any daemon certificate then. Signatures
/// are still checked, so the handshake itself is sound; the peer is just not
/// authenticated.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub enum Transport {
    Unix(PathBuf),
    Tcp { address: String, server_name: String, tls: Option<Arc<rustls::ClientConfig>> },
}

/// An open connection, and where a TLS failure after the handshake (e.g. the daemon
/// rejecting our certificate) is recorded for the error message.
pub struct Connection {
    pub stream: UnixStream,
    pub tls_error: Option<Arc<Mutex<Option<String>>>>,
}

impl Connection {
    /// The TLS failure that ended the connection, if one did.
    pub fn failure(slot: &Option<Arc<Mutex<Option<String>>>>) -> Option<String> {
        slot.as_ref().and_then(|s| s.lock().ok().and_then(|g| g.clone()))
    }
}

impl Transport {
    pub fn new(host: &Host, tls: Option<&TlsOptions>) -> Result<Transport, ClientError> {
        match host {
            Host::Unix(p) => Ok(Transport::Unix(p.clone())),
            Host::Tcp { host: name, .. } => {
                let config = match tls {
                    Some(t) => Some(Arc::new(t.client_config().map_err(ClientError::Tls)?)),
                    None => None,
                };
                let address = host.tcp_address(config.is_some()).unwrap_or_default();
                Ok(Transport::Tcp { address, server_name: name.clone(), tls: config })
            }
        }
    }

    /// `unix:///path` or `tcp://host:port`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Transport::Unix(p) => format!("unix://{}", p.display()),
            Transport::Tcp { address, .. } => format!("tcp://{address}"),
        }
    }

    pub fn connect(&self) -> Result<Connection, ClientError> {
        let connect_err = |source| ClientError::Connect { host: self.describe(), source };
        match self {
            Transport::Unix(p) => Ok(Connection { stream: UnixStream::connect(p).map_err(connect_err)?, tls_error: None }),
            Transport::Tcp { address, server_name, tls } => {
                let tcp = TcpStream::connect(address.as_str()).map_err(connect_err)?;
                let _ = tcp.set_nodelay(true);
                let (ours, theirs) = UnixStream::pair()?;
                match tls {
                    None => {
                        pump_plain(tcp, theirs)?;
                        Ok(Connection { stream: ours, tls_error: None })
                    }
                    Some(config) => {
                        let name = ServerName::try_from(server_name.trim_start_matches('[').trim_end_matches(']').to_owned())
                            .map_err(|e| ClientError::Tls(format!("{server_name}: {e}")))?;
                        let mut conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| ClientError::Tls(e.to_string()))?;
                        let mut tcp = tcp;
                        // The handshake runs here, so a bad certificate is this call's error.
                        while conn.is_handshaking() {
                            conn.complete_io(&mut tcp).map_err(|e| ClientError::Tls(format!("TLS handshake with {address}: {e}")))?;
                        }
                        let slot = Arc::new(Mutex::new(None));
                        let s = slot.clone();
                        std::thread::Builder::new().name("tls-pump".into()).spawn(move || {
                            if let Err(e) = pump_tls(tcp, conn, &theirs) {
                                if let Ok(mut g) = s.lock() {
                                    *g = Some(e);
                                }
                            }
                            // Only now does the client see EOF: the reason is recorded.
                            drop(theirs);
                        })?;
                        Ok(Connection { stream: ours, tls_error: Some(slot) })
                    }
                }
            }
        }
    }
}

/// Plain TCP: a thread per direction; each half-closes the other side at EOF.
fn pump_plain(tcp: TcpStream, local: UnixStream) -> io::Result<()> {
    let (mut tcp_r, mut local_w) = (tcp.try_clone()?, local.try_clone()?);
    std::thread::Builder::new().name("tcp-in".into()).spawn(move || {
        let _ = io::copy(&mut tcp_r, &mut local_w);
        let _ = local_w.shutdown(Shutdown::Write);
    })?;
    let (mut local_r, mut tcp_w) = (local, tcp);
    std::thread::Builder::new().name("tcp-out".into()).spawn(move || {
        let _ = io::copy(&mut local_r, &mut tcp_w);
        let _ = tcp_w.shutdown(Shutdown::Write);
    })?;
    Ok(())
}

/// At most this much plaintext waits for the local side before the pump stops reading
/// from the daemon (back-pressure).
const PENDING_MAX: usize = 1 << 20;

/// One thread drives the TLS session both ways with poll(2): ciphertext from the daemon
/// becomes plaintext on `local`, bytes from `local` are encrypted to the daemon, EOF on
/// `local` sends close_notify (a TLS half-close, as docker's CloseWrite), and the
/// daemon's close ends `local`'s read side.
fn pump_tls(mut tcp: TcpStream, mut conn: rustls::ClientConnection, mut local: &UnixStream) -> Result<(), String> {
    tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
    local.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut to_local: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut local_eof, mut peer_closed, mut local_shut) = (false, false, false);
    let mut answered = false;
    // With TLS 1.3 the daemon checks our certificate after our side of the handshake is
    // done, so a refusal shows up here, often as a bare reset.
    let refused = |e: String, answered: bool| {
        if answered {
            e
        } else {
            format!("the daemon closed the connection before answering ({e}); does it require a client certificate? (--tlscert/--tlskey, or cert.pem and key.pem in DOCKER_CERT_PATH)")
        }
    };
    loop {
        if peer_closed && to_local.is_empty() && !local_shut {
            let _ = local.shutdown(Shutdown::Write);
            local_shut = true;
        }
        if local_shut && local_eof && !conn.wants_write() {
            return Ok(());
        }
        let mut fds = [
            libc::pollfd { fd: tcp.as_raw_fd(), events: 0, revents: 0 },
            libc::pollfd { fd: local.as_raw_fd(), events: 0, revents: 0 },
        ];
        if !peer_closed && to_local.len() < PENDING_MAX {
            fds[0].events |= libc::POLLIN;
        }
        if conn.wants_write() {
            fds[0].events |= libc::POLLOUT;
        }
        if !local_eof {
            fds[1].events |= libc::POLLIN;
        }
        if !to_local.is_empty() {
            fds[1].events |= libc::POLLOUT;
        }
        // poll reports hang-ups even when nothing is asked; a side with nothing left to
        // do is left out, or the loop would spin on it.
        for f in &mut fds {
            if f.events == 0 {
                f.fd = -1;
            }
        }
        // SAFETY: two valid pollfd entries on descriptors we own.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.to_string());
        }
        let (tcp_ev, local_ev) = (fds[0].revents, fds[1].revents);
        if tcp_ev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !peer_closed {
            match conn.read_tls(&mut tcp) {
                Ok(0) => peer_closed = true,
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // Tell the daemon why (an alert), then give up.
                        let _ = conn.write_tls(&mut tcp);
                        return Err(refused(e.to_string(), answered));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(refused(e.to_string(), answered)),
            }
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => {
                        peer_closed = true; // close_notify
                        break;
                    }
                    Ok(n) => {
                        answered = true;
                        to_local.extend_from_slice(&buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        peer_closed = true; // closed without close_notify
                        break;
                    }
                }
            }
        }
        if !to_local.is_empty() && local_ev & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0 {
            match local.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The client went away: nothing left to deliver.
                Err(_) => return Ok(()),
            }
        }
        if !local_eof && local_ev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match local.read(&mut buf) {
                Ok(0) => {
                    local_eof = true;
                    conn.send_close_notify();
                }
                Ok(n) => conn.writer().write_all(&buf[..n]).map_err(|e| e.to_string())?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    local_eof = true;
                    conn.send_close_notify();
                }
            }
        }
        while conn.wants_write() {
            match conn.write_tls(&mut tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The daemon is gone: what is left to send has nowhere to go.
                Err(_) if peer_closed => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        if peer_closed && local_eof && conn.wants_write() {
            // The daemon is gone; what is left to send has nowhere to go.
            return Ok(());
        }
    }
}
