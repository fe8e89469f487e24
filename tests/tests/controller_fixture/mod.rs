//! A controller running in this process against a real kube-apiserver, and a stand-in for the
//! mirrord operator's summary: shared by the controller's and the session records' tests.
// Each test binary uses its own part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kube::Client;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use mirrord_usage::cli::{Cli, Command};
use mirrord_usage::controller;
use mirrord_usage_crds::operator::{MirrordOperator, MirrordOperatorSpec, OperatorLicense};
use mirrord_usage_crds::usage_report::MirrordUsageReport;
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::Clock;
use mirrord_usage_tests::{ControlPlane, TestCa};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) const KEY: &str = "controller-test-key";

/// A controller running in this process, over `db`, against the control plane.
pub(crate) struct RunningController {
    pub base: String,
    /// Trusts the controller's serving certificate.
    pub http: reqwest::Client,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningController {
    /// Starts it, reading the operator every `poll_seconds` ("0": never).
    pub(crate) async fn start(client: Client, db: &Path, clock: Arc<dyn Clock>, poll_seconds: &str) -> Self {
        Self::start_with(client, db, clock, poll_seconds, &[]).await
    }

    pub(crate) async fn start_with(
        client: Client,
        db: &Path,
        clock: Arc<dyn Clock>,
        poll_seconds: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_on(
            &tokio::runtime::Handle::current(),
            client,
            db,
            clock,
            poll_seconds,
            extra,
        )
        .await
    }

    /// Starts it on `runtime` (e.g. one of its own, to measure its threads alone).
    pub(crate) async fn start_on(
        runtime: &tokio::runtime::Handle,
        client: Client,
        db: &Path,
        clock: Arc<dyn Clock>,
        poll_seconds: &str,
        extra: &[&str],
    ) -> Self {
        let mut argv = vec![
            "mirrord-usage",
            "controller",
            "--license-key",
            KEY,
            "--licenses",
            "1",
            "--operator-poll-interval",
            poll_seconds,
            "--report-trigger-interval",
            "1",
        ];
        // A serving certificate beside the database, from a CA only this client trusts.
        let ca = TestCa::new("controller-test-serving-ca").unwrap();
        let serving = ca.serving_identity(&["localhost", "127.0.0.1"]).unwrap();
        let cert = db.with_extension("crt");
        let key = db.with_extension("key");
        std::fs::write(&cert, &serving.cert_pem).unwrap();
        std::fs::write(&key, &serving.key_pem).unwrap();
        let (cert, key) = (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned());
        argv.extend_from_slice(&["--tls-cert-file", &cert, "--tls-private-key-file", &key]);
        argv.extend_from_slice(extra);
        let Command::Controller(args) = Cli::parse_from(argv).command else {
            unreachable!("a controller command")
        };
        let store = SqliteStore::open(db).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let listener = listener.into_std().unwrap();
        let task = runtime.spawn(async move {
            let listener = TcpListener::from_std(listener)?;
            controller::run_with(client, store, listener, args, clock).await
        });
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
            .build()
            .unwrap();
        RunningController { base, http, task }
    }

    /// Whether it answers HTTP within a second.
    pub(crate) async fn answers(&self) -> bool {
        self.http
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    pub(crate) async fn report(&self) -> Value {
        self.http
            .get(format!("{}/api/v1/reports/usage", self.base))
            .header("x-license-key", KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub(crate) async fn install_crds(control_plane: &ControlPlane) {
    control_plane.install_crd(&MirrordUsageReport::crd()).await.unwrap();
    control_plane.install_crd(&MirrordOperator::crd()).await.unwrap();
}

pub(crate) fn operator_session(id: &str, user: &str, machine: &str, duration: u64) -> Value {
    json!({"id": id, "duration_secs": duration, "user": format!("{user}/{user}@corp.example@{user}-mbp"),
           "user_id": machine, "target": "Deployment/api/container/app", "namespace": "shop",
           "locked_ports": [], "sqs": null})
}

pub(crate) async fn show_operator(api: &Api<MirrordOperator>, sessions: Value) {
    if api.get_opt("operator").await.unwrap().is_none() {
        let spec = MirrordOperatorSpec {
            operator_version: Some("3.120.0".into()),
            license: Some(OperatorLicense {
                name: Some("Enterprise".into()),
                organization: Some("Acme".into()),
                expire_at: Some("2027-06-30".into()),
                subscription_id: None,
            }),
            ..MirrordOperatorSpec::default()
        };
        api.create(&PostParams::default(), &MirrordOperator::new("operator", spec))
            .await
            .unwrap();
    }
    let status = json!({"status": {"sessions": sessions}});
    api.patch_status("operator", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}
