//! The usage report: the range's figures, all-time figures, CI, and a row per user and per target.

use std::cmp::{Ordering, Reverse};
use std::collections::{HashMap, HashSet};

use mirrord_usage_crds::report::{AllTimeMetrics, CiMetrics, GeneralMetrics, TargetMetric, UsageReport, UserMetric};
use mirrord_usage_store::calendar::{self, MICROS_PER_DAY, Micros};
use mirrord_usage_store::model::{ABSENT, DimId, Dimensions, IdentityKey, Snapshot};
use mirrord_usage_store::peaks::peak_of;

use crate::activity::{period, profiles, running_in_range, usage_in_range};
use crate::{ReportSettings, UNKNOWN_TIER};

/// Orders optional strings with absent values last.
fn nulls_last(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn text(dims: &Dimensions, id: DimId) -> Option<String> {
    dims.string(id).map(|s| s.to_string())
}

/// Days the average daily sessions are spread over: whole days started, at least one.
pub fn days_in(from: Micros, to: Micros) -> u64 {
    let span = (to - from).max(0);
    ((span + MICROS_PER_DAY - 1) / MICROS_PER_DAY).max(1) as u64
}

/// The full usage report.
pub fn usage_report(snapshot: &Snapshot, settings: &ReportSettings) -> UsageReport {
    let dims = &*snapshot.dims;
    let now = settings.now;
    let primary_key = settings.primary_key;

    #[derive(Default)]
    struct UserSums {
        sessions: u64,
        total: i64,
        last_start: Micros,
    }
    #[derive(Default)]
    struct TargetSums {
        sessions: u64,
        total: i64,
        users: HashSet<DimId>,
    }
    let mut users: HashMap<DimId, UserSums> = HashMap::new();
    let (mut ci_sessions, mut ci_total) = (0_u64, 0_i64);
    let (mut user_sessions, mut user_total) = (0_u64, 0_i64);
    let mut machines: HashSet<DimId> = HashSet::new();
    for usage in usage_in_range(snapshot, now) {
        if usage.ci {
            ci_sessions += usage.sessions;
            ci_total += usage.total_micros;
            continue;
        }
        user_sessions += usage.sessions;
        user_total += usage.total_micros;
        let identity = dims.identity(usage.identity).key;
        machines.insert(identity.machine_id);
        let sums = users.entry(identity.field(primary_key)).or_insert(UserSums {
            last_start: Micros::MIN,
            ..UserSums::default()
        });
        sums.sessions += usage.sessions;
        sums.total += usage.total_micros;
        sums.last_start = sums.last_start.max(usage.last_start);
    }

    let mut targets: HashMap<(DimId, DimId, DimId), TargetSums> = HashMap::new();
    let mut add_target = |namespace: DimId, target: DimId, sessions: u64, total: i64, who: &[DimId]| {
        let target = dims.target(target);
        let sums = targets.entry((namespace, target.kind, target.name)).or_default();
        sums.sessions += sessions;
        sums.total += total;
        for &identity in who {
            let user = dims.identity(identity).key.field(primary_key);
            if user != ABSENT {
                sums.users.insert(user);
            }
        }
    };
    for usage in &snapshot.targets {
        add_target(
            usage.namespace,
            usage.target,
            usage.sessions,
            usage.total_micros,
            &usage.identities,
        );
    }
    for session in running_in_range(snapshot).filter(|session| !session.ci) {
        add_target(
            session.namespace,
            session.target,
            1,
            (now - session.start).max(0),
            &[session.identity],
        );
    }

    let profiles = profiles(dims, primary_key);
    let days = days_in(snapshot.from, snapshot.to) as f64;
    let mut user_rows: Vec<(DimId, &UserSums)> = users.iter().map(|(&id, sums)| (id, sums)).collect();
    user_rows.sort_by(|(a_id, a), (b_id, b)| {
        (Reverse(a.total), Reverse(a.sessions))
            .cmp(&(Reverse(b.total), Reverse(b.sessions)))
            .then_with(|| nulls_last(dims.string(*a_id).map(|s| &**s), dims.string(*b_id).map(|s| &**s)))
    });
    let user_metrics = user_rows
        .into_iter()
        .map(|(id, sums)| {
            let profile = profiles.get(&id);
            let fields = profile.map(|p| p.latest.1);
            let field = |pick: fn(&IdentityKey) -> DimId| fields.and_then(|key| text(dims, pick(&key)));
            UserMetric {
                id: text(dims, id),
                kubernetes_username: field(|key| key.kubernetes_username),
                client_username: field(|key| key.client_username),
                client_hostname: field(|key| key.client_hostname),
                active_since: calendar::from_micros(profile.map_or(sums.last_start, |p| p.first_user_start)),
                last_session: calendar::from_micros(sums.last_start),
                session_count: sums.sessions,
                total_session_time_seconds: calendar::seconds(sums.total),
                avg_session_duration_seconds: calendar::seconds(sums.total) / sums.sessions as f64,
                avg_daily_sessions: sums.sessions as f64 / days,
            }
        })
        .collect();

    let mut target_rows: Vec<((DimId, DimId, DimId), TargetSums)> = targets.into_iter().collect();
    let name = |id: DimId| dims.string(id).map(|s| &**s);
    target_rows.sort_by(|((a_ns, a_kind, a_name), a), ((b_ns, b_kind, b_name), b)| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| nulls_last(name(*a_ns), name(*b_ns)))
            .then_with(|| nulls_last(name(*a_kind), name(*b_kind)))
            .then_with(|| nulls_last(name(*a_name), name(*b_name)))
    });
    let target_metrics = target_rows
        .into_iter()
        .map(|((namespace, kind, target_name), sums)| TargetMetric {
            namespace: text(dims, namespace),
            kind: text(dims, kind),
            name: text(dims, target_name),
            session_count: sums.sessions,
            total_session_time_seconds: calendar::seconds(sums.total),
            unique_users: sums.users.len() as u64,
        })
        .collect();

    let (mut running_user, mut running_ci) = (0_u64, 0_u64);
    let (mut running_user_time, mut running_ci_time) = (0_i64, 0_i64);
    let mut user_edges = Vec::new();
    let mut ci_edges = Vec::new();
    for session in &snapshot.running {
        let elapsed = (now - session.start).max(0);
        let (count, time, edges) = if session.ci {
            (&mut running_ci, &mut running_ci_time, &mut ci_edges)
        } else {
            (&mut running_user, &mut running_user_time, &mut user_edges)
        };
        *count += 1;
        *time += elapsed;
        if session.start < now {
            edges.push((session.start, 1));
            edges.push((now, -1));
        }
    }
    for interval in &snapshot.overlapping_running {
        let edges = if interval.ci { &mut ci_edges } else { &mut user_edges };
        edges.push((interval.start, 1));
        edges.push((interval.end, -1));
    }
    // Running sessions the summary counts as CI but could not mark as such.
    let unmarked_ci = snapshot
        .operator_ci_running
        .map_or(0, |count| count.saturating_sub(running_ci))
        .min(running_user);
    let max_user = snapshot.completed_peak_user.max(peak_of(&mut user_edges));
    let max_ci = snapshot.completed_peak_ci.max(peak_of(&mut ci_edges));

    UsageReport {
        general_metrics: GeneralMetrics {
            total_licenses: settings.total_licenses,
            tier: settings.tier.clone().unwrap_or_else(|| UNKNOWN_TIER.to_owned()),
            active_users: users.keys().filter(|&&id| id != ABSENT).count() as u64,
            report_period: period(snapshot),
            operator_version: snapshot.operator_version.clone(),
            last_operator_event: snapshot.last_event_at.map(calendar::from_micros),
            active_user_sessions: running_user - unmarked_ci,
            licenses_used: machines.len() as u64,
            user_sessions,
            user_session_time_seconds: calendar::seconds(user_total),
            cluster_name: settings.cluster_name.clone(),
            chart_version: settings.chart_version.clone(),
            license: snapshot.license.clone(),
        },
        all_time_metrics: AllTimeMetrics {
            total_session_count: snapshot.user_totals.sessions + running_user,
            total_session_time_seconds: calendar::seconds(snapshot.user_totals.total_micros + running_user_time),
            total_ci_session_count: snapshot.ci_totals.sessions + running_ci,
            total_ci_session_time_seconds: calendar::seconds(snapshot.ci_totals.total_micros + running_ci_time),
            max_concurrent_user_sessions: max_user,
            first_session_at: snapshot.first_session_at.map(calendar::from_micros),
        },
        ci_metrics: CiMetrics {
            current_running_sessions: running_ci + unmarked_ci,
            max_concurrent_ci_sessions: max_ci,
            total_ci_sessions: ci_sessions,
            avg_ci_session_duration_seconds: (ci_sessions > 0)
                .then(|| calendar::seconds(ci_total) / ci_sessions as f64),
        },
        user_metrics: Some(user_metrics),
        user_metrics_omitted: None,
        target_metrics,
    }
}

