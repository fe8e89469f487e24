//! `mirrord-usage serve`: the store and the HTTP server, without Kubernetes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use mirrord_usage_server::auth::Auth;
use mirrord_usage_server::server::{self, AppState};
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::usage::{Installation, Usage};
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::calendar;
use mirrord_usage_store::clock::SystemClock;
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
    let usage = Usage::new(
        Arc::new(store),
        args.installation.into(),
        Arc::new(SystemClock),
        Arc::new(Metrics::default()),
    );
    let retention = start_retention(&usage, args.retention).await?.map(tokio::spawn);
    let state = AppState {
        usage,
        auth: Auth::license_key(key),
    };
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
    let usage = state.usage.clone();
    server::serve(listener, server::router(state), shutdown_signal()).await?;
    close_store(&usage).await?;
    tracing::info!("stopped");
    Ok(())
}

/// How often sessions past the retention are archived.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Archives the sessions past `retention` now.
pub async fn expire(usage: &Usage, retention: std::time::Duration) -> anyhow::Result<u64> {
    let horizon = calendar::to_micros(usage.now()) - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX / 2);
    let usage = usage.clone();
    Ok(tokio::task::spawn_blocking(move || usage.expire(horizon)).await??)
}

/// Archives the sessions past `retention` every hour, until dropped (the first time is at start,
/// before serving, since it may compact the database).
pub async fn keep_retention(usage: Usage, retention: std::time::Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + RETENTION_INTERVAL, RETENTION_INTERVAL);
    loop {
        ticker.tick().await;
        if let Err(error) = expire(&usage, retention).await {
            tracing::warn!(%error, "could not archive sessions past the retention; trying again in an hour");
        }
    }
}

/// When a retention is set: archives what is past it now, shows it in `/metrics`, and returns
/// [`keep_retention`] to spawn.
pub async fn start_retention(
    usage: &Usage,
    retention: Option<std::time::Duration>,
) -> anyhow::Result<Option<impl std::future::Future<Output = ()> + Send + 'static>> {
    let Some(retention) = retention else {
        return Ok(None);
    };
    usage.metrics().retention_seconds.set(retention.as_secs() as i64);
    let archived = expire(usage, retention)
        .await
        .context("could not archive the sessions past the retention")?;
    tracing::info!(?retention, archived, "retention");
    Ok(Some(keep_retention(usage.clone(), retention)))
}

/// At a clean stop: the database file alone then holds every stored batch, so a copy of it is a
/// whole backup.
pub async fn close_store(usage: &Usage) -> anyhow::Result<()> {
    usage
        .close()
        .await
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
