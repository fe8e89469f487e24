//! One session seen both ways: estimated by the controller from the operator's running sessions,
//! and pushed by its own source. The pushed start is the true one.

use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::{Event, SessionEnd, SessionStart};
use mirrord_usage_store::calendar;
use mirrord_usage_store::{IngestFailure, SqliteStore, UsageStore};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn start(id: &str, time: &str, machine: &str) -> Event {
    Event::SessionStart(SessionStart {
        session_id: id.to_owned(),
        timestamp: at(time),
        machine_id: machine.to_owned(),
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
    })
}

fn end(id: &str, time: &str) -> Event {
    Event::SessionEnd(SessionEnd {
        session_id: id.to_owned(),
        timestamp: at(time),
        close_reason: None,
        estimated: false,
    })
}

/// The controller's way: watch the session, store the start it estimates.
fn poll(store: &SqliteStore, id: &str, estimate: &str) {
    store
        .watch(&[(id.to_owned(), calendar::to_micros(at(estimate)))])
        .unwrap();
    let Event::SessionStart(mut estimated) = start(id, estimate, "user:alice") else {
        unreachable!("a start")
    };
    estimated.estimated = true;
    store.ingest(&[Event::SessionStart(estimated)]).unwrap();
}

#[test]
fn a_pushed_start_replaces_the_estimate_of_a_running_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    poll(&store, "s", "2026-11-02T09:00:05Z");

    let outcome = store
        .ingest(&[start("s", "2026-11-02T09:00:00Z", "machine-of-alice")])
        .unwrap();
    assert_eq!(outcome.accepted, 1);
    let known = store.known_sessions(&["s".to_owned()]).unwrap();
    assert_eq!(known["s"].start, Some(calendar::to_micros(at("2026-11-02T09:00:00Z"))));
    assert_eq!(known["s"].end, None);

    // The same start again is a repeat; the end completes the session from the true start.
    let outcome = store
        .ingest(&[
            start("s", "2026-11-02T09:00:00Z", "machine-of-alice"),
            end("s", "2026-11-02T10:00:00Z"),
        ])
        .unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (1, 1));
    let page = store
        .sessions(&mirrord_usage_store::model::SessionQuery {
            from: None,
            to: calendar::to_micros(at("2026-12-01T00:00:00Z")),
            limit: 10,
            after: None,
            user: None,
            namespace: None,
            ci: None,
            close_reason: None,
        })
        .unwrap();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].machine_id.as_deref(), Some("machine-of-alice"));
}

#[test]
fn a_pushed_start_conflicts_with_a_pushed_one_and_leaves_an_ended_estimate_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    store.ingest(&[start("pushed", "2026-11-02T09:00:00Z", "m")]).unwrap();
    let conflict = store.ingest(&[start("pushed", "2026-11-02T09:30:00Z", "m")]);
    assert!(matches!(conflict, Err(IngestFailure::Rejected(_))), "{conflict:?}");

    // Estimated, then ended by the controller and no longer watched: the numbers are summed, so
    // the pushed start changes nothing, and rejects nothing else of its batch either.
    poll(&store, "ended", "2026-11-02T09:00:05Z");
    store.ingest(&[end("ended", "2026-11-02T10:00:00Z")]).unwrap();
    store.unwatch(&["ended".to_owned()]).unwrap();
    let outcome = store
        .ingest(&[
            start("ended", "2026-11-02T09:00:00Z", "m"),
            start("other", "2026-11-02T09:10:00Z", "m"),
        ])
        .unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (1, 1));
    let known = store.known_sessions(&["ended".to_owned()]).unwrap();
    assert_eq!(
        known["ended"].start,
        Some(calendar::to_micros(at("2026-11-02T09:00:05Z")))
    );
}
