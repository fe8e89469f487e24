//! What mirrord-usage reads from the mirrord operator: the `MirrordOperator` resource
//! (`mirrordoperators.operator.metalbear.co/v1`, one cluster-scoped object named `operator`)
//! and the sessions running now in its status. Field names are the operator's (snake_case);
//! unknown fields are ignored and every field may be missing.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Name of the operator's single `MirrordOperator` object.
pub const OPERATOR_OBJECT: &str = "operator";

/// Owner of preview-environment entries, which are not user sessions.
pub const PREVIEW_ENV_USER: &str = "preview-env";

/// The operator's license, as it reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperatorLicense {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Expiry date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

/// The running mirrord operator.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "operator.metalbear.co",
    version = "v1",
    kind = "MirrordOperator",
    plural = "mirrordoperators",
    status = "MirrordOperatorStatus"
)]
pub struct MirrordOperatorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<OperatorLicense>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MirrordOperatorStatus {
    /// Sessions running now.
    #[serde(default)]
    pub sessions: Vec<OperatorSession>,
}

/// A session the operator is serving now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperatorSession {
    /// Operator session id, stable for the life of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Seconds the session had been running when the status was written.
    #[serde(default)]
    pub duration_secs: u64,
    /// Display form of the owner: `posix-user/kubernetes-user@hostname`.
    #[serde(default)]
    pub user: String,
    /// Unique id of the client (from its certificate): the machine id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Display form of the target, e.g. `Deployment/api/container/app`, or `targetless`.
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Session key the user started the session with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The parts of a session owner's display form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub client_username: Option<String>,
    pub kubernetes_username: Option<String>,
    pub client_hostname: Option<String>,
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

impl OperatorSession {
    /// Splits `posix-user/kubernetes-user@hostname`; the Kubernetes user may itself hold `@`.
    pub fn owner(&self) -> Owner {
        let (posix, rest) = match self.user.split_once('/') {
            Some((posix, rest)) => (non_empty(posix), rest),
            None => (None, self.user.as_str()),
        };
        let (kubernetes, host) = match rest.rsplit_once('@') {
            Some((kubernetes, host)) => (non_empty(kubernetes), non_empty(host)),
            None => (non_empty(rest), None),
        };
        Owner {
            client_username: posix,
            kubernetes_username: kubernetes,
            client_hostname: host,
        }
    }

    /// `(kind, name, container)` of `Kind/name[/container/c]`; `None` for targetless.
    pub fn target_parts(&self) -> Option<(String, String, Option<String>)> {
        let mut parts = self.target.split('/');
        let kind = parts.next().filter(|kind| !kind.is_empty() && *kind != "targetless")?;
        let name = parts.next()?;
        let container = match (parts.next(), parts.next()) {
            (Some("container"), Some(container)) => Some(container.to_owned()),
            _ => None,
        };
        Some((kind.to_owned(), name.to_owned(), container))
    }

    pub fn is_preview_environment(&self) -> bool {
        self.user == PREVIEW_ENV_USER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, target: &str) -> OperatorSession {
        OperatorSession {
            user: user.into(),
            target: target.into(),
            ..OperatorSession::default()
        }
    }

    #[test]
    fn owners_split_into_posix_user_kubernetes_user_and_host() {
        let owner = session("alice/alice@corp.com@alice-mbp", "targetless").owner();
        assert_eq!(owner.client_username.as_deref(), Some("alice"));
        assert_eq!(owner.kubernetes_username.as_deref(), Some("alice@corp.com"));
        assert_eq!(owner.client_hostname.as_deref(), Some("alice-mbp"));
        assert_eq!(
            session("bob@ci-runner", "").owner().client_hostname.as_deref(),
            Some("ci-runner")
        );
        assert_eq!(session("", "").owner(), Owner::default());
    }

    #[test]
    fn targets_split_into_kind_name_and_container() {
        assert_eq!(
            session("", "Deployment/api/container/app").target_parts(),
            Some(("Deployment".into(), "api".into(), Some("app".into())))
        );
        assert_eq!(
            session("", "Pod/worker-0").target_parts(),
            Some(("Pod".into(), "worker-0".into(), None))
        );
        assert_eq!(session("", "targetless").target_parts(), None);
    }

    #[test]
    fn unknown_fields_and_missing_ones_are_fine() {
        let status: MirrordOperatorStatus = serde_json::from_str(
            r#"{"sessions": [{"id": "a1", "duration_secs": 30, "user": "u/k@h", "target": "targetless",
                "locked_ports": [], "http_filter": {"x": 1}}], "statistics": {"dau": 3}}"#,
        )
        .unwrap();
        assert_eq!(status.sessions[0].id.as_deref(), Some("a1"));
        let empty: OperatorSession = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.duration_secs, 0);
    }
}
