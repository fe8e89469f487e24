//! Retention: sessions that ended before the horizon leave the session log, and every report over
//! any range, aligned to days or not, stays exactly what it was.

use chrono::{DateTime, TimeDelta, Utc};
use mirrord_usage_crds::event::{CiContext, Event, SessionEnd, SessionStart, Target};
use mirrord_usage_crds::report::{Interval, PrimaryKey};
use mirrord_usage_report::{self as report, ReportSettings};
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::model::{Granularity, SessionQuery, SnapshotQuery};
use mirrord_usage_store::{SqliteStore, UsageStore};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn start(id: &str, time: DateTime<Utc>, machine: usize, ci: bool) -> Event {
    Event::SessionStart(SessionStart {
        session_id: id.to_owned(),
        timestamp: time,
        machine_id: format!("m{machine}"),
        kubernetes_username: Some(format!("dev{machine}")),
        client_username: None,
        client_hostname: None,
        target: Some(Target {
            kind: "Deployment".into(),
            name: format!("api{}", machine % 3),
            container: None,
        }),
        namespace: Some(format!("ns{}", machine % 2)),
        ci: ci.then(CiContext::default),
        cli_version: Some("3.1.0".into()),
        operator_version: None,
        multi_cluster_parent: None,
        estimated: false,
    })
}

fn end(id: &str, time: DateTime<Utc>) -> Event {
    Event::SessionEnd(SessionEnd {
        session_id: id.to_owned(),
        timestamp: time,
        close_reason: None,
        estimated: false,
    })
}

const NOW: &str = "2026-03-01T00:00:00Z";

/// Every report the store can be asked for over these ranges, as JSON, for comparison.
fn reports(store: &SqliteStore, ranges: &[(Option<Micros>, Micros)]) -> Vec<String> {
    let now = calendar::to_micros(at(NOW));
    let mut answers = Vec::new();
    for &(from, to) in ranges {
        for granularity in [Granularity::Month, Granularity::Day] {
            let snapshot = store.snapshot(&SnapshotQuery { from, to, granularity }).unwrap();
            let settings = ReportSettings {
                primary_key: PrimaryKey::MachineId,
                now,
                total_licenses: None,
                tier: None,
                cluster_name: None,
                chart_version: None,
            };
            answers.push(serde_json::to_string(&report::usage_report(&snapshot, &settings)).unwrap());
            let trends = report::trends(&snapshot, PrimaryKey::KubernetesUsername, Interval::Day, now);
            answers.push(serde_json::to_string(&trends).unwrap());
        }
    }
    answers
}

fn listed(store: &SqliteStore) -> usize {
    let page = store
        .sessions(&SessionQuery {
            from: None,
            to: calendar::to_micros(at(NOW)),
            user: None,
            namespace: None,
            ci: None,
            close_reason: None,
            limit: 100_000,
            after: None,
        })
        .unwrap();
    page.sessions.len()
}

#[test]
fn archiving_keeps_every_report_and_takes_sessions_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    let mut rng = SmallRng::seed_from_u64(30);
    let first = at("2026-01-01T00:00:00Z");
    let mut events = Vec::new();
    for index in 0..1500 {
        let id = format!("s{index}");
        let begin = first + TimeDelta::minutes(rng.random_range(0..58 * 24 * 60));
        let minutes = if index % 100 == 0 {
            rng.random_range(2000..9000)
        } else {
            rng.random_range(1..300)
        };
        events.push(start(&id, begin, rng.random_range(0..40), index % 7 == 0));
        events.push(end(&id, begin + TimeDelta::minutes(minutes)));
    }
    // Running since before the horizon, and an end still waiting for its start.
    events.push(start("running", at("2026-01-10T08:00:00Z"), 1, false));
    events.push(end("orphan", at("2026-01-05T08:00:00Z")));
    store.ingest(&events).unwrap();

    let mut ranges = vec![
        (None, calendar::to_micros(at(NOW))),
        (Some(calendar::to_micros(first)), calendar::to_micros(at(NOW))),
    ];
    for _ in 0..30 {
        let a = calendar::to_micros(first) + rng.random_range(0..60 * calendar::MICROS_PER_DAY);
        let b = calendar::to_micros(first) + rng.random_range(0..60 * calendar::MICROS_PER_DAY);
        ranges.push((Some(a.min(b)), a.max(b) + 1));
    }
    let before = reports(&store, &ranges);
    let listed_before = listed(&store);

    let pages = |what: &str| -> i64 {
        let conn = rusqlite::Connection::open(dir.path().join("usage.db")).unwrap();
        conn.query_row(&format!("PRAGMA {what}"), [], |row| row.get(0)).unwrap()
    };
    assert_eq!(
        pages("auto_vacuum"),
        2,
        "a new database gives freed space back (incremental)"
    );
    let pages_before = pages("page_count");

    let horizon = calendar::to_micros(at("2026-02-01T00:00:00Z"));
    let archived = store.expire(horizon).unwrap();
    assert_eq!(pages("freelist_count"), 0, "freed pages go back to the file system");
    assert!(
        pages("page_count") < pages_before,
        "{} pages, {pages_before} before",
        pages("page_count")
    );
    assert!(archived > 500, "{archived} archived");
    let after = reports(&store, &ranges);
    for (index, (before, after)) in before.iter().zip(&after).enumerate() {
        assert_eq!(before, after, "report {index} changed");
    }
    assert_eq!(listed(&store), listed_before - archived as usize);
    let known = store.known_sessions(&["s0".into(), "running".into()]).unwrap();
    assert!(known.contains_key("running"), "a running session stays");

    // The running one ends: the days it covers are counted with the archived sessions.
    store.ingest(&[end("running", at("2026-02-10T08:00:00Z"))]).unwrap();
    let all_time = (None, calendar::to_micros(at(NOW)));
    let counted = store
        .snapshot(&SnapshotQuery {
            from: all_time.0,
            to: all_time.1,
            granularity: Granularity::Month,
        })
        .unwrap();
    assert!(counted.completed_peak_user >= 2);

    // Events of sessions past the horizon are ignored: they may be archived already.
    let outcome = store
        .ingest(&[
            start("late", at("2026-01-20T08:00:00Z"), 3, false),
            end("late", at("2026-01-20T09:00:00Z")),
        ])
        .unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (0, 2));

    // Expiring again at the same horizon changes nothing.
    assert_eq!(store.expire(horizon).unwrap(), 0);
}
