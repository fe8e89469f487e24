//! The plain HTTP API on a real server and a real SQLite file: reports, errors, auth.

mod common;

use common::{TestServer, history, temp_db};
use serde_json::{Value, json};

const NOW: &str = "2026-11-20T12:00:00Z";

#[tokio::test]
async fn ingested_sessions_show_up_in_the_report_with_exact_numbers() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    let (status, body) = server.post_events(history()).await;
    assert_eq!((status, body), (200, json!({"accepted": 11, "duplicates": 0})));

    let (status, report) = server
        .get("/api/v1/reports/usage?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    assert_eq!(status, 200, "{report}");
    let general = &report["generalMetrics"];
    assert_eq!(general["totalLicenses"], 25);
    assert_eq!(general["tier"], "Enterprise");
    assert_eq!(general["activeUsers"], 2);
    assert_eq!(general["activeUserSessions"], 1);
    assert_eq!(general["licensesUsed"], 2);
    assert_eq!(general["license"], Value::Null, "no operator has reported a license");
    assert_eq!(general["userSessions"], 4);
    assert_eq!(general["userSessionTimeSeconds"], 3.0 * 3600.0 + 15.0 * 60.0 + 3600.0);
    assert_eq!(general["operatorVersion"], "3.120.0");
    assert_eq!(general["lastOperatorEvent"], "2026-11-20T11:00:00Z");
    assert_eq!(
        general["reportPeriod"],
        json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    );

    let all_time = &report["allTimeMetrics"];
    assert_eq!(all_time["totalSessionCount"], 5);
    // 1h + 2h + 15m + 10m completed, and the running one for 1h until now.
    assert_eq!(all_time["totalSessionTimeSeconds"], 3600.0 * 4.0 + 25.0 * 60.0);
    assert_eq!(all_time["totalCiSessionCount"], 1);
    assert_eq!(all_time["maxConcurrentUserSessions"], 2);
    assert_eq!(all_time["firstSessionAt"], "2026-10-15T09:00:00Z");

    assert_eq!(
        report["ciMetrics"],
        json!({
            "currentRunningSessions": 0, "maxConcurrentCiSessions": 1, "totalCiSessions": 1,
            "avgCiSessionDurationSeconds": 1200.0
        })
    );

    let users = report["userMetrics"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["id"], "alice");
    assert_eq!(users[0]["sessionCount"], 2);
    assert_eq!(users[0]["totalSessionTimeSeconds"], 3.0 * 3600.0);
    assert_eq!(users[0]["avgDailySessions"], 2.0 / 30.0);
    assert_eq!(users[0]["kubernetesUsername"], "alice@corp.example");
    assert_eq!(users[1]["id"], "bob");
    assert_eq!(users[1]["sessionCount"], 2);
    assert_eq!(users[1]["lastSession"], "2026-11-20T11:00:00Z");
    assert_eq!(report["targetMetrics"][0]["uniqueUsers"], 2);
    assert_eq!(report["targetMetrics"][0]["sessionCount"], 4);
    server.stop().await;
}

#[tokio::test]
async fn the_default_range_runs_from_the_first_session_to_now() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    let (_, empty) = server.get("/api/v1/reports/usage").await;
    assert_eq!(empty["generalMetrics"]["reportPeriod"], json!({"from": NOW, "to": NOW}));
    assert_eq!(empty["userMetrics"], json!([]));
    assert_eq!(empty["allTimeMetrics"]["firstSessionAt"], Value::Null);

    server.post_events(history()).await;
    let (_, report) = server.get("/api/v1/reports/usage?format=json").await;
    assert_eq!(report["generalMetrics"]["reportPeriod"]["from"], "2026-10-15T09:00:00Z");
    assert_eq!(report["generalMetrics"]["activeUsers"], 3);
    server.stop().await;
}

