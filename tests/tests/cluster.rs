//! `mirrord-usage-cluster up` / `down` as a person would run them.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    core::v1::Namespace,
};
use kube::{
    Api, Client, Config,
    api::{ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use mirrord_usage_crds::{
    ANALYTICS_GROUP,
    analytics::resources::{MIRRORD_SESSIONS, MIRRORD_USERS, USAGE_REPORTS},
};
use mirrord_usage_tests::is_running;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// How long the watchdogs may take to stop the processes of a killed `serve`: SIGTERM, up to
/// five seconds, SIGKILL.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(15);

fn cluster(command: &str, state: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_mirrord-usage-cluster"))
        .arg(command)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`mirrord-usage-cluster {command}` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `up` and returns the path from its `export KUBECONFIG=<path>` line.
fn up(state: &Path) -> PathBuf {
    exported(&up_exports(state), "KUBECONFIG")
}

/// Runs `up` and returns what it printed on stdout.
fn up_exports(state: &Path) -> String {
    String::from_utf8(cluster("up", state).stdout).unwrap()
}

/// The path in the `export <variable>=<path>` line of `stdout`.
fn exported(stdout: &str, variable: &str) -> PathBuf {
    let prefix = format!("export {variable}=");
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{stdout}"));
    PathBuf::from(line)
}

fn pid(state: &Path, file: &str) -> u32 {
    fs::read_to_string(state.join(file)).unwrap().trim().parse().unwrap()
}

async fn client(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn namespace_count(kubeconfig: &Path) -> usize {
    Api::<Namespace>::all(client(kubeconfig).await)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len()
}

/// Whether RBAC lets the kubeconfig's user `get` `resource` of the analytics API.
async fn may_get(kubeconfig: &Path, resource: &str) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(ANALYTICS_GROUP.to_owned()),
                resource: Some(resource.to_owned()),
                verb: Some("get".to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client(kubeconfig).await)
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

#[tokio::test]
async fn up_prints_a_working_kubeconfig_and_down_stops_everything_and_removes_the_state() {
    let parent = tempfile::tempdir().unwrap();
    let state = parent.path().join("state");

    let exports = up_exports(&state);
    let kubeconfig = exported(&exports, "KUBECONFIG");
    assert_eq!(kubeconfig, state.join("kubeconfig"));
    assert!(namespace_count(&kubeconfig).await >= 4);
    // One kubeconfig per shipped reader role, each allowed what its role grants, and one for
    // a user without any.
    for (variable, reads_users, reads_sessions) in [
        ("KUBECONFIG_VIEWER", false, false),
        ("KUBECONFIG_ANALYST", true, false),
        ("KUBECONFIG_AUDITOR", true, true),
    ] {
        let path = exported(&exports, variable);
        assert!(path.starts_with(&state), "{}", path.display());
        assert!(may_get(&path, USAGE_REPORTS).await, "{variable}");
        assert_eq!(may_get(&path, MIRRORD_USERS).await, reads_users, "{variable}");
        assert_eq!(may_get(&path, MIRRORD_SESSIONS).await, reads_sessions, "{variable}");
    }
    assert!(!may_get(&exported(&exports, "KUBECONFIG_NOBODY"), USAGE_REPORTS).await);
    let pids = [
        pid(&state, "serve.pid"),
        pid(&state, "kube-apiserver.pid"),
        pid(&state, "etcd.pid"),
    ];

    // `up` returned, and the control plane keeps running without it.
    assert!(pids.iter().all(|&pid| is_running(pid)));
    assert_eq!(up(&state), kubeconfig, "a second `up` reuses the running one");

    cluster("down", &state);
    for pid in pids {
        assert!(!is_running(pid), "process {pid} is still running");
    }
    assert!(!state.exists(), "{} still exists", state.display());
}

#[tokio::test]
async fn the_control_plane_stops_by_itself_when_the_process_running_it_is_killed() {
    let parent = tempfile::tempdir().unwrap();
    let state = parent.path().join("state");
    up(&state);
    let children = [pid(&state, "kube-apiserver.pid"), pid(&state, "etcd.pid")];

    kill(Pid::from_raw(pid(&state, "serve.pid") as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + ORPHAN_TIMEOUT;
    while children.iter().any(|&pid| is_running(pid)) {
        assert!(
            Instant::now() < deadline,
            "{children:?} still running {ORPHAN_TIMEOUT:?} after their parent was killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    cluster("down", &state);
    assert!(!state.exists(), "{} still exists", state.display());
}
