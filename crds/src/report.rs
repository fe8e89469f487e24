//! The usage report (`GET /api/v1/reports/usage`) and its trends
//! (`GET /api/v1/reports/usage/trends`). Field names follow the design RFC's `UsageReportJson`;
//! fields it does not have are additions, never renames.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which identity a "user" is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PrimaryKey {
    /// The client's unique id (its certificate fingerprint).
    #[default]
    MachineId,
    /// The Kubernetes user the client authenticated as.
    KubernetesUsername,
    /// The POSIX user on the developer's machine.
    ClientUsername,
    /// The developer machine's hostname.
    ClientHostname,
}

impl PrimaryKey {
    pub const ALL: [PrimaryKey; 4] = [
        PrimaryKey::MachineId,
        PrimaryKey::KubernetesUsername,
        PrimaryKey::ClientUsername,
        PrimaryKey::ClientHostname,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PrimaryKey::MachineId => "machineId",
            PrimaryKey::KubernetesUsername => "kubernetesUsername",
            PrimaryKey::ClientUsername => "clientUsername",
            PrimaryKey::ClientHostname => "clientHostname",
        }
    }
}

impl fmt::Display for PrimaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrimaryKey {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        PrimaryKey::ALL
            .into_iter()
            .find(|key| key.as_str() == value)
            .ok_or_else(|| {
                format!(
                    "primaryKey must be one of machineId, kubernetesUsername, clientUsername, clientHostname, not '{value}'"
                )
            })
    }
}

/// Trend bucket width. Buckets are UTC; weeks start on Monday.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Interval {
    #[default]
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

impl FromStr for Interval {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            other => Err(format!("interval must be one of day, week, month, not '{other}'")),
        }
    }
}

/// A half-open time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportPeriod {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The full usage report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub general_metrics: GeneralMetrics,
    /// Lifetime numbers, independent of the report period.
    pub all_time_metrics: AllTimeMetrics,
    pub ci_metrics: CiMetrics,
    /// One row per user with a user session in the period. Absent when the reader may not see
    /// per-user data; `userMetricsOmitted` then says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metrics: Option<Vec<UserMetric>>,
    /// Why `userMetrics` is absent, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metrics_omitted: Option<String>,
    /// User sessions in the period per namespace and target.
    pub target_metrics: Vec<TargetMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneralMetrics {
    /// Seats bought, when configured.
    pub total_licenses: Option<u64>,
    /// Subscription tier, `Unknown` when not configured.
    pub tier: String,
    /// Distinct users (per primary key) with a user session in the period.
    pub active_users: u64,
    pub report_period: ReportPeriod,
    /// Operator version of the latest event that carried one.
    pub operator_version: Option<String>,
    /// Latest timestamp among all events ever received.
    pub last_operator_event: Option<DateTime<Utc>>,
    /// User sessions running now.
    pub active_user_sessions: u64,
    /// Seats in use: distinct machines (client certificates) with a user session in the period,
    /// whatever the primary key.
    pub licenses_used: u64,
    /// User sessions that started in the period.
    pub user_sessions: u64,
    /// Total duration of those user sessions, in seconds.
    pub user_session_time_seconds: f64,
    /// Name of the cluster the data comes from, when configured.
    pub cluster_name: Option<String>,
    /// Version of the Helm chart that installed mirrord-usage, when known.
    pub chart_version: Option<String>,
    /// The mirrord license the operator reports, once it has been read.
    pub license: Option<License>,
}

/// The mirrord license, as the operator reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct License {
    pub name: Option<String>,
    pub organization: Option<String>,
    /// Expiry date, `YYYY-MM-DD`.
    pub expire_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllTimeMetrics {
    /// All user sessions ever.
    pub total_session_count: u64,
    /// Total duration of all user sessions ever, in seconds.
    pub total_session_time_seconds: f64,
    /// All CI sessions ever.
    pub total_ci_session_count: u64,
    /// Total duration of all CI sessions ever, in seconds.
    pub total_ci_session_time_seconds: f64,
    /// Peak number of overlapping user sessions, all time.
    pub max_concurrent_user_sessions: u64,
    /// Start of the first session ever.
    pub first_session_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CiMetrics {
    /// CI sessions running now.
    pub current_running_sessions: u64,
    /// Peak number of overlapping CI sessions, all time.
    pub max_concurrent_ci_sessions: u64,
    /// CI sessions that started in the period.
    pub total_ci_sessions: u64,
    /// Mean duration of those CI sessions, in seconds; null if there are none.
    pub avg_ci_session_duration_seconds: Option<f64>,
}

/// One user's usage in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserMetric {
    /// The user's primary key value; null for the sessions that lack it.
    pub id: Option<String>,
    pub kubernetes_username: Option<String>,
    pub client_username: Option<String>,
    pub client_hostname: Option<String>,
    /// Start of the user's first user session ever.
    pub active_since: DateTime<Utc>,
    /// Latest start among the user's sessions in the period.
    pub last_session: DateTime<Utc>,
    pub session_count: u64,
    pub total_session_time_seconds: f64,
    pub avg_session_duration_seconds: f64,
    /// Sessions per day of the period.
    pub avg_daily_sessions: f64,
}

/// User sessions in the period against one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetMetric {
    pub namespace: Option<String>,
    /// Target kind; null for targetless sessions.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub session_count: u64,
    pub total_session_time_seconds: f64,
    /// Distinct users (per primary key) among these sessions.
    pub unique_users: u64,
}

/// The headline figures of a range without per-user rows: what the dashboard compares with the
/// previous period of equal length. The same numbers as the usage report's for that range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    pub report_period: ReportPeriod,
    /// Distinct users (per primary key) with a user session in the period.
    pub active_users: u64,
    /// Distinct machines with a user session in the period, whatever the primary key.
    pub licenses_used: u64,
    /// User sessions that started in the period.
    pub user_sessions: u64,
    /// Total duration of those user sessions, in seconds.
    pub user_session_time_seconds: f64,
    /// CI sessions that started in the period.
    pub ci_sessions: u64,
}

impl UsageSummary {
    /// The summary of a report: its figures for the range, nothing per user.
    pub fn of(report: &UsageReport) -> Self {
        let general = &report.general_metrics;
        UsageSummary {
            report_period: general.report_period,
            active_users: general.active_users,
            licenses_used: general.licenses_used,
            user_sessions: general.user_sessions,
            user_session_time_seconds: general.user_session_time_seconds,
            ci_sessions: report.ci_metrics.total_ci_sessions,
        }
    }
}

/// Answer of the trends endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrendReport {
    pub interval: Interval,
    pub report_period: ReportPeriod,
    /// Every bucket that intersects the period, empty ones included, oldest first.
    pub buckets: Vec<TrendBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrendBucket {
    /// Start of the bucket (UTC).
    pub start: DateTime<Utc>,
    /// User sessions starting in the bucket (within the period).
    pub user_sessions: u64,
    /// CI sessions starting in the bucket (within the period).
    pub ci_sessions: u64,
    /// Total duration of those user sessions, in seconds.
    pub session_time_seconds: f64,
    /// Distinct users with a user session there.
    pub active_users: u64,
    /// Users whose first user session ever starts there.
    pub new_users: u64,
}
