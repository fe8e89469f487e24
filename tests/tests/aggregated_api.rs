//! The aggregated API `analytics.mirrord.metalbear.co/v1alpha1` behind a real kube-apiserver:
//! registration through an APIService, `kubectl get` tables and paging, who may read what with
//! the shipped ClusterRoles, and which credentials the server accepts when called directly.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, CustomResourceExt};
use mirrord_usage::cli::{Cli, Command};
use mirrord_usage::controller;
use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::rbac::{self, ANALYST_ROLE, AUDITOR_ROLE, INGEST_ROLE, VIEWER_ROLE};
use mirrord_usage_crds::usage_report::MirrordUsageReport;
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_store::clock::ManualClock;
use mirrord_usage_store::{SqliteStore, UsageStore};
use mirrord_usage_tests::access::{self, BindingSubject};
use mirrord_usage_tests::api_service::{self, ApiServiceRegistration};
use mirrord_usage_tests::eventually;
use mirrord_usage_tests::{ClientIdentity, ControlPlane, TestCa, User};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const KEY: &str = "aggregated-test-key";
const NAMESPACE: &str = "mirrord-usage";
const SERVICE: &str = "mirrord-usage";
/// Newest first, as the audit log lists them.
const SESSIONS_NEWEST_FIRST: [&str; 5] = ["s-carol-1", "s-alice-2", "s-ci-1", "s-bob-1", "s-alice-1"];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn group_path(rest: &str) -> String {
    format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}/{rest}")
}

fn start(id: &str, user: &str, namespace: &str, at: &str, ci: bool) -> Event {
    let mut event = json!({"type": "sessionStart", "sessionId": id, "timestamp": at,
        "machineId": format!("m-{user}"), "kubernetesUsername": user, "clientUsername": user,
        "clientHostname": format!("{user}-laptop"), "target": {"kind": "deployment", "name": "api"},
        "namespace": namespace, "cliVersion": "3.160.0", "operatorVersion": "3.120.0"});
    if ci {
        event["ci"] = json!({"provider": "github", "pipeline": "e2e", "environment": "staging", "triggeredBy": "push"});
    }
    serde_json::from_value(event).unwrap()
}

fn end(id: &str, at: &str) -> Event {
    serde_json::from_value(json!({"type": "sessionEnd", "sessionId": id, "timestamp": at})).unwrap()
}

fn history() -> Vec<Event> {
    vec![
        start("s-alice-1", "alice", "shop", "2026-11-02T09:00:00Z", false),
        end("s-alice-1", "2026-11-02T10:00:00Z"),
        start("s-bob-1", "bob", "shop", "2026-11-03T09:00:00Z", false),
        end("s-bob-1", "2026-11-03T09:30:00Z"),
        start("s-ci-1", "ci-bot", "ci", "2026-11-04T08:00:00Z", true),
        end("s-ci-1", "2026-11-04T08:10:00Z"),
        start("s-alice-2", "alice", "shop", "2026-11-05T10:00:00Z", false),
        start("s-carol-1", "carol", "payments", "2026-11-06T10:00:00Z", false),
        end("s-carol-1", "2026-11-06T11:00:00Z"),
    ]
}

/// A control plane with the CRDs, the roles and users bound to them, and the controller serving
/// the aggregated API registered through an APIService.
struct Fixture {
    control_plane: ControlPlane,
    admin: Client,
    base: String,
    /// Trusts the controller's serving certificate.
    ca: TestCa,
    controller: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start(extra: &[&str]) -> Self {
        let control_plane = ControlPlane::start().await.unwrap();
        let admin = control_plane.admin_client();
        control_plane.install_crd(&MirrordUsageReport::crd()).await.unwrap();
        control_plane.install_crd(&MirrordOperator::crd()).await.unwrap();
        access::apply_cluster_roles(&admin, &rbac::cluster_roles(false))
            .await
            .unwrap();
        for (user, role) in [
            ("viewer", VIEWER_ROLE),
            ("analyst", ANALYST_ROLE),
            ("auditor", AUDITOR_ROLE),
        ] {
            access::bind_cluster_role(&admin, &format!("{user}-binding"), role, &BindingSubject::user(user))
                .await
                .unwrap();
            access::bind_cluster_role(
                &admin,
                &format!("{user}-sa-binding"),
                role,
                &BindingSubject::service_account("default", user),
            )
            .await
            .unwrap();
        }
        access::bind_cluster_role(
            &admin,
            "ingest-sa-binding",
            INGEST_ROLE,
            &BindingSubject::service_account("default", "ingest"),
        )
        .await
        .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("mirrord-usage-serving-ca").unwrap();
        let registration_name = format!("{SERVICE}.{NAMESPACE}.svc");
        let serving = ca
            .serving_identity(&[&registration_name, "localhost", "127.0.0.1"])
            .unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, &serving.cert_pem).unwrap();
        std::fs::write(&key, &serving.key_pem).unwrap();

