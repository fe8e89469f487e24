//! The harness itself against a real kube-apiserver and etcd: each test starts its own
//! control plane (a few seconds each).

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    authentication::v1::SelfSubjectReview,
    core::v1::Namespace,
    rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject},
};
use kube::{
    Api, Client, CustomResource, CustomResourceExt as _, ResourceExt as _,
    api::{ListParams, ObjectMeta, PostParams},
};
use mirrord_usage_tests::{ControlPlane, User, is_running};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How long RBAC may take to honour a new binding; in practice it is immediate.
const RBAC_TIMEOUT: Duration = Duration::from_secs(10);

async fn start() -> ControlPlane {
    let control_plane = ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("starting the control plane: {e}"));
    eprintln!(
        "control plane ready at {} after {:?}",
        control_plane.server_url(),
        control_plane.start_duration()
    );
    control_plane
}

fn named<T: kube::Resource<DynamicType = ()> + Default>(name: &str) -> T {
    let mut object = T::default();
    object.meta_mut().name = Some(name.to_owned());
    object
}

async fn namespace_names(client: Client) -> kube::Result<Vec<String>> {
    let list = Api::<Namespace>::all(client).list(&ListParams::default()).await?;
    Ok(list.items.iter().map(|ns| ns.name_any()).collect())
}

#[tokio::test]
async fn the_admin_can_list_namespaces_and_create_one() {
    let control_plane = start().await;
    let client = control_plane.admin_client();

    let before = namespace_names(client.clone()).await.unwrap();
    assert!(before.contains(&"kube-system".to_owned()), "{before:?}");

    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &named("harness-created"))
        .await
        .unwrap();
    let after = namespace_names(client).await.unwrap();
    assert!(after.contains(&"harness-created".to_owned()), "{after:?}");
}

#[tokio::test]
async fn a_user_client_is_authenticated_with_its_name_and_every_group() {
    let control_plane = start().await;
    let client = control_plane.user_client("alice", &["dev", "ops", "qa"]);

    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user_info = review.status.unwrap().user_info.unwrap();
    assert_eq!(user_info.username.as_deref(), Some("alice"));
    assert_eq!(user_info.groups.unwrap(), ["dev", "ops", "qa", "system:authenticated"]);
}

#[tokio::test]
async fn an_unprivileged_user_may_list_namespaces_only_after_rbac_grants_it() {
    let control_plane = start().await;
    let bob = control_plane.user_client("bob", &[]);

    let denied = namespace_names(bob.clone()).await.unwrap_err();
    match &denied {
        kube::Error::Api(status) => {
            assert!(status.is_forbidden(), "{status:?}");
            // Forbidden rather than Unauthorized, and for bob: the certificate was accepted.
            assert!(status.message.contains("\"bob\""), "{}", status.message);
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }

    let admin = control_plane.admin_client();
    let role = ClusterRole {
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["namespaces".to_owned()]),
            verbs: vec!["list".to_owned()],
            ..PolicyRule::default()
        }]),
        ..named("namespace-lister")
    };
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = ClusterRoleBinding {
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: "namespace-lister".to_owned(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "User".to_owned(),
            name: "bob".to_owned(),
            ..Subject::default()
        }]),
        ..named("bob-lists-namespaces")
    };
    Api::<ClusterRoleBinding>::all(admin)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let deadline = Instant::now() + RBAC_TIMEOUT;
    let names = loop {
        match namespace_names(bob.clone()).await {
            Ok(names) => break names,
            Err(kube::Error::Api(status)) if status.is_forbidden() => {
                assert!(
                    Instant::now() < deadline,
                    "bob was still forbidden {RBAC_TIMEOUT:?} after the binding: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("listing namespaces as bob: {other}"),
        }
    };
    assert!(names.contains(&"default".to_owned()), "{names:?}");
}

/// A tiny custom resource, only for this test.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "harness.mirrord-usage.test", version = "v1", kind = "Widget", namespaced)]
struct WidgetSpec {
    /// How many sprockets the widget has.
    sprockets: u32,
}

#[tokio::test]
async fn an_installed_crd_is_established_and_its_objects_can_be_created_and_read_back() {
    let control_plane = start().await;

    let installed = control_plane.install_crd(&Widget::crd()).await.unwrap();
    let established = installed
        .status
        .and_then(|status| status.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let widgets = Api::<Widget>::namespaced(control_plane.admin_client(), "default");
    let widget = Widget {
        metadata: ObjectMeta {
            name: Some("first".to_owned()),
            ..ObjectMeta::default()
        },
        spec: WidgetSpec { sprockets: 7 },
    };
    widgets.create(&PostParams::default(), &widget).await.unwrap();
    let read = widgets.get("first").await.unwrap();
    assert_eq!(read.spec, WidgetSpec { sprockets: 7 });
}

#[tokio::test]
async fn kubectl_with_the_admin_kubeconfig_prints_the_namespace_list() {
    let control_plane = start().await;

    let output = control_plane
        .kubectl(&User::admin(), ["get", "namespaces"])
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("NAME"), "{stdout}");
    for namespace in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(stdout.contains(namespace), "{namespace} missing from:\n{stdout}");
    }
}

#[tokio::test]
async fn dropping_the_control_plane_stops_its_processes_and_removes_its_directory() {
    let control_plane = start().await;
    let pids = [control_plane.kube_apiserver_pid(), control_plane.etcd_pid()];
    let dir = control_plane.dir().to_owned();
    assert!(pids.iter().all(|&pid| is_running(pid)));
    assert!(dir.exists());

    let stopping = Instant::now();
    drop(control_plane);
    eprintln!("stopped in {:?}", stopping.elapsed());

    for pid in pids {
        assert!(!is_running(pid), "process {pid} is still running");
    }
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[tokio::test]
async fn a_test_that_panics_still_stops_its_control_plane_and_removes_its_directory() {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let failing_test = tokio::spawn(async move {
        let control_plane = start().await;
        let pids = [control_plane.kube_apiserver_pid(), control_plane.etcd_pid()];
        sender.send((pids, control_plane.dir().to_owned())).unwrap();
        panic!("a failing assertion while the control plane runs");
    });
    assert!(failing_test.await.unwrap_err().is_panic());

    let (pids, dir) = receiver.await.unwrap();
    for pid in pids {
        assert!(!is_running(pid), "process {pid} is still running");
    }
    assert!(!dir.exists(), "{} still exists", dir.display());
}
