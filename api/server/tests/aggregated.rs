//! The aggregated API's routes on a real server over a real SQLite file: discovery, named
//! reports, users and the paged session audit log, Kubernetes tables and `Status` errors, and the
//! dashboard under the group's path. (Kubernetes authentication is covered against a real
//! kube-apiserver in `tests/`.)

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{KEY, TestServer, at, end, start};
use mirrord_usage_crds::report::PrimaryKey;
use mirrord_usage_server::aggregated::{self, NamedRange, ReportDefinitions};
use mirrord_usage_server::auth::BoxFuture;
use mirrord_usage_server::error::ApiError;
use mirrord_usage_server::server;
use serde_json::{Value, json};

const NOW: &str = "2026-11-20T12:00:00Z";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// One report, `november`: the month of November 2026 by kubernetes username.
#[derive(Debug)]
struct November;

impl ReportDefinitions for November {
    fn resolve<'a>(&'a self, name: &'a str, _: DateTime<Utc>) -> BoxFuture<'a, Result<Option<NamedRange>, ApiError>> {
        Box::pin(async move {
            Ok((name == "november").then(|| NamedRange {
                from: Some(at("2026-11-01T00:00:00Z")),
                to: at("2026-12-01T00:00:00Z"),
                primary_key: PrimaryKey::KubernetesUsername,
            }))
        })
    }
}

fn path(rest: &str) -> String {
    format!("{}/{rest}", aggregated::prefix())
}

