//! Sessions from the mirrord operator's `MirrordClusterSession` records, against a real
//! kube-apiserver: exact times, CI told apart, close reasons, finalizers, restarts, the records
//! appearing and going away while the controller runs, the summary-only path, and what 200
//! heartbeating sessions cost.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{CustomResourceExt, ResourceExt};
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::session_record::MirrordClusterSession;
use mirrord_usage_crds::usage_report::MirrordUsageReport;
use mirrord_usage_store::calendar;
use mirrord_usage_store::clock::{Clock, SystemClock};
use mirrord_usage_store::model::{SessionQuery, SessionRecord};
use mirrord_usage_store::{SqliteStore, UsageStore};
use mirrord_usage_tests::{ControlPlane, eventually};
use serde_json::{Value, json};

mod controller_fixture;

use controller_fixture::{RunningController, install_crds, operator_session, show_operator};

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn record(name: &str, user: &str, spec: Value) -> MirrordClusterSession {
    let mut object = json!({
        "apiVersion": "mirrord.metalbear.co/v1alpha",
        "kind": "MirrordClusterSession",
        "metadata": {"name": name},
        "spec": {
            "owner": {"userId": format!("m-{user}"), "username": user, "hostname": format!("{user}-mbp"),
                      "k8sUsername": format!("{user}@corp.example")},
            "namespace": "shop",
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "container": "app"},
            "clientCliVersion": "3.150.0"
        }
    });
    if let (Some(base), Value::Object(extra)) = (object["spec"].as_object_mut(), spec) {
        base.extend(extra);
    }
    serde_json::from_value(object).unwrap()
}

async fn create(records: &Api<MirrordClusterSession>, record: &MirrordClusterSession) -> DateTime<Utc> {
    let created = records.create(&PostParams::default(), record).await.unwrap();
    let micros = created.metadata.creation_timestamp.unwrap().0.as_microsecond();
    calendar::from_micros(micros)
}

async fn patch_status(records: &Api<MirrordClusterSession>, name: &str, status: Value) {
    records
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await
        .unwrap();
}

/// Every stored session, by id.
fn stored(db: &Path) -> Vec<SessionRecord> {
    let store = SqliteStore::open(db).unwrap();
    let query = SessionQuery {
        from: None,
        to: calendar::to_micros(Utc::now() + chrono::Duration::days(1)),
        user: None,
        namespace: None,
        ci: None,
        close_reason: None,
        limit: 1000,
        after: None,
    };
    let mut sessions = store.sessions(&query).unwrap().sessions;
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    sessions
}

fn session<'a>(sessions: &'a [SessionRecord], id: &str) -> &'a SessionRecord {
    sessions
        .iter()
        .find(|session| session.session_id == id)
        .unwrap_or_else(|| panic!("no session {id} in {sessions:?}"))
}

async fn install_records_crd(control_plane: &ControlPlane) {
    control_plane.install_crd(&MirrordClusterSession::crd()).await.unwrap();
}

