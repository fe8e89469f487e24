//! Events accepted by `POST /api/v1/events`: a session starts, a session ends.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventBatch<E = Event> {
    /// At most 10,000 events; the batch is stored whole or not at all.
    pub events: Vec<E>,
}

/// One session event.
// Most events of a batch are starts, so boxing them would only add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    SessionStart(SessionStart),
    SessionEnd(SessionEnd),
}

impl Event {
    pub fn session_id(&self) -> &str {
        match self {
            Event::SessionStart(start) => &start.session_id,
            Event::SessionEnd(end) => &end.session_id,
        }
    }

    pub fn timestamp(&self) -> DateTime<Utc> {
        match self {
            Event::SessionStart(start) => start.timestamp,
            Event::SessionEnd(end) => end.timestamp,
        }
    }
}

/// A mirrord session started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStart {
    /// Unique id of the session, 1 to 128 characters.
    pub session_id: String,
    /// When the session started (RFC 3339).
    #[serde(deserialize_with = "crate::time::deserialize")]
    pub timestamp: DateTime<Utc>,
    /// The client's unique id (the fingerprint of its certificate).
    pub machine_id: String,
    /// Kubernetes user the client authenticated as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_username: Option<String>,
    /// POSIX user on the developer's machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_username: Option<String>,
    /// Hostname of the developer's machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_hostname: Option<String>,
    /// What the session targets; absent for a targetless session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Namespace of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Present (even empty) for a CI session; absent for a user session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiContext>,
    /// mirrord CLI version of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli_version: Option<String>,
    /// Version of the mirrord operator that served the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_version: Option<String>,
    /// Multi-cluster sessions: the parent session on the primary cluster. Sessions sharing a
    /// parent are one mirrord session run against several clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_cluster_parent: Option<String>,
    /// Set when `timestamp` is an estimate (a session first seen already running). A later start
    /// of the same session without it replaces the estimate while the session runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// A mirrord session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnd {
    /// Id of the session that ended, as in its start.
    pub session_id: String,
    /// When the session ended (RFC 3339); never earlier than its start.
    #[serde(deserialize_with = "crate::time::deserialize")]
    pub timestamp: DateTime<Utc>,
    /// Why the session closed, as the operator reports it (e.g. `Unused`, `TimeLimitExceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// Set when `timestamp` is an estimate (the session was last seen running then). A stored
    /// end is never changed: an end that differs from it only by being estimated is a repeat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// The workload a session targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Kind of the workload, e.g. `Deployment`.
    pub kind: String,
    /// Name of the workload.
    pub name: String,
    /// Container inside the workload's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// Where a CI session ran. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CiContext {
    /// CI provider, e.g. `github` or `gitlab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Pipeline (workflow) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Environment the pipeline deployed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Who or what triggered the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
}

/// Answer to a stored batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestResponse {
    /// Events stored by this request.
    pub accepted: u64,
    /// Exact repeats of events already stored, ignored.
    pub duplicates: u64,
}
