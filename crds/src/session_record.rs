//! The mirrord operator's own record of one session: `MirrordClusterSession`
//! (`mirrordclustersessions.mirrord.metalbear.co/v1alpha`, cluster-scoped, one object per
//! session, deleted once the session is over). mirrord-usage only reads these objects.
//!
//! Reading is lenient: unknown fields are ignored and every field may be missing, because the
//! operator adds fields often and older ones leave some out.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// API group of the operator's session records.
pub const RECORDS_GROUP: &str = "mirrord.metalbear.co";
/// Version of the operator's session records.
pub const RECORDS_VERSION: &str = "v1alpha";
/// Plural of the operator's session records.
pub const RECORDS_PLURAL: &str = "mirrordclustersessions";

/// One mirrord session as the operator records it.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mirrord.metalbear.co",
    version = "v1alpha",
    kind = "MirrordClusterSession",
    plural = "mirrordclustersessions",
    status = "MirrordClusterSessionStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct MirrordClusterSessionSpec {
    /// Who runs the session.
    #[serde(default)]
    pub owner: SessionOwner,
    /// Namespace of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What the session targets; absent for a targetless session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RecordTarget>,
    /// Present for sessions started with `mirrord ci start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_info: Option<RecordCiInfo>,
    /// mirrord CLI version of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cli_version: Option<String>,
    /// Session key the user chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Multi-cluster sessions: the parent session on the primary cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_cluster_parent_name: Option<String>,
}

/// The client that runs a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOwner {
    /// The client's unique id, from its certificate: the machine id.
    #[serde(default)]
    pub user_id: String,
    /// POSIX user on the developer's machine.
    #[serde(default)]
    pub username: String,
    /// Hostname of the developer's machine.
    #[serde(default)]
    pub hostname: String,
    /// Kubernetes user the client authenticated as.
    #[serde(default)]
    pub k8s_username: String,
}

/// The workload a session targets: a named workload, or pods chosen by a label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind in its Kubernetes spelling, e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Pods chosen by labels, e.g. `app.kubernetes.io/name=web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// Where a CI session runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordCiInfo {
    /// A vendor name such as `GitHub Actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
}

/// What the operator reports of a session while it runs and when it closes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrordClusterSessionStatus {
    /// Last time the client was seen connected; refreshed every few seconds while it is.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_time")]
    pub connected_timestamp: Option<DateTime<Utc>>,
    /// Set when the session has closed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_closed"
    )]
    pub closed: Option<SessionClosed>,
}

/// How a session closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionClosed {
    /// e.g. `Unused`, `TimeLimitExceeded`, `SetupDeadlineExceeded`, `StateLost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A timestamp the controller cannot read is as good as none: it must not stop the watch.
fn lenient_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| serde_json::from_value(value).ok()))
}

/// `closed` as an object, or as a bare reason string, or anything else meaning "closed".
fn lenient_closed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SessionClosed>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(reason)) => Some(SessionClosed {
            reason: (!reason.is_empty()).then_some(reason),
            message: None,
        }),
        Some(value @ serde_json::Value::Object(_)) => Some(serde_json::from_value(value).unwrap_or_default()),
        Some(_) => Some(SessionClosed::default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_as_the_operator_writes_it_reads_with_unknown_fields_ignored() {
        let record: MirrordClusterSession = serde_json::from_value(serde_json::json!({
            "apiVersion": "mirrord.metalbear.co/v1alpha",
            "kind": "MirrordClusterSession",
            "metadata": {"name": "a1b2", "creationTimestamp": "2026-11-02T09:00:00Z"},
            "spec": {
                "owner": {"userId": "AbC+/x", "username": "alice", "hostname": "mbp", "k8sUsername": "alice@corp"},
                "namespace": "shop",
                "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "container": "app"},
                "ciInfo": {"provider": "GitHub Actions", "pipeline": "e2e"},
                "clientCliVersion": "3.150.0",
                "httpFilter": {"headerFilter": "x"},
                "somethingNew": 1
            },
            "status": {"connectedTimestamp": "2026-11-02T09:00:05.123456Z", "closed": {"reason": "Unused"}}
        }))
        .unwrap();
        assert_eq!(record.spec.owner.k8s_username, "alice@corp");
        assert_eq!(record.spec.ci_info.unwrap().provider.as_deref(), Some("GitHub Actions"));
        let status = record.status.unwrap();
        assert_eq!(status.closed.unwrap().reason.as_deref(), Some("Unused"));
        assert!(status.connected_timestamp.is_some());
    }

    #[test]
    fn missing_and_odd_fields_do_not_stop_reading() {
        let status: MirrordClusterSessionStatus =
            serde_json::from_str(r#"{"connectedTimestamp": "not a time", "closed": "StateLost"}"#).unwrap();
        assert_eq!(status.connected_timestamp, None);
        assert_eq!(status.closed.unwrap().reason.as_deref(), Some("StateLost"));
        let status: MirrordClusterSessionStatus = serde_json::from_str(r#"{"closed": true}"#).unwrap();
        assert_eq!(status.closed, Some(SessionClosed::default()));
        let spec: MirrordClusterSessionSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec.owner, SessionOwner::default());
    }
}
