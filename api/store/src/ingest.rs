//! The rules every event must follow before it is stored, whatever brought it (the ingest
//! endpoint, the operator's sessions): lengths, the accepted time window, and how a rejected
//! event is described.

use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::{Event, SessionStart};
use serde::Serialize;

/// Longest accepted session id.
pub const MAX_SESSION_ID_CHARS: usize = 128;
/// Longest accepted value of any other text field.
pub const MAX_FIELD_CHARS: usize = 1024;

/// Whether an event is wrong in itself or contradicts what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    Invalid,
    Conflict,
}

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventProblem {
    /// Position of the event in the batch, from 0.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub reason: ProblemKind,
    pub message: String,
}

impl EventProblem {
    pub fn invalid(index: usize, session_id: Option<&str>, message: impl Into<String>) -> Self {
        EventProblem {
            index,
            session_id: session_id.map(str::to_owned),
            reason: ProblemKind::Invalid,
            message: message.into(),
        }
    }

    pub fn conflict(index: usize, session_id: &str, message: impl Into<String>) -> Self {
        EventProblem {
            index,
            session_id: Some(session_id.to_owned()),
            reason: ProblemKind::Conflict,
            message: message.into(),
        }
    }
}

/// Checks what the types cannot: lengths, and timestamps within the accepted window around `now`.
pub fn validate(event: &Event, now: DateTime<Utc>) -> Result<(), String> {
    let session_id = event.session_id();
    let length = session_id.chars().count();
    if !(1..=MAX_SESSION_ID_CHARS).contains(&length) {
        return Err(format!(
            "sessionId must have 1 to {MAX_SESSION_ID_CHARS} characters, '{session_id}' has {length}"
        ));
    }
    check_time(event.timestamp(), now)?;
    if let Event::SessionStart(start) = event {
        validate_start(start)?;
    }
    Ok(())
}

fn validate_start(start: &SessionStart) -> Result<(), String> {
    if start.machine_id.is_empty() {
        return Err("machineId must not be empty".to_owned());
    }
    let mut fields: Vec<(&str, &str)> = vec![("machineId", &start.machine_id)];
    let optional = [
        ("kubernetesUsername", &start.kubernetes_username),
        ("clientUsername", &start.client_username),
        ("clientHostname", &start.client_hostname),
        ("namespace", &start.namespace),
        ("cliVersion", &start.cli_version),
        ("operatorVersion", &start.operator_version),
    ];
    fields.extend(
        optional
            .iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (*name, v))),
    );
    if let Some(target) = &start.target {
        fields.push(("target.kind", &target.kind));
        fields.push(("target.name", &target.name));
        if let Some(container) = &target.container {
            fields.push(("target.container", container));
        }
    }
    if let Some(ci) = &start.ci {
        let ci_fields = [
            ("ci.provider", &ci.provider),
            ("ci.pipeline", &ci.pipeline),
            ("ci.environment", &ci.environment),
            ("ci.triggeredBy", &ci.triggered_by),
        ];
        fields.extend(
            ci_fields
                .iter()
                .filter_map(|(name, value)| value.as_deref().map(|v| (*name, v))),
        );
    }
    for (name, value) in fields {
        let length = value.chars().count();
        if length > MAX_FIELD_CHARS {
            return Err(format!(
                "{name} has {length} characters; at most {MAX_FIELD_CHARS} are accepted"
            ));
        }
    }
    Ok(())
}

/// Earliest accepted timestamp: mirrord sessions began later, so anything earlier is a broken
/// clock or a made-up value, and would stretch every "since the first session" range.
pub const EARLIEST_TIMESTAMP: &str = "2020-01-01T00:00:00Z";
/// How far ahead of the server's clock a timestamp may be (clock skew between machines).
pub const MAX_AHEAD: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// [`EARLIEST_TIMESTAMP`], read once: every event of every batch is checked against it.
static EARLIEST: std::sync::LazyLock<DateTime<Utc>> =
    std::sync::LazyLock::new(|| mirrord_usage_crds::time::parse_rfc3339(EARLIEST_TIMESTAMP).expect("constant"));

fn check_time(time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    let earliest = *EARLIEST;
    let latest = now + MAX_AHEAD;
    if time < earliest || time > latest {
        return Err(format!(
            "timestamp {} is outside the accepted window, {EARLIEST_TIMESTAMP} to one hour after the server's clock ({}); check the sender's clock",
            time.to_rfc3339(),
            now.to_rfc3339()
        ));
    }
    Ok(())
}
