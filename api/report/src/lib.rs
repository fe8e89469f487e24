//! The report engine: turns a [`Snapshot`] into the usage report and its trends. Pure: no
//! storage, no clock (the caller says what "now" is), so every rule can be tested directly.

use std::cmp::{Ordering, Reverse};
use std::collections::{HashMap, HashSet};

use mirrord_usage_crds::report::{
    AllTimeMetrics, CiMetrics, GeneralMetrics, Interval, PrimaryKey, ReportPeriod, TargetMetric, TrendBucket,
    TrendReport, UsageReport, UserMetric,
};

use mirrord_usage_store::calendar::{self, MICROS_PER_DAY, Micros};
use mirrord_usage_store::model::{ABSENT, DimId, Dimensions, IdentityKey, RunningSession, Snapshot};
use mirrord_usage_store::peaks::peak_of;

/// What a report is asked for, besides the stored data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub primary_key: PrimaryKey,
    pub now: Micros,
    pub total_licenses: Option<u64>,
    pub tier: Option<String>,
    pub cluster_name: Option<String>,
    pub chart_version: Option<String>,
}

/// Tier reported when none is configured.
pub const UNKNOWN_TIER: &str = "Unknown";

/// What is known of one user (one primary-key value) across all time.
#[derive(Debug, Clone, Copy)]
struct UserProfile {
    first_user_start: Micros,
    /// Identity of the latest-starting user session; ties go to the greatest identity fields.
    latest: (Micros, IdentityKey),
}

fn identity_fields<'a>(dims: &'a Dimensions, key: &IdentityKey) -> [Option<&'a str>; 4] {
    [
        key.machine_id,
        key.kubernetes_username,
        key.client_username,
        key.client_hostname,
    ]
    .map(|id| dims.string(id).map(|s| &**s))
}

fn profiles(dims: &Dimensions, primary_key: PrimaryKey) -> HashMap<DimId, UserProfile> {
    let mut profiles: HashMap<DimId, UserProfile> = HashMap::new();
    for (_, identity) in dims.identities() {
        let (Some(first), Some(last)) = (identity.first_user_start, identity.last_user_start) else {
            continue;
        };
        let candidate = UserProfile {
            first_user_start: first,
            latest: (last, identity.key),
        };
        profiles
            .entry(identity.key.field(primary_key))
            .and_modify(|profile| {
                profile.first_user_start = profile.first_user_start.min(first);
                let newer = (last, identity_fields(dims, &identity.key))
                    .cmp(&(profile.latest.0, identity_fields(dims, &profile.latest.1)));
                if newer == Ordering::Greater {
                    profile.latest = (last, identity.key);
                }
            })
            .or_insert(candidate);
    }
    profiles
}

/// Sessions of one identity and kind within a block of time.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// Start of the block: every session counted here starts in the same day (or month).
    start: Micros,
    ci: bool,
    identity: DimId,
    sessions: u64,
    total_micros: i64,
    last_start: Micros,
}

fn running_in_range(snapshot: &Snapshot) -> impl Iterator<Item = &RunningSession> + '_ {
    snapshot
        .running
        .iter()
        .filter(|session| snapshot.from <= session.start && session.start < snapshot.to)
}

/// Completed sessions in range, plus running sessions that started in range (lasting until
/// `now`).
fn usage_in_range(snapshot: &Snapshot, now: Micros) -> impl Iterator<Item = Usage> + '_ {
    let completed = snapshot.usage.iter().flat_map(|block| {
        block.identities.iter().map(move |entry| Usage {
            start: block.start,
            ci: block.ci,
            identity: entry.identity,
            sessions: entry.sessions,
            total_micros: entry.total_micros,
            last_start: entry.last_start,
        })
    });
    let running = running_in_range(snapshot).map(move |session| Usage {
        start: session.start,
        ci: session.ci,
        identity: session.identity,
        sessions: 1,
        total_micros: (now - session.start).max(0),
        last_start: session.start,
    });
    completed.chain(running)
}

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

