//! Keeping the database file sound and bounded: the checks at open, readiness, checkpoints that
//! keep the write-ahead log small while reports read, the full checkpoint of a clean stop, and
//! consistent backups of a live database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

/// Size of the write-ahead log past which a commit is followed by a checkpoint that waits for
/// readers and empties it. SQLite's own checkpoints never wait, so under a steady stream of
/// report readers the log would only grow.
const WAL_LIMIT_BYTES: u64 = 16 * 1024 * 1024;
/// How long that checkpoint waits for readers before trying again after a later commit.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(2);
/// The usual wait for a busy database, restored after a checkpoint.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether an error says the file itself is damaged, rather than the moment being bad.
pub(super) fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// What must hold before a database is used: it can be written, and it passes SQLite's quick
/// integrity check.
pub(super) fn check_at_open(conn: &Connection, path: &Path) -> Result<()> {
    let damaged = |detail: String| Error::Damaged {
        path: path.display().to_string(),
        detail,
    };
    let problems = (|| -> rusqlite::Result<Vec<String>> {
        let mut statement = conn.prepare("PRAGMA quick_check(5)")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        rows.collect()
    })();
    match problems {
        Ok(problems) if problems == ["ok"] => {}
        Ok(problems) => return Err(damaged(problems.join("; "))),
        Err(error) if is_damage(&error) => return Err(damaged(error.to_string())),
        Err(error) => return Err(error.into()),
    }
    if conn.is_readonly(MAIN_DB)? {
        return Err(Error::ReadOnly {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// Proves the database takes writes now: a write in a transaction that is rolled back.
pub(super) fn probe_write(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('readiness_probe', 1)",
        [],
    )?;
    tx.rollback()
}

fn wal_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

/// After a commit: empties the write-ahead log once it is larger than [`WAL_LIMIT_BYTES`].
pub(super) fn bound_wal(conn: &Connection, path: &Path) {
    let size = std::fs::metadata(wal_path(path)).map_or(0, |meta| meta.len());
    if size <= WAL_LIMIT_BYTES {
        return;
    }
    match truncate_wal(conn, CHECKPOINT_WAIT) {
        Ok(true) => tracing::debug!(wal_bytes = size, "write-ahead log emptied"),
        Ok(false) => tracing::debug!(
            wal_bytes = size,
            "readers kept the write-ahead log busy; trying again later"
        ),
        Err(error) => tracing::warn!(%error, "could not checkpoint the write-ahead log"),
    }
}

/// Copies the whole write-ahead log into the database file and empties it, waiting up to `wait`
/// for readers; `false` if they did not finish in time.
pub(super) fn truncate_wal(conn: &Connection, wait: Duration) -> rusqlite::Result<bool> {
    conn.busy_timeout(wait)?;
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0));
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(busy? == 0)
}

/// Gives the database's free pages back to the file system (for a database created with
/// `auto_vacuum=INCREMENTAL`; nothing otherwise).
pub(super) fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    // Stepped to the end: one step may free only part of them.
    let mut statement = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = statement.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub sessions: u64,
}

/// Writes a consistent copy of the database at `db` to `target` while it may be in use: one read
/// transaction (`VACUUM INTO`), so writers go on meanwhile. The copy is checked and then renamed
/// into place, so `target` is always either the previous backup or a whole new one.
pub fn backup(db: &Path, target: &Path) -> Result<BackupSummary> {
    let open_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Open { path, source }
    };
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(open_error(db))?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    let partial = PathBuf::from(format!("{}.partial", target.display()));
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(Error::File {
                path: partial.display().to_string(),
                source: error,
            });
        }
    }
    let partial_text = partial
        .to_str()
        .ok_or_else(|| Error::File {
            path: partial.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
        })?
        .to_owned();
    source.execute("VACUUM INTO ?1", [&partial_text])?;
    drop(source);

    let copy = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_error(&partial))?;
    let check: String = copy.query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(Error::Damaged {
            path: partial.display().to_string(),
            detail: check,
        });
    }
    let sessions: i64 = copy.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))?;
    drop(copy);
    std::fs::rename(&partial, target).map_err(|source| Error::File {
        path: target.display().to_string(),
        source,
    })?;
    let bytes = std::fs::metadata(target).map_or(0, |meta| meta.len());
    Ok(BackupSummary {
        bytes,
        sessions: sessions as u64,
    })
}

/// Checks that `file` is a whole, sound database and counts its sessions.
fn verify(file: &Path) -> Result<u64> {
    let path = file.display().to_string();
    let copy = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| Error::Open {
        path: path.clone(),
        source,
    })?;
    let damaged = |detail: String| Error::Damaged {
        path: path.clone(),
        detail,
    };
    let check: String = copy
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|error| damaged(error.to_string()))?;
    if check != "ok" {
        return Err(damaged(check));
    }
    let sessions: i64 = copy
        .query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))
        .map_err(|error| damaged(error.to_string()))?;
    Ok(sessions as u64)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Error::File {
            path: path.display().to_string(),
            source: error,
        }),
        _ => Ok(()),
    }
}

/// Puts the backup `backup` in place of the database `db`, which no server may be using: the
/// backup is checked, copied beside the database and renamed over it. The database's `-wal` and
/// `-shm` files are removed first: they belong to the file being replaced, and applied to the
/// backup they would damage it.
pub fn restore(backup: &Path, db: &Path) -> Result<BackupSummary> {
    let sessions = verify(backup)?;
    let file_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::File { path, source }
    };
    let partial = PathBuf::from(format!("{}.partial", db.display()));
    std::fs::copy(backup, &partial).map_err(file_error(&partial))?;
    std::fs::File::open(&partial)
        .and_then(|file| file.sync_all())
        .map_err(file_error(&partial))?;
    remove_if_present(&wal_path(db))?;
    remove_if_present(&PathBuf::from(format!("{}-shm", db.display())))?;
    std::fs::rename(&partial, db).map_err(file_error(db))?;
    let bytes = std::fs::metadata(db).map_or(0, |meta| meta.len());
    Ok(BackupSummary { bytes, sessions })
}