#[cfg(test)]
mod tests {
    use mirrord_usage_crds::report::PrimaryKey;

    use super::*;
    use crate::fixtures::{Session, settings, snapshot};
    #[test]
    fn an_empty_store_reports_zeroes_and_unknown_tier() {
        let report = usage_report(
            &snapshot(&[], "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            &settings("2026-11-02T00:00:00Z"),
        );
        assert_eq!(report.general_metrics.tier, "Unknown");
        assert_eq!(report.general_metrics.total_licenses, None);
        assert_eq!(report.general_metrics.active_users, 0);
        assert_eq!(report.all_time_metrics.total_session_count, 0);
        assert_eq!(report.ci_metrics.avg_ci_session_duration_seconds, None);
        assert_eq!(report.user_metrics, Some(vec![]));
        assert!(report.target_metrics.is_empty());
    }

    #[test]
    fn users_are_sorted_by_time_then_sessions_then_id_with_null_last() {
        let sessions = [
            Session::user("b", "2026-11-02T09:00:00Z", 1),
            Session::user("a", "2026-11-02T10:00:00Z", 1),
            Session::user("c", "2026-11-03T09:00:00Z", 3),
            Session::user("d", "2026-11-03T09:00:00Z", 1),
            Session::user("d", "2026-11-04T09:00:00Z", 0),
        ];
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            &settings("2026-11-10T00:00:00Z"),
        );
        let ids: Vec<_> = report
            .user_metrics
            .unwrap()
            .iter()
            .map(|u| u.id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["c", "d", "a", "b"]);
    }

