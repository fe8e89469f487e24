//! Objects of the aggregated API `analytics.mirrord.metalbear.co/v1alpha1`: read-only views of the
//! stored usage, shaped as Kubernetes objects so `kubectl get` and RBAC work on them.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::{PrimaryKey, UsageReport, UserMetric};
use crate::{ANALYTICS_GROUP, ANALYTICS_VERSION};

/// `analytics.mirrord.metalbear.co/v1alpha1`.
pub fn api_version() -> String {
    format!("{ANALYTICS_GROUP}/{ANALYTICS_VERSION}")
}

/// Resource names of the group, as RBAC rules and SubjectAccessReviews spell them.
pub mod resources {
    /// Usage reports computed on request (`get`).
    pub const USAGE_REPORTS: &str = "usagereports";
    /// Usage over time, a subresource of a usage report (`get`).
    pub const USAGE_REPORT_TRENDS: &str = "usagereports/trends";
    /// The headline figures of a range without per-user rows, a subresource of a usage report
    /// (`get`).
    pub const USAGE_REPORT_SUMMARY: &str = "usagereports/summary";
    /// Per-user usage (`list`).
    pub const MIRRORD_USERS: &str = "mirrordusers";
    /// The session audit log (`list`).
    pub const MIRRORD_SESSIONS: &str = "mirrordsessions";
    /// Posting session events to `POST /api/v1/events` (`create`).
    pub const SESSION_EVENTS: &str = "sessionevents";
    /// The dashboard served through kube-apiserver (`get` a file, `list` its index).
    pub const DASHBOARD: &str = "dashboard";
}

// Not k8s-openapi's `ObjectMeta`, unlike lists' `ListMeta`: its `Time` is written in whole
// seconds, where a session's `creationTimestamp` keeps its start to the microsecond; and its
// schema would promise `kubectl explain` and the dashboard's types labels, annotations, owners
// and managed fields these objects never have (maps and free-form objects the UI type generator
// does not take either). Table rows, whose times are whole seconds, do use it. (A plain comment:
// doc comments become the schema's description.)
/// Metadata of an analytics object: computed, so only a name (and when it began).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    /// When what the object describes began (a session's start), if it has a beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
}

/// The usage report of a `MirrordUsageReport` (or of the range asked for), with every field of
/// `GET /api/v1/reports/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReportObject {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(flatten)]
    pub report: UsageReport,
}

impl UsageReportObject {
    pub const KIND: &str = "UsageReport";

    pub fn new(name: impl Into<String>, report: UsageReport) -> Self {
        UsageReportObject {
            api_version: api_version(),
            kind: Self::KIND.to_owned(),
            metadata: ObjectMeta {
                name: name.into(),
                creation_timestamp: None,
            },
            report,
        }
    }
}

/// One user's usage over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrordUser {
    pub api_version: String,
    pub kind: String,
    /// `name` is the user's primary key value (`-` for sessions that lack it).
    pub metadata: ObjectMeta,
    /// Which identity field the user is keyed by.
    pub primary_key: PrimaryKey,
    #[serde(flatten)]
    pub usage: UserMetric,
}

impl MirrordUser {
    pub const KIND: &str = "MirrordUser";
    pub const LIST_KIND: &str = "MirrordUserList";
    /// Name of the user whose primary key value is missing.
    pub const UNKNOWN_NAME: &str = "-";

    pub fn new(primary_key: PrimaryKey, usage: UserMetric) -> Self {
        MirrordUser {
            api_version: api_version(),
            kind: Self::KIND.to_owned(),
            metadata: ObjectMeta {
                name: usage.id.clone().unwrap_or_else(|| Self::UNKNOWN_NAME.to_owned()),
                creation_timestamp: None,
            },
            primary_key,
            usage,
        }
    }
}

/// What a session targeted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionTarget {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// The CI run a session belonged to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCi {
    pub provider: Option<String>,
    pub pipeline: Option<String>,
    pub environment: Option<String>,
    pub triggered_by: Option<String>,
}

/// One mirrord session: who reached the cluster, where, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrordSession {
    pub api_version: String,
    pub kind: String,
    /// `name` is the session id; `creationTimestamp` its start.
    pub metadata: ObjectMeta,
    pub session_id: String,
    pub machine_id: Option<String>,
    pub kubernetes_username: Option<String>,
    pub client_username: Option<String>,
    pub client_hostname: Option<String>,
    /// Null for a targetless session.
    pub target: Option<SessionTarget>,
    /// Namespace of the target.
    pub namespace: Option<String>,
    pub start: DateTime<Utc>,
    /// Null while the session runs.
    pub end: Option<DateTime<Utc>>,
    pub running: bool,
    /// Seconds from start to end, or to now while running.
    pub duration_seconds: f64,
    /// Null unless the session ran in CI.
    pub ci: Option<SessionCi>,
    pub cli_version: Option<String>,
    pub operator_version: Option<String>,
    /// How the session closed, as the operator reported it (e.g. `Unused`); absent when it did
    /// not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// Multi-cluster sessions: the parent session on the primary cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_cluster_parent: Option<String>,
}

impl MirrordSession {
    pub const KIND: &str = "MirrordSession";
    pub const LIST_KIND: &str = "MirrordSessionList";
}

/// A page of objects of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList<T> {
    pub api_version: String,
    pub kind: String,
    pub metadata: ListMeta,
    pub items: Vec<T>,
}

impl<T> ObjectList<T> {
    pub fn new(kind: &str, items: Vec<T>, continue_token: Option<String>) -> Self {
        ObjectList {
            api_version: api_version(),
            kind: kind.to_owned(),
            metadata: ListMeta {
                continue_: continue_token,
                ..ListMeta::default()
            },
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_list_names_the_next_page_only_when_there_is_one() {
        let page = ObjectList::new(
            MirrordSession::LIST_KIND,
            vec![json!({"a": 1})],
            Some("next".to_owned()),
        );
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            json!({
                "apiVersion": "analytics.mirrord.metalbear.co/v1alpha1",
                "kind": "MirrordSessionList",
                "metadata": {"continue": "next"},
                "items": [{"a": 1}],
            })
        );
        let last = ObjectList::new(MirrordSession::LIST_KIND, Vec::<serde_json::Value>::new(), None);
        assert_eq!(serde_json::to_value(&last).unwrap()["metadata"], json!({}));
        let read: ObjectList<serde_json::Value> = serde_json::from_value(json!({
            "apiVersion": "analytics.mirrord.metalbear.co/v1alpha1",
            "kind": "MirrordSessionList",
            "metadata": {"continue": null},
            "items": [],
        }))
        .unwrap();
        assert_eq!(read, last);
    }
}
