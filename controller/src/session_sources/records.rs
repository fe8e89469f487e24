//! From the operator's `MirrordClusterSession` records to session events: the mapping, and
//! the bookkeeping of which records are running, as plain functions over what was seen.
//!
//! A session starts at the record's `creationTimestamp`. It ends at the first of: `status.closed`
//! (when it was first seen set), `deletionTimestamp`, and the record's deletion (when seen). A
//! session whose record disappeared while nobody watched ends at its last `connectedTimestamp`,
//! else when it was last seen: that end is an estimate.

use std::collections::HashMap;

use mirrord_usage_crds::event::{CiContext, Event, SessionEnd, SessionStart, Target};
use mirrord_usage_crds::operator::{LABEL_TARGET_KIND, kubernetes_kind};
use mirrord_usage_crds::session_record::MirrordClusterSession;
use mirrord_usage_store::calendar::{self, Micros};

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The session id of a record: its name.
pub fn session_id(record: &MirrordClusterSession) -> Option<&str> {
    record.metadata.name.as_deref().filter(|name| !name.is_empty())
}

/// When the record was created: the session's exact start.
pub fn started_at(record: &MirrordClusterSession) -> Option<Micros> {
    record
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time| time.0.as_microsecond())
}

/// The last time the client was seen connected, if the record says.
pub fn connected_at(record: &MirrordClusterSession) -> Option<Micros> {
    record
        .status
        .as_ref()
        .and_then(|status| status.connected_timestamp)
        .map(calendar::to_micros)
}

/// Whether the record says the session is over (closed, or being deleted).
pub fn is_closed(record: &MirrordClusterSession) -> bool {
    record.metadata.deletion_timestamp.is_some() || record.status.as_ref().is_some_and(|status| status.closed.is_some())
}

fn close_reason(record: &MirrordClusterSession) -> Option<String> {
    record
        .status
        .as_ref()
        .and_then(|status| status.closed.as_ref())
        .and_then(|closed| closed.reason.clone())
        .filter(|reason| !reason.is_empty())
}

/// The start of the session a record describes; `None` for a record without a name or
/// creation time (which the API server always sets).
pub fn start_event(record: &MirrordClusterSession, operator_version: Option<&str>) -> Option<Event> {
    let id = session_id(record)?;
    let start = started_at(record)?;
    let spec = &record.spec;
    let owner = &spec.owner;
    let target = spec.target.as_ref().and_then(|target| {
        match (&target.label_selector, &target.kind, &target.name) {
            (Some(selector), _, _) if !selector.is_empty() => Some((LABEL_TARGET_KIND.to_owned(), selector.clone())),
            (_, Some(kind), Some(name)) if !kind.is_empty() && !name.is_empty() => {
                Some((kubernetes_kind(kind), name.clone()))
            }
            _ => None,
        }
        .map(|(kind, name)| Target {
            kind,
            name,
            container: target.container.clone().filter(|c| !c.is_empty()),
        })
    });
    Some(Event::SessionStart(SessionStart {
        session_id: id.to_owned(),
        timestamp: calendar::from_micros(start),
        machine_id: non_empty(&owner.user_id).unwrap_or_else(|| format!("user:{}", owner.k8s_username)),
        kubernetes_username: non_empty(&owner.k8s_username),
        client_username: non_empty(&owner.username),
        client_hostname: non_empty(&owner.hostname),
        target,
        namespace: spec.namespace.clone().filter(|ns| !ns.is_empty()),
        ci: spec.ci_info.as_ref().map(|ci| CiContext {
            provider: ci.provider.clone(),
            pipeline: ci.pipeline.clone(),
            environment: ci.environment.clone(),
            triggered_by: ci.triggered_by.clone(),
        }),
        cli_version: spec.client_cli_version.clone().filter(|v| !v.is_empty()),
        operator_version: operator_version.map(str::to_owned),
        multi_cluster_parent: spec.multi_cluster_parent_name.clone().filter(|p| !p.is_empty()),
        estimated: false,
    }))
}

/// The end of a closed session seen at `seen_at`. `watched_running` says whether it was seen
/// running before: if not, the moment it closed was missed and its last connection stands in.
pub fn end_event(record: &MirrordClusterSession, seen_at: Micros, watched_running: bool) -> Option<Event> {
    let id = session_id(record)?;
    let deleted = record
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|time| time.0.as_microsecond());
    let closed = record.status.as_ref().is_some_and(|status| status.closed.is_some());
    let closed_at = closed.then(|| match (watched_running, connected_at(record)) {
        (false, Some(connected)) => (connected.min(seen_at), true),
        _ => (seen_at, false),
    });
    let (end, estimated) = match (deleted, closed_at) {
        (Some(deleted), Some((closed, estimated))) if closed < deleted => (closed, estimated),
        (Some(deleted), _) => (deleted, false),
        (None, Some(closed)) => closed,
        (None, None) => return None,
    };
    Some(end_at(id, record, end, estimated))
}

