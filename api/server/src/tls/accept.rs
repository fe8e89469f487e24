//! The accept side: each new connection's TLS handshake, bounded in time, before HTTP is spoken on
//! it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{PeerCertificates, ServingCertificate};
use crate::connections;

/// How long a client may take to complete the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` over HTTPS (HTTP/1.1 and HTTP/2 by ALPN) until `shutdown` completes, then
/// finishes in-flight requests (graceful).
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    certificate: ServingCertificate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(certificate.config.clone());
    connections::serve(listener, router, shutdown, move |stream, remote| {
        handshake(acceptor.clone(), stream, remote)
    })
    .await
}

/// The TLS handshake of a new connection, bounded in time, and the certificates its client
/// presented.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<PeerCertificates>)> {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        // Debug only: port scanners and probes that speak no TLS are no reason to alarm anyone.
        Ok(Err(error)) => {
            tracing::debug!(%remote, %error, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%remote, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake did not complete in time");
            return None;
        }
    };
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| PeerCertificates(Arc::new(chain.to_vec())));
    Some((stream, peer))
}
