//! Authentication and authorization delegated to the cluster, as Kubernetes extension API
//! servers do: bearer tokens are checked with TokenReviews, permissions with
//! SubjectAccessReviews (both cached briefly), and the front proxy's CA is read from ConfigMap
//! `kube-system/extension-apiserver-authentication` and followed as it changes.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::watcher;
use mirrord_usage_crds::usage_report::MirrordUsageReport;
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_server::aggregated::{NamedRange, ReportDefinitions};
use mirrord_usage_server::auth::{
    Authenticator, Authorizer, BoxFuture, Credential, MASTERS_GROUP, Permission, Principal, RequestHeaderConfig,
};
use mirrord_usage_server::error::ApiError;
use moka::sync::Cache;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use crate::period;

/// Where kube-apiserver publishes how it authenticates to extension API servers.
pub const AUTHENTICATION_CONFIG_MAP: (&str, &str) = ("kube-system", "extension-apiserver-authentication");

/// Most entries a cache keeps; beyond it, the least used go first.
const CACHE_CAPACITY: u64 = 10_000;

/// Answers remembered for `ttl` after they were given; a zero `ttl` remembers nothing.
struct TtlCache<K, V>(Option<Cache<K, V>>);

impl<K, V> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("enabled", &self.0.is_some())
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static> TtlCache<K, V> {
    fn new(ttl: Duration) -> Self {
        TtlCache((!ttl.is_zero()).then(|| Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(ttl).build()))
    }

    fn get(&self, key: &K) -> Option<V> {
        self.0.as_ref()?.get(key)
    }

    fn insert(&self, key: K, value: V) {
        if let Some(cache) = &self.0 {
            cache.insert(key, value);
        }
    }
}

/// A `503` for a request that needed kube-apiserver and could not reach it.
fn cluster_unavailable(what: &str, error: kube::Error) -> ApiError {
    tracing::warn!(%error, "could not {what}");
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("could not {what} with kube-apiserver: {error}"),
    )
}

/// `Authorization: Bearer <token>`, reviewed by kube-apiserver.
#[derive(Debug)]
pub struct TokenReviewer {
    api: Api<TokenReview>,
    /// Keyed by the token's SHA-256, so tokens themselves are not kept.
    cache: TtlCache<[u8; 32], Option<Principal>>,
}

impl TokenReviewer {
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        TokenReviewer {
            api: Api::all(client),
            cache: TtlCache::new(ttl),
        }
    }

    async fn review(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..Default::default()
        };
        let reviewed = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| cluster_unavailable("review the bearer token", error))?;
        let status = reviewed.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let Some(user) = status
            .user
            .filter(|user| user.username.as_deref().is_some_and(|name| !name.is_empty()))
        else {
            return Ok(None);
        };
        Ok(Some(Principal {
            name: user.username.unwrap_or_default(),
            uid: user.uid,
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default().into_iter().collect(),
            credential: Credential::BearerToken,
        }))
    }
}

impl Authenticator for TokenReviewer {
    fn hint(&self) -> &'static str {
        "a Kubernetes bearer token in the Authorization header"
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(async move {
            let Some(value) = request.headers.get(axum::http::header::AUTHORIZATION) else {
                return Ok(None);
            };
            let token = value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|token| !token.is_empty())
                .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?;
            let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            let principal = match self.cache.get(&key) {
                Some(principal) => principal,
                None => {
                    let principal = self.review(token).await?;
                    self.cache.insert(key, principal.clone());
                    principal
                }
            };
            principal
                .map(Some)
                .ok_or_else(|| ApiError::unauthorized("the bearer token was not accepted by kube-apiserver"))
        })
    }
}

/// Asks kube-apiserver, with a SubjectAccessReview, whether a caller may do what a request needs.
#[derive(Debug)]
pub struct AccessReviewer {
    api: Api<SubjectAccessReview>,
    cache: TtlCache<(Principal, Permission), bool>,
}

