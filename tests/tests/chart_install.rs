//! The Helm chart installed with helm into a real kube-apiserver: the controller running with
//! exactly the permissions and certificate it installs, upgrades, uninstalls and a changed CRD.

use clap::Parser as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::CustomResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use mirrord_usage::cli::{Cli, Command};
use mirrord_usage::controller;
use mirrord_usage_crds::operator::{MirrordOperator, MirrordOperatorSpec};
use mirrord_usage_crds::rbac::VIEWER_ROLE;
use mirrord_usage_crds::usage_report::{CRD_FILE, MirrordUsageReport};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_store::SqliteStore;
use mirrord_usage_store::clock::SystemClock;
use mirrord_usage_tests::access::BindingSubject;
use mirrord_usage_tests::api_service::{self, ApiServiceRegistration};
use mirrord_usage_tests::eventually;
use mirrord_usage_tests::helm::repo_dir;
use mirrord_usage_tests::{ControlPlane, User, Values};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

mod chart_fixture;

use chart_fixture::*;

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
