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
use mirrord_usage_server::server::{AppState, Installation};
use mirrord_usage_server::telemetry::{MeasuredStore, Metrics};
use mirrord_usage_simulation::{Organisation, Simulator};
use mirrord_usage_store::clock::SystemClock;
use mirrord_usage_store::ingest;
use mirrord_usage_store::{SqliteStore, UsageStore};
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

fn store_events(store: &dyn UsageStore, events: &[Event]) -> anyhow::Result<()> {
    for event in events {
        ingest::validate(event, Utc::now())
            .map_err(|message| anyhow::anyhow!("simulated event rejected: {message}"))?;
    }
    store
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
    let (store, simulator) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = SqliteStore::open(&db)?;
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
            store_events(&store, &batch)?;
            stored += batch.len();
            eprint!("\rstored {stored} events");
            let _ = std::io::stderr().flush();
        }
        eprintln!("\rstored {stored} events in {:.1} s", started.elapsed().as_secs_f64());
        Ok((store, simulator))
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

    let metrics = Arc::new(Metrics::default());
    let (store, _) = MeasuredStore::new(store, metrics.clone());
    let store: Arc<dyn UsageStore> = Arc::new(store);
    tokio::spawn(live(store.clone(), simulator));
    let installation = Installation {
        total_licenses: Some(args.licenses),
        tier: Some(args.tier),
        cluster_name: Some(args.cluster_name),
        chart_version: args.chart_version,
    };
    let state = AppState {
        store,
        installation,
        auth: Auth::license_key(key),
        clock: Arc::new(SystemClock),
        metrics,
    };
    serve::run_server(listener, state).await
}

/// Keeps the organisation working: ends sessions when due and starts new ones now and then.
async fn live(store: Arc<dyn UsageStore>, mut simulator: Simulator) {
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
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store_events(&*store, &events)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "live simulation could not store events"),
            Err(error) => tracing::warn!(%error, "live simulation task failed"),
        }
    }
}
