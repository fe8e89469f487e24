//! Registering an aggregated API server that runs on a loopback port: an `ExternalName` Service
//! for `localhost` and an APIService pointing at it, and waiting until kube-apiserver says the
//! API is Available.
//!
//! How kube-apiserver (v1.34, without `--enable-aggregator-routing`) reaches such a server, from
//! kube-aggregator's `ResolveCluster` and its proxy handler:
//! - it dials `<externalName>:<APIService spec.service.port>`; the Service's own `ports` are not
//!   consulted for an ExternalName Service (they are set anyway, for people reading it);
//! - it verifies the serving certificate against `caBundle` for the name
//!   `<service>.<namespace>.svc`, whatever address it dialled, and presents the front-proxy
//!   client certificate;
//! - the `Available` check is a GET of `/apis/<group>/<version>` that must answer 2xx, made
//!   *without* verifying the certificate: a wrong certificate or `caBundle` shows up on the first
//!   proxied request (a 503 naming the x509 error), not in the condition.
//!
//! Endpoints and EndpointSlices would not do instead: they may not hold loopback addresses.

use std::time::{Duration, Instant};

use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Service, ServicePort, ServiceSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kube_aggregator::pkg::apis::apiregistration::v1::{
        APIService, APIServiceCondition, APIServiceSpec, APIServiceStatus, ServiceReference,
    },
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    runtime::wait::await_condition,
};

use crate::{
    crd::FIELD_MANAGER,
    error::{Error, Result},
};

/// How long an APIService may take to become Available once its server answers; the
/// aggregator checks a new or changed APIService at once, so it is usually well under a second.
pub const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The host every registration's `ExternalName` Service names.
pub const EXTERNAL_NAME: &str = "localhost";

/// Condition kube-apiserver sets once the aggregated server answers discovery.
const AVAILABLE: &str = "Available";
/// How often discovery through kube-apiserver is tried once the APIService is Available.
const PROXY_POLL: Duration = Duration::from_millis(50);

/// Where an aggregated API server listens and which CA signed its serving certificate.
///
/// The certificate must name `<service>.<namespace>.svc` (see the module documentation); the
/// server must listen on `localhost:<port>`, e.g. on 127.0.0.1.
#[derive(Clone, Debug)]
pub struct ApiServiceRegistration {
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub service: String,
    pub port: u16,
    /// PEM of the CA that signed the server's certificate.
    pub ca_bundle_pem: String,
}