/// The end of a session whose record was deleted (seen at `seen_at`) with no other signal.
pub fn vanished_event(record: &MirrordClusterSession, seen_at: Micros) -> Option<Event> {
    let id = session_id(record)?;
    Some(end_at(id, record, seen_at, false))
}

fn end_at(id: &str, record: &MirrordClusterSession, end: Micros, estimated: bool) -> Event {
    // An end before the start (clock skew between operator and API server) ends it at once.
    let end = started_at(record).map_or(end, |start| end.max(start));
    Event::SessionEnd(SessionEnd {
        session_id: id.to_owned(),
        timestamp: calendar::from_micros(end),
        close_reason: close_reason(record),
        estimated,
    })
}

/// The end of a session that ended while nobody watched, at its last sighting: an estimate.
pub fn estimated_end(id: &str, last_seen: Micros) -> Event {
    Event::SessionEnd(SessionEnd {
        session_id: id.to_owned(),
        timestamp: calendar::from_micros(last_seen),
        close_reason: None,
        estimated: true,
    })
}

/// A running session being followed, and what the store knows of when it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// Last connection (or sighting) known in memory.
    pub last_seen: Micros,
    /// Last sighting written to the store.
    pub persisted: Micros,
}

/// Running sessions followed through their records. Heartbeats only move `last_seen` in memory;
/// [`Tracker::due`] says what to write, so a quiet heartbeat costs no database write.
#[derive(Debug, Default)]
pub struct Tracker {
    running: HashMap<String, Tracked>,
}

impl Tracker {
    pub fn contains(&self, id: &str) -> bool {
        self.running.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Starts following a session, as persisted at `seen_at`.
    pub fn follow(&mut self, id: &str, seen_at: Micros) {
        self.running.insert(
            id.to_owned(),
            Tracked {
                last_seen: seen_at,
                persisted: seen_at,
            },
        );
    }

    /// A heartbeat: the session was connected (or seen) at `seen_at`.
    pub fn seen(&mut self, id: &str, seen_at: Micros) {
        if let Some(tracked) = self.running.get_mut(id) {
            tracked.last_seen = tracked.last_seen.max(seen_at);
        }
    }

    pub fn last_seen(&self, id: &str) -> Option<Micros> {
        self.running.get(id).map(|tracked| tracked.last_seen)
    }

    pub fn forget(&mut self, id: &str) -> Option<Tracked> {
        self.running.remove(id)
    }

    /// Forgets the sessions not in `keep`, returning them with when they were last seen.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Vec<(String, Micros)> {
        let mut gone = Vec::new();
        self.running.retain(|id, tracked| {
            let kept = keep(id);
            if !kept {
                gone.push((id.clone(), tracked.last_seen));
            }
            kept
        });
        gone.sort();
        gone
    }

