//! A stand-in for a running mirrord operator, for trying mirrord-usage by hand: it keeps the
//! `operator` object's running sessions changing the way a team's would.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use mirrord_usage_api::simulation::{Organisation, Simulator};
use mirrord_usage_crds::event::SessionStart;
use mirrord_usage_crds::operator::{MirrordOperator, MirrordOperatorSpec, OPERATOR_OBJECT, OperatorSession};

/// The display form the operator uses for a session's owner and target.
pub fn operator_session(start: &SessionStart, now: DateTime<Utc>) -> OperatorSession {
    let none = String::new();
    let target = start.target.as_ref().map_or_else(
        || "targetless".to_owned(),
        |t| match &t.container {
            Some(container) => format!("{}/{}/container/{container}", t.kind, t.name),
            None => format!("{}/{}", t.kind, t.name),
        },
    );
    OperatorSession {
        id: Some(start.session_id.clone()),
        duration_secs: (now - start.timestamp).num_seconds().max(0) as u64,
        user: format!(
            "{}/{}@{}",
            start.client_username.as_ref().unwrap_or(&none),
            start.kubernetes_username.as_ref().unwrap_or(&none),
            start.client_hostname.as_ref().unwrap_or(&none)
        ),
        user_id: Some(start.machine_id.clone()),
        target,
        namespace: start.namespace.clone(),
        key: None,
    }
}

/// Runs until killed: every two seconds some sessions end and, now and then, one starts.
pub async fn run(kubeconfig: &Path) -> anyhow::Result<()> {
    let config =
        kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(kubeconfig)?, &KubeConfigOptions::default()).await?;
    let api: Api<MirrordOperator> = Api::all(kube::Client::try_from(config)?);
    if api.get_opt(OPERATOR_OBJECT).await?.is_none() {
        let spec = MirrordOperatorSpec {
            operator_version: Some("3.120.0".into()),
            ..MirrordOperatorSpec::default()
        };
        api.create(&PostParams::default(), &MirrordOperator::new(OPERATOR_OBJECT, spec))
            .await?;
    }
    let mut simulator = Simulator::new(Organisation::demo(Utc::now().timestamp() as u64), Utc::now());
    let mut running: Vec<(SessionStart, DateTime<Utc>)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        round += 1;
        let now = Utc::now();
        running.retain(|(_, end)| *end > now);
        // A new session about every third tick, more when few are running.
        if (round.is_multiple_of(3) || running.len() < 2)
            && let Some(session) = simulator.live_session(now)
        {
            running.push(session);
        }
        let sessions: Vec<OperatorSession> = running.iter().map(|(start, _)| operator_session(start, now)).collect();
        let status = serde_json::json!({ "status": { "sessions": sessions } });
        match api
            .patch_status(OPERATOR_OBJECT, &PatchParams::default(), &Patch::Merge(&status))
            .await
        {
            Ok(_) => eprintln!("{} sessions running", sessions.len()),
            Err(error) => eprintln!("could not update the operator's sessions: {error}"),
        }
    }
}
