//! Aggregated API servers on loopback, registered through an `ExternalName` Service, and
//! service-account tokens: each test starts its own control plane and, where it needs one, a
//! minimal HTTPS server in this process that answers discovery of one group version.

use std::{convert::Infallible, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use k8s_openapi::{
    api::authentication::v1::{SelfSubjectReview, TokenReview, TokenReviewSpec},
    apimachinery::pkg::apis::meta::v1::APIResourceList,
};
use kube::{Api, api::PostParams};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_tests::{
    ApiServiceRegistration, ClientIdentity, ControlPlane, TestCa, User, api_service::AVAILABLE_TIMEOUT,
};
use serde_json::json;
use tokio::{
    net::TcpListener,
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    },
};

const NAMESPACE: &str = "mirrord-usage";
const SERVICE: &str = "mirrord-usage";

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

fn discovery_path() -> String {
    format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}")
}

/// Discovery of the analytics group version, listing one resource named `resource`.
fn resource_list(resource: &str) -> serde_json::Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{ANALYTICS_GROUP}/{ANALYTICS_VERSION}"),
        "resources": [{
            "name": resource,
            "singularName": "",
            "namespaced": false,
            "kind": "UsageReport",
            "verbs": ["get"],
        }],
    })
}

/// An HTTPS server on 127.0.0.1 that answers discovery with `body` and 404 elsewhere; dropping
/// it closes its open connections too, so that kube-apiserver cannot reach it through one it
/// kept alive.
struct DiscoveryServer {
    port: u16,
    task: JoinHandle<()>,
}

impl DiscoveryServer {
    async fn start(identity: &ClientIdentity, body: serde_json::Value) -> Self {
        let certificates = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Bytes::from(body.to_string());

        let task = tokio::spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
                let acceptor = acceptor.clone();
                let body = body.clone();
                connections.spawn(async move {
                    // A failed handshake is what a test with the wrong certificate expects.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let answer = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let response = if request.uri().path() == discovery_path() {
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(body.clone()))
                        } else {
                            Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .body(Full::new(Bytes::new()))
                        };
                        async move { Ok::<_, Infallible>(response.expect("a valid response")) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), answer)
                        .await;
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for DiscoveryServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn registration(ca: &TestCa, port: u16) -> ApiServiceRegistration {
    ApiServiceRegistration {
        group: ANALYTICS_GROUP.to_owned(),
        version: ANALYTICS_VERSION.to_owned(),
        namespace: NAMESPACE.to_owned(),
        service: SERVICE.to_owned(),
        port,
        ca_bundle_pem: ca.cert_pem().to_owned(),
    }
}

/// A CA and a serving certificate from it for the name kube-apiserver verifies.
fn serving_identity() -> (TestCa, ClientIdentity) {
    let ca = TestCa::new("aggregated-server-ca").unwrap();
    let identity = ca.serving_identity(&[&format!("{SERVICE}.{NAMESPACE}.svc")]).unwrap();
    (ca, identity)
}

/// The resource names in `kubectl get --raw <discovery path>` as the admin.
async fn discovered_through_kube_apiserver(control_plane: &ControlPlane) -> Vec<String> {
    let output = control_plane
        .kubectl(&User::admin(), ["get", "--raw", &discovery_path()])
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl get --raw {} failed: {}",
        discovery_path(),
        String::from_utf8_lossy(&output.stderr)
    );
    let list: APIResourceList = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list.group_version, format!("{ANALYTICS_GROUP}/{ANALYTICS_VERSION}"));
    list.resources.into_iter().map(|resource| resource.name).collect()
}

