//! A real server on a free port over a real SQLite file, and event builders.

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mirrord_usage_server::auth::Auth;
use mirrord_usage_server::server::{self, AppState};
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::usage::{Installation, Usage};
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::ManualClock;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const KEY: &str = "test-license-key";

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A running server; dropping it does not stop it, `stop` does.
pub(crate) struct TestServer {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server over the database at `path`, with the clock at `now`.
    pub(crate) async fn start(path: &std::path::Path, now: &str) -> TestServer {
        Self::start_with(path, now, server::router).await
    }

    /// Starts a server whose routes `build` makes from the state.
    pub(crate) async fn start_with(
        path: &std::path::Path,
        now: &str,
        build: impl FnOnce(AppState) -> axum::Router,
    ) -> TestServer {
        let store = SqliteStore::open(path).expect("open store");
        let clock = Arc::new(ManualClock::new(at(now)));
        let installation = Installation {
            total_licenses: Some(25),
            tier: Some("Enterprise".into()),
            cluster_name: Some("test".into()),
            chart_version: None,
        };
        let state = AppState {
            usage: Usage::new(
                Arc::new(store),
                installation,
                clock.clone(),
                Arc::new(Metrics::default()),
            ),
            auth: Auth::license_key(KEY),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let router = build(state);
        let task = tokio::spawn(async move {
            server::serve(listener, router, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            base,
            clock,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }

    pub(crate) async fn post_events(&self, events: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/events", self.base))
            .header("x-license-key", KEY)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let (status, _, body) = self.get_bytes(path_and_query).await;
        (status, serde_json::from_slice(&body).unwrap())
    }

    pub(crate) async fn get_bytes(&self, path_and_query: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .header("x-license-key", KEY)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.bytes().await.unwrap().to_vec())
    }
}

/// A user session start with sensible defaults.
pub(crate) fn start(id: &str, at: &str, machine: &str) -> Value {
    json!({
        "type": "sessionStart", "sessionId": id, "timestamp": at, "machineId": machine,
        "kubernetesUsername": format!("{machine}@corp.example"), "clientUsername": machine,
        "clientHostname": format!("{machine}-laptop"),
        "target": {"kind": "Deployment", "name": "api", "container": "app"},
        "namespace": "shop", "cliVersion": "3.150.0", "operatorVersion": "3.120.0"
    })
}

pub(crate) fn ci_start(id: &str, at: &str, machine: &str) -> Value {
    let mut event = start(id, at, machine);
    event["ci"] = json!({"provider": "github", "pipeline": "e2e"});
    event
}

pub(crate) fn end(id: &str, at: &str) -> Value {
    json!({"type": "sessionEnd", "sessionId": id, "timestamp": at})
}

/// A fresh directory for one test's database, and the database's path in it.
pub(crate) fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    (dir, path)
}

/// Three users, one CI session, one session still running.
pub(crate) fn history() -> Value {
    json!([
        start("a1", "2026-11-02T09:00:00Z", "alice"),
        end("a1", "2026-11-02T10:00:00Z"),
        start("a2", "2026-11-03T09:00:00Z", "alice"),
        end("a2", "2026-11-03T11:00:00Z"),
        start("b1", "2026-11-02T09:30:00Z", "bob"),
        end("b1", "2026-11-02T09:45:00Z"),
        start("c1", "2026-10-15T09:00:00Z", "carol"),
        end("c1", "2026-10-15T09:10:00Z"),
        ci_start("ci1", "2026-11-04T02:00:00Z", "runner"),
        end("ci1", "2026-11-04T02:20:00Z"),
        start("run", "2026-11-20T11:00:00Z", "bob"),
    ])
}