        let db = dir.path().join("usage.db");
        let store = SqliteStore::open(&db).unwrap();
        store.ingest(&history()).unwrap();
        let clock = Arc::new(ManualClock::new(at("2026-11-20T12:00:00Z")));

        let (cert_arg, key_arg) = (path(&cert), path(&key));
        let mut argv = vec![
            "mirrord-usage",
            "controller",
            "--license-key",
            KEY,
            "--operator-poll-interval",
            "0",
            "--tls-cert-file",
            &cert_arg,
            "--tls-private-key-file",
            &key_arg,
        ];
        argv.extend_from_slice(extra);
        let Command::Controller(args) = Cli::parse_from(argv).command else {
            unreachable!("a controller command")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let controller = tokio::spawn(controller::run_with(admin.clone(), store, listener, args, clock));
        let registration = ApiServiceRegistration {
            group: ANALYTICS_GROUP.to_owned(),
            version: ANALYTICS_VERSION.to_owned(),
            namespace: NAMESPACE.to_owned(),
            service: SERVICE.to_owned(),
            port,
            ca_bundle_pem: ca.cert_pem().to_owned(),
        };
        api_service::register_api_service(&admin, &registration).await.unwrap();
        let available =
            api_service::wait_for_api_service_available(&admin, &registration.name(), api_service::AVAILABLE_TIMEOUT)
                .await;
        if let Err(error) = available {
            panic!(
                "the APIService did not become available: {error}\n{}",
                control_plane.log_tails(40)
            );
        }
        // kube-apiserver publishes the group's resources in its own discovery a moment after the
        // APIService turns Available; kubectl get needs them there.
        eventually("the resources in kube-apiserver's discovery", || async {
            let output = control_plane
                .kubectl(&User::admin(), ["api-resources", "--api-group", ANALYTICS_GROUP])
                .await
                .unwrap();
            String::from_utf8_lossy(&output.stdout)
                .contains("mirrordsessions")
                .then_some(())
        })
        .await;
        Fixture {
            control_plane,
            admin,
            base: format!("https://127.0.0.1:{port}"),
            ca,
            controller,
            _dir: dir,
        }
    }

    async fn kubectl(&self, user: &str, args: &[&str]) -> std::process::Output {
        let user = if user == "admin" {
            User::admin()
        } else {
            User::named(user)
        };
        self.control_plane.kubectl(&user, args).await.unwrap()
    }

    /// `kubectl get --raw` as `user`: the parsed body, or the error output.
    async fn raw(&self, user: &str, path: &str) -> Result<Value, String> {
        let output = self.kubectl(user, &["get", "--raw", path]).await;
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A client straight to the controller, trusting its certificate, with an optional client
    /// certificate.
    fn direct(&self, identity: Option<&ClientIdentity>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap());
        if let Some(identity) = identity {
            let pem = format!("{}\n{}", identity.cert_pem, identity.key_pem);
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    async fn token(&self, service_account: &str) -> String {
        access::service_account_token(&self.admin, "default", service_account)
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.controller.abort();
        let _ = self.controller.await;
    }
}

fn path(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Session names in the order a `kubectl get` table printed them.
fn names_in_table(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

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

/// Median and mean time of `rounds` report requests straight at the server, each with `auth`
/// applied, all answered 200.
async fn report_latency(
    fixture: &Fixture,
    rounds: usize,
    auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (Duration, Duration) {
    let client = fixture.direct(None);
    let url = format!("{}{}", fixture.base, group_path("usagereports/all-time"));
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let response = auth(client.get(&url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / rounds as u32;
    (times[rounds / 2], mean)
}

/// Prints what authorization adds to a report request, against the license key (which needs no
/// review), for the figures in BENCHMARKS.md.
async fn print_authorization_latency(fixture: &Fixture, token: &str, label: &str) {
    const ROUNDS: usize = 40;
    let (key_p50, key_mean) = report_latency(fixture, ROUNDS, |request| request.header("x-license-key", KEY)).await;
    let (token_p50, token_mean) = report_latency(fixture, ROUNDS, |request| request.bearer_auth(token)).await;
    eprintln!(
        "report request latency ({label}, {ROUNDS} rounds): license key p50 {key_p50:?} mean {key_mean:?}; \
         bearer token p50 {token_p50:?} mean {token_mean:?}"
    );
}