#[tokio::test]
async fn a_registered_server_on_a_loopback_port_becomes_available_and_kube_apiserver_proxies_to_it() {
    let control_plane = start().await;
    let (ca, identity) = serving_identity();
    let server = DiscoveryServer::start(&identity, resource_list("usagereports")).await;

    let registration = registration(&ca, server.port);
    control_plane.register_api_service(&registration).await.unwrap();
    let api_service = control_plane
        .wait_for_api_service_available(&registration.name(), AVAILABLE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", control_plane.log_tails(20)));
    assert_eq!(
        api_service.metadata.name.as_deref(),
        Some("v1alpha1.analytics.mirrord.metalbear.co")
    );

    assert_eq!(
        discovered_through_kube_apiserver(&control_plane).await,
        ["usagereports"]
    );
}

#[tokio::test]
async fn registering_again_with_another_port_moves_the_api_to_the_server_there() {
    let control_plane = start().await;
    let (ca, identity) = serving_identity();
    let first = DiscoveryServer::start(&identity, resource_list("first")).await;
    control_plane
        .register_api_service(&registration(&ca, first.port))
        .await
        .unwrap();
    let name = registration(&ca, first.port).name();
    control_plane
        .wait_for_api_service_available(&name, AVAILABLE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(discovered_through_kube_apiserver(&control_plane).await, ["first"]);

    let second = DiscoveryServer::start(&identity, resource_list("second")).await;
    drop(first);
    control_plane
        .register_api_service(&registration(&ca, second.port))
        .await
        .unwrap();
    control_plane
        .wait_for_api_service_available(&name, AVAILABLE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(discovered_through_kube_apiserver(&control_plane).await, ["second"]);
}

#[tokio::test]
async fn a_server_whose_certificate_does_not_name_the_service_is_refused_by_the_proxy() {
    let control_plane = start().await;
    let ca = TestCa::new("aggregated-server-ca").unwrap();
    // Valid for the address kube-apiserver dials, but not for `<service>.<namespace>.svc`.
    let identity = ca.serving_identity(&["localhost", "127.0.0.1"]).unwrap();
    let server = DiscoveryServer::start(&identity, resource_list("usagereports")).await;

    let registration = registration(&ca, server.port);
    control_plane.register_api_service(&registration).await.unwrap();
    // The availability check does not verify the certificate, the proxy does.
    let error = control_plane
        .wait_for_api_service_available(&registration.name(), Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("is Available but"), "{error}");
    let x509 = format!("x509: certificate is valid for localhost, not {SERVICE}.{NAMESPACE}.svc");
    assert!(error.contains(&x509), "{error}");
}

#[tokio::test]
async fn an_api_service_whose_server_is_not_listening_times_out_with_the_aggregators_reason() {
    let control_plane = start().await;
    let (ca, _) = serving_identity();
    // A port nothing listens on: bound, read, and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let registration = registration(&ca, port);
    control_plane.register_api_service(&registration).await.unwrap();
    let error = control_plane
        .wait_for_api_service_available(&registration.name(), Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("v1alpha1.analytics.mirrord.metalbear.co"), "{error}");
    assert!(error.contains("FailedDiscoveryCheck"), "{error}");
    assert!(error.contains(&format!("localhost:{port}")), "{error}");
}

#[tokio::test]
async fn a_service_account_token_authenticates_as_the_service_account() {
    let control_plane = start().await;
    let token = control_plane
        .service_account_token("ingest", "mirrord-operator")
        .await
        .unwrap();
    let expected = "system:serviceaccount:ingest:mirrord-operator";

    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.clone()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let reviewed = Api::<TokenReview>::all(control_plane.admin_client())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(reviewed.authenticated, Some(true), "{reviewed:?}");
    assert_eq!(reviewed.user.unwrap().username.as_deref(), Some(expected));

    let whoami = Api::<SelfSubjectReview>::all(control_plane.token_client(&token))
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user_info = whoami.status.unwrap().user_info.unwrap();
    assert_eq!(user_info.username.as_deref(), Some(expected));

    // Asking again for an existing service account is fine.
    control_plane
        .service_account_token("ingest", "mirrord-operator")
        .await
        .unwrap();
}
