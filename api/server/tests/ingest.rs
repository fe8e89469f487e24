//! Ingest over HTTP on a real server and a real SQLite file: each session stored once whatever the
//! order or repetition of its events, whole batches refused when they conflict or are invalid,
//! and what survives a restart.

mod common;

use common::{KEY, TestServer, at, end, history, start, temp_db};
use serde_json::{Value, json};

const NOW: &str = "2026-11-20T12:00:00Z";

#[tokio::test]
async fn repeated_and_reordered_delivery_stores_each_session_once() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    let events = history();
    let mut reversed = events.as_array().unwrap().clone();
    reversed.reverse();
    let (status, first) = server.post_events(json!(reversed)).await;
    assert_eq!((status, first["accepted"].clone()), (200, json!(11)));
    let (_, once) = server.get("/api/v1/reports/usage").await;

    let (status, again) = server.post_events(events.clone()).await;
    assert_eq!((status, again), (200, json!({"accepted": 0, "duplicates": 11})));
    let (status, within) = server
        .post_events(json!([
            end("a1", "2026-11-02T10:00:00Z"),
            end("a1", "2026-11-02T10:00:00Z")
        ]))
        .await;
    assert_eq!((status, within), (200, json!({"accepted": 0, "duplicates": 2})));
    let (_, twice) = server.get("/api/v1/reports/usage").await;
    assert_eq!(once, twice);
    server.stop().await;
}

#[tokio::test]
async fn an_end_before_its_start_waits_and_counts_nowhere_until_the_start_arrives() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    let (status, _) = server.post_events(json!([end("late", "2026-11-05T10:00:00Z")])).await;
    assert_eq!(status, 200);
    let (_, report) = server.get("/api/v1/reports/usage?from=2026-11-01T00:00:00Z").await;
    assert_eq!(report["allTimeMetrics"]["totalSessionCount"], 0);
    assert_eq!(report["generalMetrics"]["activeUserSessions"], 0);
    assert_eq!(report["generalMetrics"]["lastOperatorEvent"], "2026-11-05T10:00:00Z");

    let (status, _) = server
        .post_events(json!([start("late", "2026-11-05T09:00:00Z", "dave")]))
        .await;
    assert_eq!(status, 200);
    let (_, report) = server.get("/api/v1/reports/usage?from=2026-11-01T00:00:00Z").await;
    assert_eq!(report["allTimeMetrics"]["totalSessionCount"], 1);
    assert_eq!(report["allTimeMetrics"]["totalSessionTimeSeconds"], 3600.0);
    assert_eq!(report["generalMetrics"]["activeUserSessions"], 0);
    server.stop().await;
}

#[tokio::test]
async fn conflicting_events_reject_the_whole_batch_with_409() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    let mut moved = start("a1", "2026-11-02T09:05:00Z", "alice");
    moved["namespace"] = json!("payments");
    let (status, body) = server
        .post_events(json!([
            start("new", "2026-11-06T09:00:00Z", "erin"),
            moved,
            end("a2", "2026-11-03T12:00:00Z"),
        ]))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflicting_events");
    let details = body["details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(
        (details[0]["index"].clone(), details[0]["reason"].clone()),
        (json!(1), json!("conflict"))
    );
    assert!(
        details[0]["message"].as_str().unwrap().contains("timestamp, namespace"),
        "{}",
        details[0]
    );
    assert_eq!(details[1]["index"], 2);
    assert!(
        details[1]["message"]
            .as_str()
            .unwrap()
            .contains("2026-11-03T11:00:00+00:00")
    );

    let (_, report) = server.get("/api/v1/reports/usage").await;
    let users: Vec<&str> = report["userMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(!users.contains(&"erin"), "nothing of a rejected batch is stored");
    server.stop().await;
}

