//! The session log: ranges, filters, paging, and the query plans that keep it fast.

use super::*;
use crate::sqlite::session_log::{ListFilter, lasting_sql, started_sql};

#[test]
fn sessions_are_listed_newest_first_and_ties_on_start_newest_row_first() {
    let (_dir, store) = store();
    ingest_in_order(
        &store,
        &[
            &session("middle", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"),
            &session("tie-first", "2026-03-03T10:00:00Z", "2026-03-03T10:30:00Z"),
            &session("oldest", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
            &session("tie-second", "2026-03-03T10:00:00Z", "2026-03-03T12:00:00Z"),
            &session("newest", "2026-03-04T10:00:00Z", "2026-03-04T11:00:00Z"),
        ],
    );
    let page = store.sessions(&all_time()).unwrap();
    assert_eq!(ids(&page), ["newest", "tie-second", "tie-first", "middle", "oldest"]);
    assert_eq!(page.next, None);
}

#[test]
fn a_session_is_listed_when_it_overlaps_the_range() {
    let (_dir, store) = store();
    let from = "2026-03-10T00:00:00Z";
    let to = "2026-03-11T00:00:00Z";
    ingest_in_order(
        &store,
        &[
            &session("ends-at-from", "2026-03-09T23:00:00Z", from),
            &session(
                "ends-just-after-from",
                "2026-03-09T23:00:00Z",
                "2026-03-10T00:00:00.000001Z",
            ),
            &session("inside", "2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z"),
            &session("spans-the-range", "2026-03-09T20:00:00Z", "2026-03-11T02:00:00Z"),
            // The longest session of all: the scan by start must reach back this far.
            &session("longest", "2026-03-08T00:00:00Z", "2026-03-10T00:00:00.000001Z"),
            &session(
                "starts-just-before-to",
                "2026-03-10T23:59:59.999999Z",
                "2026-03-11T01:00:00Z",
            ),
            &session("starts-at-to", to, "2026-03-11T01:00:00Z"),
            &session("long-before", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
        ],
    );
    let page = store.sessions(&range(Some(from), to)).unwrap();
    assert_eq!(
        ids(&page),
        [
            "starts-just-before-to",
            "inside",
            "ends-just-after-from",
            "spans-the-range",
            "longest"
        ]
    );
    let page = store.sessions(&range(None, to)).unwrap();
    assert_eq!(
        ids(&page),
        [
            "starts-just-before-to",
            "inside",
            "ends-just-after-from",
            "ends-at-from",
            "spans-the-range",
            "longest",
            "long-before"
        ]
    );
    let empty = store.sessions(&range(Some(to), to)).unwrap();
    assert_eq!(empty.sessions, []);
}

#[test]
fn running_sessions_are_listed_without_an_end_however_long_ago_they_started() {
    let (_dir, store) = store();
    ingest_in_order(
        &store,
        &[
            &[Event::SessionStart(start(
                "running-for-weeks",
                "2026-01-05T09:00:00Z",
                "m",
            ))],
            // The longest completed session is an hour, so the range's scan by start time
            // begins an hour before `from`; the running sessions before that come separately.
            &session("ended-before", "2026-02-01T09:00:00Z", "2026-02-01T10:00:00Z"),
            &session("inside", "2026-02-10T09:00:00Z", "2026-02-10T10:00:00Z"),
            &[Event::SessionStart(start(
                "running-since-yesterday",
                "2026-02-09T09:00:00Z",
                "m",
            ))],
            &[Event::SessionStart(start(
                "starts-after-to",
                "2026-02-12T09:00:00Z",
                "m",
            ))],
        ],
    );
    let page = store
        .sessions(&range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"))
        .unwrap();
    assert_eq!(ids(&page), ["inside", "running-since-yesterday", "running-for-weeks"]);
    assert_eq!(page.sessions[0].end, Some(micros("2026-02-10T10:00:00Z")));
    assert_eq!(page.sessions[1].end, None);
    assert_eq!(page.sessions[2].end, None);
    assert_eq!(page.sessions[2].start, micros("2026-01-05T09:00:00Z"));
}

#[test]
fn a_session_whose_start_has_not_arrived_is_not_listed() {
    let (_dir, store) = store();
    store.ingest(&[end("only-ended", "2026-02-10T10:00:00Z")]).unwrap();
    store
        .ingest(&session("whole", "2026-02-10T09:00:00Z", "2026-02-10T10:00:00Z"))
        .unwrap();
    assert_eq!(ids(&store.sessions(&all_time()).unwrap()), ["whole"]);
    let ranged = range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z");
    assert_eq!(ids(&store.sessions(&ranged).unwrap()), ["whole"]);
}

#[test]
fn a_listed_session_says_everything_its_start_told() {
    let (_dir, store) = store();
    let mut ci = start("ci", "2026-02-10T09:00:00Z", "runner-1");
    ci.ci = Some(CiContext {
        provider: Some("github".to_owned()),
        pipeline: Some("e2e".to_owned()),
        environment: Some("staging".to_owned()),
        triggered_by: Some("alice".to_owned()),
    });
    let mut empty_ci = start("empty-ci", "2026-02-10T08:00:00Z", "runner-1");
    empty_ci.ci = Some(CiContext::default());
    let bare = SessionStart {
        session_id: "bare".to_owned(),
        timestamp: at("2026-02-10T07:00:00Z"),
        machine_id: "m".to_owned(),
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
    };
    store
        .ingest(&[
            Event::SessionStart(ci),
            end("ci", "2026-02-10T09:10:00Z"),
            Event::SessionStart(empty_ci),
            Event::SessionStart(bare),
        ])
        .unwrap();
    let page = store.sessions(&all_time()).unwrap();
    assert_eq!(
        page.sessions[0],
        SessionRecord {
            session_id: "ci".to_owned(),
            machine_id: Some("runner-1".to_owned()),
            kubernetes_username: Some("runner-1@corp.example".to_owned()),
            client_username: Some("runner-1-user".to_owned()),
            client_hostname: Some("runner-1-laptop".to_owned()),
            target: Some(SessionTarget {
                kind: "Deployment".to_owned(),
                name: "api".to_owned(),
                container: Some("app".to_owned()),
            }),
            namespace: Some("shop".to_owned()),
            start: micros("2026-02-10T09:00:00Z"),
            end: Some(micros("2026-02-10T09:10:00Z")),
            ci: Some(CiRecord {
                provider: Some("github".to_owned()),
                pipeline: Some("e2e".to_owned()),
                environment: Some("staging".to_owned()),
                triggered_by: Some("alice".to_owned()),
            }),
            cli_version: Some("3.150.0".to_owned()),
            operator_version: Some("3.120.0".to_owned()),
            close_reason: None,
            multi_cluster_parent: None,
        }
    );
    assert_eq!(
        page.sessions[1].ci,
        Some(CiRecord::default()),
        "an empty CI context is still CI"
    );
    assert_eq!(
        page.sessions[2],
        SessionRecord {
            session_id: "bare".to_owned(),
            machine_id: Some("m".to_owned()),
            kubernetes_username: None,
            client_username: None,
            client_hostname: None,
            target: None,
            namespace: None,
            start: micros("2026-02-10T07:00:00Z"),
            end: None,
            ci: None,
            cli_version: None,
            operator_version: None,
            close_reason: None,
            multi_cluster_parent: None,
        }
    );
}

/// Sessions of two people, in two namespaces, some from CI, for the filter tests.
fn filtered_store() -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = store();
    let mut alice_laptop = start("alice-laptop", "2026-02-10T09:00:00Z", "alice-1");
    alice_laptop.kubernetes_username = Some("alice@corp.example".to_owned());
    alice_laptop.client_username = Some("alice".to_owned());
    let mut alice_desktop = start("alice-desktop", "2026-02-10T10:00:00Z", "alice-2");
    alice_desktop.kubernetes_username = Some("alice@corp.example".to_owned());
    alice_desktop.client_username = Some("alice".to_owned());
    alice_desktop.namespace = Some("payments".to_owned());
    let mut alice_old = start("alice-running-old", "2026-01-01T10:00:00Z", "alice-1");
    alice_old.kubernetes_username = Some("alice@corp.example".to_owned());
    alice_old.client_username = Some("alice".to_owned());
    let bob = start("bob", "2026-02-10T11:00:00Z", "bob-1");
    let mut pipeline = start("pipeline", "2026-02-10T12:00:00Z", "runner-1");
    pipeline.ci = Some(CiContext::default());
    pipeline.namespace = Some("payments".to_owned());
    let mut old_pipeline = start("pipeline-running-old", "2026-01-02T10:00:00Z", "runner-1");
    old_pipeline.ci = Some(CiContext::default());
    store
        .ingest(&[
            Event::SessionStart(alice_laptop),
            end("alice-laptop", "2026-02-10T09:30:00Z"),
            Event::SessionStart(alice_desktop),
            end("alice-desktop", "2026-02-10T10:30:00Z"),
            Event::SessionStart(alice_old),
            Event::SessionStart(bob),
            end("bob", "2026-02-10T11:30:00Z"),
            Event::SessionStart(pipeline),
            end("pipeline", "2026-02-10T12:30:00Z"),
            Event::SessionStart(old_pipeline),
        ])
        .unwrap();
    (dir, store)
}

/// Sets some of a query's filters.
type SetFilter = fn(&mut SessionQuery);

#[test]
fn each_filter_keeps_only_matching_sessions_in_ranges_and_all_time() {
    let (_dir, store) = filtered_store();
    let cases: [(&str, SetFilter, &[&str]); 9] = [
        (
            "no filter",
            |_| {},
            &[
                "pipeline",
                "bob",
                "alice-desktop",
                "alice-laptop",
                "pipeline-running-old",
                "alice-running-old",
            ],
        ),
        (
            "kubernetes username",
            |q| q.user = Some("alice@corp.example".into()),
            &["alice-desktop", "alice-laptop", "alice-running-old"],
        ),
        (
            "client username",
            |q| q.user = Some("alice".into()),
            &["alice-desktop", "alice-laptop", "alice-running-old"],
        ),
        ("machine id", |q| q.user = Some("alice-2".into()), &["alice-desktop"]),
        (
            "namespace",
            |q| q.namespace = Some("payments".into()),
            &["pipeline", "alice-desktop"],
        ),
        ("CI only", |q| q.ci = Some(true), &["pipeline", "pipeline-running-old"]),
        (
            "users only",
            |q| q.ci = Some(false),
            &["bob", "alice-desktop", "alice-laptop", "alice-running-old"],
        ),
        (
            "user and namespace",
            |q| {
                q.user = Some("alice".into());
                q.namespace = Some("shop".into());
            },
            &["alice-laptop", "alice-running-old"],
        ),
        (
            "namespace and CI",
            |q| {
                q.namespace = Some("shop".into());
                q.ci = Some(true);
            },
            &["pipeline-running-old"],
        ),
    ];
    for (name, filter, expected) in cases {
        for mut query in [range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"), all_time()] {
            filter(&mut query);
            let page = store.sessions(&query).unwrap();
            assert_eq!(ids(&page), expected, "{name}, from {:?}", query.from);
        }
    }
}

#[test]
fn a_filter_naming_nobody_gives_an_empty_page() {
    let (_dir, store) = filtered_store();
    let queries = [
        ("unknown user", Some("mallory"), None),
        // Known strings, but not a user: a hostname, a namespace.
        ("a hostname", Some("bob-1-laptop"), None),
        ("a namespace as user", Some("shop"), None),
        ("unknown namespace", None, Some("nowhere")),
        ("a user as namespace", None, Some("alice")),
    ];
    for (name, user, namespace) in queries {
        let query = SessionQuery {
            user: user.map(str::to_owned),
            namespace: namespace.map(str::to_owned),
            ..all_time()
        };
        let page = store.sessions(&query).unwrap();
        assert_eq!(
            page,
            SessionPage {
                sessions: Vec::new(),
                next: None
            },
            "{name}"
        );
    }
}

#[test]
fn pages_of_two_return_every_session_once_and_the_last_has_no_next() {
    let (_dir, store) = store();
    let mut batches: Vec<Vec<Event>> = Vec::new();
    // Running sessions started long before the range, to page across both of the store's
    // reads, and ties on start.
    for (index, day) in ["01", "01", "02"].iter().enumerate() {
        let id = format!("running-{index}");
        batches.push(vec![Event::SessionStart(start(
            &id,
            &format!("2026-01-{day}T09:00:00Z"),
            "m",
        ))]);
    }
    for index in 0..8 {
        let id = format!("completed-{index}");
        let hour = 8 + index / 3;
        batches.push(session(&id, &format!("2026-02-10T{hour:02}:00:00Z"), "2026-02-10T20:00:00Z").to_vec());
    }
    let batches: Vec<&[Event]> = batches.iter().map(Vec::as_slice).collect();
    ingest_in_order(&store, &batches);
    let expected = [
        "completed-7",
        "completed-6",
        "completed-5",
        "completed-4",
        "completed-3",
        "completed-2",
        "completed-1",
        "completed-0",
        "running-2",
        "running-1",
        "running-0",
    ];
    for query in [range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"), all_time()] {
        let pages = every_page(&store, &query, 2);
        assert_eq!(pages.len(), 6, "{:?}", query.from);
        assert!(pages.iter().all(|page| !page.sessions.is_empty()));
        assert!(
            pages[..5]
                .iter()
                .all(|page| page.sessions.len() == 2 && page.next.is_some())
        );
        assert_eq!(pages[5].next, None);
        let listed: Vec<&str> = pages.iter().flat_map(ids).collect();
        assert_eq!(listed, expected, "{:?}", query.from);
    }
    // A last page that is exactly full says so too.
    let pages = every_page(&store, &all_time(), 11);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].next, None);
}

#[test]
fn a_cursor_stays_valid_while_sessions_arrive() {
    let (_dir, store) = store();
    let old: Vec<String> = (0..6).map(|index| format!("old-{index}")).collect();
    for (index, id) in old.iter().enumerate() {
        store
            .ingest(&session(
                id,
                &format!("2026-02-10T1{index}:00:00Z"),
                "2026-02-10T23:00:00Z",
            ))
            .unwrap();
    }
    let query = SessionQuery {
        limit: 2,
        ..range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z")
    };
    let first = store.sessions(&query).unwrap();
    assert_eq!(ids(&first), ["old-5", "old-4"]);

    // Newer sessions, one tying with the cursor's start, and older ones on either side of it.
    ingest_in_order(
        &store,
        &[
            &session("new-newest", "2026-02-10T20:00:00Z", "2026-02-10T23:00:00Z"),
            &session("new-tie", "2026-02-10T14:00:00Z", "2026-02-10T23:00:00Z"),
            &session("new-older", "2026-02-10T12:30:00Z", "2026-02-10T23:00:00Z"),
            &session("new-oldest", "2026-02-10T09:00:00Z", "2026-02-10T23:00:00Z"),
        ],
    );
    let mut rest = Vec::new();
    let mut after = first.next;
    while let Some(cursor) = after {
        let page = store
            .sessions(&SessionQuery {
                after: Some(cursor),
                ..query.clone()
            })
            .unwrap();
        rest.extend(page.sessions.into_iter().map(|s| s.session_id));
        after = page.next;
    }
    let mut listed: Vec<String> = ids(&first).into_iter().map(str::to_owned).collect();
    listed.extend(rest.iter().cloned());
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no session twice: {listed:?}");
    for id in &old {
        assert!(listed.contains(id), "{id} skipped: {listed:?}");
    }
    // What arrived newer than the cursor, or at its start with a later row, is behind it.
    assert_eq!(rest, ["old-3", "new-older", "old-2", "old-1", "old-0", "new-oldest"]);
}

#[test]
fn a_page_of_no_sessions_is_refused() {
    let (_dir, store) = store();
    let query = SessionQuery { limit: 0, ..all_time() };
    let error = store.sessions(&query).unwrap_err();
    assert!(matches!(error, Error::EmptyPage { limit: 0 }), "{error}");
}

/// What SQLite plans for `sql`, one line per step.
fn plan(store: &SqliteStore, sql: &str) -> String {
    let conn = lock(&store.writer);
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let params: Vec<i64> = (0..statement.parameter_count()).map(|_| 0).collect();
    let steps: Vec<String> = statement
        .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    steps.join("\n")
}

#[test]
fn listing_reads_indexes_newest_first_without_sorting() {
    let (_dir, store) = filtered_store();
    let dims = store.dims.read().unwrap().clone();
    let resolve = |user: Option<&str>, namespace: Option<&str>| {
        let query = SessionQuery {
            user: user.map(str::to_owned),
            namespace: namespace.map(str::to_owned),
            ci: Some(false),
            close_reason: None,
            ..all_time()
        };
        ListFilter::resolve(&dims, &query).unwrap()
    };

    let unfiltered = ListFilter {
        identities: None,
        namespace: None,
        ci: None,
        close_reason: None,
    };
    for sql in [started_sql(&unfiltered), started_sql(&resolve(None, Some("shop")))] {
        let everyone = plan(&store, &sql);
        assert!(everyone.contains("USING INDEX sessions_by_start"), "{everyone}");
        assert!(!everyone.contains("TEMP B-TREE"), "{everyone}");
    }

    // One identity: its index rows are already in start order.
    let one = plan(&store, &started_sql(&resolve(Some("bob-1"), None)));
    assert!(one.contains("USING INDEX sessions_by_identity"), "{one}");
    assert!(!one.contains("TEMP B-TREE"), "{one}");
    // Several: read through the same index, and only their newest rows sorted.
    let several = plan(&store, &started_sql(&resolve(Some("alice"), Some("shop"))));
    assert!(several.contains("USING INDEX sessions_by_identity"), "{several}");

    let lasting = plan(&store, &lasting_sql(&resolve(Some("alice"), Some("shop"))));
    assert!(lasting.contains("USING INDEX sessions_lasting"), "{lasting}");
    assert!(!lasting.contains("TEMP B-TREE"), "{lasting}");
}

#[test]
fn overlap_queries_read_lasting_sessions_through_their_index() {
    assert_eq!(
        LASTING,
        format!("(end_us IS NULL OR end_us - start_us > {LONG_SESSION_US})")
    );
    let (_dir, store) = filtered_store();
    let peaks = plan(
        &store,
        &format!("SELECT start_us FROM sessions WHERE {LASTING} AND start_us < ?1 AND end_us > ?2"),
    );
    assert!(peaks.contains("USING INDEX sessions_lasting"), "{peaks}");
}

#[test]
fn the_log_filters_by_how_sessions_closed() {
    let (_dir, store) = store();
    let closed = |id: &str, reason: Option<&str>| {
        Event::SessionEnd(SessionEnd {
            session_id: id.to_owned(),
            timestamp: at("2026-02-10T09:30:00Z"),
            close_reason: reason.map(str::to_owned),
            estimated: false,
        })
    };
    store
        .ingest(&[
            Event::SessionStart(start("unused", "2026-02-10T09:00:00Z", "m")),
            closed("unused", Some("Unused")),
            Event::SessionStart(start("plain", "2026-02-10T09:01:00Z", "m")),
            closed("plain", None),
        ])
        .unwrap();
    let query = |reason: &str| SessionQuery {
        close_reason: Some(reason.to_owned()),
        ..all_time()
    };
    assert_eq!(ids(&store.sessions(&query("Unused")).unwrap()), ["unused"]);
    assert!(store.sessions(&query("StateLost")).unwrap().sessions.is_empty());
}
