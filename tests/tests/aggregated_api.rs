//! The aggregated API `analytics.mirrord.metalbear.co/v1alpha1` behind a real kube-apiserver:
//! registration through an APIService, and `kubectl get` tables and paging.

mod aggregated_fixture;

use aggregated_fixture::*;
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_tests::eventually;
use serde_json::Value;

#[tokio::test]
async fn kubectl_reads_reports_users_and_the_session_audit_log_through_kube_apiserver() {
    let fixture = Fixture::start(&[]).await;

    // Discovery.
    let resources = fixture
        .raw("admin", &format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}"))
        .await
        .unwrap();
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource["name"].as_str().unwrap())
        .collect();
    for expected in ["usagereports", "mirrordusers", "mirrordsessions"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from discovery: {names:?}"
        );
    }

    // A report by name; the MirrordUsageReport "all-time" is created by the controller.
    let report = eventually("the all-time report", || async {
        fixture.raw("admin", &group_path("usagereports/all-time")).await.ok()
    })
    .await;
    assert_eq!(report["kind"], "UsageReport");
    assert_eq!(report["metadata"]["name"], "all-time");
    // Alice's two (one running), Bob's and Carol's; the CI session is counted apart.
    assert_eq!(report["generalMetrics"]["userSessions"], 4, "{report}");
    assert_eq!(report["ciMetrics"]["totalCiSessions"], 1, "{report}");
    assert_eq!(report["userMetrics"].as_array().unwrap().len(), 3);

    // Query parameters override the report's period and primary key.
    let narrowed = fixture
        .raw(
            "admin",
            &group_path(
                "usagereports/all-time?from=2026-11-03T00:00:00Z&to=2026-11-04T00:00:00Z&primaryKey=kubernetesUsername",
            ),
        )
        .await
        .unwrap();
    assert_eq!(narrowed["generalMetrics"]["userSessions"], 1, "{narrowed}");
    assert_eq!(narrowed["userMetrics"][0]["id"], "bob");

    // An unknown report is a NotFound Status that kubectl prints.
    let missing = fixture
        .raw("admin", &group_path("usagereports/nope"))
        .await
        .unwrap_err();
    assert!(
        missing.contains("NotFound") || missing.contains("not found"),
        "{missing}"
    );
    let status: Value = serde_json::from_slice(
        &fixture
            .direct(None)
            .get(format!("{}{}", fixture.base, group_path("usagereports/nope")))
            .header("x-license-key", KEY)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);

    // kubectl get prints the server's columns, newest session first.
    let table = stdout(&fixture.kubectl("admin", &["get", "mirrordsessions"]).await);
    let header = table.lines().next().unwrap();
    for column in [
        "NAME",
        "USER",
        "TARGET",
        "NAMESPACE",
        "STARTED",
        "DURATION",
        "CI",
        "CLOSED",
        "CLI",
    ] {
        assert!(header.contains(column), "no {column} column in {header}");
    }
    assert_eq!(names_in_table(&table), SESSIONS_NEWEST_FIRST);
    assert!(table.contains("deployment/api"), "{table}");
    assert!(table.contains("(running)"), "{table}");

    // Paged by kubectl itself, through kube-apiserver.
    let paged = stdout(
        &fixture
            .kubectl("admin", &["get", "mirrordsessions", "--chunk-size=2"])
            .await,
    );
    assert_eq!(names_in_table(&paged), SESSIONS_NEWEST_FIRST);

    // Paged by hand with limit and continue.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = group_path("mirrordsessions?limit=2");
        if let Some(token) = &token {
            path.push_str(&format!("&continue={token}"));
        }
        let page = fixture.raw("admin", &path).await.unwrap();
        assert_eq!(page["kind"], "MirrordSessionList");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, SESSIONS_NEWEST_FIRST);

    // Filters: field selectors from kubectl, query parameters through --raw.
    let ci = stdout(
        &fixture
            .kubectl("admin", &["get", "mirrordsessions", "--field-selector", "ci=true"])
            .await,
    );
    assert_eq!(names_in_table(&ci), ["s-ci-1"]);
    let alice = fixture
        .raw("admin", &group_path("mirrordsessions?user=alice&namespace=shop"))
        .await
        .unwrap();
    let alice: Vec<&str> = alice["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(alice, ["s-alice-2", "s-alice-1"]);

    // -o json is the plain list, with every audit field.
    let json: Value = serde_json::from_str(&stdout(
        &fixture
            .kubectl("admin", &["get", "mirrordsessions", "-o", "json"])
            .await,
    ))
    .unwrap();
    let ci_session = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["sessionId"] == "s-ci-1")
        .unwrap();
    assert_eq!(ci_session["ci"]["provider"], "github");
    assert_eq!(ci_session["cliVersion"], "3.160.0");
    assert_eq!(ci_session["durationSeconds"], 600.0);
    assert_eq!(ci_session["running"], false);

    let users = stdout(&fixture.kubectl("admin", &["get", "mirrordusers"]).await);
    assert!(users.lines().next().unwrap().contains("SESSIONS"), "{users}");
    assert_eq!(users.lines().count(), 4, "{users}");

    // The OpenAPI document reaches kubectl explain.
    // kube-apiserver collects the document from the server a few seconds after registration.
    let explained = eventually("kubectl explain", || async {
        let output = fixture.kubectl("admin", &["explain", "mirrordsessions"]).await;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    })
    .await;
    assert!(explained.contains("MirrordSession"), "{explained}");
    assert!(explained.contains("sessionId"), "{explained}");

    let auditor = fixture.token("auditor").await;
    print_authorization_latency(&fixture, &auditor, "reviews cached for 10 s").await;

    fixture.stop().await;
}
