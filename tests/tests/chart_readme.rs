//! Every command of the README's "Install in a cluster", in order, against a real kube-apiserver.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use mirrord_usage_crds::usage_report::CRD_FILE;
use mirrord_usage_tests::eventually;
use mirrord_usage_tests::helm::{chart_dir, repo_dir};
use mirrord_usage_tests::{ControlPlane, TestCa, cert_manager};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod chart_fixture;

use chart_fixture::*;

#[tokio::test]
async fn every_command_of_the_readme_install_section_works_against_a_real_kube_apiserver() {
    let helm = helm().await;
    let control_plane = ControlPlane::start().await.unwrap();
    // cert-manager, as the admin would have installed it for the tls.certManager step.
    cert_manager::install_crds(&control_plane.admin_client()).await.unwrap();

    // The admin's working directory: the repository's chart, and the files the README assumes
    // they have (their own CA and serving certificate for the Service).
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_dir().join("charts"), work.path().join("charts")).unwrap();
    let ca = TestCa::new("company-ca").unwrap();
    let serving = ca
        .serving_identity(&[
            "mirrord-usage.mirrord-usage.svc",
            "mirrord-usage.mirrord-usage.svc.cluster.local",
        ])
        .unwrap();
    std::fs::write(work.path().join("ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(work.path().join("tls.crt"), &serving.cert_pem).unwrap();
    std::fs::write(work.path().join("tls.key"), &serving.key_pem).unwrap();

    // helm and kubectl on PATH are the built ones. kubectl does not wait for deletions: this
    // control plane has no controller-manager to finish them (namespaces, claims in use).
    let bin = work.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(helm.binary(), bin.join("helm")).unwrap();
    let kubectl_path = &control_plane.binaries().kubectl;
    std::fs::write(
        bin.join("kubectl"),
        format!(
            "#!/bin/sh\nfor arg; do [ \"$arg\" = delete ] && exec '{0}' \"$@\" --wait=false; done\nexec '{0}' \"$@\"\n",
            kubectl_path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("kubectl"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let commands = readme_install_commands();
    let mut ran = Vec::new();
    for command in &commands {
        if needs_more_than_a_control_plane(command) {
            continue;
        }
        let started = Instant::now();
        let output = tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", command])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("KUBECONFIG", control_plane.admin_kubeconfig_path())
            .envs(helm.env())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "README command failed: {command}\n{}\n{}",
            text(&output),
            control_plane.log_tails(10)
        );
        eprintln!("ok in {:?}: {command}", started.elapsed());
        ran.push(command.as_str());
    }

    for expected in [
        "helm install mirrord-usage charts/mirrord-usage",
        "helm upgrade mirrord-usage charts/mirrord-usage --namespace mirrord-usage --reset-then-reuse-values --set dashboard.enabled=true --set dashboard.ingress.enabled=true --set dashboard.ingress.host=mirrord-dashboard.company.com",
        "kubectl create clusterrolebinding security-audit --clusterrole=mirrord-usage-auditor",
        "kubectl apply --server-side --force-conflicts -f charts/mirrord-usage/crds/",
        "helm uninstall mirrord-usage",
        "kubectl delete crd mirrordusagereports.usage.mirrord.metalbear.co",
    ] {
        assert!(
            ran.iter().any(|command| command.starts_with(expected)),
            "the README shows no command starting {expected:?}; it shows {commands:#?}"
        );
    }
    for command in commands.iter().filter(|command| !ran.contains(&command.as_str())) {
        eprintln!("not run here: {command}");
    }

    // What the last commands left: the claim on its way out (no controller-manager finishes
    // it here), the CRD gone.
    let admin = control_plane.admin_client();
    let claim = Api::<PersistentVolumeClaim>::namespaced(admin.clone(), NAMESPACE)
        .get_opt(RELEASE)
        .await
        .unwrap();
    assert!(claim.is_none_or(|claim| claim.metadata.deletion_timestamp.is_some()));
    eventually("the CRD to be deleted", || async {
        Api::<CustomResourceDefinition>::all(admin.clone())
            .get_opt(CRD_NAME)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[test]
fn the_chart_is_where_the_tests_look_for_it() {
    let chart: PathBuf = chart_dir();
    assert!(chart.join("Chart.yaml").is_file(), "{}", chart.display());
    assert!(
        chart
            .join("crds")
            .join(Path::new(CRD_FILE).file_name().unwrap())
            .is_file()
    );
}
