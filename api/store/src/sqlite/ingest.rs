//! Writing a batch: every event is checked against what is stored, and the batch is kept in
//! one transaction only when none contradicts it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use mirrord_usage_crds::event::Event;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::calendar::{self, Micros};
use crate::error::Result;
use crate::ingest::EventProblem;
use crate::maintenance::{self};
use crate::model::{ABSENT, DimId};

use super::dimensions::{intern_string, resolve_start};
use super::rollups::{Rollups, recompute_peaks};
use super::{SESSION_COLUMNS, SqliteStore, lock, meta_i64, set_meta};
use crate::{IngestFailure, IngestOutcome};

/// The stored content of a start event, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StartRecord {
    pub(super) start: Micros,
    pub(super) identity: DimId,
    pub(super) target: DimId,
    pub(super) namespace: DimId,
    pub(super) ci: Option<DimId>,
    pub(super) cli_version: DimId,
    pub(super) operator_version: DimId,
    pub(super) multi_cluster_parent: DimId,
    /// The start time is an estimate, which an exact start of the same session replaces.
    pub(super) estimated: bool,
}

impl StartRecord {
    /// Whether two starts tell the same, whether or not either time is an estimate.
    pub(super) fn same_as(&self, other: &StartRecord) -> bool {
        StartRecord {
            estimated: other.estimated,
            ..*self
        } == *other
    }

    pub(super) fn differences(&self, other: &StartRecord) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.start != other.start {
            fields.push("timestamp");
        }
        if self.identity != other.identity {
            fields.push("identity (machineId, kubernetesUsername, clientUsername, clientHostname)");
        }
        if self.target != other.target {
            fields.push("target");
        }
        if self.namespace != other.namespace {
            fields.push("namespace");
        }
        if self.ci != other.ci {
            fields.push("ci");
        }
        if self.cli_version != other.cli_version {
            fields.push("cliVersion");
        }
        if self.operator_version != other.operator_version {
            fields.push("operatorVersion");
        }
        if self.multi_cluster_parent != other.multi_cluster_parent {
            fields.push("multiClusterParent");
        }
        fields
    }
}

/// A session as the batch sees it: what was stored, and what the batch adds.
#[derive(Debug, Default)]
pub(super) struct BatchSession {
    pub(super) row: Option<i64>,
    pub(super) start: Option<StartRecord>,
    pub(super) end: Option<Micros>,
    pub(super) end_estimated: bool,
    pub(super) close_reason: DimId,
    pub(super) stored_start: bool,
    pub(super) stored_end: bool,
    /// An estimated stored start was replaced by an exact one.
    pub(super) start_replaced: bool,
}

impl BatchSession {
    pub(super) fn changed(&self) -> bool {
        self.start.is_some() != self.stored_start || self.end.is_some() != self.stored_end || self.start_replaced
    }

    /// Whether the batch brings a start this session did not have (or had only as an estimate).
    pub(super) fn new_start(&self) -> bool {
        !self.stored_start || self.start_replaced
    }

    pub(super) fn newly_completed(&self) -> Option<(StartRecord, Micros)> {
        match (self.start, self.end) {
            (Some(start), Some(end)) if !(self.stored_start && self.stored_end) => Some((start, end)),
            _ => None,
        }
    }
}

pub(super) fn load_session(tx: &Transaction<'_>, session_id: &str) -> rusqlite::Result<BatchSession> {
    let mut lookup = tx.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?1"))?;
    lookup
        .query_row([session_id], |row| {
            let start: Option<Micros> = row.get(1)?;
            let end: Option<Micros> = row.get(2)?;
            let record = match start {
                None => None,
                Some(start) => Some(StartRecord {
                    start,
                    identity: row.get(3)?,
                    target: row.get(4)?,
                    namespace: row.get(5)?,
                    ci: row.get(6)?,
                    cli_version: row.get(7)?,
                    operator_version: row.get(8)?,
                    multi_cluster_parent: row.get(9)?,
                    estimated: row.get(10)?,
                }),
            };
            Ok(BatchSession {
                row: Some(row.get(0)?),
                start: record,
                end,
                end_estimated: row.get(11)?,
                close_reason: row.get(12)?,
                stored_start: start.is_some(),
                stored_end: end.is_some(),
                start_replaced: false,
            })
        })
        .optional()
        .map(Option::unwrap_or_default)
}

