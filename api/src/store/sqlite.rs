//! The embedded store: one SQLite file in WAL mode, one writer, a few readers. Completed
//! sessions are also summed per day and per month as they arrive, so reports read rollups
//! rather than every session.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use mirrord_usage_crds::event::{Event, SessionStart};
use mirrord_usage_crds::report::License;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use rusqlite_migration::{M, Migrations};
use tracing::instrument;

use super::blocks::{self, Span};
use super::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};
use crate::calendar::{self, MICROS_PER_DAY, Micros};
use crate::error::{Error, Result};
use crate::ingest::EventProblem;
use crate::model::{
    ABSENT, CiKey, DimId, Dimensions, Granularity, Identity, IdentityKey, IdentityUsage, Interval, RunningSession,
    Snapshot, SnapshotQuery, TargetKey, TargetUsage, Totals, UsageBlock,
};
use crate::report::peak_of;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_watched_sessions.sql"),
];

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 2;

const SESSION_COLUMNS: &str =
    "id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, cli_version_id, operator_version_id";

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// The SQLite-backed [`UsageStore`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Published together with each commit (under the write lock), so a reader that starts its
    /// transaction while holding the read lock sees dimensions matching its data.
    dims: RwLock<Arc<Dimensions>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    #[instrument(skip_all, fields(path = %path.as_ref().display()))]
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_error = |source| Error::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -16_000)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;

        let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let found = found as usize;
        if found > MIGRATIONS.len() {
            return Err(Error::SchemaTooNew {
                path: path.display().to_string(),
                found,
                known: MIGRATIONS.len(),
            });
        }
        migrations().to_latest(&mut conn)?;
        let dims = load_dimensions(&conn)?;
        tracing::info!(schema_version = MIGRATIONS.len(), "store opened");
        Ok(SqliteStore {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            dims: RwLock::new(Arc::new(dims)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> Result<PooledReader<'_>> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| Error::Open {
                    path: self.path.display().to_string(),
                    source,
                })?;
                conn.pragma_update(None, "cache_size", -4_000)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn
            }
        };
        Ok(PooledReader {
            conn: Some(conn),
            pool: &self.readers,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (the transaction rolls
    // back on drop), so the data behind a poisoned lock is still sound.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct PooledReader<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl PooledReader<'_> {
    fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        let mut pool = lock(self.pool);
        if pool.len() < MAX_IDLE_READERS {
            pool.push(self.conn.take().expect("present until drop"));
        }
    }
}

fn load_dimensions(conn: &Connection) -> Result<Dimensions> {
    let mut dims = Dimensions::default();
    let mut strings = conn.prepare("SELECT id, value FROM strings ORDER BY id")?;
    let mut rows = strings.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_string(row.get(0)?, &row.get::<_, String>(1)?);
    }
    let mut identities = conn.prepare(
        "SELECT id, machine_id, kubernetes_username, client_username, client_hostname, \
         first_user_start_us, last_user_start_us FROM identities ORDER BY id",
    )?;
    let mut rows = identities.query([])?;
    while let Some(row) = rows.next()? {
        let key = IdentityKey {
            machine_id: row.get(1)?,
            kubernetes_username: row.get(2)?,
            client_username: row.get(3)?,
            client_hostname: row.get(4)?,
        };
        dims.restore_identity(
            row.get(0)?,
            Identity {
                key,
                first_user_start: row.get(5)?,
                last_user_start: row.get(6)?,
            },
        );
    }
    let mut targets = conn.prepare("SELECT id, kind, name, container FROM targets ORDER BY id")?;
    let mut rows = targets.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_target(
            row.get(0)?,
            TargetKey {
                kind: row.get(1)?,
                name: row.get(2)?,
                container: row.get(3)?,
            },
        );
    }
    let mut contexts =
        conn.prepare("SELECT id, provider, pipeline, environment, triggered_by FROM ci_contexts ORDER BY id")?;
    let mut rows = contexts.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_ci(
            row.get(0)?,
            CiKey {
                provider: row.get(1)?,
                pipeline: row.get(2)?,
                environment: row.get(3)?,
                triggered_by: row.get(4)?,
            },
        );
    }
    Ok(dims)
}

