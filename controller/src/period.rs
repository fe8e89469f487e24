//! The time range a `MirrordUsageReport` covers at a given moment, and when it next changes on
//! its own (a `CurrentMonth` report rolls over at midnight UTC on the 1st).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use mirrord_usage_crds::usage_report::{MirrordUsageReportSpec, Period};

/// A resolved period: `from` is `None` for "since the first session".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    /// When the range next moves by the calendar alone (not counting "now" advancing).
    pub next_boundary: Option<DateTime<Utc>>,
}

fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, 1).expect("a valid month");
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn this_month(now: DateTime<Utc>) -> DateTime<Utc> {
    month_start(now.year(), now.month())
}

fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    if now.month() == 12 {
        month_start(now.year() + 1, 1)
    } else {
        month_start(now.year(), now.month() + 1)
    }
}

fn previous_month(now: DateTime<Utc>) -> DateTime<Utc> {
    if now.month() == 1 {
        month_start(now.year() - 1, 12)
    } else {
        month_start(now.year(), now.month() - 1)
    }
}

/// The range `spec` covers at `now`.
pub fn resolve(spec: &MirrordUsageReportSpec, now: DateTime<Utc>) -> Resolved {
    let last = |days: i64| Resolved {
        from: Some(now - Duration::days(days)),
        to: now,
        next_boundary: None,
    };
    match spec.period {
        Period::CurrentMonth => Resolved {
            from: Some(this_month(now)),
            to: now,
            next_boundary: Some(next_month(now)),
        },
        Period::PreviousMonth => Resolved {
            from: Some(previous_month(now)),
            to: this_month(now),
            next_boundary: Some(next_month(now)),
        },
        Period::Last7Days => last(7),
        Period::Last30Days => last(30),
        Period::Last90Days => last(90),
        Period::AllTime => Resolved {
            from: None,
            to: now,
            next_boundary: None,
        },
        // The schema requires both; a missing one falls back to an empty range at now.
        Period::Custom => Resolved {
            from: Some(spec.from.unwrap_or(now)),
            to: spec.to.unwrap_or(now).max(spec.from.unwrap_or(now)),
            next_boundary: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn spec(period: Period) -> MirrordUsageReportSpec {
        serde_json::from_value(serde_json::json!({ "period": period })).unwrap()
    }

    #[test]
    fn the_current_month_runs_from_the_first_and_rolls_over_on_the_next() {
        let resolved = resolve(&spec(Period::CurrentMonth), at("2026-12-31T23:59:59Z"));
        assert_eq!(resolved.from, Some(at("2026-12-01T00:00:00Z")));
        assert_eq!(resolved.to, at("2026-12-31T23:59:59Z"));
        assert_eq!(resolved.next_boundary, Some(at("2027-01-01T00:00:00Z")));
        let after = resolve(&spec(Period::CurrentMonth), at("2027-01-01T00:00:00Z"));
        assert_eq!(after.from, Some(at("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn the_previous_month_is_whole_and_crosses_years() {
        let resolved = resolve(&spec(Period::PreviousMonth), at("2027-01-15T10:00:00Z"));
        assert_eq!(resolved.from, Some(at("2026-12-01T00:00:00Z")));
        assert_eq!(resolved.to, at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn rolling_and_all_time_periods_end_now() {
        let now = at("2026-11-25T12:00:00Z");
        assert_eq!(
            resolve(&spec(Period::Last7Days), now).from,
            Some(at("2026-11-18T12:00:00Z"))
        );
        assert_eq!(
            resolve(&spec(Period::Last90Days), now).from,
            Some(at("2026-08-27T12:00:00Z"))
        );
        assert_eq!(
            resolve(&spec(Period::AllTime), now),
            Resolved {
                from: None,
                to: now,
                next_boundary: None
            }
        );
    }

    #[test]
    fn a_custom_period_uses_its_dates() {
        let custom: MirrordUsageReportSpec = serde_json::from_value(serde_json::json!({
            "period": "Custom", "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"
        }))
        .unwrap();
        let resolved = resolve(&custom, at("2026-11-25T12:00:00Z"));
        assert_eq!(
            (resolved.from, resolved.to),
            (Some(at("2026-01-01T00:00:00Z")), at("2026-04-01T00:00:00Z"))
        );
    }
}
