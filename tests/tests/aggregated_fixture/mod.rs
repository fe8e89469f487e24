//! What the aggregated API's tests share: a control plane with the CRDs, the shipped roles and
//! users bound to them, the controller serving the aggregated API behind an APIService, and the
//! sessions it holds.
// Each test binary uses its own part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
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

pub(crate) const KEY: &str = "aggregated-test-key";
pub(crate) const NAMESPACE: &str = "mirrord-usage";
pub(crate) const SERVICE: &str = "mirrord-usage";
/// Newest first, as the audit log lists them.
pub(crate) const SESSIONS_NEWEST_FIRST: [&str; 5] = ["s-carol-1", "s-alice-2", "s-ci-1", "s-bob-1", "s-alice-1"];

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

pub(crate) fn group_path(rest: &str) -> String {
    format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}/{rest}")
}

pub(crate) fn start(id: &str, user: &str, namespace: &str, at: &str, ci: bool) -> Event {
    let mut event = json!({"type": "sessionStart", "sessionId": id, "timestamp": at,
        "machineId": format!("m-{user}"), "kubernetesUsername": user, "clientUsername": user,
        "clientHostname": format!("{user}-laptop"), "target": {"kind": "deployment", "name": "api"},
        "namespace": namespace, "cliVersion": "3.160.0", "operatorVersion": "3.120.0"});
    if ci {
        event["ci"] = json!({"provider": "github", "pipeline": "e2e", "environment": "staging", "triggeredBy": "push"});
    }
    serde_json::from_value(event).unwrap()
}

pub(crate) fn end(id: &str, at: &str) -> Event {
    serde_json::from_value(json!({"type": "sessionEnd", "sessionId": id, "timestamp": at})).unwrap()
}

pub(crate) fn history() -> Vec<Event> {
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
pub(crate) struct Fixture {
    pub control_plane: ControlPlane,
    pub admin: Client,
    pub base: String,
    /// Trusts the controller's serving certificate.
    pub ca: TestCa,
    pub controller: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) async fn start(extra: &[&str]) -> Self {
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

    pub(crate) async fn kubectl(&self, user: &str, args: &[&str]) -> std::process::Output {
        let user = if user == "admin" {
            User::admin()
        } else {
            User::named(user)
        };
        self.control_plane.kubectl(&user, args).await.unwrap()
    }

    /// `kubectl get --raw` as `user`: the parsed body, or the error output.
    pub(crate) async fn raw(&self, user: &str, path: &str) -> Result<Value, String> {
        let output = self.kubectl(user, &["get", "--raw", path]).await;
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A client straight to the controller, trusting its certificate, with an optional client
    /// certificate.
    pub(crate) fn direct(&self, identity: Option<&ClientIdentity>) -> reqwest::Client {
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

    pub(crate) async fn token(&self, service_account: &str) -> String {
        access::service_account_token(&self.admin, "default", service_account)
            .await
            .unwrap()
    }

    pub(crate) async fn stop(self) {
        self.controller.abort();
        let _ = self.controller.await;
    }
}

pub(crate) fn path(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

pub(crate) fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Session names in the order a `kubectl get` table printed them.
pub(crate) fn names_in_table(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Median and mean time of `rounds` report requests straight at the server, each with `auth`
/// applied, all answered 200.
pub(crate) async fn report_latency(
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
pub(crate) async fn print_authorization_latency(fixture: &Fixture, token: &str, label: &str) {
    const ROUNDS: usize = 40;
    let (key_p50, key_mean) = report_latency(fixture, ROUNDS, |request| request.header("x-license-key", KEY)).await;
    let (token_p50, token_mean) = report_latency(fixture, ROUNDS, |request| request.bearer_auth(token)).await;
    eprintln!(
        "report request latency ({label}, {ROUNDS} rounds): license key p50 {key_p50:?} mean {key_mean:?}; \
         bearer token p50 {token_p50:?} mean {token_mean:?}"
    );
}
