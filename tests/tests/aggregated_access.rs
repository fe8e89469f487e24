//! Who may read the aggregated API behind a real kube-apiserver: the shipped ClusterRoles, and
//! which credentials the server accepts when called directly.

mod aggregated_fixture;

use aggregated_fixture::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use mirrord_usage_tests::{TestCa, User, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_shipped_roles_decide_who_reads_what() {
    // Nothing cached: every request is reviewed anew, so the decisions below are the cluster's.
    let fixture = Fixture::start(&["--authentication-cache-ttl", "0", "--authorization-cache-ttl", "0"]).await;
    let report = group_path("usagereports/all-time");
    let users = group_path("mirrordusers");
    let sessions = group_path("mirrordsessions");
    eventually("the all-time report", || async {
        fixture.raw("admin", &report).await.ok()
    })
    .await;

    for path in [&report, &users, &sessions] {
        let refused = fixture.raw("nobody", path).await.unwrap_err();
        assert!(
            refused.contains("Forbidden") || refused.contains("forbidden"),
            "{path}: {refused}"
        );
    }

    let summary = format!("{report}/summary");
    assert!(fixture.raw("nobody", &summary).await.unwrap_err().contains("orbidden"));
    assert_eq!(fixture.raw("viewer", &summary).await.unwrap()["userSessions"], 4);

    let seen = fixture.raw("viewer", &report).await.unwrap();
    assert!(seen.get("userMetrics").is_none(), "{seen}");
    assert!(
        seen["userMetricsOmitted"].as_str().unwrap().contains("mirrordusers"),
        "{seen}"
    );
    assert_eq!(seen["generalMetrics"]["userSessions"], 4);
    assert!(fixture.raw("viewer", &users).await.unwrap_err().contains("orbidden"));
    assert!(fixture.raw("viewer", &sessions).await.unwrap_err().contains("orbidden"));

    let seen = fixture.raw("analyst", &report).await.unwrap();
    assert_eq!(seen["userMetrics"].as_array().unwrap().len(), 3);
    assert_eq!(
        fixture.raw("analyst", &users).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        fixture
            .raw("analyst", &sessions)
            .await
            .unwrap_err()
            .contains("orbidden")
    );

    assert_eq!(
        fixture.raw("auditor", &report).await.unwrap()["userMetrics"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        fixture.raw("auditor", &users).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        fixture.raw("auditor", &sessions).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // The same decisions straight at the server with a bearer token.
    let direct = fixture.direct(None);
    let get = |path: String, token: String| {
        let request = direct.get(format!("{}{path}", fixture.base)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let nobody = fixture.token("nobody").await;
    for path in [&report, &users, &sessions, &"/api/v1/reports/usage".to_owned()] {
        let response = get(path.clone(), nobody.clone()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = response.json().await.unwrap();
        if path.starts_with("/apis/") {
            assert_eq!(body["kind"], "Status", "{body}");
            assert_eq!(body["reason"], "Forbidden");
        }
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("system:serviceaccount:default:nobody"), "{message}");
    }
    let viewer = fixture.token("viewer").await;
    let seen: Value = get(report.clone(), viewer.clone()).await.json().await.unwrap();
    assert!(
        seen.get("userMetrics").is_none() && seen["generalMetrics"]["userSessions"] == 4,
        "{seen}"
    );
    let plain: Value = get("/api/v1/reports/usage".to_owned(), viewer.clone())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        plain.get("userMetrics").is_none() && plain.get("userMetricsOmitted").is_some(),
        "{plain}"
    );
    assert_eq!(get(sessions.clone(), viewer).await.status(), StatusCode::FORBIDDEN);
    let auditor = fixture.token("auditor").await;
    assert_eq!(get(sessions.clone(), auditor).await.status(), StatusCode::OK);
    assert_eq!(
        get(report.clone(), "not-a-token".to_owned()).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Sending events needs the ingest role, whatever else one may read.
    let post = |token: String| {
        let request = direct
            .post(format!("{}/api/v1/events", fixture.base))
            .bearer_auth(token)
            .json(&json!({"events": [{"type": "sessionEnd", "sessionId": "s-alice-2", "timestamp": "2026-11-05T11:00:00Z"}]}));
        async move { request.send().await.unwrap().status() }
    };
    let auditor = fixture.token("auditor").await;
    assert_eq!(post(auditor.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(post(fixture.token("ingest").await).await, StatusCode::OK);

    print_authorization_latency(&fixture, &auditor, "no review cached").await;

    fixture.stop().await;
}

#[tokio::test]
async fn only_kube_apiserver_may_say_who_is_calling() {
    let fixture = Fixture::start(&[]).await;
    let url = format!("{}{}", fixture.base, group_path("mirrordsessions"));
    let as_admin = |client: &reqwest::Client| {
        client
            .get(&url)
            .header("X-Remote-User", "admin")
            .header("X-Remote-Group", "system:masters")
    };

    // Forged headers without a certificate, or with one from another CA, prove nothing.
    let forged = as_admin(&fixture.direct(None)).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let status: Value = forged.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    let foreign_ca = TestCa::new("not-the-front-proxy-ca").unwrap();
    let foreign = foreign_ca
        .client_identity(&User::named(mirrord_usage_tests::pki::FRONT_PROXY_CLIENT))
        .unwrap();
    let response = as_admin(&fixture.direct(Some(&foreign))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // kube-apiserver's own front-proxy certificate is trusted (once the ConfigMap is read).
    let front_proxy = fixture.control_plane.pki().front_proxy_identity().clone();
    let trusted = fixture.direct(Some(&front_proxy));
    eventually("the front-proxy certificate to be trusted", || async {
        (as_admin(&trusted).send().await.unwrap().status() == StatusCode::OK).then_some(())
    })
    .await;

    // A new CA in the ConfigMap is trusted without a restart.
    let rotated_ca = TestCa::new("rotated-front-proxy-ca").unwrap();
    let rotated = rotated_ca
        .client_identity(&User::named(mirrord_usage_tests::pki::FRONT_PROXY_CLIENT))
        .unwrap();
    let rotated_client = fixture.direct(Some(&rotated));
    assert_eq!(
        as_admin(&rotated_client).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.admin.clone(), "kube-system");
    config_maps
        .patch(
            "extension-apiserver-authentication",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"requestheader-client-ca-file": rotated_ca.cert_pem()}})),
        )
        .await
        .unwrap();
    eventually("the rotated CA to be trusted", || async {
        (as_admin(&rotated_client).send().await.unwrap().status() == StatusCode::OK).then_some(())
    })
    .await;

    // The license key still works for scripts.
    let keyed = fixture
        .direct(None)
        .get(format!("{}/api/v1/reports/usage", fixture.base))
        .header("x-license-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::OK);

    fixture.stop().await;
}
