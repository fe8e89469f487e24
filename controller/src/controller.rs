//! `mirrord-usage controller`: the store and HTTP server of `serve`, plus the report controller
//! and the session source reading the mirrord operator, against a Kubernetes cluster.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Api;
use kube::api::ListParams;
use mirrord_usage_api::auth::Auth;
use mirrord_usage_api::clock::{Clock, SystemClock};
use mirrord_usage_api::server::AppState;
use mirrord_usage_api::store::{SqliteStore, UsageStore};
use mirrord_usage_api::telemetry::{MeasuredStore, Metrics};
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::usage_report::{CRD_FILE, MirrordUsageReport};

use crate::cli::ControllerArgs;
use crate::lease::{LeaderLease, holder_identity};
use crate::reconciler::{self, Context};
use crate::{operator_sessions, serve};

pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let key = serve::license_key(args.serve.license_key.clone())?;
    let store = serve::open_store(args.serve.db.clone()).await?;
    let listener = serve::bind(args.serve.listen).await?;
    let client = kube::Client::try_default()
        .await
        .context("could not set up a Kubernetes client: set KUBECONFIG, or run mirrord-usage in a cluster")?;
    run_with(
        client,
        store,
        listener,
        Auth::license_key(key),
        args,
        Arc::new(SystemClock),
    )
    .await
}

/// Everything but the process-wide setup, so tests can run it with their own client and clock.
pub async fn run_with(
    client: kube::Client,
    store: SqliteStore,
    listener: tokio::net::TcpListener,
    auth: Auth,
    args: ControllerArgs,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
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
    let metrics = Arc::new(Metrics::default());
    let (store, stored) = MeasuredStore::new(store, metrics.clone());
    let store: Arc<dyn UsageStore> = Arc::new(store);
    let state = AppState {
        store: store.clone(),
        installation: args.serve.installation.clone().into(),
        auth,
        clock,
        metrics,
    };
    let ctx = Arc::new(Context::new(client.clone(), state.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    if args.operator_poll_interval > 0 {
        let api: Api<MirrordOperator> = Api::all(client.clone());
        let interval = Duration::from_secs(args.operator_poll_interval);
        tasks.spawn(operator_sessions::run(
            api,
            store.clone(),
            state.clock.clone(),
            interval,
        ));
    }
    tasks.spawn(reconciler::run(
        ctx,
        stored,
        Duration::from_secs(args.report_trigger_interval),
    ));
    let served = tokio::select! {
        served = serve::run_server(listener, state) => served,
        lost = &mut keeper.0 => Err(match lost {
            Ok(lost) => anyhow::anyhow!("stopping: {lost}"),
            Err(error) => anyhow::anyhow!("the lease keeper failed: {error}"),
        }),
    };
    tasks.shutdown().await;
    lease.release().await;
    served
}

/// Stops a background task when whatever started it goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
