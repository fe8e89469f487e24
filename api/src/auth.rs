//! Who is asking and what they may read. Requests are authenticated by the first
//! [`Authenticator`] that recognises them, then each endpoint asks the [`Authorizer`] about the
//! [`Permission`] it needs. The license key of the design RFC is one authenticator; Kubernetes
//! authentication sits beside it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mirrord_usage_crds::LICENSE_KEY_HEADER;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub groups: Vec<String>,
}

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

/// Recognises a caller from a request. `Ok(None)`: not this authenticator's kind of request;
/// `Err`: it is, and it is wrong (e.g. a bad key), which ends authentication.
pub trait Authenticator: Send + Sync + fmt::Debug {
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
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(async move {
            let Some(presented) = request.headers.get(LICENSE_KEY_HEADER) else {
                return Ok(None);
            };
            if self.matches(presented.as_bytes()) {
                Ok(Some(Principal {
                    name: "license-key".to_owned(),
                    groups: vec![LICENSE_KEY_GROUP.to_owned()],
                }))
            } else {
                Err(ApiError::unauthorized(format!(
                    "the {LICENSE_KEY_HEADER} header does not match the configured license key"
                )))
            }
        })
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
        Err(ApiError::unauthorized(format!(
            "no credentials: send the license key in the {LICENSE_KEY_HEADER} header"
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
                "{} may not {}",
                principal.name,
                describe(permission)
            )))
        }
    }
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadReports => "read usage reports",
        Permission::ReadUsers => "read per-user usage",
        Permission::ReadSessions => "read the session audit log",
        Permission::IngestEvents => "send session events",
    }
}

/// Middleware: authenticates the request and stores the [`Principal`] in its extensions.
pub async fn authenticate(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match auth.authenticate(&parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequest;

    use super::*;

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
