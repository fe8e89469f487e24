//! The Helm chart `charts/mirrord-usage`: `helm lint` and `helm template` over a matrix of values;
//! what it renders compared with what the product defines (the shipped roles, the controller's
//! flags, the serving certificate); every rendering applied to a real kube-apiserver in a namespace
//! that enforces the `restricted` Pod Security level; the controller running with exactly the
//! permissions and certificate the chart installs; installs, upgrades and uninstalls with helm; and
//! every command of the README's "Install in a cluster".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{CustomResourceExt as _, ResourceExt};
use mirrord_usage::cli::{Cli, Command, ControllerArgs};
use mirrord_usage::controller;
use mirrord_usage_api::clock::SystemClock;
use mirrord_usage_api::store::SqliteStore;
use mirrord_usage_crds::operator::{MirrordOperator, MirrordOperatorSpec};
use mirrord_usage_crds::rbac::{self, AGGREGATE_TO_VIEW_LABEL, VIEWER_ROLE};
use mirrord_usage_crds::usage_report::{CRD_FILE, MirrordUsageReport};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_tests::access::BindingSubject;
use mirrord_usage_tests::api_service::{self, ApiServiceRegistration};
use mirrord_usage_tests::eventually;
use mirrord_usage_tests::helm::{chart_dir, repo_dir};
use mirrord_usage_tests::{ControlPlane, Error, Helm, Rendered, TestCa, User, Values, cert_manager};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

const RELEASE: &str = "mirrord-usage";
const NAMESPACE: &str = "mirrord-usage";
/// The host of the design RFC's install line.
const RFC_HOST: &str = "mirrord-dashboard.company.com";
const CRD_NAME: &str = "mirrordusagereports.usage.mirrord.metalbear.co";
const APISERVICE_NAME: &str = "v1alpha1.analytics.mirrord.metalbear.co";
const RESTRICTED_LABEL: &str = "pod-security.kubernetes.io/enforce=restricted";

/// The design RFC's install line, `helm upgrade … --set dashboard.enabled=true
/// --set dashboard.ingress.enabled=true --set dashboard.ingress.host=mirrord-dashboard.company.com`.
fn rfc_values() -> Values {
    Values::new()
        .set("dashboard.enabled", "true")
        .set("dashboard.ingress.enabled", "true")
        .set("dashboard.ingress.host", RFC_HOST)
}

/// One set of values the chart is checked with.
struct Case {
    name: &'static str,
    values: Values,
}

/// Every case, and the directory holding the files some of them name.
struct Matrix {
    cases: Vec<Case>,
    /// PEM of the CA given as `tls.caBundle` in the `existing-secret` case.
    existing_ca_pem: String,
    _dir: tempfile::TempDir,
}

fn matrix() -> Matrix {
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

fn case<'a>(matrix: &'a Matrix, name: &str) -> &'a Values {
    &matrix
        .cases
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .values
}

async fn helm() -> Helm {
    Helm::locate()
        .await
        .unwrap_or_else(|e| panic!("building or finding helm: {e}"))
}

