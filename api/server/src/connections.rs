//! Accepting client connections, plain or TLS: at most [`MAX_CONNECTIONS`] at once, request
//! headers (and the wait for the next request) bounded in time, and a graceful stop that lets
//! requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::Service;

use crate::tls::PeerCertificates;

/// Connections served at once; more are closed as soon as they are accepted, so that idle or
/// slow clients cannot use up the process's file descriptors. Lower when the process may open
/// few files: half of its limit, leaving the rest to the database and the cluster client.
pub const MAX_CONNECTIONS: usize = 512;
/// Time a client has to send a request's headers, also the longest an idle HTTP/1 connection is
/// kept waiting for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Time a client has to send a whole request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// An HTTP/2 connection whose peer does not answer a ping within this time is closed.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on connections from `listener` until `shutdown` completes, then finishes
/// in-flight requests. `prepare` turns an accepted stream into the one HTTP is spoken on (a TLS
/// handshake, say), or `None` to drop it.
pub async fn serve<P, F, I>(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    prepare: P,
) -> std::io::Result<()>
where
    P: Fn(TcpStream, SocketAddr) -> F + Clone + Send + 'static,
    F: Future<Output = Option<(I, Option<PeerCertificates>)>> + Send + 'static,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limit = connection_limit();
    let slots = Arc::new(Semaphore::new(limit));
    // Every connection holds a receiver: `true` tells it to finish, and once all receivers are
    // gone every connection has finished.
    let (closing, _) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%remote, limit, "too many connections; closing a new one");
                    continue;
                };
                let prepare = prepare.clone();
                let router = router.clone();
                let closing = closing.subscribe();
                tokio::spawn(async move {
                    connection(prepare(stream, remote), remote, router, closing).await;
                    drop(slot);
                });
            }
            Err(error) => {
                // Failures here belong to one connection or to a passing shortage of resources,
                // never to the listener itself: keep accepting.
                tracing::warn!(%error, "could not accept a connection");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_RETRY) => {}
                }
            }
        }
    }
    drop(listener);
    closing.send_replace(true);
    closing.closed().await;
    Ok(())
}

/// [`MAX_CONNECTIONS`], or half the process's open-file limit when that is lower.
fn connection_limit() -> usize {
    // Linux shows the soft limit in /proc; elsewhere the constant stands.
    let soft = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
        let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse::<usize>().ok()
    });
    soft.map_or(MAX_CONNECTIONS, |soft| MAX_CONNECTIONS.min(soft / 2).max(16))
}

/// One client connection: its preparation, then HTTP until the client leaves, stays silent too
/// long, or the server shuts down.
async fn connection<I>(
    prepared: impl Future<Output = Option<(I, Option<PeerCertificates>)>>,
    remote: SocketAddr,
    router: Router,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (stream, peer) = tokio::select! {
        // Nothing was asked on this connection yet, so there is nothing to finish.
        () = closed(&mut closing) => return,
        prepared = prepared => match prepared {
            Some(prepared) => prepared,
            None => return,
        },
    };
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        if let Some(peer) = &peer {
            request.extensions_mut().insert(peer.clone());
        }
        router.clone().call(request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE);
    let mut served = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = closed(&mut closing) => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%remote, %error, "connection ended with an error");
    }
}

/// Completes once the server shuts down, or once `serve` itself was dropped (the sender is gone).
async fn closed(closing: &mut watch::Receiver<bool>) {
    // The result is not kept: it borrows the channel, and the connection future must stay `Send`.
    let _ = closing.wait_for(|closing| *closing).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_limit_leaves_room_for_other_files() {
        let limit = super::connection_limit();
        assert!((16..=super::MAX_CONNECTIONS).contains(&limit), "{limit}");
    }
}
