//! Time as the store and the report engine count it: microseconds since the Unix epoch, and the
//! UTC calendar buckets (days, ISO weeks, months) that reports group by.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// Microseconds since 1970-01-01T00:00:00Z. Timestamps are kept to this precision.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

pub fn to_micros(time: DateTime<Utc>) -> Micros {
    time.timestamp_micros()
}

pub fn from_micros(micros: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .expect("every i64 microsecond count stored came from a valid DateTime")
}

pub fn seconds(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_SECOND as f64
}

/// Days since the epoch of the UTC day containing `micros`.
pub fn day_of(micros: Micros) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

pub fn day_start(day: i64) -> Micros {
    day * MICROS_PER_DAY
}

/// Months since January 1970 of the UTC month containing `micros`.
pub fn month_of(micros: Micros) -> i64 {
    let date = from_micros(micros).date_naive();
    month_index(date)
}

fn month_index(date: NaiveDate) -> i64 {
    (i64::from(date.year()) - 1970) * 12 + i64::from(date.month0())
}

pub fn month_start(month: i64) -> Micros {
    let year = 1970 + month.div_euclid(12);
    let month0 = month.rem_euclid(12);
    let date = NaiveDate::from_ymd_opt(year as i32, month0 as u32 + 1, 1).expect("valid month");
    date.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros()
}

/// The day containing a month's first microsecond.
pub fn month_first_day(month: i64) -> i64 {
    day_of(month_start(month))
}

/// Smallest day boundary at or after `micros`.
pub fn ceil_day(micros: Micros) -> i64 {
    let day = day_of(micros);
    if day_start(day) == micros { day } else { day + 1 }
}

/// Smallest month boundary at or after the start of `day`.
pub fn ceil_month_of_day(day: i64) -> i64 {
    let month = month_of(day_start(day));
    if month_first_day(month) == day {
        month
    } else {
        month + 1
    }
}

/// Start of the week (Monday 00:00 UTC) containing `micros`.
pub fn week_start(micros: Micros) -> Micros {
    // 1970-01-01 was a Thursday: day 0 is three days after a Monday.
    let day = day_of(micros);
    day_start(day - (day + 3).rem_euclid(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Micros {
        to_micros(DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_start(at("2026-11-25T13:00:00Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(week_start(at("2026-11-23T00:00:00Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(week_start(at("2026-11-22T23:59:59Z")), at("2026-11-16T00:00:00Z"));
        assert_eq!(week_start(at("1969-12-31T12:00:00Z")), at("1969-12-29T00:00:00Z"));
    }

    #[test]
    fn months_round_trip_through_their_index() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T12:00:00Z",
            "2026-12-31T23:59:59Z",
            "1969-07-20T20:17:00Z",
        ] {
            let micros = at(text);
            let month = month_of(micros);
            assert!(
                month_start(month) <= micros && micros < month_start(month + 1),
                "{text}"
            );
        }
        assert_eq!(
            month_start(month_of(at("2026-03-15T00:00:00Z"))),
            at("2026-03-01T00:00:00Z")
        );
    }

    #[test]
    fn ceilings_stay_on_boundaries() {
        assert_eq!(
            day_start(ceil_day(at("2026-01-01T00:00:00Z"))),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            day_start(ceil_day(at("2026-01-01T00:00:01Z"))),
            at("2026-01-02T00:00:00Z")
        );
        let first = day_of(at("2026-03-01T00:00:00Z"));
        assert_eq!(month_first_day(ceil_month_of_day(first)), first);
        assert_eq!(month_start(ceil_month_of_day(first + 1)), at("2026-04-01T00:00:00Z"));
    }
}