async fn render(helm: &Helm, values: &Values) -> Rendered {
    helm.template(RELEASE, NAMESPACE, values)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The error output of a `helm template` that must fail.
async fn refusal(helm: &Helm, values: &Values) -> String {
    match helm.template(RELEASE, NAMESPACE, values).await {
        Err(Error::Helm { stderr, .. }) => stderr,
        Err(other) => panic!("running helm: {other}"),
        Ok(_) => panic!("helm rendered {:?}", values.args()),
    }
}

fn chart_yaml() -> Value {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The controller's container in the rendered Deployment.
fn container(rendered: &Rendered) -> Value {
    let deployment = rendered.get("Deployment", RELEASE).expect("a Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0].clone()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// The container's arguments as `mirrord-usage` parses them.
fn controller_args(rendered: &Rendered) -> ControllerArgs {
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
fn verify_serving_certificate(certificate_pem: &[u8], ca_pem: &[u8], name: &str) -> Result<(), String> {
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

#[tokio::test]
async fn the_chart_version_and_app_version_are_the_workspace_version() {
    let chart = chart_yaml();
    // The tests crate takes its version from [workspace.package], like every crate.
    let workspace_version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["appVersion"], workspace_version, "appVersion in Chart.yaml");
    assert_eq!(chart["version"], workspace_version, "version in Chart.yaml");
}

#[tokio::test]
async fn helm_lint_strict_passes_for_every_values_case() {
    let helm = helm().await;
    let matrix = matrix();
    for case in &matrix.cases {
        let output = helm.lint(&case.values).await.unwrap();
        let printed = text(&output);
        assert!(output.status.success(), "{}: {printed}", case.name);
        assert!(printed.contains("0 chart(s) failed"), "{}: {printed}", case.name);
        assert!(!printed.contains("[WARNING]"), "{}: {printed}", case.name);
    }
}

#[tokio::test]
async fn a_misspelt_value_is_refused_with_a_message_naming_it() {
    let helm = helm().await;
    for (key, misspelt, at) in [
        ("dashbaord.enabled", "dashbaord", "at ''"),
        ("dashboard.ingress.hots", "hots", "at '/dashboard/ingress'"),
        ("tls.certManager.enable", "enable", "at '/tls/certManager'"),
        ("persistence.storageClassName", "storageClassName", "at '/persistence'"),
    ] {
        let values = Values::new().set(key, "true");
        let message = format!("additional properties '{misspelt}' not allowed");
        let stderr = refusal(&helm, &values).await;
        assert!(stderr.contains(&message) && stderr.contains(at), "{key}: {stderr}");
        let lint = helm.lint(&values).await.unwrap();
        assert!(!lint.status.success(), "helm lint accepted {key}");
        assert!(text(&lint).contains(&message), "{key}: {}", text(&lint));
    }
    let stderr = refusal(&helm, &Values::new().set("licenses", "-1")).await;
    assert!(stderr.contains("at '/licenses'"), "{stderr}");
}

#[tokio::test]
async fn values_that_cannot_work_are_refused_saying_what_to_set() {
    let helm = helm().await;
    let cases = [
        (
            Values::new().set("dashboard.ingress.enabled", "true"),
            "dashboard.ingress.enabled needs dashboard.ingress.host",
        ),
        (
            Values::new()
                .set("dashboard.enabled", "false")
                .set("dashboard.ingress.enabled", "true")
                .set("dashboard.ingress.host", RFC_HOST),
            "dashboard.ingress.enabled needs dashboard.enabled=true",
        ),
        (
            Values::new().set("tls.existingSecret", "company-tls"),
            "tls.existingSecret needs tls.caBundle",
        ),
        (
            Values::new()
                .set("tls.existingSecret", "company-tls")
                .set("tls.caBundle", "not a certificate"),
            "tls.caBundle must be PEM",
        ),
        (
            Values::new()
                .set("tls.certManager.enabled", "true")
                .set("tls.existingSecret", "company-tls"),
            "two sources of the serving certificate",
        ),
        (
            rfc_values()
                .set("dashboard.ingress.tls.enabled", "false")
                .set("dashboard.ingress.tls.certManager.issuer", "letsencrypt-prod"),
            "dashboard.ingress.tls.certManager.issuer needs dashboard.ingress.tls.enabled=true",
        ),
        (
            Values::new().set("networkPolicy.enabled", "true"),
            "networkPolicy.enabled needs networkPolicy.apiServer.cidrs",
        ),
        (
            Values::new().set("serviceAccount.create", "false"),
            "serviceAccount.name is required when serviceAccount.create is false",
        ),
    ];
    for (values, message) in cases {
        let stderr = refusal(&helm, &values).await;
        assert!(stderr.contains(message), "{:?}: {stderr}", values.args());
    }
}

#[tokio::test]
async fn the_rendered_cluster_roles_are_the_ones_crds_rbac_defines() {
    let helm = helm().await;
    for aggregate_to_view in [false, true] {
        let values = Values::new().set("rbac.aggregateToView", &aggregate_to_view.to_string());
        let rendered: Vec<ClusterRole> = render(&helm, &values).await.objects().unwrap();
        let shipped = rbac::cluster_roles(aggregate_to_view);
        for expected in &shipped {
            let name = expected.name_any();
            let actual = rendered
                .iter()
                .find(|role| role.name_any() == name)
                .unwrap_or_else(|| panic!("the chart renders no ClusterRole {name}"));
            assert_eq!(
                actual.rules, expected.rules,
                "{name} (aggregateToView={aggregate_to_view})"
            );
            assert_eq!(actual.aggregation_rule, expected.aggregation_rule, "{name}");
            let labels = actual.labels();
            for (key, value) in expected.labels() {
                assert_eq!(labels.get(key), Some(value), "{name}: label {key}");
            }
            assert_eq!(
                labels.contains_key(AGGREGATE_TO_VIEW_LABEL),
                expected.labels().contains_key(AGGREGATE_TO_VIEW_LABEL),
                "{name}: {labels:?}"
            );
        }
        // Besides the shipped roles, only the controller's own.
        let others: Vec<String> = rendered
            .iter()
            .map(ResourceExt::name_any)
            .filter(|name| !shipped.iter().any(|role| &role.name_any() == name))
            .collect();
        assert_eq!(others, [format!("{RELEASE}-controller")]);
        // The operator's session records: read and watched, never written.
        let controller = rendered
            .iter()
            .find(|role| role.name_any() == format!("{RELEASE}-controller"))
            .unwrap();
        let record_rules: Vec<_> = controller
            .rules
            .iter()
            .flatten()
            .filter(|rule| {
                rule.api_groups
                    .iter()
                    .flatten()
                    .any(|group| group == "mirrord.metalbear.co")
            })
            .collect();
        assert_eq!(record_rules.len(), 1, "{record_rules:?}");
        assert_eq!(
            record_rules[0].resources.as_deref(),
            Some(&["mirrordclustersessions".to_owned()][..])
        );
        assert_eq!(record_rules[0].verbs, ["get", "list", "watch"]);
    }
}

#[tokio::test]
async fn the_controller_gets_flags_the_binary_accepts_with_the_settings_given() {
    let helm = helm().await;
    let matrix = matrix();
    let chart_version = chart_yaml()["version"].as_str().unwrap().to_owned();
    for case in &matrix.cases {
        let rendered = render(&helm, &case.values).await;
        let args = controller_args(&rendered);
        let container = container(&rendered);
        assert_eq!(args.serve.listen.to_string(), "0.0.0.0:8443", "{}", case.name);
        assert_eq!(
            args.serve.db,
            Path::new("/var/lib/mirrord-usage/usage.db"),
            "{}",
            case.name
        );
        assert_eq!(
            args.serve.installation.chart_version.as_deref(),
            Some(chart_version.as_str()),
            "{}",
            case.name
        );
        assert_eq!(
            args.serve.license_key, None,
            "{}: the key comes from a Secret",
            case.name
        );
        assert_eq!(
            args.tls.cert_file.as_deref(),
            Some(Path::new("/etc/mirrord-usage/tls/tls.crt"))
        );
        assert_eq!(
            args.tls.private_key_file.as_deref(),
            Some(Path::new("/etc/mirrord-usage/tls/tls.key"))
        );
        // Every file the flags name is on a volume mounted there.
        let mounts: BTreeMap<String, String> = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|mount| {
                (
                    mount["mountPath"].as_str().unwrap().to_owned(),
                    mount["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(mounts["/var/lib/mirrord-usage"], "data", "{}", case.name);
        assert_eq!(mounts["/etc/mirrord-usage/tls"], "tls", "{}", case.name);
        assert_eq!(mounts["/tmp"], "tmp", "{}: the root filesystem is read-only", case.name);
        let env = &container["env"];
        let pod_namespace = env
            .as_array()
            .unwrap()
            .iter()
            .find(|var| var["name"] == "POD_NAMESPACE")
            .expect("POD_NAMESPACE, the Lease's namespace");
        assert_eq!(
            pod_namespace["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        assert_eq!(
            container["ports"],
            json!([{"name": "https", "containerPort": 8443, "protocol": "TCP"}])
        );
    }

    let defaults = render(&helm, case(&matrix, "defaults")).await;
    let args = controller_args(&defaults);
    assert_eq!(args.operator_poll_interval, 5);
    assert!(args.default_reports);
    assert_eq!(args.serve.installation.licenses, None);
    assert_eq!(args.serve.installation.tier, None);
    assert_eq!(
        container(&defaults)["image"],
        format!(
            "ghcr.io/metalbear-co/mirrord-usage:{}",
            chart_yaml()["appVersion"].as_str().unwrap()
        )
    );
    let env_names: Vec<_> = container(&defaults)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| var["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !env_names.contains(&"MIRRORD_USAGE_LICENSE_KEY".to_owned()),
        "without licenseKey.existingSecret the x-license-key header is off: {env_names:?}"
    );

    let settings = render(&helm, case(&matrix, "settings")).await;
    let args = controller_args(&settings);
    assert_eq!(args.serve.installation.licenses, Some(50));
    assert_eq!(args.serve.installation.tier.as_deref(), Some("Enterprise"));
    assert_eq!(args.serve.installation.cluster_name.as_deref(), Some("production"));
    assert_eq!(args.operator_poll_interval, 10);
    assert!(args.ci_kubernetes_users.matches("system:serviceaccount:ci:deployer"));
    assert!(args.ci_kubernetes_users.matches("gitlab-runner"));
    assert!(!args.ci_kubernetes_users.matches("alice@corp.com"));
    assert!(!args.default_reports);
    assert_eq!(args.report_trigger_interval, 10, "extraArgs reach the controller");
    let container = container(&settings);
    assert_eq!(container["image"], "registry.example.com/mirrord-usage:0.1.0");
    let license_key = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|var| var["name"] == "MIRRORD_USAGE_LICENSE_KEY")
        .expect("the license key from its Secret");
    assert_eq!(
        license_key["valueFrom"]["secretKeyRef"],
        json!({"name": "mirrord-usage-license-key", "key": "license-key"})
    );
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "RUST_LOG", "value": "debug"}))
    );
    let pod = &settings.get("Deployment", RELEASE).unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["tolerations"], json!([{"key": "dedicated", "operator": "Exists"}]));
    let claim: PersistentVolumeClaim = settings.object(RELEASE).unwrap();
    let spec = claim.spec.unwrap();
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast-ssd"));
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "20Gi",
        "persistence.size"
    );
}

#[tokio::test]
async fn the_controller_is_one_writer_with_https_probes_and_its_database_on_a_kept_claim() {
    let helm = helm().await;
    let matrix = matrix();
    let rendered = render(&helm, case(&matrix, "defaults")).await;
    let deployment: Deployment = rendered.object(RELEASE).unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.enable_service_links,
        Some(false),
        "Service links would put MIRRORD_USAGE_* variables into the controller's environment"
    );
    let container = &pod.containers[0];
    for (probe, path) in [
        (&container.startup_probe, "/healthz"),
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "the controller serves HTTPS only");
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("https".into())
        );
    }
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    let data = pod.volumes.as_ref().unwrap().iter().find(|v| v.name == "data").unwrap();
    assert_eq!(data.persistent_volume_claim.as_ref().unwrap().claim_name, RELEASE);
    let claim: PersistentVolumeClaim = rendered.object(RELEASE).unwrap();
    assert_eq!(
        claim.annotations().get("helm.sh/resource-policy").map(String::as_str),
        Some("keep")
    );
    assert_eq!(
        claim.spec.unwrap().storage_class_name,
        None,
        "the cluster's default class"
    );

    let service: Service = rendered.object(RELEASE).unwrap();
    let service_spec = service.spec.unwrap();
    let port = &service_spec.ports.unwrap()[0];
    assert_eq!(port.port, 443);
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
            "https".into()
        ))
    );
    assert_eq!(
        service_spec.selector.as_ref(),
        spec.selector.match_labels.as_ref(),
        "the Service selects the controller's pod"
    );

    let existing = render(&helm, case(&matrix, "existing-claim")).await;
    assert!(existing.objects::<PersistentVolumeClaim>().unwrap().is_empty());
    let pod = &existing.get("Deployment", RELEASE).unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "usage-data");
    let unclassed = render(&helm, &Values::new().set("persistence.storageClass", "-")).await;
    let claim: PersistentVolumeClaim = unclassed.object(RELEASE).unwrap();
    assert_eq!(claim.spec.unwrap().storage_class_name.as_deref(), Some(""), "no class");
    let kept = render(&helm, &Values::new().set("persistence.keepOnUninstall", "false")).await;
    let claim: PersistentVolumeClaim = kept.object(RELEASE).unwrap();
    assert!(!claim.annotations().contains_key("helm.sh/resource-policy"));
}

