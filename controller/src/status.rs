//! The status of a `MirrordUsageReport`: the headline numbers of a usage report, small enough
//! for etcd whatever the amount of data.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use mirrord_usage_crds::report::UsageReport;
use mirrord_usage_crds::usage_report::{
    Licenses, MirrordUsageReportSpec, MirrordUsageReportStatus, ResolvedPeriod, TopUser,
};
use mirrord_usage_server::human;

/// Status for a report computed at `now`; `Ready` is true.
pub fn from_report(
    spec: &MirrordUsageReportSpec,
    generation: Option<i64>,
    report: &UsageReport,
    now: DateTime<Utc>,
) -> MirrordUsageReportStatus {
    let general = &report.general_metrics;
    let developer_hours = general.user_sessions as f64 * spec.roi.user_minutes_saved_per_session / 60.0;
    let ci_hours = report.ci_metrics.total_ci_sessions as f64 * spec.roi.ci_minutes_saved_per_session / 60.0;
    let total = general.total_licenses;
    let top_users = report
        .user_metrics
        .iter()
        .flatten()
        .take(spec.top_users as usize)
        .map(|user| TopUser {
            id: user.id.clone(),
            sessions: user.session_count,
            session_time_seconds: user.total_session_time_seconds.round(),
        })
        .collect();
    MirrordUsageReportStatus {
        observed_generation: generation,
        conditions: vec![ready(true, "Computed", "the numbers are current", generation, now)],
        last_updated: Some(now),
        period: Some(ResolvedPeriod {
            from: general.report_period.from,
            to: general.report_period.to,
        }),
        active_users: general.active_users,
        licenses: Licenses {
            used: general.licenses_used,
            total,
            summary: format!(
                "{}/{}",
                general.licenses_used,
                total.map_or("-".to_owned(), |t| t.to_string())
            ),
        },
        user_sessions: general.user_sessions,
        session_time_seconds: general.user_session_time_seconds.round(),
        session_time: human::duration(general.user_session_time_seconds),
        ci_sessions: report.ci_metrics.total_ci_sessions,
        running_user_sessions: general.active_user_sessions,
        running_ci_sessions: report.ci_metrics.current_running_sessions,
        max_user_concurrency: report.all_time_metrics.max_concurrent_user_sessions,
        max_ci_concurrency: report.ci_metrics.max_concurrent_ci_sessions,
        developer_hours_saved: (developer_hours * 10.0).round() / 10.0,
        ci_hours_saved: (ci_hours * 10.0).round() / 10.0,
        time_saved: human::hours(developer_hours + ci_hours),
        top_users,
    }
}

/// The `Ready` condition.
pub fn ready(ok: bool, reason: &str, message: &str, generation: Option<i64>, now: DateTime<Utc>) -> Condition {
    Condition {
        type_: "Ready".to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: Time(
            Timestamp::from_microsecond(now.timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH),
        ),
    }
}

/// Whether two statuses say the same, ignoring when they were computed.
pub fn same_numbers(a: &MirrordUsageReportStatus, b: &MirrordUsageReportStatus) -> bool {
    let strip = |status: &MirrordUsageReportStatus| {
        let mut status = status.clone();
        status.last_updated = None;
        for condition in &mut status.conditions {
            condition.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        status
    };
    strip(a) == strip(b)
}

/// Keeps a condition's transition time when its status did not change.
pub fn keep_transition_times(new: &mut MirrordUsageReportStatus, old: Option<&MirrordUsageReportStatus>) {
    let Some(old) = old else { return };
    for condition in &mut new.conditions {
        if let Some(previous) = old
            .conditions
            .iter()
            .find(|c| c.type_ == condition.type_ && c.status == condition.status)
        {
            condition.last_transition_time = previous.last_transition_time.clone();
        }
    }
}