    /// Sightings newer than what is stored, to be written; marks them written.
    pub fn due(&mut self) -> Vec<(String, Micros)> {
        let mut due = Vec::new();
        for (id, tracked) in &mut self.running {
            if tracked.last_seen > tracked.persisted {
                tracked.persisted = tracked.last_seen;
                due.push((id.clone(), tracked.last_seen));
            }
        }
        due.sort();
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrord_usage_crds::session_record::MirrordClusterSession;

    const SECOND: Micros = 1_000_000;

    fn record(value: serde_json::Value) -> MirrordClusterSession {
        let mut object = serde_json::json!({
            "apiVersion": "mirrord.metalbear.co/v1alpha",
            "kind": "MirrordClusterSession",
            "metadata": {"name": "s1", "creationTimestamp": "2026-11-02T09:00:00Z"},
            "spec": {
                "owner": {"userId": "AbC+/xyz", "username": "alice", "hostname": "alice-mbp", "k8sUsername": "alice@corp.com"},
                "namespace": "shop"
            }
        });
        merge(&mut object, value);
        serde_json::from_value(object).unwrap()
    }

    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
                for (key, value) in patch {
                    merge(base.entry(key).or_insert(serde_json::Value::Null), value);
                }
            }
            (base, patch) => *base = patch,
        }
    }

    fn at(text: &str) -> Micros {
        calendar::to_micros(text.parse().unwrap())
    }

    fn start_of(record: &MirrordClusterSession) -> SessionStart {
        match start_event(record, Some("3.130.0")).unwrap() {
            Event::SessionStart(start) => start,
            Event::SessionEnd(_) => panic!("a start"),
        }
    }

    fn end_of(event: Option<Event>) -> SessionEnd {
        match event.unwrap() {
            Event::SessionEnd(end) => end,
            Event::SessionStart(_) => panic!("an end"),
        }
    }

    #[test]
    fn a_record_maps_to_a_start_with_its_owner_target_ci_and_versions() {
        let start = start_of(&record(serde_json::json!({"spec": {
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "container": "app"},
            "ciInfo": {"provider": "GitHub Actions", "environment": "staging", "pipeline": "e2e", "triggeredBy": "push"},
            "clientCliVersion": "3.150.0",
            "multiClusterParentName": "mc-00ff"
        }})));
        assert_eq!(start.session_id, "s1");
        assert_eq!(
            start.timestamp,
            "2026-11-02T09:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        assert_eq!(start.machine_id, "AbC+/xyz");
        assert_eq!(start.client_username.as_deref(), Some("alice"));
        assert_eq!(start.client_hostname.as_deref(), Some("alice-mbp"));
        assert_eq!(start.kubernetes_username.as_deref(), Some("alice@corp.com"));
        assert_eq!(
            start.target,
            Some(Target {
                kind: "Deployment".into(),
                name: "api".into(),
                container: Some("app".into())
            })
        );
        assert_eq!(start.namespace.as_deref(), Some("shop"));
        let ci = start.ci.unwrap();
        assert_eq!(ci.provider.as_deref(), Some("GitHub Actions"));
        assert_eq!(ci.triggered_by.as_deref(), Some("push"));
        assert_eq!(start.cli_version.as_deref(), Some("3.150.0"));
        assert_eq!(start.operator_version.as_deref(), Some("3.130.0"));
        assert_eq!(start.multi_cluster_parent.as_deref(), Some("mc-00ff"));
        assert!(!start.estimated);
    }

    #[test]
    fn targetless_label_and_lowercase_targets() {
        assert_eq!(start_of(&record(serde_json::json!({}))).target, None);
        assert_eq!(
            start_of(&record(serde_json::json!({}))).ci,
            None,
            "no ciInfo: a user session"
        );
        let label = start_of(&record(serde_json::json!({"spec": {"target": {
            "labelSelector": "app.kubernetes.io/name=web", "container": "app"
        }}})))
        .target
        .unwrap();
        assert_eq!(
            (label.kind.as_str(), label.name.as_str()),
            ("PodSet", "app.kubernetes.io/name=web")
        );
        let lower = start_of(&record(
            serde_json::json!({"spec": {"target": {"kind": "statefulset", "name": "db"}}}),
        ));
        assert_eq!(lower.target.unwrap().kind, "StatefulSet");
    }

    #[test]
    fn a_session_ends_at_the_first_close_signal() {
        let seen = at("2026-11-02T10:00:00Z");
        let running = record(serde_json::json!({"status": {"connectedTimestamp": "2026-11-02T09:30:00Z"}}));
        assert!(end_event(&running, seen, true).is_none());

        let closed = record(serde_json::json!({"status": {"closed": {"reason": "Unused"}}}));
        let end = end_of(end_event(&closed, seen, true));
        assert_eq!(
            (calendar::to_micros(end.timestamp), end.close_reason.as_deref()),
            (seen, Some("Unused"))
        );
        assert!(!end.estimated);

        let deleting = record(serde_json::json!({"metadata": {"deletionTimestamp": "2026-11-02T09:45:00Z"}}));
        let end = end_of(end_event(&deleting, seen, true));
        assert_eq!(calendar::to_micros(end.timestamp), at("2026-11-02T09:45:00Z"));

        let both = record(serde_json::json!({
            "metadata": {"deletionTimestamp": "2026-11-02T09:45:00Z"},
            "status": {"closed": {"reason": "TimeLimitExceeded"}}
        }));
        let end = end_of(end_event(&both, seen, true));
        assert_eq!(calendar::to_micros(end.timestamp), at("2026-11-02T09:45:00Z"));
        assert_eq!(end.close_reason.as_deref(), Some("TimeLimitExceeded"));

        let vanished = end_of(vanished_event(&running, seen));
        assert_eq!(calendar::to_micros(vanished.timestamp), seen);
    }

    #[test]
    fn a_close_that_was_missed_ends_at_the_last_connection_as_an_estimate() {
        let seen = at("2026-11-02T12:00:00Z");
        let closed = record(serde_json::json!({"status": {
            "closed": {"reason": "StateLost"}, "connectedTimestamp": "2026-11-02T09:30:00.250000Z"
        }}));
        let end = end_of(end_event(&closed, seen, false));
        assert_eq!(calendar::to_micros(end.timestamp), at("2026-11-02T09:30:00.25Z"));
        assert!(end.estimated);
        let skewed = record(serde_json::json!({"metadata": {"deletionTimestamp": "2026-11-02T08:00:00Z"}}));
        let end = end_of(end_event(&skewed, seen, true));
        assert_eq!(
            calendar::to_micros(end.timestamp),
            at("2026-11-02T09:00:00Z"),
            "never before the start"
        );
    }

    #[test]
    fn heartbeats_move_the_last_sighting_in_memory_until_it_is_due() {
        let mut tracker = Tracker::default();
        tracker.follow("a", 10 * SECOND);
        tracker.seen("a", 12 * SECOND);
        tracker.seen("a", 11 * SECOND);
        tracker.seen("unknown", 99 * SECOND);
        assert_eq!(tracker.last_seen("a"), Some(12 * SECOND));
        assert_eq!(tracker.due(), [("a".to_owned(), 12 * SECOND)]);
        assert!(tracker.due().is_empty(), "written once");
        tracker.follow("b", SECOND);
        assert_eq!(tracker.retain(|id| id == "b"), [("a".to_owned(), 12 * SECOND)]);
        assert!(tracker.contains("b") && !tracker.contains("a"));
    }
}