#[tokio::test]
async fn requests_without_the_right_license_key_get_401_json() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    for (key, hint) in [(None, "x-license-key"), (Some("wrong"), "does not match")] {
        for path in ["/api/v1/reports/usage", "/api/v1/reports/usage/trends", "/api/v1/nope"] {
            let mut request = server.client.get(format!("{}{path}", server.base));
            if let Some(key) = key {
                request = request.header("x-license-key", key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
            assert!(body["message"].as_str().unwrap().contains(hint), "{body}");
            assert!(body["details"].is_array());
        }
    }
    let response = server
        .client
        .post(format!("{}/api/v1/events", server.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = server.get("/api/v1/nope").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn bad_report_parameters_get_400_naming_the_value() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    for (query, fragment) in [
        ("from=2026-11-02&to=2026-11-03T00:00:00Z", "'2026-11-02'"),
        (
            "from=2026-11-03T00:00:00Z&to=2026-11-03T00:00:00Z",
            "must be earlier than",
        ),
        ("from=2026-12-01T00:00:00Z", "must be earlier than"),
        ("primaryKey=email", "'email'"),
        ("format=pdf", "'pdf'"),
    ] {
        let (status, body) = server.get(&format!("/api/v1/reports/usage?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["message"].as_str().unwrap().contains(fragment), "{query}: {body}");
    }
    let (status, body) = server.get("/api/v1/reports/usage/trends?interval=hour").await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("'hour'"));
    let (status, body) = server
        .get("/api/v1/reports/usage/trends?from=1990-01-01T00:00:00Z&interval=day")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "too_many_buckets");
    server.stop().await;
}

#[tokio::test]
async fn csv_and_xlsx_hold_the_per_user_table() {
    use calamine::{Reader, Xlsx};

    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    let range = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

    let (status, content_type, body) = server
        .get_bytes(&format!("/api/v1/reports/usage?format=csv&{range}"))
        .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(body.as_slice());
    assert_eq!(reader.headers().unwrap().get(0), Some("machineId"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((&rows[0][0], &rows[0][6], &rows[0][7]), ("alice", "2", "10800"));

    let (status, content_type, body) = server
        .get_bytes(&format!(
            "/api/v1/reports/usage?format=xlsx&primaryKey=clientHostname&{range}"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(content_type.contains("spreadsheetml"));
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(body)).unwrap();
    assert_eq!(workbook.sheet_names(), ["General", "Users"]);
    let users = workbook.worksheet_range("Users").unwrap();
    assert_eq!(users.get_value((0, 0)).unwrap().to_string(), "clientHostname");
    assert_eq!(users.get_value((1, 0)).unwrap().to_string(), "alice-laptop");
    assert_eq!(users.get_value((1, 6)).unwrap().to_string(), "2");
    let general = workbook.worksheet_range("General").unwrap();
    let active = general.rows().find(|row| row[0] == "Active users").unwrap();
    assert_eq!(active[1].to_string(), "2");
    server.stop().await;
}

#[tokio::test]
async fn trends_cover_every_bucket_of_the_range() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    let (status, body) = server
        .get("/api/v1/reports/usage/trends?from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z&interval=day")
        .await;
    assert_eq!(status, 200, "{body}");
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 7);
    assert_eq!(
        buckets[1],
        json!({"start": "2026-11-02T00:00:00Z", "userSessions": 2, "ciSessions": 0,
        "sessionTimeSeconds": 4500.0, "activeUsers": 2, "newUsers": 2})
    );
    assert_eq!(buckets[3]["ciSessions"], 1);

    let (_, weekly) = server
        .get("/api/v1/reports/usage/trends?interval=week&primaryKey=kubernetesUsername")
        .await;
    let weeks = weekly["buckets"].as_array().unwrap();
    assert_eq!(weeks.first().unwrap()["start"], "2026-10-12T00:00:00Z");
    assert_eq!(weeks.last().unwrap()["start"], "2026-11-16T00:00:00Z");
    let total: u64 = weeks.iter().map(|w| w["userSessions"].as_u64().unwrap()).sum();
    assert_eq!(total, 5);
    server.stop().await;
}

#[tokio::test]
async fn the_summary_of_a_range_is_the_reports_figures_without_rows() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    for range in [
        "from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z",
        "from=2026-10-01T00:00:00Z&primaryKey=kubernetesUsername",
        "from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z",
    ] {
        let (status, summary) = server.get(&format!("/api/v1/reports/usage/summary?{range}")).await;
        assert_eq!(status, 200, "{summary}");
        let (_, report) = server.get(&format!("/api/v1/reports/usage?{range}")).await;
        let general = &report["generalMetrics"];
        assert_eq!(
            summary,
            json!({
                "reportPeriod": general["reportPeriod"],
                "activeUsers": general["activeUsers"],
                "licensesUsed": general["licensesUsed"],
                "userSessions": general["userSessions"],
                "userSessionTimeSeconds": general["userSessionTimeSeconds"],
                "ciSessions": report["ciMetrics"]["totalCiSessions"],
            }),
            "{range}"
        );
    }
    let (status, body) = server
        .get("/api/v1/reports/usage/summary?from=2026-11-08T00:00:00Z&to=2026-11-01T00:00:00Z")
        .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_session_log_pages_through_the_sessions_newest_first_with_filters() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sessionId"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, first) = server.get("/api/v1/reports/usage/sessions?limit=4").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "MirrordSessionList");
    assert_eq!(ids(&first), ["run", "ci1", "a2", "b1"]);
    assert_eq!(first["items"][0]["running"], true);
    let token = first["metadata"]["continue"].as_str().unwrap();
    let (_, second) = server
        .get(&format!("/api/v1/reports/usage/sessions?limit=4&continue={token}"))
        .await;
    assert_eq!(ids(&second), ["a1", "c1"]);
    assert!(
        second["metadata"].get("continue").is_none_or(Value::is_null),
        "{second}"
    );

    let (_, alice) = server
        .get("/api/v1/reports/usage/sessions?user=alice&from=2026-11-03T00:00:00Z")
        .await;
    assert_eq!(ids(&alice), ["a2"]);
    let (_, ci) = server.get("/api/v1/reports/usage/sessions?ci=true").await;
    assert_eq!(ids(&ci), ["ci1"]);
    let (status, bad) = server.get("/api/v1/reports/usage/sessions?ci=maybe").await;
    assert_eq!(status, 400, "{bad}");
    server.stop().await;
}

#[tokio::test]
async fn inactive_days_keep_the_machines_idle_that_long_longest_idle_first_in_every_format() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    server.post_events(history()).await;
    let ids = |report: &Value| -> Vec<String> {
        report["userMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, ten) = server.get("/api/v1/reports/usage?inactiveDays=10").await;
    assert_eq!(status, 200, "{ten}");
    assert_eq!(ids(&ten), ["carol", "alice"]);
    let (_, thirty) = server.get("/api/v1/reports/usage?inactiveDays=30").await;
    assert_eq!(ids(&thirty), ["carol"]);
    assert_eq!(
        thirty["generalMetrics"], ten["generalMetrics"],
        "the range's figures stay whole"
    );

    let (_, _, csv) = server
        .get_bytes("/api/v1/reports/usage?inactiveDays=30&format=csv")
        .await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("carol") && !csv.contains("alice"), "{csv}");
    let (_, _, xlsx) = server
        .get_bytes("/api/v1/reports/usage?inactiveDays=30&format=xlsx")
        .await;
    assert_eq!(&xlsx[..2], b"PK");

    for bad in ["0", "-1", "ten", "3651"] {
        let (status, body) = server.get(&format!("/api/v1/reports/usage?inactiveDays={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(bad), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn health_openapi_and_dashboard_are_served_without_a_key() {
    let (_dir, db) = temp_db();
    let server = TestServer::start(&db, NOW).await;
    for path in ["/healthz", "/readyz"] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let document: Value = server
        .client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/events",
        "/api/v1/reports/usage",
        "/api/v1/reports/usage/trends",
    ] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
    assert!(document["components"]["schemas"]["UsageReport"]["properties"]["generalMetrics"].is_object());

    let page = server.client.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let deep = server
        .client
        .get(format!("{}/some/view", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200, "app URLs fall back to the page");
    let missing = server
        .client
        .get(format!("{}/missing.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    server.stop().await;
}
