//! The API on TCP (`-H tcp://…`): plain HTTP on loopback, otherwise TLS, and with
//! `--tlsverify` mutual TLS — only clients with a certificate the CA signed get in, as
//! with dockerd. (config.rs refuses tcp:// off loopback without `--tlsverify`.) Each
//! connection is served by hyper with upgrades, so attach and exec streams work over TLS
//! exactly as on the socket.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::ServerTls;

/// A slow or silent client gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls server configuration: our certificate, and with `verify` a client
/// certificate verifier rooted at the CA (a connection without one fails the handshake).
pub fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = berth_api::transport::read_certs(&tls.cert).map_err(|e| anyhow!("--tlscert: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).with_context(|| format!("--tlskey: could not load the TLS key {}", tls.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = if tls.verify {
        let mut roots = rustls::RootCertStore::empty();
        for ca in berth_api::transport::read_certs(&tls.ca).map_err(|e| anyhow!("--tlscacert: {e}"))? {
            roots.add(ca).with_context(|| format!("--tlscacert {}", tls.ca.display()))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).context("--tlscert/--tlskey do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("listening on tcp://{addr}"))
}

/// Accepts connections until `stop` turns true; each is served on its own task.
pub async fn serve<S>(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, app: S, mut stop: tokio::sync::watch::Receiver<bool>) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // e.g. EMFILE: keep serving once descriptors free up.
                    tracing::warn!("accepting a TCP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                async move { tower::Service::call(&mut app, req.map(axum::body::Body::new)).await }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let served = match acceptor {
                None => http.serve_connection(TokioIo::new(stream), service).with_upgrades().await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => http.serve_connection(TokioIo::new(tls), service).with_upgrades().await,
                    Ok(Err(e)) => {
                        tracing::info!(%peer, "TLS handshake refused: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}
