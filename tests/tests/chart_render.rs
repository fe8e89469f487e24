//! The Helm chart rendered with `helm lint` and `helm template` over a matrix of values, compared
//! with what the product defines: the shipped roles, the controller's flags, its pod and storage,
//! and backups.

use clap::Parser as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::ResourceExt;
use mirrord_usage::cli::{Cli, Command};
use mirrord_usage_crds::rbac::{self, AGGREGATE_TO_VIEW_LABEL};
use mirrord_usage_tests::Values;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

mod chart_fixture;

use chart_fixture::*;

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
async fn the_rendered_cluster_roles_and_the_controllers_are_the_ones_crds_rbac_defines() {
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
        let controller = rendered
            .iter()
            .find(|role| role.name_any() == format!("{RELEASE}-controller"))
            .unwrap();
        assert_eq!(
            controller.rules,
            Some(rbac::controller_rules()),
            "the controller's own role"
        );
        // The operator's session records: read and watched, never written.
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
