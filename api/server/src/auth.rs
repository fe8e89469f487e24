//! Who is asking and what they may read. Requests are authenticated by the first
//! [`Authenticator`] that recognises them, then each endpoint asks the [`Authorizer`] about the
//! [`Permission`] it needs. The license key of the design RFC is one authenticator; the front
//! proxy (requests kube-apiserver forwards) is another, and Kubernetes bearer tokens a third
//! (reviewed by the controller, which talks to the cluster).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mirrord_usage_crds::analytics::resources;
use mirrord_usage_crds::{ANALYTICS_GROUP, LICENSE_KEY_HEADER};
use rustls_pki_types::CertificateDer;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::tls::{self, PeerCertificates};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// The shared license key: full access, no Kubernetes identity.
    LicenseKey,
    /// Forwarded by kube-apiserver, which authenticated the user.
    FrontProxy,
    /// A Kubernetes bearer token, checked with a TokenReview.
    BearerToken,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub credential: Credential,
}

impl Principal {
    pub fn kubernetes(name: impl Into<String>, groups: Vec<String>, credential: Credential) -> Self {
        Principal {
            name: name.into(),
            uid: None,
            groups,
            extra: BTreeMap::new(),
            credential,
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Group Kubernetes gives every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Members are allowed everything without a review, as in kube-apiserver.
pub const MASTERS_GROUP: &str = "system:masters";

/// What a request reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Report totals.
    ReadReports,
    /// Per-user rows.
    ReadUsers,
    /// The session audit log.
    ReadSessions,
    /// Posting session events.
    IngestEvents,
}

impl Permission {
    /// The verb and resource of `analytics.mirrord.metalbear.co` that grant this permission.
    pub fn kubernetes_attributes(self) -> (&'static str, &'static str) {
        match self {
            Permission::ReadReports => ("get", resources::USAGE_REPORTS),
            Permission::ReadUsers => ("list", resources::MIRRORD_USERS),
            Permission::ReadSessions => ("list", resources::MIRRORD_SESSIONS),
            Permission::IngestEvents => ("create", resources::SESSION_EVENTS),
        }
    }
}

/// Recognises a caller from a request. `Ok(None)`: not this authenticator's kind of request;
/// `Err`: it is, and it is wrong (e.g. a bad key), which ends authentication.
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// How a client presents this kind of credential, for the error when none was recognised.
    fn hint(&self) -> &'static str;

    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Option<Principal>, ApiError>>;
}

/// Decides whether a caller holds a permission.
pub trait Authorizer: Send + Sync + fmt::Debug {
    fn allows<'a>(&'a self, principal: &'a Principal, permission: Permission) -> BoxFuture<'a, Result<bool, ApiError>>;
}

/// Group given to callers that present the license key.
pub const LICENSE_KEY_GROUP: &str = "mirrord-usage:license-key";

/// The design RFC's shared secret, in header `x-license-key`, compared in constant time.
pub struct LicenseKey {
    key: String,
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LicenseKey(<redacted>)")
    }
}

impl LicenseKey {
    pub fn new(key: impl Into<String>) -> Self {
        LicenseKey { key: key.into() }
    }

    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.key.as_bytes().ct_eq(presented))
    }
}

impl Authenticator for LicenseKey {
    fn hint(&self) -> &'static str {
        "the license key in the x-license-key header"
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(async move {
            let Some(presented) = request.headers.get(LICENSE_KEY_HEADER) else {
                return Ok(None);
            };
            if self.matches(presented.as_bytes()) {
                Ok(Some(Principal {
                    name: "license-key".to_owned(),
                    uid: None,
                    groups: vec![LICENSE_KEY_GROUP.to_owned()],
                    extra: BTreeMap::new(),
                    credential: Credential::LicenseKey,
                }))
            } else {
                Err(ApiError::unauthorized(format!(
                    "the {LICENSE_KEY_HEADER} header does not match the configured license key"
                )))
            }
        })
    }
}

/// Who kube-apiserver is, as a front proxy: what ConfigMap
/// `kube-system/extension-apiserver-authentication` says about its request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaderConfig {
    /// CAs a front proxy's client certificate must chain to.
    pub trusted: Vec<CertificateDer<'static>>,
    /// Common names a front proxy's certificate may have; empty: any.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub uid_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_header_prefixes: Vec<String>,
}