fn period(snapshot: &Snapshot) -> ReportPeriod {
    ReportPeriod {
        from: calendar::from_micros(snapshot.from),
        to: calendar::from_micros(snapshot.to),
    }
}

/// Start of the bucket containing `at`.
pub fn bucket_start(interval: Interval, at: Micros) -> Micros {
    match interval {
        Interval::Day => calendar::day_start(calendar::day_of(at)),
        Interval::Week => calendar::week_start(at),
        Interval::Month => calendar::month_start(calendar::month_of(at)),
    }
}

fn next_bucket(interval: Interval, start: Micros) -> Micros {
    match interval {
        Interval::Day => start + MICROS_PER_DAY,
        Interval::Week => start + 7 * MICROS_PER_DAY,
        Interval::Month => calendar::month_start(calendar::month_of(start) + 1),
    }
}

/// Number of buckets of `interval` that intersect `[from, to)`.
pub fn bucket_count(interval: Interval, from: Micros, to: Micros) -> u64 {
    if from >= to {
        return 0;
    }
    let first = bucket_start(interval, from);
    let last = bucket_start(interval, to - 1);
    match interval {
        Interval::Day => ((last - first) / MICROS_PER_DAY + 1) as u64,
        Interval::Week => ((last - first) / (7 * MICROS_PER_DAY) + 1) as u64,
        Interval::Month => (calendar::month_of(last) - calendar::month_of(first) + 1) as u64,
    }
}

