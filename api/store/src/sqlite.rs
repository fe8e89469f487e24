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

use crate::blocks::{self, Span};
use crate::calendar::{self, MICROS_PER_DAY, Micros};
use crate::error::{Error, Result};
use crate::ingest::EventProblem;
use crate::maintenance::{self, BUSY_TIMEOUT};
use crate::model::{
    ABSENT, CiKey, CiRecord, DimId, Dimensions, Granularity, Identity, IdentityKey, IdentityUsage, Interval,
    RunningSession, SessionCursor, SessionPage, SessionQuery, SessionRecord, SessionTarget, Snapshot, SnapshotQuery,
    TargetKey, TargetUsage, Totals, UsageBlock,
};
use crate::peaks::peak_of;
use crate::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_watched_sessions.sql"),
    include_str!("migrations/0003_sessions_by_identity.sql"),
    include_str!("migrations/0005_lasting_sessions.sql"),
    include_str!("migrations/0006_archived_sessions.sql"),
    include_str!("migrations/0007_session_records.sql"),
];

/// Sessions archived per transaction, so that ingest waits for at most one such step.
const ARCHIVE_STEP: i64 = 20_000;

/// Sessions longer than this are "lasting": overlap queries find them through the index
/// `sessions_lasting` instead of reading the start-time index that far back.
const LONG_SESSION_US: Micros = MICROS_PER_DAY;
/// The condition of the index `sessions_lasting`, written exactly as in its migration so that
/// SQLite uses the index for a query that repeats it.
const LASTING: &str = "(end_us IS NULL OR end_us - start_us > 86400000000)";
/// The condition of the index `archived_lasting`, likewise.
const ARCHIVED_LASTING: &str = "end_us - start_us > 86400000000";

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 2;

const SESSION_COLUMNS: &str = "id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, cli_version_id, \
     operator_version_id, multi_cluster_parent_id, start_estimated, end_estimated, close_reason_id";

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
    /// Set when a write found the file damaged or unwritable: the store is not ready from then on.
    failure: Mutex<Option<String>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    #[instrument(skip_all, fields(path = %path.as_ref().display()))]
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_error = |source: rusqlite::Error| {
            let path = path.display().to_string();
            if maintenance::is_damage(&source) {
                Error::Damaged {
                    path,
                    detail: source.to_string(),
                }
            } else if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) {
                Error::ReadOnly { path }
            } else {
                Error::Open { path, source }
            }
        };
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        maintenance::check_at_open(&conn, &path)?;
        let fresh = conn
            .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
            .map_err(open_error)?
            == 0;
        if fresh {
            // Only possible before anything is written to a new file: lets archiving give space
            // back to the file system (`PRAGMA incremental_vacuum`).
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -16_000)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;

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
            failure: Mutex::new(None),
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
                conn.busy_timeout(BUSY_TIMEOUT)?;
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
    multi_cluster_parent: DimId,
    /// The start time is an estimate, which an exact start of the same session replaces.
    estimated: bool,
}

impl StartRecord {
    /// Whether two starts tell the same, whether or not either time is an estimate.
    fn same_as(&self, other: &StartRecord) -> bool {
        StartRecord {
            estimated: other.estimated,
            ..*self
        } == *other
    }

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
        if self.multi_cluster_parent != other.multi_cluster_parent {
            fields.push("multiClusterParent");
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
    end_estimated: bool,
    close_reason: DimId,
    stored_start: bool,
    stored_end: bool,
    /// An estimated stored start was replaced by an exact one.
    start_replaced: bool,
}

impl BatchSession {
    fn changed(&self) -> bool {
        self.start.is_some() != self.stored_start || self.end.is_some() != self.stored_end || self.start_replaced
    }