/// ConfigMap keys kube-apiserver publishes its front-proxy settings under.
pub mod request_header_keys {
    pub const CLIENT_CA: &str = "requestheader-client-ca-file";
    pub const ALLOWED_NAMES: &str = "requestheader-allowed-names";
    pub const USERNAME_HEADERS: &str = "requestheader-username-headers";
    pub const UID_HEADERS: &str = "requestheader-uid-headers";
    pub const GROUP_HEADERS: &str = "requestheader-group-headers";
    pub const EXTRA_HEADERS_PREFIX: &str = "requestheader-extra-headers-prefix";
}

impl RequestHeaderConfig {
    /// Reads the ConfigMap's data; `Ok(None)` when it has no front-proxy CA (kube-apiserver
    /// runs without `--requestheader-client-ca-file`).
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        use request_header_keys::*;
        let Some(ca) = data.get(CLIENT_CA).filter(|pem| !pem.trim().is_empty()) else {
            return Ok(None);
        };
        let trusted = tls::parse_pem_certificates(ca).map_err(|error| format!("{CLIENT_CA}: {error}"))?;
        let list = |key: &str| -> Result<Vec<String>, String> {
            match data
                .get(key)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
            {
                None => Ok(Vec::new()),
                Some(json) => serde_json::from_str::<Vec<String>>(json)
                    .map_err(|error| format!("{key} must be a JSON list of strings, not '{json}': {error}")),
            }
        };
        let config = RequestHeaderConfig {
            trusted,
            allowed_names: list(ALLOWED_NAMES)?,
            username_headers: list(USERNAME_HEADERS)?,
            uid_headers: list(UID_HEADERS)?,
            group_headers: list(GROUP_HEADERS)?,
            extra_header_prefixes: list(EXTRA_HEADERS_PREFIX)?
                .into_iter()
                .map(|prefix| prefix.to_ascii_lowercase())
                .collect(),
        };
        if config.username_headers.is_empty() {
            return Err(format!(
                "{USERNAME_HEADERS} is empty: there is no header to read the user from"
            ));
        }
        Ok(Some(config))
    }

    /// The user the front proxy vouches for, if the request came from a front proxy.
    fn principal(&self, request: &Parts) -> Option<Principal> {
        let PeerCertificates(chain) = request.extensions.get::<PeerCertificates>()?;
        // A certificate from anyone else makes the headers mere claims: ignore them.
        let common_name = match tls::verify_client_certificate(chain, &self.trusted) {
            Ok(name) => name,
            Err(error) => {
                tracing::debug!(%error, "client certificate is not a front proxy's");
                return None;
            }
        };
        if !self.allowed_names.is_empty() && !self.allowed_names.contains(&common_name) {
            tracing::debug!(common_name, "client certificate's name is not an allowed front proxy");
            return None;
        }
        let values = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .flat_map(|name| request.headers.get_all(name.as_str()))
                .filter_map(|value| value.to_str().ok())
                .map(str::to_owned)
                .collect()
        };
        let name = values(&self.username_headers)
            .into_iter()
            .find(|name| !name.is_empty())?;
        let uid = values(&self.uid_headers).into_iter().find(|uid| !uid.is_empty());
        let mut groups = values(&self.group_headers);
        if !groups.iter().any(|group| group == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in &request.headers {
            let header = header.as_str();
            let Some(key) = self
                .extra_header_prefixes
                .iter()
                .find_map(|prefix| header.strip_prefix(prefix.as_str()))
            else {
                continue;
            };
            if let Ok(value) = value.to_str() {
                extra.entry(unescape_extra_key(key)).or_default().push(value.to_owned());
            }
        }
        Some(Principal {
            name,
            uid,
            groups,
            extra,
            credential: Credential::FrontProxy,
        })
    }
}

/// Extra keys travel percent-encoded in header names (kube-apiserver escapes what a header name
/// cannot carry, such as `/`).
fn unescape_extra_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Requests forwarded by kube-apiserver: trusted when their client certificate chains to the
/// front-proxy CA of the current [`RequestHeaderConfig`], which may change at any time.
#[derive(Debug, Clone)]
pub struct FrontProxy {
    config: watch::Receiver<Option<Arc<RequestHeaderConfig>>>,
}

