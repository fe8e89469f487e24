//! Reading what a report needs over a range, consistently: rollups for whole days and months,
//! sessions for the partial days at the edges, and the sessions running now.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::blocks::{self, Span};
use crate::calendar::{self, Micros};
use crate::error::Result;
use crate::model::{
    ABSENT, Granularity, Interval, RunningSession, Snapshot, SnapshotQuery, TargetUsage, Totals, UsageBlock,
};

use super::ingest::StartRecord;
use super::rollups::Rollups;
use super::{ARCHIVED_LASTING, LASTING, LONG_SESSION_US, SqliteStore, meta_i64};

impl SqliteStore {
    pub(super) fn read_snapshot(&self, query: &SnapshotQuery) -> Result<Snapshot> {
        let mut reader = self.reader()?;
        let guard = self.dims.read().unwrap_or_else(|p| p.into_inner());
        let tx = reader.conn().transaction()?;
        // The first read fixes what this transaction sees; the guard keeps the matching
        // dimensions from being replaced meanwhile.
        let first_session_at: Option<Micros> = tx.query_row(
            "SELECT min(first) FROM (SELECT min(start_us) AS first FROM sessions \
             UNION ALL SELECT min(start_us) FROM archived_sessions)",
            [],
            |row| row.get(0),
        )?;
        let dims = guard.clone();
        drop(guard);

        let to = query.to;
        let from = query.from.unwrap_or_else(|| first_session_at.unwrap_or(to).min(to));
        let (usage, targets) = read_usage(&tx, from, to, query.granularity)?;

        let mut running = Vec::new();
        {
            let mut statement = tx.prepare_cached(
                "SELECT identity_id, target_id, namespace_id, ci_id IS NOT NULL, start_us FROM sessions \
                 WHERE end_us IS NULL AND start_us IS NOT NULL",
            )?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                running.push(RunningSession {
                    identity: row.get(0)?,
                    target: row.get(1)?,
                    namespace: row.get(2)?,
                    ci: row.get(3)?,
                    start: row.get(4)?,
                });
            }
        }

        let mut totals = [Totals::default(); 2];
        {
            let mut statement = tx.prepare_cached("SELECT ci, sessions, total_us FROM totals")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let ci = row.get::<_, i64>(0)? as usize;
                totals[ci] = Totals {
                    sessions: row.get::<_, i64>(1)? as u64,
                    total_micros: row.get(2)?,
                };
            }
        }
        let mut peaks = [0_u64; 2];
        {
            let mut statement = tx.prepare_cached("SELECT ci, max(peak) FROM concurrency_days GROUP BY ci")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let ci = row.get::<_, i64>(0)? as usize;
                peaks[ci] = row.get::<_, i64>(1)? as u64;
            }
        }
        let mut overlapping_running = Vec::new();
        if let Some(earliest) = running.iter().map(|session| session.start).min() {
            let mut statement = tx.prepare_cached(&format!(
                "SELECT start_us, end_us, ci_id IS NOT NULL FROM sessions WHERE start_us >= ?1 AND end_us > ?2 \
                 UNION ALL SELECT start_us, end_us, ci_id IS NOT NULL FROM sessions \
                 WHERE {LASTING} AND start_us < ?1 AND end_us > ?2 \
                 UNION ALL SELECT start_us, end_us, ci FROM archived_sessions WHERE start_us >= ?1 AND end_us > ?2 \
                 UNION ALL SELECT start_us, end_us, ci FROM archived_sessions \
                 WHERE {ARCHIVED_LASTING} AND start_us < ?1 AND end_us > ?2"
            ))?;
            let mut rows = statement.query(params![earliest.saturating_sub(LONG_SESSION_US), earliest])?;
            while let Some(row) = rows.next()? {
                overlapping_running.push(Interval {
                    start: row.get(0)?,
                    end: row.get(1)?,
                    ci: row.get(2)?,
                });
            }
        }
        let last_event_at = meta_i64(&tx, "last_event_us")?;
        let operator_ci_running = meta_i64(&tx, "operator_ci_running")?.map(|count| count.max(0) as u64);
        let operator_version: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'operator_version'", [], |row| {
                row.get(0)
            })
            .optional()?;
        let license: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'license'", [], |row| row.get(0))
            .optional()?;
        let license = license.and_then(|text| serde_json::from_str(&text).ok());
        Ok(Snapshot {
            license,
            dims,
            from,
            to,
            usage,
            targets,
            running,
            user_totals: totals[0],
            ci_totals: totals[1],
            completed_peak_user: peaks[0],
            completed_peak_ci: peaks[1],
            overlapping_running,
            first_session_at,
            last_event_at,
            operator_version,
            operator_ci_running,
        })
    }
}

