//! The store and report engine against a naive reference implementation of the report contract,
//! on random histories delivered out of order, repeatedly and in random batches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::{CiContext, Event, SessionEnd, SessionStart, Target};
use mirrord_usage_crds::report::{
    AllTimeMetrics, CiMetrics, GeneralMetrics, Interval, PrimaryKey, ReportPeriod, TargetMetric, TrendBucket,
    TrendReport, UsageReport, UserMetric,
};
use mirrord_usage_report::{self as report, ReportSettings};
use mirrord_usage_store::calendar::{self, MICROS_PER_DAY, Micros};
use mirrord_usage_store::model::{Granularity, SnapshotQuery};
use mirrord_usage_store::{SqliteStore, UsageStore};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const MINUTE: i64 = 60_000_000;

/// One session as finally known: what was delivered of it.
#[derive(Debug, Clone)]
struct Session {
    id: String,
    start: Option<SessionStart>,
    end: Option<Micros>,
}

impl Session {
    fn start_at(&self) -> Option<Micros> {
        self.start.as_ref().map(|s| calendar::to_micros(s.timestamp))
    }
    fn ci(&self) -> bool {
        self.start.as_ref().is_some_and(|s| s.ci.is_some())
    }
    fn duration(&self, now: Micros) -> i64 {
        let start = self.start_at().expect("started");
        match self.end {
            Some(end) => end - start,
            None => (now - start).max(0),
        }
    }
    fn field(&self, key: PrimaryKey) -> Option<String> {
        let s = self.start.as_ref()?;
        match key {
            PrimaryKey::MachineId => Some(s.machine_id.clone()),
            PrimaryKey::KubernetesUsername => s.kubernetes_username.clone(),
            PrimaryKey::ClientUsername => s.client_username.clone(),
            PrimaryKey::ClientHostname => s.client_hostname.clone(),
        }
    }
    fn identity(&self) -> [Option<String>; 4] {
        PrimaryKey::ALL.map(|key| self.field(key))
    }
}

fn pick<T: Clone>(rng: &mut SmallRng, options: &[T]) -> T {
    options[rng.random_range(0..options.len())].clone()
}

/// A random history around a month boundary, with boundary-aligned times over-represented.
fn history(rng: &mut SmallRng, base: Micros) -> Vec<Session> {
    let count = rng.random_range(0..40);
    (0..count)
        .map(|index| {
            let start = if rng.random_bool(0.2) {
                base + rng.random_range(-20..30) * MICROS_PER_DAY
            } else {
                base + rng.random_range(-20 * 24 * 60..30 * 24 * 60) * MINUTE + rng.random_range(0..3) * 17
            };
            let end = match rng.random_range(0..10) {
                0 | 1 => None,
                2 => Some(start),
                3 => Some(start + rng.random_range(1..4) * MICROS_PER_DAY),
                _ => Some(start + rng.random_range(1..600) * MINUTE),
            };
            let start_event = SessionStart {
                session_id: format!("s{index}"),
                timestamp: calendar::from_micros(start),
                machine_id: pick(rng, &["m0", "m1", "m2", "m3"]).to_owned(),
                kubernetes_username: pick(rng, &[None, Some("u0"), Some("u1")]).map(str::to_owned),
                client_username: pick(rng, &[None, Some("c0"), Some("c1"), Some("c2")]).map(str::to_owned),
                client_hostname: pick(rng, &[None, Some("h0"), Some("h1")]).map(str::to_owned),
                target: pick(
                    rng,
                    &[
                        None,
                        Some(("Deployment", "api")),
                        Some(("Pod", "api")),
                        Some(("Deployment", "web")),
                    ],
                )
                .map(|(kind, name)| Target {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    container: None,
                }),
                namespace: pick(rng, &[None, Some("shop"), Some("billing")]).map(str::to_owned),
                ci: rng.random_bool(0.25).then(|| CiContext {
                    pipeline: Some("e2e".into()),
                    ..CiContext::default()
                }),
                cli_version: None,
                operator_version: pick(rng, &[None, Some("3.1.0"), Some("3.2.0")]).map(str::to_owned),
                multi_cluster_parent: None,
                estimated: false,
            };
            // Some starts never arrive: their ends are kept but count nowhere.
            let delivered = rng.random_bool(0.9);
            Session {
                id: format!("s{index}"),
                start: delivered.then_some(start_event),
                end,
            }
        })
        .collect()
}

