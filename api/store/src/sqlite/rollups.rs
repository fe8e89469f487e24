//! The rollups a batch adds to: per day and per month, usage per identity and per target,
//! totals, and each day's peak concurrency.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, Transaction, params};

use crate::blocks::{self, Span};
use crate::calendar::{self, MICROS_PER_DAY, Micros};
use crate::model::{DimId, IdentityUsage, Totals};
use crate::peaks::peak_of;

use super::ingest::StartRecord;
use super::{ARCHIVED_LASTING, LASTING, LONG_SESSION_US};

/// (span, period, ci)
pub(super) type UsageKey = (Span, i64, bool);
/// (span, period, namespace, target)
pub(super) type TargetKey2 = (Span, i64, DimId, DimId);

#[derive(Debug, Default)]
pub(super) struct TargetSums {
    pub(super) sessions: i64,
    pub(super) total: i64,
    pub(super) identities: BTreeSet<DimId>,
}

/// What a batch adds to the rollups.
#[derive(Default)]
pub(super) struct Rollups {
    pub(super) usage: BTreeMap<UsageKey, BTreeMap<DimId, IdentityUsage>>,
    pub(super) targets: BTreeMap<TargetKey2, TargetSums>,
    pub(super) totals: [Totals; 2],
    /// (day, ci) whose peak concurrency must be computed again.
    pub(super) touched: BTreeSet<(i64, bool)>,
}

impl Rollups {
    pub(super) fn add(&mut self, record: &StartRecord, end: Micros) {
        let ci = record.ci.is_some();
        let duration = end - record.start;
        let periods = [
            (Span::Day, calendar::day_of(record.start)),
            (Span::Month, calendar::month_of(record.start)),
        ];
        for (span, period) in periods {
            self.usage
                .entry((span, period, ci))
                .or_default()
                .entry(record.identity)
                .and_modify(|entry| {
                    entry.sessions += 1;
                    entry.total_micros += duration;
                    entry.last_start = entry.last_start.max(record.start);
                })
                .or_insert_with(|| blocks::usage(record.identity, record.start, duration));
            if !ci {
                let sums = self
                    .targets
                    .entry((span, period, record.namespace, record.target))
                    .or_default();
                sums.sessions += 1;
                sums.total += duration;
                sums.identities.insert(record.identity);
            }
        }
        let totals = &mut self.totals[usize::from(ci)];
        totals.sessions += 1;
        totals.total_micros += duration;
        if end > record.start {
            for day in calendar::day_of(record.start)..=calendar::day_of(end - 1) {
                self.touched.insert((day, ci));
            }
        }
    }

    pub(super) fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut read =
            tx.prepare_cached("SELECT identities FROM usage_blocks WHERE span = ?1 AND period = ?2 AND ci = ?3")?;
        let mut write = tx.prepare_cached(
            "INSERT INTO usage_blocks (span, period, ci, identities) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (span, period, ci) DO UPDATE SET identities = excluded.identities",
        )?;
        for (&(span, period, ci), additions) in &self.usage {
            let stored: Option<Vec<u8>> = read
                .query_row(params![span as i64, period, ci], |row| row.get(0))
                .optional()?;
            let merged = blocks::merge_usage(stored.as_deref(), additions);
            write.execute(params![span as i64, period, ci, merged])?;
        }
        let mut read = tx.prepare_cached(
            "SELECT identities FROM target_blocks WHERE span = ?1 AND period = ?2 AND namespace_id = ?3 AND target_id = ?4",
        )?;
        let mut write = tx.prepare_cached(
            "INSERT INTO target_blocks (span, period, namespace_id, target_id, sessions, total_us, identities) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (span, period, namespace_id, target_id) DO UPDATE SET \
             sessions = sessions + excluded.sessions, total_us = total_us + excluded.total_us, identities = excluded.identities",
        )?;
        for (&(span, period, namespace, target), sums) in &self.targets {
            let stored: Option<Vec<u8>> = read
                .query_row(params![span as i64, period, namespace, target], |row| row.get(0))
                .optional()?;
            let merged = blocks::merge_ids(stored.as_deref(), &sums.identities);
            write.execute(params![
                span as i64,
                period,
                namespace,
                target,
                sums.sessions,
                sums.total,
                merged
            ])?;
        }
        Ok(())
    }
}

/// Recomputes the peak overlap of completed sessions within each touched day: the work is the
/// sessions of the day and the day before, and the few that last longer.
pub(super) fn recompute_peaks(tx: &Transaction<'_>, touched: &BTreeSet<(i64, bool)>) -> rusqlite::Result<()> {
    let mut select = tx.prepare_cached(&format!(
        "SELECT start_us, end_us FROM sessions \
         WHERE start_us >= ?1 AND start_us < ?2 AND end_us > ?3 AND (ci_id IS NOT NULL) = ?4 \
         UNION ALL SELECT start_us, end_us FROM sessions \
         WHERE {LASTING} AND start_us < ?1 AND end_us > ?3 AND (ci_id IS NOT NULL) = ?4 \
         UNION ALL SELECT start_us, end_us FROM archived_sessions \
         WHERE start_us >= ?1 AND start_us < ?2 AND end_us > ?3 AND ci = ?4 \
         UNION ALL SELECT start_us, end_us FROM archived_sessions \
         WHERE {ARCHIVED_LASTING} AND start_us < ?1 AND end_us > ?3 AND ci = ?4"
    ))?;
    let mut upsert =
        tx.prepare_cached("INSERT OR REPLACE INTO concurrency_days (day, ci, peak) VALUES (?1, ?2, ?3)")?;
    let mut edges: Vec<(Micros, i32)> = Vec::new();
    for &(day, ci) in touched {
        let day_start = calendar::day_start(day);
        let day_end = day_start + MICROS_PER_DAY;
        edges.clear();
        let mut rows = select.query(params![
            day_start.saturating_sub(LONG_SESSION_US),
            day_end,
            day_start,
            ci
        ])?;
        while let Some(row) = rows.next()? {
            let start: Micros = row.get(0)?;
            let end: Micros = row.get(1)?;
            edges.push((start.max(day_start), 1));
            edges.push((end.min(day_end), -1));
        }
        upsert.execute(params![day, ci, peak_of(&mut edges) as i64])?;
    }
    Ok(())
}