impl FrontProxy {
    /// The authenticator, and the sender that replaces its configuration.
    pub fn new() -> (Self, watch::Sender<Option<Arc<RequestHeaderConfig>>>) {
        let (sender, config) = watch::channel(None);
        (FrontProxy { config }, sender)
    }
}

impl Authenticator for FrontProxy {
    fn hint(&self) -> &'static str {
        "a request through kube-apiserver"
    }

    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        let config = self.config.borrow().clone();
        Box::pin(async move { Ok(config.and_then(|config| config.principal(request))) })
    }
}

/// Allows every authenticated caller everything: the license key grants full access.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn allows<'a>(&'a self, _: &'a Principal, _: Permission) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async { Ok(true) })
    }
}

/// The authentication chain and the authorizer of one server.
#[derive(Debug, Clone)]
pub struct Auth {
    authenticators: Vec<Arc<dyn Authenticator>>,
    authorizer: Arc<dyn Authorizer>,
}

impl Auth {
    pub fn new(authenticators: Vec<Arc<dyn Authenticator>>, authorizer: Arc<dyn Authorizer>) -> Self {
        Auth {
            authenticators,
            authorizer,
        }
    }

    /// Only the license key, which grants everything.
    pub fn license_key(key: impl Into<String>) -> Self {
        Auth::new(vec![Arc::new(LicenseKey::new(key))], Arc::new(AllowAuthenticated))
    }

    pub async fn authenticate(&self, request: &Parts) -> Result<Principal, ApiError> {
        for authenticator in &self.authenticators {
            if let Some(principal) = authenticator.authenticate(request).await? {
                return Ok(principal);
            }
        }
        let hints: Vec<&str> = self.authenticators.iter().map(|a| a.hint()).collect();
        Err(ApiError::unauthorized(format!(
            "no credentials were recognised: send {}",
            hints.join(", or ")
        )))
    }

    pub async fn allows(&self, principal: &Principal, permission: Permission) -> Result<bool, ApiError> {
        self.authorizer.allows(principal, permission).await
    }

    /// `Ok` when allowed, else a `403` naming the missing permission.
    pub async fn require(&self, principal: &Principal, permission: Permission) -> Result<(), ApiError> {
        if self.allows(principal, permission).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} (needed to {})",
                denial(principal, permission),
                describe(permission)
            )))
        }
    }
}

/// Why a caller is refused, in the words kube-apiserver uses, naming what grants it.
pub fn denial(principal: &Principal, permission: Permission) -> String {
    let (verb, resource) = permission.kubernetes_attributes();
    format!(
        "User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{ANALYTICS_GROUP}\" at the cluster scope",
        principal.name
    )
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadReports => "read usage reports",
        Permission::ReadUsers => "read per-user usage",
        Permission::ReadSessions => "read the session audit log",
        Permission::IngestEvents => "send session events",
    }
}

