//! `mirrord-usage serve`: the store and the HTTP server, without Kubernetes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use mirrord_usage_api::auth::Auth;
use mirrord_usage_api::clock::SystemClock;
use mirrord_usage_api::server::{self, AppState, Installation};
use mirrord_usage_api::store::{SqliteStore, UsageStore};
use mirrord_usage_api::telemetry::{MeasuredStore, Metrics};
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
    let key = license_key(args.license_key)?;
    let store = open_store(args.db).await?;
    let listener = bind(args.listen).await?;
    let metrics = Arc::new(Metrics::default());
    let (store, _) = MeasuredStore::new(store, metrics.clone());
    let state = AppState {
        store: Arc::new(store),
        installation: args.installation.into(),
        auth: Auth::license_key(key),
        clock: Arc::new(SystemClock),
        metrics,
    };
    run_server(listener, state).await
}

/// The configured license key, or an error saying how to set one.
pub fn license_key(key: Option<String>) -> anyhow::Result<String> {
    match key.filter(|key| !key.is_empty()) {
        Some(key) => Ok(key),
        None => bail!(
            "no license key is set: every /api/v1 request must carry it in the x-license-key header. \
             Pass --license-key <key> or set MIRRORD_USAGE_LICENSE_KEY"
        ),
    }
}

/// Opens the database, refusing when another mirrord-usage process writes to it.
pub async fn open_store(db: PathBuf) -> anyhow::Result<SqliteStore> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<SqliteStore> {
        let lock_path = PathBuf::from(format!("{}.lock", db.display()));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("could not create {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another mirrord-usage process is using {} (it holds {}); only one may write to a database",
                db.display(),
                lock_path.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("could not lock {}", lock_path.display()));
            }
        }
        let store = SqliteStore::open(&db)?;
        // Held for the life of the process: the file stays open until exit.
        std::mem::forget(lock);
        Ok(store)
    })
    .await?
}

/// Binds `addr`, saying what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "could not listen on {addr}; if it is in use, pass --listen with another address (port 0 picks a free one)"
        )
    })
}

/// Serves until SIGINT or SIGTERM.
pub async fn run_server(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this line.
    println!("listening on http://{addr}");
    tracing::info!(%addr, dashboard = mirrord_usage_api::dashboard::is_built(), "serving");
    let store = state.store.clone();
    server::serve(listener, server::router(state), shutdown_signal()).await?;
    close_store(store).await?;
    tracing::info!("stopped");
    Ok(())
}

/// At a clean stop: the database file alone then holds every stored batch, so a copy of it is a
/// whole backup.
pub async fn close_store(store: Arc<dyn UsageStore>) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || store.close())
        .await?
        .context("could not write the write-ahead log into the database at stop")
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