/// The events of a history, shuffled, partly repeated, in random batches.
fn deliveries(rng: &mut SmallRng, sessions: &[Session]) -> Vec<Vec<Event>> {
    let mut events: Vec<Event> = Vec::new();
    for session in sessions {
        if let Some(start) = &session.start {
            events.push(Event::SessionStart(start.clone()));
        }
        if let Some(end) = session.end {
            events.push(Event::SessionEnd(SessionEnd {
                session_id: session.id.clone(),
                timestamp: calendar::from_micros(end),
                close_reason: None,
                estimated: false,
            }));
        }
    }
    let repeats: Vec<Event> = events.iter().filter(|_| rng.random_bool(0.2)).cloned().collect();
    events.extend(repeats);
    events.shuffle(rng);
    let mut batches = Vec::new();
    while !events.is_empty() {
        let size = rng.random_range(1..=events.len().min(12));
        batches.push(events.drain(..size).collect());
    }
    batches
}

fn peak(intervals: impl Iterator<Item = (Micros, Micros)>) -> u64 {
    let mut edges: Vec<(Micros, i32)> = Vec::new();
    for (start, end) in intervals.filter(|(s, e)| s < e) {
        edges.push((start, 1));
        edges.push((end, -1));
    }
    edges.sort();
    let (mut current, mut best) = (0_i64, 0_i64);
    for (_, delta) in edges {
        current += i64::from(delta);
        best = best.max(current);
    }
    best as u64
}

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

