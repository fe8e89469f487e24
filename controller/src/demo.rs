//! `mirrord-usage demo`: a fresh database filled with a simulated organisation through the
//! ingest path, served, with sessions starting and ending while it runs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use mirrord_usage_crds::MAX_EVENTS_PER_BATCH;
use mirrord_usage_crds::event::{Event, SessionEnd};
use mirrord_usage_server::auth::Auth;
use mirrord_usage_server::server::AppState;
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::usage::{Installation, Usage};
use mirrord_usage_simulation::{Organisation, Simulator};
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::SystemClock;
use rand::Rng;

use crate::cli::DemoArgs;
use crate::serve;

fn data_dir() -> anyhow::Result<PathBuf> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S");
    let suffix: u32 = rand::rng().random();
    let dir = std::env::temp_dir().join(format!("mirrord-usage-demo-{stamp}-{suffix:08x}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create the data directory {}", dir.display()))?;
    Ok(dir)
}

fn store_events(usage: &Usage, events: &[Event]) -> anyhow::Result<()> {
    usage
        .ingest(events)
        .map_err(|failure| anyhow::anyhow!("storing simulated events failed: {failure:?}"))?;
    Ok(())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let db = match args.db {
        Some(path) if path.exists() => bail!(
            "the demo needs a fresh database, and {} already exists; remove it or leave out --db",
            path.display()
        ),
        Some(path) => path,
        None => data_dir()?.join("mirrord-usage.db"),
    };
    let key = args.license_key.unwrap_or_else(|| {
        let mut rng = rand::rng();
        (0..16).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
    });
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    // Bind first: a port conflict should not cost the time of the simulation.
    let listener = serve::bind(args.listen).await?;

    eprintln!(
        "data directory: {}",
        db.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let org = Organisation::demo(seed);
    eprintln!(
        "simulating {} developers and {} CI pipelines over {} days (seed {seed})…",
        org.developers, org.ci_pipelines, org.history_days
    );
    let now = Utc::now();
    let installation = Installation {
        total_licenses: Some(args.licenses),
        tier: Some(args.tier),
        cluster_name: Some(args.cluster_name),
        chart_version: args.chart_version,
    };
    let (usage, simulator) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let usage = Usage::new(
            Arc::new(SqliteStore::open(&db)?),
            installation,
            Arc::new(SystemClock),
            Arc::new(Metrics::default()),
        );
        let mut simulator = Simulator::new(org, now);
        let mut batch = Vec::with_capacity(MAX_EVENTS_PER_BATCH);
        let mut stored = 0;
        let started = std::time::Instant::now();
        loop {
            batch.clear();
            batch.extend(simulator.by_ref().take(MAX_EVENTS_PER_BATCH));
            if batch.is_empty() {
                break;
            }
            store_events(&usage, &batch)?;
            stored += batch.len();
            eprint!("\rstored {stored} events");
            let _ = std::io::stderr().flush();
        }
        eprintln!("\rstored {stored} events in {:.1} s", started.elapsed().as_secs_f64());
        Ok((usage, simulator))
    })
    .await??;

    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base = format!("http://{host}:{}", addr.port());
    eprintln!();
    eprintln!("Open the dashboard:  {base}/?key={key}");
    eprintln!("Or ask the API:      curl -H 'x-license-key: {key}' '{base}/api/v1/reports/usage?format=json'");
    eprintln!("Stop with Ctrl-C.");
    eprintln!();

    tokio::spawn(live(usage.clone(), simulator));
    let state = AppState {
        usage,
        auth: Auth::license_key(key),
    };
    serve::run_server(listener, state).await
}

/// Keeps the organisation working: ends sessions when due and starts new ones now and then.
async fn live(usage: Usage, mut simulator: Simulator) {
    let mut due: BinaryHeap<Reverse<(DateTime<Utc>, String)>> = simulator
        .still_running()
        .into_iter()
        .map(|(id, end)| Reverse((end, id)))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let now = Utc::now();
        let mut events = Vec::new();
        while due.peek().is_some_and(|Reverse((end, _))| *end <= now) {
            let Reverse((_, session_id)) = due.pop().expect("peeked");
            events.push(Event::SessionEnd(SessionEnd {
                session_id,
                timestamp: now,
                close_reason: None,
                estimated: false,
            }));
        }
        if rand::rng().random_bool(0.4)
            && let Some((start, end)) = simulator.live_session(now)
        {
            due.push(Reverse((end, start.session_id.clone())));
            events.push(Event::SessionStart(start));
        }
        if events.is_empty() {
            continue;
        }
        let usage = usage.clone();
        match tokio::task::spawn_blocking(move || store_events(&usage, &events)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "live simulation could not store events"),
            Err(error) => tracing::warn!(%error, "live simulation task failed"),
        }
    }
}