/// Middleware of every face: authenticates the request and stores the [`Principal`] in its
/// extensions. A failure is answered in the face's error shape `E`: [`ApiError`] on `/api`, a
/// `Status` on the aggregated API's paths.
pub async fn authenticate<E>(State(auth): State<Auth>, request: Request, next: Next) -> Response
where
    E: From<ApiError> + IntoResponse,
{
    let (mut parts, body) = request.into_parts();
    match auth.authenticate(&parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => E::from(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequest;

    use super::*;
    use crate::tls::tests::{ca, client};

    fn config_map(ca_pem: &str, allowed: &str) -> BTreeMap<String, String> {
        use request_header_keys::*;
        BTreeMap::from([
            (CLIENT_CA.to_owned(), ca_pem.to_owned()),
            (ALLOWED_NAMES.to_owned(), allowed.to_owned()),
            (USERNAME_HEADERS.to_owned(), r#"["X-Remote-User"]"#.to_owned()),
            (GROUP_HEADERS.to_owned(), r#"["X-Remote-Group"]"#.to_owned()),
            (EXTRA_HEADERS_PREFIX.to_owned(), r#"["X-Remote-Extra-"]"#.to_owned()),
        ])
    }

    fn forwarded(certificate: Option<CertificateDer<'static>>) -> Parts {
        let mut parts = HttpRequest::builder()
            .uri("/apis/analytics.mirrord.metalbear.co/v1alpha1/mirrordsessions")
            .header("X-Remote-User", "alice")
            .header("X-Remote-Group", "developers")
            .header("X-Remote-Group", "auditors")
            .header("X-Remote-Extra-Acme.com%2fteam", "payments")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        if let Some(certificate) = certificate {
            parts.extensions.insert(PeerCertificates(Arc::new(vec![certificate])));
        }
        parts
    }

    #[test]
    fn the_front_proxy_vouches_for_the_user_in_its_headers() {
        let front_proxy_ca = ca("front-proxy-ca");
        let config =
            RequestHeaderConfig::from_config_map(&config_map(&front_proxy_ca.pem, r#"["front-proxy-client"]"#))
                .unwrap()
                .unwrap();
        let principal = config
            .principal(&forwarded(Some(client(&front_proxy_ca, "front-proxy-client"))))
            .unwrap();
        assert_eq!(principal.name, "alice");
        assert_eq!(principal.groups, ["developers", "auditors", AUTHENTICATED_GROUP]);
        assert_eq!(principal.extra["acme.com/team"], ["payments"]);
        assert_eq!(principal.credential, Credential::FrontProxy);
    }

    #[test]
    fn headers_without_the_front_proxy_certificate_are_ignored() {
        let front_proxy_ca = ca("front-proxy-ca");
        let config =
            RequestHeaderConfig::from_config_map(&config_map(&front_proxy_ca.pem, r#"["front-proxy-client"]"#))
                .unwrap()
                .unwrap();
        assert_eq!(config.principal(&forwarded(None)), None, "no certificate");
        let impostor = ca("front-proxy-ca");
        assert_eq!(
            config.principal(&forwarded(Some(client(&impostor, "front-proxy-client")))),
            None,
            "another CA of the same name"
        );
        assert_eq!(
            config.principal(&forwarded(Some(client(&front_proxy_ca, "someone-else")))),
            None,
            "a name that is not allowed"
        );
        let any_name = RequestHeaderConfig::from_config_map(&config_map(&front_proxy_ca.pem, ""))
            .unwrap()
            .unwrap();
        assert!(
            any_name
                .principal(&forwarded(Some(client(&front_proxy_ca, "someone-else"))))
                .is_some(),
            "an empty list allows any name"
        );
    }

    #[test]
    fn the_config_map_is_read_or_refused_with_the_offending_key() {
        assert_eq!(RequestHeaderConfig::from_config_map(&BTreeMap::new()), Ok(None));
        let front_proxy_ca = ca("front-proxy-ca");
        let error =
            RequestHeaderConfig::from_config_map(&config_map(&front_proxy_ca.pem, "front-proxy-client")).unwrap_err();
        assert!(error.contains(request_header_keys::ALLOWED_NAMES), "{error}");
        let error = RequestHeaderConfig::from_config_map(&config_map("not a certificate", "[]")).unwrap_err();
        assert!(error.contains(request_header_keys::CLIENT_CA), "{error}");
    }

    #[test]
    fn extra_keys_are_unescaped() {
        assert_eq!(unescape_extra_key("acme.com%2fteam"), "acme.com/team");
        assert_eq!(unescape_extra_key("100%"), "100%");
        assert_eq!(unescape_extra_key("a%zz"), "a%zz");
    }

    fn parts(key: Option<&str>) -> Parts {
        let mut builder = HttpRequest::builder().uri("/api/v1/reports/usage");
        if let Some(key) = key {
            builder = builder.header(LICENSE_KEY_HEADER, key);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[tokio::test]
    async fn the_right_key_authenticates_and_a_wrong_or_missing_one_does_not() {
        let auth = Auth::license_key("s3cret");
        assert_eq!(
            auth.authenticate(&parts(Some("s3cret"))).await.unwrap().name,
            "license-key"
        );
        let wrong = auth.authenticate(&parts(Some("s3cre"))).await.unwrap_err();
        assert_eq!(wrong.status, 401);
        assert!(wrong.message.contains("does not match"));
        let missing = auth.authenticate(&parts(None)).await.unwrap_err();
        assert!(missing.message.contains(LICENSE_KEY_HEADER));
    }
}