/// Usage per bucket of `interval` over the snapshot's range.
pub fn trends(snapshot: &Snapshot, primary_key: PrimaryKey, interval: Interval, now: Micros) -> TrendReport {
    let dims = &*snapshot.dims;
    let (from, to) = (snapshot.from, snapshot.to);
    let mut starts = Vec::new();
    if from < to {
        let mut start = bucket_start(interval, from);
        while start < to {
            starts.push(start);
            start = next_bucket(interval, start);
        }
    }
    let index_of = |at: Micros| starts.partition_point(|&start| start <= at) - 1;

    #[derive(Default)]
    struct Sums {
        user_sessions: u64,
        ci_sessions: u64,
        total: i64,
        users: HashSet<DimId>,
        new_users: u64,
    }
    let mut sums: Vec<Sums> = starts.iter().map(|_| Sums::default()).collect();
    for usage in usage_in_range(snapshot, now) {
        let bucket = &mut sums[index_of(usage.start.max(from))];
        if usage.ci {
            bucket.ci_sessions += usage.sessions;
        } else {
            bucket.user_sessions += usage.sessions;
            bucket.total += usage.total_micros;
            let user = dims.identity(usage.identity).key.field(primary_key);
            if user != ABSENT {
                bucket.users.insert(user);
            }
        }
    }
    for (user, profile) in profiles(dims, primary_key) {
        if user != ABSENT && from <= profile.first_user_start && profile.first_user_start < to {
            sums[index_of(profile.first_user_start)].new_users += 1;
        }
    }
    TrendReport {
        interval,
        report_period: period(snapshot),
        buckets: starts
            .iter()
            .zip(sums)
            .map(|(&start, sums)| TrendBucket {
                start: calendar::from_micros(start),
                user_sessions: sums.user_sessions,
                ci_sessions: sums.ci_sessions,
                session_time_seconds: calendar::seconds(sums.total),
                active_users: sums.users.len() as u64,
                new_users: sums.new_users,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use mirrord_usage_store::model::{Identity, IdentityUsage, Interval as Span, TargetUsage, Totals, UsageBlock};
    use mirrord_usage_store::peaks::peak_of;

    const HOUR: i64 = 3_600 * calendar::MICROS_PER_SECOND;

    fn at(text: &str) -> Micros {
        calendar::to_micros(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
    }

    /// A session for fixtures: who, when, and what.
    #[derive(Clone)]
    struct Session {
        machine: &'static str,
        k8s_user: Option<&'static str>,
        start: Micros,
        end: Option<Micros>,
        ci: bool,
        namespace: Option<&'static str>,
        target: Option<(&'static str, &'static str)>,
    }

    impl Session {
        fn user(machine: &'static str, start: &str, hours: i64) -> Self {
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

        fn ci(self) -> Self {
            Session { ci: true, ..self }
        }

        fn running(self) -> Self {
            Session { end: None, ..self }
        }

        fn by_k8s_user(self, user: &'static str) -> Self {
            Session {
                k8s_user: Some(user),
                ..self
            }
        }

        fn against(self, namespace: Option<&'static str>, target: Option<(&'static str, &'static str)>) -> Self {
            Session {
                namespace,
                target,
                ..self
            }
        }
    }

    /// Builds a snapshot the way a store would, one contribution per completed session.
    fn snapshot(sessions: &[Session], from: &str, to: &str) -> Snapshot {
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

    fn settings(now: &str) -> ReportSettings {
        ReportSettings {
            primary_key: PrimaryKey::MachineId,
            now: at(now),
            total_licenses: None,
            tier: None,
            cluster_name: None,
            chart_version: None,
        }
    }

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
    fn trends_list_every_bucket_and_count_new_users_once() {
        let sessions = [
            Session::user("m1", "2026-10-30T09:00:00Z", 1),
            Session::user("m1", "2026-11-03T09:00:00Z", 1),
            Session::user("m2", "2026-11-03T10:00:00Z", 2),
            Session::user("ci", "2026-11-05T10:00:00Z", 1).ci(),
        ];
        let snap = snapshot(&sessions, "2026-11-01T12:00:00Z", "2026-11-06T00:00:00Z");
        let report = trends(&snap, PrimaryKey::MachineId, Interval::Day, at("2026-11-10T00:00:00Z"));
        let days: Vec<_> = report
            .buckets
            .iter()
            .map(|b| {
                (
                    b.start.format("%d").to_string(),
                    b.user_sessions,
                    b.ci_sessions,
                    b.active_users,
                    b.new_users,
                )
            })
            .collect();
        assert_eq!(
            days,
            [
                ("01".into(), 0, 0, 0, 0),
                ("02".into(), 0, 0, 0, 0),
                ("03".into(), 2, 0, 2, 1),
                ("04".into(), 0, 0, 0, 0),
                ("05".into(), 0, 1, 0, 0),
            ]
        );
        assert_eq!(report.buckets[2].session_time_seconds, 3.0 * 3600.0);

        let weekly = trends(&snap, PrimaryKey::MachineId, Interval::Week, at("2026-11-10T00:00:00Z"));
        let starts: Vec<_> = weekly
            .buckets
            .iter()
            .map(|b| b.start.format("%Y-%m-%d").to_string())
            .collect();
        assert_eq!(starts, ["2026-10-26", "2026-11-02"]);
        assert_eq!(weekly.buckets[1].user_sessions, 2);
    }

    #[test]
    fn bucket_counts_match_the_buckets_listed() {
        let (from, to) = (at("2026-01-31T12:00:00Z"), at("2026-04-01T00:00:00Z"));
        assert_eq!(bucket_count(Interval::Month, from, to), 3);
        assert_eq!(bucket_count(Interval::Day, from, to), 60);
        assert_eq!(
            bucket_count(Interval::Week, at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")),
            1
        );
        assert_eq!(bucket_count(Interval::Day, to, to), 0);
    }

    #[test]
    fn days_in_a_range_are_rounded_up_and_at_least_one() {
        assert_eq!(days_in(0, 0), 1);
        assert_eq!(days_in(0, MICROS_PER_DAY), 1);
        assert_eq!(days_in(0, MICROS_PER_DAY + 1), 2);
    }
}
