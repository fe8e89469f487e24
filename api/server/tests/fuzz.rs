//! Tens of thousands of arbitrary ingest bodies and report query strings through the real router
//! over a real SQLite file: never a 5xx, never a panic, and nothing stored by a rejected batch.
//! Seeded, so a failure names the request that caused it and repeats.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use mirrord_usage_server::auth::Auth;
use mirrord_usage_server::server::{self, AppState};
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::usage::{Installation, Usage};
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::ManualClock;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

const KEY: &str = "fuzz-key";
const BODIES: usize = 20_000;
const QUERIES: usize = 10_000;

/// Values that have broken parsers before, or might.
const TRICKY: &[&str] = &[
    "",
    "2026-11-02T09:00:00Z",
    "2026-11-02T09:00:00.999999999+14:00",
    "2026-1-1T0:0:0Z",
    "2026-01-01T00:00:00UTC",
    "2026-06-30T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "+275760-09-13T00:00:00Z",
    "2026-11-20T12:30:00Z",
    "null",
    "-1",
    "1e308",
    "18446744073709551616",
    "\u{0}",
    "\u{202e}gnp.exe",
    "=HYPERLINK(\"x\")",
    "%00",
    "%ZZ",
    "day",
    "week",
    "month",
    "csv",
    "xlsx",
    "json",
    "machineId",
    "clientHostname",
];

fn tricky(rng: &mut SmallRng) -> String {
    match rng.random_range(0..6) {
        0 => "x".repeat(rng.random_range(100..3000)),
        1 => (0..rng.random_range(0..20)).map(|_| rng.random::<char>()).collect(),
        _ => TRICKY[rng.random_range(0..TRICKY.len())].to_owned(),
    }
}

fn json_value(rng: &mut SmallRng, depth: u32) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e20),
        4 => json!(tricky(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| json_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "sessionId",
                "timestamp",
                "type",
                "machineId",
                "ci",
                "target",
                "kind",
                "name",
            ];
            Value::Object(
                (0..rng.random_range(0..4))
                    .map(|_| {
                        (
                            keys[rng.random_range(0..keys.len())].to_owned(),
                            json_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

/// A well-formed event, most of the time changed in one place.
fn event(rng: &mut SmallRng, index: usize) -> serde_json::Value {
    let id = format!("s{}", rng.random_range(0..400));
    let day = rng.random_range(1..20);
    let mut event = if rng.random::<bool>() {
        serde_json::json!({
            "type": "sessionStart", "sessionId": id, "timestamp": format!("2026-11-{day:02}T09:00:00Z"),
            "machineId": format!("m{}", index % 7), "clientUsername": "u",
            "target": {"kind": "Deployment", "name": "api"}, "namespace": "shop",
        })
    } else {
        serde_json::json!({"type": "sessionEnd", "sessionId": id, "timestamp": format!("2026-11-{day:02}T10:00:00Z")})
    };
    if rng.random_range(0..3) > 0 {
        let keys = [
            "type",
            "sessionId",
            "timestamp",
            "machineId",
            "target",
            "ci",
            "namespace",
            "extra",
        ];
        let key = keys[rng.random_range(0..keys.len())];
        if rng.random_range(0..4) == 0 {
            event.as_object_mut().unwrap().remove(key);
        } else {
            event[key] = json_value(rng, 0);
        }
    }
    event
}

fn body(rng: &mut SmallRng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(0..300)).map(|_| rng.random::<u8>()).collect(),
        1 => serde_json::to_vec(&json_value(rng, 0)).unwrap(),
        _ => {
            let events: Vec<_> = (0..rng.random_range(0..12)).map(|index| event(rng, index)).collect();
            let mut bytes = serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap();
            // Now and then: cut it short, or change bytes.
            match rng.random_range(0..6) {
                0 => bytes.truncate(rng.random_range(0..=bytes.len())),
                1 => {
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                }
                _ => {}
            }
            bytes
        }
    }
}

fn query(rng: &mut SmallRng) -> String {
    let path = if rng.random::<bool>() {
        "/api/v1/reports/usage"
    } else {
        "/api/v1/reports/usage/trends"
    };
    let names = ["from", "to", "format", "interval", "primaryKey", "primary_key", "other"];
    let pairs: Vec<String> = (0..rng.random_range(0..5))
        .map(|_| {
            let name = names[rng.random_range(0..names.len())];
            let value: String = tricky(rng)
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b':' | b'%' => (byte as char).to_string(),
                    other => format!("%{other:02X}"),
                })
                .collect();
            format!("{name}={value}")
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// Counts commits by any connection to the file: it changes only when a batch was stored.
fn data_version(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0)).unwrap()
}

#[tokio::test]
async fn arbitrary_requests_never_fail_the_server_and_rejected_batches_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let state = AppState {
        usage: Usage::new(
            Arc::new(SqliteStore::open(&path).unwrap()),
            Installation::default(),
            Arc::new(ManualClock::new("2026-11-20T12:00:00Z".parse().unwrap())),
            Arc::new(Metrics::default()),
        ),
        auth: Auth::license_key(KEY),
    };
    let router = server::router(state);
    let watcher = rusqlite::Connection::open(&path).unwrap();
    let mut rng = SmallRng::seed_from_u64(14);
    let (mut stored, mut rejected) = (0, 0);

    for case in 0..BODIES {
        let body = body(&mut rng);
        let before = data_version(&watcher);
        let request = Request::post("/api/v1/events")
            .header("x-license-key", KEY)
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let shown = String::from_utf8_lossy(&body);
        assert!(!status.is_server_error(), "case {case}: {status} for {shown}");
        if status.is_success() {
            stored += 1;
        } else {
            rejected += 1;
            assert_eq!(
                data_version(&watcher),
                before,
                "case {case}: {status} stored something: {shown}"
            );
            let answer = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert!(
                answer["error"].is_string() && answer["message"].is_string(),
                "case {case}: {answer}"
            );
        }
    }
    for case in 0..QUERIES {
        let uri = query(&mut rng);
        let request = Request::get(&uri)
            .header("x-license-key", KEY)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert!(
            !response.status().is_server_error(),
            "query {case}: {} for {uri}",
            response.status()
        );
    }
    println!("{BODIES} bodies: {stored} stored, {rejected} rejected; {QUERIES} queries");
    assert!(
        stored > BODIES / 50 && rejected > BODIES / 2,
        "{stored} stored, {rejected} rejected"
    );
}
