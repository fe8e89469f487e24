//! `mirrord-usage controller`: the store and HTTP server of `serve`, plus the report controller
//! and the session source reading the mirrord operator, against a Kubernetes cluster.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Api;
use kube::api::ListParams;
use mirrord_usage_crds::usage_report::{CRD_FILE, MirrordUsageReport};
use mirrord_usage_server::aggregated;
use mirrord_usage_server::auth::{Auth, Authenticator, FrontProxy, LicenseKey};
use mirrord_usage_server::server::{self, AppState};
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::tls::{self, CertificateSource, ServingCertificate};
use mirrord_usage_server::usage::Usage;
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::{Clock, SystemClock};

use crate::cli::ControllerArgs;
use crate::delegated_auth::{self, AccessReviewer, ReportLookup, TokenReviewer};
use crate::lease::{LeaderLease, holder_identity};
use crate::reconciler::{self, Context};
use crate::serve;
use crate::session_sources::{self, SourceSettings};

pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let store = serve::open_store(args.serve.db.clone()).await?;
    let listener = serve::bind(args.serve.listen).await?;
    let client = kube::Client::try_default()
        .await
        .context("could not set up a Kubernetes client: set KUBECONFIG, or run mirrord-usage in a cluster")?;
    run_with(client, store, listener, args, Arc::new(SystemClock)).await
}

/// Everything but the process-wide setup, so tests can run it with their own client and clock.
pub async fn run_with(
    client: kube::Client,
    store: SqliteStore,
    listener: tokio::net::TcpListener,
    args: ControllerArgs,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    // Before anything else, so a wrong certificate path fails at once.
    let certificate = serving_certificate(&args)?;
    let reports: Api<MirrordUsageReport> = Api::all(client.clone());
    if let Err(error) = reports.list(&ListParams::default().limit(1)).await {
        bail!(
            "cannot list MirrordUsageReports ({error}); is the CRD installed? \
             kubectl apply --server-side -f {CRD_FILE}"
        );
    }
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".to_owned());
    let lease = LeaderLease::new(
        client.clone(),
        &namespace,
        holder_identity(),
        Duration::from_secs(args.lease_duration),
    );
    lease.acquire().await?;
    // Renew from now on: startup below must not let the lease expire.
    let mut keeper = {
        let lease = lease.clone();
        AbortOnDrop(tokio::spawn(async move { lease.keep().await }))
    };
    if args.default_reports {
        reconciler::create_default_reports(&client)
            .await
            .context("could not create the default reports")?;
    }
    let mut tasks = tokio::task::JoinSet::new();
    let (front_proxy, front_proxy_config) = FrontProxy::new();
    tasks.spawn(delegated_auth::follow_request_header_config(
        client.clone(),
        front_proxy_config,
    ));
    let auth = authentication(&client, &args, front_proxy);
    let usage = Usage::new(
        Arc::new(store),
        args.serve.installation.clone().into(),
        clock,
        Arc::new(Metrics::default()),
    );
    let stored = usage.subscribe();
    let state = AppState {
        usage: usage.clone(),
        auth,
    };
    let ctx = Arc::new(Context::new(client.clone(), usage.clone()));

    if args.operator_poll_interval > 0 {
        tasks.spawn(session_sources::run(
            client.clone(),
            usage.clone(),
            SourceSettings {
                poll_interval: Duration::from_secs(args.operator_poll_interval),
                ci_users: args.ci_kubernetes_users.clone(),
            },
        ));
    }
    if let Some(retention) = serve::start_retention(&usage, args.serve.retention).await? {
        tasks.spawn(retention);
    }
    tasks.spawn(reconciler::run(
        ctx,
        stored,
        Duration::from_secs(args.report_trigger_interval),
    ));
    let served = tokio::select! {
        served = serve_tls(listener, state, ReportLookup::new(client.clone()), certificate) => served,
        lost = &mut keeper.0 => Err(match lost {
            Ok(lost) => anyhow::anyhow!("stopping: {lost}"),
            Err(error) => anyhow::anyhow!("the lease keeper failed: {error}"),
        }),
    };
    tasks.shutdown().await;
    let closed = serve::close_store(&usage).await;
    lease.release().await;
    served.and(closed)
}

/// The certificate files given, else a self-signed pair for `--tls-san`.
fn serving_certificate(args: &ControllerArgs) -> anyhow::Result<ServingCertificate> {
    let source = match (&args.tls.cert_file, &args.tls.private_key_file) {
        (Some(cert), Some(key)) => CertificateSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        (None, None) => CertificateSource::SelfSigned {
            names: args.tls.san.clone(),
        },
        _ => bail!(
            "--tls-cert-file and --tls-private-key-file go together: pass both, or neither for a self-signed pair"
        ),
    };
    Ok(ServingCertificate::load(source)?)
}

/// Kubernetes identities (from kube-apiserver as front proxy, or bearer tokens), plus the license
/// key when one is set; permissions from SubjectAccessReviews.
fn authentication(client: &kube::Client, args: &ControllerArgs, front_proxy: FrontProxy) -> Auth {
    let mut authenticators: Vec<Arc<dyn Authenticator>> = vec![
        Arc::new(front_proxy),
        Arc::new(TokenReviewer::new(
            client.clone(),
            Duration::from_secs(args.authentication_cache_ttl),
        )),
    ];
    if let Some(key) = args.serve.license_key.clone().filter(|key| !key.is_empty()) {
        authenticators.push(Arc::new(LicenseKey::new(key)));
    }
    Auth::new(
        authenticators,
        Arc::new(AccessReviewer::new(
            client.clone(),
            Duration::from_secs(args.authorization_cache_ttl),
        )),
    )
}

/// Serves the plain API, the aggregated API and the dashboard over HTTPS until SIGINT or SIGTERM.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    reports: ReportLookup,
    certificate: ServingCertificate,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let router = aggregated::routes(state.clone(), Arc::new(reports))
        .merge(aggregated::dashboard_routes())
        .merge(server::router(state));
    // Scripts and tests wait for this line.
    println!("listening on https://{addr}");
    tracing::info!(%addr, "serving");
    tls::serve_tls(listener, router, certificate, serve::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Stops a background task when whatever started it goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