fn nulls_last(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// The report contract, computed the obvious way from every session.
fn reference_report(
    sessions: &[Session],
    from: Option<Micros>,
    to: Micros,
    key: PrimaryKey,
    now: Micros,
) -> UsageReport {
    let started: Vec<&Session> = sessions.iter().filter(|s| s.start.is_some()).collect();
    let first = started.iter().filter_map(|s| s.start_at()).min();
    let from = from.unwrap_or_else(|| first.unwrap_or(to).min(to));
    let in_range = |s: &&Session| (from..to).contains(&s.start_at().unwrap());
    let users: Vec<&Session> = started.iter().copied().filter(|s| !s.ci()).collect();
    let cis: Vec<&Session> = started.iter().copied().filter(|s| s.ci()).collect();
    let interval = |s: &&Session| (s.start_at().unwrap(), s.end.unwrap_or(now));

    let mut user_rows: BTreeMap<Option<String>, Vec<&Session>> = BTreeMap::new();
    for session in users.iter().copied().filter(in_range) {
        user_rows.entry(session.field(key)).or_default().push(session);
    }
    let days = (((to - from).max(0) + MICROS_PER_DAY - 1) / MICROS_PER_DAY).max(1) as f64;
    let mut user_metrics: Vec<(i64, UserMetric)> = user_rows
        .iter()
        .map(|(id, rows)| {
            let ever: Vec<&&Session> = users.iter().filter(|s| s.field(key) == *id).collect();
            let latest = ever
                .iter()
                .max_by_key(|s| (s.start_at().unwrap(), s.identity()))
                .unwrap();
            let total: i64 = rows.iter().map(|s| s.duration(now)).sum();
            let count = rows.len() as u64;
            (
                total,
                UserMetric {
                    id: id.clone(),
                    kubernetes_username: latest.field(PrimaryKey::KubernetesUsername),
                    client_username: latest.field(PrimaryKey::ClientUsername),
                    client_hostname: latest.field(PrimaryKey::ClientHostname),
                    active_since: calendar::from_micros(ever.iter().map(|s| s.start_at().unwrap()).min().unwrap()),
                    last_session: calendar::from_micros(rows.iter().map(|s| s.start_at().unwrap()).max().unwrap()),
                    session_count: count,
                    total_session_time_seconds: seconds(total),
                    avg_session_duration_seconds: seconds(total) / count as f64,
                    avg_daily_sessions: count as f64 / days,
                },
            )
        })
        .collect();
    user_metrics.sort_by(|(ta, a), (tb, b)| {
        tb.cmp(ta)
            .then(b.session_count.cmp(&a.session_count))
            .then_with(|| nulls_last(&a.id, &b.id))
    });

    type TargetRow = (Option<String>, Option<String>, Option<String>);
    let mut targets: BTreeMap<TargetRow, (u64, i64, HashSet<String>)> = BTreeMap::new();
    for session in users.iter().copied().filter(in_range) {
        let start = session.start.as_ref().unwrap();
        let target = start.target.as_ref();
        let row = targets
            .entry((
                start.namespace.clone(),
                target.map(|t| t.kind.clone()),
                target.map(|t| t.name.clone()),
            ))
            .or_default();
        row.0 += 1;
        row.1 += session.duration(now);
        if let Some(user) = session.field(key) {
            row.2.insert(user);
        }
    }
    let mut target_metrics: Vec<TargetMetric> = targets
        .into_iter()
        .map(|((namespace, kind, name), (count, total, users))| TargetMetric {
            namespace,
            kind,
            name,
            session_count: count,
            total_session_time_seconds: seconds(total),
            unique_users: users.len() as u64,
        })
        .collect();
    target_metrics.sort_by(|a, b| {
        b.session_count
            .cmp(&a.session_count)
            .then_with(|| nulls_last(&a.namespace, &b.namespace))
            .then_with(|| nulls_last(&a.kind, &b.kind))
            .then_with(|| nulls_last(&a.name, &b.name))
    });

    let ci_in_range: Vec<&Session> = cis.iter().copied().filter(in_range).collect();
    let ci_total: i64 = ci_in_range.iter().map(|s| s.duration(now)).sum();
    let operator_version = started
        .iter()
        .filter_map(|s| {
            let start = s.start.as_ref().unwrap();
            start.operator_version.clone().map(|v| (s.start_at().unwrap(), v))
        })
        .max()
        .map(|(_, v)| v);
    let mut timestamps: Vec<Micros> = started.iter().map(|s| s.start_at().unwrap()).collect();
    timestamps.extend(sessions.iter().filter_map(|s| s.end));
    UsageReport {
        general_metrics: GeneralMetrics {
            total_licenses: Some(10),
            tier: "Unknown".into(),
            active_users: user_rows.keys().filter(|id| id.is_some()).count() as u64,
            report_period: ReportPeriod {
                from: calendar::from_micros(from),
                to: calendar::from_micros(to),
            },
            operator_version,
            last_operator_event: timestamps.iter().max().map(|&t| calendar::from_micros(t)),
            active_user_sessions: users.iter().filter(|s| s.end.is_none()).count() as u64,
            licenses_used: users
                .iter()
                .copied()
                .filter(in_range)
                .filter_map(|s| s.field(PrimaryKey::MachineId))
                .collect::<HashSet<_>>()
                .len() as u64,
            user_sessions: users.iter().copied().filter(in_range).count() as u64,
            user_session_time_seconds: seconds(users.iter().copied().filter(in_range).map(|s| s.duration(now)).sum()),
            cluster_name: None,
            chart_version: None,
            license: None,
        },
        all_time_metrics: AllTimeMetrics {
            total_session_count: users.len() as u64,
            total_session_time_seconds: seconds(users.iter().map(|s| s.duration(now)).sum()),
            total_ci_session_count: cis.len() as u64,
            total_ci_session_time_seconds: seconds(cis.iter().map(|s| s.duration(now)).sum()),
            max_concurrent_user_sessions: peak(users.iter().map(interval)),
            first_session_at: first.map(calendar::from_micros),
        },
        ci_metrics: CiMetrics {
            current_running_sessions: cis.iter().filter(|s| s.end.is_none()).count() as u64,
            max_concurrent_ci_sessions: peak(cis.iter().map(interval)),
            total_ci_sessions: ci_in_range.len() as u64,
            avg_ci_session_duration_seconds: (!ci_in_range.is_empty())
                .then(|| seconds(ci_total) / ci_in_range.len() as f64),
        },
        user_metrics: Some(user_metrics.into_iter().map(|(_, metric)| metric).collect()),
        user_metrics_omitted: None,
        target_metrics,
    }
}

fn reference_trends(
    sessions: &[Session],
    from: Micros,
    to: Micros,
    key: PrimaryKey,
    interval: Interval,
    now: Micros,
) -> TrendReport {
    let started: Vec<&Session> = sessions.iter().filter(|s| s.start.is_some()).collect();
    let mut buckets = Vec::new();
    let mut start = report::bucket_start(interval, from);
    while from < to && start < to {
        let next = match interval {
            Interval::Day => start + MICROS_PER_DAY,
            Interval::Week => start + 7 * MICROS_PER_DAY,
            Interval::Month => calendar::month_start(calendar::month_of(start) + 1),
        };
        let (lo, hi) = (start.max(from), next.min(to));
        let inside: Vec<&&Session> = started
            .iter()
            .filter(|s| (lo..hi).contains(&s.start_at().unwrap()))
            .collect();
        let users: Vec<&&&Session> = inside.iter().filter(|s| !s.ci()).collect();
        let mut firsts: HashMap<String, Micros> = HashMap::new();
        for session in started.iter().filter(|s| !s.ci()) {
            if let Some(id) = session.field(key) {
                let at = session.start_at().unwrap();
                firsts
                    .entry(id)
                    .and_modify(|first| *first = (*first).min(at))
                    .or_insert(at);
            }
        }
        buckets.push(TrendBucket {
            start: calendar::from_micros(start),
            user_sessions: users.len() as u64,
            ci_sessions: (inside.len() - users.len()) as u64,
            session_time_seconds: seconds(users.iter().map(|s| s.duration(now)).sum()),
            active_users: users.iter().filter_map(|s| s.field(key)).collect::<HashSet<_>>().len() as u64,
            new_users: firsts.values().filter(|&&first| (lo..hi).contains(&first)).count() as u64,
        });
        start = next;
    }
    TrendReport {
        interval,
        report_period: ReportPeriod {
            from: calendar::from_micros(from),
            to: calendar::from_micros(to),
        },
        buckets,
    }
}

/// Rounds every number so that sums taken in another order compare equal.
fn normalised<T: serde::Serialize>(value: &T) -> serde_json::Value {
    fn walk(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Number(n) => {
                let f = n.as_f64().unwrap();
                serde_json::json!((f * 1e6).round() / 1e6)
            }
            serde_json::Value::Array(items) => items.into_iter().map(walk).collect(),
            serde_json::Value::Object(map) => map.into_iter().map(|(k, v)| (k, walk(v))).collect(),
            other => other,
        }
    }
    walk(serde_json::to_value(value).unwrap())
}