#[tokio::test]
async fn invalid_events_are_each_listed_with_400_and_nothing_is_stored() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server
        .post_events(json!([start("s", "2026-11-02T09:00:00Z", "alice")]))
        .await;
    let (status, body) = server
        .post_events(json!([
            start("ok", "2026-11-06T09:00:00Z", "erin"),
            {"type": "sessionResume", "sessionId": "x", "timestamp": "2026-11-06T09:00:00Z"},
            {"type": "sessionStart", "sessionId": "y", "timestamp": "2026-11-06T09:00:00Z"},
            {"type": "sessionEnd", "sessionId": "z", "timestamp": "noon"},
            end("s", "2026-11-02T08:00:00Z"),
            start("w", "2026-11-06T09:00:00Z", "erin"),
            end("w", "2026-11-06T08:59:59Z"),
            {"type": "sessionStart", "sessionId": "x".repeat(129), "timestamp": "2026-11-06T09:00:00Z", "machineId": "m"},
        ]))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_events");
    let indexes: Vec<u64> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 6, 7]);
    assert!(body["message"].as_str().unwrap().contains("sessionResume"));

    let (status, body) = server
        .post_events(json!([
            start("ok", "2026-11-06T09:00:00Z", "erin"),
            end("s", "2026-11-02T08:00:00Z"),
            start("w", "2026-11-06T09:00:00Z", "erin"),
            end("w", "2026-11-06T08:59:59Z")
        ]))
        .await;
    assert_eq!(status, 400, "{body}");
    let details = body["details"].as_array().unwrap();
    assert_eq!(
        details.iter().map(|d| d["index"].as_u64().unwrap()).collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(details[0]["message"].as_str().unwrap().contains("before its start"));

    let (_, report) = server.get("/api/v1/reports/usage").await;
    assert_eq!(
        report["generalMetrics"]["activeUsers"], 1,
        "erin's valid start was not stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_get_413() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    let many: Vec<Value> = (0..10_001)
        .map(|i| end(&format!("s{i}"), "2026-11-02T08:00:00Z"))
        .collect();
    let (status, body) = server.post_events(json!(many)).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "batch_too_large");

    let huge = format!("{{\"events\": [\"{}\"]}}", "x".repeat(17 * 1024 * 1024));
    let response = server
        .client
        .post(format!("{}/api/v1/events", server.base))
        .header("x-license-key", KEY)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "batch_too_large");
    server.stop().await;
}

#[tokio::test]
async fn a_restart_on_the_same_file_gives_the_same_report() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    server.post_events(json!([end("orphan", "2026-11-10T10:00:00Z")])).await;
    let (_, before) = server.get("/api/v1/reports/usage").await;
    let (_, trends_before) = server.get("/api/v1/reports/usage/trends").await;
    server.stop().await;

    let server = TestServer::start(&db, NOW).await;
    let (_, after) = server.get("/api/v1/reports/usage").await;
    let (_, trends_after) = server.get("/api/v1/reports/usage/trends").await;
    assert_eq!(before, after);
    assert_eq!(trends_before, trends_after);
    let (status, _) = server
        .post_events(json!([start("orphan", "2026-11-10T09:00:00Z", "frank")]))
        .await;
    assert_eq!(status, 200);
    let (_, completed) = server.get("/api/v1/reports/usage").await;
    assert_eq!(completed["allTimeMetrics"]["totalSessionCount"], 6);
    server.clock.set(at("2026-11-20T13:00:00Z"));
    let (_, later) = server.get("/api/v1/reports/usage").await;
    assert_eq!(
        later["allTimeMetrics"]["totalSessionTimeSeconds"].as_f64().unwrap()
            - completed["allTimeMetrics"]["totalSessionTimeSeconds"].as_f64().unwrap(),
        3600.0,
        "the running session grows with the clock"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_ingested_events_and_running_sessions() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    server.post_events(json!([end("a1", "2026-11-02T10:00:00Z")])).await;
    server.post_events(json!([end("a1", "2026-11-02T11:00:00Z")])).await;
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        "mirrord_usage_events_accepted_total 11",
        "mirrord_usage_events_duplicate_total 1",
        "mirrord_usage_ingest_batches_rejected_total 1",
        "mirrord_usage_open_sessions{kind=\"user\"} 1",
        "mirrord_usage_open_sessions{kind=\"ci\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    server.stop().await;
}
