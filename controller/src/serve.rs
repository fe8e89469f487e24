//! `mirrord-usage serve`: the store and the HTTP server, without Kubernetes.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use mirrord_usage_api::auth::Auth;
use mirrord_usage_api::clock::SystemClock;
use mirrord_usage_api::server::{self, AppState, Installation};
use mirrord_usage_api::store::{SqliteStore, UsageStore};
use tokio::net::TcpListener;

use crate::cli::{InstallationArgs, ServeArgs};

impl From<InstallationArgs> for Installation {
    fn from(args: InstallationArgs) -> Self {
        Installation {
            total_licenses: args.licenses,
            tier: args.tier,
            cluster_name: args.cluster_name,
            chart_version: args.chart_version,
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let Some(key) = args.license_key.filter(|key| !key.is_empty()) else {
        bail!(
            "no license key is set: every /api/v1 request must carry it in the x-license-key header. \
             Pass --license-key <key> or set MIRRORD_USAGE_LICENSE_KEY"
        );
    };
    let db = args.db.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&db)).await??;
    let listener = bind(args.listen).await?;
    run_server(
        listener,
        Arc::new(store),
        Auth::license_key(key),
        args.installation.into(),
    )
    .await
}

/// Binds `addr`, saying what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on {addr}; if it is in use, pass --listen with another address (port 0 picks a free one)")
    })
}

/// Serves until SIGINT or SIGTERM.
pub async fn run_server(
    listener: TcpListener,
    store: Arc<dyn UsageStore>,
    auth: Auth,
    installation: Installation,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let state = AppState {
        store,
        installation,
        auth,
        clock: Arc::new(SystemClock),
    };
    // Scripts and tests wait for this line.
    println!("listening on http://{addr}");
    tracing::info!(%addr, dashboard = mirrord_usage_api::dashboard::is_built(), "serving");
    server::serve(listener, server::router(state), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