async fn delete_records_crd(control_plane: &ControlPlane) {
    let crds: Api<CustomResourceDefinition> = Api::all(control_plane.admin_client());
    let name = MirrordClusterSession::crd_name();
    crds.delete(name, &DeleteParams::default()).await.unwrap();
    eventually("the records CRD to be gone", || async {
        crds.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn records_give_exact_sessions_ci_and_close_reasons_and_nothing_twice_across_a_restart() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    install_records_crd(&control_plane).await;
    let client = control_plane.admin_client();
    let records: Api<MirrordClusterSession> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");

    // Running before the controller starts: a user session, a CI run and a label target.
    let user_start = create(&records, &record("user-1", "alice", json!({}))).await;
    let ci_spec = json!({"ciInfo": {"provider": "GitHub Actions", "pipeline": "e2e", "environment": "staging",
                                    "triggeredBy": "push"}});
    create(&records, &record("ci-1", "runner", ci_spec)).await;
    let label = json!({"target": {"labelSelector": "app.kubernetes.io/name=web", "container": "app"},
                       "multiClusterParentName": "mc-00ff"});
    create(&records, &record("label-1", "bob", label)).await;
    let ci_connected = Utc::now();
    let connected = ci_connected.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    patch_status(&records, "ci-1", json!({ "connectedTimestamp": connected })).await;

    let running = RunningController::start(client.clone(), &db, clock(), "1").await;
    let report = eventually("two user sessions and a CI run", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 2 && report["ciMetrics"]["currentRunningSessions"] == 1)
            .then_some(report)
    })
    .await;
    assert_eq!(
        report["allTimeMetrics"]["firstSessionAt"],
        json!(user_start),
        "the record's creation is the start"
    );
    assert_eq!(report["generalMetrics"]["licensesUsed"], 2, "a CI run takes no seat");

    // A session created and deleted within a second is counted.
    let quick = record("quick-1", "carol", json!({}));
    create(&records, &quick).await;
    records.delete("quick-1", &DeleteParams::default()).await.unwrap();

    // Closed with a reason; then deleted.
    patch_status(
        &records,
        "user-1",
        json!({"closed": {"reason": "Unused", "message": "no traffic"}}),
    )
    .await;
    records.delete("user-1", &DeleteParams::default()).await.unwrap();

    // Held by a finalizer once deleted: it ended at its deletion; released, nothing changes.
    records
        .patch(
            "label-1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": ["operator.metalbear.co/cleanup"]}})),
        )
        .await
        .unwrap();
    records.delete("label-1", &DeleteParams::default()).await.unwrap();
    let deletion = records
        .get("label-1")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .unwrap();
    let sessions = eventually("quick-1, user-1 and label-1 to have ended", || async {
        let sessions = stored(&db);
        let ended = |id: &str| sessions.iter().any(|s| s.session_id == id && s.end.is_some());
        (ended("quick-1") && ended("user-1") && ended("label-1")).then_some(sessions)
    })
    .await;
    let user = session(&sessions, "user-1");
    assert_eq!(user.close_reason.as_deref(), Some("Unused"));
    assert_eq!(user.target.as_ref().unwrap().kind, "Deployment");
    let label = session(&sessions, "label-1");
    assert_eq!(
        label.end,
        Some(deletion.0.as_microsecond()),
        "ended at its deletionTimestamp"
    );
    assert_eq!(label.target.as_ref().unwrap().kind, "PodSet");
    assert_eq!(label.target.as_ref().unwrap().name, "app.kubernetes.io/name=web");
    assert_eq!(label.multi_cluster_parent.as_deref(), Some("mc-00ff"));
    let ci = session(&sessions, "ci-1");
    assert_eq!(ci.ci.as_ref().unwrap().pipeline.as_deref(), Some("e2e"));
    assert_eq!(ci.cli_version.as_deref(), Some("3.150.0"));
    records
        .patch(
            "label-1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("label-1 to be deleted", || async {
        records.get_opt("label-1").await.unwrap().is_none().then_some(())
    })
    .await;

    // The controller stops; the CI run closes and its record is deleted meanwhile.
    running.stop().await;
    patch_status(&records, "ci-1", json!({"closed": {"reason": "TimeLimitExceeded"}})).await;
    records.delete("ci-1", &DeleteParams::default()).await.unwrap();
    let running = RunningController::start(client.clone(), &db, clock(), "1").await;
    let sessions = eventually("the CI run to have ended", || async {
        let sessions = stored(&db);
        sessions
            .iter()
            .any(|s| s.session_id == "ci-1" && s.end.is_some())
            .then_some(sessions)
    })
    .await;
    assert_eq!(
        session(&sessions, "ci-1").end,
        Some(calendar::to_micros(ci_connected).max(session(&sessions, "ci-1").start)),
        "ended at its last connection"
    );
    let report = eventually("nothing running", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 0).then_some(report)
    })
    .await;
    assert_eq!(report["allTimeMetrics"]["totalSessionCount"], 3, "{report}");
    assert_eq!(report["allTimeMetrics"]["totalCiSessionCount"], 1, "{report}");
    running.stop().await;
}

