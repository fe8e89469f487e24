//! What the Helm chart's tests share: the release, the matrix of values, rendering with helm, and
//! reading what was rendered or installed.
// Each test binary uses its own part of it.
#![allow(dead_code)]

use clap::Parser as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::Api;
use mirrord_usage::cli::{Cli, Command, ControllerArgs};
use mirrord_usage_crds::usage_report::{CRD_FILE, MirrordUsageReport};
use mirrord_usage_tests::helm::{chart_dir, repo_dir};
use mirrord_usage_tests::{ControlPlane, Error, Helm, Rendered, TestCa, User, Values};
use serde_json::{Value, json};
use std::process::Output;
use std::sync::Arc;
use tokio_rustls::rustls;

pub(crate) const RELEASE: &str = "mirrord-usage";

pub(crate) const NAMESPACE: &str = "mirrord-usage";

/// The host of the design RFC's install line.
pub(crate) const RFC_HOST: &str = "mirrord-dashboard.company.com";

pub(crate) const CRD_NAME: &str = "mirrordusagereports.usage.mirrord.metalbear.co";

pub(crate) const APISERVICE_NAME: &str = "v1alpha1.analytics.mirrord.metalbear.co";

pub(crate) const RESTRICTED_LABEL: &str = "pod-security.kubernetes.io/enforce=restricted";

/// The design RFC's install line, `helm upgrade … --set dashboard.enabled=true
/// --set dashboard.ingress.enabled=true --set dashboard.ingress.host=mirrord-dashboard.company.com`.
pub(crate) fn rfc_values() -> Values {
    Values::new()
        .set("dashboard.enabled", "true")
        .set("dashboard.ingress.enabled", "true")
        .set("dashboard.ingress.host", RFC_HOST)
}

/// One set of values the chart is checked with.
pub(crate) struct Case {
    pub name: &'static str,
    pub values: Values,
}

/// Every case, and the directory holding the files some of them name.
pub(crate) struct Matrix {
    pub cases: Vec<Case>,
    /// PEM of the CA given as `tls.caBundle` in the `existing-secret` case.
    pub existing_ca_pem: String,
    pub _dir: tempfile::TempDir,
}

pub(crate) fn matrix() -> Matrix {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("company-ca").unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let cases = vec![
        Case {
            name: "defaults",
            values: Values::new(),
        },
        Case {
            name: "rfc-install-line",
            values: rfc_values(),
        },
        Case {
            name: "dashboard-ingress-tls",
            values: rfc_values()
                .set("dashboard.ingress.className", "nginx")
                .set("dashboard.ingress.tls.certManager.issuer", "letsencrypt-prod"),
        },
        Case {
            name: "cert-manager",
            values: Values::new().set("tls.certManager.enabled", "true"),
        },
        Case {
            name: "cert-manager-issuer",
            values: Values::new()
                .set("tls.certManager.enabled", "true")
                .set("tls.certManager.issuerRef.name", "company-ca")
                .set("tls.certManager.issuerRef.kind", "ClusterIssuer"),
        },
        Case {
            name: "existing-secret",
            values: Values::new()
                .set("tls.existingSecret", "company-tls")
                .set_file("tls.caBundle", &ca_file),
        },
        Case {
            name: "aggregate-to-view",
            values: Values::new().set("rbac.aggregateToView", "true"),
        },
        Case {
            name: "network-policy",
            values: rfc_values()
                .set("networkPolicy.enabled", "true")
                .set("networkPolicy.apiServer.cidrs", "{10.0.0.10/32,10.0.0.11/32}"),
        },
        Case {
            name: "settings",
            values: Values::new()
                .set("licenses", "50")
                .set("tier", "Enterprise")
                .set("clusterName", "production")
                .set("licenseKey.existingSecret", "mirrord-usage-license-key")
                .set("operator.pollInterval", "10")
                .set(
                    "operator.ciKubernetesUsers",
                    "{system:serviceaccount:ci:*,gitlab-runner}",
                )
                .set("defaultReports", "false")
                .set("logLevel", "debug")
                .set("persistence.storageClass", "fast-ssd")
                .set("persistence.size", "20Gi")
                .set("image.repository", "registry.example.com/mirrord-usage")
                .set("nodeSelector.kubernetes\\.io/os", "linux")
                .set("tolerations[0].key", "dedicated")
                .set("tolerations[0].operator", "Exists")
                .set_string("extraArgs[0]", "--report-trigger-interval")
                .set_string("extraArgs[1]", "10"),
        },
        Case {
            name: "existing-claim",
            values: Values::new().set("persistence.existingClaim", "usage-data"),
        },
        Case {
            name: "no-persistence",
            values: Values::new().set("persistence.enabled", "false"),
        },
        Case {
            name: "backup",
            values: Values::new()
                .set("backup.enabled", "true")
                .set("backup.schedule", "0 */6 * * *"),
        },
    ];
    Matrix {
        cases,
        existing_ca_pem: ca.cert_pem().to_owned(),
        _dir: dir,
    }
}

pub(crate) fn case<'a>(matrix: &'a Matrix, name: &str) -> &'a Values {
    &matrix
        .cases
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .values
}

pub(crate) async fn helm() -> Helm {
    Helm::locate()
        .await
        .unwrap_or_else(|e| panic!("building or finding helm: {e}"))
}