impl SqliteStore {
    /// Checks a batch against what is stored and, when `commit` is set and nothing is wrong,
    /// stores it in one transaction.
    pub(super) fn apply(&self, events: &[Event], commit: bool) -> Result<IngestOutcome, IngestFailure> {
        let mut conn = lock(&self.writer);
        let base = self.dims.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut dims = Cow::Borrowed(&*base);
        let tx = conn.transaction()?;

        let mut sessions: HashMap<&str, BatchSession> = HashMap::with_capacity(events.len());
        let mut problems = Vec::new();
        let mut outcome = IngestOutcome::default();
        let archived_before = meta_i64(&tx, "archived_before_us")?.unwrap_or(Micros::MIN);
        for (index, event) in events.iter().enumerate() {
            let session_id = event.session_id();
            if calendar::to_micros(event.timestamp()) < archived_before
                && !sessions.contains_key(session_id)
                && load_session(&tx, session_id)?.row.is_none()
            {
                // Past the retention: the session may be archived already, so storing it could
                // count it twice.
                outcome.duplicates += 1;
                continue;
            }
            let state = match sessions.entry(session_id) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(load_session(&tx, session_id)?),
            };
            match event {
                Event::SessionStart(start) => {
                    let record = resolve_start(&mut dims, start);
                    match &state.start {
                        // An exact start replaces an estimate while the session runs: nothing
                        // of it is in the rollups yet.
                        Some(existing) if existing.estimated && !record.estimated && state.end.is_none() => {
                            state.start = Some(record);
                            state.start_replaced = state.stored_start;
                            outcome.accepted += 1;
                        }
                        Some(existing) if existing.same_as(&record) || record.estimated || existing.estimated => {
                            outcome.duplicates += 1
                        }
                        Some(existing) => problems.push(EventProblem::conflict(
                            index,
                            session_id,
                            format!(
                                "session '{session_id}' already has a start with a different {}; a session's start cannot change",
                                existing.differences(&record).join(", ")
                            ),
                        )),
                        None => match state.end {
                            Some(end) if end < record.start => problems.push(EventProblem::invalid(
                                index,
                                Some(session_id),
                                format!(
                                    "session '{session_id}' starts at {} after its end at {}",
                                    start.timestamp.to_rfc3339(),
                                    calendar::from_micros(end).to_rfc3339()
                                ),
                            )),
                            _ => {
                                state.start = Some(record);
                                outcome.accepted += 1;
                            }
                        },
                    }
                }
                Event::SessionEnd(end_event) => {
                    let end = calendar::to_micros(end_event.timestamp);
                    match (state.end, &state.start) {
                        (Some(existing), _) if existing == end || end_event.estimated || state.end_estimated => {
                            outcome.duplicates += 1
                        }
                        (Some(existing), _) => problems.push(EventProblem::conflict(
                            index,
                            session_id,
                            format!(
                                "session '{session_id}' already ended at {}, not at {}",
                                calendar::from_micros(existing).to_rfc3339(),
                                end_event.timestamp.to_rfc3339()
                            ),
                        )),
                        (None, Some(start)) if end < start.start => problems.push(EventProblem::invalid(
                            index,
                            Some(session_id),
                            format!(
                                "session '{session_id}' ends at {} before its start at {}",
                                end_event.timestamp.to_rfc3339(),
                                calendar::from_micros(start.start).to_rfc3339()
                            ),
                        )),
                        (None, _) => {
                            state.end = Some(end);
                            state.end_estimated = end_event.estimated;
                            state.close_reason = intern_string(&mut dims, end_event.close_reason.as_deref());
                            outcome.accepted += 1;
                        }
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(IngestFailure::Rejected(problems));
        }
        if !commit {
            return Ok(outcome);
        }

        // New dimension rows first: sessions reference them.
        let counts = base.counts();
        let mut dims = dims.into_owned();
        {
            let mut insert = tx.prepare_cached("INSERT INTO strings (id, value) VALUES (?1, ?2)")?;
            for (id, value) in dims.strings_from(counts[0]) {
                insert.execute(params![id, value])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO identities (id, machine_id, kubernetes_username, client_username, client_hostname) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (id, identity) in dims.identities_from(counts[1]) {
                let key = identity.key;
                insert.execute(params![
                    id,
                    key.machine_id,
                    key.kubernetes_username,
                    key.client_username,
                    key.client_hostname
                ])?;
            }
            let mut insert =
                tx.prepare_cached("INSERT INTO targets (id, kind, name, container) VALUES (?1, ?2, ?3, ?4)")?;
            for (id, target) in dims.targets_from(counts[2]) {
                insert.execute(params![id, target.kind, target.name, target.container])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO ci_contexts (id, provider, pipeline, environment, triggered_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (id, ci) in dims.ci_contexts_from(counts[3]) {
                insert.execute(params![id, ci.provider, ci.pipeline, ci.environment, ci.triggered_by])?;
            }
        }

        let mut rollups = Rollups::default();
        let mut changed_identities: HashMap<DimId, (Micros, Micros)> = HashMap::new();
        let mut operator_version: Option<(Micros, DimId)> = None;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sessions (session_id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, \
                 cli_version_id, operator_version_id, multi_cluster_parent_id, start_estimated, end_estimated, \
                 close_reason_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE sessions SET start_us = ?2, end_us = ?3, identity_id = ?4, target_id = ?5, namespace_id = ?6, \
                 ci_id = ?7, cli_version_id = ?8, operator_version_id = ?9, multi_cluster_parent_id = ?10, \
                 start_estimated = ?11, end_estimated = ?12, close_reason_id = ?13 WHERE id = ?1",
            )?;
            for (session_id, state) in &sessions {
                if !state.changed() {
                    continue;
                }
                let record = state.start;
                let values = params![
                    record.map(|r| r.start),
                    state.end,
                    record.map_or(ABSENT, |r| r.identity),
                    record.map_or(ABSENT, |r| r.target),
                    record.map_or(ABSENT, |r| r.namespace),
                    record.and_then(|r| r.ci),
                    record.map_or(ABSENT, |r| r.cli_version),
                    record.map_or(ABSENT, |r| r.operator_version),
                    record.map_or(ABSENT, |r| r.multi_cluster_parent),
                    record.is_some_and(|r| r.estimated),
                    state.end_estimated,
                    state.close_reason,
                ];
                match state.row {
                    Some(row) => {
                        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&row];
                        all.extend_from_slice(values);
                        update.execute(&*all)?;
                    }
                    None => {
                        let mut all: Vec<&dyn rusqlite::ToSql> = vec![session_id];
                        all.extend_from_slice(values);
                        insert.execute(&*all)?;
                    }
                }
                if let Some((record, end)) = state.newly_completed() {
                    rollups.add(&record, end);
                }
                if let (Some(record), true) = (record, state.new_start()) {
                    if record.ci.is_none() {
                        let span = changed_identities
                            .entry(record.identity)
                            .or_insert((record.start, record.start));
                        span.0 = span.0.min(record.start);
                        span.1 = span.1.max(record.start);
                    }
                    if record.operator_version != ABSENT {
                        let candidate = (record.start, record.operator_version);
                        let newer = operator_version.is_none_or(|(at, version)| {
                            (at, dims.string(version)) < (candidate.0, dims.string(candidate.1))
                        });
                        if newer {
                            operator_version = Some(candidate);
                        }
                    }
                }
            }
        }

        {
            let mut update = tx.prepare_cached(
                "UPDATE identities SET first_user_start_us = ?2, last_user_start_us = ?3 WHERE id = ?1",
            )?;
            for (&id, &(first, last)) in &changed_identities {
                let identity = dims.identity_mut(id);
                let first = identity.first_user_start.map_or(first, |known| known.min(first));
                let last = identity.last_user_start.map_or(last, |known| known.max(last));
                identity.first_user_start = Some(first);
                identity.last_user_start = Some(last);
                update.execute(params![id, first, last])?;
            }
        }

        rollups.write(&tx)?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO totals (ci, sessions, total_us) VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET \
                 sessions = sessions + excluded.sessions, total_us = total_us + excluded.total_us",
            )?;
            for (ci, totals) in rollups.totals.iter().enumerate() {
                if totals.sessions > 0 {
                    upsert.execute(params![ci as i64, totals.sessions as i64, totals.total_micros])?;
                }
            }
        }
        recompute_peaks(&tx, &rollups.touched)?;

        let latest = events.iter().map(|event| calendar::to_micros(event.timestamp())).max();
        if let Some(latest) = latest
            && meta_i64(&tx, "last_event_us")?.is_none_or(|known| known < latest)
        {
            set_meta(&tx, "last_event_us", latest)?;
        }
        if let Some((at, version)) = operator_version {
            let version = dims.string(version).expect("interned").to_string();
            let known: Option<(i64, String)> = tx.query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'operator_version_us'), \
                     (SELECT value FROM meta WHERE key = 'operator_version')",
                [],
                |row| Ok(row.get::<_, Option<i64>>(0)?.zip(row.get::<_, Option<String>>(1)?)),
            )?;
            if known.is_none_or(|known| known < (at, version.clone())) {
                set_meta(&tx, "operator_version_us", at)?;
                set_meta(&tx, "operator_version", version)?;
            }
        }

        let mut published = self.dims.write().unwrap_or_else(|p| p.into_inner());
        tx.commit()?;
        *published = Arc::new(dims);
        drop(published);
        maintenance::bound_wal(&conn, &self.path);
        Ok(outcome)
    }
}