/// The stored content of a start event, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StartRecord {
    start: Micros,
    identity: DimId,
    target: DimId,
    namespace: DimId,
    ci: Option<DimId>,
    cli_version: DimId,
    operator_version: DimId,
}

impl StartRecord {
    fn differences(&self, other: &StartRecord) -> Vec<&'static str> {
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
        fields
    }
}

/// A session as the batch sees it: what was stored, and what the batch adds.
#[derive(Debug, Default)]
struct BatchSession {
    row: Option<i64>,
    start: Option<StartRecord>,
    end: Option<Micros>,
    stored_start: bool,
    stored_end: bool,
}

impl BatchSession {
    fn changed(&self) -> bool {
        self.start.is_some() != self.stored_start || self.end.is_some() != self.stored_end
    }

    fn newly_completed(&self) -> Option<(StartRecord, Micros)> {
        match (self.start, self.end) {
            (Some(start), Some(end)) if !(self.stored_start && self.stored_end) => Some((start, end)),
            _ => None,
        }
    }
}

fn intern_string(dims: &mut Cow<'_, Dimensions>, value: Option<&str>) -> DimId {
    match value {
        None => ABSENT,
        Some(value) => match dims.string_id(value) {
            Some(id) => id,
            None => dims.to_mut().intern_string(value),
        },
    }
}

fn resolve_start(dims: &mut Cow<'_, Dimensions>, start: &SessionStart) -> StartRecord {
    let identity = IdentityKey {
        machine_id: intern_string(dims, Some(&start.machine_id)),
        kubernetes_username: intern_string(dims, start.kubernetes_username.as_deref()),
        client_username: intern_string(dims, start.client_username.as_deref()),
        client_hostname: intern_string(dims, start.client_hostname.as_deref()),
    };
    let identity = match dims.identity_id(&identity) {
        Some(id) => id,
        None => dims.to_mut().intern_identity(identity),
    };
    let target = match &start.target {
        None => ABSENT,
        Some(target) => {
            let key = TargetKey {
                kind: intern_string(dims, Some(&target.kind)),
                name: intern_string(dims, Some(&target.name)),
                container: intern_string(dims, target.container.as_deref()),
            };
            match dims.target_id(&key) {
                Some(id) => id,
                None => dims.to_mut().intern_target(key),
            }
        }
    };
    let ci = start.ci.as_ref().map(|ci| {
        let key = CiKey {
            provider: intern_string(dims, ci.provider.as_deref()),
            pipeline: intern_string(dims, ci.pipeline.as_deref()),
            environment: intern_string(dims, ci.environment.as_deref()),
            triggered_by: intern_string(dims, ci.triggered_by.as_deref()),
        };
        match dims.ci_id(&key) {
            Some(id) => id,
            None => dims.to_mut().intern_ci(key),
        }
    });
    StartRecord {
        start: calendar::to_micros(start.timestamp),
        identity,
        target,
        namespace: intern_string(dims, start.namespace.as_deref()),
        ci,
        cli_version: intern_string(dims, start.cli_version.as_deref()),
        operator_version: intern_string(dims, start.operator_version.as_deref()),
    }
}

fn load_session(tx: &Transaction<'_>, session_id: &str) -> rusqlite::Result<BatchSession> {
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
                }),
            };
            Ok(BatchSession {
                row: Some(row.get(0)?),
                start: record,
                end,
                stored_start: start.is_some(),
                stored_end: end.is_some(),
            })
        })
        .optional()
        .map(Option::unwrap_or_default)
}

/// (span, period, ci)
type UsageKey = (Span, i64, bool);
/// (span, period, namespace, target)
type TargetKey2 = (Span, i64, DimId, DimId);

