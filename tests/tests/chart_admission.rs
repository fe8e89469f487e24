//! Every rendering of the Helm chart applied to a real kube-apiserver in a namespace that enforces
//! the `restricted` Pod Security level.

use mirrord_usage_tests::{ControlPlane, Helm, Values, cert_manager};
use serde_json::json;
use std::process::Output;
use std::time::Instant;

mod chart_fixture;

use chart_fixture::*;

/// What kube-apiserver made of a rendering applied with a server-side dry run in a namespace
/// enforcing the `restricted` Pod Security level.
struct Admission {
    /// The whole rendering: kubectl's output.
    manifests: Output,
    /// Each Deployment's pod template, as a Pod.
    pods: Vec<Output>,
}

async fn admit(control_plane: &ControlPlane, helm: &Helm, namespace: &str, values: &Values) -> Admission {
    let output = kubectl(control_plane, &["create", "namespace", namespace]).await;
    assert!(output.status.success(), "{}", text(&output));
    let output = kubectl(control_plane, &["label", "namespace", namespace, RESTRICTED_LABEL]).await;
    assert!(output.status.success(), "{}", text(&output));

    let rendered = helm
        .template(RELEASE, namespace, values)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let file = control_plane.dir().join(format!("{namespace}.yaml"));
    std::fs::write(&file, rendered.yaml()).unwrap();
    let manifests = kubectl(
        control_plane,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await;

    // A Deployment is admitted whatever its pods; a Pod is judged. The ServiceAccount admission
    // plugin looks the pod's account up, so that one is created for real.
    let mut pods = Vec::new();
    for deployment in rendered.of_kind("Deployment") {
        let template = &deployment["spec"]["template"];
        let account = template["spec"]["serviceAccountName"].as_str().unwrap_or("default");
        kubectl(control_plane, &["-n", namespace, "create", "serviceaccount", account]).await;
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("{}-pod", deployment["metadata"]["name"].as_str().unwrap()),
                "namespace": namespace,
                "labels": template["metadata"]["labels"],
            },
            "spec": template["spec"],
        });
        let file = control_plane.dir().join(format!("{namespace}-pod.json"));
        std::fs::write(&file, pod.to_string()).unwrap();
        pods.push(
            kubectl(
                control_plane,
                &[
                    "apply",
                    "--server-side",
                    "--dry-run=server",
                    "-f",
                    file.to_str().unwrap(),
                ],
            )
            .await,
        );
    }
    Admission { manifests, pods }
}

#[tokio::test]
async fn every_values_case_is_accepted_by_kube_apiserver_in_a_namespace_enforcing_restricted_pods() {
    let helm = helm().await;
    let matrix = matrix();
    let control_plane = ControlPlane::start().await.unwrap();
    cert_manager::install_crds(&control_plane.admin_client()).await.unwrap();
    apply_chart_crd(&control_plane).await;
    for case in &matrix.cases {
        let started = Instant::now();
        let admission = admit(&control_plane, &helm, &format!("chart-{}", case.name), &case.values).await;
        let printed = text(&admission.manifests);
        assert!(admission.manifests.status.success(), "{}: {printed}", case.name);
        assert_eq!(warnings(&admission.manifests), Vec::<String>::new(), "{}", case.name);
        assert!(printed.contains("(server dry run)"), "{}: {printed}", case.name);
        assert_eq!(admission.pods.len(), 1, "{}", case.name);
        for pod in &admission.pods {
            assert!(pod.status.success(), "{}: {}", case.name, text(pod));
            assert_eq!(warnings(pod), Vec::<String>::new(), "{}", case.name);
        }
        eprintln!("{}: admitted in {:?}", case.name, started.elapsed());
    }
}

#[tokio::test]
async fn a_pod_that_breaks_the_restricted_level_is_refused_where_the_charts_pods_are_admitted() {
    let helm = helm().await;
    let control_plane = ControlPlane::start().await.unwrap();
    apply_chart_crd(&control_plane).await;
    let escalating = Values::new().set("containerSecurityContext.allowPrivilegeEscalation", "true");
    let admission = admit(&control_plane, &helm, "chart-escalating", &escalating).await;
    assert!(admission.manifests.status.success(), "{}", text(&admission.manifests));
    let warned = warnings(&admission.manifests);
    assert!(
        warned
            .iter()
            .any(|line| line.contains("would violate PodSecurity \"restricted")
                && line.contains("allowPrivilegeEscalation")),
        "{warned:?}"
    );
    let pod = &admission.pods[0];
    assert!(!pod.status.success(), "a Pod that may escalate privileges was admitted");
    assert!(text(pod).contains("violates PodSecurity \"restricted"), "{}", text(pod));
}
