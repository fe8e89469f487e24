//! Trends: the range cut into buckets of a day, a week or a month, with usage and new users in each.

use std::collections::HashSet;

use mirrord_usage_crds::report::{Interval, PrimaryKey, TrendBucket, TrendReport};
use mirrord_usage_store::calendar::{self, MICROS_PER_DAY, Micros};
use mirrord_usage_store::model::{ABSENT, DimId, Snapshot};

use crate::activity::{period, profiles, usage_in_range};

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
    use super::*;
    use crate::fixtures::{Session, at, snapshot};

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
}