impl ApiServiceRegistration {
    /// The APIService's name, `<version>.<group>`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.version, self.group)
    }

    /// The name the server's certificate must carry.
    pub fn server_name(&self) -> String {
        format!("{}.{}.svc", self.service, self.namespace)
    }

    fn service_object(&self) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(self.service.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ExternalName".to_owned()),
                external_name: Some(EXTERNAL_NAME.to_owned()),
                ports: Some(vec![ServicePort {
                    name: Some("https".to_owned()),
                    port: i32::from(self.port),
                    protocol: Some("TCP".to_owned()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn api_service_object(&self) -> APIService {
        APIService {
            metadata: ObjectMeta {
                name: Some(self.name()),
                ..ObjectMeta::default()
            },
            spec: Some(APIServiceSpec {
                group: Some(self.group.clone()),
                version: Some(self.version.clone()),
                service: Some(ServiceReference {
                    namespace: Some(self.namespace.clone()),
                    name: Some(self.service.clone()),
                    port: Some(i32::from(self.port)),
                }),
                ca_bundle: Some(ByteString(self.ca_bundle_pem.clone().into_bytes())),
                group_priority_minimum: 1000,
                version_priority: 15,
                insecure_skip_tls_verify: None,
            }),
            status: None,
        }
    }
}

/// Creates the namespace if missing, and applies (server-side, so calling it again, e.g. with
/// a new port, updates both) the `ExternalName` Service and the APIService.
///
/// The APIService's `Available` condition is reset to `Unknown`: after a change its old value
/// would otherwise stand until the aggregator checks again, and
/// [`wait_for_api_service_available`] could return on the verdict about the old server.
pub async fn register_api_service(client: &Client, registration: &ApiServiceRegistration) -> Result<()> {
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(registration.namespace.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(&registration.namespace, &apply, &Patch::Apply(&namespace))
        .await?;
    Api::<Service>::namespaced(client.clone(), &registration.namespace)
        .patch(
            &registration.service,
            &apply,
            &Patch::Apply(&registration.service_object()),
        )
        .await?;

    let name = registration.name();
    let api_services = Api::<APIService>::all(client.clone());
    api_services
        .patch(&name, &apply, &Patch::Apply(&registration.api_service_object()))
        .await?;
    // A merge patch of the status subresource: the aggregator owns the conditions, and any
    // update of the object makes it check again.
    let unknown = APIService {
        status: Some(APIServiceStatus {
            conditions: Some(vec![APIServiceCondition {
                type_: AVAILABLE.to_owned(),
                status: "Unknown".to_owned(),
                reason: Some("Registered".to_owned()),
                message: Some(format!("{FIELD_MANAGER} registered it; not checked yet")),
                last_transition_time: None,
            }]),
        }),
        ..APIService::default()
    };
    api_services
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&unknown))
        .await?;
    Ok(())
}

/// Waits until the APIService `name` is Available and kube-apiserver proxies its discovery
/// (`GET /apis/<group>/<version>`) to the server, and returns the APIService as the server has it.
///
/// The second step matters: the condition does not cover the certificate (see the module
/// documentation), and kube-apiserver's proxy learns of a change a moment after the condition.
/// On timeout the error carries the condition's reason and message or the proxy's last answer,
/// which say what went wrong.
///
/// A `client` that retries 503s by itself (kube's default) hides the proxy's answers and may
/// overrun `timeout` by its backoff; the harness's clients do not retry.
pub async fn wait_for_api_service_available(client: &Client, name: &str, timeout: Duration) -> Result<APIService> {
    let deadline = Instant::now() + timeout;
    let api_service = wait_for_condition(client, name, timeout).await?;
    let spec = api_service.spec.as_ref();
    let path = match (
        spec.and_then(|s| s.group.as_deref()),
        spec.and_then(|s| s.version.as_deref()),
    ) {
        (Some(group), Some(version)) => format!("/apis/{group}/{version}"),
        // An APIService without a group is the legacy core API, which kube-apiserver serves itself.
        _ => return Ok(api_service),
    };
    let mut last = "none yet".to_owned();
    loop {
        let request = http::Request::get(&path)
            .body(Vec::new())
            .expect("a GET without headers is a valid request");
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, client.request_text(request)).await {
            Ok(Ok(_)) => return Ok(api_service),
            Ok(Err(e)) => last = e.to_string(),
            // The deadline passed during the request; the previous answer says more.
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::ApiServiceNotProxied {
                name: name.to_owned(),
                path,
                timeout,
                last,
            });
        }
        tokio::time::sleep(PROXY_POLL).await;
    }
}

/// Waits, with a watch, until the condition `Available` is true.
async fn wait_for_condition(client: &Client, name: &str, timeout: Duration) -> Result<APIService> {
    let api = Api::<APIService>::all(client.clone());
    let is_available = |api_service: Option<&APIService>| {
        api_service
            .and_then(available_condition)
            .is_some_and(|condition| condition.status == "True")
    };
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, is_available)).await {
        Ok(Ok(Some(api_service))) => Ok(api_service),
        Ok(Err(source)) => Err(Error::ApiServiceWait {
            name: name.to_owned(),
            source,
        }),
        // `Ok(Ok(None))` cannot happen: the condition only holds for an object that exists.
        Ok(Ok(None)) | Err(_) => {
            let last = api.get_opt(name).await?;
            let condition = last.as_ref().and_then(available_condition);
            let (reason, message) = match (last.is_some(), condition) {
                (false, _) => ("NotFound".to_owned(), "there is no such APIService".to_owned()),
                (true, None) => ("NoCondition".to_owned(), "it has no Available condition yet".to_owned()),
                (true, Some(condition)) => (
                    condition.reason.clone().unwrap_or_default(),
                    condition.message.clone().unwrap_or_default(),
                ),
            };
            Err(Error::ApiServiceNotAvailable {
                name: name.to_owned(),
                timeout,
                reason,
                message,
            })
        }
    }
}

fn available_condition(api_service: &APIService) -> Option<&APIServiceCondition> {
    api_service
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|condition| condition.type_ == AVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> ApiServiceRegistration {
        ApiServiceRegistration {
            group: "analytics.example.test".to_owned(),
            version: "v1alpha1".to_owned(),
            namespace: "analytics".to_owned(),
            service: "server".to_owned(),
            port: 40123,
            ca_bundle_pem: "-----BEGIN CERTIFICATE-----\n".to_owned(),
        }
    }

    #[test]
    fn the_api_service_points_at_the_service_on_the_servers_port_and_verifies_tls() {
        let registration = registration();
        let api_service = registration.api_service_object();
        assert_eq!(
            api_service.metadata.name.as_deref(),
            Some("v1alpha1.analytics.example.test")
        );
        let spec = api_service.spec.unwrap();
        let service = spec.service.unwrap();
        assert_eq!(
            (service.namespace.as_deref(), service.name.as_deref(), service.port),
            (Some("analytics"), Some("server"), Some(40123))
        );
        assert_eq!(spec.insecure_skip_tls_verify, None);
        assert_eq!(spec.ca_bundle.unwrap().0, registration.ca_bundle_pem.as_bytes());
        assert_eq!(registration.server_name(), "server.analytics.svc");
    }

    #[test]
    fn the_service_is_an_external_name_for_localhost_with_the_port() {
        let spec = registration().service_object().spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ExternalName"));
        assert_eq!(spec.external_name.as_deref(), Some("localhost"));
        assert_eq!(spec.ports.unwrap()[0].port, 40123);
    }
}