#[tokio::test]
async fn the_source_switches_as_the_records_crd_comes_and_goes_counting_each_session_once() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let client = control_plane.admin_client();
    let operators: Api<MirrordOperator> = Api::all(client.clone());
    let records: Api<MirrordClusterSession> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");

    // An operator without records: the summary is the source.
    let summary = json!([
        operator_session("s1", "alice", "m-alice", 60),
        operator_session("s2", "bob", "m-bob", 30)
    ]);
    show_operator(&operators, summary.clone()).await;
    let running = RunningController::start(client.clone(), &db, clock(), "1").await;
    eventually("two sessions from the summary", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 2).then_some(())
    })
    .await;

    // The records CRD is installed while the controller runs; both sessions get records, and
    // the summary keeps listing them too.
    install_records_crd(&control_plane).await;
    let s1_start = create(&records, &record("s1", "alice", json!({}))).await;
    create(&records, &record("s2", "bob", json!({}))).await;
    let sessions = eventually("s1's exact start to replace the estimate", || async {
        let sessions = stored(&db);
        (session(&sessions, "s1").start == calendar::to_micros(s1_start)).then_some(sessions)
    })
    .await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(session(&sessions, "s1").cli_version.as_deref(), Some("3.150.0"));

    // s2 closes through its record.
    records.delete("s2", &DeleteParams::default()).await.unwrap();
    show_operator(&operators, json!([operator_session("s1", "alice", "m-alice", 90)])).await;
    eventually("s2 to end", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 1).then_some(())
    })
    .await;

    // The records CRD is deleted while s1 runs: the summary takes s1 over without ending it.
    delete_records_crd(&control_plane).await;
    let deleted = calendar::to_micros(Utc::now());
    let watched = SqliteStore::open(&db).unwrap();
    eventually("the summary to follow s1", || async {
        let s1 = watched.watched().unwrap().into_iter().find(|w| w.session_id == "s1")?;
        (s1.last_seen >= deleted).then_some(())
    })
    .await;
    let report = running.report().await;
    assert_eq!(
        report["generalMetrics"]["activeUserSessions"], 1,
        "s1 runs on through the switch: {report}"
    );
    // Then it ends in the summary.
    show_operator(&operators, json!([])).await;
    let report = eventually("s1 to end", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 0).then_some(report)
    })
    .await;
    assert_eq!(
        report["allTimeMetrics"]["totalSessionCount"], 2,
        "counted once: {report}"
    );

    // Re-created: the records are the source again.
    install_records_crd(&control_plane).await;
    create(&records, &record("s3", "carol", json!({}))).await;
    let report = eventually("s3 from its record", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 1).then_some(report)
    })
    .await;
    assert_eq!(report["allTimeMetrics"]["totalSessionCount"], 3, "{report}");
    running.stop().await;
}

#[tokio::test]
async fn the_summary_alone_reads_lowercase_label_and_legacy_targets_and_tells_ci_users_apart() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let client = control_plane.admin_client();
    let operators: Api<MirrordOperator> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let mut lower = operator_session("lower", "alice", "m-alice", 60);
    lower["target"] = json!("deployment/api/container/app");
    let mut label = operator_session("label", "bob", "m-bob", 60);
    label["target"] = json!("label/app.kubernetes.io/name=web/container/app");
    let mut legacy = operator_session("legacy", "carol", "m-carol", 60);
    legacy["target"] = json!("namespace/shop");
    let mut ci = operator_session("ci", "runner", "ci-key", 60);
    ci["user"] = json!("runner/system:serviceaccount:ci:deployer@runner-1");
    show_operator(&operators, json!([lower, label, legacy, ci])).await;
    let status = json!({"status": {"statistics": {"active_ci_sessions_count": 2}}});
    operators
        .patch_status("operator", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let running = RunningController::start_with(
        client.clone(),
        &db,
        clock(),
        "1",
        &["--ci-kubernetes-users", "system:serviceaccount:ci:*"],
    )
    .await;
    let report = eventually("four sessions", || async {
        let report = running.report().await;
        (report["ciMetrics"]["currentRunningSessions"] == 2).then_some(report)
    })
    .await;
    // Of the three user-looking sessions, one is a CI run by the operator's count.
    assert_eq!(report["generalMetrics"]["activeUserSessions"], 2, "{report}");
    let sessions = stored(&db);
    assert!(session(&sessions, "ci").ci.is_some(), "the CI user's session is CI");
    assert_eq!(session(&sessions, "lower").target.as_ref().unwrap().kind, "Deployment");
    let label = session(&sessions, "label").target.clone().unwrap();
    assert_eq!(
        (label.kind.as_str(), label.name.as_str()),
        ("PodSet", "app.kubernetes.io/name=web")
    );
    assert_eq!(
        session(&sessions, "legacy").target,
        None,
        "namespace/<ns> is targetless"
    );
    running.stop().await;
}