pub(crate) async fn render(helm: &Helm, values: &Values) -> Rendered {
    helm.template(RELEASE, NAMESPACE, values)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The error output of a `helm template` that must fail.
pub(crate) async fn refusal(helm: &Helm, values: &Values) -> String {
    match helm.template(RELEASE, NAMESPACE, values).await {
        Err(Error::Helm { stderr, .. }) => stderr,
        Err(other) => panic!("running helm: {other}"),
        Ok(_) => panic!("helm rendered {:?}", values.args()),
    }
}

pub(crate) fn chart_yaml() -> Value {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The controller's container in the rendered Deployment.
pub(crate) fn container(rendered: &Rendered) -> Value {
    let deployment = rendered.get("Deployment", RELEASE).expect("a Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0].clone()
}

pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// The container's arguments as `mirrord-usage` parses them.
pub(crate) fn controller_args(rendered: &Rendered) -> ControllerArgs {
    let args = strings(&container(rendered)["args"]);
    let argv = std::iter::once("mirrord-usage".to_owned()).chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Controller(args),
        }) => args,
        Ok(other) => panic!("the container runs {other:?}, not the controller"),
        Err(error) => panic!("mirrord-usage refuses the chart's arguments {args:?}:\n{error}"),
    }
}

/// Whether `certificate_pem` is valid for `name` when `ca_pem` is trusted, as kube-apiserver
/// checks the controller's certificate against the APIService's caBundle.
pub(crate) fn verify_serving_certificate(certificate_pem: &[u8], ca_pem: &[u8], name: &str) -> Result<(), String> {
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _};

    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let chain: Vec<CertificateDer> = CertificateDer::pem_slice_iter(certificate_pem)
        .map(Result::unwrap)
        .collect();
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &server_name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Runs kubectl as the admin.
pub(crate) async fn kubectl(control_plane: &ControlPlane, args: &[&str]) -> Output {
    control_plane.kubectl(&User::admin(), args).await.unwrap()
}

/// The `Warning:` lines kube-apiserver sent back, as kubectl prints them.
pub(crate) fn warnings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("Warning:"))
        .map(str::to_owned)
        .collect()
}

/// Applies the chart's CRD with the README's command and waits until it is served.
pub(crate) async fn apply_chart_crd(control_plane: &ControlPlane) {
    let crd = repo_dir().join(CRD_FILE);
    let output = kubectl(control_plane, &["apply", "--server-side", "-f", crd.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", text(&output));
    let output = kubectl(
        control_plane,
        &[
            "wait",
            "--for=condition=Established",
            &format!("crd/{CRD_NAME}"),
            "--timeout=30s",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
}

/// `status.userSessions` of a report, once it has a status.
pub(crate) async fn user_sessions(reports: &Api<MirrordUsageReport>, name: &str) -> Option<u64> {
    let report = reports.get_opt(name).await.ok()??;
    Some(report.status?.user_sessions)
}

pub(crate) fn operator_session(id: &str, user: &str) -> Value {
    json!({"id": id, "duration_secs": 60, "user": format!("{user}/{user}@corp.example@{user}-mbp"),
           "user_id": format!("m-{user}"), "target": "Deployment/api/container/app", "namespace": "shop",
           "locked_ports": [], "sqs": null})
}

/// Runs helm against the control plane as its admin.
pub(crate) async fn helm_on(helm: &Helm, control_plane: &ControlPlane, args: &[&str]) -> Output {
    let mut command = helm.command();
    command
        .arg("--kubeconfig")
        .arg(control_plane.admin_kubeconfig_path())
        .args(args);
    command.output().await.unwrap()
}

/// The generated certificate as installed: the Secret's tls.crt and the APIService's caBundle.
pub(crate) async fn installed_certificate(control_plane: &ControlPlane) -> (Vec<u8>, Vec<u8>) {
    let admin = control_plane.admin_client();
    let secret = Api::<Secret>::namespaced(admin.clone(), NAMESPACE)
        .get("mirrord-usage-tls")
        .await
        .unwrap();
    let api_service = Api::<APIService>::all(admin).get(APISERVICE_NAME).await.unwrap();
    (
        secret.data.unwrap()["tls.crt"].0.clone(),
        api_service.spec.unwrap().ca_bundle.unwrap().0,
    )
}

/// The shell commands of the README's "Install in a cluster", in order, with continuation lines
/// joined.
pub(crate) fn readme_install_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_dir().join("README.md")).unwrap();
    let start = readme
        .find("\n## Install in a cluster\n")
        .expect("README.md has an \"Install in a cluster\" section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_shell = !in_shell && line == "```sh";
            continue;
        }
        if !in_shell || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                commands.push(
                    std::mem::take(&mut pending)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
    }
    commands
}

/// Commands that need what a bare kube-apiserver does not have: a container engine, a running
/// pod, or a browser.
pub(crate) fn needs_more_than_a_control_plane(command: &str) -> bool {
    ["docker ", "open "].iter().any(|prefix| command.starts_with(prefix))
        || ["kubectl proxy", " port-forward ", " rollout status "]
            .iter()
            .any(|part| command.contains(part))
        // kubectl finds mirrordsessions in the discovery of the aggregated API, which only a
        // running controller serves; the controller test runs this command.
        || command.starts_with(README_CAN_I)
}

/// The README's check of a grant, on a resource of the aggregated API.
pub(crate) const README_CAN_I: &str =
    "kubectl auth can-i list mirrordsessions.analytics.mirrord.metalbear.co --as=jane@example.com";
