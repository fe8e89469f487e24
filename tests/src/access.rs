//! Who may do what: ClusterRoles and the bindings that grant them, and service-account tokens
//! for tests that authenticate with a bearer token instead of a client certificate.

use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};

use crate::{
    crd::FIELD_MANAGER,
    error::{Error, Result},
};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Whom a binding grants a role to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingSubject {
    /// A user by name (a client certificate's CN).
    User(String),
    /// Everyone in a group (a client certificate's O).
    Group(String),
    /// A service account, i.e. the user `system:serviceaccount:<namespace>:<name>`.
    ServiceAccount { namespace: String, name: String },
}

impl BindingSubject {
    pub fn user(name: impl Into<String>) -> Self {
        Self::User(name.into())
    }

    pub fn service_account(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self::ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn to_subject(&self) -> Subject {
        let (kind, name, namespace) = match self {
            Self::User(name) => ("User", name, None),
            Self::Group(name) => ("Group", name, None),
            Self::ServiceAccount { namespace, name } => ("ServiceAccount", name, Some(namespace.clone())),
        };
        Subject {
            // ServiceAccount is a core kind: its subject names no API group.
            api_group: namespace.is_none().then(|| RBAC_GROUP.to_owned()),
            kind: kind.to_owned(),
            name: name.clone(),
            namespace,
        }
    }
}

/// Applies `roles` (server-side, so applying them again updates them).
pub async fn apply_cluster_roles(client: &Client, roles: &[ClusterRole]) -> Result<()> {
    let api = Api::<ClusterRole>::all(client.clone());
    for role in roles {
        let name = role.metadata.name.as_deref().ok_or(Error::UnnamedClusterRole)?;
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(role))
            .await?;
    }
    Ok(())
}

/// Applies the ClusterRoleBinding `binding_name` granting the ClusterRole `role` to `subject`
/// (server-side: applying it again with another subject replaces the subject).
pub async fn bind_cluster_role(
    client: &Client,
    binding_name: &str,
    role: &str,
    subject: &BindingSubject,
) -> Result<()> {
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(binding_name.to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_owned(),
            kind: "ClusterRole".to_owned(),
            name: role.to_owned(),
        },
        subjects: Some(vec![subject.to_subject()]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(
            binding_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await?;
    Ok(())
}

/// Creates the namespace and the ServiceAccount if missing and returns a token for it from the
/// TokenRequest API, for kube-apiserver's audiences (so its TokenReview accepts it) and valid
/// for kube-apiserver's default lifetime (an hour).
pub async fn service_account_token(client: &Client, namespace: &str, name: &str) -> Result<String> {
    let apply = PatchParams::apply(FIELD_MANAGER);
    let metadata = |name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        ..ObjectMeta::default()
    };
    let namespace_object = Namespace {
        metadata: metadata(namespace, None),
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(namespace, &apply, &Patch::Apply(&namespace_object))
        .await?;
    let service_account = ServiceAccount {
        metadata: metadata(name, Some(namespace)),
        ..ServiceAccount::default()
    };
    let service_accounts = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
    service_accounts
        .patch(name, &apply, &Patch::Apply(&service_account))
        .await?;

    let request = TokenRequest {
        // No audiences: kube-apiserver fills in its own.
        spec: TokenRequestSpec::default(),
        ..TokenRequest::default()
    };
    let issued = service_accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await?;
    issued.status.map(|status| status.token).ok_or_else(|| Error::NoToken {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_subject_has_a_namespace_and_no_api_group() {
        let subject = BindingSubject::service_account("ops", "robot").to_subject();
        assert_eq!(subject.kind, "ServiceAccount");
        assert_eq!(subject.api_group, None);
        assert_eq!(subject.namespace.as_deref(), Some("ops"));
    }

    #[test]
    fn user_and_group_subjects_are_rbac_kinds_without_a_namespace() {
        let user = BindingSubject::user("alice").to_subject();
        let group = BindingSubject::Group("dev".to_owned()).to_subject();
        assert_eq!((user.kind.as_str(), user.name.as_str()), ("User", "alice"));
        assert_eq!((group.kind.as_str(), group.name.as_str()), ("Group", "dev"));
        for subject in [user, group] {
            assert_eq!(subject.api_group.as_deref(), Some(RBAC_GROUP));
            assert_eq!(subject.namespace, None);
        }
    }
}
