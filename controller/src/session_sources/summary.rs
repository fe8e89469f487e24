//! Sessions from the operator's running-sessions summary (operators without per-session
//! records): every poll compares the sessions it shows as running with those being watched,
//! starts the new ones (at first sight minus their duration, an estimate) and ends (at their
//! last-seen time) those that are gone. What is watched lives in the store, so restarts and
//! outages lose nothing and count nothing twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use kube::Api;
use mirrord_usage_crds::event::{CiContext, Event, SessionEnd, SessionStart, Target};
use mirrord_usage_crds::operator::{MirrordOperator, OPERATOR_OBJECT, OperatorSession};
use mirrord_usage_crds::report::License;
use mirrord_usage_server::usage::Usage;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::{SessionState, Watched};

use super::ci_users::CiUsers;
use super::store_events;

/// What one poll changes.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub starts: Vec<Event>,
    pub ends: Vec<Event>,
    /// Sessions seen running now (watched from now on).
    pub seen: Vec<String>,
    /// Sessions no longer watched.
    pub forget: Vec<String>,
}

/// The id a session is stored under: the operator's own, or one derived from what identifies it
/// when the operator gives none.
pub fn session_id(session: &OperatorSession) -> String {
    match &session.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let parts = [
                session.user_id.as_deref().unwrap_or_default(),
                &session.user,
                &session.target,
                session.namespace.as_deref().unwrap_or_default(),
                session.key.as_deref().unwrap_or_default(),
            ];
            // FNV-1a: stable across releases, unlike std's hasher.
            let hash = parts
                .join("\u{1f}")
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
                });
            format!("operator-{hash:016x}")
        }
    }
}

fn start_event(
    session: &OperatorSession,
    id: String,
    now: Micros,
    operator_version: Option<&str>,
    ci_users: &CiUsers,
) -> Event {
    let owner = session.owner();
    let ci = owner
        .kubernetes_username
        .as_deref()
        .is_some_and(|user| ci_users.matches(user))
        .then(CiContext::default);
    let start = now
        - i64::try_from(session.duration_secs)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1_000_000);
    Event::SessionStart(SessionStart {
        session_id: id,
        timestamp: calendar::from_micros(start.max(0)),
        machine_id: session
            .user_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("user:{}", session.user)),
        kubernetes_username: owner.kubernetes_username,
        client_username: owner.client_username,
        client_hostname: owner.client_hostname,
        target: session
            .target_parts()
            .map(|(kind, name, container)| Target { kind, name, container }),
        namespace: session.namespace.clone(),
        ci,
        cli_version: None,
        operator_version: operator_version.map(str::to_owned),
        multi_cluster_parent: None,
        estimated: true,
    })
}

/// What the summary decides about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The summary is the source: every session it shows.
    Everything,
    /// The records are the source: only sessions the summary started (whose start is still its
    /// estimate) until a record takes them over or the summary stops showing them. This covers
    /// sessions that began before the operator kept records.
    StartedBySummary,
}

/// Decides what a poll at `now` changes, given what the operator shows, what is watched and what
/// the store knows of the sessions shown.
pub fn plan(
    now: Micros,
    shown: &[OperatorSession],
    operator_version: Option<&str>,
    ci_users: &CiUsers,
    watched: &[Watched],
    known: &HashMap<String, SessionState>,
    scope: Scope,
) -> Plan {
    let in_scope = |w: &&Watched| scope == Scope::Everything || w.state.start.is_none() || w.state.start_estimated;
    let watched: Vec<&Watched> = watched.iter().filter(in_scope).collect();
    let watched_ids: HashMap<&str, &Watched> = watched.iter().map(|w| (w.session_id.as_str(), *w)).collect();
    let mut plan = Plan::default();
    let mut visible = HashSet::new();
    for session in shown.iter().filter(|session| !session.is_preview_environment()) {
        let id = session_id(session);
        if !visible.insert(id.clone()) {
            continue;
        }
        let stored_start = known.get(&id).is_some_and(|state| state.start.is_some());
        match watched_ids.get(id.as_str()) {
            // Ours: still running. Started again only if the start never made it to the store.
            Some(_) => {
                if !stored_start {
                    plan.starts
                        .push(start_event(session, id.clone(), now, operator_version, ci_users));
                }
                plan.seen.push(id);
            }
            // Reported by another source (pushed events, records): that source owns it.
            None if known.contains_key(&id) || scope == Scope::StartedBySummary => {}
            None => {
                plan.starts
                    .push(start_event(session, id.clone(), now, operator_version, ci_users));
                plan.seen.push(id);
            }
        }
    }
    for watched in watched.iter().filter(|w| !visible.contains(&w.session_id)) {
        if watched.state.is_running() {
            plan.ends.push(Event::SessionEnd(SessionEnd {
                session_id: watched.session_id.clone(),
                timestamp: calendar::from_micros(watched.last_seen),
                close_reason: None,
                estimated: true,
            }));
        }
        plan.forget.push(watched.session_id.clone());
    }
    plan
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub running: usize,
    pub started: usize,
    pub ended: usize,
}