fn check(seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let base = calendar::to_micros(DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap().to_utc());
    let sessions = history(&mut rng, base);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    for batch in deliveries(&mut rng, &sessions) {
        store
            .ingest(&batch)
            .expect("a consistent history is accepted in any order");
    }
    // Restarting must not change anything.
    drop(store);
    let store: Arc<dyn UsageStore> = Arc::new(SqliteStore::open(dir.path().join("usage.db")).unwrap());

    let candidates = [
        base - 20 * MICROS_PER_DAY,
        base - 3 * MICROS_PER_DAY + 7 * MINUTE,
        base,
        base + 17 * MINUTE,
        base + 2 * MICROS_PER_DAY,
        base + 31 * MICROS_PER_DAY,
        base + 45 * MICROS_PER_DAY + 5 * MINUTE,
    ];
    let now = base + rng.random_range(-5 * 24 * 60..40 * 24 * 60) * MINUTE;
    for _ in 0..4 {
        let mut from = rng.random_bool(0.8).then(|| pick(&mut rng, &candidates));
        let to = if rng.random_bool(0.3) {
            now
        } else {
            pick(&mut rng, &candidates)
        };
        if from.is_some_and(|from| from >= to) {
            from = None;
        }
        let key = pick(&mut rng, &PrimaryKey::ALL);
        let settings = ReportSettings {
            primary_key: key,
            now,
            total_licenses: Some(10),
            tier: None,
            cluster_name: None,
            chart_version: None,
        };
        let expected = reference_report(&sessions, from, to, key, now);
        for granularity in [Granularity::Day, Granularity::Month] {
            let snapshot = store.snapshot(&SnapshotQuery { from, to, granularity }).unwrap();
            let actual = report::usage_report(&snapshot, &settings);
            assert_eq!(
                normalised(&actual),
                normalised(&expected),
                "seed {seed}, {granularity:?}, from {from:?} to {to}, {key}"
            );
        }
        let interval = pick(&mut rng, &[Interval::Day, Interval::Week, Interval::Month]);
        let granularity = if interval == Interval::Month {
            Granularity::Month
        } else {
            Granularity::Day
        };
        let snapshot = store.snapshot(&SnapshotQuery { from, to, granularity }).unwrap();
        let expected = reference_trends(&sessions, snapshot.from, snapshot.to, key, interval, now);
        let actual = report::trends(&snapshot, key, interval, now);
        assert_eq!(
            normalised(&actual),
            normalised(&expected),
            "trends, seed {seed}, {interval:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn reports_match_the_reference_on_random_histories(seed in any::<u64>()) {
        check(seed);
    }
}

#[test]
fn a_fixed_set_of_histories_matches_the_reference() {
    for seed in 0..50 {
        check(seed);
    }
}

#[test]
fn the_reference_itself_counts_a_known_history() {
    let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    let session = |id: &str, start: &str, end: Option<&str>| Session {
        id: id.into(),
        start: Some(SessionStart {
            session_id: id.into(),
            timestamp: at(start),
            machine_id: "m".into(),
            kubernetes_username: None,
            client_username: None,
            client_hostname: None,
            target: None,
            namespace: None,
            ci: None,
            cli_version: None,
            operator_version: None,
            multi_cluster_parent: None,
            estimated: false,
        }),
        end: end.map(|e| calendar::to_micros(at(e))),
    };
    let sessions = [
        session("a", "2026-03-01T10:00:00Z", Some("2026-03-01T11:00:00Z")),
        session("b", "2026-03-01T10:30:00Z", None),
    ];
    let now = calendar::to_micros(at("2026-03-01T12:00:00Z"));
    let report: UsageReport = reference_report(&sessions, None, now, PrimaryKey::MachineId, now);
    assert_eq!(report.all_time_metrics.max_concurrent_user_sessions, 2);
    assert_eq!(report.all_time_metrics.total_session_time_seconds, 9000.0);
    assert_eq!(report.user_metrics.unwrap()[0].session_count, 2);
    let _: Option<DateTime<Utc>> = report.general_metrics.last_operator_event;
}