#[tokio::test]
async fn scheduled_backups_copy_the_controllers_database_to_a_second_kept_claim() {
    let helm = helm().await;
    let matrix = matrix();
    let defaults = render(&helm, case(&matrix, "defaults")).await;
    assert!(
        defaults.get("CronJob", &format!("{RELEASE}-backup")).is_none(),
        "off by default"
    );

    let rendered = render(&helm, case(&matrix, "backup")).await;
    let cron = rendered
        .get("CronJob", &format!("{RELEASE}-backup"))
        .expect("a CronJob");
    assert_eq!(cron["spec"]["schedule"], "0 */6 * * *");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    let cli = Cli::try_parse_from(std::iter::once("mirrord-usage".to_owned()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("the binary refuses {args:?}: {e}"));
    let Command::Backup(backup) = cli.command else {
        panic!("not a backup: {args:?}")
    };
    let controller = controller_args(&rendered);
    assert_eq!(
        backup.db, controller.serve.db,
        "it copies the database the controller writes"
    );

    let claim_of = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))["persistentVolumeClaim"]["claimName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(claim_of("data"), RELEASE);
    let backup_claim = claim_of("backup");
    assert_ne!(backup_claim, RELEASE);
    let mounts = &pod["containers"][0]["volumeMounts"];
    let mount_of = |name: &str| {
        mounts
            .as_array()
            .unwrap()
            .iter()
            .find(|mount| mount["name"] == name)
            .unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(backup.target.starts_with(mount_of("backup")), "{:?}", backup.target);
    assert!(backup.db.starts_with(mount_of("data")), "{:?}", backup.db);
    let claim: PersistentVolumeClaim = rendered.object(&backup_claim).unwrap();
    assert_eq!(
        claim.annotations().get("helm.sh/resource-policy").map(String::as_str),
        Some("keep")
    );

    let refused = refusal(
        &helm,
        &Values::new()
            .set("backup.enabled", "true")
            .set("persistence.enabled", "false"),
    )
    .await;
    assert!(
        refused.contains("backup.enabled needs persistence.enabled"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_apiservice_trusts_exactly_the_certificate_the_controller_serves() {
    let helm = helm().await;
    let matrix = matrix();

    // Generated by the chart, for the Service's names in whatever namespace it is installed.
    for (release, namespace, service) in [
        (RELEASE, NAMESPACE, RELEASE),
        ("usage", "analytics", "usage-mirrord-usage"),
    ] {
        let rendered = helm
            .template(release, namespace, &Values::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let api_service: APIService = rendered.object(APISERVICE_NAME).unwrap();
        let spec = api_service.spec.unwrap();
        assert_eq!(spec.group.as_deref(), Some(ANALYTICS_GROUP));
        assert_eq!(spec.version.as_deref(), Some(ANALYTICS_VERSION));
        assert_eq!((spec.group_priority_minimum, spec.version_priority), (1000, 15));
        assert_eq!(spec.insecure_skip_tls_verify, None);
        let reference = spec.service.unwrap();
        assert_eq!(reference.name.as_deref(), Some(service));
        assert_eq!(reference.namespace.as_deref(), Some(namespace));
        assert_eq!(reference.port, Some(443));
        let secret: Secret = rendered.object(&format!("{service}-tls")).unwrap();
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let data = secret.data.unwrap();
        let ca_bundle = spec.ca_bundle.unwrap().0;
        assert_eq!(
            ca_bundle, data["ca.crt"].0,
            "caBundle is the CA that signed the certificate"
        );
        for name in [
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
        ] {
            verify_serving_certificate(&data["tls.crt"].0, &ca_bundle, &name)
                .unwrap_or_else(|error| panic!("the certificate is not valid for {name}: {error}"));
        }
        assert!(verify_serving_certificate(&data["tls.crt"].0, &ca_bundle, "mirrord-usage.default.svc").is_err());
        let pod = &rendered.get("Deployment", service).unwrap()["spec"]["template"]["spec"];
        let tls = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "tls")
            .unwrap();
        assert_eq!(tls["secret"]["secretName"], format!("{service}-tls"));
    }

    // A Secret of the admin's own, and the CA given for it.
    let rendered = render(&helm, case(&matrix, "existing-secret")).await;
    assert!(rendered.objects::<Secret>().unwrap().is_empty());
    let api_service: APIService = rendered.object(APISERVICE_NAME).unwrap();
    assert_eq!(
        api_service.spec.unwrap().ca_bundle.unwrap().0,
        matrix.existing_ca_pem.as_bytes()
    );
    let pod = &rendered.get("Deployment", RELEASE).unwrap()["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "tls", "secret": {"secretName": "company-tls"}}))
    );

    // cert-manager: a Certificate for the same names, a self-signed Issuer or the one named, and
    // the CA injector fills caBundle.
    for (case_name, issuer) in [
        (
            "cert-manager",
            json!({"name": "mirrord-usage-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}),
        ),
        (
            "cert-manager-issuer",
            json!({"name": "company-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}),
        ),
    ] {
        let rendered = render(&helm, case(&matrix, case_name)).await;
        let certificate = rendered.get("Certificate", RELEASE).expect("a Certificate");
        assert_eq!(certificate["spec"]["secretName"], "mirrord-usage-tls");
        assert_eq!(
            certificate["spec"]["dnsNames"],
            json!([
                "mirrord-usage.mirrord-usage.svc",
                "mirrord-usage.mirrord-usage.svc.cluster.local"
            ])
        );
        assert_eq!(certificate["spec"]["issuerRef"], issuer, "{case_name}");
        let issuers: Vec<&Value> = rendered.of_kind("Issuer").collect();
        if case_name == "cert-manager" {
            assert_eq!(issuers.len(), 1);
            assert_eq!(issuers[0]["spec"], json!({"selfSigned": {}}));
        } else {
            assert!(issuers.is_empty(), "{issuers:?}");
        }
        assert!(
            rendered.objects::<Secret>().unwrap().is_empty(),
            "cert-manager writes it"
        );
        let api_service: APIService = rendered.object(APISERVICE_NAME).unwrap();
        assert_eq!(
            api_service
                .annotations()
                .get("cert-manager.io/inject-ca-from")
                .map(String::as_str),
            Some("mirrord-usage/mirrord-usage")
        );
        let spec = api_service.spec.unwrap();
        assert_eq!(spec.ca_bundle, None);
        assert_eq!(spec.insecure_skip_tls_verify, None);
    }
}

#[tokio::test]
async fn the_dashboard_ingress_serves_the_rfc_host_over_tls_and_speaks_https_to_the_service() {
    let helm = helm().await;
    let matrix = matrix();
    assert!(
        render(&helm, case(&matrix, "defaults"))
            .await
            .objects::<Ingress>()
            .unwrap()
            .is_empty()
    );

    let rendered = render(&helm, case(&matrix, "rfc-install-line")).await;
    let ingress: Ingress = rendered.object("mirrord-usage-dashboard").unwrap();
    assert_eq!(
        ingress
            .annotations()
            .get("nginx.ingress.kubernetes.io/backend-protocol")
            .map(String::as_str),
        Some("HTTPS")
    );
    let spec = ingress.spec.unwrap();
    assert_eq!(spec.ingress_class_name, None, "the cluster's default class");
    let tls = spec.tls.unwrap();
    assert_eq!(tls[0].hosts.as_deref(), Some(&[RFC_HOST.to_owned()][..]));
    assert_eq!(tls[0].secret_name.as_deref(), Some("mirrord-usage-dashboard-tls"));
    let rule = &spec.rules.unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some(RFC_HOST));
    let path = &rule.http.as_ref().unwrap().paths[0];
    assert_eq!(path.path.as_deref(), Some("/"));
    let backend = path.backend.service.as_ref().unwrap();
    assert_eq!(backend.name, RELEASE);
    assert_eq!(backend.port.as_ref().unwrap().name.as_deref(), Some("https"));

    let rendered = render(&helm, case(&matrix, "dashboard-ingress-tls")).await;
    let ingress: Ingress = rendered.object("mirrord-usage-dashboard").unwrap();
    assert_eq!(
        ingress
            .annotations()
            .get("cert-manager.io/cluster-issuer")
            .map(String::as_str),
        Some("letsencrypt-prod")
    );
    assert_eq!(ingress.spec.unwrap().ingress_class_name.as_deref(), Some("nginx"));

    // Another controller gets no nginx annotation, and the user's annotations win.
    let traefik = rfc_values()
        .set("dashboard.ingress.className", "traefik")
        .set("dashboard.ingress.tls.enabled", "false");
    let ingress: Ingress = render(&helm, &traefik).await.object("mirrord-usage-dashboard").unwrap();
    assert!(ingress.annotations().is_empty(), "{:?}", ingress.annotations());
    assert_eq!(ingress.spec.unwrap().tls, None);
    let overridden = rfc_values().set(
        "dashboard.ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/backend-protocol",
        "GRPCS",
    );
    let ingress: Ingress = render(&helm, &overridden)
        .await
        .object("mirrord-usage-dashboard")
        .unwrap();
    assert_eq!(
        ingress
            .annotations()
            .get("nginx.ingress.kubernetes.io/backend-protocol")
            .map(String::as_str),
        Some("GRPCS")
    );
}

#[tokio::test]
async fn the_network_policy_lets_in_only_kube_apiserver_the_ingress_controller_and_the_operator() {
    let helm = helm().await;
    let matrix = matrix();
    assert!(
        render(&helm, case(&matrix, "defaults"))
            .await
            .objects::<NetworkPolicy>()
            .unwrap()
            .is_empty()
    );
    let rendered = render(&helm, case(&matrix, "network-policy")).await;
    let policy = rendered.get("NetworkPolicy", RELEASE).expect("a NetworkPolicy");
    let deployment = rendered.get("Deployment", RELEASE).unwrap();
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{
            "ports": [{"port": "https", "protocol": "TCP"}],
            "from": [
                {"ipBlock": {"cidr": "10.0.0.10/32"}},
                {"ipBlock": {"cidr": "10.0.0.11/32"}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mirrord"}}},
            ],
        }])
    );
    // Without the ingress, its controller is not let in.
    let values = Values::new()
        .set("networkPolicy.enabled", "true")
        .set("networkPolicy.apiServer.cidrs", "{10.0.0.10/32}");
    let rendered = render(&helm, &values).await;
    let from = &rendered.get("NetworkPolicy", RELEASE).unwrap()["spec"]["ingress"][0]["from"];
    assert_eq!(
        from,
        &json!([
            {"ipBlock": {"cidr": "10.0.0.10/32"}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mirrord"}}},
        ])
    );
}

/// Runs kubectl as the admin.
async fn kubectl(control_plane: &ControlPlane, args: &[&str]) -> Output {
    control_plane.kubectl(&User::admin(), args).await.unwrap()
}

/// The `Warning:` lines kube-apiserver sent back, as kubectl prints them.
fn warnings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("Warning:"))
        .map(str::to_owned)
        .collect()
}

/// Applies the chart's CRD with the README's command and waits until it is served.
async fn apply_chart_crd(control_plane: &ControlPlane) {
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

/// `status.userSessions` of a report, once it has a status.
async fn user_sessions(reports: &Api<MirrordUsageReport>, name: &str) -> Option<u64> {
    let report = reports.get_opt(name).await.ok()??;
    Some(report.status?.user_sessions)
}

fn operator_session(id: &str, user: &str) -> Value {
    json!({"id": id, "duration_secs": 60, "user": format!("{user}/{user}@corp.example@{user}-mbp"),
           "user_id": format!("m-{user}"), "target": "Deployment/api/container/app", "namespace": "shop",
           "locked_ports": [], "sqs": null})
}

#[tokio::test]
async fn the_controller_works_with_exactly_the_permissions_and_certificate_the_chart_installs() {
    let helm = helm().await;
    let control_plane = ControlPlane::start().await.unwrap();
    let admin = control_plane.admin_client();
    // The mirrord operator's CRD, which the operator's own chart installs.
    control_plane.install_crd(&MirrordOperator::crd()).await.unwrap();
    apply_chart_crd(&control_plane).await;
    let output = kubectl(&control_plane, &["create", "namespace", NAMESPACE]).await;
    assert!(output.status.success(), "{}", text(&output));

    // One seat bought, so two machines make a SeatsExceeded event.
    let values = Values::new().set("licenses", "1").set("operator.pollInterval", "1");
    let rendered = render(&helm, &values).await;
    // Everything but the routing: there are no pods or kube-proxy here, so kube-apiserver reaches
    // the controller in this process through the harness's ExternalName Service for localhost,
    // registered below with the rendered APIService's names and caBundle.
    let manifests = rendered.yaml_without(|document| {
        ["Service", "APIService", "CustomResourceDefinition"].contains(&document["kind"].as_str().unwrap_or_default())
    });
    let file = control_plane.dir().join("chart.yaml");
    std::fs::write(&file, manifests).unwrap();
    let output = kubectl(
        &control_plane,
        &["apply", "--server-side", "-f", file.to_str().unwrap()],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));

    // The controller as the chart's ServiceAccount, with the chart's flags and certificate.
    let account = rendered.get("ServiceAccount", RELEASE).expect("a ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = control_plane.service_account_token(NAMESPACE, &account).await.unwrap();
    let secret: Secret = rendered.object("mirrord-usage-tls").unwrap();
    let data = secret.data.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, &data["tls.crt"].0).unwrap();
    std::fs::write(&key, &data["tls.key"].0).unwrap();
    let mut args = strings(&container(&rendered)["args"]);
    let replace = |args: &mut Vec<String>, flag: &str, value: &Path| {
        let at = args.iter().position(|arg| arg == flag).unwrap() + 1;
        args[at] = value.to_str().unwrap().to_owned();
    };
    replace(&mut args, "--db", &dir.path().join("usage.db"));
    replace(&mut args, "--tls-cert-file", &cert);
    replace(&mut args, "--tls-private-key-file", &key);
    // In the pod, POD_NAMESPACE (from the downward API) names the Lease's namespace; a test must
    // not change its own process's environment, so the flag says it.
    args.extend(["--lease-namespace".to_owned(), NAMESPACE.to_owned()]);
    let Command::Controller(args) = Cli::parse_from(std::iter::once("mirrord-usage".to_owned()).chain(args)).command
    else {
        unreachable!("a controller command")
    };
    let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let controller = tokio::spawn(controller::run_with(
        control_plane.token_client(&token),
        store,
        listener,
        args,
        Arc::new(SystemClock),
    ));

    let api_service: APIService = rendered.object(APISERVICE_NAME).unwrap();
    let spec = api_service.spec.unwrap();
    let reference = spec.service.unwrap();
    let registration = ApiServiceRegistration {
        group: spec.group.unwrap(),
        version: spec.version.unwrap(),
        namespace: reference.namespace.unwrap(),
        service: reference.name.unwrap(),
        port: addr.port(),
        ca_bundle_pem: String::from_utf8(spec.ca_bundle.unwrap().0).unwrap(),
    };
    api_service::register_api_service(&admin, &registration).await.unwrap();
    if let Err(error) =
        api_service::wait_for_api_service_available(&admin, &registration.name(), api_service::AVAILABLE_TIMEOUT).await
    {
        panic!(
            "kube-apiserver does not reach the controller with the chart's certificate: {error}\ncontroller: {:?}\n{}",
            controller.is_finished(),
            control_plane.log_tails(30)
        );
    }

    // It holds its Lease, creates the default reports and writes their status from the operator's
    // sessions, and records an event.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), NAMESPACE);
    let lease = leases.get("mirrord-usage-controller").await.unwrap();
    assert!(lease.spec.unwrap().holder_identity.is_some());
    let operators: Api<MirrordOperator> = Api::all(admin.clone());
    operators
        .create(
            &PostParams::default(),
            &MirrordOperator::new("operator", MirrordOperatorSpec::default()),
        )
        .await
        .unwrap();
    let status =
        json!({"status": {"sessions": [operator_session("s-alice", "alice"), operator_session("s-bob", "bob")]}});
    operators
        .patch_status("operator", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let reports: Api<MirrordUsageReport> = Api::all(admin.clone());
    for report in ["current-month", "all-time"] {
        eventually(&format!("{report} to count both sessions"), || async {
            (user_sessions(&reports, report).await? == 2).then_some(())
        })
        .await;
    }
    eventually("a SeatsExceeded event", || async {
        let events: Api<KubeEvent> = Api::all(admin.clone());
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|event| event.reason.as_deref() == Some("SeatsExceeded"))
            .then_some(())
    })
    .await;

    // Through kube-apiserver, a viewer (bound to the chart's role) reads a report; the controller
    // believes kube-apiserver's front-proxy certificate and asks who may see per-user rows.
    let path = format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}/usagereports/all-time");
    control_plane
        .bind_cluster_role("jane-views-usage", VIEWER_ROLE, &BindingSubject::user("jane"))
        .await
        .unwrap();
    let jane = eventually("the viewer's read through kube-apiserver", || async {
        let output = control_plane
            .kubectl(&User::named("jane"), ["get", "--raw", &path])
            .await
            .unwrap();
        output.status.success().then_some(output)
    })
    .await;
    let report: Value = serde_json::from_slice(&jane.stdout).unwrap();
    assert_eq!(report["generalMetrics"]["activeUsers"], 2, "{report}");
    assert!(
        report["userMetrics"].is_null(),
        "a viewer sees no per-user rows: {report}"
    );
    // The README's grant and its check, which kubectl resolves through the aggregated API's
    // discovery.
    let grant =
        "kubectl create clusterrolebinding security-audit --clusterrole=mirrord-usage-auditor --user=jane@example.com";
    assert!(readme_install_commands().iter().any(|command| command == grant));
    assert!(readme_install_commands().iter().any(|command| command == README_CAN_I));
    let output = kubectl(&control_plane, &grant.split(' ').skip(1).collect::<Vec<_>>()).await;
    assert!(output.status.success(), "{}", text(&output));
    eventually("kubectl auth can-i to say yes", || async {
        let output = kubectl(&control_plane, &README_CAN_I.split(' ').skip(1).collect::<Vec<_>>()).await;
        output.status.success().then_some(())
    })
    .await;

    let nobody = control_plane
        .kubectl(&User::named("nobody"), ["get", "--raw", &path])
        .await
        .unwrap();
    assert!(!nobody.status.success(), "{}", text(&nobody));
    assert!(text(&nobody).contains("Forbidden"), "{}", text(&nobody));

    // Straight at the controller with a bearer token, as through the dashboard's ingress: the
    // controller reviews the token (TokenReview) and checks the role (SubjectAccessReview).
    control_plane
        .bind_cluster_role(
            "reporting-bot-views-usage",
            VIEWER_ROLE,
            &BindingSubject::service_account("reporting", "bot"),
        )
        .await
        .unwrap();
    let bot_token = control_plane.service_account_token("reporting", "bot").await.unwrap();
    let service_name = format!("{RELEASE}.{NAMESPACE}.svc");
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(registration.ca_bundle_pem.as_bytes()).unwrap())
        .resolve(&service_name, addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://{service_name}:{}/api/v1/reports/usage", addr.port());
    let answer = http.get(&url).bearer_auth(&bot_token).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);

    // And nothing more than it needs.
    let as_controller = format!("--as=system:serviceaccount:{NAMESPACE}:{account}");
    for (verb, resource, namespace) in [
        ("delete", "mirrordusagereports.usage.mirrord.metalbear.co", None),
        ("update", "mirrordusagereports.usage.mirrord.metalbear.co", None),
        ("get", "secrets", Some(NAMESPACE)),
        ("list", "configmaps", Some("kube-system")),
        ("get", "configmaps/kube-proxy", Some("kube-system")),
        ("update", "leases/someone-elses", Some(NAMESPACE)),
        ("create", "leases", Some("default")),
        ("delete", "leases/mirrord-usage-controller", Some(NAMESPACE)),
        ("update", "mirrordoperators.operator.metalbear.co", None),
        ("update", "mirrordclustersessions.mirrord.metalbear.co", None),
        ("patch", "mirrordclustersessions.mirrord.metalbear.co", None),
        ("delete", "mirrordclustersessions.mirrord.metalbear.co", None),
        ("update", "mirrordclustersessions.mirrord.metalbear.co/status", None),
        ("list", "mirrordsessions.analytics.mirrord.metalbear.co", None),
        ("create", "pods", Some(NAMESPACE)),
    ] {
        let mut args = vec!["auth", "can-i", verb, resource, &as_controller];
        if let Some(namespace) = namespace {
            args.extend(["-n", namespace]);
        }
        let output = kubectl(&control_plane, &args).await;
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "no",
            "the controller may {verb} {resource} in {namespace:?}"
        );
    }
    controller.abort();
}

/// Runs helm against the control plane as its admin.
async fn helm_on(helm: &Helm, control_plane: &ControlPlane, args: &[&str]) -> Output {
    let mut command = helm.command();
    command
        .arg("--kubeconfig")
        .arg(control_plane.admin_kubeconfig_path())
        .args(args);
    command.output().await.unwrap()
}

/// The generated certificate as installed: the Secret's tls.crt and the APIService's caBundle.
async fn installed_certificate(control_plane: &ControlPlane) -> (Vec<u8>, Vec<u8>) {
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

#[tokio::test]
async fn an_upgrade_keeps_the_generated_certificate_and_an_uninstall_keeps_the_database_claim() {
    let helm = helm().await;
    let control_plane = ControlPlane::start().await.unwrap();
    let install = [
        "install",
        RELEASE,
        "charts/mirrord-usage",
        "--namespace",
        NAMESPACE,
        "--create-namespace",
    ];
    let output = helm_on(&helm, &control_plane, &install).await;
    assert!(output.status.success(), "{}", text(&output));
    // The notes say how to open the dashboard and which role to grant.
    let notes = String::from_utf8_lossy(&output.stdout);
    for line in [
        "http://127.0.0.1:8001/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard/",
        "kubectl -n mirrord-usage port-forward svc/mirrord-usage 8443:443",
        "kubectl create clusterrolebinding mirrord-usage-viewers --clusterrole=mirrord-usage-viewer --user=",
    ] {
        assert!(notes.contains(line), "{line} is not in:\n{notes}");
    }
    let admin = control_plane.admin_client();
    let crd = Api::<CustomResourceDefinition>::all(admin.clone()).get(CRD_NAME).await;
    assert!(crd.is_ok(), "helm installs crds/ on the first install");
    let installed = installed_certificate(&control_plane).await;

    // The design RFC's line, as an upgrade: the Ingress appears, the certificate stays.
    let mut upgrade = vec![
        "upgrade",
        RELEASE,
        "charts/mirrord-usage",
        "--namespace",
        NAMESPACE,
        "--reset-then-reuse-values",
    ];
    let rfc = [
        "--set",
        "dashboard.enabled=true",
        "--set",
        "dashboard.ingress.enabled=true",
        "--set",
        &format!("dashboard.ingress.host={RFC_HOST}"),
    ];
    upgrade.extend(rfc);
    let output = helm_on(&helm, &control_plane, &upgrade).await;
    assert!(output.status.success(), "{}", text(&output));
    let notes = String::from_utf8_lossy(&output.stdout);
    assert!(notes.contains(&format!("https://{RFC_HOST}/")), "{notes}");
    let ingress = Api::<Ingress>::namespaced(admin.clone(), NAMESPACE)
        .get("mirrord-usage-dashboard")
        .await
        .unwrap();
    assert_eq!(ingress.spec.unwrap().rules.unwrap()[0].host.as_deref(), Some(RFC_HOST));
    assert_eq!(
        installed_certificate(&control_plane).await,
        installed,
        "an upgrade generated a new certificate or CA"
    );

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(admin.clone(), NAMESPACE);
    let claim_uid = claims.get(RELEASE).await.unwrap().metadata.uid;
    let output = helm_on(&helm, &control_plane, &["uninstall", RELEASE, "--namespace", NAMESPACE]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("kept due to the resource policy"),
        "{}",
        text(&output)
    );
    assert_eq!(claims.get(RELEASE).await.unwrap().metadata.uid, claim_uid);
    assert!(
        Api::<Secret>::namespaced(admin.clone(), NAMESPACE)
            .get_opt("mirrord-usage-tls")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<CustomResourceDefinition>::all(admin.clone())
            .get(CRD_NAME)
            .await
            .is_ok()
    );

    // Installing again adopts the kept claim, and with it the data.
    let output = helm_on(&helm, &control_plane, &install).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(claims.get(RELEASE).await.unwrap().metadata.uid, claim_uid);
}

#[tokio::test]
async fn a_changed_crd_is_applied_over_the_one_helm_installed_with_the_readme_command() {
    let helm = helm().await;
    let control_plane = ControlPlane::start().await.unwrap();
    let output = helm_on(
        &helm,
        &control_plane,
        &[
            "install",
            RELEASE,
            "charts/mirrord-usage",
            "--namespace",
            NAMESPACE,
            "--create-namespace",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));

    // A later version of the CRD: another short name.
    let crd = std::fs::read_to_string(repo_dir().join(CRD_FILE)).unwrap();
    assert!(crd.contains("    - mur\n"));
    let changed = crd.replace("    - mur\n", "    - mur\n    - usagereport\n");
    let file = control_plane.dir().join("changed-crd.yaml");
    std::fs::write(&file, changed).unwrap();

    // Helm wrote the fields at install time, so a plain server-side apply stops at them ...
    let plain = kubectl(
        &control_plane,
        &["apply", "--server-side", "-f", file.to_str().unwrap()],
    )
    .await;
    assert!(!plain.status.success());
    assert!(text(&plain).contains("with \"helm\""), "{}", text(&plain));
    // ... and the README's command takes them over.
    let forced = kubectl(
        &control_plane,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(forced.status.success(), "{}", text(&forced));
    let crd = Api::<CustomResourceDefinition>::all(control_plane.admin_client())
        .get(CRD_NAME)
        .await
        .unwrap();
    assert_eq!(
        crd.spec.names.short_names,
        Some(vec!["mur".to_owned(), "usagereport".to_owned()])
    );
}

/// The shell commands of the README's "Install in a cluster", in order, with continuation lines
/// joined.
fn readme_install_commands() -> Vec<String> {
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
fn needs_more_than_a_control_plane(command: &str) -> bool {
    ["docker ", "open "].iter().any(|prefix| command.starts_with(prefix))
        || ["kubectl proxy", " port-forward ", " rollout status "]
            .iter()
            .any(|part| command.contains(part))
        // kubectl finds mirrordsessions in the discovery of the aggregated API, which only a
        // running controller serves; the controller test runs this command.
        || command.starts_with(README_CAN_I)
}

/// The README's check of a grant, on a resource of the aggregated API.
const README_CAN_I: &str =
    "kubectl auth can-i list mirrordsessions.analytics.mirrord.metalbear.co --as=jane@example.com";

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