    /// Whether the batch brings a start this session did not have (or had only as an estimate).
    fn new_start(&self) -> bool {
        !self.stored_start || self.start_replaced
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
        multi_cluster_parent: intern_string(dims, start.multi_cluster_parent.as_deref()),
        estimated: start.estimated,
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

impl UsageStore for SqliteStore {
    fn known_sessions(&self, session_ids: &[String]) -> Result<HashMap<String, SessionState>> {
        let mut reader = self.reader()?;
        let conn = reader.conn();
        let mut statement =
            conn.prepare_cached("SELECT start_us, end_us, start_estimated FROM sessions WHERE session_id = ?1")?;
        let mut known = HashMap::new();
        for id in session_ids {
            let row = statement
                .query_row([id], |row| {
                    Ok(SessionState {
                        start: row.get(0)?,
                        end: row.get(1)?,
                        start_estimated: row.get(2)?,
                    })
                })
                .optional()?;
            if let Some(state) = row {
                known.insert(id.clone(), state);
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

    fn record_operator_ci_running(&self, count: Option<u64>) -> Result<bool> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let known = meta_i64(&tx, "operator_ci_running")?;
        let count = count.map(|count| i64::try_from(count).unwrap_or(i64::MAX));
        if known == count {
            return Ok(false);
        }
        match count {
            Some(count) => set_meta(&tx, "operator_ci_running", count)?,
            None => {
                tx.execute("DELETE FROM meta WHERE key = 'operator_ci_running'", [])?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    fn watched(&self) -> Result<Vec<Watched>> {
        let mut reader = self.reader()?;
        let conn = reader.conn();
        let mut statement = conn.prepare_cached(
            "SELECT w.session_id, w.last_seen_us, s.start_us, s.end_us, coalesce(s.start_estimated, 0) \
             FROM watched_sessions w \
             LEFT JOIN sessions s ON s.session_id = w.session_id ORDER BY w.session_id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Watched {
                session_id: row.get(0)?,
                last_seen: row.get(1)?,
                state: SessionState {
                    start: row.get(2)?,
                    end: row.get(3)?,
                    start_estimated: row.get(4)?,
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn watch(&self, seen: &[(String, Micros)]) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO watched_sessions (session_id, last_seen_us) VALUES (?1, ?2) \
                 ON CONFLICT (session_id) DO UPDATE SET last_seen_us = max(last_seen_us, excluded.last_seen_us)",
            )?;
            for (id, seen_at) in seen {
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
        let result = self.apply(events, true);
        if let Err(IngestFailure::Store(Error::Sqlite(error))) = &result
            && (maintenance::is_damage(error) || error.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly))
        {
            tracing::error!(%error, "the database cannot take writes");
            *lock(&self.failure) = Some(error.to_string());
        }
        result
    }

    fn ready(&self) -> Result<()> {
        if let Some(failure) = lock(&self.failure).clone() {
            return Err(Error::Unhealthy(failure));
        }
        let mut conn = lock(&self.writer);
        maintenance::probe_write(&mut conn)?;
        Ok(())
    }

    #[instrument(skip(self))]
    fn expire(&self, horizon: Micros) -> Result<u64> {
        let mut archived = 0;
        let stored: i64 = lock(&self.writer).query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))?;
        loop {
            let mut conn = lock(&self.writer);
            let tx = conn.transaction()?;
            // First: events from before the horizon are ignored from now on, so none can bring
            // back a session while it is being archived.
            if meta_i64(&tx, "archived_before_us")?.is_none_or(|known| known < horizon) {
                set_meta(&tx, "archived_before_us", horizon)?;
            }
            let chosen = "SELECT id FROM sessions WHERE start_us < ?1 AND end_us < ?1 ORDER BY start_us, id LIMIT ?2";
            let moved = tx.execute(
                &format!(
                    "INSERT INTO archived_sessions (start_us, end_us, identity_id, target_id, namespace_id, ci) \
                     SELECT start_us, end_us, identity_id, target_id, namespace_id, ci_id IS NOT NULL FROM sessions \
                     WHERE id IN ({chosen})"
                ),
                params![horizon, ARCHIVE_STEP],
            )?;
            tx.execute(
                &format!("DELETE FROM sessions WHERE id IN ({chosen})"),
                params![horizon, ARCHIVE_STEP],
            )?;
            // Ends whose start never came count nowhere, and a start from before the horizon
            // would be ignored now.
            tx.execute("DELETE FROM sessions WHERE start_us IS NULL AND end_us < ?1", [horizon])?;
            tx.commit()?;
            archived += moved as u64;
            if (moved as i64) < ARCHIVE_STEP {
                // A quarter or more of the sessions gone (the first run over a long history):
                // rewrite the file, since the room they leave inside pages would stay unused.
                // Otherwise give back the pages that emptied.
                if archived > 0 && archived as i64 * 4 >= stored {
                    let started = std::time::Instant::now();
                    conn.execute_batch("VACUUM")?;
                    tracing::info!(took = ?started.elapsed(), "database compacted");
                } else {
                    maintenance::incremental_vacuum(&conn)?;
                }
                maintenance::bound_wal(&conn, &self.path);
                break;
            }
        }
        if archived > 0 {
            tracing::info!(archived, "archived sessions past the retention");
        }
        Ok(archived)
    }

    fn close(&self) -> Result<()> {
        let conn = lock(&self.writer);
        if !maintenance::truncate_wal(&conn, BUSY_TIMEOUT)? {
            tracing::warn!("readers kept the write-ahead log busy at stop; the database needs its -wal file");
        }
        Ok(())
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

    #[instrument(skip_all, fields(from = ?query.from, to = query.to, limit = query.limit))]
    fn sessions(&self, query: &SessionQuery) -> Result<SessionPage> {
        if query.limit == 0 {
            return Err(Error::EmptyPage { limit: query.limit });
        }
        let empty = SessionPage {
            sessions: Vec::new(),
            next: None,
        };
        if query.from.is_some_and(|from| from >= query.to) {
            return Ok(empty);
        }
        let mut reader = self.reader()?;
        let guard = self.dims.read().unwrap_or_else(|p| p.into_inner());
        let tx = reader.conn().transaction()?;
        // As in `snapshot`: the first read fixes what this transaction sees, and the guard keeps
        // the matching dimensions from being replaced meanwhile.
        tx.query_row("SELECT count(*) FROM meta", [], |_| Ok(()))?;
        let dims = guard.clone();
        drop(guard);

        let Some(filter) = ListFilter::resolve(&dims, query) else {
            return Ok(empty);
        };
        // Row ids start at 1, so (to, 0) excludes exactly the sessions starting at or after `to`.
        let mut before = (query.to, 0);
        if let Some(after) = query.after {
            before = before.min((after.start, after.id));
        }
        let mut found = list_sessions(&tx, &dims, query, &filter, before)?;
        let next = if found.len() > query.limit {
            found.truncate(query.limit);
            found.last().map(|(cursor, _)| *cursor)
        } else {
            None
        };
        Ok(SessionPage {
            sessions: found.into_iter().map(|(_, record)| record).collect(),
            next,
        })
    }
}

/// Columns of a listed session, as [`listed_session`] reads them.
const LISTED_COLUMNS: &str = "id, session_id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, \
     cli_version_id, operator_version_id, close_reason_id, multi_cluster_parent_id";

/// A listing's filters as interned ids.
#[derive(Debug)]
struct ListFilter {
    identities: Option<Vec<DimId>>,
    namespace: Option<DimId>,
    ci: Option<bool>,
    close_reason: Option<DimId>,
}

impl ListFilter {
    /// `None` when a filter names a value no session has, so that nothing can match.
    fn resolve(dims: &Dimensions, query: &SessionQuery) -> Option<ListFilter> {
        let identities = match &query.user {
            None => None,
            Some(user) => {
                let user = dims.string_id(user)?;
                let ids: Vec<DimId> = dims
                    .identities()
                    .filter(|(_, identity)| {
                        let key = identity.key;
                        key.kubernetes_username == user || key.client_username == user || key.machine_id == user
                    })
                    .map(|(id, _)| id)
                    .collect();
                if ids.is_empty() {
                    return None;
                }
                Some(ids)
            }
        };
        let namespace = match &query.namespace {
            None => None,
            Some(namespace) => Some(dims.string_id(namespace)?),
        };
        let close_reason = match &query.close_reason {
            None => None,
            Some(reason) => Some(dims.string_id(reason)?),
        };
        Some(ListFilter {
            identities,
            namespace,
            ci: query.ci,
            close_reason,
        })
    }

    /// The filters as SQL conditions. Ids are our own integers, so writing them into the text is
    /// safe, and it lets an identity list of any length reach the identity index. With `indexed`
    /// unset the planner may not use an index for them (SQLite's unary `+`).
    fn sql(&self, indexed: bool) -> String {
        use std::fmt::Write;
        let plus = if indexed { "" } else { "+" };
        let mut sql = String::new();
        if let Some(identities) = &self.identities {
            let ids: Vec<String> = identities.iter().map(DimId::to_string).collect();
            let _ = write!(sql, " AND {plus}identity_id IN ({})", ids.join(", "));
        }
        if let Some(namespace) = self.namespace {
            let _ = write!(sql, " AND {plus}namespace_id = {namespace}");
        }
        if let Some(reason) = self.close_reason {
            let _ = write!(sql, " AND close_reason_id = {reason}");
        }
        match self.ci {
            Some(true) => sql.push_str(" AND ci_id IS NOT NULL"),
            Some(false) => sql.push_str(" AND ci_id IS NULL"),
            None => {}
        }
        sql
    }
}

/// Reads a row of [`LISTED_COLUMNS`] into a record, with its position.
fn listed_session(row: &rusqlite::Row<'_>, dims: &Dimensions) -> rusqlite::Result<(SessionCursor, SessionRecord)> {
    let string = |id: DimId| dims.string(id).map(|value| value.to_string());
    let cursor = SessionCursor {
        id: row.get(0)?,
        start: row.get(2)?,
    };
    let identity = dims.identity(row.get(4)?).key;
    let target = match row.get(5)? {
        ABSENT => None,
        id => {
            let key = dims.target(id);
            Some(SessionTarget {
                kind: string(key.kind).unwrap_or_default(),
                name: string(key.name).unwrap_or_default(),
                container: string(key.container),
            })
        }
    };
    let ci = row.get::<_, Option<DimId>>(7)?.map(|id| {
        let key = dims.ci_context(id);
        CiRecord {
            provider: string(key.provider),
            pipeline: string(key.pipeline),
            environment: string(key.environment),
            triggered_by: string(key.triggered_by),
        }
    });
    let record = SessionRecord {
        session_id: row.get(1)?,
        machine_id: string(identity.machine_id),
        kubernetes_username: string(identity.kubernetes_username),
        client_username: string(identity.client_username),
        client_hostname: string(identity.client_hostname),
        target,
        namespace: string(row.get(6)?),
        start: cursor.start,
        end: row.get(3)?,
        ci,
        cli_version: string(row.get(8)?),
        operator_version: string(row.get(9)?),
        close_reason: string(row.get(10)?),
        multi_cluster_parent: string(row.get(11)?),
    };
    Ok((cursor, record))
}

/// Sessions overlapping the range, by start: `?1` lowest start, `(?2, ?3)` the position to
/// stay below, `?4` the range's `from`, `?5` how many.
fn started_sql(filter: &ListFilter) -> String {
    format!(
        "SELECT {LISTED_COLUMNS} FROM sessions \
         WHERE start_us >= ?1 AND start_us <= ?2 AND (start_us < ?2 OR id < ?3) \
         AND (end_us IS NULL OR end_us > ?4){} \
         ORDER BY start_us DESC, id DESC LIMIT ?5",
        filter.sql(true)
    )
}

/// Running sessions and sessions longer than a day that started before `?1`, below position
/// `(?2, ?3)`, and have not ended by `?5`; `?4` of them.
fn lasting_sql(filter: &ListFilter) -> String {
    // Few sessions run at once or last that long, so their index beats the identity index here,
    // which would visit every older session of the user to find them.
    format!(
        "SELECT {LISTED_COLUMNS} FROM sessions \
         WHERE {LASTING} AND start_us < ?1 AND start_us <= ?2 AND (start_us < ?2 OR id < ?3) \
         AND (end_us IS NULL OR end_us > ?5){} \
         ORDER BY start_us DESC, id DESC LIMIT ?4",
        filter.sql(false)
    )
}

/// Up to `limit + 1` sessions overlapping the query's range and before `before` (a (start, row
/// id) position, exclusive), newest first.
///
/// Sessions are found through their start: the start-time index is read down to a day before
/// `from`; sessions that started even earlier and still overlap are running or longer than a
/// day, and come from their own index, after the others since they are older.
fn list_sessions(
    tx: &Transaction<'_>,
    dims: &Dimensions,
    query: &SessionQuery,
    filter: &ListFilter,
    before: (Micros, i64),
) -> rusqlite::Result<Vec<(SessionCursor, SessionRecord)>> {
    let wanted = query.limit.saturating_add(1);
    let lowest_start = query
        .from
        .map_or(Micros::MIN, |from| from.saturating_sub(LONG_SESSION_US));
    let mut found = Vec::with_capacity(wanted.min(1024));
    let mut statement = tx.prepare(&started_sql(filter))?;
    let mut rows = statement.query(params![
        lowest_start,
        before.0,
        before.1,
        query.from.unwrap_or(Micros::MIN),
        wanted as i64
    ])?;
    while let Some(row) = rows.next()? {
        found.push(listed_session(row, dims)?);
    }
    if let Some(from) = query.from
        && found.len() < wanted
    {
        let mut statement = tx.prepare(&lasting_sql(filter))?;
        let more = (wanted - found.len()) as i64;
        let mut rows = statement.query(params![lowest_start, before.0, before.1, more, from])?;
        while let Some(row) = rows.next()? {
            found.push(listed_session(row, dims)?);
        }
    }
    Ok(found)
}

/// Recomputes the peak overlap of completed sessions within each touched day: the work is the
/// sessions of the day and the day before, and the few that last longer.
fn recompute_peaks(tx: &Transaction<'_>, touched: &BTreeSet<(i64, bool)>) -> rusqlite::Result<()> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::{DateTime, Utc};
    use mirrord_usage_crds::event::{CiContext, SessionEnd, Target};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn micros(text: &str) -> Micros {
        calendar::to_micros(at(text))
    }

    /// A user session of `machine`, with every optional field set.
    fn start(id: &str, time: &str, machine: &str) -> SessionStart {
        SessionStart {
            session_id: id.to_owned(),
            timestamp: at(time),
            machine_id: machine.to_owned(),
            kubernetes_username: Some(format!("{machine}@corp.example")),
            client_username: Some(format!("{machine}-user")),
            client_hostname: Some(format!("{machine}-laptop")),
            target: Some(Target {
                kind: "Deployment".to_owned(),
                name: "api".to_owned(),
                container: Some("app".to_owned()),
            }),
            namespace: Some("shop".to_owned()),
            ci: None,
            cli_version: Some("3.150.0".to_owned()),
            operator_version: Some("3.120.0".to_owned()),
            multi_cluster_parent: None,
            estimated: false,
        }
    }

    fn end(id: &str, time: &str) -> Event {
        Event::SessionEnd(SessionEnd {
            session_id: id.to_owned(),
            timestamp: at(time),
            close_reason: None,
            estimated: false,
        })
    }

    /// A completed user session of machine `m`.
    fn session(id: &str, from: &str, to: &str) -> [Event; 2] {
        [Event::SessionStart(start(id, from, "m")), end(id, to)]
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("usage.db")).unwrap();
        (dir, store)
    }

    /// Stores each batch in its own transaction, so row ids follow the order of the batches.
    fn ingest_in_order(store: &SqliteStore, batches: &[&[Event]]) {
        for batch in batches {
            store.ingest(batch).unwrap();
        }
    }

    fn range(from: Option<&str>, to: &str) -> SessionQuery {
        SessionQuery {
            from: from.map(micros),
            to: micros(to),
            user: None,
            namespace: None,
            ci: None,
            close_reason: None,
            limit: 100,
            after: None,
        }
    }

    fn all_time() -> SessionQuery {
        range(None, "2030-01-01T00:00:00Z")
    }

    fn ids(page: &SessionPage) -> Vec<&str> {
        page.sessions.iter().map(|s| s.session_id.as_str()).collect()
    }

    /// Every page of `query`, `limit` sessions at a time.
    fn every_page(store: &SqliteStore, query: &SessionQuery, limit: usize) -> Vec<SessionPage> {
        let mut pages = Vec::new();
        let mut query = SessionQuery { limit, ..query.clone() };
        loop {
            let page = store.sessions(&query).unwrap();
            let next = page.next;
            pages.push(page);
            match next {
                Some(cursor) => query.after = Some(cursor),
                None => return pages,
            }
            assert!(pages.len() < 100, "paging does not end");
        }
    }

    #[test]
    fn sessions_are_listed_newest_first_and_ties_on_start_newest_row_first() {
        let (_dir, store) = store();
        ingest_in_order(
            &store,
            &[
                &session("middle", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"),
                &session("tie-first", "2026-03-03T10:00:00Z", "2026-03-03T10:30:00Z"),
                &session("oldest", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
                &session("tie-second", "2026-03-03T10:00:00Z", "2026-03-03T12:00:00Z"),
                &session("newest", "2026-03-04T10:00:00Z", "2026-03-04T11:00:00Z"),
            ],
        );
        let page = store.sessions(&all_time()).unwrap();
        assert_eq!(ids(&page), ["newest", "tie-second", "tie-first", "middle", "oldest"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_session_is_listed_when_it_overlaps_the_range() {
        let (_dir, store) = store();
        let from = "2026-03-10T00:00:00Z";
        let to = "2026-03-11T00:00:00Z";
        ingest_in_order(
            &store,
            &[
                &session("ends-at-from", "2026-03-09T23:00:00Z", from),
                &session(
                    "ends-just-after-from",
                    "2026-03-09T23:00:00Z",
                    "2026-03-10T00:00:00.000001Z",
                ),
                &session("inside", "2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z"),
                &session("spans-the-range", "2026-03-09T20:00:00Z", "2026-03-11T02:00:00Z"),
                // The longest session of all: the scan by start must reach back this far.
                &session("longest", "2026-03-08T00:00:00Z", "2026-03-10T00:00:00.000001Z"),
                &session(
                    "starts-just-before-to",
                    "2026-03-10T23:59:59.999999Z",
                    "2026-03-11T01:00:00Z",
                ),
                &session("starts-at-to", to, "2026-03-11T01:00:00Z"),
                &session("long-before", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
            ],
        );
        let page = store.sessions(&range(Some(from), to)).unwrap();
        assert_eq!(
            ids(&page),
            [
                "starts-just-before-to",
                "inside",
                "ends-just-after-from",
                "spans-the-range",
                "longest"
            ]
        );
        let page = store.sessions(&range(None, to)).unwrap();
        assert_eq!(
            ids(&page),
            [
                "starts-just-before-to",
                "inside",
                "ends-just-after-from",
                "ends-at-from",
                "spans-the-range",
                "longest",
                "long-before"
            ]
        );
        let empty = store.sessions(&range(Some(to), to)).unwrap();
        assert_eq!(empty.sessions, []);
    }

    #[test]
    fn running_sessions_are_listed_without_an_end_however_long_ago_they_started() {
        let (_dir, store) = store();
        ingest_in_order(
            &store,
            &[
                &[Event::SessionStart(start(
                    "running-for-weeks",
                    "2026-01-05T09:00:00Z",
                    "m",
                ))],
                // The longest completed session is an hour, so the range's scan by start time
                // begins an hour before `from`; the running sessions before that come separately.
                &session("ended-before", "2026-02-01T09:00:00Z", "2026-02-01T10:00:00Z"),
                &session("inside", "2026-02-10T09:00:00Z", "2026-02-10T10:00:00Z"),
                &[Event::SessionStart(start(
                    "running-since-yesterday",
                    "2026-02-09T09:00:00Z",
                    "m",
                ))],
                &[Event::SessionStart(start(
                    "starts-after-to",
                    "2026-02-12T09:00:00Z",
                    "m",
                ))],
            ],
        );
        let page = store
            .sessions(&range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"))
            .unwrap();
        assert_eq!(ids(&page), ["inside", "running-since-yesterday", "running-for-weeks"]);
        assert_eq!(page.sessions[0].end, Some(micros("2026-02-10T10:00:00Z")));
        assert_eq!(page.sessions[1].end, None);
        assert_eq!(page.sessions[2].end, None);
        assert_eq!(page.sessions[2].start, micros("2026-01-05T09:00:00Z"));
    }

    #[test]
    fn a_session_whose_start_has_not_arrived_is_not_listed() {
        let (_dir, store) = store();
        store.ingest(&[end("only-ended", "2026-02-10T10:00:00Z")]).unwrap();
        store
            .ingest(&session("whole", "2026-02-10T09:00:00Z", "2026-02-10T10:00:00Z"))
            .unwrap();
        assert_eq!(ids(&store.sessions(&all_time()).unwrap()), ["whole"]);
        let ranged = range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z");
        assert_eq!(ids(&store.sessions(&ranged).unwrap()), ["whole"]);
    }

    #[test]
    fn a_listed_session_says_everything_its_start_told() {
        let (_dir, store) = store();
        let mut ci = start("ci", "2026-02-10T09:00:00Z", "runner-1");
        ci.ci = Some(CiContext {
            provider: Some("github".to_owned()),
            pipeline: Some("e2e".to_owned()),
            environment: Some("staging".to_owned()),
            triggered_by: Some("alice".to_owned()),
        });
        let mut empty_ci = start("empty-ci", "2026-02-10T08:00:00Z", "runner-1");
        empty_ci.ci = Some(CiContext::default());
        let bare = SessionStart {
            session_id: "bare".to_owned(),
            timestamp: at("2026-02-10T07:00:00Z"),
            machine_id: "m".to_owned(),
            kubernetes_username: None,
            client_username: None,
            client_hostname: None,
            target: None,
            namespace: None,
            ci: None,
            cli_version: None,
            operator_version: None,
            multi_cluster_parent: None,
            estimated: false,
        };
        store
            .ingest(&[
                Event::SessionStart(ci),
                end("ci", "2026-02-10T09:10:00Z"),
                Event::SessionStart(empty_ci),
                Event::SessionStart(bare),
            ])
            .unwrap();
        let page = store.sessions(&all_time()).unwrap();
        assert_eq!(
            page.sessions[0],
            SessionRecord {
                session_id: "ci".to_owned(),
                machine_id: Some("runner-1".to_owned()),
                kubernetes_username: Some("runner-1@corp.example".to_owned()),
                client_username: Some("runner-1-user".to_owned()),
                client_hostname: Some("runner-1-laptop".to_owned()),
                target: Some(SessionTarget {
                    kind: "Deployment".to_owned(),
                    name: "api".to_owned(),
                    container: Some("app".to_owned()),
                }),
                namespace: Some("shop".to_owned()),
                start: micros("2026-02-10T09:00:00Z"),
                end: Some(micros("2026-02-10T09:10:00Z")),
                ci: Some(CiRecord {
                    provider: Some("github".to_owned()),
                    pipeline: Some("e2e".to_owned()),
                    environment: Some("staging".to_owned()),
                    triggered_by: Some("alice".to_owned()),
                }),
                cli_version: Some("3.150.0".to_owned()),
                operator_version: Some("3.120.0".to_owned()),
                close_reason: None,
                multi_cluster_parent: None,
            }
        );
        assert_eq!(
            page.sessions[1].ci,
            Some(CiRecord::default()),
            "an empty CI context is still CI"
        );
        assert_eq!(
            page.sessions[2],
            SessionRecord {
                session_id: "bare".to_owned(),
                machine_id: Some("m".to_owned()),
                kubernetes_username: None,
                client_username: None,
                client_hostname: None,
                target: None,
                namespace: None,
                start: micros("2026-02-10T07:00:00Z"),
                end: None,
                ci: None,
                cli_version: None,
                operator_version: None,
                close_reason: None,
                multi_cluster_parent: None,
            }
        );
    }

    /// Sessions of two people, in two namespaces, some from CI, for the filter tests.
    fn filtered_store() -> (tempfile::TempDir, SqliteStore) {
        let (dir, store) = store();
        let mut alice_laptop = start("alice-laptop", "2026-02-10T09:00:00Z", "alice-1");
        alice_laptop.kubernetes_username = Some("alice@corp.example".to_owned());
        alice_laptop.client_username = Some("alice".to_owned());
        let mut alice_desktop = start("alice-desktop", "2026-02-10T10:00:00Z", "alice-2");
        alice_desktop.kubernetes_username = Some("alice@corp.example".to_owned());
        alice_desktop.client_username = Some("alice".to_owned());
        alice_desktop.namespace = Some("payments".to_owned());
        let mut alice_old = start("alice-running-old", "2026-01-01T10:00:00Z", "alice-1");
        alice_old.kubernetes_username = Some("alice@corp.example".to_owned());
        alice_old.client_username = Some("alice".to_owned());
        let bob = start("bob", "2026-02-10T11:00:00Z", "bob-1");
        let mut pipeline = start("pipeline", "2026-02-10T12:00:00Z", "runner-1");
        pipeline.ci = Some(CiContext::default());
        pipeline.namespace = Some("payments".to_owned());
        let mut old_pipeline = start("pipeline-running-old", "2026-01-02T10:00:00Z", "runner-1");
        old_pipeline.ci = Some(CiContext::default());
        store
            .ingest(&[
                Event::SessionStart(alice_laptop),
                end("alice-laptop", "2026-02-10T09:30:00Z"),
                Event::SessionStart(alice_desktop),
                end("alice-desktop", "2026-02-10T10:30:00Z"),
                Event::SessionStart(alice_old),
                Event::SessionStart(bob),
                end("bob", "2026-02-10T11:30:00Z"),
                Event::SessionStart(pipeline),
                end("pipeline", "2026-02-10T12:30:00Z"),
                Event::SessionStart(old_pipeline),
            ])
            .unwrap();
        (dir, store)
    }

    /// Sets some of a query's filters.
    type SetFilter = fn(&mut SessionQuery);

    #[test]
    fn each_filter_keeps_only_matching_sessions_in_ranges_and_all_time() {
        let (_dir, store) = filtered_store();
        let cases: [(&str, SetFilter, &[&str]); 9] = [
            (
                "no filter",
                |_| {},
                &[
                    "pipeline",
                    "bob",
                    "alice-desktop",
                    "alice-laptop",
                    "pipeline-running-old",
                    "alice-running-old",
                ],
            ),
            (
                "kubernetes username",
                |q| q.user = Some("alice@corp.example".into()),
                &["alice-desktop", "alice-laptop", "alice-running-old"],
            ),
            (
                "client username",
                |q| q.user = Some("alice".into()),
                &["alice-desktop", "alice-laptop", "alice-running-old"],
            ),
            ("machine id", |q| q.user = Some("alice-2".into()), &["alice-desktop"]),
            (
                "namespace",
                |q| q.namespace = Some("payments".into()),
                &["pipeline", "alice-desktop"],
            ),
            ("CI only", |q| q.ci = Some(true), &["pipeline", "pipeline-running-old"]),
            (
                "users only",
                |q| q.ci = Some(false),
                &["bob", "alice-desktop", "alice-laptop", "alice-running-old"],
            ),
            (
                "user and namespace",
                |q| {
                    q.user = Some("alice".into());
                    q.namespace = Some("shop".into());
                },
                &["alice-laptop", "alice-running-old"],
            ),
            (
                "namespace and CI",
                |q| {
                    q.namespace = Some("shop".into());
                    q.ci = Some(true);
                },
                &["pipeline-running-old"],
            ),
        ];
        for (name, filter, expected) in cases {
            for mut query in [range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"), all_time()] {
                filter(&mut query);
                let page = store.sessions(&query).unwrap();
                assert_eq!(ids(&page), expected, "{name}, from {:?}", query.from);
            }
        }
    }

    #[test]
    fn a_filter_naming_nobody_gives_an_empty_page() {
        let (_dir, store) = filtered_store();
        let queries = [
            ("unknown user", Some("mallory"), None),
            // Known strings, but not a user: a hostname, a namespace.
            ("a hostname", Some("bob-1-laptop"), None),
            ("a namespace as user", Some("shop"), None),
            ("unknown namespace", None, Some("nowhere")),
            ("a user as namespace", None, Some("alice")),
        ];
        for (name, user, namespace) in queries {
            let query = SessionQuery {
                user: user.map(str::to_owned),
                namespace: namespace.map(str::to_owned),
                ..all_time()
            };
            let page = store.sessions(&query).unwrap();
            assert_eq!(
                page,
                SessionPage {
                    sessions: Vec::new(),
                    next: None
                },
                "{name}"
            );
        }
    }

    #[test]
    fn pages_of_two_return_every_session_once_and_the_last_has_no_next() {
        let (_dir, store) = store();
        let mut batches: Vec<Vec<Event>> = Vec::new();
        // Running sessions started long before the range, to page across both of the store's
        // reads, and ties on start.
        for (index, day) in ["01", "01", "02"].iter().enumerate() {
            let id = format!("running-{index}");
            batches.push(vec![Event::SessionStart(start(
                &id,
                &format!("2026-01-{day}T09:00:00Z"),
                "m",
            ))]);
        }
        for index in 0..8 {
            let id = format!("completed-{index}");
            let hour = 8 + index / 3;
            batches.push(session(&id, &format!("2026-02-10T{hour:02}:00:00Z"), "2026-02-10T20:00:00Z").to_vec());
        }
        let batches: Vec<&[Event]> = batches.iter().map(Vec::as_slice).collect();
        ingest_in_order(&store, &batches);
        let expected = [
            "completed-7",
            "completed-6",
            "completed-5",
            "completed-4",
            "completed-3",
            "completed-2",
            "completed-1",
            "completed-0",
            "running-2",
            "running-1",
            "running-0",
        ];
        for query in [range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z"), all_time()] {
            let pages = every_page(&store, &query, 2);
            assert_eq!(pages.len(), 6, "{:?}", query.from);
            assert!(pages.iter().all(|page| !page.sessions.is_empty()));
            assert!(
                pages[..5]
                    .iter()
                    .all(|page| page.sessions.len() == 2 && page.next.is_some())
            );
            assert_eq!(pages[5].next, None);
            let listed: Vec<&str> = pages.iter().flat_map(ids).collect();
            assert_eq!(listed, expected, "{:?}", query.from);
        }
        // A last page that is exactly full says so too.
        let pages = every_page(&store, &all_time(), 11);
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].next, None);
    }

    #[test]
    fn a_cursor_stays_valid_while_sessions_arrive() {
        let (_dir, store) = store();
        let old: Vec<String> = (0..6).map(|index| format!("old-{index}")).collect();
        for (index, id) in old.iter().enumerate() {
            store
                .ingest(&session(
                    id,
                    &format!("2026-02-10T1{index}:00:00Z"),
                    "2026-02-10T23:00:00Z",
                ))
                .unwrap();
        }
        let query = SessionQuery {
            limit: 2,
            ..range(Some("2026-02-10T00:00:00Z"), "2026-02-11T00:00:00Z")
        };
        let first = store.sessions(&query).unwrap();
        assert_eq!(ids(&first), ["old-5", "old-4"]);

        // Newer sessions, one tying with the cursor's start, and older ones on either side of it.
        ingest_in_order(
            &store,
            &[
                &session("new-newest", "2026-02-10T20:00:00Z", "2026-02-10T23:00:00Z"),
                &session("new-tie", "2026-02-10T14:00:00Z", "2026-02-10T23:00:00Z"),
                &session("new-older", "2026-02-10T12:30:00Z", "2026-02-10T23:00:00Z"),
                &session("new-oldest", "2026-02-10T09:00:00Z", "2026-02-10T23:00:00Z"),
            ],
        );
        let mut rest = Vec::new();
        let mut after = first.next;
        while let Some(cursor) = after {
            let page = store
                .sessions(&SessionQuery {
                    after: Some(cursor),
                    ..query.clone()
                })
                .unwrap();
            rest.extend(page.sessions.into_iter().map(|s| s.session_id));
            after = page.next;
        }
        let mut listed: Vec<String> = ids(&first).into_iter().map(str::to_owned).collect();
        listed.extend(rest.iter().cloned());
        let unique: HashSet<&String> = listed.iter().collect();
        assert_eq!(unique.len(), listed.len(), "no session twice: {listed:?}");
        for id in &old {
            assert!(listed.contains(id), "{id} skipped: {listed:?}");
        }
        // What arrived newer than the cursor, or at its start with a later row, is behind it.
        assert_eq!(rest, ["old-3", "new-older", "old-2", "old-1", "old-0", "new-oldest"]);
    }

    #[test]
    fn a_page_of_no_sessions_is_refused() {
        let (_dir, store) = store();
        let query = SessionQuery { limit: 0, ..all_time() };
        let error = store.sessions(&query).unwrap_err();
        assert!(matches!(error, Error::EmptyPage { limit: 0 }), "{error}");
    }

    /// What SQLite plans for `sql`, one line per step.
    fn plan(store: &SqliteStore, sql: &str) -> String {
        let conn = lock(&store.writer);
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params: Vec<i64> = (0..statement.parameter_count()).map(|_| 0).collect();
        let steps: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        steps.join("\n")
    }

    #[test]
    fn listing_reads_indexes_newest_first_without_sorting() {
        let (_dir, store) = filtered_store();
        let dims = store.dims.read().unwrap().clone();
        let resolve = |user: Option<&str>, namespace: Option<&str>| {
            let query = SessionQuery {
                user: user.map(str::to_owned),
                namespace: namespace.map(str::to_owned),
                ci: Some(false),
                close_reason: None,
                ..all_time()
            };
            ListFilter::resolve(&dims, &query).unwrap()
        };

        let unfiltered = ListFilter {
            identities: None,
            namespace: None,
            ci: None,
            close_reason: None,
        };
        for sql in [started_sql(&unfiltered), started_sql(&resolve(None, Some("shop")))] {
            let everyone = plan(&store, &sql);
            assert!(everyone.contains("USING INDEX sessions_by_start"), "{everyone}");
            assert!(!everyone.contains("TEMP B-TREE"), "{everyone}");
        }

        // One identity: its index rows are already in start order.
        let one = plan(&store, &started_sql(&resolve(Some("bob-1"), None)));
        assert!(one.contains("USING INDEX sessions_by_identity"), "{one}");
        assert!(!one.contains("TEMP B-TREE"), "{one}");
        // Several: read through the same index, and only their newest rows sorted.
        let several = plan(&store, &started_sql(&resolve(Some("alice"), Some("shop"))));
        assert!(several.contains("USING INDEX sessions_by_identity"), "{several}");

        let lasting = plan(&store, &lasting_sql(&resolve(Some("alice"), Some("shop"))));
        assert!(lasting.contains("USING INDEX sessions_lasting"), "{lasting}");
        assert!(!lasting.contains("TEMP B-TREE"), "{lasting}");
    }

    #[test]
    fn a_store_is_ready_until_a_write_finds_the_file_damaged() {
        let (_dir, store) = store();
        store.ready().unwrap();
        *lock(&store.failure) = Some("database disk image is malformed".into());
        let error = store.ready().unwrap_err();
        assert!(matches!(error, Error::Unhealthy(_)), "{error}");
        assert!(error.to_string().contains("restart mirrord-usage"), "{error}");
    }

    #[test]
    fn overlap_queries_read_lasting_sessions_through_their_index() {
        assert_eq!(
            LASTING,
            format!("(end_us IS NULL OR end_us - start_us > {LONG_SESSION_US})")
        );
        let (_dir, store) = filtered_store();
        let peaks = plan(
            &store,
            &format!("SELECT start_us FROM sessions WHERE {LASTING} AND start_us < ?1 AND end_us > ?2"),
        );
        assert!(peaks.contains("USING INDEX sessions_lasting"), "{peaks}");
    }

    #[test]
    fn a_session_longer_than_a_day_is_listed_and_counted_where_it_overlaps() {
        let (_dir, store) = store();
        ingest_in_order(
            &store,
            &[
                &session("year", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
                &session("short", "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z"),
                &session("other", "2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z"),
            ],
        );
        let june = range(Some("2025-06-01T00:00:00Z"), "2025-06-02T00:00:00Z");
        let listed: Vec<Vec<String>> = every_page(&store, &june, 1)
            .iter()
            .map(|page| ids(page).into_iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(listed.concat(), ["short", "year"]);
        let peak: i64 = lock(&store.writer)
            .query_row(
                "SELECT peak FROM concurrency_days WHERE day = ?1 AND ci = 0",
                [calendar::day_of(micros("2025-06-01T10:30:00Z"))],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(peak, 2, "the year-long session overlaps the short one");
    }

    #[test]
    fn an_exact_start_replaces_an_estimate_while_the_session_runs() {
        let (_dir, store) = store();
        let mut estimate = start("s", "2026-02-10T09:00:07Z", "m");
        estimate.estimated = true;
        store.ingest(&[Event::SessionStart(estimate.clone())]).unwrap();
        let exact = start("s", "2026-02-10T09:00:00Z", "m");
        let outcome = store.ingest(&[Event::SessionStart(exact.clone())]).unwrap();
        assert_eq!(outcome.accepted, 1, "the estimate was replaced");
        assert_eq!(
            store.sessions(&all_time()).unwrap().sessions[0].start,
            micros("2026-02-10T09:00:00Z")
        );
        // Neither the estimate nor the exact start again changes anything now.
        let again = store
            .ingest(&[Event::SessionStart(estimate), Event::SessionStart(exact)])
            .unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 2));
        store.ingest(&[end("s", "2026-02-10T09:30:00Z")]).unwrap();
        let report = store
            .snapshot(&SnapshotQuery {
                from: None,
                to: micros("2026-03-01T00:00:00Z"),
                granularity: Granularity::Day,
            })
            .unwrap();
        assert_eq!(report.user_totals.sessions, 1);
        assert_eq!(report.user_totals.total_micros, 30 * 60 * 1_000_000);
    }

    #[test]
    fn a_stored_end_stays_and_keeps_its_close_reason() {
        let (_dir, store) = store();
        let closed = Event::SessionEnd(SessionEnd {
            session_id: "s".to_owned(),
            timestamp: at("2026-02-10T09:30:00Z"),
            close_reason: Some("Unused".to_owned()),
            estimated: false,
        });
        store
            .ingest(&[Event::SessionStart(start("s", "2026-02-10T09:00:00Z", "m")), closed])
            .unwrap();
        let estimated_later = Event::SessionEnd(SessionEnd {
            session_id: "s".to_owned(),
            timestamp: at("2026-02-10T09:31:00Z"),
            close_reason: None,
            estimated: true,
        });
        assert_eq!(store.ingest(&[estimated_later]).unwrap().duplicates, 1);
        let listed = &store.sessions(&all_time()).unwrap().sessions[0];
        assert_eq!(listed.end, Some(micros("2026-02-10T09:30:00Z")));
        assert_eq!(listed.close_reason.as_deref(), Some("Unused"));
        let other = end("s", "2026-02-10T09:45:00Z");
        assert!(
            matches!(store.ingest(&[other]), Err(IngestFailure::Rejected(_))),
            "an exact end differing is a conflict"
        );
    }

    #[test]
    fn the_log_filters_by_how_sessions_closed() {
        let (_dir, store) = store();
        let closed = |id: &str, reason: Option<&str>| {
            Event::SessionEnd(SessionEnd {
                session_id: id.to_owned(),
                timestamp: at("2026-02-10T09:30:00Z"),
                close_reason: reason.map(str::to_owned),
                estimated: false,
            })
        };
        store
            .ingest(&[
                Event::SessionStart(start("unused", "2026-02-10T09:00:00Z", "m")),
                closed("unused", Some("Unused")),
                Event::SessionStart(start("plain", "2026-02-10T09:01:00Z", "m")),
                closed("plain", None),
            ])
            .unwrap();
        let query = |reason: &str| SessionQuery {
            close_reason: Some(reason.to_owned()),
            ..all_time()
        };
        assert_eq!(ids(&store.sessions(&query("Unused")).unwrap()), ["unused"]);
        assert!(store.sessions(&query("StateLost")).unwrap().sessions.is_empty());
    }
}
