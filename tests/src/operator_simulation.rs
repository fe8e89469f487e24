//! A stand-in for a running mirrord operator, for trying mirrord-usage by hand: it keeps the
//! `operator` object's running sessions changing the way a team's would, and writes a
//! `MirrordClusterSession` record per session as a real operator does (CI runs with their CI
//! details, heartbeats, closes with a reason, then deletion).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use mirrord_usage_crds::event::{CiContext, SessionStart};
use mirrord_usage_crds::operator::{MirrordOperator, MirrordOperatorSpec, OPERATOR_OBJECT, OperatorSession};
use mirrord_usage_crds::session_record::{
    MirrordClusterSession, MirrordClusterSessionSpec, RecordCiInfo, RecordTarget, SessionOwner,
};
use mirrord_usage_simulation::{Organisation, Simulator};

/// The display form the operator uses for a session's owner and target (lowercase kind).
pub fn operator_session(start: &SessionStart, now: DateTime<Utc>) -> OperatorSession {
    let none = String::new();
    let target = start.target.as_ref().map_or_else(
        || "targetless".to_owned(),
        |t| match &t.container {
            Some(container) => format!("{}/{}/container/{container}", t.kind.to_lowercase(), t.name),
            None => format!("{}/{}", t.kind.to_lowercase(), t.name),
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

/// The operator's record of a session.
pub fn session_record(start: &SessionStart) -> MirrordClusterSession {
    let none = String::new();
    let mut record = MirrordClusterSession::new(
        &start.session_id,
        MirrordClusterSessionSpec {
            owner: SessionOwner {
                user_id: start.machine_id.clone(),
                username: start.client_username.clone().unwrap_or_default(),
                hostname: start.client_hostname.clone().unwrap_or_default(),
                k8s_username: start.kubernetes_username.as_ref().unwrap_or(&none).clone(),
            },
            namespace: start.namespace.clone(),
            target: start.target.as_ref().map(|target| RecordTarget {
                api_version: Some("apps/v1".into()),
                kind: Some(target.kind.clone()),
                name: Some(target.name.clone()),
                container: target.container.clone(),
                label_selector: None,
            }),
            ci_info: start.ci.as_ref().map(|ci| RecordCiInfo {
                provider: ci.provider.clone(),
                environment: ci.environment.clone(),
                pipeline: ci.pipeline.clone(),
                triggered_by: ci.triggered_by.clone(),
            }),
            client_cli_version: start.cli_version.clone(),
            key: None,
            multi_cluster_parent_name: start.multi_cluster_parent.clone(),
        },
    );
    record.metadata = ObjectMeta {
        name: Some(start.session_id.clone()),
        ..ObjectMeta::default()
    };
    record
}

/// Turns a user session into a CI run of the shared CI key, as `mirrord ci start` makes them.
fn as_ci_run(mut start: SessionStart, run: u64) -> SessionStart {
    const PIPELINES: [&str; 3] = ["e2e", "integration", "preview-deploy"];
    start.machine_id = "ci-key-0001".into();
    start.kubernetes_username = Some("system:serviceaccount:ci:runner".into());
    start.client_username = Some("runner".into());
    start.client_hostname = Some(format!("runner-{}", run % 5));
    start.ci = Some(CiContext {
        provider: Some("GitHub Actions".into()),
        pipeline: Some(PIPELINES[(run % 3) as usize].into()),
        environment: Some("staging".into()),
        triggered_by: Some(if run.is_multiple_of(2) { "push" } else { "schedule" }.into()),
    });
    start
}

/// Reasons a session closes, as the operator records them (most close without one).
const CLOSE_REASONS: [Option<&str>; 4] = [None, Some("Unused"), None, Some("TimeLimitExceeded")];

/// Runs until killed: every two seconds some sessions end and, now and then, one starts; the
/// records' connection time is refreshed on every tick.
pub async fn run(kubeconfig: &Path) -> anyhow::Result<()> {
    let config =
        kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(kubeconfig)?, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;
    let api: Api<MirrordOperator> = Api::all(client.clone());
    let records: Api<MirrordClusterSession> = Api::all(client);
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
    let mut ci_runs: u64 = 0;
    loop {
        tick.tick().await;
        round += 1;
        let now = Utc::now();
        let (ended, still): (Vec<_>, Vec<_>) = running.into_iter().partition(|(_, end)| *end <= now);
        running = still;
        for (index, (start, _)) in ended.iter().enumerate() {
            let closed = CLOSE_REASONS[(round as usize + index) % CLOSE_REASONS.len()]
                .map_or_else(|| serde_json::json!({}), |reason| serde_json::json!({"reason": reason}));
            let status = serde_json::json!({"status": {"closed": closed}});
            let closing = records
                .patch_status(&start.session_id, &PatchParams::default(), &Patch::Merge(&status))
                .await;
            let deleted = records.delete(&start.session_id, &DeleteParams::default()).await;
            if let Err(error) = closing.and(deleted.map(|_| ())) {
                eprintln!("could not close the record of {}: {error}", start.session_id);
            }
        }
        // A new session about every third tick, more when few are running; every fourth a CI run.
        if (round.is_multiple_of(3) || running.len() < 2)
            && let Some((start, end)) = simulator.live_session(now)
        {
            let start = if round.is_multiple_of(4) {
                ci_runs += 1;
                as_ci_run(start, ci_runs)
            } else {
                start
            };
            if let Err(error) = records.create(&PostParams::default(), &session_record(&start)).await {
                eprintln!("could not record session {}: {error}", start.session_id);
            }
            running.push((start, end));
        }
        let heartbeat = serde_json::json!({"status": {"connectedTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}});
        for (start, _) in &running {
            if let Err(error) = records
                .patch_status(&start.session_id, &PatchParams::default(), &Patch::Merge(&heartbeat))
                .await
            {
                eprintln!("could not refresh the record of {}: {error}", start.session_id);
            }
        }
        let sessions: Vec<OperatorSession> = running.iter().map(|(start, _)| operator_session(start, now)).collect();
        let ci_running = running.iter().filter(|(start, _)| start.ci.is_some()).count();
        let status = serde_json::json!({ "status": {
            "sessions": sessions,
            "statistics": {"active_ci_sessions_count": ci_running}
        }});
        match api
            .patch_status(OPERATOR_OBJECT, &PatchParams::default(), &Patch::Merge(&status))
            .await
        {
            Ok(_) => eprintln!("{} sessions running ({ci_running} in CI)", sessions.len()),
            Err(error) => eprintln!("could not update the operator's sessions: {error}"),
        }
    }
}
