//! Fixtures for the engine's tests: sessions described in a line each, and the snapshot a store
//! would read for them.

use std::sync::Arc;

use mirrord_usage_crds::report::PrimaryKey;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::model::{
    ABSENT, Dimensions, Identity, IdentityKey, IdentityUsage, Interval as Span, RunningSession, Snapshot, TargetUsage,
    Totals, UsageBlock,
};
use mirrord_usage_store::peaks::peak_of;

use crate::ReportSettings;

const HOUR: i64 = 3_600 * calendar::MICROS_PER_SECOND;

pub(crate) fn at(text: &str) -> Micros {
    calendar::to_micros(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
}

/// A session for fixtures: who, when, and what.
#[derive(Clone)]
pub(crate) struct Session {
    machine: &'static str,
    k8s_user: Option<&'static str>,
    start: Micros,
    end: Option<Micros>,
    ci: bool,
    namespace: Option<&'static str>,
    target: Option<(&'static str, &'static str)>,
}

impl Session {
    pub(crate) fn user(machine: &'static str, start: &str, hours: i64) -> Self {
        let start = at(start);
        Session {
            machine,
            k8s_user: None,
            start,
            end: Some(start + hours * HOUR),
            ci: false,
            namespace: Some("shop"),
            target: Some(("Deployment", "api")),
        }
    }

    pub(crate) fn ci(self) -> Self {
        Session { ci: true, ..self }
    }

    pub(crate) fn running(self) -> Self {
        Session { end: None, ..self }
    }

    pub(crate) fn by_k8s_user(self, user: &'static str) -> Self {
        Session {
            k8s_user: Some(user),
            ..self
        }
    }

    pub(crate) fn against(self, namespace: Option<&'static str>, target: Option<(&'static str, &'static str)>) -> Self {
        Session {
            namespace,
            target,
            ..self
        }
    }
}

/// Builds a snapshot the way a store would, one contribution per completed session.
pub(crate) fn snapshot(sessions: &[Session], from: &str, to: &str) -> Snapshot {
    let mut dims = Dimensions::default();
    let (from, to) = (at(from), at(to));
    let mut usage = Vec::new();
    let mut targets = Vec::new();
    let mut running = Vec::new();
    let mut totals = [Totals::default(); 2];
    let mut edges: [Vec<(Micros, i32)>; 2] = [Vec::new(), Vec::new()];
    for session in sessions {
        let key = IdentityKey {
            machine_id: dims.intern_string(session.machine),
            kubernetes_username: session.k8s_user.map_or(ABSENT, |u| dims.intern_string(u)),
            client_username: ABSENT,
            client_hostname: ABSENT,
        };
        let identity = dims.intern_identity(key);
        if !session.ci {
            let entry: &mut Identity = dims.identity_mut(identity);
            entry.first_user_start = Some(entry.first_user_start.map_or(session.start, |s| s.min(session.start)));
            entry.last_user_start = Some(entry.last_user_start.map_or(session.start, |s| s.max(session.start)));
        }
        let target = match session.target {
            None => ABSENT,
            Some((kind, name)) => {
                let key = mirrord_usage_store::model::TargetKey {
                    kind: dims.intern_string(kind),
                    name: dims.intern_string(name),
                    container: ABSENT,
                };
                dims.intern_target(key)
            }
        };
        let namespace = session.namespace.map_or(ABSENT, |n| dims.intern_string(n));
        match session.end {
            None => running.push(RunningSession {
                identity,
                target,
                namespace,
                ci: session.ci,
                start: session.start,
            }),
            Some(end) => {
                let kind = usize::from(session.ci);
                totals[kind].sessions += 1;
                totals[kind].total_micros += end - session.start;
                edges[kind].push((session.start, 1));
                edges[kind].push((end, -1));
                if from <= session.start && session.start < to {
                    let entry = IdentityUsage {
                        identity,
                        sessions: 1,
                        total_micros: end - session.start,
                        last_start: session.start,
                    };
                    usage.push(UsageBlock {
                        start: session.start,
                        ci: session.ci,
                        identities: vec![entry],
                    });
                    if !session.ci {
                        targets.push(TargetUsage {
                            namespace,
                            target,
                            sessions: 1,
                            total_micros: end - session.start,
                            identities: vec![identity],
                        });
                    }
                }
            }
        }
    }
    let earliest_running = running.iter().map(|r| r.start).min();
    let overlapping_running = sessions
        .iter()
        .filter_map(|s| {
            s.end.map(|end| Span {
                start: s.start,
                end,
                ci: s.ci,
            })
        })
        .filter(|span| earliest_running.is_some_and(|earliest| span.end > earliest))
        .collect();
    Snapshot {
        dims: Arc::new(dims),
        from,
        to,
        usage,
        targets,
        running,
        user_totals: totals[0],
        ci_totals: totals[1],
        completed_peak_user: peak_of(&mut edges[0]),
        completed_peak_ci: peak_of(&mut edges[1]),
        overlapping_running,
        first_session_at: sessions.iter().map(|s| s.start).min(),
        last_event_at: None,
        operator_version: None,
        license: None,
        operator_ci_running: None,
    }
}

pub(crate) fn settings(now: &str) -> ReportSettings {
    ReportSettings {
        primary_key: PrimaryKey::MachineId,
        now: at(now),
        total_licenses: None,
        tier: None,
        cluster_name: None,
        chart_version: None,
    }
}
