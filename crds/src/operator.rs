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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<OperatorStatistics>,
}

/// Counters the operator keeps beside its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperatorStatistics {
    /// CI sessions running now (the summary's only CI marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_ci_sessions_count: Option<u64>,
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
    /// Display form of the target with a lowercase kind, e.g. `deployment/api/container/app`,
    /// `label/app.kubernetes.io/name=web/container/app`, `targetless`, or (2024-era operators)
    /// `namespace/<ns>` for targetless.
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Session key the user started the session with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Kind given to sessions that target the pods a label selector chooses.
pub const LABEL_TARGET_KIND: &str = "PodSet";

/// A workload kind in its Kubernetes spelling: the operator's summary writes kinds in lowercase
/// (`statefulset`), its records and pushed events in PascalCase (`StatefulSet`).
pub fn kubernetes_kind(kind: &str) -> String {
    const KINDS: [&str; 9] = [
        "Deployment",
        "StatefulSet",
        "Rollout",
        "CronJob",
        "ReplicaSet",
        "Job",
        "Pod",
        "Service",
        "DaemonSet",
    ];
    if let Some(known) = KINDS.iter().find(|known| known.eq_ignore_ascii_case(kind)) {
        return (*known).to_owned();
    }
    let mut chars = kind.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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

    /// `(kind, name, container)` of the display form, the kind in its Kubernetes spelling; a
    /// label target is kind `PodSet` named by its selector; `None` for targetless.
    pub fn target_parts(&self) -> Option<(String, String, Option<String>)> {
        let target = self.target.as_str();
        if target.is_empty() || target == "targetless" || target.starts_with("namespace/") {
            return None;
        }
        let (path, container) = match target.rsplit_once("/container/") {
            Some((path, container)) if !container.is_empty() => (path, Some(container.to_owned())),
            _ => (target, None),
        };
        if let Some(selector) = path.strip_prefix("label/") {
            // A label key may hold `/` itself, so the selector is everything up to the container.
            return (!selector.is_empty()).then(|| (LABEL_TARGET_KIND.to_owned(), selector.to_owned(), container));
        }
        let (kind, name) = path.split_once('/')?;
        // A pod name has no `/`; anything after one is a part this reader does not know.
        let name = name.split('/').next().unwrap_or(name);
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some((kubernetes_kind(kind), name.to_owned(), container))
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

    fn parts(kind: &str, name: &str, container: Option<&str>) -> Option<(String, String, Option<String>)> {
        Some((kind.into(), name.into(), container.map(Into::into)))
    }

    #[test]
    fn targets_split_into_kind_name_and_container_with_the_kind_spelled_as_kubernetes_does() {
        let cases = [
            ("deployment/api/container/app", parts("Deployment", "api", Some("app"))),
            ("Deployment/api/container/app", parts("Deployment", "api", Some("app"))),
            ("pod/worker-0", parts("Pod", "worker-0", None)),
            ("statefulset/db", parts("StatefulSet", "db", None)),
            ("rollout/web/container/c", parts("Rollout", "web", Some("c"))),
            ("cronjob/nightly", parts("CronJob", "nightly", None)),
            ("replicaset/rs-1", parts("ReplicaSet", "rs-1", None)),
            ("job/once", parts("Job", "once", None)),
            ("service/front", parts("Service", "front", None)),
            ("widget/w", parts("Widget", "w", None)),
            (
                "label/app.kubernetes.io/name=web/container/app",
                parts("PodSet", "app.kubernetes.io/name=web", Some("app")),
            ),
            ("label/tier=backend", parts("PodSet", "tier=backend", None)),
            ("targetless", None),
            ("", None),
            ("namespace/shop", None),
            ("deployment", None),
        ];
        for (display, expected) in cases {
            assert_eq!(session("", display).target_parts(), expected, "{display}");
        }
    }

    #[test]
    fn statistics_count_ci_sessions_running_now() {
        let status: MirrordOperatorStatus =
            serde_json::from_str(r#"{"sessions": [], "statistics": {"dau": 3, "active_ci_sessions_count": 2}}"#)
                .unwrap();
        assert_eq!(status.statistics.unwrap().active_ci_sessions_count, Some(2));
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