#[derive(Debug, Default)]
struct TargetSums {
    sessions: i64,
    total: i64,
    identities: BTreeSet<DimId>,
}

/// What a batch adds to the rollups.
#[derive(Default)]
struct Rollups {
    usage: BTreeMap<UsageKey, BTreeMap<DimId, IdentityUsage>>,
    targets: BTreeMap<TargetKey2, TargetSums>,
    totals: [Totals; 2],
    /// (day, ci) whose peak concurrency must be computed again.
    touched: BTreeSet<(i64, bool)>,
    max_duration: i64,
}

impl Rollups {
    fn add(&mut self, record: &StartRecord, end: Micros) {
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
        self.max_duration = self.max_duration.max(duration);
    }

    fn write(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
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

fn meta_i64(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<Option<i64>> {
    tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
        .optional()
}

fn set_meta(tx: &Transaction<'_>, key: &str, value: impl rusqlite::ToSql) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

impl SqliteStore {
    /// Checks a batch against what is stored and, when `commit` is set and nothing is wrong,
    /// stores it in one transaction.
    fn apply(&self, events: &[Event], commit: bool) -> Result<IngestOutcome, IngestFailure> {
        let mut conn = lock(&self.writer);
        let base = self.dims.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut dims = Cow::Borrowed(&*base);
        let tx = conn.transaction()?;

        let mut sessions: HashMap<&str, BatchSession> = HashMap::with_capacity(events.len());
        let mut problems = Vec::new();
        let mut outcome = IngestOutcome::default();
        for (index, event) in events.iter().enumerate() {
            let session_id = event.session_id();
            let state = match sessions.entry(session_id) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(load_session(&tx, session_id)?),
            };
            match event {
                Event::SessionStart(start) => {
                    let record = resolve_start(&mut dims, start);
                    match &state.start {
                        Some(existing) if *existing == record => outcome.duplicates += 1,
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
                        (Some(existing), _) if existing == end => outcome.duplicates += 1,
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

        let mut rollups = Rollups {
            max_duration: meta_i64(&tx, "max_duration_us")?.unwrap_or(0),
            ..Rollups::default()
        };
        let mut changed_identities: HashMap<DimId, (Micros, Micros)> = HashMap::new();
        let mut operator_version: Option<(Micros, DimId)> = None;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sessions (session_id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, \
                 cli_version_id, operator_version_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE sessions SET start_us = ?2, end_us = ?3, identity_id = ?4, target_id = ?5, namespace_id = ?6, \
                 ci_id = ?7, cli_version_id = ?8, operator_version_id = ?9 WHERE id = ?1",
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
                if let (Some(record), false) = (record, state.stored_start) {
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
        set_meta(&tx, "max_duration_us", rollups.max_duration)?;
        recompute_peaks(&tx, &rollups.touched, rollups.max_duration)?;

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
        Ok(outcome)
    }
}

impl UsageStore for SqliteStore {
    fn known_sessions(&self, session_ids: &[String]) -> Result<HashMap<String, SessionState>> {
        let mut reader = self.reader()?;
        let conn = reader.conn();
        let mut statement = conn.prepare_cached("SELECT start_us, end_us FROM sessions WHERE session_id = ?1")?;
        let mut known = HashMap::new();
        for id in session_ids {
            let row: Option<(Option<Micros>, Option<Micros>)> = statement
                .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            if let Some((start, end)) = row {
                known.insert(id.clone(), SessionState { start, end });
            }
        }
        Ok(known)
    }

    fn record_license(&self, license: &License) -> Result<()> {
        let text = serde_json::to_string(license).expect("a license serialises");
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('license', ?1)",
            [text],
        )?;
        Ok(())
    }

    fn watched(&self) -> Result<Vec<Watched>> {
        let mut reader = self.reader()?;
        let conn = reader.conn();
        let mut statement = conn.prepare_cached(
            "SELECT w.session_id, w.last_seen_us, s.start_us, s.end_us FROM watched_sessions w \
             LEFT JOIN sessions s ON s.session_id = w.session_id ORDER BY w.session_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Watched {
                session_id: row.get(0)?,
                last_seen: row.get(1)?,
                state: SessionState {
                    start: row.get(2)?,
                    end: row.get(3)?,
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn watch(&self, session_ids: &[String], seen_at: Micros) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO watched_sessions (session_id, last_seen_us) VALUES (?1, ?2) \
                 ON CONFLICT (session_id) DO UPDATE SET last_seen_us = max(last_seen_us, excluded.last_seen_us)",
            )?;
            for id in session_ids {
                upsert.execute(params![id, seen_at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn unwatch(&self, session_ids: &[String]) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM watched_sessions WHERE session_id = ?1")?;
            for id in session_ids {
                delete.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    #[instrument(skip_all, fields(events = events.len()))]
    fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure> {
        self.apply(events, true)
    }

    fn check(&self, events: &[Event]) -> Result<Vec<EventProblem>> {
        match self.apply(events, false) {
            Ok(_) => Ok(Vec::new()),
            Err(IngestFailure::Rejected(problems)) => Ok(problems),
            Err(IngestFailure::Store(error)) => Err(error),
        }
    }

    #[instrument(skip_all, fields(from = ?query.from, to = query.to))]
    fn snapshot(&self, query: &SnapshotQuery) -> Result<Snapshot> {
        let mut reader = self.reader()?;
        let guard = self.dims.read().unwrap_or_else(|p| p.into_inner());
        let tx = reader.conn().transaction()?;
        // The first read fixes what this transaction sees; the guard keeps the matching
        // dimensions from being replaced meanwhile.
        let first_session_at: Option<Micros> =
            tx.query_row("SELECT min(start_us) FROM sessions", [], |row| row.get(0))?;
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
            let max_duration = meta_i64(&tx, "max_duration_us")?.unwrap_or(0);
            let mut statement = tx.prepare_cached(
                "SELECT start_us, end_us, ci_id IS NOT NULL FROM sessions \
                 WHERE start_us >= ?1 AND end_us > ?2",
            )?;
            let mut rows = statement.query(params![earliest.saturating_sub(max_duration), earliest])?;
            while let Some(row) = rows.next()? {
                overlapping_running.push(Interval {
                    start: row.get(0)?,
                    end: row.get(1)?,
                    ci: row.get(2)?,
                });
            }
        }
        let last_event_at = meta_i64(&tx, "last_event_us")?;
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
        })
    }
}

/// Recomputes the peak overlap of completed sessions within each touched day.
fn recompute_peaks(tx: &Transaction<'_>, touched: &BTreeSet<(i64, bool)>, max_duration: i64) -> rusqlite::Result<()> {
    let mut select = tx.prepare_cached(
        "SELECT start_us, end_us FROM sessions \
         WHERE start_us >= ?1 AND start_us < ?2 AND end_us > ?3 AND (ci_id IS NOT NULL) = ?4",
    )?;
    let mut upsert =
        tx.prepare_cached("INSERT OR REPLACE INTO concurrency_days (day, ci, peak) VALUES (?1, ?2, ?3)")?;
    let mut edges: Vec<(Micros, i32)> = Vec::new();
    for &(day, ci) in touched {
        let day_start = calendar::day_start(day);
        let day_end = day_start + MICROS_PER_DAY;
        edges.clear();
        let mut rows = select.query(params![day_start.saturating_sub(max_duration), day_end, day_start, ci])?;
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

/// Completed sessions starting in `[from, to)`: raw rows for partial days, day blocks for whole
/// days, month blocks for whole months when allowed.
fn read_usage(
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
fn read_raw(
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
         WHERE start_us >= ?1 AND start_us < ?2 AND end_us IS NOT NULL",
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

fn read_blocks(
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