/// Reads the operator once and applies the difference.
pub async fn poll_once(
    api: &Api<MirrordOperator>,
    usage: Usage,
    ci_users: &CiUsers,
    now: DateTime<Utc>,
    scope: Scope,
) -> anyhow::Result<PollOutcome> {
    let operator = api
        .get_opt(OPERATOR_OBJECT)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no MirrordOperator named {OPERATOR_OBJECT:?}"))?;
    let status = operator.status.unwrap_or_default();
    let ci_running = status
        .statistics
        .and_then(|statistics| statistics.active_ci_sessions_count);
    let shown = status.sessions;
    let ci_users = ci_users.clone();
    let version = operator.spec.operator_version;
    let license = operator.spec.license.map(|license| License {
        name: license.name,
        organization: license.organization,
        expire_at: license.expire_at,
    });
    let ids: Vec<String> = shown.iter().map(session_id).collect();
    let now = calendar::to_micros(now);
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<PollOutcome> {
        if let Some(license) = &license {
            usage.record_license(license)?;
        }
        if scope == Scope::Everything {
            usage.record_operator_ci_running(ci_running)?;
        }
        let watched = usage.watched()?;
        let known = usage.known_sessions(&ids)?;
        let plan = plan(now, &shown, version.as_deref(), &ci_users, &watched, &known, scope);
        // Watch first: a crash after this only makes the next poll start (or end) it again.
        let seen: Vec<(String, Micros)> = plan.seen.iter().map(|id| (id.clone(), now)).collect();
        usage.watch(&seen)?;
        store_events(&usage, &plan.starts, now)?;
        store_events(&usage, &plan.ends, now)?;
        usage.unwatch(&plan.forget)?;
        Ok(PollOutcome {
            running: plan.seen.len(),
            started: plan.starts.len(),
            ended: plan.ends.len(),
        })
    })
    .await??;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn shown(id: &str, duration: u64) -> OperatorSession {
        OperatorSession {
            id: Some(id.into()),
            duration_secs: duration,
            user: "alice/alice@corp.com@alice-mbp".into(),
            user_id: Some("m-alice".into()),
            target: "Deployment/api/container/app".into(),
            namespace: Some("shop".into()),
            key: None,
        }
    }

    fn watched(id: &str, last_seen: Micros, state: SessionState) -> Watched {
        Watched {
            session_id: id.into(),
            last_seen,
            state,
        }
    }

    const RUNNING: SessionState = SessionState {
        start: Some(0),
        end: None,
        start_estimated: true,
    };

    #[test]
    fn a_new_session_starts_at_first_sight_minus_its_duration() {
        let plan = plan(
            100 * SECOND,
            &[shown("a", 30)],
            Some("3.120.0"),
            &CiUsers::default(),
            &[],
            &HashMap::new(),
            Scope::Everything,
        );
        assert_eq!(plan.seen, ["a"]);
        let Event::SessionStart(start) = &plan.starts[0] else {
            panic!("a start")
        };
        assert_eq!(calendar::to_micros(start.timestamp), 70 * SECOND);
        assert_eq!(start.machine_id, "m-alice");
        assert_eq!(start.kubernetes_username.as_deref(), Some("alice@corp.com"));
        assert_eq!(start.target.as_ref().unwrap().container.as_deref(), Some("app"));
        assert_eq!(start.operator_version.as_deref(), Some("3.120.0"));
    }

    #[test]
    fn a_watched_session_still_shown_is_only_seen_again() {
        let known = HashMap::from([("a".to_owned(), RUNNING)]);
        let plan = plan(
            200 * SECOND,
            &[shown("a", 130)],
            None,
            &CiUsers::default(),
            &[watched("a", 100 * SECOND, RUNNING)],
            &known,
            Scope::Everything,
        );
        assert_eq!(
            plan,
            Plan {
                seen: vec!["a".into()],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_session_that_disappeared_ends_when_it_was_last_seen() {
        let plan = plan(
            900 * SECOND,
            &[],
            None,
            &CiUsers::default(),
            &[watched("a", 100 * SECOND, RUNNING)],
            &HashMap::new(),
            Scope::Everything,
        );
        assert_eq!(plan.forget, ["a"]);
        let Event::SessionEnd(end) = &plan.ends[0] else {
            panic!("an end")
        };
        assert_eq!(calendar::to_micros(end.timestamp), 100 * SECOND);
    }

    #[test]
    fn sessions_another_source_reported_are_left_to_it() {
        let known = HashMap::from([("pushed".to_owned(), RUNNING)]);
        let ended = SessionState {
            start: Some(0),
            end: Some(5),
            start_estimated: true,
        };
        let plan = plan(
            200 * SECOND,
            &[shown("pushed", 10)],
            None,
            &CiUsers::default(),
            &[watched("gone", 1, ended)],
            &known,
            Scope::Everything,
        );
        assert!(plan.starts.is_empty() && plan.ends.is_empty() && plan.seen.is_empty());
        assert_eq!(plan.forget, ["gone"], "an already ended session is just forgotten");
    }

    #[test]
    fn preview_environments_are_not_sessions_and_ids_are_derived_when_missing() {
        let mut preview = shown("p", 5);
        preview.user = "preview-env".into();
        let mut anonymous = shown("x", 5);
        anonymous.id = None;
        let plan = plan(
            100 * SECOND,
            &[preview, anonymous.clone()],
            None,
            &CiUsers::default(),
            &[],
            &HashMap::new(),
            Scope::Everything,
        );
        assert_eq!(plan.seen, [session_id(&anonymous)]);
        assert!(plan.seen[0].starts_with("operator-"));
        assert_eq!(
            session_id(&anonymous),
            session_id(&anonymous.clone()),
            "derived ids are stable"
        );
    }

    #[test]
    fn sessions_of_ci_users_are_ci_and_targets_read_as_kubernetes_spells_them() {
        let mut ci = shown("ci", 5);
        ci.user = "runner/system:serviceaccount:ci:deployer@runner-7".into();
        ci.target = "label/app.kubernetes.io/name=web/container/app".into();
        let mut legacy = shown("legacy", 5);
        legacy.target = "namespace/shop".into();
        let mut lower = shown("lower", 5);
        lower.target = "statefulset/db/container/pg".into();
        let ci_users: CiUsers = "system:serviceaccount:ci:*".parse().unwrap();
        let plan = plan(
            100 * SECOND,
            &[ci, legacy, lower],
            None,
            &ci_users,
            &[],
            &HashMap::new(),
            Scope::Everything,
        );
        let starts: Vec<&SessionStart> = plan
            .starts
            .iter()
            .map(|event| match event {
                Event::SessionStart(start) => start,
                Event::SessionEnd(_) => panic!("a start"),
            })
            .collect();
        assert_eq!(starts[0].ci, Some(CiContext::default()));
        let label = starts[0].target.as_ref().unwrap();
        assert_eq!(
            (label.kind.as_str(), label.name.as_str()),
            ("PodSet", "app.kubernetes.io/name=web")
        );
        assert_eq!(starts[1].target, None, "namespace/<ns> is targetless");
        assert_eq!(starts[1].ci, None);
        assert_eq!(starts[2].target.as_ref().unwrap().kind, "StatefulSet");
        assert!(
            starts.iter().all(|start| start.estimated),
            "summary starts are estimates"
        );
    }

    #[test]
    fn beside_the_records_the_summary_only_follows_the_sessions_it_started() {
        let exact = SessionState {
            start_estimated: false,
            ..RUNNING
        };
        let known = HashMap::from([("mine".to_owned(), RUNNING), ("record".to_owned(), exact)]);
        let plan = plan(
            900 * SECOND,
            &[shown("new", 5)],
            None,
            &CiUsers::default(),
            &[
                watched("mine", 100 * SECOND, RUNNING),
                watched("record", 100 * SECOND, exact),
            ],
            &known,
            Scope::StartedBySummary,
        );
        assert!(plan.starts.is_empty(), "new sessions are the records' to start");
        assert_eq!(plan.forget, ["mine"], "the record's session is left to the records");
        assert_eq!(plan.ends.len(), 1);
    }
}
