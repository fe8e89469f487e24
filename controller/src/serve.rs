//! `mirrord-usage serve`: the store and the HTTP server, without Kubernetes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use mirrord_usage_server::auth::Auth;
use mirrord_usage_server::server::{self, AppState, Installation};
use mirrord_usage_server::telemetry::{MeasuredStore, Metrics};
use mirrord_usage_store::calendar;
use mirrord_usage_store::clock::{Clock, SystemClock};
use mirrord_usage_store::{SqliteStore, UsageStore};
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
    let retention = start_retention(&state, args.retention).await?.map(tokio::spawn);
    let served = run_server(listener, state).await;
    if let Some(retention) = retention {
        retention.abort();
    }
    served
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
        let lock = lock_database(&db)?;
        let store = SqliteStore::open(&db)?;
        // Held for the life of the process: the file stays open until exit.
        std::mem::forget(lock);
        Ok(store)
    })
    .await?
}

/// Takes the lock that makes a process the only one writing to `db`, refusing when another
/// mirrord-usage process holds it; it is held while the returned file is open.
pub fn lock_database(db: &Path) -> anyhow::Result<std::fs::File> {
    let lock_path = PathBuf::from(format!("{}.lock", db.display()));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("could not create {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another mirrord-usage process is using {} (it holds {}); only one may write to a database",
            db.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("could not lock {}", lock_path.display()))
        }
    }
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
    tracing::info!(%addr, dashboard = mirrord_usage_server::dashboard::is_built(), "serving");
    let store = state.store.clone();
    server::serve(listener, server::router(state), shutdown_signal()).await?;
    close_store(store).await?;
    tracing::info!("stopped");
    Ok(())
}

/// How often sessions past the retention are archived.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Archives the sessions past `retention` now.
pub async fn expire(
    store: Arc<dyn UsageStore>,
    clock: &dyn Clock,
    retention: std::time::Duration,
) -> anyhow::Result<u64> {
    let horizon = calendar::to_micros(clock.now()) - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX / 2);
    Ok(tokio::task::spawn_blocking(move || store.expire(horizon)).await??)
}

/// Archives the sessions past `retention` every hour, until dropped (the first time is at start,
/// before serving, since it may compact the database).
pub async fn keep_retention(store: Arc<dyn UsageStore>, clock: Arc<dyn Clock>, retention: std::time::Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + RETENTION_INTERVAL, RETENTION_INTERVAL);
    loop {
        ticker.tick().await;
        if let Err(error) = expire(store.clone(), &*clock, retention).await {
            tracing::warn!(%error, "could not archive sessions past the retention; trying again in an hour");
        }
    }
}

/// When a retention is set: archives what is past it now, shows it in `/metrics`, and returns
/// [`keep_retention`] to spawn.
pub async fn start_retention(
    state: &AppState,
    retention: Option<std::time::Duration>,
) -> anyhow::Result<Option<impl std::future::Future<Output = ()> + Send + 'static>> {
    let Some(retention) = retention else {
        return Ok(None);
    };
    state.metrics.retention_seconds.set(retention.as_secs() as i64);
    let archived = expire(state.store.clone(), &*state.clock, retention)
        .await
        .context("could not archive the sessions past the retention")?;
    tracing::info!(?retention, archived, "retention");
    Ok(Some(keep_retention(
        state.store.clone(),
        state.clock.clone(),
        retention,
    )))
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