    #[test]
    fn a_user_row_counts_only_sessions_in_range_but_is_active_since_its_first_session_ever() {
        let sessions = [
            Session::user("m1", "2026-10-20T09:00:00Z", 2),
            Session::user("m1", "2026-11-02T09:00:00Z", 1),
            Session::user("m1", "2026-11-05T09:30:00Z", 2),
        ];
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z"),
            &settings("2026-11-20T00:00:00Z"),
        );
        let user = &report.user_metrics.unwrap()[0];
        assert_eq!(user.session_count, 2);
        assert_eq!(user.total_session_time_seconds, 3.0 * 3600.0);
        assert_eq!(user.avg_session_duration_seconds, 1.5 * 3600.0);
        assert_eq!(user.avg_daily_sessions, 0.2);
        assert_eq!(user.active_since.to_rfc3339(), "2026-10-20T09:00:00+00:00");
        assert_eq!(user.last_session.to_rfc3339(), "2026-11-05T09:30:00+00:00");
        assert_eq!(report.all_time_metrics.total_session_count, 3);
    }

    #[test]
    fn sessions_without_the_primary_key_form_one_null_row_and_are_not_active_users() {
        let sessions = [
            Session::user("m1", "2026-11-02T09:00:00Z", 1).by_k8s_user("alice"),
            Session::user("m2", "2026-11-02T09:00:00Z", 1),
            Session::user("m3", "2026-11-02T09:00:00Z", 2),
        ];
        let mut settings = settings("2026-11-10T00:00:00Z");
        settings.primary_key = PrimaryKey::KubernetesUsername;
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            &settings,
        );
        assert_eq!(report.general_metrics.active_users, 1);
        let users = report.user_metrics.unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].id, None, "the null row has most time, yet sorts by time first");
        assert_eq!(users[0].session_count, 2);
        assert_eq!(users[1].id.as_deref(), Some("alice"));
    }

    #[test]
    fn running_sessions_last_until_now_and_count_as_active() {
        let sessions = [
            Session::user("m1", "2026-11-02T09:00:00Z", 0).running(),
            Session::user("m2", "2026-11-02T10:00:00Z", 4),
            Session::user("ci", "2026-11-02T10:30:00Z", 0).ci().running(),
        ];
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            &settings("2026-11-02T12:00:00Z"),
        );
        assert_eq!(report.general_metrics.active_user_sessions, 1);
        assert_eq!(report.ci_metrics.current_running_sessions, 1);
        assert_eq!(report.all_time_metrics.total_session_time_seconds, 7.0 * 3600.0);
        assert_eq!(report.all_time_metrics.max_concurrent_user_sessions, 2);
        assert_eq!(report.all_time_metrics.total_ci_session_time_seconds, 1.5 * 3600.0);
        assert_eq!(report.ci_metrics.avg_ci_session_duration_seconds, Some(1.5 * 3600.0));
    }

    #[test]
    fn running_sessions_the_summary_counts_as_ci_move_from_users_to_ci() {
        let sessions = [
            Session::user("m1", "2026-11-02T09:00:00Z", 0).running(),
            Session::user("m2", "2026-11-02T10:00:00Z", 0).running(),
            Session::user("ci", "2026-11-02T10:30:00Z", 0).ci().running(),
        ];
        let mut snapshot = snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z");
        snapshot.operator_ci_running = Some(2);
        let report = usage_report(&snapshot, &settings("2026-11-02T12:00:00Z"));
        assert_eq!(report.general_metrics.active_user_sessions, 1);
        assert_eq!(report.ci_metrics.current_running_sessions, 2);
        snapshot.operator_ci_running = Some(9);
        let report = usage_report(&snapshot, &settings("2026-11-02T12:00:00Z"));
        assert_eq!(report.general_metrics.active_user_sessions, 0, "never below none");
        assert_eq!(report.ci_metrics.current_running_sessions, 3);
    }

    #[test]
    fn touching_sessions_do_not_overlap() {
        let sessions = [
            Session::user("m1", "2026-11-02T09:00:00Z", 1),
            Session::user("m2", "2026-11-02T10:00:00Z", 1),
            Session::user("m3", "2026-11-02T10:30:00Z", 1),
        ];
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            &settings("2026-11-10T00:00:00Z"),
        );
        assert_eq!(report.all_time_metrics.max_concurrent_user_sessions, 2);
    }

    #[test]
    fn targets_group_by_namespace_kind_and_name_with_unique_users() {
        let sessions = [
            Session::user("m1", "2026-11-02T09:00:00Z", 1),
            Session::user("m1", "2026-11-02T11:00:00Z", 1),
            Session::user("m2", "2026-11-02T12:00:00Z", 1),
            Session::user("m2", "2026-11-02T13:00:00Z", 1).against(None, None),
            Session::user("m3", "2026-11-02T14:00:00Z", 1).against(Some("billing"), Some(("Pod", "worker"))),
        ];
        let report = usage_report(
            &snapshot(&sessions, "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            &settings("2026-11-10T00:00:00Z"),
        );
        let rows: Vec<_> = report
            .target_metrics
            .iter()
            .map(|t| {
                (
                    t.namespace.as_deref(),
                    t.name.as_deref(),
                    t.session_count,
                    t.unique_users,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (Some("shop"), Some("api"), 3, 2),
                (Some("billing"), Some("worker"), 1, 1),
                (None, None, 1, 1)
            ]
        );
    }

    #[test]
    fn days_in_a_range_are_rounded_up_and_at_least_one() {
        assert_eq!(days_in(0, 0), 1);
        assert_eq!(days_in(0, MICROS_PER_DAY), 1);
        assert_eq!(days_in(0, MICROS_PER_DAY + 1), 2);
    }
}
