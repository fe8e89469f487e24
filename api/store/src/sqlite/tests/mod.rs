//! Tests of the SQLite store against a real file: what a batch stores, estimates, readiness;
//! the session log's in `session_log`. The fixtures here build events and stores.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::{CiContext, SessionEnd, SessionStart, Target};

use crate::calendar;
use crate::model::{CiRecord, Granularity, SessionRecord, SessionTarget};

use super::*;

mod session_log;

pub(super) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

pub(super) fn micros(text: &str) -> Micros {
    calendar::to_micros(at(text))
}

/// A user session of `machine`, with every optional field set.
pub(super) fn start(id: &str, time: &str, machine: &str) -> SessionStart {
    SessionStart {
        session_id: id.to_owned(),
        timestamp: at(time),
        machine_id: machine.to_owned(),
        kubernetes_username: Some(format!("{machine}@corp.example")),
        client_username: Some(format!("{machine}-user")),
        client_hostname: Some(format!("{machine}-laptop")),
        target: Some(Target {
            kind: "Deployment".to_owned(),
            name: "api".to_owned(),
            container: Some("app".to_owned()),
        }),
        namespace: Some("shop".to_owned()),
        ci: None,
        cli_version: Some("3.150.0".to_owned()),
        operator_version: Some("3.120.0".to_owned()),
        multi_cluster_parent: None,
        estimated: false,
    }
}

pub(super) fn end(id: &str, time: &str) -> Event {
    Event::SessionEnd(SessionEnd {
        session_id: id.to_owned(),
        timestamp: at(time),
        close_reason: None,
        estimated: false,
    })
}

/// A completed user session of machine `m`.
pub(super) fn session(id: &str, from: &str, to: &str) -> [Event; 2] {
    [Event::SessionStart(start(id, from, "m")), end(id, to)]
}

pub(super) fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    (dir, store)
}

/// Stores each batch in its own transaction, so row ids follow the order of the batches.
pub(super) fn ingest_in_order(store: &SqliteStore, batches: &[&[Event]]) {
    for batch in batches {
        store.ingest(batch).unwrap();
    }
}

pub(super) fn range(from: Option<&str>, to: &str) -> SessionQuery {
    SessionQuery {
        from: from.map(micros),
        to: micros(to),
        user: None,
        namespace: None,
        ci: None,
        close_reason: None,
        limit: 100,
        after: None,
    }
}

pub(super) fn all_time() -> SessionQuery {
    range(None, "2030-01-01T00:00:00Z")
}

pub(super) fn ids(page: &SessionPage) -> Vec<&str> {
    page.sessions.iter().map(|s| s.session_id.as_str()).collect()
}

/// Every page of `query`, `limit` sessions at a time.
pub(super) fn every_page(store: &SqliteStore, query: &SessionQuery, limit: usize) -> Vec<SessionPage> {
    let mut pages = Vec::new();
    let mut query = SessionQuery { limit, ..query.clone() };
    loop {
        let page = store.sessions(&query).unwrap();
        let next = page.next;
        pages.push(page);
        match next {
            Some(cursor) => query.after = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

#[test]
fn a_store_is_ready_until_a_write_finds_the_file_damaged() {
    let (_dir, store) = store();
    store.ready().unwrap();
    *lock(&store.failure) = Some("database disk image is malformed".into());
    let error = store.ready().unwrap_err();
    assert!(matches!(error, Error::Unhealthy(_)), "{error}");
    assert!(error.to_string().contains("restart mirrord-usage"), "{error}");
}

#[test]
fn a_session_longer_than_a_day_is_listed_and_counted_where_it_overlaps() {
    let (_dir, store) = store();
    ingest_in_order(
        &store,
        &[
            &session("year", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            &session("short", "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z"),
            &session("other", "2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z"),
        ],
    );
    let june = range(Some("2025-06-01T00:00:00Z"), "2025-06-02T00:00:00Z");
    let listed: Vec<Vec<String>> = every_page(&store, &june, 1)
        .iter()
        .map(|page| ids(page).into_iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(listed.concat(), ["short", "year"]);
    let peak: i64 = lock(&store.writer)
        .query_row(
            "SELECT peak FROM concurrency_days WHERE day = ?1 AND ci = 0",
            [calendar::day_of(micros("2025-06-01T10:30:00Z"))],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(peak, 2, "the year-long session overlaps the short one");
}

#[test]
fn an_exact_start_replaces_an_estimate_while_the_session_runs() {
    let (_dir, store) = store();
    let mut estimate = start("s", "2026-02-10T09:00:07Z", "m");
    estimate.estimated = true;
    store.ingest(&[Event::SessionStart(estimate.clone())]).unwrap();
    let exact = start("s", "2026-02-10T09:00:00Z", "m");
    let outcome = store.ingest(&[Event::SessionStart(exact.clone())]).unwrap();
    assert_eq!(outcome.accepted, 1, "the estimate was replaced");
    assert_eq!(
        store.sessions(&all_time()).unwrap().sessions[0].start,
        micros("2026-02-10T09:00:00Z")
    );
    // Neither the estimate nor the exact start again changes anything now.
    let again = store
        .ingest(&[Event::SessionStart(estimate), Event::SessionStart(exact)])
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    store.ingest(&[end("s", "2026-02-10T09:30:00Z")]).unwrap();
    let report = store
        .snapshot(&SnapshotQuery {
            from: None,
            to: micros("2026-03-01T00:00:00Z"),
            granularity: Granularity::Day,
        })
        .unwrap();
    assert_eq!(report.user_totals.sessions, 1);
    assert_eq!(report.user_totals.total_micros, 30 * 60 * 1_000_000);
}

#[test]
fn a_stored_end_stays_and_keeps_its_close_reason() {
    let (_dir, store) = store();
    let closed = Event::SessionEnd(SessionEnd {
        session_id: "s".to_owned(),
        timestamp: at("2026-02-10T09:30:00Z"),
        close_reason: Some("Unused".to_owned()),
        estimated: false,
    });
    store
        .ingest(&[Event::SessionStart(start("s", "2026-02-10T09:00:00Z", "m")), closed])
        .unwrap();
    let estimated_later = Event::SessionEnd(SessionEnd {
        session_id: "s".to_owned(),
        timestamp: at("2026-02-10T09:31:00Z"),
        close_reason: None,
        estimated: true,
    });
    assert_eq!(store.ingest(&[estimated_later]).unwrap().duplicates, 1);
    let listed = &store.sessions(&all_time()).unwrap().sessions[0];
    assert_eq!(listed.end, Some(micros("2026-02-10T09:30:00Z")));
    assert_eq!(listed.close_reason.as_deref(), Some("Unused"));
    let other = end("s", "2026-02-10T09:45:00Z");
    assert!(
        matches!(store.ingest(&[other]), Err(IngestFailure::Rejected(_))),
        "an exact end differing is a conflict"
    );
}
