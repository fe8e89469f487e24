//! Measurements of what a long life does to the store, printed rather than asserted on time:
//! batch latency before and after a five-year session, the write-ahead log's size under sixteen
//! report readers, and the space archiving gives back. `ENDURANCE_SESSIONS` sets the history's
//! size (default 10,000); the figures in BENCHMARKS.md come from a release run with 300,000:
//!
//! ENDURANCE_SESSIONS=300000 cargo test --release -p mirrord-usage-api --test endurance -- --nocapture --test-threads 1

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use mirrord_usage_crds::event::{Event, SessionEnd, SessionStart, Target};
use mirrord_usage_store::calendar;
use mirrord_usage_store::model::{Granularity, SnapshotQuery};
use mirrord_usage_store::{SqliteStore, UsageStore};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn sessions_wanted() -> usize {
    std::env::var("ENDURANCE_SESSIONS").map_or(10_000, |value| value.parse().expect("a number"))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn session(id: String, start: DateTime<Utc>, minutes: i64, machine: usize) -> [Event; 2] {
    [
        Event::SessionStart(SessionStart {
            session_id: id.clone(),
            timestamp: start,
            machine_id: format!("machine-{machine}"),
            kubernetes_username: Some(format!("dev-{machine}@corp.example")),
            client_username: Some(format!("dev-{machine}")),
            client_hostname: None,
            target: Some(Target {
                kind: "Deployment".into(),
                name: format!("service-{}", machine % 17),
                container: None,
            }),
            namespace: Some("shop".into()),
            ci: None,
            cli_version: None,
            operator_version: None,
            multi_cluster_parent: None,
            estimated: false,
        }),
        Event::SessionEnd(SessionEnd {
            session_id: id,
            timestamp: start + TimeDelta::minutes(minutes),
            close_reason: None,
            estimated: false,
        }),
    ]
}

/// `count` sessions of up to two hours spread over 2025, stored in batches of 5,000 events.
fn history(store: &SqliteStore, count: usize, rng: &mut SmallRng) {
    let year = at("2025-01-01T00:00:00Z");
    let mut events = Vec::new();
    for index in 0..count {
        let start = year + TimeDelta::minutes(rng.random_range(0..365 * 24 * 60));
        events.extend(session(
            format!("h{index}"),
            start,
            rng.random_range(1..120),
            rng.random_range(0..300),
        ));
        if events.len() >= 5_000 {
            store.ingest(&events).unwrap();
            events.clear();
        }
    }
    store.ingest(&events).unwrap();
}

/// Median time to store a batch of 100 sessions in the 30 days from `month`, over `rounds`
/// batches.
fn batch_latency(store: &SqliteStore, month: &str, rounds: usize, tag: &str, rng: &mut SmallRng) -> Duration {
    let month = at(month);
    let mut times: Vec<Duration> = (0..rounds)
        .map(|round| {
            let events: Vec<Event> = (0..100)
                .flat_map(|index| {
                    let start = month + TimeDelta::minutes(rng.random_range(0..30 * 24 * 60));
                    session(format!("{tag}-{round}-{index}"), start, 30, index)
                })
                .collect();
            let started = Instant::now();
            store.ingest(&events).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

#[test]
fn a_five_year_session_costs_once_and_does_not_slow_later_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    let count = sessions_wanted();
    history(&store, count, &mut rng);

    // Into months as busy as each other, so that only the long session differs.
    let before = batch_latency(&store, "2025-11-01T00:00:00Z", 21, "before", &mut rng);
    let started = Instant::now();
    let long = session("five-years".into(), at("2020-06-01T00:00:00Z"), 5 * 365 * 24 * 60, 7);
    store.ingest(&long).unwrap();
    let long_took = started.elapsed();
    let after = batch_latency(&store, "2025-12-01T00:00:00Z", 21, "after", &mut rng);
    println!(
        "{count} sessions: batch of 100 sessions {before:?} before, five-year session {long_took:?}, batch {after:?} after"
    );

    // It counts where it overlaps, as any session does.
    let snapshot = store
        .snapshot(&SnapshotQuery {
            from: None,
            to: calendar::to_micros(at("2026-01-01T00:00:00Z")),
            granularity: Granularity::Month,
        })
        .unwrap();
    assert_eq!(snapshot.user_totals.sessions as usize, count + 1 + 2 * 21 * 100);
    assert_eq!(
        snapshot.first_session_at,
        Some(calendar::to_micros(at("2020-06-01T00:00:00Z")))
    );
}

#[test]
fn the_write_ahead_log_stays_bounded_under_sixteen_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let wal = dir.path().join("usage.db-wal");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (store, stop, reads) = (store.clone(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let query = SnapshotQuery {
                    from: None,
                    to: calendar::to_micros(at("2026-01-01T00:00:00Z")),
                    granularity: Granularity::Day,
                };
                while !stop.load(Ordering::Relaxed) {
                    store.snapshot(&query).unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut rng = SmallRng::seed_from_u64(2);
    let count = sessions_wanted();
    let year = at("2025-01-01T00:00:00Z");
    let mut largest = 0;
    let started = Instant::now();
    for chunk in 0..count.div_ceil(500) {
        let events: Vec<Event> = (0..500)
            .flat_map(|index| {
                let start = year + TimeDelta::minutes(rng.random_range(0..365 * 24 * 60));
                session(
                    format!("w{chunk}-{index}"),
                    start,
                    rng.random_range(1..120),
                    rng.random_range(0..300),
                )
            })
            .collect();
        store.ingest(&events).unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    let database = std::fs::metadata(&path).unwrap().len();
    println!(
        "{} events with 16 readers ({} reads) in {took:?}: largest WAL {} KiB, database {} KiB",
        2 * 500 * count.div_ceil(500),
        reads.load(Ordering::Relaxed),
        largest / 1024,
        database / 1024
    );
    store.close().unwrap();
    let left = std::fs::metadata(&wal).map_or(0, |meta| meta.len());
    assert_eq!(left, 0, "a clean stop leaves the write-ahead log empty");
}

#[test]
fn archiving_three_quarters_of_a_year_gives_the_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut rng = SmallRng::seed_from_u64(3);
    let count = sessions_wanted();
    history(&store, count, &mut rng);
    store.close().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();

    let started = Instant::now();
    let archived = store.expire(calendar::to_micros(at("2025-10-01T00:00:00Z"))).unwrap();
    let took = started.elapsed();
    store.close().unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    println!(
        "{count} sessions, {archived} archived in {took:?}: database {} KiB before, {} KiB after ({:.0}% reclaimed)",
        before / 1024,
        after / 1024,
        100.0 * (before as f64 - after as f64) / before as f64
    );
    assert!(after < before, "{after} bytes after, {before} before");
}
