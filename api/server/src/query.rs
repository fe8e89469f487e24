//! Query strings, read by typed extractors: what a report or a session listing may be asked for,
//! each value checked once with a message that names the parameter and the offending value.
//! [`Params`] answers a malformed query string in the JSON API's error shape, the aggregated API
//! turns the same error into a `Status`.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use mirrord_usage_crds::report::UsageReport;
use mirrord_usage_crds::report::{Interval, PrimaryKey};
use mirrord_usage_store::calendar;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::usage::RangeParams;

/// Reads the query string of a request as `T`; a malformed one is a `400 invalid_parameter`.
pub(crate) fn read<T: DeserializeOwned>(parts: &Parts) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .map_err(|rejection| {
            ApiError::invalid_parameter(format!("the query string cannot be read: {}", rejection.body_text()))
        })
}

/// A query string deserialised into `T`, refused in the JSON API's error shape.
#[derive(Debug, Clone, Default)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        read(parts).map(Params)
    }
}

/// What a report is asked for: its range and primary key, and how it is answered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Also spelt `primary_key`.
    #[serde(alias = "primary_key")]
    pub primary_key: Option<String>,
    pub format: Option<String>,
    pub inactive_days: Option<String>,
    pub interval: Option<String>,
}

/// The downloadable forms of a usage report (`format=csv|xlsx`; JSON is the default answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

/// `inactiveDays=N`: only the users without a session in the last N days of the range, the
/// longest idle first (the seats an admin can reclaim, with the range running to now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inactive {
    pub days: u32,
}

/// At most ten years.
const MAX_INACTIVE_DAYS: u32 = 3650;

impl Inactive {
    /// Drops the rows with a session at or after the cut-off; a session exactly at it counts.
    pub(crate) fn keep_only_inactive(self, report: &mut UsageReport) {
        let cutoff = report.general_metrics.report_period.to - chrono::Duration::days(i64::from(self.days));
        if let Some(users) = report.user_metrics.as_mut() {
            users.retain(|user| user.last_session < cutoff);
            users.sort_by(|a, b| a.last_session.cmp(&b.last_session).then_with(|| a.id.cmp(&b.id)));
        }
    }
}

/// A value that was given and is not empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

fn parse_time(value: &Option<String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    given(value)
        .map(|value| {
            mirrord_usage_crds::time::parse_rfc3339(value).map_err(|error| {
                ApiError::invalid_parameter(format!(
                    "{name} must be an RFC 3339 time such as 2026-11-01T00:00:00Z, not '{value}': {error}"
                ))
            })
        })
        .transpose()
}

impl ReportQuery {
    /// `from`, `to` and `primaryKey`; `to` defaults to `now`.
    pub fn range(&self, now: DateTime<Utc>) -> Result<RangeParams, ApiError> {
        let from = parse_time(&self.from, "from")?;
        let to = parse_time(&self.to, "to")?.unwrap_or(now);
        if let Some(from) = from
            && from >= to
        {
            return Err(ApiError::bad_request(
                "invalid_range",
                format!(
                    "from ({}) must be earlier than to ({})",
                    from.to_rfc3339(),
                    to.to_rfc3339()
                ),
            ));
        }
        let primary_key = match &self.primary_key {
            None => PrimaryKey::default(),
            Some(value) => value.parse().map_err(ApiError::invalid_parameter)?,
        };
        Ok(RangeParams {
            from: from.map(calendar::to_micros),
            to: calendar::to_micros(to),
            primary_key,
        })
    }

    /// `format`: `None` for JSON (also when absent).
    pub fn format(&self) -> Result<Option<FileFormat>, ApiError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(None),
            Some("csv") => Ok(Some(FileFormat::Csv)),
            Some("xlsx") => Ok(Some(FileFormat::Xlsx)),
            Some(other) => Err(ApiError::invalid_parameter(format!(
                "format must be one of json, csv, xlsx, not '{other}'"
            ))),
        }
    }

    /// `inactiveDays`; `None` when absent.
    pub fn inactive(&self) -> Result<Option<Inactive>, ApiError> {
        let Some(value) = given(&self.inactive_days) else {
            return Ok(None);
        };
        match value.parse::<u32>() {
            Ok(days) if (1..=MAX_INACTIVE_DAYS).contains(&days) => Ok(Some(Inactive { days })),
            _ => Err(ApiError::invalid_parameter(format!(
                "inactiveDays must be a whole number of days from 1 to {MAX_INACTIVE_DAYS}, not '{value}'"
            ))),
        }
    }

    /// `interval` (`day` when absent).
    pub fn interval(&self) -> Result<Interval, ApiError> {
        self.interval.as_deref().map_or(Ok(Interval::Day), |value| {
            value.parse().map_err(ApiError::invalid_parameter)
        })
    }
}

/// What a listing of the session log is asked for: plain parameters, or `fieldSelector` terms
/// as `kubectl get --field-selector` sends them, and Kubernetes' paging.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionListQuery {
    #[serde(flatten)]
    pub report: ReportQuery,
    pub field_selector: Option<String>,
    pub user: Option<String>,
    pub namespace: Option<String>,
    pub ci: Option<String>,
    pub close_reason: Option<String>,
    pub limit: Option<String>,
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: DeserializeOwned>(query: &str) -> T {
        let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
        Query::<T>::try_from_uri(&uri).unwrap().0
    }

    fn report(query: &str) -> ReportQuery {
        parse(query)
    }

    #[test]
    fn both_spellings_of_the_primary_key_are_read() {
        let now = Utc::now();
        for query in ["primaryKey=clientHostname", "primary_key=clientHostname"] {
            assert_eq!(
                report(query).range(now).unwrap().primary_key,
                PrimaryKey::ClientHostname
            );
        }
    }

    #[test]
    fn empty_values_count_as_absent_and_unknown_parameters_are_ignored() {
        let query = report("from=&to=&inactiveDays=&key=secret");
        let now = Utc::now();
        let range = query.range(now).unwrap();
        assert_eq!((range.from, range.to), (None, calendar::to_micros(now)));
        assert_eq!(query.inactive().unwrap(), None);
    }

    #[test]
    fn a_session_listing_reads_the_range_beside_its_filters() {
        let query: SessionListQuery = parse("from=2026-11-01T00:00:00Z&fieldSelector=ci%3Dtrue&continue=abc&limit=5");
        assert_eq!(query.report.from.as_deref(), Some("2026-11-01T00:00:00Z"));
        assert_eq!(query.field_selector.as_deref(), Some("ci=true"));
        assert_eq!(query.continue_token.as_deref(), Some("abc"));
        assert_eq!(query.limit.as_deref(), Some("5"));
    }
}