async fn server(dir: &tempfile::TempDir) -> TestServer {
    let server = TestServer::start_with(&dir.path().join("usage.db"), NOW, |state| {
        aggregated::routes(state.clone(), Arc::new(November))
            .merge(aggregated::dashboard_routes())
            .merge(server::router(state))
    })
    .await;
    let (status, body) = server
        .post_events(json!([
            start("oct", "2026-10-30T09:00:00Z", "dora"),
            end("oct", "2026-10-30T10:00:00Z"),
            start("a1", "2026-11-02T09:00:00Z", "alice"),
            end("a1", "2026-11-02T10:00:00Z"),
            start("b1", "2026-11-03T09:00:00Z", "bob"),
            end("b1", "2026-11-03T09:30:00Z"),
            start("a2", "2026-11-05T09:00:00Z", "alice"),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    server
}

async fn get_as_table(server: &TestServer, path: &str) -> Value {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .header("x-license-key", KEY)
        .header("accept", TABLE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn discovery_lists_every_resource_and_the_openapi_index_points_at_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let (status, list) = server.get(&aggregated::prefix()).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "APIResourceList");
    assert_eq!(list["groupVersion"], "analytics.mirrord.metalbear.co/v1alpha1");
    assert_eq!(list["resources"].as_array().unwrap().len(), 5);
    let (_, index) = server.get("/openapi/v3").await;
    let url = index["paths"]["apis/analytics.mirrord.metalbear.co/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, document) = server.get(&url).await;
    assert_eq!(status, 200);
    assert!(document["components"]["schemas"].as_object().unwrap().len() > 3);
    server.stop().await;
}

#[tokio::test]
async fn a_named_report_has_its_period_unless_the_query_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let (status, report) = server.get(&path("usagereports/november")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["kind"], "UsageReport");
    assert_eq!(report["metadata"]["name"], "november");
    // a1, b1 and the running a2; the October session is outside.
    assert_eq!(report["generalMetrics"]["userSessions"], 3);
    assert_eq!(
        report["userMetrics"][0]["id"], "alice@corp.example",
        "keyed by kubernetes username"
    );

    let (_, october) = server
        .get(&path(
            "usagereports/november?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&primaryKey=machineId",
        ))
        .await;
    assert_eq!(october["generalMetrics"]["userSessions"], 1);
    assert_eq!(october["userMetrics"][0]["id"], "dora");

    let (_, csv, bytes) = server.get_bytes(&path("usagereports/november?format=csv")).await;
    assert!(csv.starts_with("text/csv"), "{csv}");
    assert!(String::from_utf8(bytes).unwrap().contains("alice@corp.example"));

    let (status, trends) = server.get(&path("usagereports/november/trends?interval=week")).await;
    assert_eq!(status, 200, "{trends}");
    let (status, summary) = server.get(&path("usagereports/november/summary")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["userSessions"], 3);
    assert_eq!(summary["reportPeriod"], report["generalMetrics"]["reportPeriod"]);

    let (status, missing) = server.get(&path("usagereports/december")).await;
    assert_eq!(status, 404);
    assert_eq!(missing["kind"], "Status");
    assert_eq!(missing["reason"], "NotFound");
    assert_eq!(missing["details"]["name"], "december");
    assert!(missing["message"].as_str().unwrap().contains("december"));

    let (status, list) = server.get(&path("usagereports")).await;
    assert_eq!(status, 405);
    assert_eq!(list["reason"], "MethodNotAllowed");

    let (status, bad) = server.get(&path("usagereports/november?from=yesterday")).await;
    assert_eq!(status, 400);
    assert_eq!(bad["reason"], "BadRequest");
    assert!(bad["message"].as_str().unwrap().contains("yesterday"));
    server.stop().await;
}

#[tokio::test]
async fn users_come_as_a_list_or_as_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let (status, users) = server
        .get(&path(
            "mirrordusers?from=2026-11-01T00:00:00Z&primaryKey=clientUsername",
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(users["kind"], "MirrordUserList");
    let names: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users["items"][0]["primaryKey"], "clientUsername");
    assert_eq!(users["items"][0]["sessionCount"], 2, "alice's running session counts");

    let table = get_as_table(&server, &path("mirrordusers")).await;
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["columnDefinitions"][1]["name"], "Sessions");
    assert_eq!(table["rows"].as_array().unwrap().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_without_losing_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let mut names = Vec::new();
    let mut next = path("mirrordsessions?limit=2");
    loop {
        let (status, page) = server.get(&next).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["kind"], "MirrordSessionList");
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => next = path(&format!("mirrordsessions?limit=2&continue={token}")),
            None => break,
        }
    }
    assert_eq!(names, ["a2", "b1", "a1", "oct"]);

    let (_, running) = server.get(&path("mirrordsessions?user=alice")).await;
    let first = &running["items"][0];
    assert_eq!(first["sessionId"], "a2");
    assert_eq!(first["running"], true);
    assert!(first["end"].is_null());
    assert_eq!(first["durationSeconds"], 15.0 * 86_400.0 + 3.0 * 3600.0, "until now");
    assert_eq!(first["metadata"]["creationTimestamp"], "2026-11-05T09:00:00Z");

    let (_, november) = server
        .get(&path(
            "mirrordsessions?from=2026-11-01T00:00:00Z&fieldSelector=namespace%3Dshop",
        ))
        .await;
    assert_eq!(november["items"].as_array().unwrap().len(), 3);

    let table = get_as_table(&server, &path("mirrordsessions?limit=1")).await;
    assert_eq!(table["rows"][0]["cells"][0], "a2");
    assert!(table["rows"][0]["cells"][5].as_str().unwrap().ends_with("(running)"));
    assert!(table["metadata"]["continue"].is_string());

    let (status, expired) = server.get(&path("mirrordsessions?continue=garbage")).await;
    assert_eq!(status, 410);
    assert_eq!(expired["reason"], "Expired");
    server.stop().await;
}

#[tokio::test]
async fn requests_without_credentials_get_an_unauthorized_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let response = reqwest::get(format!("{}{}", server.base, path("mirrordsessions")))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_served_under_the_group_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    // kube-apiserver refuses redirect statuses from aggregated servers: a page sends the browser on.
    let response = reqwest::get(format!("{}{}", server.base, path("dashboard?preset=30d&x=<a>")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let forward = response.text().await.unwrap();
    assert!(
        forward.contains(r#"content="0; url=dashboard/?preset=30d&amp;x=%3Ca%3E""#),
        "{forward}"
    );
    let page = reqwest::get(format!("{}{}", server.base, path("dashboard/")))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    server.stop().await;
}
