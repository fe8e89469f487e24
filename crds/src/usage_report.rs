//! The `MirrordUsageReport` custom resource: which usage report to keep up to date, and (in its
//! status) the headline numbers, so `kubectl get mirrordusagereports` answers the basic
//! questions.
// Every type here is used by other crates; `unreachable_pub` misfires on the types under the
// `KubeSchema` derive, which re-emits them.
#![allow(unreachable_pub)]

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::PrimaryKey;

/// Which time range a report covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Period {
    /// From the first day of this month (UTC) until now; rolls over on the 1st at 00:00 UTC.
    #[default]
    CurrentMonth,
    /// The whole previous month (UTC).
    PreviousMonth,
    /// The last 7 days until now.
    Last7Days,
    /// The last 30 days until now.
    Last30Days,
    /// The last 90 days until now.
    Last90Days,
    /// From the first session ever until now.
    AllTime,
    /// From `spec.from` to `spec.to`.
    Custom,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::CurrentMonth => "CurrentMonth",
            Period::PreviousMonth => "PreviousMonth",
            Period::Last7Days => "Last7Days",
            Period::Last30Days => "Last30Days",
            Period::Last90Days => "Last90Days",
            Period::AllTime => "AllTime",
            Period::Custom => "Custom",
        }
    }
}

/// Minutes each session saves, for the time-saved figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Roi {
    /// Minutes a developer saves per user session (default 15).
    #[serde(default = "default_minutes")]
    #[x_kube(validation = Rule::new("self >= 0.0").message("userMinutesSavedPerSession must not be negative"))]
    pub user_minutes_saved_per_session: f64,
    /// Minutes of CI waiting saved per CI session (default 15).
    #[serde(default = "default_minutes")]
    #[x_kube(validation = Rule::new("self >= 0.0").message("ciMinutesSavedPerSession must not be negative"))]
    pub ci_minutes_saved_per_session: f64,
}

fn default_minutes() -> f64 {
    15.0
}

impl Default for Roi {
    fn default() -> Self {
        Roi {
            user_minutes_saved_per_session: 15.0,
            ci_minutes_saved_per_session: 15.0,
        }
    }
}

fn default_top_users() -> u32 {
    10
}

/// A usage report kept up to date by mirrord-usage.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "usage.mirrord.metalbear.co",
    version = "v1alpha1",
    kind = "MirrordUsageReport",
    plural = "mirrordusagereports",
    shortname = "mur",
    status = "MirrordUsageReportStatus",
    printcolumn = r#"{"name":"Period","type":"string","jsonPath":".spec.period"}"#,
    printcolumn = r#"{"name":"Users","type":"integer","jsonPath":".status.activeUsers"}"#,
    printcolumn = r#"{"name":"Licenses","type":"string","jsonPath":".status.licenses.summary"}"#,
    printcolumn = r#"{"name":"Sessions","type":"integer","jsonPath":".status.userSessions"}"#,
    printcolumn = r#"{"name":"Session Time","type":"string","jsonPath":".status.sessionTime"}"#,
    printcolumn = r#"{"name":"CI","type":"integer","jsonPath":".status.ciSessions"}"#,
    printcolumn = r#"{"name":"Time Saved","type":"string","jsonPath":".status.timeSaved"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.period != 'Custom' || (has(self.from) && has(self.to))").message("a Custom period needs both from and to"))]
#[x_kube(validation = Rule::new("self.period == 'Custom' || (!has(self.from) && !has(self.to))").message("from and to are only used with the Custom period"))]
#[x_kube(validation = Rule::new("!has(self.from) || !has(self.to) || timestamp(self.from) < timestamp(self.to)").message("from must be earlier than to"))]
#[serde(rename_all = "camelCase")]
pub struct MirrordUsageReportSpec {
    /// Time range of the report (default CurrentMonth).
    #[serde(default)]
    pub period: Period,
    /// Start of a Custom period (RFC 3339, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// End of a Custom period (RFC 3339, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Which identity counts as a user (default machineId).
    #[serde(default)]
    pub primary_key: PrimaryKey,
    /// Minutes saved per session, for the time-saved figures.
    #[serde(default)]
    pub roi: Roi,
    /// How many of the most active users to list in the status (default 10, at most 50).
    #[serde(default = "default_top_users")]
    #[x_kube(validation = Rule::new("self <= 50").message("topUsers must be at most 50"))]
    pub top_users: u32,
}

/// Seats in use against seats bought.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Licenses {
    /// Machines with a user session in the period.
    pub used: u64,
    /// Seats bought, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// `used/total`, for display.
    pub summary: String,
}