/// Completed sessions starting in `[from, to)`: raw rows for partial days, day blocks for whole
/// days, month blocks for whole months when allowed.
pub(super) fn read_usage(
    tx: &Transaction<'_>,
    from: Micros,
    to: Micros,
    granularity: Granularity,
) -> rusqlite::Result<(Vec<UsageBlock>, Vec<TargetUsage>)> {
    let mut usage = Vec::new();
    let mut targets = Vec::new();
    if from >= to {
        return Ok((usage, targets));
    }
    let first_day = calendar::ceil_day(from);
    let end_day = calendar::day_of(to);
    if first_day >= end_day {
        read_raw(tx, from, to, &mut usage, &mut targets)?;
        return Ok((usage, targets));
    }
    read_raw(tx, from, calendar::day_start(first_day), &mut usage, &mut targets)?;
    read_raw(tx, calendar::day_start(end_day), to, &mut usage, &mut targets)?;
    let first_month = calendar::ceil_month_of_day(first_day);
    let end_month = calendar::month_of(calendar::day_start(end_day));
    let mut read = |span, from, to| read_blocks(tx, span, from, to, &mut usage, &mut targets);
    if granularity == Granularity::Month && first_month < end_month {
        read(Span::Day, first_day, calendar::month_first_day(first_month))?;
        read(Span::Month, first_month, end_month)?;
        read(Span::Day, calendar::month_first_day(end_month), end_day)?;
    } else {
        read(Span::Day, first_day, end_day)?;
    }
    Ok((usage, targets))
}

/// Completed sessions starting in `[from, to)` (within one day), summed like a block.
pub(super) fn read_raw(
    tx: &Transaction<'_>,
    from: Micros,
    to: Micros,
    usage: &mut Vec<UsageBlock>,
    targets: &mut Vec<TargetUsage>,
) -> rusqlite::Result<()> {
    if from >= to {
        return Ok(());
    }
    let mut statement = tx.prepare_cached(
        "SELECT identity_id, target_id, namespace_id, ci_id IS NOT NULL, start_us, end_us FROM sessions \
         WHERE start_us >= ?1 AND start_us < ?2 AND end_us IS NOT NULL \
         UNION ALL SELECT identity_id, target_id, namespace_id, ci, start_us, end_us FROM archived_sessions \
         WHERE start_us >= ?1 AND start_us < ?2",
    )?;
    let mut rows = statement.query(params![from, to])?;
    let mut rollups = Rollups::default();
    while let Some(row) = rows.next()? {
        let record = StartRecord {
            start: row.get(4)?,
            identity: row.get(0)?,
            target: row.get(1)?,
            namespace: row.get(2)?,
            ci: row.get::<_, bool>(3)?.then_some(ABSENT),
            cli_version: ABSENT,
            operator_version: ABSENT,
            multi_cluster_parent: ABSENT,
            estimated: false,
        };
        rollups.add(&record, row.get(5)?);
    }
    for ((span, period, ci), entries) in rollups.usage {
        if span == Span::Day {
            usage.push(UsageBlock {
                start: calendar::day_start(period),
                ci,
                identities: entries.into_values().collect(),
            });
        }
    }
    for ((span, _, namespace, target), sums) in rollups.targets {
        if span == Span::Day {
            targets.push(TargetUsage {
                namespace,
                target,
                sessions: sums.sessions as u64,
                total_micros: sums.total,
                identities: sums.identities.into_iter().collect(),
            });
        }
    }
    Ok(())
}

pub(super) fn read_blocks(
    tx: &Transaction<'_>,
    span: Span,
    from: i64,
    to: i64,
    usage: &mut Vec<UsageBlock>,
    targets: &mut Vec<TargetUsage>,
) -> rusqlite::Result<()> {
    if from >= to {
        return Ok(());
    }
    let start_of = |period: i64| match span {
        Span::Day => calendar::day_start(period),
        Span::Month => calendar::month_start(period),
    };
    let mut statement = tx.prepare_cached(
        "SELECT period, ci, identities FROM usage_blocks WHERE span = ?1 AND period >= ?2 AND period < ?3",
    )?;
    let mut rows = statement.query(params![span as i64, from, to])?;
    while let Some(row) = rows.next()? {
        let mut identities = Vec::new();
        blocks::decode_usage(row.get_ref(2)?.as_blob()?, &mut identities);
        usage.push(UsageBlock {
            start: start_of(row.get(0)?),
            ci: row.get(1)?,
            identities,
        });
    }
    let mut statement = tx.prepare_cached(
        "SELECT namespace_id, target_id, sessions, total_us, identities FROM target_blocks \
         WHERE span = ?1 AND period >= ?2 AND period < ?3",
    )?;
    let mut rows = statement.query(params![span as i64, from, to])?;
    while let Some(row) = rows.next()? {
        let mut identities = Vec::new();
        blocks::decode_ids(row.get_ref(4)?.as_blob()?, &mut identities);
        targets.push(TargetUsage {
            namespace: row.get(0)?,
            target: row.get(1)?,
            sessions: row.get::<_, i64>(2)? as u64,
            total_micros: row.get(3)?,
            identities,
        });
    }
    Ok(())
}
