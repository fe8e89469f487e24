//! Benchmark of the real `mirrord-usage serve` process: ingest over HTTP in 10k batches, the size
//! of the database, report latencies, and the server's peak resident memory. Also times a bare
//! rusqlite insert of the same sessions for comparison, and pages of the session listing read
//! straight from the store.
//!
//! `make bench` runs it at full size; `BENCH_SESSIONS=200000 make bench` for a quick look.
//! Prints a Markdown section for BENCHMARKS.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use mirrord_usage_crds::event::{Event, EventBatch};
use mirrord_usage_crds::report::PrimaryKey;
use mirrord_usage_simulation::{Organisation, Simulator};
use mirrord_usage_store::calendar;
use mirrord_usage_store::model::SessionQuery;
use mirrord_usage_store::{SqliteStore, UsageStore};

const KEY: &str = "bench-key";
const BATCH: usize = 10_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, db: &Path) -> Server {
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--license-key",
                KEY,
                "--licenses",
                "2000",
            ])
            .arg("--db")
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {}: {e}; build it with cargo build --release",
                    binary.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the server announces its address")
            .to_owned();
        Server { child, base }
    }

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// The developer in the middle by number of sessions, and that number: whom a filtered listing
/// is typically asked about.
fn median_developer(starts: &[&Event]) -> (String, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for event in starts {
        if let Event::SessionStart(start) = event
            && start.ci.is_none()
            && let Some(user) = &start.client_username
        {
            *counts.entry(user).or_default() += 1;
        }
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by_key(|&(user, sessions)| (sessions, user));
    let (user, sessions) = counts[counts.len() / 2];
    (user.to_owned(), sessions)
}

/// Warm median of 20 listings of one page, and how many sessions the page held.
fn time_listing(store: &SqliteStore, query: &SessionQuery) -> (f64, usize) {
    let listed = store.sessions(query).unwrap().sessions.len();
    let samples = (0..20)
        .map(|_| {
            let started = Instant::now();
            let page = store.sessions(query).unwrap();
            assert_eq!(page.sessions.len(), listed);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    (median_ms(samples), listed)
}

/// Bare insert: the same sessions as plain rows, one transaction, no indexes beyond the key.
fn bare_insert(path: &Path, events: &[Vec<Event>]) -> (usize, f64) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, start TEXT, end TEXT, machine_id TEXT, \
         kubernetes_username TEXT, client_username TEXT, client_hostname TEXT, target_kind TEXT, target_name TEXT, \
         namespace TEXT, ci INTEGER)",
    )
    .unwrap();
    let started = Instant::now();
    let tx = conn.transaction().unwrap();
    let mut rows = 0;
    {
        let mut insert = tx
            .prepare("INSERT INTO sessions VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
            .unwrap();
        let mut end = tx
            .prepare("UPDATE sessions SET end = ?2 WHERE session_id = ?1")
            .unwrap();
        for event in events.iter().flatten() {
            match event {
                Event::SessionStart(s) => {
                    insert
                        .execute(rusqlite::params![
                            s.session_id,
                            s.timestamp.to_rfc3339(),
                            s.machine_id,
                            s.kubernetes_username,
                            s.client_username,
                            s.client_hostname,
                            s.target.as_ref().map(|t| t.kind.clone()),
                            s.target.as_ref().map(|t| t.name.clone()),
                            s.namespace,
                            s.ci.is_some()
                        ])
                        .unwrap();
                    rows += 1;
                }
                Event::SessionEnd(e) => {
                    end.execute(rusqlite::params![e.session_id, e.timestamp.to_rfc3339()])
                        .unwrap();
                }
            }
        }
    }
    tx.commit().unwrap();
    (rows, started.elapsed().as_secs_f64())
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::main]
async fn main() {
    let sessions: u64 = env_or("BENCH_SESSIONS", 5_000_000);
    let days: i64 = env_or("BENCH_DAYS", 730);
    let binary = PathBuf::from(
        std::env::var("MIRRORD_USAGE_BIN")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/mirrord-usage").to_owned()),
    );
    let work = tempfile::tempdir().unwrap();
    let end = DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z").unwrap().to_utc();

    // 1,700 developers (some with two machines) and 24 pipelines: about 2,000 identities.
    let org = Organisation {
        developers: 1_700,
        ci_pipelines: 24,
        history_days: days,
        // Tuned so that two years hold a little over 5,000,000 sessions, 15% of them CI: the cap
        // then cuts only the last hours, and "the last 30 days" are as busy as the history says.
        intensity: env_or("BENCH_INTENSITY", 3.93),
        ci_scale: env_or("BENCH_CI_SCALE", 2.62),
        seed: 42,
    };
    eprintln!("generating {sessions} sessions over {days} days…");
    let started = Instant::now();
    let mut simulator = Simulator::new(org, end).with_max_sessions(sessions);
    let identities = simulator.identity_count();
    let mut batches: Vec<Vec<Event>> = Vec::new();
    loop {
        let batch: Vec<Event> = simulator.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(batch);
    }
    let events: usize = batches.iter().map(Vec::len).sum();
    let starts: Vec<&Event> = batches
        .iter()
        .flatten()
        .filter(|e| matches!(e, Event::SessionStart(_)))
        .collect();
    let ci = starts
        .iter()
        .filter(|e| matches!(e, Event::SessionStart(s) if s.ci.is_some()))
        .count();
    let first = batches[0][0].timestamp();
    let last = batches
        .last()
        .and_then(|batch| batch.last())
        .expect("events")
        .timestamp();
    eprintln!(
        "generated {} sessions ({:.1}% CI), {events} events, {identities} identities, from {first} to {last} in {:.0} s",
        starts.len(),
        100.0 * ci as f64 / starts.len() as f64,
        started.elapsed().as_secs_f64()
    );
    let session_count = starts.len();
    let (developer, developer_sessions) = median_developer(&starts);
    drop(starts);
    let bodies: Vec<Vec<u8>> = batches
        .iter()
        .map(|batch| serde_json::to_vec(&EventBatch { events: batch.clone() }).unwrap())
        .collect();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();

    // Ingest over HTTP.
    let db = work.path().join("usage.db");
    let server = Server::start(&binary, &db);
    let client = reqwest::Client::new();
    let started = Instant::now();
    for (index, body) in bodies.into_iter().enumerate() {
        let response = client
            .post(format!("{}/api/v1/events", server.base))
            .header("x-license-key", KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "batch {index}: {}",
            response.text().await.unwrap()
        );
        if index % 50 == 0 {
            eprint!("\ringested {} batches", index + 1);
        }
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let http_rate = events as f64 / ingest_seconds;
    eprintln!("\ringested {events} events in {ingest_seconds:.1} s: {http_rate:.0} events/s");

    // Bare rusqlite for comparison, same rows, one transaction.
    let (rows, bare_seconds) = bare_insert(&work.path().join("bare.db"), &batches);
    let bare_rate = events as f64 / bare_seconds;
    eprintln!("bare rusqlite: {rows} sessions ({events} events) in {bare_seconds:.1} s: {bare_rate:.0} events/s");
    drop(batches);

    // Size, after folding the WAL into the file.
    drop(server);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let size = file_size(&db);
    let per_gib = session_count as f64 / (size as f64 / (1u64 << 30) as f64);
    eprintln!(
        "database: {:.1} MiB, {per_gib:.0} sessions per GiB",
        size as f64 / (1 << 20) as f64
    );

    // Reports, warm, on a fresh server so the peak memory is that of answering them.
    let server = Server::start(&binary, &db);
    let month_from = end - Duration::days(30);
    let year_from = end - Duration::days(365);
    let mut latencies = Vec::new();
    let mut ask = async |label: String, query: String| {
        let url = format!("{}{query}", server.base);
        let get = || client.get(&url).header("x-license-key", KEY).send();
        let warm = get().await.unwrap();
        assert_eq!(warm.status(), 200, "{label}");
        warm.bytes().await.unwrap();
        let mut samples = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let response = get().await.unwrap();
            response.bytes().await.unwrap();
            samples.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let p50 = median_ms(samples);
        eprintln!("{label}: p50 {p50:.1} ms");
        latencies.push((label, p50));
    };
    for key in PrimaryKey::ALL {
        ask(
            format!("usage report, last 30 days, {key}"),
            format!(
                "/api/v1/reports/usage?from={}&to={}&primaryKey={key}",
                month_from.format("%Y-%m-%dT%H:%M:%SZ"),
                end.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
        .await;
        ask(
            format!("usage report, all time, {key}"),
            format!("/api/v1/reports/usage?primaryKey={key}"),
        )
        .await;
    }
    // What the dashboard's views ask for besides the report: the previous period's summary and
    // the seats view's machines per day.
    ask(
        "summary, last 30 days".to_owned(),
        format!(
            "/api/v1/reports/usage/summary?from={}&to={}",
            month_from.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    ask(
        "summary, all time".to_owned(),
        "/api/v1/reports/usage/summary".to_owned(),
    )
    .await;
    ask(
        "machines per day, last 30 days".to_owned(),
        format!(
            "/api/v1/reports/usage/trends?interval=day&primaryKey=machineId&from={}&to={}",
            month_from.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    ask(
        "trends by day over a year".to_owned(),
        format!(
            "/api/v1/reports/usage/trends?interval=day&from={}&to={}",
            year_from.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    let rss = server.peak_rss_kib();
    eprintln!("peak resident memory of serve: {:.1} MiB", rss as f64 / 1024.0);
    drop(server);

    // The session listing, timed on the store itself: the query without HTTP and JSON.
    let store = SqliteStore::open(&db).unwrap();
    let last_30_days = SessionQuery {
        from: Some(calendar::to_micros(month_from)),
        to: calendar::to_micros(end),
        user: None,
        namespace: None,
        ci: None,
        close_reason: None,
        limit: 500,
        after: None,
    };
    let all_time = SessionQuery {
        from: None,
        ..last_30_days.clone()
    };
    let second_page = SessionQuery {
        after: store.sessions(&all_time).unwrap().next,
        ..all_time.clone()
    };
    let of_developer = |query: &SessionQuery| SessionQuery {
        user: Some(developer.clone()),
        ..query.clone()
    };
    let mut listings = Vec::new();
    for (label, query) in [
        ("session listing, first 500, last 30 days", last_30_days.clone()),
        ("session listing, first 500, all time", all_time.clone()),
        ("session listing, second 500, all time", second_page),
        (
            "session listing of one developer, first 500, last 30 days",
            of_developer(&last_30_days),
        ),
        (
            "session listing of one developer, first 500, all time",
            of_developer(&all_time),
        ),
    ] {
        let (p50, listed) = time_listing(&store, &query);
        eprintln!("{label}: p50 {p50:.2} ms ({listed} sessions)");
        listings.push((label, p50, listed));
    }

    let now: DateTime<Utc> = Utc::now();
    println!("## Run of {} on {}", env!("CARGO_PKG_VERSION"), now.format("%Y-%m-%d"));
    println!();
    println!(
        "History: {session_count} sessions ({:.1}% CI) from {} to {}, {identities} identities, {events} events \
         ({:.0} MiB of JSON).",
        100.0 * ci as f64 / session_count as f64,
        first.format("%Y-%m-%d"),
        last.format("%Y-%m-%d %H:%M"),
        body_bytes as f64 / (1 << 20) as f64
    );
    println!();
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!("| ingest over HTTP, 10k-event batches | {http_rate:.0} events/s | ≥ 50,000 events/s |");
    println!(
        "| bare rusqlite insert, same sessions, one transaction | {bare_rate:.0} events/s (HTTP ingest is {:.2}× of it) | — |",
        http_rate / bare_rate
    );
    println!(
        "| database size, indexes included | {:.0} MiB: {per_gib:.0} sessions per GiB | ≥ 5,000,000 per GiB |",
        size as f64 / (1 << 20) as f64
    );
    for (label, p50) in &latencies {
        let target = if label.starts_with("summary") || label.starts_with("machines per day") {
            if label.contains("all time") {
                "≤ 150 ms"
            } else {
                "≤ 50 ms"
            }
        } else if label.contains("30 days") {
            "≤ 20 ms"
        } else if label.contains("all time") {
            "≤ 100 ms"
        } else {
            "≤ 50 ms"
        };
        println!("| {label}, warm p50 of 20 | {p50:.1} ms | {target} |");
    }
    println!(
        "| peak resident memory of serve answering these | {:.1} MiB | ≤ 100 MiB |",
        rss as f64 / 1024.0
    );
    println!();
    println!(
        "Session listing, timed on the store in process (no HTTP): the developer is `{developer}`, the median \
         by sessions ({developer_sessions} of them)."
    );
    println!();
    println!("| measure | result | target |");
    println!("|---|---|---|");
    for (label, p50, listed) in &listings {
        println!("| {label} ({listed} listed), warm p50 of 20 | {p50:.2} ms | ≤ 5 ms |");
    }
}