/// One of the most active users of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopUser {
    /// The user's primary key value; absent for sessions that lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub sessions: u64,
    pub session_time_seconds: f64,
}

/// The resolved period of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResolvedPeriod {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The headline numbers of the report, kept small whatever the amount of data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrordUsageReportStatus {
    /// Generation of the spec these numbers answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether the numbers are current, with the reason when not.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// When the numbers were computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<ResolvedPeriod>,
    /// Distinct users (per primary key) with a user session in the period.
    #[serde(default)]
    pub active_users: u64,
    #[serde(default)]
    pub licenses: Licenses,
    /// User sessions that started in the period.
    #[serde(default)]
    pub user_sessions: u64,
    /// Their total duration, in seconds.
    #[serde(default)]
    pub session_time_seconds: f64,
    /// The same, for people (e.g. `3d 4h`).
    #[serde(default)]
    pub session_time: String,
    /// CI sessions that started in the period.
    #[serde(default)]
    pub ci_sessions: u64,
    /// User sessions running now.
    #[serde(default)]
    pub running_user_sessions: u64,
    /// CI sessions running now.
    #[serde(default)]
    pub running_ci_sessions: u64,
    /// Peak overlapping user sessions, all time.
    #[serde(default)]
    pub max_user_concurrency: u64,
    /// Peak overlapping CI sessions, all time.
    #[serde(default)]
    pub max_ci_concurrency: u64,
    /// Developer time saved by the period's user sessions, in hours.
    #[serde(default)]
    pub developer_hours_saved: f64,
    /// CI waiting time saved by the period's CI sessions, in hours.
    #[serde(default)]
    pub ci_hours_saved: f64,
    /// Both, for people (e.g. `1,204h`).
    #[serde(default)]
    pub time_saved: String,
    /// The most active users of the period, by session time.
    #[serde(default)]
    pub top_users: Vec<TopUser>,
}

/// Where the generated CustomResourceDefinition is kept in the repository (the chart's copy).
pub const CRD_FILE: &str = "charts/mirrord-usage/crds/mirrordusagereports.usage.mirrord.metalbear.co.yaml";

/// The CustomResourceDefinition as YAML, as `mirrord-usage crdgen` prints it.
pub fn crd_yaml() -> String {
    let yaml = serde_yaml_ng::to_string(&MirrordUsageReport::crd()).expect("a CRD serialises");
    format!("# Generated by `mirrord-usage crdgen` from crds/src/usage_report.rs; do not edit.\n{yaml}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> serde_json::Value {
        let crd = serde_json::to_value(MirrordUsageReport::crd()).unwrap();
        crd["spec"]["versions"][0].clone()
    }

    #[test]
    fn the_crd_is_cluster_scoped_with_its_short_name() {
        let crd = MirrordUsageReport::crd();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.spec.names.short_names, Some(vec!["mur".to_owned()]));
        assert_eq!(crd.spec.group, crate::USAGE_GROUP);
        assert_eq!(crd.spec.versions[0].name, crate::USAGE_VERSION);
    }

    #[test]
    fn kubectl_get_shows_the_headline_columns() {
        let columns: Vec<String> = schema()["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_uppercase())
            .collect();
        assert_eq!(
            columns,
            [
                "PERIOD",
                "USERS",
                "LICENSES",
                "SESSIONS",
                "SESSION TIME",
                "CI",
                "TIME SAVED",
                "AGE"
            ]
        );
    }

    #[test]
    fn the_schema_carries_the_validation_rules() {
        let spec = &schema()["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let rules = spec["x-kubernetes-validations"].to_string();
        assert!(rules.contains("a Custom period needs both from and to"), "{rules}");
        let roi = spec["properties"]["roi"]["properties"]["userMinutesSavedPerSession"].to_string();
        assert!(roi.contains("self >= 0.0"), "{roi}");
        let periods = spec["properties"]["period"]["enum"].to_string();
        assert!(
            periods.contains("Last90Days") && periods.contains("Custom"),
            "{periods}"
        );
        assert_eq!(spec["properties"]["topUsers"]["default"], 10);
    }

    #[test]
    fn an_empty_spec_takes_the_defaults() {
        let spec: MirrordUsageReportSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec.period, Period::CurrentMonth);
        assert_eq!(spec.primary_key, PrimaryKey::MachineId);
        assert_eq!(spec.roi, Roi::default());
        assert_eq!(spec.top_users, 10);
    }
}