impl AccessReviewer {
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        AccessReviewer {
            api: Api::all(client),
            cache: TtlCache::new(ttl),
        }
    }

    async fn review(&self, principal: &Principal, permission: Permission) -> Result<bool, ApiError> {
        let (verb, resource) = permission.kubernetes_attributes();
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(principal.name.clone()),
                uid: principal.uid.clone(),
                groups: Some(principal.groups.clone()),
                extra: (!principal.extra.is_empty()).then(|| principal.extra.clone().into_iter().collect()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(ANALYTICS_GROUP.to_owned()),
                    version: Some(ANALYTICS_VERSION.to_owned()),
                    resource: Some(resource.to_owned()),
                    verb: Some(verb.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviewed = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| cluster_unavailable("check permissions", error))?;
        Ok(reviewed.status.is_some_and(|status| status.allowed))
    }
}

impl Authorizer for AccessReviewer {
    fn allows<'a>(&'a self, principal: &'a Principal, permission: Permission) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            match principal.credential {
                // The license key is the design RFC's all-access secret.
                Credential::LicenseKey => return Ok(true),
                Credential::FrontProxy | Credential::BearerToken => {}
            }
            if principal.in_group(MASTERS_GROUP) {
                return Ok(true);
            }
            let key = (principal.clone(), permission);
            if let Some(allowed) = self.cache.get(&key) {
                return Ok(allowed);
            }
            let allowed = self.review(principal, permission).await?;
            self.cache.insert(key, allowed);
            Ok(allowed)
        })
    }
}

/// Keeps the front proxy's configuration equal to what the ConfigMap says, until the process
/// ends. A ConfigMap that cannot be parsed keeps the previous configuration.
pub async fn follow_request_header_config(
    client: kube::Client,
    sender: watch::Sender<Option<Arc<RequestHeaderConfig>>>,
) {
    let (namespace, name) = AUTHENTICATION_CONFIG_MAP;
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher::watcher(api, config));
    while let Some(event) = events.next().await {
        let config_map = match event {
            Ok(watcher::Event::Apply(config_map) | watcher::Event::InitApply(config_map)) => config_map,
            Ok(watcher::Event::Delete(_)) => {
                tracing::warn!(
                    "ConfigMap {namespace}/{name} was deleted: requests through kube-apiserver are not trusted"
                );
                sender.send_replace(None);
                continue;
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot watch ConfigMap {namespace}/{name}; grant get/list/watch on it (Role extension-apiserver-authentication-reader)");
                continue;
            }
        };
        match RequestHeaderConfig::from_config_map(&config_map.data.unwrap_or_default()) {
            Ok(config) => {
                tracing::info!(
                    front_proxy = config.is_some(),
                    "front-proxy configuration read from {namespace}/{name}"
                );
                sender.send_replace(config.map(Arc::new));
            }
            Err(error) => tracing::warn!(%error, "ignoring an unreadable {namespace}/{name}; keeping the previous one"),
        }
    }
}

/// `usagereports/<name>` refers to the `MirrordUsageReport` of that name.
#[derive(Debug, Clone)]
pub struct ReportLookup {
    api: Api<MirrordUsageReport>,
}

impl ReportLookup {
    pub fn new(client: kube::Client) -> Self {
        ReportLookup { api: Api::all(client) }
    }
}

impl ReportDefinitions for ReportLookup {
    fn resolve<'a>(&'a self, name: &'a str, now: DateTime<Utc>) -> BoxFuture<'a, Result<Option<NamedRange>, ApiError>> {
        Box::pin(async move {
            let report = self
                .api
                .get_opt(name)
                .await
                .map_err(|error| cluster_unavailable(&format!("read MirrordUsageReport {name}"), error))?;
            Ok(report.map(|report| {
                let resolved = period::resolve(&report.spec, now);
                NamedRange {
                    from: resolved.from,
                    to: resolved.to,
                    primary_key: report.spec.primary_key,
                }
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_answers_expire() {
        let ttl = Duration::from_millis(50);
        let cache = TtlCache::new(ttl);
        cache.insert("a", true);
        assert_eq!(cache.get(&"a"), Some(true));
        assert_eq!(cache.get(&"b"), None);
        // The cache reads the monotonic clock itself; time has to pass for real.
        std::thread::sleep(ttl * 2);
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = TtlCache::new(Duration::ZERO);
        cache.insert("a", true);
        assert_eq!(cache.get(&"a"), None);
    }
}
