//! The embedded store: one SQLite file in WAL mode, one writer, a few readers. Completed
//! sessions are also summed per day and per month as they arrive, so reports read rollups
//! rather than every session.

mod dimensions;
mod ingest;
mod rollups;
mod session_log;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::report::License;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use rusqlite_migration::{M, Migrations};
use tracing::instrument;

use crate::calendar::{MICROS_PER_DAY, Micros};
use crate::error::{Error, Result};
use crate::ingest::EventProblem;
use crate::maintenance::{self, BUSY_TIMEOUT};
use crate::model::{Dimensions, SessionPage, SessionQuery, Snapshot, SnapshotQuery};

use crate::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};
use dimensions::load_dimensions;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_watched_sessions.sql"),
    include_str!("migrations/0003_sessions_by_identity.sql"),
    include_str!("migrations/0005_lasting_sessions.sql"),
    include_str!("migrations/0006_archived_sessions.sql"),
    include_str!("migrations/0007_session_records.sql"),
];

/// Sessions archived per transaction, so that ingest waits for at most one such step.
pub(super) const ARCHIVE_STEP: i64 = 20_000;

/// Sessions longer than this are "lasting": overlap queries find them through the index
/// `sessions_lasting` instead of reading the start-time index that far back.
pub(super) const LONG_SESSION_US: Micros = MICROS_PER_DAY;
/// The condition of the index `sessions_lasting`, written exactly as in its migration so that
/// SQLite uses the index for a query that repeats it.
pub(super) const LASTING: &str = "(end_us IS NULL OR end_us - start_us > 86400000000)";
/// The condition of the index `archived_lasting`, likewise.
pub(super) const ARCHIVED_LASTING: &str = "end_us - start_us > 86400000000";

/// Idle reader connections kept open.
pub(super) const MAX_IDLE_READERS: usize = 2;

pub(super) const SESSION_COLUMNS: &str = "id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, cli_version_id, \
     operator_version_id, multi_cluster_parent_id, start_estimated, end_estimated, close_reason_id";

pub(super) fn migrations() -> Migrations<'static> {
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

    pub(super) fn reader(&self) -> Result<PooledReader<'_>> {
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

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (the transaction rolls
    // back on drop), so the data behind a poisoned lock is still sound.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) struct PooledReader<'a> {
    pub(super) conn: Option<Connection>,
    pub(super) pool: &'a Mutex<Vec<Connection>>,
}

impl PooledReader<'_> {
    pub(super) fn conn(&mut self) -> &mut Connection {
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
        self.read_snapshot(query)
    }

    #[instrument(skip_all, fields(from = ?query.from, to = query.to, limit = query.limit))]
    fn sessions(&self, query: &SessionQuery) -> Result<SessionPage> {
        self.list_page(query)
    }
}

pub(super) fn meta_i64(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<Option<i64>> {
    tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
        .optional()
}

pub(super) fn set_meta(tx: &Transaction<'_>, key: &str, value: impl rusqlite::ToSql) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}