/// CPU time of this process's threads named `name`, from /proc.
fn thread_cpu(name: &str) -> Duration {
    let ticks_per_second = 100.0;
    let mut ticks = 0_u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        if fields.len() > 12 {
            ticks += fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        }
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_heartbeating_every_second_cost_no_database_writes() {
    const SESSIONS: usize = 200;
    const WINDOW: Duration = Duration::from_secs(30);
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    install_records_crd(&control_plane).await;
    let client = control_plane.admin_client();
    let records: Api<MirrordClusterSession> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    for index in 0..SESSIONS {
        create(
            &records,
            &record(&format!("hb-{index:03}"), &format!("dev{}", index % 50), json!({})),
        )
        .await;
    }
    // The controller on threads of its own, so its CPU time can be told from the test's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .thread_name("ctl-under-test")
        .enable_all()
        .build()
        .unwrap();
    let running = RunningController::start_on(runtime.handle(), client.clone(), &db, clock(), "1", &[]).await;
    eventually("200 running sessions", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == SESSIONS as u64).then_some(())
    })
    .await;

    // Commits by any connection change data_version as seen from this one.
    let observer = rusqlite::Connection::open(&db).unwrap();
    let version = |conn: &rusqlite::Connection| -> i64 {
        conn.pragma_query_value(None, "data_version", |row| row.get(0)).unwrap()
    };
    let wal = db.with_extension("db-wal");
    let wal_before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let cpu_before = thread_cpu("ctl-under-test");
    let started = Instant::now();
    let mut last_version = version(&observer);
    let mut commits = 0;
    let mut beats = 0;
    while started.elapsed() < WINDOW {
        let round = Instant::now();
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let patches = (0..SESSIONS).map(|index| {
            let records = records.clone();
            let now = now.clone();
            async move { patch_status(&records, &format!("hb-{index:03}"), json!({"connectedTimestamp": now})).await }
        });
        futures_join_all(patches).await;
        beats += SESSIONS;
        // Sampling, not waiting: commits are counted as they happen during the round.
        while round.elapsed() < Duration::from_secs(1) {
            let seen = version(&observer);
            if seen != last_version {
                commits += 1;
                last_version = seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let window = started.elapsed();
    let cpu = thread_cpu("ctl-under-test") - cpu_before;
    let wal_after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "heartbeats: {beats} status updates of {SESSIONS} sessions in {:.1} s; controller CPU {:.2} s ({:.1}% of one core); \
         database commits seen {commits}; WAL {wal_before} -> {wal_after} bytes",
        window.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / window.as_secs_f64()
    );
    assert!(
        commits <= 1,
        "heartbeats wrote to the database {commits} times (one checkpoint may fall in the window)"
    );

    // Deleting a record shows in the MirrordUsageReport status within moments.
    let reports: Api<MirrordUsageReport> = Api::all(client.clone());
    eventually("the all-time status to show 200 running", || async {
        let status = reports.get("all-time").await.ok()?.status?;
        (status.running_user_sessions == SESSIONS as u64).then_some(())
    })
    .await;
    let deleted = Instant::now();
    records.delete("hb-000", &DeleteParams::default()).await.unwrap();
    eventually("the all-time status to show the session ended", || async {
        let status = reports.get("all-time").await.ok()?.status?;
        (status.running_user_sessions == SESSIONS as u64 - 1).then_some(())
    })
    .await;
    eprintln!(
        "latency, record deletion to MirrordUsageReport status: {:.2} s",
        deleted.elapsed().as_secs_f64()
    );
    let names: Vec<String> = records
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(names.len(), SESSIONS - 1, "the controller never deletes records");
    running.stop().await;
    runtime.shutdown_background();
}

/// Runs futures concurrently, at most 32 at a time.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    use futures::StreamExt;
    futures::stream::iter(futures)
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}
