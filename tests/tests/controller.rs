//! The controller against a real kube-apiserver: the CRD and its validation, sessions read from
//! a stand-in for the mirrord operator, report status and `kubectl get`, restarts and outages,
//! and a period rolling over.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{Api, DeleteParams, ListParams};
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::usage_report::{MirrordUsageReport, MirrordUsageReportSpec};
use mirrord_usage_store::calendar;
use mirrord_usage_store::clock::ManualClock;
use mirrord_usage_store::{SqliteStore, UsageStore};
use mirrord_usage_tests::eventually;
use mirrord_usage_tests::{ControlPlane, User};
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

mod controller_fixture;

use controller_fixture::{RunningController, install_crds, operator_session, show_operator};

#[tokio::test]
async fn invalid_report_specs_are_refused_by_the_api_server_with_a_clear_message() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let cases = [
        (
            json!({"period": "CurrentMonth", "roi": {"userMinutesSavedPerSession": -5}}),
            "must not be negative",
        ),
        (json!({"period": "Yearly"}), "Unsupported value: \"Yearly\""),
        (
            json!({"period": "Custom", "from": "2026-01-01T00:00:00Z"}),
            "a Custom period needs both from and to",
        ),
        (
            json!({"period": "AllTime", "topUsers": 51}),
            "topUsers must be at most 50",
        ),
        (
            json!({"period": "Custom", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "from must be earlier than to",
        ),
    ];
    for (index, (spec, message)) in cases.into_iter().enumerate() {
        let manifest = json!({"apiVersion": "usage.mirrord.metalbear.co/v1alpha1", "kind": "MirrordUsageReport",
                              "metadata": {"name": format!("bad-{index}")}, "spec": spec});
        let file = control_plane.dir().join(format!("bad-{index}.json"));
        std::fs::write(&file, manifest.to_string()).unwrap();
        let output = control_plane
            .kubectl(&User::admin(), ["apply", "-f", file.to_str().unwrap()])
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{spec} was accepted");
        assert!(stderr.contains(message), "{spec}: {stderr}");
    }
    let good = json!({"apiVersion": "usage.mirrord.metalbear.co/v1alpha1", "kind": "MirrordUsageReport",
                      "metadata": {"name": "good"}, "spec": {"period": "Last7Days"}});
    let file = control_plane.dir().join("good.json");
    std::fs::write(&file, good.to_string()).unwrap();
    let output = control_plane
        .kubectl(&User::admin(), ["apply", "-f", file.to_str().unwrap()])
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let api: Api<MirrordUsageReport> = Api::all(control_plane.admin_client());
    let stored = api.get("good").await.unwrap();
    assert_eq!(
        stored.spec.roi.user_minutes_saved_per_session, 15.0,
        "defaults come from the schema"
    );
    assert_eq!(stored.spec.top_users, 10);
}

#[tokio::test]
async fn operator_sessions_become_reports_across_restarts_and_outages_without_double_counting() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let client = control_plane.admin_client();
    let operators: Api<MirrordOperator> = Api::all(client.clone());
    let reports: Api<MirrordUsageReport> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let t0 = Utc::now();
    let clock = Arc::new(ManualClock::new(t0));

    // Two sessions and a preview environment are running when the controller starts.
    let mut preview = operator_session("p", "preview-env", "m-preview", 10);
    preview["user"] = json!("preview-env");
    show_operator(
        &operators,
        json!([
            operator_session("s1", "alice", "m-alice", 60),
            operator_session("s2", "bob", "m-bob", 30),
            preview
        ]),
    )
    .await;
    let running = RunningController::start(client.clone(), &db, clock.clone(), "1").await;
    let report = eventually("both sessions to be running", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 2).then_some(report)
    })
    .await;
    assert_eq!(report["generalMetrics"]["operatorVersion"], "3.120.0");
    assert_eq!(
        report["generalMetrics"]["license"],
        json!({"name": "Enterprise", "organization": "Acme", "expireAt": "2027-06-30"})
    );
    assert_eq!(
        report["allTimeMetrics"]["firstSessionAt"],
        json!(calendar::from_micros(calendar::to_micros(t0) - 60_000_000))
    );
    let names: Vec<String> = reports
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.metadata.name.clone().unwrap())
        .collect();
    assert!(
        names.contains(&"current-month".to_owned()) && names.contains(&"all-time".to_owned()),
        "{names:?}"
    );

    // Five minutes on, both are seen again; then alice's session disappears.
    let watcher = SqliteStore::open(&db).unwrap();
    let t5 = t0 + chrono::Duration::minutes(5);
    clock.set(t5);
    eventually("a poll after five minutes", || async {
        let watched = watcher.watched().unwrap();
        (watched.len() == 2 && watched.iter().all(|w| w.last_seen == calendar::to_micros(t5))).then_some(())
    })
    .await;
    show_operator(&operators, json!([operator_session("s2", "bob", "m-bob", 330)])).await;
    clock.set(t5 + chrono::Duration::minutes(1));
    let ended = Instant::now();
    let report = eventually("alice's session to end", || async {
        let report = running.report().await;
        (report["generalMetrics"]["activeUserSessions"] == 1).then_some(report)
    })
    .await;
    let alice = report["userMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "m-alice")
        .unwrap()
        .clone();
    assert_eq!(
        alice["totalSessionTimeSeconds"], 360.0,
        "it ended when it was last seen"
    );

    // The all-time report's status shows it, and kubectl prints it.
    eventually("the all-time status to show two sessions and one running", || async {
        let status = reports.get("all-time").await.unwrap().status?;
        (status.user_sessions == 2 && status.running_user_sessions == 1).then_some(())
    })
    .await;
    eprintln!(
        "reconcile latency, session end to status: {:.2} s",
        ended.elapsed().as_secs_f64()
    );
    let output = control_plane
        .kubectl(&User::admin(), ["get", "mirrordusagereports"])
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.trim().is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PERIOD",
            "USERS",
            "LICENSES",
            "SESSIONS",
            "SESSION TIME",
            "CI",
            "TIME SAVED",
            "AGE"
        ]
    );
    let row = table.lines().find(|line| line.starts_with("all-time")).unwrap();
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&words[..5], ["all-time", "AllTime", "2", "2/1", "2"], "{table}");
    // Alice's 6 minutes and bob's 6.5 so far; two sessions at 15 minutes saved each.
    assert!(row.contains("  12m 30s  "), "{table}");
    assert!(row.contains("  1h  "), "{table}");
    let short = control_plane
        .kubectl(&User::admin(), ["get", "mur", "all-time", "-o", "name"])
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&short.stdout).trim(),
        "mirrordusagereport.usage.mirrord.metalbear.co/all-time"
    );

    // Two machines used mirrord, one seat was bought.
    eventually("a SeatsExceeded event", || async {
        let events: Api<KubeEvent> = Api::all(client.clone());
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SeatsExceeded"))
            .then_some(())
    })
    .await;

    // The controller stops while bob's session is open; the operator becomes unreadable, and bob's
    // session ends meanwhile.
    running.stop().await;
    operators.delete("operator", &DeleteParams::default()).await.unwrap();
    eventually("the operator object to be gone", || async {
        operators.get_opt("operator").await.unwrap().is_none().then_some(())
    })
    .await;
    let t8 = t5 + chrono::Duration::minutes(3);
    clock.set(t8);
    let running = RunningController::start(client.clone(), &db, clock.clone(), "1").await;
    let report = eventually("the restarted controller to answer", || async {
        let report = running.report().await;
        report["generalMetrics"].is_object().then_some(report)
    })
    .await;
    assert_eq!(
        report["generalMetrics"]["activeUserSessions"], 1,
        "an unreadable operator ends nothing"
    );

    // The operator is back, showing only a new session.
    show_operator(&operators, json!([operator_session("s3", "carol", "m-carol", 5)])).await;
    let report = eventually("bob's session to end and carol's to start", || async {
        let report = running.report().await;
        let users = report["userMetrics"].as_array()?;
        (users.len() == 3 && report["generalMetrics"]["activeUserSessions"] == 1).then_some(report)
    })
    .await;
    assert_eq!(
        report["allTimeMetrics"]["totalSessionCount"], 3,
        "nothing counted twice"
    );
    let bob = report["userMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "m-bob")
        .unwrap()
        .clone();
    assert_eq!(
        bob["totalSessionTimeSeconds"],
        30.0 + 6.0 * 60.0,
        "ended when last seen, before the restart"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_current_month_report_rolls_over_at_midnight_on_the_first() {
    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let client = control_plane.admin_client();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let clock = Arc::new(ManualClock::new(at("2026-11-30T23:59:59Z")));
    let running = RunningController::start(client.clone(), &db, clock.clone(), "0").await;
    let reports: Api<MirrordUsageReport> = Api::all(client);
    let from = |report: &MirrordUsageReport| report.status.as_ref().and_then(|s| s.period.as_ref()).map(|p| p.from);
    eventually("November's period", || async {
        let report = reports.get("current-month").await.ok()?;
        (from(&report) == Some(at("2026-11-01T00:00:00Z"))).then_some(())
    })
    .await;
    clock.set(at("2026-12-01T00:00:01Z"));
    eventually("December's period, without anyone touching the report", || async {
        let report = reports.get("current-month").await.ok()?;
        (from(&report) == Some(at("2026-12-01T00:00:00Z"))).then_some(())
    })
    .await;
    let spec: MirrordUsageReportSpec = reports.get("current-month").await.unwrap().spec;
    assert_eq!(spec.period, mirrord_usage_crds::usage_report::Period::CurrentMonth);
    running.stop().await;
}

#[tokio::test]
async fn only_one_controller_works_at_a_time_and_another_takes_over_when_it_stops() {
    use k8s_openapi::api::coordination::v1::Lease;

    let control_plane = ControlPlane::start().await.unwrap();
    install_crds(&control_plane).await;
    let client = control_plane.admin_client();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let lease_args = ["--lease-duration", "2", "--lease-namespace", "default"];
    let first = RunningController::start_with(
        client.clone(),
        &dir.path().join("a.db"),
        clock.clone(),
        "0",
        &lease_args,
    )
    .await;
    eventually("the first controller to serve", || async {
        first.answers().await.then_some(())
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let holder = |lease: Lease| lease.spec.and_then(|spec| spec.holder_identity).unwrap_or_default();
    let first_holder = holder(leases.get("mirrord-usage-controller").await.unwrap());
    assert!(!first_holder.is_empty());

    let second = RunningController::start_with(
        client.clone(),
        &dir.path().join("b.db"),
        clock.clone(),
        "0",
        &lease_args,
    )
    .await;
    // The second waits while the first renews the lease (for more than a lease's duration).
    for _ in 0..3 {
        let lease = leases.get("mirrord-usage-controller").await.unwrap();
        assert!(
            !second.answers().await,
            "a second controller must not work while the first holds the lease: {:?}",
            lease.spec
        );
        assert_eq!(
            holder(leases.get("mirrord-usage-controller").await.unwrap()),
            first_holder
        );
    }

    // The first stops without letting go: the second takes over once the lease expires.
    first.stop().await;
    eventually("the second controller to take over", || async {
        second.answers().await.then_some(())
    })
    .await;
    let lease = leases.get("mirrord-usage-controller").await.unwrap();
    assert_ne!(holder(lease.clone()), first_holder);
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    second.stop().await;
}
